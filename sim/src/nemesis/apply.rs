//! Carrying out the schedule: how each [`FaultKind`] acts on the world (turmoil's links,
//! the node processes, their configuration), the Sentinel-style failover, and the heal that
//! ends the fault phase.
//!
//! Owns: the mapping from a fault value to turmoil and node operations, and telling the
//! oracles which nodes a fault touched. Must never: decide anything not in the schedule, or
//! reach into a core's fields (configuration goes through the node's CONFIG SET).

use std::time::Duration;

use crate::nemesis::{Fault, FaultKind};
use crate::run::Harness;
use crate::trace::Kind;
use crate::world::PORT;

impl Harness {
    fn pair(a: usize, b: usize) -> (usize, usize) {
        (a.min(b), a.max(b))
    }

    /// Applies one fault; returns whether it had an effect ("fired").
    // Over ~70 lines on purpose: one arm per fault kind, the nemesis's verbs read as one
    // table.
    pub(crate) fn apply(&mut self, sim: &mut turmoil::Sim<'_>, t: u64, f: &Fault) -> bool {
        let n = |i: usize| self.names[i].clone();
        let fired = match f.kind {
            FaultKind::Partition { a, b } => {
                sim.partition(n(a).as_str(), n(b).as_str());
                self.partitioned.insert(Self::pair(a, b))
            }
            FaultKind::PartitionOneway { from, to } => {
                sim.partition_oneway(n(from).as_str(), n(to).as_str());
                self.partitioned.insert(Self::pair(from, to))
            }
            FaultKind::Heal { a, b } => {
                sim.repair(n(a).as_str(), n(b).as_str());
                self.partitioned.remove(&Self::pair(a, b))
            }
            FaultKind::Hold { a, b } => {
                sim.hold(n(a).as_str(), n(b).as_str());
                self.held.insert(Self::pair(a, b))
            }
            FaultKind::Release { a, b } => {
                sim.release(n(a).as_str(), n(b).as_str());
                self.held.remove(&Self::pair(a, b))
            }
            FaultKind::Latency { a, b, ms } => {
                sim.set_link_latency(n(a).as_str(), n(b).as_str(), Duration::from_millis(ms));
                true
            }
            FaultKind::CorruptTransfer { node } => {
                self.oracle.transfers.corrupting(node);
                self.control(node, |nd, _| nd.corrupt_next_snapshot())
            }
            FaultKind::PauseWrites { ms } => {
                self.shared.paused_until_ms.set(t + ms);
                true
            }
            FaultKind::Loss { a, b, per_mille } => {
                sim.set_link_fail_rate(n(a).as_str(), n(b).as_str(), f64::from(per_mille) / 1000.0);
                true
            }
            FaultKind::Crash { node } => self.crash(sim, t, node),
            FaultKind::Restart { node } => {
                let down = !self.slots.borrow()[node].up;
                if down {
                    self.oracle.node_restarted(node);
                    sim.bounce(n(node).as_str());
                }
                down
            }
            FaultKind::Save { node } => self.control(node, |nd, now| nd.save(now)),
            FaultKind::Failover { to } => self.failover(t, to, false),
            FaultKind::SplitFailover { to } => self.failover(t, to, true),
            FaultKind::StaleWrite => self.stale_write(t),
            FaultKind::RejoinStale => self.rejoin_stale(),
            FaultKind::Freeze { node, ms } => {
                self.oracle.transfers.frozen(node, ms);
                self.control(node, move |nd, _| nd.freeze(ms))
            }
            FaultKind::Promote { node } => {
                self.slots.borrow_mut()[node].replicaof = None;
                self.oracle.loss_event(t);
                self.control(node, |nd, now| nd.replicaof_no_one(now))
            }
            FaultKind::Repoint { node, to } => {
                let host = self.names[to].clone();
                self.slots.borrow_mut()[node].replicaof = Some(host.clone());
                self.control(node, move |nd, now| {
                    nd.replicaof(now, host, PORT);
                })
            }
            FaultKind::KillLink { node } => {
                let is_replica = self.slots.borrow()[node].replicaof.is_some();
                is_replica && self.control(node, |nd, now| nd.kill_master_link(now))
            }
            // Configuration faults go through CONFIG SET, as an operator's would: the node
            // applies redis's clamps (R15: at least 16 KiB) and its own rules.
            FaultKind::BacklogResize { node, size } => self.config_set(node, "repl-backlog-size", size.to_string()),
            FaultKind::Masterauth { node, ref pass } => {
                self.config_set(node, "masterauth", pass.clone().unwrap_or_default())
            }
            FaultKind::CorruptLink { from, to, corruption } => {
                self.net.corrupt(&self.names[from], &self.names[to], corruption);
                true
            }
            FaultKind::CutLink { node, down, cut } => {
                let upstream = self.slots.borrow()[node].replicaof.clone();
                upstream.is_some_and(|m| {
                    let (from, to) = if down { (&m, &n(node)) } else { (&n(node), &m) };
                    self.net.cut(from, to, cut);
                    true
                })
            }
            FaultKind::BigWrite { len } => {
                let target = self.shared.current_master.get();
                let argv = vec![
                    bytes::Bytes::from_static(b"SET"),
                    bytes::Bytes::from(format!("big:{t}")),
                    bytes::Bytes::from(vec![b'B'; len as usize]),
                ];
                self.control(target, move |nd, now| nd.run_as_client(now, &argv))
            }
        };
        self.coverage.faults.insert(f.kind.label());
        if fired {
            self.oracle.transfers.fault(t, f.kind.involves().as_deref());
        }
        let mark = if fired { "" } else { " (no effect)" };
        self.trace
            .push_fault(t, format!("fault {:?}{mark}", f.kind), &f.kind, fired);
        fired
    }

    /// `CONFIG SET name value` on node `i`, as a local client.
    fn config_set(&self, i: usize, name: &'static str, value: String) -> bool {
        self.control(i, move |nd, now| {
            let argv = ["CONFIG", "SET", name, value.as_str()].map(|a| bytes::Bytes::copy_from_slice(a.as_bytes()));
            nd.run_as_client(now, &argv);
        })
    }

    pub(crate) fn control(
        &self,
        i: usize,
        f: impl FnOnce(&mut node::Node<crate::world::NodeRng>, proto::Millis) + 'static,
    ) -> bool {
        match self.handle(i) {
            Some(h) => {
                h.control(f);
                true
            }
            None => false,
        }
    }

    fn crash(&mut self, sim: &mut turmoil::Sim<'_>, t: u64, node: usize) -> bool {
        let up = self.slots.borrow()[node].up;
        if up {
            sim.crash(self.names[node].as_str());
            let mut s = self.slots.borrow_mut();
            s[node].up = false;
            s[node].handle = None;
            if self.shared.current_master.get() == node {
                self.oracle.loss_event(t);
            }
        }
        up
    }

    /// Sentinel-style failover: promote `to`, repoint every other node at it.
    /// Promotes `to` and repoints the others at it; `split`: all but the current master,
    /// which stays a master for its side of a split brain (`self.stale`).
    fn failover(&mut self, t: u64, to: usize, split: bool) -> bool {
        let old = self.shared.current_master.get();
        if old == to || self.node(to).is_none() {
            return false;
        }
        self.control(to, |nd, now| nd.replicaof_no_one(now));
        let target = self.names[to].clone();
        self.stale = (split && self.node(old).is_some()).then_some(old);
        for i in (0..self.names.len()).filter(|i| self.stale != Some(*i)) {
            let mut s = self.slots.borrow_mut();
            s[i].replicaof = (i != to).then(|| target.clone());
            drop(s);
            if i != to {
                let host = target.clone();
                self.control(i, move |nd, now| {
                    nd.replicaof(now, host, PORT);
                });
            }
        }
        self.shared.current_master.set(to);
        self.oracle.loss_event(t);
        true
    }

    /// One write by a client on the stale master's side (it answers as a master).
    fn stale_write(&mut self, t: u64) -> bool {
        let Some(m) = self.stale else { return false };
        let argv = ["SET", &format!("stale:{t}"), "from-the-old-side"].map(|a| bytes::Bytes::from(a.to_string()));
        self.control(m, move |nd, now| nd.run_as_client(now, &argv))
    }

    /// The stale master is reachable again: repointed at the current master.
    fn rejoin_stale(&mut self) -> bool {
        let Some(m) = self.stale.take() else { return false };
        let to = self.shared.current_master.get();
        let host = self.names[to].clone();
        self.slots.borrow_mut()[m].replicaof = Some(host.clone());
        self.control(m, move |nd, now| {
            nd.replicaof(now, host, PORT);
        })
    }

    /// End of the fault phase: repair every link, restart crashed nodes, make sure every
    /// node follows the current master, stop the writers.
    pub(crate) fn heal_all(&mut self, sim: &mut turmoil::Sim<'_>, t: u64) {
        let n = self.names.len();
        for a in 0..n {
            for b in 0..n {
                if a != b {
                    sim.repair(self.names[a].as_str(), self.names[b].as_str());
                    sim.release(self.names[a].as_str(), self.names[b].as_str());
                    sim.set_link_latency(self.names[a].as_str(), self.names[b].as_str(), Duration::from_millis(2));
                    sim.set_link_fail_rate(self.names[a].as_str(), self.names[b].as_str(), 0.0);
                }
            }
        }
        self.partitioned.clear();
        self.held.clear();
        self.net.disarm_cuts();
        for i in 0..n {
            if !self.slots.borrow()[i].up {
                self.oracle.node_restarted(i);
                sim.bounce(self.names[i].as_str());
            }
        }
        self.shared.stop.set(true);
        self.oracle.transfers.fault(t, None);
        self.settle_topology();
        self.trace
            .push(t, None, Kind::Fault, "heal: all links repaired, writes stopped".into());
    }

    /// Liveness needs one tree: if faults left several top-level masters, the writers'
    /// current master wins and the others are repointed at it (as Sentinel would).
    fn settle_topology(&mut self) {
        self.stale = None; // every node follows the current master from here on
        let tops: Vec<usize> = (0..self.names.len())
            .filter(|i| self.slots.borrow()[*i].replicaof.is_none())
            .collect();
        let current = self.shared.current_master.get();
        let master = if tops.contains(&current) || tops.is_empty() {
            current
        } else {
            tops[0]
        };
        self.shared.current_master.set(master);
        for i in tops.into_iter().filter(|i| *i != master) {
            let host = self.names[master].clone();
            self.slots.borrow_mut()[i].replicaof = Some(host.clone());
            self.control(i, move |nd, now| {
                nd.replicaof(now, host, PORT);
            });
        }
    }
}

//! One simulation run: build the world from a [`RunSpec`], play the fault schedule in a
//! fault phase, heal everything, then require convergence in a liveness phase, with every
//! oracle watching between simulation steps.
//!
//! Owns: the step loop and the harness's reading of the nodes (`Harness::collect`: a look
//! at every node, then the step judged; the order of digests, stream facts and notes in
//! there is what the trace hash covers).
//! Elsewhere: what a run is (`run/spec.rs`), what it found (`run/report.rs`), notes into trace lines
//! (`trace/notes.rs`), faults (`nemesis/apply.rs`), convergence (`oracle/liveness.rs`).
//! Must never: read the wall clock or draw randomness outside the seed-derived streams.

mod build;
mod report;
mod spec;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::rc::Rc;
use std::time::Duration;

use proto::ReplId;

pub use self::report::{Coverage, RunReport, SyncCounters};
pub use self::spec::{Phase, Probe, RunOptions, RunSpec, Stepping};
use crate::nemesis::Swarm;
use crate::net::Net;
use crate::oracle::clients::Position;
use crate::oracle::{BacklogView, Check, NodeView, Oracle, OracleId, Violation};
use crate::trace::{Kind, Trace};
use crate::workload::Shared;
use crate::world::Slots;
use node::Note;

pub(crate) struct Harness {
    pub(crate) slots: Slots,
    pub(crate) shared: Rc<Shared>,
    pub(crate) oracle: Oracle,
    pub(crate) trace: Trace,
    pub(crate) coverage: Coverage,
    /// (boot, replid, offset) at which each node's digest was last computed, and when.
    pub(crate) digested: BTreeMap<usize, (u64, ReplId, u64, u64)>,
    pub(crate) partitioned: BTreeSet<(usize, usize)>,
    pub(crate) held: BTreeSet<(usize, usize)>,
    pub(crate) names: Vec<String>,
    pub(crate) net: Rc<Net>,
    /// What `collect` last saw of every node; a step that changes none of it, drains no
    /// note and digests nothing needs no oracle pass (`changed` false).
    pub(crate) last_seen: Vec<Seen>,
    pub(crate) changed: bool,
    /// The old master a split-brain failover left behind, until it rejoins.
    pub(crate) stale: Option<usize>,
}

/// One node's notes of a step: (index, boot, notes).
type NodeNotes = (usize, u64, Vec<Note>);

/// The parts of a [`NodeView`] the oracles judge, to tell a step that changed nothing.
pub(crate) type Seen = (
    usize,
    u64,
    ReplId,
    u64,
    Option<BacklogView>,
    bool,
    replica::ReplState,
    usize,
    u64,
);

fn seen(v: &NodeView) -> Seen {
    let (id, off, bl) = (v.replid, v.offset, v.backlog);
    (
        v.idx,
        v.boot,
        id,
        off,
        bl,
        v.top_level,
        v.repl_state,
        v.online_replicas,
        v.version,
    )
}

/// Runs one simulation.
pub fn run(spec: &RunSpec) -> RunReport {
    run_with_trace(spec).0
}

/// Runs one simulation and also returns its full trace.
pub fn run_with_trace(spec: &RunSpec) -> (RunReport, Trace) {
    run_with(spec, RunOptions::default())
}

/// Runs one simulation with [`RunOptions`] and returns its report and trace.
pub fn run_with(spec: &RunSpec, opts: RunOptions) -> (RunReport, Trace) {
    run_probed(spec, opts, None)
}

/// [`run_with`], telling `probe` each phase of the run as it starts.
// Over ~70 lines on purpose: this is the step loop, kept in one piece so its order (faults,
// heal, step, collect, judge, stop) reads top to bottom.
pub fn run_probed(
    spec: &RunSpec,
    opts: RunOptions,
    probe: Option<Rc<std::cell::RefCell<dyn Probe>>>,
) -> (RunReport, Trace) {
    let phase = |p: Phase| {
        if let Some(probe) = &probe {
            probe.borrow_mut().phase(p);
        }
    };
    phase(Phase::Setup);
    let mut checks = opts.checks;
    checks.extend(crate::oracle::registered_checks());
    let total_ms = spec.fault_ms + spec.liveness_ms;
    let (mut sim, mut h) = build::build(spec, opts.counters, probe.clone());
    let mut fired = vec![false; spec.faults.len()];
    let mut next = 0;
    let mut healed = false;
    let mut now_ms = 0;
    let mut stopped_at_ms = None;
    while now_ms < total_ms {
        // A step after the harness acted is always judged (the heal makes convergence due).
        let mut acted = false;
        while next < spec.faults.len() && spec.faults[next].at_ms <= now_ms {
            fired[next] = h.apply(&mut sim, now_ms, &spec.faults[next]);
            next += 1;
            acted = true;
        }
        if !healed && now_ms >= spec.fault_ms {
            acted = true;
            healed = true;
            h.heal_all(&mut sim, now_ms);
            h.oracle.transfers.strict_after_ms = Some(now_ms + h.oracle.transfers.bound_ms);
        }
        // Event-driven steps stop exactly at the next fault, the heal and the end.
        let heal_ms = if healed { total_ms } else { spec.fault_ms };
        let stop_ms = spec.faults.get(next).map_or(heal_ms, |f| f.at_ms.min(heal_ms));
        // Every step up to `stop_ms` runs inside one call (one tokio `block_on` in event
        // mode); the closure judges each step as it ends.
        let mut stop = false;
        phase(Phase::Turmoil);
        let stepped = sim.step_until_each(Duration::from_millis(stop_ms), |elapsed| {
            phase(Phase::Observe);
            now_ms = elapsed.as_millis() as u64;
            let views = h.collect(now_ms);
            // A step that changed no node and followed no harness action: the built-in
            // oracles would see what they saw last step.
            let judged = h.changed || acted;
            acted = false;
            if judged {
                h.oracle.observe(now_ms, &views);
            }
            user_checks(&mut h.oracle, &mut checks, now_ms, &views, false);
            if opts.counters {
                h.sample_counters(now_ms, &views);
            }
            if opts.stop_at_first_violation && !h.oracle.violations.is_empty() {
                stopped_at_ms = Some(now_ms);
                stop = true;
            } else if judged && healed && h.check_converged(now_ms, &views) && spec.stop_when_converged {
                stop = true;
            }
            if stop {
                return ControlFlow::Break(());
            }
            phase(Phase::Turmoil);
            ControlFlow::Continue(())
        });
        phase(Phase::Observe);
        if let Err(e) = stepped {
            h.oracle.violations.push(Violation {
                t_ms: now_ms,
                oracle: OracleId::Host,
                node: None,
                message: e.to_string(),
            });
            break;
        }
        if stop {
            break;
        }
    }
    phase(Phase::Setup);
    if stopped_at_ms.is_none() {
        h.finish(spec, now_ms, &mut checks);
    }
    // A run stopped early reports only the faults it reached.
    let reached = if stopped_at_ms.is_some() {
        next
    } else {
        spec.faults.len()
    };
    let report = report(&mut h, spec, now_ms, stopped_at_ms, reached, &fired);
    (report, h.trace)
}

/// Runs the user checks over one step's views (or the final ones) and records what they
/// found as violations under their names.
fn user_checks(oracle: &mut Oracle, checks: &mut [Box<dyn Check>], t: u64, views: &[NodeView], last: bool) {
    for c in checks.iter_mut() {
        let found = if last { c.finish(t, views) } else { c.step(t, views) };
        for f in found {
            oracle.violate(t, OracleId::User(c.name()), f.node, f.message);
        }
    }
}

impl Harness {
    /// The end-of-run checks of a run that ran to its end: liveness, acknowledged writes,
    /// reads, and the user checks' `finish`.
    fn finish(&mut self, spec: &RunSpec, now_ms: u64, checks: &mut [Box<dyn Check>]) {
        self.liveness_verdict(spec.liveness_ms, now_ms);
        let final_views = self.collect(now_ms);
        let master = final_views.iter().find(|v| v.top_level).cloned();
        self.oracle.finish_waits(now_ms, master.as_ref());
        let reads = std::mem::take(&mut *self.shared.reads.borrow_mut());
        self.oracle.check_reads(&reads, crate::world::EPOCH_MS);
        user_checks(&mut self.oracle, checks, now_ms, &final_views, true);
    }

    /// Counter tracks for the Perfetto trace: every node's offset and backlog length, and
    /// each master's view of its replicas' ACKs. Reads only.
    fn sample_counters(&mut self, t: u64, views: &[NodeView]) {
        for v in views {
            self.trace.sample(t, v.idx, "master_repl_offset", v.offset);
            let histlen = v.backlog.map_or(0, |b| b.histlen);
            self.trace.sample(t, v.idx, "repl_backlog_histlen", histlen);
            let Some(n) = self.node(v.idx) else { continue };
            let acks: Vec<(String, u64)> = {
                let nd = n.borrow();
                nd.master()
                    .replicas()
                    .map(|r| (nd.client_ip(r.conn), r.ack_off))
                    .collect()
            };
            for (peer, ack) in acks {
                self.trace.sample(t, v.idx, &format!("ack {peer}"), ack);
            }
        }
    }

    /// A live node's state, for reads: cheaper than [`Harness::handle`] (no control
    /// channel sender cloned and dropped), which only the nemesis needs.
    pub(crate) fn node(&self, i: usize) -> Option<Rc<std::cell::RefCell<node::node::Node<crate::world::NodeRng>>>> {
        let s = self.slots.borrow();
        s[i].handle.as_ref().filter(|_| s[i].up).map(|h| h.node.clone())
    }

    pub(crate) fn handle(&self, i: usize) -> Option<node::Handle<crate::world::NodeRng>> {
        let s = self.slots.borrow();
        if s[i].up {
            s[i].handle.clone()
        } else {
            None
        }
    }

    /// Drains notes into trace/oracles and reads every live node.
    fn collect(&mut self, t: u64) -> Vec<NodeView> {
        let (views, notes) = self.look(t);
        self.judge_step(t, views, notes)
    }

    /// Reads every live node into a view, and drains its notes.
    fn look(&mut self, t: u64) -> (Vec<NodeView>, Vec<NodeNotes>) {
        let mut views = Vec::new();
        let mut notes_all = Vec::new();
        for i in 0..self.names.len() {
            let Some(node) = self.node(i) else { continue };
            let boot = self.slots.borrow()[i].boots;
            let mut nd = node.borrow_mut();
            notes_all.push((i, boot, nd.drain_notes()));
            let replid = nd.master().replid();
            let offset = nd.master().master_repl_offset();
            // Masters define history, so they digest every new position; a replica only
            // where a master already recorded one (nothing to compare with otherwise), plus
            // once a simulated second to catch data changing without the offset (I18).
            let top_level = nd.master_addr().is_none();
            let (moved, last_at) = match self.digested.get(&i) {
                Some((b, id, off, at)) => (*b != boot || *id != replid || *off != offset, *at),
                None => (true, 0),
            };
            let due = (moved && (top_level || self.oracle.knows(replid, offset))) || t >= last_at + 1000;
            let digest = due.then(|| nd.keyspace().fingerprint());
            if due || moved {
                let at = if due { t } else { last_at };
                self.digested.insert(i, (boot, replid, offset, at));
            }
            views.push(NodeView {
                idx: i,
                boot,
                replid,
                offset,
                backlog: nd.master().backlog().map(|b| crate::oracle::BacklogView {
                    first_byte: b.first_byte_offset(),
                    histlen: b.histlen(),
                    size: b.size(),
                    block_capacity: b.max_block_capacity(),
                }),
                top_level: nd.master_addr().is_none(),
                repl_state: nd.replica().state(),
                online_replicas: nd
                    .master()
                    .replicas()
                    .filter(|r| r.state == master::SlaveState::Online)
                    .count(),
                digest,
                version: nd.keyspace().version(),
            });
        }
        (views, notes_all)
    }

    /// Turns one step's look into stream facts, trace lines and oracle input; marks the
    /// step quiet (`changed` false) when it shows nothing new.
    fn judge_step(&mut self, t: u64, mut views: Vec<NodeView>, notes_all: Vec<NodeNotes>) -> Vec<NodeView> {
        let seen_now: Vec<Seen> = views.iter().map(seen).collect();
        let quiet = notes_all.iter().all(|(_, _, n)| n.is_empty())
            && views.iter().all(|v| v.digest.is_none())
            && self.net.struck.borrow().is_empty()
            && seen_now == self.last_seen;
        self.last_seen = seen_now;
        self.changed = !quiet;
        if quiet {
            self.overdue_transfers(t);
            return views;
        }
        // Stream facts first, each node's in its own order, before anything is judged:
        // a replica's ACK may be judged in the same step its bytes were fed.
        for (i, boot, notes) in &notes_all {
            for note in notes {
                self.stream_note(t, *i, *boot, note);
            }
        }
        // A replica that reached, in this very step, a position its master digested now.
        let fresh: Vec<(ReplId, u64)> = views
            .iter()
            .filter(|v| v.top_level && v.digest.is_some())
            .map(|v| (v.replid, v.offset))
            .collect();
        for v in views.iter_mut().filter(|v| !v.top_level && v.digest.is_none()) {
            if fresh.contains(&(v.replid, v.offset)) {
                if let Some(node) = self.node(v.idx) {
                    v.digest = Some(node.borrow().keyspace().fingerprint());
                }
            }
        }
        // I10/I18: a dataset that changed while its position did not.
        for v in &views {
            if self.oracle.dataset_changed(v) {
                if let Some(n) = self.node(v.idx) {
                    let fp = n.borrow().keyspace().fingerprint();
                    self.oracle.check_dataset_change(t, v, fp);
                }
            }
        }
        self.oracle.remember_datasets(&views);
        for v in &views {
            let p = Position {
                t_ms: t,
                boot: v.boot,
                replid: v.replid,
                offset: v.offset,
                streamed: v.backlog.is_some(),
            };
            self.oracle.clients.position(v.idx, p);
        }
        // Armed cuts and corruptions act when bytes flow: that is when they touch a link.
        let struck = std::mem::take(&mut *self.net.struck.borrow_mut());
        for (from, to) in struck {
            let ids: Vec<usize> = [from, to]
                .iter()
                .filter_map(|h| self.names.iter().position(|n| n == h))
                .collect();
            self.oracle.transfers.fault(t, Some(&ids));
        }
        self.overdue_transfers(t);
        for (i, boot, notes) in notes_all {
            // I14 (B3), judged note by note so its verdicts keep their place among the others.
            let history_changed = Oracle::history_changed(&notes);
            for note in notes {
                self.oracle.check_replicas(t, i, &note, history_changed);
                self.note(t, i, boot, note, &views);
            }
        }
        views
    }

    /// R58: a full-sync transfer running longer than repl-timeout allows (judged every step:
    /// it depends on time alone).
    fn overdue_transfers(&mut self, t: u64) {
        for (i, ms) in self.oracle.transfers.overdue(t) {
            let bound = self.oracle.transfers.bound_ms;
            let msg = format!("a full-sync transfer has run for {ms} ms, longer than repl-timeout allows ({bound} ms)");
            self.oracle.violate(t, OracleId::Transfer, Some(i), msg);
        }
    }

    fn counters(&self) -> Vec<SyncCounters> {
        (0..self.names.len())
            .map(|i| match self.node(i) {
                Some(n) => {
                    let c = n.borrow().master().counters();
                    SyncCounters {
                        sync_full: c.sync_full,
                        sync_partial_ok: c.sync_partial_ok,
                        sync_partial_err: c.sync_partial_err,
                    }
                }
                None => SyncCounters::default(),
            })
            .collect()
    }
}

/// The report of a run that ended at `now_ms`: its violations as trace lines first (the
/// hash covers them), then the counters and coverage read from the nodes and the net.
fn report(
    h: &mut Harness,
    spec: &RunSpec,
    now_ms: u64,
    stopped_at_ms: Option<u64>,
    reached: usize,
    fired: &[bool],
) -> RunReport {
    for v in &h.oracle.violations {
        let args = serde_json::json!({"oracle": v.oracle.label(), "message": v.message});
        let text = format!("VIOLATION [{}] {}", v.oracle, v.message);
        h.trace
            .push_named(v.t_ms, v.node, Kind::Violation, text, "violation", args);
    }
    let counters = h.counters();
    h.coverage.corrupted_writes = h.net.corrupted.get();
    h.coverage.fragmented_writes = h.net.fragmented.get();
    h.coverage.cuts = h.net.cut.get();
    RunReport {
        seed: spec.seed,
        scenario: spec.scenario.clone(),
        violations: h.oracle.violations.clone(),
        trace_hash: h.trace.hash(),
        sim_ms: now_ms,
        converged_at_ms: h.oracle.converged_at,
        stopped_at_ms,
        faults: spec
            .faults
            .iter()
            .take(reached)
            .zip(fired)
            .map(|(f, b)| (f.to_string(), *b))
            .collect(),
        coverage: h.coverage.clone(),
        checks: h.oracle.checks.clone(),
        stats: h.shared.stats.borrow().clone(),
        counters,
        swarm: spec.swarm.as_ref().map(Swarm::enabled),
        rules: spec.rules,
        costs: h.oracle.costs,
    }
}

//! One simulation run: build the world from a [`RunSpec`], play the fault schedule in a
//! fault phase, heal everything, then require convergence in a liveness phase, with every
//! oracle watching between simulation steps.
//!
//! Owns: the step loop and the mapping of schedule values to turmoil/node operations.
//! Must never: read the wall clock or draw randomness outside the seed-derived streams.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use node::Note;
use proto::ReplId;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::nemesis::{Fault, Swarm};
use crate::net::{Fragmentation, Net};
use crate::oracle::clients::Position;
use crate::oracle::{BacklogView, Check, NodeView, Oracle, OracleId, Violation};
use crate::rules::RuleSetRef;
use crate::trace::{Kind, Trace};
use crate::workload::{reader, writer, Shared, Stats, WorkloadSpec};
use crate::world::{add_node_host, derive_seed, NodeSlot, NodeSpec, Slots};

/// Everything that defines a run. Two runs of equal specs are identical. Failure files
/// and the regression corpus store it whole: a field added later needs `#[serde(default)]`
/// (the value older files meant) so committed files still load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// The run's seed: every random choice derives from it.
    pub seed: u64,
    /// The scenario name (`swarm` or a named one).
    pub scenario: String,
    /// `topology[i]` = the node `i` replicates from (`None` for the initial master).
    pub topology: Vec<Option<usize>>,
    /// Per-node settings, `n0` first.
    pub nodes: Vec<NodeSpec>,
    /// Length of the fault phase (ms).
    pub fault_ms: u64,
    /// Time allowed to converge after healing (ms).
    pub liveness_ms: u64,
    /// The fault schedule, in time order.
    pub faults: Vec<Fault>,
    /// Client writers and readers.
    pub workload: WorkloadSpec,
    /// How turmoil moves simulated time; part of the run's identity. 0 (the default):
    /// event-driven ([`Stepping::Event`]); N: stock turmoil ticking every N ms.
    pub tick_ms: u64,
    /// Link latency range (ms).
    pub latency_ms: (u64, u64),
    /// The swarm draw (families and rates), for swarm runs.
    pub swarm: Option<Swarm>,
    /// Stop as soon as the liveness phase converged.
    pub stop_when_converged: bool,
    /// Link rate per connection, bytes per simulated ms (0 = unlimited).
    pub bytes_per_ms: u64,
    /// Node-to-node connections that deliver at seed-drawn boundaries (`None`: whole writes).
    pub fragment: Option<Fragmentation>,
    /// The PSYNC rule set every node decides by (issue 15); not drawn from the seed, so
    /// the same seed under two rule sets has the same topology, workload and faults.
    #[serde(default)]
    pub rules: RuleSetRef,
}

impl RunSpec {
    /// A star: `n0` master, `replicas` replicas of it.
    pub fn star(seed: u64, scenario: &str, replicas: usize) -> RunSpec {
        let mut topology = vec![None];
        topology.extend(std::iter::repeat_n(Some(0), replicas));
        let nodes = (0..=replicas).map(|i| NodeSpec::new(&format!("n{i}"))).collect();
        RunSpec {
            seed,
            scenario: scenario.to_string(),
            topology,
            nodes,
            fault_ms: 10_000,
            liveness_ms: 30_000,
            faults: Vec::new(),
            workload: WorkloadSpec::default(),
            tick_ms: 0,
            latency_ms: (1, 5),
            swarm: None,
            stop_when_converged: true,
            bytes_per_ms: crate::net::DEFAULT_BYTES_PER_MS,
            fragment: None,
            rules: RuleSetRef::default(),
        }
    }
}

impl RunSpec {
    /// The command-line options that, with the seed, name this run: what the reproduce
    /// line prints and what `merge` compares between sweep summaries. One line per option
    /// that changes a run (its `psync-sim` flag and value).
    pub fn identity(&self) -> Vec<(&'static str, String)> {
        vec![
            ("scenario", self.scenario.clone()),
            ("tick-ms", self.tick_ms.to_string()),
            ("rules", self.rules.to_string()),
        ]
    }

    /// How this run moves simulated time (from `tick_ms`).
    pub fn stepping(&self) -> Stepping {
        match self.tick_ms {
            0 => Stepping::Event,
            ms => Stepping::Tick { ms },
        }
    }

    /// The command that reruns this run from its seed and identity.
    pub fn reproduce(&self) -> String {
        let mut line = format!("psync-sim replay --seed 0x{:x}", self.seed);
        for (flag, value) in self.identity() {
            line.push_str(&format!(" --{flag} {value}"));
        }
        line
    }
}

/// What a run found.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// The scenario.
    pub scenario: String,
    /// Everything the oracles found.
    pub violations: Vec<Violation>,
    /// SHA-1 over the trace text: same seed, same hash.
    pub trace_hash: String,
    /// Simulated ms the run lasted.
    pub sim_ms: u64,
    /// When every node converged, if they did.
    pub converged_at_ms: Option<u64>,
    /// When a run that stops at its first violation stopped ([`RunOptions`]).
    pub stopped_at_ms: Option<u64>,
    /// Every scheduled fault and whether it had an effect.
    pub faults: Vec<(String, bool)>,
    /// What the run reached.
    pub coverage: Coverage,
    /// What the oracles judged.
    pub checks: crate::oracle::Checks,
    /// Client-side counts.
    pub stats: Stats,
    /// Per node: INFO's sync counters at the end (a crashed node's are zero).
    pub counters: Vec<SyncCounters>,
    /// The swarm's enabled families.
    pub swarm: Option<Vec<&'static str>>,
    /// The rule set the run decided by (issue 15).
    pub rules: RuleSetRef,
    /// What replication cost (full and partial syncs, bytes), for comparing rule sets.
    pub costs: crate::oracle::costs::Costs,
}

/// A node's INFO stats `sync_full`, `sync_partial_ok`, `sync_partial_err` (I13).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounters {
    /// Full resyncs served.
    pub sync_full: u64,
    /// Partial resyncs accepted.
    pub sync_partial_ok: u64,
    /// Partial resyncs refused.
    pub sync_partial_err: u64,
}

impl SyncCounters {
    /// `(full, partial_ok, partial_err)`, for compact assertions.
    pub fn tuple(self) -> (u64, u64, u64) {
        (self.sync_full, self.sync_partial_ok, self.sync_partial_err)
    }
}

/// What a run (or a sweep) reached.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Coverage {
    /// ReplState values reached (0..=15).
    pub repl_states: BTreeSet<u8>,
    /// SlaveState values reached (6..=9).
    pub slave_states: BTreeSet<u8>,
    /// PSYNC outcomes reached.
    #[serde(deserialize_with = "crate::campaign::labels")]
    pub psync: BTreeSet<&'static str>,
    /// Fault kinds applied.
    #[serde(deserialize_with = "crate::campaign::labels")]
    pub faults: BTreeSet<&'static str>,
    /// Replicas dropped for their output buffer (R39): (hard, soft) counts.
    pub obuf_drops: (u64, u64),
    /// Writes corrupted in flight by the corrupting-link nemesis.
    pub corrupted_writes: u64,
    /// Replica-side detections: link errors (protocol, timeouts, closes) and failed
    /// transfers (CRC, short or malformed RDB).
    pub link_errors: u64,
    /// Transfers that failed.
    pub transfer_failures: u64,
    /// Partial writes on fragmenting links, and links cut at an exact byte (issue 13 c).
    pub fragmented_writes: u64,
    /// Links cut at an exact byte.
    pub cuts: u64,
}

impl Coverage {
    /// Adds another run's coverage.
    pub fn merge(&mut self, o: &Coverage) {
        self.repl_states.extend(&o.repl_states);
        self.slave_states.extend(&o.slave_states);
        self.psync.extend(&o.psync);
        self.faults.extend(&o.faults);
        self.obuf_drops.0 += o.obuf_drops.0;
        self.obuf_drops.1 += o.obuf_drops.1;
        self.corrupted_writes += o.corrupted_writes;
        self.link_errors += o.link_errors;
        self.transfer_failures += o.transfer_failures;
        self.fragmented_writes += o.fragmented_writes;
        self.cuts += o.cuts;
    }
}

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

/// How to run a spec, beyond what defines the run: extra oracles, when to stop, what to
/// record. None of it changes the simulation; a run stopped early only ends sooner.
#[derive(Default)]
pub struct RunOptions {
    /// User oracles for this run, called after every step before the registered ones
    /// ([`crate::oracle::register_check`]).
    pub checks: Vec<Box<dyn Check>>,
    /// End the run at the first step that found a violation (what `run` and `replay` do
    /// unless `--keep-going`): the end-of-run checks (liveness, reads, acknowledged
    /// writes) are skipped, so the report holds what was found up to then.
    pub stop_at_first_violation: bool,
    /// Record counter samples (offsets, ACKs, backlog length) for a Perfetto trace.
    pub counters: bool,
}

/// How the simulation moves time. The same seed under two steppings is two different runs
/// (random draws happen in another order), so the stepping is part of a run's identity
/// (`RunSpec::tick_ms`, `--tick-ms`: 0 = event-driven).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepping {
    /// turmoil's own fixed tick: every host runs every `ms`, busy or idle; timers and
    /// deliveries are rounded to the tick (`--tick-ms N`, for comparison).
    Tick {
        /// The tick.
        ms: u64,
    },
    /// Event-driven (vendor/turmoil): only woken hosts run, the clock jumps to the next
    /// timer or delivery, timers fire at their exact millisecond; steps stop exactly at
    /// fault, heal and end times.
    Event,
}

impl Stepping {
    /// The `RunSpec::tick_ms` (and `--tick-ms`) value of this stepping.
    pub fn tick_ms(self) -> u64 {
        match self {
            Stepping::Tick { ms } => ms.max(1),
            Stepping::Event => 0,
        }
    }
}

impl std::fmt::Display for Stepping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stepping::Tick { ms } => write!(f, "tick-{ms}ms"),
            Stepping::Event => f.write_str("event"),
        }
    }
}

/// Where a run's wall time goes (`psync-sim bench`): told each phase as it starts. The run
/// never reads a clock itself; a probe may, outside the simulated world.
pub trait Probe {
    /// The run enters `phase` now.
    fn phase(&mut self, phase: Phase);
}

/// A part of a run's wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// turmoil moving time and messages (in stock stepping: the hosts' work too).
    Turmoil,
    /// The hosts' own work: nodes and clients (event-driven stepping only).
    Hosts,
    /// The harness reading the nodes and running the oracles between steps.
    Observe,
    /// Building the world and the final checks.
    Setup,
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
    let mut builder = turmoil::Builder::new();
    builder
        .simulation_duration(Duration::from_millis(total_ms + 60_000))
        .min_message_latency(Duration::from_millis(spec.latency_ms.0))
        .max_message_latency(Duration::from_millis(spec.latency_ms.1))
        .rng_seed(derive_seed(spec.seed, "turmoil"));
    match spec.stepping() {
        Stepping::Tick { ms } => builder.tick_duration(Duration::from_millis(ms)),
        Stepping::Event => builder.event_driven(),
    };
    let mut sim = builder.build();
    if let Some(probe) = probe.clone() {
        sim.set_host_probe(move |on| probe.borrow_mut().phase(if on { Phase::Hosts } else { Phase::Turmoil }));
    }
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let slots: Slots = Rc::new(std::cell::RefCell::new(
        spec.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeSlot {
                spec: n.with_rules(spec.rules.0),
                handle: None,
                replicaof: spec.topology[i].map(|p| names[p].clone()),
                boots: 0,
                up: false,
            })
            .collect(),
    ));
    let net = Rc::new(Net::with_rate(spec.bytes_per_ms).fragmenting(spec.fragment, spec.seed, names.clone()));
    for i in 0..spec.nodes.len() {
        add_node_host(&mut sim, &slots, &net, i, spec.seed);
    }
    let shared = Rc::new(Shared::default());
    *shared.names.borrow_mut() = names.clone();
    *shared.auth.borrow_mut() = spec.nodes.first().and_then(|n| n.requirepass.clone());
    shared
        .current_master
        .set(spec.topology.iter().position(Option::is_none).unwrap_or(0));
    // All workload clients share one turmoil host: turmoil's cost is per host per tick,
    // and the clients need no addresses of their own.
    let (writers, readers) = (spec.workload.writers, spec.workload.readers);
    if writers + readers > 0 {
        let (sh, wl, seed) = (shared.clone(), spec.workload.clone(), spec.seed);
        sim.client("clients", async move {
            let mut tasks = Vec::new();
            for w in 0..writers {
                tasks.push(tokio::task::spawn_local(writer(sh.clone(), wl.clone(), seed, w)));
            }
            for r in 0..readers {
                tasks.push(tokio::task::spawn_local(reader(sh.clone(), wl.clone(), seed, r)));
            }
            for t in tasks {
                t.await.map_err(|e| e.to_string())??;
            }
            Ok(())
        });
    }
    let mut h = Harness {
        slots,
        shared,
        oracle: Oracle::with_rules(spec.rules.0),
        trace: if opts.counters {
            Trace::with_counters()
        } else {
            Trace::default()
        },
        coverage: Coverage::default(),
        digested: BTreeMap::new(),
        partitioned: BTreeSet::new(),
        held: BTreeSet::new(),
        names,
        net: net.clone(),
        stale: None,
        last_seen: Vec::new(),
        changed: true,
    };
    if !spec.rules.is_default() {
        // Part of the run's identity (issue 15); omitted for redis 7.0 so default runs keep
        // their trace hashes.
        h.trace.push(0, None, Kind::Event, format!("rules {}", spec.rules));
    }
    if spec.stepping() == Stepping::Event {
        // Stock tick-1 traces keep the hashes they always had; event-mode ones say so.
        h.trace.push(0, None, Kind::Event, "stepping event".into());
    }
    let repl_timeout_ms = spec.nodes.iter().map(|n| n.replica.repl_timeout_s).max().unwrap_or(60) * 1000;
    // R58 fails a transfer after repl-timeout without a byte; the cron checks once a
    // second; the rest is slack for moving the bytes themselves.
    h.oracle.transfers.bound_ms = repl_timeout_ms + 3000;
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
        phase(Phase::Turmoil);
        let stepped = sim.step_until(Duration::from_millis(stop_ms));
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
        now_ms = sim.elapsed().as_millis() as u64;
        let views = h.collect(now_ms);
        // A step that changed no node and followed no harness action: the built-in oracles
        // would see what they saw last step.
        let judged = h.changed || acted;
        if judged {
            h.oracle.observe(now_ms, &views);
        }
        user_checks(&mut h.oracle, &mut checks, now_ms, &views, false);
        if opts.counters {
            h.sample_counters(now_ms, &views);
        }
        if opts.stop_at_first_violation && !h.oracle.violations.is_empty() {
            stopped_at_ms = Some(now_ms);
            break;
        }
        if judged && healed && h.check_converged(now_ms, &views) && spec.stop_when_converged {
            break;
        }
    }
    phase(Phase::Setup);
    if stopped_at_ms.is_none() {
        h.finish(spec, now_ms, &mut checks);
    }
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
    let report = RunReport {
        seed: spec.seed,
        scenario: spec.scenario.clone(),
        violations: h.oracle.violations.clone(),
        trace_hash: h.trace.hash(),
        sim_ms: now_ms,
        converged_at_ms: h.oracle.converged_at,
        stopped_at_ms,
        // A run stopped early reports only the faults it reached.
        faults: spec
            .faults
            .iter()
            .take(if stopped_at_ms.is_some() {
                next
            } else {
                spec.faults.len()
            })
            .zip(&fired)
            .map(|(f, b)| (f.to_string(), *b))
            .collect(),
        coverage: h.coverage.clone(),
        checks: h.oracle.checks.clone(),
        stats: h.shared.stats.borrow().clone(),
        counters,
        swarm: spec.swarm.as_ref().map(Swarm::enabled),
        rules: spec.rules,
        costs: h.oracle.costs,
    };
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
        if self.oracle.converged_at.is_none() {
            let state = self.describe();
            self.oracle.violations.push(Violation {
                t_ms: now_ms,
                oracle: OracleId::Liveness,
                node: None,
                message: format!("no convergence within {} ms of healing: {state}", spec.liveness_ms),
            });
        }
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
            let Some(h) = self.handle(v.idx) else { continue };
            let acks: Vec<(String, u64)> = {
                let nd = h.node.borrow();
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

    /// A live node's state only: cheaper than [`Harness::handle`] (no control channel
    /// sender cloned and dropped), for reads at every step.
    fn node(&self, i: usize) -> Option<Rc<std::cell::RefCell<node::node::Node<crate::world::NodeRng>>>> {
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
                if let Some(h) = self.handle(v.idx) {
                    let fp = h.node.borrow().keyspace().fingerprint();
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

    /// Stream facts of one note: histories for the stream model, every fed position,
    /// every client write's position, recorded ids (see `collect`).
    fn stream_note(&mut self, t: u64, i: usize, boot: u64, note: &Note) {
        use master::Observation as M;
        let o = &mut self.oracle;
        match note {
            Note::Base {
                replid,
                offset,
                entries,
                stream_db,
            } => o.rebase(t, i, *replid, *offset, entries, *stream_db),
            Note::Master(M::Fed {
                replid,
                end,
                bytes,
                generated,
            }) => {
                o.fed(i, *replid, *end, *generated);
                if *generated {
                    o.model.fed(*replid, *end, bytes.clone());
                }
            }
            Note::Master(M::ReplidChanged {
                replid,
                replid2,
                second_replid_offset,
                why,
                old_replid,
                master_repl_offset,
            }) => match *why {
                master::HistoryChange::Promotion | master::HistoryChange::ContinueNewId => {
                    o.model.link(*replid, *old_replid, *master_repl_offset)
                }
                master::HistoryChange::RestartAsMaster if *second_replid_offset > 0 => {
                    o.model
                        .restart_link(*replid, *replid2, (*second_replid_offset - 1) as u64)
                }
                _ => {}
            },
            Note::Write { conn, replid, offset } => o.clients.write(i, boot, *conn, *replid, *offset, t),
            Note::DatasetReplaced { .. } => o.dataset_replaced(i),
            _ => {}
        }
    }

    fn note(&mut self, t: u64, i: usize, boot: u64, note: Note, views: &[NodeView]) {
        match note {
            Note::Master(o) => {
                self.oracle.master_obs(t, i, &o);
                match &o {
                    master::Observation::Psync {
                        conn,
                        id,
                        offset,
                        decision,
                        ..
                    } => {
                        self.coverage.psync.insert(decision.label());
                        let peer = self.handle(i).map(|h| h.node.borrow().client_ip(*conn));
                        // The requester, while it waits for this reply (R45 is judged there).
                        let requester = peer.as_ref().and_then(|p| {
                            let idx = self.names.iter().position(|n| n == p)?;
                            views
                                .iter()
                                .find(|v| v.idx == idx && v.repl_state == replica::ReplState::ReceivePsync)
                        });
                        self.oracle.judge_psync(t, i, requester, &o);
                        if let Some(peer) = peer {
                            self.oracle.continued_peer(i, *conn, peer);
                        }
                        let id = String::from_utf8_lossy(id);
                        let text = format!("psync {conn} {id} {offset} -> {}", decision.label());
                        let args = json!({"conn": conn.0, "replid": id, "offset": offset,
                            "decision": decision.label(), "requester": requester.map(|v| v.idx)});
                        self.trace.push_named(t, Some(i), Kind::Event, text, "psync", args);
                    }
                    master::Observation::SlaveState { conn, state } => {
                        if let Some(s) = state {
                            self.coverage.slave_states.insert(*s as u8);
                        }
                        let name = state.map(slave_name);
                        self.trace.push(
                            t,
                            Some(i),
                            Kind::SlaveState {
                                conn: conn.0,
                                state: name,
                            },
                            format!("slave {conn} -> {name:?}"),
                        );
                    }
                    master::Observation::ReplidChanged {
                        replid,
                        replid2,
                        second_replid_offset,
                        why,
                        master_repl_offset,
                        ..
                    } => {
                        // Recorded in event order: a PSYNC decided before the change
                        // (R27's rename follows its decision) is judged by the ids before it.
                        let (id, id2, second) = (*replid, *replid2, *second_replid_offset);
                        self.oracle
                            .history_recorded(t, i, *why, id, id2, second, *master_repl_offset);
                        let text = format!("replid {replid} replid2 {replid2} second {second_replid_offset} ({why})");
                        let args = json!({"replid": replid.to_string(), "replid2": replid2.to_string(),
                            "second_replid_offset": second, "why": why.to_string(),
                            "master_repl_offset": master_repl_offset});
                        self.trace
                            .push_named(t, Some(i), Kind::Event, text, "replid-changed", args);
                    }
                    master::Observation::ReplicasDisconnected { count, why } => {
                        let text = format!("{count} replicas disconnected: {why}");
                        let args = json!({"count": count, "why": why.to_string()});
                        self.trace
                            .push_named(t, Some(i), Kind::Event, text, "replicas-disconnected", args);
                    }
                    master::Observation::ObufLimit {
                        conn,
                        used,
                        limit,
                        soft,
                        ..
                    } => {
                        if *soft {
                            self.coverage.obuf_drops.1 += 1;
                        } else {
                            self.coverage.obuf_drops.0 += 1;
                        }
                        let kind = if *soft { "soft" } else { "hard" };
                        let text = format!("slave {conn} dropped: output buffer {used} over {kind} limit {limit}");
                        let args = json!({"conn": conn.0, "used": used, "limit": limit, "kind": kind});
                        self.trace.push_named(t, Some(i), Kind::Event, text, "obuf-limit", args);
                    }
                    master::Observation::Fed { .. } | master::Observation::RdbSent { .. } => {}
                    master::Observation::WaitReply { conn, offset, acked } => {
                        self.oracle.check_wait(t, i, boot, *conn, *offset, *acked);
                        let text = format!("wait offset {offset} acked {acked}");
                        let args = json!({"offset": offset, "acked": acked});
                        self.trace.push_named(t, Some(i), Kind::Event, text, "wait", args);
                    }
                }
            }
            Note::Replica(o) => match o {
                replica::Observation::State { from, to } => {
                    self.coverage.repl_states.insert(to as u8);
                    let source = self.slots.borrow()[i]
                        .replicaof
                        .as_ref()
                        .and_then(|m| self.names.iter().position(|n| n == m));
                    self.oracle.replica_state(t, i, source, from, to);
                    self.trace.push(
                        t,
                        Some(i),
                        Kind::ReplState(repl_name(to)),
                        format!("repl_state -> {to:?}"),
                    );
                }
                other => {
                    match &other {
                        replica::Observation::LinkError { reason, .. } => {
                            self.coverage.link_errors += 1;
                            self.oracle.link_error(i, reason, false);
                        }
                        replica::Observation::Continue { .. } | replica::Observation::FullSync { .. } => {
                            self.oracle.efficiency.linked(i)
                        }
                        replica::Observation::TransferFailed { reason } => {
                            self.coverage.transfer_failures += 1;
                            self.oracle.link_error(i, reason, true);
                        }
                        _ => {}
                    }
                    let (name, args) = replica_event(&other);
                    self.trace
                        .push_named(t, Some(i), Kind::Event, format!("{other:?}"), name, args)
                }
            },
            Note::Base { replid, .. } => self.oracle.efficiency.base(i, replid),
            Note::Loaded {
                replid,
                offset,
                as_replica,
            } => self.oracle.efficiency.loaded(i, replid, offset, as_replica),
            Note::Write { .. } => {}
            Note::DatasetReplaced { keys } => {
                let text = format!("dataset replaced ({keys} keys)");
                let args = json!({ "keys": keys });
                self.trace
                    .push_named(t, Some(i), Kind::Event, text, "dataset-replaced", args)
            }
        }
    }

    fn check_converged(&mut self, t: u64, views: &[NodeView]) -> bool {
        // Digests are the expensive part: only compute them once everything cheap agrees.
        let cheap = views.len() == self.names.len()
            && views
                .windows(2)
                .all(|w| w[0].replid == w[1].replid && w[0].offset == w[1].offset)
            && views
                .iter()
                .all(|v| v.top_level || v.repl_state == replica::ReplState::Connected);
        if !cheap {
            return false;
        }
        let digests: Vec<u64> = views
            .iter()
            .filter_map(|v| self.handle(v.idx).map(|h| h.node.borrow().keyspace().fingerprint()))
            .collect();
        let first = self.oracle.converged_at.is_none();
        let done = self.oracle.check_converged(t, views, &digests, self.names.len());
        if done && first {
            let args = json!({ "t_ms": t });
            self.trace
                .push_named(t, None, Kind::Event, "converged".into(), "converged", args);
            // Read back every key of every node against the stream (issue 13a/b).
            for v in views {
                if let Some(h) = self.handle(v.idx) {
                    let data = dataset(h.node.borrow().keyspace());
                    self.oracle.readback(t, v, &data);
                }
            }
        }
        done
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for i in 0..self.names.len() {
            match self.handle(i) {
                None => parts.push(format!("n{i}: down")),
                Some(h) => {
                    let nd = h.node.borrow();
                    parts.push(format!(
                        "n{i}: {:?} replid {} off {} digest {}",
                        nd.replica().state(),
                        nd.master().replid(),
                        nd.master().master_repl_offset(),
                        &nd.keyspace().digest_hex()[..8]
                    ));
                }
            }
        }
        parts.join("; ")
    }

    fn counters(&self) -> Vec<SyncCounters> {
        (0..self.names.len())
            .map(|i| match self.handle(i) {
                Some(h) => {
                    let c = h.node.borrow().master().counters();
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

/// A node's whole dataset as the stream model holds one.
fn dataset(ks: &node::keyspace::Keyspace) -> BTreeMap<crate::oracle::model::Key, crate::oracle::model::Val> {
    let mut out = BTreeMap::new();
    for db in 0..node::keyspace::DB_COUNT {
        for (k, e) in ks.iter_db(db) {
            out.insert((db, k.clone()), (e.value.clone(), e.expire_ms));
        }
    }
    out
}

/// A replica observation's stable event name and arguments (the text stays its Debug
/// form, which the trace hash covers).
fn replica_event(o: &replica::Observation) -> (&'static str, serde_json::Value) {
    use replica::Observation as R;
    match o {
        R::State { from, to } => ("repl-state", json!({"from": repl_name(*from), "to": repl_name(*to)})),
        R::Continue { replid, offset } => ("continue", json!({"replid": replid.to_string(), "offset": offset})),
        R::FullSync { replid, offset } => (
            "full-sync-loaded",
            json!({"replid": replid.to_string(), "offset": offset}),
        ),
        R::LinkError { state, reason } => ("link-error", json!({"state": repl_name(*state), "reason": reason})),
        R::TransferFailed { reason } => ("transfer-failed", json!({ "reason": reason })),
    }
}

fn slave_name(s: master::SlaveState) -> &'static str {
    match s {
        master::SlaveState::WaitBgsaveStart => "WAIT_BGSAVE_START",
        master::SlaveState::WaitBgsaveEnd => "WAIT_BGSAVE_END",
        master::SlaveState::SendBulk => "SEND_BULK",
        master::SlaveState::Online => "ONLINE",
    }
}

fn repl_name(s: replica::ReplState) -> &'static str {
    use replica::ReplState::*;
    match s {
        None => "NONE",
        Connect => "CONNECT",
        Connecting => "CONNECTING",
        ReceivePong => "RECEIVE_PONG",
        SendAuth => "SEND_AUTH",
        ReceiveAuth => "RECEIVE_AUTH",
        SendPort => "SEND_PORT",
        ReceivePort => "RECEIVE_PORT",
        SendIp => "SEND_IP",
        ReceiveIp => "RECEIVE_IP",
        SendCapa => "SEND_CAPA",
        ReceiveCapa => "RECEIVE_CAPA",
        SendPsync => "SEND_PSYNC",
        ReceivePsync => "RECEIVE_PSYNC",
        Transfer => "TRANSFER",
        Connected => "CONNECTED",
    }
}

//! What defines a run and how to run it: the [`RunSpec`] (stored whole in failure files
//! and the corpus), the [`RunOptions`] that change nothing simulated, the [`Stepping`] of
//! simulated time, and the wall-time [`Probe`].

use serde::{Deserialize, Serialize};

use crate::nemesis::{Fault, Swarm};
use crate::net::Fragmentation;
use crate::oracle::Check;
use crate::rules::RuleSetRef;
use crate::workload::WorkloadSpec;
use crate::world::NodeSpec;

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

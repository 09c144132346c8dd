//! A campaign's result: the versioned JSON document of README "Running big campaigns"
//! (`sweep --json`, `merge`, `sweep --resume`) and the terminal table printed from it.
//! Every total is a sum or a union, so merging shards gives exactly the unsharded totals.
//!
//! Owns: the summary format, folding a run into it, merging summaries, the table.
//! Must never: keep a run's full report (a campaign of millions of seeds keeps totals).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize};

use super::plan::{Plan, Seeds, Shard};
use crate::failure::{COMMIT, TOOL_VERSION};
use crate::oracle::Checks;
use crate::run::{Coverage, RunReport, RunSpec, SyncCounters};
use crate::workload::Stats;

/// `format` of a summary file.
pub const FORMAT: &str = "psync-sim-sweep";
/// The summary version this build writes and reads.
pub const VERSION: u32 = 1;
/// Violating seeds the table lists (the JSON lists all).
pub const LISTED: usize = 10;

/// One violating seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedVerdict {
    /// The seed.
    pub seed: u64,
    /// Violations per oracle label.
    pub oracles: BTreeMap<String, u64>,
    /// The first violation: oracle, node, simulated ms, message.
    pub first: FirstViolation,
    /// The command that reruns the seed.
    pub reproduce: String,
    /// The failure file written for it, if one could be written.
    pub failure_file: Option<String>,
}

/// The first violation of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstViolation {
    /// The oracle's label.
    pub oracle: String,
    /// The node it concerns, if one.
    pub node: Option<usize>,
    /// Simulated ms since the run started.
    pub t_ms: u64,
    /// What was wrong.
    pub message: String,
}

/// Sums and unions over every run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Runs done.
    pub runs: u64,
    /// Runs with at least one violation.
    pub violating_runs: u64,
    /// Every violation of every run (a run can break several oracles, or one often).
    pub violations: u64,
    /// Violations per oracle label.
    pub violations_by_oracle: BTreeMap<String, u64>,
    /// Simulated ms, summed.
    pub sim_ms: u64,
    /// Scheduled faults that had nothing to act on.
    pub faults_never_fired: u64,
    /// INFO sync counters summed over every node of every run (full and partial syncs).
    pub syncs: SyncCounters,
    /// Client-side counts (commands, acknowledged writes, TTL writes…).
    pub stats: Stats,
    /// What each oracle judged.
    pub checks: Checks,
    /// States, PSYNC outcomes and faults reached.
    pub coverage: Coverage,
}

impl Totals {
    fn add_run(&mut self, r: &RunReport) {
        self.runs += 1;
        self.violating_runs += u64::from(!r.violations.is_empty());
        self.violations += r.violations.len() as u64;
        for v in &r.violations {
            *self.violations_by_oracle.entry(v.oracle.to_string()).or_default() += 1;
        }
        self.sim_ms += r.sim_ms;
        self.faults_never_fired += r.faults.iter().filter(|(_, fired)| !fired).count() as u64;
        for c in &r.counters {
            add_syncs(&mut self.syncs, c);
        }
        self.stats.merge(&r.stats);
        self.checks.merge(&r.checks);
        self.coverage.merge(&r.coverage);
    }

    pub(super) fn merge(&mut self, o: &Totals) {
        self.runs += o.runs;
        self.violating_runs += o.violating_runs;
        self.violations += o.violations;
        for (k, n) in &o.violations_by_oracle {
            *self.violations_by_oracle.entry(k.clone()).or_default() += n;
        }
        self.sim_ms += o.sim_ms;
        self.faults_never_fired += o.faults_never_fired;
        add_syncs(&mut self.syncs, &o.syncs);
        self.stats.merge(&o.stats);
        self.checks.merge(&o.checks);
        self.coverage.merge(&o.coverage);
    }
}

fn add_syncs(a: &mut SyncCounters, b: &SyncCounters) {
    a.sync_full += b.sync_full;
    a.sync_partial_ok += b.sync_partial_ok;
    a.sync_partial_err += b.sync_partial_err;
}

/// A sweep's (or a merge's) result; the JSON written by `--json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The commit of the build that ran it.
    pub commit: String,
    /// The tool version of that build.
    pub tool_version: String,
    /// What, besides the seed, names each run (`RunSpec::identity`: scenario, tick-ms, …).
    pub identity: BTreeMap<String, String>,
    /// The seed sources and shards that ran (one per sweep merged in).
    pub plans: Vec<Plan>,
    /// Every seed that ran, ascending (a set: random campaigns finish seeds in any order).
    pub seeds_run: BTreeSet<u64>,
    /// Every violating seed, ascending.
    pub violating: Vec<SeedVerdict>,
    /// Violating seeds whose failure file could not be written.
    pub failure_files_unwritten: u64,
    /// Sums and unions over every run.
    pub totals: Totals,
    /// Wall seconds (for a merge: the parts' sum, i.e. machine time) and threads used.
    pub wall_s: f64,
    /// Worker threads (summed over the parts of a merge).
    pub jobs: usize,
    /// Simulated seconds per wall second.
    pub sim_wall_ratio: f64,
    /// Sweeps merged into this one (1 for a plain sweep).
    pub parts: u64,
}

impl Summary {
    /// An empty summary for runs of this identity.
    pub fn new(identity: &[(&'static str, String)], plan: Plan, jobs: usize) -> Summary {
        Summary {
            format: FORMAT.to_string(),
            version: VERSION,
            commit: COMMIT.to_string(),
            tool_version: TOOL_VERSION.to_string(),
            identity: identity.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            plans: vec![plan],
            seeds_run: BTreeSet::new(),
            violating: Vec::new(),
            failure_files_unwritten: 0,
            totals: Totals::default(),
            wall_s: 0.0,
            jobs,
            sim_wall_ratio: 0.0,
            parts: 1,
        }
    }

    /// Folds one run in (any order: everything is sorted or summed).
    pub fn add_run(&mut self, spec: &RunSpec, r: &RunReport, failure_file: Option<String>) {
        self.seeds_run.insert(r.seed);
        self.totals.add_run(r);
        if let Some(v) = r.violations.first() {
            let mut oracles = BTreeMap::new();
            for v in &r.violations {
                *oracles.entry(v.oracle.to_string()).or_default() += 1;
            }
            let verdict = SeedVerdict {
                seed: r.seed,
                oracles,
                first: FirstViolation {
                    oracle: v.oracle.to_string(),
                    node: v.node,
                    t_ms: v.t_ms,
                    message: v.message.clone(),
                },
                reproduce: spec.reproduce(),
                failure_file,
            };
            let pos = self.violating.partition_point(|x| x.seed < r.seed);
            self.violating.insert(pos, verdict);
        }
    }

    /// Sets the wall time (and with it the sim/wall ratio).
    pub fn set_wall(&mut self, wall_s: f64) {
        self.wall_s = wall_s;
        self.sim_wall_ratio = self.totals.sim_ms as f64 / 1000.0 / wall_s.max(1e-9);
    }

    /// Whether every plan's seeds all ran: each source complete in one part, or its shards
    /// (all of one count) complete for every index.
    pub fn complete(&self) -> bool {
        let sources: BTreeSet<Seeds> = self.plans.iter().map(|p| p.seeds).collect();
        sources.into_iter().all(|s| {
            let done: Vec<Shard> = self
                .plans
                .iter()
                .filter(|p| p.seeds == s && p.complete)
                .map(|p| p.shard)
                .collect();
            done.contains(&Shard::ALL)
                || done.first().is_some_and(|f| {
                    (0..f.count).all(|i| {
                        done.contains(&Shard {
                            index: i,
                            count: f.count,
                        })
                    })
                })
        })
    }
}

/// Deserializes a set of labels into `&'static str`s (coverage keeps static labels),
/// interning each distinct label once per process.
pub fn labels<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<&'static str>, D::Error> {
    static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let owned = BTreeSet::<String>::deserialize(d)?;
    let mut interned = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    Ok(owned
        .into_iter()
        .map(|s| match interned.get(s.as_str()) {
            Some(l) => *l,
            None => {
                let l: &'static str = Box::leak(s.into_boxed_str());
                interned.insert(l);
                l
            }
        })
        .collect())
}

//! A/B campaigns over PSYNC rule sets (issue 15): the same seeds under each rule set, side
//! by side. The seed draws the topology, workload and fault schedule; the rule set is set
//! afterwards, so every rule set meets exactly the same runs.
//!
//! Per rule set: violating runs per oracle with the first (lowest) violating seed shrunk
//! to a minimal counterexample, the wall seconds until the first violation, and what
//! replication cost (full and partial syncs, RDB and backlog bytes, time to converge,
//! acknowledged writes whose loss a failover explains).
//!
//! Owns: the campaign loop, its summary and rendering. Must never: let a rule set change
//! what the seed draws (the comparison would be meaningless), or judge anything itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::oracle::costs::Costs;
use crate::oracle::OracleId;
use crate::rules::RuleSetRef;
use crate::run::{run, RunReport, RunSpec};
use crate::shrink::{shrink_for, FailureFile};

/// What to compare.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    /// The rule sets compared, one column each.
    pub rules: Vec<RuleSetRef>,
    /// Seeds `start..end` (end exclusive).
    pub seeds: (u64, u64),
    /// A named scenario (`swarm`: the seed's swarm run); the rule set is set on top.
    pub scenario: String,
    /// Simulation tick (1: exact millisecond timing).
    pub tick_ms: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Reruns allowed per shrink (0: do not shrink).
    pub shrink_budget: usize,
}

/// The first counterexample for one oracle under one rule set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counterexample {
    /// The seed.
    pub seed: u64,
    /// Faults in the seed's schedule, and after shrinking (when shrunk).
    pub faults: usize,
    /// Faults after shrinking.
    pub shrunk_faults: Option<usize>,
    /// The shrunk failure, replayable with `psync-sim replay --file`.
    pub file: Option<FailureFile>,
    /// `psync-sim replay …` for the unshrunk seed.
    pub reproduce: String,
    /// The first violation's message.
    pub message: String,
}

/// One oracle's verdict under one rule set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OracleVerdict {
    /// Runs this oracle flagged.
    pub runs: u64,
    /// The first counterexample found.
    pub first: Option<Counterexample>,
}

/// One rule set's column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleSetSummary {
    /// The rule set's name.
    pub rules: String,
    /// Runs made.
    pub runs: u64,
    /// Runs with at least one violation.
    pub violating_runs: u64,
    /// Keyed by oracle label.
    pub oracles: BTreeMap<String, OracleVerdict>,
    /// What the runs cost (full syncs, bytes, time).
    pub costs: Costs,
    /// Runs that converged, and the sum of their times from the heal to convergence.
    pub converged_runs: u64,
    /// Sum of the converged runs' heal-to-convergence times (ms).
    pub converge_ms_total: u64,
    /// Acknowledged (WAIT) writes lost where a failover or master crash explains it.
    pub expected_losses: u64,
    /// Client writes acknowledged.
    pub client_writes: u64,
    /// Wall seconds for the whole campaign, and until the first violating run finished.
    pub wall_s: f64,
    /// Wall seconds until the first violating run finished.
    pub first_violation_s: Option<f64>,
}

impl RuleSetSummary {
    /// Mean time from the heal to convergence, in ms.
    pub fn mean_converge_ms(&self) -> Option<f64> {
        (self.converged_runs > 0).then(|| self.converge_ms_total as f64 / self.converged_runs as f64)
    }
}

/// The whole comparison (also the `--json` document).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareReport {
    /// Format version of this document.
    pub version: u32,
    /// Seeds `start..end`.
    pub seeds: (u64, u64),
    /// The scenario.
    pub scenario: String,
    /// Simulation tick (ms).
    pub tick_ms: u64,
    /// One column per rule set.
    pub columns: Vec<RuleSetSummary>,
}

/// Runs the campaign: each rule set over all seeds on `jobs` threads, one rule set after
/// the other (so each column's wall time and time to first violation are its own).
/// `progress` is called after every run with (rule set index, runs done).
pub fn compare(spec: &CompareSpec, progress: &(dyn Fn(usize, u64) + Sync)) -> Result<CompareReport, String> {
    if crate::scenarios::by_name(&spec.scenario, spec.seeds.0).is_none() {
        return Err(format!(
            "unknown scenario {:?}; known: {}",
            spec.scenario,
            crate::scenarios::NAMES.join(", ")
        ));
    }
    let columns = spec
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| column(spec, *r, &|done| progress(i, done)))
        .collect();
    Ok(CompareReport {
        version: 1,
        seeds: spec.seeds,
        scenario: spec.scenario.clone(),
        tick_ms: spec.tick_ms,
        columns,
    })
}

fn spec_for(spec: &CompareSpec, rules: RuleSetRef, seed: u64) -> RunSpec {
    let mut s = crate::scenarios::by_name(&spec.scenario, seed).expect("scenario checked by compare()");
    s.tick_ms = spec.tick_ms;
    s.rules = rules;
    s
}

fn column(spec: &CompareSpec, rules: RuleSetRef, progress: &(dyn Fn(u64) + Sync)) -> RuleSetSummary {
    // Wall time is reported (campaign cost, time to first violation), never fed into a run.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let next = AtomicU64::new(spec.seeds.0);
    let done = AtomicU64::new(0);
    let results: Mutex<Vec<Finished>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..spec.jobs.max(1) {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= spec.seeds.1 {
                    break;
                }
                let run_spec = spec_for(spec, rules, seed);
                let finished = Finished {
                    report: run(&run_spec),
                    fault_ms: run_spec.fault_ms,
                    wall_s: start.elapsed().as_secs_f64(),
                };
                results.lock().expect("no panics while holding the lock").push(finished);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            });
        }
    });
    let wall_s = start.elapsed().as_secs_f64();
    let mut results = results.into_inner().expect("threads joined");
    results.sort_by_key(|f| f.report.seed);
    summarise(spec, rules, &results, wall_s)
}

/// One finished run of a column.
struct Finished {
    report: RunReport,
    /// When its fault phase ended (convergence is timed from there).
    fault_ms: u64,
    /// Wall seconds into the column at which it finished.
    wall_s: f64,
}

fn summarise(spec: &CompareSpec, rules: RuleSetRef, results: &[Finished], wall_s: f64) -> RuleSetSummary {
    let mut s = RuleSetSummary {
        rules: rules.name().to_string(),
        runs: results.len() as u64,
        violating_runs: 0,
        oracles: BTreeMap::new(),
        costs: Costs::default(),
        converged_runs: 0,
        converge_ms_total: 0,
        expected_losses: 0,
        client_writes: 0,
        wall_s,
        first_violation_s: None,
    };
    for Finished {
        report: r,
        fault_ms,
        wall_s: t,
    } in results
    {
        s.costs.merge(&r.costs);
        s.expected_losses += r.checks.expected_losses;
        s.client_writes += r.stats.ok_writes;
        if let Some(c) = r.converged_at_ms {
            s.converged_runs += 1;
            s.converge_ms_total += c.saturating_sub(*fault_ms);
        }
        if r.violations.is_empty() {
            continue;
        }
        s.violating_runs += 1;
        s.first_violation_s = Some(s.first_violation_s.map_or(*t, |f: f64| f.min(*t)));
        let mut seen: Vec<OracleId> = Vec::new();
        for v in &r.violations {
            if seen.contains(&v.oracle) {
                continue;
            }
            seen.push(v.oracle);
            let e = s.oracles.entry(v.oracle.to_string()).or_default();
            e.runs += 1;
            if e.first.is_none() {
                e.first = Some(counterexample(spec, rules, r, v.oracle, &v.message));
            }
        }
    }
    s
}

fn counterexample(spec: &CompareSpec, rules: RuleSetRef, r: &RunReport, oracle: OracleId, msg: &str) -> Counterexample {
    let run_spec = spec_for(spec, rules, r.seed);
    let shrunk = (spec.shrink_budget > 0)
        .then(|| shrink_for(&run_spec, oracle, spec.shrink_budget))
        .flatten();
    Counterexample {
        seed: r.seed,
        faults: run_spec.faults.len(),
        shrunk_faults: shrunk.as_ref().map(|s| s.file.spec.faults.len()),
        file: shrunk.map(|s| s.file),
        reproduce: run_spec.reproduce(),
        message: msg.to_string(),
    }
}

/// The terminal table: one column per rule set, then each oracle's first counterexample.
pub fn render(report: &CompareReport) -> String {
    let cols = &report.columns;
    let stepping = match report.tick_ms {
        0 => "event-driven".to_string(),
        ms => format!("tick {ms} ms"),
    };
    let mut out = format!(
        "compare: seeds {}..{} scenario {} stepping {stepping}\n",
        report.seeds.0, report.seeds.1, report.scenario
    );
    out += &row("", cols.iter().map(|c| c.rules.clone()).collect());
    out += &row("runs", cols.iter().map(|c| c.runs.to_string()).collect());
    out += &row(
        "violating runs",
        cols.iter().map(|c| c.violating_runs.to_string()).collect(),
    );
    let mut oracles: Vec<&String> = cols.iter().flat_map(|c| c.oracles.keys()).collect();
    oracles.sort();
    oracles.dedup();
    for o in &oracles {
        let cells = cols
            .iter()
            .map(|c| c.oracles.get(*o).map_or(0, |v| v.runs).to_string())
            .collect();
        out += &row(&format!("  {o}"), cells);
    }
    out += &cost_rows(cols);
    for c in cols {
        for (o, v) in &c.oracles {
            let Some(x) = &v.first else { continue };
            let shrunk = x.shrunk_faults.map_or(String::new(), |n| format!(", shrunk to {n}"));
            out += &format!(
                "{} / {o}: seed 0x{:x} ({} faults{shrunk}): {}\n  {}\n",
                c.rules, x.seed, x.faults, x.message, x.reproduce
            );
        }
    }
    out
}

/// One table row: the label, then one right-aligned cell per rule set.
fn row(name: &str, cells: Vec<String>) -> String {
    let mut l = format!("{name:<24}");
    for c in cells {
        l += &format!(" {c:>24}");
    }
    l + "\n"
}

/// The cost rows: syncs (with the change against the first rule set), bytes, convergence,
/// losses, time to the first violation, wall time.
fn cost_rows(cols: &[RuleSetSummary]) -> String {
    let base = cols.first();
    let mut out = String::new();
    let vs_base = |v: u64, b: Option<u64>| match b {
        Some(b) if b > 0 && v != b => format!("{v} ({:+.0}%)", (v as f64 / b as f64 - 1.0) * 100.0),
        _ => v.to_string(),
    };
    out += &row(
        "full syncs",
        cols.iter()
            .map(|c| vs_base(c.costs.full_syncs, base.map(|b| b.costs.full_syncs)))
            .collect(),
    );
    out += &row(
        "partial syncs",
        cols.iter()
            .map(|c| vs_base(c.costs.partial_syncs, base.map(|b| b.costs.partial_syncs)))
            .collect(),
    );
    out += &row(
        "RDB MB sent",
        cols.iter()
            .map(|c| format!("{:.1}", c.costs.rdb_bytes as f64 / 1e6))
            .collect(),
    );
    out += &row(
        "backlog MB served",
        cols.iter()
            .map(|c| format!("{:.1}", c.costs.backlog_bytes as f64 / 1e6))
            .collect(),
    );
    out += &row(
        "mean ms to converge",
        cols.iter()
            .map(|c| c.mean_converge_ms().map_or("-".into(), |m| format!("{m:.0}")))
            .collect(),
    );
    out += &row(
        "expected write losses",
        cols.iter().map(|c| c.expected_losses.to_string()).collect(),
    );
    out += &row(
        "first violation after",
        cols.iter()
            .map(|c| c.first_violation_s.map_or("-".into(), |t| format!("{t:.1} s")))
            .collect(),
    );
    out += &row(
        "wall seconds",
        cols.iter().map(|c| format!("{:.1}", c.wall_s)).collect(),
    );
    out
}

//! Shrinking: when a run violates an oracle, find a smaller schedule and workload that
//! still violates the same oracle (delta debugging over the fault list, then workload and
//! duration reduction), and save it as a failure file `psync-sim replay --file` reruns.
//!
//! Owns: minimisation (the file format is `failure`'s). Must never: change what a spec
//! means (a shrunk spec is an ordinary spec, replayed like any other).

pub use crate::failure::FailureFile;
use crate::failure::Sizes;
use crate::oracle::OracleId;
use crate::run::{run, RunReport, RunSpec};

/// Result of a shrink.
#[derive(Debug)]
pub struct Shrunk {
    /// The failure file to save.
    pub file: FailureFile,
    /// Reruns spent.
    pub runs: usize,
    /// The shrunk run's report.
    pub report: RunReport,
}

/// Whether `spec` still fails with `oracle`.
fn fails(spec: &RunSpec, oracle: OracleId, runs: &mut usize) -> Option<RunReport> {
    *runs += 1;
    let r = run(spec);
    r.violations.iter().any(|v| v.oracle == oracle).then_some(r)
}

/// Minimises a failing spec for the first violated oracle. `budget` caps the reruns.
pub fn shrink(spec: &RunSpec, budget: usize) -> Option<Shrunk> {
    let first = run(spec);
    let oracle = first.violations.first()?.oracle;
    shrink_for(spec, oracle, budget).map(|mut s| {
        s.runs += 1;
        s
    })
}

/// Minimises a spec that violates `oracle`, keeping that oracle violated.
pub fn shrink_for(spec: &RunSpec, oracle: OracleId, budget: usize) -> Option<Shrunk> {
    let mut runs = 0;
    let original = Sizes::of(spec);
    let (mut cur, used) = shrink_while(spec, budget, |r| r.violations.iter().any(|v| v.oracle == oracle));
    runs += used;
    // Fewer clients, then a sparser workload, then a shorter fault phase.
    for writers in 0..cur.workload.writers {
        let mut cand = cur.clone();
        cand.workload.writers = writers;
        if fails(&cand, oracle, &mut runs).is_some() {
            cur = cand;
            break;
        }
    }
    if cur.workload.readers > 0 {
        let mut cand = cur.clone();
        cand.workload.readers = 0;
        if fails(&cand, oracle, &mut runs).is_some() {
            cur = cand;
        }
    }
    let last_fault = cur.faults.iter().map(|f| f.at_ms).max().unwrap_or(0);
    let mut fault_ms = cur.fault_ms;
    while fault_ms / 2 > last_fault + 100 && runs < budget {
        let mut cand = cur.clone();
        cand.fault_ms = fault_ms / 2;
        if fails(&cand, oracle, &mut runs).is_none() {
            break;
        }
        fault_ms /= 2;
        cur = cand;
    }
    let report = fails(&cur, oracle, &mut runs)?;
    let file = FailureFile::new(&cur, oracle.label(), original, true);
    Some(Shrunk { file, runs, report })
}

/// Generic ddmin for tests and tools: shrink `spec.faults` while `keep(report)` holds.
pub fn shrink_while(spec: &RunSpec, budget: usize, keep: impl Fn(&RunReport) -> bool) -> (RunSpec, usize) {
    let mut runs = 0;
    let mut cur = spec.clone();
    let mut chunk = cur.faults.len().div_ceil(2).max(1);
    loop {
        let mut i = 0;
        let mut removed_any = false;
        while i < cur.faults.len() && runs < budget {
            let mut cand = cur.clone();
            let end = (i + chunk).min(cand.faults.len());
            cand.faults.drain(i..end);
            runs += 1;
            if keep(&run(&cand)) {
                cur = cand;
                removed_any = true;
            } else {
                i += chunk;
            }
        }
        if runs >= budget || (chunk == 1 && !removed_any) {
            return (cur, runs);
        }
        if !removed_any {
            chunk = (chunk / 2).max(1);
        }
    }
}

//! Campaigns: many seeds on a pool of threads (one whole simulation per thread at a time),
//! folded into one [`Summary`] that `--json` saves, `merge` combines across machines and
//! `--resume` continues.
//!
//! Owns: the sweep's thread pool, stopping (budget, Ctrl-C, first violation), printing
//! violations and writing their failure files. Must never: change a run (each is an
//! ordinary `run_with_trace` of its spec) or lose a violation because a file could not
//! be written (the report is printed first, the error names the path).

pub mod merge;
pub mod plan;
pub mod summary;
pub mod table;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use merge::{load, merge_files, save, SummaryError};
pub use plan::{InputError, Plan, Seeds, SeedsArg, Shard};
pub use summary::{labels, Summary};

use crate::failure::FailureFile;
use crate::run::{run_with_trace, RunReport, RunSpec};

/// How a sweep runs. Seeds already in `skip` (a resumed summary) are not run again.
pub struct Sweep<'a> {
    /// Where the seeds come from.
    pub seeds: Seeds,
    /// Which of them to run.
    pub shard: Shard,
    /// Seeds already run (a resume).
    pub skip: BTreeSet<u64>,
    /// Worker threads.
    pub jobs: usize,
    /// Where failure files go.
    pub failures: PathBuf,
    /// Shrink each violating seed before writing its failure file.
    pub shrink: bool,
    /// Stop taking seeds after the first violating one.
    pub until_violation: bool,
    /// Stop taking seeds after this much wall time.
    pub budget: Option<Duration>,
    /// Set (by a Ctrl-C handler) to stop taking seeds; runs in flight finish.
    pub stop: &'a AtomicBool,
    /// Builds a seed's spec (the CLI's scenario and identity options applied).
    pub spec_for: &'a (dyn Fn(u64) -> RunSpec + Sync),
}

/// What ended a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every seed of the plan ran.
    Done,
    /// `--budget` ran out.
    Budget,
    /// Ctrl-C.
    Interrupted,
    /// `--until-violation` found one.
    FirstViolation,
}

/// Prints a run's violations (first ten), the trace up to the first one and the command that
/// reruns it (`RunSpec::reproduce`, or `replay --file` for a spec the seed does not give).
pub fn print_violations(reproduce: &str, r: &RunReport, trace_tail: &str) {
    for v in r.violations.iter().take(10) {
        let node = v.node.map_or_else(String::new, |n| format!(" n{n}"));
        eprintln!(
            "VIOLATION seed=0x{:x} scenario={} oracle={}{} t={}ms: {}",
            r.seed, r.scenario, v.oracle, node, v.t_ms, v.message
        );
    }
    if r.violations.len() > 10 {
        eprintln!("... and {} more violations", r.violations.len() - 10);
    }
    if !r.violations.is_empty() {
        eprintln!("trace up to the first violation:\n{trace_tail}");
        eprintln!("reproduce: {reproduce}  (commit {})", crate::failure::COMMIT);
    }
}

/// Shrinks a failing spec, prints the sizes before and after, returns the failure file.
pub fn shrink_and_report(spec: &RunSpec, budget: usize) -> Option<FailureFile> {
    let s = crate::shrink::shrink(spec, budget)?;
    let (f, o) = (&s.file.spec, s.file.original);
    println!(
        "shrunk seed=0x{:x} oracle={}: faults {} -> {}, writers {} -> {}, fault phase {} -> {} ms ({} reruns)",
        f.seed,
        s.file.oracle,
        o.faults,
        f.faults.len(),
        o.writers,
        f.workload.writers,
        o.fault_ms,
        f.fault_ms,
        s.runs
    );
    for fault in &f.faults {
        println!("  {fault}");
    }
    Some(s.file)
}

/// Checks up front that failure files can be written into `dir` (creating it), so a
/// campaign does not run for hours and then lose them.
pub fn check_failures_dir(dir: &Path) -> Result<(), InputError> {
    // One probe per process: shards started together share the directory, and one
    // removing another's probe made that one fail (ENOENT).
    let probe = dir.join(format!(".psync-sim-write-test-{}", std::process::id()));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            InputError(format!(
                "--failures {}: cannot write failure files there: {e}",
                dir.display()
            ))
        })
}

/// What `sweep` runs, from its flags (`--seeds`, `--shard`, `--master-seed`) or from a
/// summary to resume, which must be this build's, of one plan and of the same identity.
pub fn plan_for(
    resumed: Option<&Summary>,
    seeds: Option<SeedsArg>,
    shard: Option<Shard>,
    master_seed: Option<u64>,
    identity: &[(&'static str, String)],
) -> Result<(Seeds, Shard), InputError> {
    let seeds = match (seeds, resumed) {
        (Some(SeedsArg::Range { start, end }), _) => Seeds::Range { start, end },
        (Some(SeedsArg::Random), _) => Seeds::Random {
            master: master_seed.unwrap_or_else(draw_master_seed),
        },
        (None, Some(r)) => match r.plans.as_slice() {
            [p] => p.seeds,
            _ => {
                return Err(InputError(
                    "--resume continues one sweep, not a merge of several".into(),
                ))
            }
        },
        (None, None) => {
            return Err(InputError(
                "sweep needs --seeds A..B, --seeds random or --resume FILE".into(),
            ))
        }
    };
    if master_seed.is_some() && !matches!(seeds, Seeds::Random { .. }) {
        return Err(InputError("--master-seed goes with --seeds random".into()));
    }
    let shard = shard
        .or(resumed.and_then(|r| r.plans.first()).map(|p| p.shard))
        .unwrap_or(Shard::ALL);
    let Some(r) = resumed else { return Ok((seeds, shard)) };
    if r.commit != crate::failure::COMMIT {
        return Err(InputError(format!(
            "--resume: the summary was written by commit {}, this build is {}; resume with that build (or sweep anew and merge --force)",
            r.commit,
            crate::failure::COMMIT
        )));
    }
    let mine: std::collections::BTreeMap<String, String> =
        identity.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let theirs = r.plans.first().map(|p| (p.seeds, p.shard));
    if r.identity != mine || theirs != Some((seeds, shard)) {
        return Err(InputError(format!(
            "--resume: the summary ran {:?} on {:?}, this sweep would run {mine:?} on {seeds} shard {shard}",
            r.identity, theirs
        )));
    }
    Ok((seeds, shard))
}

struct Shared<'a> {
    cursor: Mutex<plan::Cursor>,
    summary: Mutex<Summary>,
    bad: AtomicU64,
    bar: indicatif::ProgressBar,
    sweep: &'a Sweep<'a>,
    deadline: Option<Instant>,
}

/// Runs the sweep; returns its summary (wall time set) and what ended it.
pub fn run(sweep: &Sweep<'_>) -> (Summary, Ended) {
    let first = (sweep.spec_for)(sweep.seeds.nth(sweep.shard.index).unwrap_or(0));
    let plan = Plan {
        seeds: sweep.seeds,
        shard: sweep.shard,
        complete: false,
    };
    let cursor = plan::Cursor::new(sweep.seeds, sweep.shard, sweep.skip.clone());
    let (bar, template) = match cursor.remaining() {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{bar:40} {pos}/{len} seeds {elapsed_precise} eta {eta} {msg}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {pos} seeds {elapsed_precise} {msg}",
        ),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // Wall time is only measured here, outside every simulation (budget, summary table).
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let shared = Shared {
        cursor: Mutex::new(cursor),
        summary: Mutex::new(Summary::new(&first.identity(), plan, sweep.jobs)),
        bad: AtomicU64::new(0),
        bar,
        sweep,
        deadline: sweep.budget.map(|b| started + b),
    };
    std::thread::scope(|s| {
        for _ in 0..sweep.jobs.max(1) {
            s.spawn(|| {
                while let Some(seed) = next_seed(&shared) {
                    one_seed(&shared, seed);
                }
            });
        }
    });
    shared.bar.finish();
    let exhausted = shared.cursor.lock().unwrap_or_else(|e| e.into_inner()).exhausted();
    let mut summary = shared.summary.into_inner().unwrap_or_else(|e| e.into_inner());
    #[allow(clippy::disallowed_methods)]
    summary.set_wall(started.elapsed().as_secs_f64());
    let ended = if exhausted {
        Ended::Done
    } else if sweep.stop.load(Ordering::Relaxed) {
        Ended::Interrupted
    } else if sweep.until_violation && shared.bad.load(Ordering::Relaxed) > 0 {
        Ended::FirstViolation
    } else {
        Ended::Budget
    };
    summary.plans[0].complete = ended == Ended::Done;
    (summary, ended)
}

/// The next seed, or `None` when the plan is done or the sweep must stop.
fn next_seed(sh: &Shared<'_>) -> Option<u64> {
    if sh.sweep.stop.load(Ordering::Relaxed) || (sh.sweep.until_violation && sh.bad.load(Ordering::Relaxed) > 0) {
        return None;
    }
    #[allow(clippy::disallowed_methods)]
    if sh.deadline.is_some_and(|d| Instant::now() >= d) {
        return None;
    }
    sh.cursor.lock().unwrap_or_else(|e| e.into_inner()).next()
}

fn one_seed(sh: &Shared<'_>, seed: u64) {
    let spec = (sh.sweep.spec_for)(seed);
    let (r, trace) = run_with_trace(&spec);
    let mut failure_file = None;
    let mut unwritten = false;
    if !r.violations.is_empty() {
        sh.bad.fetch_add(1, Ordering::Relaxed);
        sh.bar
            .suspend(|| print_violations(&spec.reproduce(), &r, &trace.tail(20)));
        let shrunk = if sh.sweep.shrink {
            sh.bar.suspend(|| shrink_and_report(&spec, 200))
        } else {
            None
        };
        let file = shrunk.unwrap_or_else(|| FailureFile::unshrunk(&spec, &r));
        match file.write_to(&sh.sweep.failures) {
            Ok(p) => {
                sh.bar.suspend(|| {
                    eprintln!(
                        "failure file: {}  (psync-sim replay --file {})",
                        p.display(),
                        p.display()
                    )
                });
                failure_file = Some(p.display().to_string());
            }
            Err(e) => {
                sh.bar
                    .suspend(|| eprintln!("error: failure file for seed 0x{seed:x} lost: {e}"));
                unwritten = true;
            }
        }
    }
    sh.bar
        .set_message(format!("violating seeds: {}", sh.bad.load(Ordering::Relaxed)));
    sh.bar.inc(1);
    let mut summary = sh.summary.lock().unwrap_or_else(|e| e.into_inner());
    summary.add_run(&spec, &r, failure_file);
    summary.failure_files_unwritten += u64::from(unwritten);
}

/// A master seed for `--seeds random` without `--master-seed`: OS entropy, outside every
/// simulation (each run's seed is then drawn from it deterministically, and it is printed).
pub fn draw_master_seed() -> u64 {
    use rand::RngCore;
    rand::rngs::OsRng.next_u64()
}

//! Many seeds: `sweep` (with Ctrl-C and `--resume`) and `merge` of sweep summaries.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use sim::campaign::{self, Ended, Seeds, Sweep};

use super::args::{Options, SweepArgs};

/// Set by Ctrl-C: the sweep stops taking seeds and prints its partial summary. A second
/// Ctrl-C exits at once.
static STOP: AtomicBool = AtomicBool::new(false);

pub(super) fn sweep(a: SweepArgs, opts: Options) -> anyhow::Result<ExitCode> {
    let resumed = a.resume.as_deref().map(campaign::load).transpose()?;
    let first = opts.spec(&a.scenario, 0)?; // validates the scenario before spawning
    let (seeds, shard) = campaign::plan_for(resumed.as_ref(), a.seeds, a.shard, a.master_seed, &first.identity())?;
    campaign::check_failures_dir(&a.failures)?;
    if let Seeds::Random { master } = seeds {
        println!("master seed 0x{master:x}  (same seeds: psync-sim sweep --seeds random --master-seed 0x{master:x})");
    }
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the runs in flight, then the partial summary (Ctrl-C again quits)");
    });
    let spec_for = |seed: u64| opts.spec(&a.scenario, seed).expect("the scenario was checked above");
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let sw = Sweep {
        seeds,
        shard,
        skip: resumed.as_ref().map(|r| r.seeds_run.clone()).unwrap_or_default(),
        jobs,
        failures: a.failures.clone(),
        shrink: a.shrink,
        until_violation: a.until_violation,
        budget: a.budget,
        stop: &STOP,
        spec_for: &spec_for,
    };
    let (summary, ended) = campaign::run(&sw);
    finish_sweep(summary, ended, resumed, &a)
}

/// After a sweep: add to the resumed summary, print the table, save the JSON, exit status.
fn finish_sweep(
    mut summary: campaign::Summary,
    ended: Ended,
    resumed: Option<campaign::Summary>,
    a: &SweepArgs,
) -> anyhow::Result<ExitCode> {
    if let (Some(mut r), Some(path)) = (resumed, a.resume.as_ref()) {
        campaign::merge::merge_into(&mut r, path, &summary, Path::new("this sweep"), false)?;
        summary = r;
    }
    print!("{}", campaign::table::render(&summary));
    let json = a.json.as_ref().or(a.resume.as_ref());
    let mut failed = summary.failure_files_unwritten > 0;
    if let Some(p) = json {
        match campaign::save(&summary, p) {
            Ok(()) => eprintln!("summary written to {}", p.display()),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    if ended != Ended::Done && summary.plans.iter().any(|p| !p.complete) {
        if let Some(p) = json {
            println!("continue with: psync-sim sweep --resume {}", p.display());
        }
    }
    Ok(if summary.totals.violating_runs > 0 || failed {
        ExitCode::FAILURE
    } else if ended == Ended::Interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) fn merge(files: &[PathBuf], json: Option<&Path>, force: bool) -> anyhow::Result<ExitCode> {
    let merged = campaign::merge_files(files, force)?;
    print!("{}", campaign::table::render(&merged));
    if let Some(p) = json {
        campaign::save(&merged, p)?;
        eprintln!("merged summary written to {}", p.display());
    }
    Ok(if merged.totals.violating_runs > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

//! One run and its reruns: `run`, `replay`, `shrink`, `check-determinism`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sim::campaign::{self, InputError};
use sim::failure::FailureFile;
use sim::run::{run_with, RunOptions, RunReport, RunSpec};

use super::args::{Cli, Options};

/// One line, every field `name=value`: values are numbers, names or `a,b` lists.
fn summary_line(r: &RunReport) -> String {
    let unfired = r.faults.iter().filter(|(_, f)| !f).count();
    let ms = |v: Option<u64>| v.map_or_else(|| "no".to_string(), |t| format!("{t}ms"));
    let psync: Vec<&str> = r.coverage.psync.iter().copied().collect();
    let syncs: Vec<String> = r
        .counters
        .iter()
        .enumerate()
        .map(|(i, c)| format!("n{i}:{}/{}/{}", c.sync_full, c.sync_partial_ok, c.sync_partial_err))
        .collect();
    let mut line = format!(
        "seed=0x{:x} scenario={} sim={}ms converged={} violations={} trace={} faults={} faults_unfired={} psync={} sync_full/partial_ok/partial_err={} writes={} prefix_checks={} obuf_drops_hard={} obuf_drops_soft={}",
        r.seed,
        r.scenario,
        r.sim_ms,
        ms(r.converged_at_ms),
        r.violations.len(),
        &r.trace_hash[..16],
        r.faults.len(),
        unfired,
        if psync.is_empty() { "none".to_string() } else { psync.join(",") },
        syncs.join(","),
        r.stats.ok_writes,
        r.checks.prefix,
        r.coverage.obuf_drops.0,
        r.coverage.obuf_drops.1
    );
    if let Some(t) = r.stopped_at_ms {
        line.push_str(&format!(" stopped_at_first_violation={t}ms"));
    }
    line
}

/// One run: summary, violations, then the trace file. A trace that cannot be written is
/// an error naming the path, after the report (which is never lost).
pub(super) fn one(
    spec: &RunSpec,
    reproduce: &str,
    trace_path: Option<&PathBuf>,
    timeline: bool,
    keep_going: bool,
) -> ExitCode {
    let opts = RunOptions {
        stop_at_first_violation: !keep_going,
        counters: trace_path.is_some(),
        ..RunOptions::default()
    };
    let (report, trace) = run_with(spec, opts);
    if timeline {
        print!("{}", trace.render());
    }
    for ((f, fired), fault) in report.faults.iter().zip(&spec.faults) {
        if !fired {
            println!("fault never fired: {f} ({})", fault.kind.no_effect_reason());
        }
    }
    println!("{}", summary_line(&report));
    println!("trace hash {}", report.trace_hash);
    campaign::print_violations(reproduce, &report, &trace.tail(30));
    if let Some(t) = report.stopped_at_ms {
        eprintln!("stopped at the first violation ({t} ms); --keep-going runs to the end");
    }
    let mut code = if report.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if let Some(p) = trace_path {
        let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
        let json = serde_json::to_vec_pretty(&trace.chrome_json(&names, report.sim_ms)).expect("trace serializes");
        match std::fs::write(p, json) {
            Ok(()) => eprintln!("trace written to {}", p.display()),
            Err(e) => {
                eprintln!("error: cannot write trace to {}: {e}", p.display());
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}

pub(super) fn replay_file(
    path: &Path,
    trace: Option<&PathBuf>,
    keep_going: bool,
    cli: &Cli,
) -> anyhow::Result<ExitCode> {
    let loaded = FailureFile::load(path)?;
    for note in &loaded.notes {
        eprintln!("note: {note}");
    }
    let spec = &loaded.file.spec;
    if let Some(r) = cli.rules.as_deref().filter(|r| r.trim() != spec.rules.name()) {
        return Err(InputError(format!(
            "{} ran with --rules {}; --rules {r} would be another run (leave it out)",
            path.display(),
            spec.rules
        ))
        .into());
    }
    if let Some(t) = cli.tick_ms.filter(|t| *t != spec.tick_ms) {
        return Err(InputError(format!(
            "{} ran with --tick-ms {}; --tick-ms {t} would be another run (leave it out)",
            path.display(),
            spec.tick_ms
        ))
        .into());
    }
    eprintln!(
        "replaying {} (spec from the file: {}; shrunk: {})",
        path.display(),
        spec.identity()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        loaded.file.shrunk
    );
    // The seed's line only if the seed (with the file's identity) gives exactly this spec.
    let regenerated = Options {
        tick_ms: spec.tick_ms,
        rules: spec.rules,
    }
    .spec(&spec.scenario, spec.seed)
    .ok()
    .filter(|r| serde_json::to_value(r).ok() == serde_json::to_value(spec).ok());
    let reproduce = match regenerated {
        Some(r) => r.reproduce(),
        None => format!("psync-sim replay --file {}", path.display()),
    };
    Ok(one(spec, &reproduce, trace, true, keep_going))
}

pub(super) fn shrink(spec: &RunSpec, budget: usize, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let Some(file) = campaign::shrink_and_report(spec, budget) else {
        println!("seed 0x{:x} does not violate any oracle; nothing to shrink", spec.seed);
        return Ok(ExitCode::SUCCESS);
    };
    let p = file.write_to(&out.unwrap_or_else(|| PathBuf::from("out/failures")))?;
    println!(
        "failure file: {}  (psync-sim replay --file {})",
        p.display(),
        p.display()
    );
    Ok(ExitCode::FAILURE)
}

pub(super) fn check_determinism(spec: RunSpec) -> anyhow::Result<ExitCode> {
    let first = sim::run(&spec).trace_hash;
    let second = std::thread::spawn(move || sim::run(&spec).trace_hash)
        .join()
        .map_err(|_| anyhow::anyhow!("second run panicked"))?;
    println!("run 1 (main thread)  {first}");
    println!("run 2 (other thread) {second}");
    Ok(if first == second {
        println!("deterministic");
        ExitCode::SUCCESS
    } else {
        println!("NOT deterministic");
        ExitCode::FAILURE
    })
}

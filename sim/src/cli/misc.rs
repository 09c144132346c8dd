//! The small commands: `bench`, `scenarios`, `rules`.

use std::process::ExitCode;

use sim::run::RunSpec;
use sim::scenarios;

pub(super) fn bench(parts: &str, seeds: u64, tick: u64) -> ExitCode {
    // (a) and (b) always compare stock tick 1 with event-driven; (c) uses the invocation's
    // stepping (event-driven unless --tick-ms).
    if parts.contains('a') || parts.contains('e') {
        sim::bench::standard(5);
    }
    if parts.contains('b') {
        sim::bench::sweep_throughput(seeds, 2);
    }
    if parts.contains('c') {
        let mut spec = RunSpec::star(0, "bench", 1);
        spec.tick_ms = tick;
        sim::bench::cost_curves(spec.stepping());
    }
    if parts.contains('d') {
        sim::bench::backlog_append();
    }
    ExitCode::SUCCESS
}

/// `psync-sim scenarios`: the name is the first column (ci scripts read it with
/// `awk '{print $1}'`).
pub(super) fn list_scenarios() -> ExitCode {
    let all = scenarios::all();
    let width = all.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &all {
        println!("{:width$}  {}", s.name, s.about);
    }
    ExitCode::SUCCESS
}

/// `psync-sim rules`: every rule set `--rules` accepts, with its summary.
pub(super) fn list_rules() -> ExitCode {
    let width = master::rules::names().iter().map(|n| n.len()).max().unwrap_or(0);
    for r in master::rules::ALL {
        println!("{:width$}  {}", r.name(), r.summary());
    }
    ExitCode::SUCCESS
}

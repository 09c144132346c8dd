//! `psync-sim`: run, sweep, merge, replay and determinism-check simulations. This module only
//! parses arguments and wires the library's modules together (`sim::campaign` runs sweeps):
//! `args` (the clap definitions), `run` (run, replay, shrink, check-determinism), `sweep`
//! (sweep, merge), `compare`, `misc` (bench, scenarios, rules); here: logging and dispatch.
//!
//! It is the library module `sim::cli` (the binary, `src/bin/psync-sim.rs`, only calls
//! [`main`]), so a user's own binary can register scenarios and checks
//! ([`sim::scenarios::register`], [`sim::oracle::register_check`]) and then offer the
//! same command line: `run`/`replay --scenario NAME` find what it registered.

mod args;
mod compare;
mod misc;
mod run;
mod sweep;

use std::process::ExitCode;

use clap::Parser;
use sim::campaign::{InputError, SummaryError};
use sim::failure::FileError;
use sim::rules::RuleSetRef;

use self::args::{Cli, Cmd, Options};

/// Log timestamps on the simulated clock of the host that logs (never wall time).
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(d) => write!(w, "{:>9.3}s", d.as_secs_f64()),
            None => write!(w, "{:>10}", "-"),
        }
    }
}

/// The global options: `--rules` (a list only for `compare`) and `--tick-ms`.
fn options(cli: &Cli) -> anyhow::Result<(Vec<RuleSetRef>, Options)> {
    let rules = sim::rules::parse_list(cli.rules.as_deref().unwrap_or("redis-7.0"))
        .map_err(|e| InputError(format!("--rules: {e}")))?;
    if !matches!(cli.cmd, Cmd::Compare { .. }) && rules.len() != 1 {
        return Err(InputError("--rules takes one rule set here (a list only for `compare`)".into()).into());
    }
    let opts = Options {
        tick_ms: cli.tick_ms.unwrap_or(0),
        rules: rules[0],
    };
    Ok((rules, opts))
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let (rules, opts) = options(&cli)?;
    match &cli.cmd {
        Cmd::Replay {
            file: Some(f),
            trace,
            keep_going,
            ..
        } => return run::replay_file(f, trace.as_ref(), *keep_going, &cli),
        Cmd::Compare {
            seeds,
            scenario,
            jobs,
            json,
            shrink_budget,
            out,
        } => {
            return compare::compare(
                rules,
                *seeds,
                scenario.clone(),
                *jobs,
                json.clone(),
                *shrink_budget,
                out,
                opts,
            )
        }
        _ => {}
    }
    match cli.cmd {
        Cmd::Rules => Ok(misc::list_rules()),
        Cmd::Compare { .. } => unreachable!("handled above"),
        Cmd::Run {
            seed,
            scenario,
            trace,
            timeline,
            keep_going,
        } => {
            let spec = opts.spec(&scenario, seed)?;
            Ok(run::one(&spec, &spec.reproduce(), trace.as_ref(), timeline, keep_going))
        }
        Cmd::Sweep(a) => sweep::sweep(a, opts),
        Cmd::Merge { files, json, force } => sweep::merge(&files, json.as_deref(), force),
        Cmd::Shrink {
            seed,
            scenario,
            budget,
            out,
        } => run::shrink(&opts.spec(&scenario, seed)?, budget, out),
        Cmd::Replay {
            seed,
            scenario,
            file,
            trace,
            keep_going,
        } => match (file, seed) {
            (Some(_), _) => unreachable!("handled above"),
            (None, Some(s)) => {
                let spec = opts.spec(&scenario, s)?;
                Ok(run::one(&spec, &spec.reproduce(), trace.as_ref(), true, keep_going))
            }
            (None, None) => Err(InputError("replay needs --seed or --file".into()).into()),
        },
        Cmd::CheckDeterminism { seed, scenario } => run::check_determinism(opts.spec(&scenario, seed)?),
        Cmd::Bench { parts, seeds } => Ok(misc::bench(&parts, seeds, opts.tick_ms)),
        Cmd::Scenarios => Ok(misc::list_scenarios()),
    }
}

/// Whether an error is the user's input (exit status 2, as clap's own errors).
fn is_input(e: &anyhow::Error) -> bool {
    e.is::<InputError>()
        || e.downcast_ref::<SummaryError>().is_some_and(SummaryError::is_input)
        || e.downcast_ref::<FileError>()
            .is_some_and(|f| !matches!(f, FileError::Write { .. }))
}

/// `RUST_LOG` with the package names (`psync_master`…) mapped to the library names the
/// log targets carry (`master`…): a crate's log target is its module path, and the
/// libraries are named `master`, `replica`, `node`, `proto`, `sim`.
fn log_filter(env: &str) -> String {
    env.split(',')
        .map(|d| {
            for (pkg, lib) in [
                ("psync_master", "master"),
                ("psync-master", "master"),
                ("psync_replica", "replica"),
                ("psync-replica", "replica"),
                ("psync_node", "node"),
                ("psync-node", "node"),
                ("psync_proto", "proto"),
                ("psync-proto", "proto"),
                ("psync_sim", "sim"),
                ("psync-sim", "sim"),
            ] {
                if let Some(rest) = d.strip_prefix(pkg) {
                    if rest.is_empty() || rest.starts_with([':', '=', '[']) {
                        return format!("{lib}{rest}");
                    }
                }
            }
            d.to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The `psync-sim` command line on this process's arguments. Exit status: 0 all good,
/// 1 a run violated an oracle (or was not deterministic, or an output could not be
/// written), 2 bad usage or input, 130 a sweep interrupted by Ctrl-C.
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// [`main`] on the given arguments (the first is the program name). Errors are printed
/// as one line with their causes, never with a backtrace: they are the user's input.
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use std::io::IsTerminal;
    let filter = log_filter(&std::env::var("RUST_LOG").unwrap_or_default());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_timer(SimTime)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if is_input(&e) { 2 } else { 1 })
        }
    }
}

//! `psync-sim`: run, sweep, merge, replay and determinism-check simulations. This file only
//! parses arguments and wires the library's modules together (`sim::campaign` runs sweeps).
//!
//! It is the library module `sim::cli` (the binary, `src/bin/psync-sim.rs`, only calls
//! [`main`]), so a user's own binary can register scenarios and checks
//! ([`sim::scenarios::register`], [`sim::oracle::register_check`]) and then offer the
//! same command line: `run`/`replay --scenario NAME` find what it registered.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use sim::campaign::{self, plan, Ended, InputError, Seeds, SeedsArg, Shard, SummaryError, Sweep};
use sim::failure::{FailureFile, FileError};
use sim::rules::RuleSetRef;
use sim::run::{run_with, RunOptions, RunReport, RunSpec};
use sim::scenarios;

#[derive(Parser)]
#[command(
    name = "psync-sim",
    version,
    about = "Deterministic simulation of Redis replication",
    after_help = LOG_HELP
)]
struct Cli {
    /// How simulated time moves: 0 (the default) event-driven (only hosts with work run,
    /// the clock jumps to the next timer or delivery, timers exact); N steps turmoil's stock
    /// way, every host every N ms (timers and latencies rounded to the tick). Part of the
    /// run's identity: the reproduce line and failure files carry it.
    #[arg(long, global = true)]
    tick_ms: Option<u64>,
    /// The PSYNC rule set every node decides by (`psync-sim rules` lists them; default
    /// redis-7.0); for `compare`, a comma-separated list. Part of a run's identity: the
    /// reproduce line and failure files carry it.
    #[arg(long, global = true)]
    rules: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// What `--help` says about seeds and logging.
const LOG_HELP: &str = "Seeds are decimal (42) or hex with 0x (0x2a).\n\
Logs: RUST_LOG=<target>=<level>, targets master, replica, node, proto, sim (or the package \
names psync_master, psync_replica, psync_node, psync_proto, psync_sim), e.g. \
RUST_LOG=master::psync=debug. Timestamps are simulated seconds; colours only on a terminal.";

/// `--seed` help.
const SEED_HELP: &str = "The run's seed: decimal (42) or hex with 0x (0x2a)";

#[derive(Subcommand)]
enum Cmd {
    /// One run of a seed: summary, trace hash, violations (exit 1 if any).
    Run {
        #[arg(long, value_parser = seed_arg, help = SEED_HELP)]
        seed: u64,
        /// A named scenario (`psync-sim scenarios` lists them; default: the seed's swarm run).
        #[arg(long, default_value = "swarm")]
        scenario: String,
        /// Write a Chrome/Perfetto trace (JSON, open in ui.perfetto.dev) to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Print the full timeline.
        #[arg(long)]
        timeline: bool,
        /// Run to the end after a violation (default: stop at the first one).
        #[arg(long)]
        keep_going: bool,
    },
    /// Many seeds across cores, then a summary table (and JSON with --json).
    Sweep(SweepArgs),
    /// Merges sweep summaries (`sweep --json`, e.g. one per shard) into one.
    Merge {
        /// Summary files written by `sweep --json` (or by `merge --json`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the merged summary here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Merge even summaries of different commits or run identities, or repeated seeds.
        #[arg(long)]
        force: bool,
    },
    /// Byte-identical rerun of a seed (or a saved failure file) with the full timeline.
    Replay {
        #[arg(long, value_parser = seed_arg, help = SEED_HELP)]
        seed: Option<u64>,
        /// The seed's scenario (ignored with --file, which names its own).
        #[arg(long, default_value = "swarm")]
        scenario: String,
        /// A failure file written by `sweep` or `shrink`: its whole spec is run.
        #[arg(long, conflicts_with = "seed")]
        file: Option<PathBuf>,
        /// Write a Chrome/Perfetto trace (JSON, open in ui.perfetto.dev) to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Run to the end after a violation (default: stop at the first one).
        #[arg(long)]
        keep_going: bool,
    },
    /// Runs a seed twice (once on another thread) and compares trace hashes.
    CheckDeterminism {
        #[arg(long, value_parser = seed_arg, help = SEED_HELP)]
        seed: u64,
        /// The scenario to run.
        #[arg(long, default_value = "swarm")]
        scenario: String,
    },
    /// Minimises a failing seed's fault schedule and workload; writes a failure file.
    Shrink {
        #[arg(long, value_parser = seed_arg, help = SEED_HELP)]
        seed: u64,
        /// The scenario to run.
        #[arg(long, default_value = "swarm")]
        scenario: String,
        /// Maximum number of reruns.
        #[arg(long, default_value_t = 300)]
        budget: usize,
        /// Directory for the failure file (default: out/failures).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Benchmarks: (a) compression of the standard run, (b) sweep seeds/s, (c) cost
    /// curves, (d) backlog append vs memcpy, (e) peak RSS. See ci/bench-node.sh for (f).
    Bench {
        /// Only these parts, letters a–e in any order (`--parts ad`); default all.
        #[arg(long, default_value = "abcde", value_parser = parse_parts)]
        parts: String,
        /// Seeds for part (b)'s sweep throughput.
        #[arg(long, default_value_t = 40)]
        seeds: u64,
    },
    /// Lists the named scenarios: name, then what it does.
    Scenarios,
    /// Lists the PSYNC rule sets `--rules` accepts.
    Rules,
    /// The same seeds under each rule set of `--rules A,B[,C…]`, side by side: violations
    /// per oracle (first one shrunk), full/partial syncs, bytes, convergence, losses.
    Compare {
        /// `A..B` (B exclusive).
        #[arg(long)]
        seeds: SeedsArg,
        /// The scenario every seed runs.
        #[arg(long, default_value = "swarm")]
        scenario: String,
        /// Threads, at least 1 (default: all cores).
        #[arg(long, value_parser = |s: &str| plan::parse_jobs(s))]
        jobs: Option<usize>,
        /// Also write the comparison as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Reruns allowed when shrinking each oracle's first counterexample (0: no shrink).
        #[arg(long, default_value_t = 200)]
        shrink_budget: usize,
        /// Where the shrunk counterexamples' failure files go.
        #[arg(long, default_value = "out/compare")]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct SweepArgs {
    /// `A..B` (B exclusive, above A), or `random`: seeds drawn from a master seed (printed;
    /// set it with --master-seed), until --budget or Ctrl-C.
    #[arg(long, required_unless_present = "resume")]
    seeds: Option<SeedsArg>,
    /// The master seed of `--seeds random` (decimal or 0x-hex).
    #[arg(long, value_parser = seed_arg)]
    master_seed: Option<u64>,
    /// The scenario every seed runs.
    #[arg(long, default_value = "swarm")]
    scenario: String,
    /// Worker threads, one simulation each, at least 1 (default: the machine's cores).
    #[arg(long, value_parser = |s: &str| plan::parse_jobs(s))]
    jobs: Option<usize>,
    /// `i/n` (0 <= i < n): only seeds whose index in the range is ≡ i (mod n).
    #[arg(long)]
    shard: Option<Shard>,
    /// Write a JSON failure file per violating seed into this directory.
    #[arg(long, default_value = "out/failures")]
    failures: PathBuf,
    /// Shrink each violating seed before writing its failure file.
    #[arg(long)]
    shrink: bool,
    /// Stop at the first violating seed (for measuring time-to-detection).
    #[arg(long)]
    until_violation: bool,
    /// Stop taking new seeds after this wall time (`90s`, `10m`, `2h`).
    #[arg(long, value_parser = |s: &str| plan::parse_budget(s))]
    budget: Option<std::time::Duration>,
    /// Write the summary (versioned JSON, README "Running big campaigns") here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Continue the campaign of this summary: skip its seeds, add to its totals (written
    /// back to it unless --json names another file).
    #[arg(long)]
    resume: Option<PathBuf>,
}

fn parse_parts(s: &str) -> Result<String, String> {
    match s.chars().find(|c| !('a'..='e').contains(c)) {
        Some(c) => Err(format!(
            "unknown part {c:?}: parts are letters a-e (see `psync-sim bench --help`)"
        )),
        None if s.is_empty() => Err("no parts: give letters a-e".to_string()),
        None => Ok(s.to_string()),
    }
}

fn seed_arg(s: &str) -> Result<u64, InputError> {
    plan::parse_seed(s)
}

/// The CLI options that, with a scenario and a seed, build a run's spec.
#[derive(Clone, Copy)]
struct Options {
    tick_ms: u64,
    rules: RuleSetRef,
}

impl Options {
    fn spec(&self, scenario: &str, seed: u64) -> Result<RunSpec, InputError> {
        let mut spec = scenarios::by_name(scenario, seed).ok_or_else(|| {
            let known: Vec<&str> = scenarios::all().iter().map(|s| s.name).collect();
            InputError(format!("unknown scenario {scenario:?}; known: {}", known.join(", ")))
        })?;
        spec.tick_ms = self.tick_ms;
        spec.rules = self.rules;
        Ok(spec)
    }
}

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
fn one(spec: &RunSpec, reproduce: &str, trace_path: Option<&PathBuf>, timeline: bool, keep_going: bool) -> ExitCode {
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

/// Set by Ctrl-C: the sweep stops taking seeds and prints its partial summary. A second
/// Ctrl-C exits at once.
static STOP: AtomicBool = AtomicBool::new(false);

fn sweep(a: SweepArgs, opts: Options) -> anyhow::Result<ExitCode> {
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

fn merge(files: &[PathBuf], json: Option<&Path>, force: bool) -> anyhow::Result<ExitCode> {
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

fn replay_file(path: &Path, trace: Option<&PathBuf>, keep_going: bool, cli: &Cli) -> anyhow::Result<ExitCode> {
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

fn shrink(spec: &RunSpec, budget: usize, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
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

fn check_determinism(spec: RunSpec) -> anyhow::Result<ExitCode> {
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

fn bench(parts: &str, seeds: u64, tick: u64) -> ExitCode {
    // (a) and (b) always compare stock tick 1 with event-driven; (c) uses the invocation's
    // stepping (event-driven unless --tick-ms).
    if parts.contains('a') || parts.contains('e') {
        sim::bench::standard(3);
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

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let rules = sim::rules::parse_list(cli.rules.as_deref().unwrap_or("redis-7.0"))
        .map_err(|e| InputError(format!("--rules: {e}")))?;
    if !matches!(cli.cmd, Cmd::Compare { .. }) && rules.len() != 1 {
        return Err(InputError("--rules takes one rule set here (a list only for `compare`)".into()).into());
    }
    let opts = Options {
        tick_ms: cli.tick_ms.unwrap_or(0),
        rules: rules[0],
    };
    match &cli.cmd {
        Cmd::Replay {
            file: Some(f),
            trace,
            keep_going,
            ..
        } => return replay_file(f, trace.as_ref(), *keep_going, &cli),
        Cmd::Compare {
            seeds,
            scenario,
            jobs,
            json,
            shrink_budget,
            out,
        } => {
            return compare(
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
        Cmd::Rules => {
            let width = master::rules::names().iter().map(|n| n.len()).max().unwrap_or(0);
            for r in master::rules::ALL {
                println!("{:width$}  {}", r.name(), r.summary());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Compare { .. } => unreachable!("handled above"),
        Cmd::Run {
            seed,
            scenario,
            trace,
            timeline,
            keep_going,
        } => {
            let spec = opts.spec(&scenario, seed)?;
            Ok(one(&spec, &spec.reproduce(), trace.as_ref(), timeline, keep_going))
        }
        Cmd::Sweep(a) => sweep(a, opts),
        Cmd::Merge { files, json, force } => merge(&files, json.as_deref(), force),
        Cmd::Shrink {
            seed,
            scenario,
            budget,
            out,
        } => shrink(&opts.spec(&scenario, seed)?, budget, out),
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
                Ok(one(&spec, &spec.reproduce(), trace.as_ref(), true, keep_going))
            }
            (None, None) => Err(InputError("replay needs --seed or --file".into()).into()),
        },
        Cmd::CheckDeterminism { seed, scenario } => check_determinism(opts.spec(&scenario, seed)?),
        Cmd::Bench { parts, seeds } => Ok(bench(&parts, seeds, opts.tick_ms)),
        Cmd::Scenarios => {
            // The name is the first column: ci scripts read it with `awk '{print $1}'`.
            let all = scenarios::all();
            let width = all.iter().map(|s| s.name.len()).max().unwrap_or(0);
            for s in &all {
                println!("{:width$}  {}", s.name, s.about);
            }
            Ok(ExitCode::SUCCESS)
        }
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

#[allow(clippy::too_many_arguments)]
fn compare(
    rules: Vec<RuleSetRef>,
    seeds: SeedsArg,
    scenario: String,
    jobs: Option<usize>,
    json: Option<PathBuf>,
    shrink_budget: usize,
    out: &Path,
    opts: Options,
) -> anyhow::Result<ExitCode> {
    let SeedsArg::Range { start, end } = seeds else {
        return Err(InputError("compare needs --seeds A..B".into()).into());
    };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let spec = sim::compare::CompareSpec {
        rules: rules.clone(),
        seeds: (start, end),
        scenario,
        tick_ms: opts.tick_ms,
        jobs,
        shrink_budget,
    };
    let bar = indicatif::ProgressBar::new((end - start) * rules.len() as u64);
    let report = match sim::compare::compare(&spec, &|col, done| {
        bar.set_position(col as u64 * (end - start) + done);
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    bar.finish_and_clear();
    print!("{}", sim::compare::render(&report));
    for c in &report.columns {
        for (oracle, v) in &c.oracles {
            let Some(file) = v.first.as_ref().and_then(|x| x.file.as_ref()) else {
                continue;
            };
            let name = format!(
                "{}-{oracle}-{}-0x{:x}.json",
                c.rules, file.spec.scenario, file.spec.seed
            );
            let written = std::fs::create_dir_all(out)
                .and_then(|()| std::fs::write(out.join(&name), serde_json::to_vec_pretty(file)?))
                .map(|()| out.join(&name));
            match written {
                Ok(p) => println!("{} / {oracle}: psync-sim replay --file {}", c.rules, p.display()),
                Err(e) => eprintln!(
                    "error: could not write the {} / {oracle} counterexample: {e:#}",
                    c.rules
                ),
            }
        }
    }
    if let Some(path) = json {
        let text = serde_json::to_vec_pretty(&report)?;
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: could not write {}: {e}", path.display());
            return Ok(ExitCode::from(1));
        }
        println!("comparison written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

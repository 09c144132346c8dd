//! `psync-sim`: run, sweep, replay and determinism-check simulations. This file only
//! parses arguments and wires the library's modules together.
//!
//! It is the library module `sim::cli` (the binary, `src/bin/psync-sim.rs`, only calls
//! [`main`]), so a user's own binary can register scenarios and checks
//! ([`sim::scenarios::register`], [`sim::oracle::register_check`]) and then offer the
//! same command line: `run`/`replay --scenario NAME` find what it registered.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::{Parser, Subcommand};
use sim::run::{run_with, run_with_trace, RunOptions, RunReport, RunSpec};
use sim::{scenarios, Coverage};

#[derive(Parser)]
#[command(
    name = "psync-sim",
    version,
    about = "Deterministic simulation of Redis replication",
    after_help = LOG_HELP
)]
struct Cli {
    /// Simulation tick in ms (turmoil's step). Coarser ticks run faster; timers and
    /// latencies are rounded to the tick. Part of the run's identity: replay with the same.
    #[arg(long, global = true, default_value_t = 1)]
    tick_ms: u64,
    /// The PSYNC rule set every node decides by (`psync-sim rules` lists them); for
    /// `compare`, a comma-separated list. Part of a run's identity: replay and shrink with
    /// the same.
    #[arg(long, global = true, default_value = "redis-7.0")]
    rules: String,
    #[command(subcommand)]
    cmd: Cmd,
}

static TICK_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static RULES: std::sync::OnceLock<sim::rules::RuleSetRef> = std::sync::OnceLock::new();

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
        #[arg(long, value_parser = parse_seed, help = SEED_HELP)]
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
    /// Many seeds across cores, then a summary table.
    Sweep {
        /// `A..B` (B exclusive), each decimal or 0x-hex: `0..1000`, `0x100..0x200`.
        #[arg(long)]
        seeds: String,
        /// The scenario every seed runs.
        #[arg(long, default_value = "swarm")]
        scenario: String,
        /// Worker threads, one simulation each (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// `i/n`: only seeds whose index ≡ i (mod n).
        #[arg(long)]
        shard: Option<String>,
        /// Write a JSON failure file per violating seed into this directory.
        #[arg(long, default_value = "out/failures")]
        failures: PathBuf,
        /// Shrink each violating seed before writing its failure file.
        #[arg(long)]
        shrink: bool,
        /// Stop at the first violating seed (for measuring time-to-detection).
        #[arg(long)]
        until_violation: bool,
    },
    /// Byte-identical rerun of a seed (or a saved failure file) with the full timeline.
    Replay {
        #[arg(long, value_parser = parse_seed, help = SEED_HELP)]
        seed: Option<u64>,
        /// The seed's scenario (ignored with --file, which names its own).
        #[arg(long, default_value = "swarm")]
        scenario: String,
        /// A failure file written by `sweep` or `shrink`.
        #[arg(long)]
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
        #[arg(long, value_parser = parse_seed, help = SEED_HELP)]
        seed: u64,
        /// The scenario to run.
        #[arg(long, default_value = "swarm")]
        scenario: String,
    },
    /// Minimises a failing seed's fault schedule and workload; writes a failure file.
    Shrink {
        #[arg(long, value_parser = parse_seed, help = SEED_HELP)]
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
        seeds: String,
        #[arg(long, default_value = "swarm")]
        scenario: String,
        /// Threads (default: all cores).
        #[arg(long)]
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

fn parse_seed(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("bad seed {s:?}: {e}"))
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

fn spec_for(scenario: &str, seed: u64) -> anyhow::Result<RunSpec> {
    let mut spec = scenarios::by_name(scenario, seed).ok_or_else(|| {
        let known: Vec<&str> = scenarios::all().iter().map(|s| s.name).collect();
        anyhow::anyhow!("unknown scenario {scenario:?}; known: {}", known.join(", "))
    })?;
    spec.tick_ms = TICK_MS.load(Ordering::Relaxed);
    spec.rules = RULES.get().copied().unwrap_or_default();
    Ok(spec)
}

fn print_violations(r: &RunReport, trace_tail: &str) {
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
        eprintln!(
            "reproduce: psync-sim replay --seed 0x{:x} --scenario {}{}  (commit {})",
            r.seed,
            r.scenario,
            if r.rules.is_default() {
                String::new()
            } else {
                format!(" --rules {}", r.rules)
            },
            option_env!("PSYNC_COMMIT").unwrap_or("see git log")
        );
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

fn one(spec: &RunSpec, trace_path: Option<&PathBuf>, timeline: bool, keep_going: bool) -> anyhow::Result<ExitCode> {
    let opts = RunOptions {
        stop_at_first_violation: !keep_going,
        counters: trace_path.is_some(),
        ..RunOptions::default()
    };
    let (report, trace) = run_with(spec, opts);
    if timeline {
        print!("{}", trace.render());
    }
    if let Some(p) = trace_path {
        let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
        std::fs::write(p, serde_json::to_vec_pretty(&trace.chrome_json(&names, report.sim_ms))?)?;
        eprintln!("trace written to {}", p.display());
    }
    for ((f, fired), fault) in report.faults.iter().zip(&spec.faults) {
        if !fired {
            println!("fault never fired: {f} ({})", fault.kind.no_effect_reason());
        }
    }
    println!("{}", summary_line(&report));
    println!("trace hash {}", report.trace_hash);
    print_violations(&report, &trace.tail(30));
    if let Some(t) = report.stopped_at_ms {
        eprintln!("stopped at the first violation ({t} ms); --keep-going runs to the end");
    }
    Ok(if report.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_range(s: &str) -> anyhow::Result<(u64, u64)> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| anyhow::anyhow!("--seeds wants A..B"))?;
    Ok((
        parse_seed(a).map_err(anyhow::Error::msg)?,
        parse_seed(b).map_err(anyhow::Error::msg)?,
    ))
}

/// Shrinks a failing spec, prints the sizes before and after, returns the failure file.
fn shrink_and_report(spec: &RunSpec, budget: usize) -> Option<sim::shrink::FailureFile> {
    let s = sim::shrink::shrink(spec, budget)?;
    let f = &s.file;
    println!(
        "shrunk seed=0x{:x} oracle={}: faults {} -> {}, writers {} -> {}, fault phase {} -> {} ms ({} reruns)",
        f.seed,
        f.oracle,
        f.original.0,
        f.faults.len(),
        f.original.1,
        f.writers,
        f.original.2,
        f.fault_ms,
        s.runs
    );
    for fault in &f.faults {
        println!("  {fault}");
    }
    Some(s.file)
}

fn write_failure(dir: &std::path::Path, file: &sim::shrink::FailureFile) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}-0x{:x}.json", file.scenario, file.seed));
    std::fs::write(&path, serde_json::to_vec_pretty(file)?)?;
    Ok(path)
}

#[allow(clippy::too_many_arguments)]
fn sweep(
    seeds: &str,
    scenario: &str,
    jobs: Option<usize>,
    shard: Option<&str>,
    failures: &std::path::Path,
    shrink: bool,
    until_violation: bool,
) -> anyhow::Result<ExitCode> {
    let (a, b) = parse_range(seeds)?;
    let (si, sn) = match shard {
        Some(s) => {
            let (i, n) = s.split_once('/').ok_or_else(|| anyhow::anyhow!("--shard wants i/n"))?;
            (i.parse::<u64>()?, n.parse::<u64>()?)
        }
        None => (0, 1),
    };
    let list: Vec<u64> = (a..b).filter(|s| (s - a) % sn == si).collect();
    spec_for(scenario, a)?; // validate the name before spawning
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let bar = indicatif::ProgressBar::new(list.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {elapsed_precise} eta {eta} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let queue = Arc::new(Mutex::new(list.iter().rev().copied().collect::<Vec<u64>>()));
    let results = Arc::new(Mutex::new(Vec::<RunReport>::new()));
    let bad = Arc::new(AtomicU64::new(0));
    // Wall time is only measured here, outside every simulation, for the summary table.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let mut threads = Vec::new();
    for _ in 0..jobs.max(1) {
        let (queue, results, bar, bad) = (queue.clone(), results.clone(), bar.clone(), bad.clone());
        let scenario = scenario.to_string();
        let failures = failures.to_path_buf();
        threads.push(std::thread::spawn(move || loop {
            if until_violation && bad.load(Ordering::Relaxed) > 0 {
                return;
            }
            let Some(seed) = queue.lock().expect("queue").pop() else {
                return;
            };
            let Ok(spec) = spec_for(&scenario, seed) else { return };
            let (r, trace) = run_with_trace(&spec);
            if !r.violations.is_empty() {
                bad.fetch_add(1, Ordering::Relaxed);
                bar.suspend(|| print_violations(&r, &trace.tail(20)));
                let file = if shrink {
                    bar.suspend(|| shrink_and_report(&spec, 200))
                } else {
                    None
                };
                let file = file.unwrap_or_else(|| sim::shrink::FailureFile::unshrunk(&spec, &r));
                if let Ok(p) = write_failure(&failures, &file) {
                    bar.suspend(|| {
                        eprintln!(
                            "failure file: {}  (psync-sim replay --file {})",
                            p.display(),
                            p.display()
                        )
                    });
                }
            }
            bar.set_message(format!("violating seeds: {}", bad.load(Ordering::Relaxed)));
            bar.inc(1);
            results.lock().expect("results").push(r);
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    bar.finish();
    let wall = started.elapsed().as_secs_f64();
    let mut results = Arc::try_unwrap(results)
        .map_err(|_| anyhow::anyhow!("threads alive"))?
        .into_inner()?;
    results.sort_by_key(|r| r.seed);
    print_summary(&results, wall, jobs);
    Ok(if results.iter().all(|r| r.violations.is_empty()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(results: &[RunReport], wall: f64, jobs: usize) {
    let mut by_oracle = std::collections::BTreeMap::<sim::oracle::OracleId, u64>::new();
    let mut cov = Coverage::default();
    let mut checks = sim::oracle::Checks::default();
    let mut sim_ms = 0u64;
    let mut unfired = 0usize;
    for r in results {
        for v in &r.violations {
            *by_oracle.entry(v.oracle).or_default() += 1;
        }
        cov.merge(&r.coverage);
        checks.merge(&r.checks);
        sim_ms += r.sim_ms;
        unfired += r.faults.iter().filter(|(_, f)| !f).count();
    }
    let sim_s = sim_ms as f64 / 1000.0;
    println!("runs                 {}", results.len());
    println!(
        "violating runs       {}",
        results.iter().filter(|r| !r.violations.is_empty()).count()
    );
    for (o, n) in &by_oracle {
        println!("  violations[{o}]  {n}");
    }
    println!("simulated seconds    {sim_s:.1}");
    println!("wall seconds         {wall:.2} ({jobs} jobs)");
    println!("sim/wall ratio       {:.1}x", sim_s / wall.max(1e-9));
    println!("seeds per second     {:.2}", results.len() as f64 / wall.max(1e-9));
    println!("faults never fired   {unfired}");
    let (writes, ttl_writes) = results
        .iter()
        .fold((0, 0), |(w, t), r| (w + r.stats.ok_writes, t + r.stats.expiry_writes));
    println!("client writes        {writes} ({ttl_writes} set, changed or dropped a TTL)");
    let c = &checks;
    println!(
        "checks: acked writes WAITs {} (empty {}), survived {}, expected losses {}",
        c.wait, c.empty_waits, c.survived_waits, c.expected_losses
    );
    println!(
        "checks: reads judged {} (unjudgeable {}), read-back keys {}, stream commands modelled {} (histories not followed {})",
        c.reads, c.reads_unchecked, c.readback_keys, c.stream_commands, c.model_unknown
    );
    println!(
        "checks: digests vs stream {}, dataset changes at one offset {}, transfers done {} failed {}",
        c.model_prefix, c.dataset_changes, c.transfers_done, c.transfers_failed
    );
    println!(
        "checks: PSYNC requests judged {}, avoidable full syncs {}",
        c.psync_requests, c.avoidable_full_syncs
    );
    println!(
        "coverage ReplState   {:?} ({}/16)",
        cov.repl_states,
        cov.repl_states.len()
    );
    println!(
        "coverage SlaveState  {:?} ({}/4)",
        cov.slave_states,
        cov.slave_states.len()
    );
    println!("coverage PSYNC       {:?}", cov.psync);
    println!("coverage faults      {:?}", cov.faults);
    println!(
        "coverage links       fragmented writes {}, cuts {}, corrupted writes {}",
        cov.fragmented_writes, cov.cuts, cov.corrupted_writes
    );
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
/// 1 a run violated an oracle (or was not deterministic), 2 bad usage or input.
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
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    TICK_MS.store(cli.tick_ms.max(1), Ordering::Relaxed);
    let rules = match sim::rules::parse_list(&cli.rules) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: --rules: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if !matches!(cli.cmd, Cmd::Compare { .. }) {
        if rules.len() != 1 {
            eprintln!("error: --rules takes one rule set here (a list only for `compare`)");
            return Ok(ExitCode::from(2));
        }
        let _ = RULES.set(rules[0]);
    }
    match cli.cmd {
        Cmd::Rules => {
            let width = master::rules::names().iter().map(|n| n.len()).max().unwrap_or(0);
            for r in master::rules::ALL {
                println!("{:width$}  {}", r.name(), r.summary());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Compare {
            seeds,
            scenario,
            jobs,
            json,
            shrink_budget,
            out,
        } => compare(rules, &seeds, scenario, jobs, json, shrink_budget, &out),
        Cmd::Run {
            seed,
            scenario,
            trace,
            timeline,
            keep_going,
        } => one(&spec_for(&scenario, seed)?, trace.as_ref(), timeline, keep_going),
        Cmd::Sweep {
            seeds,
            scenario,
            jobs,
            shard,
            failures,
            shrink,
            until_violation,
        } => sweep(
            &seeds,
            &scenario,
            jobs,
            shard.as_deref(),
            &failures,
            shrink,
            until_violation,
        ),
        Cmd::Shrink {
            seed,
            scenario,
            budget,
            out,
        } => {
            let spec = spec_for(&scenario, seed)?;
            match shrink_and_report(&spec, budget) {
                None => {
                    println!("seed 0x{seed:x} does not violate any oracle; nothing to shrink");
                    Ok(ExitCode::SUCCESS)
                }
                Some(file) => {
                    let dir = out.unwrap_or_else(|| PathBuf::from("out/failures"));
                    let p = write_failure(&dir, &file)?;
                    println!(
                        "failure file: {}  (psync-sim replay --file {})",
                        p.display(),
                        p.display()
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Cmd::Replay {
            seed,
            scenario,
            file,
            trace,
            keep_going,
        } => {
            let spec = match (file, seed) {
                (Some(f), _) => {
                    let ff: sim::shrink::FailureFile = serde_json::from_slice(&std::fs::read(&f)?)?;
                    ff.spec()
                        .ok_or_else(|| anyhow::anyhow!("failure file names unknown scenario {:?}", ff.scenario))?
                }
                (None, Some(s)) => spec_for(&scenario, s)?,
                (None, None) => anyhow::bail!("replay needs --seed or --file"),
            };
            one(&spec, trace.as_ref(), true, keep_going)
        }
        Cmd::CheckDeterminism { seed, scenario } => {
            let spec = spec_for(&scenario, seed)?;
            let first = sim::run(&spec).trace_hash;
            let spec2 = spec.clone();
            let second = std::thread::spawn(move || sim::run(&spec2).trace_hash)
                .join()
                .map_err(|_| anyhow::anyhow!("second run panicked"))?;
            println!("run 1 (main thread)  {first}");
            println!("run 2 (other thread) {second}");
            if first == second {
                println!("deterministic");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("NOT deterministic");
                Ok(ExitCode::FAILURE)
            }
        }
        Cmd::Bench { parts, seeds } => {
            let tick = TICK_MS.load(Ordering::Relaxed);
            if parts.contains('a') || parts.contains('e') {
                sim::bench::standard(tick);
            }
            if parts.contains('b') {
                sim::bench::sweep_throughput(seeds, 2, tick);
            }
            if parts.contains('c') {
                sim::bench::cost_curves(tick);
            }
            if parts.contains('d') {
                sim::bench::backlog_append();
            }
            Ok(ExitCode::SUCCESS)
        }
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

/// `psync-sim compare`: the campaign, the table, the counterexamples' failure files, JSON.
fn compare(
    rules: Vec<sim::rules::RuleSetRef>,
    seeds: &str,
    scenario: String,
    jobs: Option<usize>,
    json: Option<PathBuf>,
    shrink_budget: usize,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let (start, end) = parse_range(seeds)?;
    if start >= end {
        eprintln!("error: --seeds {seeds}: empty range");
        return Ok(ExitCode::from(2));
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        eprintln!("error: --jobs 0: at least one thread is needed");
        return Ok(ExitCode::from(2));
    }
    let spec = sim::compare::CompareSpec {
        rules: rules.clone(),
        seeds: (start, end),
        scenario,
        tick_ms: TICK_MS.load(Ordering::Relaxed),
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
            let name = format!("{}-{oracle}-{}-0x{:x}.json", c.rules, file.scenario, file.seed);
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

//! The `psync-sim` arguments (clap derive): global options, the commands, their help.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sim::campaign::{plan, InputError, SeedsArg, Shard};
use sim::rules::RuleSetRef;
use sim::run::RunSpec;
use sim::scenarios;

#[derive(Parser)]
#[command(
    name = "psync-sim",
    version,
    about = "Deterministic simulation of Redis replication",
    after_help = LOG_HELP
)]
pub(super) struct Cli {
    /// How simulated time moves: 0 (the default) event-driven (only hosts with work run,
    /// the clock jumps to the next timer or delivery, timers exact); N steps turmoil's stock
    /// way, every host every N ms (timers and latencies rounded to the tick). Part of the
    /// run's identity: the reproduce line and failure files carry it.
    #[arg(long, global = true)]
    pub(super) tick_ms: Option<u64>,
    /// The PSYNC rule set every node decides by (`psync-sim rules` lists them; default
    /// redis-7.0); for `compare`, a comma-separated list. Part of a run's identity: the
    /// reproduce line and failure files carry it.
    #[arg(long, global = true)]
    pub(super) rules: Option<String>,
    #[command(subcommand)]
    pub(super) cmd: Cmd,
}

/// What `--help` says about seeds and logging.
pub(super) const LOG_HELP: &str = "Seeds are decimal (42) or hex with 0x (0x2a).\n\
Logs: RUST_LOG=<target>=<level>, targets master, replica, node, proto, sim (or the package \
names psync_master, psync_replica, psync_node, psync_proto, psync_sim), e.g. \
RUST_LOG=master::psync=debug. Timestamps are simulated seconds; colours only on a terminal.";

/// `--seed` help.
pub(super) const SEED_HELP: &str = "The run's seed: decimal (42) or hex with 0x (0x2a)";

#[derive(Subcommand)]
pub(super) enum Cmd {
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
pub(super) struct SweepArgs {
    /// `A..B` (B exclusive, above A), or `random`: seeds drawn from a master seed (printed;
    /// set it with --master-seed), until --budget or Ctrl-C.
    #[arg(long, required_unless_present = "resume")]
    pub(super) seeds: Option<SeedsArg>,
    /// The master seed of `--seeds random` (decimal or 0x-hex).
    #[arg(long, value_parser = seed_arg)]
    pub(super) master_seed: Option<u64>,
    /// The scenario every seed runs.
    #[arg(long, default_value = "swarm")]
    pub(super) scenario: String,
    /// Worker threads, one simulation each, at least 1 (default: the machine's cores).
    #[arg(long, value_parser = |s: &str| plan::parse_jobs(s))]
    pub(super) jobs: Option<usize>,
    /// `i/n` (0 <= i < n): only seeds whose index in the range is ≡ i (mod n).
    #[arg(long)]
    pub(super) shard: Option<Shard>,
    /// Write a JSON failure file per violating seed into this directory.
    #[arg(long, default_value = "out/failures")]
    pub(super) failures: PathBuf,
    /// Shrink each violating seed before writing its failure file.
    #[arg(long)]
    pub(super) shrink: bool,
    /// Stop at the first violating seed (for measuring time-to-detection).
    #[arg(long)]
    pub(super) until_violation: bool,
    /// Stop taking new seeds after this wall time (`90s`, `10m`, `2h`).
    #[arg(long, value_parser = |s: &str| plan::parse_budget(s))]
    pub(super) budget: Option<std::time::Duration>,
    /// Write the summary (versioned JSON, README "Running big campaigns") here.
    #[arg(long)]
    pub(super) json: Option<PathBuf>,
    /// Continue the campaign of this summary: skip its seeds, add to its totals (written
    /// back to it unless --json names another file).
    #[arg(long)]
    pub(super) resume: Option<PathBuf>,
}

pub(super) fn parse_parts(s: &str) -> Result<String, String> {
    match s.chars().find(|c| !('a'..='e').contains(c)) {
        Some(c) => Err(format!(
            "unknown part {c:?}: parts are letters a-e (see `psync-sim bench --help`)"
        )),
        None if s.is_empty() => Err("no parts: give letters a-e".to_string()),
        None => Ok(s.to_string()),
    }
}

pub(super) fn seed_arg(s: &str) -> Result<u64, InputError> {
    plan::parse_seed(s)
}

/// The CLI options that, with a scenario and a seed, build a run's spec.
#[derive(Clone, Copy)]
pub(super) struct Options {
    pub(super) tick_ms: u64,
    pub(super) rules: RuleSetRef,
}

impl Options {
    pub(super) fn spec(&self, scenario: &str, seed: u64) -> Result<RunSpec, InputError> {
        let mut spec = scenarios::by_name(scenario, seed).ok_or_else(|| {
            let known: Vec<&str> = scenarios::all().iter().map(|s| s.name).collect();
            InputError(format!("unknown scenario {scenario:?}; known: {}", known.join(", ")))
        })?;
        spec.tick_ms = self.tick_ms;
        spec.rules = self.rules;
        Ok(spec)
    }
}

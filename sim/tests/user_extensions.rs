//! Issue 18 items 3 and 11: user-supplied oracles and registered scenarios, through the
//! library (`run_with`) and through the `psync-sim` command line a user's own binary runs
//! (`sim::cli::main_from`, in a child process of this test binary so its output and exit
//! status are real). A user oracle that flags a known moment makes a deterministic
//! violating run without planting a bug.

use std::process::{Command, ExitCode, Output};
use std::sync::Once;

use sim::oracle::{Check, Finding, NodeView, OracleId};
use sim::run::{run_with, RunOptions, RunSpec};
use sim::scenarios::{self, Scenario};
use sim::trace::Kind;

/// When the flagging check fires: the first step at or after this time.
const FLAG_MS: u64 = 1_500;
const CHILD_ENV: &str = "PSYNC_SIM_TEST_CLI_ARGS";

/// Flags once, at the first step at or after `FLAG_MS`.
struct FlagAt {
    done: bool,
}

impl Check for FlagAt {
    fn name(&self) -> &'static str {
        "flag-at"
    }

    fn step(&mut self, t_ms: u64, views: &[NodeView]) -> Vec<Finding> {
        if self.done || t_ms < FLAG_MS {
            return Vec::new();
        }
        self.done = true;
        vec![Finding {
            node: views.first().map(|v| v.idx),
            message: format!("flagged at {t_ms} ms"),
        }]
    }
}

fn flag_at() -> Box<dyn Check> {
    Box::new(FlagAt { done: false })
}

/// A registered scenario: one replica, a 3 s fault phase without faults.
fn user_star(seed: u64) -> RunSpec {
    let mut s = RunSpec::star(seed, "user-star", 1);
    s.fault_ms = 3_000;
    s
}

fn register_scenario() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let s = Scenario::new("user-star", user_star, "test: one replica, no faults");
        scenarios::register(s).expect("user-star is a new name");
    });
}

/// The child half: when started by `cli`, act as a user's own `psync-sim` binary (the
/// scenario and the check registered, then the library's command line) and exit.
#[test]
fn cli_child() {
    let Ok(args) = std::env::var(CHILD_ENV) else { return };
    register_scenario();
    sim::oracle::register_check(flag_at);
    let argv = std::iter::once("psync-sim".to_string()).chain(args.split(' ').map(String::from));
    let code = sim::cli::main_from(argv);
    let status = [0u8, 1, 2]
        .into_iter()
        .find(|c| code == ExitCode::from(*c))
        .unwrap_or(3);
    std::process::exit(i32::from(status));
}

/// Runs the user's command line with `args` in a child process.
fn cli(args: &str) -> (i32, String, String) {
    let exe = std::env::current_exe().expect("test binary path");
    let out: Output = Command::new(exe)
        .args(["--exact", "cli_child", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, args)
        .env_remove("RUST_LOG")
        .output()
        .expect("start the child");
    let code = out.status.code().expect("exit status");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (code, text(&out.stdout), text(&out.stderr))
}

/// Seconds of each timeline line (`   1.234s n0   ...`) in `text`.
fn times(text: &str) -> Vec<f64> {
    text.lines()
        .filter_map(|l| l.trim_start().split_once("s ").and_then(|(t, _)| t.parse::<f64>().ok()))
        .collect()
}

#[test]
fn user_check_violation_is_reported_like_a_builtin_one() {
    let spec = user_star(7);
    let opts = RunOptions {
        checks: vec![flag_at()],
        ..RunOptions::default()
    };
    let (r, trace) = run_with(&spec, opts);
    assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
    let v = &r.violations[0];
    assert_eq!(v.oracle, OracleId::User("flag-at"));
    assert_eq!(v.oracle.label(), "flag-at");
    assert!(v.t_ms >= FLAG_MS && v.t_ms < FLAG_MS + 10, "found at {} ms", v.t_ms);
    assert_eq!(v.node, Some(0));
    assert!(r.stopped_at_ms.is_none(), "run_with runs to the end by default");
    assert!(r.converged_at_ms.is_some(), "the run itself is healthy");
    let line = trace
        .lines
        .iter()
        .find(|l| l.kind == Kind::Violation)
        .expect("violation line");
    assert!(line.text.starts_with("VIOLATION [flag-at] flagged at"), "{}", line.text);
    // What the violation report shows: the window up to the violation, not the run's end.
    let window = trace.tail(30);
    let ts = times(&window);
    let before = trace.lines.iter().filter(|l| l.t_ms <= v.t_ms).count();
    assert_eq!(ts.len(), before.min(30), "{window}");
    assert!(ts.iter().all(|t| *t <= v.t_ms as f64 / 1000.0), "{window}");
    assert!(window.trim_end().ends_with(&line.text), "{window}");
}

#[test]
fn stop_at_first_violation_ends_the_run_there() {
    let mut spec = user_star(7);
    let save = |at_ms| sim::nemesis::Fault {
        at_ms,
        kind: sim::nemesis::FaultKind::Save { node: 0 },
    };
    spec.faults = vec![save(500), save(2_500)];
    let opts = |stop| RunOptions {
        checks: vec![flag_at()],
        stop_at_first_violation: stop,
        ..RunOptions::default()
    };
    let (full, _) = run_with(&spec, opts(false));
    let (stopped, trace) = run_with(&spec, opts(true));
    let t = stopped.violations[0].t_ms;
    assert_eq!(stopped.stopped_at_ms, Some(t));
    assert_eq!(stopped.sim_ms, t);
    assert!(
        full.sim_ms > t + 1000,
        "the full run goes on to converge ({} ms)",
        full.sim_ms
    );
    assert_eq!(stopped.violations.len(), 1, "no end-of-run verdicts after stopping");
    assert_eq!(full.faults.len(), 2);
    let reached: Vec<bool> = stopped.faults.iter().map(|(_, fired)| *fired).collect();
    assert_eq!(reached, [true], "only the faults before the stop, none 'never fired'");
    assert!(trace.lines.iter().all(|l| l.t_ms <= t));
    assert!(trace.lines.iter().all(|l| l.text != "converged"));
}

#[test]
fn registered_scenario_is_found_by_name_and_by_failure_files() {
    register_scenario();
    let spec = scenarios::by_name("user-star", 3).expect("registered scenario");
    assert_eq!(spec.scenario, "user-star");
    assert_eq!(spec.fault_ms, 3_000);
    assert!(scenarios::all().iter().any(|s| s.name == "user-star"));
    let again = Scenario::new("user-star", user_star, "again");
    assert!(scenarios::register(again).is_err(), "a name is registered once");
    let builtin = Scenario::new("swarm", user_star, "shadowing");
    assert!(scenarios::register(builtin).is_err(), "built-in names are taken");
    // A failure file carries its whole spec (scenario name included): replay runs it
    // as it was, registry or not.
    let report = sim::run(&spec);
    let file = sim::shrink::FailureFile::unshrunk(&spec, &report);
    let json = serde_json::to_vec(&file).expect("failure file serializes");
    let back = serde_json::from_slice::<sim::shrink::FailureFile>(&json)
        .expect("and loads")
        .spec;
    assert_eq!(back.scenario, "user-star");
    assert_eq!(sim::run(&back).trace_hash, report.trace_hash);
}

#[test]
fn user_binary_runs_registered_scenario_and_stops_at_the_violation() {
    let (code, out, err) = cli("run --seed 7 --scenario user-star");
    assert_eq!(code, 1, "a violation exits 1\n{out}\n{err}");
    assert!(err.contains("oracle=flag-at n0 t="), "{err}");
    assert!(out.contains("stopped_at_first_violation="), "{out}");
    assert!(err.contains("stopped at the first violation"), "{err}");
    let window = err
        .split("trace up to the first violation:")
        .nth(1)
        .expect("a trace window");
    let ts = times(window.split("reproduce:").next().unwrap_or(""));
    assert!(!ts.is_empty(), "{err}");
    let flagged = FLAG_MS as f64 / 1000.0;
    assert!(
        ts.iter().all(|t| *t <= flagged + 0.01),
        "window ends at the violation: {ts:?}"
    );
    assert!(err.contains("replay --seed 0x7 --scenario user-star"), "{err}");
}

#[test]
fn user_binary_keep_going_runs_to_the_end_and_timeline_keeps_order() {
    let (code, out, err) = cli("replay --seed 7 --scenario user-star --keep-going");
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(!out.contains("stopped_at_first_violation"), "{out}");
    let violation = out
        .find("VIOLATION [flag-at]")
        .expect("the violation is in the timeline");
    let converged = out.find(" converged\n").expect("the run converged");
    assert!(
        violation < converged,
        "the timeline shows the violation where it happened"
    );
    let window = err.split("trace up to the first violation:").nth(1).expect("window");
    let ts = times(window.split("reproduce:").next().unwrap_or(""));
    assert!(ts.iter().all(|t| *t <= FLAG_MS as f64 / 1000.0 + 0.01), "{ts:?}");
}

#[test]
fn user_binary_timeline_ends_at_the_first_violation() {
    let (code, out, _) = cli("replay --seed 7 --scenario user-star");
    assert_eq!(code, 1);
    assert!(!out.contains(" converged\n"), "stopped before converging:\n{out}");
    let ts = times(&out);
    assert!(ts.iter().all(|t| *t <= FLAG_MS as f64 / 1000.0 + 0.01));
}

#[test]
fn user_binary_lists_registered_scenarios_and_rejects_unknown_ones() {
    let (code, out, _) = cli("scenarios");
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("user-star ") && l.contains("no faults")),
        "{out}"
    );
    let (code, _, err) = cli("run --seed 1 --scenario nope");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("user-star"), "known names include registered ones: {err}");
}

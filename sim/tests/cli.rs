//! Issue 18 items 3, 7, 8 and 9 as tests of the built `psync-sim` binary: errors without
//! backtraces and with exit status 2, a labelled summary line, working `RUST_LOG` targets
//! without colours off a terminal, help for every option, `bench --parts` checked,
//! unfired faults explained, a Perfetto file written, and the README's examples valid.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_psync-sim");

/// Runs the binary; returns (exit status, stdout, stderr).
fn sim(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG").env_remove("RUST_BACKTRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run psync-sim");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().expect("exit status"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn user_mistakes_exit_2_without_a_backtrace() {
    let cases: &[&[&str]] = &[
        &["run", "--seed", "1", "--scenario", "nope"],
        &["replay", "--file", "/nonexistent/failure.json"],
        &["replay"],
        &["run", "--seed", "zz"],
        &["bench", "--parts", "z"],
        &["run"],
    ];
    for args in cases {
        let (code, out, err) = sim(args, &[("RUST_BACKTRACE", "1")]);
        assert_eq!(code, 2, "{args:?}: exit 2\n{out}{err}");
        assert!(
            !err.contains("backtrace") && !err.contains("Backtrace"),
            "{args:?}:\n{err}"
        );
        assert!(err.contains("error"), "{args:?} says what is wrong:\n{err}");
        assert!(err.lines().count() <= 8, "{args:?}: a short message:\n{err}");
    }
    let (_, _, err) = sim(
        &["run", "--seed", "1", "--scenario", "nope"],
        &[("RUST_BACKTRACE", "1")],
    );
    assert!(
        err.starts_with("error: unknown scenario \"nope\"; known: swarm,"),
        "{err}"
    );
}

#[test]
fn bench_parts_are_checked() {
    let (code, _, err) = sim(&["bench", "--parts", "az"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown part 'z'"), "{err}");
    let (code, _, _) = sim(&["bench", "--parts", ""], &[]);
    assert_eq!(code, 2);
}

#[test]
fn summary_line_has_labelled_fields_and_unfired_faults_say_why() {
    let (code, out, err) = sim(&["run", "--seed", "1"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let summary = out.lines().find(|l| l.starts_with("seed=")).expect("summary line");
    for bad in ["Some(", "None", "{", "(", "[", "\""] {
        assert!(!summary.contains(bad), "{bad:?} in {summary}");
    }
    for field in summary.split(' ') {
        let (k, v) = field.split_once('=').unwrap_or_else(|| panic!("unlabelled {field:?}"));
        assert!(!k.is_empty() && !v.is_empty(), "{field:?}");
    }
    for label in ["seed=0x1", "scenario=swarm", "converged=", "violations=0", "sync_full/"] {
        assert!(summary.contains(label), "{label} in {summary}");
    }
    // Swarm seed 1 schedules faults that meet their target already in that state.
    let count: usize = summary
        .split(' ')
        .find_map(|f| f.strip_prefix("faults_unfired="))
        .and_then(|n| n.parse().ok())
        .expect("faults_unfired=N");
    let unfired: Vec<&str> = out.lines().filter(|l| l.starts_with("fault never fired:")).collect();
    assert!(count > 0 && unfired.len() == count, "{count}: {unfired:?}");
    for l in unfired {
        let why = l.rsplit_once(" (").map(|(_, w)| w).unwrap_or("");
        assert!(why.starts_with("the ") || why.starts_with("no "), "says why: {l}");
    }
}

#[test]
fn rust_log_targets_work_by_library_and_package_name_without_colours() {
    let args = ["run", "--seed", "1", "--scenario", "full-sync-disk"];
    for filter in ["psync_master=debug", "master=debug", "psync-master::psync=debug"] {
        let (code, _, err) = sim(&args, &[("RUST_LOG", filter)]);
        assert_eq!(code, 0);
        assert!(
            err.lines().any(|l| l.contains("DEBUG") && l.contains("master::psync")),
            "{filter} logs the master's PSYNC decisions:\n{err}"
        );
        assert!(!err.contains('\u{1b}'), "no ANSI escapes off a terminal");
    }
    let (_, _, err) = sim(&args, &[("RUST_LOG", "psync_replica=debug")]);
    assert!(err.contains("DEBUG replica") && !err.contains(" master::"), "{err}");
    let (_, _, quiet) = sim(&args, &[]);
    assert!(!quiet.contains("DEBUG"), "{quiet}");
    let (_, help, _) = sim(&["--help"], &[]);
    assert!(help.contains("RUST_LOG") && help.contains("psync_master"), "{help}");
}

/// Every option of every command has a help text.
#[test]
fn every_option_has_help() {
    let commands = [
        "",
        "run",
        "sweep",
        "replay",
        "check-determinism",
        "shrink",
        "bench",
        "scenarios",
    ];
    for c in commands {
        let args: Vec<&str> = c.split_whitespace().chain(["--help"]).collect();
        let (code, out, _) = sim(&args, &[]);
        assert_eq!(code, 0, "{c} --help");
        let options = out.split("Options:").nth(1).unwrap_or_else(|| panic!("{c}: {out}"));
        for line in options.lines().filter(|l| l.trim_start().starts_with('-')) {
            let spec_and_help = line.trim();
            let help = spec_and_help.split_once("  ").map(|(_, h)| h.trim()).unwrap_or("");
            assert!(!help.is_empty(), "`psync-sim {c}`: option without help: {line:?}");
        }
    }
    let (_, out, _) = sim(&["run", "--help"], &[]);
    for s in ["0x2a", "--keep-going", "Perfetto"] {
        assert!(out.contains(s), "run --help mentions {s}:\n{out}");
    }
    let (_, out, _) = sim(&["sweep", "--help"], &[]);
    assert!(out.contains("Worker threads"), "{out}");
}

#[test]
fn scenarios_have_one_line_descriptions() {
    let (code, out, _) = sim(&["scenarios"], &[]);
    assert_eq!(code, 0);
    assert!(out.lines().count() >= 30);
    for l in out.lines() {
        let (name, about) = l.split_once(' ').expect("name and description");
        assert!(!name.is_empty() && about.trim().len() > 10, "{l}");
    }
}

#[test]
fn trace_option_writes_a_perfetto_file() {
    let path = std::env::temp_dir().join(format!("psync-sim-cli-trace-{}.json", std::process::id()));
    let p = path.to_str().expect("utf-8 path");
    let (code, _, err) = sim(
        &[
            "run",
            "--seed",
            "1",
            "--scenario",
            "partial-after-partition",
            "--trace",
            p,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("trace file")).expect("JSON");
    let _ = std::fs::remove_file(&path);
    let events = json["traceEvents"].as_array().expect("events");
    assert!(events.iter().any(|e| e["ph"] == "M" && e["name"] == "thread_name"));
    assert!(events
        .iter()
        .any(|e| e["ph"] == "C" && e["name"] == "master_repl_offset"));
    assert!(events.iter().any(|e| e["ph"] == "X" && e["name"] == "partition"));
    assert!(events.iter().any(|e| e["ph"] == "s"));
}

/// The README's `psync-sim` examples parse (every command and option exists) and name
/// input files that exist, or mark them as placeholders (`<...>`).
#[test]
fn readme_examples_are_valid_commands() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let joined = readme.replace("\\\n", " ");
    let examples: Vec<&str> = joined
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| l.starts_with("psync-sim "))
        .collect();
    assert!(examples.len() >= 8, "{examples:?}");
    for ex in examples {
        let words: Vec<&str> = ex.split_whitespace().skip(1).collect();
        for w in words.windows(2).filter(|w| w[0] == "--file") {
            let exists = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                .join(w[1])
                .exists();
            assert!(exists || w[1].contains('<'), "{ex}: {} does not exist", w[1]);
        }
        // Placeholders become a value of the right shape before parsing.
        let args: Vec<String> = words
            .iter()
            .map(|w| {
                if w.contains('<') {
                    "x.json".to_string()
                } else {
                    w.to_string()
                }
            })
            .chain(["--help".to_string()])
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = sim(&args, &[]);
        assert_eq!(code, 0, "README example `{ex}` does not parse:\n{out}{err}");
    }
}

//! The built `psync-sim` binary as a user (or a CI job) runs it: inputs that are CI traps
//! are errors with exit status 2 (issue 18.4), no report is lost to an unwritable output
//! (18.5), the tick travels to the reproduce line and replay (18.2), and the summary
//! counts runs and violations separately and lists violating seeds (18.6).

use std::path::{Path, PathBuf};

use sim::failure::FailureFile;
use sim::nemesis::{Fault, FaultKind};

mod common;

use common::{run, text};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A failure file whose run must fail: the seed's swarm run with a replica crashed just
/// before the heal and 1 ms to converge after it (the liveness oracle), at `tick_ms`.
fn failing_file(dir: &Path, tick_ms: u64) -> PathBuf {
    let mut spec = sim::scenarios::by_name("swarm", 3).expect("swarm");
    spec.tick_ms = tick_ms;
    spec.liveness_ms = 1;
    spec.faults.push(Fault {
        at_ms: spec.fault_ms - 50,
        kind: FaultKind::Crash { node: 1 },
    });
    FailureFile::new(&spec, "liveness", sim::failure::Sizes::of(&spec), false)
        .write_to(dir)
        .expect("write failure file")
}

#[test]
fn ci_traps_are_errors_with_exit_status_2() {
    let d = tmp();
    let f = d.path().join("f");
    let garbage = d.path().join("garbage.json");
    std::fs::write(&garbage, b"{\"not\": \"a failure file\"}").expect("write");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["sweep", "--seeds", "0..4", "--shard", "1/0"],
            "shard count n must be at least 1",
        ),
        (vec!["sweep", "--seeds", "10..5"], "--seeds 10..5 is empty"),
        (
            vec!["sweep", "--seeds", "0..4", "--shard", "3/2"],
            "index must be below the count",
        ),
        (
            vec!["sweep", "--seeds", "0..4", "--shard", "1/2/3"],
            "--shard wants i/n",
        ),
        (
            vec!["sweep", "--seeds", "0..4", "--jobs", "0"],
            "--jobs 0 would run nothing",
        ),
        (
            vec!["sweep", "--seeds", "0..4", "--budget", "soon"],
            "--budget wants a duration",
        ),
        (
            vec!["sweep", "--seeds", "0..4", "--failures", "/proc/nope"],
            "--failures /proc/nope",
        ),
        (
            vec!["sweep", "--seeds", "0..4", "--master-seed", "1", "--failures", s(&f)],
            "--master-seed goes with --seeds random",
        ),
        (
            vec!["sweep", "--seeds", "0..4", "--scenario", "nope", "--failures", s(&f)],
            "unknown scenario \"nope\"",
        ),
        (
            vec!["replay", "--file", s(&garbage)],
            "garbage.json is not a psync-sim failure file",
        ),
        (
            vec!["replay", "--file", "/nonexistent/f.json"],
            "cannot read /nonexistent/f.json",
        ),
        (
            vec!["merge", s(&garbage)],
            "garbage.json is not a psync-sim sweep summary",
        ),
        (vec!["run", "--seed", "0", "--tick-ms", "x"], "--tick-ms"),
    ];
    for (args, want) in cases {
        let o = run(&args);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?} exits 2:\n{out}");
        assert!(out.contains(want), "{args:?} says {want:?}:\n{out}");
        assert!(!out.contains("panicked"), "{args:?} panicked:\n{out}");
    }
    assert!(!Path::new("/proc/nope").exists());
}

#[test]
fn a_failing_run_keeps_its_report_when_the_trace_cannot_be_written() {
    let d = tmp();
    let file = failing_file(d.path(), 1);
    let o = run(&["replay", "--file", s(&file), "--trace", "/nonexistent/x.json"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("VIOLATION seed=0x3 scenario=swarm oracle=liveness"),
        "{out}"
    );
    assert!(out.contains("reproduce: psync-sim replay --file"), "{out}");
    assert!(out.contains("cannot write trace to /nonexistent/x.json"), "{out}");
}

fn trace_hash(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("trace hash "))
        .unwrap_or_else(|| panic!("no trace hash in:\n{out}"))
        .to_string()
}

#[test]
fn the_tick_travels_to_the_reproduce_line_the_file_and_replay() {
    let d = tmp();
    // The file's whole spec runs: tick 4 and the 1 ms liveness phase, which the seed's
    // regenerated spec does not have (it converges).
    let file = failing_file(d.path(), 4);
    let o = run(&["replay", "--file", s(&file)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("tick-ms=4"), "{out}");
    // Its spec is not the seed's (a crash added, 1 ms liveness): the line names the file.
    assert!(
        out.contains(&format!("reproduce: psync-sim replay --file {}  (commit", s(&file))),
        "{out}"
    );
    let seeded = run(&["run", "--seed", "3", "--tick-ms", "4"]);
    assert_eq!(seeded.status.code(), Some(0), "{}", text(&seeded));
    assert_ne!(trace_hash(&out), trace_hash(&text(&seeded)));
    // Another tick than the file's is another run: refused.
    let o = run(&["replay", "--file", s(&file), "--tick-ms", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("ran with --tick-ms 4"), "{}", text(&o));
    // An unmodified spec at tick 4 replays to the hash of `run --seed --tick-ms 4`.
    let mut spec = sim::scenarios::by_name("swarm", 3).expect("swarm");
    spec.tick_ms = 4;
    let plain = FailureFile::new(&spec, "none", sim::failure::Sizes::of(&spec), false)
        .write_to(&d.path().join("plain"))
        .expect("write");
    let o = run(&["replay", "--file", s(&plain)]);
    assert_eq!(trace_hash(&text(&o)), trace_hash(&text(&seeded)));
    // The seed's own line (what sweeps print and store) carries the tick.
    assert_eq!(
        spec.reproduce(),
        "psync-sim replay --seed 0x3 --scenario swarm --tick-ms 4 --rules redis-7.0"
    );
    let tick1 = run(&["run", "--seed", "3"]);
    assert_ne!(
        trace_hash(&text(&tick1)),
        trace_hash(&text(&seeded)),
        "the tick changes the run"
    );
}

#[test]
fn a_sweep_summary_records_the_tick_and_the_commit() {
    let d = tmp();
    let json = d.path().join("s.json");
    let o = run(&[
        "sweep",
        "--seeds",
        "0..3",
        "--jobs",
        "1",
        "--tick-ms",
        "2",
        "--json",
        s(&json),
        "--failures",
        s(&d.path().join("f")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("parse");
    assert_eq!(v["format"], "psync-sim-sweep");
    assert_eq!(v["version"], 1);
    assert_eq!(v["identity"]["tick-ms"], "2");
    assert_eq!(v["identity"]["scenario"], "swarm");
    assert_eq!(v["identity"]["rules"], "redis-7.0");
    assert_eq!(v["commit"], sim::failure::COMMIT);
    assert_eq!(v["seeds_run"], serde_json::json!([0, 1, 2]));
    assert_eq!(v["totals"]["runs"], 3);
    assert_eq!(v["plans"][0]["complete"], true);
}

#[test]
fn old_and_future_failure_files_are_handled_honestly() {
    let d = tmp();
    // Version 1 (before specs were saved): rebuilt from the seed, with a warning.
    let v1 = d.path().join("v1.json");
    let legacy = serde_json::json!({
        "seed": 3, "scenario": "swarm", "oracle": "prefix", "faults": [],
        "writers": 1, "readers": 0, "mean_gap_ms": 20, "fault_ms": 2000, "original": [5, 2, 10000]
    });
    std::fs::write(&v1, legacy.to_string()).expect("write");
    let o = run(&["replay", "--file", s(&v1)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("is a version-1 failure file"), "{out}");
    assert!(out.contains("replaying"), "{out}");
    // A newer format than this build reads: refused, naming both versions.
    let v3 = d.path().join("v3.json");
    std::fs::write(&v3, br#"{"format": "psync-sim-failure", "version": 3}"#).expect("write");
    let o = run(&["replay", "--file", s(&v3)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("v3.json is a \"psync-sim-failure\" version 3 file"),
        "{}",
        text(&o)
    );
}

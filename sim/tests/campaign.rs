//! Campaigns across processes (issue 17): shards run as separate `psync-sim` processes and
//! merged give exactly the unsharded sweep; merge refuses what would mix meanings; random
//! campaigns print their master seed, stop at a budget or Ctrl-C with a partial summary,
//! and resume.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;

use common::{bin, run, text};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).expect("summary written")).expect("summary parses")
}

/// The table without the lines that depend on wall time or on how the seeds were split.
fn table(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| {
            !["wall seconds", "sim/wall ratio", "seeds per second", "seeds  "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

const SEEDS: &str = "0..24";

#[test]
fn four_shard_processes_merge_to_exactly_the_unsharded_sweep() {
    let d = tempfile::tempdir().expect("tmp");
    let f = d.path().join("failures");
    let whole = d.path().join("whole.json");
    let unsharded = run(&[
        "sweep",
        "--seeds",
        SEEDS,
        "--jobs",
        "2",
        "--failures",
        s(&f),
        "--json",
        s(&whole),
    ]);
    assert_eq!(unsharded.status.code(), Some(0), "{}", text(&unsharded));
    // Four processes at once, as four machines would run them.
    let shards: Vec<_> = (0..4)
        .map(|i| {
            let out = d.path().join(format!("shard-{i}.json"));
            let child = bin()
                .args(["sweep", "--seeds", SEEDS, "--shard", &format!("{i}/4"), "--jobs", "1"])
                .args(["--failures", s(&f), "--json", s(&out)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("shard starts");
            (child, out)
        })
        .collect();
    let mut files = Vec::new();
    for (child, out) in shards {
        let o = child.wait_with_output().expect("shard ends");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        files.push(out);
    }
    let merged_path = d.path().join("merged.json");
    let mut args = vec!["merge", "--json", s(&merged_path)];
    args.extend(files.iter().map(|p| s(p)));
    let merged = run(&args);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    let (a, b) = (json(&whole), json(&merged_path));
    assert_eq!(a["totals"], b["totals"], "totals");
    assert_eq!(a["seeds_run"], b["seeds_run"], "seeds run");
    assert_eq!(a["violating"], b["violating"], "violating seeds");
    assert_eq!(a["identity"], b["identity"]);
    assert_eq!(a["totals"]["runs"], 24);
    assert_eq!(b["parts"], 4);
    assert_eq!(table(&unsharded), table(&merged), "the same table");
    let t = String::from_utf8_lossy(&merged.stdout);
    assert!(t.contains("shard 0/4 1/4 2/4 3/4 (4 of 4 complete)"), "{t}");
    assert!(!t.contains("NOT COMPLETE"), "{t}");
    // Three of four shards are not the campaign.
    let partial = run(&["merge", s(&files[0]), s(&files[1]), s(&files[2])]);
    assert!(
        String::from_utf8_lossy(&partial.stdout).contains("NOT COMPLETE"),
        "{}",
        text(&partial)
    );
}

#[test]
fn merge_refuses_other_commits_identities_and_repeated_seeds_unless_forced() {
    let d = tempfile::tempdir().expect("tmp");
    let f = d.path().join("failures");
    let one = d.path().join("one.json");
    let tick2 = d.path().join("tick2.json");
    for (extra, out) in [(vec![], &one), (vec!["--tick-ms", "2"], &tick2)] {
        let mut args = vec![
            "sweep",
            "--seeds",
            "0..2",
            "--jobs",
            "1",
            "--failures",
            s(&f),
            "--json",
            s(out),
        ];
        args.extend(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let o = run(&["merge", s(&one), s(&tick2)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("differ in run identity"), "{}", text(&o));
    let mut other = json(&one);
    other["commit"] = Value::from("0000000000000000000000000000000000000000");
    other["seeds_run"] = serde_json::json!([100, 101]);
    let other_path = d.path().join("other.json");
    std::fs::write(&other_path, other.to_string()).expect("write");
    let o = run(&["merge", s(&one), s(&other_path)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("differ in commit"), "{}", text(&o));
    let o = run(&["merge", s(&one), s(&one)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("repeats 2 seed(s)"), "{}", text(&o));
    let o = run(&["merge", "--force", s(&one), s(&other_path)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("runs                 4\n"),
        "{}",
        text(&o)
    );
}

/// A summary with `seeds` violating (as a sweep of a buggy build would write it).
fn with_violations(base: &Value, seeds: &[u64], oracle: &str) -> Value {
    let mut v = base.clone();
    let n = seeds.len() as u64;
    v["totals"]["violating_runs"] = Value::from(n);
    v["totals"]["violations"] = Value::from(3 * n);
    v["totals"]["violations_by_oracle"] = serde_json::json!({ oracle: 3 * n });
    v["violating"] = seeds
        .iter()
        .map(|seed| {
            serde_json::json!({
                "seed": seed,
                "oracles": { oracle: 3 },
                "first": { "oracle": oracle, "node": 1, "t_ms": 1234, "message": "planted" },
                "reproduce": format!("psync-sim replay --seed 0x{seed:x} --scenario swarm --tick-ms 1"),
                "failure_file": null
            })
        })
        .collect();
    v
}

#[test]
fn merge_lists_violating_seeds_and_counts_runs_and_violations_separately() {
    let d = tempfile::tempdir().expect("tmp");
    let f = d.path().join("failures");
    let mut parts = Vec::new();
    for (i, bad) in [(0u64, vec![0u64]), (1, vec![1, 3])] {
        let out = d.path().join(format!("p{i}.json"));
        let shard = format!("{i}/2");
        let o = run(&[
            "sweep",
            "--seeds",
            "0..4",
            "--shard",
            &shard,
            "--jobs",
            "1",
            "--failures",
            s(&f),
            "--json",
            s(&out),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let oracle = if i == 0 { "prefix" } else { "wait" };
        std::fs::write(&out, with_violations(&json(&out), &bad, oracle).to_string()).expect("write");
        parts.push(out);
    }
    let merged_path = d.path().join("m.json");
    let o = run(&["merge", s(&parts[0]), s(&parts[1]), "--json", s(&merged_path)]);
    assert_eq!(o.status.code(), Some(1), "a merge with violations fails: {}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout);
    for line in [
        "runs                 4\n",
        "violating runs       3\n",
        "violations           9 ",
        "  violations[prefix]  3\n",
        "  violations[wait]  6\n",
        "violating seeds      3 (first 3 listed)\n",
        "  0x0 prefix (3 violations): psync-sim replay --seed 0x0 --scenario swarm --tick-ms 1\n",
        "  0x1 wait (3 violations): psync-sim replay --seed 0x1",
        "  0x3 wait (3 violations): psync-sim replay --seed 0x3",
    ] {
        assert!(t.contains(line), "{line:?} in:\n{t}");
    }
    let m = json(&merged_path);
    let seeds: Vec<u64> = m["violating"]
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["seed"].as_u64().expect("seed"))
        .collect();
    assert_eq!(seeds, vec![0, 1, 3]);
}

#[test]
fn random_campaigns_print_their_master_seed_stop_at_the_budget_and_resume() {
    let d = tempfile::tempdir().expect("tmp");
    let f = d.path().join("failures");
    let state = d.path().join("campaign.json");
    let o = run(&[
        "sweep",
        "--seeds",
        "random",
        "--master-seed",
        "0x2a",
        "--budget",
        "2s",
        "--jobs",
        "1",
        "--failures",
        s(&f),
        "--json",
        s(&state),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("master seed 0x2a"), "{t}");
    assert!(
        t.contains(&format!("continue with: psync-sim sweep --resume {}", s(&state))),
        "{t}"
    );
    let first = json(&state);
    let ran: Vec<u64> = serde_json::from_value(first["seeds_run"].clone()).expect("seeds");
    assert!(!ran.is_empty(), "{t}");
    assert_eq!(first["plans"][0]["complete"], false);
    assert_eq!(first["plans"][0]["seeds"]["random"]["master"], 42);
    // The seeds are the master seed's first draws, whatever ran them.
    let draws: Vec<u64> = (0..ran.len() as u64)
        .filter_map(|i| sim::campaign::Seeds::Random { master: 42 }.nth(i))
        .collect();
    let mut sorted = draws.clone();
    sorted.sort_unstable();
    assert_eq!(ran, sorted);
    // Another identity is another campaign: refused before running.
    let o = run(&["sweep", "--resume", s(&state), "--tick-ms", "2", "--failures", s(&f)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--resume: the summary ran"), "{}", text(&o));
    let o = run(&[
        "sweep",
        "--resume",
        s(&state),
        "--budget",
        "2s",
        "--jobs",
        "1",
        "--failures",
        s(&f),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let second = json(&state);
    let ran2: Vec<u64> = serde_json::from_value(second["seeds_run"].clone()).expect("seeds");
    assert!(
        ran2.len() > ran.len(),
        "resume ran more seeds: {} -> {}",
        ran.len(),
        ran2.len()
    );
    assert!(ran.iter().all(|s| ran2.contains(s)), "resume keeps the first seeds");
    assert_eq!(second["totals"]["runs"], Value::from(ran2.len()));
    assert_eq!(second["parts"], 2);
}

#[test]
fn ctrl_c_prints_the_partial_summary_and_saves_it() {
    let d = tempfile::tempdir().expect("tmp");
    let state = d.path().join("c.json");
    let child = bin()
        .args([
            "sweep",
            "--seeds",
            "0..100000",
            "--jobs",
            "1",
            "--json",
            s(&state),
            "--failures",
        ])
        .arg(d.path().join("f"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sweep starts");
    std::thread::sleep(std::time::Duration::from_millis(3000));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let o = child.wait_with_output().expect("sweep ends");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(130), "{t}");
    assert!(t.contains("interrupted"), "{t}");
    assert!(t.contains("NOT COMPLETE"), "{t}");
    let v = json(&state);
    assert_eq!(v["plans"][0]["complete"], false);
    let runs = v["totals"]["runs"].as_u64().expect("runs");
    assert!(runs > 0 && runs < 100_000, "{runs}");
    assert!(t.contains(&format!("runs                 {runs}\n")), "{t}");
}

#[test]
fn the_readme_documents_every_summary_field() {
    let d = tempfile::tempdir().expect("tmp");
    let out = d.path().join("s.json");
    let o = run(&[
        "sweep",
        "--seeds",
        "0..1",
        "--jobs",
        "1",
        "--failures",
        s(&d.path().join("f")),
        "--json",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let section = readme
        .split("### Summary JSON")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a Summary JSON section");
    let v = json(&out);
    let totals = v["totals"].as_object().expect("totals").keys();
    for key in v.as_object().expect("object").keys().chain(totals) {
        assert!(
            section.contains(&format!("`{key}`")),
            "README Summary JSON section documents `{key}`"
        );
    }
}

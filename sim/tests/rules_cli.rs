//! `--rules`, `rules` and `compare` as a user types them (issue 15), against the built binary.

use std::process::Command;

fn sim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_psync-sim"))
        .args(args)
        .output()
        .expect("run psync-sim");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rules_lists_every_registered_rule_set() {
    let (code, out, _) = sim(&["rules"]);
    assert_eq!(code, 0);
    for r in master::rules::ALL {
        assert!(
            out.lines().any(|l| l.starts_with(r.name())),
            "{} missing:\n{out}",
            r.name()
        );
    }
}

#[test]
fn a_wrong_rule_set_is_a_usage_error_naming_the_known_ones() {
    let (code, _, err) = sim(&["--rules", "redis-7", "run", "--seed", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("redis-7") && err.contains("redis-7.0") && err.contains("psync1"),
        "{err}"
    );
    let (code, _, err) = sim(&["--rules", "redis-7.0,psync1", "run", "--seed", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("only for `compare`"), "{err}");
    let (code, _, err) = sim(&["--rules", "psync1,psync1", "compare", "--seeds", "0..2"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = sim(&["--rules", "psync1", "compare", "--seeds", "5..5"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn compare_prints_a_column_per_rule_set_and_writes_json() {
    let dir = std::env::temp_dir().join(format!("psync-compare-{}", std::process::id()));
    let json = dir.join("cmp.json");
    std::fs::create_dir_all(&dir).unwrap();
    let (code, out, err) = sim(&[
        "--rules",
        "redis-7.0,psync1",
        "compare",
        "--seeds",
        "0..4",
        "--jobs",
        "2",
        "--json",
        json.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let header = out.lines().nth(1).expect("column header");
    assert!(header.contains("redis-7.0") && header.contains("psync1"), "{out}");
    assert!(out.contains("full syncs") && out.contains("violating runs"), "{out}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let cols = doc["columns"].as_array().expect("columns");
    assert_eq!(cols.len(), 2);
    assert_eq!(cols[1]["rules"], "psync1");
    assert_eq!(cols[0]["runs"], 4);
    std::fs::remove_dir_all(&dir).ok();
}

//! Issue 18 item 8: the Perfetto trace of a fixed run follows the Trace Event Format (JSON
//! object form: every event's phase, fields and types) and has the expected tracks: named
//! threads, counter tracks for offsets, ACKs and backlog length, spans for partitions,
//! holds, freezes and full-sync transfers, named instants with `args`, and PSYNC flow
//! arrows from each request to its decision. Trace content never changes the trace hash.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sim::nemesis::{Fault, FaultKind};
use sim::run::{run_with, RunOptions, RunSpec};

/// One replica, fixed faults: a partition (and its heal), a hold (and its release), a
/// freeze and a killed link, so every span kind and a CONTINUE appear.
fn spec() -> RunSpec {
    let mut s = RunSpec::star(0x18, "perfetto", 1);
    s.fault_ms = 6_000;
    let at = |at_ms, kind| Fault { at_ms, kind };
    s.faults = vec![
        at(1_000, FaultKind::Partition { a: 0, b: 1 }),
        at(1_800, FaultKind::Heal { a: 0, b: 1 }),
        at(2_500, FaultKind::Hold { a: 0, b: 1 }),
        at(2_900, FaultKind::Release { a: 0, b: 1 }),
        at(3_500, FaultKind::Freeze { node: 1, ms: 400 }),
        at(4_500, FaultKind::KillLink { node: 1 }),
    ];
    s
}

fn num(e: &Value, k: &str) -> u64 {
    e[k].as_u64()
        .unwrap_or_else(|| panic!("{k} is not a non-negative integer: {e}"))
}

/// Trace Event Format checks of one event (what Perfetto's JSON importer reads).
fn check_event(e: &Value) {
    let ph = e["ph"].as_str().unwrap_or_else(|| panic!("no ph: {e}"));
    assert!(e["name"].is_string(), "name: {e}");
    num(e, "pid");
    if ph != "M" && ph != "C" {
        num(e, "tid");
    }
    if ph != "M" {
        num(e, "ts");
    }
    if let Some(a) = e.get("args") {
        assert!(a.is_object(), "args is an object: {e}");
    }
    match ph {
        "M" => {
            let name = e["name"].as_str().unwrap_or("");
            assert!(
                ["process_name", "thread_name", "process_sort_index"].contains(&name),
                "metadata kind: {e}"
            );
            assert!(e["args"].is_object(), "{e}");
        }
        "X" => assert!(num(e, "dur") >= 1, "{e}"),
        "i" => assert!(["g", "p", "t"].contains(&e["s"].as_str().unwrap_or("")), "scope: {e}"),
        "C" => {
            let args = e["args"].as_object().expect("counter args");
            assert!(!args.is_empty() && args.values().all(Value::is_number), "{e}");
        }
        "s" | "f" => {
            num(e, "id");
            assert!(e["cat"].is_string(), "{e}");
            if ph == "f" {
                assert_eq!(e["bp"], "e", "{e}");
            }
        }
        other => panic!("unexpected phase {other}: {e}"),
    }
}

// Over ~70 lines on purpose: one run and one trace; each track and event the Perfetto JSON
// must hold is checked against it in turn.
#[test]
fn perfetto_trace_is_valid_and_has_the_expected_tracks() {
    let spec = spec();
    let opts = RunOptions {
        counters: true,
        ..RunOptions::default()
    };
    let (r, trace) = run_with(&spec, opts);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(
        r.trace_hash,
        sim::run(&spec).trace_hash,
        "counters never change the hash"
    );
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let json = trace.chrome_json(&names, r.sim_ms);
    // Serialises and parses back (what a file holds).
    let json: Value = serde_json::from_str(&serde_json::to_string(&json).expect("serialise")).expect("parse");
    assert_eq!(json["displayTimeUnit"], "ms");
    let events = json["traceEvents"].as_array().expect("traceEvents array");
    events.iter().for_each(check_event);

    let threads: BTreeSet<(u64, String)> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| (num(e, "pid"), e["args"]["name"].as_str().unwrap_or("").to_string()))
        .collect();
    for (pid, t) in [(2, "repl_state"), (2, "full syncs"), (2, "psync"), (1, "psync")] {
        assert!(
            threads.contains(&(pid, t.to_string())),
            "thread {t} of pid {pid}: {threads:?}"
        );
    }
    for t in ["events", "frozen", "replica conn c"] {
        assert!(threads.iter().any(|(_, n)| n.starts_with(t)), "thread {t}: {threads:?}");
    }
    // Every (pid, tid) an event uses has a thread name.
    let named: BTreeSet<(u64, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| (num(e, "pid"), num(e, "tid")))
        .collect();
    for e in events
        .iter()
        .filter(|e| ["X", "i", "s", "f"].contains(&e["ph"].as_str().unwrap_or("")))
    {
        assert!(named.contains(&(num(e, "pid"), num(e, "tid"))), "unnamed thread: {e}");
    }

    let counters: BTreeSet<(u64, String)> = events
        .iter()
        .filter(|e| e["ph"] == "C")
        .map(|e| (num(e, "pid"), e["name"].as_str().unwrap_or("").to_string()))
        .collect();
    for (pid, c) in [
        (1, "master_repl_offset"),
        (2, "master_repl_offset"),
        (1, "repl_backlog_histlen"),
        (1, "ack n1"),
    ] {
        assert!(
            counters.contains(&(pid, c.to_string())),
            "counter {c} on pid {pid}: {counters:?}"
        );
    }
    let offsets: Vec<u64> = events
        .iter()
        .filter(|e| e["ph"] == "C" && e["pid"] == 1 && e["name"] == "master_repl_offset")
        .map(|e| e["args"]["value"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        offsets.len() > 10 && offsets.windows(2).all(|w| w[0] < w[1]),
        "master offset grows"
    );

    let spans: BTreeMap<String, Vec<&Value>> =
        events
            .iter()
            .filter(|e| e["ph"] == "X")
            .fold(BTreeMap::new(), |mut m, e| {
                m.entry(e["name"].as_str().unwrap_or("").to_string())
                    .or_default()
                    .push(e);
                m
            });
    let one = |name: &str, from_ms: u64, to_ms: u64| {
        let s = spans
            .get(name)
            .unwrap_or_else(|| panic!("no {name} span: {:?}", spans.keys()));
        assert!(
            s.iter()
                .any(|e| num(e, "ts") == from_ms * 1000 && num(e, "dur") == (to_ms - from_ms) * 1000),
            "{name} span {from_ms}..{to_ms} ms: {s:?}"
        );
    };
    one("partition", 1_000, 1_800);
    one("hold", 2_500, 2_900);
    one("frozen", 3_500, 3_900);
    let syncs = &spans["full sync"];
    assert!(
        syncs.iter().all(|e| e["pid"] == 2 && e["args"]["outcome"] == "loaded"),
        "{syncs:?}"
    );
    for state in ["CONNECTED", "TRANSFER", "RECEIVE_PSYNC", "ONLINE"] {
        assert!(spans.contains_key(state), "state span {state}");
    }

    // Instants: stable names, structured args, never a Debug dump as a name.
    let instants: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["ph"] == "i")
        .map(|e| e["name"].as_str().unwrap_or(""))
        .collect();
    for n in [
        "psync",
        "continue",
        "full-sync-loaded",
        "partition",
        "hold",
        "freeze",
        "kill-link",
        "converged",
    ] {
        assert!(instants.contains(n), "instant {n}: {instants:?}");
    }
    assert!(
        instants.iter().all(|n| !n.contains(' ') && !n.contains('{')),
        "{instants:?}"
    );
    let psync: Vec<&Value> = events
        .iter()
        .filter(|e| e["ph"] == "i" && e["name"] == "psync")
        .collect();
    let decisions: BTreeSet<&str> = psync
        .iter()
        .map(|e| e["args"]["decision"].as_str().unwrap_or(""))
        .collect();
    assert!(
        decisions.contains("full:requested") && decisions.contains("continue"),
        "{decisions:?}"
    );
    assert!(psync
        .iter()
        .all(|e| e["args"]["requester"] == 1 && e["args"]["offset"].is_i64()));

    // Flow arrows: each request (on the replica) to its decision (on the master).
    let flows = |ph: &str| -> BTreeMap<u64, &Value> {
        events
            .iter()
            .filter(|e| e["ph"] == ph)
            .map(|e| (num(e, "id"), e))
            .collect()
    };
    let (starts, ends) = (flows("s"), flows("f"));
    assert_eq!(starts.len(), psync.len(), "one flow per PSYNC");
    assert_eq!(starts.keys().collect::<Vec<_>>(), ends.keys().collect::<Vec<_>>());
    for (id, s) in &starts {
        let f = ends[id];
        assert_eq!(
            (s["pid"].as_u64(), f["pid"].as_u64()),
            (Some(2), Some(1)),
            "replica -> master"
        );
        assert!(num(s, "ts") <= num(f, "ts"));
    }
}

//! Same seed ⇒ same trace hash in the default event-driven stepping, across threads and
//! across processes (the built `psync-sim`), and the stepping is part of a run's identity:
//! `--tick-ms 1` is another run, itself reproducible (issue 16).

use std::process::Command;

use sim::scenarios::swarm;
use sim::Stepping;

fn cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_psync-sim"))
        .args(args)
        .output()
        .expect("run psync-sim");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `trace hash` line of `psync-sim ... run --seed S`.
fn cli_hash(pre: &[&str], seed: u64) -> String {
    let seed = format!("0x{seed:x}");
    let mut args = pre.to_vec();
    args.extend(["run", "--seed", seed.as_str()]);
    let (_, out) = cli(&args);
    out.lines()
        .find_map(|l| l.strip_prefix("trace hash "))
        .unwrap_or_else(|| panic!("no trace hash in {out}"))
        .to_string()
}

#[test]
fn same_seed_same_hash_in_event_mode_across_threads_and_processes() {
    for seed in [3u64, 0x2a] {
        let spec = swarm(seed);
        assert_eq!(spec.stepping(), Stepping::Event, "event-driven is the default");
        let here = sim::run(&spec).trace_hash;
        let thread = std::thread::spawn(move || sim::run(&swarm(seed)).trace_hash)
            .join()
            .expect("thread");
        assert_eq!(here, thread, "seed {seed}: thread");
        assert_eq!(here, cli_hash(&[], seed), "seed {seed}: first process");
        assert_eq!(here, cli_hash(&[], seed), "seed {seed}: second process");
    }
    let (ok, out) = cli(&["check-determinism", "--seed", "0x2a"]);
    assert!(ok && out.contains("\ndeterministic"), "{out}");
}

#[test]
fn the_stepping_is_part_of_a_runs_identity() {
    let seed = 5;
    let event = cli_hash(&[], seed);
    let tick = cli_hash(&["--tick-ms", "1"], seed);
    assert_ne!(event, tick, "two steppings, two runs");
    let mut spec = swarm(seed);
    spec.tick_ms = 1;
    assert_eq!(tick, sim::run(&spec).trace_hash, "--tick-ms 1 reproduces in process");
    assert_eq!(tick, cli_hash(&["--tick-ms", "1"], seed), "and across processes");
}

//! The fixed-seed swarm sweep CI runs: every oracle on every seed, the coverage a modest
//! sweep must reach, and replay determinism (same seed ⇒ same trace hash).

use std::collections::BTreeSet;

use sim::run::{run, RunReport};
use sim::scenarios::swarm;
use sim::Coverage;

/// Seeds in the CI sweep (override with PSYNC_SWEEP_SEEDS for a bigger local campaign).
fn sweep_seeds() -> u64 {
    std::env::var("PSYNC_SWEEP_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Runs seeds `0..n` on two threads (each simulation is single-threaded and seeded).
fn sweep(n: u64) -> Vec<RunReport> {
    let handles: Vec<_> = (0..2u64)
        .map(|k| {
            std::thread::spawn(move || {
                (0..n)
                    .filter(|s| s % 2 == k)
                    .map(|s| run(&swarm(s)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<RunReport> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("sweep thread"))
        .collect();
    all.sort_by_key(|r| r.seed);
    all
}

#[test]
fn swarm_sweep_has_no_violations_and_reaches_full_coverage() {
    let n = sweep_seeds();
    let reports = sweep(n);
    let bad: Vec<String> = reports
        .iter()
        .filter(|r| !r.violations.is_empty())
        .map(|r| {
            format!(
                "seed 0x{:x}: {:?}\n  reproduce: psync-sim replay --seed 0x{:x}",
                r.seed, r.violations, r.seed
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {n} seeds violated oracles:\n{}",
        bad.len(),
        bad.join("\n")
    );
    let mut cov = Coverage::default();
    for r in &reports {
        cov.merge(&r.coverage);
    }
    let all_repl: BTreeSet<u8> = (0..16).collect();
    assert_eq!(cov.repl_states, all_repl, "every ReplState 0..=15 reached (R39a)");
    assert_eq!(
        cov.slave_states,
        [6, 7, 8, 9].into_iter().collect(),
        "every SlaveState reached"
    );
    for outcome in [
        "continue",
        "full:requested",
        "full:id-mismatch",
        "full:before-backlog",
        "full:replid2-offset-too-high",
    ] {
        assert!(
            cov.psync.contains(outcome),
            "PSYNC outcome {outcome} not reached: {:?}",
            cov.psync
        );
    }
    for fault in [
        "partition",
        "partition-oneway",
        "hold",
        "latency",
        "crash",
        "restart",
        "failover",
        "kill-link",
        "backlog-resize",
        "save",
        "big-write",
        "freeze",
    ] {
        assert!(
            cov.faults.contains(fault),
            "fault {fault} never scheduled: {:?}",
            cov.faults
        );
    }
    // R39: slow and overflowing replicas are dropped by both kinds of limit.
    assert!(
        cov.obuf_drops.0 > 0 && cov.obuf_drops.1 > 0,
        "output-buffer drops (hard, soft) {:?}",
        cov.obuf_drops
    );
    let checks: u64 = reports.iter().map(|r| r.checks.prefix).sum();
    assert!(checks > n * 10, "prefix oracle checked only {checks} points");
    let fired: usize = reports
        .iter()
        .map(|r| r.faults.iter().filter(|(_, f)| *f).count())
        .sum();
    assert!(fired as u64 > n, "only {fired} faults fired over {n} seeds");
}

#[test]
fn same_seed_same_trace_hash_across_threads() {
    for seed in [3u64, 0x2a, 0x45] {
        let spec = swarm(seed);
        let a = run(&spec).trace_hash;
        let spec2 = spec.clone();
        let b = std::thread::spawn(move || run(&spec2).trace_hash)
            .join()
            .expect("thread");
        assert_eq!(a, b, "seed {seed} is not deterministic");
    }
    assert_ne!(
        run(&swarm(1)).trace_hash,
        run(&swarm(2)).trace_hash,
        "different seeds, different runs"
    );
}

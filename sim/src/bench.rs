//! Benchmarks (`psync-sim bench`): time compression, sweep throughput, cost curves,
//! backlog append speed against memcpy, and peak RSS. Wall time is read here only, outside
//! the simulations it measures; figures are printed as ratios measured in the same run.

use std::time::Instant;

use crate::nemesis::{Fault, FaultKind};
use crate::run::{run, RunSpec};
use crate::scenarios::swarm;

/// The standard 3-node run: 60 simulated s, ~10 k writes, one partition, one restart,
/// one failover.
pub fn standard_spec(tick_ms: u64) -> RunSpec {
    let mut s = RunSpec::star(1, "bench-standard", 2);
    s.fault_ms = 60_000;
    s.liveness_ms = 30_000;
    s.tick_ms = tick_ms;
    s.workload.mean_gap_ms = 3; // ~ 60 s / 6 ms per write incl. replies ≈ 10 k writes
    s.workload.readers = 0;
    s.faults = vec![
        Fault {
            at_ms: 10_000,
            kind: FaultKind::Partition { a: 0, b: 1 },
        },
        Fault {
            at_ms: 12_000,
            kind: FaultKind::Heal { a: 0, b: 1 },
        },
        Fault {
            at_ms: 25_000,
            kind: FaultKind::Save { node: 2 },
        },
        Fault {
            at_ms: 25_001,
            kind: FaultKind::Crash { node: 2 },
        },
        Fault {
            at_ms: 27_000,
            kind: FaultKind::Restart { node: 2 },
        },
        Fault {
            at_ms: 40_000,
            kind: FaultKind::Failover { to: 1 },
        },
    ];
    s
}

#[allow(clippy::disallowed_methods)] // wall time is the measured quantity here
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

/// Peak resident set size of this process in KiB (Linux `VmHWM`), if readable.
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (a) + (e): compression of the standard run.
pub fn standard(tick_ms: u64) {
    let spec = standard_spec(tick_ms);
    let (r, wall) = timed(|| run(&spec));
    println!(
        "(a) standard 3-node run, tick {tick_ms} ms: {:.1} simulated s in {wall:.2} wall s = {:.0}x; writes {}; violations {}",
        r.sim_ms as f64 / 1000.0,
        r.sim_ms as f64 / 1000.0 / wall,
        r.stats.ok_writes,
        r.violations.len()
    );
    if let Some(kib) = peak_rss_kib() {
        println!("(e) peak RSS after the standard run: {:.1} MiB", kib as f64 / 1024.0);
    }
}

/// (b): seeds per second for 10-simulated-second swarm runs on `jobs` threads.
pub fn sweep_throughput(seeds: u64, jobs: u64, tick_ms: u64) {
    let (_, wall) = timed(|| {
        let hs: Vec<_> = (0..jobs)
            .map(|k| {
                std::thread::spawn(move || {
                    for s in (0..seeds).filter(|s| s % jobs == k) {
                        let mut spec = swarm(s);
                        spec.tick_ms = tick_ms;
                        let _ = run(&spec);
                    }
                })
            })
            .collect();
        for h in hs {
            let _ = h.join();
        }
    });
    println!(
        "(b) swarm sweep, {seeds} seeds on {jobs} threads, tick {tick_ms} ms: {:.1} seeds/s",
        seeds as f64 / wall
    );
}

/// (c): wall cost against replicas and against simulated duration (no faults).
pub fn cost_curves(tick_ms: u64) {
    for replicas in [1usize, 2, 4, 8] {
        let mut s = RunSpec::star(1, "bench-replicas", replicas);
        s.fault_ms = 10_000;
        s.liveness_ms = 5_000;
        s.tick_ms = tick_ms;
        let (r, wall) = timed(|| run(&s));
        println!(
            "(c) replicas {replicas}: {:.1} sim s in {wall:.3} wall s ({:.0}x)",
            r.sim_ms as f64 / 1000.0,
            r.sim_ms as f64 / 1000.0 / wall
        );
    }
    for secs in [10u64, 60, 600] {
        let mut s = RunSpec::star(1, "bench-duration", 2);
        s.fault_ms = secs * 1000;
        s.liveness_ms = 5_000;
        s.tick_ms = tick_ms;
        s.workload.mean_gap_ms = 50;
        let (r, wall) = timed(|| run(&s));
        println!(
            "(c) duration {secs} s: {:.1} sim s in {wall:.3} wall s ({:.0}x)",
            r.sim_ms as f64 / 1000.0,
            r.sim_ms as f64 / 1000.0 / wall
        );
    }
}

/// (d): backlog append throughput as a ratio to copying the same bytes into a buffer.
pub fn backlog_append() {
    let total: usize = 256 * 1024 * 1024;
    let chunk = vec![b'x'; 100];
    let (_, t_backlog) = timed(|| {
        let mut b = master::ReplBacklog::new(0, 1024 * 1024, master::REPL_BACKLOG_MIN_SIZE);
        for _ in 0..total / chunk.len() {
            b.append(&chunk);
        }
        std::hint::black_box(b.histlen())
    });
    let (_, t_copy) = timed(|| {
        let mut ring = vec![0u8; 1024 * 1024];
        let mut at = 0;
        for _ in 0..total / chunk.len() {
            if at + chunk.len() > ring.len() {
                at = 0;
            }
            ring[at..at + chunk.len()].copy_from_slice(&chunk);
            at += chunk.len();
        }
        std::hint::black_box(ring[at / 2])
    });
    let gbs = |t: f64| total as f64 / t / 1e9;
    println!(
        "(d) backlog append {:.2} GB/s vs memcpy {:.2} GB/s = {:.2}x of memcpy (100-byte appends)",
        gbs(t_backlog),
        gbs(t_copy),
        t_copy / t_backlog
    );
}

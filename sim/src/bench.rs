//! Benchmarks (`psync-sim bench`): time compression, sweep throughput, cost curves,
//! backlog append speed against memcpy, and peak RSS. Wall time is read here only, outside
//! the simulations it measures; figures are printed as ratios measured in the same run.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use crate::nemesis::{Fault, FaultKind};
use crate::run::{run, run_probed, Phase, Probe, RunOptions, RunSpec, Stepping};
use crate::scenarios::swarm;

/// The standard 3-node run: 60 simulated s, ~10 k writes, one partition, one restart,
/// one failover.
pub fn standard_spec(stepping: Stepping) -> RunSpec {
    let mut s = RunSpec::star(1, "bench-standard", 2);
    s.fault_ms = 60_000;
    s.liveness_ms = 30_000;
    s.tick_ms = stepping.tick_ms();
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

/// The steppings (a) and (b) compare: stock turmoil ticking every ms, and the event-driven
/// default.
const COMPARED: [Stepping; 2] = [Stepping::Tick { ms: 1 }, Stepping::Event];

/// Wall time per [`Phase`], measured by a [`Probe`] outside the simulation.
struct PhaseClock {
    at: Instant,
    current: Phase,
    spent: [f64; 4],
}

impl PhaseClock {
    #[allow(clippy::disallowed_methods)] // wall time is the measured quantity here
    fn new() -> PhaseClock {
        PhaseClock {
            at: Instant::now(),
            current: Phase::Setup,
            spent: [0.0; 4],
        }
    }

    fn index(p: Phase) -> usize {
        match p {
            Phase::Turmoil => 0,
            Phase::Hosts => 1,
            Phase::Observe => 2,
            Phase::Setup => 3,
        }
    }

    /// "turmoil 40% hosts 35% observe 20% setup 5%" (hosts only when measured apart).
    fn fractions(&self) -> String {
        let total: f64 = self.spent.iter().sum();
        let names = ["turmoil", "hosts", "observe", "setup"];
        let parts: Vec<String> = (0..4)
            .filter(|&i| i != 1 || self.spent[1] > 0.0)
            .map(|i| format!("{} {:.0}%", names[i], 100.0 * self.spent[i] / total))
            .collect();
        parts.join(", ")
    }
}

impl Probe for PhaseClock {
    #[allow(clippy::disallowed_methods)] // wall time is the measured quantity here
    fn phase(&mut self, phase: Phase) {
        let now = Instant::now();
        self.spent[Self::index(self.current)] += now.duration_since(self.at).as_secs_f64();
        self.at = now;
        self.current = phase;
    }
}

/// One run timed without a probe: the probe reads the wall clock at every phase change
/// (several times per event step, twice per tick), so timing through it would charge its
/// own cost, unevenly, to the steppings being compared.
fn unprobed(spec: &RunSpec) -> (crate::run::RunReport, f64) {
    timed(|| run(spec))
}

/// Where the wall time of `specs` goes, from probed runs of them (separate from the timed
/// ones).
fn fractions_of(specs: impl IntoIterator<Item = RunSpec>) -> String {
    let clock = Rc::new(RefCell::new(PhaseClock::new()));
    for spec in specs {
        let probe: Rc<RefCell<dyn Probe>> = clock.clone();
        let _ = run_probed(&spec, RunOptions::default(), Some(probe));
    }
    let f = clock.borrow().fractions();
    f
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (a) + (e): compression of the standard run, stock tick 1 and event-driven alternating
/// (A B A B...), with the ratio of each pair; then, from one probed run of each, where
/// each stepping's wall time goes.
pub fn standard(reps: usize) {
    let mut walls = [Vec::new(), Vec::new()];
    let mut last = Vec::new();
    for _ in 0..reps.max(1) {
        last.clear();
        for (k, stepping) in COMPARED.into_iter().enumerate() {
            let (r, wall) = unprobed(&standard_spec(stepping));
            walls[k].push(wall);
            last.push((stepping, r));
        }
    }
    for (k, (stepping, r)) in last.iter().enumerate() {
        let fractions = fractions_of([standard_spec(*stepping)]);
        let wall = median(walls[k].clone());
        println!(
            "(a) standard 3-node run, {stepping}: {:.1} simulated s in {wall:.3} wall s (median of {}) = {:.0}x; writes {}; violations {}; wall time: {fractions}",
            r.sim_ms as f64 / 1000.0,
            walls[k].len(),
            r.sim_ms as f64 / 1000.0 / wall,
            r.stats.ok_writes,
            r.violations.len()
        );
    }
    let ratios: Vec<f64> = walls[0].iter().zip(&walls[1]).map(|(t, e)| t / e).collect();
    // The spread says how noisy the machine was while the pairs ran.
    let (lo, hi) = ratios
        .iter()
        .fold((f64::INFINITY, 0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!(
        "(a) event-driven vs stock tick 1, same run: {:.2}x faster (median of {} pairs, {lo:.2}-{hi:.2})",
        median(ratios),
        walls[0].len()
    );
    if let Some(kib) = peak_rss_kib() {
        println!("(e) peak RSS after the standard runs: {:.1} MiB", kib as f64 / 1024.0);
    }
}

/// Wall seconds for swarm seeds `0..seeds` on `jobs` threads.
fn sweep_wall(seeds: u64, jobs: u64, stepping: Stepping) -> f64 {
    timed(|| {
        let hs: Vec<_> = (0..jobs)
            .map(|k| {
                std::thread::spawn(move || {
                    for s in (0..seeds).filter(|s| s % jobs == k) {
                        let mut spec = swarm(s);
                        spec.tick_ms = stepping.tick_ms();
                        let _ = run(&spec);
                    }
                })
            })
            .collect();
        for h in hs {
            let _ = h.join();
        }
    })
    .1
}

/// (b): seeds per second for swarm runs on `jobs` threads, both steppings in turn, and
/// where one thread's wall time goes in event mode.
pub fn sweep_throughput(seeds: u64, jobs: u64) {
    let walls: Vec<f64> = COMPARED.iter().map(|&s| sweep_wall(seeds, jobs, s)).collect();
    for (stepping, wall) in COMPARED.iter().zip(&walls) {
        println!(
            "(b) swarm sweep, {seeds} seeds on {jobs} threads, {stepping}: {:.1} seeds/s",
            seeds as f64 / wall
        );
    }
    println!(
        "(b) event-driven vs stock tick 1: {:.2}x the seeds per second",
        walls[0] / walls[1]
    );
    let fractions = fractions_of((0..seeds.min(20)).map(swarm));
    println!("(b) event-driven swarm runs, wall time: {fractions}");
}

/// (c): wall cost against replicas (1-8) and simulated duration (10-600 s), one writer at
/// a 50 ms mean gap: cost follows events (writes, hosts), not simulated time.
pub fn cost_curves(stepping: Stepping) {
    let row = |what: String, s: RunSpec| {
        let (r, wall) = unprobed(&s);
        let fractions = fractions_of([s]);
        println!(
            "(c) {stepping}, {what}: {:.1} sim s in {wall:.3} wall s ({:.0}x), {} writes, {:.1} ms wall per 1k writes; {fractions}",
            r.sim_ms as f64 / 1000.0,
            r.sim_ms as f64 / 1000.0 / wall,
            r.stats.ok_writes,
            wall * 1e6 / r.stats.ok_writes.max(1) as f64
        );
    };
    for replicas in [1usize, 2, 4, 8] {
        let mut s = RunSpec::star(1, "bench-replicas", replicas);
        s.fault_ms = 60_000;
        s.liveness_ms = 5_000;
        s.tick_ms = stepping.tick_ms();
        s.workload.mean_gap_ms = 50;
        row(format!("replicas {replicas}, 60 s"), s);
    }
    for secs in [10u64, 60, 600] {
        let mut s = RunSpec::star(1, "bench-duration", 2);
        s.fault_ms = secs * 1000;
        s.liveness_ms = 5_000;
        s.tick_ms = stepping.tick_ms();
        s.workload.mean_gap_ms = 50;
        row(format!("duration {secs} s, 2 replicas"), s);
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

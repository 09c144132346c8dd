//! Shrinking: a failing schedule padded with irrelevant faults shrinks back to the few
//! events that matter, and the result replays to the same outcome.

use sim::nemesis::{Fault, FaultKind};
use sim::run::run;
use sim::scenarios::by_name;
use sim::shrink::shrink_while;

/// The property "a backlog overrun forced a full resync" (R23.3) is the stand-in for a
/// planted bug: ddmin must keep the partition that causes it and drop the noise.
#[test]
fn padded_schedule_shrinks_to_the_causal_faults() {
    let mut spec = by_name("backlog-overrun", 1).expect("scenario");
    let noise = [
        FaultKind::Latency { a: 0, b: 2, ms: 3 },
        FaultKind::Save { node: 2 },
        FaultKind::Latency { a: 1, b: 2, ms: 2 },
        FaultKind::Save { node: 0 },
        FaultKind::Latency { a: 0, b: 2, ms: 1 },
        FaultKind::KillLink { node: 0 },
        FaultKind::Save { node: 1 },
        FaultKind::Latency { a: 1, b: 2, ms: 1 },
    ];
    for (i, k) in noise.into_iter().enumerate() {
        spec.faults.push(Fault {
            at_ms: 200 + 500 * i as u64,
            kind: k,
        });
    }
    spec.faults.sort_by_key(|f| f.at_ms);
    let before = spec.faults.len();
    let overrun = |r: &sim::RunReport| r.coverage.psync.contains("full:before-backlog");
    assert!(
        overrun(&run(&spec)),
        "the padded schedule must still overrun the backlog"
    );
    let (small, runs) = shrink_while(&spec, 120, overrun);
    assert!(
        small.faults.len() <= 5,
        "shrunk {before} -> {} faults in {runs} runs: {:?}",
        small.faults.len(),
        small.faults
    );
    assert!(
        small
            .faults
            .iter()
            .any(|f| matches!(f.kind, FaultKind::Partition { .. })),
        "the partition is causal"
    );
    assert!(overrun(&run(&small)), "the shrunk schedule replays to the same outcome");
    assert_eq!(run(&small).trace_hash, run(&small).trace_hash, "and deterministically");
}

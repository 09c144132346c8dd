//! Issue 8: a corrupting link (bytes flipped or dropped in flight, master → replica) at
//! 40 positions per kind. An RDB transfer is covered by CRC-64 and its framing, so the
//! replica must detect every corruption there and never load it (no oracle may fire).
//! The replication stream has no checksum in redis's protocol: a flip in a value is
//! applied by redis too. There the requirement is that nothing panics and that a
//! corruption is never silent: either the replica detects it (protocol error) or an
//! oracle (prefix I3, the read and read-back checks against the stream, or liveness)
//! flags the divergence. Runs with neither are harmless
//! ones (e.g. a case bit flipped in a command name) and converge to equal digests.

use sim::oracle::OracleId;
use sim::run::{run, RunReport};
use sim::scenarios::by_name;

#[derive(Debug, Default)]
struct Outcomes {
    detected: u32,
    flagged: u32,
    harmless: u32,
    /// Runs in which the replica rejected a transfer (CRC, length, EOF mark).
    rejected_transfers: u32,
}

fn classify(name: &str, seeds: std::ops::Range<u64>) -> Outcomes {
    let mut o = Outcomes::default();
    for seed in seeds {
        let r: RunReport = run(&by_name(name, seed).expect("scenario"));
        let ctx = format!("{name} seed {seed} (psync-sim run --seed {seed} --scenario {name})");
        assert!(
            r.coverage.corrupted_writes >= 1,
            "{ctx}: the corruption was not carried out"
        );
        for v in &r.violations {
            assert!(
                // Divergence shows in the data (I3 against the master and the stream, a
                // read or read-back of a value the stream never gave, a change at one
                // offset) or as no convergence.
                matches!(
                    v.oracle,
                    OracleId::Prefix | OracleId::Liveness | OracleId::Read | OracleId::Readback | OracleId::Dataset
                ),
                "{ctx}: a corrupting link may only show as divergence, got {v:?}"
            );
        }
        let detected = r.coverage.link_errors + r.coverage.transfer_failures > 0;
        o.rejected_transfers += u32::from(r.coverage.transfer_failures > 0);
        if !r.violations.is_empty() {
            o.flagged += 1;
        } else if detected {
            o.detected += 1;
        } else {
            o.harmless += 1;
        }
    }
    o
}

#[test]
fn corrupted_rdb_transfers_are_always_detected_never_loaded() {
    let o = classify("corrupt-link-transfer", 0..40);
    eprintln!("corrupt-link-transfer: {o:?}");
    assert_eq!(o.flagged, 0, "a corrupted RDB was loaded or broke an invariant: {o:?}");
    assert_eq!(o.harmless, 0, "a corrupted transfer went unnoticed: {o:?}");
    assert!(o.rejected_transfers >= 30, "flips should land inside the RDB: {o:?}");
}

#[test]
fn flipped_stream_bytes_are_detected_or_flagged() {
    let o = classify("corrupt-link-stream", 0..40);
    eprintln!("corrupt-link-stream: {o:?}");
    assert!(
        o.detected > 0 && o.flagged > 0,
        "both outcomes expected over 40 positions: {o:?}"
    );
}

#[test]
fn skipped_stream_bytes_are_detected_or_flagged() {
    let o = classify("corrupt-link-skip", 0..40);
    eprintln!("corrupt-link-skip: {o:?}");
    assert!(
        o.detected + o.flagged > 30,
        "a gap in the stream must rarely pass: {o:?}"
    );
}

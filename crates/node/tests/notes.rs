//! Notes (what the simulator's oracles read) are recorded only when asked for: psync-node
//! never drains them, so recording there would grow by one note per write forever.

use bytes::Bytes;
use node::{Node, NodeConfig};
use proto::Millis;
use rand::{rngs::StdRng, SeedableRng};

fn writes_then_notes(record_notes: bool) -> usize {
    let cfg = NodeConfig {
        record_notes,
        ..NodeConfig::default()
    };
    let mut node = Node::new(cfg, StdRng::seed_from_u64(1), Millis(1_000));
    for i in 0..100 {
        let argv = ["SET", "k", &i.to_string()].map(|a| Bytes::copy_from_slice(a.as_bytes()));
        node.run_as_client(Millis(1_000 + i), &argv);
    }
    node.drain_notes().len()
}

#[test]
fn notes_are_recorded_only_when_asked_for() {
    assert!(writes_then_notes(true) >= 100, "one note per write at least");
    assert_eq!(writes_then_notes(false), 0);
}

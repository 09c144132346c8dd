//! A master that becomes a replica answers its blocked WAIT clients with -UNBLOCKED and
//! closes them after the reply, as redis 7.0's `replicationSetMaster()` does through
//! `disconnectAllBlockedClients()` (found on seed 0xd52: a demoted, frozen master answered
//! a WAIT from replica ACKs that arrived after it had become a replica).

use node::{Io, Node, NodeConfig};
use proto::{ConnId, Millis};
use rand::{rngs::StdRng, SeedableRng};

#[test]
fn demotion_unblocks_waiting_clients_with_an_error_and_closes_them() {
    let mut node = Node::new(NodeConfig::default(), StdRng::seed_from_u64(1), Millis(1_000));
    let conn = ConnId(1);
    node.on_client_open(conn, "10.0.0.9".into());
    // No replica is attached, so WAIT 1 0 (no timeout) blocks.
    node.on_client_data(Millis(1_001), conn, &proto::encode_command(&["WAIT", "1", "0"]));
    let before: Vec<Io> = node.drain_io();
    assert!(
        !before
            .iter()
            .any(|io| matches!(io, Io::Send { conn: c, .. } if *c == conn)),
        "WAIT must block: {before:?}"
    );
    node.replicaof(Millis(1_002), "elsewhere".into(), 6379);
    let io = node.drain_io();
    let reply = io.iter().position(
        |x| matches!(x, Io::Send { conn: c, bytes } if *c == conn && bytes.as_ref() == node::node::UNBLOCKED_REPLY),
    );
    let close = io
        .iter()
        .position(|x| matches!(x, Io::Close { conn: c, discard: false } if *c == conn));
    assert!(
        reply.is_some() && close > reply,
        "error reply, then close after it: {io:?}"
    );
    // Nothing is answered later by the replica it became.
    node.tick(Millis(2_000));
    assert!(
        !node
            .drain_io()
            .iter()
            .any(|x| matches!(x, Io::Send { conn: c, .. } if *c == conn)),
        "a replica never answers a WAIT"
    );
}

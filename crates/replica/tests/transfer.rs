//! The replica core during the RDB transfer (R48–R53): keepalives, a link cut mid-RDB,
//! disk (`$len`) and diskless (`$EOF:`) transfers and their ACKs.

mod common;

use bytes::Bytes;
use proto::{encode_command, ReplId};
use replica::{Action, Event, ReplState};

use common::{cmd, id, rdb_bytes, reach, Drive, MASTER_ID, OTHER_ID};

/// R48/R49: keepalive newlines during the transfer refresh the transfer timeout.
#[test]
fn transfer_keepalive_refreshes_the_timeout() {
    let mut d = reach(ReplState::Transfer);
    let t0 = d.now;
    d.now = t0 + 40_000;
    d.data(b"\n");
    d.tick_at(t0 + 60_001);
    assert_eq!(d.r.state(), ReplState::Transfer, "refreshed at +40 s");
    d.tick_at(t0 + 100_001);
    assert_eq!(d.r.state(), ReplState::Connecting, "R58: timed out, reconnect now");
}

/// R49/R51: the link closing mid-RDB keeps the cached master (the dataset is untouched)
/// so the next attempt PSYNCs again with the same id and offset (R53).
#[test]
fn transfer_cut_mid_rdb_keeps_cached_master_and_retries_psync() {
    let mut d = reach(ReplState::Transfer);
    let rdb = rdb_bytes(100);
    let mut bulk = format!("${}\r\n", rdb.len()).into_bytes();
    bulk.extend_from_slice(&rdb[..rdb.len() / 2]);
    d.data(&bulk);
    let link = d.r.link();
    d.handle(Event::Closed { link });
    let acts = d.take();
    assert!(!acts.iter().any(|a| matches!(a, Action::FullSyncLoaded { .. })));
    assert_eq!(d.r.cached().map(|c| (c.replid, c.reploff)), Some((id(MASTER_ID), 99)));
    let link = d.r.link();
    d.handle(Event::Connected { link });
    d.data(b"+PONG\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
    let w = Drive::sends(&d.take());
    assert_eq!(
        w.last(),
        Some(&Bytes::from(encode_command(&[&b"PSYNC"[..], MASTER_ID, b"100"])))
    );
}

/// R52: a diskless (`$EOF:`) transfer is acknowledged at once with `REPLCONF ACK <off>`;
/// a disk (`$len`) transfer is not. Both load the RDB and adopt id and offset (I7).
#[test]
fn eof_transfer_acks_at_once_and_length_transfer_does_not() {
    let rdb = rdb_bytes(7);
    for eof in [true, false] {
        let mut d = reach(ReplState::ReceivePsync);
        d.data(b"+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 7\r\n");
        let mut bulk = Vec::new();
        if eof {
            bulk.extend_from_slice(b"$EOF:");
            bulk.extend_from_slice(OTHER_ID);
            bulk.extend_from_slice(b"\r\n");
            bulk.extend_from_slice(&rdb);
            bulk.extend_from_slice(OTHER_ID);
        } else {
            bulk.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
            bulk.extend_from_slice(&rdb);
        }
        d.data(&bulk);
        let acts = d.take();
        assert_eq!(d.r.state(), ReplState::Connected);
        let loaded: Vec<(ReplId, u64, usize)> = acts
            .iter()
            .filter_map(|a| match a {
                Action::FullSyncLoaded { replid, offset, rdb } => {
                    Some((*replid, *offset, rdb.dbs.iter().map(|d| d.entries.len()).sum()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(loaded, vec![(id(MASTER_ID), 7, 1)]);
        let acks = Drive::sends(&acts);
        if eof {
            assert_eq!(acks, vec![cmd(&["REPLCONF", "ACK", "7"])]);
        } else {
            assert!(acks.is_empty());
        }
        assert_eq!(d.r.cached(), None, "R50: cached master discarded");
    }
}

//! The replica core's reading of the PSYNC reply (R46, R47): try-later errors,
//! keepalives, `+FULLRESYNC` ids and offsets, `+CONTINUE` with and without a new id.

mod common;

use proto::{Millis, ReplId};
use replica::{Action, Event, Observation, ReplState, ReplicaConfig};

use common::{id, rdb_bytes, reach, Drive, MASTER_ID, OTHER_ID};

/// R46 rows: `-NOMASTERLINK` and `-LOADING` mean "try later" (error path, no SYNC);
/// a keepalive newline keeps waiting; `+FULLRESYNC` with a short id zeroes the id.
#[test]
fn psync_reply_try_later_keepalive_and_short_id() {
    for line in [
        &b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n"[..],
        b"-LOADING Redis is loading the dataset in memory\r\n",
    ] {
        let mut d = reach(ReplState::ReceivePsync);
        d.data(line);
        let acts = d.take();
        assert_eq!(d.r.state(), ReplState::Connect);
        assert!(Drive::sends(&acts).is_empty(), "no SYNC fallback");
    }
    let mut d = reach(ReplState::ReceivePsync);
    d.data(b"\n");
    assert_eq!(d.take(), vec![]);
    assert_eq!(d.r.state(), ReplState::ReceivePsync);
    // R46 row 1: the id is not 40 chars → zero id; the transfer still happens.
    d.data(b"+FULLRESYNC shortid 5\r\n");
    assert_eq!(d.r.state(), ReplState::Transfer);
    let rdb = rdb_bytes(5);
    let mut bulk = format!("${}\r\n", rdb.len()).into_bytes();
    bulk.extend_from_slice(&rdb);
    d.data(&bulk);
    assert_eq!(d.r.master().map(|m| m.replid), Some(ReplId::ZERO));
    assert_eq!(d.r.master().map(|m| m.reploff), Some(5));
}

/// R46: a `+FULLRESYNC` whose offset is not a number is a protocol violation: the link
/// is closed (error path), nothing panics.
#[test]
fn fullresync_with_bad_offset_closes_the_link() {
    let mut d = reach(ReplState::ReceivePsync);
    d.data(b"+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 x\r\n");
    assert_eq!(d.r.state(), ReplState::Connect);
    assert_eq!(Drive::closes(&d.take()), 1);
}

/// R47: `+CONTINUE <new id>` adopts the id (the node tells the master core); bare
/// `+CONTINUE` and `+CONTINUE <same id>` keep it. The stream continues at reploff + 1.
#[test]
fn continue_reply_adopts_new_id_only_when_it_differs() {
    for (reply, adopt) in [
        (format!("+CONTINUE {}\r\n", String::from_utf8_lossy(OTHER_ID)), true),
        (format!("+CONTINUE {}\r\n", String::from_utf8_lossy(MASTER_ID)), false),
        ("+CONTINUE\r\n".to_string(), false),
    ] {
        let mut d = reach(ReplState::ReceivePsync);
        d.data(reply.as_bytes());
        let acts = d.take();
        assert_eq!(d.r.state(), ReplState::Connected, "{reply}");
        let adopted: Vec<ReplId> = acts
            .iter()
            .filter_map(|a| match a {
                Action::AdoptReplid { replid } => Some(*replid),
                _ => None,
            })
            .collect();
        if adopt {
            assert_eq!(adopted, vec![id(OTHER_ID)]);
        } else {
            assert!(adopted.is_empty(), "{reply}");
        }
        let m = *d.r.master().expect("master link");
        assert_eq!(m.reploff, 99, "I4: nothing applied yet");
        assert!(acts.contains(&Action::Observe(Observation::Continue {
            replid: m.replid,
            offset: 100
        })));
        d.data(b"*1\r\n$4\r\nping\r\n");
        assert_eq!(d.r.master().map(|m| m.reploff), Some(113));
    }
}

/// STYLE §3 / R46: a `+CONTINUE` answering `PSYNC ? -1` (no cached master) is a protocol
/// violation from the peer; it must close the link, never panic.
#[test]
fn continue_without_cached_master_closes_the_link_without_panicking() {
    let mut d = Drive::new(ReplicaConfig::default());
    d.r.replicaof(Millis(d.now), None);
    d.collect();
    let link = d.r.link();
    d.handle(Event::Connected { link });
    d.data(b"+PONG\r\n+OK\r\n+OK\r\n");
    assert_eq!(d.r.state(), ReplState::ReceivePsync);
    d.data(b"+CONTINUE\r\n*1\r\n$4\r\nping\r\n");
    assert_ne!(d.r.state(), ReplState::Connected);
    assert_eq!(Drive::closes(&d.take()), 1);
}

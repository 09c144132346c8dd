//! Shared by the replica core's test files (handshake, psync_reply, transfer, stream,
//! captures): a driven replica core ([`Drive`]), the way to put it in any `ReplState`
//! ([`reach`]), and the captures of tests/vectors/.

#![allow(dead_code)] // each test file uses a part of it

use bytes::Bytes;
use proto::rdb::{RdbDb, RdbEntry, RdbFile, ReplInfo};
use proto::{encode_command, Millis, ReplId};
use replica::{Action, Event, Observation, ReplState, Replica, ReplicaConfig};
use vectors::read;

/// The captures, read from the psync-tests package (tests/vectors/) with the helpers it uses.
pub mod vectors {
    /// Directory holding the capture files: tests/vectors/ of the workspace.
    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/redis-7.0.15")
    }

    include!("../../../../tests/vectors_access.rs");
}

pub const MASTER_ID: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";

pub const OTHER_ID: &[u8; 40] = b"fedcba9876543210fedcba9876543210fedcba98";

pub fn id(b: &[u8; 40]) -> ReplId {
    ReplId(*b)
}

pub fn cmd(parts: &[&str]) -> Bytes {
    Bytes::from(encode_command(parts))
}

/// A small RDB as a 7.0 master writes it for a full sync at `offset` (R65).
pub fn rdb_bytes(offset: u64) -> Vec<u8> {
    let file = RdbFile::with_repl_aux(
        "7.0.15",
        0,
        0,
        Some(ReplInfo {
            repl_stream_db: 0,
            repl_id: id(MASTER_ID),
            repl_offset: offset,
        }),
        vec![RdbDb {
            index: 0,
            entries: vec![RdbEntry {
                key: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
                expire_ms: None,
            }],
        }],
    );
    proto::rdb::write(&file)
}

/// A replica core plus what it did, split by kind.
pub struct Drive {
    pub r: Replica,
    pub now: u64,
    pub acts: Vec<Action>,
}

impl Drive {
    pub fn new(cfg: ReplicaConfig) -> Self {
        Drive {
            r: Replica::new(cfg),
            now: 10_000,
            acts: Vec::new(),
        }
    }

    pub fn collect(&mut self) {
        self.acts.extend(self.r.drain_actions());
    }

    pub fn handle(&mut self, ev: Event) {
        self.r.handle(Millis(self.now), ev);
        self.collect();
    }

    pub fn data(&mut self, bytes: &[u8]) {
        let link = self.r.link();
        self.handle(Event::Data {
            link,
            bytes: Bytes::copy_from_slice(bytes),
        });
    }

    pub fn tick_at(&mut self, now: u64) {
        self.now = now;
        self.handle(Event::Tick);
    }

    /// Takes the actions so far.
    pub fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.acts)
    }

    pub fn sends(acts: &[Action]) -> Vec<Bytes> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Send { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn connects(acts: &[Action]) -> Vec<u64> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Connect { link } => Some(*link),
                _ => None,
            })
            .collect()
    }

    pub fn closes(acts: &[Action]) -> usize {
        acts.iter().filter(|a| matches!(a, Action::Close { .. })).count()
    }

    pub fn states(acts: &[Action]) -> Vec<ReplState> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Observe(Observation::State { to, .. }) => Some(*to),
                _ => None,
            })
            .collect()
    }
}

/// Every optional step enabled: AUTH with a user, announce-ip, a cached master (R45).
pub fn full_cfg() -> ReplicaConfig {
    ReplicaConfig {
        masterauth: Some(Bytes::from_static(b"pw")),
        masteruser: Some(Bytes::from_static(b"repl")),
        listening_port: 17002,
        announce_ip: Some(Bytes::from_static(b"10.0.0.9")),
        ..ReplicaConfig::default()
    }
}

/// Puts a fresh replica in `state` by the shortest legal path.
pub fn reach(state: ReplState) -> Drive {
    let mut d = Drive::new(full_cfg());
    if state == ReplState::None {
        return d;
    }
    d.r.replicaof(Millis(d.now), Some((id(MASTER_ID), 99)));
    d.collect();
    let steps: &[(ReplState, &[u8])] = &[
        (ReplState::ReceivePong, b""),
        (ReplState::ReceiveAuth, b"+PONG\r\n"),
        (ReplState::ReceivePort, b"+OK\r\n"),
        (ReplState::ReceiveIp, b"+OK\r\n"),
        (ReplState::ReceiveCapa, b"+OK\r\n"),
        (ReplState::ReceivePsync, b"+OK\r\n"),
        (
            ReplState::Transfer,
            b"+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 100\r\n",
        ),
    ];
    if state == ReplState::Connect {
        let link = d.r.link();
        d.handle(Event::ConnectFailed { link });
        assert_eq!(d.r.state(), ReplState::Connect);
        d.take();
        return d;
    }
    if state == ReplState::Connecting {
        assert_eq!(d.r.state(), ReplState::Connecting);
        d.take();
        return d;
    }
    let link = d.r.link();
    d.handle(Event::Connected { link });
    for (s, reply) in steps {
        if !reply.is_empty() {
            d.data(reply);
        }
        assert_eq!(d.r.state(), *s, "reach: path to {state:?}");
        if *s == state {
            d.take();
            return d;
        }
    }
    // CONNECTED: a disk RDB at offset 100.
    let rdb = rdb_bytes(100);
    let mut bulk = format!("${}\r\n", rdb.len()).into_bytes();
    bulk.extend_from_slice(&rdb);
    d.data(&bulk);
    assert_eq!(d.r.state(), ReplState::Connected);
    assert_eq!(state, ReplState::Connected, "reach: unknown target");
    d.take();
    d
}

pub fn own_id_before_replicaof(scenario: &str) -> Option<(ReplId, u64)> {
    let raw = String::from_utf8(read(&format!("{scenario}.log"))).expect("utf8");
    let at = raw.find("master_replid=")?;
    let id = &raw.as_bytes()[at + 14..at + 54];
    Some((ReplId::from_bytes(id).expect("40 chars"), 0))
}

pub fn cfg_17002() -> ReplicaConfig {
    ReplicaConfig {
        listening_port: 17002,
        pipelined_handshake: true,
        ..ReplicaConfig::default()
    }
}

//! Offset invariants of a whole chain, in process: a top master core M0, a replica R1
//! (replica core + its own master core M1 fed by `Action::Proxy`), and a sub-replica R2
//! of R1 (replica core + M2). A tiny deterministic pump carries the bytes: master
//! `Send`/`SendBulk` → replica `Event::Data` in chunks of random sizes; replica `Send` →
//! master `Event::Command` after `proto::Request::decode`; `StartSnapshot` → an RDB written
//! with `proto::rdb` from the node's dataset; `BulkSent` after `SendBulk`.
//!
//! Random writes, partial deliveries, link cuts, connect failures, snapshot failures,
//! WAITs and ticks are driven; after every step:
//! * I1: for the same replid, a replica's applied offset never exceeds its master's;
//! * R6/R18: each replica's own master core is at exactly the replica's applied offset,
//!   under the same id;
//! * I3/I4/I10: every byte a replica applies (and proxies) is the top master's stream byte
//!   at that very offset — no gap, no overlap, no byte twice;
//! * I7: a full sync loads exactly the dataset the snapshot was taken from, at its offset;
//! * I11: ACKs on one link never decrease and never exceed the master's offset.
//!
//! Then faults stop and the pump drains: every replica must reach CONNECTED with
//! `replica.master().reploff == master.master_repl_offset()` and identical datasets (I2).
//!
//! Case count: 256 cases of up to 160 operations (about 0.1 s).
//!
//! (Over ~500 lines on purpose: the pump `World` is one model of a chain, and the invariants
//! it checks after every step are read with it.)

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use master::{Action as MAction, Event as MEvent, Master, MasterConfig, Upstream};
use proptest::prelude::*;
use proto::rdb::{RdbDb, RdbEntry, RdbFile, ReplInfo};
use proto::{ConnId, Millis, ReplId, Request};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use replica::{Action as RAction, Event as REvent, ReplState, Replica, ReplicaConfig};

const NODES: usize = 3;
const CLIENT: ConnId = ConnId(1_000_000);

type Data = BTreeMap<(usize, Bytes), Bytes>;

/// One TCP connection between replica `node` and the master core of node `master`.
#[derive(Debug)]
struct Link {
    tag: u64,
    master: usize,
    conn: ConnId,
    m2r: VecDeque<u8>,
    r2m: Vec<u8>,
    /// The master closed it: deliver what is queued, then the close.
    closing: bool,
    last_ack: Option<u64>,
}

struct Node {
    master: Master<ChaCha8Rng>,
    /// `None` for the top master.
    replica: Option<Replica>,
    data: Data,
    link: Option<Link>,
    snapshots: VecDeque<(u64, Bytes)>,
    /// I7: dataset recorded at each snapshot, by snapshot id.
    snapshot_data: BTreeMap<u64, (u64, Data)>,
    fail_next_connect: bool,
    /// The node whose master core this replica connects to (R61 may change it).
    upstream: usize,
}

#[derive(Debug, Clone)]
pub enum Op {
    Write {
        db: usize,
        key: u8,
        val: Option<u8>,
    },
    /// `MULTI`, `n` SETs, `EXEC`, propagated as redis does (R72): a replica applies,
    /// counts and proxies the block only at EXEC (R55), and drops a partial one (R59).
    Multi {
        db: usize,
        n: u8,
    },
    Deliver {
        node: usize,
        n: u16,
    },
    DeliverAll,
    Tick,
    Cut {
        node: usize,
    },
    FailConnect {
        node: usize,
    },
    Snapshot {
        node: usize,
        fail: bool,
    },
    Wait,
    /// R61: `REPLICAOF` the other possible master (node 2 between node 1 and node 0);
    /// the cached master is kept, so it PSYNCs its sibling/parent with the same history.
    Repoint,
}

struct World {
    now: u64,
    nodes: Vec<Node>,
    /// Every stream byte of M0, by offset (byte i is offset i + 1).
    stream: Vec<u8>,
    next_conn: u32,
    /// Applied-offset history for I10 (per node, the offset after each proxied command).
    full_syncs: u64,
    partial_syncs: u64,
    /// PSYNC decisions by label, for coverage.
    decisions: BTreeMap<&'static str, u64>,
}

fn dataset_rdb(data: &Data, replid: ReplId, offset: u64, stream_db: u32) -> Vec<u8> {
    let mut dbs: BTreeMap<usize, Vec<RdbEntry>> = BTreeMap::new();
    for ((db, k), v) in data {
        dbs.entry(*db).or_default().push(RdbEntry {
            key: k.clone(),
            value: v.clone(),
            expire_ms: None,
        });
    }
    let file = RdbFile::with_repl_aux(
        "7.0.15",
        0,
        0,
        Some(ReplInfo {
            repl_stream_db: stream_db,
            repl_id: replid,
            repl_offset: offset,
        }),
        dbs.into_iter()
            .map(|(db, entries)| RdbDb {
                index: db as u32,
                entries,
            })
            .collect(),
    );
    proto::rdb::write(&file)
}

fn rdb_data(rdb: &RdbFile) -> Data {
    let mut d = Data::new();
    for db in &rdb.dbs {
        for e in &db.entries {
            d.insert((db.index as usize, e.key.clone()), e.value.clone());
        }
    }
    d
}

fn apply(data: &mut Data, db: usize, argv: &[Bytes]) {
    let name = argv[0].to_ascii_lowercase();
    match name.as_slice() {
        b"set" => {
            data.insert((db, argv[1].clone()), argv[2].clone());
        }
        b"del" => {
            data.remove(&(db, argv[1].clone()));
        }
        other => panic!("unexpected applied command {:?}", String::from_utf8_lossy(other)),
    }
}

impl World {
    fn new(seed: u64, diskless: bool, delay_s: u64, backlog: u64) -> Self {
        let cfg = MasterConfig {
            repl_backlog_size: backlog,
            backlog_block_min: 16,
            repl_backlog_ttl_s: 0,
            repl_diskless_sync: diskless,
            repl_diskless_sync_delay_s: delay_s,
            ..MasterConfig::default()
        };
        let now = 1_000;
        let mut nodes = Vec::new();
        for i in 0..NODES {
            let mut master = Master::new(
                cfg.clone(),
                ChaCha8Rng::seed_from_u64(seed.wrapping_add(i as u64 * 7919)),
                Millis(now),
            );
            let replica = (i > 0).then(|| {
                let mut r = Replica::new(ReplicaConfig {
                    listening_port: 7000 + i as u16,
                    ..ReplicaConfig::default()
                });
                // R61: a master turning replica caches itself (R60).
                r.replicaof(Millis(now), Some((master.replid(), master.master_repl_offset())));
                master.set_upstream(Upstream::NotConnected);
                r
            });
            nodes.push(Node {
                master,
                replica,
                data: Data::new(),
                link: None,
                snapshots: VecDeque::new(),
                snapshot_data: BTreeMap::new(),
                fail_next_connect: false,
                upstream: i.saturating_sub(1),
            });
        }
        let mut w = World {
            now,
            nodes,
            stream: Vec::new(),
            next_conn: 1,
            full_syncs: 0,
            partial_syncs: 0,
            decisions: BTreeMap::new(),
        };
        w.settle();
        w
    }

    // ----- the pump ---------------------------------------------------------------------

    /// Processes actions until every core is quiet.
    fn settle(&mut self) {
        for _round in 0..10_000 {
            let mut busy = false;
            for i in 0..NODES {
                let macts: Vec<MAction> = self.nodes[i].master.drain_actions().collect();
                busy |= !macts.is_empty();
                for a in macts {
                    self.on_master_action(i, a);
                }
                if let Some(r) = self.nodes[i].replica.as_mut() {
                    let racts: Vec<RAction> = r.drain_actions().collect();
                    busy |= !racts.is_empty();
                    for a in racts {
                        self.on_replica_action(i, a);
                    }
                }
                self.sync_upstream_flag(i);
            }
            self.record_top_stream();
            if !busy {
                return;
            }
        }
        panic!("pump did not settle");
    }

    /// R74/P3: a replica's master core knows whether its own link is up.
    fn sync_upstream_flag(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if let Some(r) = &node.replica {
            let up = if r.is_connected() {
                Upstream::Connected
            } else {
                Upstream::NotConnected
            };
            if node.master.upstream() != up {
                node.master.set_upstream(up);
            }
        }
    }

    /// Appends M0's new stream bytes (the backlog always holds the newest ones).
    fn record_top_stream(&mut self) {
        let m = &self.nodes[0].master;
        let off = m.master_repl_offset();
        let have = self.stream.len() as u64;
        if off > have {
            let b = m.backlog().expect("R5: offset moved, so a backlog exists");
            let new = b
                .range_from(have + 1)
                .expect("backlog holds every byte since the last step");
            assert_eq!(have + new.len() as u64, off);
            self.stream.extend_from_slice(&new);
        }
    }

    fn master_event(&mut self, i: usize, ev: MEvent) {
        self.nodes[i].master.handle(Millis(self.now), ev);
        if i == 0 {
            self.record_top_stream();
        }
    }

    fn replica_event(&mut self, i: usize, ev: REvent) {
        let now = Millis(self.now);
        self.nodes[i].replica.as_mut().expect("a replica node").handle(now, ev);
    }

    fn link_of_conn(&self, up: usize, conn: ConnId) -> Option<usize> {
        (1..NODES).find(|&d| {
            self.nodes[d]
                .link
                .as_ref()
                .is_some_and(|l| l.master == up && l.conn == conn)
        })
    }

    fn on_master_action(&mut self, i: usize, a: MAction) {
        match a {
            MAction::Send { conn, bytes } | MAction::SendRdb { conn, bytes } => {
                if let Some(d) = self.link_of_conn(i, conn) {
                    let l = self.nodes[d].link.as_mut().expect("link");
                    if !l.closing {
                        l.m2r.extend(bytes.iter());
                    }
                }
            }
            MAction::SendBulk { conn, bytes } => {
                if let Some(d) = self.link_of_conn(i, conn) {
                    let l = self.nodes[d].link.as_mut().expect("link");
                    l.m2r.extend(bytes.iter());
                }
                self.master_event(i, MEvent::BulkSent { conn });
            }
            MAction::Close { conn, .. } => {
                if let Some(d) = self.link_of_conn(i, conn) {
                    self.nodes[d].link.as_mut().expect("link").closing = true;
                }
            }
            MAction::StartSnapshot {
                id,
                replid,
                offset,
                stream_db,
                ..
            } => {
                let node = &mut self.nodes[i];
                assert_eq!(offset, node.master.master_repl_offset(), "R28");
                // R66: a replica's snapshot names the db its master link has selected (it
                // proxies and never emits SELECT itself) — the *cached* master's when the
                // link is down, since a delayed BGSAVE can start then.
                let link = node.replica.as_ref().and_then(|r| r.master().or(r.cached()));
                let stream_db = match link {
                    Some(m) => m.db.map_or(stream_db, |d| d as u32),
                    None => stream_db,
                };
                let payload = dataset_rdb(&node.data, replid, offset, stream_db);
                node.snapshot_data.insert(id, (offset, node.data.clone()));
                node.snapshots.push_back((id, Bytes::from(payload)));
            }
            MAction::Observe(master::Observation::Psync {
                decision,
                continued,
                offset,
                ..
            }) => {
                *self.decisions.entry(decision.label()).or_default() += 1;
                if decision == master::PsyncDecision::Continue {
                    self.partial_syncs += 1;
                    if i == 0 {
                        // I4: exactly the stream from the requested offset on.
                        let from = usize::try_from(offset - 1).expect("offset >= 1");
                        let bytes = continued.expect("continue carries bytes");
                        assert_eq!(&bytes[..], &self.stream[from..], "I4 at {offset}");
                    }
                } else {
                    self.full_syncs += 1;
                }
            }
            MAction::Observe(_) => {}
        }
    }

    fn on_replica_action(&mut self, i: usize, a: RAction) {
        match a {
            RAction::Connect { link } => self.connect(i, link),
            RAction::Send { link, bytes } => self.replica_send(i, link, &bytes),
            RAction::Close { link, .. } => {
                if self.nodes[i].link.as_ref().is_some_and(|l| l.tag == link) {
                    let l = self.nodes[i].link.take().expect("link");
                    self.master_event(l.master, MEvent::Closed { conn: l.conn });
                }
            }
            RAction::FullSyncLoaded { replid, offset, rdb } => {
                // I7: the RDB is the dataset of the snapshot taken at `offset`.
                assert_eq!(rdb.repl_info().map(|r| r.repl_offset), Some(offset), "R65");
                let node = &mut self.nodes[i];
                node.data = rdb_data(&rdb);
                node.master.reset_to_full_sync(replid, offset);
            }
            RAction::AdoptReplid { replid } => self.nodes[i].master.adopt_replid(replid),
            RAction::Apply { db, argv } => apply(&mut self.nodes[i].data, db, &argv),
            RAction::Proxy { bytes } => {
                let m = &self.nodes[i].master;
                let from = m.master_repl_offset();
                let end = from as usize + bytes.len();
                assert!(
                    end <= self.stream.len(),
                    "I1: node {i} applied up to {end}, top master is at {}",
                    self.stream.len()
                );
                assert_eq!(
                    &bytes[..],
                    &self.stream[from as usize..end],
                    "I3/I4: node {i} applied bytes at offset {}",
                    from + 1
                );
                self.master_event(i, MEvent::Proxy { bytes });
            }
            RAction::Observe(_) => {}
        }
    }

    fn connect(&mut self, i: usize, tag: u64) {
        if std::mem::take(&mut self.nodes[i].fail_next_connect) {
            self.replica_event(i, REvent::ConnectFailed { link: tag });
            return;
        }
        if let Some(old) = self.nodes[i].link.take() {
            self.master_event(old.master, MEvent::Closed { conn: old.conn });
        }
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.nodes[i].link = Some(Link {
            tag,
            master: self.nodes[i].upstream,
            conn,
            m2r: VecDeque::new(),
            r2m: Vec::new(),
            closing: false,
            last_ack: None,
        });
        self.replica_event(i, REvent::Connected { link: tag });
    }

    /// Replica → master bytes arrive at once; PING is answered by the node.
    fn replica_send(&mut self, i: usize, tag: u64, bytes: &[u8]) {
        let Some(l) = self.nodes[i].link.as_mut().filter(|l| l.tag == tag) else {
            return; // written on a link that is gone
        };
        l.r2m.extend_from_slice(bytes);
        let (conn, up) = (l.conn, l.master);
        let mut reqs = Vec::new();
        while let Some((req, n)) = Request::decode(&l.r2m).expect("replica writes valid RESP") {
            l.r2m.drain(..n);
            reqs.push(req);
        }
        for req in reqs {
            let name = req.argv[0].to_ascii_lowercase();
            if name == b"ping" {
                let l = self.nodes[i].link.as_mut().expect("link");
                l.m2r.extend(b"+PONG\r\n".iter());
                continue;
            }
            if name == b"replconf" && req.argv[1].eq_ignore_ascii_case(b"ack") {
                let v: u64 = std::str::from_utf8(&req.argv[2])
                    .expect("ascii")
                    .parse()
                    .expect("ack offset");
                let up_off = self.nodes[up].master.master_repl_offset();
                let l = self.nodes[i].link.as_mut().expect("link");
                assert!(l.last_ack.is_none_or(|a| a <= v), "I11: ACK went back");
                assert!(v <= up_off, "I11: ACK {v} > master offset {up_off}");
                l.last_ack = Some(v);
            }
            self.master_event(up, MEvent::Command { conn, argv: req.argv });
        }
    }

    // ----- operations ------------------------------------------------------------------

    fn deliver(&mut self, i: usize, n: usize) {
        let Some(l) = self.nodes[i].link.as_mut() else {
            return;
        };
        let n = n.min(l.m2r.len());
        let chunk: Vec<u8> = l.m2r.drain(..n).collect();
        let (tag, done) = (l.tag, l.closing && l.m2r.is_empty());
        if !chunk.is_empty() {
            self.replica_event(
                i,
                REvent::Data {
                    link: tag,
                    bytes: Bytes::from(chunk),
                },
            );
        }
        if done && self.nodes[i].link.as_ref().is_some_and(|l| l.tag == tag) {
            self.nodes[i].link = None;
            self.replica_event(i, REvent::Closed { link: tag });
        }
    }

    // Over ~70 lines on purpose: one arm per random operation of the pump.
    fn apply_op(&mut self, op: &Op) {
        match op {
            Op::Write { db, key, val } => {
                let key = Bytes::from(format!("k{key}"));
                let argv = match val {
                    Some(n) => {
                        let v = Bytes::from(vec![b'a' + n % 26; usize::from(*n % 40)]);
                        self.nodes[0].data.insert((*db, key.clone()), v.clone());
                        vec![Bytes::from_static(b"SET"), key, v]
                    }
                    None => {
                        if self.nodes[0].data.remove(&(*db, key.clone())).is_none() {
                            return; // nothing deleted, nothing propagated
                        }
                        vec![Bytes::from_static(b"DEL"), key]
                    }
                };
                self.master_event(0, MEvent::Propagate { db: *db, argv });
            }
            Op::Multi { db, n } => {
                let one = |w: &mut World, argv: Vec<Bytes>| {
                    w.master_event(0, MEvent::Propagate { db: *db, argv });
                };
                one(self, vec![Bytes::from_static(b"MULTI")]);
                for k in 0..*n {
                    let key = Bytes::from(format!("t{k}"));
                    let val = Bytes::from(format!("v{}", self.now + u64::from(k)));
                    self.nodes[0].data.insert((*db, key.clone()), val.clone());
                    one(self, vec![Bytes::from_static(b"SET"), key, val]);
                }
                one(self, vec![Bytes::from_static(b"EXEC")]);
            }
            Op::Deliver { node, n } => self.deliver(*node, usize::from(*n)),
            Op::DeliverAll => {
                for i in 1..NODES {
                    self.deliver(i, usize::MAX);
                }
            }
            Op::Tick => {
                self.now += 1_000;
                for i in 0..NODES {
                    self.master_event(i, MEvent::Tick);
                    if i > 0 {
                        self.replica_event(i, REvent::Tick);
                    }
                }
            }
            Op::Cut { node } => {
                if let Some(l) = self.nodes[*node].link.take() {
                    self.replica_event(*node, REvent::Closed { link: l.tag });
                    self.master_event(l.master, MEvent::Closed { conn: l.conn });
                }
            }
            Op::FailConnect { node } => self.nodes[*node].fail_next_connect = true,
            Op::Snapshot { node, fail } => {
                if let Some((id, payload)) = self.nodes[*node].snapshots.pop_front() {
                    let ev = if *fail {
                        MEvent::SnapshotFailed { id }
                    } else {
                        MEvent::SnapshotReady { id, payload }
                    };
                    self.master_event(*node, ev);
                }
            }
            Op::Repoint => {
                let n = &mut self.nodes[NODES - 1];
                n.upstream = if n.upstream == 0 { NODES - 2 } else { 0 };
                let now = Millis(self.now);
                n.replica.as_mut().expect("replica").replicaof(now, None);
            }
            Op::Wait => {
                let offset = self.nodes[0].master.master_repl_offset();
                self.master_event(
                    0,
                    MEvent::Wait {
                        conn: CLIENT,
                        numreplicas: 1,
                        timeout_ms: 3_000,
                        offset,
                    },
                );
            }
        }
        self.settle();
        self.check();
    }

    /// The invariants that hold after every step.
    fn check(&self) {
        for i in 1..NODES {
            let r = self.nodes[i].replica.as_ref().expect("replica");
            let own = &self.nodes[i].master;
            let up = &self.nodes[self.nodes[i].upstream].master;
            let link = r.master().or(r.cached()).copied();
            if let Some(m) = link {
                // R6/R18: the replica's own master core is at its applied offset.
                assert_eq!(own.master_repl_offset(), m.reploff, "R6 node {i}");
                assert_eq!(own.replid(), m.replid, "R18 node {i}: same history id");
                // I1 for a live link (a cached master repointed at a lagging sibling may be
                // ahead of it until its PSYNC is refused, R23.4, and it full-syncs).
                let live = r.master().is_some() && link_master(&self.nodes[i]) == Some(self.nodes[i].upstream);
                if live && m.replid == up.replid() {
                    assert!(
                        m.reploff <= up.master_repl_offset(),
                        "I1 node {i}: {} > {}",
                        m.reploff,
                        up.master_repl_offset()
                    );
                }
            }
            if r.is_connected() {
                assert!(r.master().is_some(), "CONNECTED has a master client");
            }
        }
        for i in 0..NODES {
            if let Some(b) = self.nodes[i].master.backlog() {
                assert_eq!(
                    b.first_byte_offset() + b.histlen(),
                    self.nodes[i].master.master_repl_offset() + 1,
                    "I5 node {i}"
                );
            }
        }
    }

    fn quiescent(&self) -> bool {
        let top = self.nodes[0].master.master_repl_offset();
        (1..NODES).all(|i| {
            let n = &self.nodes[i];
            let r = n.replica.as_ref().expect("replica");
            r.is_connected()
                && r.master().map(|m| m.reploff) == Some(top)
                && n.link.as_ref().is_some_and(|l| l.m2r.is_empty())
        }) && self.nodes.iter().all(|n| n.snapshots.is_empty())
    }

    /// Faults off: deliver everything, finish snapshots, tick until the chain converges.
    fn converge(&mut self) -> usize {
        for round in 0..300 {
            loop {
                let mut moved = false;
                for i in 0..NODES {
                    if !self.nodes[i].snapshots.is_empty() {
                        self.apply_op(&Op::Snapshot { node: i, fail: false });
                        moved = true;
                    }
                    if i > 0
                        && self.nodes[i]
                            .link
                            .as_ref()
                            .is_some_and(|l| !l.m2r.is_empty() || l.closing)
                    {
                        self.apply_op(&Op::Deliver { node: i, n: u16::MAX });
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
            if self.quiescent() {
                return round;
            }
            self.apply_op(&Op::Tick);
        }
        panic!(
            "no convergence: states {:?}, offsets {:?}, top {}",
            (1..NODES)
                .map(|i| self.nodes[i].replica.as_ref().map(Replica::state))
                .collect::<Vec<_>>(),
            (1..NODES)
                .map(|i| self.nodes[i]
                    .replica
                    .as_ref()
                    .and_then(|r| r.master().map(|m| m.reploff)))
                .collect::<Vec<_>>(),
            self.nodes[0].master.master_repl_offset()
        );
    }

    fn check_converged(&self) {
        let top = &self.nodes[0];
        for i in 1..NODES {
            let n = &self.nodes[i];
            let r = n.replica.as_ref().expect("replica");
            assert_eq!(r.state(), ReplState::Connected);
            let m = r.master().expect("master");
            assert_eq!(
                m.reploff,
                top.master.master_repl_offset(),
                "node {i}: replica.master().reploff == master.master_repl_offset()"
            );
            assert_eq!(m.replid, top.master.replid(), "I2 node {i}: replid");
            assert_eq!(n.master.master_repl_offset(), m.reploff, "I2 node {i}: offset");
            assert_eq!(n.master.replid(), top.master.replid(), "I2 node {i}: own replid");
            assert_eq!(n.data, top.data, "I2 node {i}: dataset");
        }
    }
}

/// The master node the replica's current link goes to.
fn link_master(n: &Node) -> Option<usize> {
    n.link.as_ref().map(|l| l.master)
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (0usize..3, 0u8..6, prop::option::weighted(0.8, any::<u8>()))
            .prop_map(|(db, key, val)| Op::Write { db, key, val }),
        4 => (0usize..3, 1u8..4).prop_map(|(db, n)| Op::Multi { db, n }),
        30 => (1usize..NODES, 1u16..200).prop_map(|(node, n)| Op::Deliver { node, n }),
        10 => Just(Op::DeliverAll),
        8 => Just(Op::Tick),
        4 => (1usize..NODES).prop_map(|node| Op::Cut { node }),
        2 => (1usize..NODES).prop_map(|node| Op::FailConnect { node }),
        14 => (0usize..NODES, prop::bool::weighted(0.05))
            .prop_map(|(node, fail)| Op::Snapshot { node, fail }),
        3 => Just(Op::Wait),
        2 => Just(Op::Repoint),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// I1/I3/I4/I7/I10/I11 at every step, then I2 convergence, on a three-node chain.
    #[test]
    fn chain_offsets_never_overtake_and_converge(
        seed in any::<u64>(),
        diskless in any::<bool>(),
        delay_s in 0u64..2,
        backlog in prop_oneof![128u64..512, 2048u64..8192],
        ops in prop::collection::vec(arb_op(), 1..160),
    ) {
        let mut w = World::new(seed, diskless, delay_s, backlog);
        for op in &ops {
            w.apply_op(op);
        }
        w.converge();
        w.check_converged();
        // One more round of writes must reach everyone without a new sync.
        let (full, partial) = (w.full_syncs, w.partial_syncs);
        w.apply_op(&Op::Write { db: 1, key: 9, val: Some(3) });
        w.converge();
        w.check_converged();
        prop_assert_eq!((w.full_syncs, w.partial_syncs), (full, partial));
    }
}

/// The harness reaches the interesting regimes: partial resyncs after cuts, full syncs
/// after backlog overruns (guards against a pump that never exercises PSYNC).
#[test]
fn chain_pump_exercises_partial_and_full_resyncs() {
    let mut w = World::new(5, false, 0, 256);
    w.converge();
    w.check_converged();
    let full0 = w.full_syncs;
    // A cut with a small gap: both ends PSYNC successfully.
    for k in 0..3u8 {
        w.apply_op(&Op::Write {
            db: 0,
            key: k,
            val: Some(5),
        });
    }
    w.apply_op(&Op::Cut { node: 1 });
    w.apply_op(&Op::Write {
        db: 0,
        key: 4,
        val: Some(7),
    });
    w.converge();
    w.check_converged();
    assert!(w.partial_syncs >= 1, "partial after a short cut");
    assert_eq!(w.full_syncs, full0, "no full sync after a short cut (B3: R2 stays)");
    // A cut with more than the backlog written meanwhile: full sync of node 1, and node 2
    // is dropped by node 1 (R50, I14) and resyncs.
    w.apply_op(&Op::Cut { node: 1 });
    for k in 0..40u8 {
        w.apply_op(&Op::Write {
            db: 2,
            key: k % 6,
            val: Some(39),
        });
    }
    w.converge();
    w.check_converged();
    assert!(w.full_syncs > full0, "overrun forces a full sync");
}

/// Random runs (the proptest's generator, 32 deterministic cases) reach both partial and
/// full resyncs, so the invariants above are exercised across PSYNC, not only full syncs.
#[test]
fn chain_pump_random_runs_reach_partial_and_full_resyncs() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut all: BTreeMap<&'static str, u64> = BTreeMap::new();
    for s in 0..32u64 {
        let ops = prop::collection::vec(arb_op(), 80..160)
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let backlog = if s % 2 == 0 { 300 } else { 4000 };
        let mut w = World::new(s, s % 2 == 0, s % 2, backlog);
        for op in &ops {
            w.apply_op(op);
        }
        w.converge();
        w.check_converged();
        for (k, v) in w.decisions {
            *all.entry(k).or_default() += v;
        }
    }
    assert!(all.get("continue").copied().unwrap_or(0) >= 8, "{all:?}");
    assert!(all.get("full:before-backlog").copied().unwrap_or(0) >= 3, "{all:?}");
}

/// R66 regression (found by the proptest above): with a diskless delay, R1's BGSAVE for
/// its sub-replica R2 starts from cron *after* R1's own link was cut, so the snapshot must
/// name the cached master's db; naming `slaveseldb` (always -1 → 0 on a replica) made R2
/// apply the next commands in db 0 instead of db 2.
#[test]
fn sub_replica_snapshot_started_while_link_down_names_cached_db() {
    let ops = [
        Op::DeliverAll,
        Op::Deliver { node: 1, n: 5 },
        Op::Deliver { node: 2, n: 5 },
        Op::Write {
            db: 0,
            key: 0,
            val: Some(1),
        },
        Op::Deliver { node: 2, n: 89 },
        Op::DeliverAll,
        Op::Tick,
        Op::Deliver { node: 2, n: 61 },
        Op::Snapshot { node: 0, fail: false },
        Op::Write {
            db: 2,
            key: 3,
            val: Some(6),
        },
        Op::Deliver { node: 2, n: 18 },
        Op::DeliverAll,
        Op::Deliver { node: 1, n: 500 },
        Op::Cut { node: 1 },
        Op::Tick,
        Op::Write {
            db: 2,
            key: 1,
            val: Some(219),
        },
    ];
    let mut w = World::new(0, true, 1, 2048);
    for op in &ops {
        w.apply_op(op);
    }
    w.converge();
    w.check_converged();
}

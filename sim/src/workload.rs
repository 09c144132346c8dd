//! Workloads: writer clients issuing keyspace commands over the simulated network (across
//! dbs, with expiries, optional WAIT) to whichever node is the master now, and readers on
//! replicas.
//!
//! Owns: client traffic and its own RNG stream. Must never: decide anything from state
//! outside the seed and the replies it reads.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use proto::{encode_command, Frame};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::TcpStream;

use crate::oracle::clients::ReadRecord;
use crate::world::{derive_seed, PORT};

/// Workload parameters.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WorkloadSpec {
    /// Writer clients.
    pub writers: usize,
    /// Reader clients.
    pub readers: usize,
    /// Mean ms between a writer's commands.
    pub mean_gap_ms: u64,
    /// Keys per db.
    pub keys: usize,
    /// Dbs written (from db 0).
    pub dbs: usize,
    /// Probability that a write is followed by `WAIT 1 <ms>`.
    pub wait_prob: f64,
    /// Probability that a SET carries an expiry.
    pub expire_prob: f64,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            writers: 1,
            readers: 1,
            mean_gap_ms: 20,
            keys: 24,
            dbs: 3,
            wait_prob: 0.05,
            expire_prob: 0.2,
        }
    }
}

/// What the harness and the clients share.
#[derive(Debug, Default)]
pub struct Shared {
    /// Index of the node writers should talk to (moved by failovers).
    pub current_master: Cell<usize>,
    /// Set when the fault phase ends and writes must stop.
    pub stop: Cell<bool>,
    /// Writers pause until this simulated time (ms since start).
    pub paused_until_ms: Cell<u64>,
    /// Node names, by index.
    pub names: RefCell<Vec<String>>,
    /// Client-side counts.
    pub stats: RefCell<Stats>,
    /// `requirepass` of the nodes, if any: clients AUTH first.
    pub auth: RefCell<Option<Bytes>>,
    /// Every read's history entry (Jepsen-style), judged by the oracles at the end.
    pub reads: RefCell<Vec<ReadRecord>>,
}

fn sim_ms() -> u64 {
    turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
}

/// Connects and authenticates (when the nodes require a password).
async fn connect(shared: &Shared, name: &str, buf: &mut Vec<u8>) -> Option<TcpStream> {
    let conn = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect((name, PORT))).await;
    let mut s = conn.ok()?.ok()?;
    let auth = shared.auth.borrow().clone();
    if let Some(pass) = auth {
        match roundtrip(&mut s, &encode_command(&[&b"AUTH"[..], &pass]), buf).await? {
            Frame::Simple(_) => {}
            _ => return None,
        }
    }
    Some(s)
}

/// Client-side counts.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Commands sent.
    pub commands: u64,
    /// Writes acknowledged OK.
    pub ok_writes: u64,
    /// Error replies.
    pub errors: u64,
    /// Reconnects.
    pub reconnects: u64,
    /// WAITs sent.
    pub waits: u64,
    /// Reads sent.
    pub reads: u64,
    /// Writes that set, change or drop a TTL (every R72 form; issue 13d coverage).
    pub expiry_writes: u64,
}

impl Stats {
    /// Adds another run's counts (sweep summaries).
    pub fn merge(&mut self, o: &Stats) {
        self.commands += o.commands;
        self.ok_writes += o.ok_writes;
        self.errors += o.errors;
        self.reconnects += o.reconnects;
        self.waits += o.waits;
        self.reads += o.reads;
        self.expiry_writes += o.expiry_writes;
    }
}

async fn roundtrip(s: &mut TcpStream, cmd: &[u8], buf: &mut Vec<u8>) -> Option<Frame> {
    s.write_all(cmd).await.ok()?;
    loop {
        if let Ok(Some((f, n))) = Frame::decode(buf) {
            buf.drain(..n);
            return Some(f);
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Unix ms on the simulated clock (absolute expiry forms need it).
fn unix_ms() -> u64 {
    crate::world::EPOCH_MS + sim_ms()
}

/// An expiry for SET, in every form a client may send (R72: the master must propagate
/// each as `PXAT <abs ms>`, or keep the TTL for KEEPTTL).
fn set_expiry(rng: &mut ChaCha8Rng) -> Vec<Bytes> {
    let b = |s: &str| Bytes::from(s.to_string());
    let now = unix_ms();
    match rng.gen_range(0..5) {
        0 => vec![b("EX"), b(&rng.gen_range(1..20u32).to_string())],
        1 => vec![b("PX"), b(&rng.gen_range(100..20_000u32).to_string())],
        2 => vec![b("EXAT"), b(&((now + rng.gen_range(1_000..20_000)) / 1000).to_string())],
        3 => vec![b("PXAT"), b(&(now + rng.gen_range(100..20_000)).to_string())],
        _ => vec![b("KEEPTTL")],
    }
}

/// A TTL command in every form (EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT), sometimes with a
/// time already past (the master must then delete the key and propagate DEL, R72).
fn expire_command(rng: &mut ChaCha8Rng, key: Bytes) -> Vec<Bytes> {
    let b = |s: &str| Bytes::from(s.to_string());
    let now = unix_ms();
    let past = rng.gen_bool(0.05);
    let ms = if past { 0 } else { rng.gen_range(100..15_000u64) };
    match rng.gen_range(0..4) {
        0 => vec![
            b("EXPIRE"),
            key,
            b(&if past { "-1".into() } else { (ms / 1000 + 1).to_string() }),
        ],
        1 => vec![b("PEXPIRE"), key, b(&if past { "-5".into() } else { ms.to_string() })],
        2 => vec![
            b("EXPIREAT"),
            key,
            b(&((now + ms) / 1000).saturating_sub(u64::from(past) * 10).to_string()),
        ],
        _ => vec![
            b("PEXPIREAT"),
            key,
            b(&(now + ms).saturating_sub(u64::from(past) * 10_000).to_string()),
        ],
    }
}

fn write_command(rng: &mut ChaCha8Rng, spec: &WorkloadSpec, seq: u64) -> Vec<Bytes> {
    let key = Bytes::from(format!("k{}", rng.gen_range(0..spec.keys)));
    let val = Bytes::from(format!("v{seq}"));
    let b = |s: &str| Bytes::from(s.to_string());
    match rng.gen_range(0..10) {
        0..=3 => {
            let mut argv = vec![b("SET"), key, val];
            if rng.gen_bool(spec.expire_prob) {
                argv.extend(set_expiry(rng));
            }
            argv
        }
        4 | 5 => vec![b("INCR"), Bytes::from(format!("c{}", rng.gen_range(0..spec.keys)))],
        6 => vec![b("DEL"), key],
        7 => vec![b("APPEND"), key, val],
        // No expiries at all when expire_prob is 0 (scenarios that need a quiet stream).
        8 if spec.expire_prob > 0.0 => expire_command(rng, key),
        _ => vec![b("PERSIST"), key],
    }
}

/// A writer: follows `current_master`, reconnecting on errors and after failovers.
pub async fn writer(shared: Rc<Shared>, spec: WorkloadSpec, seed: u64, idx: usize) -> turmoil::Result {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &format!("writer-{idx}")));
    let mut seq = 0u64;
    while !shared.stop.get() {
        let target = shared.current_master.get();
        let name = shared.names.borrow()[target].clone();
        let mut buf = Vec::new();
        let Some(mut s) = connect(&shared, &name, &mut buf).await else {
            shared.stats.borrow_mut().reconnects += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        while !shared.stop.get() && shared.current_master.get() == target {
            let now_ms = turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64;
            if now_ms < shared.paused_until_ms.get() {
                tokio::time::sleep(Duration::from_millis(shared.paused_until_ms.get() - now_ms)).await;
                continue;
            }
            if rng.gen_bool(0.1) {
                let db = rng.gen_range(0..spec.dbs.max(1));
                if roundtrip(&mut s, &encode_command(&["SELECT", &db.to_string()]), &mut buf)
                    .await
                    .is_none()
                {
                    break;
                }
            }
            seq += 1;
            let argv = write_command(&mut rng, &spec, seq);
            let ttl = argv.len() > 3
                || argv[0].ends_with(b"EXPIRE")
                || argv[0].ends_with(b"EXPIREAT")
                || &argv[0][..] == b"PERSIST";
            {
                let mut stats = shared.stats.borrow_mut();
                stats.commands += 1;
                stats.expiry_writes += u64::from(ttl);
            }
            let Some(reply) = roundtrip(&mut s, &encode_command(&argv), &mut buf).await else {
                break;
            };
            match reply {
                Frame::Error(_) => shared.stats.borrow_mut().errors += 1,
                _ => shared.stats.borrow_mut().ok_writes += 1,
            }
            if rng.gen_bool(spec.wait_prob) {
                let t = rng.gen_range(10..300u32).to_string();
                shared.stats.borrow_mut().waits += 1;
                if roundtrip(&mut s, &encode_command(&["WAIT", "1", &t]), &mut buf)
                    .await
                    .is_none()
                {
                    break;
                }
            }
            let gap = rng.gen_range(0..spec.mean_gap_ms * 2 + 1);
            tokio::time::sleep(Duration::from_millis(gap)).await;
        }
        shared.stats.borrow_mut().reconnects += 1;
    }
    Ok(())
}

/// A reader: GETs random keys from a random node (replicas serve reads).
pub async fn reader(shared: Rc<Shared>, spec: WorkloadSpec, seed: u64, idx: usize) -> turmoil::Result {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &format!("reader-{idx}")));
    while !shared.stop.get() {
        let n = shared.names.borrow().len();
        let node = rng.gen_range(0..n);
        let name = shared.names.borrow()[node].clone();
        let mut buf = Vec::new();
        let Some(mut s) = connect(&shared, &name, &mut buf).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        // Each connection reads one db (writers spread over `dbs`).
        let db = rng.gen_range(0..spec.dbs.max(1));
        if db != 0 {
            let select = encode_command(&["SELECT", &db.to_string()]);
            if !matches!(roundtrip(&mut s, &select, &mut buf).await, Some(Frame::Simple(_))) {
                continue;
            }
        }
        for _ in 0..rng.gen_range(5..50) {
            if shared.stop.get() {
                break;
            }
            let prefix = if rng.gen_bool(0.25) { "c" } else { "k" };
            let key = format!("{prefix}{}", rng.gen_range(0..spec.keys));
            let sent_ms = sim_ms();
            let Some(reply) = roundtrip(&mut s, &encode_command(&["GET", &key]), &mut buf).await else {
                break;
            };
            let value = match reply {
                Frame::Bulk(b) => Some(Some(b)),
                Frame::Null => Some(None),
                _ => None, // an error (NOAUTH, LOADING…) says nothing about the data
            };
            if let Some(value) = value {
                shared.reads.borrow_mut().push(ReadRecord {
                    node,
                    db,
                    key: Bytes::from(key),
                    sent_ms,
                    recv_ms: sim_ms(),
                    value,
                });
            }
            shared.stats.borrow_mut().reads += 1;
            tokio::time::sleep(Duration::from_millis(rng.gen_range(10..200))).await;
        }
    }
    Ok(())
}

//! Interop: `node::keyspace::Keyspace` answers a fixed corpus of ~190 commands
//! byte-for-byte like a real redis-server 7.0, leaves the same `DEBUG DIGEST`, and
//! propagates the same replication stream (read by a fake replica attached with PSYNC).
//!
//! Commands the keyspace does not have are compared too: they must get redis's exact
//! unknown-command error (`keyspace::unknown_command`). The corpus of the newer string
//! commands (MSET … SCAN, TIME) is in `keyspace_replies/more.rs`.
//!
//! Needs `redis-server` on PATH. Without it the test prints SKIPPED and passes, unless
//! `CI=true`, where a missing server is a failure.
//!
//! (Over ~500 lines on purpose: one test against one server; its corpus and the comparison
//! rules it needs are read together, and the newer commands' corpus is already apart.)

#[path = "keyspace_replies/more.rs"]
mod more;

use bytes::Bytes;
use node::keyspace::{unknown_command, Keyspace, Origin, Propagated, Role};
use psync_tests::fake_replica::{master_repl_offset, FakeReplica};
use psync_tests::interop::{bulks, require_redis_server, value_end, Conn, Server, TempDir};
use std::path::Path;

/// Our side's clock. Fixed so the test itself is deterministic; the corpus avoids replies
/// that depend on the absolute time (only relative TTLs, and absolute times far in the
/// past or in 2100).
const NOW_MS: u64 = 1_700_000_000_000;

/// Both sides run with `proto-max-bulk-len 1mb` so the APPEND limit is cheap to hit.
const MAX_BULK_LEN: u64 = 1024 * 1024;

/// How the two replies to one command are compared.
#[derive(Clone, Copy)]
pub(crate) enum Check {
    /// Byte-identical.
    Exact,
    /// An array whose order is redis' dict order: compared after sorting its elements.
    SortedArray,
    /// Integer replies that both lie in `lo..=hi` (PTTL depends on sub-second timing).
    IntRange(i64, i64),
    /// A SCAN that completes in one call: the same cursor (`0`) and the same keys, whose
    /// order is each side's own.
    ScanAll,
    /// TIME: ours is exactly [`NOW_MS`]; redis's is its clock, two bulks of digits.
    Time,
}

pub(crate) struct Step {
    argv: Vec<Vec<u8>>,
    check: Check,
}

pub(crate) fn step(args: &[&str], check: Check) -> Step {
    Step {
        argv: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        check,
    }
}

pub(crate) fn exact(args: &[&str]) -> Step {
    step(args, Check::Exact)
}

/// The redis-server of this test and its scratch directory (removed after the server).
struct RedisServer {
    server: Server,
    _dir: TempDir,
}

impl std::ops::Deref for RedisServer {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

fn start_redis(binary: &Path) -> RedisServer {
    let dir = TempDir::new("keyspace-replies");
    let server = Server::redis(binary, "redis-keyspace-replies", &dir.path, &[]);
    RedisServer { server, _dir: dir }
}

/// Redis' own clock in ms (TIME), to line its absolute expiry times up with ours.
fn redis_time_ms(conn: &mut Conn) -> i64 {
    let parts = bulks(&conn.call_str(&["TIME"]));
    let secs: i64 = std::str::from_utf8(&parts[0]).expect("ascii").parse().expect("secs");
    let micros: i64 = std::str::from_utf8(&parts[1]).expect("ascii").parse().expect("us");
    secs * 1000 + micros / 1000
}

fn int_reply(reply: &[u8]) -> i64 {
    assert_eq!(reply.first(), Some(&b':'), "{:?}", String::from_utf8_lossy(reply));
    std::str::from_utf8(&reply[1..reply.len() - 2])
        .expect("ascii")
        .parse()
        .expect("integer")
}

fn sorted_array(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut items = bulks(reply);
    items.sort();
    items
}

fn compare(step: &Step, ours: &[u8], theirs: &[u8]) {
    let show = |r: &[u8]| String::from_utf8_lossy(r).into_owned();
    let argv: Vec<String> = step.argv.iter().map(|a| show(a)).collect();
    match step.check {
        Check::Exact => assert_eq!(show(ours), show(theirs), "reply to {argv:?}"),
        Check::SortedArray => assert_eq!(sorted_array(ours), sorted_array(theirs), "reply to {argv:?}"),
        Check::IntRange(lo, hi) => {
            for r in [ours, theirs] {
                let n = int_reply(r);
                assert!((lo..=hi).contains(&n), "{argv:?}: {n} outside {lo}..={hi}");
            }
        }
        Check::ScanAll => assert_eq!(scan_reply(ours), scan_reply(theirs), "reply to {argv:?}"),
        Check::Time => {
            let want = format!("*2\r\n$10\r\n{}\r\n$1\r\n0\r\n", NOW_MS / 1000);
            assert_eq!(show(ours), want, "our TIME");
            let parts = bulks(theirs);
            assert_eq!(parts.len(), 2, "redis TIME {}", show(theirs));
            assert!(parts.iter().all(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit)));
        }
    }
}

/// A SCAN reply as (cursor, sorted keys).
fn scan_reply(reply: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let show = String::from_utf8_lossy(reply).into_owned();
    assert!(reply.starts_with(b"*2\r\n"), "not a SCAN reply: {show:?}");
    let cursor_end = value_end(reply, 4).expect("cursor");
    let cursor = bulks(&[b"*1\r\n", &reply[4..cursor_end]].concat()).remove(0);
    (cursor, sorted_array(&reply[cursor_end..]))
}

/// Are two propagated arguments equal, allowing absolute times that were computed from
/// each side's own clock (`SET .. PXAT`, `PEXPIREAT`) to differ by the clock offset?
fn same_arg(ours: &[u8], theirs: &[u8], redis_now_ms: i64) -> bool {
    if ours == theirs {
        return true;
    }
    let parse = |a: &[u8]| std::str::from_utf8(a).ok()?.parse::<i64>().ok();
    match (parse(ours), parse(theirs)) {
        (Some(o), Some(t)) => {
            let skew = (o - NOW_MS as i64) - (t - redis_now_ms);
            skew.abs() < 10_000
        }
        _ => false,
    }
}

#[test]
fn keyspace_replies_match_redis_server() {
    let Some(binary) = require_redis_server("keyspace_replies") else {
        return;
    };
    let server = start_redis(&binary);
    let mut redis = Conn::connect(server.port).expect("connect to redis");
    // Not part of the corpus: keep expired keys around until touched (our side never runs
    // active expiry here), and lower the string limit on both sides.
    assert_eq!(redis.call_str(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), b"+OK\r\n");
    assert_eq!(
        redis.call_str(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        b"+OK\r\n"
    );
    let mut replica = FakeReplica::attach(server.port);
    let redis_now_ms = redis_time_ms(&mut redis);

    let mut ks = Keyspace::new();
    ks.set_proto_max_bulk_len(MAX_BULK_LEN);
    let mut db = 0usize;
    let mut propagated: Vec<Propagated> = Vec::new();
    let steps = corpus();
    assert!(steps.len() >= 150, "corpus has {} commands", steps.len());
    for step in &steps {
        let theirs = redis.call(&step.argv);
        let argv: Vec<Bytes> = step.argv.iter().map(|a| Bytes::from(a.clone())).collect();
        match ks.execute(&mut db, &argv, NOW_MS, Role::Master, Origin::Client) {
            Some(out) => {
                compare(step, &out.reply, &theirs);
                propagated.extend(out.propagate);
            }
            None => compare(step, &unknown_command(&argv), &theirs),
        }
    }

    // The corpus must leave an interesting dataset: keys with and without TTL, in >1 db.
    let dbs_used = (0..16).filter(|d| ks.dbsize(*d) > 0).count();
    assert!(dbs_used >= 3, "only {dbs_used} non-empty dbs");
    let ttls = (0..16)
        .flat_map(|d| ks.iter_db(d).map(|(_, e)| e.expire_ms.is_some()))
        .collect::<Vec<_>>();
    assert!(ttls.contains(&true) && ttls.contains(&false));
    let digest = redis.call_str(&["DEBUG", "DIGEST"]);
    assert_eq!(String::from_utf8_lossy(&digest), format!("+{}\r\n", ks.digest_hex()));
    assert_ne!(ks.digest(), [0u8; 20]);

    let offset = master_repl_offset(&mut redis);
    let stream = replica.commands_until(offset);
    let ours: Vec<(usize, Vec<Vec<u8>>)> = propagated
        .iter()
        .map(|p| (p.db, p.argv.iter().map(|a| a.to_vec()).collect()))
        .collect();
    // Element by element first: the first difference says more than the counts.
    for (i, (o, t)) in ours.iter().zip(&stream).enumerate() {
        let same =
            o.0 == t.0 && o.1.len() == t.1.len() && o.1.iter().zip(&t.1).all(|(a, b)| same_arg(a, b, redis_now_ms));
        let show = |c: &(usize, Vec<Vec<u8>>)| {
            let words: Vec<String> = c.1.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            format!("db {} {:?}", c.0, words)
        };
        assert!(same, "propagated #{i}: ours {} vs redis {}", show(o), show(t));
    }
    assert_eq!(ours.len(), stream.len(), "number of propagated commands");
    eprintln!(
        "keyspace_replies: {} replies and {} propagated commands matched redis-server; digest {}",
        steps.len(),
        stream.len(),
        ks.digest_hex()
    );
    drop(server);
}

/// The fixed command corpus. Grouped by topic; every command and most error paths.
fn corpus() -> Vec<Step> {
    let mut s = Vec::new();
    s.extend(connection_steps());
    s.extend(set_get_steps());
    s.extend(expired_key_steps());
    s.extend(counter_and_append_steps());
    s.extend(expire_steps());
    s.extend(generic_steps());
    s.extend(more::steps());
    s.extend(multi_db_steps());
    s
}

fn connection_steps() -> Vec<Step> {
    vec![
        exact(&["FLUSHALL"]),
        exact(&["PING"]),
        exact(&["ping", "hello"]),
        exact(&["PING", "a", "b"]),
        exact(&["ECHO"]),
        exact(&["echo", "hi"]),
        exact(&["ECHO", ""]),
        exact(&["ECHO", "a", "b"]),
        exact(&["SELECT", "16"]),
        exact(&["SELECT", "-1"]),
        exact(&["SELECT", "2147483648"]),
        exact(&["SELECT", "x"]),
        exact(&["SELECT"]),
        exact(&["SELECT", "0"]),
    ]
}

fn set_get_steps() -> Vec<Step> {
    vec![
        exact(&["GET"]),
        exact(&["GET", "a", "b"]),
        exact(&["GeT", "missing"]),
        exact(&["SET", "k"]),
        exact(&["SET", "k", "v"]),
        exact(&["GET", "k"]),
        exact(&["SET", "k", "v2", "NX"]),
        exact(&["SET", "k", "v3", "XX"]),
        exact(&["GET", "k"]),
        exact(&["SET", "n", "v", "XX"]),
        exact(&["SET", "k", "v4", "NX", "GET"]),
        exact(&["SET", "k", "v5", "XX", "GET"]),
        exact(&["SET", "nk", "v", "XX", "GET"]),
        exact(&["SET", "k", "v6", "GET", "get"]),
        exact(&["SET", "c", "1", "GET", "NX", "get"]),
        exact(&["set", "c", "2", "keepttl", "get", "XX"]),
        exact(&["SET", "k", "v", "EX"]),
        exact(&["SET", "k", "v", "EX", "0"]),
        exact(&["SET", "k", "v", "EX", "-1"]),
        exact(&["SET", "k", "v", "EX", "abc"]),
        exact(&["SET", "k", "v", "EX", "9223372036854775"]),
        exact(&["SET", "k", "v", "EX", "9223372036854776"]),
        exact(&["SET", "k", "v", "PX", "9223372036854775807"]),
        exact(&["SET", "k", "v", "NX", "XX"]),
        exact(&["SET", "k", "v", "EX", "1", "PX", "1"]),
        exact(&["SET", "k", "v", "KEEPTTL", "EX", "1"]),
        exact(&["SET", "k", "v", "EX", "1", "KEEPTTL"]),
        exact(&["SET", "k", "v", "foo"]),
        exact(&["SET", "k", "v", "px", "01"]),
        exact(&["SET", "k", "v", "nx\0junk"]),
        exact(&["SET", "t", "v", "EX", "100"]),
        exact(&["TTL", "t"]),
        step(&["PTTL", "t"], Check::IntRange(99_000, 100_000)),
        exact(&["SET", "t", "v2", "KEEPTTL"]),
        exact(&["TTL", "t"]),
        exact(&["SET", "t", "v3"]),
        exact(&["TTL", "t"]),
        exact(&["SET", "t", "v4", "EX", "5", "ex", "100", "XX"]),
        exact(&["TTL", "t"]),
        exact(&["SET", "t2", "v", "px", "100000", "GET"]),
        exact(&["TTL", "t2"]),
        exact(&["SET", "f", "v", "PXAT", "4102444800000"]),
        exact(&["SET", "f2", "v", "EXAT", "4102444800", "GET"]),
        exact(&["SET", "f3", "v", "EXAT", "9223372036854775"]),
        exact(&["SET", "", "empty key"]),
    ]
}

fn expired_key_steps() -> Vec<Step> {
    vec![
        exact(&["SET", "past", "v", "EXAT", "1"]),
        exact(&["DBSIZE"]),
        step(&["KEYS", "*"], Check::SortedArray),
        exact(&["EXISTS", "past", "past"]),
        exact(&["DBSIZE"]),
        exact(&["SET", "past2", "v", "PXAT", "1"]),
        exact(&["GET", "past2"]),
        exact(&["SET", "past3", "v", "PXAT", "5"]),
        exact(&["SET", "past3", "new", "NX"]),
        exact(&["GET", "past3"]),
        exact(&["SET", "past4", "41", "PXAT", "5"]),
        exact(&["INCR", "past4"]),
        exact(&["SET", "past5", "a", "EXAT", "1"]),
        exact(&["SET", "past6", "b", "EXAT", "1"]),
        exact(&["DEL", "past5", "past6", "zz"]),
        exact(&["SET", "past7", "a", "EXAT", "1"]),
        exact(&["SET", "past7", "b", "XX"]),
        exact(&["SET", "past8", "a", "EXAT", "1"]),
        exact(&["TTL", "past8"]),
        exact(&["SET", "past9", "a", "EXAT", "1"]),
        exact(&["SET", "live", "kept"]),
        exact(&["DEBUG", "DIGEST"]),
    ]
}

fn counter_and_append_steps() -> Vec<Step> {
    let big = "x".repeat(600_000);
    vec![
        exact(&["INCR", "n1"]),
        exact(&["INCRBY", "n1", "9223372036854775806"]),
        exact(&["INCR", "n1"]),
        exact(&["DECRBY", "n1", "-9223372036854775808"]),
        exact(&["DECRBY", "n1", "9223372036854775808"]),
        exact(&["INCRBY", "n1", "1.5"]),
        exact(&["INCRBY", "n1", "+1"]),
        exact(&["INCRBY", "n1", "01"]),
        exact(&["INCRBY", "n1", " 1"]),
        exact(&["INCRBY", "n1", "-0"]),
        exact(&["DECRBY", "n1", "9223372036854775807"]),
        exact(&["DECR", "n1"]),
        exact(&["DECR", "n1"]),
        exact(&["incrby", "n1", "5"]),
        exact(&["Decr", "n1"]),
        exact(&["INCR", "k"]),
        exact(&["SET", "z", "007"]),
        exact(&["INCR", "z"]),
        exact(&["INCRBY", "z"]),
        exact(&["DECR", "a", "b"]),
        exact(&["SET", "ttlnum", "10", "EX", "100"]),
        exact(&["INCRBY", "ttlnum", "-20"]),
        exact(&["TTL", "ttlnum"]),
        exact(&["APPEND", "a1", "ab"]),
        exact(&["APPEND", "a1", "cde"]),
        exact(&["STRLEN", "a1"]),
        exact(&["STRLEN", "missing"]),
        exact(&["Append", "e", ""]),
        exact(&["EXISTS", "e"]),
        exact(&["STRLEN", "e"]),
        exact(&["APPEND", "e"]),
        exact(&["STRLEN"]),
        exact(&["APPEND", "big", &big]),
        exact(&["APPEND", "big", &big]),
        exact(&["STRLEN", "big"]),
        exact(&["DEL", "big"]),
    ]
}

fn expire_steps() -> Vec<Step> {
    vec![
        exact(&["SET", "ek", "v"]),
        exact(&["EXPIRE", "ek", "100", "XX"]),
        exact(&["EXPIRE", "ek", "100", "GT"]),
        exact(&["EXPIRE", "ek", "100", "LT"]),
        exact(&["TTL", "ek"]),
        exact(&["EXPIRE", "ek", "100", "NX"]),
        exact(&["EXPIRE", "ek", "50", "GT"]),
        exact(&["EXPIRE", "ek", "200", "GT", "XX"]),
        exact(&["TTL", "ek"]),
        exact(&["EXPIRE", "ek", "50", "lt"]),
        exact(&["TTL", "ek"]),
        exact(&["EXPIRE", "ek", "10", "foo"]),
        exact(&["EXPIRE", "ek", "abc", "foo"]),
        exact(&["EXPIRE", "ek", "abc"]),
        exact(&["EXPIRE", "ek", "10", "NX", "XX"]),
        exact(&["EXPIRE", "ek", "10", "gt", "nx"]),
        exact(&["EXPIRE", "ek", "10", "GT", "LT"]),
        exact(&["EXPIRE", "ek", "10", "XX", "GT", "LT"]),
        exact(&["EXPIRE", "ek", "9223372036854776"]),
        exact(&["EXPIRE", "ek", "-9223372036854776"]),
        exact(&["PEXPIRE", "ek", "9223372036854775807"]),
        exact(&["EXPIREAT", "ek", "9223372036854776"]),
        exact(&["PEXPIREAT", "ek", "abc"]),
        exact(&["EXPIRE", "ek", "1", "a\r\nb"]),
        exact(&["EXPIRE", "ek", "1", "bad\r\n"]),
        exact(&["EXPIRE", "ek", "1", "a\0b"]),
        exact(&["EXPIRE", "ek"]),
        exact(&["EXPIRE", "missing", "10"]),
        exact(&["pexpire", "ek", "100000"]),
        exact(&["TTL", "ek"]),
        exact(&["expireat", "ek", "4102444800"]),
        exact(&["pexpireat", "ek", "4102444800000", "XX"]),
        exact(&["PERSIST", "ek"]),
        exact(&["PERSIST", "ek"]),
        exact(&["TTL", "ek"]),
        exact(&["PTTL", "ek"]),
        exact(&["PERSIST", "missing"]),
        exact(&["PERSIST", "a", "b"]),
        exact(&["EXPIRE", "ek", "100", "nx\0junk"]),
        exact(&["TTL", "ek"]),
        exact(&["SET", "q", "1"]),
        exact(&["EXPIRE", "q", "0"]),
        exact(&["EXISTS", "q"]),
        exact(&["SET", "q", "1"]),
        exact(&["PEXPIREAT", "q", "-5"]),
        exact(&["SET", "q", "1"]),
        exact(&["EXPIREAT", "q", "1"]),
        exact(&["SET", "q", "1"]),
        exact(&["pexpire", "q", "-1"]),
        exact(&["DBSIZE"]),
    ]
}

fn generic_steps() -> Vec<Step> {
    let keys = |p: &str| step(&["KEYS", p], Check::SortedArray);
    vec![
        exact(&["DEL"]),
        exact(&["DEL", "zz"]),
        exact(&["SET", "x", "1"]),
        exact(&["del", "x", "zz", "x"]),
        exact(&["EXISTS"]),
        exact(&["SET", "x", "1"]),
        exact(&["EXISTS", "x", "x", "nope"]),
        exact(&["TTL"]),
        exact(&["TTL", "missing"]),
        exact(&["PTTL", "missing"]),
        exact(&["PTTL", "x"]),
        exact(&["DBSIZE", "x"]),
        exact(&["DBSIZE"]),
        exact(&["SET", "hello", "1"]),
        exact(&["SET", "hallo", "1"]),
        exact(&["SET", "hxllo", "1"]),
        exact(&["SET", "a?b", "1"]),
        exact(&["SET", "*", "1"]),
        exact(&["SET", "]", "1"]),
        exact(&["KEYS"]),
        exact(&["KEYS", "*", "x"]),
        keys("h[ae]llo"),
        keys("h?llo"),
        keys("h*"),
        keys("*"),
        keys("**"),
        keys("?"),
        keys("[a-]"),
        keys("[^h]*"),
        keys("\\*"),
        keys("a\\?b"),
        keys("[h"),
        keys("*llo"),
        keys("nomatch*"),
        exact(&["DEBUG"]),
        exact(&["DEBUG", "foo"]),
        exact(&["DEBUG", "DIGEST", "x"]),
        exact(&["debug", "digest"]),
        exact(&["DEBUG", "DIGEST-VALUE", "hello", "missing", "f"]),
        exact(&["DEBUG", &"s".repeat(200)]),
        exact(&["DEBUG", "a\r\nb"]),
        exact(&["DEBUG", "digest\0junk"]),
        keys("*\0*"),
        keys("h\0*"),
        exact(&["FLUSHDB", "x"]),
        exact(&["FLUSHDB", "ASYNC", "x"]),
        exact(&["FLUSHALL", "bogus"]),
        exact(&["FLUSHALL", "SYNC", "x"]),
    ]
}

fn multi_db_steps() -> Vec<Step> {
    vec![
        exact(&["SELECT", "3"]),
        exact(&["SET", "d3", "v"]),
        exact(&["SET", "d3t", "v", "EX", "100"]),
        exact(&["GET", "k"]),
        exact(&["DBSIZE"]),
        exact(&["DEBUG", "DIGEST"]),
        exact(&["SELECT", "7"]),
        exact(&["SET", "d7", "v"]),
        exact(&["FLUSHDB"]),
        exact(&["FLUSHDB"]),
        exact(&["SET", "d7b", "v"]),
        exact(&["flushdb", "async"]),
        exact(&["SET", "d7c", "x"]),
        exact(&["APPEND", "d7c", "yz"]),
        exact(&["SELECT", "9"]),
        exact(&["SET", "tmp", "1"]),
        exact(&["FLUSHDB", "SYNC"]),
        exact(&["SET", "tmp", "2"]),
        exact(&["FLUSHDB", "async\0junk"]),
        exact(&["DBSIZE"]),
        exact(&["SELECT", "0"]),
        exact(&["DEBUG", "DIGEST"]),
        exact(&["DBSIZE"]),
    ]
}

//! CONFIG GET / SET / RESETSTAT with redis 7.0.15's parsing, bounds and error replies
//! (compared live in tests/node_replies.rs), for the parameters a node has.
//!
//! CONFIG SET is all-or-nothing as in redis: every name is checked (unknown, duplicate)
//! before any value, every value is parsed before anything is applied.

use bytes::Bytes;
use master::ObufLimit;
use proto::Frame;
use rand_core::RngCore;

use crate::keyspace::glob::stringmatch;
use crate::node::Node;

/// How a parameter's value is parsed (redis `typeData` and `numericType` flags).
#[derive(Clone, Copy)]
enum Kind {
    /// A memory value (`memtoull()`), then bounds.
    Memory(i64, i64),
    /// An integer (`string2ll()`), then bounds.
    Int(i64, i64),
    Bool,
    Text,
    ObufLimit,
}

/// (name, alias, kind) of every settable parameter; bounds from redis 7.0 src/config.c.
const SETTABLE: &[(&str, Option<&str>, Kind)] = &[
    ("client-output-buffer-limit", None, Kind::ObufLimit),
    ("masterauth", None, Kind::Text),
    ("masteruser", None, Kind::Text),
    (
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        Kind::Int(0, INT_MAX),
    ),
    (
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        Kind::Int(0, INT_MAX),
    ),
    ("repl-backlog-size", None, Kind::Memory(1, i64::MAX)),
    ("repl-backlog-ttl", None, Kind::Int(0, i64::MAX)),
    ("repl-diskless-sync", None, Kind::Bool),
    ("repl-diskless-sync-delay", None, Kind::Int(0, INT_MAX)),
    ("repl-diskless-sync-max-replicas", None, Kind::Int(0, INT_MAX)),
    (
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        Kind::Int(1, INT_MAX),
    ),
    ("repl-timeout", None, Kind::Int(1, INT_MAX)),
    ("requirepass", None, Kind::Text),
];

const INT_MAX: i64 = i32::MAX as i64;

/// What CONFIG GET lists: the settable parameters and two read-only facts.
const GETTABLE: &[&str] = &[
    "appendonly",
    "client-output-buffer-limit",
    "masterauth",
    "masteruser",
    "min-replicas-max-lag",
    "min-replicas-to-write",
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "repl-ping-replica-period",
    "repl-timeout",
    "requirepass",
    "save",
];

/// `memtoull()`: digits then an optional unit (b, k, kb, m, mb, g, gb; any case). No
/// sign; overflow wraps as redis's unchecked multiply does (the bounds check then fails).
pub fn parse_memory(v: &[u8]) -> Option<u64> {
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    let (num, unit) = v.split_at(digits);
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1_000_000,
        b"mb" => 1 << 20,
        b"g" => 1_000_000_000,
        b"gb" => 1 << 30,
        _ => return None,
    };
    // strtoull() saturates at ULLONG_MAX on overflow and memtoull() does not check ERANGE.
    let n = num.iter().fold(0u64, |acc, d| {
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(d - b'0')))
            .unwrap_or(u64::MAX)
    });
    Some(n.wrapping_mul(mul))
}

fn parse_bool(v: &[u8]) -> Option<bool> {
    match v.to_ascii_lowercase().as_slice() {
        b"yes" => Some(true),
        b"no" => Some(false),
        _ => None,
    }
}

/// `<class> <hard> <soft> <seconds>` groups as redis.conf writes them; returns the replica
/// class's limit if given, or redis's reason for refusing the whole line. Only the replica
/// class is enforced (R39); `normal` and `pubsub` are accepted as redis would and not
/// kept, because nothing here serves pub/sub and normal clients are unlimited.
pub fn parse_obuf_limits(v: &[u8]) -> Result<Option<ObufLimit>, &'static str> {
    let words: Vec<&[u8]> = v.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.");
    }
    let mut replica = None;
    for g in words.chunks_exact(4) {
        let class = g[0].to_ascii_lowercase();
        if !matches!(class.as_slice(), b"normal" | b"slave" | b"replica" | b"pubsub") {
            return Err("Invalid client class specified in buffer limit configuration.");
        }
        let secs = std::str::from_utf8(g[3]).ok().and_then(|s| s.parse::<i64>().ok());
        let secs = secs.and_then(|s| u64::try_from(s).ok());
        let (Some(hard), Some(soft), Some(secs)) = (parse_memory(g[1]), parse_memory(g[2]), secs) else {
            return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.");
        };
        if matches!(class.as_slice(), b"slave" | b"replica") {
            replica = Some(ObufLimit {
                hard_bytes: hard,
                soft_bytes: soft,
                soft_seconds: secs,
            });
        }
    }
    Ok(replica)
}

/// A parsed CONFIG SET value.
enum Value {
    Num(u64),
    Bool(bool),
    Text(Option<Bytes>),
    Obuf(Option<ObufLimit>),
}

/// Parses one value of parameter `kind`; `Err` is redis's reason text.
fn parse_value(kind: Kind, v: &Bytes) -> Result<Value, String> {
    let bounded = |n: i64, lo: i64, hi: i64| {
        if (lo..=hi).contains(&n) {
            Ok(Value::Num(n.unsigned_abs()))
        } else {
            Err(format!("argument must be between {lo} and {hi} inclusive"))
        }
    };
    match kind {
        Kind::Memory(lo, hi) => {
            let n = parse_memory(v).ok_or("argument must be a memory value")?;
            // Compared as redis's `long long`, so a wrapped huge value is out of range.
            bounded(n as i64, lo, hi)
        }
        Kind::Int(lo, hi) => {
            let n = (v.len() < 21).then(|| proto::resp::parse_i64(v)).flatten();
            bounded(n.ok_or("argument couldn't be parsed into an integer")?, lo, hi)
        }
        Kind::Bool => parse_bool(v)
            .map(Value::Bool)
            .ok_or_else(|| "argument must be 'yes' or 'no'".to_string()),
        Kind::Text => Ok(Value::Text((!v.is_empty()).then(|| v.clone()))),
        Kind::ObufLimit => parse_obuf_limits(v).map(Value::Obuf).map_err(str::to_string),
    }
}

fn apply<R: RngCore>(node: &mut Node<R>, name: &str, value: Value) {
    let num = |v: &Value| if let Value::Num(n) = v { *n } else { 0 };
    let n = num(&value);
    match (name, value) {
        // R15: clamped to CONFIG_REPL_BACKLOG_MIN_SIZE, as `updateReplBacklogSize()` does.
        ("repl-backlog-size", _) => node.master.set_backlog_size(n.max(master::REPL_BACKLOG_MIN_SIZE)),
        ("repl-backlog-ttl", _) => node.master.config_mut().repl_backlog_ttl_s = n,
        ("repl-diskless-sync", Value::Bool(b)) => node.master.config_mut().repl_diskless_sync = b,
        ("repl-diskless-sync-delay", _) => node.master.config_mut().repl_diskless_sync_delay_s = n,
        ("repl-diskless-sync-max-replicas", _) => node.master.config_mut().repl_diskless_sync_max_replicas = n,
        ("repl-ping-replica-period", _) => node.master.config_mut().repl_ping_replica_period_s = n,
        ("repl-timeout", _) => {
            node.master.config_mut().repl_timeout_s = n;
            node.replica.config_mut().repl_timeout_s = n;
        }
        ("min-replicas-to-write", _) => node.master.config_mut().min_replicas_to_write = n,
        ("min-replicas-max-lag", _) => node.master.config_mut().min_replicas_max_lag_s = n,
        ("client-output-buffer-limit", Value::Obuf(Some(l))) => node.master.config_mut().replica_obuf_limit = l,
        ("masterauth", Value::Text(t)) => node.replica.config_mut().masterauth = t,
        ("masteruser", Value::Text(t)) => node.replica.config_mut().masteruser = t,
        ("requirepass", Value::Text(t)) => node.set_requirepass(t),
        _ => {}
    }
}

fn get_param<R: RngCore>(node: &Node<R>, name: &str) -> String {
    let m = node.master.config();
    let r = node.replica.config();
    let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
    let text = |b: &Option<Bytes>| {
        b.as_ref()
            .map_or(String::new(), |v| String::from_utf8_lossy(v).into_owned())
    };
    match name {
        // Read-only facts redis-benchmark asks for: no AOF, no save points.
        "appendonly" => "no".to_string(),
        "save" => String::new(),
        "masterauth" => text(&r.masterauth),
        "client-output-buffer-limit" => {
            let l = m.replica_obuf_limit;
            format!(
                "normal 0 0 0 slave {} {} {} pubsub 33554432 8388608 60",
                l.hard_bytes, l.soft_bytes, l.soft_seconds
            )
        }
        "masteruser" => text(&r.masteruser),
        "min-replicas-max-lag" => m.min_replicas_max_lag_s.to_string(),
        "min-replicas-to-write" => m.min_replicas_to_write.to_string(),
        "repl-backlog-size" => m.repl_backlog_size.to_string(),
        "repl-backlog-ttl" => m.repl_backlog_ttl_s.to_string(),
        "repl-diskless-sync" => yn(m.repl_diskless_sync),
        "repl-diskless-sync-delay" => m.repl_diskless_sync_delay_s.to_string(),
        "repl-diskless-sync-max-replicas" => m.repl_diskless_sync_max_replicas.to_string(),
        "repl-ping-replica-period" => m.repl_ping_replica_period_s.to_string(),
        "repl-timeout" => m.repl_timeout_s.to_string(),
        "requirepass" => text(&node.config().requirepass),
        _ => String::new(),
    }
}

fn error(text: String) -> Vec<u8> {
    crate::keyspace::error_reply(b"ERR", text.as_bytes())
}

/// `configSetCommand()`: `argv` is `CONFIG SET name value [name value …]`, at least 4.
fn config_set<R: RngCore>(node: &mut Node<R>, argv: &[Bytes]) -> Vec<u8> {
    if !argv.len().is_multiple_of(2) {
        return b"-ERR syntax error\r\n".to_vec();
    }
    let pairs: Vec<&[Bytes]> = argv[2..].chunks_exact(2).collect();
    // (canonical name, kind, the name as given lowercased: what value errors print)
    let mut found: Vec<(&'static str, Kind, String)> = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        let given = String::from_utf8_lossy(&pair[0]).into_owned();
        let lower = given.to_ascii_lowercase();
        let Some(&(name, _, kind)) = SETTABLE
            .iter()
            .find(|(n, alias, _)| *n == lower || *alias == Some(lower.as_str()))
        else {
            return error(format!(
                "Unknown option or number of arguments for CONFIG SET - '{given}'"
            ));
        };
        // Redis compares the names as given (case-insensitively): an alias next to its
        // parameter is not a duplicate, and the last one wins.
        if found.iter().any(|(_, _, g)| *g == lower) {
            return error(format!(
                "CONFIG SET failed (possibly related to argument '{given}') - duplicate parameter"
            ));
        }
        found.push((name, kind, lower));
    }
    let mut values = Vec::with_capacity(pairs.len());
    for ((name, kind, given), pair) in found.iter().zip(&pairs) {
        match parse_value(*kind, &pair[1]) {
            Ok(v) => values.push((*name, v)),
            Err(why) => {
                return error(format!(
                    "CONFIG SET failed (possibly related to argument '{given}') - {why}"
                ))
            }
        }
    }
    for (name, v) in values {
        apply(node, name, v);
    }
    b"+OK\r\n".to_vec()
}

/// `CONFIG GET pattern [pattern …]` / `CONFIG SET name value [name value …]` /
/// `CONFIG RESETSTAT`; `argv` has at least 2 elements (arity -2 is checked by the node).
pub fn config_command<R: RngCore>(node: &mut Node<R>, argv: &[Bytes]) -> Vec<u8> {
    let sub = argv[1].to_ascii_lowercase();
    let arity = match sub.as_slice() {
        b"get" => ("config|get", 3),
        b"set" => ("config|set", 4),
        b"resetstat" => ("config|resetstat", 2),
        _ => return crate::keyspace::unknown_subcommand(argv),
    };
    let ok = if sub == b"resetstat" {
        argv.len() == 2
    } else {
        argv.len() >= arity.1
    };
    if !ok {
        return crate::keyspace::CommandError::WrongArity(arity.0).to_reply();
    }
    match sub.as_slice() {
        b"get" => {
            let mut out = Vec::new();
            for name in GETTABLE {
                if argv[2..]
                    .iter()
                    .any(|p| stringmatch(&p.to_ascii_lowercase(), name.as_bytes()))
                {
                    out.push(Frame::Bulk(Bytes::from_static(name.as_bytes())));
                    out.push(Frame::Bulk(Bytes::from(get_param(node, name))));
                }
            }
            Frame::Array(out).to_bytes()
        }
        b"set" => config_set(node, argv),
        _ => b"+OK\r\n".to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obuf_limit_lines_parse_like_redis_conf() {
        let l = parse_obuf_limits(b"normal 0 0 0 replica 1mb 256kb 10 pubsub 32mb 8mb 60").unwrap();
        assert_eq!(
            l,
            Some(ObufLimit {
                hard_bytes: 1024 * 1024,
                soft_bytes: 256 * 1024,
                soft_seconds: 10
            })
        );
        assert_eq!(parse_obuf_limits(b"slave 0 0 0").unwrap(), Some(ObufLimit::NONE));
        assert_eq!(parse_obuf_limits(b"normal 0 0 0").unwrap(), None);
        assert_eq!(parse_obuf_limits(b"").unwrap(), None);
        for bad in [
            &b"replica 1mb 2mb"[..],
            b"replica x 0 0",
            b"master 0 0 0",
            b"replica 1 2 3 4",
            b"replica 1 2 -3",
        ] {
            let e = parse_obuf_limits(bad).unwrap_err();
            assert!(e.contains("buffer limit configuration"), "{e}");
        }
    }

    #[test]
    fn memory_values_parse_like_memtoull() {
        assert_eq!(parse_memory(b"16384"), Some(16384));
        assert_eq!(parse_memory(b"1kb"), Some(1024));
        assert_eq!(parse_memory(b"1K"), Some(1000));
        assert_eq!(parse_memory(b"2Mb"), Some(2 << 20));
        assert_eq!(parse_memory(b"1gb"), Some(1 << 30));
        assert_eq!(parse_memory(b"5b"), Some(5));
        for bad in [&b"-1"[..], b"1.5mb", b"x", b"1 kb", b"+1"] {
            assert_eq!(parse_memory(bad), None, "{bad:?}");
        }
    }
}

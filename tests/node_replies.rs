//! Interop: psync-node's own commands (the ones outside the keyspace) answer like a live
//! redis-server 7.0.15, byte for byte: MULTI / EXEC / DISCARD with what they propagate,
//! QUIT, HELLO 2, CLIENT ID / SETNAME / GETNAME, COMMAND COUNT, ROLE, CONFIG SET's errors
//! and INFO's `# Server` / `# Keyspace` format (issue 18, items 1 and 10).
//!
//! Both servers run on 127.0.0.1, started and killed by PID. Needs `redis-server` on PATH
//! and a built `psync-node`; without redis-server the tests print SKIPPED and pass,
//! unless `CI=true`.

use psync_tests::fake_replica::{master_repl_offset, FakeReplica};
use psync_tests::interop::{require_redis_server, Conn, Server, TempDir};

/// How the two replies are compared.
#[derive(Clone, Copy, PartialEq)]
enum Check {
    Exact,
    /// Client ids differ between servers: `:<n>` after `$2\r\nid\r\n`, or a bare `:<n>`.
    IdMasked,
    /// COMMAND COUNT: an integer on both sides (each counts its own commands).
    Integer,
}

struct Pair {
    redis: Server,
    node: Server,
    _dir: TempDir,
}

fn start(tag: &str) -> Option<Pair> {
    let bin = require_redis_server(tag)?;
    let dir = TempDir::new(tag);
    let redis = Server::redis(&bin, "redis", &dir.path, &[]);
    let node = Server::node("psync-node", &dir.path, None, &["--repl-diskless-sync", "no"]);
    Some(Pair { redis, node, _dir: dir })
}

fn mask_id(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let masked = match text.find("$2\r\nid\r\n:") {
        Some(at) => {
            let start = at + "$2\r\nid\r\n:".len();
            let end = start + text[start..].find("\r\n").expect("id line");
            format!("{}<id>{}", &text[..start], &text[end..])
        }
        None => text,
    };
    if masked.starts_with(':') {
        ":<id>\r\n".to_string()
    } else {
        masked
    }
}

/// Sends every step to both servers (one connection each) and compares the replies.
fn compare_steps(pair: &Pair, steps: &[(Check, &[&str])]) -> (Conn, Conn) {
    let (mut r, mut n) = (pair.redis.conn(), pair.node.conn());
    for (check, args) in steps {
        let (theirs, ours) = (r.call_str(args), n.call_str(args));
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match check {
            Check::Exact => assert_eq!(show(&ours), show(&theirs), "reply to {args:?}"),
            Check::IdMasked => assert_eq!(mask_id(&ours), mask_id(&theirs), "reply to {args:?}"),
            Check::Integer => {
                for reply in [&ours, &theirs] {
                    let text = show(reply);
                    let n = text.strip_prefix(':').and_then(|t| t.trim_end().parse::<u64>().ok());
                    assert!(n.is_some_and(|n| n > 0), "{args:?}: {text:?}");
                }
            }
        }
    }
    (r, n)
}

const E: Check = Check::Exact;

// Over ~70 lines on purpose: a table of MULTI/EXEC steps, then the replies and the
// propagated streams of both servers.
#[test]
fn transactions_reply_and_propagate_like_redis() {
    let Some(pair) = start("node-replies-multi") else {
        return;
    };
    let mut fake_r = FakeReplica::attach(pair.redis.port);
    let mut fake_n = FakeReplica::attach(pair.node.port);
    let steps: &[(Check, &[&str])] = &[
        (E, &["MULTI", "x"]),
        (E, &["EXEC"]),
        (E, &["DISCARD"]),
        (E, &["MULTI"]),
        (E, &["MULTI"]),
        (E, &["SET", "a", "1"]),
        (E, &["NOSUCH", "x"]),
        (E, &["GET"]),
        (E, &["EXEC"]),
        (E, &["MULTI"]),
        (E, &["SET", "a", "1"]),
        (E, &["INCR", "a"]),
        (E, &["GET", "a"]),
        (E, &["PING"]),
        (E, &["EXEC", "x"]),
        (E, &["EXEC"]),
        (E, &["MULTI"]),
        (E, &["SET", "gone", "x"]),
        (E, &["DISCARD"]),
        (E, &["EXISTS", "gone"]),
        (E, &["MULTI"]),
        (E, &["EXEC"]),
        // One op: propagated without MULTI/EXEC, as redis 7.0 does.
        (E, &["MULTI"]),
        (E, &["SET", "one", "1"]),
        (E, &["GET", "one"]),
        (E, &["EXEC"]),
        // A runtime error inside EXEC does not stop the others.
        (E, &["MULTI"]),
        (E, &["SET", "a", "x"]),
        (E, &["INCR", "a"]),
        (E, &["SET", "b", "2", "EX", "100"]),
        (E, &["EXEC"]),
        // Refused inside MULTI, as redis refuses them.
        (E, &["MULTI"]),
        (E, &["SAVE"]),
        (E, &["SHUTDOWN"]),
        (E, &["PSYNC", "?", "-1"]),
        (E, &["SYNC"]),
        (E, &["DISCARD"]),
        // SELECT inside the transaction; node commands queue and answer inside EXEC.
        (E, &["MULTI"]),
        (E, &["SELECT", "2"]),
        (E, &["SET", "b", "1"]),
        (E, &["MSET", "c", "1", "d", "2"]),
        (E, &["CONFIG", "GET", "repl-timeout"]),
        (E, &["ROLE", "x"]),
        (E, &["EXEC"]),
        (E, &["MULTI"]),
        (E, &["SELECT", "2"]),
        (E, &["SET", "b", "1"]),
        (Check::IdMasked, &["HELLO", "2"]),
        (E, &["CLIENT", "GETNAME"]),
        (E, &["CONFIG", "GET", "repl-timeout"]),
        (Check::IdMasked, &["EXEC"]),
        (E, &["GET", "b"]),
        (E, &["SELECT", "0"]),
        (E, &["MULTI"]),
        (E, &["DEL", "a", "b", "one"]),
        (E, &["SELECT", "3"]),
        (E, &["SET", "z", "1"]),
        (E, &["EXEC"]),
        (E, &["SELECT", "0"]),
        (E, &["MULTI"]),
        (E, &["QUIT"]),
    ];
    let (mut r, mut n) = compare_steps(&pair, steps);
    // QUIT inside MULTI closed both connections.
    assert_eq!(r.try_call_str(&["PING"]), None, "redis closed after QUIT");
    assert_eq!(n.try_call_str(&["PING"]), None, "psync-node closed after QUIT");
    let (mut rc, mut nc) = (pair.redis.conn(), pair.node.conn());
    let theirs = fake_r.commands_until(master_repl_offset(&mut rc));
    let ours = fake_n.commands_until(master_repl_offset(&mut nc));
    let show = |c: &[(usize, Vec<Vec<u8>>)]| -> Vec<String> {
        c.iter()
            .map(|(db, argv)| {
                let words: Vec<String> = argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                format!("db{db} {}", words.join(" "))
            })
            .collect()
    };
    // SET b 2 EX 100 becomes SET .. PXAT <each side's clock>: compare it without the time.
    let strip = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|l| match l.find(" PXAT ") {
                Some(i) => format!("{} PXAT <ms>", &l[..i]),
                None => l,
            })
            .collect()
    };
    let (ours, theirs) = (strip(show(&ours)), strip(show(&theirs)));
    assert!(
        theirs.iter().filter(|l| l.ends_with("MULTI")).count() >= 2,
        "{theirs:#?}"
    );
    assert_eq!(ours, theirs, "propagated stream");
    assert_eq!(rc.digest(), nc.digest(), "DEBUG DIGEST");
}

// Over ~70 lines on purpose: a table of commands and the check each reply gets, then one
// loop over both servers.
#[test]
fn connection_commands_and_errors_match_redis() {
    let Some(pair) = start("node-replies-conn") else {
        return;
    };
    let id = Check::IdMasked;
    let steps: &[(Check, &[&str])] = &[
        (id, &["HELLO"]),
        (id, &["HELLO", "2"]),
        (E, &["HELLO", "2", "SETNAME", "my name"]),
        (E, &["HELLO", "x"]),
        (E, &["HELLO", "1"]),
        (E, &["HELLO", "4"]),
        (E, &["HELLO", "2", "AUTH", "a"]),
        (E, &["HELLO", "2", "FOO"]),
        (E, &["HELLO", "2", "AUTH", "other", "pw"]),
        (id, &["HELLO", "2", "AUTH", "default", "anything", "SETNAME", "nm"]),
        (E, &["CLIENT", "GETNAME"]),
        (E, &["CLIENT", "SETNAME", "a b"]),
        (E, &["CLIENT", "SETNAME", "a\nb"]),
        (E, &["CLIENT", "SETNAME", "ok-name"]),
        (E, &["CLIENT", "GETNAME"]),
        (E, &["CLIENT", "SETNAME", ""]),
        (E, &["CLIENT", "GETNAME"]),
        (E, &["CLIENT", "SETNAME"]),
        (E, &["CLIENT", "GETNAME", "x"]),
        (id, &["CLIENT", "ID"]),
        (E, &["CLIENT", "ID", "x"]),
        (E, &["CLIENT", "FOO"]),
        (E, &["client", "nosuch\r\nx"]),
        (E, &["CLIENT"]),
        (Check::Integer, &["COMMAND", "COUNT"]),
        (E, &["COMMAND", "COUNT", "x"]),
        (E, &["COMMAND", "FOO"]),
        (E, &["ROLE", "extra"]),
        (E, &["role", "a", "b"]),
        (E, &["CONFIG"]),
        (E, &["CONFIG", "FOO"]),
        (E, &["CONFIG", "GET"]),
        (E, &["CONFIG", "RESETSTAT", "x"]),
        (E, &["CONFIG", "SET", "a"]),
        (E, &["CONFIG", "SET", "a", "b", "c"]),
        (E, &["CONFIG", "SET", "foo", "1"]),
        (E, &["CONFIG", "SET", "repl-timeout", "x"]),
        (E, &["CONFIG", "SET", "repl-timeout", "0"]),
        (E, &["CONFIG", "SET", "repl-timeout", "1k"]),
        (E, &["CONFIG", "SET", "repl-timeout", "+5"]),
        (E, &["CONFIG", "SET", "repl-timeout", "2147483648"]),
        (E, &["CONFIG", "SET", "REPL-TIMEOUT", "x"]),
        (E, &["CONFIG", "SET", "repl-ping-slave-period", "x"]),
        (E, &["CONFIG", "SET", "repl-ping-replica-period", "0"]),
        (E, &["CONFIG", "SET", "repl-backlog-size", "abc"]),
        (E, &["CONFIG", "SET", "repl-backlog-size", "-1"]),
        (E, &["CONFIG", "SET", "repl-backlog-size", "0"]),
        (E, &["CONFIG", "SET", "repl-backlog-size", "1.5mb"]),
        (E, &["CONFIG", "SET", "repl-backlog-size", "99999999999999999999"]),
        (E, &["CONFIG", "SET", "repl-backlog-ttl", "-1"]),
        (E, &["CONFIG", "SET", "repl-diskless-sync", "maybe"]),
        (E, &["CONFIG", "SET", "repl-diskless-sync-delay", "-1"]),
        (E, &["CONFIG", "SET", "min-replicas-to-write", "-1"]),
        (E, &["CONFIG", "SET", "min-slaves-max-lag", "x"]),
        (E, &["CONFIG", "SET", "repl-timeout", "10", "repl-timeout", "20"]),
        (E, &["CONFIG", "SET", "repl-timeout", "10", "REPL-timeout", "x"]),
        (E, &["CONFIG", "SET", "repl-timeout", "x", "foo", "1"]),
        (E, &["CONFIG", "SET", "repl-timeout", "x", "repl-backlog-size", "y"]),
        (E, &["CONFIG", "SET", "repl-timeout", "30", "repl-backlog-size", "x"]),
        // All or nothing: the failed SET above left repl-timeout alone.
        (E, &["CONFIG", "GET", "repl-timeout"]),
        (E, &["CONFIG", "SET", "client-output-buffer-limit", "x"]),
        (E, &["CONFIG", "SET", "client-output-buffer-limit", "replica 1 2"]),
        (E, &["CONFIG", "SET", "client-output-buffer-limit", "master 0 0 0"]),
        (E, &["CONFIG", "SET", "client-output-buffer-limit", "replica x 0 0"]),
        (E, &["CONFIG", "SET", "client-output-buffer-limit", "replica 1 2 -3"]),
        (
            E,
            &["CONFIG", "SET", "client-output-buffer-limit", "replica 256mb 64mb 60"],
        ),
        (
            E,
            &[
                "CONFIG",
                "SET",
                "repl-ping-slave-period",
                "10",
                "repl-ping-replica-period",
                "5",
            ],
        ),
        (
            E,
            &["CONFIG", "SET", "repl-backlog-size", "1M", "repl-diskless-sync", "YES"],
        ),
        (E, &["CONFIG", "SET", "repl-timeout", "60"]),
        (E, &["INFO", "keyspace"]),
        (E, &["MSET", "a", "1", "b", "2"]),
        (E, &["SELECT", "3"]),
        (E, &["SET", "c", "1"]),
        (E, &["INFO", "keyspace"]),
        (E, &["INFO", "KEYSPACE", "keyspace", "nosuch"]),
        (E, &["INFO", "nosuch"]),
        (E, &["QUIT", "x"]),
    ];
    let (mut r, mut n) = compare_steps(&pair, steps);
    assert_eq!(r.try_call_str(&["PING"]), None, "redis closed after QUIT");
    assert_eq!(n.try_call_str(&["PING"]), None, "psync-node closed after QUIT");

    // # Server: redis's fields with this process's values.
    let mut node = pair.node.conn();
    let server = node.info("server");
    assert_eq!(server["redis_version"], "7.0.15");
    assert_eq!(server["redis_mode"], "standalone");
    assert_eq!(server["tcp_port"], pair.node.port.to_string());
    let run_id = &server["run_id"];
    assert!(
        run_id.len() == 40 && run_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{run_id}"
    );
    assert!(server["uptime_in_seconds"].parse::<u64>().is_ok(), "{server:?}");
    assert!(server["process_id"].parse::<u32>().is_ok(), "{server:?}");
    let theirs = pair.redis.conn().info("server");
    for field in [
        "redis_version",
        "redis_mode",
        "run_id",
        "tcp_port",
        "uptime_in_seconds",
        "hz",
    ] {
        assert!(theirs.contains_key(field), "redis has {field}");
        assert!(server.contains_key(field), "psync-node has {field}");
    }
    // The default INFO lists the sections in redis's order.
    let all = String::from_utf8_lossy(&node.call_str(&["INFO"])).into_owned();
    let order: Vec<&str> = all.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        order,
        ["# Server", "# Clients", "# Stats", "# Replication", "# Keyspace"]
    );
}

//! Unit tests for the keyspace: exact reply bytes and exact propagated argv, checked
//! against what redis-server 7.0.15 sends (see tests/keyspace_replies.rs for the live
//! comparison). One file on purpose: a single `Client` fixture serves every command
//! family, and the cases read as one table of redis' behaviour.

use super::*;
use proptest::prelude::*;

const NOW: u64 = 1_000_000;

/// A client connection to a keyspace, with its selected db and a settable clock.
struct Client {
    ks: Keyspace,
    db: usize,
    now: u64,
    role: Role,
    origin: Origin,
}

impl Client {
    fn master() -> Self {
        Self {
            ks: Keyspace::new(),
            db: 0,
            now: NOW,
            role: Role::Master,
            origin: Origin::Client,
        }
    }

    fn run_bytes(&mut self, argv: &[&[u8]]) -> Outcome {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        self.ks
            .execute(&mut self.db, &argv, self.now, self.role, self.origin)
            .expect("a keyspace command")
    }

    fn run(&mut self, argv: &[&str]) -> Outcome {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        self.run_bytes(&argv)
    }

    /// Runs and returns the reply as text (all replies in these tests are UTF-8).
    fn reply(&mut self, argv: &[&str]) -> String {
        String::from_utf8(self.run(argv).reply).expect("utf-8 reply")
    }

    /// Runs and returns the propagated commands as (db, words).
    fn props(&mut self, argv: &[&str]) -> Vec<(usize, Vec<String>)> {
        render(&self.run(argv).propagate)
    }
}

fn render(props: &[Propagated]) -> Vec<(usize, Vec<String>)> {
    props
        .iter()
        .map(|p| {
            (
                p.db,
                p.argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
            )
        })
        .collect()
}

fn cmd(db: usize, words: &[&str]) -> (usize, Vec<String>) {
    (db, words.iter().map(|w| w.to_string()).collect())
}

#[test]
fn non_keyspace_commands_return_none() {
    let mut ks = Keyspace::new();
    let mut db = 0;
    for argv in [
        vec![],
        vec![Bytes::from_static(b"REPLICAOF")],
        vec![Bytes::from_static(b"get\0")],
    ] {
        assert_eq!(ks.execute(&mut db, &argv, NOW, Role::Master, Origin::Client), None);
    }
}

#[test]
fn write_commands_are_flagged_like_redis() {
    for name in [
        "set",
        "DEL",
        "incr",
        "decrby",
        "append",
        "expire",
        "PEXPIREAT",
        "persist",
        "flushdb",
        "FLUSHALL",
    ] {
        assert!(is_write_command(name.as_bytes()), "{name}");
    }
    for name in [
        "get",
        "exists",
        "ttl",
        "keys",
        "dbsize",
        "debug",
        "select",
        "ping",
        "replicaof",
        "",
    ] {
        assert!(!is_write_command(name.as_bytes()), "{name}");
    }
}

#[test]
fn ping_echo_select() {
    let mut c = Client::master();
    assert_eq!(c.reply(&["PING"]), "+PONG\r\n");
    assert_eq!(c.reply(&["ping", "hi"]), "$2\r\nhi\r\n");
    assert_eq!(
        c.reply(&["PING", "a", "b"]),
        "-ERR wrong number of arguments for 'ping' command\r\n"
    );
    assert_eq!(c.reply(&["ECHO", ""]), "$0\r\n\r\n");
    assert_eq!(c.reply(&["SELECT", "16"]), "-ERR DB index is out of range\r\n");
    assert_eq!(c.reply(&["SELECT", "-1"]), "-ERR DB index is out of range\r\n");
    assert_eq!(
        c.reply(&["SELECT", "2147483648"]),
        "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"
    );
    assert_eq!(
        c.reply(&["SELECT", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(c.db, 0);
    assert_eq!(c.reply(&["select", "15"]), "+OK\r\n");
    assert_eq!(c.db, 15);
    assert!(
        c.props(&["SELECT", "3"]).is_empty(),
        "SELECT is emitted by the replication layer"
    );
}

#[test]
fn arity_errors_name_the_command_in_lowercase() {
    let mut c = Client::master();
    let cases: &[&[&str]] = &[
        &["GET"],
        &["GeT", "a", "b"],
        &["SET", "k"],
        &["DEL"],
        &["EXISTS"],
        &["INCR"],
        &["DECR", "k", "1"],
        &["INCRBY", "k"],
        &["DECRBY", "k"],
        &["APPEND", "k"],
        &["STRLEN"],
        &["EXPIRE", "k"],
        &["PEXPIRE", "k"],
        &["EXPIREAT", "k"],
        &["PEXPIREAT", "k"],
        &["PERSIST", "a", "b"],
        &["TTL"],
        &["PTTL"],
        &["DBSIZE", "x"],
        &["KEYS"],
        &["KEYS", "*", "x"],
        &["DEBUG"],
        &["ECHO"],
        &["SELECT"],
    ];
    for argv in cases {
        let name = argv[0].to_ascii_lowercase();
        let out = c.run(argv);
        assert_eq!(
            String::from_utf8_lossy(&out.reply),
            format!("-ERR wrong number of arguments for '{name}' command\r\n"),
            "{argv:?}"
        );
        assert!(out.propagate.is_empty());
    }
}

#[test]
fn set_and_get_replies() {
    let mut c = Client::master();
    assert_eq!(c.reply(&["GET", "k"]), "$-1\r\n");
    assert_eq!(c.reply(&["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(c.reply(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(c.reply(&["SET", "k", "v2", "NX"]), "$-1\r\n");
    assert_eq!(c.reply(&["SET", "n", "v", "XX"]), "$-1\r\n");
    assert_eq!(c.reply(&["SET", "k", "v2", "NX", "GET"]), "$1\r\nv\r\n");
    assert_eq!(c.reply(&["SET", "k", "v3", "XX", "GET"]), "$1\r\nv\r\n");
    assert_eq!(c.reply(&["SET", "n", "v", "XX", "GET"]), "$-1\r\n");
    assert_eq!(c.reply(&["SET", "k", "v4", "GET", "GET"]), "$2\r\nv3\r\n");
    assert_eq!(c.reply(&["SET", "k", "v5", "NX", "NX"]), "$-1\r\n");
    assert_eq!(c.reply(&["SET", "k", "v5", "EX", "5", "EX", "6"]), "+OK\r\n");
    assert_eq!(c.reply(&["TTL", "k"]), ":6\r\n");
}

#[test]
fn set_option_errors() {
    let mut c = Client::master();
    let syntax = "-ERR syntax error\r\n";
    let invalid = "-ERR invalid expire time in 'set' command\r\n";
    let not_int = "-ERR value is not an integer or out of range\r\n";
    let cases: &[(&[&str], &str)] = &[
        (&["SET", "k", "v", "EX"], syntax),
        (&["SET", "k", "v", "NX", "XX"], syntax),
        (&["SET", "k", "v", "XX", "NX"], syntax),
        (&["SET", "k", "v", "EX", "1", "PX", "1"], syntax),
        (&["SET", "k", "v", "KEEPTTL", "EX", "1"], syntax),
        (&["SET", "k", "v", "EX", "1", "KEEPTTL"], syntax),
        (&["SET", "k", "v", "foo"], syntax),
        (&["SET", "k", "v", "EX", "0"], invalid),
        (&["SET", "k", "v", "EX", "-1"], invalid),
        (&["SET", "k", "v", "PX", "0"], invalid),
        (&["SET", "k", "v", "EXAT", "0"], invalid),
        (&["SET", "k", "v", "EX", "9223372036854776"], invalid),
        (&["SET", "k", "v", "EX", "9223372036854775"], invalid),
        (&["SET", "k", "v", "PX", "9223372036854775807"], invalid),
        (&["SET", "k", "v", "EX", "abc"], not_int),
        (&["SET", "k", "v", "PX", "01"], not_int),
    ];
    for (argv, want) in cases {
        let out = c.run(argv);
        assert_eq!(String::from_utf8_lossy(&out.reply), *want, "{argv:?}");
        assert!(out.propagate.is_empty(), "{argv:?}");
    }
    assert_eq!(c.reply(&["SET", "k", "v", "EXAT", "9223372036854775"]), "+OK\r\n");
    assert_eq!(c.reply(&["SET", "k", "v", "PXAT", "9223372036854775807"]), "+OK\r\n");
    assert_eq!(c.ks.dbsize(0), 1);
}

#[test]
fn set_propagation_rewrites() {
    let mut c = Client::master();
    assert_eq!(c.props(&["SET", "a", "1"]), vec![cmd(0, &["SET", "a", "1"])]);
    assert_eq!(
        c.props(&["set", "e", "5", "EX", "100", "NX"]),
        vec![cmd(0, &["SET", "e", "5", "PXAT", "1100000"])]
    );
    assert_eq!(
        c.props(&["SET", "e", "5", "px", "100"]),
        vec![cmd(0, &["SET", "e", "5", "PXAT", "1000100"])]
    );
    assert_eq!(
        c.props(&["SET", "e", "5", "EXAT", "2000"]),
        vec![cmd(0, &["SET", "e", "5", "PXAT", "2000000"])]
    );
    assert_eq!(
        c.props(&["SET", "e", "5", "pxat", "3000000", "XX", "GET"]),
        vec![cmd(0, &["SET", "e", "5", "PXAT", "3000000"])]
    );
    assert_eq!(
        c.props(&["SET", "c", "1", "GET", "NX", "get"]),
        vec![cmd(0, &["SET", "c", "1", "NX"])]
    );
    assert_eq!(
        c.props(&["SET", "c", "2", "keepttl", "get", "XX"]),
        vec![cmd(0, &["SET", "c", "2", "keepttl", "XX"])]
    );
    assert!(
        c.props(&["SET", "c", "3", "NX"]).is_empty(),
        "NX on an existing key changes nothing"
    );
    assert!(c.props(&["SET", "zz", "3", "XX", "GET"]).is_empty());
}

#[test]
fn set_keepttl_keeps_and_plain_set_clears_the_ttl() {
    let mut c = Client::master();
    c.run(&["SET", "k", "v", "EX", "100"]);
    c.run(&["SET", "k", "v2", "KEEPTTL"]);
    assert_eq!(c.reply(&["TTL", "k"]), ":100\r\n");
    c.run(&["SET", "k", "v3"]);
    assert_eq!(c.reply(&["TTL", "k"]), ":-1\r\n");
}

#[test]
fn set_with_a_past_absolute_time_stores_an_expired_key() {
    let mut c = Client::master();
    assert_eq!(
        c.props(&["SET", "d", "1", "EXAT", "1"]),
        vec![cmd(0, &["SET", "d", "1", "PXAT", "1000"])]
    );
    assert_eq!(c.ks.dbsize(0), 1, "not deleted until touched");
    let out = c.run(&["GET", "d"]);
    assert_eq!(out.reply, b"$-1\r\n");
    assert_eq!(render(&out.propagate), vec![cmd(0, &["DEL", "d"])]);
}

#[test]
fn incr_family() {
    let mut c = Client::master();
    let not_int = "-ERR value is not an integer or out of range\r\n";
    assert_eq!(c.reply(&["INCR", "n"]), ":1\r\n");
    assert_eq!(
        c.reply(&["INCRBY", "n", "9223372036854775806"]),
        ":9223372036854775807\r\n"
    );
    assert_eq!(
        c.reply(&["INCR", "n"]),
        "-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(
        c.reply(&["DECRBY", "n", "-9223372036854775808"]),
        "-ERR decrement would overflow\r\n"
    );
    assert_eq!(c.reply(&["DECRBY", "n", "9223372036854775808"]), not_int);
    for bad in ["1.5", "+1", " 1", "01", "-0", ""] {
        assert_eq!(c.reply(&["INCRBY", "n", bad]), not_int, "{bad:?}");
    }
    assert_eq!(c.reply(&["DECRBY", "n", "9223372036854775807"]), ":0\r\n");
    assert_eq!(c.reply(&["DECR", "n"]), ":-1\r\n");
    c.run(&["SET", "s", "abc"]);
    assert_eq!(c.reply(&["INCR", "s"]), not_int);
    c.run(&["SET", "z", "007"]);
    assert_eq!(c.reply(&["INCR", "z"]), not_int);
    assert_eq!(c.props(&["incrby", "n", "5"]), vec![cmd(0, &["incrby", "n", "5"])]);
    assert_eq!(c.props(&["Decr", "n"]), vec![cmd(0, &["Decr", "n"])]);
    assert!(c.props(&["INCR", "s"]).is_empty());
}

#[test]
fn incr_keeps_the_ttl() {
    let mut c = Client::master();
    c.run(&["SET", "n", "1", "EX", "100"]);
    c.run(&["INCR", "n"]);
    assert_eq!(c.reply(&["TTL", "n"]), ":100\r\n");
    assert_eq!(c.reply(&["GET", "n"]), "$1\r\n2\r\n");
}

#[test]
fn append_and_strlen() {
    let mut c = Client::master();
    assert_eq!(c.reply(&["STRLEN", "k"]), ":0\r\n");
    assert_eq!(c.reply(&["APPEND", "k", "ab"]), ":2\r\n");
    assert_eq!(c.reply(&["APPEND", "k", "cde"]), ":5\r\n");
    assert_eq!(c.reply(&["STRLEN", "k"]), ":5\r\n");
    assert_eq!(
        c.props(&["Append", "e", ""]),
        vec![cmd(0, &["Append", "e", ""])],
        "creates an empty key"
    );
    assert_eq!(c.reply(&["EXISTS", "e"]), ":1\r\n");
}

#[test]
fn append_respects_proto_max_bulk_len_except_from_the_master() {
    let mut c = Client::master();
    c.ks.set_proto_max_bulk_len(4);
    assert_eq!(
        c.reply(&["APPEND", "k", "abcdef"]),
        ":6\r\n",
        "a new key is not checked"
    );
    let out = c.run(&["APPEND", "k", "x"]);
    assert_eq!(
        out.reply,
        b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
    assert!(out.propagate.is_empty());
    c.origin = Origin::MasterLink;
    c.role = Role::Replica;
    assert_eq!(c.reply(&["APPEND", "k", "x"]), ":7\r\n");
}

#[test]
fn expire_family_rewrites_to_pexpireat() {
    let mut c = Client::master();
    c.run(&["SET", "c", "1"]);
    assert_eq!(
        c.props(&["expire", "c", "100", "nx"]),
        vec![cmd(0, &["PEXPIREAT", "c", "1100000", "nx"])]
    );
    assert!(c.props(&["expire", "c", "100", "nx"]).is_empty());
    assert_eq!(
        c.props(&["pexpire", "c", "5000"]),
        vec![cmd(0, &["PEXPIREAT", "c", "1005000"])]
    );
    assert_eq!(
        c.props(&["EXPIREAT", "c", "2000", "GT"]),
        vec![cmd(0, &["PEXPIREAT", "c", "2000000", "GT"])]
    );
    assert_eq!(
        c.props(&["pexpireat", "c", "3000000"]),
        vec![cmd(0, &["pexpireat", "c", "3000000"])]
    );
    assert_eq!(c.reply(&["PTTL", "c"]), ":2000000\r\n");
    assert_eq!(c.reply(&["TTL", "c"]), ":2000\r\n");
}

#[test]
fn expire_flags() {
    let mut c = Client::master();
    c.run(&["SET", "k", "v"]);
    assert_eq!(c.reply(&["EXPIRE", "k", "100", "XX"]), ":0\r\n");
    assert_eq!(
        c.reply(&["EXPIRE", "k", "100", "GT"]),
        ":0\r\n",
        "no TTL counts as infinite"
    );
    assert_eq!(c.reply(&["EXPIRE", "k", "100", "LT"]), ":1\r\n");
    assert_eq!(c.reply(&["EXPIRE", "k", "100", "NX"]), ":0\r\n");
    assert_eq!(c.reply(&["EXPIRE", "k", "50", "GT"]), ":0\r\n");
    assert_eq!(c.reply(&["EXPIRE", "k", "100", "GT"]), ":0\r\n", "equal is not greater");
    assert_eq!(c.reply(&["EXPIRE", "k", "200", "GT", "XX"]), ":1\r\n");
    assert_eq!(c.reply(&["EXPIRE", "k", "50", "LT"]), ":1\r\n");
    assert_eq!(c.reply(&["TTL", "k"]), ":50\r\n");
    assert_eq!(c.reply(&["EXPIRE", "missing", "50"]), ":0\r\n");
}

#[test]
fn expire_option_errors() {
    let mut c = Client::master();
    c.run(&["SET", "k", "v"]);
    let nx = "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n";
    let gtlt = "-ERR GT and LT options at the same time are not compatible\r\n";
    let cases: &[(&[&str], &str)] = &[
        (&["EXPIRE", "k", "10", "foo"], "-ERR Unsupported option foo\r\n"),
        (&["EXPIRE", "k", "abc", "foo"], "-ERR Unsupported option foo\r\n"),
        (
            &["EXPIRE", "k", "abc"],
            "-ERR value is not an integer or out of range\r\n",
        ),
        (&["EXPIRE", "k", "10", "NX", "XX"], nx),
        (&["EXPIRE", "k", "10", "gt", "nx"], nx),
        (&["EXPIRE", "k", "10", "GT", "LT"], gtlt),
        (&["EXPIRE", "k", "10", "XX", "GT", "LT"], gtlt),
        (
            &["EXPIRE", "k", "9223372036854776"],
            "-ERR invalid expire time in 'expire' command\r\n",
        ),
        (
            &["EXPIRE", "k", "-9223372036854776"],
            "-ERR invalid expire time in 'expire' command\r\n",
        ),
        (
            &["PEXPIRE", "k", "9223372036854775807"],
            "-ERR invalid expire time in 'pexpire' command\r\n",
        ),
        (
            &["EXPIREAT", "k", "9223372036854776"],
            "-ERR invalid expire time in 'expireat' command\r\n",
        ),
        (&["EXPIRE", "k", "1", "a\r\nb"], "-ERR Unsupported option a  b\r\n"),
        (&["EXPIRE", "k", "1", "a\0b"], "-ERR Unsupported option a\r\n"),
    ];
    for (argv, want) in cases {
        let out = c.run(argv);
        assert_eq!(String::from_utf8_lossy(&out.reply), *want, "{argv:?}");
        assert!(out.propagate.is_empty(), "{argv:?}");
    }
    assert_eq!(
        c.reply(&["EXPIRE", "k", "100", "nx\0junk"]),
        ":1\r\n",
        "options compare as C strings"
    );
}

#[test]
fn expire_in_the_past_deletes_on_a_master() {
    let mut c = Client::master();
    c.run(&["SET", "q", "1"]);
    let out = c.run(&["EXPIRE", "q", "0"]);
    assert_eq!(out.reply, b":1\r\n");
    assert_eq!(render(&out.propagate), vec![cmd(0, &["DEL", "q"])]);
    assert_eq!(c.ks.dbsize(0), 0);
    c.run(&["SET", "q", "1"]);
    assert_eq!(c.props(&["PEXPIREAT", "q", "-5"]), vec![cmd(0, &["DEL", "q"])]);
    c.run(&["SET", "q", "1"]);
    assert_eq!(c.props(&["pexpire", "q", "-1"]), vec![cmd(0, &["DEL", "q"])]);
}

#[test]
fn persist_and_ttl() {
    let mut c = Client::master();
    assert_eq!(c.reply(&["TTL", "k"]), ":-2\r\n");
    assert_eq!(c.reply(&["PTTL", "k"]), ":-2\r\n");
    assert_eq!(c.reply(&["PERSIST", "k"]), ":0\r\n");
    c.run(&["SET", "k", "v"]);
    assert_eq!(c.reply(&["TTL", "k"]), ":-1\r\n");
    assert!(
        c.props(&["PERSIST", "k"]).is_empty(),
        "PERSIST without a TTL changes nothing"
    );
    c.run(&["PEXPIRE", "k", "1499"]);
    assert_eq!(c.reply(&["TTL", "k"]), ":1\r\n", "rounded to nearest");
    c.run(&["PEXPIRE", "k", "1500"]);
    assert_eq!(c.reply(&["TTL", "k"]), ":2\r\n");
    assert_eq!(c.reply(&["PTTL", "k"]), ":1500\r\n");
    assert_eq!(c.props(&["persist", "k"]), vec![cmd(0, &["persist", "k"])]);
    assert_eq!(c.reply(&["TTL", "k"]), ":-1\r\n");
}

#[test]
fn del_exists_dbsize() {
    let mut c = Client::master();
    assert_eq!(c.reply(&["DEL", "zz"]), ":0\r\n");
    assert!(c.props(&["DEL", "zz"]).is_empty());
    c.run(&["SET", "x", "1"]);
    c.run(&["SET", "y", "1"]);
    assert_eq!(c.reply(&["EXISTS", "x", "x", "nope"]), ":2\r\n");
    assert_eq!(c.reply(&["DBSIZE"]), ":2\r\n");
    assert_eq!(
        c.props(&["del", "x", "zz", "x"]),
        vec![cmd(0, &["del", "x", "zz", "x"])]
    );
    assert_eq!(c.reply(&["DEL", "y", "y"]), ":1\r\n");
    assert_eq!(c.reply(&["DBSIZE"]), ":0\r\n");
}

#[test]
fn flushdb_and_flushall_always_propagate() {
    let mut c = Client::master();
    assert_eq!(c.reply(&["FLUSHDB", "x"]), "-ERR syntax error\r\n");
    assert_eq!(c.reply(&["FLUSHDB", "ASYNC", "x"]), "-ERR syntax error\r\n");
    assert_eq!(c.reply(&["FLUSHALL", "bogus"]), "-ERR syntax error\r\n");
    c.run(&["SELECT", "5"]);
    c.run(&["SET", "a", "1"]);
    assert_eq!(c.props(&["flushdb", "async"]), vec![cmd(5, &["flushdb", "async"])]);
    assert_eq!(
        c.props(&["FLUSHDB"]),
        vec![cmd(5, &["FLUSHDB"])],
        "even when already empty"
    );
    c.run(&["SET", "a", "1"]);
    c.run(&["SELECT", "2"]);
    c.run(&["SET", "b", "1"]);
    assert_eq!(c.props(&["FLUSHALL", "sync"]), vec![cmd(2, &["FLUSHALL", "sync"])]);
    assert!(c.ks.is_empty());
}

#[test]
fn keys_glob_sorted_and_skips_expired() {
    let mut c = Client::master();
    for k in ["hello", "hallo", "hxllo", "a", "", "b"] {
        c.run(&["SET", k, "1"]);
    }
    c.run(&["SET", "gone", "1", "PXAT", "10"]);
    assert_eq!(c.reply(&["KEYS", "h[ae]llo"]), "*2\r\n$5\r\nhallo\r\n$5\r\nhello\r\n");
    assert_eq!(c.reply(&["KEYS", "?"]), "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    assert_eq!(
        c.reply(&["KEYS", "*"]),
        "*6\r\n$0\r\n\r\n$1\r\na\r\n$1\r\nb\r\n$5\r\nhallo\r\n$5\r\nhello\r\n$5\r\nhxllo\r\n",
        "a lone * lists the empty key too, never expired ones"
    );
    assert_eq!(
        c.reply(&["KEYS", "**"]).lines().next(),
        Some("*5"),
        "** does not match the empty key"
    );
    let out = c.run(&["KEYS", "g*"]);
    assert_eq!(out.reply, b"*0\r\n");
    assert!(out.propagate.is_empty(), "KEYS never deletes");
    assert_eq!(c.reply(&["DBSIZE"]), ":7\r\n", "DBSIZE counts expired keys");
}

#[test]
fn debug_digest_and_subcommand_errors() {
    let mut c = Client::master();
    assert_eq!(c.reply(&["DEBUG", "DIGEST"]), format!("+{}\r\n", "0".repeat(40)));
    c.run(&["SET", "b", "2"]);
    c.run(&["SET", "c", "3", "EX", "100"]);
    assert_eq!(
        c.reply(&["debug", "digest"]),
        "+3b2342ff40720139d0bb61d8ad77250382f7bd27\r\n"
    );
    assert_eq!(c.ks.digest_hex(), "3b2342ff40720139d0bb61d8ad77250382f7bd27");
    let dv = c.reply(&["DEBUG", "DIGEST-VALUE", "b", "nope"]);
    assert!(dv.starts_with("*2\r\n+"), "{dv}");
    assert!(
        dv.ends_with(&format!("+{}\r\n", "0".repeat(40))),
        "a missing key digests to zeros: {dv}"
    );
    assert_eq!(
        c.reply(&["DEBUG", "foo"]),
        "-ERR unknown subcommand or wrong number of arguments for 'foo'. Try DEBUG HELP.\r\n"
    );
    assert_eq!(
        c.reply(&["debug", "DIGEST", "x"]),
        "-ERR unknown subcommand or wrong number of arguments for 'DIGEST'. Try DEBUG HELP.\r\n"
    );
    let long = "x".repeat(200);
    let reply = c.reply(&["DEBUG", &long]);
    assert!(
        reply.contains(&format!("'{}'", "x".repeat(128))),
        "cut at 128 bytes: {reply}"
    );
}

#[test]
fn master_lazy_expiry_propagates_dels_first_and_wraps_in_multi() {
    let mut c = Client::master();
    c.run(&["SET", "a", "1", "PX", "50"]);
    c.run(&["SET", "b", "2", "PX", "50"]);
    c.run(&["SET", "c", "3", "PX", "50"]);
    c.run(&["SET", "d", "4", "PX", "50"]);
    c.now += 100;
    assert_eq!(
        c.props(&["SET", "a", "x"]),
        vec![
            cmd(0, &["MULTI"]),
            cmd(0, &["DEL", "a"]),
            cmd(0, &["SET", "a", "x"]),
            cmd(0, &["EXEC"])
        ]
    );
    let out = c.run(&["EXISTS", "b", "b"]);
    assert_eq!(out.reply, b":0\r\n");
    assert_eq!(render(&out.propagate), vec![cmd(0, &["DEL", "b"])]);
    let out = c.run(&["DEL", "c", "d", "zz"]);
    assert_eq!(out.reply, b":0\r\n", "expired keys are not counted as deleted");
    assert_eq!(
        render(&out.propagate),
        vec![
            cmd(0, &["MULTI"]),
            cmd(0, &["DEL", "c"]),
            cmd(0, &["DEL", "d"]),
            cmd(0, &["EXEC"])
        ]
    );
    assert_eq!(c.ks.len(), 1, "only the rewritten `a` is left");
}

#[test]
fn expiry_is_strictly_after_the_expire_millisecond() {
    let mut c = Client::master();
    c.run(&["SET", "k", "v", "PXAT", "1000500"]);
    c.now = 1_000_500;
    assert_eq!(c.reply(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(c.reply(&["PTTL", "k"]), ":0\r\n");
    c.now = 1_000_501;
    assert_eq!(c.reply(&["GET", "k"]), "$-1\r\n");
}

#[test]
fn failed_writes_still_propagate_the_expiry_del() {
    let mut c = Client::master();
    c.run(&["SET", "k", "v", "PX", "10"]);
    c.now += 20;
    let out = c.run(&["SET", "k", "v", "XX"]);
    assert_eq!(out.reply, b"$-1\r\n");
    assert_eq!(render(&out.propagate), vec![cmd(0, &["DEL", "k"])]);
}

/// A replica fed one expired key by its master: clients see it as gone, nothing deletes it.
fn replica_with_expired_key() -> Client {
    let mut c = Client::master();
    c.role = Role::Replica;
    c.origin = Origin::MasterLink;
    c.run(&["SET", "a", "1", "PXAT", "1000100"]);
    c.run(&["SET", "b", "2"]);
    c.now += 1000;
    c.origin = Origin::Client;
    c
}

#[test]
fn replica_clients_see_expired_keys_as_missing_without_deleting() {
    let mut c = replica_with_expired_key();
    for (argv, want) in [
        (&["GET", "a"][..], "$-1\r\n"),
        (&["EXISTS", "a", "b"], ":1\r\n"),
        (&["TTL", "a"], ":-2\r\n"),
        (&["PTTL", "a"], ":-2\r\n"),
        (&["STRLEN", "a"], ":0\r\n"),
        (&["DBSIZE"], ":2\r\n"),
        (&["KEYS", "*"], "*1\r\n$1\r\nb\r\n"),
    ] {
        let out = c.run(argv);
        assert_eq!(String::from_utf8_lossy(&out.reply), want, "{argv:?}");
        assert!(out.propagate.is_empty());
    }
    assert_eq!(c.ks.dbsize(0), 2, "I18: a replica never expires keys itself");
}

#[test]
fn replica_rejects_client_writes_after_the_arity_check() {
    let mut c = replica_with_expired_key();
    let ro = "-READONLY You can't write against a read only replica.\r\n";
    for argv in [
        &["SET", "a", "x"][..],
        &["DEL", "a"],
        &["INCR", "a"],
        &["FLUSHALL"],
        &["EXPIRE", "a", "1"],
        &["PERSIST", "a"],
        &["APPEND", "a", "1"],
        &["FLUSHDB", "x"],
    ] {
        assert_eq!(c.reply(argv), ro, "{argv:?}");
    }
    assert_eq!(
        c.reply(&["SET", "a"]),
        "-ERR wrong number of arguments for 'set' command\r\n"
    );
    assert_eq!(c.reply(&["PING"]), "+PONG\r\n");
    assert_eq!(c.ks.len(), 2);
}

#[test]
fn master_link_commands_see_expired_keys_and_propagate_nothing() {
    let mut c = replica_with_expired_key();
    c.origin = Origin::MasterLink;
    assert_eq!(c.reply(&["GET", "a"]), "$1\r\n1\r\n");
    let out = c.run(&["INCR", "a"]);
    assert_eq!(out.reply, b":2\r\n");
    assert!(
        out.propagate.is_empty(),
        "a replica proxies its master's stream instead"
    );
    assert_eq!(c.reply(&["PEXPIREAT", "b", "5"]), ":1\r\n");
    assert!(
        c.ks.get(0, b"b").is_some(),
        "a past expiry is stored, not applied, on a replica"
    );
    assert_eq!(c.reply(&["DEL", "a", "b"]), ":2\r\n");
}

#[test]
fn active_expire_deletes_in_db_then_key_order() {
    let mut ks = Keyspace::new();
    let put = |ks: &mut Keyspace, db: usize, key: &'static [u8], exp: Option<i64>| {
        ks.insert(db, Bytes::from_static(key), Bytes::from_static(b"v"), exp)
            .expect("db in range");
    };
    put(&mut ks, 3, b"z", Some(10));
    put(&mut ks, 3, b"a", Some(10));
    put(&mut ks, 0, b"m", Some(10));
    put(&mut ks, 0, b"live", Some(10_000));
    put(&mut ks, 0, b"forever", None);
    let dels = render(&ks.active_expire(100));
    assert_eq!(
        dels,
        vec![cmd(0, &["DEL", "m"]), cmd(3, &["DEL", "a"]), cmd(3, &["DEL", "z"])]
    );
    assert_eq!(ks.len(), 2);
    assert!(ks.active_expire(100).is_empty());
}

#[test]
fn accessors() {
    let mut ks = Keyspace::new();
    assert_eq!(ks.digest(), [0u8; 20]);
    assert!(ks.is_empty());
    assert_eq!(
        ks.insert(16, Bytes::from_static(b"k"), Bytes::new(), None),
        Err(KeyspaceError::DbOutOfRange { db: 16, max: DB_COUNT })
    );
    for key in [&b"b"[..], b"a", b"c"] {
        ks.insert(1, Bytes::copy_from_slice(key), Bytes::from_static(b"v"), Some(5))
            .expect("db 1");
    }
    let keys: Vec<&[u8]> = ks.iter_db(1).map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, vec![&b"a"[..], b"b", b"c"]);
    assert_eq!(ks.iter_db(99).count(), 0);
    assert_eq!(ks.get(1, b"a"), Some(&Entry::new(Bytes::from_static(b"v"), Some(5))));
    assert_eq!((ks.len(), ks.dbsize(1), ks.dbsize(0), ks.dbsize(99)), (3, 3, 0, 0));
    ks.clear();
    assert!(ks.is_empty());
}

/// Arguments drawn from a small pool so that commands often hit the same keys, plus
/// random garbage bytes.
fn arb_arg() -> impl Strategy<Value = Bytes> {
    const WORDS: &[&str] = &[
        "k1",
        "k2",
        "k3",
        "",
        "0",
        "1",
        "-1",
        "5",
        "100",
        "1000",
        "1000000",
        "2000",
        "999999",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775",
        "NX",
        "XX",
        "GT",
        "LT",
        "GET",
        "EX",
        "PX",
        "EXAT",
        "PXAT",
        "KEEPTTL",
        "SYNC",
        "ASYNC",
        "DIGEST",
        "*",
        "k?",
        "[k]*",
        "\\",
    ];
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(|w| Bytes::from_static(w.as_bytes())),
        1 => proptest::collection::vec(any::<u8>(), 0..6).prop_map(Bytes::from),
    ]
}

/// Any command name with any arguments from the pool: mostly errors, never a panic.
fn arb_garbage_command() -> impl Strategy<Value = Vec<Bytes>> {
    const NAMES: &[&str] = &[
        "SET",
        "set",
        "GET",
        "DEL",
        "EXISTS",
        "INCR",
        "INCRBY",
        "DECR",
        "DECRBY",
        "APPEND",
        "STRLEN",
        "EXPIRE",
        "PEXPIRE",
        "EXPIREAT",
        "PEXPIREAT",
        "PERSIST",
        "TTL",
        "PTTL",
        "DBSIZE",
        "FLUSHDB",
        "FLUSHALL",
        "KEYS",
        "DEBUG",
        "PING",
        "ECHO",
        "SELECT",
        "NOPE",
    ];
    (
        proptest::sample::select(NAMES),
        proptest::collection::vec(arb_arg(), 0..6),
    )
        .prop_map(|(name, args)| {
            let mut argv = vec![Bytes::from_static(name.as_bytes())];
            argv.extend(args);
            argv
        })
}

fn words(parts: Vec<String>) -> Vec<Bytes> {
    parts.into_iter().map(Bytes::from).collect()
}

fn arb_key() -> impl Strategy<Value = String> {
    proptest::sample::select(&["k1", "k2", "k3"][..]).prop_map(str::to_string)
}

/// Absolute and relative times around `NOW` (steps advance the clock by up to 3 s), so
/// keys really do expire, lazily and actively, during a run.
fn arb_set_option() -> impl Strategy<Value = Vec<String>> {
    let now_s = i64::try_from(NOW / 1000).expect("fits");
    let now_ms = i64::try_from(NOW).expect("fits");
    prop_oneof![
        proptest::sample::select(&["NX", "XX", "GET", "KEEPTTL"][..]).prop_map(|w| vec![w.to_string()]),
        (1i64..4).prop_map(|n| vec!["EX".into(), n.to_string()]),
        (1i64..4000).prop_map(|n| vec!["PX".into(), n.to_string()]),
        (-2i64..5).prop_map(move |n| vec!["EXAT".into(), (now_s + n).to_string()]),
        (-2000i64..5000).prop_map(move |n| vec!["PXAT".into(), (now_ms + n).to_string()]),
    ]
}

fn arb_expire_command() -> impl Strategy<Value = Vec<Bytes>> {
    let now_s = i64::try_from(NOW / 1000).expect("fits");
    let now_ms = i64::try_from(NOW).expect("fits");
    let flag = proptest::option::of(proptest::sample::select(&["NX", "XX", "GT", "LT"][..]));
    let time = prop_oneof![
        (-1i64..4).prop_map(|n| ("EXPIRE", n)),
        (-500i64..4000).prop_map(|n| ("PEXPIRE", n)),
        (-2i64..5).prop_map(move |n| ("EXPIREAT", now_s + n)),
        (-2000i64..5000).prop_map(move |n| ("PEXPIREAT", now_ms + n)),
    ];
    (time, arb_key(), flag).prop_map(|((name, t), key, flag)| {
        let mut argv = vec![name.to_string(), key, t.to_string()];
        argv.extend(flag.map(str::to_string));
        words(argv)
    })
}

/// Well-formed commands, so that writes, lazy expiry and MULTI-wrapped propagation happen
/// often.
fn arb_valid_command() -> impl Strategy<Value = Vec<Bytes>> {
    let value = proptest::sample::select(&["1", "-7", "abc", "", "9223372036854775807"][..]);
    prop_oneof![
        4 => (arb_key(), value.clone(), proptest::collection::vec(arb_set_option(), 0..3)).prop_map(
            |(k, v, opts)| {
                let mut argv = vec!["SET".to_string(), k, v.to_string()];
                argv.extend(opts.into_iter().flatten());
                words(argv)
            }
        ),
        3 => arb_expire_command(),
        1 => (proptest::sample::select(&["GET", "STRLEN", "TTL", "PTTL", "PERSIST", "INCR", "DECR"][..]), arb_key())
            .prop_map(|(c, k)| words(vec![c.to_string(), k])),
        1 => (proptest::sample::select(&["INCRBY", "DECRBY", "APPEND"][..]), arb_key(), value)
            .prop_map(|(c, k, v)| words(vec![c.to_string(), k, v.to_string()])),
        1 => (proptest::sample::select(&["DEL", "EXISTS"][..]), proptest::collection::vec(arb_key(), 1..4))
            .prop_map(|(c, keys)| words(std::iter::once(c.to_string()).chain(keys).collect())),
        1 => (0usize..3).prop_map(|db| words(vec!["SELECT".into(), db.to_string()])),
        1 => proptest::sample::select(&["KEYS", "DBSIZE", "FLUSHDB", "FLUSHALL"][..]).prop_map(|c| match c {
            "KEYS" => words(vec![c.into(), "k*".into()]),
            _ => words(vec![c.into()]),
        }),
    ]
}

fn arb_command() -> impl Strategy<Value = Vec<Bytes>> {
    prop_oneof![3 => arb_valid_command(), 1 => arb_garbage_command()]
}

/// One step: a command, or time moving on (with an active expiry cycle when `cycle`).
fn arb_step() -> impl Strategy<Value = (Vec<Bytes>, u64, bool)> {
    (
        arb_command(),
        prop_oneof![3 => Just(0u64), 1 => 0u64..3_000],
        any::<bool>(),
    )
}

/// Applies a master's propagated stream to a replica the way a replica applies its
/// master link: MULTI/EXEC are not keyspace commands and carry no data here.
fn apply_to_replica(replica: &mut Keyspace, props: &[Propagated], now: u64) {
    for p in props {
        let mut db = p.db;
        let out = replica.execute(&mut db, &p.argv, now, Role::Replica, Origin::MasterLink);
        if let Some(out) = out {
            assert!(
                !out.reply.starts_with(b"-"),
                "replica rejected {:?}: {:?}",
                p.argv,
                out.reply
            );
            assert!(out.propagate.is_empty());
        } else {
            assert!(p.argv[0] == "MULTI" || p.argv[0] == "EXEC", "unexpected {:?}", p.argv);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Random, often malformed, command sequences never panic, every reply is one
    /// well-formed RESP reply, and a replica applying the master's propagated stream (at a
    /// later time, with no expiry of its own) ends with the identical dataset.
    #[test]
    fn random_commands_never_panic_and_replicas_converge(
        steps in proptest::collection::vec(arb_step(), 1..40),
    ) {
        let mut master = Keyspace::new();
        let mut replica = Keyspace::new();
        let mut db = 0usize;
        let mut now = NOW;
        for (argv, advance, cycle) in steps {
            now += advance;
            if cycle {
                let dels = master.active_expire(now);
                apply_to_replica(&mut replica, &dels, now + 10_000);
            }
            if let Some(out) = master.execute(&mut db, &argv, now, Role::Master, Origin::Client) {
                prop_assert!(matches!(out.reply.first(), Some(b'+' | b'-' | b':' | b'$' | b'*')));
                prop_assert!(out.reply.ends_with(b"\r\n"));
                apply_to_replica(&mut replica, &out.propagate, now + 10_000);
            }
            prop_assert!(db < DB_COUNT);
            prop_assert_eq!(master.digest(), replica.digest());
            prop_assert_eq!(&master, &replica);
        }
    }

    /// The digest depends on the dataset only, never on the order keys were inserted.
    #[test]
    fn digest_is_independent_of_insertion_order(
        entries in proptest::collection::vec(
            (0usize..DB_COUNT, proptest::collection::vec(any::<u8>(), 0..4),
             proptest::collection::vec(any::<u8>(), 0..4), proptest::option::of(any::<i64>())),
            0..30,
        ),
        seed in any::<u64>(),
    ) {
        let mut forward = Keyspace::new();
        for (db, k, v, e) in &entries {
            forward.insert(*db, Bytes::from(k.clone()), Bytes::from(v.clone()), *e).expect("db in range");
        }
        // Re-insert the final entries in a shuffled order.
        let mut keyed: Vec<_> = (0..DB_COUNT)
            .flat_map(|db| forward.iter_db(db).map(move |(k, e)| (db, k.clone(), e.clone())))
            .collect();
        let n = keyed.len();
        let mut x = seed | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            keyed.swap(i, usize::try_from(x % (i as u64 + 1)).expect("fits"));
        }
        let mut shuffled = Keyspace::new();
        for (db, k, e) in keyed {
            shuffled.insert(db, k, e.value, e.expire_ms).expect("db in range");
        }
        prop_assert_eq!(forward.digest(), shuffled.digest());
        prop_assert_eq!(forward.is_empty(), forward.digest() == [0u8; 20]);
    }
}

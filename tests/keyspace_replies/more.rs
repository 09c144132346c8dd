//! The corpus for the commands real string workloads send beyond the basics (issue 18):
//! MSET / MGET / MSETNX, SETNX / SETEX / PSETEX, GETSET / GETDEL / GETEX, UNLINK,
//! RENAME / RENAMENX, TYPE, SCAN, TIME, and the unknown-command error. Every write's
//! propagated form is compared with redis's stream by the caller (R72: SETEX becomes
//! `SET .. PXAT`, GETEX becomes `PEXPIREAT` / `PERSIST` / `DEL`, GETSET becomes SET,
//! GETDEL becomes DEL).

use super::{exact, step, Check, Step};

pub fn steps() -> Vec<Step> {
    let mut s = Vec::new();
    s.extend(mset_steps());
    s.extend(set_variant_steps());
    s.extend(get_variant_steps());
    s.extend(rename_type_steps());
    s.extend(scan_time_steps());
    s.extend(unknown_steps());
    s
}

fn mset_steps() -> Vec<Step> {
    vec![
        exact(&["SELECT", "0"]),
        exact(&["MSET"]),
        exact(&["MSET", "a"]),
        exact(&["MSET", "m1", "1", "m2"]),
        exact(&["mset", "m1", "1", "m2", "2"]),
        exact(&["MGET", "m1", "m2", "nope"]),
        exact(&["MGET"]),
        exact(&["MSET", "m1", "x", "m1", "y"]),
        exact(&["GET", "m1"]),
        exact(&["SET", "mt", "v", "EX", "100"]),
        exact(&["MSET", "mt", "new"]),
        exact(&["TTL", "mt"]),
        exact(&["MSETNX", "m1", "1", "fresh", "2"]),
        exact(&["EXISTS", "fresh"]),
        exact(&["MSETNX", "f1", "1", "f2", "2"]),
        exact(&["MSETNX", "f3", "1", "f3", "2"]),
        exact(&["GET", "f3"]),
        exact(&["MSETNX", "f4"]),
        exact(&["MSETNX", "f4", "1", "f5"]),
        exact(&["SET", "mx", "a", "PXAT", "1"]),
        exact(&["MSETNX", "mx", "1"]),
        exact(&["SET", "my", "a", "PXAT", "1"]),
        exact(&["MSETNX", "my", "1", "m2", "2"]),
        exact(&["MGET", "my", "mx"]),
    ]
}

fn set_variant_steps() -> Vec<Step> {
    vec![
        exact(&["SETNX"]),
        exact(&["SETNX", "sn"]),
        exact(&["SETNX", "sn", "1"]),
        exact(&["setnx", "sn", "2"]),
        exact(&["GET", "sn"]),
        exact(&["SET", "snx", "v", "PXAT", "1"]),
        exact(&["SETNX", "snx", "w"]),
        exact(&["SETEX"]),
        exact(&["SETEX", "se", "100"]),
        exact(&["SETEX", "se", "100", "v"]),
        exact(&["TTL", "se"]),
        exact(&["SETEX", "se", "0", "v"]),
        exact(&["SETEX", "se", "-1", "v"]),
        exact(&["SETEX", "se", "abc", "v"]),
        exact(&["SETEX", "se", "9223372036854776", "v"]),
        exact(&["SETEX", "se", "01", "v"]),
        exact(&["setex", "se2", "50", "w"]),
        exact(&["PSETEX", "pse", "100000", "v"]),
        step(&["PTTL", "pse"], Check::IntRange(99_000, 100_000)),
        exact(&["PSETEX", "pse", "0", "v"]),
        exact(&["PSETEX", "pse", "9223372036854775807", "v"]),
        exact(&["PSETEX", "pse", "1"]),
    ]
}

fn get_variant_steps() -> Vec<Step> {
    vec![
        exact(&["GETSET"]),
        exact(&["GETSET", "gs", "1"]),
        exact(&["GETSET", "gs", "2"]),
        exact(&["SET", "gt", "v", "EX", "100"]),
        exact(&["GETSET", "gt", "w"]),
        exact(&["TTL", "gt"]),
        exact(&["SET", "gp", "v", "PXAT", "1"]),
        exact(&["GETSET", "gp", "w"]),
        exact(&["GETDEL"]),
        exact(&["GETDEL", "gs"]),
        exact(&["GETDEL", "gs"]),
        exact(&["GETDEL", "gs", "x"]),
        exact(&["SET", "gd", "v", "PXAT", "1"]),
        exact(&["GETDEL", "gd"]),
        exact(&["GETEX"]),
        exact(&["SET", "gx", "v"]),
        exact(&["GETEX", "gx"]),
        exact(&["GETEX", "gx", "EX", "100"]),
        exact(&["TTL", "gx"]),
        exact(&["GETEX", "gx", "PX", "100000"]),
        exact(&["GETEX", "gx", "EXAT", "4102444800"]),
        exact(&["GETEX", "gx", "PXAT", "4102444800000"]),
        exact(&["GETEX", "gx", "PERSIST"]),
        exact(&["TTL", "gx"]),
        exact(&["GETEX", "gx", "persist"]),
        exact(&["GETEX", "gx", "EX", "100", "PERSIST"]),
        exact(&["GETEX", "gx", "PERSIST", "EX", "100"]),
        exact(&["GETEX", "gx", "KEEPTTL"]),
        exact(&["GETEX", "gx", "NX"]),
        exact(&["GETEX", "gx", "GET"]),
        exact(&["GETEX", "gx", "EX"]),
        exact(&["GETEX", "gx", "EX", "0"]),
        exact(&["GETEX", "gx", "PXAT", "-5"]),
        exact(&["GETEX", "gx", "EX", "abc"]),
        exact(&["GETEX", "missing", "EX", "-1"]),
        exact(&["GETEX", "missing", "FOO"]),
        exact(&["GETEX", "gx", "EX", "5", "EX", "100"]),
        exact(&["GETEX", "gx", "EX", "5", "PX", "100"]),
        exact(&["GETEX", "gx", "EXAT", "1"]),
        exact(&["EXISTS", "gx"]),
        exact(&["SET", "gx2", "v"]),
        exact(&["GETEX", "gx2", "PXAT", "1"]),
        exact(&["SET", "gx3", "v", "PXAT", "1"]),
        exact(&["GETEX", "gx3", "PERSIST"]),
        exact(&["UNLINK"]),
        exact(&["UNLINK", "m1", "m2", "nope"]),
        exact(&["unlink", "nope"]),
        exact(&["SET", "ux", "v", "PXAT", "1"]),
        exact(&["UNLINK", "ux", "sn"]),
    ]
}

fn rename_type_steps() -> Vec<Step> {
    vec![
        exact(&["RENAME"]),
        exact(&["RENAME", "a"]),
        exact(&["RENAME", "a", "b", "c"]),
        exact(&["RENAME", "nosuch", "x"]),
        exact(&["RENAME", "nosuch", "nosuch"]),
        exact(&["RENAMENX", "nosuch", "x"]),
        exact(&["SET", "rn", "v", "EX", "100"]),
        exact(&["RENAME", "rn", "rn"]),
        exact(&["RENAMENX", "rn", "rn"]),
        exact(&["RENAME", "rn", "rn2"]),
        exact(&["TTL", "rn2"]),
        exact(&["EXISTS", "rn"]),
        exact(&["SET", "rd", "v"]),
        exact(&["RENAMENX", "rn2", "rd"]),
        exact(&["rename", "rn2", "rd"]),
        exact(&["TTL", "rd"]),
        exact(&["SET", "rp", "v", "PXAT", "1"]),
        exact(&["RENAME", "rp", "z"]),
        exact(&["SET", "rz", "v"]),
        exact(&["SET", "rq", "v", "PXAT", "1"]),
        exact(&["RENAMENX", "rz", "rq"]),
        exact(&["GET", "rq"]),
        exact(&["TYPE"]),
        exact(&["TYPE", "rd", "x"]),
        exact(&["TYPE", "rd"]),
        exact(&["type", "nosuch"]),
        exact(&["SET", "te", "v", "PXAT", "1"]),
        exact(&["TYPE", "te"]),
    ]
}

fn scan_time_steps() -> Vec<Step> {
    let scan = |args: &[&str]| step(args, Check::ScanAll);
    vec![
        step(&["TIME"], Check::Time),
        exact(&["TIME", "x"]),
        exact(&["SCAN"]),
        exact(&["SELECT", "5"]),
        exact(&["SET", "s1", "1"]),
        exact(&["SET", "s2", "2"]),
        exact(&["SET", "s3", "3", "EX", "100"]),
        exact(&["SET", "sx", "x"]),
        exact(&["SET", "other", "o"]),
        exact(&["SET", "old", "v", "PXAT", "1"]),
        // One expired key only: SCAN's DELs come in each side's own key order.
        scan(&["SCAN", "0", "MATCH", "s*"]),
        scan(&["SCAN", "0"]),
        scan(&["scan", ""]),
        scan(&["SCAN", "0", "MATCH", "s?"]),
        scan(&["SCAN", "0", "MATCH", "s*", "COUNT", "100"]),
        scan(&["SCAN", "0", "TYPE", "string"]),
        scan(&["SCAN", "0", "type", "STRING", "match", "o*"]),
        scan(&["SCAN", "0", "TYPE", "list"]),
        scan(&["SCAN", "0", "TYPE", "hash", "COUNT", "50"]),
        exact(&["SCAN", "0", "COUNT", "0"]),
        exact(&["SCAN", "0", "COUNT", "-1"]),
        exact(&["SCAN", "0", "COUNT", "x"]),
        exact(&["SCAN", "0", "COUNT"]),
        exact(&["SCAN", "0", "MATCH"]),
        exact(&["SCAN", "0", "FOO", "bar"]),
        exact(&["SCAN", "x"]),
        exact(&["SCAN", " 1"]),
        exact(&["SCAN", "1.5"]),
        exact(&["SCAN", "18446744073709551616"]),
        exact(&["SCAN", "x", "COUNT", "0"]),
        exact(&["SELECT", "6"]),
        scan(&["SCAN", "0"]),
        exact(&["SELECT", "0"]),
    ]
}

/// Commands neither side has: the error's exact wording and truncation.
fn unknown_steps() -> Vec<Step> {
    let long_arg = "a".repeat(130);
    let mid_arg = "b".repeat(100);
    let long_name = "N".repeat(200);
    vec![
        exact(&["NOSUCH"]),
        exact(&["nosuch", "a", "b"]),
        exact(&["NOSUCH", &long_arg, "x"]),
        exact(&["NOSUCH", &mid_arg, &mid_arg, "x"]),
        exact(&["NOSUCH", "a\r\nb", "c\n"]),
        exact(&["NOSUCH", "a\0b", "c"]),
        exact(&[&long_name, "x"]),
    ]
}

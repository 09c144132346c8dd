// Access to the redis-server 7.0.15 captures under tests/vectors/ and full decoders for
// their byte streams. Not a module of its own: it is `include!`d into a `vectors` module
// by tests/lib.rs (psync-tests) and by crates/replica/tests/common/mod.rs, and each
// includer defines `dir()`, the capture directory seen from its own package.

use proto::{LinkDecoder, LinkItem, Request};
use std::path::PathBuf;

/// Reads one capture file.
pub fn read(name: &str) -> Vec<u8> {
    let p = dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading vector {}: {e}", p.display()))
}

/// All capture files whose name ends with `suffix`, sorted.
pub fn files(suffix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir())
        .expect("vectors dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// One line of a `*.log` capture timeline.
#[derive(Debug)]
pub enum LogLine {
    Opened(u32),
    ClosedByReplica(u32),
    Chunk { conn: u32, m2r: bool, len: usize },
    Kill,
}

/// Parses the `*.log` timeline (format in tests/vectors/README.md).
pub fn timeline(scenario: &str) -> Vec<(u64, LogLine)> {
    let raw = String::from_utf8(read(&format!("{scenario}.log"))).expect("utf8 log");
    let mut out = Vec::new();
    for line in raw.lines() {
        let mut it = line.split_whitespace();
        let Some(t) = it.next().and_then(|t| t.parse::<f64>().ok()) else {
            continue;
        };
        let ms = (t * 1000.0).round() as u64;
        let tag = it.next().unwrap_or("");
        let conn_of = |c: &str| c.trim_start_matches('c').parse::<u32>().ok();
        if tag == "----" {
            let words: Vec<&str> = it.collect();
            match words.as_slice() {
                [c, "opened", ..] => out.push((ms, LogLine::Opened(conn_of(c).expect("cK")))),
                [c, "closed", "by", "replica", ..] => out.push((ms, LogLine::ClosedByReplica(conn_of(c).expect("cK")))),
                ["killing", ..] => out.push((ms, LogLine::Kill)),
                _ => {}
            }
        } else if let Some(conn) = conn_of(tag) {
            let dir = it.next().expect("direction");
            let len = it.next().and_then(|n| n.parse().ok()).expect("length");
            out.push((
                ms,
                LogLine::Chunk {
                    conn,
                    m2r: dir == "M>R",
                    len,
                },
            ));
        }
    }
    out
}

/// Decodes a whole master→replica capture; panics if any byte is left undecoded.
pub fn decode_m2r(bytes: &[u8]) -> Vec<(LinkItem, usize)> {
    let mut dec = LinkDecoder::new(1 << 30);
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match dec.decode(&bytes[at..]) {
            Ok(Some((item, n))) => {
                assert!(n > 0, "decoder made no progress at byte {at}");
                out.push((item, n));
                at += n;
            }
            Ok(None) => panic!("m2r stream ends mid-item at byte {at} of {}", bytes.len()),
            Err(e) => panic!("m2r decode error at byte {at}: {e}"),
        }
    }
    out
}

/// Decodes a whole replica→master capture into requests.
pub fn decode_r2m(bytes: &[u8]) -> Vec<(Request, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match Request::decode(&bytes[at..]) {
            Ok(Some((r, n))) => {
                out.push((r, n));
                at += n;
            }
            Ok(None) => panic!("r2m stream ends mid-request at byte {at} of {}", bytes.len()),
            Err(e) => panic!("r2m decode error at byte {at}: {e}"),
        }
    }
    out
}

/// The single RDB payload of a master→replica capture, if it has one.
pub fn rdb_payload(name: &str) -> Option<bytes::Bytes> {
    decode_m2r(&read(name)).into_iter().find_map(|(item, _)| match item {
        LinkItem::Rdb { payload, .. } => Some(payload),
        _ => None,
    })
}

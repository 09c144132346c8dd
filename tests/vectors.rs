//! Every captured redis-server 7.0.15 byte stream decodes completely, with exact byte
//! counts, and the stream bytes add up to the offsets redis reported (R73).

use bytes::Bytes;
use proto::{LinkItem, RdbFraming};
use psync_tests::vectors::{decode_m2r, decode_r2m, files, read};

fn notes(scenario: &str) -> serde_json::Value {
    let raw = read(&format!("{scenario}.notes.json"));
    serde_json::from_slice(&raw).expect("notes json")
}

fn scenario_of(file: &str) -> &str {
    file.split('.').next().expect("file name has a scenario")
}

#[test]
fn every_m2r_capture_decodes_completely() {
    let names = files(".m2r.bin");
    assert!(names.len() >= 12, "expected the captured m2r files, found {names:?}");
    for name in names {
        let bytes = read(&name);
        let items = decode_m2r(&bytes);
        let total: usize = items.iter().map(|(_, n)| n).sum();
        assert_eq!(total, bytes.len(), "{name}: byte counts must add up to the file size");
    }
}

#[test]
fn every_r2m_capture_decodes_completely() {
    let names = files(".r2m.bin");
    assert!(names.len() >= 12, "expected the captured r2m files, found {names:?}");
    for name in names {
        let bytes = read(&name);
        let reqs = decode_r2m(&bytes);
        let total: usize = reqs.iter().map(|(_, n)| n).sum();
        assert_eq!(total, bytes.len(), "{name}");
    }
}

/// R73: the command bytes after a `+FULLRESYNC <id> 0` are exactly the stream, so their
/// sum equals the offset both sides reported at the end of the capture.
#[test]
fn stream_bytes_after_full_sync_equal_reported_offsets() {
    let mut checked = 0;
    for name in files(".c1.m2r.bin") {
        let items = decode_m2r(&read(&name));
        let Some(fullresync) = items.iter().find_map(|(i, _)| match i {
            LinkItem::Line(l) if l.starts_with(b"+FULLRESYNC") => Some(l.clone()),
            _ => None,
        }) else {
            continue;
        };
        assert!(fullresync.ends_with(b" 0"), "{name}: fresh master syncs at offset 0");
        let stream: usize = items
            .iter()
            .filter(|(i, _)| matches!(i, LinkItem::Command(_)))
            .map(|(_, n)| n)
            .sum();
        let n = notes(scenario_of(&name));
        let reported: usize = n["replica_final"]["slave_repl_offset"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{name}: notes lack replica_final.slave_repl_offset"));
        assert_eq!(stream, reported, "{name}: stream bytes vs slave_repl_offset");
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} captures checked");
}

#[test]
fn disk_and_diskless_framings_are_recognised() {
    let disk = decode_m2r(&read("s1_disk.c1.m2r.bin"));
    let (framing, payload) = disk
        .iter()
        .find_map(|(i, _)| match i {
            LinkItem::Rdb { framing, payload } => Some((framing.clone(), payload.clone())),
            _ => None,
        })
        .expect("s1_disk has an RDB");
    assert_eq!(framing, RdbFraming::Length(350), "R31: `$350` preamble");
    assert!(payload.starts_with(b"REDIS0010"));

    let diskless = decode_m2r(&read("s1_diskless.c1.m2r.bin"));
    let rdb = diskless
        .iter()
        .find(|(i, _)| matches!(i, LinkItem::Rdb { .. }))
        .expect("rdb");
    match &rdb.0 {
        LinkItem::Rdb {
            framing: RdbFraming::EofMark(_),
            payload,
        } => {
            assert!(payload.starts_with(b"REDIS0010"));
            // R32: `$EOF:` + 40 + CRLF, the payload, and the 40-byte mark again.
            assert_eq!(rdb.1, 5 + 40 + 2 + payload.len() + 40);
        }
        other => panic!("R32: expected an EOF-mark transfer, got {other:?}"),
    }
}

#[test]
fn keepalive_newlines_are_out_of_band_items() {
    // R36: `\n` before `$350` (disk, after +FULLRESYNC) and before +FULLRESYNC (diskless delay).
    for (name, min) in [
        ("s1_keepalive_disk.c1.m2r.bin", 1),
        ("s1_keepalive_diskless.c1.m2r.bin", 2),
    ] {
        let items = decode_m2r(&read(name));
        let keepalives = items.iter().filter(|(i, _)| matches!(i, LinkItem::Keepalive)).count();
        assert!(keepalives >= min, "{name}: {keepalives} keepalives");
        assert!(items
            .iter()
            .filter(|(i, _)| matches!(i, LinkItem::Keepalive))
            .all(|(_, n)| *n == 1));
    }
}

fn argv_upper(r: &proto::Request) -> Vec<String> {
    r.argv
        .iter()
        .take(2)
        .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
        .collect()
}

/// R40/R45: the handshake order PING, [AUTH], REPLCONF listening-port, REPLCONF capa, PSYNC.
#[test]
fn replica_handshake_order_matches_r40() {
    for (scenario, auth) in [
        ("s1_startup", None),
        ("s1_disk", None),
        ("s1_diskless", None),
        ("s1_auth", Some(2)),
        ("s1_authuser", Some(3)),
    ] {
        let reqs = decode_r2m(&read(&format!("{scenario}.c1.r2m.bin")));
        let mut heads: Vec<Vec<String>> = reqs.iter().map(|(r, _)| argv_upper(r)).collect();
        heads.truncate(if auth.is_some() { 5 } else { 4 });
        let mut want = vec![vec!["PING".to_string()]];
        if let Some(argc) = auth {
            assert_eq!(reqs[1].0.argv.len(), argc, "{scenario}: AUTH [user] pass");
            want.push(vec![
                "AUTH".into(),
                String::from_utf8_lossy(&reqs[1].0.argv[1]).to_ascii_uppercase(),
            ]);
        }
        want.push(vec!["REPLCONF".into(), "LISTENING-PORT".into()]);
        want.push(vec!["REPLCONF".into(), "CAPA".into()]);
        want.push(vec![
            "PSYNC".into(),
            String::from_utf8_lossy(&reqs[want.len()].0.argv[1]).to_ascii_uppercase(),
        ]);
        assert_eq!(heads, want, "{scenario}");
    }
    let startup = decode_r2m(&read("s1_startup.c1.r2m.bin"));
    assert_eq!(
        startup[3].0.argv,
        vec![Bytes::from("PSYNC"), Bytes::from("?"), Bytes::from("-1")],
        "R45: a replica started with --replicaof has no cached master"
    );
}

/// I11: ACK values a replica sends are non-decreasing on one connection.
#[test]
fn acks_are_non_decreasing() {
    for name in files(".r2m.bin") {
        let acks: Vec<i64> = decode_r2m(&read(&name))
            .into_iter()
            .filter(|(r, _)| r.argv.len() == 3 && r.argv[1].eq_ignore_ascii_case(b"ACK"))
            .map(|(r, _)| proto::resp::parse_i64(&r.argv[2]).expect("ACK offset"))
            .collect();
        assert!(acks.windows(2).all(|w| w[0] <= w[1]), "{name}: {acks:?}");
    }
}

/// R42: with no masterauth the replica falls back to an inline `SYNC` after PSYNC fails.
#[test]
fn noauth_capture_falls_back_to_inline_sync() {
    let reqs = decode_r2m(&read("s1_noauth.c1.r2m.bin"));
    let last = reqs.last().expect("requests");
    assert!(last.0.inline, "SYNC is sent inline");
    assert_eq!(last.0.argv, vec![Bytes::from("SYNC")]);
    assert_eq!(last.1, 6);
}

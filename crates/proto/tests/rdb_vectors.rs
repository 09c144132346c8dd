//! RDB reader/writer against the payloads a real redis-server 7.0.15 sent (tests/vectors),
//! plus round-trip, corruption and never-panic properties.

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proto::rdb::{self, RdbDb, RdbEntry, RdbError, RdbFile, ReplInfo};
use proto::ReplId;

const S1_DISK: &[u8] = include_bytes!("../../../tests/vectors/redis-7.0.15/s1_disk.c1.m2r.bin");
const S1_DISKLESS: &[u8] = include_bytes!("../../../tests/vectors/redis-7.0.15/s1_diskless.c1.m2r.bin");

/// Every m2r vector that carries a full sync (s2_partial and s3_* have only .log files).
const FULL_SYNC_VECTORS: &[(&str, &[u8])] = &[
    ("s1_disk", S1_DISK),
    ("s1_diskless", S1_DISKLESS),
    (
        "s1_startup",
        include_bytes!("../../../tests/vectors/redis-7.0.15/s1_startup.c1.m2r.bin"),
    ),
    (
        "s1_auth",
        include_bytes!("../../../tests/vectors/redis-7.0.15/s1_auth.c1.m2r.bin"),
    ),
    (
        "s1_authuser",
        include_bytes!("../../../tests/vectors/redis-7.0.15/s1_authuser.c1.m2r.bin"),
    ),
    (
        "s1_keepalive_disk",
        include_bytes!("../../../tests/vectors/redis-7.0.15/s1_keepalive_disk.c1.m2r.bin"),
    ),
    (
        "s1_keepalive_diskless",
        include_bytes!("../../../tests/vectors/redis-7.0.15/s1_keepalive_diskless.c1.m2r.bin"),
    ),
];

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The RDB payload after `+FULLRESYNC … \r\n`: either `$<len>\r\n` + len bytes (R31) or
/// `$EOF:<mark>\r\n` + RDB + mark (R32); keepalive `\n`s before the preamble are skipped.
fn rdb_payload(stream: &[u8]) -> &[u8] {
    let fullresync = find(stream, b"+FULLRESYNC ", 0).expect("+FULLRESYNC in vector");
    let mut at = find(stream, b"\r\n", fullresync).expect("CRLF after +FULLRESYNC") + 2;
    while stream[at] == b'\n' {
        at += 1;
    }
    let line_end = find(stream, b"\r\n", at).expect("CRLF after preamble");
    let preamble = &stream[at..line_end];
    let start = line_end + 2;
    if let Some(mark) = preamble.strip_prefix(b"$EOF:") {
        assert_eq!(mark.len(), 40, "EOF mark length");
        let end = find(stream, mark, start).expect("EOF mark after payload");
        &stream[start..end]
    } else {
        let len: usize = std::str::from_utf8(&preamble[1..])
            .expect("ascii length")
            .parse()
            .expect("decimal length");
        &stream[start..start + len]
    }
}

fn entry(key: &str, value: &str, expire_ms: Option<i64>) -> RdbEntry {
    RdbEntry {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        expire_ms,
    }
}

/// 2100-01-01T00:00:00Z, the PXAT of `ttlkey` in the recording.
const TTLKEY_EXPIRE_MS: i64 = 4_102_444_800_000;

/// The keyspace every recorded full sync carries, sorted by key (redis' dict order varies).
fn expected_db0() -> Vec<RdbEntry> {
    vec![
        entry("bigint", "10000000000", None), // raw: does not fit i32
        entry("int16", "1000", None),         // 0xc1 int16
        entry("int32", "100000", None),       // 0xc2 int32
        entry("int8", "100", None),           // 0xc0 int8
        entry("k1", "v1", None),
        entry("long", "hello hello hello hello hello hello!", None), // 0xc3 LZF 14 -> 36
        entry("neg", "-12345", None),                                // 0xc1 int16
        entry("rand30", "q8Zr3KxW1pLm0Vb7TnYc2HsJ5dFg9A", None),     // raw, LZF would not pay
        entry("ttlkey", "expiring", Some(TTLKEY_EXPIRE_MS)),
    ]
}

fn sorted_entries(db: &RdbDb) -> Vec<RdbEntry> {
    let mut entries = db.entries.clone();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries
}

fn aux(file: &RdbFile, key: &str) -> Vec<u8> {
    file.aux_value(key).expect(key).to_vec()
}

/// Asserts the keyspace and the R65 aux fields shared by all recorded full syncs.
fn assert_recorded_keyspace(name: &str, file: &RdbFile) {
    assert_eq!(file.version, 10, "{name}");
    let keys: Vec<&[u8]> = file.aux.iter().map(|(k, _)| k.as_ref()).collect();
    let order: &[&[u8]] = &[
        b"redis-ver",
        b"redis-bits",
        b"ctime",
        b"used-mem",
        b"repl-stream-db",
        b"repl-id",
        b"repl-offset",
        b"aof-base",
    ];
    assert_eq!(keys, order, "{name}: R65 aux order");
    assert_eq!(aux(file, "redis-ver"), b"7.0.15");
    assert_eq!(aux(file, "redis-bits"), b"64");
    assert_eq!(aux(file, "aof-base"), b"0");
    assert_eq!(file.dbs.len(), 2, "{name}");
    assert_eq!(file.dbs[0].index, 0);
    assert_eq!(sorted_entries(&file.dbs[0]), expected_db0(), "{name}");
    assert_eq!(file.dbs[1].index, 3);
    assert_eq!(file.dbs[1].entries, vec![entry("d3key", "in db 3", None)]);
}

/// s1_disk, exactly: file order, aux values (ctime/used-mem int32) and repl info (R65, R67).
#[test]
fn s1_disk_payload_loads_exact_keyspace() {
    let payload = rdb_payload(S1_DISK);
    assert_eq!(payload.len(), 350);
    let file = rdb::load(payload).expect("s1_disk rdb loads");
    assert_recorded_keyspace("s1_disk", &file);
    assert_eq!(aux(&file, "ctime"), b"1795548054");
    assert_eq!(aux(&file, "used-mem"), b"1039352");
    let order: Vec<&[u8]> = file.dbs[0].entries.iter().map(|e| e.key.as_ref()).collect();
    let expected: &[&[u8]] = &[
        b"int32", b"k1", b"rand30", b"neg", b"int8", b"bigint", b"long", b"int16", b"ttlkey",
    ];
    assert_eq!(order, expected);
    let id = ReplId::from_bytes(b"cfbc9b6327c5545c672c213ca8a969863137e277").expect("40 chars");
    assert_eq!(
        file.repl_info(),
        Some(ReplInfo {
            repl_stream_db: 0,
            repl_id: id,
            repl_offset: 0
        })
    );
}

/// s1_diskless (`$EOF:` framing, R32): same keyspace, different dict order and replid.
#[test]
fn s1_diskless_payload_loads_exact_keyspace() {
    let payload = rdb_payload(S1_DISKLESS);
    assert_eq!(payload.len(), 350);
    let file = rdb::load(payload).expect("s1_diskless rdb loads");
    assert_recorded_keyspace("s1_diskless", &file);
    assert_eq!(aux(&file, "ctime"), b"1795548091");
    assert_eq!(aux(&file, "used-mem"), b"1039656");
    let id = ReplId::from_bytes(b"39c95ff166fc64666b6c190714b50ae7910fe0e1").expect("40 chars");
    let info = file.repl_info().expect("R67 repl info present");
    assert_eq!(info.repl_id, id);
    assert_eq!(info.repl_offset, 0);
    assert_eq!(info.repl_stream_db, 0);
}

/// Every recorded full sync loads, carries the same keyspace and a repl id equal to the one
/// in its +FULLRESYNC line (R65).
#[test]
fn all_recorded_full_sync_payloads_load() {
    for (name, stream) in FULL_SYNC_VECTORS {
        let file = rdb::load(rdb_payload(stream)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_recorded_keyspace(name, &file);
        let at = find(stream, b"+FULLRESYNC ", 0).expect("fullresync") + 12;
        let info = file.repl_info().expect("repl info");
        assert_eq!(&info.repl_id.0[..], &stream[at..at + 40], "{name}");
    }
}

/// write(load(x)) loads back to the same file, aux fields (ctime, used-mem, ...) included.
#[test]
fn recorded_payloads_round_trip_through_writer() {
    for (name, stream) in FULL_SYNC_VECTORS {
        let file = rdb::load(rdb_payload(stream)).expect("loads");
        let written = rdb::write(&file);
        assert_eq!(rdb::load(&written).as_ref(), Ok(&file), "{name}");
    }
}

/// Writing a loaded file reproduces redis' 350 bytes exactly: same aux order, int and LZF
/// encodings (liblzf-identical compressor), RESIZEDB counts and CRC-64 (R65).
#[test]
fn writer_reproduces_redis_bytes_exactly() {
    for (name, stream) in FULL_SYNC_VECTORS {
        let payload = rdb_payload(stream);
        let file = rdb::load(payload).expect("loads");
        assert_eq!(rdb::write(&file), payload, "{name}");
    }
}

/// A `SAVE` of redis-server 7.0.15 holding 116 values shaped for liblzf's corner cases
/// (`ci/make-lzf-vector.py`): rewriting it reproduces every byte, so our compressor makes
/// the same choices as redis's (literal runs, the 264-byte match cap, 8 KB offsets,
/// matches at the tail, when compression does not pay) and every length form matches.
#[test]
fn writer_reproduces_a_redis_dump_of_lzf_corner_cases() {
    let dump = include_bytes!("../../../tests/vectors/redis-7.0.15/lzf_corpus.rdb");
    let file = rdb::load(dump).expect("loads");
    let values = file.dbs.iter().map(|d| d.entries.len()).sum::<usize>();
    assert_eq!(values, 116);
    let written = rdb::write(&file);
    if written != dump {
        let at = written.iter().zip(dump.iter()).position(|(a, b)| a != b);
        panic!(
            "differs at byte {at:?} (ours {} bytes, redis {} bytes)",
            written.len(),
            dump.len()
        );
    }
}

/// The stored CRC-64 verifies, and any single-byte corruption is an `Err`, never a panic.
#[test]
fn recorded_checksum_verifies_and_any_flipped_byte_is_rejected() {
    let payload = rdb_payload(S1_DISK);
    assert!(rdb::load(payload).is_ok());
    for pos in 0..payload.len() {
        for mask in [0x01u8, 0x10, 0x80, 0xff] {
            let mut bad = payload.to_vec();
            bad[pos] ^= mask;
            assert!(rdb::load(&bad).is_err(), "flip {mask:#04x} at {pos} accepted");
        }
    }
}

/// Every strict prefix of a valid payload is an error (a truncated transfer), never a panic.
#[test]
fn every_strict_prefix_is_rejected() {
    for (name, stream) in FULL_SYNC_VECTORS {
        let payload = rdb_payload(stream);
        for len in 0..payload.len() {
            let err = rdb::load(&payload[..len]).expect_err("prefix accepted");
            if len >= 9 {
                assert!(
                    matches!(err, RdbError::UnexpectedEof { at, .. } if at == len),
                    "{name} prefix {len}: {err}"
                );
            }
        }
    }
}

/// A list value is a typed `Unsupported` error naming the key, not a skipped entry.
#[test]
fn list_value_is_unsupported_with_key_name() {
    let mut body = b"REDIS0010\xfe\x00\x01\x06mylist\x01\x01a".to_vec();
    body.push(0xff);
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        rdb::load(&body),
        Err(RdbError::Unsupported {
            type_byte: 1,
            key: "mylist".to_string(),
            at: 11
        })
    );
}

/// A file built like redis 7.0 builds it loads back with its repl info (R65, R67).
#[test]
fn with_repl_aux_round_trips_repl_info() {
    let info = ReplInfo {
        repl_stream_db: 5,
        repl_id: ReplId::from_random([7; 20]),
        repl_offset: 103_559,
    };
    let dbs = vec![RdbDb {
        index: 5,
        entries: vec![entry("x", "1", Some(1))],
    }];
    let file = RdbFile::with_repl_aux("7.0.15", 1_795_548_054, 1_039_352, Some(info), dbs);
    let loaded = rdb::load(&rdb::write(&file)).expect("loads");
    assert_eq!(loaded, file);
    assert_eq!(loaded.repl_info(), Some(info));
}

/// A mutation of a real payload: flip, truncate or insert a byte.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(p, m)| Mutation::Flip(p, m)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Insert(p, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    match *m {
        Mutation::Flip(p, mask) if !bytes.is_empty() => {
            let at = p % bytes.len();
            bytes[at] ^= mask;
        }
        Mutation::Truncate(p) => bytes.truncate(p % (bytes.len() + 1)),
        Mutation::Insert(p, b) => {
            let at = p % (bytes.len() + 1);
            bytes.insert(at, b);
        }
        Mutation::Flip(..) => {}
    }
}

/// Integration tests have no lib.rs beside them for proptest's default persistence, so
/// regressions go to `crates/proto/proptest-regressions/` explicitly (cargo runs tests
/// from the package root).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/rdb_vectors.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Cases per fuzz target: `FUZZ_CASES` (ci/fuzz.sh runs 1 M), else 10 000.
fn fuzz_cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    #![proptest_config(config(fuzz_cases()))]

    /// Garbage never panics, with or without a valid header in front.
    #[test]
    fn load_arbitrary_bytes_never_panics(
        header in any::<bool>(),
        data in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = if header { b"REDIS0010".to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&data);
        let _ = rdb::load(&bytes);
    }

    /// 1-4 mutations of a real payload never panic; a changed payload is never silently
    /// accepted as different data unless the checksum was zeroed (it is not here).
    #[test]
    fn load_mutated_vector_never_panics(
        mutations in proptest::collection::vec(arb_mutation(), 1..=4),
        diskless in any::<bool>(),
    ) {
        let payload = rdb_payload(if diskless { S1_DISKLESS } else { S1_DISK });
        let mut bytes = payload.to_vec();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if let Ok(file) = rdb::load(&bytes) {
            prop_assert_eq!(Ok(file), rdb::load(payload));
        }
    }
}

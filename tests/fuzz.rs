//! Fuzzing with proptest: arbitrary and grammar-aware inputs (byte flips, truncation,
//! duplication, rewritten length fields in the real redis vectors) for the RESP decoders,
//! the replication-link decoder, the replica core, the master core and the command layer.
//! Zero panics; errors are typed; a corrupt transfer never replaces the dataset.
//!
//! `FUZZ_CASES` sets the cases per target (10 000 in the normal run; ci/fuzz.sh runs 1 M).

use bytes::Bytes;
use proptest::prelude::*;
use proto::{ConnId, LinkDecoder, Millis, Request};
use psync_tests::vectors::{files, read};

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn m2r_vectors() -> Vec<Vec<u8>> {
    files(".m2r.bin").iter().map(|n| read(n)).collect()
}

fn r2m_vectors() -> Vec<Vec<u8>> {
    files(".r2m.bin").iter().map(|n| read(n)).collect()
}

/// One grammar-aware mutation of a real stream.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: prop::sample::Index,
        mask: u8,
    },
    Truncate {
        at: prop::sample::Index,
    },
    Duplicate {
        at: prop::sample::Index,
        len: usize,
    },
    /// Rewrites the digits after a `$` or `*` (a bulk/multibulk length) to `value`.
    Length {
        nth: prop::sample::Index,
        value: i64,
    },
    Insert {
        at: prop::sample::Index,
        bytes: Vec<u8>,
    },
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<prop::sample::Index>().prop_map(|at| Mutation::Truncate { at }),
        (any::<prop::sample::Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        (
            any::<prop::sample::Index>(),
            prop_oneof![Just(-1i64), Just(0), Just(1), -5i64..100_000, Just(i64::MAX)]
        )
            .prop_map(|(nth, value)| Mutation::Length { nth, value }),
        (
            any::<prop::sample::Index>(),
            proptest::collection::vec(any::<u8>(), 1..8)
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

fn mutate(mut v: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if v.is_empty() {
            return v;
        }
        match m {
            Mutation::Flip { at, mask } => {
                let i = at.index(v.len());
                v[i] ^= mask;
            }
            Mutation::Truncate { at } => v.truncate(at.index(v.len())),
            Mutation::Duplicate { at, len } => {
                let i = at.index(v.len());
                let end = (i + len).min(v.len());
                let dup = v[i..end].to_vec();
                v.splice(i..i, dup);
            }
            Mutation::Length { nth, value } => {
                let marks: Vec<usize> = (0..v.len()).filter(|&i| v[i] == b'$' || v[i] == b'*').collect();
                if marks.is_empty() {
                    continue;
                }
                let i = marks[nth.index(marks.len())] + 1;
                let end = (i..v.len())
                    .find(|&j| !v[j].is_ascii_digit() && v[j] != b'-')
                    .unwrap_or(v.len());
                v.splice(i..end, value.to_string().into_bytes());
            }
            Mutation::Insert { at, bytes } => {
                let i = at.index(v.len());
                v.splice(i..i, bytes.iter().copied());
            }
        }
    }
    v
}

/// Decodes a whole buffer with a fresh link decoder until an error or the end.
fn drain_link(bytes: &[u8]) -> Result<usize, proto::ProtoError> {
    let mut dec = LinkDecoder::new(1 << 20);
    let mut at = 0;
    while at < bytes.len() {
        match dec.decode(&bytes[at..])? {
            Some((_, n)) => {
                assert!(
                    n > 0 && at + n <= bytes.len(),
                    "consumed {n} at {at} of {}",
                    bytes.len()
                );
                at += n;
            }
            None => break,
        }
    }
    Ok(at)
}

/// Feeds bytes to a replica core in `chunk`-sized pieces after a handshake to PSYNC.
fn feed_replica(bytes: &[u8], chunk: usize) -> Vec<replica::Action> {
    let mut r = replica::Replica::new(replica::ReplicaConfig {
        listening_port: 17002,
        ..Default::default()
    });
    r.replicaof(Millis(0), None);
    let mut out: Vec<replica::Action> = r.drain_actions().collect();
    r.handle(Millis(1), replica::Event::Connected { link: r.link() });
    for (i, piece) in bytes.chunks(chunk.max(1)).enumerate() {
        let link = r.link();
        r.handle(
            Millis(2 + i as u64),
            replica::Event::Data {
                link,
                bytes: Bytes::copy_from_slice(piece),
            },
        );
        out.extend(r.drain_actions());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Request decoder on arbitrary bytes: no panic, consumed ≤ input.
    #[test]
    fn request_decoder_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(Some((_, n))) = Request::decode(&bytes) {
            prop_assert!(n <= bytes.len());
        }
    }

    /// Request decoder on mutated replica→master captures.
    #[test]
    fn request_decoder_survives_mutated_captures(pick in any::<prop::sample::Index>(), muts in proptest::collection::vec(arb_mutation(), 1..5)) {
        let vs = r2m_vectors();
        let v = mutate(vs[pick.index(vs.len())].clone(), &muts);
        let mut at = 0;
        while at < v.len() {
            match Request::decode(&v[at..]) {
                Ok(Some((_, n))) => at += n,
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// Link decoder on mutated master→replica captures (replies, RDB framings, stream).
    #[test]
    fn link_decoder_survives_mutated_captures(pick in any::<prop::sample::Index>(), muts in proptest::collection::vec(arb_mutation(), 1..5)) {
        let vs = m2r_vectors();
        let v = mutate(vs[pick.index(vs.len())].clone(), &muts);
        let _ = drain_link(&v);
    }

    /// The replica core fed mutated captures in random chunks: no panic, and a full sync
    /// is only ever loaded from an RDB whose checksum verified (a corrupt transfer never
    /// replaces the dataset).
    #[test]
    fn replica_core_never_loads_a_corrupt_rdb(pick in any::<prop::sample::Index>(), muts in proptest::collection::vec(arb_mutation(), 1..4), chunk in 1usize..400) {
        let names = files(".m2r.bin");
        let name = &names[pick.index(names.len())];
        let original = psync_tests::vectors::rdb_payload(name).map(|p| proto::rdb::load(&p).expect("vector rdb loads"));
        let v = mutate(read(name), &muts);
        for a in feed_replica(&v, chunk) {
            if let replica::Action::FullSyncLoaded { rdb, .. } = a {
                // CRC-64 protects the payload: whatever was loaded is the capture's own RDB.
                let original = original.as_ref().expect("a capture without an RDB produced a full sync");
                prop_assert_eq!(&rdb.dbs, &original.dbs, "a mutated RDB was loaded");
            }
        }
    }

    /// The master core fed arbitrary replication commands from many connections.
    #[test]
    fn master_core_survives_arbitrary_commands(cmds in proptest::collection::vec((0u32..4, proptest::collection::vec(prop_oneof![
            Just(Bytes::from_static(b"PSYNC")), Just(Bytes::from_static(b"SYNC")), Just(Bytes::from_static(b"REPLCONF")),
            Just(Bytes::from_static(b"ACK")), Just(Bytes::from_static(b"capa")), Just(Bytes::from_static(b"?")),
            Just(Bytes::from_static(b"-1")), Just(Bytes::from_static(b"listening-port")), Just(Bytes::from_static(b"getack")),
            any::<i64>().prop_map(|n| Bytes::from(n.to_string())), proptest::collection::vec(any::<u8>(), 0..45).prop_map(Bytes::from),
        ], 1..6)), 1..30)) {
        use rand_chacha::rand_core::SeedableRng;
        let mut m = master::Master::new(master::MasterConfig::default(), rand_chacha::ChaCha8Rng::seed_from_u64(1), Millis(0));
        for (i, (conn, argv)) in cmds.into_iter().enumerate() {
            m.handle(Millis(i as u64 * 300), master::Event::Command { conn: ConnId(conn), argv });
            m.handle(Millis(i as u64 * 300), master::Event::Propagate { db: i % 16, argv: vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from_static(b"v")] });
            if i % 3 == 0 {
                m.handle(Millis(i as u64 * 300 + 1), master::Event::Tick);
            }
            let _ = m.drain_actions().count();
        }
    }

    /// The command layer with arbitrary argv (names from the real command set).
    #[test]
    fn keyspace_survives_arbitrary_commands(cmds in proptest::collection::vec(proptest::collection::vec(prop_oneof![
            prop::sample::select(vec!["SET", "GET", "DEL", "INCR", "INCRBY", "DECRBY", "APPEND", "EXPIRE", "PEXPIREAT", "PERSIST", "TTL", "KEYS", "SELECT", "FLUSHDB", "EX", "PX", "NX", "XX", "GET", "KEEPTTL", "EXAT", "GT", "LT"]).prop_map(|s: &str| Bytes::from_static(s.as_bytes())),
            any::<i64>().prop_map(|n| Bytes::from(n.to_string())),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(Bytes::from),
        ], 1..7), 1..40)) {
        let mut ks = node::keyspace::Keyspace::new();
        let mut db = 0usize;
        for (i, argv) in cmds.iter().enumerate() {
            let _ = ks.execute(&mut db, argv, 1_700_000_000_000 + i as u64 * 1000, node::keyspace::Role::Master, node::keyspace::Origin::Client);
            prop_assert!(db < 16);
        }
    }
}

/// A short RDB transfer, a bad checksum and a mark mismatch each keep the old dataset:
/// the replica core reports the failure and reconnects, and emits no FullSyncLoaded.
#[test]
fn corrupt_short_and_lying_transfers_are_rejected() {
    let good = read("s1_disk.c1.m2r.bin");
    let pos = good.windows(5).position(|w| w == b"$350\r").expect("preamble");
    let rdb_start = pos + 6;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad crc", {
            let mut v = good.clone();
            v[rdb_start + 349] ^= 0xff;
            v
        }),
        ("bad value byte", {
            let mut v = good.clone();
            v[rdb_start + 200] ^= 0x01;
            v
        }),
        ("short transfer", good[..rdb_start + 100].to_vec()),
        ("nonsense fullresync offset", {
            let s = String::from_utf8_lossy(&good).replacen(" 0\r\n$350", " banana\r\n$350", 1);
            s.into_bytes()
        }),
    ];
    for (what, bytes) in cases {
        let actions = feed_replica(&bytes, 64);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, replica::Action::FullSyncLoaded { .. })),
            "{what}: a dataset was replaced"
        );
        if what != "short transfer" {
            assert!(
                actions.iter().any(|a| matches!(a, replica::Action::Close { .. })),
                "{what}: the link must be closed with a reason"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The simulator compares datasets by `fingerprint()` (fast) where redis tooling uses
    /// `digest()` (DEBUG DIGEST): on random pairs of small keyspaces they must agree on
    /// equality, and neither may depend on insertion order.
    #[test]
    fn fingerprint_agrees_with_debug_digest(
        a in proptest::collection::vec((0usize..3, 0u8..6, 0u8..4, any::<bool>()), 0..12),
        b in proptest::collection::vec((0usize..3, 0u8..6, 0u8..4, any::<bool>()), 0..12),
    ) {
        let build = |entries: &[(usize, u8, u8, bool)], rev: bool| {
            let mut ks = node::keyspace::Keyspace::new();
            // One entry per (db, key), so insertion order cannot change the final state.
            let mut seen = std::collections::BTreeSet::new();
            let mut list: Vec<_> = entries.iter().copied().filter(|(db, k, _, _)| seen.insert((*db, *k))).collect();
            if rev {
                list.reverse();
            }
            for (db, k, v, ttl) in list {
                let _ = ks.insert(db, Bytes::from(format!("k{k}")), Bytes::from(format!("v{v}")), ttl.then_some(1_000));
            }
            ks
        };
        let (x, y) = (build(&a, false), build(&b, false));
        prop_assert_eq!(x.fingerprint() == y.fingerprint(), x.digest() == y.digest());
        prop_assert_eq!(x.fingerprint(), build(&a, true).fingerprint());
    }

    /// Unlike DEBUG DIGEST, the fingerprint covers each key's absolute expiry deadline
    /// (issue 13d): two datasets agree on it exactly when they hold the same keys, values
    /// and deadlines, and the stream model's incremental sum of `entry_fingerprint`s gives
    /// the same number.
    #[test]
    fn fingerprint_covers_expiry_deadlines(
        a in proptest::collection::vec((0usize..3, 0u8..4, 0u8..3, proptest::option::of(0i64..3)), 0..10),
        b in proptest::collection::vec((0usize..3, 0u8..4, 0u8..3, proptest::option::of(0i64..3)), 0..10),
    ) {
        let dedup = |entries: &[(usize, u8, u8, Option<i64>)]| {
            let mut m = std::collections::BTreeMap::new();
            for (db, k, v, t) in entries {
                m.insert((*db, *k), (*v, t.map(|t| 1_000 + t)));
            }
            m
        };
        let build = |m: &std::collections::BTreeMap<(usize, u8), (u8, Option<i64>)>| {
            let mut ks = node::keyspace::Keyspace::new();
            let mut sum = 0u64;
            for ((db, k), (v, t)) in m {
                let (key, val) = (format!("k{k}"), format!("v{v}"));
                let _ = ks.insert(*db, Bytes::from(key.clone()), Bytes::from(val.clone()), *t);
                sum = sum.wrapping_add(node::keyspace::entry_fingerprint(*db, key.as_bytes(), val.as_bytes(), *t));
            }
            (ks, node::keyspace::combine_fingerprint(sum, m.len()))
        };
        let (ma, mb) = (dedup(&a), dedup(&b));
        let ((x, xs), (y, _)) = (build(&ma), build(&mb));
        prop_assert_eq!(x.fingerprint() == y.fingerprint(), ma == mb);
        prop_assert_eq!(x.fingerprint(), xs);
    }
    /// The running fingerprint (issue 16: kept by every write once asked for, instead of
    /// summed over every key at every step) always equals the fingerprint of a keyspace
    /// rebuilt from scratch with the same entries, whatever the writes: overwrites, TTL
    /// changes, renames, deletes, lazy and active expiry, FLUSHDB and FLUSHALL.
    #[test]
    fn running_fingerprint_matches_a_rebuilt_keyspace(
        ops in proptest::collection::vec((0u8..14, 0u8..4, 0u8..4, 0u64..3), 1..40),
    ) {
        use node::keyspace::{Keyspace, Origin, Role};
        let mut ks = Keyspace::new();
        let _ = ks.fingerprint(); // from here on the sum is kept, not recomputed
        let mut db = 0usize;
        let mut now = 1_000u64;
        for (op, k, v, dt) in ops {
            now += dt * 400;
            let (k, k2, v) = (format!("k{k}"), format!("k{}", (k + 1) % 4), format!("{v}"));
            let argv: Vec<&str> = match op {
                0 => vec!["SET", &k, &v],
                1 => vec!["SET", &k, &v, "PX", "500"],
                2 => vec!["DEL", &k],
                3 => vec!["PEXPIRE", &k, "300"],
                4 => vec!["PERSIST", &k],
                5 => vec!["RENAME", &k, &k2],
                6 => vec!["MSET", &k, &v, &k2, &v],
                7 => vec!["APPEND", &k, &v],
                8 => vec!["INCR", &k],
                9 => vec!["GETEX", &k, "PX", "700"],
                10 => vec!["SELECT", if v == "0" { "1" } else { "0" }],
                11 => vec!["FLUSHDB"],
                12 => vec!["FLUSHALL"],
                _ => {
                    let _ = ks.active_expire(now);
                    vec!["GET", &k]
                }
            };
            let argv: Vec<Bytes> = argv.into_iter().map(|a| Bytes::from(a.to_owned())).collect();
            let _ = ks.execute(&mut db, &argv, now, Role::Master, Origin::Client);
            let mut fresh = Keyspace::new();
            for d in 0..node::keyspace::DB_COUNT {
                for (key, e) in ks.iter_db(d) {
                    fresh.insert(d, key.clone(), e.value.clone(), e.expire_ms).expect("db in range");
                }
            }
            prop_assert_eq!(ks.fingerprint(), fresh.fingerprint(), "after {:?}", argv);
        }
    }
}

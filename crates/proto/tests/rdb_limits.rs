//! The RDB codec at its boundaries: length forms as `rdbSaveLen` writes them, the LZF
//! threshold, the size checks that run before any allocation (a lying header must fail on
//! its claim, not after reading), the length bytes redis never writes, and the repl aux
//! fields a restart may resume from (R67/R68).

use bytes::Bytes;
use proto::rdb::{self, RdbDb, RdbEntry, RdbError, RdbFile, ReplInfo, MAX_STRING_LEN};
use proto::ReplId;

/// `REDIS0010`, SELECTDB 0, a string key `k`, then `value` (the value's encoded bytes).
fn one_string(value: &[u8]) -> Vec<u8> {
    let mut b = b"REDIS0010".to_vec();
    b.extend_from_slice(&[0xFE, 0x00, 0x00, 0x01, b'k']);
    b.extend_from_slice(value);
    b
}

fn file_with(value: Bytes) -> RdbFile {
    RdbFile::with_repl_aux(
        "7.0.15",
        0,
        0,
        None,
        vec![RdbDb {
            index: 0,
            entries: vec![RdbEntry {
                key: Bytes::from_static(b"k"),
                value,
                expire_ms: None,
            }],
        }],
    )
}

/// The bytes `rdb::write` puts right after the key `k` for `value`.
fn encoded_value(value: &[u8]) -> Vec<u8> {
    let out = rdb::write(&file_with(Bytes::copy_from_slice(value)));
    let key_at = out
        .windows(3)
        .position(|w| w == [0x00, 0x01, b'k'])
        .expect("the string entry");
    out[key_at + 3..].to_vec()
}

/// Bytes no LZF run shortens (no 3-byte repeats).
fn incompressible(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn lengths_use_the_shortest_rdb_save_len_form() {
    for (len, prefix) in [
        (63usize, vec![63u8]),
        (64, vec![0x40, 64]),
        (300, vec![0x41, 0x2c]),
        (16383, vec![0x7f, 0xff]),
        (16384, vec![0x80, 0x00, 0x00, 0x40, 0x00]),
    ] {
        let value = incompressible(len);
        let enc = encoded_value(&value);
        assert_eq!(&enc[..prefix.len()], &prefix[..], "length {len}");
        assert_eq!(&enc[prefix.len()..prefix.len() + len], &value[..]);
        let back = rdb::load(&rdb::write(&file_with(Bytes::from(value.clone())))).expect("round trip");
        assert_eq!(back.dbs[0].entries[0].value, Bytes::from(value));
    }
}

#[test]
fn only_strings_longer_than_20_bytes_are_lzf_compressed() {
    // rdbSaveRawString: `if (server.rdb_compression && len > 20)`.
    assert_eq!(encoded_value(&[b'a'; 20])[0], 20, "20 bytes: raw");
    assert_eq!(encoded_value(&[b'a'; 21])[0], 0xC3, "21 bytes: LZF");
}

#[test]
fn an_lzf_claim_is_judged_before_its_data_is_read() {
    // 1 compressed byte can never expand to more than 88 (264 per 3-byte reference):
    // a larger claim is corrupt at once, while one within bounds waits for its data.
    let over = one_string(&[0xC3, 0x01, 0x40, 89]);
    assert!(matches!(rdb::load(&over), Err(RdbError::LzfCorrupt { .. })), "89x");
    let within = one_string(&[0xC3, 0x01, 0x40, 88]);
    assert!(matches!(rdb::load(&within), Err(RdbError::UnexpectedEof { .. })), "88x");
}

#[test]
fn a_string_of_exactly_the_limit_is_allowed_one_more_byte_is_not() {
    let len = |n: u64| -> Vec<u8> {
        let mut v = vec![0x81];
        v.extend_from_slice(&n.to_be_bytes());
        v
    };
    let at_limit = one_string(&len(MAX_STRING_LEN));
    assert!(
        matches!(rdb::load(&at_limit), Err(RdbError::UnexpectedEof { .. })),
        "{:?}",
        rdb::load(&at_limit)
    );
    let over = one_string(&len(MAX_STRING_LEN + 1));
    assert!(matches!(rdb::load(&over), Err(RdbError::TooLong { .. })));
}

#[test]
fn length_bytes_0x82_to_0xbf_are_invalid() {
    // rdbLoadLenByRef knows 0x80 (32-bit) and 0x81 (64-bit) only.
    for first in [0x82u8, 0x9f, 0xbf] {
        let bad = one_string(&[first, 0, 0, 0, 0, 0, 0, 0, 0, b'x']);
        assert!(
            matches!(rdb::load(&bad), Err(RdbError::BadLength { .. })),
            "{first:#x}: {:?}",
            rdb::load(&bad)
        );
    }
}

#[test]
fn repl_aux_fields_seed_a_resync_only_when_all_are_valid() {
    let id = ReplId(*b"0123456789abcdef0123456789abcdef01234567");
    let info = |offset: u64, db: u32| {
        RdbFile::with_repl_aux(
            "7.0.15",
            0,
            0,
            Some(ReplInfo {
                repl_stream_db: db,
                repl_id: id,
                repl_offset: offset,
            }),
            vec![],
        )
        .repl_info()
    };
    for (offset, db) in [(0, 0), (1, 1), (1, 15), (u64::from(u32::MAX) + 7, 3)] {
        assert_eq!(
            info(offset, db),
            Some(ReplInfo {
                repl_stream_db: db,
                repl_id: id,
                repl_offset: offset,
            }),
            "offset {offset} db {db}"
        );
    }
    assert_eq!(info(5, 16), None, "db 16 does not exist");
}

//! DEBUG DIGEST, computed exactly like redis 7.0 `computeDatasetDigest()` (src/debug.c).
//!
//! The oracle compares this with `DEBUG DIGEST` of real servers, so every step mirrors the
//! C code, including the quirks: the per-key digest is folded into the result through
//! another SHA1 (`xorDigest(final, digest, 20)`), and only the *presence* of a TTL counts.

use bytes::Bytes;
use sha1::{Digest as _, Sha1};
use std::collections::BTreeMap;

use super::Entry;

/// `OBJ_STRING`, the only value type this keyspace stores.
const OBJ_STRING: u32 = 0;

fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// `xorDigest()`: `digest ^= SHA1(data)`; order-independent, used for unordered members.
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// `mixDigest()`: `digest = SHA1(digest ^ SHA1(data))`; order-dependent.
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(digest.as_slice());
}

/// `xorObjectDigest()` for a string value: the type, the value, then the TTL marker.
///
/// This is also what `DEBUG DIGEST-VALUE` reports for one key.
pub(crate) fn value_digest(digest: &mut [u8; 20], entry: &Entry) {
    mix_digest(digest, &OBJ_STRING.to_be_bytes());
    mix_digest(digest, &entry.value);
    if entry.redis_get_expire() != -1 {
        xor_digest(digest, b"!!expire!!");
    }
}

/// `computeDatasetDigest()`. Empty databases are skipped entirely (their id is not mixed
/// in), so an empty keyspace digests to 20 zero bytes.
pub(crate) fn dataset_digest(dbs: &[BTreeMap<Bytes, Entry>]) -> [u8; 20] {
    let mut result = [0u8; 20];
    for (id, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let id = u32::try_from(id).expect("database ids are below DB_COUNT");
        mix_digest(&mut result, &id.to_be_bytes());
        for (key, entry) in db {
            let mut digest = [0u8; 20];
            mix_digest(&mut digest, key);
            value_digest(&mut digest, entry);
            xor_digest(&mut result, &digest);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &'static [u8], expire_ms: Option<i64>) -> Entry {
        Entry::new(Bytes::from_static(value), expire_ms)
    }

    #[test]
    fn empty_dataset_is_all_zero() {
        let dbs = vec![BTreeMap::new(); 16];
        assert_eq!(dataset_digest(&dbs), [0u8; 20]);
    }

    /// Captured from redis-server 7.0.15: db 0 holding `b=2` and `c=3` with a TTL.
    #[test]
    fn matches_redis_7_0_15_capture() {
        let mut dbs = vec![BTreeMap::new(); 16];
        dbs[0].insert(Bytes::from_static(b"b"), entry(b"2", None));
        dbs[0].insert(Bytes::from_static(b"c"), entry(b"3", Some(1_795_598_504_228)));
        assert_eq!(
            hex::encode(dataset_digest(&dbs)),
            "3b2342ff40720139d0bb61d8ad77250382f7bd27"
        );
    }

    #[test]
    fn ttl_value_does_not_matter_but_presence_does() {
        let mut a = vec![BTreeMap::new(); 16];
        let mut b = vec![BTreeMap::new(); 16];
        a[3].insert(Bytes::from_static(b"k"), entry(b"v", Some(1)));
        b[3].insert(Bytes::from_static(b"k"), entry(b"v", Some(99)));
        assert_eq!(dataset_digest(&a), dataset_digest(&b));
        b[3].insert(Bytes::from_static(b"k"), entry(b"v", None));
        assert_ne!(dataset_digest(&a), dataset_digest(&b));
    }
}

//! The simulator's dataset fingerprint: an order-independent wrapping sum of one hash per
//! entry, kept up to date by every mutation once it has been asked for.
//!
//! The simulator fingerprints every node whose position moved, at every step; recomputing
//! the sum over every key each time was the largest single cost of observing a run
//! (issue 16). So every write to a database goes through [`DbMut`], which adjusts the
//! running sum; nothing here may hand out `&mut` to a database map or an entry. A
//! keyspace nobody fingerprints (psync-node serving clients) never pays for it: the sum
//! is only tracked after the first [`Keyspace::fingerprint`]. Debug builds recompute the
//! sum on every call and compare.

use std::cell::Cell;
use std::collections::BTreeMap;

use bytes::Bytes;

use super::{Entry, Keyspace};

/// FNV-style, a word at a time (a byte loop made fingerprinting multi-MB values 94 % of a
/// simulation run).
pub(super) fn fnv(h: &mut u64, bytes: &[u8]) {
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        *h ^= u64::from_le_bytes(w.try_into().expect("8-byte chunk"));
        *h = h.wrapping_mul(0x0100_0000_01b3);
        *h ^= *h >> 29;
    }
    for b in words.remainder() {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

/// The running sum of every entry's [`entry_hash`], `None` until first asked for. Never
/// takes part in equality: two keyspaces with the same data are equal.
#[derive(Debug, Clone, Default)]
pub(super) struct RunningSum(Cell<Option<u64>>);

impl PartialEq for RunningSum {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RunningSum {}

impl RunningSum {
    fn add(&self, db: usize, key: &[u8], e: &Entry) {
        if let Some(s) = self.0.get() {
            self.0.set(Some(s.wrapping_add(hash_of(db, key, e))));
        }
    }

    fn sub(&self, db: usize, key: &[u8], e: &Entry) {
        if let Some(s) = self.0.get() {
            self.0.set(Some(s.wrapping_sub(hash_of(db, key, e))));
        }
    }

    /// Every database was emptied: the sum of nothing.
    pub(super) fn reset(&self) {
        if self.0.get().is_some() {
            self.0.set(Some(0));
        }
    }
}

fn hash_of(db: usize, key: &[u8], e: &Entry) -> u64 {
    entry_hash(db, key, e.value_hash(), e.expire_ms)
}

/// One database, writable only through operations that keep the running sum (and the
/// keyspace's version) right.
pub(crate) struct DbMut<'a> {
    id: usize,
    map: &'a mut BTreeMap<Bytes, Entry>,
    sum: &'a RunningSum,
}

impl<'a> DbMut<'a> {
    /// Database `id` for writing (`None` if out of range); counts as a change of the data
    /// ([`Keyspace::version`]).
    pub(super) fn new(ks: &'a mut Keyspace, id: usize) -> Option<DbMut<'a>> {
        if id >= ks.dbs.len() {
            return None;
        }
        ks.touch();
        Some(DbMut {
            id,
            map: &mut ks.dbs[id],
            sum: &ks.fp_sum,
        })
    }

    /// Stores `entry` under `key`, returning the entry it replaced.
    pub(crate) fn insert(&mut self, key: Bytes, entry: Entry) -> Option<Entry> {
        self.sum.add(self.id, &key, &entry);
        let old = self.map.insert(key.clone(), entry);
        if let Some(o) = &old {
            self.sum.sub(self.id, &key, o);
        }
        old
    }

    /// Removes `key`, returning the stored key and entry.
    pub(crate) fn remove_entry(&mut self, key: &[u8]) -> Option<(Bytes, Entry)> {
        let (k, e) = self.map.remove_entry(key)?;
        self.sum.sub(self.id, &k, &e);
        Some((k, e))
    }

    /// Removes `key`, returning its entry.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.remove_entry(key).map(|(_, e)| e)
    }

    /// Sets or clears a stored key's expiry; false if the key is not stored.
    pub(crate) fn set_expire(&mut self, key: &[u8], expire_ms: Option<i64>) -> bool {
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        self.sum.sub(self.id, key, e);
        e.expire_ms = expire_ms;
        self.sum.add(self.id, key, e);
        true
    }

    /// Removes every key of this database (FLUSHDB).
    pub(crate) fn clear(&mut self) {
        for (k, e) in self.map.iter() {
            self.sum.sub(self.id, k, e);
        }
        self.map.clear();
    }

    /// The entries, read-only (e.g. to choose which to remove).
    pub(crate) fn map(&self) -> &BTreeMap<Bytes, Entry> {
        self.map
    }
}

impl Keyspace {
    /// A fast order-independent fingerprint of the dataset (db, key, value and the
    /// absolute expiry deadline — more than DEBUG DIGEST, which only covers whether a TTL
    /// is set, because a replica with the wrong deadline diverges later, R72) for the
    /// simulator's oracles, which compare datasets at every stream position. A wrapping
    /// sum of [`entry_fingerprint`]s, kept up to date by every write once asked for (see
    /// the module header); the SHA-1 based [`Keyspace::digest`] is about 50x dearer even
    /// recomputed.
    pub fn fingerprint(&self) -> u64 {
        let sum = match self.fp_sum.0.get() {
            Some(s) => {
                debug_assert_eq!(s, self.full_sum(), "the running fingerprint sum drifted");
                s
            }
            None => {
                let s = self.full_sum();
                self.fp_sum.0.set(Some(s));
                s
            }
        };
        combine_fingerprint(sum, self.len())
    }

    fn full_sum(&self) -> u64 {
        let mut total: u64 = 0;
        for (db, map) in self.dbs.iter().enumerate() {
            for (k, e) in map {
                total = total.wrapping_add(hash_of(db, k, e));
            }
        }
        total
    }
}

/// One entry's share of [`Keyspace::fingerprint`], so that a model of the stream (the
/// simulator's) can keep the same fingerprint incrementally: add it for a new entry,
/// subtract it (wrapping) for a removed one, then [`combine_fingerprint`].
pub fn entry_fingerprint(db: usize, key: &[u8], value: &[u8], expire_ms: Option<i64>) -> u64 {
    let mut vh: u64 = 0xcbf2_9ce4_8422_2325;
    fnv(&mut vh, value);
    entry_hash(db, key, vh, expire_ms)
}

/// The fingerprint of a dataset whose entries' [`entry_fingerprint`]s sum to `sum`.
pub fn combine_fingerprint(sum: u64, len: usize) -> u64 {
    sum ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn entry_hash(db: usize, key: &[u8], value_hash: u64, expire_ms: Option<i64>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    fnv(&mut h, &(db as u64).to_le_bytes());
    fnv(&mut h, &(key.len() as u64).to_le_bytes());
    fnv(&mut h, key);
    match expire_ms {
        None => fnv(&mut h, &[0]),
        Some(t) => {
            fnv(&mut h, &[1]);
            fnv(&mut h, &t.to_le_bytes());
        }
    }
    fnv(&mut h, &value_hash.to_le_bytes());
    // Finalise (xorshift-multiply) so that sums of similar entries spread.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

//! The keyspace: 16 databases of string keys with TTLs, and the string / keyspace commands
//! a psync-node serves, answered byte-for-byte like redis-server 7.0.
//!
//! It owns the data, the expiry rules (lazy expiry on lookups, active expiry on request)
//! and the exact form in which each write must be propagated (`SET ... PXAT`, `PEXPIREAT`,
//! `DEL` for expired keys, MULTI/EXEC wrapping). It must never read a clock (time is the
//! `now_ms` argument), never emit SELECT (the replication layer does, R71) and never touch
//! IO. Submodules: `exec` (dispatch), `generic`/`strings`/`multikey`/`keys`/`expire`
//! (commands), `glob`, `digest`, `parse`, `reply`.

mod digest;
mod error;
mod exec;
mod expire;
mod fingerprint;
mod generic;
pub mod glob;
mod keys;
mod multikey;
mod parse;
mod reply;
mod strings;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use std::collections::BTreeMap;

pub use error::{unknown_command, unknown_subcommand, CommandError, KeyspaceError};
pub(crate) use fingerprint::DbMut;
pub use fingerprint::{combine_fingerprint, entry_fingerprint};
use fingerprint::{fnv, RunningSum};

/// Number of databases, redis' default `databases 16`.
pub const DB_COUNT: usize = 16;

/// Redis' default `proto-max-bulk-len` (512 MiB): the largest string APPEND may build.
pub const PROTO_MAX_BULK_LEN_DEFAULT: u64 = 512 * 1024 * 1024;

/// One key's value and TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The string value (redis `OBJ_STRING`; integers are kept in their decimal form,
    /// which is byte-identical to what redis replies and digests).
    pub value: Bytes,
    /// Absolute expiry in unix milliseconds, `None` for no TTL.
    ///
    /// Signed like redis' `long long` expire: a replica applying `PEXPIREAT k -5` from its
    /// master stores a negative time (masters turn past times into DEL instead), and RDB
    /// expiry fields are signed too.
    pub expire_ms: Option<i64>,
    /// The value's hash for [`Keyspace::fingerprint`], computed once: values are immutable
    /// `Bytes` (every change builds a new `Entry`), and the simulator fingerprints every
    /// node at every step, multi-MB values included.
    vhash: ValueHash,
}

/// A lazily computed hash that never takes part in equality.
#[derive(Debug, Clone, Default)]
struct ValueHash(std::cell::Cell<Option<u64>>);

impl PartialEq for ValueHash {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ValueHash {}

impl Entry {
    /// A value with an optional absolute expiry (unix ms).
    pub fn new(value: Bytes, expire_ms: Option<i64>) -> Entry {
        Entry {
            value,
            expire_ms,
            vhash: ValueHash::default(),
        }
    }

    fn value_hash(&self) -> u64 {
        if let Some(h) = self.vhash.0.get() {
            return h;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        fnv(&mut h, &self.value);
        self.vhash.0.set(Some(h));
        h
    }

    /// Redis `getExpire()`: -1 means "no TTL". A stored -1 therefore also reads as no TTL,
    /// a quirk kept so TTL, EXPIRE GT/LT and the digest agree with redis on such keys.
    fn redis_get_expire(&self) -> i64 {
        self.expire_ms.unwrap_or(-1)
    }

    /// Redis `keyIsExpired()`: negative expiry times never count as expired, and a key is
    /// still alive at exactly its expiry millisecond (`now > when`).
    fn is_expired(&self, now_ms: i64) -> bool {
        let when = self.redis_get_expire();
        when >= 0 && now_ms > when
    }
}

/// The replication role of the node executing a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A top-level master: deletes expired keys it touches and propagates writes.
    Master,
    /// A replica: never deletes keys because of time (I18), rejects client writes, and
    /// propagates nothing itself (it proxies its master's stream verbatim).
    Replica,
}

/// Who sent the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An ordinary client connection.
    Client,
    /// The replica's link to its master (`server.master` in redis): expired keys are
    /// treated as live and size limits are not enforced (`mustObeyClient()`).
    MasterLink,
}

/// One command to feed to the replication stream and its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagated {
    /// Database the command applies to; the replication layer emits SELECT when it changes.
    pub db: usize,
    /// The command exactly as it must be encoded (R70).
    pub argv: Vec<Bytes>,
}

impl Propagated {
    fn new(db: usize, argv: Vec<Bytes>) -> Self {
        debug_assert!(db < DB_COUNT, "propagated db {db} out of range");
        debug_assert!(!argv.is_empty(), "propagated an empty command");
        Self { db, argv }
    }
}

/// What one executed command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The exact RESP2 reply bytes.
    pub reply: Vec<u8>,
    /// Commands to propagate, in order, exactly as redis 7.0's `propagatePendingCommands()`
    /// would: DELs of keys found expired during the command, then the command's own
    /// rewritten form, the whole wrapped in MULTI ... EXEC when there is more than one.
    /// Empty for reads, failures, writes that changed nothing, and on replicas.
    pub propagate: Vec<Propagated>,
}

/// Sixteen databases of string keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace {
    /// Always exactly `DB_COUNT` maps; BTreeMap so that every iteration (KEYS, active
    /// expiry, digests, RDB writing) has one defined order.
    dbs: Vec<BTreeMap<Bytes, Entry>>,
    proto_max_bulk_len: u64,
    /// Bumped by every path that may change the data (see [`Keyspace::version`]).
    version: Version,
    /// [`Keyspace::fingerprint`]'s running sum, kept by [`DbMut`].
    fp_sum: RunningSum,
}

/// A change counter that never takes part in equality: two keyspaces with the same data
/// are equal whatever their history.
#[derive(Debug, Clone, Copy, Default)]
struct Version(u64);

impl PartialEq for Version {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Version {}

impl Default for Keyspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Keyspace {
    /// An empty keyspace with redis' default limits.
    pub fn new() -> Self {
        Self {
            dbs: vec![BTreeMap::new(); DB_COUNT],
            proto_max_bulk_len: PROTO_MAX_BULK_LEN_DEFAULT,
            version: Version::default(),
            fp_sum: RunningSum::default(),
        }
    }

    /// A counter that moves whenever the data may have changed (every mutable access,
    /// conservatively). The simulator uses it to look at a replica's dataset whenever it
    /// changes, not only when its offset moves (I10, I18): a change at an unchanged
    /// offset is a violation unless the dataset is still what the stream says.
    pub fn version(&self) -> u64 {
        self.version.0
    }

    fn touch(&mut self) {
        self.version.0 = self.version.0.wrapping_add(1);
    }

    /// Mirrors `CONFIG SET proto-max-bulk-len`: the largest string APPEND may produce.
    /// Tests lower it to exercise the limit without allocating 512 MiB.
    pub fn set_proto_max_bulk_len(&mut self, bytes: u64) {
        self.proto_max_bulk_len = bytes;
    }

    /// The current `proto-max-bulk-len`.
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.proto_max_bulk_len
    }

    /// Executes one command for a client whose selected database is `*db`.
    ///
    /// Returns `None` when `argv[0]` (case-insensitive) is not a keyspace command, so the
    /// node can handle it (REPLICAOF, INFO, ...) or reply "unknown command". SELECT updates
    /// `*db`. Never panics on any `argv`.
    ///
    /// # Panics
    /// If `*db >= DB_COUNT`: the selected database only ever comes from a successful
    /// SELECT, so anything else is a bug in the caller.
    pub fn execute(
        &mut self,
        db: &mut usize,
        argv: &[Bytes],
        now_ms: u64,
        role: Role,
        origin: Origin,
    ) -> Option<Outcome> {
        let mut out = self.execute_unwrapped(db, argv, now_ms, role, origin)?;
        // `CMD_TOUCHES_ARBITRARY_KEYS` (SCAN): its lazy-expiry DELs are not wrapped, like
        // active expiry's (redis 7.0.15 `propagatePendingCommands()`).
        if !exec::touches_arbitrary_keys(&argv[0]) {
            out.propagate = wrap_multi(out.propagate);
        }
        Some(out)
    }

    /// [`Keyspace::execute`] for one command of a client's MULTI … EXEC: the ops are not
    /// wrapped, because redis 7.0 wraps everything an EXEC propagated once, at its end
    /// (`propagatePendingCommands()`); the caller collects them and calls [`wrap_multi`].
    pub fn execute_in_transaction(
        &mut self,
        db: &mut usize,
        argv: &[Bytes],
        now_ms: u64,
        role: Role,
        origin: Origin,
    ) -> Option<Outcome> {
        self.execute_unwrapped(db, argv, now_ms, role, origin)
    }

    fn execute_unwrapped(
        &mut self,
        db: &mut usize,
        argv: &[Bytes],
        now_ms: u64,
        role: Role,
        origin: Origin,
    ) -> Option<Outcome> {
        assert!(*db < DB_COUNT, "selected db {} out of range", *db);
        let spec = exec::lookup_command(argv.first()?)?;
        let mut ctx = exec::Exec::new(self, *db, now_ms, role, origin);
        let reply = match ctx.run(spec, argv) {
            Ok(reply) => reply,
            Err(err) => err.to_reply(),
        };
        let (selected, propagate) = ctx.finish();
        *db = selected;
        debug_assert!(*db < DB_COUNT, "SELECT produced db {}", *db);
        Some(Outcome { reply, propagate })
    }

    /// Active expiry (`activeExpireCycle()` run to completion): deletes every key whose TTL
    /// has passed and returns one `DEL key` per key, db ascending then key ascending.
    ///
    /// Only masters may call this (I18: replicas wait for the master's DELs). Unlike lazy
    /// expiry, these DELs are never wrapped in MULTI/EXEC (`propagate_no_multi`).
    pub fn active_expire(&mut self, now_ms: u64) -> Vec<Propagated> {
        let now = exec::now_i64(now_ms);
        let mut dels = Vec::new();
        for id in 0..DB_COUNT {
            let mut db = DbMut::new(self, id).expect("id < DB_COUNT");
            let expired: Vec<Bytes> = db
                .map()
                .iter()
                .filter(|(_, e)| e.is_active_expired(now))
                .map(|(k, _)| k.clone())
                .collect();
            for key in expired {
                db.remove(&key);
                dels.push(Propagated::new(id, vec![Bytes::from_static(b"DEL"), key]));
            }
        }
        dels
    }

    /// `DEBUG DIGEST` of the whole dataset, exactly as redis 7.0 computes it. Logically
    /// expired keys that are still stored count, as they do in redis.
    pub fn digest(&self) -> [u8; 20] {
        digest::dataset_digest(&self.dbs)
    }

    /// [`Keyspace::digest`] as the 40 lowercase hex characters DEBUG DIGEST replies with.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest())
    }

    /// The stored entry, without any expiry check (like redis' `dictFind`).
    pub fn get(&self, db: usize, key: &[u8]) -> Option<&Entry> {
        self.dbs.get(db)?.get(key)
    }

    /// Stores `key` (replacing any previous entry), e.g. while loading an RDB.
    ///
    /// # Errors
    /// [`KeyspaceError::DbOutOfRange`] if `db >= DB_COUNT`; RDB SELECTDB values come from
    /// the network, so this is an error rather than a panic.
    pub fn insert(&mut self, db: usize, key: Bytes, value: Bytes, expire_ms: Option<i64>) -> Result<(), KeyspaceError> {
        let mut map = DbMut::new(self, db).ok_or(KeyspaceError::DbOutOfRange { db, max: DB_COUNT })?;
        map.insert(key, Entry::new(value, expire_ms));
        Ok(())
    }

    /// The entries of database `db` in key order (empty if `db` is out of range).
    pub fn iter_db(&self, db: usize) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.dbs.get(db).into_iter().flatten()
    }

    /// Removes every key from every database (a full resync loading a new RDB).
    pub fn clear(&mut self) {
        self.touch();
        self.dbs.iter_mut().for_each(BTreeMap::clear);
        self.fp_sum.reset();
    }

    /// Number of stored keys over all databases, logically expired ones included.
    pub fn len(&self) -> usize {
        self.dbs.iter().map(BTreeMap::len).sum()
    }

    /// Whether no database holds any key.
    pub fn is_empty(&self) -> bool {
        self.dbs.iter().all(BTreeMap::is_empty)
    }

    /// Stored keys in database `db` (what DBSIZE replies: expired keys still count); 0 if
    /// `db` is out of range.
    pub fn dbsize(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, BTreeMap::len)
    }
}

impl Entry {
    /// `activeExpireCycleTryExpire()`: `now > t` on the raw stored time, so unlike lazy
    /// expiry a negative expiry *is* expired here.
    fn is_active_expired(&self, now_ms: i64) -> bool {
        self.expire_ms.is_some_and(|when| now_ms > when)
    }
}

/// Mirrors `propagatePendingCommands()`: more than one op is wrapped in MULTI … EXEC
/// (MULTI in the first op's db, EXEC in the last's, so neither needs a SELECT of its own).
pub fn wrap_multi(mut ops: Vec<Propagated>) -> Vec<Propagated> {
    if let (Some(first), Some(last), true) = (ops.first(), ops.last(), ops.len() > 1) {
        let (first_db, last_db) = (first.db, last.db);
        ops.insert(0, Propagated::new(first_db, vec![Bytes::from_static(b"MULTI")]));
        ops.push(Propagated::new(last_db, vec![Bytes::from_static(b"EXEC")]));
    }
    debug_assert!(ops.len() != 2, "two ops are always wrapped into four: {ops:?}");
    ops
}

/// `commandCheckArity()`: `n > 0` means exactly n arguments, `-n` at least n.
pub fn arity_ok(arity: i32, argc: usize) -> bool {
    exec::arity_ok(arity, argc)
}

/// An error reply `-<code> <message>\r\n`, sanitised as `addReplyErrorFormat()` does.
pub fn error_reply(code: &[u8], message: &[u8]) -> Vec<u8> {
    reply::error(code, message)
}

/// The keyspace's command names (lowercase), in table order.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    exec::command_names()
}

/// Whether `name` is a keyspace command, and its arity check for `argc` arguments:
/// `None` for an unknown command, else `Some(Err(reply))` with redis's arity error or
/// `Some(Ok(is_write))`. What MULTI checks before it queues a command (`processCommand()`).
pub fn check_command(name: &[u8], argc: usize) -> Option<Result<bool, Vec<u8>>> {
    let spec = exec::lookup_command(name)?;
    Some(if exec::arity_ok(spec.arity, argc) {
        Ok(spec.write)
    } else {
        Err(CommandError::WrongArity(spec.name).to_reply())
    })
}

/// Whether `name` is a keyspace write command (rejected with -READONLY on replicas and
/// with -NOREPLICAS when min-replicas-to-write is not met).
pub fn is_write_command(name: &[u8]) -> bool {
    exec::lookup_command(name).is_some_and(|spec| spec.write)
}

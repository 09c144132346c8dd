//! Command dispatch and the per-command execution context.
//!
//! Mirrors the parts of `processCommand()` / `call()` / `lookupKey()` that shape replies
//! and propagation: the command table with arities, the arity check, the read-only
//! replica check, lazy expiry on every key lookup, and `propagatePendingCommands()`.

use bytes::Bytes;
use std::collections::BTreeMap;

use super::{expire, generic, keys, multikey, strings, CommandError, DbMut, Entry, Keyspace, Origin, Propagated, Role};

/// A command implementation: the reply bytes, or the error redis would send.
pub(crate) type Handler = fn(&mut Exec<'_>, &[Bytes]) -> Result<Vec<u8>, CommandError>;

/// One row of redis' command table (src/commands.c), reduced to what matters here.
pub(crate) struct CommandSpec {
    /// Lowercase name, as redis prints it in arity errors.
    pub(crate) name: &'static str,
    /// Redis arity: `n > 0` means exactly n arguments, `-n` means at least n.
    pub(crate) arity: i32,
    /// `CMD_WRITE`: rejected with READONLY from clients of a replica.
    pub(crate) write: bool,
    pub(crate) handler: Handler,
}

const fn spec(name: &'static str, arity: i32, write: bool, handler: Handler) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        write,
        handler,
    }
}

/// Arities and write flags copied from redis 7.0.15 src/commands.c.
static COMMANDS: &[CommandSpec] = &[
    spec("ping", -1, false, generic::ping),
    spec("echo", 2, false, generic::echo),
    spec("select", 2, false, generic::select),
    spec("set", -3, true, strings::set),
    spec("get", 2, false, strings::get),
    spec("del", -2, true, generic::del),
    spec("exists", -2, false, generic::exists),
    spec("incr", 2, true, strings::incr),
    spec("decr", 2, true, strings::decr),
    spec("incrby", 3, true, strings::incrby),
    spec("decrby", 3, true, strings::decrby),
    spec("append", 3, true, strings::append),
    spec("strlen", 2, false, strings::strlen),
    spec("expire", -3, true, expire::expire),
    spec("pexpire", -3, true, expire::pexpire),
    spec("expireat", -3, true, expire::expireat),
    spec("pexpireat", -3, true, expire::pexpireat),
    spec("persist", 2, true, expire::persist),
    spec("ttl", 2, false, expire::ttl),
    spec("pttl", 2, false, expire::pttl),
    spec("dbsize", 1, false, generic::dbsize),
    spec("flushdb", -1, true, generic::flushdb),
    spec("flushall", -1, true, generic::flushall),
    spec("keys", 2, false, generic::keys),
    spec("debug", -2, false, generic::debug),
    spec("setnx", 3, true, strings::setnx),
    spec("setex", 4, true, strings::setex),
    spec("psetex", 4, true, strings::psetex),
    spec("getset", 3, true, strings::getset),
    spec("getdel", 2, true, strings::getdel),
    spec("getex", -2, true, strings::getex),
    spec("mset", -3, true, multikey::mset),
    spec("msetnx", -3, true, multikey::msetnx),
    spec("mget", -2, false, multikey::mget),
    spec("unlink", -2, true, generic::del),
    spec("rename", 3, true, keys::rename),
    spec("renamenx", 3, true, keys::renamenx),
    spec("type", 2, false, keys::type_),
    spec("scan", -2, false, keys::scan),
    spec("time", 1, false, keys::time),
];

/// Commands flagged `CMD_TOUCHES_ARBITRARY_KEYS` that can delete keys (KEYS only reads).
pub(crate) fn touches_arbitrary_keys(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"scan")
}

/// The names of the keyspace commands, in table order (COMMAND COUNT, README).
pub(crate) fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name)
}

/// Case-insensitive command lookup (`lookupCommand()` compares the whole name).
pub(crate) fn lookup_command(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| name.eq_ignore_ascii_case(c.name.as_bytes()))
}

/// `commandCheckArity()`: `n > 0` means exactly n arguments, `-n` at least n.
pub(crate) fn arity_ok(arity: i32, argc: usize) -> bool {
    match usize::try_from(arity) {
        Ok(exact) => argc == exact,
        Err(_) => argc >= usize::try_from(arity.unsigned_abs()).unwrap_or(usize::MAX),
    }
}

/// `now_ms` as redis' signed `mstime_t`; saturates instead of wrapping on absurd clocks.
pub(crate) fn now_i64(now_ms: u64) -> i64 {
    i64::try_from(now_ms).unwrap_or(i64::MAX)
}

/// State of one command execution.
pub(crate) struct Exec<'a> {
    ks: &'a mut Keyspace,
    /// The client's selected database (SELECT changes it).
    pub(crate) db: usize,
    pub(crate) now_ms: i64,
    pub(crate) role: Role,
    pub(crate) origin: Origin,
    /// `server.also_propagate`: filled in execution order.
    propagate: Vec<Propagated>,
}

impl<'a> Exec<'a> {
    pub(crate) fn new(ks: &'a mut Keyspace, db: usize, now_ms: u64, role: Role, origin: Origin) -> Self {
        Self {
            ks,
            db,
            now_ms: now_i64(now_ms),
            role,
            origin,
            propagate: Vec::new(),
        }
    }

    /// The `processCommand()` checks this keyspace is responsible for, then the command.
    pub(crate) fn run(&mut self, spec: &CommandSpec, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
        if !arity_ok(spec.arity, argv.len()) {
            return Err(CommandError::WrongArity(spec.name));
        }
        // Arity is checked before this in processCommand(), so a short SET on a replica
        // still gets the arity error.
        if spec.write && self.role == Role::Replica && self.origin == Origin::Client {
            return Err(CommandError::ReadOnlyReplica);
        }
        (spec.handler)(self, argv)
    }

    /// Ends the command: the selected db and what to propagate, not yet wrapped in
    /// MULTI/EXEC (see `wrap_multi`). A replica propagates nothing of its own:
    /// `replicationFeedSlaves()` returns early when `masterhost` is set.
    pub(crate) fn finish(self) -> (usize, Vec<Propagated>) {
        let ops = self.propagate;
        if self.role == Role::Replica {
            // I18: a replica never deletes keys on its own, so it cannot have queued a DEL
            // for an expired key (its command forms are not even recorded).
            debug_assert!(ops.is_empty(), "replica queued {ops:?}");
            return (self.db, Vec::new());
        }
        (self.db, ops)
    }

    /// The selected database.
    pub(crate) fn db_map(&self) -> &BTreeMap<Bytes, Entry> {
        self.ks
            .dbs
            .get(self.db)
            .expect("selected db is validated on entry and by SELECT")
    }

    /// The selected database, mutably.
    pub(crate) fn db_map_mut(&mut self) -> DbMut<'_> {
        DbMut::new(self.ks, self.db).expect("selected db is validated on entry and by SELECT")
    }

    /// All databases, for DEBUG DIGEST.
    pub(crate) fn keyspace(&self) -> &Keyspace {
        self.ks
    }

    /// All databases, for FLUSHALL.
    pub(crate) fn keyspace_mut(&mut self) -> &mut Keyspace {
        self.ks.touch();
        self.ks
    }

    /// The configured proto-max-bulk-len.
    pub(crate) fn max_bulk_len(&self) -> u64 {
        self.ks.proto_max_bulk_len
    }

    /// Mirrors `expireIfNeeded()` (flags 0 or FORCE_DELETE, which behave the same for a
    /// read-only replica): true if the key must be treated as missing.
    ///
    /// A master deletes the expired key and queues `DEL key`; a replica serving a client
    /// hides it without deleting (I18); commands from the master link see it as live.
    pub(crate) fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let now = self.now_ms;
        let Some(entry) = self.db_map().get(key) else {
            return false;
        };
        if !entry.is_expired(now) {
            return false;
        }
        match (self.role, self.origin) {
            (Role::Replica, Origin::MasterLink) => false,
            (Role::Replica, Origin::Client) => true,
            (Role::Master, _) => {
                let removed = self.db_map_mut().remove_entry(key);
                let (key, _) = removed.expect("the expired entry was just found");
                self.propagate_del(key);
                true
            }
        }
    }

    /// `lookupKeyRead()` / `lookupKeyWrite()`: the live entry, applying lazy expiry first.
    pub(crate) fn lookup(&mut self, key: &[u8]) -> Option<Entry> {
        if self.expire_if_needed(key) {
            return None;
        }
        self.db_map().get(key).cloned()
    }

    /// Whether this execution's writes are propagated: a replica proxies its master's
    /// stream instead, so callers may skip building a command's propagated form.
    pub(crate) fn propagates(&self) -> bool {
        self.role == Role::Master
    }

    /// Queues `DEL key` in the selected db (`propagateDeletion()`, lazyfree-lazy-expire no).
    pub(crate) fn propagate_del(&mut self, key: Bytes) {
        let db = self.db;
        self.propagate
            .push(Propagated::new(db, vec![Bytes::from_static(b"DEL"), key]));
    }

    /// Queues the command's own (possibly rewritten) form in the selected db.
    pub(crate) fn propagate_command(&mut self, argv: Vec<Bytes>) {
        if !self.propagates() {
            return;
        }
        let db = self.db;
        self.propagate.push(Propagated::new(db, argv));
    }
}

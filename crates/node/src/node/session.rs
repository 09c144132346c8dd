//! Connection commands redis handles outside the keyspace: MULTI / EXEC / DISCARD (the
//! client's transaction), QUIT, HELLO, CLIENT ID / SETNAME / GETNAME and COMMAND COUNT,
//! and the arity table of the node's own commands. Replies are redis 7.0.15's, byte for
//! byte; where this node does less (RESP2 only, a few commands refused inside MULTI) it
//! says so with redis's own error for that case.

use bytes::Bytes;
use proto::{ConnId, Millis};
use rand_core::RngCore;
use sha1::{Digest as _, Sha1};

use super::Node;
use crate::keyspace::{self, CommandError, Origin, Propagated, Role};

/// A client's open MULTI: the queued commands, and whether one was refused (EXECABORT).
#[derive(Debug, Default)]
pub(super) struct Multi {
    queued: Vec<Vec<Bytes>>,
    failed: bool,
}

/// The node's own commands: name, redis 7.0 arity, and whether MULTI queues it.
///
/// SAVE, SHUTDOWN, PSYNC and SYNC are refused inside MULTI as redis refuses them
/// (`no-multi`). WAIT, REPLICAOF / SLAVEOF and REPLCONF are refused here too although
/// redis queues them: their replies come from the replication cores later, or they change
/// the role in the middle of a transaction (README, deliberate differences).
const NODE_COMMANDS: &[(&str, i32, bool)] = &[
    ("auth", -2, true),
    ("replconf", -1, false),
    ("psync", -3, false),
    ("sync", 1, false),
    ("replicaof", 3, false),
    ("slaveof", 3, false),
    ("wait", 3, false),
    ("role", 1, true),
    ("info", -1, true),
    ("config", -2, true),
    ("save", 1, false),
    ("shutdown", -1, false),
    ("multi", 1, true),
    ("exec", 1, true),
    ("discard", 1, true),
    ("quit", -1, true),
    ("hello", -1, true),
    ("client", -2, true),
    ("command", -1, true),
];

/// `rejectCommandFormat()` of a command flagged `no-multi`.
const NOT_IN_MULTI: &[u8] = b"-ERR Command not allowed inside a transaction\r\n";

/// Number of commands this node answers (COMMAND COUNT): the keyspace's and its own.
pub fn command_count() -> usize {
    keyspace::command_names().count() + NODE_COMMANDS.len()
}

/// The names of every command this node answers, sorted (README, tests).
pub fn command_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = keyspace::command_names()
        .chain(NODE_COMMANDS.iter().map(|c| c.0))
        .collect();
    names.sort_unstable();
    names
}

/// INFO `run_id`: 40 hex characters derived from the process's first replid, which is
/// already random per process (R4), so the run id draws nothing more from the seed's RNG
/// and simulation runs keep their trace hashes.
pub(super) fn run_id(replid: &proto::ReplId) -> String {
    let mut h = Sha1::new();
    h.update(b"psync-node run_id ");
    h.update(replid.to_string().as_bytes());
    hex::encode(h.finalize())
}

fn arity_error(name: &'static str) -> Vec<u8> {
    CommandError::WrongArity(name).to_reply()
}

/// `clientSetName()`: printable ASCII without spaces.
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|b| (b'!'..=b'~').contains(b))
}

const BAD_CLIENT_NAME: &[u8] = b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n";

impl<R: RngCore> Node<R> {
    fn in_multi(&self, conn: ConnId) -> bool {
        self.clients.get(&conn).is_some_and(|c| c.multi.is_some())
    }

    /// A refused command inside MULTI makes EXEC fail (`flagTransaction()`).
    fn flag_multi(&mut self, conn: ConnId) {
        if let Some(m) = self.clients.get_mut(&conn).and_then(|c| c.multi.as_mut()) {
            m.failed = true;
        }
    }

    /// The arity check of the node's own commands, MULTI queueing, and the transaction
    /// and connection commands. Returns false when the caller should run the command.
    pub(super) fn session_command(&mut self, now: Millis, conn: ConnId, name: &[u8], argv: &[Bytes]) -> bool {
        let spec = NODE_COMMANDS.iter().find(|c| c.0.as_bytes() == name);
        let in_multi = self.in_multi(conn);
        if let Some(&(cname, arity, _)) = spec {
            if !keyspace::arity_ok(arity, argv.len()) {
                if in_multi && cname == "exec" {
                    self.exec_abort(conn, b"wrong number of arguments for 'exec' command");
                } else {
                    self.flag_multi(conn);
                    self.send(conn, arity_error(cname));
                }
                return true;
            }
        }
        if in_multi && !matches!(name, b"multi" | b"exec" | b"discard" | b"quit") {
            self.queue(now, conn, spec.map(|s| s.2), argv);
            return true;
        }
        match name {
            b"multi" => {
                let reply: &[u8] = match self.clients.get_mut(&conn) {
                    Some(c) if c.multi.is_some() => b"-ERR MULTI calls can not be nested\r\n",
                    Some(c) => {
                        c.multi = Some(Multi::default());
                        b"+OK\r\n"
                    }
                    None => return true,
                };
                self.send(conn, reply);
            }
            b"discard" => {
                let open = self.clients.get_mut(&conn).and_then(|c| c.multi.take()).is_some();
                let reply: &[u8] = if open {
                    b"+OK\r\n"
                } else {
                    b"-ERR DISCARD without MULTI\r\n"
                };
                self.send(conn, reply);
            }
            b"exec" => self.exec(now, conn),
            b"quit" => {
                self.send(conn, &b"+OK\r\n"[..]);
                self.close_client(conn, false);
            }
            _ => return false,
        }
        true
    }

    /// `processCommand()` inside MULTI: refused commands get their error and fail the
    /// transaction; the others are queued.
    fn queue(&mut self, now: Millis, conn: ConnId, node_spec: Option<bool>, argv: &[Bytes]) {
        let verdict: Result<(), Vec<u8>> = match node_spec {
            Some(true) => Ok(()),
            Some(false) => Err(NOT_IN_MULTI.to_vec()),
            None => match keyspace::check_command(&argv[0], argv.len()) {
                None => Err(keyspace::unknown_command(argv)),
                Some(Err(arity)) => Err(arity),
                Some(Ok(true)) if self.is_replica() => Err(CommandError::ReadOnlyReplica.to_reply()),
                Some(Ok(true)) if !self.master.writes_allowed(now) => Err(NOREPLICAS.to_vec()),
                Some(Ok(_)) => Ok(()),
            },
        };
        match verdict {
            Ok(()) => {
                if let Some(m) = self.clients.get_mut(&conn).and_then(|c| c.multi.as_mut()) {
                    m.queued.push(argv.to_vec());
                }
                self.send(conn, &b"+QUEUED\r\n"[..]);
            }
            Err(reply) => {
                self.flag_multi(conn);
                self.send(conn, reply);
            }
        }
    }

    /// `execCommandAbort()`: the transaction is discarded, the reason given after EXECABORT.
    fn exec_abort(&mut self, conn: ConnId, reason: &[u8]) {
        if let Some(c) = self.clients.get_mut(&conn) {
            c.multi = None;
        }
        let reply = [&b"-EXECABORT Transaction discarded because of: "[..], reason, b"\r\n"].concat();
        self.send(conn, reply);
    }

    /// EXEC: runs the queued commands with their replies gathered into one array, and
    /// propagates what they wrote as redis 7.0 does, once, wrapped in MULTI … EXEC when
    /// more than one op (`propagatePendingCommands()`), so replicas apply it whole (R55).
    fn exec(&mut self, now: Millis, conn: ConnId) {
        let Some(multi) = self.clients.get_mut(&conn).and_then(|c| c.multi.take()) else {
            self.send(conn, &b"-ERR EXEC without MULTI\r\n"[..]);
            return;
        };
        if multi.failed {
            self.send(
                conn,
                &b"-EXECABORT Transaction discarded because of previous errors.\r\n"[..],
            );
            return;
        }
        // The role or the replicas may have changed since the commands were queued.
        let writes = multi.queued.iter().any(|a| keyspace::is_write_command(&a[0]));
        if writes && self.is_replica() {
            self.exec_abort(conn, b"You can't write against a read only replica.");
            return;
        }
        if writes && !self.master.writes_allowed(now) {
            self.exec_abort(conn, b"NOREPLICAS Not enough good replicas to write.");
            return;
        }
        let count = multi.queued.len();
        self.capture = Some((conn, Vec::new()));
        self.exec_ops = Some(Vec::new());
        for argv in multi.queued {
            self.dispatch(now, conn, argv);
        }
        let replies = self.capture.take().map(|(_, r)| r).unwrap_or_default();
        let ops = self.exec_ops.take().unwrap_or_default();
        self.propagate_client_ops(now, conn, keyspace::wrap_multi(ops));
        let mut reply = format!("*{count}\r\n").into_bytes();
        reply.extend_from_slice(&replies);
        self.send(conn, reply);
    }

    /// A keyspace command run by EXEC: its ops are kept for the end of the transaction.
    pub(super) fn keyspace_command_in_exec(&mut self, now: Millis, conn: ConnId, argv: &[Bytes]) {
        let role = if self.is_replica() { Role::Replica } else { Role::Master };
        let Some(mut db) = self.clients.get(&conn).map(|c| c.db) else {
            return;
        };
        let reply = match self
            .keyspace
            .execute_in_transaction(&mut db, argv, now.0, role, Origin::Client)
        {
            None => keyspace::unknown_command(argv),
            Some(out) => {
                if let Some(ops) = self.exec_ops.as_mut() {
                    ops.extend(out.propagate);
                }
                out.reply
            }
        };
        if let Some(c) = self.clients.get_mut(&conn) {
            c.db = db;
        }
        self.send(conn, reply);
    }

    /// Feeds a client's writes to the stream and records its write position (WAIT).
    fn propagate_client_ops(&mut self, now: Millis, conn: ConnId, ops: Vec<Propagated>) {
        if ops.is_empty() {
            return;
        }
        for p in ops {
            self.master
                .handle(now, master::Event::Propagate { db: p.db, argv: p.argv });
        }
        self.pump_master();
        let offset = self.master.master_repl_offset();
        if let Some(c) = self.clients.get_mut(&conn) {
            c.woff = offset;
        }
        let replid = self.master.replid();
        self.note(super::Note::Write { conn, replid, offset });
        self.note_unstreamed();
    }

    /// HELLO, CLIENT and COMMAND (run directly or from EXEC).
    pub(super) fn connection_command(&mut self, conn: ConnId, name: &[u8], argv: &[Bytes]) {
        let reply = match name {
            b"hello" => self.hello(conn, argv),
            b"client" => self.client(conn, argv),
            _ => command(argv),
        };
        self.send(conn, reply);
    }

    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`: RESP2 only (3 is answered
    /// with redis's own NOPROTO). Allowed before AUTH, which it may carry.
    fn hello(&mut self, conn: ConnId, argv: &[Bytes]) -> Vec<u8> {
        if let Some(v) = argv.get(1) {
            let Some(ver) = proto::resp::parse_i64(v) else {
                return b"-ERR Protocol version is not an integer or out of range\r\n".to_vec();
            };
            if ver != 2 {
                return b"-NOPROTO unsupported protocol version\r\n".to_vec();
            }
        }
        let (mut auth, mut setname) = (None, None);
        let mut j = 2;
        while let Some(opt) = argv.get(j) {
            let more = argv.len() - 1 - j;
            if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
                auth = Some((&argv[j + 1], &argv[j + 2]));
                j += 3;
            } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
                setname = Some(&argv[j + 1]);
                j += 2;
            } else {
                let end = opt.iter().position(|b| *b == 0).unwrap_or(opt.len());
                let msg = [&b"Syntax error in HELLO option '"[..], &opt[..end], b"'"].concat();
                return keyspace::error_reply(b"ERR", &msg);
            }
        }
        if let Some((user, pass)) = auth {
            let ok = user.as_ref() == b"default" && self.cfg.requirepass.as_ref().is_none_or(|p| p == pass);
            if !ok {
                return b"-WRONGPASS invalid username-password pair or user is disabled.\r\n".to_vec();
            }
            if let Some(c) = self.clients.get_mut(&conn) {
                c.authed = true;
            }
        }
        if !self.clients.get(&conn).is_some_and(|c| c.authed) {
            return b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n".to_vec();
        }
        if let Some(name) = setname {
            if !valid_client_name(name) {
                return BAD_CLIENT_NAME.to_vec();
            }
            if let Some(c) = self.clients.get_mut(&conn) {
                c.name = (!name.is_empty()).then(|| name.clone());
            }
        }
        let role = if self.is_replica() { "replica" } else { "master" };
        let fields: [(&str, String); 6] = [
            ("server", "$5\r\nredis\r\n".into()),
            ("version", "$6\r\n7.0.15\r\n".into()),
            ("proto", ":2\r\n".into()),
            ("id", format!(":{}\r\n", conn.0)),
            ("mode", "$10\r\nstandalone\r\n".into()),
            ("role", format!("${}\r\n{role}\r\n", role.len())),
        ];
        let mut out = b"*14\r\n".to_vec();
        for (k, v) in fields {
            out.extend_from_slice(format!("${}\r\n{k}\r\n{v}", k.len()).as_bytes());
        }
        out.extend_from_slice(b"$7\r\nmodules\r\n*0\r\n");
        out
    }

    /// CLIENT ID | SETNAME name | GETNAME; other subcommands are unknown here.
    fn client(&mut self, conn: ConnId, argv: &[Bytes]) -> Vec<u8> {
        let sub = argv[1].to_ascii_lowercase();
        let (full, arity) = match sub.as_slice() {
            b"id" => ("client|id", 2),
            b"setname" => ("client|setname", 3),
            b"getname" => ("client|getname", 2),
            _ => return keyspace::unknown_subcommand(argv),
        };
        if argv.len() != arity {
            return arity_error(full);
        }
        match sub.as_slice() {
            b"id" => format!(":{}\r\n", conn.0).into_bytes(),
            b"setname" => {
                let name = &argv[2];
                if !valid_client_name(name) {
                    return BAD_CLIENT_NAME.to_vec();
                }
                if let Some(c) = self.clients.get_mut(&conn) {
                    c.name = (!name.is_empty()).then(|| name.clone());
                }
                b"+OK\r\n".to_vec()
            }
            _ => match self.clients.get(&conn).and_then(|c| c.name.clone()) {
                Some(n) => [format!("${}\r\n", n.len()).as_bytes(), &n, b"\r\n"].concat(),
                None => b"$-1\r\n".to_vec(),
            },
        }
    }
}

/// `NOREPLICAS`: min-replicas-to-write not met.
const NOREPLICAS: &[u8] = b"-NOREPLICAS Not enough good replicas to write.\r\n";

/// COMMAND COUNT: how many commands this node answers (not redis's 240: a client that
/// sizes a table from it should see this node's). Bare COMMAND (the command table) is an
/// empty array here; other subcommands are unknown.
fn command(argv: &[Bytes]) -> Vec<u8> {
    let Some(sub) = argv.get(1) else {
        return b"*0\r\n".to_vec();
    };
    if !sub.eq_ignore_ascii_case(b"count") {
        return keyspace::unknown_subcommand(argv);
    }
    if argv.len() != 2 {
        return arity_error("command|count");
    }
    format!(":{}\r\n", command_count()).into_bytes()
}

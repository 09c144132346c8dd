//! A client's command: the AUTH gate, session commands, dispatch by name to the node's
//! own commands, and keyspace commands (min-replicas check, propagation, the client's
//! write offset that WAIT waits for).

use bytes::Bytes;
use proto::{ConnId, Millis};
use rand_core::RngCore;

use super::{Io, Node, Note};
use crate::keyspace::{Origin, Role};

impl<R: RngCore> Node<R> {
    pub(super) fn exec_client(&mut self, now: Millis, conn: ConnId, argv: Vec<Bytes>) {
        // Commands from an attached replica go to the master core (REPLCONF ACK).
        if self.master.is_replica(conn) {
            self.master.handle(now, master::Event::Command { conn, argv });
            self.pump_master();
            return;
        }
        let (lower, n) = lower_name(&argv[0]);
        let name = &lower[..n];
        let authed = self.clients.get(&conn).is_some_and(|c| c.authed);
        // HELLO may authenticate (HELLO 2 AUTH user pass), so it answers NOAUTH itself.
        if !authed && name != b"auth" && name != b"hello" {
            self.send(conn, &b"-NOAUTH Authentication required.\r\n"[..]);
            return;
        }
        if self.session_command(now, conn, name, &argv) {
            return;
        }
        self.dispatch(now, conn, argv);
    }

    /// Runs one client command (directly, or queued by MULTI and run by EXEC).
    pub(super) fn dispatch(&mut self, now: Millis, conn: ConnId, argv: Vec<Bytes>) {
        let (lower, n) = lower_name(&argv[0]);
        let name = &lower[..n];
        match name {
            b"auth" => self.auth(conn, &argv),
            b"replconf" | b"psync" | b"sync" => {
                self.master.handle(now, master::Event::Command { conn, argv });
                self.pump_master();
            }
            b"replicaof" | b"slaveof" => self.replicaof_command(now, conn, &argv),
            b"wait" => self.wait_command(now, conn, &argv),
            b"role" => {
                let reply = crate::info::role(self);
                self.send(conn, reply);
            }
            b"info" => {
                let reply = crate::info::info_command(self, now, &argv);
                self.send(conn, reply);
            }
            b"config" => {
                let reply = crate::config::config_command(self, &argv);
                self.pump_master();
                self.send(conn, reply);
            }
            b"save" => {
                self.save(now);
                self.send(conn, &b"+OK\r\n"[..]);
            }
            b"shutdown" => {
                let nosave = argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"nosave"));
                if !nosave {
                    let payload = self.save_rdb((now.0 / 1000) as i64);
                    self.io.push(Io::Persist { payload });
                }
                self.io.push(Io::Shutdown);
            }
            b"hello" | b"client" | b"command" => self.connection_command(conn, name, &argv),
            _ => self.keyspace_command(now, conn, &argv),
        }
    }

    fn keyspace_command(&mut self, now: Millis, conn: ConnId, argv: &[Bytes]) {
        if self.exec_ops.is_some() {
            self.keyspace_command_in_exec(now, conn, argv);
            return;
        }
        let role = if self.is_replica() { Role::Replica } else { Role::Master };
        let Some(mut db) = self.clients.get(&conn).map(|c| c.db) else {
            return;
        };
        let is_write = crate::keyspace::is_write_command(&argv[0]);
        if is_write && role == Role::Master && !self.master.writes_allowed(now) {
            self.send(conn, &b"-NOREPLICAS Not enough good replicas to write.\r\n"[..]);
            return;
        }
        match self.keyspace.execute(&mut db, argv, now.0, role, Origin::Client) {
            None => {
                let reply = crate::keyspace::unknown_command(argv);
                self.send(conn, reply);
            }
            Some(out) => {
                let wrote = !out.propagate.is_empty();
                for p in out.propagate {
                    self.master
                        .handle(now, master::Event::Propagate { db: p.db, argv: p.argv });
                }
                self.pump_master();
                let offset = self.master.master_repl_offset();
                if let Some(c) = self.clients.get_mut(&conn) {
                    c.db = db;
                    if wrote {
                        c.woff = offset;
                    }
                }
                if wrote {
                    let replid = self.master.replid();
                    self.note(Note::Write { conn, replid, offset });
                    self.note_unstreamed();
                }
                self.send(conn, out.reply);
            }
        }
    }
}

/// The command name lowercased on the stack: every name the node matches is short, and a
/// heap copy per command showed in psync-node's profile. Longer names come back empty
/// (they go to the keyspace, which compares case-insensitively).
fn lower_name(name: &[u8]) -> ([u8; 16], usize) {
    let mut lower = [0u8; 16];
    let n = if name.len() <= lower.len() { name.len() } else { 0 };
    lower[..n].copy_from_slice(&name[..n]);
    lower[..n].make_ascii_lowercase();
    (lower, n)
}

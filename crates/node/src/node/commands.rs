//! The node's own client commands that drive the replication cores: AUTH, REPLICAOF /
//! SLAVEOF and WAIT (their arity is checked before, by `session`'s table).

use bytes::Bytes;
use proto::{ConnId, Millis};
use rand_core::RngCore;

use super::Node;

impl<R: RngCore> Node<R> {
    pub(super) fn auth(&mut self, conn: ConnId, argv: &[Bytes]) {
        let reply: &[u8] = match (argv.len(), &self.cfg.requirepass) {
            (2 | 3, None) if argv.len() == 2 => {
                b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
            }
            (2, Some(p)) | (3, Some(p)) => {
                let user_ok = argv.len() == 2 || argv[1].as_ref() == b"default";
                if user_ok && argv[argv.len() - 1] == p {
                    if let Some(c) = self.clients.get_mut(&conn) {
                        c.authed = true;
                    }
                    b"+OK\r\n"
                } else {
                    b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                }
            }
            (3, None) => {
                if argv[1].as_ref() == b"default" {
                    b"+OK\r\n"
                } else {
                    b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                }
            }
            _ => b"-ERR wrong number of arguments for 'auth' command\r\n",
        };
        self.send(conn, reply);
    }

    pub(super) fn replicaof_command(&mut self, now: Millis, conn: ConnId, argv: &[Bytes]) {
        if argv.len() != 3 {
            let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
            self.send(
                conn,
                format!("-ERR wrong number of arguments for '{name}' command\r\n").into_bytes(),
            );
            return;
        }
        if argv[1].eq_ignore_ascii_case(b"no") && argv[2].eq_ignore_ascii_case(b"one") {
            self.replicaof_no_one(now);
            self.send(conn, &b"+OK\r\n"[..]);
            return;
        }
        let port = proto::resp::parse_i64(&argv[2]).and_then(|p| u16::try_from(p).ok());
        let Some(port) = port else {
            self.send(conn, &b"-ERR Invalid master port\r\n"[..]);
            return;
        };
        let host = String::from_utf8_lossy(&argv[1]).into_owned();
        let reply = self.replicaof(now, host, port);
        self.send(conn, reply);
    }

    pub(super) fn wait_command(&mut self, now: Millis, conn: ConnId, argv: &[Bytes]) {
        if argv.len() != 3 {
            self.send(conn, &b"-ERR wrong number of arguments for 'wait' command\r\n"[..]);
            return;
        }
        if self.is_replica() {
            self.send(conn, &b"-ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.\r\n"[..]);
            return;
        }
        let n = proto::resp::parse_i64(&argv[1]);
        let t = proto::resp::parse_i64(&argv[2]);
        let (Some(n), Some(t)) = (n, t) else {
            self.send(conn, &b"-ERR value is not an integer or out of range\r\n"[..]);
            return;
        };
        if t < 0 {
            self.send(conn, &b"-ERR timeout is negative\r\n"[..]);
            return;
        }
        let offset = self.clients.get(&conn).map_or(0, |c| c.woff);
        let ev = master::Event::Wait {
            conn,
            numreplicas: n.max(0) as u64,
            timeout_ms: t as u64,
            offset,
        };
        self.master.handle(now, ev);
        self.pump_master();
    }
}

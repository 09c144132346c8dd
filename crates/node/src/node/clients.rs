//! Client connections: open, close, AUTH state, the query buffer and its limit, RESP
//! parsing into commands, replies queued for the socket (and captured inside EXEC), and
//! the output bytes the adapter reports written (R39's accounting).

use bytes::Bytes;
use proto::{ConnId, Millis, Request};
use rand_core::RngCore;
use tracing::{debug, warn};

use super::{Client, Io, Node};

impl<R: RngCore> Node<R> {
    /// A client connected from `ip`.
    pub fn on_client_open(&mut self, conn: ConnId, ip: String) {
        let authed = self.cfg.requirepass.is_none();
        self.clients.insert(
            conn,
            Client {
                authed,
                ip,
                ..Client::default()
            },
        );
    }

    /// (connected clients, largest query buffer seen) for INFO clients.
    pub fn client_stats(&self) -> (usize, usize) {
        (self.clients.len(), self.max_input_buffer)
    }

    /// The peer address of a client (empty if unknown).
    pub fn client_ip(&self, conn: ConnId) -> String {
        self.clients.get(&conn).map_or_else(String::new, |c| c.ip.clone())
    }

    /// `CONFIG SET requirepass`: new connections must AUTH; existing ones stay authed.
    pub fn set_requirepass(&mut self, pass: Option<Bytes>) {
        self.cfg.requirepass = pass;
    }

    /// A client connection closed.
    pub fn on_client_closed(&mut self, now: Millis, conn: ConnId) {
        self.clients.remove(&conn);
        self.master.handle(now, master::Event::Closed { conn });
        self.pump_master();
    }

    /// Bytes from a client.
    pub fn on_client_data(&mut self, now: Millis, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.clients.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        c.buf.extend_from_slice(bytes);
        self.max_input_buffer = self.max_input_buffer.max(c.buf.len());
        if c.buf.len() > self.cfg.query_buffer_max {
            warn!(%conn, len = c.buf.len(), "query buffer limit reached; closing");
            self.close_client(conn, false);
            return;
        }
        loop {
            let Some(c) = self.clients.get_mut(&conn) else {
                return;
            };
            if c.closing {
                return;
            }
            let checked = if c.authed {
                Ok(())
            } else {
                Request::check_unauthenticated(&c.buf)
            };
            let decoded = checked.and_then(|()| Request::decode(&c.buf));
            match decoded {
                Ok(None) => return,
                Ok(Some((req, n))) => {
                    let _ = c.buf.split_to(n);
                    if !req.argv.is_empty() {
                        self.exec_client(now, conn, req.argv);
                    }
                }
                Err(e) => {
                    debug!(%conn, %e, "client protocol error");
                    let reply = format!("-ERR {}\r\n", e.redis_reply_text());
                    self.send(conn, reply.into_bytes());
                    self.close_client(conn, false);
                    return;
                }
            }
        }
    }

    pub(super) fn send(&mut self, conn: ConnId, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        // Inside EXEC the replies of the queued commands become one array.
        if let Some((c, replies)) = self.capture.as_mut().filter(|(c, _)| *c == conn) {
            debug_assert_eq!(*c, conn);
            replies.extend_from_slice(&bytes);
            return;
        }
        if let Some(c) = self.clients.get_mut(&conn) {
            c.out_queued += bytes.len() as u64;
        }
        self.io.push(Io::Send { conn, bytes });
    }

    /// The IO adapter wrote `written` output bytes (cumulative, RDB transfers excluded)
    /// to `conn`: the master core learns how much its replica has not taken yet (R39).
    pub fn on_flushed(&mut self, now: Millis, conn: ConnId, written: u64) {
        let Some(c) = self.clients.get(&conn) else { return };
        let bytes = c.out_queued.saturating_sub(written);
        if self.master.is_replica(conn) {
            self.master.handle(now, master::Event::Unflushed { conn, bytes });
            self.pump_master();
        }
    }

    /// Runs one command as an already authenticated local client (the simulator's way to
    /// issue a write no workload client would, e.g. one huge value); the reply is dropped.
    pub fn run_as_client(&mut self, now: Millis, argv: &[Bytes]) {
        let conn = ConnId(u32::MAX);
        self.on_client_open(conn, "internal".to_string());
        if let Some(c) = self.clients.get_mut(&conn) {
            c.authed = true;
        }
        self.on_client_data(now, conn, &proto::encode_command(argv));
        self.on_client_closed(now, conn);
    }

    pub(super) fn close_client(&mut self, conn: ConnId, discard: bool) {
        if let Some(c) = self.clients.get_mut(&conn) {
            c.closing = true;
            c.buf.clear();
        }
        self.io.push(Io::Close { conn, discard });
    }
}

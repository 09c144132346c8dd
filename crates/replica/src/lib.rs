//! The replica side of replication: the link to the master as a sans-IO state machine
//! (spec §4, R39a–R62).
//!
//! Owns: `ReplState` and every transition, the handshake bytes, the PSYNC request and reply
//! handling, receiving the RDB, applying the stream with exact offsets, ACKs, timeouts and
//! the cached master. Must never: read a clock, touch a socket, apply a stream byte while
//! not CONNECTED (I10), or apply a byte twice.
//!
//! What it does *not* own: replid/backlog of this instance (the master core does; the node
//! carries out [`Action::AdoptReplid`], [`Action::FullSyncLoaded`] and [`Action::Proxy`]
//! on it) and the keyspace ([`Action::Apply`]).

use bytes::{Bytes, BytesMut};
use proto::Millis;
use proto::{encode_command, LinkDecoder, LinkItem, ProtoError, RdbError, RdbFile, RdbFraming, ReplId};
use thiserror::Error;
use tracing::{debug, info, warn};

/// The project's sixteen replica link states, with the seed's numbers (R39a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ReplState {
    None = 0,
    Connect = 1,
    Connecting = 2,
    ReceivePong = 3,
    SendAuth = 4,
    ReceiveAuth = 5,
    SendPort = 6,
    ReceivePort = 7,
    SendIp = 8,
    ReceiveIp = 9,
    SendCapa = 10,
    ReceiveCapa = 11,
    SendPsync = 12,
    ReceivePsync = 13,
    Transfer = 14,
    Connected = 15,
}

impl ReplState {
    /// Every state, in number order (for coverage tables).
    pub const ALL: [ReplState; 16] = [
        ReplState::None,
        ReplState::Connect,
        ReplState::Connecting,
        ReplState::ReceivePong,
        ReplState::SendAuth,
        ReplState::ReceiveAuth,
        ReplState::SendPort,
        ReplState::ReceivePort,
        ReplState::SendIp,
        ReplState::ReceiveIp,
        ReplState::SendCapa,
        ReplState::ReceiveCapa,
        ReplState::SendPsync,
        ReplState::ReceivePsync,
        ReplState::Transfer,
        ReplState::Connected,
    ];

    /// The state word ROLE reports (R39a table).
    pub fn role_name(self) -> &'static str {
        match self {
            ReplState::None => "none",
            ReplState::Connect => "connect",
            ReplState::Connecting => "connecting",
            ReplState::Transfer => "sync",
            ReplState::Connected => "connected",
            _ => "handshake",
        }
    }

    /// States in which the link is in the handshake (R43 timeout applies).
    pub fn is_handshake(self) -> bool {
        (ReplState::ReceivePong as u8..=ReplState::ReceivePsync as u8).contains(&(self as u8))
    }
}

/// Replica configuration (redis config names).
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    pub masterauth: Option<Bytes>,
    pub masteruser: Option<Bytes>,
    /// Port announced with `REPLCONF listening-port`.
    pub listening_port: u16,
    /// `replica-announce-ip`.
    pub announce_ip: Option<Bytes>,
    pub repl_timeout_s: u64,
    /// Walk states 4–11 writing all handshake commands at once, as redis 7.0 does (R39b).
    pub pipelined_handshake: bool,
    /// The largest RDB transfer accepted.
    pub rdb_max: u64,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            masterauth: None,
            masteruser: None,
            listening_port: 6379,
            announce_ip: None,
            repl_timeout_s: 60,
            pipelined_handshake: false,
            rdb_max: 512 * 1024 * 1024,
        }
    }
}

/// `repl_syncio_timeout`: a handshake reply must arrive within 5 s (R40, R46, B8).
pub const SYNCIO_TIMEOUT_MS: u64 = 5_000;

/// Inputs. `link` tags which TCP connection an event belongs to; stale ones are ignored.
#[derive(Debug, Clone)]
pub enum Event {
    /// `replicationCron`, every 1000 ms.
    Tick,
    /// The TCP connect asked for by [`Action::Connect`] succeeded.
    Connected { link: u64 },
    /// The connect failed.
    ConnectFailed { link: u64 },
    /// Bytes from the master.
    Data { link: u64, bytes: Bytes },
    /// The master closed the link or it broke.
    Closed { link: u64 },
}

/// Outputs, drained by the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a new TCP connection to the master, tagged `link`.
    Connect { link: u64 },
    /// Write bytes on the master link.
    Send { link: u64, bytes: Bytes },
    /// Close the master link.
    Close { link: u64, reason: String },
    /// A full sync completed: replace the dataset with `rdb` (strings only), then reset the
    /// master core to `(replid, offset)` (R50, R52).
    FullSyncLoaded {
        replid: ReplId,
        offset: u64,
        rdb: Box<RdbFile>,
    },
    /// `+CONTINUE <id>` with a new id: the master core must adopt it (R47).
    AdoptReplid { replid: ReplId },
    /// Execute a stream command on the keyspace in db `db`, as the master link (R54).
    Apply { db: usize, argv: Vec<Bytes> },
    /// Bytes just applied; feed them to this instance's backlog/sub-replicas (R55).
    Proxy { bytes: Bytes },
    /// For oracles and traces.
    Observe(Observation),
}

/// Things oracles and traces want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    State {
        from: ReplState,
        to: ReplState,
    },
    /// A `+CONTINUE` was accepted at request offset `offset` (I4: next byte is `offset`).
    Continue {
        replid: ReplId,
        offset: u64,
    },
    /// A full sync was loaded at `offset`.
    FullSync {
        replid: ReplId,
        offset: u64,
    },
    /// The link failed in `state` (R44); the reason says why.
    LinkError {
        state: ReplState,
        reason: String,
    },
    /// A transfer failed; the old dataset is kept.
    TransferFailed {
        reason: String,
    },
}

/// Typed errors from the master link. Each closes the link; none crashes the node.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplicaError {
    #[error("replica error; unexpected reply {got:?} in state {state:?}")]
    UnexpectedReply { state: ReplState, got: String },
    #[error("replica error; protocol error from master: {0}")]
    Protocol(#[from] ProtoError),
    #[error("replica error; rdb from master rejected: {0}")]
    Rdb(#[from] RdbError),
    #[error("replica error; bad +FULLRESYNC line {line:?}")]
    BadFullResync { line: String },
    #[error("replica error; master error reply {line:?}")]
    MasterError { line: String },
    #[error("replica error; {what} timed out after {elapsed_ms} ms")]
    Timeout { what: &'static str, elapsed_ms: u64 },
}

/// The master client (or the cached one): what is needed to continue the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MasterLink {
    pub replid: ReplId,
    /// Applied offset (`reploff`).
    pub reploff: u64,
    /// Selected db of the stream; `None` until the master sends SELECT (R60).
    pub db: Option<usize>,
    /// SYNC fallback: no ACKs (R26, R52).
    pub pre_psync: bool,
}

/// The replica core.
pub struct Replica {
    cfg: ReplicaConfig,
    state: ReplState,
    link: u64,
    decoder: LinkDecoder,
    buf: BytesMut,
    /// Last handshake/transfer I/O (`repl_transfer_lastio`) or last master interaction.
    lastio: Millis,
    master: Option<MasterLink>,
    cached: Option<MasterLink>,
    /// From `+FULLRESYNC`: id and offset the RDB corresponds to.
    transfer: Option<(ReplId, i64)>,
    /// Requests written ahead in a pipelined handshake (their replies are pending).
    pipelined: bool,
    last_ack_sent: Option<u64>,
    /// An open MULTI from the master: held commands and their raw bytes.
    multi: Option<(Vec<Vec<Bytes>>, Vec<u8>)>,
    actions: Vec<Action>,
}

impl Replica {
    /// A core that is not replicating (`REPL_STATE_NONE`).
    pub fn new(cfg: ReplicaConfig) -> Self {
        let rdb_max = cfg.rdb_max;
        Replica {
            cfg,
            state: ReplState::None,
            link: 0,
            decoder: LinkDecoder::new(rdb_max),
            buf: BytesMut::new(),
            lastio: Millis(0),
            master: None,
            cached: None,
            transfer: None,
            pipelined: false,
            last_ack_sent: None,
            multi: None,
            actions: Vec::new(),
        }
    }

    pub fn state(&self) -> ReplState {
        self.state
    }
    pub fn config(&self) -> &ReplicaConfig {
        &self.cfg
    }
    pub fn config_mut(&mut self) -> &mut ReplicaConfig {
        &mut self.cfg
    }
    /// The live master client, when CONNECTED.
    pub fn master(&self) -> Option<&MasterLink> {
        self.master.as_ref()
    }
    /// The cached master, when the link is down.
    pub fn cached(&self) -> Option<&MasterLink> {
        self.cached.as_ref()
    }
    /// The current link tag.
    pub fn link(&self) -> u64 {
        self.link
    }
    /// INFO `slave_repl_offset`: master's reploff, else the cached master's, else 0 (R6).
    pub fn slave_repl_offset(&self) -> u64 {
        self.master.or(self.cached).map_or(0, |m| m.reploff)
    }
    /// `repl_state == CONNECTED`.
    pub fn is_connected(&self) -> bool {
        self.state == ReplState::Connected
    }

    /// Drains the actions produced so far.
    pub fn drain_actions(&mut self) -> std::vec::Drain<'_, Action> {
        self.actions.drain(..)
    }

    fn goto(&mut self, to: ReplState) {
        let from = self.state;
        if from != to {
            debug!(from = ?from, to = ?to, "repl state");
            self.actions.push(Action::Observe(Observation::State { from, to }));
        }
        self.state = to;
    }

    fn send(&mut self, bytes: impl Into<Bytes>) {
        self.actions.push(Action::Send {
            link: self.link,
            bytes: bytes.into(),
        });
    }

    // ----- role changes ----------------------------------------------------------------

    /// R61 (`REPLICAOF host port`). `myself` is this instance's `(replid, master_repl_offset)`
    /// when it was a master: the cached master is built from it (R60).
    pub fn replicaof(&mut self, now: Millis, myself: Option<(ReplId, u64)>) {
        if self.state == ReplState::None {
            // R60 when a master turns replica; a cached master restored from the RDB at
            // startup (R67) is kept when there is no "myself" to build one from.
            if let Some((replid, reploff)) = myself {
                self.cached = Some(MasterLink {
                    replid,
                    reploff,
                    db: None,
                    pre_psync: false,
                });
            }
        } else {
            self.drop_link(true, "replicaof: new master (R61)");
        }
        self.goto(ReplState::Connect);
        self.connect(now);
    }

    /// R67: a replica restarted from an RDB with valid repl info starts with a cached master.
    pub fn restore_cached(&mut self, replid: ReplId, reploff: u64, db: usize) {
        self.cached = Some(MasterLink {
            replid,
            reploff,
            db: Some(db),
            pre_psync: false,
        });
    }

    /// R62 (`REPLICAOF NO ONE`): close the link, forget the cached master, state NONE.
    /// The node then promotes the master core (shift replid, drop sub-replicas).
    pub fn unset(&mut self) {
        if self.state != ReplState::None {
            self.close_link("replicaof no one (R62)");
        }
        self.master = None;
        self.cached = None;
        self.transfer = None;
        self.goto(ReplState::None);
    }

    fn connect(&mut self, now: Millis) {
        debug_assert_eq!(self.state, ReplState::Connect, "connect only from CONNECT");
        self.link += 1;
        self.buf.clear();
        self.decoder = LinkDecoder::new(self.cfg.rdb_max);
        self.pipelined = false;
        self.last_ack_sent = None;
        self.lastio = now;
        self.actions.push(Action::Connect { link: self.link });
        self.goto(ReplState::Connecting);
    }

    fn close_link(&mut self, reason: &str) {
        self.actions.push(Action::Close {
            link: self.link,
            reason: reason.to_string(),
        });
        // Bump the tag so late events of the closed link are ignored.
        self.link += 1;
    }

    /// Frees the live master client: cached (R59) unless `cache` is false.
    fn drop_link(&mut self, cache: bool, reason: &str) {
        self.close_link(reason);
        if let Some(m) = self.master.take() {
            if cache {
                self.cached = Some(m);
            }
        }
        self.transfer = None;
        self.multi = None; // R59: an open MULTI is discarded with the link.
        self.buf.clear();
    }

    /// R44: close, CONNECT, reconnect on the next tick.
    fn error_path(&mut self, err: &ReplicaError) {
        warn!(state = ?self.state, %err, "master link error");
        self.actions.push(Action::Observe(Observation::LinkError {
            state: self.state,
            reason: err.to_string(),
        }));
        self.drop_link(!matches!(err, ReplicaError::Protocol(_)), &err.to_string());
        self.goto(ReplState::Connect);
    }

    /// R56: close, CONNECT and connect at once.
    fn reconnect_now(&mut self, now: Millis, err: &ReplicaError) {
        self.error_path(err);
        self.connect(now);
    }

    // ----- events ----------------------------------------------------------------------

    /// Feeds one event.
    pub fn handle(&mut self, now: Millis, ev: Event) {
        match ev {
            Event::Tick => self.cron(now),
            Event::Connected { link } if link == self.link && self.state == ReplState::Connecting => {
                self.lastio = now;
                self.send(encode_command(&["PING"]));
                self.goto(ReplState::ReceivePong);
            }
            Event::ConnectFailed { link } if link == self.link && self.state == ReplState::Connecting => {
                self.goto(ReplState::Connect);
            }
            Event::Data { link, bytes } if link == self.link && self.state != ReplState::None => {
                self.buf.extend_from_slice(&bytes);
                self.lastio = now;
                if let Err(e) = self.process(now) {
                    self.on_link_error(now, &e);
                }
            }
            Event::Closed { link } if link == self.link && self.state != ReplState::None => {
                let err = ReplicaError::MasterError {
                    line: "connection closed".into(),
                };
                self.on_link_error(now, &err);
            }
            _ => {} // stale link or not replicating
        }
    }

    fn on_link_error(&mut self, now: Millis, err: &ReplicaError) {
        match self.state {
            ReplState::Transfer => {
                self.actions.push(Action::Observe(Observation::TransferFailed {
                    reason: err.to_string(),
                }));
                self.reconnect_now(now, err);
            }
            // R59: a cached master is kept and we reconnect at once (unless protocol error).
            ReplState::Connected => self.reconnect_now(now, err),
            _ => self.error_path(err),
        }
    }

    fn cron(&mut self, now: Millis) {
        let idle = now.0.saturating_sub(self.lastio.0);
        let timeout = self.cfg.repl_timeout_s * 1000;
        match self.state {
            ReplState::Connect => self.connect(now),
            ReplState::Connecting if idle > timeout => self.reconnect_now(
                now,
                &ReplicaError::Timeout {
                    what: "connect",
                    elapsed_ms: idle,
                },
            ),
            s if s.is_handshake() && idle > SYNCIO_TIMEOUT_MS.min(timeout) => {
                // R40/R46/B8: no reply within the sync-io timeout → try later.
                self.error_path(&ReplicaError::Timeout {
                    what: "handshake reply",
                    elapsed_ms: idle,
                })
            }
            ReplState::Transfer if idle > timeout => {
                let err = ReplicaError::Timeout {
                    what: "rdb transfer",
                    elapsed_ms: idle,
                };
                self.actions.push(Action::Observe(Observation::TransferFailed {
                    reason: err.to_string(),
                }));
                self.reconnect_now(now, &err);
            }
            ReplState::Connected if idle > timeout => self.reconnect_now(
                now,
                &ReplicaError::Timeout {
                    what: "master link",
                    elapsed_ms: idle,
                },
            ),
            ReplState::Connected => self.send_ack(),
            _ => {}
        }
    }

    /// R57: `REPLCONF ACK <reploff>` (not for SYNC-fallback masters).
    fn send_ack(&mut self) {
        let Some(m) = self.master else { return };
        if m.pre_psync {
            return;
        }
        debug_assert!(
            self.last_ack_sent.is_none_or(|a| a <= m.reploff),
            "I11: ACKs never decrease"
        );
        self.last_ack_sent = Some(m.reploff);
        self.send(encode_command(&["REPLCONF", "ACK", &m.reploff.to_string()]));
    }

    /// Decodes and handles every complete item in the buffer.
    fn process(&mut self, now: Millis) -> Result<(), ReplicaError> {
        loop {
            if self.state == ReplState::None || self.state == ReplState::Connect {
                return Ok(()); // an earlier item closed the link
            }
            let Some((item, n)) = self.decoder.decode(&self.buf)? else {
                return Ok(());
            };
            let raw = self.buf.split_to(n).freeze();
            match item {
                LinkItem::Keepalive if self.state != ReplState::Connected => {}
                LinkItem::Line(line) => self.on_line(now, &line)?,
                LinkItem::Rdb { framing, payload } => self.on_rdb(framing, &payload)?,
                LinkItem::Keepalive => self.on_command(
                    proto::Request {
                        argv: vec![],
                        inline: true,
                    },
                    raw,
                ),
                // I10 / STYLE §3: stream bytes before CONNECTED (e.g. `+CONTINUE` given
                // as a PING reply switched the decoder) are a peer error, not a panic.
                LinkItem::Command(_) if self.state != ReplState::Connected => {
                    return Err(ReplicaError::UnexpectedReply {
                        state: self.state,
                        got: lossy(&raw),
                    });
                }
                LinkItem::Command(req) => self.on_command(req, raw),
            }
        }
    }

    /// One handshake reply line, by state (R40 table).
    fn on_line(&mut self, now: Millis, line: &[u8]) -> Result<(), ReplicaError> {
        let unexpected = |state| ReplicaError::UnexpectedReply {
            state,
            got: lossy(line),
        };
        match self.state {
            ReplState::ReceivePong => {
                let ok = line.starts_with(b"+")
                    || line.starts_with(b"-NOAUTH")
                    || line.starts_with(b"-NOPERM")
                    || line.starts_with(b"-ERR operation not permitted");
                if !ok {
                    return Err(unexpected(self.state));
                }
                self.after_reply(ReplState::SendAuth);
            }
            ReplState::ReceiveAuth => {
                if line.starts_with(b"-") {
                    return Err(ReplicaError::MasterError { line: lossy(line) });
                    // R41
                }
                self.after_reply(ReplState::SendPort);
            }
            ReplState::ReceivePort => self.after_reply(ReplState::SendIp),
            ReplState::ReceiveIp => self.after_reply(ReplState::SendCapa),
            ReplState::ReceiveCapa => self.after_reply(ReplState::SendPsync),
            ReplState::ReceivePsync => self.on_psync_reply(now, line)?,
            // -ERR etc. in place of the RDB preamble (R48) or a reply to SYNC.
            ReplState::Transfer => return Err(ReplicaError::MasterError { line: lossy(line) }),
            s => return Err(unexpected(s)),
        }
        Ok(())
    }

    /// Walks from a SEND_x state: writes its command (unless pipelined) and waits.
    fn after_reply(&mut self, mut next: ReplState) {
        loop {
            self.goto(next);
            let (cmd, wait, skip_to) = match next {
                ReplState::SendAuth => (self.auth_cmd(), ReplState::ReceiveAuth, ReplState::SendPort),
                ReplState::SendPort => (
                    Some(encode_command(&[
                        "REPLCONF",
                        "listening-port",
                        &self.cfg.listening_port.to_string(),
                    ])),
                    ReplState::ReceivePort,
                    ReplState::SendIp,
                ),
                ReplState::SendIp => (
                    self.cfg
                        .announce_ip
                        .as_ref()
                        .map(|ip| encode_command(&[&b"REPLCONF"[..], b"ip-address", ip])),
                    ReplState::ReceiveIp,
                    ReplState::SendCapa,
                ),
                ReplState::SendCapa => (
                    Some(encode_command(&["REPLCONF", "capa", "eof", "capa", "psync2"])),
                    ReplState::ReceiveCapa,
                    ReplState::SendPsync,
                ),
                ReplState::SendPsync => {
                    self.pipelined = false;
                    self.send_psync();
                    return;
                }
                s => unreachable!("after_reply reached non-send state {s:?}"),
            };
            match cmd {
                None => next = skip_to, // optional step skipped (no masterauth / announce-ip)
                Some(cmd) => {
                    if !self.pipelined {
                        self.send(cmd);
                        if self.cfg.pipelined_handshake && next == ReplState::SendAuth {
                            self.pipeline_rest();
                        }
                    }
                    self.goto(wait);
                    return;
                }
            }
        }
    }

    /// R39b: write the remaining handshake commands at once, 7.0-style.
    fn pipeline_rest(&mut self) {
        let mut out = encode_command(&["REPLCONF", "listening-port", &self.cfg.listening_port.to_string()]);
        if let Some(ip) = &self.cfg.announce_ip {
            out.extend(encode_command(&[&b"REPLCONF"[..], b"ip-address", ip]));
        }
        out.extend(encode_command(&["REPLCONF", "capa", "eof", "capa", "psync2"]));
        self.send(out);
        self.pipelined = true;
    }

    fn auth_cmd(&self) -> Option<Vec<u8>> {
        let pass = self.cfg.masterauth.as_ref()?;
        Some(match &self.cfg.masteruser {
            Some(user) => encode_command(&[&b"AUTH"[..], user, pass]),
            None => encode_command(&[&b"AUTH"[..], pass]),
        })
    }

    /// R45.
    fn send_psync(&mut self) {
        let cmd = match self.cached {
            Some(c) => encode_command(&[&b"PSYNC"[..], &c.replid.0, (c.reploff + 1).to_string().as_bytes()]),
            None => encode_command(&["PSYNC", "?", "-1"]),
        };
        self.send(cmd);
        self.goto(ReplState::ReceivePsync);
    }

    /// R46/R47.
    fn on_psync_reply(&mut self, now: Millis, line: &[u8]) -> Result<(), ReplicaError> {
        if let Some(rest) = line.strip_prefix(b"+FULLRESYNC") {
            let mut parts = rest.split(|&c| c == b' ').filter(|p| !p.is_empty());
            let id = parts.next().and_then(ReplId::from_bytes).unwrap_or(ReplId::ZERO);
            let off = parts
                .next()
                .and_then(proto::resp::parse_i64)
                .filter(|o| *o >= 0)
                .ok_or_else(|| ReplicaError::BadFullResync { line: lossy(line) })?;
            self.transfer = Some((id, off));
            self.goto(ReplState::Transfer);
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix(b"+CONTINUE") {
            if self.cached.is_none() {
                // We sent `PSYNC ? -1`: a +CONTINUE is a peer error (STYLE §3), not a panic.
                return Err(ReplicaError::UnexpectedReply {
                    state: self.state,
                    got: lossy(line),
                });
            }
            self.on_continue(now, rest.strip_prefix(b" ").unwrap_or(rest));
            return Ok(());
        }
        if line.starts_with(b"-NOMASTERLINK") || line.starts_with(b"-LOADING") {
            return Err(ReplicaError::MasterError { line: lossy(line) }); // try later
        }
        // Anything else: PSYNC unsupported → inline SYNC, RDB with no offset (R46, R42).
        info!(reply = %lossy(line), "PSYNC not supported, falling back to SYNC");
        self.send(&b"SYNC\r\n"[..]);
        self.decoder.expect_rdb();
        self.transfer = Some((ReplId::ZERO, -1));
        self.goto(ReplState::Transfer);
        Ok(())
    }

    fn on_continue(&mut self, now: Millis, id: &[u8]) {
        let mut cached = self
            .cached
            .take()
            .expect("CONTINUE only answers a PSYNC with a cached master");
        if let Some(new) = ReplId::from_bytes(id) {
            if new != cached.replid {
                cached.replid = new;
                self.actions.push(Action::AdoptReplid { replid: new });
            }
        }
        self.actions.push(Action::Observe(Observation::Continue {
            replid: cached.replid,
            offset: cached.reploff + 1,
        }));
        self.master = Some(cached);
        self.lastio = now;
        self.goto(ReplState::Connected);
    }

    /// R49–R52: a complete transfer. A corrupt payload keeps the old dataset (we differ
    /// from redis, which exits; see the note in the README).
    fn on_rdb(&mut self, framing: RdbFraming, payload: &[u8]) -> Result<(), ReplicaError> {
        let (replid, off) = self.transfer.take().ok_or_else(|| ReplicaError::UnexpectedReply {
            state: self.state,
            got: "rdb payload".into(),
        })?;
        let rdb = proto::rdb::load(payload)?;
        let pre_psync = off < 0;
        let offset = u64::try_from(off).unwrap_or(0);
        let db = rdb.repl_info().map_or(0, |r| r.repl_stream_db as usize);
        self.cached = None; // R50: the cached master is discarded on a full sync.
        self.master = Some(MasterLink {
            replid,
            reploff: offset,
            db: Some(db),
            pre_psync,
        });
        self.actions.push(Action::FullSyncLoaded {
            replid,
            offset,
            rdb: Box::new(rdb),
        });
        self.actions
            .push(Action::Observe(Observation::FullSync { replid, offset }));
        self.goto(ReplState::Connected);
        if matches!(framing, RdbFraming::EofMark(_)) {
            self.send_ack(); // R52: the diskless gate (R34) waits for this ACK.
        }
        Ok(())
    }

    /// R54/R55: one complete stream command; `raw` is its exact bytes. Commands inside
    /// MULTI … EXEC are held and applied, counted and proxied together at EXEC, so a link
    /// lost mid-transaction never leaves half of it applied (R55, R59).
    fn on_command(&mut self, req: proto::Request, raw: Bytes) {
        assert_eq!(
            self.state,
            ReplState::Connected,
            "I10: stream bytes only when CONNECTED"
        );
        let name = req.argv.first().map(|a| a.to_ascii_lowercase());
        match (name.as_deref(), self.multi.as_mut()) {
            (Some(b"multi"), None) => {
                self.multi = Some((Vec::new(), raw.to_vec()));
                return;
            }
            (Some(b"exec"), Some(_)) => {
                let (cmds, mut bytes) = self.multi.take().expect("matched Some");
                bytes.extend_from_slice(&raw);
                for argv in cmds {
                    self.apply_one(argv);
                }
                self.account(Bytes::from(bytes));
                return;
            }
            (_, Some((cmds, bytes))) => {
                cmds.push(req.argv);
                bytes.extend_from_slice(&raw);
                return;
            }
            _ => {}
        }
        self.apply_one(req.argv);
        self.account(raw);
    }

    /// Counts applied bytes in `reploff` and hands them on for proxying (R55).
    fn account(&mut self, raw: Bytes) {
        let Some(m) = self.master.as_mut() else { return };
        m.reploff += raw.len() as u64;
        self.actions.push(Action::Proxy { bytes: raw });
    }

    /// Executes one stream command (SELECT, PING and REPLCONF are handled here).
    fn apply_one(&mut self, argv: Vec<Bytes>) {
        let Some(mut m) = self.master else { return };
        let name = argv.first().map(|a| a.to_ascii_lowercase());
        match name.as_deref() {
            Some(b"replconf") if argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"getack")) => {
                // R22: ACK the offset *before* the GETACK itself is counted.
                self.send_ack();
            }
            Some(b"replconf") | Some(b"ping") | None => {}
            Some(b"select") => {
                let db = argv.get(1).and_then(|d| proto::resp::parse_i64(d));
                if let Some(db) = db.and_then(|d| usize::try_from(d).ok()) {
                    m.db = Some(db);
                }
            }
            Some(_) => self.actions.push(Action::Apply {
                db: m.db.unwrap_or(0),
                argv,
            }),
        }
        self.master = Some(m);
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned()
}

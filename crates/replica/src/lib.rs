//! The replica side of replication: the link to the master as a sans-IO state machine
//! (spec §4, R39a–R62).
//!
//! Owns: the public surface of the replica core ([`Replica`], [`Event`], [`Action`],
//! [`Observation`], [`ReplicaConfig`], [`ReplicaError`]), the role changes (R60–R62, R67),
//! and [`Replica::handle`], which dispatches each event and each decoded item to the module
//! that owns it:
//!
//! | module | owns |
//! |---|---|
//! | `state` | [`ReplState`]: the sixteen states, their numbers and ROLE names (R39a) |
//! | `link` | connect, close, error path (R44), reconnect (R56), R59 caching, cron timeouts |
//! | `handshake` | PING, AUTH, REPLCONF steps and the R40 reply table (R39b–R43) |
//! | `psync` | the PSYNC request (R45), its reply (R46/R47), the SYNC fallback |
//! | `transfer` | loading the full-sync RDB (R48–R53) |
//! | `stream` | applying the stream, MULTI/EXEC, ACK and GETACK (R54–R57, R22) |
//! | `check` | the invariants asserted after every event in debug builds (STYLE §4) |
//!
//! Must never: read a clock, touch a socket, apply a stream byte while not CONNECTED
//! (I10), or apply a byte twice.
//!
//! What it does *not* own: replid/backlog of this instance (the master core does; the node
//! carries out [`Action::AdoptReplid`], [`Action::FullSyncLoaded`] and [`Action::Proxy`]
//! on it) and the keyspace ([`Action::Apply`]).

mod check;
mod handshake;
mod link;
mod psync;
mod state;
mod stream;
mod transfer;

pub use state::ReplState;

use bytes::{Bytes, BytesMut};
use proto::Millis;
use proto::{LinkDecoder, LinkItem, ProtoError, RdbError, RdbFile, ReplId};
use thiserror::Error;
use tracing::debug;

/// Replica configuration (redis config names).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(default))]
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

/// What an RDB transfer stands for (R46): typed, where `(ZERO, -1)` meant SYNC before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferTarget {
    /// `+FULLRESYNC <id> <offset>`: the master's dataset at `(replid, offset)` (I7).
    FullResync { replid: ReplId, offset: u64 },
    /// The plain `SYNC` fallback (R26, R42, R46): no id, no offset, no ACKs afterwards.
    Sync,
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
    /// What the RDB being received stands for (set on entering TRANSFER, R46).
    transfer: Option<TransferTarget>,
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
        self.check();
    }

    /// R67: a replica restarted from an RDB with valid repl info starts with a cached master.
    pub fn restore_cached(&mut self, replid: ReplId, reploff: u64, db: usize) {
        self.cached = Some(MasterLink {
            replid,
            reploff,
            db: Some(db),
            pre_psync: false,
        });
        self.check();
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
        // R62 frees the master client with whatever it had half-read: an open MULTI must
        // not be completed later by another master's EXEC (found by `check()`).
        self.multi = None;
        self.buf.clear();
        self.goto(ReplState::None);
        self.check();
    }

    // ----- events ----------------------------------------------------------------------

    /// Feeds one event.
    pub fn handle(&mut self, now: Millis, ev: Event) {
        match ev {
            Event::Tick => self.cron(now),
            Event::Connected { link } if link == self.link && self.state == ReplState::Connecting => {
                self.on_connected(now)
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
        self.check();
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
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned()
}

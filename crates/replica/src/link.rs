//! The master link's lifecycle: connect, close, the error path (R44), reconnecting at once
//! (R56), freeing the master client into the cached master (R59) and `replicationCron`'s
//! timeouts for every state (connect, handshake R40/R43/B8, transfer R58, master link).
//!
//! Owns: the link tag (late events of a closed link are ignored), the per-link buffers
//! and decoder, and what a link error does in each state.
//! Must never: parse bytes from the master or apply the stream. The timeouts are one match
//! on the state, as in redis' `replicationCron`, rather than one per module: splitting it
//! would scatter one decision (which timeout applies now) over four files.

use proto::{LinkDecoder, Millis};
use tracing::warn;

use crate::{Action, Observation, ReplState, Replica, ReplicaError, SYNCIO_TIMEOUT_MS};

impl Replica {
    pub(crate) fn connect(&mut self, now: Millis) {
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

    pub(crate) fn close_link(&mut self, reason: &str) {
        self.actions.push(Action::Close {
            link: self.link,
            reason: reason.to_string(),
        });
        // Bump the tag so late events of the closed link are ignored.
        self.link += 1;
    }

    /// Frees the live master client: cached (R59) unless `cache` is false.
    pub(crate) fn drop_link(&mut self, cache: bool, reason: &str) {
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

    /// A link error by state: a failed transfer is noted; TRANSFER and CONNECTED reconnect
    /// at once (R56), the handshake states wait for the next tick (R44).
    pub(crate) fn on_link_error(&mut self, now: Millis, err: &ReplicaError) {
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

    /// `replicationCron`, every 1000 ms: connects, timeouts by state, and the periodic ACK (R57).
    pub(crate) fn cron(&mut self, now: Millis) {
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
}

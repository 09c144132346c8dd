//! The handshake (R40–R43, R39b): from the TCP connect through PING, AUTH and the
//! REPLCONF steps up to the PSYNC request, one reply per `RECEIVE_x` state.
//!
//! Owns: the bytes written in states 3–11, the R40 reply table, the optional steps
//! (no masterauth, no announce-ip) and the 7.0-style pipelined handshake.
//! Must never: touch the stream or the cached master, decide what PSYNC asks for
//! (psync.rs does), or run while CONNECTED. Its timeout (R40/R43/B8, `SYNCIO_TIMEOUT_MS`)
//! is one arm of the cron in link.rs.

use proto::{encode_command, Millis};

use crate::{lossy, ReplState, Replica, ReplicaError};

impl Replica {
    /// The connect asked for succeeded: the handshake starts with PING.
    pub(crate) fn on_connected(&mut self, now: Millis) {
        self.lastio = now;
        self.send(encode_command(&["PING"]));
        self.goto(ReplState::ReceivePong);
    }

    /// One handshake reply line, by state (R40 table).
    pub(crate) fn on_line(&mut self, now: Millis, line: &[u8]) -> Result<(), ReplicaError> {
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
    pub(crate) fn after_reply(&mut self, mut next: ReplState) {
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
    pub(crate) fn pipeline_rest(&mut self) {
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
}

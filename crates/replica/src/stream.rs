//! The replication stream on a CONNECTED link (R54–R57, R22): applying commands with
//! exact offsets, MULTI … EXEC held and applied whole, and `REPLCONF ACK` / `GETACK`.
//!
//! Owns: `reploff` accounting (every applied byte counted once), the stream's selected db,
//! the held MULTI block, `Action::Apply` / `Action::Proxy` and the ACKs (never decreasing, I11).
//! Must never: run before CONNECTED (I10, asserted), apply a byte twice, apply half a
//! MULTI block, or ACK for a SYNC-fallback master (R26, R52).

use bytes::Bytes;
use proto::encode_command;

use crate::{Action, ReplState, Replica};

impl Replica {
    /// R57: `REPLCONF ACK <reploff>` (not for SYNC-fallback masters).
    pub(crate) fn send_ack(&mut self) {
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

    /// R54/R55: one complete stream command; `raw` is its exact bytes. Commands inside
    /// MULTI … EXEC are held and applied, counted and proxied together at EXEC, so a link
    /// lost mid-transaction never leaves half of it applied (R55, R59).
    pub(crate) fn on_command(&mut self, req: proto::Request, raw: Bytes) {
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

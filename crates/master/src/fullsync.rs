//! Full resynchronisation (spec R26–R35): registering a full-sync replica, the snapshot
//! ("BGSAVE") that serves it to disk or to the socket, sharing a disk snapshot already in
//! progress, the diskless delay (R30), the `+FULLRESYNC` reply, the RDB transfer and the
//! hand-over to the command stream accumulated meanwhile (R33, R34).
//!
//! Owns: the running snapshot (`Child`), snapshot ids, and every `SlaveState` step from
//! WAIT_BGSAVE_START to ONLINE on the full-sync path.
//! Must never: take the snapshot itself (it asks the node with `Action::StartSnapshot`),
//! decide between partial and full sync (psync.rs), or run two snapshots at once.

use bytes::Bytes;
use proto::{ConnId, Millis};
use rand_core::RngCore;

use crate::replicas::{new_replica, RemoveReason, Replica, SlaveState, SLAVE_CAPA_EOF};
use crate::replid::random_replid;
use crate::{Action, Master, Observation};

/// Where a replication snapshot goes (R29).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotTarget {
    Disk,
    Socket,
}

/// The snapshot in progress (redis's fork child): its id and where its RDB goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Child {
    pub(crate) id: u64,
    pub(crate) target: SnapshotTarget,
}

impl<R: RngCore> Master<R> {
    /// R27: register a full-sync replica and pick how its RDB is produced.
    pub(crate) fn full_resync(&mut self, now: Millis, conn: ConnId, pre_psync: bool) {
        let h = self.handshakes.remove(&conn).unwrap_or_default();
        self.counters.sync_full += 1;
        let mut r = new_replica(&h, SlaveState::WaitBgsaveStart, now);
        r.pre_psync = pre_psync;
        self.replicas.insert(conn, r);
        self.actions.push(Action::Observe(Observation::SlaveState {
            conn,
            state: Some(SlaveState::WaitBgsaveStart),
        }));
        if self.replicas.len() == 1 && self.backlog.is_none() {
            self.new_history(crate::HistoryChange::FirstReplicaNoBacklog);
            self.ensure_backlog();
        }
        match self.child {
            Some(Child {
                id,
                target: SnapshotTarget::Disk,
            }) => self.try_attach(conn, id),
            Some(Child {
                target: SnapshotTarget::Socket,
                ..
            }) => {} // (b) wait for the next one
            None => {
                let capa_eof = h.capa & SLAVE_CAPA_EOF != 0;
                if !(self.cfg.repl_diskless_sync && capa_eof && self.cfg.repl_diskless_sync_delay_s > 0) {
                    self.start_bgsave();
                }
            }
        }
    }

    /// R27(a): share a disk BGSAVE in progress with a replica already waiting for it.
    fn try_attach(&mut self, conn: ConnId, child_id: u64) {
        let newcomer_capa = self.replicas.get(&conn).map_or(0, |r| r.capa);
        let donor = self
            .replicas
            .iter()
            .find(|(c, r)| {
                **c != conn
                    && r.state == SlaveState::WaitBgsaveEnd
                    && r.snapshot == Some(child_id)
                    && newcomer_capa & r.capa == r.capa
            })
            .map(|(_, r)| (r.psync_initial_offset, r.pending.clone()));
        if let Some((offset, pending)) = donor {
            if let Some(r) = self.replicas.get_mut(&conn) {
                r.pending = pending;
                r.snapshot = Some(child_id);
            }
            self.setup_full_resync(conn, offset);
        }
    }

    /// R28: `+FULLRESYNC <replid> <off>` (unless SYNC), state WAIT_BGSAVE_END, SELECT reset.
    fn setup_full_resync(&mut self, conn: ConnId, offset: u64) {
        self.slaveseldb = -1;
        let replid = self.replid;
        let Some(r) = self.replicas.get_mut(&conn) else {
            return;
        };
        r.psync_initial_offset = offset;
        let pre_psync = r.pre_psync;
        self.set_state(conn, SlaveState::WaitBgsaveEnd);
        if !pre_psync {
            self.send(conn, format!("+FULLRESYNC {replid} {offset}\r\n").into_bytes());
        }
    }

    /// R29: start a snapshot for every replica in WAIT_BGSAVE_START.
    fn start_bgsave(&mut self) {
        debug_assert!(self.child.is_none(), "one snapshot at a time");
        let waiting: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| r.state == SlaveState::WaitBgsaveStart)
            .map(|(c, _)| *c)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let all_eof = waiting.iter().all(|c| self.replicas[c].capa & SLAVE_CAPA_EOF != 0);
        let target = if self.cfg.repl_diskless_sync && all_eof {
            SnapshotTarget::Socket
        } else {
            SnapshotTarget::Disk
        };
        let id = self.next_snapshot_id;
        self.next_snapshot_id += 1;
        self.child = Some(Child { id, target });
        // R66: a master with a backlog reports slaveseldb (or 0); we always have one here.
        // A replica's node replaces it with its link's db (`repl_stream_db`).
        let stream_db = self.repl_stream_db(None);
        let offset = self.master_repl_offset;
        self.actions.push(Action::StartSnapshot {
            id,
            target,
            replid: self.replid,
            offset,
            stream_db,
        });
        for conn in waiting {
            if let Some(r) = self.replicas.get_mut(&conn) {
                r.snapshot = Some(id);
                r.pending.clear();
            }
            self.setup_full_resync(conn, offset);
        }
    }

    pub(crate) fn snapshot_ready(&mut self, now: Millis, id: u64, payload: Bytes) {
        let Some(child) = self.child.take_if(|c| c.id == id) else {
            return;
        };
        let targets: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| r.state == SlaveState::WaitBgsaveEnd && r.snapshot == Some(id))
            .map(|(c, _)| *c)
            .collect();
        for conn in targets {
            match child.target {
                SnapshotTarget::Disk => {
                    // R31: `$<len>\r\n` + payload, no trailing CRLF.
                    let mut out = format!("${}\r\n", payload.len()).into_bytes();
                    out.extend_from_slice(&payload);
                    self.set_state(conn, SlaveState::SendBulk);
                    self.observe_rdb_sent(conn, out.len());
                    self.actions.push(Action::SendBulk {
                        conn,
                        bytes: out.into(),
                    });
                }
                SnapshotTarget::Socket => {
                    // R32: `$EOF:<mark>\r\n` + payload + mark; ONLINE, stream held (R34).
                    let mark = random_replid(&mut self.rng);
                    let mut out = format!("$EOF:{mark}\r\n").into_bytes();
                    out.extend_from_slice(&payload);
                    out.extend_from_slice(&mark.0);
                    self.observe_rdb_sent(conn, out.len());
                    self.actions.push(Action::SendRdb {
                        conn,
                        bytes: out.into(),
                    });
                    if let Some(r) = self.replicas.get_mut(&conn) {
                        r.wait_first_ack = true;
                        r.ack_time = now;
                    }
                    self.set_state(conn, SlaveState::Online);
                }
            }
        }
        // Replicas that arrived during this snapshot get the next one now (R30 would too).
        if !self.cfg.repl_diskless_sync || self.cfg.repl_diskless_sync_delay_s == 0 {
            self.start_bgsave();
        }
    }

    /// R35: every replica waiting for this snapshot is dropped.
    pub(crate) fn snapshot_failed(&mut self, now: Millis, id: u64) {
        if self.child.take_if(|c| c.id == id).is_none() {
            return;
        }
        let victims: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| r.snapshot == Some(id) && r.state == SlaveState::WaitBgsaveEnd)
            .map(|(c, _)| *c)
            .collect();
        for conn in victims {
            self.remove_replica(now, conn, RemoveReason::Drop("snapshot failed (R35)"));
        }
    }

    /// R31 end: ONLINE, then the accumulated stream (R33).
    pub(crate) fn bulk_sent(&mut self, now: Millis, conn: ConnId) {
        let Some(r) = self.replicas.get_mut(&conn) else {
            return;
        };
        if r.state != SlaveState::SendBulk {
            return;
        }
        r.ack_time = now;
        let pending = std::mem::take(&mut r.pending);
        self.set_state(conn, SlaveState::Online);
        if !pending.is_empty() {
            self.send(conn, pending);
        }
    }

    /// R30: start the snapshot of a delayed diskless sync once the oldest waiting replica
    /// waited `repl-diskless-sync-delay`, or enough replicas wait (or diskless is off).
    pub(crate) fn delayed_bgsave(&mut self, now: Millis) {
        if self.child.is_some() {
            return;
        }
        let waiting: Vec<&Replica> = self
            .replicas
            .values()
            .filter(|r| r.state == SlaveState::WaitBgsaveStart)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let max_idle = waiting
            .iter()
            .map(|r| now.0.saturating_sub(r.since.0))
            .max()
            .unwrap_or(0);
        let max_replicas = self.cfg.repl_diskless_sync_max_replicas;
        if !self.cfg.repl_diskless_sync
            || (max_replicas > 0 && waiting.len() as u64 >= max_replicas)
            || max_idle >= self.cfg.repl_diskless_sync_delay_s * 1000
        {
            self.start_bgsave();
        }
    }
}

impl<R: RngCore> Master<R> {
    /// Reports a payload's size for cost accounting (`Observation::RdbSent`).
    fn observe_rdb_sent(&mut self, conn: ConnId, bytes: usize) {
        if self.cfg.observe_stream {
            let bytes = bytes as u64;
            self.actions.push(Action::Observe(Observation::RdbSent { conn, bytes }));
        }
    }
}

impl<R: RngCore> Master<R> {
    /// R66 (`rdbPopulateSaveInfo`): the repl-stream-db an RDB with repl info records. A
    /// replica proxies its master's stream and never emits SELECT, so it records the db its
    /// master link (or cached master) selected, `link_db` (`Some(None)`: none selected yet,
    /// recorded as 0); a master records the db its own stream last selected, 0 before any.
    pub fn repl_stream_db(&self, link_db: Option<Option<usize>>) -> u32 {
        match link_db {
            Some(db) => u32::try_from(db.unwrap_or(0)).unwrap_or(0),
            None => u32::try_from(self.slaveseldb.max(0)).unwrap_or(0),
        }
    }
}

//! Carrying out the cores' actions: the replica core's (link IO, loading a full sync,
//! applying the stream, proxying it to sub-replicas) and the master core's (replies,
//! transfers, snapshots, notes), and the upstream state the master core is told.

use bytes::Bytes;
use master::Upstream;
use proto::rdb::ReplInfo;
use proto::Millis;
use rand_core::RngCore;
use replica::ReplState;
use tracing::debug;

use super::{keyspace_from_rdb, Io, Node, Note};

impl<R: RngCore> Node<R> {
    fn upstream(&self) -> Upstream {
        match self.replica.state() {
            ReplState::None => Upstream::None,
            ReplState::Connected => Upstream::Connected,
            _ => Upstream::NotConnected,
        }
    }

    /// Carries out the replica core's actions.
    pub(super) fn pump_replica(&mut self, now: Millis) {
        let mut actions = std::mem::take(&mut self.replica_actions);
        actions.extend(self.replica.drain_actions());
        for a in actions.drain(..) {
            match a {
                replica::Action::Connect { link } => {
                    if let Some((host, port)) = self.master_addr.clone() {
                        self.io.push(Io::Connect { link, host, port });
                    }
                }
                replica::Action::Send { link, bytes } => self.io.push(Io::SendMaster { link, bytes }),
                replica::Action::Close { link, reason } => {
                    debug!(link, %reason, "closing master link");
                    self.io.push(Io::CloseMaster { link });
                }
                replica::Action::FullSyncLoaded { replid, offset, rdb } => {
                    self.keyspace = keyspace_from_rdb(&rdb);
                    self.divergence.full_sync_loaded();
                    self.note(Note::DatasetReplaced {
                        keys: self.keyspace.len(),
                    });
                    self.master.reset_to_full_sync(replid, offset);
                }
                replica::Action::AdoptReplid { replid } => self.master.adopt_replid(replid),
                replica::Action::Apply { db, argv } => self.apply_from_master(now, db, &argv),
                replica::Action::Proxy { bytes } => self.master.handle(now, master::Event::Proxy { bytes }),
                replica::Action::Observe(o) => self.note(Note::Replica(o)),
            }
        }
        self.replica_actions = actions;
        let up = self.upstream();
        self.master.set_upstream(up);
        self.pump_master();
    }

    /// Carries out the master core's actions.
    pub(super) fn pump_master(&mut self) {
        let mut actions = std::mem::take(&mut self.master_actions);
        actions.extend(self.master.drain_actions());
        for a in actions.drain(..) {
            match a {
                master::Action::Send { conn, bytes } => self.send(conn, bytes),
                master::Action::SendBulk { conn, bytes } => self.io.push(Io::SendBulk { conn, bytes }),
                master::Action::SendRdb { conn, bytes } => self.io.push(Io::SendRdb { conn, bytes }),
                master::Action::Close { conn, reason } => {
                    debug!(%conn, %reason, "closing replica");
                    self.close_client(conn, true);
                }
                master::Action::StartSnapshot {
                    id,
                    target: _,
                    replid,
                    offset,
                    stream_db,
                } => {
                    // R66: a replica's snapshot names the db its master link has selected.
                    let link = self.replica.master().or(self.replica.cached());
                    let stream_db = link.map_or(stream_db, |m| self.master.repl_stream_db(Some(m.db)));
                    let info = ReplInfo {
                        repl_stream_db: stream_db,
                        repl_id: replid,
                        repl_offset: offset,
                    };
                    let payload = proto::rdb::write(&self.rdb_file(0, Some(info)));
                    self.snapshots.insert(id, Bytes::from(payload));
                    self.io.push(Io::Snapshot { id });
                }
                master::Action::Observe(o) => {
                    // A dataset renamed without a stream leading to it starts a history.
                    let base = matches!(
                        o,
                        master::Observation::ReplidChanged {
                            why: master::HistoryChange::FirstReplicaNoBacklog | master::HistoryChange::BacklogTtl,
                            ..
                        }
                    );
                    self.note(Note::Master(o));
                    if base {
                        self.note_base();
                    }
                }
            }
        }
        self.master_actions = actions;
    }
}

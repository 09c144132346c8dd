//! Startup and persistence: loading an RDB at process start with its replication info
//! (R65, R67, R68), and the RDB a SAVE or a full sync's snapshot writes (R66).

use bytes::Bytes;
use proto::rdb::{RdbDb, RdbEntry, RdbFile, ReplInfo};
use proto::Millis;
use rand_core::RngCore;

use super::{Node, Note};
use crate::keyspace::{Keyspace, DB_COUNT};

impl<R: RngCore> Node<R> {
    /// Startup from a persisted RDB (R67/R68). `replicaof` is the configured master, if
    /// any; it must be set before loading so the repl info is used the right way.
    pub fn load_at_startup(&mut self, now: Millis, rdb: &RdbFile, replicaof: Option<(String, u16)>) {
        self.keyspace = keyspace_from_rdb(rdb);
        self.note_base();
        let info = rdb.repl_info();
        if let Some(i) = &info {
            self.note(Note::Loaded {
                replid: i.repl_id,
                offset: i.repl_offset,
                as_replica: replicaof.is_some(),
            });
        }
        // R67/R68 unless the rule set under trial forgoes restart continuity: then the
        // stored history is not restored and the node starts a fresh one.
        let rules = self.cfg.master.rules;
        let continuity = if replicaof.is_some() {
            rules.replica_restart_continuity()
        } else {
            rules.master_restart_continuity()
        };
        let info = info.filter(|_| continuity);
        match (info, &replicaof) {
            (Some(i), Some(_)) => {
                self.master.restore_from_rdb(i.repl_id, i.repl_offset, true, now);
                self.replica
                    .restore_cached(i.repl_id, i.repl_offset, i.repl_stream_db as usize);
            }
            (Some(i), None) => {
                self.master.restore_from_rdb(i.repl_id, i.repl_offset, false, now);
                // R68: keys found expired while loading are DELeted into the new backlog.
                for p in self.keyspace.active_expire(now.0) {
                    self.master
                        .handle(now, master::Event::Propagate { db: p.db, argv: p.argv });
                }
            }
            (None, _) => {}
        }
        if let Some((host, port)) = replicaof {
            self.start_replication(now, host, port, false);
        }
        self.pump_master();
    }

    /// The RDB a SAVE writes now, with repl info when available (R65, R66).
    pub fn save_rdb(&self, ctime_s: i64) -> Bytes {
        Bytes::from(proto::rdb::write(&self.rdb_file(ctime_s, self.repl_info_for_save())))
    }

    fn repl_info_for_save(&self) -> Option<ReplInfo> {
        // A divergent dataset is not what the stream gives at any offset: saved without a
        // position, a restart full-syncs instead of continuing it (and losing the flag).
        if self.divergence.divergent() {
            return None;
        }
        // R66: a master with a backlog, or a replica with a (cached) master.
        if let Some(m) = self.replica.master().or(self.replica.cached()) {
            return Some(ReplInfo {
                repl_stream_db: self.master.repl_stream_db(Some(m.db)),
                repl_id: self.master.replid(),
                repl_offset: self.master.master_repl_offset(),
            });
        }
        if self.is_replica() || self.master.backlog().is_none() {
            return None;
        }
        Some(ReplInfo {
            repl_stream_db: self.master.repl_stream_db(None),
            repl_id: self.master.replid(),
            repl_offset: self.master.master_repl_offset(),
        })
    }

    pub(super) fn rdb_file(&self, ctime_s: i64, repl: Option<ReplInfo>) -> RdbFile {
        let mut dbs = Vec::new();
        for index in 0..DB_COUNT {
            let entries: Vec<RdbEntry> = self
                .keyspace
                .iter_db(index)
                .map(|(k, e)| RdbEntry {
                    key: k.clone(),
                    value: e.value.clone(),
                    expire_ms: e.expire_ms,
                })
                .collect();
            if !entries.is_empty() {
                dbs.push(RdbDb {
                    index: index as u32,
                    entries,
                });
            }
        }
        RdbFile::with_repl_aux("7.0.15", ctime_s, 0, repl, dbs)
    }
}

/// Builds a keyspace from an RDB (strings only; the loader rejects other types).
pub fn keyspace_from_rdb(rdb: &RdbFile) -> Keyspace {
    let mut ks = Keyspace::new();
    for db in &rdb.dbs {
        for e in &db.entries {
            // db.index < 16 is checked by the RDB loader (BadDbIndex).
            let _ = ks.insert(db.index as usize, e.key.clone(), e.value.clone(), e.expire_ms);
        }
    }
    ks
}

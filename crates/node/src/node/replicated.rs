//! What a replica does with a command from its master that it cannot apply.
//!
//! **Decision: the dataset is marked divergent; no full resync is forced.** A replica must
//! never diverge silently, so each such command is logged at error level and counted, and
//! INFO replication shows `unapplied_master_commands:<n>` and `dataset_divergent:1` until a
//! full sync replaces the dataset. Why not force a full resync instead:
//! - it cannot repair what this node cannot represent: a list or hash lives in the master's
//!   RDB as a type the loader rejects, so every full sync would fail and be retried, for
//!   ever;
//! - even where the RDB could be loaded, a master that keeps sending the command (a
//!   workload that uses it) would trigger one full sync per occurrence: an unbounded loop
//!   of forks, transfers and reloads during which the replica serves nothing current;
//! - marking keeps the link, the offsets and the proxied stream exact (sub-replicas get
//!   every byte, R74), so only the keys the commands touched are wrong here, and the user
//!   (or Sentinel's operator) sees it in INFO and the log and can resync on their terms.
//!
//! What the user loses: reads on this replica of the keys those commands touched, and, if
//! it is promoted, those keys. A divergent dataset is saved without replication info (see
//! `repl_info_for_save`), so a restart full-syncs rather than continue it unflagged.

use std::collections::BTreeSet;

use bytes::Bytes;
use proto::Millis;
use rand_core::RngCore;
use tracing::{error, info};

use super::Node;
use crate::keyspace::{Origin, Role, DB_COUNT};

/// Distinct command names logged individually; past this only the power-of-two totals.
const LOGGED_NAMES_MAX: usize = 64;

/// Commands from the master this node could not apply.
#[derive(Debug, Default, Clone)]
pub struct Divergence {
    unapplied: u64,
    divergent: bool,
    /// Lowercase names already logged, so a master repeating one command does not flood
    /// the log (each new name is logged once, the total at every power of two).
    logged: BTreeSet<Vec<u8>>,
}

impl Divergence {
    /// Commands from a master this process could not apply, since it started.
    pub fn unapplied(&self) -> u64 {
        self.unapplied
    }

    /// Whether the dataset differs from what the master's stream gives, because of them.
    pub fn divergent(&self) -> bool {
        self.divergent
    }

    /// A full sync replaced the dataset with the master's: no longer divergent.
    pub(super) fn full_sync_loaded(&mut self) {
        if self.divergent {
            info!("full sync replaced the divergent dataset");
        }
        self.divergent = false;
    }

    fn record(&mut self, argv: &[Bytes], reason: &str) {
        self.unapplied += 1;
        self.divergent = true;
        let name = argv.first().map(|a| a.to_ascii_lowercase()).unwrap_or_default();
        let new_name = self.logged.len() < LOGGED_NAMES_MAX && self.logged.insert(name.clone());
        if new_name || self.unapplied.is_power_of_two() {
            error!(
                command = %String::from_utf8_lossy(&name),
                reason,
                unapplied = self.unapplied,
                "cannot apply a command from the master: the dataset now differs from the \
                 master's (INFO replication: dataset_divergent:1)"
            );
        }
    }
}

impl<R: RngCore> Node<R> {
    /// Applies one command of the master's stream, recording it in [`Divergence`] when it
    /// is unknown here, fails, or names a database this node does not have.
    pub(super) fn apply_from_master(&mut self, now: Millis, db: usize, argv: &[Bytes]) {
        // Redis propagates PUBLISH so replicas' subscribers get it; it changes no data,
        // and nothing here serves pub/sub.
        if argv
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"publish") || n.eq_ignore_ascii_case(b"spublish"))
        {
            return;
        }
        if db >= DB_COUNT {
            self.divergence.record(argv, "database index out of range");
            return;
        }
        let mut db = db;
        match self
            .keyspace
            .execute(&mut db, argv, now.0, Role::Replica, Origin::MasterLink)
        {
            None => self.divergence.record(argv, "unknown command"),
            Some(out) if out.reply.first() == Some(&b'-') => {
                let text = String::from_utf8_lossy(&out.reply);
                self.divergence.record(argv, text.trim_end());
            }
            Some(_) => {}
        }
    }

    /// Commands from the master this node could not apply.
    pub fn divergence(&self) -> &Divergence {
        &self.divergence
    }
}

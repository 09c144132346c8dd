//! The readback oracle: after convergence every key of every node is read back against the
//! stream at the final position, so an acknowledged write lost from the data, or data from
//! a discarded branch, is caught.
//!
//! Owns: the key-by-key comparison. Must never: run before convergence, or judge a position
//! the stream model cannot follow.

use std::collections::{BTreeMap, BTreeSet};

use super::{model, NodeView, Oracle, OracleId};

impl Oracle {
    /// After convergence, every key of the converged dataset is read back and compared
    /// with what the stream gives at the final position (value and deadline): a write the
    /// stream kept but the data lost, or data from a discarded branch, is a violation.
    pub fn readback(&mut self, t_ms: u64, v: &NodeView, data: &BTreeMap<model::Key, model::Val>) {
        let Some(want) = self.model.dataset_at(v.replid, v.offset) else {
            return;
        };
        let keys: BTreeSet<&model::Key> = want.keys().chain(data.keys()).collect();
        self.checks.readback_keys += keys.len() as u64;
        let show = |x: Option<&model::Val>| match x {
            None => "nil".to_string(),
            Some((val, t)) => format!(
                "{:?}{}",
                String::from_utf8_lossy(&val[..val.len().min(24)]),
                t.map(|t| format!(" deadline {t}")).unwrap_or_default()
            ),
        };
        let bad: Vec<String> = keys
            .into_iter()
            .filter(|k| want.get(*k) != data.get(*k))
            .take(3)
            .map(|k| {
                format!(
                    "db{} {}: has {}, the stream gives {}",
                    k.0,
                    String::from_utf8_lossy(&k.1),
                    show(data.get(k)),
                    show(want.get(k))
                )
            })
            .collect();
        if !bad.is_empty() {
            let msg = format!(
                "read-back after convergence at ({}, {}): {}",
                v.replid,
                v.offset,
                bad.join("; ")
            );
            self.violate(t_ms, OracleId::Readback, Some(v.idx), msg);
        }
    }
}

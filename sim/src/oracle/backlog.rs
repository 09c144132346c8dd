//! The backlog oracle: I5 (`first_byte + histlen = offset + 1`), I6 (histlen at most two
//! blocks over the size) and R14 (trimming never leaves less than the configured size).
//!
//! Owns: each node's backlog bounds at the last step. Must never: compare backlogs across
//! a restart, a history change or a full resync (the bounds legitimately jump there).

use super::{BacklogView, NodeView, Oracle, OracleId};

impl Oracle {
    pub(super) fn check_backlog(&mut self, t_ms: u64, v: &NodeView) {
        let Some(BacklogView {
            first_byte: first,
            histlen,
            size,
            block_capacity: block,
        }) = v.backlog
        else {
            self.backlog_seen.remove(&v.idx);
            return;
        };
        self.checks.backlog += 1;
        if first + histlen != v.offset + 1 {
            let msg = format!("I5: first_byte {first} + histlen {histlen} != offset {} + 1", v.offset);
            self.violate(t_ms, OracleId::Backlog, Some(v.idx), msg);
        }
        // R14 trims only when a block is added, to histlen - head <= size; the tail may
        // then fill: so at most two blocks over the size while no replica pins blocks.
        if histlen > size + 2 * block {
            let msg = format!("I6: histlen {histlen} > size {size} + 2 blocks of {block}");
            self.violate(t_ms, OracleId::Backlog, Some(v.idx), msg);
        }
        // R14 lower bound: trimming (the first byte moving forward within one history)
        // never leaves less than the configured size — the smaller of the sizes before and
        // after the step: a resize within the step may follow the trim (seed 0x1349: a
        // frozen master woke, appended a big write under its old size, then grew).
        let key = (v.boot, v.replid);
        let prev = self.backlog_seen.insert(v.idx, (key, first, size));
        if let Some((k, prev_first, prev_size)) = prev {
            let size = size.min(prev_size);
            if k == key && first > prev_first && histlen < size && !self.resynced.contains(&v.idx) {
                let msg =
                    format!("R14: trimmed to histlen {histlen} below size {size} (first byte {prev_first} -> {first})");
                self.violate(t_ms, OracleId::Backlog, Some(v.idx), msg);
            }
        }
    }
}

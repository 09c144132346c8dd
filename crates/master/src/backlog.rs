//! The replication backlog (spec §2, R11–R19), modelled as redis 7.0's list of blocks.
//!
//! Owns: which stream bytes are still servable, `first_byte_offset` and `histlen`.
//! Must never: serve a byte it does not hold, or trim below the configured size (R14.3).
//!
//! Modelling decision (the issue asks for one): we keep 7.0's *whole-block* trimming, so
//! `histlen` may exceed `repl_backlog_size` by less than one block, exactly as INFO on a
//! real server shows (vector s2_partial: size 16384, histlen 21799). Two differences, both
//! documented because they make our INFO numbers differ from redis's in the last block:
//! block capacity has no allocator slack (redis's jemalloc may round a block up), and
//! replica output buffers are separate copies, so a slow replica never pins blocks
//! (redis would let histlen grow past size + one block while a replica pins the head).
//! Trimming is not capped at 64 blocks per call: we always trim fully.

use std::collections::VecDeque;

/// `CONFIG_REPL_BACKLOG_MIN_SIZE`, also the minimum block capacity (R12, R15).
pub const REPL_BACKLOG_MIN_SIZE: u64 = 16 * 1024;

#[derive(Debug, Clone)]
struct Block {
    /// Stream offset of the block's first byte.
    repl_offset: u64,
    capacity: usize,
    buf: Vec<u8>,
}

/// A replication backlog. Offsets are stream offsets (first stream byte = 1).
#[derive(Debug, Clone)]
pub struct ReplBacklog {
    blocks: VecDeque<Block>,
    /// Configured `repl-backlog-size`.
    size: u64,
    /// Smallest block capacity; 16 KiB as in redis, smaller only in tests that need
    /// eviction on tiny backlogs.
    block_min: u64,
    /// `repl_backlog_first_byte_offset`.
    off: u64,
    histlen: u64,
    /// The last trimmed block's buffer, reused for the next block: a steady stream then
    /// allocates nothing (what keeps appends near memcpy speed).
    spare: Option<Vec<u8>>,
    /// The largest capacity any block was created with: while it is within what a new
    /// block would get, [`ReplBacklog::max_block_capacity`] needs no walk over the blocks
    /// (the simulator asks for it at every step).
    created_max: u64,
}

impl ReplBacklog {
    /// R11: an empty backlog whose next byte is `master_repl_offset + 1`.
    pub fn new(master_repl_offset: u64, size: u64, block_min: u64) -> Self {
        assert!(block_min > 0, "block_min must be positive");
        ReplBacklog {
            blocks: VecDeque::new(),
            size,
            block_min,
            off: master_repl_offset + 1,
            histlen: 0,
            spare: None,
            created_max: 0,
        }
    }

    /// `repl_backlog_first_byte_offset`.
    pub fn first_byte_offset(&self) -> u64 {
        self.off
    }

    /// `repl_backlog_histlen`.
    pub fn histlen(&self) -> u64 {
        self.histlen
    }

    /// Configured size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The offset of the last byte held (= `master_repl_offset`).
    pub fn end_offset(&self) -> u64 {
        self.off + self.histlen - 1
    }

    fn block_capacity(&self, len: u64) -> u64 {
        // R12: min(max(len, 16384), max(size/16, 16384)), with 16384 as block_min.
        len.max(self.block_min).min((self.size / 16).max(self.block_min))
    }

    /// R12: appends stream bytes; trims (R14) when a new block was added. Returns whether
    /// one was: that is when redis checks replicas' output-buffer limits (R39).
    pub fn append(&mut self, mut data: &[u8]) -> bool {
        let end_before = self.end_offset();
        let mut added_block = false;
        while !data.is_empty() {
            if let Some(tail) = self.blocks.back_mut() {
                let free = tail.capacity - tail.buf.len();
                let n = free.min(data.len());
                tail.buf.extend_from_slice(&data[..n]);
                self.histlen += n as u64;
                data = &data[n..];
                if data.is_empty() {
                    break;
                }
            }
            let cap = self.block_capacity(data.len() as u64);
            // cap <= max(size/16, block_min); sizes are configured, never from the wire.
            let capacity = usize::try_from(cap).expect("block capacity fits in memory");
            let repl_offset = self.off + self.histlen;
            let buf = match self.spare.take() {
                Some(mut b) if b.capacity() >= capacity => {
                    b.clear();
                    b
                }
                _ => Vec::with_capacity(capacity),
            };
            self.blocks.push_back(Block {
                repl_offset,
                capacity,
                buf,
            });
            self.created_max = self.created_max.max(cap);
            added_block = true;
        }
        if added_block {
            self.trim();
        }
        debug_assert!(self.end_offset() >= end_before, "backlog end went backwards");
        self.check();
        added_block
    }

    /// R15: changes the configured size (the caller clamps) and trims once.
    pub fn resize(&mut self, size: u64) {
        self.size = size;
        self.trim();
        self.check();
    }

    /// R14: drop whole head blocks while that keeps at least `size` bytes.
    fn trim(&mut self) {
        let end = self.end_offset();
        while self.histlen > self.size && self.blocks.len() > 1 {
            let head = self.blocks.front().expect("len > 1");
            let head_len = head.buf.len() as u64;
            debug_assert_eq!(head.buf.len(), head.capacity, "a non-tail block is full");
            if self.histlen - head_len <= self.size {
                break;
            }
            self.histlen -= head_len;
            self.spare = self.blocks.pop_front().map(|b| b.buf);
        }
        self.off = end + 1 - self.histlen;
    }

    /// R19: the bytes from stream offset `from` to the end, or `None` if `from` is not
    /// servable (outside `[off, off + histlen]`). `from == off + histlen` gives empty.
    pub fn range_from(&self, from: u64) -> Option<Vec<u8>> {
        if from < self.off || from > self.off + self.histlen {
            return None;
        }
        let mut out = Vec::with_capacity((self.off + self.histlen - from) as usize);
        for b in &self.blocks {
            let b_end = b.repl_offset + b.buf.len() as u64; // exclusive
            if b_end <= from {
                continue;
            }
            let start = from.saturating_sub(b.repl_offset) as usize;
            out.extend_from_slice(&b.buf[start..]);
        }
        debug_assert_eq!(out.len() as u64, self.off + self.histlen - from, "R19 byte count");
        Some(out)
    }

    /// Memory held by blocks (capacity), for the B7 bound check.
    pub fn allocated(&self) -> u64 {
        self.blocks.iter().map(|b| b.capacity as u64).sum()
    }

    /// The largest block held, or the capacity the next block would get: with head and
    /// tail both possibly over the size, I6's bound is `size + 2 * this`.
    pub fn max_block_capacity(&self) -> u64 {
        let next = self.block_capacity(u64::MAX);
        let held = || self.blocks.iter().map(|b| b.capacity as u64).max().unwrap_or(0);
        if self.created_max <= next {
            // Every block held is at most `created_max`: no need to look (R12 caps a new
            // block at `next`, so only a shrink since can leave a bigger one).
            debug_assert!(held() <= next, "a block above created_max");
            return next;
        }
        held().max(next)
    }

    /// Drops the bytes after `end` (which must be held or the current end), so the next
    /// append continues at `end + 1`. Only a rule set under trial rewinds a stream (B2's
    /// 6.0.0 design); redis 7.0 never does.
    pub fn truncate_to(&mut self, end: u64) {
        assert!(
            end + 1 >= self.off && end <= self.end_offset(),
            "truncate_to outside the backlog"
        );
        self.histlen = end + 1 - self.off;
        while let Some(tail) = self.blocks.back_mut() {
            if tail.repl_offset > end {
                self.blocks.pop_back();
            } else {
                tail.buf.truncate((end + 1 - tail.repl_offset) as usize);
                break;
            }
        }
        self.check();
    }

    fn check(&self) {
        // The sums below would cost O(blocks) per append in release builds.
        if !cfg!(debug_assertions) {
            return;
        }
        let held: u64 = self.blocks.iter().map(|b| b.buf.len() as u64).sum();
        debug_assert_eq!(held, self.histlen, "I5: histlen equals bytes held");
        if let Some(head) = self.blocks.front() {
            debug_assert_eq!(head.repl_offset, self.off, "I5: first block starts at off");
        }
        // I6 with no pinning. R14 trims only when a new block is added, and then keeps
        // `histlen - head <= size`; appends that fit in the tail's free space do not
        // trim. So histlen stays below size + head capacity + tail capacity (up to
        // almost two blocks over the size when the size is not a multiple of the block).
        // Capacities are the held blocks' own: after a shrink (R15) old blocks keep the
        // capacity they were allocated with, which can exceed today's size/16.
        if let (Some(head), Some(tail)) = (self.blocks.front(), self.blocks.back()) {
            let bound = self.size + head.capacity as u64 + tail.capacity as u64;
            debug_assert!(
                self.histlen <= bound || self.blocks.len() <= 1,
                "I6: histlen {} size {} head {} tail {}",
                self.histlen,
                self.size,
                head.capacity,
                tail.capacity
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rewinding rule set (B2's design) cuts the tail; appends continue from the cut,
    /// across block boundaries, and I5 (`first + histlen = end + 1`) holds throughout.
    #[test]
    fn truncate_to_cuts_the_tail_across_blocks() {
        let mut b = ReplBacklog::new(0, 64, 4);
        b.append(b"abcdefghij");
        b.truncate_to(7);
        assert_eq!((b.first_byte_offset(), b.histlen(), b.end_offset()), (1, 7, 7));
        assert_eq!(b.range_from(5), Some(b"efg".to_vec()));
        b.append(b"XY");
        assert_eq!(b.range_from(6), Some(b"fgXY".to_vec()));
        b.truncate_to(b.end_offset());
        assert_eq!(b.end_offset(), 9);
        b.truncate_to(0);
        assert_eq!((b.histlen(), b.range_from(1)), (0, Some(vec![])));
    }

    /// R11/R19: an empty backlog serves exactly its next offset, with no bytes.
    #[test]
    fn empty_backlog_serves_only_next_offset() {
        let b = ReplBacklog::new(100, 64, 4);
        assert_eq!(b.first_byte_offset(), 101);
        assert_eq!(b.range_from(101), Some(vec![]));
        assert_eq!(b.range_from(100), None);
        assert_eq!(b.range_from(102), None);
    }

    /// R14: trimming is by whole blocks and never goes below the size.
    #[test]
    fn trims_whole_blocks_keeping_at_least_size() {
        let mut b = ReplBacklog::new(0, 16, 4);
        // size/16 = 1 < 4, so blocks are 4 bytes.
        for i in 0..40u8 {
            b.append(&[i]);
        }
        assert!(b.histlen() >= 16 && b.histlen() <= 16 + 4, "histlen {}", b.histlen());
        assert_eq!(b.end_offset(), 40);
        assert_eq!(
            b.range_from(b.first_byte_offset()).map(|v| v.len() as u64),
            Some(b.histlen())
        );
        assert_eq!(b.range_from(40), Some(vec![39]));
        assert_eq!(b.range_from(41), Some(vec![]));
    }

    /// The s2_partial capture: size 16384 after 103559 bytes in writes of ~1 KiB keeps
    /// more than 16384 and less than 16384 + one block (redis showed 21799).
    #[test]
    fn histlen_can_exceed_size_by_less_than_one_block_like_s2_partial() {
        let mut b = ReplBacklog::new(0, 16384, REPL_BACKLOG_MIN_SIZE);
        let chunk = vec![b'x'; 1031];
        while b.end_offset() + 1031 <= 103_559 {
            b.append(&chunk);
        }
        b.append(&vec![b'y'; (103_559 - b.end_offset()) as usize]);
        assert_eq!(b.end_offset(), 103_559);
        assert!(
            b.histlen() > 16384 && b.histlen() < 2 * 16384,
            "histlen {}",
            b.histlen()
        );
        assert_eq!(b.first_byte_offset(), 103_559 - b.histlen() + 1);
    }

    /// R15/I6: shrinking a backlog whose blocks were sized for a larger
    /// `repl_backlog_size` keeps up to one *old* block beyond the new size; the I6
    /// assertion must measure against the blocks held, not today's size/16.
    #[test]
    fn shrink_after_large_blocks_keeps_i6_against_held_block_capacity() {
        let mut b = ReplBacklog::new(0, 1024, 4);
        // size/16 = 64: blocks of 64 bytes.
        for _ in 0..32 {
            b.append(&[1u8; 64]);
        }
        b.resize(16);
        assert!(b.histlen() >= 16, "R15 keeps >= size, histlen {}", b.histlen());
        assert!(b.histlen() <= 16 + 64, "I6, histlen {}", b.histlen());
        assert_eq!(b.end_offset(), 32 * 64);
        b.append(&[2u8; 3]);
        assert_eq!(b.end_offset(), 32 * 64 + 3);
    }

    /// R14: trimming runs only when a new block is added, so small appends that fit in the
    /// tail push histlen past size + one block (redis does the same): size 17, 4-byte
    /// blocks, one byte at a time peaks at 24 = 17 + 2·4 − 1, never more.
    #[test]
    fn small_appends_can_exceed_size_by_almost_two_blocks() {
        let mut b = ReplBacklog::new(0, 17, 4);
        let mut peak = 0;
        for i in 0..200u8 {
            b.append(&[i]);
            peak = peak.max(b.histlen());
            assert!(b.histlen() >= 17.min(u64::from(i) + 1), "R14 keeps >= size");
        }
        assert_eq!(peak, 24);
    }

    /// R15: shrinking trims at once but keeps at least the new size.
    #[test]
    fn resize_shrink_trims() {
        let mut b = ReplBacklog::new(0, 64, 4);
        b.append(&[7u8; 64]);
        b.resize(16);
        assert!(b.histlen() >= 16 && b.histlen() <= 20, "histlen {}", b.histlen());
    }

    /// R15: `CONFIG_REPL_BACKLOG_MIN_SIZE` is 16 KiB (the clamp and the minimum block).
    #[test]
    fn min_size_is_sixteen_kib() {
        assert_eq!(REPL_BACKLOG_MIN_SIZE, 16_384);
    }

    /// R12: block capacity is min(max(len, 16 KiB), max(size/16, 16 KiB)); `allocated`
    /// and `max_block_capacity` report what is held (the I6 bound uses them).
    #[test]
    fn block_capacities_follow_r12() {
        let mut b = ReplBacklog::new(0, 1024 * 1024, REPL_BACKLOG_MIN_SIZE);
        assert_eq!(b.max_block_capacity(), 64 * 1024, "size/16 for a 1 MiB backlog");
        assert_eq!(b.allocated(), 0);
        b.append(&[1u8; 10]);
        assert_eq!(b.allocated(), 16 * 1024, "a small write gets a 16 KiB block");
        b.append(&vec![2u8; 100 * 1024]);
        // 16374 bytes fill the first block; the rest needs a 64 KiB block (capped at
        // size/16) and then one sized to the remainder, 20490 bytes (>= 16 KiB).
        assert_eq!(b.allocated(), 16 * 1024 + 64 * 1024 + 20_490);
        let small = ReplBacklog::new(0, 16 * 1024, REPL_BACKLOG_MIN_SIZE);
        assert_eq!(small.max_block_capacity(), 16 * 1024);
    }

    /// R15 then R12: after a shrink, blocks made under the old size may be bigger than any
    /// new one; `max_block_capacity` reports them while they are held, then the new cap.
    #[test]
    fn max_block_capacity_sees_blocks_older_than_a_shrink() {
        let mut b = ReplBacklog::new(0, 4 * 1024 * 1024, REPL_BACKLOG_MIN_SIZE);
        b.append(&vec![1u8; 300 * 1024]); // 256 KiB blocks (size/16)
        assert_eq!(b.max_block_capacity(), 256 * 1024);
        b.resize(512 * 1024); // new blocks are capped at 32 KiB
        assert_eq!(b.max_block_capacity(), 256 * 1024, "a 256 KiB block is still held");
        let held = b.blocks.iter().map(|b| b.capacity as u64).max();
        assert_eq!(held, Some(256 * 1024));
        // Enough new stream to trim every old block away.
        for _ in 0..40 {
            b.append(&vec![2u8; 32 * 1024]);
        }
        assert!(b.blocks.iter().all(|b| b.capacity as u64 <= 32 * 1024));
        assert_eq!(b.max_block_capacity(), 32 * 1024, "only new blocks are left");
    }
}

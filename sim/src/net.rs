//! What turmoil's TCP does not model and replication depends on: finite bandwidth and
//! bytes corrupted in flight. turmoil delivers any write at once (its flow control counts
//! segments, not bytes), so without a rate a 10 MB value would reach a replica before its
//! master could see the output buffer grow (R39, B7).
//!
//! Real TCP also delivers a stream at arbitrary boundaries and breaks connections at any
//! byte; turmoil delivers each write as one segment, so node-to-node connections can
//! *fragment* their writes (partial writes at boundaries drawn from the seed: single bytes,
//! splits in RESP headers, bulks, MULTI…EXEC blocks and `$EOF:` marks, tails of large
//! writes) and links can be *cut* after an exact number of bytes (issue 13 c).
//!
//! Owns: the link rate, in-flight corruption (the corrupting-link nemesis), fragmentation
//! and cuts.
//! Must never: read the wall clock (all waits are tokio sleeps on simulated time), or draw
//! from any RNG but the per-connection stream derived from the run seed.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;
use turmoil::net::tcp::OwnedWriteHalf;

use crate::world::derive_seed;

/// Default link rate: 1 Gbit/s, in bytes per simulated millisecond.
pub const DEFAULT_BYTES_PER_MS: u64 = 125_000;

/// How one write towards a host gets corrupted in flight (the corrupting-link nemesis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Corruption {
    /// XOR the byte `skip` bytes from now with `mask`.
    Flip {
        /// Bytes from now to the flipped one.
        skip: u64,
        /// The XOR mask.
        mask: u8,
    },
    /// Drop `len` bytes starting `skip` bytes from now (a stream that skips bytes).
    Skip {
        /// Bytes from now to the first dropped one.
        skip: u64,
        /// Bytes dropped.
        len: u64,
    },
}

/// Where a link breaks (the cutting-link nemesis). The bytes before the cut are delivered,
/// then the writer's connection fails (its peer reads end-of-stream) and no later byte of
/// that connection is ever delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cut {
    /// Exactly `after` more bytes pass, then the link breaks.
    After {
        /// Bytes that still pass.
        after: u64,
    },
    /// The next write of at least `min_len` bytes (an RDB transfer, a batch of the
    /// stream) breaks `before_end` bytes before its end: `before_end` ≤ 40 cuts a diskless
    /// transfer inside its closing `$EOF:` mark.
    BeforeEnd {
        /// The smallest write that is cut.
        min_len: u64,
        /// Bytes before its end where it breaks.
        before_end: u64,
    },
}

/// Which node-to-node connections fragment their writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragmentation {
    /// Per mille of node-to-node connections that fragment (drawn per connection).
    pub conns_per_mille: u32,
}

/// Network behaviour shared by every host of one run (turmoil runs them on one thread).
#[derive(Debug)]
pub struct Net {
    /// Bytes per simulated ms each connection may write; 0 = unlimited.
    pub bytes_per_ms: u64,
    /// (from, to) host names → a pending corruption of the bytes `from` writes to `to`.
    corrupt: RefCell<BTreeMap<(String, String), Corruption>>,
    /// Writes that were corrupted (the oracles must account for each).
    pub corrupted: Cell<u64>,
    /// Fragmentation of node-to-node connections, with the run seed it is drawn from.
    fragment: Option<(Fragmentation, u64)>,
    /// The node hosts: only connections between two of them fragment (client traffic is
    /// the workload's, not the system's under test).
    nodes: Vec<String>,
    /// (me, peer) → connections opened so far (each connection's fragmentation stream
    /// is derived from its number, so it does not depend on other links' traffic).
    opened: RefCell<BTreeMap<(String, String), u64>>,
    /// (from, to) host names → a pending cut of the bytes `from` writes to `to`.
    cuts: RefCell<BTreeMap<(String, String), Cut>>,
    /// Partial writes made by fragmenting connections.
    pub fragmented: Cell<u64>,
    /// Links cut by an armed [`Cut`].
    pub cut: Cell<u64>,
    /// (from, to) of every armed cut or corruption that struck, in order, for the oracles
    /// to drain: a fault armed long ago acts when bytes flow, and that is when it explains
    /// a failure.
    pub struck: RefCell<Vec<(String, String)>>,
}

impl Default for Net {
    fn default() -> Self {
        Net {
            bytes_per_ms: DEFAULT_BYTES_PER_MS,
            corrupt: RefCell::default(),
            corrupted: Cell::default(),
            fragment: None,
            nodes: Vec::new(),
            opened: RefCell::default(),
            cuts: RefCell::default(),
            fragmented: Cell::default(),
            cut: Cell::default(),
            struck: RefCell::default(),
        }
    }
}

fn now_ms() -> u64 {
    turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
}

impl Net {
    /// A network whose connections each write at most `bytes_per_ms` (0 = unlimited).
    pub fn with_rate(bytes_per_ms: u64) -> Self {
        Net {
            bytes_per_ms,
            ..Net::default()
        }
    }

    /// Connections between two of `nodes` fragment their writes as `f` says, drawn from
    /// streams derived from `seed`.
    pub fn fragmenting(mut self, f: Option<Fragmentation>, seed: u64, nodes: Vec<String>) -> Self {
        self.fragment = f.filter(|f| f.conns_per_mille > 0).map(|f| (f, seed));
        self.nodes = nodes;
        self
    }

    /// Arms a cut of the bytes `from` writes to `to` (replacing a pending one).
    pub fn cut(&self, from: &str, to: &str, c: Cut) {
        self.cuts.borrow_mut().insert((from.to_string(), to.to_string()), c);
    }

    /// Forgets every pending cut (the liveness phase starts from whole links).
    pub fn disarm_cuts(&self) {
        self.cuts.borrow_mut().clear();
    }

    /// The fragmenter of a new connection `me → peer`, if it fragments.
    fn fragmenter(&self, me: &str, peer: &str) -> Option<Fragmenter> {
        let (f, seed) = self.fragment?;
        if !(self.nodes.iter().any(|n| n == me) && self.nodes.iter().any(|n| n == peer)) {
            return None;
        }
        let k = {
            let mut opened = self.opened.borrow_mut();
            let k = opened.entry((me.to_string(), peer.to_string())).or_default();
            *k += 1;
            *k
        };
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &format!("fragment-{me}-{peer}-{k}")));
        if rng.gen_range(0..1000) >= f.conns_per_mille {
            return None;
        }
        let fine_max = [1, 8, 64][rng.gen_range(0..3)];
        Some(Fragmenter { rng, fine_max })
    }

    /// Applies an armed cut to the next `len` bytes `from → to` (out of `offered`, what
    /// the writer offered): how many of them may still pass (`None`: all of them, no cut
    /// armed or not reached).
    fn cut_at(&self, from: &str, to: &str, len: usize, offered: usize) -> Option<usize> {
        let mut cuts = self.cuts.borrow_mut();
        if cuts.is_empty() {
            return None; // nothing armed (most writes): no key to build
        }
        let key = (from.to_string(), to.to_string());
        let c = cuts.get_mut(&key)?;
        let n = len as u64;
        if let Cut::BeforeEnd { min_len, before_end } = *c {
            let offered = offered as u64;
            if offered < min_len.max(1) {
                return None;
            }
            *c = Cut::After {
                after: offered.saturating_sub(before_end),
            };
        }
        let Cut::After { after } = c else {
            unreachable!("BeforeEnd was turned into After above");
        };
        if *after >= n {
            *after -= n;
            return None;
        }
        let pass = *after as usize;
        // The bytes before the cut go out now; the next write of this link breaks it.
        *after = 0;
        if pass == 0 {
            cuts.remove(&key);
        }
        self.struck.borrow_mut().push(key);
        Some(pass)
    }

    /// Arms a corruption of the next bytes `from` writes to `to`.
    pub fn corrupt(&self, from: &str, to: &str, c: Corruption) {
        self.corrupt.borrow_mut().insert((from.to_string(), to.to_string()), c);
    }
}

/// How one fragmenting connection splits its writes: a stream of its own (derived from
/// the run seed and the connection), so the boundaries replay exactly.
struct Fragmenter {
    rng: ChaCha8Rng,
    /// The largest "fine" piece: 1 (single bytes), 8 (splits inside headers and marks) or
    /// 64 (inside small bulks and commands).
    fine_max: usize,
}

impl Fragmenter {
    /// How many of the `len` bytes offered go out in this segment (1..=len).
    fn piece(&mut self, len: usize) -> usize {
        debug_assert!(len > 0, "an empty write is never fragmented");
        match self.rng.gen_range(0..10u8) {
            // Whole: keeps the cost bounded (a write averages a handful of segments).
            0 | 1 => len,
            // All but a tail of at most 48 bytes: the end of a write is split too, not only
            // its beginning (an RDB's closing 40-byte mark, the last command of a batch).
            2..=4 if len > 1 => len - self.rng.gen_range(1..=(len - 1).min(48)),
            _ => self.rng.gen_range(1..=self.fine_max.min(len)),
        }
    }
}

/// The write half of a simulated connection from `me` to `peer`, shaped by [`Net`].
pub struct ShapedWrite {
    inner: OwnedWriteHalf,
    me: String,
    peer: String,
    net: Rc<Net>,
    tokens: u64,
    refilled_at: u64,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    fragmenter: Option<Fragmenter>,
    /// Set once an armed [`Cut`] broke this connection: every later write fails.
    cut: bool,
}

impl ShapedWrite {
    /// Wraps a write half from `me` to `peer`, shaped by `net`.
    pub fn new(inner: OwnedWriteHalf, me: String, peer: String, net: Rc<Net>) -> Self {
        ShapedWrite {
            tokens: net.bytes_per_ms,
            refilled_at: now_ms(),
            fragmenter: net.fragmenter(&me, &peer),
            inner,
            me,
            peer,
            net,
            sleep: None,
            cut: false,
        }
    }

    /// Applies an armed corruption to `buf` (which is about to be written at once).
    fn corrupted<'a>(&self, buf: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let mut armed = self.net.corrupt.borrow_mut();
        if armed.is_empty() {
            return buf.into(); // nothing armed (most writes): no key to build
        }
        let key = (self.me.clone(), self.peer.clone());
        let Some(c) = armed.get_mut(&key) else {
            return buf.into();
        };
        let n = buf.len() as u64;
        match *c {
            Corruption::Flip { skip, mask } if skip < n => {
                let mut v = buf.to_vec();
                v[skip as usize] ^= mask;
                armed.remove(&key);
                self.net.corrupted.set(self.net.corrupted.get() + 1);
                self.net.struck.borrow_mut().push(key);
                v.into()
            }
            Corruption::Skip { skip, len } if skip < n => {
                let end = (skip + len).min(n);
                let mut v = buf[..skip as usize].to_vec();
                v.extend_from_slice(&buf[end as usize..]);
                let left = skip + len - end;
                if left == 0 {
                    armed.remove(&key);
                } else {
                    *c = Corruption::Skip { skip: 0, len: left };
                }
                self.net.corrupted.set(self.net.corrupted.get() + 1);
                self.net.struck.borrow_mut().push(key);
                v.into()
            }
            Corruption::Flip { ref mut skip, .. } | Corruption::Skip { ref mut skip, .. } => {
                *skip -= n;
                buf.into()
            }
        }
    }
}

impl AsyncWrite for ShapedWrite {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if let Some(s) = this.sleep.as_mut() {
                if s.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            let now = now_ms();
            let rate = this.net.bytes_per_ms;
            let mut n = buf.len();
            if rate > 0 {
                // Token bucket: one millisecond of burst.
                this.tokens = (this.tokens + (now - this.refilled_at) * rate).min(rate);
                this.refilled_at = now;
                if this.tokens == 0 {
                    this.sleep = Some(Box::pin(tokio::time::sleep(Duration::from_millis(1))));
                    continue;
                }
                n = n.min(this.tokens as usize);
            }
            if this.cut {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            if let Some(f) = this.fragmenter.as_mut() {
                if n > 0 {
                    let piece = f.piece(n);
                    if piece < buf.len() {
                        this.net.fragmented.set(this.net.fragmented.get() + 1);
                    }
                    n = piece;
                }
            }
            if let Some(pass) = this.net.cut_at(&this.me, &this.peer, n, buf.len()) {
                if pass == 0 {
                    this.cut = true;
                    this.net.cut.set(this.net.cut.get() + 1);
                    return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
                }
                n = pass;
            }
            let data = this.corrupted(&buf[..n]);
            // The inner write takes everything at once (turmoil never blocks a write), so a
            // dropped or flipped byte cannot be re-offered: report the caller's length.
            return match Pin::new(&mut this.inner).poll_write(cx, &data) {
                Poll::Ready(Ok(_)) => {
                    this.tokens = this.tokens.saturating_sub(n as u64);
                    Poll::Ready(Ok(n))
                }
                other => other,
            };
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

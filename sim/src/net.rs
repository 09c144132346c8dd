//! What turmoil's TCP does not model and replication depends on: finite bandwidth and
//! bytes corrupted in flight. turmoil delivers any write at once (its flow control counts
//! segments, not bytes), so without a rate a 10 MB value would reach a replica before its
//! master could see the output buffer grow (R39, B7).
//!
//! Owns: the link rate, in-flight corruption (the corrupting-link nemesis).
//! Must never: read the wall clock (all waits are tokio sleeps on simulated time).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;
use turmoil::net::tcp::OwnedWriteHalf;

/// Default link rate: 1 Gbit/s, in bytes per simulated millisecond.
pub const DEFAULT_BYTES_PER_MS: u64 = 125_000;

/// How one write towards a host gets corrupted in flight (the corrupting-link nemesis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Corruption {
    /// XOR the byte `skip` bytes from now with `mask`.
    Flip { skip: u64, mask: u8 },
    /// Drop `len` bytes starting `skip` bytes from now (a stream that skips bytes).
    Skip { skip: u64, len: u64 },
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
}

impl Default for Net {
    fn default() -> Self {
        Net {
            bytes_per_ms: DEFAULT_BYTES_PER_MS,
            corrupt: RefCell::default(),
            corrupted: Cell::default(),
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

    /// Arms a corruption of the next bytes `from` writes to `to`.
    pub fn corrupt(&self, from: &str, to: &str, c: Corruption) {
        self.corrupt.borrow_mut().insert((from.to_string(), to.to_string()), c);
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
}

impl ShapedWrite {
    pub fn new(inner: OwnedWriteHalf, me: String, peer: String, net: Rc<Net>) -> Self {
        ShapedWrite {
            tokens: net.bytes_per_ms,
            refilled_at: now_ms(),
            inner,
            me,
            peer,
            net,
            sleep: None,
        }
    }

    /// Applies an armed corruption to `buf` (which is about to be written at once).
    fn corrupted<'a>(&self, buf: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let key = (self.me.clone(), self.peer.clone());
        let mut armed = self.net.corrupt.borrow_mut();
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

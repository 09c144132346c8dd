//! One socket's output, shared by the event loop and the socket's writer task.
//!
//! The event loop writes straight to the socket while nothing is queued ahead: a reply or
//! a stream write costs no task hop and no event back, and the node learns at once what
//! the socket took (R39's accounting). Only what would block, and RDB transfers, go to the
//! writer task, which writes them in order and reports back through a callback. While the
//! writer holds anything, later output queues behind it, so bytes leave in the order the
//! node produced them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;
use tokio::task::JoinHandle;

/// Most bytes the writer task coalesces into one socket write.
const WRITE_BATCH_MAX: usize = 256 * 1024;

/// What the writer task tells the event loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// An RDB transfer sent with `notify` is fully written (disk sync, R31).
    BulkSent,
    /// Cumulative output bytes (RDB transfers excluded) the socket took, after the writer
    /// task wrote some (R39). Direct writes are not reported: the caller sees them.
    Flushed(u64),
}

enum WriteCmd {
    Data(Bytes),
    /// An RDB transfer, not counted in [`Report::Flushed`]; `notify` asks for
    /// [`Report::BulkSent`] once written.
    Bulk(Bytes, bool),
}

impl WriteCmd {
    fn len(&self) -> usize {
        match self {
            WriteCmd::Data(b) | WriteCmd::Bulk(b, _) => b.len(),
        }
    }
}

struct State<W> {
    w: W,
    /// What the writer task still has to write, in order.
    queue: VecDeque<WriteCmd>,
    /// The writer task holds a batch it has not fully written.
    busy: bool,
    /// A write failed: output is dropped from now on (the reader sees the socket close).
    dead: bool,
    /// The [`Output`] was dropped: the writer flushes the queue, then shuts down.
    closed: bool,
    /// Output bytes the socket took, RDB transfers excluded (R39).
    written: u64,
    /// The writer task, waiting for work.
    waker: Option<Waker>,
}

impl<W> State<W> {
    fn push(&mut self, cmd: WriteCmd) {
        if self.dead {
            return;
        }
        self.queue.push_back(cmd);
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Nothing ahead of new output: it may go straight to the socket.
    fn idle(&self) -> bool {
        !self.busy && !self.dead && self.queue.is_empty()
    }
}

type Shared<W> = Rc<RefCell<State<W>>>;

/// The output side of one connection. Dropping it lets the writer task flush what is
/// queued and shut the socket down (like dropping a channel's sender); [`Output::discard`]
/// drops the queue with the socket instead.
pub(crate) struct Output<W> {
    state: Shared<W>,
    writer: JoinHandle<()>,
}

impl<W: AsyncWrite + Unpin + 'static> Output<W> {
    /// Takes the socket's write half and spawns its writer task (needs a `LocalSet`).
    pub(crate) fn spawn(w: W, report: impl Fn(Report) + 'static) -> Self {
        let state = Rc::new(RefCell::new(State {
            w,
            queue: VecDeque::new(),
            busy: false,
            dead: false,
            closed: false,
            written: 0,
            waker: None,
        }));
        let writer = tokio::task::spawn_local(writer_task(state.clone(), report));
        Output { state, writer }
    }

    /// Writes `data` now as far as the socket takes it without blocking, if nothing is
    /// queued ahead; the rest goes to the writer task. Returns whether any byte was
    /// written here, i.e. whether [`Output::written`] moved.
    pub(crate) fn send(&self, data: Bytes) -> bool {
        let mut s = self.state.borrow_mut();
        let mut pos = 0;
        if s.idle() {
            // The event loop never parks on a socket: whoever must wait is the writer task,
            // which polls again with its own waker.
            let mut cx = Context::from_waker(Waker::noop());
            while pos < data.len() {
                match Pin::new(&mut s.w).poll_write(&mut cx, &data[pos..]) {
                    Poll::Ready(Ok(n)) if n > 0 => pos += n,
                    Poll::Pending => break,
                    Poll::Ready(_) => {
                        // An error, or a socket that takes nothing (write_all's WriteZero).
                        s.dead = true;
                        s.queue.clear();
                        s.wake();
                        break;
                    }
                }
            }
            s.written += pos as u64;
        }
        if pos < data.len() {
            s.push(WriteCmd::Data(data.slice(pos..)));
        }
        pos > 0
    }

    /// Queues an RDB transfer for the writer task, behind everything sent so far;
    /// `notify` reports [`Report::BulkSent`] once it is written.
    pub(crate) fn send_bulk(&self, data: Bytes, notify: bool) {
        self.state.borrow_mut().push(WriteCmd::Bulk(data, notify));
    }

    /// Output bytes the socket took so far, RDB transfers excluded (R39).
    pub(crate) fn written(&self) -> u64 {
        self.state.borrow().written
    }
}

impl<W> Output<W> {
    /// Closes without writing what is still queued (redis frees the client with its
    /// output buffer); the socket goes with the writer task.
    pub(crate) fn discard(self) {
        self.writer.abort();
    }
}

impl<W> Drop for Output<W> {
    fn drop(&mut self) {
        let mut s = self.state.borrow_mut();
        s.closed = true;
        s.wake();
    }
}

/// Writes queued batches until the output is closed and drained, or a write fails; then
/// shuts the socket down.
async fn writer_task<W: AsyncWrite + Unpin>(state: Shared<W>, report: impl Fn(Report)) {
    while let Some(batch) = next_batch(&state).await {
        if write_batch(&state, batch, &report).await.is_err() {
            let mut s = state.borrow_mut();
            s.dead = true;
            s.queue.clear();
            break;
        }
    }
    let _ = poll_fn(|cx| Pin::new(&mut state.borrow_mut().w).poll_shutdown(cx)).await;
}

/// The next batch (what is queued, coalesced up to [`WRITE_BATCH_MAX`]), or None once the
/// output is dead, or closed with nothing left.
async fn next_batch<W>(state: &Shared<W>) -> Option<Vec<WriteCmd>> {
    poll_fn(|cx| {
        let mut s = state.borrow_mut();
        if s.dead {
            return Poll::Ready(None);
        }
        let Some(first) = s.queue.pop_front() else {
            if s.closed {
                return Poll::Ready(None);
            }
            s.waker = Some(cx.waker().clone());
            return Poll::Pending;
        };
        let mut queued = first.len();
        let mut batch = vec![first];
        while queued < WRITE_BATCH_MAX {
            let Some(c) = s.queue.pop_front() else { break };
            queued += c.len();
            batch.push(c);
        }
        s.busy = true;
        Poll::Ready(Some(batch))
    })
    .await
}

/// Writes one batch: consecutive data as one write, each RDB transfer on its own so
/// [`Report::BulkSent`] comes exactly when its bytes are out.
async fn write_batch<W: AsyncWrite + Unpin>(
    state: &Shared<W>,
    batch: Vec<WriteCmd>,
    report: &impl Fn(Report),
) -> io::Result<()> {
    let before = state.borrow().written;
    let mut buf = BytesMut::new();
    for c in batch {
        match c {
            WriteCmd::Data(b) => buf.extend_from_slice(&b),
            WriteCmd::Bulk(b, notify) => {
                write_all(state, &buf, true).await?;
                buf.clear();
                write_all(state, &b, false).await?;
                if notify {
                    report(Report::BulkSent);
                }
            }
        }
    }
    write_all(state, &buf, true).await?;
    let written = {
        let mut s = state.borrow_mut();
        s.busy = false;
        s.written
    };
    if written > before {
        report(Report::Flushed(written));
    }
    Ok(())
}

/// `write_all` on the shared socket, borrowing it only inside each poll; `count` adds what
/// the socket takes to [`State::written`] as it goes (output, not an RDB transfer: R39).
async fn write_all<W: AsyncWrite + Unpin>(state: &Shared<W>, buf: &[u8], count: bool) -> io::Result<()> {
    let mut pos = 0;
    while pos < buf.len() {
        let n = poll_fn(|cx| Pin::new(&mut state.borrow_mut().w).poll_write(cx, &buf[pos..])).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        pos += n;
        if count {
            state.borrow_mut().written += n as u64;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

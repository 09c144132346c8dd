//! Event-driven stepping (psync-sim patch, see `README.md` of this folder).
//!
//! In this mode every host's `LocalSet` is polled from one paused tokio
//! runtime, only hosts whose tasks were woken are polled, and the clock jumps
//! straight to the next timer or message delivery instead of ticking.
//!
//! tokio offers no way to read a runtime's next timer, so the jump is left to
//! tokio itself: [`Advance`] sleeps until the next message delivery and
//! returns as soon as any host is woken; while nothing is runnable the paused
//! runtime auto-advances its clock to the earliest timer (a host's or ours).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio::time::Sleep;

/// Shared by every host's waker: whether any host was woken, and the waker of
/// the future that is waiting for the next event.
#[derive(Default)]
pub(crate) struct Signal {
    any: AtomicBool,
    waiter: Mutex<Option<Waker>>,
}

impl Signal {
    /// Marks "any host woken"; wakes the waiting [`Advance`] on the first
    /// mark only (later ones until [`Signal::clear`] find it woken already).
    /// The waker is kept: it is the same runtime's every step.
    fn notify(&self) {
        // A load first: most wakes find the mark set, and a swap is a locked
        // instruction.
        if !self.any.load(Ordering::SeqCst) && !self.any.swap(true, Ordering::SeqCst) {
            if let Some(w) = &*self.waiter.lock().unwrap() {
                w.wake_by_ref();
            }
        }
    }

    /// Whether any host was woken since the last [`Signal::clear`].
    pub(crate) fn is_set(&self) -> bool {
        self.any.load(Ordering::SeqCst)
    }

    /// Clears the "any host woken" mark; hosts keep their own marks.
    pub(crate) fn clear(&self) {
        self.any.store(false, Ordering::SeqCst);
    }
}

/// The waker a host's `LocalSet` is polled with: marks the host as woken.
pub(crate) struct HostWake {
    woken: AtomicBool,
    signal: Arc<Signal>,
}

impl HostWake {
    /// A new host waker, already marked: a `LocalSet` registers its waker
    /// only when polled, so a fresh one must be polled once.
    pub(crate) fn new(signal: Arc<Signal>) -> Arc<HostWake> {
        let w = Arc::new(HostWake {
            woken: AtomicBool::new(false),
            signal,
        });
        w.wake_by_ref();
        w
    }

    /// Whether the host was woken since the last call; clears the mark
    /// (checked for every host every round: a load first, as most are not).
    pub(crate) fn take(&self) -> bool {
        self.woken.load(Ordering::SeqCst) && self.woken.swap(false, Ordering::SeqCst)
    }
}

impl Wake for HostWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.signal.notify();
    }
}

/// Resolves when a host is woken or the deadline passes, whichever is first.
/// Run under `block_on` of the paused runtime, it lets tokio move the clock
/// to the earliest pending timer.
pub(crate) struct Advance<'a> {
    pub(crate) signal: &'a Signal,
    pub(crate) deadline: Pin<&'a mut Sleep>,
}

impl Future for Advance<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.any.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        {
            let mut waiter = self.signal.waiter.lock().unwrap();
            if !waiter.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waiter = Some(cx.waker().clone());
            }
        }
        if self.signal.any.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        self.deadline.as_mut().poll(cx)
    }
}

thread_local! {
    /// Set while an event-driven step polls a host's `LocalSet`.
    static POLLING_HOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as polling a host in event-driven mode while `f` runs.
pub(crate) fn polling_host<R>(f: impl FnOnce() -> R) -> R {
    POLLING_HOST.with(|p| p.set(true));
    let out = f();
    POLLING_HOST.with(|p| p.set(false));
    out
}

/// Spawns turmoil's loopback delivery: on the host's own `LocalSet` in
/// event-driven mode (a task on the shared runtime would run outside any
/// host), on the host's runtime otherwise (stock behaviour).
pub(crate) fn spawn_loopback<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if POLLING_HOST.with(|p| p.get()) {
        tokio::task::spawn_local(fut);
    } else {
        tokio::spawn(fut);
    }
}

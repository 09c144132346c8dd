//! The node runtime: one event loop that drives a [`Node`] over a [`Transport`], the small
//! seam that is turmoil's simulated TCP in `psync-sim` and tokio's real TCP in `psync-node`.
//!
//! Owns: sockets, reader/writer tasks, timers (cron, WAIT, snapshot duration) and turning
//! [`Io`] verbs into socket operations; output goes straight to the socket while it takes
//! it, through a writer task only when it would block (`out`). Must never: hold
//! replication logic, use a multi-threaded runtime, or poll in an order that depends on
//! anything but the events (one channel, one consumer, `biased` selects), so a simulation
//! replays identically.

mod out;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use proto::{ConnId, Millis};
use rand_core::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::node::{Io, Node};
use out::{Output, Report};

/// What differs between the simulator and the real world.
pub trait Transport: 'static {
    type Read: AsyncRead + Unpin + 'static;
    type Write: AsyncWrite + Unpin + 'static;
    type Listener: 'static;

    /// Binds the listening socket.
    fn bind(&self, port: u16) -> impl Future<Output = io::Result<Self::Listener>>;
    /// Accepts one connection: halves and the peer's ip.
    fn accept(listener: &Self::Listener) -> impl Future<Output = io::Result<(Self::Read, Self::Write, String)>>;
    /// Connects to a master.
    fn connect(&self, host: String, port: u16)
        -> impl Future<Output = io::Result<(Self::Read, Self::Write)>> + 'static;
    /// Unix time in ms (simulated time in the simulator).
    fn now(&self) -> Millis;
    /// Durably stores the node's RDB (write, fsync, rename — like `rdbSave`).
    fn persist(&self, payload: &[u8]) -> io::Result<()>;
    /// Reads the stored RDB, if any.
    fn load(&self) -> io::Result<Option<Vec<u8>>>;
}

/// A command injected from outside the network (the simulator's nemesis and oracles, or
/// a test): it runs on the node between two events.
pub type Control<R> = Box<dyn FnOnce(&mut Node<R>, Millis)>;

enum Ev<T: Transport, R> {
    Accepted(T::Read, T::Write, String),
    ClientData(ConnId, Bytes),
    ClientClosed(ConnId),
    MasterConnected(u64, T::Read, T::Write),
    Master(replica::Event),
    BulkSent(ConnId),
    /// Cumulative output bytes (RDB transfers excluded) the socket of a client took, once
    /// its writer task wrote some (what the event loop writes itself it reports at once).
    Flushed(ConnId, u64),
    SnapshotDone(u64),
    Tick,
    Wakeup,
    Control(Control<R>),
}

/// A socket: its reader task and its output (dropping it flushes the output, then shuts
/// the socket down).
struct Conn<W> {
    out: Output<W>,
    reader: JoinHandle<()>,
}

/// What one [`Runtime::carry_out`] pass over the node's verbs has gathered.
#[derive(Default)]
struct Pass {
    /// Sends not yet written, per client in first-send order, each client's in order.
    sends: Vec<(ConnId, Vec<Bytes>)>,
    /// Clients whose socket took bytes directly: the node hears of them after the pass.
    flushed: Vec<ConnId>,
    /// SHUTDOWN was among the verbs.
    stop: bool,
}

/// Runtime knobs.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub port: u16,
    /// How long a BGSAVE takes (simulated or real ms).
    pub snapshot_delay_ms: u64,
    /// Read buffer per socket read.
    pub read_chunk: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            port: 6379,
            snapshot_delay_ms: 0,
            read_chunk: 16 * 1024,
        }
    }
}

/// Handle to a running node: share it to inspect the node or inject controls.
pub struct Handle<R> {
    pub node: Rc<RefCell<Node<R>>>,
    control: UnboundedSender<Control<R>>,
}

impl<R> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Handle {
            node: self.node.clone(),
            control: self.control.clone(),
        }
    }
}

impl<R> Handle<R> {
    /// Queues a control to run on the node's event loop.
    pub fn control(&self, f: impl FnOnce(&mut Node<R>, Millis) + 'static) {
        let _ = self.control.send(Box::new(f));
    }
}

/// Runs a node until SHUTDOWN (returns Ok) or a fatal listener error.
pub struct Runtime<T: Transport, R> {
    transport: Rc<T>,
    cfg: RuntimeConfig,
    node: Rc<RefCell<Node<R>>>,
    tx: UnboundedSender<Ev<T, R>>,
    rx: UnboundedReceiver<Ev<T, R>>,
    control_rx: UnboundedReceiver<Control<R>>,
    conns: BTreeMap<ConnId, Conn<T::Write>>,
    master_link: Option<(u64, Conn<T::Write>)>,
    next_conn: u32,
    wakeup_at: Option<Millis>,
    last_tick: Option<Millis>,
    /// Until when (transport ms) a freeze stops the readers too: a stalled process does not
    /// drain its sockets, so its peers' writes back up (R39 sees a slow replica).
    frozen_until: Rc<std::cell::Cell<u64>>,
}

impl<T: Transport, R: RngCore + 'static> Runtime<T, R> {
    /// Wraps `node`; returns the runtime and a handle to it.
    pub fn new(transport: T, cfg: RuntimeConfig, node: Node<R>) -> (Self, Handle<R>) {
        let (tx, rx) = unbounded_channel();
        let (control_tx, control_rx) = unbounded_channel();
        let node = Rc::new(RefCell::new(node));
        let handle = Handle {
            node: node.clone(),
            control: control_tx,
        };
        let rt = Runtime {
            transport: Rc::new(transport),
            cfg,
            node,
            tx,
            rx,
            control_rx,
            conns: BTreeMap::new(),
            master_link: None,
            next_conn: 1,
            wakeup_at: None,
            last_tick: None,
            frozen_until: Rc::default(),
        };
        (rt, handle)
    }

    /// The event loop. Must run inside a `LocalSet` (turmoil hosts do).
    pub async fn run(self) -> io::Result<()> {
        self.run_with(|| {}).await
    }

    /// [`Runtime::run`], calling `on_listening` once the listening socket is bound (so a
    /// server announces itself only when it can be reached).
    pub async fn run_with(mut self, on_listening: impl FnOnce()) -> io::Result<()> {
        let listener = self.transport.bind(self.cfg.port).await?;
        on_listening();
        let tx = self.tx.clone();
        let acceptor = tokio::task::spawn_local(async move {
            while let Ok((r, w, ip)) = T::accept(&listener).await {
                if tx.send(Ev::Accepted(r, w, ip)).is_err() {
                    return;
                }
            }
        });
        let tx = self.tx.clone();
        let ticker = tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1000)).await;
                if tx.send(Ev::Tick).is_err() {
                    return;
                }
            }
        });
        // Anything the node produced before the loop started (e.g. REPLICAOF at startup).
        let stop = self.carry_out();
        let result = if stop { Ok(()) } else { self.event_loop().await };
        acceptor.abort();
        ticker.abort();
        for (_, c) in std::mem::take(&mut self.conns) {
            c.reader.abort();
        }
        if let Some((_, c)) = self.master_link.take() {
            c.reader.abort();
        }
        result
    }

    async fn event_loop(&mut self) -> io::Result<()> {
        loop {
            let ev = tokio::select! {
                biased;
                Some(c) = self.control_rx.recv() => Ev::Control(c),
                Some(ev) = self.rx.recv() => ev,
                else => return Ok(()),
            };
            self.dispatch(ev);
            if self.carry_out() {
                info!("shutdown");
                return Ok(());
            }
            self.schedule_wakeup();
            let freeze = self.node.borrow_mut().take_freeze();
            if let Some(ms) = freeze {
                // The event loop stalls and the readers stop: bytes stay in socket buffers.
                self.frozen_until.set(self.now().0 + ms);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
    }

    fn now(&self) -> Millis {
        self.transport.now()
    }

    fn dispatch(&mut self, ev: Ev<T, R>) {
        let now = self.now();
        let node = self.node.clone();
        let mut node = node.borrow_mut();
        match ev {
            Ev::Accepted(r, w, ip) => {
                let conn = ConnId(self.next_conn);
                self.next_conn += 1;
                node.on_client_open(conn, ip);
                let c = self.spawn_conn(
                    r,
                    w,
                    move |b| Ev::ClientData(conn, b),
                    move || Ev::ClientClosed(conn),
                    Some(conn),
                );
                self.conns.insert(conn, c);
            }
            Ev::ClientData(conn, bytes) => node.on_client_data(now, conn, &bytes),
            Ev::ClientClosed(conn) => {
                self.conns.remove(&conn);
                node.on_client_closed(now, conn);
            }
            Ev::MasterConnected(link, r, w) => {
                if node.replica.link() != link {
                    return; // stale connect: drop the socket
                }
                let c = self.spawn_conn(
                    r,
                    w,
                    move |bytes| Ev::Master(replica::Event::Data { link, bytes }),
                    move || Ev::Master(replica::Event::Closed { link }),
                    None,
                );
                if let Some((_, old)) = self.master_link.replace((link, c)) {
                    old.reader.abort();
                }
                node.on_master_event(now, replica::Event::Connected { link });
            }
            Ev::Master(e) => node.on_master_event(now, e),
            Ev::BulkSent(conn) => node.on_bulk_sent(now, conn),
            Ev::Flushed(conn, written) => node.on_flushed(now, conn, written),
            Ev::SnapshotDone(id) => node.on_snapshot_done(now, id, true),
            Ev::Tick => {
                // Ticks that queued up during a freeze collapse into one cron run.
                if self.last_tick.is_none_or(|t| now.0 >= t.0 + 500) {
                    self.last_tick = Some(now);
                    node.tick(now);
                }
            }
            Ev::Wakeup => {
                self.wakeup_at = None;
                node.wakeup(now);
            }
            Ev::Control(f) => f(&mut node, now),
        }
    }

    /// Starts the writer and reader tasks of a socket (the writer first: tasks are polled
    /// in the order they were spawned, which the simulation's traces depend on). A client's
    /// writer reports back as `conn`; the master link's reports nothing.
    fn spawn_conn(
        &self,
        r: T::Read,
        w: T::Write,
        on_data: impl Fn(Bytes) -> Ev<T, R> + 'static,
        on_close: impl Fn() -> Ev<T, R> + 'static,
        client: Option<ConnId>,
    ) -> Conn<T::Write> {
        let tx = self.tx.clone();
        let out = Output::spawn(w, move |report| {
            let Some(conn) = client else { return };
            let _ = tx.send(match report {
                Report::BulkSent => Ev::BulkSent(conn),
                Report::Flushed(written) => Ev::Flushed(conn, written),
            });
        });
        let reader = self.spawn_reader(r, on_data, on_close);
        Conn { out, reader }
    }

    /// The task that reads one socket into node events, stalled while the node is frozen.
    fn spawn_reader(
        &self,
        mut r: T::Read,
        on_data: impl Fn(Bytes) -> Ev<T, R> + 'static,
        on_close: impl Fn() -> Ev<T, R> + 'static,
    ) -> JoinHandle<()> {
        let tx = self.tx.clone();
        let chunk = self.cfg.read_chunk;
        let frozen = self.frozen_until.clone();
        let transport = self.transport.clone();
        tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; chunk];
            loop {
                let now = transport.now().0;
                if frozen.get() > now {
                    tokio::time::sleep(Duration::from_millis(frozen.get() - now)).await;
                    continue;
                }
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(on_close());
                        return;
                    }
                    Ok(n) => {
                        if tx.send(on_data(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                            return;
                        }
                    }
                }
            }
        })
    }

    /// Carries out the node's IO verbs, tells the node what its clients' sockets took
    /// directly (R39: at once, no event back), and repeats until the node has nothing more
    /// to do; true on SHUTDOWN.
    fn carry_out(&mut self) -> bool {
        loop {
            let ios = self.node.borrow_mut().drain_io();
            if ios.is_empty() {
                return false;
            }
            let mut pass = Pass::default();
            for io in ios {
                self.carry_out_one(io, &mut pass);
            }
            self.flush_sends(&mut pass);
            if pass.stop {
                return true;
            }
            let now = self.now();
            let mut node = self.node.borrow_mut();
            for conn in pass.flushed {
                if let Some(c) = self.conns.get(&conn) {
                    node.on_flushed(now, conn, c.out.written());
                }
            }
        }
    }

    /// Writes the sends a pass has gathered, one socket write per client, noting the
    /// clients whose socket took bytes.
    fn flush_sends(&mut self, pass: &mut Pass) {
        for (conn, parts) in pass.sends.drain(..) {
            let Some(c) = self.conns.get(&conn) else { continue };
            let data = match <[Bytes; 1]>::try_from(parts) {
                Ok([one]) => one,
                Err(parts) => Bytes::from(parts.concat()),
            };
            if c.out.send(data) && !pass.flushed.contains(&conn) {
                pass.flushed.push(conn);
            }
        }
    }

    fn carry_out_one(&mut self, io: Io, pass: &mut Pass) {
        if let Io::Send { conn, bytes } = io {
            // Replies and stream bytes gather per client and go out as one write.
            match pass.sends.iter_mut().find(|(c, _)| *c == conn) {
                Some((_, parts)) => parts.push(bytes),
                None => pass.sends.push((conn, vec![bytes])),
            }
            return;
        }
        if let Io::Close { conn, discard: true } = &io {
            // Not written yet, so dropped with the client like the rest of its output.
            pass.sends.retain(|(c, _)| c != conn);
        }
        // Every other verb sees the sends before it done.
        self.flush_sends(pass);
        match io {
            Io::Send { .. } => {} // gathered above
            Io::SendBulk { conn, bytes } => self.send_bulk(conn, bytes, true),
            Io::SendRdb { conn, bytes } => self.send_bulk(conn, bytes, false),
            Io::Close { conn, discard } => {
                if let Some(c) = self.conns.remove(&conn) {
                    c.reader.abort();
                    if discard {
                        // Unsent output is dropped with the socket (redis frees the client).
                        c.out.discard();
                    }
                    // Otherwise dropping the output lets the writer flush, then shut down.
                }
                let now = self.now();
                self.node.borrow_mut().on_client_closed(now, conn);
            }
            Io::Connect { link, host, port } => self.connect(link, host, port),
            Io::SendMaster { link, bytes } => {
                if let Some((l, c)) = &self.master_link {
                    if *l == link {
                        c.out.send(bytes);
                    }
                }
            }
            Io::CloseMaster { link } => {
                if self.master_link.as_ref().is_some_and(|(l, _)| *l == link) {
                    if let Some((_, c)) = self.master_link.take() {
                        c.reader.abort();
                    }
                }
            }
            Io::Snapshot { id } => {
                let tx = self.tx.clone();
                let delay = self.cfg.snapshot_delay_ms;
                tokio::task::spawn_local(async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let _ = tx.send(Ev::SnapshotDone(id));
                });
            }
            Io::Persist { payload } => {
                if let Err(e) = self.transport.persist(&payload) {
                    tracing::warn!(%e, "persisting the rdb failed");
                }
            }
            Io::Shutdown => pass.stop = true,
        }
    }

    fn send_bulk(&mut self, conn: ConnId, bytes: Bytes, notify: bool) {
        if let Some(c) = self.conns.get(&conn) {
            c.out.send_bulk(bytes, notify);
        }
    }

    fn connect(&mut self, link: u64, host: String, port: u16) {
        let tx = self.tx.clone();
        let fut = self.transport.connect(host, port);
        tokio::task::spawn_local(async move {
            let res = tokio::time::timeout(Duration::from_secs(5), fut).await;
            let ev = match res {
                Ok(Ok((r, w))) => Ev::MasterConnected(link, r, w),
                Ok(Err(e)) => {
                    debug!(link, %e, "connect failed");
                    Ev::Master(replica::Event::ConnectFailed { link })
                }
                Err(_) => Ev::Master(replica::Event::ConnectFailed { link }),
            };
            let _ = tx.send(ev);
        });
    }

    fn schedule_wakeup(&mut self) {
        let next = self.node.borrow().master.next_wakeup();
        let Some(at) = next else { return };
        if self.wakeup_at.is_some_and(|w| w <= at) {
            return;
        }
        self.wakeup_at = Some(at);
        let delay = at.0.saturating_sub(self.now().0);
        let tx = self.tx.clone();
        tokio::task::spawn_local(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let _ = tx.send(Ev::Wakeup);
        });
    }
}

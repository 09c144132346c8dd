//! The node runtime: one event loop that drives a [`Node`] over a [`Transport`], the small
//! seam that is turmoil's simulated TCP in `psync-sim` and tokio's real TCP in `psync-node`.
//!
//! Owns: sockets, reader/writer tasks, timers (cron, WAIT, snapshot duration) and turning
//! [`Io`] verbs into socket operations. Must never: hold replication logic, use a
//! multi-threaded runtime, or poll in an order that depends on anything but the events
//! (one channel, one consumer, `biased` selects), so a simulation replays identically.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use proto::{ConnId, Millis};
use rand_core::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::node::{Io, Node};

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
    /// Cumulative output bytes (RDB transfers excluded) the socket of a client took.
    Flushed(ConnId, u64),
    SnapshotDone(u64),
    Tick,
    Wakeup,
    Control(Control<R>),
}

enum WriteCmd {
    Data(Bytes),
    /// An RDB transfer; `notify` reports [`Ev::BulkSent`] once written (disk, R31).
    Bulk(Bytes, bool),
}

struct Conn {
    tx: UnboundedSender<WriteCmd>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

/// Most bytes one socket write coalesces.
const WRITE_BATCH_MAX: usize = 256 * 1024;

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
    conns: BTreeMap<ConnId, Conn>,
    master_link: Option<(u64, Conn)>,
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

    /// Starts reader and writer tasks for a socket (the writer first: tasks are polled in
    /// the order they were spawned, which the simulation's traces depend on).
    fn spawn_conn(
        &self,
        r: T::Read,
        w: T::Write,
        on_data: impl Fn(Bytes) -> Ev<T, R> + 'static,
        on_close: impl Fn() -> Ev<T, R> + 'static,
        bulk_conn: Option<ConnId>,
    ) -> Conn {
        let (wtx, writer) = self.spawn_writer(w, bulk_conn);
        let reader = self.spawn_reader(r, on_data, on_close);
        Conn {
            tx: wtx,
            reader,
            writer,
        }
    }

    /// The task that writes what the node queued for one socket, reporting what went out
    /// (R39's accounting) and when a bulk transfer is fully written.
    fn spawn_writer(&self, mut w: T::Write, bulk_conn: Option<ConnId>) -> (UnboundedSender<WriteCmd>, JoinHandle<()>) {
        let (wtx, mut wrx) = unbounded_channel::<WriteCmd>();
        let tx = self.tx.clone();
        let writer = tokio::task::spawn_local(async move {
            // Output bytes written so far (RDB transfers excluded): the master core compares
            // it with what it queued to see a replica that stops reading (R39).
            let mut written = 0u64;
            while let Some(first) = wrx.recv().await {
                // Coalesce what is already queued (pipelined replies): one write instead of
                // one per reply. A bulk transfer is still written on its own, so BulkSent
                // is reported exactly when its bytes are out.
                let mut batch = vec![first];
                let mut queued = 0usize;
                while queued < WRITE_BATCH_MAX {
                    match wrx.try_recv() {
                        Ok(c) => {
                            queued += match &c {
                                WriteCmd::Data(b) | WriteCmd::Bulk(b, _) => b.len(),
                            };
                            batch.push(c);
                        }
                        Err(_) => break,
                    }
                }
                let mut buf: Vec<u8> = Vec::new();
                let before = written;
                for c in batch {
                    match c {
                        WriteCmd::Data(b) => buf.extend_from_slice(&b),
                        WriteCmd::Bulk(b, notify) => {
                            if w.write_all(&buf).await.is_err() || w.write_all(&b).await.is_err() {
                                return;
                            }
                            written += buf.len() as u64;
                            buf.clear();
                            if let (Some(conn), true) = (bulk_conn, notify) {
                                let _ = tx.send(Ev::BulkSent(conn));
                            }
                        }
                    }
                }
                if !buf.is_empty() {
                    if w.write_all(&buf).await.is_err() {
                        break;
                    }
                    written += buf.len() as u64;
                }
                if let (Some(conn), true) = (bulk_conn, written > before) {
                    let _ = tx.send(Ev::Flushed(conn, written));
                }
            }
            let _ = w.shutdown().await;
        });
        (wtx, writer)
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

    /// Carries out the node's IO verbs; true on SHUTDOWN.
    fn carry_out(&mut self) -> bool {
        let ios = self.node.borrow_mut().drain_io();
        let mut stop = false;
        for io in ios {
            match io {
                Io::Send { conn, bytes } => self.write(conn, WriteCmd::Data(bytes)),
                Io::SendBulk { conn, bytes } => self.write(conn, WriteCmd::Bulk(bytes, true)),
                Io::SendRdb { conn, bytes } => self.write(conn, WriteCmd::Bulk(bytes, false)),
                Io::Close { conn, discard } => {
                    if let Some(c) = self.conns.remove(&conn) {
                        c.reader.abort();
                        if discard {
                            // Unsent output is dropped with the socket (redis frees the client).
                            c.writer.abort();
                        }
                        // Otherwise dropping the sender lets the writer flush, then shut down.
                    }
                    let now = self.now();
                    self.node.borrow_mut().on_client_closed(now, conn);
                }
                Io::Connect { link, host, port } => self.connect(link, host, port),
                Io::SendMaster { link, bytes } => {
                    if let Some((l, c)) = &self.master_link {
                        if *l == link {
                            let _ = c.tx.send(WriteCmd::Data(bytes));
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
                Io::Shutdown => stop = true,
            }
        }
        stop
    }

    fn write(&mut self, conn: ConnId, cmd: WriteCmd) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.send(cmd);
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

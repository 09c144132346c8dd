//! The world: turmoil hosts running the real node runtime over simulated TCP, a simulated
//! filesystem per host for RDB snapshots, and the slots through which the harness sees
//! and steers each node between simulation steps.
//!
//! Owns: topology, host lifecycle (start, crash, restart), the simulated clock mapping.
//! Must never: read the wall clock, use OS entropy, or let anything but the seed decide.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use bytes::Bytes;
use master::MasterConfig;
use node::runtime::{Handle, Runtime, RuntimeConfig, Transport};
use node::{Node, NodeConfig};
use proto::Millis;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use replica::ReplicaConfig;

use crate::net::{Net, ShapedWrite};
use turmoil::net::tcp::OwnedReadHalf;
use turmoil::net::{TcpListener, TcpStream};

/// Port every simulated node listens on.
pub const PORT: u16 = 6379;
/// Simulated unix time at the start of every run (2026-01-01T00:00:00Z); fixed so TTLs
/// and RDB ctime fields are identical across replays.
pub const EPOCH_MS: u64 = 1_767_225_600_000;
const RDB_DIR: &str = "/data";
const RDB_PATH: &str = "/data/dump.rdb";
const RDB_TMP: &str = "/data/temp.rdb";

/// The node RNG type: seeded per node and per boot (STYLE §5).
pub type NodeRng = ChaCha8Rng;

/// Simulated time now, as unix ms.
pub fn sim_now() -> Millis {
    let elapsed = turmoil::sim_elapsed().unwrap_or_default();
    Millis(EPOCH_MS + elapsed.as_millis() as u64)
}

/// turmoil's TCP (shaped by [`Net`]) and filesystem behind the node runtime's transport seam.
#[derive(Debug, Clone)]
pub struct TurmoilTransport {
    /// This host's name (the `from` of a corrupting link).
    pub me: String,
    /// The shared network shaping.
    pub net: Rc<Net>,
}

/// The listener and the host name and network its connections are shaped with.
pub struct ShapedListener {
    inner: TcpListener,
    me: String,
    net: Rc<Net>,
}

impl Transport for TurmoilTransport {
    type Read = OwnedReadHalf;
    type Write = ShapedWrite;
    type Listener = ShapedListener;

    async fn bind(&self, port: u16) -> io::Result<ShapedListener> {
        Ok(ShapedListener {
            inner: TcpListener::bind(("0.0.0.0", port)).await?,
            me: self.me.clone(),
            net: self.net.clone(),
        })
    }

    async fn accept(listener: &ShapedListener) -> io::Result<(OwnedReadHalf, ShapedWrite, String)> {
        let (s, peer) = listener.inner.accept().await?;
        let ip = turmoil::reverse_lookup(peer.ip()).unwrap_or_else(|| peer.ip().to_string());
        let (r, w) = s.into_split();
        let w = ShapedWrite::new(w, listener.me.clone(), ip.clone(), listener.net.clone());
        Ok((r, w, ip))
    }

    // Not `async fn`: the future must not borrow `self` (the runtime spawns it).
    #[allow(clippy::manual_async_fn)]
    fn connect(
        &self,
        host: String,
        port: u16,
    ) -> impl std::future::Future<Output = io::Result<(OwnedReadHalf, ShapedWrite)>> + 'static {
        let (me, net) = (self.me.clone(), self.net.clone());
        async move {
            let s = TcpStream::connect((host.as_str(), port)).await?;
            let (r, w) = s.into_split();
            Ok((r, ShapedWrite::new(w, me, host, net)))
        }
    }

    fn now(&self) -> Millis {
        sim_now()
    }

    /// Like `rdbSave`: write a temp file, fsync it, rename, fsync the directory. A crash
    /// before the syncs loses the new snapshot (turmoil's fs durability model).
    fn persist(&self, payload: &[u8]) -> io::Result<()> {
        use turmoil::fs::shim::std::fs;
        fs::create_dir_all(RDB_DIR)?;
        fs::write(RDB_TMP, payload)?;
        fs::File::open(RDB_TMP)?.sync_all()?;
        fs::rename(RDB_TMP, RDB_PATH)?;
        fs::sync_dir(RDB_DIR)?;
        fs::sync_dir("/")
    }

    fn load(&self) -> io::Result<Option<Vec<u8>>> {
        use turmoil::fs::shim::std::fs;
        if !fs::exists(RDB_PATH) {
            return Ok(None);
        }
        fs::read(RDB_PATH).map(Some)
    }
}

/// Per-node settings of a topology.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NodeSpec {
    /// Host name (`n0`…).
    pub name: String,
    /// Master-core config.
    pub master: MasterConfig,
    /// Replica-core config.
    pub replica: ReplicaConfig,
    /// `requirepass`, if set.
    pub requirepass: Option<Bytes>,
    /// Delay before a snapshot is ready (ms).
    pub snapshot_delay_ms: u64,
}

impl NodeSpec {
    /// Defaults tuned for simulation: short timeouts so faults resolve within seconds.
    pub fn new(name: &str) -> Self {
        NodeSpec {
            name: name.to_string(),
            master: MasterConfig {
                repl_backlog_size: 1024 * 1024,
                repl_diskless_sync: true,
                repl_diskless_sync_delay_s: 0,
                repl_ping_replica_period_s: 1,
                repl_timeout_s: 5,
                observe_stream: true,
                ..MasterConfig::default()
            },
            replica: ReplicaConfig {
                repl_timeout_s: 5,
                listening_port: PORT,
                ..ReplicaConfig::default()
            },
            requirepass: None,
            snapshot_delay_ms: 100,
        }
    }

    /// This node deciding by `rules` (the run's rule set, issue 15).
    pub fn with_rules(&self, rules: master::rules::Rules) -> NodeSpec {
        let mut n = self.clone();
        n.master.rules = rules;
        n
    }
}

/// What the harness knows about one node across boots.
pub struct NodeSlot {
    /// Its settings.
    pub spec: NodeSpec,
    /// The live runtime handle; `None` while crashed.
    pub handle: Option<Handle<NodeRng>>,
    /// `replicaof` as the node's config file would hold it (rewritten on REPLICAOF, as
    /// CONFIG REWRITE / Sentinel do), used at restart.
    pub replicaof: Option<String>,
    /// Boot counter: each boot gets a fresh RNG stream.
    pub boots: u64,
    /// Whether the node is (believed) up.
    pub up: bool,
}

/// Shared, single-threaded world state (turmoil runs every host on this thread).
pub type Slots = Rc<RefCell<Vec<NodeSlot>>>;

/// Derives a component seed from the run seed (STYLE §5: adding a draw in one component
/// does not shift the others).
pub fn derive_seed(seed: u64, what: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in what.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (h >> 29)
}

/// Registers node `idx` as a turmoil host. The closure runs at every (re)start: it loads
/// the snapshot from the host's simulated disk and comes back as the slot's config says.
pub fn add_node_host(sim: &mut turmoil::Sim<'_>, slots: &Slots, net: &Rc<Net>, idx: usize, seed: u64) {
    let name = slots.borrow()[idx].spec.name.clone();
    let slots = slots.clone();
    let net = net.clone();
    let me = name.clone();
    sim.host(name.as_str(), move || {
        let slots = slots.clone();
        let transport = TurmoilTransport {
            me: me.clone(),
            net: net.clone(),
        };
        async move {
            let (spec, replicaof, boot) = {
                let mut s = slots.borrow_mut();
                let slot = &mut s[idx];
                slot.boots += 1;
                slot.up = true;
                (slot.spec.clone(), slot.replicaof.clone(), slot.boots)
            };
            let now = transport.now();
            let cfg = NodeConfig {
                port: PORT,
                requirepass: spec.requirepass.clone(),
                master: spec.master.clone(),
                replica: spec.replica.clone(),
                ..NodeConfig::default()
            };
            let rng = NodeRng::seed_from_u64(derive_seed(seed, &format!("node-{idx}-boot-{boot}")));
            let mut node = Node::new(cfg, rng, now);
            let upstream = replicaof.map(|h| (h, PORT));
            let loaded = match transport.load()? {
                Some(bytes) => match proto::rdb::load(&bytes) {
                    Ok(rdb) => {
                        node.load_at_startup(now, &rdb, upstream.clone());
                        true
                    }
                    Err(e) => return Err(format!("corrupt snapshot on {}: {e}", spec.name).into()),
                },
                None => false,
            };
            if !loaded {
                if let Some((h, p)) = upstream {
                    node.boot_replicaof(now, h, p);
                }
            }
            let rcfg = RuntimeConfig {
                port: PORT,
                snapshot_delay_ms: spec.snapshot_delay_ms,
                ..RuntimeConfig::default()
            };
            let (rt, handle) = Runtime::new(transport, rcfg, node);
            slots.borrow_mut()[idx].handle = Some(handle);
            rt.run().await?;
            Ok(())
        }
    });
}

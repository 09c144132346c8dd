//! Named scenarios and the swarm run of a seed. Each is a [`RunSpec`] value: a fixed
//! topology, fixed nemesis steps (or the seed's swarm schedule) and the usual oracles.
//! [`SCENARIOS`] lists them all: name, constructor, one line on what happens. (Over ~500
//! lines on purpose: the table and the constructors it names are read together.)

use crate::nemesis::{swarm_schedule, Family, Fault, FaultKind, Swarm};
use crate::net::{Corruption, Cut, Fragmentation};
use crate::run::RunSpec;
use crate::world::derive_seed;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn at(at_ms: u64, kind: FaultKind) -> Fault {
    Fault { at_ms, kind }
}

/// A named scenario: what `psync-sim scenarios` lists and `--scenario` runs.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// What `--scenario` takes.
    pub name: &'static str,
    /// One line: what happens and what must hold.
    pub about: &'static str,
    /// The run of a seed; its `scenario` is `name`.
    pub build: fn(seed: u64) -> RunSpec,
}

impl Scenario {
    /// A scenario: its name, the constructor of a seed's run, one line on what happens.
    pub const fn new(name: &'static str, build: fn(u64) -> RunSpec, about: &'static str) -> Scenario {
        Scenario { name, about, build }
    }
}

/// Every named scenario, in listing order (one row each: name, constructor, what happens
/// and what must hold).
#[rustfmt::skip]
pub const SCENARIOS: &[Scenario] = &[
    Scenario::new("swarm", swarm,
        "seed-drawn topology, config and fault families; a 10 s fault phase, then liveness"),
    Scenario::new("full-sync-disk", full_sync_disk,
        "no faults: replicas full-sync from an on-disk RDB"),
    Scenario::new("full-sync-diskless", full_sync_diskless,
        "no faults: replicas full-sync over a diskless transfer"),
    Scenario::new("partial-after-partition", partial_after_partition,
        "a healed partition and a killed link: both replicas CONTINUE from the backlog"),
    Scenario::new("backlog-overrun", backlog_overrun,
        "a 16 KB backlog overrun during a partition under load: the PSYNC must be full"),
    Scenario::new("failover-clean", failover_clean,
        "a failover to a caught-up replica"),
    Scenario::new("failover-divergent", failover_divergent,
        "the old master takes writes while cut off and a replica is promoted"),
    Scenario::new("chained-failover", chained_failover,
        "a chained sub-replica; its parent's link is killed, then a failover"),
    Scenario::new("replica-restart-psync2", replica_restart_psync2,
        "a replica SAVEs, crashes and restarts: PSYNC from its snapshot (PSYNC2)"),
    Scenario::new("master-restart", master_restart,
        "the master SAVEs, crashes and restarts"),
    Scenario::new("master-restart-quiet", master_restart_quiet,
        "B4: writes with TTLs stop, the master restarts; expired keys' DELs go to the new backlog"),
    Scenario::new("backlog-ttl", backlog_ttl,
        "B6/R16: the backlog freed by repl-backlog-ttl changes the replid; no stale CONTINUE"),
    Scenario::new("repeated-failovers", repeated_failovers,
        "B5: failovers between quiet, caught-up nodes need no full sync"),
    Scenario::new("link-kills-under-load", link_kills_under_load,
        "B1: sixteen link kills on a chain under a heavy write load"),
    Scenario::new("unresponsive-master", unresponsive_master,
        "B8: a frozen master accepts the reconnect; the handshake times out and retries"),
    Scenario::new("trailing-pings", trailing_pings,
        "B2: PINGs pile up in a frozen replica that is promoted; no CONTINUE past replid2"),
    Scenario::new("chained-same-id-reconnect", chained_same_id_reconnect,
        "B3: a reconnect with an unchanged id keeps the sub-replica connected"),
    Scenario::new("corrupt-transfer", corrupt_transfer,
        "an RDB corrupted in flight fails its CRC, is never loaded; the replica syncs again"),
    Scenario::new("min-replicas", min_replicas,
        "min-replicas-to-write 1: writes refused while the only replica is cut off"),
    Scenario::new("b9-freeze-big-backlog", b9_freeze_big_backlog,
        "B9 (d): link kills and 3 s freezes under load, 100 MB backlog: every PSYNC partial"),
    Scenario::new("b9-freeze-backlog-ttl", b9_freeze_backlog_ttl,
        "B9 (e): as b9-freeze-big-backlog with repl-backlog-ttl 1: the PSYNC must be full"),
    Scenario::new("slow-replica", slow_replica,
        "R39: a frozen replica over its soft output-buffer limit is dropped, then continues"),
    Scenario::new("b7-huge-value", b7_huge_value,
        "B7: one 10 MB value over the replicas' hard limit; they full-sync, no overflow loop"),
    Scenario::new("corrupt-link-stream", corrupt_link_stream,
        "a bit flipped in the master's stream to a replica"),
    Scenario::new("corrupt-link-skip", corrupt_link_skip,
        "bytes dropped from the master's stream to a replica"),
    Scenario::new("corrupt-link-transfer", corrupt_link_transfer,
        "a bit flipped inside a restarted replica's full-sync RDB: never loaded"),
    Scenario::new("auth-wrong-then-fixed", auth_wrong_then_fixed,
        "requirepass with a wrong and a missing masterauth, fixed at 3 s: both then sync"),
    Scenario::new("caught-up-reconnect", caught_up_reconnect,
        "R23/I4: a caught-up replica asks for the next byte and gets CONTINUE"),
    Scenario::new("swarm-fragmented", swarm_fragmented,
        "the swarm run with fragmented links and the cut family forced on"),
    Scenario::new("fragmented-links", fragmented_links,
        "every link fragmented through full syncs, a CONTINUE, a failover and restarts"),
    Scenario::new("cut-link-transfer", cut_link_transfer,
        "a restarted replica's link cut at a seed-chosen byte of its handshake or full sync"),
    Scenario::new("cut-link-stream", cut_link_stream,
        "an established link cut four times at seed-chosen bytes of the stream"),
];

/// Names accepted by [`by_name`].
pub const NAMES: &[&str] = &names();

const fn names() -> [&'static str; SCENARIOS.len()] {
    let mut out = [""; SCENARIOS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = SCENARIOS[i].name;
        i += 1;
    }
    out
}

/// Scenarios a user's program registered ([`register`]), after the built-in ones.
static REGISTERED: std::sync::RwLock<Vec<Scenario>> = std::sync::RwLock::new(Vec::new());

/// A scenario name already taken, by a built-in or an earlier registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTaken(pub &'static str);

impl std::fmt::Display for NameTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "scenario name {:?} is already taken", self.0)
    }
}

impl std::error::Error for NameTaken {}

/// Registers a custom scenario for this process: [`by_name`], failure files and the
/// `psync-sim` command line ([`crate::cli::main`], called from the user's own binary) then
/// find it by name like a built-in one, so `run`/`replay --scenario NAME` reproduce it.
/// The constructor must set the spec's `scenario` to the same name.
pub fn register(s: Scenario) -> Result<(), NameTaken> {
    let mut reg = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    if SCENARIOS.iter().chain(reg.iter()).any(|k| k.name == s.name) {
        return Err(NameTaken(s.name));
    }
    reg.push(s);
    Ok(())
}

/// Every scenario: the built-in ones in listing order, then the registered ones.
pub fn all() -> Vec<Scenario> {
    let reg = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    SCENARIOS.iter().chain(reg.iter()).copied().collect()
}

/// A named scenario's run of `seed` (or `None` for an unknown name); registered
/// scenarios included.
pub fn by_name(name: &str, seed: u64) -> Option<RunSpec> {
    all().into_iter().find(|s| s.name == name).map(|s| (s.build)(seed))
}

/// The swarm run of a seed: 1–3 replicas (sometimes chained), drawn fault families
/// and rates, a 10 s fault phase and a liveness phase.
pub fn swarm(seed: u64) -> RunSpec {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, "topology"));
    let replicas = rng.gen_range(1..=3);
    let mut spec = RunSpec::star(seed, "swarm", replicas);
    if replicas >= 2 && rng.gen_bool(0.3) {
        spec.topology[replicas] = Some(1); // a chained sub-replica
    }
    let auth = rng.gen_bool(0.3).then(|| bytes::Bytes::from_static(b"s3cret-pw"));
    let user = rng.gen_bool(0.5).then(|| bytes::Bytes::from_static(b"default"));
    let announce = rng.gen_bool(0.3);
    let ttl_s = if rng.gen_bool(0.2) { 2 } else { 3600 };
    let pipelined = rng.gen_bool(0.5);
    let s = Swarm::draw(seed);
    // Small replica output-buffer limits (R39) in a third of the runs and whenever huge
    // writes are on; the soft limit needs its seconds, so frozen replicas trip it too.
    let small_obuf = rng.gen_bool(0.3) || s.is_on(Family::BigWrites);
    let hard = [64 * 1024, 256 * 1024, 1024 * 1024][rng.gen_range(0..3)];
    let obuf = master::ObufLimit {
        hard_bytes: hard,
        soft_bytes: hard / 4,
        soft_seconds: rng.gen_range(1..4),
    };
    for n in &mut spec.nodes {
        if small_obuf {
            n.master.replica_obuf_limit = obuf;
        }
        n.master.repl_diskless_sync = rng.gen_bool(0.5);
        n.master.repl_diskless_sync_delay_s = rng.gen_range(0..2);
        n.master.repl_backlog_size = [16 * 1024, 64 * 1024, 1024 * 1024][rng.gen_range(0..3)];
        n.master.repl_backlog_ttl_s = ttl_s;
        n.snapshot_delay_ms = rng.gen_range(10..500);
        n.requirepass = auth.clone();
        n.replica.masterauth = auth.clone();
        n.replica.masteruser = auth.as_ref().and(user.clone());
        n.replica.announce_ip = announce.then(|| bytes::Bytes::from(n.name.clone()));
        n.replica.pipelined_handshake = pipelined;
    }
    spec.faults = swarm_schedule(seed, &s, replicas + 1, 500, spec.fault_ms);
    if s.is_on(Family::Fragments) {
        // Its own stream: the draws above keep their meaning whether or not it is on.
        let mut frng = ChaCha8Rng::seed_from_u64(derive_seed(seed, "fragment"));
        spec.fragment = Some(Fragmentation {
            conns_per_mille: [250, 500, 1000][frng.gen_range(0..3)],
        });
    }
    spec.swarm = Some(s);
    spec
}

/// The swarm run of a seed with fragmentation (half the node-to-node connections) and
/// the cut family forced on: the seed's other draws are unchanged (issue 13 c).
pub fn swarm_fragmented(seed: u64) -> RunSpec {
    let mut s = Swarm::draw(seed);
    s.set(Family::Fragments, true);
    s.set(Family::Cuts, true);
    let mut spec = swarm(seed);
    spec.scenario = "swarm-fragmented".into();
    spec.faults = swarm_schedule(seed, &s, spec.nodes.len(), 500, spec.fault_ms);
    spec.fragment = Some(Fragmentation { conns_per_mille: 500 });
    spec.swarm = Some(s);
    spec
}

/// The usual start of a named scenario: a master and two replicas, a 6 s fault phase.
fn base(seed: u64, name: &str) -> RunSpec {
    let mut s = RunSpec::star(seed, name, 2);
    s.fault_ms = 6_000;
    s
}

fn full_sync_disk(seed: u64) -> RunSpec {
    let mut s = base(seed, "full-sync-disk");
    s.nodes.iter_mut().for_each(|n| n.master.repl_diskless_sync = false);
    s
}

fn full_sync_diskless(seed: u64) -> RunSpec {
    let mut s = base(seed, "full-sync-diskless");
    s.nodes.iter_mut().for_each(|n| n.master.repl_diskless_sync = true);
    s
}

fn partial_after_partition(seed: u64) -> RunSpec {
    let mut s = base(seed, "partial-after-partition");
    s.faults = vec![
        at(2_000, FaultKind::Partition { a: 0, b: 1 }),
        at(3_000, FaultKind::Heal { a: 0, b: 1 }),
    ];
    s.faults.push(at(3_500, FaultKind::KillLink { node: 2 }));
    s
}

fn backlog_overrun(seed: u64) -> RunSpec {
    let mut s = base(seed, "backlog-overrun");
    for n in &mut s.nodes {
        n.master.repl_backlog_size = 16 * 1024;
    }
    s.workload.mean_gap_ms = 1;
    s.faults = vec![
        at(1_000, FaultKind::Partition { a: 0, b: 1 }),
        at(4_500, FaultKind::Heal { a: 0, b: 1 }),
    ];
    s
}

fn failover_clean(seed: u64) -> RunSpec {
    let mut s = base(seed, "failover-clean");
    // Caught up: no write in flight, and off the master's once-a-second PING (a PING sent
    // at the failover's instant would leave the promoted replica 14 bytes behind).
    s.faults = vec![
        at(3_200, FaultKind::PauseWrites { ms: 500 }),
        at(3_500, FaultKind::Failover { to: 1 }),
    ];
    s
}

/// n0 keeps taking writes while cut off from the replicas; n1 is promoted.
fn failover_divergent(seed: u64) -> RunSpec {
    let mut s = base(seed, "failover-divergent");
    s.faults = vec![
        at(2_000, FaultKind::Partition { a: 0, b: 1 }),
        at(2_000, FaultKind::Partition { a: 0, b: 2 }),
        at(2_500, FaultKind::Failover { to: 1 }),
        at(4_000, FaultKind::Heal { a: 0, b: 1 }),
        at(4_000, FaultKind::Heal { a: 0, b: 2 }),
    ];
    s
}

fn chained_failover(seed: u64) -> RunSpec {
    let mut s = RunSpec::star(seed, "chained-failover", 3);
    s.fault_ms = 6_000;
    s.topology[3] = Some(1);
    s.faults = vec![
        at(2_000, FaultKind::KillLink { node: 1 }),
        at(3_000, FaultKind::Failover { to: 2 }),
    ];
    s
}

fn replica_restart_psync2(seed: u64) -> RunSpec {
    let mut s = base(seed, "replica-restart-psync2");
    s.faults = vec![
        at(2_000, FaultKind::Save { node: 1 }),
        at(2_001, FaultKind::Crash { node: 1 }),
        at(2_500, FaultKind::Restart { node: 1 }),
    ];
    s
}

fn master_restart(seed: u64) -> RunSpec {
    let mut s = base(seed, "master-restart");
    // 100 ms of writes between the SAVE and the crash: the replicas are past the snapshot.
    s.faults = vec![
        at(2_000, FaultKind::Save { node: 0 }),
        at(2_100, FaultKind::Crash { node: 0 }),
        at(2_300, FaultKind::Restart { node: 0 }),
    ];
    s
}

/// B4 steps 2-4: writes, many with TTLs, stop at 1.5 s; keys that expire before
/// the restart are DELeted into the new backlog (R68), so replicas continue.
fn master_restart_quiet(seed: u64) -> RunSpec {
    let mut s = base(seed, "master-restart-quiet");
    s.workload.expire_prob = 1.0;
    s.workload.mean_gap_ms = 5;
    s.faults = vec![
        at(1_500, FaultKind::PauseWrites { ms: 2_500 }),
        at(2_900, FaultKind::Save { node: 0 }),
        at(2_901, FaultKind::Crash { node: 0 }),
        at(3_800, FaultKind::Restart { node: 0 }),
    ];
    s
}

fn backlog_ttl(seed: u64) -> RunSpec {
    let mut s = RunSpec::star(seed, "backlog-ttl", 1);
    s.fault_ms = 12_000;
    s.nodes[0].master.repl_backlog_ttl_s = 1;
    // No PINGs, and no writes from just before the cut until the backlog was freed:
    // n0 is then exactly at the promoted n1's second_replid_offset, so only the
    // replid change of R16 stops a stale CONTINUE of the writes that follow.
    s.nodes[0].master.repl_ping_replica_period_s = 1000;
    s.workload.expire_prob = 0.0;
    s.workload.wait_prob = 0.0;
    s.faults = vec![
        at(1_200, FaultKind::PauseWrites { ms: 8_300 }),
        at(1_500, FaultKind::Partition { a: 0, b: 1 }),
        at(1_600, FaultKind::Promote { node: 1 }),
        at(9_000, FaultKind::Heal { a: 0, b: 1 }),
        at(10_000, FaultKind::Repoint { node: 0, to: 1 }),
    ];
    s
}

/// B5: failovers between quiet, caught-up nodes (PINGs still flow every second;
/// failovers fall between them so no node is ahead of the promoted one).
fn repeated_failovers(seed: u64) -> RunSpec {
    let mut s = base(seed, "repeated-failovers");
    s.workload.writers = 0;
    s.faults = vec![
        at(1_500, FaultKind::Failover { to: 1 }),
        at(3_500, FaultKind::Failover { to: 2 }),
        at(5_500, FaultKind::Failover { to: 0 }),
    ];
    s
}

fn link_kills_under_load(seed: u64) -> RunSpec {
    let mut s = base(seed, "link-kills-under-load");
    s.topology[2] = Some(1);
    s.workload.mean_gap_ms = 2;
    s.faults = (0..16)
        .map(|i| {
            at(
                500 + i * 300,
                FaultKind::KillLink {
                    node: 1 + (i as usize % 2),
                },
            )
        })
        .collect();
    s
}

/// B8: the master accepts the reconnect but its event loop is stalled; the
/// replica must give up within the 5 s sync-io timeout and retry.
fn unresponsive_master(seed: u64) -> RunSpec {
    let mut s = RunSpec::star(seed, "unresponsive-master", 1);
    s.fault_ms = 12_000;
    s.faults = vec![
        at(2_000, FaultKind::Freeze { node: 0, ms: 8_000 }),
        at(2_000, FaultKind::KillLink { node: 1 }),
    ];
    s
}

/// B2 test 1: PINGs pile up unread in a frozen replica, which is then promoted;
/// the old master, now ahead by those PINGs, must not CONTINUE past replid2.
fn trailing_pings(seed: u64) -> RunSpec {
    let mut s = RunSpec::star(seed, "trailing-pings", 1);
    s.workload.writers = 0;
    s.faults = vec![
        at(1_000, FaultKind::Freeze { node: 1, ms: 3_000 }),
        at(1_500, FaultKind::Promote { node: 1 }),
        at(4_500, FaultKind::Repoint { node: 0, to: 1 }),
    ];
    s
}

/// B3: the intermediate replica's link to the top master is cut; it continues
/// with an unchanged id, so its sub-replica must stay connected throughout.
fn chained_same_id_reconnect(seed: u64) -> RunSpec {
    let mut s = base(seed, "chained-same-id-reconnect");
    s.topology[2] = Some(1);
    s.faults = vec![
        at(2_000, FaultKind::KillLink { node: 1 }),
        at(3_500, FaultKind::KillLink { node: 1 }),
    ];
    s
}

/// Issue 8: an RDB corrupted in flight is detected by its CRC, never loaded;
/// the replica keeps its dataset, reconnects and syncs again.
fn corrupt_transfer(seed: u64) -> RunSpec {
    let mut s = base(seed, "corrupt-transfer");
    s.faults = vec![
        at(1_500, FaultKind::CorruptTransfer { node: 0 }),
        at(1_600, FaultKind::Crash { node: 1 }),
        at(1_700, FaultKind::Restart { node: 1 }),
    ];
    s
}

/// min-replicas-to-write 1 / max-lag 2: while the only replica is cut off, the
/// master refuses writes (-NOREPLICAS) once its last ACK is older than 2 s.
fn min_replicas(seed: u64) -> RunSpec {
    let mut s = RunSpec::star(seed, "min-replicas", 1);
    s.nodes[0].master.min_replicas_to_write = 1;
    s.nodes[0].master.min_replicas_max_lag_s = 2;
    s.faults = vec![
        at(1_500, FaultKind::Partition { a: 0, b: 1 }),
        at(4_500, FaultKind::Heal { a: 0, b: 1 }),
    ];
    s
}

fn b9_freeze_big_backlog(seed: u64) -> RunSpec {
    b9_freeze(seed, "b9-freeze-big-backlog", false)
}

fn b9_freeze_backlog_ttl(seed: u64) -> RunSpec {
    b9_freeze(seed, "b9-freeze-backlog-ttl", true)
}

/// B9 (d)/(e), replication-psync.tcl: under load, every 2 s the replica's link is killed
/// and its event loop frozen 3 s. A 100 MB backlog keeps every PSYNC partial; with
/// repl-backlog-ttl 1 (`backlog_ttl`) the master has no replica for longer than the TTL,
/// frees the backlog and changes its id, so the PSYNC must be full.
fn b9_freeze(seed: u64, name: &str, backlog_ttl: bool) -> RunSpec {
    let mut s = RunSpec::star(seed, name, 1);
    s.fault_ms = 9_000;
    s.nodes[0].master.repl_backlog_size = 100 * 1024 * 1024;
    // A frozen replica stops ACKing; keep the master from timing it out first.
    s.nodes[0].master.repl_timeout_s = 60;
    if backlog_ttl {
        s.nodes[0].master.repl_backlog_ttl_s = 1;
    }
    s.faults = (0..3)
        .flat_map(|i| {
            let t = 1_000 + i * 2_500;
            [
                at(t, FaultKind::KillLink { node: 1 }),
                at(t + 1, FaultKind::Freeze { node: 1, ms: 3_000 }),
            ]
        })
        .collect();
    s
}

/// Issue 8 / R39: a replica that stops reading (frozen 10 s) under a steady
/// write load stays over its soft limit for more than 1 s and is dropped — by
/// the limit, not by repl-timeout (60 s here); the other replica and the clients
/// are served throughout; after the freeze the dropped replica continues from
/// the backlog. 256 KB backlog = 16 KB blocks, so R39 checks every 16 KB.
fn slow_replica(seed: u64) -> RunSpec {
    let mut s = base(seed, "slow-replica");
    s.workload.mean_gap_ms = 2;
    s.nodes[0].master.repl_timeout_s = 60;
    s.nodes[0].master.repl_backlog_size = 256 * 1024;
    s.nodes[0].master.replica_obuf_limit = master::ObufLimit {
        hard_bytes: 1024 * 1024,
        soft_bytes: 8 * 1024,
        soft_seconds: 1,
    };
    s.faults = vec![at(1_500, FaultKind::Freeze { node: 1, ms: 10_000 })];
    s.fault_ms = 12_000;
    s
}

/// B7 (#11666): backlog 1 MB, replica hard limit 256 KB, one 10 MB value. Both
/// replicas are dropped at once; their PSYNCs must not be continued into the
/// same overflow again and again — the backlog's blocks are bounded (R12), so
/// it no longer holds their offset and they full-sync.
fn b7_huge_value(seed: u64) -> RunSpec {
    let mut s = base(seed, "b7-huge-value");
    for n in &mut s.nodes {
        n.master.replica_obuf_limit = master::ObufLimit {
            hard_bytes: 256 * 1024,
            soft_bytes: 0,
            soft_seconds: 0,
        };
    }
    s.faults = vec![at(2_000, FaultKind::BigWrite { len: 10 * 1024 * 1024 })];
    s
}

fn corrupt_link_stream(seed: u64) -> RunSpec {
    let flip = Corruption::Flip {
        skip: seed.wrapping_mul(37) % 2_000,
        mask: 1 << (seed % 8),
    };
    corrupt_link(seed, "corrupt-link-stream", flip, false)
}

fn corrupt_link_skip(seed: u64) -> RunSpec {
    let gap = Corruption::Skip {
        skip: seed.wrapping_mul(37) % 2_000,
        len: 1 + seed % 5,
    };
    corrupt_link(seed, "corrupt-link-skip", gap, false)
}

fn corrupt_link_transfer(seed: u64) -> RunSpec {
    let flip = Corruption::Flip {
        // Past the handshake replies, `+FULLRESYNC <id> <off>` and the `$` line (~130
        // bytes; a flipped replid there is legal protocol, applied by redis too): inside
        // the RDB (≈700 bytes at 1.6 s of writes).
        skip: 200 + seed.wrapping_mul(13) % 300,
        mask: 1 << (seed % 8),
    };
    corrupt_link(seed, "corrupt-link-transfer", flip, true)
}

/// Issue 8: bytes corrupted in flight on the master → replica link, at a seed-chosen
/// position (TCP's checksum assumed broken). An RDB is protected by CRC-64 and must never
/// load; the stream has no checksum, so a flip inside a value is applied as redis would —
/// then the prefix oracle must flag it. `restart`: the replica restarts first, so the
/// corruption lands in its full sync.
fn corrupt_link(seed: u64, name: &str, corruption: Corruption, restart: bool) -> RunSpec {
    let mut s = RunSpec::star(seed, name, 1);
    s.fault_ms = 4_000;
    let t = if restart {
        // A restarted replica without a snapshot full-syncs at once.
        s.faults.push(at(1_500, FaultKind::Crash { node: 1 }));
        s.faults.push(at(1_600, FaultKind::Restart { node: 1 }));
        1_600
    } else {
        2_000
    };
    s.faults.push(at(
        t,
        FaultKind::CorruptLink {
            from: 0,
            to: 1,
            corruption,
        },
    ));
    s
}

/// Issue 8: requirepass on the master; n1 has a wrong masterauth and n2 none.
/// They get `-WRONGPASS` / `-NOAUTH`, no data, and retry every second (vectors
/// s1_authwrong, s1_noauth); with the right password both sync at once.
fn auth_wrong_then_fixed(seed: u64) -> RunSpec {
    let mut s = base(seed, "auth-wrong-then-fixed");
    let pass = bytes::Bytes::from_static(b"s3cret-pw");
    for n in &mut s.nodes {
        n.requirepass = Some(pass.clone());
    }
    s.nodes[1].replica.masterauth = Some(bytes::Bytes::from_static(b"wrong-pw"));
    s.nodes[2].replica.masterauth = None;
    s.faults = (1..=2)
        .map(|node| {
            at(
                3_000,
                FaultKind::Masterauth {
                    node,
                    pass: Some("s3cret-pw".into()),
                },
            )
        })
        .collect();
    s
}

/// R23's upper bound: with writes paused, a replica whose link is killed asks
/// for exactly the next byte (offset = end + 1) and must get +CONTINUE with an
/// empty backlog range (I4), never a full sync.
fn caught_up_reconnect(seed: u64) -> RunSpec {
    let mut s = base(seed, "caught-up-reconnect");
    s.faults = vec![
        at(2_000, FaultKind::PauseWrites { ms: 2_000 }),
        at(2_500, FaultKind::KillLink { node: 1 }),
        at(3_000, FaultKind::KillLink { node: 2 }),
    ];
    s
}

/// Issue 13 c: every node-to-node connection delivers at seed-drawn boundaries
/// (single bytes, splits inside headers, bulks and marks) through full syncs
/// (diskless `$EOF:` or disk `$<len>` by seed), a CONTINUE, a failover and the
/// old master's restart as a replica.
fn fragmented_links(seed: u64) -> RunSpec {
    let mut s = base(seed, "fragmented-links");
    s.fragment = Some(Fragmentation { conns_per_mille: 1000 });
    s.nodes
        .iter_mut()
        .for_each(|n| n.master.repl_diskless_sync = seed.is_multiple_of(2));
    s.faults = vec![
        at(1_500, FaultKind::Crash { node: 1 }),
        at(1_600, FaultKind::Restart { node: 1 }),
        at(2_500, FaultKind::KillLink { node: 2 }),
        at(3_500, FaultKind::Failover { to: 2 }),
        // A last full sync that no later fault interrupts: a transfer that never
        // ends (a closing mark split between reads and missed) fails liveness.
        at(4_500, FaultKind::Crash { node: 0 }),
        at(4_600, FaultKind::Restart { node: 0 }),
    ];
    s
}

/// Issue 13 c: a restarted replica (no snapshot) full-syncs at once and its link
/// breaks at an exact byte chosen by the seed: in the handshake replies, the
/// `+FULLRESYNC` line or the opening `$EOF:` mark, inside the RDB, inside the
/// closing mark (diskless: the last 40 bytes), or in its own handshake. The
/// replica must keep its dataset and offsets, reconnect and converge.
fn cut_link_transfer(seed: u64) -> RunSpec {
    let mut s = RunSpec::star(seed, "cut-link-transfer", 1);
    s.fault_ms = 4_000;
    s.nodes
        .iter_mut()
        .for_each(|n| n.master.repl_diskless_sync = !seed.is_multiple_of(3));
    if seed % 2 == 1 {
        s.fragment = Some(Fragmentation { conns_per_mille: 1000 });
    }
    let (down, cut) = match seed % 5 {
        0 => (true, Cut::After { after: seed % 160 }),
        1 | 2 => (
            true,
            Cut::After {
                after: 130 + seed.wrapping_mul(37) % 700,
            },
        ),
        3 => (
            true,
            Cut::BeforeEnd {
                min_len: 256,
                before_end: seed % 44,
            },
        ),
        _ => (false, Cut::After { after: seed % 120 }),
    };
    s.faults = vec![
        at(1_500, FaultKind::Crash { node: 1 }),
        at(1_600, FaultKind::Restart { node: 1 }),
        at(1_600, FaultKind::CutLink { node: 1, down, cut }),
    ];
    s
}

/// Issue 13 c: an established link breaks at seed-chosen bytes of the command
/// stream (inside RESP headers, bulks and the MULTI…EXEC blocks lazy expiry
/// wraps around writes); each time the replica CONTINUEs from what it applied.
fn cut_link_stream(seed: u64) -> RunSpec {
    let mut s = RunSpec::star(seed, "cut-link-stream", 1);
    s.fault_ms = 5_000;
    s.workload.expire_prob = 0.5;
    s.fragment = (seed % 2 == 1).then_some(Fragmentation { conns_per_mille: 1000 });
    s.faults = (0..4u64)
        .map(|k| {
            let cut = Cut::After {
                after: seed.wrapping_mul(37).wrapping_add(k * 101) % 1_500,
            };
            at(
                1_500 + k * 800,
                FaultKind::CutLink {
                    node: 1,
                    down: true,
                    cut,
                },
            )
        })
        .collect();
    s
}

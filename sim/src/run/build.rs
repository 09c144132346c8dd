//! Building a run's world: turmoil configured from the spec, one host per node, one for
//! all the clients, and the harness that watches them.
//!
//! Must never: change the order hosts are added or the trace's first lines (both are part
//! of every run's trace hash).

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use super::{Coverage, Harness, Phase, Probe, RunSpec, Stepping};
use crate::net::Net;
use crate::oracle::Oracle;
use crate::trace::{Kind, Trace};
use crate::workload::{reader, writer, Shared};
use crate::world::{add_node_host, derive_seed, NodeSlot, Slots};

/// The world of a run: turmoil with one host per node and one for the clients, and the
/// harness that watches it, its trace opened with the run's identity lines.
pub(super) fn build(
    spec: &RunSpec,
    counters: bool,
    probe: Option<Rc<std::cell::RefCell<dyn Probe>>>,
) -> (turmoil::Sim<'static>, Harness) {
    let mut sim = turmoil_sim(spec);
    if let Some(probe) = probe {
        sim.set_host_probe(move |on| probe.borrow_mut().phase(if on { Phase::Hosts } else { Phase::Turmoil }));
    }
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let slots: Slots = Rc::new(std::cell::RefCell::new(
        spec.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeSlot {
                spec: n.with_rules(spec.rules.0),
                handle: None,
                replicaof: spec.topology[i].map(|p| names[p].clone()),
                boots: 0,
                up: false,
            })
            .collect(),
    ));
    let net = Rc::new(Net::with_rate(spec.bytes_per_ms).fragmenting(spec.fragment, spec.seed, names.clone()));
    for i in 0..spec.nodes.len() {
        add_node_host(&mut sim, &slots, &net, i, spec.seed);
    }
    let shared = Rc::new(Shared::default());
    *shared.names.borrow_mut() = names.clone();
    *shared.auth.borrow_mut() = spec.nodes.first().and_then(|n| n.requirepass.clone());
    shared
        .current_master
        .set(spec.topology.iter().position(Option::is_none).unwrap_or(0));
    spawn_clients(&mut sim, &shared, spec);
    let mut h = Harness {
        slots,
        shared,
        oracle: Oracle::with_rules(spec.rules.0),
        trace: if counters {
            Trace::with_counters()
        } else {
            Trace::default()
        },
        coverage: Coverage::default(),
        digested: BTreeMap::new(),
        partitioned: BTreeSet::new(),
        held: BTreeSet::new(),
        names,
        net: net.clone(),
        stale: None,
        last_seen: Vec::new(),
        changed: true,
    };
    if !spec.rules.is_default() {
        // Part of the run's identity (issue 15); omitted for redis 7.0 so default runs keep
        // their trace hashes.
        h.trace.push(0, None, Kind::Event, format!("rules {}", spec.rules));
    }
    if spec.stepping() == Stepping::Event {
        // Stock tick-1 traces keep the hashes they always had; event-mode ones say so.
        h.trace.push(0, None, Kind::Event, "stepping event".into());
    }
    let repl_timeout_ms = spec.nodes.iter().map(|n| n.replica.repl_timeout_s).max().unwrap_or(60) * 1000;
    // R58 fails a transfer after repl-timeout without a byte; the cron checks once a
    // second; the rest is slack for moving the bytes themselves.
    h.oracle.transfers.bound_ms = repl_timeout_ms + 3000;
    if spec.workload.readers == 0 {
        h.oracle.clients.expect_no_reads();
    }
    (sim, h)
}

/// turmoil with the spec's duration, latency, seed and stepping.
fn turmoil_sim(spec: &RunSpec) -> turmoil::Sim<'static> {
    let total_ms = spec.fault_ms + spec.liveness_ms;
    let mut builder = turmoil::Builder::new();
    builder
        .simulation_duration(Duration::from_millis(total_ms + 60_000))
        .min_message_latency(Duration::from_millis(spec.latency_ms.0))
        .max_message_latency(Duration::from_millis(spec.latency_ms.1))
        .rng_seed(derive_seed(spec.seed, "turmoil"));
    match spec.stepping() {
        Stepping::Tick { ms } => builder.tick_duration(Duration::from_millis(ms)),
        Stepping::Event => builder.event_driven(),
    };
    builder.build()
}

/// All workload clients share one turmoil host: turmoil's cost is per host per tick, and
/// the clients need no addresses of their own.
fn spawn_clients(sim: &mut turmoil::Sim<'static>, shared: &Rc<Shared>, spec: &RunSpec) {
    let (writers, readers) = (spec.workload.writers, spec.workload.readers);
    if writers + readers > 0 {
        let (sh, wl, seed) = (shared.clone(), spec.workload.clone(), spec.seed);
        sim.client("clients", async move {
            let mut tasks = Vec::new();
            for w in 0..writers {
                tasks.push(tokio::task::spawn_local(writer(sh.clone(), wl.clone(), seed, w)));
            }
            for r in 0..readers {
                tasks.push(tokio::task::spawn_local(reader(sh.clone(), wl.clone(), seed, r)));
            }
            for t in tasks {
                t.await.map_err(|e| e.to_string())??;
            }
            Ok(())
        });
    }
}

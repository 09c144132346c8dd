//! Named simulation scenarios: a fixed seed, explicit nemesis steps, every oracle on, and
//! the outcome the spec predicts (counters, PSYNC decisions, states reached).

use sim::run::{run, RunReport};
use sim::scenarios::by_name;

fn run_named(name: &str, seed: u64) -> RunReport {
    let spec = by_name(name, seed).unwrap_or_else(|| panic!("unknown scenario {name}"));
    let r = run(&spec);
    assert!(
        r.violations.is_empty(),
        "{name} seed {seed}: violations {:#?}\nreproduce: psync-sim replay --seed 0x{seed:x} --scenario {name}",
        r.violations
    );
    assert!(r.converged_at_ms.is_some(), "{name}: I2 convergence");
    assert!(
        r.checks.prefix > 0 && r.checks.psync > 0,
        "{name}: oracles checked nothing: {:?}",
        r.checks
    );
    r
}

/// R27/R31: disk full sync uses SEND_BULK (8) and `$<len>` framing for both replicas.
#[test]
fn full_sync_disk_sends_bulk() {
    let r = run_named("full-sync-disk", 1);
    assert_eq!(r.counters[0].sync_full, 2, "sync_full on the master");
    assert!(
        r.coverage.slave_states.contains(&8),
        "SEND_BULK reached: {:?}",
        r.coverage.slave_states
    );
    assert!(
        r.coverage.psync.contains("full:requested"),
        "R45: fresh replicas send PSYNC ? -1"
    );
}

/// R32/R34: diskless transfer never enters SEND_BULK; the stream waits for the first ACK.
#[test]
fn full_sync_diskless_skips_send_bulk() {
    let r = run_named("full-sync-diskless", 1);
    assert_eq!(r.counters[0].sync_full, 2);
    assert!(!r.coverage.slave_states.contains(&8), "{:?}", r.coverage.slave_states);
}

/// R23/R24/R59: after a short partition and a killed link, replicas continue partially.
#[test]
fn partial_resync_after_short_partition() {
    let r = run_named("partial-after-partition", 1);
    assert!(
        r.counters[0].sync_partial_ok >= 1,
        "sync_partial_ok on the master: {:?}",
        r.counters
    );
    assert!(r.coverage.psync.contains("continue"));
    assert!(r.checks.continue_bytes >= 1, "I4 checked");
}

/// R14/R23.3, B9(c): a partition longer than the 16 KiB backlog forces a full resync.
#[test]
fn backlog_overrun_forces_full_resync() {
    let r = run_named("backlog-overrun", 1);
    assert!(
        r.coverage.psync.contains("full:before-backlog"),
        "{:?}",
        r.coverage.psync
    );
    assert!(
        r.counters[0].sync_partial_err >= 1,
        "sync_partial_err counted (R25): {:?}",
        r.counters
    );
}

/// R62/I15, capture s3_clean: after promotion the old master and the sibling continue
/// via replid2 with no full sync on the new master.
#[test]
fn failover_clean_continues_via_replid2() {
    let r = run_named("failover-clean", 1);
    let (full, ok, _) = r.counters[1].tuple();
    assert_eq!(full, 0, "B5: a clean failover needs no full sync");
    assert_eq!(ok, 2, "old master and sibling PSYNC via replid2: {:?}", r.counters);
}

/// B10, capture s3_divergent: the old master took writes after the promotion, so its
/// PSYNC under the old id is past second_replid_offset and must full-sync.
#[test]
fn failover_divergent_old_master_full_syncs() {
    let r = run_named("failover-divergent", 1);
    assert!(
        r.coverage.psync.contains("full:replid2-offset-too-high"),
        "{:?}",
        r.coverage.psync
    );
    assert!(
        r.counters[1].sync_full >= 1,
        "the new master served a full sync: {:?}",
        r.counters
    );
}

/// R74/I14/B3: a chained sub-replica follows its intermediate through a link kill and a
/// failover; the sub-replica's snapshot names the right stream db (found by this test).
#[test]
fn chained_replica_survives_failover() {
    let r = run_named("chained-failover", 1);
    assert!(r.coverage.psync.contains("continue"), "{:?}", r.coverage.psync);
}

/// R67, psync2.tcl: a replica restarted from its own RDB partially resyncs.
#[test]
fn replica_restart_uses_psync2_aux_fields() {
    let r = run_named("replica-restart-psync2", 1);
    assert!(
        r.counters[0].sync_partial_ok >= 1,
        "sync_partial_ok after restart: {:?}",
        r.counters
    );
}

/// R68 under load: what the master streamed after its SAVE (writes and the PING of the
/// same second) dies with the crash, so the replicas are past the restarted master's
/// replid2 window and must full-sync (never CONTINUE past it). Counters are the second
/// boot's: two refused PSYNCs, two full syncs.
#[test]
fn master_restart_under_load_full_syncs_ahead_replicas() {
    let r = run_named("master-restart", 1);
    assert!(!r.coverage.psync.contains("continue"), "{:?}", r.coverage.psync);
    assert!(
        r.coverage.psync.contains("full:replid2-offset-too-high"),
        "{:?}",
        r.coverage.psync
    );
    assert_eq!(r.counters[0].tuple(), (2, 0, 2));
}

/// B4 (psync2-master-restart.tcl step 2–3): a quiet master restarted from its RDB keeps
/// serving its old history via replid2: replicas continue, no full sync.
#[test]
fn master_restart_quiet_continues_via_replid2() {
    let r = run_named("master-restart-quiet", 1);
    let (full, ok, _) = r.counters[0].tuple();
    assert_eq!(full, 0, "no full sync after restart: {:?}", r.counters);
    assert_eq!(ok, 2, "both replicas continue: {:?}", r.counters);
}

/// B6: a master whose backlog was freed by repl-backlog-ttl changed its replid, so a
/// replica PSYNCing with the old id gets a full resync (never a stale CONTINUE).
#[test]
fn backlog_ttl_changes_replid() {
    let r = run_named("backlog-ttl", 1);
    assert!(r.coverage.psync.contains("full:id-mismatch"), "{:?}", r.coverage.psync);
}

/// B5 (psync2.tcl): repeated failovers among healthy nodes never need a full sync beyond
/// the initial ones.
#[test]
fn repeated_failovers_need_no_extra_full_sync() {
    let r = run_named("repeated-failovers", 1);
    let total_full: u64 = r.counters.iter().map(|c| c.sync_full).sum();
    // Counters are per boot of the current nodes; the initial syncs were served by n0.
    assert_eq!(total_full, 2, "only the two initial full syncs: {:?}", r.counters);
}

/// B1 (psync2-reg.tcl): links killed mid-stream under INCR load; sub-replicas must end
/// byte-identical (checked by the prefix and convergence oracles).
#[test]
fn killed_links_under_load_keep_chain_identical() {
    run_named("link-kills-under-load", 1);
}

/// B8 (#10726): a master that accepts the connection but never answers keeps no replica
/// stuck: the replica gives up after the 5 s sync-io timeout (+ one cron tick) and retries.
#[test]
fn unresponsive_master_times_out_handshake() {
    let spec = by_name("unresponsive-master", 1).expect("scenario");
    let (r, trace) = sim::run_with_trace(&spec);
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    let kill = trace
        .lines
        .iter()
        .find(|l| l.text.contains("KillLink"))
        .expect("kill")
        .t_ms;
    let timeout = trace
        .lines
        .iter()
        .find(|l| l.text.contains("LinkError") && l.text.contains("handshake reply timed out"))
        .expect("R40/B8: a handshake timeout is reported");
    let waited = timeout.t_ms - kill;
    assert!((5_000..=6_100).contains(&waited), "gave up after {waited} ms");
}

/// B2 test 1 (psync2-pingoff.tcl): PINGs left unread in a frozen replica are discarded at
/// promotion; the old master is ahead by them and must full-sync, never CONTINUE.
#[test]
fn trailing_pings_after_promotion_force_full_sync() {
    let r = run_named("trailing-pings", 1);
    assert!(
        r.coverage.psync.contains("full:replid2-offset-too-high"),
        "{:?}",
        r.coverage.psync
    );
    assert!(!r.coverage.psync.contains("continue"), "{:?}", r.coverage.psync);
}

/// B3 (psync2-pingoff.tcl test 3), I14: an intermediate replica that continues with an
/// unchanged replid keeps its sub-replica connected: no link error on the sub-replica,
/// no second sync served by the intermediate, offsets identical at the end.
#[test]
fn chained_same_id_reconnect_keeps_sub_replica_connected() {
    let spec = by_name("chained-same-id-reconnect", 1).expect("scenario");
    let (r, trace) = sim::run_with_trace(&spec);
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    assert_eq!(
        r.counters[0].sync_partial_ok, 2,
        "the intermediate continued twice: {:?}",
        r.counters
    );
    assert_eq!(
        r.counters[1].tuple(),
        (1, 0, 0),
        "the sub-replica synced once and never again: {:?}",
        r.counters
    );
    let first_kill = trace
        .lines
        .iter()
        .find(|l| l.text.contains("KillLink"))
        .expect("kill")
        .t_ms;
    let sub_errors = trace
        .lines
        .iter()
        .filter(|l| l.t_ms >= first_kill && l.node == Some(2) && l.text.contains("LinkError"))
        .count();
    assert_eq!(sub_errors, 0, "the sub-replica was disconnected");
}

/// Issue 8 / R51: an RDB corrupted in flight fails its CRC-64, is never loaded (the prefix
/// oracle would see a wrong dataset), and the replica retries and syncs.
#[test]
fn corrupted_transfer_is_detected_and_retried() {
    let spec = by_name("corrupt-transfer", 1).expect("scenario");
    let (r, trace) = sim::run_with_trace(&spec);
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    let failed = trace
        .lines
        .iter()
        .find(|l| l.text.contains("TransferFailed") && l.text.contains("checksum mismatch"));
    let failed = failed.expect("the corrupted transfer was rejected by its checksum");
    let reloaded = trace
        .lines
        .iter()
        .any(|l| l.node == Some(1) && l.t_ms > failed.t_ms && l.text.contains("FullSync {"));
    assert!(reloaded, "the replica synced again after the rejected transfer");
}

/// min-replicas-to-write: writes are refused with -NOREPLICAS while the only replica's
/// ACKs are older than min-replicas-max-lag, and accepted again once it is back.
#[test]
fn min_replicas_to_write_refuses_writes_while_replica_lags() {
    let with_limit = run_named("min-replicas", 1);
    let mut spec = by_name("min-replicas", 1).expect("scenario");
    spec.nodes[0].master.min_replicas_to_write = 0;
    let without = run(&spec);
    assert!(
        with_limit.stats.errors > without.stats.errors + 10,
        "refused writes: {} with the limit vs {} without",
        with_limit.stats.errors,
        without.stats.errors
    );
    assert!(
        with_limit.stats.ok_writes > 50,
        "writes resumed: {:?}",
        with_limit.stats
    );
}

/// The Perfetto/Chrome trace: nodes as processes, ReplState spans on the simulated clock,
/// faults as instants; and the text timeline carries no wall-clock time.
#[test]
fn chrome_trace_has_state_spans_and_fault_instants() {
    let spec = by_name("partial-after-partition", 1).expect("scenario");
    let (r, trace) = sim::run_with_trace(&spec);
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let json = trace.chrome_json(&names, r.sim_ms);
    let events = json["traceEvents"].as_array().expect("traceEvents");
    let spans: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        spans.contains(&"CONNECTED") && spans.contains(&"TRANSFER"),
        "ReplState spans: {spans:?}"
    );
    assert!(spans.contains(&"ONLINE"), "SlaveState spans: {spans:?}");
    let faults = events.iter().filter(|e| e["ph"] == "i" && e["pid"] == 0).count();
    assert_eq!(faults, spec.faults.len() + 1, "one instant per fault plus the heal");
    assert!(
        events
            .iter()
            .all(|e| e["ts"].as_u64().is_none_or(|ts| ts <= r.sim_ms * 1000)),
        "simulated clock only"
    );
    assert!(!trace.render().is_empty());
}

/// B9 (d), replication-psync.tcl: link killed and replica frozen 3 s under load with a
/// 100 MB backlog: the replica comes back with a partial resync.
#[test]
fn b9_freeze_with_big_backlog_resyncs_partially() {
    let r = run_named("b9-freeze-big-backlog", 1);
    assert!(
        r.counters[0].sync_partial_ok > 0,
        "sync_partial_ok > 0: {:?}",
        r.counters
    );
    assert_eq!(r.counters[0].sync_partial_err, 0, "no failed PSYNC: {:?}", r.counters);
}

/// B9 (e): the same with repl-backlog-ttl 1: the master is replica-less for longer than the
/// TTL (R16, strict >), frees the backlog and changes its id, so the PSYNC fails.
#[test]
fn b9_freeze_past_backlog_ttl_forces_full_resync() {
    let r = run_named("b9-freeze-backlog-ttl", 1);
    assert!(
        r.counters[0].sync_partial_err > 0,
        "sync_partial_err > 0: {:?}",
        r.counters
    );
    assert!(r.coverage.psync.contains("full:id-mismatch"), "{:?}", r.coverage.psync);
}

/// Issue 8 / R39: a replica that stops reading is dropped by its soft output-buffer limit
/// (not by repl-timeout), exactly once; the other replica is untouched (no extra full
/// sync); after the freeze the dropped one continues from the backlog.
#[test]
fn slow_replica_is_dropped_by_its_soft_limit_and_continues() {
    let r = run_named("slow-replica", 1);
    assert_eq!(r.coverage.obuf_drops, (0, 1), "one soft-limit drop");
    assert_eq!(
        r.counters[0].sync_full, 2,
        "no full sync beyond the initial two: {:?}",
        r.counters
    );
    assert!(
        r.counters[0].sync_partial_ok >= 1,
        "the dropped replica continued: {:?}",
        r.counters
    );
    assert!(
        r.stats.ok_writes > 1_000,
        "the master kept serving writes: {}",
        r.stats.ok_writes
    );
}

/// B7 (#11666): one 10 MB value over a 256 KB hard limit drops both replicas; the backlog's
/// bounded blocks no longer hold their offset, so they full-sync instead of looping on
/// PSYNC continue + drop (the obuf-loop oracle would flag that).
#[test]
fn b7_huge_value_forces_full_sync_not_a_psync_loop() {
    let r = run_named("b7-huge-value", 1);
    assert_eq!(r.coverage.obuf_drops, (2, 0), "both replicas over the hard limit");
    assert!(
        r.coverage.psync.contains("full:before-backlog"),
        "{:?}",
        r.coverage.psync
    );
    assert!(!r.coverage.psync.contains("continue"), "{:?}", r.coverage.psync);
    assert_eq!(
        r.counters[0].sync_full, 4,
        "two initial + two post-drop full syncs: {:?}",
        r.counters
    );
}

/// Issue 8 (authentication): with requirepass on the master, a replica with a wrong
/// masterauth (`-WRONGPASS`) and one with none (`-NOAUTH`) receive no data and keep
/// retrying; once `CONFIG SET masterauth` is right (t = 3 s) both sync.
#[test]
fn wrong_or_missing_masterauth_gets_no_data_and_retries() {
    let spec = by_name("auth-wrong-then-fixed", 1).expect("scenario");
    let (r, trace) = sim::run::run_with_trace(&spec);
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    assert!(r.converged_at_ms.is_some());
    for (node, reply) in [(1, "WRONGPASS"), (2, "NOAUTH")] {
        let before = |l: &&sim::trace::Line| l.node == Some(node) && l.t_ms < 3_000;
        let refusals = trace
            .lines
            .iter()
            .filter(before)
            .filter(|l| l.text.starts_with("LinkError") && l.text.contains(reply))
            .count();
        assert!(refusals >= 2, "n{node}: retried after -{reply} only {refusals} times");
        assert!(
            !trace
                .lines
                .iter()
                .filter(before)
                .any(|l| l.text.starts_with("dataset replaced")),
            "n{node} received a dataset without authenticating"
        );
        assert!(
            trace
                .lines
                .iter()
                .any(|l| l.node == Some(node) && l.t_ms >= 3_000 && l.text.starts_with("dataset replaced")),
            "n{node} did not sync after the fix"
        );
    }
    assert_eq!(
        r.counters[0].sync_full, 2,
        "exactly one full sync each, after the fix: {:?}",
        r.counters
    );
}

/// R23 upper bound / I4: with writes paused, killed links reconnect asking for exactly the
/// next byte and continue with an empty backlog range; no full sync.
#[test]
fn caught_up_replicas_continue_with_nothing_to_send() {
    let r = run_named("caught-up-reconnect", 1);
    assert_eq!(
        r.counters[0].tuple(),
        (2, 2, 0),
        "two initial full syncs, two continues"
    );
}

/// The scenario table ties each name to its constructor: names are unique, each has a
/// description, `by_name` builds it, and the run it builds carries its name.
#[test]
fn every_scenario_name_builds_its_own_run() {
    use sim::scenarios::{NAMES, SCENARIOS};
    let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
    assert_eq!(names, NAMES);
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "duplicate scenario names in {names:?}");
    for s in SCENARIOS {
        assert!(
            !s.name.is_empty() && !s.name.contains(char::is_whitespace),
            "{:?}",
            s.name
        );
        assert!(!s.about.trim().is_empty(), "{}: no description", s.name);
        assert!(!s.about.contains('\n'), "{}: description is not one line", s.name);
        for seed in [1, 2, 0x2443] {
            assert_eq!((s.build)(seed).scenario, s.name, "{} seed {seed}", s.name);
            let spec = by_name(s.name, seed).expect("by_name knows every table name");
            assert_eq!(spec.scenario, s.name);
            assert_eq!(spec.seed, seed, "{}", s.name);
        }
    }
    assert!(by_name("no-such-scenario", 1).is_none());
}

//! The master core's contract with the node and the oracles, rule by rule: role changes
//! (R3, R47, R50, R62), min-replicas-to-write, WAIT deadlines, R7 (replicas originate no
//! stream bytes), INFO names and redis's defaults. Each test pins one behaviour the
//! simulator and psync-node rely on, so a change to it fails here first.
//!
//! (Over ~500 lines on purpose: one short test per contract rule over shared helpers; the
//! contract is read as one list.)

use bytes::Bytes;
use master::{
    Action, Event, Master, MasterConfig, Observation, ObufLimit, SlaveState, Upstream, SLAVE_CAPA_EOF,
    SLAVE_CAPA_PSYNC2,
};
use proto::{ConnId, Millis, ReplId};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

const R1: ConnId = ConnId(1);
const R2: ConnId = ConnId(2);
const CLIENT: ConnId = ConnId(9);

fn argv(parts: &[&str]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p.as_bytes())).collect()
}

fn master(cfg: MasterConfig) -> Master<ChaCha8Rng> {
    Master::new(cfg, ChaCha8Rng::seed_from_u64(7), Millis(0))
}

fn disk() -> MasterConfig {
    MasterConfig {
        repl_diskless_sync: false,
        ..MasterConfig::default()
    }
}

/// Runs the core to quiescence: snapshots ready at once, bulks written at once.
fn settle(m: &mut Master<ChaCha8Rng>, now: u64) -> Vec<Action> {
    let mut all = Vec::new();
    loop {
        let acts: Vec<Action> = m.drain_actions().collect();
        if acts.is_empty() {
            return all;
        }
        for a in &acts {
            match a {
                Action::StartSnapshot { id, .. } => m.handle(
                    Millis(now),
                    Event::SnapshotReady {
                        id: *id,
                        payload: Bytes::from_static(b"REDIS0010-fake"),
                    },
                ),
                Action::SendBulk { conn, .. } => m.handle(Millis(now), Event::BulkSent { conn: *conn }),
                _ => {}
            }
        }
        all.extend(acts);
    }
}

/// `REPLCONF <replconf…>` then `PSYNC ? -1`, leaving the actions undrained.
fn ask_full_sync(m: &mut Master<ChaCha8Rng>, conn: ConnId, now: u64, replconf: &[&str]) {
    let mut first = vec!["REPLCONF"];
    first.extend_from_slice(replconf);
    for cmd in [first, vec!["PSYNC", "?", "-1"]] {
        m.handle(Millis(now), Event::Command { conn, argv: argv(&cmd) });
    }
}

/// An EOF- and PSYNC2-capable replica, synced to completion.
fn attach(m: &mut Master<ChaCha8Rng>, conn: ConnId, now: u64) -> Vec<Action> {
    ask_full_sync(m, conn, now, &["capa", "eof", "capa", "psync2"]);
    settle(m, now)
}

fn ack(m: &mut Master<ChaCha8Rng>, conn: ConnId, now: u64) {
    let off = m.master_repl_offset().to_string();
    m.handle(
        Millis(now),
        Event::Command {
            conn,
            argv: argv(&["REPLCONF", "ACK", &off]),
        },
    );
    settle(m, now);
}

fn write(m: &mut Master<ChaCha8Rng>, db: usize, now: u64) -> Vec<Action> {
    m.handle(
        Millis(now),
        Event::Propagate {
            db,
            argv: argv(&["SET", "k", "v"]),
        },
    );
    settle(m, now)
}

fn sends(acts: &[Action], to: ConnId) -> Vec<u8> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Send { conn, bytes } if *conn == to => Some(bytes.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn replid_changes(acts: &[Action]) -> Vec<master::HistoryChange> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Observe(Observation::ReplidChanged { why, .. }) => Some(*why),
            _ => None,
        })
        .collect()
}

fn closed(acts: &[Action]) -> Vec<ConnId> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Close { conn, .. } => Some(*conn),
            _ => None,
        })
        .collect()
}

#[test]
fn redis_names_and_defaults() {
    assert_eq!(SLAVE_CAPA_EOF, 1);
    assert_eq!(SLAVE_CAPA_PSYNC2, 2);
    assert_eq!(SlaveState::WaitBgsaveStart.info_name(), "wait_bgsave");
    assert_eq!(SlaveState::WaitBgsaveEnd.info_name(), "wait_bgsave");
    assert_eq!(SlaveState::SendBulk.info_name(), "send_bulk");
    assert_eq!(SlaveState::Online.info_name(), "online");
    // redis.conf: client-output-buffer-limit replica 256mb 64mb 60.
    assert_eq!(
        ObufLimit::REPLICA_DEFAULT,
        ObufLimit {
            hard_bytes: 268_435_456,
            soft_bytes: 67_108_864,
            soft_seconds: 60
        }
    );
    assert_eq!(MasterConfig::default().replica_obuf_limit, ObufLimit::REPLICA_DEFAULT);
}

#[test]
fn replica_registry_and_stream_db() {
    let mut m = master(disk());
    assert!(!m.is_replica(R1));
    attach(&mut m, R1, 0);
    assert!(m.is_replica(R1) && !m.is_replica(CLIENT));
    // R28 reset SELECT, so the first write names its db, and later ones in it do not.
    assert_eq!(m.slaveseldb(), -1);
    let first = sends(&write(&mut m, 3, 1), R1);
    assert!(
        first.starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"),
        "{:?}",
        String::from_utf8_lossy(&first)
    );
    assert_eq!(m.slaveseldb(), 3);
    let second = sends(&write(&mut m, 3, 2), R1);
    assert!(second.starts_with(b"*3\r\n$3\r\nSET"));
}

#[test]
fn replicas_waiting_for_a_snapshot_start_are_not_fed() {
    // R13: WAIT_BGSAVE_START replicas get nothing; WAIT_BGSAVE_END ones accumulate.
    let mut m = master(MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 5,
        ..MasterConfig::default()
    });
    ask_full_sync(&mut m, R1, 0, &["capa", "eof", "capa", "psync2"]);
    let _: Vec<Action> = m.drain_actions().collect();
    assert_eq!(m.replicas().next().map(|v| v.state), Some(SlaveState::WaitBgsaveStart));
    write(&mut m, 0, 1);
    assert_eq!(
        m.obuf_used(R1),
        Some(0),
        "nothing held for a replica before its snapshot"
    );
}

#[test]
fn min_replicas_to_write_counts_online_replicas_within_the_lag() {
    let mut m = master(MasterConfig {
        min_replicas_to_write: 2,
        min_replicas_max_lag_s: 10,
        ..disk()
    });
    assert!(!m.writes_allowed(Millis(0)), "no replica yet");
    attach(&mut m, R1, 0);
    attach(&mut m, R2, 0);
    ack(&mut m, R1, 1_000);
    ack(&mut m, R2, 5_000);
    assert_eq!(m.good_replicas(Millis(11_000)), 2, "lag exactly 10 s is good");
    assert!(m.writes_allowed(Millis(11_000)));
    assert_eq!(m.good_replicas(Millis(11_001)), 1, "R1's last ACK is now too old");
    assert!(!m.writes_allowed(Millis(11_001)));
    m.config_mut().min_replicas_to_write = 1;
    assert!(m.writes_allowed(Millis(11_001)));
    m.config_mut().min_replicas_to_write = 0;
    assert!(m.writes_allowed(Millis(99_999)), "0 disables the check");
    m.config_mut().min_replicas_to_write = 5;
    m.set_upstream(Upstream::Connected);
    assert!(
        m.writes_allowed(Millis(0)),
        "a replica never refuses its master's stream"
    );
}

#[test]
fn wait_deadline_is_the_next_wakeup() {
    let mut m = master(disk());
    assert_eq!(m.next_wakeup(), None);
    attach(&mut m, R1, 0);
    let off = m.master_repl_offset() + 1;
    for (conn, timeout) in [(ConnId(20), 500), (ConnId(21), 300), (ConnId(22), 0)] {
        m.handle(
            Millis(1_000),
            Event::Wait {
                conn,
                numreplicas: 1,
                timeout_ms: timeout,
                offset: off,
            },
        );
    }
    assert_eq!(
        m.next_wakeup(),
        Some(Millis(1_300)),
        "the earliest finite deadline (0 = forever)"
    );
    m.handle(Millis(1_300), Event::Wakeup);
    let replies: Vec<ConnId> = m
        .drain_actions()
        .filter_map(|a| match a {
            Action::Observe(Observation::WaitReply { conn, acked, .. }) => Some(conn).filter(|_| acked == 0),
            _ => None,
        })
        .collect();
    assert_eq!(replies, vec![ConnId(21)]);
    assert_eq!(m.next_wakeup(), Some(Millis(1_500)));
}

#[test]
fn a_replica_core_originates_no_stream() {
    // R7: PINGs and writes are not generated while replicating from someone.
    let mut m = master(MasterConfig {
        repl_ping_replica_period_s: 1,
        ..disk()
    });
    attach(&mut m, R1, 0);
    m.set_upstream(Upstream::Connected);
    assert_eq!(m.upstream(), Upstream::Connected);
    let before = m.master_repl_offset();
    m.handle(Millis(1_000), Event::Tick);
    write(&mut m, 0, 1_000);
    assert_eq!(m.master_repl_offset(), before);
    m.set_upstream(Upstream::None);
    m.handle(Millis(2_000), Event::Tick);
    assert!(
        m.master_repl_offset() > before,
        "a top-level master PINGs its replicas (R37)"
    );
}

#[test]
fn promotion_shifts_the_id_and_drops_sub_replicas() {
    let mut m = master(disk());
    attach(&mut m, R1, 0);
    write(&mut m, 0, 1);
    let (old, off) = (m.replid(), m.master_repl_offset());
    m.promote(Millis(2));
    let acts: Vec<Action> = m.drain_actions().collect();
    assert_eq!(replid_changes(&acts), vec![master::HistoryChange::Promotion]);
    assert_ne!(m.replid(), old);
    assert_eq!((m.replid2(), m.second_replid_offset()), (old, off as i64 + 1), "R3");
    assert_eq!(closed(&acts), vec![R1], "R62");
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Observe(Observation::ReplicasDisconnected { count: 1, .. }))));
}

#[test]
fn adopting_an_id_from_continue_keeps_the_old_history_as_replid2() {
    let mut m = master(disk());
    attach(&mut m, R1, 0);
    write(&mut m, 0, 1);
    let (old, off) = (m.replid(), m.master_repl_offset());
    let new = ReplId(*b"0123456789abcdef0123456789abcdef01234567");
    m.adopt_replid(new);
    let acts: Vec<Action> = m.drain_actions().collect();
    assert_eq!(replid_changes(&acts), vec![master::HistoryChange::ContinueNewId]);
    assert_eq!(m.replid(), new);
    assert_eq!((m.replid2(), m.second_replid_offset()), (old, off as i64 + 1), "R47");
    assert_eq!(closed(&acts), vec![R1], "I14: sub-replicas must learn the new id");
    assert_eq!(m.master_repl_offset(), off, "adopting an id moves no offset");
}

#[test]
fn a_loaded_full_sync_resets_history_and_backlog() {
    let mut m = master(disk());
    attach(&mut m, R1, 0);
    write(&mut m, 0, 1);
    let id = ReplId(*b"fedcba9876543210fedcba9876543210fedcba98");
    m.reset_to_full_sync(id, 5_000);
    let acts: Vec<Action> = m.drain_actions().collect();
    assert_eq!(replid_changes(&acts), vec![master::HistoryChange::FullSyncLoaded]);
    assert_eq!(closed(&acts), vec![R1], "R50");
    assert_eq!((m.replid(), m.master_repl_offset()), (id, 5_000));
    assert_eq!((m.replid2(), m.second_replid_offset()), (ReplId::ZERO, -1));
    let b = m.backlog().expect("R52: a replica always has a backlog");
    assert_eq!((b.first_byte_offset(), b.histlen()), (5_001, 0));
}

#[test]
fn replconf_accepts_rdb_only_and_rejects_unknown_options() {
    let mut m = master(disk());
    for (args, want) in [
        (&["REPLCONF", "rdb-only", "1"][..], &b"+OK\r\n"[..]),
        (&["REPLCONF", "rdb-filter-only", ""][..], b"+OK\r\n"),
        (
            &["REPLCONF", "bogus", "1"][..],
            b"-ERR Unrecognized REPLCONF option: bogus\r\n",
        ),
    ] {
        m.handle(
            Millis(0),
            Event::Command {
                conn: R1,
                argv: argv(args),
            },
        );
        let acts: Vec<Action> = m.drain_actions().collect();
        assert_eq!(sends(&acts, R1), want, "{args:?}");
    }
}

#[test]
fn a_replica_without_capa_eof_gets_a_disk_snapshot_at_once() {
    // R29/R30: diskless (with a delay) only when every waiting replica can read `$EOF:`.
    let mut m = master(MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 5,
        ..MasterConfig::default()
    });
    ask_full_sync(&mut m, R1, 0, &["capa", "psync2"]);
    let targets: Vec<master::SnapshotTarget> = m
        .drain_actions()
        .filter_map(|a| match a {
            Action::StartSnapshot { target, .. } => Some(target),
            _ => None,
        })
        .collect();
    assert_eq!(
        targets,
        vec![master::SnapshotTarget::Disk],
        "no delay, no socket transfer"
    );
}

#[test]
fn every_snapshot_gets_its_own_id() {
    let mut m = master(disk());
    let first = snapshot_starts(&attach(&mut m, R1, 0));
    let second = snapshot_starts(&attach(&mut m, R2, 10));
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first, second, "a late event of one snapshot must not complete another");
}

/// Snapshot ids of the `StartSnapshot` actions among `acts`.
fn snapshot_starts(acts: &[Action]) -> Vec<u64> {
    acts.iter()
        .filter_map(|a| match a {
            Action::StartSnapshot { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn tick(m: &mut Master<ChaCha8Rng>, now: u64) -> Vec<Action> {
    m.handle(Millis(now), Event::Tick);
    m.drain_actions().collect()
}

#[test]
fn diskless_max_replicas_starts_the_transfer_before_the_delay() {
    // R30: with repl-diskless-sync-max-replicas N, the N-th waiting replica ends the wait.
    let mut m = master(MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 5,
        repl_diskless_sync_max_replicas: 2,
        ..MasterConfig::default()
    });
    ask_full_sync(&mut m, R1, 0, &["capa", "eof", "capa", "psync2"]);
    assert!(
        snapshot_starts(&tick(&mut m, 1000)).is_empty(),
        "one of two: wait for the delay"
    );
    ask_full_sync(&mut m, R2, 1500, &["capa", "eof", "capa", "psync2"]);
    assert_eq!(snapshot_starts(&tick(&mut m, 2000)).len(), 1, "two of two: start now");

    // Without the cap the same arrivals wait the whole delay (the first replica's 5 s).
    let mut m = master(MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 5,
        ..MasterConfig::default()
    });
    ask_full_sync(&mut m, R1, 0, &["capa", "eof", "capa", "psync2"]);
    ask_full_sync(&mut m, R2, 1500, &["capa", "eof", "capa", "psync2"]);
    assert!(snapshot_starts(&tick(&mut m, 4000)).is_empty());
    assert_eq!(snapshot_starts(&tick(&mut m, 5000)).len(), 1);
}

#[test]
fn a_replica_arriving_during_a_diskless_transfer_waits_its_own_delay() {
    // R30: a socket transfer cannot be shared, so a replica arriving during one waits for
    // the next; with a delay configured it is not started the moment the first one ends.
    let mut m = master(MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 5,
        ..MasterConfig::default()
    });
    ask_full_sync(&mut m, R1, 0, &["capa", "eof", "capa", "psync2"]);
    let first = snapshot_starts(&tick(&mut m, 5000));
    assert_eq!(first.len(), 1);
    ask_full_sync(&mut m, R2, 6000, &["capa", "eof", "capa", "psync2"]);
    m.handle(
        Millis(6500),
        Event::SnapshotReady {
            id: first[0],
            payload: Bytes::from_static(b"REDIS0010-fake"),
        },
    );
    let acts: Vec<Action> = m.drain_actions().collect();
    assert!(snapshot_starts(&acts).is_empty(), "R2 arrived 0.5 s ago: {acts:?}");
    assert!(snapshot_starts(&tick(&mut m, 10000)).is_empty());
    assert_eq!(snapshot_starts(&tick(&mut m, 11000)).len(), 1, "5 s after R2 arrived");

    // With no delay the next transfer starts as soon as the first one is out.
    let mut m = master(MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 0,
        ..MasterConfig::default()
    });
    ask_full_sync(&mut m, R1, 0, &["capa", "eof", "capa", "psync2"]);
    let first = snapshot_starts(&m.drain_actions().collect::<Vec<_>>());
    assert_eq!(first.len(), 1);
    ask_full_sync(&mut m, R2, 100, &["capa", "eof", "capa", "psync2"]);
    m.handle(
        Millis(200),
        Event::SnapshotReady {
            id: first[0],
            payload: Bytes::from_static(b"REDIS0010-fake"),
        },
    );
    assert_eq!(snapshot_starts(&m.drain_actions().collect::<Vec<_>>()).len(), 1);
}

#[test]
fn an_ack_before_the_rdb_does_not_release_the_held_stream() {
    // R33/R34: the stream accumulated during a disk snapshot follows the bulk; a replica
    // that sends REPLCONF ACK early (a lying or confused peer) must not get it first.
    let mut m = master(disk());
    ask_full_sync(&mut m, R1, 0, &["capa", "eof", "capa", "psync2"]);
    let snap = snapshot_starts(&m.drain_actions().collect::<Vec<_>>());
    m.handle(
        Millis(10),
        Event::Propagate {
            db: 0,
            argv: argv(&["SET", "k", "v"]),
        },
    );
    m.handle(
        Millis(20),
        Event::Command {
            conn: R1,
            argv: argv(&["REPLCONF", "ACK", "0"]),
        },
    );
    let early: Vec<Action> = m.drain_actions().collect();
    assert!(sends(&early, R1).is_empty(), "stream sent before the RDB: {early:?}");
    m.handle(
        Millis(30),
        Event::SnapshotReady {
            id: snap[0],
            payload: Bytes::from_static(b"REDIS0010-fake"),
        },
    );
    m.handle(Millis(40), Event::BulkSent { conn: R1 });
    let after: Vec<Action> = m.drain_actions().collect();
    let stream = String::from_utf8_lossy(&sends(&after, R1)).into_owned();
    assert!(stream.contains("SET"), "the held write follows the bulk: {stream:?}");
}

#[test]
fn psync_failover_is_refused_and_sync_reports_offset_minus_one() {
    let mut m = master(disk());
    m.handle(
        Millis(0),
        Event::Command {
            conn: R1,
            argv: argv(&["PSYNC", "?", "-1", "FAILOVER"]),
        },
    );
    let acts: Vec<Action> = m.drain_actions().collect();
    assert_eq!(
        sends(&acts, R1),
        b"-ERR PSYNC FAILOVER can't be sent to a master.\r\n".to_vec()
    );
    assert!(!m.is_replica(R1));

    m.handle(
        Millis(0),
        Event::Command {
            conn: R2,
            argv: argv(&["SYNC"]),
        },
    );
    let acts: Vec<Action> = m.drain_actions().collect();
    let asked: Vec<i64> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Observe(Observation::Psync { offset, .. }) => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![-1], "SYNC is PSYNC ? -1 to the oracles");
    assert!(m.is_replica(R2));
}

#[test]
fn the_backlog_ttl_counts_from_the_last_replica_leaving_not_from_a_later_failed_snapshot() {
    // R16/R35: a snapshot that fails after its replicas are gone restarts no clock.
    let mut m = master(MasterConfig {
        repl_backlog_ttl_s: 10,
        ..disk()
    });
    attach(&mut m, R1, 0);
    ask_full_sync(&mut m, R2, 500, &["capa", "eof", "capa", "psync2"]);
    let snap = snapshot_starts(&m.drain_actions().collect::<Vec<_>>());
    assert_eq!(snap.len(), 1);
    m.handle(Millis(1000), Event::Closed { conn: R1 });
    m.handle(Millis(1000), Event::Closed { conn: R2 });
    m.handle(Millis(5000), Event::SnapshotFailed { id: snap[0] });
    m.drain_actions().for_each(drop);
    assert!(m.backlog().is_some());
    tick(&mut m, 11_500);
    assert!(m.backlog().is_none(), "10 s after the last replica left (t=1 s)");
}

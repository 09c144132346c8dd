//! ROLE and INFO: how a node reports itself and its replication state, with redis 7.0's
//! sections, field names and meanings (spec §2 INFO notes, R19, R39a).
//!
//! Owns: formatting only. Must never change replication state except through the cores'
//! configuration setters.

use std::fmt::Write as _;

use bytes::Bytes;
use proto::{Frame, Millis};
use rand_core::RngCore;
use replica::ReplState;

use crate::node::Node;

fn bulk(s: impl Into<Bytes>) -> Frame {
    Frame::Bulk(s.into())
}

/// `ROLE` (R19 note).
pub fn role<R: RngCore>(node: &Node<R>) -> Vec<u8> {
    let frame = match node.master_addr() {
        None => {
            let replicas = node
                .master
                .replicas()
                .filter(|r| r.state == master::SlaveState::Online)
                .map(|r| {
                    let ip = r.ip.clone().unwrap_or_else(|| Bytes::from(node.client_ip(r.conn)));
                    Frame::Array(vec![
                        Frame::Bulk(ip),
                        bulk(r.listening_port.to_string()),
                        bulk(r.ack_off.to_string()),
                    ])
                })
                .collect();
            Frame::Array(vec![
                bulk("master"),
                Frame::Integer(node.master.master_repl_offset() as i64),
                Frame::Array(replicas),
            ])
        }
        Some((host, port)) => {
            let off = node.replica.master().map_or(-1, |m| m.reploff as i64);
            Frame::Array(vec![
                bulk("slave"),
                bulk(host.clone()),
                Frame::Integer(i64::from(*port)),
                bulk(node.replica.state().role_name()),
                Frame::Integer(off),
            ])
        }
    };
    frame.to_bytes()
}

/// The `# Replication` section.
pub fn replication_section<R: RngCore>(node: &Node<R>, now: Millis) -> String {
    let mut s = String::from("# Replication\r\n");
    let m = &node.master;
    match node.master_addr() {
        None => s.push_str("role:master\r\n"),
        Some((host, port)) => {
            let st = node.replica.state();
            let link = if st == ReplState::Connected { "up" } else { "down" };
            let _ = write!(s, "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\n");
            let _ = write!(s, "master_link_status:{link}\r\n");
            let _ = write!(s, "master_sync_in_progress:{}\r\n", u8::from(st == ReplState::Transfer));
            let off = node.replica.slave_repl_offset();
            let _ = write!(s, "slave_read_repl_offset:{off}\r\nslave_repl_offset:{off}\r\n");
            s.push_str("slave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\n");
        }
    }
    let replicas: Vec<master::ReplicaView> = m.replicas().collect();
    let _ = write!(s, "connected_slaves:{}\r\n", replicas.len());
    for (i, r) in replicas.iter().enumerate() {
        let ip =
            r.ip.as_ref()
                .map_or_else(|| node.client_ip(r.conn), |b| String::from_utf8_lossy(b).into_owned());
        let lag = now.0.saturating_sub(r.ack_time.0) / 1000;
        let _ = write!(
            s,
            "slave{i}:ip={ip},port={},state={},offset={},lag={lag}\r\n",
            r.listening_port,
            r.state.info_name(),
            r.ack_off
        );
    }
    s.push_str("master_failover_state:no-failover\r\n");
    let _ = write!(s, "master_replid:{}\r\nmaster_replid2:{}\r\n", m.replid(), m.replid2());
    let _ = write!(
        s,
        "master_repl_offset:{}\r\nsecond_repl_offset:{}\r\n",
        m.master_repl_offset(),
        m.second_replid_offset()
    );
    let (active, first, histlen) = m
        .backlog()
        .map_or((0, 0, 0), |b| (1, b.first_byte_offset(), b.histlen()));
    let _ = write!(
        s,
        "repl_backlog_active:{active}\r\nrepl_backlog_size:{}\r\n",
        m.config().repl_backlog_size
    );
    let _ = write!(
        s,
        "repl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{histlen}\r\n"
    );
    // Not redis fields: a replica never diverges silently (node/replicated.rs).
    let d = node.divergence();
    let _ = write!(
        s,
        "unapplied_master_commands:{}\r\ndataset_divergent:{}\r\n",
        d.unapplied(),
        u8::from(d.divergent())
    );
    s
}

/// The sync counters of `# Stats` (R25, I13).
pub fn stats_section<R: RngCore>(node: &Node<R>) -> String {
    let c = node.master.counters();
    format!(
        "# Stats\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\n\
         client_output_buffer_limit_disconnections:{}\r\n",
        c.sync_full, c.sync_partial_ok, c.sync_partial_err, c.client_output_buffer_limit_disconnections
    )
}

/// The `# Clients` section: how many connections, and the largest query buffer seen
/// (what the hostile-client tests bound).
pub fn clients_section<R: RngCore>(node: &Node<R>) -> String {
    let (n, max) = node.client_stats();
    format!("# Clients\r\nconnected_clients:{n}\r\nclient_recent_max_input_buffer:{max}\r\n")
}

/// The `# Server` section: the fields of redis 7.0's that describe this process (no OS,
/// compiler or allocator facts), in redis's order. `process_id` only when known (the
/// simulator's processes have none).
pub fn server_section<R: RngCore>(node: &Node<R>, now: Millis) -> String {
    let uptime_s = now.0.saturating_sub(node.started().0) / 1000;
    let mut s = String::from("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n");
    s.push_str("redis_git_dirty:0\r\nredis_mode:standalone\r\narch_bits:64\r\n");
    if let Some(pid) = node.config().process_id {
        let _ = write!(s, "process_id:{pid}\r\n");
    }
    let _ = write!(s, "run_id:{}\r\ntcp_port:{}\r\n", node.run_id(), node.config().port);
    let _ = write!(s, "server_time_usec:{}\r\n", now.0.saturating_mul(1000));
    let _ = write!(
        s,
        "uptime_in_seconds:{uptime_s}\r\nuptime_in_days:{}\r\n",
        uptime_s / 86_400
    );
    s.push_str("hz:10\r\nconfigured_hz:10\r\n");
    let _ = write!(s, "psync_node_version:{}\r\n", env!("CARGO_PKG_VERSION"));
    s
}

/// The `# Keyspace` section: `dbN:keys=,expires=,avg_ttl=` for each non-empty db, as
/// redis 7.0. `keys` and `expires` count stored keys (logically expired ones too, as
/// redis's dict sizes do); `avg_ttl` is the exact mean remaining TTL in ms of the keys
/// with a future deadline, where redis reports a running estimate from active expiry.
pub fn keyspace_section<R: RngCore>(node: &Node<R>, now: Millis) -> String {
    let mut s = String::from("# Keyspace\r\n");
    let now = i64::try_from(now.0).unwrap_or(i64::MAX);
    for db in 0..crate::keyspace::DB_COUNT {
        let keys = node.keyspace.dbsize(db);
        if keys == 0 {
            continue;
        }
        let (mut expires, mut live, mut ttl_sum) = (0u64, 0u64, 0i128);
        for (_, e) in node.keyspace.iter_db(db) {
            if let Some(at) = e.expire_ms {
                expires += 1;
                if at > now {
                    live += 1;
                    ttl_sum += i128::from(at - now);
                }
            }
        }
        let avg = if live == 0 { 0 } else { ttl_sum / i128::from(live) };
        let _ = write!(s, "db{db}:keys={keys},expires={expires},avg_ttl={avg}\r\n");
    }
    s
}

/// The sections INFO knows, in redis's order (what `INFO` / `all` / `everything` print).
const SECTIONS: [&str; 5] = ["server", "clients", "stats", "replication", "keyspace"];

fn section<R: RngCore>(node: &Node<R>, now: Millis, name: &str) -> String {
    match name {
        "server" => server_section(node, now),
        "clients" => clients_section(node),
        "stats" => stats_section(node),
        "replication" => replication_section(node, now),
        _ => keyspace_section(node, now),
    }
}

/// `INFO [section …]`: the named sections (case-insensitive, each once, in redis's
/// order), all of them for none / `all` / `default` / `everything`; unknown names add
/// nothing. Sections are separated by an empty line, as in redis.
pub fn info_command<R: RngCore>(node: &Node<R>, now: Millis, argv: &[Bytes]) -> Vec<u8> {
    let asked: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = asked.is_empty()
        || asked
            .iter()
            .any(|a| matches!(a.as_str(), "all" | "default" | "everything"));
    let text: Vec<String> = SECTIONS
        .iter()
        .filter(|s| all || asked.iter().any(|a| a == *s))
        .map(|s| section(node, now, s))
        .collect();
    Frame::Bulk(Bytes::from(text.join("\r\n"))).to_bytes()
}

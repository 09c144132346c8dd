//! ROLE, INFO and CONFIG GET/SET: how a node reports its replication state, with redis
//! 7.0's field names and meanings (spec §2 INFO notes, R19, R39a).
//!
//! Owns: formatting only. Must never change replication state except through the cores'
//! configuration setters.

use std::fmt::Write as _;

use bytes::Bytes;
use master::ObufLimit;
use proto::{Frame, Millis};
use rand_core::RngCore;
use replica::ReplState;

use crate::keyspace::glob::stringmatch;
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

/// `INFO [section]`: clients, replication and stats are what we have.
pub fn info_command<R: RngCore>(node: &Node<R>, now: Millis, argv: &[Bytes]) -> Vec<u8> {
    let section = argv.get(1).map(|a| a.to_ascii_lowercase());
    let text = match section.as_deref() {
        Some(b"replication") => replication_section(node, now),
        Some(b"stats") => stats_section(node),
        Some(b"clients") => clients_section(node),
        None | Some(b"all") | Some(b"default") | Some(b"everything") => {
            format!(
                "{}\r\n{}\r\n{}",
                clients_section(node),
                replication_section(node, now),
                stats_section(node)
            )
        }
        Some(_) => String::new(),
    };
    Frame::Bulk(Bytes::from(text)).to_bytes()
}

/// Parses a redis memory value (`16384`, `1mb`, `64k`, …).
pub fn parse_memory(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.to_ascii_lowercase();
    let units: [(&str, u64); 6] = [
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
    ];
    for (suffix, mul) in units {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<u64>().ok()?.checked_mul(mul);
        }
    }
    s.parse().ok()
}

fn parse_bool(v: &[u8]) -> Option<bool> {
    match v.to_ascii_lowercase().as_slice() {
        b"yes" => Some(true),
        b"no" => Some(false),
        _ => None,
    }
}

const PARAMS: &[&str] = &[
    "appendonly",
    "client-output-buffer-limit",
    "masterauth",
    "masteruser",
    "min-replicas-max-lag",
    "min-replicas-to-write",
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "repl-ping-replica-period",
    "repl-timeout",
    "requirepass",
    "save",
];

fn get_param<R: RngCore>(node: &Node<R>, name: &str) -> String {
    let m = node.master.config();
    let r = node.replica.config();
    let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
    let text = |b: &Option<Bytes>| {
        b.as_ref()
            .map_or(String::new(), |v| String::from_utf8_lossy(v).into_owned())
    };
    match name {
        // Read-only facts redis-benchmark asks for: no AOF, no save points.
        "appendonly" => "no".to_string(),
        "save" => String::new(),
        "masterauth" => text(&r.masterauth),
        "client-output-buffer-limit" => {
            let l = m.replica_obuf_limit;
            format!(
                "normal 0 0 0 slave {} {} {} pubsub 33554432 8388608 60",
                l.hard_bytes, l.soft_bytes, l.soft_seconds
            )
        }
        "masteruser" => text(&r.masteruser),
        "min-replicas-max-lag" => m.min_replicas_max_lag_s.to_string(),
        "min-replicas-to-write" => m.min_replicas_to_write.to_string(),
        "repl-backlog-size" => m.repl_backlog_size.to_string(),
        "repl-backlog-ttl" => m.repl_backlog_ttl_s.to_string(),
        "repl-diskless-sync" => yn(m.repl_diskless_sync),
        "repl-diskless-sync-delay" => m.repl_diskless_sync_delay_s.to_string(),
        "repl-diskless-sync-max-replicas" => m.repl_diskless_sync_max_replicas.to_string(),
        "repl-ping-replica-period" => m.repl_ping_replica_period_s.to_string(),
        "repl-timeout" => m.repl_timeout_s.to_string(),
        "requirepass" => text(&node.config().requirepass),
        _ => String::new(),
    }
}

/// `<class> <hard> <soft> <seconds>` groups; returns the replica class's limit if given.
/// Only the replica class is enforced (R39); `normal` and `pubsub` are accepted as redis
/// would and not kept, because nothing here serves pub/sub and normal clients are unlimited.
pub fn parse_obuf_limits(v: &[u8]) -> Result<Option<ObufLimit>, String> {
    let bad = || {
        "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - \
         Wrong number of arguments in buffer limit configuration."
            .to_string()
    };
    let words: Vec<&[u8]> = v.split(|b| *b == b' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err(bad());
    }
    let mut replica = None;
    for g in words.chunks(4) {
        let class = g[0].to_ascii_lowercase();
        let (Some(hard), Some(soft), Some(secs)) = (parse_memory(g[1]), parse_memory(g[2]), parse_memory(g[3])) else {
            return Err(bad());
        };
        match class.as_slice() {
            b"slave" | b"replica" => {
                replica = Some(ObufLimit {
                    hard_bytes: hard,
                    soft_bytes: soft,
                    soft_seconds: secs,
                })
            }
            b"normal" | b"pubsub" => {}
            _ => return Err(bad()),
        }
    }
    Ok(replica)
}

/// Applies one CONFIG SET; `Err` carries redis's error text.
fn set_param<R: RngCore>(node: &mut Node<R>, name: &str, v: &Bytes) -> Result<(), String> {
    let bad = || {
        format!("ERR CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer")
    };
    let num = || parse_memory(v).ok_or_else(bad);
    match name {
        // R15: clamped to CONFIG_REPL_BACKLOG_MIN_SIZE.
        "repl-backlog-size" => node.master.set_backlog_size(num()?.max(master::REPL_BACKLOG_MIN_SIZE)),
        "repl-backlog-ttl" => node.master.config_mut().repl_backlog_ttl_s = num()?,
        "repl-diskless-sync" => {
            node.master.config_mut().repl_diskless_sync = parse_bool(v).ok_or_else(|| {
                format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - argument must be 'yes' or 'no'"
                )
            })?
        }
        "repl-diskless-sync-delay" => node.master.config_mut().repl_diskless_sync_delay_s = num()?,
        "repl-diskless-sync-max-replicas" => node.master.config_mut().repl_diskless_sync_max_replicas = num()?,
        "repl-ping-replica-period" => node.master.config_mut().repl_ping_replica_period_s = num()?.max(1),
        "repl-timeout" => {
            let t = num()?.max(1);
            node.master.config_mut().repl_timeout_s = t;
            node.replica.config_mut().repl_timeout_s = t;
        }
        "min-replicas-to-write" => node.master.config_mut().min_replicas_to_write = num()?,
        "min-replicas-max-lag" => node.master.config_mut().min_replicas_max_lag_s = num()?,
        "client-output-buffer-limit" => {
            if let Some(l) = parse_obuf_limits(v)? {
                node.master.config_mut().replica_obuf_limit = l;
            }
        }
        "masterauth" => node.replica.config_mut().masterauth = (!v.is_empty()).then(|| v.clone()),
        "masteruser" => node.replica.config_mut().masteruser = (!v.is_empty()).then(|| v.clone()),
        "requirepass" => node.set_requirepass((!v.is_empty()).then(|| v.clone())),
        _ => {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ))
        }
    }
    Ok(())
}

/// `CONFIG GET pattern` / `CONFIG SET name value [name value …]`.
pub fn config_command<R: RngCore>(node: &mut Node<R>, argv: &[Bytes]) -> Vec<u8> {
    let sub = argv.get(1).map(|a| a.to_ascii_lowercase());
    match sub.as_deref() {
        Some(b"get") if argv.len() >= 3 => {
            let mut out = Vec::new();
            for name in PARAMS {
                if argv[2..]
                    .iter()
                    .any(|p| stringmatch(&p.to_ascii_lowercase(), name.as_bytes()))
                {
                    out.push(bulk(*name));
                    out.push(bulk(get_param(node, name)));
                }
            }
            Frame::Array(out).to_bytes()
        }
        Some(b"set") if argv.len() >= 4 && argv.len().is_multiple_of(2) => {
            for pair in argv[2..].chunks(2) {
                let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
                if let Err(e) = set_param(node, &name, &pair[1]) {
                    return Frame::Error(Bytes::from(e)).to_bytes();
                }
            }
            b"+OK\r\n".to_vec()
        }
        Some(b"resetstat") => b"+OK\r\n".to_vec(),
        Some(b"get") | Some(b"set") => {
            let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
            format!("-ERR wrong number of arguments for 'config|{sub}' command\r\n").into_bytes()
        }
        _ => {
            let sub = argv
                .get(1)
                .map_or(String::new(), |a| String::from_utf8_lossy(a).into_owned());
            format!("-ERR unknown subcommand '{sub}'. Try CONFIG HELP.\r\n").into_bytes()
        }
    }
}

#[cfg(test)]
mod obuf_tests {
    use super::*;

    #[test]
    fn obuf_limit_lines_parse_like_redis_conf() {
        let l = parse_obuf_limits(b"normal 0 0 0 replica 1mb 256kb 10 pubsub 32mb 8mb 60").unwrap();
        assert_eq!(
            l,
            Some(ObufLimit {
                hard_bytes: 1024 * 1024,
                soft_bytes: 256 * 1024,
                soft_seconds: 10
            })
        );
        assert_eq!(parse_obuf_limits(b"slave 0 0 0").unwrap(), Some(ObufLimit::NONE));
        assert_eq!(parse_obuf_limits(b"normal 0 0 0").unwrap(), None);
        for bad in [
            &b""[..],
            b"replica 1mb 2mb",
            b"replica x 0 0",
            b"master 0 0 0",
            b"replica 1 2 3 4",
        ] {
            let e = parse_obuf_limits(bad).unwrap_err();
            assert!(e.contains("client-output-buffer-limit"), "{e}");
        }
    }
}

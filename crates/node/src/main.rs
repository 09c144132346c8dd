//! `psync-node`: a Redis-compatible TCP server built from the same node and cores the
//! simulator runs, so redis-cli, redis-benchmark and redis-server replicas can talk to it.

use std::path::PathBuf;

use bytes::Bytes;
use clap::{CommandFactory, Parser, ValueEnum};
use master::MasterConfig;
use node::runtime::{Runtime, RuntimeConfig, Transport};
use node::tcp::TokioTransport;
use node::{Node, NodeConfig};
use rand::{rngs::StdRng, SeedableRng};
use replica::ReplicaConfig;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum YesNo {
    Yes,
    No,
}

/// A Redis 7.0 wire-compatible server with psync-sim's replication cores.
#[derive(Debug, Parser)]
#[command(name = "psync-node", version)]
struct Args {
    #[arg(long, default_value_t = 6379)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Replicate from HOST PORT (PORT: 0-65535).
    #[arg(long, num_args = 2, value_names = ["HOST", "PORT"], allow_hyphen_values = true)]
    replicaof: Option<Vec<String>>,
    #[arg(long)]
    masterauth: Option<String>,
    #[arg(long)]
    masteruser: Option<String>,
    #[arg(long)]
    requirepass: Option<String>,
    #[arg(long, default_value_t = 1024 * 1024)]
    repl_backlog_size: u64,
    #[arg(long, default_value_t = 3600)]
    repl_backlog_ttl: u64,
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    repl_diskless_sync: YesNo,
    #[arg(long, default_value_t = 5)]
    repl_diskless_sync_delay: u64,
    #[arg(long, default_value_t = 10)]
    repl_ping_replica_period: u64,
    #[arg(long, default_value_t = 60)]
    repl_timeout: u64,
    /// `<class> <hard> <soft> <seconds>` groups as in redis.conf; only the replica class
    /// is enforced (default `replica 256mb 64mb 60`).
    #[arg(long)]
    client_output_buffer_limit: Option<String>,
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    #[arg(long, default_value = "dump.rdb")]
    dbfilename: String,
    /// Seed for replids and EOF marks, decimal or 0x-hex as psync-sim takes it (default:
    /// from the clock and pid).
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
}

/// A seed as `psync-sim` takes it: decimal, or hex after `0x`.
fn parse_seed(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("bad seed {s:?} (decimal or 0x-hex u64): {e}"))
}

/// `--replicaof HOST PORT`, or clap's usage error (exit status 2) naming the bad port.
fn replicaof(args: &Args) -> Option<(String, u16)> {
    let v = args.replicaof.as_ref()?;
    let (host, port) = (&v[0], &v[1]);
    match port.parse::<u16>() {
        Ok(p) => Some((host.clone(), p)),
        Err(_) => Args::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid PORT {port:?} for '--replicaof {host} {port}': expected a TCP port 0-65535"),
            )
            .exit(),
    }
}

/// Errors (a busy port, an unreadable RDB) are a user's to fix: one line on stderr and
/// exit status 1, never a backtrace (anyhow's `Debug` prints one under RUST_BACKTRACE).
fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let transport = TokioTransport {
        bind: args.bind.clone(),
        rdb_path: args.dir.join(&args.dbfilename),
    };
    let seed = args
        .seed
        .unwrap_or_else(|| transport.now().0 ^ (u64::from(std::process::id()) << 32));
    let replicaof = replicaof(&args);
    let cfg = node_config(&args)?;
    let now = transport.now();
    let mut node = Node::new(cfg, StdRng::seed_from_u64(seed), now);
    match transport.load()? {
        Some(bytes) => {
            let rdb = proto::rdb::load(&bytes).map_err(|e| anyhow::anyhow!("loading {}: {e}", args.dbfilename))?;
            node.load_at_startup(now, &rdb, replicaof);
        }
        None => {
            if let Some((host, port)) = replicaof {
                node.boot_replicaof(now, host, port);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    let (runtime, _handle) = Runtime::new(
        transport,
        RuntimeConfig {
            port: args.port,
            ..RuntimeConfig::default()
        },
        node,
    );
    let addr = format!("{}:{}", args.bind, args.port);
    let listening = std::cell::Cell::new(false);
    let announce = || {
        listening.set(true);
        eprintln!("psync-node listening on {addr}");
    };
    local.block_on(&rt, runtime.run_with(announce)).map_err(|e| {
        let what = if listening.get() {
            "stopped serving"
        } else {
            "cannot listen on"
        };
        anyhow::anyhow!("psync-node {what} {addr}: {e}")
    })?;
    Ok(())
}

/// The node's configuration from the command line (redis's clamps: backlog minimum, ping
/// period and timeout at least 1 s).
fn node_config(args: &Args) -> anyhow::Result<NodeConfig> {
    let obuf = match &args.client_output_buffer_limit {
        Some(v) => node::config::parse_obuf_limits(v.as_bytes())
            .map_err(|e| anyhow::anyhow!("--client-output-buffer-limit: {e}"))?,
        None => None,
    };
    Ok(NodeConfig {
        port: args.port,
        requirepass: args.requirepass.clone().map(Bytes::from),
        master: MasterConfig {
            repl_backlog_size: args.repl_backlog_size.max(master::REPL_BACKLOG_MIN_SIZE),
            repl_backlog_ttl_s: args.repl_backlog_ttl,
            repl_diskless_sync: matches!(args.repl_diskless_sync, YesNo::Yes),
            repl_diskless_sync_delay_s: args.repl_diskless_sync_delay,
            repl_ping_replica_period_s: args.repl_ping_replica_period.max(1),
            repl_timeout_s: args.repl_timeout.max(1),
            replica_obuf_limit: obuf.unwrap_or(master::ObufLimit::REPLICA_DEFAULT),
            ..MasterConfig::default()
        },
        replica: ReplicaConfig {
            masterauth: args.masterauth.clone().map(Bytes::from),
            masteruser: args.masteruser.clone().map(Bytes::from),
            repl_timeout_s: args.repl_timeout.max(1),
            pipelined_handshake: true,
            ..ReplicaConfig::default()
        },
        record_notes: false,
        process_id: Some(std::process::id()),
        ..NodeConfig::default()
    })
}

//! Helpers for the interop tests that run real processes on loopback: finding
//! `redis-server` and the `psync-node` binary, free ports, child processes killed by
//! their own handle in `Drop`, a minimal RESP client, bounded polling and a TCP proxy
//! whose connections a test can cut and hold down.
//!
//! Must never: touch a process it did not start, bind anything but 127.0.0.1, or sleep
//! for a fixed time where a condition can be polled.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[path = "interop_conn.rs"]
mod conn;
#[path = "interop_proxy.rs"]
mod proxy;

pub use conn::{bulks, encode, value_end, Conn};
pub use proxy::Proxy;

/// Poll step of [`wait_for`].
pub const POLL_STEP: Duration = Duration::from_millis(50);

/// `redis-server` on PATH, or `None` after the skip/fail policy ran: under `CI=true` a
/// missing server panics; elsewhere the test prints SKIPPED and should return.
pub fn require_redis_server(test: &str) -> Option<PathBuf> {
    if let Some(p) = which_redis_server() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("redis-server is not installed, but CI=true requires the interop test {test} to run");
    }
    eprintln!("\n********************************************************");
    eprintln!("*** SKIPPED: redis-server not installed ({test}) ***");
    eprintln!("********************************************************\n");
    None
}

/// `redis-server` on PATH.
pub fn which_redis_server() -> Option<PathBuf> {
    let out = Command::new("which").arg("redis-server").output().ok()?;
    let path = String::from_utf8(out.stdout).ok()?;
    let path = path.trim();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

/// The `psync-node` binary of the same cargo target dir and profile as this test binary
/// (`<target>/<profile>/deps/<test>` → `<target>/<profile>/psync-node`).
///
/// # Panics
/// If it is not built: cargo does not build another package's binary for a test.
pub fn psync_node_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in <target>/<profile>/deps");
    let bin = profile_dir.join(format!("psync-node{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p psync-node` (same profile and target dir) before the interop tests",
        bin.display()
    );
    bin
}

/// A free loopback port (bound to `127.0.0.1:0`, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Polls `f` every [`POLL_STEP`] for up to `timeout`; panics naming `what` (and the last
/// observation) if it never returns `Ok`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let steps = (timeout.as_millis() / POLL_STEP.as_millis()).max(1);
    let mut last = String::new();
    for _ in 0..steps {
        match f() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(POLL_STEP);
    }
    match f() {
        Ok(v) => v,
        Err(e) => {
            panic!("timed out after {timeout:?} waiting for {what}; last: {e} (before: {last})")
        }
    }
}

/// A scratch directory removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    /// A fresh, empty directory whose name contains `tag`.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("psync-interop-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A server child process (redis-server or psync-node) on 127.0.0.1, killed by its own
/// handle and reaped on drop. Its log is printed when the test is panicking.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub name: String,
    log: PathBuf,
}

impl Server {
    /// Starts `redis-server` with a fresh `dir` (no persistence, DEBUG enabled) plus
    /// `args`, and waits for PING.
    pub fn redis(binary: &Path, name: &str, dir: &Path, args: &[&str]) -> Server {
        Self::start(name, dir, None, |port, log| {
            let mut cmd = Command::new(binary);
            cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--enable-debug-command", "yes"])
                .arg("--dir")
                .arg(dir)
                .arg("--logfile")
                .arg(log)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            cmd
        })
    }

    /// Starts `psync-node` on `port` (a free one if `None`) with `--dir dir` plus
    /// `args`, and waits for PING.
    pub fn node(name: &str, dir: &Path, port: Option<u16>, args: &[&str]) -> Server {
        let binary = psync_node_binary();
        Self::start(name, dir, port, |port, log| {
            let log = std::fs::File::create(log).expect("create node log");
            let mut cmd = Command::new(&binary);
            cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .arg("--dir")
                .arg(dir)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::from(log));
            cmd
        })
    }

    fn start(name: &str, dir: &Path, fixed_port: Option<u16>, command: impl Fn(u16, &Path) -> Command) -> Server {
        // A port found free may be taken by a parallel test before the child binds it:
        // if the child dies before answering, try again on another port.
        for attempt in 0..5 {
            let port = fixed_port.unwrap_or_else(free_port);
            let log = dir.join(format!("{name}-{port}-{attempt}.log"));
            let child = command(port, &log).spawn().expect("spawn server");
            let mut server = Server {
                child: Some(child),
                port,
                name: name.to_string(),
                log,
            };
            for _ in 0..200 {
                if let Ok(mut conn) = Conn::connect(port) {
                    let pong = conn.try_call_str(&["PING"]).as_deref() == Some(&b"+PONG\r\n"[..]);
                    // The PONG may come from another test's server that won the port.
                    let pid = server.child.as_ref().map_or(0, Child::id);
                    if pong && listener_owned_by(pid, port) != Some(false) {
                        return server;
                    }
                }
                let exited = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if exited.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            eprintln!("{name} on port {port} did not come up; retrying");
            server.print_log();
            server.kill();
        }
        panic!("{name} did not answer PING after 5 attempts");
    }

    /// A new client connection.
    pub fn conn(&self) -> Conn {
        Conn::connect(self.port).unwrap_or_else(|e| panic!("connect to {} on {}: {e}", self.name, self.port))
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to this server's own PID with kill(1).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("server is running").id();
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {pid} ({}) failed", self.name);
    }

    /// SIGKILL (`Child::kill`) and reap; idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn print_log(&self) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        eprintln!("----- last lines of {} ({}) -----", self.name, self.log.display());
        for l in &lines[from..] {
            eprintln!("{l}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_log();
        }
        self.kill();
    }
}

/// Whether process `pid` holds the socket listening on `127.0.0.1:port`, from
/// `/proc/net/tcp` and `/proc/<pid>/fd`; `None` where procfs cannot tell.
fn listener_owned_by(pid: u32, port: u16) -> Option<bool> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    let inode = tcp.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let listening = f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A");
        listening.then(|| f.get(9).map(|s| s.to_string())).flatten()
    });
    let Some(inode) = inode else {
        return Some(false);
    };
    let want = format!("socket:[{inode}]");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        fds.flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy() == want)),
    )
}

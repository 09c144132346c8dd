//! Shared helpers for the integration, property, scenario and interop tests.

pub mod vectors {
    //! Access to the redis-server 7.0.15 captures copied into `tests/vectors/` (so tests
    //! never read `../shared` at run time) and full decoders for their byte streams.

    /// Directory holding the capture files.
    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/redis-7.0.15")
    }

    // The helpers themselves are shared with crates/replica/tests/common/mod.rs.
    include!("vectors_access.rs");
}

#[path = "support/fake_replica.rs"]
pub mod fake_replica;

pub mod interop {
    //! Helpers for the interop tests that run real processes on loopback: finding
    //! `redis-server` and the `psync-node` binary, free ports, child processes killed by
    //! their own handle in `Drop`, a minimal RESP client, bounded polling and a TCP proxy
    //! whose connections a test can cut and hold down.
    //!
    //! Must never: touch a process it did not start, bind anything but 127.0.0.1, or sleep
    //! for a fixed time where a condition can be polled.

    use std::collections::BTreeMap;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

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

    /// RESP2 encoding of a command.
    pub fn encode(argv: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// End (exclusive) of the complete RESP2 value starting at `start`, if all of it is here.
    pub fn value_end(buf: &[u8], start: usize) -> Option<usize> {
        let rel = buf.get(start..)?.windows(2).position(|w| w == b"\r\n")?;
        let line_end = start + rel + 2;
        let header = std::str::from_utf8(&buf[start + 1..line_end - 2]).ok();
        match buf[start] {
            b'+' | b'-' | b':' => Some(line_end),
            b'$' => {
                let n: i64 = header?.parse().ok()?;
                let end = if n < 0 { line_end } else { line_end + n as usize + 2 };
                (buf.len() >= end).then_some(end)
            }
            b'*' => {
                let n: i64 = header?.parse().ok()?;
                (0..n.max(0)).try_fold(line_end, |at, _| value_end(buf, at))
            }
            other => panic!("unexpected RESP type byte {other:#x}"),
        }
    }

    /// The bulk elements of an array-of-bulks value.
    pub fn bulks(value: &[u8]) -> Vec<Vec<u8>> {
        let mut at = value.windows(2).position(|w| w == b"\r\n").expect("header") + 2;
        let mut out = Vec::new();
        while at < value.len() {
            let end = value_end(value, at).expect("complete element");
            let body_start = value[at..].windows(2).position(|w| w == b"\r\n").expect("bulk") + at + 2;
            out.push(value[body_start..end - 2].to_vec());
            at = end;
        }
        out
    }

    /// A blocking RESP2 client connection (10 s read timeout).
    pub struct Conn {
        pub stream: TcpStream,
        pub buf: Vec<u8>,
    }

    impl Conn {
        /// Connects to `127.0.0.1:port`.
        pub fn connect(port: u16) -> std::io::Result<Self> {
            let stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            Ok(Self {
                stream,
                buf: Vec::new(),
            })
        }

        fn try_fill(&mut self) -> std::io::Result<()> {
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }

        fn fill(&mut self) {
            self.try_fill().expect("read from server");
        }

        /// Reads exactly one reply (raw bytes).
        pub fn read_value(&mut self) -> Vec<u8> {
            loop {
                if !self.buf.is_empty() {
                    if let Some(end) = value_end(&self.buf, 0) {
                        return self.buf.drain(..end).collect();
                    }
                }
                self.fill();
            }
        }

        /// Reads one line, `\r\n` or a bare `\n` (a keepalive) included.
        pub fn read_line(&mut self) -> Vec<u8> {
            loop {
                if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                    return self.buf.drain(..=i).collect();
                }
                self.fill();
            }
        }

        /// Reads exactly `n` bytes.
        pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
            while self.buf.len() < n {
                self.fill();
            }
            self.buf.drain(..n).collect()
        }

        /// Sends a command without reading.
        pub fn send(&mut self, args: &[&str]) {
            let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
            self.stream.write_all(&encode(&argv)).expect("write");
        }

        /// Sends a command, reads its reply.
        pub fn call(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
            self.stream.write_all(&encode(argv)).expect("write");
            self.read_value()
        }

        /// [`Conn::call`] with string arguments.
        pub fn call_str(&mut self, args: &[&str]) -> Vec<u8> {
            let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
            self.call(&argv)
        }

        /// [`Conn::call_str`] returning `None` on an IO error or a closed connection.
        pub fn try_call_str(&mut self, args: &[&str]) -> Option<Vec<u8>> {
            let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
            self.stream.write_all(&encode(&argv)).ok()?;
            loop {
                if !self.buf.is_empty() {
                    if let Some(end) = value_end(&self.buf, 0) {
                        return Some(self.buf.drain(..end).collect());
                    }
                }
                self.try_fill().ok()?;
            }
        }

        /// Calls and asserts the reply is `+OK`.
        pub fn ok(&mut self, args: &[&str]) {
            let r = self.call_str(args);
            assert_eq!(String::from_utf8_lossy(&r), "+OK\r\n", "reply to {args:?}");
        }

        /// `INFO <section>` as a map of its `field:value` lines.
        pub fn info(&mut self, section: &str) -> BTreeMap<String, String> {
            let v = self.call_str(&["INFO", section]);
            let body = bulks_of_one(&v);
            body.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                .collect()
        }

        /// One INFO field, parsed as an integer.
        pub fn info_i64(&mut self, section: &str, field: &str) -> i64 {
            let info = self.info(section);
            info.get(field)
                .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info:?}"))
                .parse()
                .unwrap_or_else(|e| panic!("INFO {field}: {e}"))
        }

        /// `DEBUG DIGEST` as hex text.
        pub fn digest(&mut self) -> String {
            let r = self.call_str(&["DEBUG", "DIGEST"]);
            let s = String::from_utf8_lossy(&r).into_owned();
            assert!(s.starts_with('+'), "DEBUG DIGEST reply {s:?}");
            s.trim_start_matches('+').trim_end().to_string()
        }
    }

    fn bulks_of_one(v: &[u8]) -> String {
        let text = String::from_utf8_lossy(v).into_owned();
        assert!(text.starts_with('$'), "expected a bulk reply, got {text:?}");
        let (_, body) = text.split_once("\r\n").expect("bulk header");
        body.to_string()
    }

    /// A TCP proxy on a free loopback port forwarding to `127.0.0.1:target`. [`Proxy::cut`]
    /// closes every forwarded connection and refuses new ones (accept, then close) until
    /// [`Proxy::restore`]: a link cut the peers see as a plain TCP close.
    pub struct Proxy {
        pub port: u16,
        shared: Arc<ProxyShared>,
        acceptor: Option<std::thread::JoinHandle<()>>,
    }

    #[derive(Default)]
    struct ProxyShared {
        blocked: AtomicBool,
        stop: AtomicBool,
        conns: Mutex<Vec<TcpStream>>,
    }

    impl ProxyShared {
        fn close_all(&self) {
            let conns = std::mem::take(&mut *self.conns.lock().expect("proxy lock"));
            for s in conns {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    impl Proxy {
        /// Starts forwarding to `target`.
        pub fn start(target: u16) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
            let port = listener.local_addr().expect("proxy addr").port();
            let shared = Arc::new(ProxyShared::default());
            let sh = shared.clone();
            let acceptor = std::thread::spawn(move || {
                for incoming in listener.incoming() {
                    if sh.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(down) = incoming else { continue };
                    if sh.blocked.load(Ordering::SeqCst) {
                        let _ = down.shutdown(Shutdown::Both);
                        continue;
                    }
                    let Ok(up) = TcpStream::connect(("127.0.0.1", target)) else {
                        let _ = down.shutdown(Shutdown::Both);
                        continue;
                    };
                    let _ = up.set_nodelay(true);
                    let _ = down.set_nodelay(true);
                    let pumps = (down.try_clone(), up.try_clone());
                    let (Ok(down2), Ok(up2)) = pumps else {
                        continue;
                    };
                    if let Ok(mut conns) = sh.conns.lock() {
                        if let (Ok(a), Ok(b)) = (down.try_clone(), up.try_clone()) {
                            conns.push(a);
                            conns.push(b);
                        }
                    }
                    pump(down, up2);
                    pump(up, down2);
                }
            });
            Proxy {
                port,
                shared,
                acceptor: Some(acceptor),
            }
        }

        /// Closes all forwarded connections and refuses new ones.
        pub fn cut(&self) {
            self.shared.blocked.store(true, Ordering::SeqCst);
            self.shared.close_all();
        }

        /// Forwards new connections again.
        pub fn restore(&self) {
            self.shared.blocked.store(false, Ordering::SeqCst);
        }
    }

    fn pump(mut from: TcpStream, mut to: TcpStream) {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        });
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.shared.stop.store(true, Ordering::SeqCst);
            self.shared.blocked.store(true, Ordering::SeqCst);
            self.shared.close_all();
            // Wake the blocking accept so the thread sees `stop`.
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            if let Some(t) = self.acceptor.take() {
                let _ = t.join();
            }
        }
    }
}

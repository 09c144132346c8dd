//! A loopback TCP proxy whose forwarded connections an interop test can cut and restore.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

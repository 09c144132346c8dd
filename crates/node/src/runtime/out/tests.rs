//! [`Output`] against a socket that takes a set number of bytes and then blocks, and
//! against real TCP with a small buffer and a slow reader.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};

use super::{Output, Report};

#[derive(Default)]
struct Sink {
    bytes: Vec<u8>,
    /// Bytes it takes before it blocks.
    room: usize,
    waker: Option<Waker>,
    fail: bool,
    /// How many bytes it held when it was shut down.
    shut_at: Option<usize>,
}

/// A socket whose room the test grants: it takes up to `room` bytes, then returns Pending.
#[derive(Clone, Default)]
struct Fake(Rc<RefCell<Sink>>);

impl Fake {
    fn with_room(room: usize) -> Self {
        let f = Fake::default();
        f.0.borrow_mut().room = room;
        f
    }

    fn grant(&self, n: usize) {
        let mut s = self.0.borrow_mut();
        s.room += n;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    fn fail(&self) {
        let mut s = self.0.borrow_mut();
        s.fail = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.borrow().bytes.clone()
    }

    fn shut_at(&self) -> Option<usize> {
        self.0.borrow().shut_at
    }
}

impl AsyncWrite for Fake {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut s = self.0.borrow_mut();
        if s.fail {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if s.room == 0 {
            s.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = s.room.min(buf.len());
        s.room -= n;
        s.bytes.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.0.borrow_mut();
        s.shut_at = Some(s.bytes.len());
        Poll::Ready(Ok(()))
    }
}

type Reports = Rc<RefCell<Vec<Report>>>;

fn spawn<W: AsyncWrite + Unpin + 'static>(w: W) -> (Output<W>, Reports) {
    let reports = Reports::default();
    let r = reports.clone();
    (Output::spawn(w, move |rep| r.borrow_mut().push(rep)), reports)
}

fn local(test: impl Future<Output = ()>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    rt.block_on(tokio::task::LocalSet::new().run_until(test));
}

/// Lets the writer task run until it waits again.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

#[test]
fn an_idle_socket_takes_output_at_once_and_nothing_is_reported() {
    local(async {
        let sock = Fake::with_room(1 << 20);
        let (out, reports) = spawn(sock.clone());
        assert!(out.send(Bytes::from_static(b"+OK\r\n")));
        // Written before any task ran: no hop through the writer.
        assert_eq!(sock.bytes(), b"+OK\r\n");
        assert_eq!(out.written(), 5);
        settle().await;
        assert_eq!(*reports.borrow(), []);
    });
}

/// R39: part of a send written directly, the rest by the writer task once the socket
/// drains; `written` counts both and the writer reports the cumulative total.
#[test]
fn what_would_block_goes_to_the_writer_in_order_and_later_sends_queue_behind() {
    local(async {
        let sock = Fake::with_room(5);
        let (out, reports) = spawn(sock.clone());
        assert!(out.send(Bytes::from_static(b"hello world")));
        assert_eq!(out.written(), 5);
        // Something is queued ahead, so this one must not jump it.
        assert!(!out.send(Bytes::from_static(b"!!")));
        assert_eq!(out.written(), 5);
        settle().await;
        assert_eq!(sock.bytes(), b"hello");
        sock.grant(3);
        settle().await;
        assert_eq!(sock.bytes(), b"hello wo");
        assert_eq!(out.written(), 8);
        sock.grant(100);
        settle().await;
        assert_eq!(sock.bytes(), b"hello world!!");
        assert_eq!(out.written(), 13);
        assert_eq!(reports.borrow().last(), Some(&Report::Flushed(13)));
        // Drained: direct writes resume.
        let before = reports.borrow().len();
        assert!(out.send(Bytes::from_static(b"x")));
        assert_eq!(out.written(), 14);
        assert_eq!(sock.bytes(), b"hello world!!x");
        settle().await;
        assert_eq!(reports.borrow().len(), before);
    });
}

/// R31/R39: an RDB transfer goes out behind earlier output and ahead of later output,
/// reports BulkSent only when asked, and is not counted as output.
#[test]
fn a_bulk_transfer_keeps_its_place_and_is_not_counted() {
    local(async {
        let sock = Fake::with_room(1 << 20);
        let (out, reports) = spawn(sock.clone());
        assert!(out.send(Bytes::from_static(b"+FULLRESYNC\r\n")));
        out.send_bulk(Bytes::from_static(b"$3\r\nRDB"), true);
        assert!(!out.send(Bytes::from_static(b"*1\r\n")));
        out.send_bulk(Bytes::from_static(b"NOTIFY-LESS"), false);
        settle().await;
        assert_eq!(sock.bytes(), b"+FULLRESYNC\r\n$3\r\nRDB*1\r\nNOTIFY-LESS");
        assert_eq!(out.written(), 13 + 4);
        assert_eq!(*reports.borrow(), [Report::BulkSent, Report::Flushed(17)]);
    });
}

#[test]
fn a_failed_direct_write_drops_all_later_output() {
    local(async {
        let sock = Fake::with_room(1 << 20);
        sock.fail();
        let (out, reports) = spawn(sock.clone());
        assert!(!out.send(Bytes::from_static(b"abc")));
        settle().await;
        assert!(!out.send(Bytes::from_static(b"def")));
        out.send_bulk(Bytes::from_static(b"rdb"), true);
        settle().await;
        assert_eq!(out.written(), 0);
        assert_eq!(sock.bytes(), b"");
        assert_eq!(*reports.borrow(), []);
    });
}

#[test]
fn a_failed_write_in_the_writer_drops_the_queue_and_later_output() {
    local(async {
        let sock = Fake::with_room(2);
        let (out, reports) = spawn(sock.clone());
        assert!(out.send(Bytes::from_static(b"abcd")));
        out.send_bulk(Bytes::from_static(b"rdb"), true);
        settle().await;
        sock.fail();
        settle().await;
        assert!(!out.send(Bytes::from_static(b"later")));
        settle().await;
        assert_eq!(sock.bytes(), b"ab");
        assert_eq!(out.written(), 2);
        assert_eq!(*reports.borrow(), []);
    });
}

#[test]
fn discard_drops_what_is_queued() {
    local(async {
        let sock = Fake::with_room(2);
        let (out, reports) = spawn(sock.clone());
        assert!(out.send(Bytes::from_static(b"abcd")));
        out.discard();
        sock.grant(100);
        settle().await;
        assert_eq!(sock.bytes(), b"ab");
        assert_eq!(sock.shut_at(), None, "a discarded client is not flushed nor shut down");
        assert_eq!(*reports.borrow(), []);
    });
}

#[test]
fn dropping_the_output_flushes_the_queue_then_shuts_down() {
    local(async {
        let sock = Fake::with_room(2);
        let (out, _reports) = spawn(sock.clone());
        assert!(out.send(Bytes::from_static(b"abcd")));
        out.send_bulk(Bytes::from_static(b"ef"), false);
        drop(out);
        settle().await;
        assert_eq!(sock.shut_at(), None, "shut down with bytes still queued");
        sock.grant(100);
        settle().await;
        assert_eq!(sock.bytes(), b"abcdef");
        assert_eq!(sock.shut_at(), Some(6));
    });
}

#[test]
fn dropping_an_idle_output_shuts_down_at_once() {
    local(async {
        let sock = Fake::with_room(10);
        let (out, _reports) = spawn(sock.clone());
        assert!(out.send(Bytes::from_static(b"bye")));
        drop(out);
        settle().await;
        assert_eq!(sock.shut_at(), Some(3));
    });
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Real TCP with small socket buffers and a peer that reads slowly: the kernel refuses
/// most of each write (WouldBlock), and every byte must still arrive once, in order.
#[test]
fn real_tcp_would_block_delivers_every_byte_in_order() {
    local(async {
        let listen = TcpSocket::new_v4().expect("socket");
        listen.set_recv_buffer_size(4096).expect("rcvbuf");
        listen.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let listener: TcpListener = listen.listen(1).expect("listen");
        let client = TcpSocket::new_v4().expect("socket");
        client.set_send_buffer_size(4096).expect("sndbuf");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(client.connect(addr), listener.accept());
        let (_client_r, client_w) = client.expect("connect").into_split();
        let (mut peer, _) = accepted.expect("accept");

        const TOTAL: usize = 2 << 20;
        let data = pattern(TOTAL + 10);
        let (out, reports) = spawn(client_w);
        for chunk in data[..TOTAL].chunks(64 * 1024) {
            out.send(Bytes::copy_from_slice(chunk));
        }
        assert!(
            (out.written() as usize) < TOTAL,
            "the kernel took all {TOTAL} bytes: nothing would block"
        );

        let mut got = vec![0u8; TOTAL];
        let mut at = 0;
        while at < TOTAL {
            // A slow reader: small reads, a pause now and then.
            let end = (at + 1000).min(TOTAL);
            at += peer.read(&mut got[at..end]).await.expect("read");
            if at % 64 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        assert!(got == data[..TOTAL], "bytes arrived out of order or changed");
        for _ in 0..1000 {
            if reports.borrow().last() == Some(&Report::Flushed(TOTAL as u64)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(reports.borrow().last(), Some(&Report::Flushed(TOTAL as u64)));
        assert_eq!(out.written(), TOTAL as u64);

        // Drained: the next write goes straight to the socket, then the close arrives.
        assert!(out.send(Bytes::copy_from_slice(&data[TOTAL..])));
        assert_eq!(out.written(), TOTAL as u64 + 10);
        drop(out);
        let mut tail = Vec::new();
        peer.read_to_end(&mut tail).await.expect("read to end");
        assert_eq!(tail, data[TOTAL..]);
    });
}

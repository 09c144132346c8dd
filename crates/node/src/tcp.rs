//! The real-world [`Transport`]: tokio TCP, the system clock and `std::fs`. Used by the
//! `psync-node` binary only; the simulator has its own transport over turmoil.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use proto::Millis;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use crate::runtime::Transport;

/// Real TCP on `bind`, snapshots in `dir/dbfilename`.
#[derive(Debug, Clone)]
pub struct TokioTransport {
    pub bind: String,
    pub rdb_path: PathBuf,
}

impl Transport for TokioTransport {
    type Read = OwnedReadHalf;
    type Write = OwnedWriteHalf;
    type Listener = TcpListener;

    async fn bind(&self, port: u16) -> io::Result<TcpListener> {
        TcpListener::bind((self.bind.as_str(), port)).await
    }

    async fn accept(listener: &TcpListener) -> io::Result<(OwnedReadHalf, OwnedWriteHalf, String)> {
        let (s, peer): (TcpStream, SocketAddr) = listener.accept().await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok((r, w, peer.ip().to_string()))
    }

    // Not `async fn`: the future must not borrow `self` (the runtime spawns it).
    #[allow(clippy::manual_async_fn)]
    fn connect(
        &self,
        host: String,
        port: u16,
    ) -> impl std::future::Future<Output = io::Result<(OwnedReadHalf, OwnedWriteHalf)>> + 'static {
        async move {
            let s = TcpStream::connect((host.as_str(), port)).await?;
            s.set_nodelay(true)?;
            Ok(s.into_split())
        }
    }

    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Millis {
        // The one wall-clock read of the project: real servers need unix time for TTLs.
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Millis(d.as_millis() as u64)
    }

    fn persist(&self, payload: &[u8]) -> io::Result<()> {
        let tmp = self.rdb_path.with_extension("tmp");
        std::fs::write(&tmp, payload)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.rdb_path)
    }

    fn load(&self) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(&self.rdb_path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

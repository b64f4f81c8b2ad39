//! A TCP listener with a bound on open connections. Each connection holds buffers and a
//! task (about 100 KB each measured under a storm), so without a bound a flood of clients
//! grows memory without limit. At the bound the listener stops accepting and new clients
//! wait in the kernel's backlog until a connection closes, as with nginx's
//! `worker_connections`. (Answering them 503 with `Connection: close` was tried: under a
//! storm the clients reconnect for every request and run out of local ports in seconds.)

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::serve::Listener;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};

/// Connections open now.
pub const OPEN_CONNECTIONS: &str = "orator_http_open_connections";

/// `TcpListener` that keeps at most `max` connections open.
pub struct Bounded {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    max: usize,
}

impl Bounded {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, max: usize) -> Self {
        metrics::describe_gauge!(
            OPEN_CONNECTIONS,
            "HTTP connections open on the api (bounded by ORATOR_MAX_CONNECTIONS)."
        );
        metrics::gauge!(OPEN_CONNECTIONS).set(0.0);
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

/// A connection that gives its slot back when closed.
pub struct Counted {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Listener for Bounded {
    type Io = Counted;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let permit = self.permits.clone().acquire_owned().await.expect("never closed");
        let (io, addr) = Listener::accept(&mut self.inner).await;
        metrics::gauge!(OPEN_CONNECTIONS).set((self.max - self.permits.available_permits()) as f64);
        (Counted { io, _permit: permit }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!(OPEN_CONNECTIONS).decrement(1.0);
    }
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn stops_accepting_at_the_bound_and_resumes_when_one_closes() {
        let mut listener = Bounded::new(TcpListener::bind("127.0.0.1:0").await.unwrap(), 2);
        let addr = listener.local_addr().unwrap();
        let _clients: Vec<_> = futures::future::join_all((0..3).map(|_| TcpStream::connect(addr)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let first = listener.accept().await.0;
        let _second = listener.accept().await.0;
        let third = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(third.is_err(), "a third connection is not accepted while two are open");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(2), listener.accept()).await;
        assert!(third.is_ok(), "accepted once one closed");
    }
}

/// The client's address, as handlers see it through `ConnectInfo<ClientAddr>`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Bounded>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Bounded>) -> Self {
        Self(*stream.remote_addr())
    }
}

//! A TCP proxy the test controls, to put faults between a service and a real server:
//! - **cut**: every connection through it dies and new ones are refused, as if the server
//!   had gone away;
//! - **stall**: connections are accepted and kept, but nothing is forwarded either way, as
//!   with a black-holed network or a frozen server; what was sent arrives once it flows
//!   again, as TCP's retransmissions would deliver it;
//! - **latency**: every chunk is forwarded after a delay.
//!
//! `restore` undoes cut and stall; latency stays until set to zero.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, tcp::OwnedReadHalf, tcp::OwnedWriteHalf},
    sync::watch,
};

/// How traffic flows through open connections.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Flow {
    stalled: bool,
    latency: Duration,
}

/// A running proxy to one upstream.
pub struct TcpProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    flow: watch::Sender<Flow>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let (flow, _) = watch::channel(Flow::default());
        let task = {
            let cut = cut.clone();
            let generation = generation.clone();
            let flow = flow.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    if cut.load(Ordering::SeqCst) {
                        drop(client); // refused: the client sees the connection close at once
                        continue;
                    }
                    let mut killed = generation.subscribe();
                    let (up, down) = (flow.subscribe(), flow.subscribe());
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::select! {
                            _ = async {
                                tokio::join!(
                                    pump(client_read, server_write, up),
                                    pump(server_read, client_write, down)
                                )
                            } => {}
                            _ = killed.changed() => {}
                        }
                    });
                }
            })
        };
        Self {
            addr,
            cut,
            generation,
            flow,
            task,
        }
    }

    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Port clients should connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Kills every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Holds every byte in both directions, on open and new connections alike.
    pub fn stall(&self) {
        self.flow.send_modify(|f| f.stalled = true);
    }

    /// Delays every forwarded chunk by `latency` (zero: no delay).
    pub fn set_latency(&self, latency: Duration) {
        self.flow.send_modify(|f| f.latency = latency);
    }

    /// Lets connections through again (after a cut or a stall).
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        self.flow.send_modify(|f| f.stalled = false);
    }
}

/// Copies one direction, holding data while stalled and delaying it by the latency.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut flow: watch::Receiver<Flow>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let latency = loop {
            let now = *flow.borrow_and_update();
            if !now.stalled {
                break now.latency;
            }
            if flow.changed().await.is_err() {
                return;
            }
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

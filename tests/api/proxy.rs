//! A TCP proxy on loopback that can misbehave the way networks do: freeze (keep every
//! connection open and forward nothing, as a hung server or a dropped route does) or refuse (reset
//! connections, as a stopped server does). Tests put it between the server and Redis or
//! PostgreSQL.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Freeze,
    Refuse,
}

pub struct FaultyProxy {
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
}

impl FaultyProxy {
    /// A proxy to `upstream` (`host:port`), forwarding until told otherwise.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(watch::channel(Mode::Forward).0);
        let upstream = upstream.to_owned();
        let serving = Arc::clone(&mode);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = serving.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if *mode.borrow() == Mode::Refuse {
                        return; // dropped: the client sees the connection closed
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pipe(client_read, server_write, mode.clone()),
                        pipe(server_read, client_write, mode),
                    );
                });
            }
        });
        Self { addr, mode }
    }

    /// The upstream URL with this proxy's address in its place (`scheme://…@host:port/…`).
    pub fn url_for(&self, upstream_url: &str) -> String {
        let mut url = url::Url::parse(upstream_url).unwrap();
        url.set_port(Some(self.addr.port())).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.to_string()
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Copies bytes one way while forwarding; holds them (connection open, nothing moves) while
/// frozen; drops the connection when refusing.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if wait_while_frozen(&mut mode).await == Mode::Refuse {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = mode.changed() => continue,
        };
        let Ok(n) = read else { return };
        if n == 0 {
            let _ = to.shutdown().await;
            return;
        }
        if wait_while_frozen(&mut mode).await == Mode::Refuse {
            return;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

async fn wait_while_frozen(mode: &mut watch::Receiver<Mode>) -> Mode {
    loop {
        let current = *mode.borrow_and_update();
        if current != Mode::Freeze {
            return current;
        }
        if mode.changed().await.is_err() {
            return Mode::Refuse;
        }
    }
}

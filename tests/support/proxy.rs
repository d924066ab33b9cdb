//! A fault-injecting TCP proxy for loopback tests.
//!
//! Why: ensemble tests need network partitions without root, iptables or network namespaces.
//! Every directed peer link goes through one of these proxies, so cutting a member off is
//! "block the proxies of its links". `block()` closes every forwarded connection at once and
//! makes new connections get accepted and dropped immediately; `unblock()` heals.
//!
//! The proxy runs on its own thread with a current-thread tokio runtime, so it works the same
//! from plain `#[test]`s and from `#[tokio::test]`s of either flavour, and it keeps forwarding
//! even while the test's own runtime is blocked. Dropping the proxy stops the thread and closes
//! everything.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    shared: Arc<Shared>,
    /// Wakes the connection tasks when the link is cut.
    blocked: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

/// `blocked` and `live` are SeqCst atomics so that `block()` (set blocked, then wait for
/// live == 0) and the accept loop (count the connection, then look at blocked) cannot both
/// miss each other.
struct Shared {
    blocked: AtomicBool,
    live: AtomicUsize,
}

/// Counts a forwarded connection as live until dropped.
struct LiveGuard(Arc<Shared>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Proxy {
    /// Listen on a free 127.0.0.1 port and forward every connection to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = StdListener::bind("127.0.0.1:0").expect("proxy: bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("proxy: nonblocking");
        let addr = listener.local_addr().unwrap();
        let (blocked, blocked_rx) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            blocked: AtomicBool::new(false),
            live: AtomicUsize::new(0),
        });
        let shared2 = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{}-{}", addr.port(), target.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(serve(listener, target, blocked_rx, stop_rx, shared2));
                // dropping the runtime drops every connection task, closing their sockets
            })
            .expect("spawn proxy thread");
        Proxy {
            addr,
            target,
            shared,
            blocked,
            stop,
            thread: Some(thread),
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Cut the link: close every forwarded connection (this returns once they are closed)
    /// and accept-and-drop new ones until [`Proxy::unblock`].
    pub fn block(&self) {
        self.shared.blocked.store(true, Ordering::SeqCst);
        self.blocked.send_replace(true);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared.live.load(Ordering::SeqCst) > 0 {
            assert!(
                Instant::now() < deadline,
                "proxy {}: connections still open 5 s after block()",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Heal the link: new connections are forwarded again.
    pub fn unblock(&self) {
        self.shared.blocked.store(false, Ordering::SeqCst);
        self.blocked.send_replace(false);
    }

    pub fn is_blocked(&self) -> bool {
        self.shared.blocked.load(Ordering::SeqCst)
    }

    /// Forwarded connections currently open.
    pub fn live_connections(&self) -> usize {
        self.shared.live.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: StdListener,
    target: SocketAddr,
    blocked: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
    shared: Arc<Shared>,
) {
    let listener = TcpListener::from_std(listener).expect("proxy: tokio listener");
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = listener.accept() => r,
        };
        let Ok((client, _)) = accepted else {
            // e.g. EMFILE: back off instead of spinning
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        shared.live.fetch_add(1, Ordering::SeqCst);
        let guard = LiveGuard(shared.clone());
        if shared.blocked.load(Ordering::SeqCst) {
            drop(client); // accepted and dropped at once
            continue;
        }
        tokio::spawn(forward(client, target, blocked.clone(), guard));
    }
}

async fn forward(
    mut client: TcpStream,
    target: SocketAddr,
    mut blocked: watch::Receiver<bool>,
    _guard: LiveGuard,
) {
    let _ = client.set_nodelay(true);
    let cut = async move {
        let _ = blocked.wait_for(|b| *b).await;
    };
    tokio::pin!(cut);
    let mut server = tokio::select! {
        _ = &mut cut => return,
        r = TcpStream::connect(target) => match r {
            Ok(s) => s,
            Err(_) => return, // target down: the client sees the connection close
        },
    };
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = &mut cut => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
    // both sockets close here (and the guard stops counting this connection)
}

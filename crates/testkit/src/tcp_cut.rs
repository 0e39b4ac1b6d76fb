//! A TCP proxy in front of a database that, once, cuts or holds the connection at a chosen point of a batch,
//! and records that the point was reached (a fault test must prove the fault met work in flight).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Closes the connection once more than this many client bytes would have passed.
    AfterBytes(usize),
    /// Closes the connection instead of passing on its COMMIT: the server rolls the transaction back.
    BeforeCommit,
    /// Passes the COMMIT on, then closes before the client hears the answer: the outcome is unknown to it.
    AfterCommit,
    /// Keeps the COMMIT and the connection (the client waits) until the client goes away — a killed process.
    HoldCommit,
}

pub struct TcpCut {
    pub address: String,
    /// How many times the cut happened (at most once per proxy).
    pub cuts: Arc<AtomicUsize>,
    /// Client bytes passed on, on the connection that was cut, before the cut.
    pub bytes_at_cut: Arc<AtomicUsize>,
}

impl TcpCut {
    pub fn start(upstream: &str, cut: Cut) -> TcpCut {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = TcpCut {
            address: listener.local_addr().unwrap().to_string(),
            cuts: Arc::default(),
            bytes_at_cut: Arc::default(),
        };
        let (cuts, bytes_at_cut, upstream) = (proxy.cuts.clone(), proxy.bytes_at_cut.clone(), upstream.to_owned());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = TcpStream::connect(&upstream).unwrap_or_else(|e| panic!("{upstream}: {e}"));
                let (cuts, bytes_at_cut) = (cuts.clone(), bytes_at_cut.clone());
                std::thread::spawn(move || pipe(client, server, cut, &cuts, &bytes_at_cut));
            }
        });
        proxy
    }

    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }

    pub fn bytes_at_cut(&self) -> usize {
        self.bytes_at_cut.load(Ordering::SeqCst)
    }

    /// `url` (scheme://user:password@host:port/db) through this proxy, in plain text so it sees the statements.
    pub fn url(&self, url: &str) -> String {
        let host = url.split('@').nth(1).unwrap().split('/').next().unwrap();
        format!("{}?sslmode=disable", url.replace(host, &self.address))
    }
}

/// `host:port` of a database URL.
pub fn url_address(url: &str) -> String {
    url.split('@').nth(1).unwrap().split('/').next().unwrap().to_owned()
}

fn pipe(mut client: TcpStream, mut server: TcpStream, cut: Cut, cuts: &AtomicUsize, bytes_at_cut: &AtomicUsize) {
    // Set before a COMMIT is passed on (AfterCommit): its answer and all after it are swallowed, the connection
    // kept open so the client waits until the cut.
    let swallow = Arc::new(AtomicBool::new(false));
    let (mut from_server, mut to_client) = (server.try_clone().unwrap(), client.try_clone().unwrap());
    let swallowing = swallow.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_server.read(&mut buf) {
            if n == 0 || (!swallowing.load(Ordering::SeqCst) && to_client.write_all(&buf[..n]).is_err()) {
                break;
            }
        }
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut passed = 0usize;
    let mark = |passed: usize| {
        bytes_at_cut.store(passed, Ordering::SeqCst);
        cuts.fetch_add(1, Ordering::SeqCst);
    };
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let untouched = cuts.load(Ordering::SeqCst) == 0;
        let commit = untouched && buf[..n].windows(6).any(|w| w == b"COMMIT");
        match cut {
            Cut::AfterBytes(limit) if untouched && passed + n > limit => {
                mark(passed);
                break;
            }
            Cut::BeforeCommit if commit => {
                mark(passed);
                break;
            }
            Cut::HoldCommit if commit => {
                mark(passed);
                // Until the client is gone; then the server loses the connection with the transaction open.
                while matches!(client.read(&mut buf), Ok(n) if n > 0) {}
                break;
            }
            _ => {}
        }
        let after_commit = cut == Cut::AfterCommit && commit;
        if after_commit {
            swallow.store(true, Ordering::SeqCst);
        }
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
        passed += n;
        if after_commit {
            std::thread::sleep(Duration::from_millis(200));
            mark(passed);
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
}

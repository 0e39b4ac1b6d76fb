//! Helpers shared by the integration tests. Server addresses come from the variables `scripts/services.sh`
//! writes, with its loopback defaults; nothing here skips a test when a server is missing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The environment variable `name`, or `default`.
pub fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A name no other test run uses (indices, topics): `prefix-<pid>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file in the Python venv `scripts/services.sh` installs the test servers and tools into.
pub fn venv_path(relative: &str) -> String {
    let venv = var("CKD_VENV", &format!("{}/.cache/ckafka-dump/venv", var("HOME", "/root")));
    format!("{venv}/{relative}")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process a test started; killed when the test ends, pass or fail.
pub struct Owned(pub Child);

impl Owned {
    /// Starts `program args…` with stdout and stderr discarded; panics naming the program when it cannot.
    pub fn spawn(program: &str, args: &[&str], hint: &str) -> Owned {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Owned)
            .unwrap_or_else(|e| panic!("cannot start {program} ({hint}): {e}"))
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

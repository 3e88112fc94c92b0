//! Log capture for backend tests: what a node logged, searchable by the test that made it
//! refuse something.

use std::sync::Mutex;

/// Every line logged since [`capture`] in this test binary.
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Log to the test output when `RUST_LOG` is set.
pub fn to_test_output() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Capture the lines `filter` (an `EnvFilter` directive such as
/// `zk_transport_tcp=debug,zk_transport=debug`) lets through, for [`lines`].
pub fn capture(filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(|| Capture)
        .try_init();
}

/// The captured lines that contain every one of `needles`.
pub fn lines(needles: &[&str]) -> Vec<String> {
    let all = CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    String::from_utf8_lossy(&all)
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_owned)
        .collect()
}

/// `n` distinct loopback TCP addresses that were free a moment ago.
pub fn free_tcp_addrs(n: usize) -> Vec<std::net::SocketAddr> {
    // Hold every listener until all are picked, so no port is handed out twice.
    let held: Vec<std::net::TcpListener> = (0..n)
        .filter_map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .collect();
    held.iter().filter_map(|l| l.local_addr().ok()).collect()
}

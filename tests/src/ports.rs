//! Free loopback ports for test servers.
//!
//! Ports come from below the kernel's ephemeral range (32768+ on Linux), so an outgoing
//! connection can never have taken a port a server is about to listen on. Each test process
//! starts at its own offset and checks every port by binding it.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

const LOW: u32 = 10_000;
const SPAN: u32 = 20_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    let start = (std::process::id().wrapping_mul(2654435761)) % SPAN;
    loop {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + k * 7) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

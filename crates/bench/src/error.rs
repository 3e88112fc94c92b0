//! The errors of the library part of `zk-bench`.

use std::time::Duration;

use zk_jute::{DecodeError, FrameError};

/// Why a connection to a server failed or was given up. Every one of these ends the
/// connection; a session reports it and reconnects.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// A socket error (refused, reset, ...).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// Nothing arrived from the server for this long (two thirds of the session timeout,
    /// as ZooKeeper's client counts it), although it owed replies or pings.
    #[error("nothing received for {0:?}")]
    Timeout(Duration),
    /// The connect handshake did not complete in time.
    #[error("no connect response within {0:?}")]
    HandshakeTimeout(Duration),
    /// The server answered the handshake with session id 0: the session to resume has
    /// expired (or the server refused it).
    #[error("the server refused or expired the session")]
    SessionRefused,
    /// A frame announced a length the framer refuses.
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    /// A frame could not be decoded.
    #[error("undecodable reply: {0}")]
    Decode(#[from] DecodeError),
    /// A reply's xid is not the one of the oldest outstanding request (ZooKeeper answers a
    /// session's requests in order).
    #[error("reply xid {got} while the oldest outstanding request is {expected:?}")]
    XidOutOfOrder {
        /// The xid in the reply.
        got: i32,
        /// The xid expected, if any request was outstanding.
        expected: Option<i32>,
    },
}

/// Why a benchmark could not run (bad settings, or the setup or cleanup of its root failed).
/// Server errors during the measured run are counted, never returned.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The settings are inconsistent.
    #[error("invalid settings: {0}")]
    Config(String),
    /// No session could be established for setup or cleanup.
    #[error("connecting to {host}: {source}")]
    Connect {
        /// The server tried.
        host: String,
        /// What went wrong.
        #[source]
        source: ConnError,
    },
    /// A setup or cleanup request failed with a ZooKeeper error code.
    #[error("{what}: ZooKeeper error {code} ({name})")]
    Server {
        /// What was being done.
        what: String,
        /// The error code.
        code: i32,
        /// Its name.
        name: String,
    },
    /// A setup or cleanup step did not finish in time.
    #[error("{0} did not finish in time")]
    Stalled(String),
    /// Writing the JSON results failed.
    #[error("writing {path}: {source}")]
    Output {
        /// The file.
        path: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

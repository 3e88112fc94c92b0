//! A harness for real-process tests: `zk-server` ensembles on loopback, driven the way an
//! operator would (configs on disk, `srvr` on the client port, `kill -9`, restart from the
//! data directory).
//!
//! The binary under test is passed in (`env!("CARGO_BIN_EXE_zk-server")` from the server's
//! own integration tests), so this crate does not depend on the server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod netem;
pub mod ports;
pub mod process;
pub mod reference;
pub mod zkclient;

pub use process::{Ensemble, EnsembleSpec, NodeProc};

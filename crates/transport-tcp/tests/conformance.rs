//! The transport conformance suite over real TCP connections on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TcpHarness, TlsTcpHarness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    common::logs();
    zk_transport::testing::suite(TcpHarness::new).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_with_ssl_quorum() {
    common::logs();
    zk_transport::testing::suite(TlsTcpHarness::new).await;
}

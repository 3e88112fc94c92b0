//! The transport conformance suite over real gRPC connections with mutual TLS on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::GrpcHarness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    common::logs();
    zk_transport::testing::suite(GrpcHarness::new).await;
}

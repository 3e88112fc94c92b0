//! The in-memory backend keeps the whole transport contract.

use zk_transport::mem::{MemInbound, MemNetwork, MemTransport};
use zk_transport::testing::{Harness, suite};
use zk_transport::{ChannelSpecs, PeerId};

struct MemHarness(MemNetwork);

impl Harness for MemHarness {
    type Tx = MemTransport;
    type Rx = MemInbound;
    async fn start(&mut self, id: PeerId, specs: ChannelSpecs) -> (MemTransport, MemInbound) {
        // A small inbound queue so a node that stops reading backs up quickly.
        self.0.start(id, specs)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mem_backend_passes_the_conformance_suite() {
    suite(|| MemHarness(MemNetwork::new().with_inbound_events(64))).await;
}

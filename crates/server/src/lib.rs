//! The zk-rs server: reads `zoo.cfg`, joins the ensemble over the configured peer transport,
//! elects a leader with Fast Leader Election, replicates the data tree with ZAB, and serves
//! ZooKeeper's client protocol and four-letter words on the client port.

pub mod certs;
pub mod client;
pub mod client_port;
pub mod config;
pub mod dev;
pub mod fourlw;
pub mod node;
pub mod peer;
pub mod status;

//! The zk-rs server: reads `zoo.cfg`, joins the ensemble over the configured peer transport,
//! elects a leader with Fast Leader Election, and answers ZooKeeper's four-letter words on the
//! client port.

pub mod client_port;
pub mod config;
pub mod dev;
pub mod fourlw;
pub mod node;
pub mod replicated;
pub mod status;
pub mod test_port;

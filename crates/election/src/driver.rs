//! A tokio driver: runs a [`Peer`] over any [`Transport`], persisting epochs in an
//! [`EpochStore`] and publishing [`Status`] through a `tokio::sync::watch` channel.
//!
//! The driver only shuttles events: link events in, actions out, a sleep until the core's
//! next deadline. Persist actions are written synchronously, before any later action is
//! performed, so an ack can never leave before the epoch it acknowledges is durable.

use crate::peer::{Action, Input, Peer, PeerConfig, Status};
use crate::time::Millis;
use crate::vote::ServerState;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::time::Instant;
use zk_transport::links::{CurrentLinks, LinkChange};
use zk_transport::{Channel, Inbound, LinkEvent, PeerId, Transport};

/// The two durable epochs of a server.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Epochs {
    /// `acceptedEpoch`: the last epoch this server acknowledged (or proposed as leader).
    pub accepted: u64,
    /// `currentEpoch`: the last epoch this server saw established.
    pub current: u64,
}

/// Durable storage for the two epochs. A save returns only once the value is durable.
pub trait EpochStore: Send {
    /// The stored epochs (zero for those never written).
    fn load(&self) -> io::Result<Epochs>;
    /// Durably record `acceptedEpoch`.
    fn save_accepted(&mut self, epoch: u64) -> io::Result<()>;
    /// Durably record `currentEpoch`.
    fn save_current(&mut self, epoch: u64) -> io::Result<()>;
}

/// ZooKeeper's layout: files `acceptedEpoch` and `currentEpoch` in a data directory, each
/// holding a decimal number, replaced atomically (write a temp file, fsync, rename, fsync the
/// directory).
#[derive(Clone, Debug)]
pub struct FileEpochStore {
    dir: PathBuf,
}

/// The file name of the accepted epoch.
pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";
/// The file name of the current epoch.
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";

impl FileEpochStore {
    /// A store in `dir` (created if missing).
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        fs::create_dir_all(dir.as_ref())?;
        Ok(Self {
            dir: dir.as_ref().to_path_buf(),
        })
    }

    fn read(&self, name: &str) -> io::Result<u64> {
        match fs::read_to_string(self.dir.join(name)) {
            Ok(s) => s
                .trim()
                .parse()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {e}"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn write(&self, name: &str, value: u64) -> io::Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(value.to_string().as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(name))?;
        // Make the rename itself durable.
        File::open(&self.dir)?.sync_all()
    }
}

impl EpochStore for FileEpochStore {
    fn load(&self) -> io::Result<Epochs> {
        Ok(Epochs {
            accepted: self.read(ACCEPTED_EPOCH_FILE)?,
            current: self.read(CURRENT_EPOCH_FILE)?,
        })
    }

    fn save_accepted(&mut self, epoch: u64) -> io::Result<()> {
        self.write(ACCEPTED_EPOCH_FILE, epoch)
    }

    fn save_current(&mut self, epoch: u64) -> io::Result<()> {
        self.write(CURRENT_EPOCH_FILE, epoch)
    }
}

/// An in-memory store for tests; clones share the same epochs.
#[derive(Clone, Debug, Default)]
pub struct MemEpochStore {
    inner: Arc<Mutex<Epochs>>,
}

impl MemEpochStore {
    /// A store holding `epochs`.
    pub fn new(epochs: Epochs) -> Self {
        Self {
            inner: Arc::new(Mutex::new(epochs)),
        }
    }

    /// The stored epochs.
    pub fn epochs(&self) -> Epochs {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Epochs)) {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

impl EpochStore for MemEpochStore {
    fn load(&self) -> io::Result<Epochs> {
        Ok(self.epochs())
    }

    fn save_accepted(&mut self, epoch: u64) -> io::Result<()> {
        self.update(|e| e.accepted = epoch);
        Ok(())
    }

    fn save_current(&mut self, epoch: u64) -> io::Result<()> {
        self.update(|e| e.current = epoch);
        Ok(())
    }
}

/// Why the driver stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// An epoch could not be made durable; continuing could break the epoch rule.
    #[error("cannot persist {which}: {source}")]
    Persist {
        /// `acceptedEpoch` or `currentEpoch`.
        which: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Runs one server's election over a transport. Build with [`Driver::new`], take a
/// [`Driver::status`] receiver, then `.await` [`Driver::run`] (typically in a spawned task).
///
/// `config.accepted_epoch` and `config.current_epoch` should come from the store's
/// [`EpochStore::load`].
#[derive(Debug)]
pub struct Driver<T, R, S> {
    config: PeerConfig,
    transport: T,
    inbound: R,
    store: S,
    status_tx: watch::Sender<Status>,
}

impl<T: Transport, R: Inbound, S: EpochStore> Driver<T, R, S> {
    /// A driver for `config` over `transport`/`inbound`, persisting to `store`.
    pub fn new(config: PeerConfig, transport: T, inbound: R, store: S) -> Self {
        let initial = Status {
            me: config.me,
            state: ServerState::Looking,
            leader: None,
            election_round: 0,
            established_epoch: None,
            accepted_epoch: config.accepted_epoch,
            current_epoch: config.current_epoch,
        };
        let (status_tx, _) = watch::channel(initial);
        Self {
            config,
            transport,
            inbound,
            store,
            status_tx,
        }
    }

    /// A receiver of every status change.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status_tx.subscribe()
    }

    /// Run until the inbound stream ends (transport shutdown) or persisting fails.
    pub async fn run(self) -> Result<(), DriverError> {
        let me = self.config.me;
        // The caller's span (for example the server's) stays the parent of every role span.
        let outer = tracing::Span::current();
        let inner = Running {
            origin: Instant::now(),
            transport: self.transport,
            store: self.store,
            status_tx: self.status_tx,
            links: CurrentLinks::new(),
            span: role_span(&outer, me, ServerState::Looking),
            outer,
            me,
        };
        inner.run(self.config, self.inbound).await
    }
}

struct Running<T, S> {
    origin: Instant,
    transport: T,
    store: S,
    status_tx: watch::Sender<Status>,
    links: CurrentLinks,
    /// The span of the current role; replaced (not re-recorded) when the role changes, so
    /// every log line names the role the server had when it was written.
    span: tracing::Span,
    outer: tracing::Span,
    me: PeerId,
}

fn role_span(outer: &tracing::Span, me: PeerId, role: ServerState) -> tracing::Span {
    tracing::info_span!(parent: outer, "election", server = %me, role = role.as_str())
}

impl<T: Transport, S: EpochStore> Running<T, S> {
    fn now(&self) -> Millis {
        Millis(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    async fn run<R: Inbound>(
        mut self,
        config: PeerConfig,
        mut inbound: R,
    ) -> Result<(), DriverError> {
        let members: Vec<PeerId> = config
            .verifier
            .members()
            .filter(|&p| p != config.me)
            .collect();
        for &p in &members {
            for ch in Channel::ALL {
                self.transport.connect(p, ch);
            }
        }
        let mut peer = Peer::new(config.clone(), self.now());
        loop {
            self.span.clone().in_scope(|| self.perform(&mut peer))?;
            let deadline = peer.poll_timeout();
            let sleep_until = deadline.map(|d| self.origin + std::time::Duration::from_millis(d.0));
            tokio::select! {
                ev = inbound.next() => match ev {
                    None => {
                        tracing::debug!("inbound stream ended: stopping");
                        return Ok(());
                    }
                    Some(ev) => self.span.clone().in_scope(|| self.on_event(&mut peer, &config, ev)),
                },
                () = sleep_or_forever(sleep_until) => peer.handle(self.now(), Input::Timeout),
            }
        }
    }

    fn on_event(&mut self, core: &mut Peer, config: &PeerConfig, ev: LinkEvent) {
        let link = ev.link();
        if link.peer == config.me || !config.verifier.is_member(link.peer) {
            tracing::debug!(%link, "event from an unconfigured server: ignored");
            return;
        }
        let now = self.now();
        match self.links.observe(ev) {
            LinkChange::Up {
                peer,
                channel,
                replaced,
            } => {
                if replaced {
                    core.handle(now, Input::LinkDown { peer, channel });
                }
                core.handle(now, Input::LinkUp { peer, channel });
            }
            LinkChange::Frame {
                peer,
                channel,
                frame,
            } => {
                core.handle(
                    now,
                    Input::Frame {
                        peer,
                        channel,
                        frame,
                    },
                );
            }
            LinkChange::Down {
                peer,
                channel,
                reason,
            } => {
                tracing::debug!(%peer, ?channel, ?reason, "link down");
                core.handle(now, Input::LinkDown { peer, channel });
            }
            LinkChange::Stale(link) => {
                tracing::debug!(%link, "event of a stale incarnation: dropped")
            }
        }
    }

    fn perform(&mut self, peer: &mut Peer) -> Result<(), DriverError> {
        while let Some(action) = peer.poll_action() {
            match action {
                Action::Send { to, channel, frame } => {
                    if let Err(e) = self.links.send(&self.transport, to, channel, frame) {
                        tracing::debug!(peer = %to, ?channel, error = %e, "send failed: frame dropped");
                    }
                }
                Action::PersistAcceptedEpoch(e) => {
                    self.store
                        .save_accepted(e)
                        .map_err(|source| DriverError::Persist {
                            which: "acceptedEpoch",
                            source,
                        })?
                }
                Action::PersistCurrentEpoch(e) => {
                    self.store
                        .save_current(e)
                        .map_err(|source| DriverError::Persist {
                            which: "currentEpoch",
                            source,
                        })?
                }
                Action::Elected(d) => {
                    tracing::info!(state = %d.state, vote = %d.vote, round = d.election_epoch, "election decided");
                }
                Action::Established { epoch, quorum } => {
                    tracing::info!(epoch, ?quorum, "established as leader");
                }
                Action::StateChanged(status) => {
                    let before = self.status_tx.borrow().clone();
                    if status.state != before.state {
                        self.span = role_span(&self.outer, self.me, status.state);
                    }
                    match (before.established_epoch, status.established_epoch) {
                        (None, Some(epoch)) => self.span.in_scope(|| {
                            tracing::info!(epoch, leader = ?status.leader.map(|l| l.0), "serving")
                        }),
                        (Some(epoch), None) => self.span.in_scope(|| {
                            tracing::info!(epoch, "stopped serving: the leader or the quorum was lost")
                        }),
                        _ => {}
                    }
                    tracing::debug!(?status, "status");
                    self.status_tx.send_replace(status);
                }
            }
        }
        Ok(())
    }
}

async fn sleep_or_forever(until: Option<Instant>) {
    match until {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn file_store_round_trips_and_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileEpochStore::open(dir.path().join("data")).unwrap();
        assert_eq!(s.load().unwrap(), Epochs::default());
        s.save_accepted(7).unwrap();
        s.save_current(5).unwrap();
        s.save_accepted(8).unwrap();
        let again = FileEpochStore::open(dir.path().join("data")).unwrap();
        assert_eq!(
            again.load().unwrap(),
            Epochs {
                accepted: 8,
                current: 5
            }
        );
        let text = fs::read_to_string(dir.path().join("data").join(ACCEPTED_EPOCH_FILE)).unwrap();
        assert_eq!(text, "8");
        assert!(!dir.path().join("data").join("acceptedEpoch.tmp").exists());
    }

    #[test]
    fn file_store_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CURRENT_EPOCH_FILE), "not a number").unwrap();
        let s = FileEpochStore::open(dir.path()).unwrap();
        assert_eq!(s.load().unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn mem_store_clones_share() {
        let a = MemEpochStore::default();
        let mut b = a.clone();
        b.save_accepted(3).unwrap();
        b.save_current(2).unwrap();
        assert_eq!(
            a.epochs(),
            Epochs {
                accepted: 3,
                current: 2
            }
        );
    }
}

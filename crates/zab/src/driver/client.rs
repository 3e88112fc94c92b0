//! [`ClientHandle`]: how clients submit writes and syncs to a running driver.

use crate::proto::server::{Phase, Status};
use crate::txn::Zxid;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

/// Why a client request was not taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// This server is not serving (electing or syncing): retry later or elsewhere.
    #[error("this server is not serving: no established leader")]
    NotServing,
    /// The request queue is full: retry later.
    #[error("this server's request queue is full")]
    Busy,
    /// The driver has stopped.
    #[error("this server has stopped")]
    Stopped,
}

/// A request from a [`ClientHandle`] to the driver.
#[derive(Debug)]
pub(super) enum Request {
    Write(Bytes),
    Note(Bytes),
    Sync(oneshot::Sender<Result<Zxid, ClientError>>),
}

/// Submits writes and syncs to a running [`Driver`](super::Driver) and observes it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClientHandle {
    pub(super) tx: mpsc::Sender<Request>,
    pub(super) status: watch::Receiver<Status>,
    pub(super) applied: watch::Receiver<Zxid>,
}

impl ClientHandle {
    /// Queues a write. `Ok` means only that it was queued: a leader proposes it, a follower
    /// forwards it to its leader. It is committed once it shows up as applied (see
    /// [`applied`](Self::applied); the zxid is assigned by the leader, so a caller that
    /// needs to know *its* write was applied must recognise it in the state machine).
    ///
    /// ZAB drops writes while no leader is in session: this returns
    /// [`ClientError::NotServing`] when the server is not in broadcast, and a write queued
    /// just before the server stops serving, or forwarded to a leader that fails before
    /// committing it, is silently lost. Callers retry after checking the state.
    /// [`ClientError::Busy`] when the queue is full, [`ClientError::Stopped`] after the
    /// driver ended.
    pub fn write(&self, payload: impl Into<Bytes>) -> Result<(), ClientError> {
        if self.tx.is_closed() {
            return Err(ClientError::Stopped);
        }
        if self.status.borrow().phase != Phase::Broadcast {
            return Err(ClientError::NotServing);
        }
        self.tx
            .try_send(Request::Write(payload.into()))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ClientError::Busy,
                mpsc::error::TrySendError::Closed(_) => ClientError::Stopped,
            })
    }

    /// Like [`write`](Self::write), but waits for room in the queue instead of answering
    /// [`ClientError::Busy`]: the caller is held back while the server is saturated (as
    /// ZooKeeper stops reading from clients), rather than turned away.
    pub async fn write_wait(&self, payload: impl Into<Bytes>) -> Result<(), ClientError> {
        if self.status.borrow().phase != Phase::Broadcast {
            return Err(ClientError::NotServing);
        }
        self.tx
            .send(Request::Write(payload.into()))
            .await
            .map_err(|_| ClientError::Stopped)
    }

    /// Sends an opaque note to the leader's [`StateMachine::learner_note`]
    /// (crate::state_machine::StateMachine::learner_note), e.g. the sessions this server
    /// kept alive. Dropped when no leader is in session; [`ClientError::Busy`] when the
    /// queue is full.
    pub fn note_to_leader(&self, note: impl Into<Bytes>) -> Result<(), ClientError> {
        self.tx
            .try_send(Request::Note(note.into()))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ClientError::Busy,
                mpsc::error::TrySendError::Closed(_) => ClientError::Stopped,
            })
    }

    /// ZooKeeper's `sync`: returns once this server applied every txn the leader had
    /// committed when it saw the request, with the zxid applied here at that point.
    /// [`ClientError::NotServing`] if the server is not serving or stops serving before the
    /// answer (the request is then lost: retry).
    pub async fn sync(&self) -> Result<Zxid, ClientError> {
        if self.status.borrow().phase != Phase::Broadcast {
            return Err(ClientError::NotServing);
        }
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Sync(tx))
            .await
            .map_err(|_| ClientError::Stopped)?;
        rx.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// A receiver of every status change (role, phase, leader, epochs).
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// A receiver of the last applied zxid (the state machine's `last_applied`).
    pub fn applied(&self) -> watch::Receiver<Zxid> {
        self.applied.clone()
    }
}

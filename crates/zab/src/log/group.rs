//! [`GroupCommit`]: a writer thread that makes many appends durable with one fsync.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::txnlog::check_batch;
use super::{LogError, LogReader, TxnLog};
use crate::txn::{Txn, Zxid};

/// How durable the log is, as published by the [`GroupCommit`] writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every appended txn with a zxid up to this one (and not since truncated) is on disk.
    /// It only goes down through [`CommitHandle::truncate_after`].
    Durable(Zxid),
    /// A write or fsync failed: no txn after the last `Durable` is durable, and the log
    /// accepts no more writes. The reason names the OS error.
    Failed(String),
}

/// Settings of a [`GroupCommit`].
#[derive(Clone, Debug)]
pub struct CommitOptions {
    /// Requests the queue holds before [`CommitHandle::append`] returns
    /// [`LogError::QueueFull`]. One request may carry many txns. Default 1024.
    pub queue_capacity: usize,
}

impl Default for CommitOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
        }
    }
}

/// Counters of a [`GroupCommit`] writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Fsyncs done by the log (files and directory).
    pub fsyncs: u64,
    /// Batches written: each ends in one fsync of the log (when anything was written).
    pub batches: u64,
    /// Txns written and fsynced.
    pub txns_durable: u64,
}

/// The reply to a request queued to the writer.
#[derive(Debug)]
pub struct Reply<T>(oneshot::Receiver<Result<T, LogError>>);

impl<T> Reply<T> {
    /// Blocks the thread until the writer answers. Not for use inside an async runtime.
    pub fn wait(self) -> Result<T, LogError> {
        self.0.blocking_recv().unwrap_or(Err(LogError::Closed))
    }

    /// Waits for the writer's answer.
    pub async fn recv(self) -> Result<T, LogError> {
        self.0.await.unwrap_or(Err(LogError::Closed))
    }
}

enum Request {
    Append(Vec<Txn>),
    Truncate(Zxid, oneshot::Sender<Result<Zxid, LogError>>),
    Read(Zxid, oneshot::Sender<Result<LogReader, LogError>>),
    Purge(Zxid, oneshot::Sender<Result<usize, LogError>>),
    Shutdown,
}

/// What callers check before queueing, under one lock so queue order is zxid order.
struct Gate {
    last_queued: Zxid,
    failed: Option<String>,
}

struct Shared {
    gate: Mutex<Gate>,
    durability: Mutex<Durability>,
    changed: Condvar,
    watch: watch::Sender<Durability>,
    fsyncs: AtomicU64,
    batches: AtomicU64,
    txns_durable: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn publish(&self, d: Durability) {
        *lock(&self.durability) = d.clone();
        self.changed.notify_all();
        self.watch.send_replace(d);
    }

    fn fail(&self, err: &LogError) {
        let reason = err.to_string();
        tracing::error!(
            "transaction log writer stopped; this server no longer accepts writes: {reason}"
        );
        lock(&self.gate).failed = Some(reason.clone());
        self.publish(Durability::Failed(reason));
    }
}

/// A cloneable handle to queue requests to a [`GroupCommit`] writer.
#[derive(Clone)]
pub struct CommitHandle {
    tx: SyncSender<Request>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CommitHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitHandle")
            .field("durability", &self.durability())
            .finish()
    }
}

impl CommitHandle {
    /// Queues `txns` for writing without blocking and returns the zxid of the last one. Their
    /// zxids must increase, starting above every zxid queued before, else
    /// [`LogError::ZxidOrder`]. Fails with [`LogError::QueueFull`] if the queue is full and
    /// [`LogError::Failed`] once the log has failed. They are durable once
    /// [`durability`](Self::durability) reaches that zxid.
    pub fn append(&self, txns: Vec<Txn>) -> Result<Zxid, LogError> {
        let mut gate = lock(&self.shared.gate);
        if let Some(reason) = &gate.failed {
            return Err(LogError::Failed {
                reason: reason.clone(),
            });
        }
        let prev = check_batch(gate.last_queued, &txns)?;
        if txns.is_empty() {
            return Ok(prev);
        }
        match self.tx.try_send(Request::Append(txns)) {
            Ok(()) => {
                gate.last_queued = prev;
                Ok(prev)
            }
            Err(TrySendError::Full(_)) => Err(LogError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(LogError::Closed),
        }
    }

    /// Queues a truncation of every record above `zxid` (ZAB's TRUNC), after the appends
    /// queued before it. The reply carries the new last zxid once it is durable. Later
    /// appends must be above `zxid`.
    pub fn truncate_after(&self, zxid: Zxid) -> Result<Reply<Zxid>, LogError> {
        let mut gate = lock(&self.shared.gate);
        if let Some(reason) = &gate.failed {
            return Err(LogError::Failed {
                reason: reason.clone(),
            });
        }
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Request::Truncate(zxid, reply)) {
            Ok(()) => {
                gate.last_queued = gate.last_queued.min(zxid);
                Ok(Reply(rx))
            }
            Err(TrySendError::Full(_)) => Err(LogError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(LogError::Closed),
        }
    }

    /// Queues the deletion of whole segments whose records all lie below `zxid` (see
    /// [`TxnLog::purge_before`]); the reply is the number of segments removed.
    pub fn purge_before(&self, zxid: Zxid) -> Result<Reply<usize>, LogError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Request::Purge(zxid, reply)) {
            Ok(()) => Ok(Reply(rx)),
            Err(TrySendError::Full(_)) => Err(LogError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(LogError::Closed),
        }
    }

    /// Queues a request for a reader of every record above `after`, including the appends
    /// queued before it (see [`TxnLog::read_from`]).
    pub fn read_from(&self, after: Zxid) -> Result<Reply<LogReader>, LogError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Request::Read(after, reply)) {
            Ok(()) => Ok(Reply(rx)),
            Err(TrySendError::Full(_)) => Err(LogError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(LogError::Closed),
        }
    }

    /// The current durability.
    pub fn durability(&self) -> Durability {
        lock(&self.shared.durability).clone()
    }

    /// A receiver of every change of durability, for async code.
    pub fn subscribe(&self) -> watch::Receiver<Durability> {
        self.shared.watch.subscribe()
    }

    /// Blocks until `zxid` is durable (returning the durable zxid) or the log fails
    /// ([`LogError::Failed`]), for at most `timeout` (then `Ok` of the durable zxid so far,
    /// below `zxid`).
    pub fn wait_durable(&self, zxid: Zxid, timeout: Duration) -> Result<Zxid, LogError> {
        let deadline = Instant::now() + timeout;
        let mut d = lock(&self.shared.durability);
        loop {
            match &*d {
                Durability::Failed(reason) => {
                    return Err(LogError::Failed {
                        reason: reason.clone(),
                    });
                }
                Durability::Durable(z) if *z >= zxid => return Ok(*z),
                Durability::Durable(z) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Ok(*z);
                    }
                    d = self
                        .shared
                        .changed
                        .wait_timeout(d, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }

    /// Waits until `zxid` is durable (returning the durable zxid) or the log fails.
    pub async fn durable(&self, zxid: Zxid) -> Result<Zxid, LogError> {
        let mut rx = self.subscribe();
        let d = rx
            .wait_for(|d| match d {
                Durability::Durable(z) => *z >= zxid,
                Durability::Failed(_) => true,
            })
            .await
            .map_err(|_| LogError::Closed)?
            .clone();
        match d {
            Durability::Durable(z) => Ok(z),
            Durability::Failed(reason) => Err(LogError::Failed { reason }),
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> CommitStats {
        CommitStats {
            fsyncs: self.shared.fsyncs.load(Ordering::Relaxed),
            batches: self.shared.batches.load(Ordering::Relaxed),
            txns_durable: self.shared.txns_durable.load(Ordering::Relaxed),
        }
    }
}

/// A [`TxnLog`] owned by a dedicated writer thread doing group commit.
///
/// The thread takes everything queued (up to the next truncate or read request), writes it,
/// fsyncs once and publishes [`Durability::Durable`] of the last zxid. On a failed write or
/// fsync it publishes [`Durability::Failed`], drops the txns of that batch and everything
/// queued after, and refuses all later writes. Dropping it shuts the writer down like
/// [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct GroupCommit {
    handle: CommitHandle,
    thread: Option<JoinHandle<TxnLog>>,
}

impl GroupCommit {
    /// Starts the writer thread for `log`.
    pub fn start(log: TxnLog, opts: CommitOptions) -> Result<Self, LogError> {
        let initial = match log.failure() {
            Some(reason) => Durability::Failed(reason.to_owned()),
            None => Durability::Durable(log.durable_zxid()),
        };
        let shared = Arc::new(Shared {
            gate: Mutex::new(Gate {
                last_queued: log.last_zxid(),
                failed: log.failure().map(str::to_owned),
            }),
            durability: Mutex::new(initial.clone()),
            changed: Condvar::new(),
            watch: watch::Sender::new(initial),
            fsyncs: AtomicU64::new(log.fsyncs()),
            batches: AtomicU64::new(0),
            txns_durable: AtomicU64::new(0),
        });
        let capacity = opts.queue_capacity.max(1);
        let (tx, rx) = mpsc::sync_channel(capacity);
        let dir = log.dir().to_owned();
        let writer_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("zk-txnlog".to_owned())
            .spawn(move || run(log, &rx, &writer_shared, capacity))
            .map_err(|error| LogError::Io {
                op: "spawn writer thread for",
                path: dir,
                error,
            })?;
        Ok(Self {
            handle: CommitHandle { tx, shared },
            thread: Some(thread),
        })
    }

    /// A handle to queue requests from other threads.
    pub fn handle(&self) -> CommitHandle {
        self.handle.clone()
    }

    /// Makes everything queued durable, stops the writer and returns the log. Fails with
    /// [`LogError::Failed`] if the log had failed.
    pub fn shutdown(mut self) -> Result<TxnLog, LogError> {
        let log = self.stop()?;
        match log.failure() {
            Some(reason) => Err(LogError::Failed {
                reason: reason.to_owned(),
            }),
            None => Ok(log),
        }
    }

    fn stop(&mut self) -> Result<TxnLog, LogError> {
        let Some(thread) = self.thread.take() else {
            return Err(LogError::Closed);
        };
        // A blocking send: waits for room in the queue. Fails only if the writer is gone.
        let _ = self.handle.tx.send(Request::Shutdown);
        thread.join().map_err(|_| LogError::Failed {
            reason: "the writer thread panicked".to_owned(),
        })
    }
}

impl std::ops::Deref for GroupCommit {
    type Target = CommitHandle;

    fn deref(&self) -> &CommitHandle {
        &self.handle
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}

/// Appends one request's txns; false (after recording the failure) if the log failed.
fn append(log: &mut TxnLog, txns: &[Txn], shared: &Shared) -> bool {
    match log.append(txns) {
        Ok(()) => true,
        Err(e) => {
            shared.fail(&e);
            false
        }
    }
}

/// Fsyncs what was appended and publishes the result.
fn commit(log: &mut TxnLog, shared: &Shared, txns: u64) {
    let result = log.sync();
    shared.fsyncs.store(log.fsyncs(), Ordering::Relaxed);
    match result {
        Ok(z) => {
            if txns > 0 {
                shared.batches.fetch_add(1, Ordering::Relaxed);
            }
            shared.txns_durable.fetch_add(txns, Ordering::Relaxed);
            shared.publish(Durability::Durable(z));
        }
        Err(e) => shared.fail(&e),
    }
}

/// The writer loop. A batch takes at most `max_batch` requests, so a steady stream of
/// appends cannot postpone its fsync forever.
fn run(mut log: TxnLog, rx: &Receiver<Request>, shared: &Shared, max_batch: usize) -> TxnLog {
    let mut next: Option<Request> = None;
    let mut failed = log.failure().is_some();
    loop {
        let request = match next.take() {
            Some(r) => r,
            None => match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            },
        };
        match request {
            Request::Append(txns) => {
                let mut count = txns.len() as u64;
                failed = failed || !append(&mut log, &txns, shared);
                // Take everything already queued into the same batch, up to a request that
                // is not an append.
                let mut taken = 1;
                while taken < max_batch
                    && let Ok(r) = rx.try_recv()
                {
                    taken += 1;
                    match r {
                        Request::Append(txns) => {
                            count += txns.len() as u64;
                            failed = failed || !append(&mut log, &txns, shared);
                        }
                        other => {
                            next = Some(other);
                            break;
                        }
                    }
                }
                if !failed {
                    commit(&mut log, shared, count);
                    failed = log.failure().is_some();
                }
            }
            Request::Truncate(zxid, reply) => {
                let result = if failed {
                    let reason = lock(&shared.gate).failed.clone().unwrap_or_default();
                    Err(LogError::Failed { reason })
                } else {
                    let r = log.truncate_after(zxid);
                    shared.fsyncs.store(log.fsyncs(), Ordering::Relaxed);
                    match &r {
                        Ok(z) => shared.publish(Durability::Durable(*z)),
                        Err(e) => {
                            if log.failure().is_some() {
                                failed = true;
                                shared.fail(e);
                            }
                        }
                    }
                    r
                };
                let _ = reply.send(result);
            }
            Request::Read(after, reply) => {
                let _ = reply.send(log.read_from(after));
            }
            Request::Purge(zxid, reply) => {
                let _ = reply.send(log.purge_before(zxid));
            }
            Request::Shutdown => break,
        }
    }
    if !failed {
        commit(&mut log, shared, 0);
    }
    log
}

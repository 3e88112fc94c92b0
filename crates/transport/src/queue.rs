//! The bounded per-link send queue that backends put between `try_send` and the wire.
//!
//! `try_send` never blocks: it pushes here under a short lock, and one writer task per link
//! pops. The policy of the channel ([`OnFull`]) decides what a full queue does.

use crate::{ChannelSpec, OnFull};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// Why a push failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue is full and the policy is [`OnFull::Reject`].
    Full,
    /// The queue was closed.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Bytes>,
    /// The bytes of `frames`.
    bytes: usize,
    closed: bool,
}

impl State {
    /// Whether `len` more bytes fit. A queue that is empty always takes one frame, so a frame
    /// up to `max_frame` goes out even when it alone exceeds the byte budget.
    fn fits(&self, len: usize, frames: usize, bytes: usize) -> bool {
        self.frames.is_empty() || (self.frames.len() < frames && self.bytes + len <= bytes)
    }

    fn pop(&mut self) -> Option<Bytes> {
        let f = self.frames.pop_front()?;
        self.bytes -= f.len();
        Some(f)
    }
}

/// A bounded FIFO of frames with one consumer.
#[derive(Debug)]
pub struct LinkQueue {
    state: Mutex<State>,
    /// Wakes the consumer after a push or close.
    filled: Notify,
    /// Wakes producers waiting in [`LinkQueue::ready`] after a pop or close.
    drained: Notify,
    capacity: usize,
    budget: usize,
    on_full: OnFull,
}

impl LinkQueue {
    /// A queue following `spec` (`queue_frames` is at least 1).
    pub fn new(spec: ChannelSpec) -> Self {
        Self {
            state: Mutex::new(State::default()),
            filled: Notify::new(),
            drained: Notify::new(),
            capacity: spec.queue_frames.max(1),
            budget: spec.queue_bytes.max(1),
            on_full: spec.on_full,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-push; the deque is still valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue one frame, applying the channel policy when full.
    pub fn push(&self, frame: Bytes) -> Result<(), PushError> {
        {
            let mut s = self.lock();
            if s.closed {
                return Err(PushError::Closed);
            }
            while !s.fits(frame.len(), self.capacity, self.budget) {
                match self.on_full {
                    OnFull::Reject => return Err(PushError::Full),
                    OnFull::DropOldest => {
                        s.pop();
                    }
                }
            }
            s.bytes += frame.len();
            s.frames.push_back(frame);
        }
        self.filled.notify_one();
        Ok(())
    }

    /// The next frame, waiting for one; `None` once the queue is closed.
    pub async fn pop(&self) -> Option<Bytes> {
        loop {
            {
                let mut s = self.lock();
                if s.closed {
                    return None;
                }
                if let Some(f) = s.pop() {
                    drop(s);
                    self.drained.notify_waiters();
                    return Some(f);
                }
            }
            // Single consumer: a push between the check and here leaves a permit behind.
            self.filled.notified().await;
        }
    }

    /// Every frame queued now, without waiting (empty once closed).
    pub fn drain_now(&self) -> Vec<Bytes> {
        let mut s = self.lock();
        if s.closed {
            return Vec::new();
        }
        let out: Vec<Bytes> = s.frames.drain(..).collect();
        s.bytes = 0;
        drop(s);
        self.drained.notify_waiters();
        out
    }

    /// Resolves when one more frame fits (or the queue is closed: `Err(Closed)`).
    pub async fn ready(&self) -> Result<(), PushError> {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let s = self.lock();
                if s.closed {
                    return Err(PushError::Closed);
                }
                let room = s.frames.len() < self.capacity && s.bytes < self.budget;
                if room || self.on_full == OnFull::DropOldest {
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    /// Close the queue: pending frames are discarded, the consumer and producers wake.
    pub fn close(&self) {
        {
            let mut s = self.lock();
            s.closed = true;
            s.frames.clear();
            s.bytes = 0;
        }
        self.filled.notify_one();
        self.drained.notify_waiters();
    }

    /// Whether [`LinkQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Frames waiting now.
    pub fn len(&self) -> usize {
        self.lock().frames.len()
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: usize, on_full: OnFull) -> ChannelSpec {
        ChannelSpec {
            queue_frames: n,
            queue_bytes: 1 << 20,
            max_frame: 1024,
            on_full,
        }
    }

    #[tokio::test]
    async fn reject_policy_refuses_when_full_and_keeps_order() {
        let q = LinkQueue::new(spec(2, OnFull::Reject));
        q.push(Bytes::from_static(b"a")).unwrap();
        q.push(Bytes::from_static(b"b")).unwrap();
        assert_eq!(q.push(Bytes::from_static(b"c")), Err(PushError::Full));
        assert_eq!(q.pop().await.unwrap(), "a");
        q.push(Bytes::from_static(b"c")).unwrap();
        assert_eq!(q.pop().await.unwrap(), "b");
        assert_eq!(q.pop().await.unwrap(), "c");
    }

    #[tokio::test]
    async fn drop_oldest_policy_keeps_the_newest() {
        let q = LinkQueue::new(spec(2, OnFull::DropOldest));
        for f in ["a", "b", "c"] {
            q.push(Bytes::from(f)).unwrap();
        }
        assert_eq!(q.drain_now(), vec![Bytes::from("b"), Bytes::from("c")]);
    }

    #[tokio::test]
    async fn close_wakes_consumer_and_discards() {
        let q = std::sync::Arc::new(LinkQueue::new(spec(4, OnFull::Reject)));
        let q2 = q.clone();
        let consumer = tokio::spawn(async move { q2.pop().await });
        tokio::task::yield_now().await;
        q.close();
        assert_eq!(consumer.await.unwrap(), None);
        assert_eq!(q.push(Bytes::new()), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn the_byte_budget_bounds_a_queue_of_few_large_frames() {
        let q = LinkQueue::new(ChannelSpec {
            queue_frames: 1000,
            queue_bytes: 10,
            max_frame: 100,
            on_full: OnFull::Reject,
        });
        // One frame always fits an empty queue, even above the budget.
        q.push(Bytes::from(vec![0u8; 50])).unwrap();
        assert_eq!(q.push(Bytes::from_static(b"x")), Err(PushError::Full));
        assert_eq!(q.pop().await.unwrap().len(), 50);
        for _ in 0..10 {
            q.push(Bytes::from_static(b"y")).unwrap();
        }
        assert_eq!(q.push(Bytes::from_static(b"y")), Err(PushError::Full));
        let latest = LinkQueue::new(ChannelSpec {
            queue_frames: 1000,
            queue_bytes: 4,
            max_frame: 100,
            on_full: OnFull::DropOldest,
        });
        for f in ["ab", "cd", "ef"] {
            latest.push(Bytes::from(f)).unwrap();
        }
        assert_eq!(
            latest.drain_now(),
            vec![Bytes::from("cd"), Bytes::from("ef")]
        );
    }

    #[tokio::test]
    async fn ready_waits_for_room() {
        let q = std::sync::Arc::new(LinkQueue::new(spec(1, OnFull::Reject)));
        q.push(Bytes::from_static(b"a")).unwrap();
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.ready().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        q.pop().await.unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(()));
    }
}

//! Dialing: the maintainer that keeps a wanted link up, real dials (larger id) and prompts
//! (smaller id), and answering a prompt with a dial-back.

use super::link::Link;
use super::node::{Key, Node, Signals};
use super::{Connector, Opened, Purpose};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

impl<C: Connector> Node<C> {
    /// Keep `key` up while the node runs: dial (larger id) or prompt (smaller id), with
    /// capped exponential backoff and jitter between attempts.
    pub(super) async fn maintain(self: Arc<Self>, key: Key) {
        let signals = self.lock().slots.entry(key).or_default().signals.clone();
        let initial = self.cfg.backoff.initial;
        let max = self.cfg.backoff.max.max(initial);
        let mut backoff = initial;
        let dialer = self.me > key.0;
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            let link = match self.live(key) {
                Some(link) => link,
                None if dialer => match self.dial(key, &signals).await {
                    Ok(link) => link,
                    Err(e) => {
                        tracing::debug!(peer = %key.0, channel = ?key.1, "dial failed: {e}; retrying in ~{backoff:?}");
                        if !self.pause(&signals, backoff).await {
                            return;
                        }
                        backoff = (backoff * 2).min(max);
                        continue;
                    }
                },
                None => {
                    let changed = signals.changed.notified();
                    tokio::pin!(changed);
                    changed.as_mut().enable();
                    if self.live(key).is_some() {
                        continue;
                    }
                    if let Err(e) = self.prompt(key).await {
                        tracing::debug!(peer = %key.0, channel = ?key.1, "prompt failed: {e}; retrying in ~{backoff:?}");
                    }
                    let wait = self.jitter(backoff);
                    tokio::select! {
                        () = self.shutdown.cancelled() => return,
                        () = &mut changed => {}
                        () = signals.kick.notified() => {}
                        () = tokio::time::sleep(wait) => backoff = (backoff * 2).min(max),
                    }
                    continue;
                }
            };
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = link.finished.cancelled() => {}
            }
            // A link that held for a while starts the backoff afresh; one that keeps failing
            // right after its handshake backs off like a failed dial.
            let held = link.since.elapsed() >= max;
            if held {
                backoff = initial;
            }
            if self.live(key).is_none() && !self.pause(&signals, backoff).await {
                return;
            }
            if !held {
                backoff = (backoff * 2).min(max);
            }
        }
    }

    /// Wait about `backoff` (jittered); a prompt from the peer cuts it short. False on shutdown.
    async fn pause(&self, signals: &Signals, backoff: Duration) -> bool {
        let wait = self.jitter(backoff);
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            () = signals.kick.notified() => true,
            () = tokio::time::sleep(wait) => true,
        }
    }

    /// A wait drawn from 50–100 % of `d`.
    fn jitter(&self, d: Duration) -> Duration {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let half = ms / 2;
        let extra = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .range(0, ms - half);
        Duration::from_millis(half + extra)
    }

    /// The larger side answers a prompt from a smaller id: dial back unless a link is up or a
    /// dial is already under way.
    pub(super) fn answer_prompt(self: &Arc<Self>, key: Key) {
        let signals = {
            let mut st = self.lock();
            if st.shut {
                return;
            }
            let slot = st.slots.entry(key).or_default();
            if slot.link.is_some() || slot.signals.dial.try_lock().is_err() {
                return;
            }
            if slot.wanted {
                slot.signals.kick.notify_one();
                return;
            }
            if slot.dialing_back {
                return;
            }
            slot.dialing_back = true;
            slot.signals.clone()
        };
        let node = self.clone();
        self.spawn(async move {
            if let Err(e) = node.dial(key, &signals).await {
                tracing::info!(peer = %key.0, channel = ?key.1, "dial-back failed: {e}");
            }
            if let Some(slot) = node.lock().slots.get_mut(&key) {
                slot.dialing_back = false;
            }
        });
    }

    /// Dial `key` for real (larger id only) and install the link, unless one is up already;
    /// either way, the live link.
    async fn dial(self: &Arc<Self>, key: Key, signals: &Signals) -> Result<Arc<Link>, String> {
        let _guard = tokio::select! {
            () = self.shutdown.cancelled() => return Err("shutting down".into()),
            g = signals.dial.lock() => g,
        };
        if let Some(link) = self.live(key) {
            return Ok(link);
        }
        let opened = self.open(key, Purpose::Link).await?;
        self.install(key, opened)
            .ok_or_else(|| "shutting down".into())
    }

    /// Prompt a larger peer to dial us: connect, send the handshake, close.
    async fn prompt(&self, key: Key) -> Result<(), String> {
        let mut opened = self.open(key, Purpose::Prompt).await?;
        tracing::debug!(peer = %key.0, channel = ?key.1, remote = %opened.remote, "prompted the larger id to dial back");
        let _ = opened.writer.shutdown().await;
        Ok(())
    }

    /// Open a stream through the connector, within the connect timeout.
    async fn open(&self, key: Key, purpose: Purpose) -> Result<Opened, String> {
        let (peer, channel) = key;
        let limit = self.cfg.connect_timeout;
        tokio::select! {
            () = self.shutdown.cancelled() => Err("shutting down".into()),
            r = tokio::time::timeout(limit, self.connector.open(peer, channel, purpose)) => match r {
                Ok(r) => r,
                Err(_) => Err(format!("connecting to server {peer} timed out after {limit:?}")),
            },
        }
    }
}

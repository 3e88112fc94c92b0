//! Session ids, passwords, and the leader's expiry tracker.
//!
//! - Ids are made by the server a client first connects to, as ZooKeeper makes them: the
//!   server id in the top byte, the wall clock below it, then counting up, so two servers,
//!   or one server before and after a restart, never hand out the same id.
//! - The password is derived from the id and a constant (as ZooKeeper derives it from a
//!   fixed `superSecret`), so any server of the ensemble can check a reconnecting client.
//! - [`SessionTracker`]: the leader's view of when each session expires. Every session in
//!   the tree gets a deadline of its timeout after it was last heard of, here or through a
//!   learner's heartbeat note; a new leader starts every deadline afresh.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use zk_transport::rng::SeededRng;

/// The constant passwords are derived with (ZooKeeper's `superSecret`).
const SECRET: u64 = 0xB341_5C00;

/// Makes new session ids for one server.
#[derive(Debug)]
pub struct SessionIds {
    next: i64,
}

impl SessionIds {
    /// Ids for server `server_id` (0 in standalone mode).
    pub fn new(server_id: u64) -> Self {
        let ms = crate::status::wall_ms();
        // ZooKeeper's `(time << 24) >>> 8 | id << 56`: 40 bits of clock, 16 bits of count.
        let base = ((ms << 24) >> 8) | ((server_id & 0xff) << 56);
        Self { next: base as i64 }
    }

    /// The next id; never 0 (no session) and never the container marker.
    pub fn next_id(&mut self) -> i64 {
        loop {
            let id = self.next;
            self.next = self.next.wrapping_add(1);
            if id != 0 && id != zk_datatree::CONTAINER_EPHEMERAL_OWNER {
                return id;
            }
        }
    }
}

/// The 16-byte password of session `id`.
pub fn password(id: i64) -> [u8; 16] {
    let mut rng = SeededRng::new((id as u64) ^ SECRET);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    out[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    out
}

/// The leader's expiry deadlines.
#[derive(Debug, Default)]
pub struct SessionTracker {
    deadlines: HashMap<i64, (Instant, Duration)>,
    /// The server each session's client is connected to, as last claimed.
    owners: HashMap<i64, u64>,
}

impl SessionTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every deadline (this server stopped leading).
    pub fn clear(&mut self) {
        self.deadlines.clear();
        self.owners.clear();
    }

    /// A client resumed (or created) `session` on server `owner`.
    pub fn claim(&mut self, session: i64, owner: u64) {
        self.owners.insert(session, owner);
    }

    /// Whether a request for `session` from server `from` comes from its owner; an
    /// unknown owner (a new leader's first request) becomes `from`.
    pub fn is_owner(&mut self, session: i64, from: u64) -> bool {
        *self.owners.entry(session).or_insert(from) == from
    }

    /// Follows the tree's sessions: new ones get a full timeout from `now`, closed ones
    /// are dropped.
    pub fn sync(&mut self, sessions: &[(i64, i32)], now: Instant) {
        let live: HashMap<i64, i32> = sessions.iter().copied().collect();
        self.deadlines.retain(|id, _| live.contains_key(id));
        self.owners.retain(|id, _| live.contains_key(id));
        for (&id, &timeout) in &live {
            let timeout = Duration::from_millis(u64::try_from(timeout).unwrap_or(0));
            self.deadlines.entry(id).or_insert((now + timeout, timeout));
        }
    }

    /// `id` was heard of at `now`.
    pub fn touch(&mut self, id: i64, now: Instant) {
        if let Some((deadline, timeout)) = self.deadlines.get_mut(&id) {
            *deadline = (*deadline).max(now + *timeout);
        }
    }

    /// Removes and returns the sessions whose deadline passed.
    pub fn expired(&mut self, now: Instant) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .deadlines
            .iter()
            .filter(|(_, (d, _))| *d <= now)
            .map(|(id, _)| *id)
            .collect();
        out.sort_unstable();
        for id in &out {
            self.deadlines.remove(id);
        }
        out
    }

    /// Every tracked session's deadline (for `dump`).
    pub fn deadlines(&self) -> Vec<(i64, Instant)> {
        let mut v: Vec<(i64, Instant)> = self
            .deadlines
            .iter()
            .map(|(id, (d, _))| (*id, *d))
            .collect();
        v.sort_unstable();
        v
    }

    /// How many sessions are tracked.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_server_and_are_distinct() {
        let mut a = SessionIds::new(3);
        let x = a.next_id();
        let y = a.next_id();
        assert_ne!(x, y);
        assert_eq!((x as u64) >> 56, 3);
        let mut b = SessionIds::new(4);
        assert_ne!(b.next_id(), x);
    }

    #[test]
    fn the_last_claim_owns_the_session() {
        let mut t = SessionTracker::new();
        assert!(t.is_owner(5, 1), "an unknown owner is taken on trust");
        assert!(!t.is_owner(5, 2));
        t.claim(5, 2);
        assert!(t.is_owner(5, 2) && !t.is_owner(5, 1));
    }

    #[test]
    fn password_depends_on_the_id_only() {
        assert_eq!(password(42), password(42));
        assert_ne!(password(42), password(43));
    }

    #[test]
    fn sessions_expire_after_their_timeout_unless_touched() {
        let t0 = Instant::now();
        let mut t = SessionTracker::new();
        t.sync(&[(1, 1000), (2, 1000)], t0);
        t.touch(2, t0 + Duration::from_millis(900));
        assert!(t.expired(t0 + Duration::from_millis(999)).is_empty());
        assert_eq!(t.expired(t0 + Duration::from_millis(1000)), vec![1]);
        assert_eq!(t.expired(t0 + Duration::from_millis(1900)), vec![2]);
        // A closed session is forgotten; an unknown one is never touched into existence.
        t.sync(&[(3, 10)], t0);
        t.sync(&[], t0);
        t.touch(3, t0);
        assert!(t.is_empty());
    }
}

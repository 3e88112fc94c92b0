//! Who votes, and which sets of voters form a quorum.
//!
//! Two rules, as in ZooKeeper:
//!
//! - **Majority** (`QuorumMaj`): a set is a quorum when it holds more than half of the voters.
//! - **Hierarchical** (`QuorumHierarchical`, `group.N=1:2:3` and `weight.N=w` in `zoo.cfg`):
//!   a set is a quorum when, in more than half of the groups of non-zero weight, its members
//!   carry more than half of that group's weight.
//!
//! Observers are members but never voters: they never count in a quorum and never lead.
//! Servers of weight 0 vote but can never be elected (`totalOrderPredicate` refuses them).

use std::collections::{BTreeMap, BTreeSet};
use zk_transport::PeerId;

/// Why a quorum configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    /// No voters at all.
    #[error("a quorum needs at least one voter")]
    NoVoters,
    /// A server listed both as voter and observer.
    #[error("server {0} is both a voter and an observer")]
    VoterAndObserver(PeerId),
    /// A hierarchical group without members.
    #[error("group {0} is empty")]
    EmptyGroup(u64),
    /// A group id given twice.
    #[error("group {0} is defined twice")]
    DuplicateGroup(u64),
    /// A server placed in two groups.
    #[error("server {0} is in more than one group")]
    MultipleGroups(PeerId),
    /// An observer placed in a group.
    #[error("observer {0} cannot be in a group")]
    ObserverInGroup(PeerId),
    /// A voter that no group contains.
    #[error("voter {0} is in no group")]
    VoterInNoGroup(PeerId),
    /// A weight for a server that is in no group.
    #[error("weight given for server {0}, which is in no group")]
    WeightWithoutGroup(PeerId),
    /// Every group has weight zero, so no set could ever be a quorum.
    #[error("every group has weight zero")]
    AllGroupsZeroWeight,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Majority,
    Hierarchical {
        /// Server → group.
        group_of: BTreeMap<PeerId, u64>,
        /// Server → weight (every grouped server has one).
        weight: BTreeMap<PeerId, u64>,
        /// Group → total weight.
        group_weight: BTreeMap<u64, u64>,
        /// Groups of non-zero weight.
        live_groups: usize,
    },
}

/// The voting rule of an ensemble: its voters, observers, and quorum test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumVerifier {
    voters: BTreeSet<PeerId>,
    observers: BTreeSet<PeerId>,
    rule: Rule,
}

impl QuorumVerifier {
    /// Simple majority over `voters`; `observers` are members that never vote.
    pub fn majority(
        voters: impl IntoIterator<Item = PeerId>,
        observers: impl IntoIterator<Item = PeerId>,
    ) -> Result<Self, QuorumError> {
        let voters: BTreeSet<PeerId> = voters.into_iter().collect();
        let observers: BTreeSet<PeerId> = observers.into_iter().collect();
        if voters.is_empty() {
            return Err(QuorumError::NoVoters);
        }
        if let Some(&both) = voters.intersection(&observers).next() {
            return Err(QuorumError::VoterAndObserver(both));
        }
        Ok(Self {
            voters,
            observers,
            rule: Rule::Majority,
        })
    }

    /// Hierarchical quorums: `groups` as `(group id, members)` (every voter in exactly one
    /// group), `weights` as `(server, weight)` (default 1), and `observers`.
    pub fn hierarchical(
        groups: impl IntoIterator<Item = (u64, Vec<PeerId>)>,
        weights: impl IntoIterator<Item = (PeerId, u64)>,
        observers: impl IntoIterator<Item = PeerId>,
    ) -> Result<Self, QuorumError> {
        let observers: BTreeSet<PeerId> = observers.into_iter().collect();
        let mut group_of = BTreeMap::new();
        let mut seen_groups = BTreeSet::new();
        for (gid, members) in groups {
            if !seen_groups.insert(gid) {
                return Err(QuorumError::DuplicateGroup(gid));
            }
            if members.is_empty() {
                return Err(QuorumError::EmptyGroup(gid));
            }
            for m in members {
                if observers.contains(&m) {
                    return Err(QuorumError::ObserverInGroup(m));
                }
                if group_of.insert(m, gid).is_some() {
                    return Err(QuorumError::MultipleGroups(m));
                }
            }
        }
        if group_of.is_empty() {
            return Err(QuorumError::NoVoters);
        }
        let mut weight: BTreeMap<PeerId, u64> = group_of.keys().map(|&s| (s, 1)).collect();
        for (sid, w) in weights {
            match weight.get_mut(&sid) {
                Some(slot) => *slot = w,
                None => return Err(QuorumError::WeightWithoutGroup(sid)),
            }
        }
        let mut group_weight: BTreeMap<u64, u64> = BTreeMap::new();
        for (sid, gid) in &group_of {
            let w = weight.get(sid).copied().unwrap_or(0);
            let slot = group_weight.entry(*gid).or_insert(0);
            *slot = slot.saturating_add(w);
        }
        let live_groups = group_weight.values().filter(|&&w| w > 0).count();
        if live_groups == 0 {
            return Err(QuorumError::AllGroupsZeroWeight);
        }
        let voters = group_of.keys().copied().collect();
        Ok(Self {
            voters,
            observers,
            rule: Rule::Hierarchical {
                group_of,
                weight,
                group_weight,
                live_groups,
            },
        })
    }

    /// Hierarchical quorums where every voter must also appear in `voters` (a `zoo.cfg`
    /// `server.N` list): a voter in no group is refused, as ZooKeeper does.
    pub fn hierarchical_for(
        voters: impl IntoIterator<Item = PeerId>,
        groups: impl IntoIterator<Item = (u64, Vec<PeerId>)>,
        weights: impl IntoIterator<Item = (PeerId, u64)>,
        observers: impl IntoIterator<Item = PeerId>,
    ) -> Result<Self, QuorumError> {
        let q = Self::hierarchical(groups, weights, observers)?;
        for v in voters {
            if !q.voters.contains(&v) {
                return Err(QuorumError::VoterInNoGroup(v));
            }
        }
        Ok(q)
    }

    /// Whether `id` votes.
    pub fn is_voter(&self, id: PeerId) -> bool {
        self.voters.contains(&id)
    }

    /// Whether `id` is an observer.
    pub fn is_observer(&self, id: PeerId) -> bool {
        self.observers.contains(&id)
    }

    /// Whether `id` is a configured server (voter or observer).
    pub fn is_member(&self, id: PeerId) -> bool {
        self.is_voter(id) || self.is_observer(id)
    }

    /// The voters, in id order.
    pub fn voters(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.voters.iter().copied()
    }

    /// The observers, in id order.
    pub fn observers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.observers.iter().copied()
    }

    /// Every configured server, voters first, each in id order.
    pub fn members(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.voters().chain(self.observers())
    }

    /// The voting weight of `id`: 1 for a majority voter, the configured weight for a
    /// hierarchical one, 0 for observers and strangers.
    pub fn weight(&self, id: PeerId) -> u64 {
        match &self.rule {
            Rule::Majority => u64::from(self.voters.contains(&id)),
            Rule::Hierarchical { weight, .. } => weight.get(&id).copied().unwrap_or(0),
        }
    }

    /// Whether `id` may ever be elected: a voter of non-zero weight.
    pub fn can_lead(&self, id: PeerId) -> bool {
        self.weight(id) > 0
    }

    /// Whether the servers in `ids` (duplicates and non-voters are ignored) form a quorum.
    pub fn contains_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a PeerId>) -> bool {
        let set: BTreeSet<PeerId> = ids
            .into_iter()
            .copied()
            .filter(|id| self.is_voter(*id))
            .collect();
        match &self.rule {
            Rule::Majority => set.len() > self.voters.len() / 2,
            Rule::Hierarchical {
                group_of,
                weight,
                group_weight,
                live_groups,
            } => {
                let mut got: BTreeMap<u64, u64> = BTreeMap::new();
                for id in &set {
                    if let (Some(g), Some(w)) = (group_of.get(id), weight.get(id)) {
                        let slot = got.entry(*g).or_insert(0);
                        *slot = slot.saturating_add(*w);
                    }
                }
                let majority_groups = got
                    .iter()
                    .filter(|(g, w)| group_weight.get(g).is_some_and(|total| **w > total / 2))
                    .count();
                majority_groups > live_groups / 2
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn ids(v: &[u64]) -> Vec<PeerId> {
        v.iter().map(|&i| PeerId(i)).collect()
    }

    #[test]
    fn majority_counts_only_voters() {
        let q = QuorumVerifier::majority(ids(&[1, 2, 3, 4, 5]), ids(&[9])).unwrap();
        assert!(!q.contains_quorum(&ids(&[1, 2])));
        assert!(
            !q.contains_quorum(&ids(&[1, 2, 9])),
            "observers never count"
        );
        assert!(
            !q.contains_quorum(&ids(&[1, 2, 2, 2])),
            "duplicates count once"
        );
        assert!(q.contains_quorum(&ids(&[1, 2, 3])));
        assert!(q.is_voter(PeerId(1)) && !q.is_voter(PeerId(9)) && q.is_observer(PeerId(9)));
        assert_eq!((q.weight(PeerId(1)), q.weight(PeerId(9))), (1, 0));
        let even = QuorumVerifier::majority(ids(&[1, 2, 3, 4]), []).unwrap();
        assert!(!even.contains_quorum(&ids(&[1, 2])));
        assert!(even.contains_quorum(&ids(&[1, 2, 3])));
    }

    #[test]
    fn majority_validation() {
        assert_eq!(QuorumVerifier::majority([], []), Err(QuorumError::NoVoters));
        assert_eq!(
            QuorumVerifier::majority(ids(&[1, 2]), ids(&[2])),
            Err(QuorumError::VoterAndObserver(PeerId(2)))
        );
    }

    /// ZooKeeper's documented example: three groups of three.
    #[test]
    fn hierarchical_needs_a_majority_of_groups_each_with_a_weight_majority() {
        let q = QuorumVerifier::hierarchical(
            [
                (1, ids(&[1, 2, 3])),
                (2, ids(&[4, 5, 6])),
                (3, ids(&[7, 8, 9])),
            ],
            [],
            [],
        )
        .unwrap();
        assert!(
            q.contains_quorum(&ids(&[1, 2, 4, 5])),
            "two groups of three with two each"
        );
        assert!(
            !q.contains_quorum(&ids(&[1, 2, 3, 4])),
            "only one group has a majority"
        );
        assert!(
            !q.contains_quorum(&ids(&[1, 4, 7, 2])),
            "one group majority"
        );
        assert!(q.contains_quorum(&ids(&[1, 2, 4, 5, 7])));
    }

    #[test]
    fn hierarchical_weights_and_zero_weight_groups() {
        // Group 1: 1 (weight 3), 2 (weight 1): 1 alone is more than half of 4.
        // Group 2: 3, 4 (weight 1 each). Group 3: 5 (weight 0) is ignored in the group count.
        let q = QuorumVerifier::hierarchical(
            [(1, ids(&[1, 2])), (2, ids(&[3, 4])), (3, ids(&[5]))],
            [(PeerId(1), 3), (PeerId(5), 0)],
            [],
        )
        .unwrap();
        assert_eq!(q.weight(PeerId(1)), 3);
        assert!(!q.can_lead(PeerId(5)) && q.is_voter(PeerId(5)));
        // Two live groups: a quorum needs both (more than 2/2 = 1).
        assert!(!q.contains_quorum(&ids(&[1, 5])));
        assert!(
            !q.contains_quorum(&ids(&[2, 3, 4])),
            "2 is 1 of 4: not more than half"
        );
        assert!(q.contains_quorum(&ids(&[1, 3, 4])));
        assert!(
            !q.contains_quorum(&ids(&[1, 3])),
            "1 of 2 is not more than half"
        );
    }

    #[test]
    fn hierarchical_validation() {
        use QuorumError::*;
        assert_eq!(
            QuorumVerifier::hierarchical([(1, vec![])], [], []),
            Err(EmptyGroup(1))
        );
        assert_eq!(
            QuorumVerifier::hierarchical([(1, ids(&[1])), (1, ids(&[2]))], [], []),
            Err(DuplicateGroup(1))
        );
        assert_eq!(
            QuorumVerifier::hierarchical([(1, ids(&[1, 2])), (2, ids(&[2]))], [], []),
            Err(MultipleGroups(PeerId(2)))
        );
        assert_eq!(
            QuorumVerifier::hierarchical([(1, ids(&[1, 9]))], [], ids(&[9])),
            Err(ObserverInGroup(PeerId(9)))
        );
        assert_eq!(
            QuorumVerifier::hierarchical([(1, ids(&[1]))], [(PeerId(2), 1)], []),
            Err(WeightWithoutGroup(PeerId(2)))
        );
        assert_eq!(
            QuorumVerifier::hierarchical([(1, ids(&[1]))], [(PeerId(1), 0)], []),
            Err(AllGroupsZeroWeight)
        );
        assert_eq!(QuorumVerifier::hierarchical([], [], []), Err(NoVoters));
        assert_eq!(
            QuorumVerifier::hierarchical_for(ids(&[1, 2, 3]), [(1, ids(&[1, 2]))], [], []),
            Err(VoterInNoGroup(PeerId(3)))
        );
    }
}

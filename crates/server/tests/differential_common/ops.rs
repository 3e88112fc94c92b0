//! The operations a differential run performs, and their seeded generator.
//!
//! A sequence is generated from the seed alone, before anything runs, so ZooKeeper and zk-rs
//! are handed the very same list. What depends on the server's state (the version a
//! "right version" names, which sequential child a "pick" names) is resolved at run time
//! by each server's own answers, and those answers are compared too.

use zk_transport::rng::SeededRng;

/// A session of the run. Every server gets its own sessions with these roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// The writer; authenticated as `digest alice:secret` by [`Op::AddAuth`] in runs
    /// that say so.
    A,
    /// The watcher (unauthenticated): its one-shot watches are what is compared.
    B,
    /// The owner of ephemerals, closed by [`Op::CloseE`] and then opened anew.
    E,
}

/// How a node is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Persistent,
    PersistentSequential,
    Ephemeral,
    EphemeralSequential,
    Container,
    /// Persistent with a TTL (ms).
    Ttl(u64),
    /// Persistent sequential with a TTL (ms).
    TtlSequential(u64),
}

impl Mode {
    /// Whether the server appends a sequence number.
    pub fn sequential(self) -> bool {
        matches!(
            self,
            Self::PersistentSequential | Self::EphemeralSequential | Self::TtlSequential(_)
        )
    }
}

/// The ACLs a create or setACL names (see `runner::acl_list`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclChoice {
    /// `world:anyone` all.
    AnyoneAll,
    /// `world:anyone` read.
    AnyoneRead,
    /// `world:anyone` read, write, create, delete: no admin.
    AnyoneNoAdmin,
    /// `world:anyone` create and delete only: no read.
    AnyoneCreateDelete,
    /// `auth:` all: the creator's authenticated ids (an error without any).
    CreatorAll,
    /// `digest:alice:…` all.
    AliceAll,
    /// `ip:127.0.0.1` all.
    LoopbackAll,
    /// `world:anyone` read and `digest:alice:…` all.
    AnyoneReadAliceAll,
    /// A scheme no server knows: an invalid ACL.
    UnknownScheme,
    /// `world:nobody`: an invalid id for `world`.
    WorldNobody,
}

const ACLS: [AclChoice; 10] = [
    AclChoice::AnyoneAll,
    AclChoice::AnyoneRead,
    AclChoice::AnyoneNoAdmin,
    AclChoice::AnyoneCreateDelete,
    AclChoice::CreatorAll,
    AclChoice::AliceAll,
    AclChoice::LoopbackAll,
    AclChoice::AnyoneReadAliceAll,
    AclChoice::UnknownScheme,
    AclChoice::WorldNobody,
];

/// A node an operation acts on, relative to the run's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A fixed path such as `/d/a`.
    Path(String),
    /// The `pick`-th (modulo their number, in name order) child of `parent` whose name
    /// starts with `prefix`; a child that does not exist when there is none.
    Seq {
        parent: String,
        prefix: String,
        pick: u64,
    },
}

/// The version an operation expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ver {
    /// -1: any version.
    Any,
    /// The node's version now (its ACL version for setACL), read just before.
    Current,
    /// One more than the node's version now: a wrong version.
    Wrong,
    /// This version.
    Fixed(i32),
}

/// One operation of a multi.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
    Create {
        path: String,
        data: Vec<u8>,
        mode: Mode,
        acl: AclChoice,
    },
    SetData {
        target: Target,
        data: Vec<u8>,
        ver: Ver,
    },
    Delete {
        target: Target,
        ver: Ver,
    },
    Check {
        target: Target,
        ver: Ver,
    },
}

/// One operation of a multiRead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadOp {
    Data(Target),
    Children(Target),
}

/// One step of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Create {
        who: Who,
        path: String,
        data: Vec<u8>,
        mode: Mode,
        acl: AclChoice,
    },
    Delete {
        who: Who,
        target: Target,
        ver: Ver,
    },
    SetData {
        who: Who,
        target: Target,
        data: Vec<u8>,
        ver: Ver,
    },
    Exists {
        who: Who,
        target: Target,
        watch: bool,
    },
    GetData {
        who: Who,
        target: Target,
        watch: bool,
    },
    /// getChildren2: children and the parent's Stat.
    GetChildren {
        who: Who,
        target: Target,
        watch: bool,
    },
    /// getChildren: children only.
    ListChildren {
        who: Who,
        target: Target,
        watch: bool,
    },
    GetAcl {
        who: Who,
        target: Target,
    },
    SetAcl {
        who: Who,
        target: Target,
        acl: AclChoice,
        ver: Ver,
    },
    Multi {
        who: Who,
        ops: Vec<MultiOp>,
    },
    MultiRead {
        who: Who,
        ops: Vec<ReadOp>,
    },
    GetEphemerals {
        who: Who,
        prefix: String,
    },
    GetAllChildrenNumber {
        who: Who,
        target: Target,
    },
    Sync {
        who: Who,
        path: String,
    },
    /// Close session E (its ephemerals go), then open a new E.
    CloseE,
    /// `addAuth digest alice:secret`.
    AddAuth {
        who: Who,
    },
}

/// Fixed node names, relative to the run's root; `/d` is the parent of everything.
pub const FIXED: [&str; 6] = ["/d", "/d/a", "/d/a/b", "/d/c", "/d/c/x", "/d/e"];
/// Sequential creates: (parent, name prefix). An empty prefix names children by their
/// sequence number alone (a create of `/d/c/`).
pub const SEQ: [(&str, &str); 3] = [("/d", "s-"), ("/d/a", "q-"), ("/d/c", "")];

/// The generator of operation sequences.
pub struct Gen {
    rng: SeededRng,
    auth: bool,
}

impl Gen {
    /// Sequences from `seed`; with `auth`, session A authenticates as alice first.
    pub fn new(seed: u64, auth: bool) -> Self {
        Self {
            rng: SeededRng::new(seed),
            auth,
        }
    }

    /// The steps a run starts with: with `auth`, A authenticates; then the run's root and
    /// `/d` are created.
    pub fn prologue(auth: bool) -> Vec<Op> {
        let mut ops = Vec::new();
        if auth {
            ops.push(Op::AddAuth { who: Who::A });
        }
        ops.extend([
            Op::Create {
                who: Who::A,
                path: String::new(),
                data: b"root".to_vec(),
                mode: Mode::Persistent,
                acl: AclChoice::AnyoneAll,
            },
            Op::Create {
                who: Who::A,
                path: "/d".into(),
                data: Vec::new(),
                mode: Mode::Persistent,
                acl: AclChoice::AnyoneAll,
            },
        ]);
        ops
    }

    /// A sequence of `n` operations after the prologue.
    pub fn sequence(&mut self, n: usize) -> Vec<Op> {
        let mut ops = Self::prologue(self.auth);
        ops.extend((0..n).map(|_| self.op()));
        ops
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.below(items.len() as u64) as usize].clone()
    }

    /// An index drawn by weight.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.rng.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    fn data(&mut self) -> Vec<u8> {
        match self.rng.below(4) {
            0 => Vec::new(),
            1 => b"v".to_vec(),
            _ => {
                let n = self.rng.range(1, 24);
                (0..n).map(|_| self.rng.below(256) as u8).collect()
            }
        }
    }

    fn fixed(&mut self) -> String {
        // `/d` itself less often: deleting it ends most of what follows.
        let i = self.weighted(&[1, 4, 3, 4, 3, 3]);
        FIXED[i].to_string()
    }

    fn target(&mut self) -> Target {
        if self.rng.chance(0.25) {
            let (parent, prefix) = self.pick(&SEQ);
            Target::Seq {
                parent: parent.into(),
                prefix: prefix.into(),
                pick: self.rng.below(8),
            }
        } else {
            Target::Path(self.fixed())
        }
    }

    fn ver(&mut self) -> Ver {
        match self.weighted(&[3, 4, 2, 1]) {
            0 => Ver::Any,
            1 => Ver::Current,
            2 => Ver::Wrong,
            _ => Ver::Fixed(self.rng.below(3) as i32),
        }
    }

    fn acl(&mut self) -> AclChoice {
        if self.rng.chance(0.6) {
            AclChoice::AnyoneAll
        } else {
            self.pick(&ACLS)
        }
    }

    fn mode(&mut self) -> Mode {
        match self.weighted(&[30, 14, 14, 10, 12, 12, 8]) {
            0 => Mode::Persistent,
            1 => Mode::PersistentSequential,
            2 => Mode::Ephemeral,
            3 => Mode::EphemeralSequential,
            4 => Mode::Container,
            5 => Mode::Ttl(self.ttl()),
            _ => Mode::TtlSequential(self.ttl()),
        }
    }

    fn ttl(&mut self) -> u64 {
        // Short TTLs too: nothing is reaped during a run (the check interval is an hour on
        // both servers), so an expired TTL node must still be served as ZooKeeper does.
        if self.rng.chance(0.3) {
            self.rng.range(1, 50)
        } else {
            self.rng.range(1_000, 10_000_000)
        }
    }

    /// A create's (mode, path): sequential modes use the sequential prefixes.
    fn create_path(&mut self) -> (Mode, String) {
        let mode = self.mode();
        let path = if mode.sequential() {
            let (parent, prefix) = self.pick(&SEQ);
            format!("{parent}/{prefix}")
        } else {
            self.fixed()
        };
        (mode, path)
    }

    fn writer(&mut self) -> Who {
        match self.weighted(&[14, 5, 1]) {
            0 => Who::A,
            1 => Who::E,
            _ => Who::B,
        }
    }

    fn reader(&mut self) -> (Who, bool) {
        match self.weighted(&[7, 2, 1]) {
            0 => (Who::B, true),
            1 => (Who::B, false),
            _ => (self.pick(&[Who::A, Who::E]), false),
        }
    }

    fn multi_op(&mut self) -> MultiOp {
        match self.weighted(&[4, 3, 2, 3]) {
            0 => {
                let (mode, path) = self.create_path();
                MultiOp::Create {
                    path,
                    data: self.data(),
                    mode,
                    acl: self.acl(),
                }
            }
            1 => MultiOp::SetData {
                target: self.target(),
                data: self.data(),
                ver: self.ver(),
            },
            2 => MultiOp::Delete {
                target: self.target(),
                ver: self.ver(),
            },
            _ => MultiOp::Check {
                target: self.target(),
                ver: self.ver(),
            },
        }
    }

    /// One random operation.
    pub fn op(&mut self) -> Op {
        let weights = [22, 10, 10, 8, 8, 6, 3, 3, 4, 10, 4, 3, 3, 2, 2];
        match self.weighted(&weights) {
            0 => {
                let (mode, path) = self.create_path();
                Op::Create {
                    who: self.writer(),
                    path,
                    data: self.data(),
                    mode,
                    acl: self.acl(),
                }
            }
            1 => Op::Delete {
                who: self.writer(),
                target: self.target(),
                ver: self.ver(),
            },
            2 => Op::SetData {
                who: self.writer(),
                target: self.target(),
                data: self.data(),
                ver: self.ver(),
            },
            3 => {
                let (who, watch) = self.reader();
                Op::Exists {
                    who,
                    target: self.target(),
                    watch,
                }
            }
            4 => {
                let (who, watch) = self.reader();
                Op::GetData {
                    who,
                    target: self.target(),
                    watch,
                }
            }
            5 => {
                let (who, watch) = self.reader();
                Op::GetChildren {
                    who,
                    target: self.target(),
                    watch,
                }
            }
            6 => {
                let (who, watch) = self.reader();
                Op::ListChildren {
                    who,
                    target: self.target(),
                    watch,
                }
            }
            7 => Op::GetAcl {
                who: self.pick(&[Who::A, Who::B]),
                target: self.target(),
            },
            8 => Op::SetAcl {
                who: self.writer(),
                target: self.target(),
                acl: self.acl(),
                ver: self.ver(),
            },
            9 => {
                let n = self.rng.range(1, 4);
                Op::Multi {
                    who: self.writer(),
                    ops: (0..n).map(|_| self.multi_op()).collect(),
                }
            }
            10 => {
                let n = self.rng.range(1, 4);
                Op::MultiRead {
                    who: self.pick(&[Who::A, Who::B]),
                    ops: (0..n)
                        .map(|_| {
                            if self.rng.chance(0.5) {
                                ReadOp::Data(self.target())
                            } else {
                                ReadOp::Children(self.target())
                            }
                        })
                        .collect(),
                }
            }
            11 => Op::GetEphemerals {
                who: self.pick(&[Who::A, Who::E]),
                prefix: self.pick(&["", "/d", "/d/a", "/d/s", "/d/c"]).to_string(),
            },
            12 => Op::GetAllChildrenNumber {
                who: self.pick(&[Who::A, Who::B]),
                target: self.target(),
            },
            13 => Op::Sync {
                who: self.pick(&[Who::A, Who::B]),
                path: self.pick(&["", "/d", "/d/a", "/nonexistent"]).to_string(),
            },
            _ => Op::CloseE,
        }
    }
}

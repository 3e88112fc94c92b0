"""Compatibility tests driving a ZooKeeper-protocol server with kazoo.

The server under test is named by the connect string in ``ZK_HOSTS``
(``127.0.0.1:2181`` by default; a comma list for an ensemble).  Every test
works under ``/zkrs-compat-<random>/<test name>`` and removes what it made,
so the suite can run any number of times against the same server.

Optional environment:
  ZK_SESSION_TIMEOUT   session timeout (s) asked for by the expiry tests (4)
  ZK_CONTAINER_REAP_SECS  if set, also check that an emptied container node
                       is removed by the server within that many seconds
                       (Apache ZooKeeper only does this every
                       znode.container.checkIntervalMs, 60 s by default)
  ZK_FOURLW            set to 0 to skip the four-letter-word test
"""

import os
import re
import socket
import threading
import time
import uuid

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    InvalidACLError,
    LockTimeout,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.serialization import Create2
from kazoo.protocol.states import EventType, KazooState, KeeperState, ZnodeStat
from kazoo.security import (
    ACL,
    ANYONE_ID_UNSAFE,
    OPEN_ACL_UNSAFE,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

HOSTS = os.environ.get("ZK_HOSTS", "127.0.0.1:2181")
HOST_LIST = [h.strip() for h in HOSTS.split(",") if h.strip()]
SESSION_TIMEOUT = float(os.environ.get("ZK_SESSION_TIMEOUT", "4"))
EVENT_WAIT = 10.0  # generous upper bound for anything event-driven
QUIET_WAIT = 0.3  # how long we listen for an event that must NOT come

SEQ_RE = re.compile(r"^\d{10}$")
CONTAINER_OWNER = -(2**63)  # EphemeralType.CONTAINER_EPHEMERAL_OWNER

# digest users used by the ACL tests; the cleanup client authenticates as
# all of them so it can always remove what the tests created.
DIGEST_USERS = {"alice": "alice-secret", "bob": "bob-secret"}


# --------------------------------------------------------------------------
# helpers and fixtures
# --------------------------------------------------------------------------


def new_client(hosts=HOSTS, timeout=10.0, **kw):
    kw.setdefault(
        "connection_retry",
        dict(max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5),
    )
    c = KazooClient(hosts=hosts, timeout=timeout, **kw)
    c.start(timeout=15)
    return c


def close_client(c):
    try:
        c.stop()
    finally:
        c.close()


def wait_for(pred, timeout=EVENT_WAIT, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)


class EventSink:
    """Collects watch events (or anything else) thread-safely."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()

    def __call__(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, n=1, timeout=EVENT_WAIT):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.items) >= n, timeout)
        assert ok, "expected %d events, got %r" % (n, self.items)
        return list(self.items)


def peer_of(c):
    return c._connection._socket.getpeername()[:2]


def drop_connection(c):
    """Cut the client's TCP connection without closing its session."""
    s = c._connection._socket
    s.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="session")
def run_root():
    root = "/zkrs-compat-" + uuid.uuid4().hex[:12]
    c = new_client()
    c.create(root, b"compat run")
    yield root
    for user, pw in DIGEST_USERS.items():
        c.add_auth("digest", "%s:%s" % (user, pw))
    c.delete(root, recursive=True)
    assert c.exists(root) is None
    close_client(c)


@pytest.fixture
def zk():
    c = new_client()
    yield c
    close_client(c)


@pytest.fixture
def zk2():
    c = new_client()
    yield c
    close_client(c)


@pytest.fixture
def base(run_root, request):
    """A fresh, empty persistent node for one test; removed afterwards."""
    path = "%s/%s" % (run_root, request.node.name.replace("[", "-").rstrip("]"))
    c = new_client()
    c.create(path)
    yield path
    for user, pw in DIGEST_USERS.items():
        c.add_auth("digest", "%s:%s" % (user, pw))
    c.sync(path)
    c.delete(path, recursive=True)
    assert c.exists(path) is None
    close_client(c)


def assert_fresh_stat(st, data_len, owner=0):
    assert isinstance(st, ZnodeStat)
    assert st.version == 0
    assert st.cversion == 0
    assert st.aversion == 0
    assert st.numChildren == 0
    assert st.dataLength == data_len
    assert st.ephemeralOwner == owner
    assert st.czxid == st.mzxid == st.pzxid
    assert st.czxid > 0
    assert st.ctime == st.mtime
    # ctime is the server's wall clock in ms; the server runs on this host
    assert abs(st.ctime / 1000.0 - time.time()) < 120


# --------------------------------------------------------------------------
# create
# --------------------------------------------------------------------------


def test_create_persistent(zk, base):
    p = base + "/plain"
    assert zk.create(p, b"hello") == p
    data, st = zk.get(p)
    assert data == b"hello"
    assert isinstance(data, bytes)
    assert_fresh_stat(st, 5)
    assert zk.exists(p) == st
    # the parent's child bookkeeping
    pst = zk.exists(base)
    assert pst.numChildren == 1
    assert pst.cversion == 1
    assert pst.pzxid == st.czxid


def test_create_empty_and_binary_data(zk, base):
    p = base + "/empty"
    zk.create(p)
    data, st = zk.get(p)
    assert data == b""
    assert st.dataLength == 0
    blob = bytes(range(256)) * 64  # 16 KiB, every byte value
    p2 = base + "/blob"
    zk.create(p2, blob)
    data, st = zk.get(p2)
    assert data == blob
    assert st.dataLength == len(blob)


def test_create_large_value(zk, base):
    big = os.urandom(900 * 1024)  # below the 1 MiB jute.maxbuffer default
    p = base + "/big"
    zk.create(p, big)
    data, st = zk.get(p)
    assert data == big
    assert st.dataLength == len(big)


def test_oversized_request_drops_connection_not_session(zk, base):
    # a request frame above jute.maxbuffer (1 MiB - 1 by default) makes the
    # server close the connection ("Len error"); the session survives and
    # the client reconnects to it
    sid = zk.client_id[0]
    p = base + "/too-big"
    with pytest.raises(ConnectionLoss):
        zk.create(p, b"x" * (1024 * 1024 + 16))
    wait_for(lambda: zk.connected, what="reconnect")
    assert zk.client_id[0] == sid
    assert zk.exists(p) is None


def test_create2_returns_stat(zk, base):
    p = base + "/c2"
    path, st = zk.create(p, b"abc", include_data=True)  # opcode create2 (15)
    assert path == p
    assert_fresh_stat(st, 3)
    assert zk.exists(p) == st


def test_create_existing_raises(zk, base):
    p = base + "/dup"
    zk.create(p, b"1")
    with pytest.raises(NodeExistsError):
        zk.create(p, b"2")
    assert zk.get(p)[0] == b"1"  # unchanged
    # ensure_path on an existing node is fine and changes nothing
    zk.ensure_path(p)
    assert zk.get(p)[1].version == 0


def test_create_without_parent_raises(zk, base):
    with pytest.raises(NoNodeError):
        zk.create(base + "/missing/child")
    assert zk.exists(base + "/missing") is None


def test_create_makepath(zk, base):
    p = base + "/a/b/c"
    assert zk.create(p, b"leaf", makepath=True) == p
    assert zk.get(p)[0] == b"leaf"
    for mid in (base + "/a", base + "/a/b"):
        data, st = zk.get(mid)
        assert data == b""
        assert st.numChildren == 1
        assert st.ephemeralOwner == 0
    assert zk.get_children(base + "/a") == ["b"]


def test_create_sequential_numbering(zk, base):
    parent = base + "/seq"
    zk.create(parent)
    paths = [zk.create(parent + "/n-", b"%d" % i, sequence=True) for i in range(3)]
    assert paths == [parent + "/n-%010d" % i for i in range(3)]
    for p in paths:
        assert SEQ_RE.match(p.rsplit("-", 1)[1])
    # The suffix counts the creations ever made under the parent (ZooKeeper
    # keeps that count as the persisted cversion); deletions do not advance
    # it.  The cversion reported in a Stat is 2*creations - numChildren,
    # i.e. creations + deletions.
    zk.create(parent + "/plain")  # 4th creation
    zk.delete(paths[0])  # a deletion: suffix counter stays at 4
    st = zk.exists(parent)
    assert (st.cversion, st.numChildren) == (5, 3)
    nxt = zk.create(parent + "/n-", sequence=True)
    assert nxt == parent + "/n-0000000004"
    st = zk.exists(parent)
    assert (st.cversion, st.numChildren) == (6, 4)
    # a different prefix shares the same counter
    other = zk.create(parent + "/other-", sequence=True)
    assert other == parent + "/other-0000000005"
    # deleting several children never makes a number repeat
    zk.delete(nxt)
    zk.delete(other)
    again = zk.create(parent + "/n-", sequence=True)
    assert again == parent + "/n-0000000006"
    # an empty name: the node is just the number
    bare = zk.create(parent + "/", sequence=True)
    assert bare == parent + "/0000000007"
    assert sorted(zk.get_children(parent)) == sorted(
        ["n-0000000001", "n-0000000002", "plain", "n-0000000006", "0000000007"]
    )
    st = zk.exists(parent)
    # 8 creations, 3 deletions, 5 children
    assert (st.cversion, st.numChildren) == (11, 5)


def test_create_ephemeral(zk, base):
    p = base + "/eph"
    assert zk.create(p, b"e", ephemeral=True) == p
    st = zk.exists(p)
    sid = zk.client_id[0]
    assert sid != 0
    assert st.ephemeralOwner == sid
    assert st.numChildren == 0
    # ephemerals cannot have children
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(p + "/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(p + "/child", sequence=True)


def test_create_ephemeral_sequential(zk, base):
    parent = base + "/es"
    zk.create(parent)
    sid = zk.client_id[0]
    a = zk.create(parent + "/m-", ephemeral=True, sequence=True)
    b = zk.create(parent + "/m-", ephemeral=True, sequence=True)
    assert a == parent + "/m-0000000000"
    assert b == parent + "/m-0000000001"
    for p in (a, b):
        assert zk.exists(p).ephemeralOwner == sid
    path, st = zk.create(parent + "/m-", ephemeral=True, sequence=True,
                         include_data=True)
    assert path == parent + "/m-0000000002"
    assert st.ephemeralOwner == sid


def test_sequential_in_multi(zk, base):
    # each create in one multi sees the cversion left by the one before
    parent = base + "/pad"
    zk.create(parent)
    t = zk.transaction()
    for _ in range(12):
        t.create(parent + "/x-", sequence=True)
    res = t.commit()
    assert res == [parent + "/x-%010d" % i for i in range(12)]


class CreateContainer(Create2):
    """Opcode createContainer (19): kazoo has no API for it, so send the raw
    request (same body and response as create2) through kazoo's transport."""

    type = 19


def create_container(zk, path, value=b""):
    ar = zk.handler.async_result()
    zk._call(CreateContainer(path, value, OPEN_ACL_UNSAFE, 4), ar)
    return ar.get(timeout=EVENT_WAIT)


def test_create_container(zk, base):
    p = base + "/container"
    path, st = create_container(zk, p, b"box")
    assert path == p
    # containers (like TTL nodes) report ephemeralOwner 0 to clients; the
    # server keeps a special owner internally
    assert st.ephemeralOwner == 0
    assert st.dataLength == 3 and st.version == 0
    data, st2 = zk.get(p)
    assert data == b"box"
    assert st2 == st
    with pytest.raises(NodeExistsError):
        create_container(zk, p)
    # unlike an ephemeral, a container may have children
    zk.create(p + "/kid")
    assert zk.get_children(p) == ["kid"]
    never_used = create_container(zk, base + "/never-used")[0]
    zk.delete(p + "/kid")
    reap = os.environ.get("ZK_CONTAINER_REAP_SECS")
    if reap:
        # an emptied container is removed by the server...
        wait_for(lambda: zk.exists(p) is None, timeout=float(reap),
                 what="the emptied container to be removed")
        # ...but one that never had a child is kept
        assert zk.exists(never_used) is not None


# --------------------------------------------------------------------------
# get / set / exists
# --------------------------------------------------------------------------


def test_get_set_versions(zk, base):
    p = base + "/v"
    zk.create(p, b"v0")
    _, st0 = zk.get(p)
    st1 = zk.set(p, b"v1-longer", version=0)
    assert isinstance(st1, ZnodeStat)
    assert st1.version == 1
    assert st1.dataLength == 9
    assert st1.czxid == st0.czxid
    assert st1.ctime == st0.ctime
    assert st1.mzxid > st0.mzxid
    assert st1.mtime >= st0.mtime
    assert st1.pzxid == st0.pzxid  # pzxid only moves with children
    with pytest.raises(BadVersionError):
        zk.set(p, b"nope", version=0)
    with pytest.raises(BadVersionError):
        zk.set(p, b"nope", version=5)
    assert zk.get(p) == (b"v1-longer", st1)
    st2 = zk.set(p, b"v2")  # version -1: unconditional
    assert st2.version == 2
    st3 = zk.set(p, b"v2")  # same bytes still bump the version
    assert st3.version == 3
    assert st3.mzxid > st2.mzxid
    st4 = zk.set(p, b"")
    assert st4.dataLength == 0
    assert zk.get(p)[0] == b""
    with pytest.raises(NoNodeError):
        zk.set(base + "/missing", b"x")
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing")


def test_exists_stat_fields(zk, base):
    assert zk.exists(base + "/nothing") is None
    p = base + "/parent"
    zk.create(p, b"1234")
    zk.create(p + "/a")
    kid = zk.create(p + "/b")
    st = zk.exists(p)
    assert (st.numChildren, st.cversion, st.dataLength, st.version) == (2, 2, 4, 0)
    zk.delete(kid)
    st2 = zk.exists(p)
    assert (st2.numChildren, st2.cversion) == (1, 3)
    assert st2.pzxid > st.pzxid  # deletes move pzxid too
    assert st2.mzxid == st.mzxid  # children don't touch mzxid
    assert st2.version == 0
    # the zxid of the delete is the pzxid: a later create gets a larger zxid
    c = zk.create(p + "/c", include_data=True)[1]
    assert c.czxid > st2.pzxid
    assert zk.exists(p).pzxid == c.czxid


def test_get_children(zk, base):
    p = base + "/kids"
    zk.create(p)
    assert zk.get_children(p) == []
    names = ["zeta", "alpha", "m1", "m0", "beta"]
    for n in names:
        zk.create(p + "/" + n, n.encode())
    kids = zk.get_children(p)
    assert isinstance(kids, list)
    assert sorted(kids) == sorted(names)  # ZooKeeper promises no order
    kids2, st = zk.get_children(p, include_data=True)  # getChildren2 (12)
    assert sorted(kids2) == sorted(names)
    assert st == zk.exists(p)
    assert st.numChildren == 5
    # grandchildren are not listed
    zk.create(p + "/alpha/deep")
    assert sorted(zk.get_children(p)) == sorted(names)
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")


def test_root_and_reserved_nodes(zk):
    assert zk.exists("/") is not None
    assert "zookeeper" in zk.get_children("/")
    kids = zk.get_children("/zookeeper")
    assert "quota" in kids
    assert "config" in kids  # 3.5+: /zookeeper/config always exists
    st = zk.exists("/zookeeper")
    assert st.czxid == 0 and st.ephemeralOwner == 0
    # /zookeeper's children are made at start-up without counting as
    # creations, so its cversion (2*creations - numChildren) is -2
    assert (st.numChildren, st.cversion) == (2, -2)
    # /zookeeper/config: world-readable only, aclVersion -1; empty on a
    # standalone server, the membership ("server.N=..." and "version=...")
    # in an ensemble
    assert zk.get_acls("/zookeeper/config")[0] == [
        ACL(Permissions.READ, Id("world", "anyone"))
    ]
    data, cst = zk.get("/zookeeper/config")
    assert cst.aversion == -1
    for line in data.decode().splitlines():
        assert re.match(r"^(server\.\d+=\S+|version=[0-9a-f]+)$", line), line
    with pytest.raises(NoAuthError):
        zk.set("/zookeeper/config", b"server.99=127.0.0.1:1:2")


# --------------------------------------------------------------------------
# delete
# --------------------------------------------------------------------------


def test_delete(zk, base):
    p = base + "/d"
    zk.create(p, b"x")
    zk.set(p, b"y")  # version 1
    with pytest.raises(BadVersionError):
        zk.delete(p, version=0)
    assert zk.exists(p) is not None
    assert zk.delete(p, version=1) is True
    assert zk.exists(p) is None
    with pytest.raises(NoNodeError):
        zk.delete(p)
    zk.create(p)
    zk.delete(p)  # version -1
    assert zk.exists(p) is None


def test_delete_not_empty_and_recursive(zk, base):
    p = base + "/tree"
    zk.create(p + "/a/b/c", makepath=True)
    zk.create(p + "/a/b2")
    zk.create(p + "/d")
    with pytest.raises(NotEmptyError):
        zk.delete(p)
    with pytest.raises(NotEmptyError):
        zk.delete(p + "/a/b")
    assert zk.exists(p + "/a/b/c") is not None
    zk.delete(p, recursive=True)
    assert zk.exists(p) is None
    assert zk.get_children(base) == []


# --------------------------------------------------------------------------
# multi / transactions
# --------------------------------------------------------------------------


def test_transaction_commit(zk, base):
    zk.create(base + "/existing", b"old")
    zk.create(base + "/doomed")
    t = zk.transaction()
    t.create(base + "/t1", b"one")
    t.create(base + "/s-", b"seq", sequence=True)
    t.set_data(base + "/existing", b"new", version=0)
    t.check(base + "/t1", 0)
    t.delete(base + "/doomed")
    res = t.commit()
    assert len(res) == 5
    assert res[0] == base + "/t1"
    assert res[1] == base + "/s-0000000003"  # cversion was 2, +1 for /t1
    assert isinstance(res[2], ZnodeStat) and res[2].version == 1
    assert res[2].dataLength == 3
    assert res[3] is True and res[4] is True
    assert zk.get(base + "/t1")[0] == b"one"
    assert zk.get(base + "/existing")[0] == b"new"
    assert zk.exists(base + "/doomed") is None
    # all ops of one multi share one zxid
    z1 = zk.exists(base + "/t1").czxid
    assert zk.exists(res[1]).czxid == z1
    assert res[2].mzxid == z1
    assert zk.exists(base).pzxid == z1


def test_transaction_failure_is_atomic(zk, base):
    zk.create(base + "/keep", b"k")
    before = zk.exists(base)
    t = zk.transaction()
    t.create(base + "/new1")
    t.set_data(base + "/keep", b"changed")
    t.delete(base + "/no-such-node")
    t.create(base + "/new2")
    res = t.commit()
    assert [type(r) for r in res] == [
        RolledBackError,
        RolledBackError,
        NoNodeError,
        RuntimeInconsistency,
    ]
    assert zk.exists(base + "/new1") is None
    assert zk.exists(base + "/new2") is None
    assert zk.get(base + "/keep")[0] == b"k"
    after = zk.exists(base)
    assert (after.cversion, after.numChildren) == (before.cversion, before.numChildren)


def test_transaction_check_version_failure(zk, base):
    p = base + "/cv"
    zk.create(p, b"x")
    zk.set(p, b"y")
    t = zk.transaction()
    t.check(p, 0)  # actual version is 1
    t.create(base + "/never")
    res = t.commit()
    assert [type(r) for r in res] == [BadVersionError, RuntimeInconsistency]
    assert zk.exists(base + "/never") is None
    t = zk.transaction()
    t.create(base + "/dup")
    t.create(base + "/dup")
    res = t.commit()
    assert [type(r) for r in res] == [RolledBackError, NodeExistsError]
    assert zk.exists(base + "/dup") is None
    # a multi can see its own earlier ops
    t = zk.transaction()
    t.create(base + "/m")
    t.create(base + "/m/child", b"c")
    t.set_data(base + "/m", b"p", version=0)
    t.delete(base + "/m/child")
    res = t.commit()
    assert res[0] == base + "/m" and res[1] == base + "/m/child"
    assert res[2].version == 1 and res[3] is True
    assert zk.get_children(base + "/m") == []


# --------------------------------------------------------------------------
# sync
# --------------------------------------------------------------------------


def test_sync(zk, zk2, base):
    p = base + "/synced"
    zk.create(p, b"s")
    assert zk2.sync(p) == p
    assert zk2.get(p)[0] == b"s"
    assert zk2.sync("/") == "/"
    # sync of a missing path still succeeds (it is not checked)
    assert zk2.sync(base + "/missing") == base + "/missing"


# --------------------------------------------------------------------------
# watches
# --------------------------------------------------------------------------


def test_data_watch_fires_once(zk, zk2, base):
    p = base + "/w"
    zk.create(p, b"0")
    sink = EventSink()
    data, _ = zk.get(p, watch=sink)
    assert data == b"0"
    zk2.set(p, b"1")
    ev = sink.wait(1)[0]
    assert ev.type == EventType.CHANGED
    assert ev.state == KeeperState.CONNECTED
    assert ev.path == p
    zk2.set(p, b"2")  # no watch left: one-shot
    time.sleep(QUIET_WAIT)
    assert len(sink.items) == 1
    # re-arming works and sees the newest value
    data, st = zk.get(p, watch=sink)
    assert data == b"2" and st.version == 2
    zk2.delete(p)
    evs = sink.wait(2)
    assert evs[1].type == EventType.DELETED and evs[1].path == p


def test_exists_watch_created_and_deleted(zk, zk2, base):
    p = base + "/later"
    sink = EventSink()
    assert zk.exists(p, watch=sink) is None
    zk2.create(p)
    ev = sink.wait(1)[0]
    assert (ev.type, ev.path) == (EventType.CREATED, p)
    assert zk.exists(p, watch=sink) is not None
    zk2.delete(p)
    ev = sink.wait(2)[1]
    assert (ev.type, ev.path) == (EventType.DELETED, p)
    time.sleep(QUIET_WAIT)
    assert len(sink.items) == 2


def test_child_watch_fires_once(zk, zk2, base):
    p = base + "/cw"
    zk.create(p)
    sink = EventSink()
    assert zk.get_children(p, watch=sink) == []
    zk2.set(p, b"data does not trigger child watches")
    zk2.create(p + "/grand", makepath=True)
    ev = sink.wait(1)[0]
    assert ev.type == EventType.CHILD
    assert ev.path == p  # the parent, not the child
    zk2.create(p + "/second")
    zk2.create(p + "/grand/deeper")  # grandchildren never count
    time.sleep(QUIET_WAIT)
    assert len(sink.items) == 1
    # a child deletion fires a re-armed child watch
    assert sorted(zk.get_children(p, watch=sink)) == ["grand", "second"]
    zk2.delete(p + "/second")
    ev = sink.wait(2)[1]
    assert (ev.type, ev.path) == (EventType.CHILD, p)


def test_child_watch_on_deleted_parent(zk, zk2, base):
    p = base + "/gone"
    zk.create(p)
    csink, dsink = EventSink(), EventSink()
    zk.get_children(p, watch=csink)
    zk.get(p, watch=dsink)
    zk2.delete(p)
    assert csink.wait(1)[0].type == EventType.DELETED
    assert dsink.wait(1)[0].type == EventType.DELETED
    assert csink.items[0].path == dsink.items[0].path == p


def test_watch_order_matches_zxid_order(zk, zk2, base):
    # events arrive in the order of the changes, each before the reply to a
    # later read of the same client
    a, b = base + "/a", base + "/b"
    zk.create(a)
    zk.create(b)
    order = EventSink()
    zk.get(a, watch=lambda e: order(("a", e.type)))
    zk.get(b, watch=lambda e: order(("b", e.type)))
    zk2.set(b, b"1")
    zk2.set(a, b"1")
    assert order.wait(2) == [("b", EventType.CHANGED), ("a", EventType.CHANGED)]


def test_data_watch_recipe(zk, zk2, base):
    p = base + "/dw"
    seen = EventSink()

    @zk.DataWatch(p)
    def _watch(data, stat):
        seen((data, stat.version if stat else None))

    seen.wait(1)
    zk2.create(p, b"a")
    seen.wait(2)
    zk2.set(p, b"b")
    seen.wait(3)
    zk2.delete(p)
    got = seen.wait(4)
    assert got[:4] == [(None, None), (b"a", 0), (b"b", 1), (None, None)]


def test_children_watch_recipe(zk, zk2, base):
    p = base + "/chw"
    zk.create(p)
    seen = EventSink()

    @zk.ChildrenWatch(p)
    def _watch(children):
        seen(sorted(children))

    assert seen.wait(1)[0] == []
    zk2.create(p + "/x")
    seen.wait(2)
    zk2.create(p + "/y")
    seen.wait(3)
    zk2.delete(p + "/x")
    got = seen.wait(4)
    assert got[:4] == [[], ["x"], ["x", "y"], ["y"]]


# --------------------------------------------------------------------------
# ACLs
# --------------------------------------------------------------------------


def test_default_acl_is_open(zk, base):
    p = base + "/open"
    zk.create(p)
    acls, st = zk.get_acls(p)
    assert acls == [ACL(Permissions.ALL, Id("world", "anyone"))]
    assert Permissions.ALL == 31
    assert st.aversion == 0


def test_digest_acl(zk, base):
    p = base + "/secret"
    zk.add_auth("digest", "alice:alice-secret")
    acl = make_digest_acl("alice", "alice-secret", all=True)
    zk.create(p, b"classified", acl=[acl])
    acls, st = zk.get_acls(p)
    assert acls == [acl]
    assert acls[0].id.scheme == "digest"
    assert acls[0].id.id == make_digest_acl_credential("alice", "alice-secret")
    assert acls[0].id.id.startswith("alice:") and acls[0].id.id.endswith("=")
    assert zk.get(p)[0] == b"classified"

    anon = new_client()
    wrong = new_client()
    right = new_client()
    try:
        anon.sync(p)
        with pytest.raises(NoAuthError):
            anon.get(p)
        with pytest.raises(NoAuthError):
            anon.set(p, b"x")
        with pytest.raises(NoAuthError):
            anon.get_children(p)
        with pytest.raises(NoAuthError):
            anon.create(p + "/kid")
        # exists needs no permission
        assert anon.exists(p).dataLength == 10
        # a wrong password is not refused: it just proves a different id
        wrong.add_auth("digest", "alice:not-the-password")
        with pytest.raises(NoAuthError):
            wrong.get(p)
        right.add_auth("digest", "alice:alice-secret")
        assert right.get(p)[0] == b"classified"
        assert right.set(p, b"rewritten").version == 1
        # several identities on one session: any match is enough
        wrong.add_auth("digest", "alice:alice-secret")
        assert wrong.get(p)[0] == b"rewritten"
    finally:
        for c in (anon, wrong, right):
            close_client(c)


def test_get_acls_permissions_and_digest_redaction(zk, zk2, base):
    cred = make_digest_acl_credential("alice", "alice-secret")
    # readable by anyone, administered by alice only
    p = base + "/mixed"
    zk.create(p, b"m", acl=[
        make_digest_acl("alice", "alice-secret", all=True),
        ACL(Permissions.READ, ANYONE_ID_UNSAFE),
    ])
    zk2.sync(p)
    # without ADMIN, getACL still answers (READ is enough) but hides the
    # digest hash: "alice:<hash>" becomes "alice:x"
    acls, _ = zk2.get_acls(p)
    assert acls == [
        ACL(Permissions.ALL, Id("digest", "alice:x")),
        ACL(Permissions.READ, Id("world", "anyone")),
    ]
    zk2.add_auth("digest", "alice:alice-secret")
    acls, _ = zk2.get_acls(p)
    assert acls[0].id.id == cred
    # neither READ nor ADMIN: getACL is refused
    q = base + "/closed"
    zk.create(q, acl=[make_digest_acl("alice", "alice-secret", all=True)])
    anon = new_client()
    try:
        anon.sync(q)
        with pytest.raises(NoAuthError):
            anon.get_acls(q)
    finally:
        close_client(anon)


def test_world_read_only_acl(zk, zk2, base):
    p = base + "/ro"
    zk.create(p, b"look", acl=[ACL(Permissions.READ, ANYONE_ID_UNSAFE)])
    zk2.sync(p)
    assert zk2.get(p)[0] == b"look"
    assert zk2.get_children(p) == []
    with pytest.raises(NoAuthError):
        zk2.set(p, b"touch")
    with pytest.raises(NoAuthError):
        zk.set(p, b"even the creator")
    with pytest.raises(NoAuthError):
        zk.create(p + "/kid")
    with pytest.raises(NoAuthError):
        zk.set_acls(p, OPEN_ACL_UNSAFE)  # needs ADMIN
    assert zk.get_acls(p)[0] == [ACL(Permissions.READ, Id("world", "anyone"))]
    # deleting needs DELETE on the parent, not on the node
    zk2.delete(p)
    # zk may be on another server than zk2: as with ZooKeeper, only a sync makes it see the
    # delete (found by CI: the read raced the follower's apply).
    zk.sync(p)
    assert zk.exists(p) is None


def test_set_acls_versions(zk, base):
    p = base + "/acl"
    zk.create(p)
    rwa = make_acl("world", "anyone", read=True, write=True, admin=True)
    st = zk.set_acls(p, [rwa], version=0)
    assert st.aversion == 1 and st.version == 0 and st.cversion == 0
    with pytest.raises(BadVersionError):
        zk.set_acls(p, OPEN_ACL_UNSAFE, version=0)
    with pytest.raises(NoNodeError):
        zk.set_acls(base + "/missing", OPEN_ACL_UNSAFE)
    acls, st = zk.get_acls(p)
    assert acls == [ACL(Permissions.READ | Permissions.WRITE | Permissions.ADMIN,
                        Id("world", "anyone"))]
    assert st.aversion == 1
    st = zk.set_acls(p, [make_acl("world", "anyone", read=True, write=True)])
    assert st.aversion == 2
    # without ADMIN the permission check comes first: a wrong version gives
    # NoAuth, not BadVersion
    with pytest.raises(NoAuthError):
        zk.set_acls(p, OPEN_ACL_UNSAFE, version=0)
    zk.set(p, b"w")  # WRITE allowed
    with pytest.raises(NoAuthError):
        zk.create(p + "/c")  # CREATE not allowed
    with pytest.raises(NoAuthError):
        zk.set_acls(p, OPEN_ACL_UNSAFE)  # ADMIN not allowed


def test_auth_scheme_acl_and_invalid_acl(zk, base):
    # "auth" ACLs need an authenticated identity...
    with pytest.raises(InvalidACLError):
        zk.create(base + "/noauth", acl=[make_acl("auth", "", all=True)])
    assert zk.exists(base + "/noauth") is None
    # ...and are expanded by the server into the session's digest ids
    zk.add_auth("digest", "bob:bob-secret")
    p = base + "/authacl"
    zk.create(p, b"b", acl=[make_acl("auth", "", all=True)])
    acls, _ = zk.get_acls(p)
    assert acls == [
        ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("bob", "bob-secret")))
    ]


# --------------------------------------------------------------------------
# sessions
# --------------------------------------------------------------------------


def test_ephemeral_removed_when_session_closes(zk2, base):
    owner = new_client()
    p = base + "/bye"
    sid = owner.client_id[0]
    owner.create(p, b"x", ephemeral=True)
    seq = owner.create(base + "/bye-", ephemeral=True, sequence=True)
    zk2.sync(base)
    assert zk2.exists(p).ephemeralOwner == sid
    sink = EventSink()
    zk2.exists(p, watch=sink)
    csink = EventSink()
    assert sorted(zk2.get_children(base, watch=csink)) == sorted(
        ["bye", seq.rsplit("/", 1)[1]]
    )
    close_client(owner)  # closeSession (-11)
    ev = sink.wait(1)[0]
    assert (ev.type, ev.path) == (EventType.DELETED, p)
    assert csink.wait(1)[0].type == EventType.CHILD
    zk2.sync(base)
    assert zk2.exists(p) is None
    assert zk2.exists(seq) is None
    assert zk2.get_children(base) == []


def test_session_reconnect_keeps_session(base):
    """Drop the TCP connection; the client reconnects (to another server when
    ZK_HOSTS lists several) and must get the same session back."""
    states = EventSink()
    c = new_client()
    try:
        c.add_listener(states)
        sid, pw = c.client_id
        p = c.create(base + "/mine", b"1", ephemeral=True)
        c.set(p, b"2")  # the client now has a recent last_zxid
        first = peer_of(c)
        if len(HOST_LIST) > 1:
            others = [h for h in HOST_LIST
                      if h.rsplit(":", 1)[1] != str(first[1])]
            assert others, "cannot tell which server the client is on"
            c.set_hosts(",".join(others))
        drop_connection(c)
        states.wait(2)
        assert states.items[:2] == [KazooState.SUSPENDED, KazooState.CONNECTED]
        wait_for(lambda: c.connected, what="reconnect")
        assert c.client_id[0] == sid
        assert c.client_id[1] == pw
        if len(HOST_LIST) > 1:
            assert peer_of(c) != first
        # the session's ephemeral survived, and the new server is at least as
        # new as what the client saw before
        data, st = c.get(p)
        assert data == b"2" and st.version == 1
        assert st.ephemeralOwner == sid
        c.set(p, b"3")
        assert KazooState.LOST not in states.items
    finally:
        close_client(c)


def test_session_expiry_removes_ephemerals(zk2, base):
    states = EventSink()
    c = new_client(timeout=SESSION_TIMEOUT)
    try:
        c.add_listener(states)
        sid = c.client_id[0]
        p = c.create(base + "/expiring", ephemeral=True)
        zk2.sync(p)
        sink = EventSink()
        assert zk2.exists(p, watch=sink).ephemeralOwner == sid
        # make every connection attempt of the client fail, so its session
        # gets no more pings
        real_create_connection = c.handler.create_connection

        def unreachable(*args, **kwargs):
            raise socket.error("compat test: servers made unreachable")

        c.handler.create_connection = unreachable
        drop_connection(c)
        ev = sink.wait(1, timeout=SESSION_TIMEOUT * 3 + 10)[0]
        assert (ev.type, ev.path) == (EventType.DELETED, p)
        # coming back with the expired session: the server answers the
        # handshake with a zero timeout, kazoo reports LOST and starts over
        c.handler.create_connection = real_create_connection
        wait_for(lambda: KazooState.LOST in states.items,
                 timeout=EVENT_WAIT + SESSION_TIMEOUT, what="LOST state")
        wait_for(lambda: c.connected, what="a new session")
        assert c.client_id[0] != sid
        assert c.exists(p) is None
    finally:
        close_client(c)


def test_reconnect_with_wrong_password_is_refused(base):
    states = EventSink()
    c = new_client()
    try:
        c.add_listener(states)
        sid, pw = c.client_id
        c._session_passwd = bytes(b ^ 0xFF for b in pw)
        drop_connection(c)
        wait_for(lambda: KazooState.LOST in states.items, what="LOST state")
        wait_for(lambda: c.connected, what="a new session")
        assert c.client_id[0] != sid
    finally:
        close_client(c)


def test_chroot_client(zk, base):
    sub = base + "/chroot"
    zk.create(sub)
    c = new_client(hosts=HOSTS + sub)  # "h1:p1,h2:p2/chroot"
    try:
        assert c.create("/x", b"in chroot") == "/x"
        s = c.create("/s-", sequence=True)
        assert s == "/s-0000000001"
        zk.sync(sub)
        assert zk.get(sub + "/x")[0] == b"in chroot"
        assert sorted(c.get_children("/")) == ["s-0000000001", "x"]
        sink = EventSink()
        c.get("/x", watch=sink)
        zk.set(sub + "/x", b"changed")  # from another session
        ev = sink.wait(1)[0]
        assert ev.path == "/x"
        t = c.transaction()
        t.create("/t")
        assert t.commit() == ["/t"]
    finally:
        close_client(c)


@pytest.mark.skipif(os.environ.get("ZK_FOURLW") == "0", reason="4lw disabled")
def test_four_letter_word_ruok(zk):
    assert zk.command(b"ruok") == "imok"
    srvr = zk.command(b"srvr")
    assert "Zookeeper version:" in srvr
    assert re.search(r"Mode: (standalone|leader|follower|observer)", srvr)


# --------------------------------------------------------------------------
# kazoo recipes
# --------------------------------------------------------------------------


def test_lock(zk, zk2, base):
    path = base + "/lock"
    l1 = zk.Lock(path, "first")
    l2 = zk2.Lock(path, "second")
    assert l1.acquire(timeout=EVENT_WAIT)
    assert l1.is_acquired
    assert l2.acquire(blocking=False) is False
    with pytest.raises(LockTimeout):
        l2.acquire(timeout=0.3)
    got = threading.Event()

    def waiter():
        if l2.acquire(timeout=EVENT_WAIT):
            got.set()

    th = threading.Thread(target=waiter)
    th.start()
    wait_for(lambda: len(zk.get_children(path)) == 2, what="second contender")
    assert l1.contenders() == ["first", "second"]
    nodes = sorted(zk.get_children(path), key=lambda n: n[-10:])
    assert all("__lock__" in n and SEQ_RE.match(n[-10:]) for n in nodes)
    assert not got.is_set()
    l1.release()
    assert got.wait(EVENT_WAIT)
    th.join()
    assert l2.is_acquired
    assert l2.contenders() == ["second"]
    l2.release()
    assert zk.get_children(path) == []


def test_semaphore_and_rwlock(zk, zk2, base):
    sem_path = base + "/sem"
    s1 = zk.Semaphore(sem_path, "s1", max_leases=2)
    s2 = zk2.Semaphore(sem_path, "s2", max_leases=2)
    s3 = zk.Semaphore(sem_path, "s3", max_leases=2)
    assert s1.acquire(timeout=EVENT_WAIT)
    assert s2.acquire(timeout=EVENT_WAIT)
    assert s3.acquire(blocking=False) is False
    assert sorted(s1.lease_holders()) == ["s1", "s2"]
    s1.release()
    assert s3.acquire(timeout=EVENT_WAIT)
    assert sorted(s2.lease_holders()) == ["s2", "s3"]
    s2.release()
    s3.release()

    rw = base + "/rw"
    r1, r2 = zk.ReadLock(rw, "r1"), zk2.ReadLock(rw, "r2")
    w = zk2.WriteLock(rw, "w")
    assert r1.acquire(timeout=EVENT_WAIT)
    assert r2.acquire(timeout=EVENT_WAIT)  # readers share
    assert w.acquire(blocking=False) is False
    r1.release()
    r2.release()
    assert w.acquire(timeout=EVENT_WAIT)
    assert zk.ReadLock(rw, "r3").acquire(blocking=False) is False
    w.release()


def test_election(zk, zk2, base):
    path = base + "/election"
    e1 = zk.Election(path, "leader-a")
    e2 = zk2.Election(path, "leader-b")
    led = EventSink()
    release = {"a": threading.Event(), "b": threading.Event()}

    def lead(name):
        led(name)
        release[name].wait(EVENT_WAIT * 2)

    t1 = threading.Thread(target=e1.run, args=(lead, "a"))
    t1.start()
    led.wait(1)
    t2 = threading.Thread(target=e2.run, args=(lead, "b"))
    t2.start()
    wait_for(lambda: len(e1.contenders()) == 2, what="two contenders")
    assert e1.contenders() == ["leader-a", "leader-b"]
    assert e2.contenders() == ["leader-a", "leader-b"]
    time.sleep(QUIET_WAIT)
    assert led.items == ["a"]
    release["a"].set()  # leader a finishes; b must take over
    assert led.wait(2) == ["a", "b"]
    t1.join(EVENT_WAIT)
    assert e2.contenders() == ["leader-b"]
    release["b"].set()
    t2.join(EVENT_WAIT)
    assert not t1.is_alive() and not t2.is_alive()
    assert zk.get_children(path) == []


def test_barrier(zk, zk2, base):
    path = base + "/barrier"
    b1 = zk.Barrier(path)
    b2 = zk2.Barrier(path)
    b1.create()
    zk2.sync(path)
    assert b2.wait(timeout=0.3) is False
    passed = threading.Event()
    th = threading.Thread(target=lambda: b2.wait(EVENT_WAIT) and passed.set())
    th.start()
    time.sleep(QUIET_WAIT)
    assert not passed.is_set()
    b1.remove()
    assert passed.wait(EVENT_WAIT)
    th.join()
    assert zk.exists(path) is None
    assert b1.wait(timeout=0.1) is True


def test_double_barrier(base):
    path = base + "/dbarrier"
    clients = [new_client() for _ in range(3)]
    log = EventSink()
    try:
        bars = [c.DoubleBarrier(path, 3, identifier="m%d" % i)
                for i, c in enumerate(clients)]

        def member(i):
            bars[i].enter()
            log(("in", i))
            bars[i].leave()
            log(("out", i))

        threads = [threading.Thread(target=member, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        assert log.items == []  # only 2 of 3 arrived: nobody enters
        t3 = threading.Thread(target=member, args=(2,))
        t3.start()
        events = log.wait(6)
        for t in threads + [t3]:
            t.join(EVENT_WAIT)
        # every member entered before any member left
        kinds = [k for k, _ in events]
        assert kinds == ["in"] * 3 + ["out"] * 3
        assert sorted(i for k, i in events if k == "in") == [0, 1, 2]
        assert clients[0].get_children(path) == []
    finally:
        for c in clients:
            close_client(c)


def test_counter(zk, zk2, base):
    path = base + "/counter"
    c = zk.Counter(path)
    assert c.value == 0
    c += 5
    assert c.value == 5
    assert (c.pre_value, c.post_value) == (0, 5)
    c -= 2
    assert c.value == 3
    assert zk.get(path)[0] == b"3"
    # concurrent increments from two sessions (version-checked updates)
    c2 = zk2.Counter(path)

    def bump(counter):
        for _ in range(15):
            counter += 1

    ts = [threading.Thread(target=bump, args=(x,)) for x in (c, c2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    zk.sync(path)
    assert c.value == 33
    assert zk.get(path)[1].version == 32
    f = zk.Counter(base + "/fcounter", default=0.5)
    f += 1.25
    assert f.value == 1.75


def test_queue(zk, zk2, base):
    path = base + "/queue"
    q = zk.Queue(path)
    q2 = zk2.Queue(path)
    assert len(q) == 0 and q.get() is None
    q.put(b"one")
    q.put(b"two")
    q.put(b"urgent", priority=1)
    q.put(b"three")
    assert len(q) == 4
    zk2.sync(path)
    assert [q2.get(), q2.get(), q.get(), q2.get()] == [b"urgent", b"one", b"two", b"three"]
    assert q.get() is None and len(q2) == 0


def test_locking_queue(zk, zk2, base):
    path = base + "/lqueue"
    q = zk.LockingQueue(path)
    q.put(b"a")
    q.put_all([b"b", b"c"])
    q.put(b"first", priority=5)
    assert len(q) == 4
    assert q.get(timeout=EVENT_WAIT) == b"first"
    assert q.holds_lock()
    assert len(q) == 4  # not consumed yet
    q2 = zk2.LockingQueue(path)
    assert q2.get(timeout=EVENT_WAIT) == b"a"  # "first" is locked by q
    assert q.consume() is True
    assert len(q) == 3  # "a" is taken by q2, but still queued
    assert q2.release() is True  # put "a" back for someone else
    assert len(q) == 3
    assert q.get(timeout=EVENT_WAIT) == b"a"
    q.consume()
    got = []
    for _ in range(2):
        got.append(q2.get(timeout=EVENT_WAIT))
        q2.consume()
    assert got == [b"b", b"c"]
    assert len(q) == 0
    assert q.get(timeout=0.2) is None


def test_party(zk, zk2, base):
    path = base + "/party"
    p1 = zk.Party(path, "alpha")
    p2 = zk2.Party(path, "beta")
    assert len(p1) == 0 and list(p1) == []
    p1.join()
    p2.join()
    zk.sync(path)
    assert len(p1) == 2
    assert sorted(p1) == ["alpha", "beta"]
    p2.leave()
    zk.sync(path)
    assert list(p1) == ["alpha"]
    sp = zk2.ShallowParty(base + "/shallow", "gamma")
    sp.join()
    assert list(zk.ShallowParty(base + "/shallow", "x")) == ["gamma"]
    # party members are ephemerals: closing the session removes them
    close_client_later = new_client()
    p3 = close_client_later.Party(path, "delta")
    p3.join()
    zk.sync(path)
    assert sorted(p1) == ["alpha", "delta"]
    close_client(close_client_later)
    zk.sync(path)
    assert list(p1) == ["alpha"]
    p1.leave()
    sp.leave()

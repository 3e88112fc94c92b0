"""A tiny ZooKeeper client over raw sockets, for measuring unavailability.

`Prober` keeps writing (setData) to one node through any server of a list, reconnecting
to the next server at once when a connection fails or a reply takes longer than
`timeout`, and records the wall-clock time of every acknowledged write. The gap around a
fault (kill -9 or SIGSTOP of the leader) is then: first acknowledged write after the fault
minus last acknowledged write before it.
"""
import socket
import struct
import threading
import time

SET_DATA, CREATE = 5, 1
OPEN_ACL = [(31, "world", "anyone")]


def _frame(body):
    return struct.pack(">i", len(body)) + body


def _string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _buffer(b):
    return struct.pack(">i", len(b)) + b


class _Conn:
    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.xid = 0
        req = struct.pack(">iqiq", 0, 0, 10000, 0) + _buffer(b"\0" * 16) + b"\0"
        self.sock.sendall(_frame(req))
        body = self._read()
        _, negotiated, session = struct.unpack(">iiq", body[:16])
        if session == 0:
            raise OSError("session refused")

    def _read(self):
        def exact(n):
            out = b""
            while len(out) < n:
                chunk = self.sock.recv(n - len(out))
                if not chunk:
                    raise OSError("closed")
                out += chunk
            return out

        (n,) = struct.unpack(">i", exact(4))
        return exact(n)

    def call(self, op, body):
        self.xid += 1
        self.sock.sendall(_frame(struct.pack(">ii", self.xid, op) + body))
        while True:
            reply = self._read()
            xid, _, err = struct.unpack(">iqi", reply[:16])
            if xid == -1:
                continue  # a watch event
            if xid != self.xid:
                raise OSError(f"reply xid {xid}, expected {self.xid}")
            return err

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Prober:
    """Writes to `path` through `ports` in a background thread until `stop()`."""

    def __init__(self, ports, path="/zkrs-probe", timeout=2.0):
        self.ports, self.path, self.timeout = list(ports), path, timeout
        self.acked = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.acked:
            if time.monotonic() > deadline:
                raise RuntimeError("the prober never got a write acknowledged")
            time.sleep(0.01)
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()

    def gap_around(self, t):
        """The longest pause between consecutive acknowledged writes that ends after `t`
        (writes in flight at `t` may still be acknowledged just after it), or None while
        writes have not resumed for `settle` seconds after that pause."""
        acked = list(self.acked)
        gaps = [(b - a, b) for a, b in zip(acked, acked[1:]) if b > t]
        if not gaps:
            return None
        gap, end = max(gaps)
        settle = 0.5
        if acked[-1] - end < settle:
            return None
        return gap

    def _run(self):
        i = 0
        acl = struct.pack(">i", 1) + struct.pack(">i", 31) + _string("world") + _string("anyone")
        while not self._stop.is_set():
            port = self.ports[i % len(self.ports)]
            i += 1
            try:
                c = _Conn(port, self.timeout)
            except OSError:
                time.sleep(0.005)
                continue
            try:
                c.call(CREATE, _string(self.path) + _buffer(b"") + acl + struct.pack(">i", 0))
                while not self._stop.is_set():
                    err = c.call(SET_DATA, _string(self.path) + _buffer(b"x" * 8) + struct.pack(">i", -1))
                    if err != 0:
                        break
                    self.acked.append(time.monotonic())
            except OSError:
                pass
            finally:
                c.close()

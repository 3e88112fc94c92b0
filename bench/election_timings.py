#!/usr/bin/env python3
"""Election timings of zk-rs beside Apache ZooKeeper 3.8, same machine, same settings.

For each system and run: start three servers at once and time until all three answer `srvr`
with a mode (cold start); `kill -9` the leader and time until the two survivors serve with one
leader (failover); restart the killed node and time until it serves as a follower (rejoin).

Usage: bench/election_timings.py [--runs 5] [--tick 2000] [--zk-rs target/release/zk-server]
Needs the Debian package `zookeeper` (installed with apt-get if missing, as root).
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ZK_CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"


def srvr_mode(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.settimeout(0.5)
            s.sendall(b"srvr")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


def wait_modes(ports, want_leader=True, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        modes = [srvr_mode(p) for p in ports]
        if all(modes) and (not want_leader or modes.count("leader") == 1):
            return time.monotonic(), modes
        time.sleep(0.01)
    raise RuntimeError(f"no single leader among ports {ports} within {timeout}s: {modes}")


class Ensemble:
    def __init__(self, system, binary, tick, base, heap="512m"):
        self.system, self.binary, self.tick, self.heap = system, binary, tick, heap
        self.dir = tempfile.mkdtemp(prefix=f"bench-{system}-")
        self.client = [base + i for i in range(3)]
        self.procs = {}
        servers = "".join(
            f"server.{i + 1}=127.0.0.1:{base + 100 + i}:{base + 200 + i}\n" for i in range(3))
        for i in range(3):
            d = os.path.join(self.dir, f"node-{i + 1}")
            os.makedirs(os.path.join(d, "data"))
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write(f"{i + 1}\n")
            with open(os.path.join(d, "zoo.cfg"), "w") as f:
                f.write(f"tickTime={tick}\ninitLimit=10\nsyncLimit=5\n"
                        f"dataDir={os.path.join(d, 'data')}\nclientPort={self.client[i]}\n"
                        f"clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n{servers}")

    def start(self, i):
        d = os.path.join(self.dir, f"node-{i + 1}")
        cfg = os.path.join(d, "zoo.cfg")
        log = open(os.path.join(d, "server.log"), "ab")
        if self.system == "zookeeper":
            cmd = ["java", f"-Xmx{self.heap}", f"-Dzookeeper.log.dir={d}", "-Dzookeeper.root.logger=WARN,CONSOLE",
                   "-cp", ZK_CLASSPATH, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        else:
            cmd = [self.binary, "--config", cfg]
        env = dict(os.environ, RUST_LOG="warn")
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)

    def kill9(self, i):
        p = self.procs.pop(i)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop(self):
        for i in list(self.procs):
            self.kill9(i)
        shutil.rmtree(self.dir, ignore_errors=True)


def one_run(system, binary, tick, base):
    e = Ensemble(system, binary, tick, base)
    try:
        t0 = time.monotonic()
        for i in range(3):
            e.start(i)
        t1, modes = wait_modes(e.client)
        leader = modes.index("leader")
        survivors = [p for j, p in enumerate(e.client) if j != leader]
        t2 = time.monotonic()
        e.kill9(leader)
        t3, _ = wait_modes(survivors)
        t4 = time.monotonic()
        e.start(leader)
        t5, modes = wait_modes(e.client)
        return {"cold_start": t1 - t0, "failover": t3 - t2, "rejoin": t5 - t4,
                "rejoined_as": modes[leader]}
    finally:
        e.stop()


def ensure_zookeeper():
    if os.path.exists("/usr/share/java/zookeeper.jar"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "zookeeper"], check=True, env=env)


def fmt(xs):
    return f"{statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tick", type=int, default=2000)
    ap.add_argument("--zk-rs", default="target/release/zk-server")
    args = ap.parse_args()
    ensure_zookeeper()
    if not os.path.exists(args.zk_rs):
        subprocess.run(["cargo", "build", "--release", "-p", "zk-server"], check=True)
    results = {"zookeeper": [], "zk-rs": []}
    for r in range(args.runs):
        # Alternate the order so neither system always runs on a warmer machine.
        order = ["zookeeper", "zk-rs"] if r % 2 == 0 else ["zk-rs", "zookeeper"]
        for system in order:
            base = 24000 if system == "zookeeper" else 25000
            res = one_run(system, args.zk_rs, args.tick, base)
            print(f"run {r + 1} {system}: " + ", ".join(
                f"{k} {v:.2f}s" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()), flush=True)
            results[system].append(res)
    print()
    print(f"tickTime={args.tick} ms, initLimit=10, syncLimit=5, 3 servers on 127.0.0.1, {args.runs} runs each")
    print("| system | cold start to all serving | leader kill -9 to new leader serving | restarted node serving |")
    print("| --- | --- | --- | --- |")
    for system, rs in results.items():
        print(f"| {system} | {fmt([x['cold_start'] for x in rs])} | {fmt([x['failover'] for x in rs])} | "
              f"{fmt([x['rejoin'] for x in rs])} |")


if __name__ == "__main__":
    sys.exit(main())

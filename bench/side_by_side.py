#!/usr/bin/python3
"""zk-rs beside Apache ZooKeeper 3.8 on this machine, in one run, with the same settings.

For each system in turn: a 3-node ensemble on loopback (tickTime, initLimit, syncLimit,
fsync on, data directories on the same filesystem), then
  * cold start: from launching the three servers to all three serving;
  * resident memory per server when idle;
  * zk-bench workloads against all three servers: writes (setData) at 32 sessions with 1
    and 16 requests in flight, reads (getData) at 32 sessions, and writes over a range of
    session counts for the plot;
  * resident memory per server after populating N znodes of 100 bytes;
  * unavailability: a client writing through the followers, the leader killed with -9
    (and, in a fresh ensemble, stopped with SIGSTOP): last acknowledged write before to
    first after;
and, once, the floor: the latency of write+fsync of 4 KiB on the data filesystem and the
TCP round trip on loopback.

Prints one markdown table with both systems and their ratio, writes the raw results as
JSON and a PNG plot of throughput against sessions (matplotlib, from Debian's
python3-matplotlib, installed if missing).

Usage: /usr/bin/python3 bench/side_by_side.py [--tick 2000] [--duration 10] [--znodes 1000000]
           [--zk-rs target/release/zk-server] [--zk-bench target/release/zk-bench]
           [--out bench/results] [--quick] [--from-json bench/results/side_by_side.json]
Installs Apache ZooKeeper 3.8 from the Debian package if needed (as root).
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from election_timings import Ensemble, ensure_zookeeper, wait_modes  # noqa: E402
from probe import Prober  # noqa: E402

SYSTEMS = ("zookeeper", "zk-rs")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def fsync_floor(directory, n=200):
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"x" * 4096
    times = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    return statistics.median(times) * 1e3


def loopback_rtt(n=2000):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname())
    s, _ = srv.accept()
    for sock in (c, s):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        c.sendall(b"p")
        s.recv(1)
        s.sendall(b"q")
        c.recv(1)
        times.append(time.perf_counter() - t)
    for sock in (c, s, srv):
        sock.close()
    return statistics.median(times) * 1e6


def bench(zk_bench, hosts, workload, duration, extra=()):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [zk_bench, "--hosts", ",".join(f"127.0.0.1:{p}" for p in hosts),
           "--workload", workload, "--json", out, "--value-size", "100", *map(str, extra)]
    if duration is not None:
        # A JIT needs a few seconds: both systems get the same warm-up.
        cmd += ["--duration", f"{duration}s", "--warmup", "5s"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        res = json.load(f)
    os.unlink(out)
    return res


def start_all(system, args, base):
    # ZooKeeper holds about 440 bytes of heap per znode: room for the populated tree.
    e = Ensemble(system, args.zk_rs, args.tick, base, heap="3g")
    t0 = time.monotonic()
    for i in range(3):
        e.start(i)
    t1, modes = wait_modes(e.client)
    return e, t1 - t0, modes


def unavailability(system, args, base, sig):
    """Gap in acknowledged writes around `sig` sent to the leader, probing via followers."""
    e, _, modes = start_all(system, args, base)
    try:
        leader = modes.index("leader")
        followers = [p for j, p in enumerate(e.client) if j != leader]
        prober = Prober(followers).start()
        time.sleep(1.0)
        t = time.monotonic()
        e.procs[leader].send_signal(sig)
        deadline = time.monotonic() + 60
        # Wait past the outage: a pause after the fault, then writes flowing again.
        time.sleep(1.0)
        while prober.gap_around(t) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        prober.stop()
        if sig == signal.SIGSTOP:
            e.procs[leader].send_signal(signal.SIGCONT)
        return prober.gap_around(t)
    finally:
        e.stop()


def measure(system, args, base):
    r = {}
    e, r["cold_start_s"], _ = start_all(system, args, base)
    try:
        time.sleep(3)
        r["rss_idle_mib"] = [rss_mib(p.pid) for p in e.procs.values()]
        d = args.duration
        r["write_32x1"] = bench(args.zk_bench, e.client, "write", d, ["--sessions", 32, "--inflight", 1])
        r["write_32x16"] = bench(args.zk_bench, e.client, "write", d, ["--sessions", 32, "--inflight", 16])
        r["read_32x1"] = bench(args.zk_bench, e.client, "read", d, ["--sessions", 32, "--inflight", 1])
        r["sweep"] = {}
        for n in args.sweep:
            r["sweep"][n] = bench(args.zk_bench, e.client, "write", d, ["--sessions", n, "--inflight", 1])
        r["populate"] = bench(args.zk_bench, e.client, "populate", None,
                              # --keep: removing a million children is not what is measured.
                              ["--znodes", args.znodes, "--keep", "--sessions", 32,
                               "--inflight", 16])
        time.sleep(3)
        r["rss_populated_mib"] = [rss_mib(p.pid) for p in e.procs.values()]
    finally:
        e.stop()
    r["unavailable_kill9_s"] = unavailability(system, args, base, signal.SIGKILL)
    r["unavailable_sigstop_s"] = unavailability(system, args, base, signal.SIGSTOP)
    return r


def ops(res):
    return res["ops_per_sec"]


def p99_ms(res):
    return res["latency_us"]["p99"] / 1000.0


def table(results, args, floor):
    z, k = results["zookeeper"], results["zk-rs"]
    rows = []

    def row(name, zv, kv, fmt, better_high):
        ratio = (kv / zv if better_high else zv / kv) if zv and kv else float("nan")
        rows.append(f"| {name} | {fmt(zv)} | {fmt(kv)} | {ratio:.2f}x |")

    per_znode = lambda r: (statistics.mean(r["rss_populated_mib"]) - statistics.mean(r["rss_idle_mib"])) \
        * 1024 * 1024 / args.znodes
    row("writes/s, 32 sessions x 1 in flight", ops(z["write_32x1"]), ops(k["write_32x1"]), lambda v: f"{v:,.0f}", True)
    row("p99 write latency at 32 x 1 (ms)", p99_ms(z["write_32x1"]), p99_ms(k["write_32x1"]), lambda v: f"{v:.2f}", False)
    row("writes/s, 32 sessions x 16 in flight", ops(z["write_32x16"]), ops(k["write_32x16"]), lambda v: f"{v:,.0f}", True)
    row("p99 write latency at 32 x 16 (ms)", p99_ms(z["write_32x16"]), p99_ms(k["write_32x16"]), lambda v: f"{v:.2f}", False)
    row("reads/s, 32 sessions x 1 in flight", ops(z["read_32x1"]), ops(k["read_32x1"]), lambda v: f"{v:,.0f}", True)
    row("resident memory per server, idle (MiB)", statistics.mean(z["rss_idle_mib"]),
        statistics.mean(k["rss_idle_mib"]), lambda v: f"{v:.0f}", False)
    row(f"resident memory per server, {args.znodes:,} znodes (MiB)", statistics.mean(z["rss_populated_mib"]),
        statistics.mean(k["rss_populated_mib"]), lambda v: f"{v:.0f}", False)
    row("resident bytes per znode", per_znode(z), per_znode(k), lambda v: f"{v:.0f}", False)
    row("populate rate (znodes/s)", ops(z["populate"]), ops(k["populate"]), lambda v: f"{v:,.0f}", True)
    row("unavailable after leader kill -9 (s)", z["unavailable_kill9_s"], k["unavailable_kill9_s"],
        lambda v: f"{v:.2f}" if v is not None else "n/a", False)
    row("unavailable after leader SIGSTOP (s)", z["unavailable_sigstop_s"], k["unavailable_sigstop_s"],
        lambda v: f"{v:.2f}" if v is not None else "n/a", False)
    row("cold start to all serving (s)", z["cold_start_s"], k["cold_start_s"], lambda v: f"{v:.2f}", False)
    head = [f"Machine: {os.cpu_count()} CPUs, {os.uname().release}; floor: write+fsync 4 KiB "
            f"{floor['fsync_ms']:.2f} ms (median), loopback TCP round trip {floor['rtt_us']:.0f} us (median).",
            f"Settings: 3 servers on 127.0.0.1, tickTime={args.tick}, initLimit=10, syncLimit=5, fsync on, "
            f"{args.duration} s per workload after 5 s warm-up, values of 100 bytes.",
            "", "| measure | ZooKeeper 3.8 | zk-rs | zk-rs advantage |", "| --- | --- | --- | --- |"]
    return "\n".join(head + rows)


def plot(results, path):
    try:
        import matplotlib
    except ImportError:
        subprocess.run(["apt-get", "install", "-y", "-qq", "python3-matplotlib"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for system in SYSTEMS:
        sweep = results[system]["sweep"]
        xs = sorted(int(n) for n in sweep)
        ax.plot(xs, [ops(sweep[n if n in sweep else str(n)]) for n in xs], marker="o", label=system)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sessions (1 request in flight each)")
    ax.set_ylabel("writes/s (setData, fsync on)")
    ax.set_title("3-node ensemble on loopback, same machine, same run")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tick", type=int, default=2000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--znodes", type=int, default=1_000_000)
    ap.add_argument("--zk-rs", default="target/release/zk-server")
    ap.add_argument("--zk-bench", default="target/release/zk-bench")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--quick", action="store_true", help="short runs, 20,000 znodes: to try the script")
    ap.add_argument("--from-json", help="print the table and plot again from a saved run")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        for k, v in saved["settings"].items():
            if k not in ("from_json", "out"):
                setattr(args, k, v)
        print(table(saved["results"], args, saved["floor"]))
        plot(saved["results"], os.path.join(args.out, "throughput_vs_sessions.png"))
        return 0
    if args.quick:
        args.duration, args.znodes = 3, 20_000
    args.sweep = [1, 4, 16, 32, 64] if not args.quick else [1, 32]
    ensure_zookeeper()
    if not (os.path.exists(args.zk_rs) and os.path.exists(args.zk_bench)):
        subprocess.run(["cargo", "build", "--release", "-p", "zk-server", "-p", "zk-bench"], check=True)
    os.makedirs(args.out, exist_ok=True)
    floor = {"fsync_ms": fsync_floor(tempfile.gettempdir()), "rtt_us": loopback_rtt()}
    results = {}
    for system, base in (("zookeeper", 24000), ("zk-rs", 25000)):
        print(f"== {system}", flush=True)
        results[system] = measure(system, args, base)
    with open(os.path.join(args.out, "side_by_side.json"), "w") as f:
        json.dump({"floor": floor, "results": results, "settings": vars(args)}, f, indent=2, default=str)
    print(table(results, args, floor))
    plot(results, os.path.join(args.out, "throughput_vs_sessions.png"))


if __name__ == "__main__":
    sys.exit(main())

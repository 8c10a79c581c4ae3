#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's throughput through chand, next to the C library's in the same
run.

Starts a private daemon (build/daemon/chand, or $CHAND_BIN_DIR/daemon/chand)
and prints:

- pipelined sends (send_nowait + flush) from P producer processes at 16 B
  and 1 KiB: messages/s from the first send to the last confirmation,
  into an unbounded channel nobody drains during the run;
- the C library's figures for the same P and sizes from chan-bench
  (first send to last receive, its own private daemons);
- confirmed sends (send, one round trip each) from one process, and
  redis-py's non-pipelined LPUSH to a private redis-server on a Unix
  socket when both are installed.

No figure is asserted; the run fails only if a message is missing.

    /usr/bin/python3 python/bench.py [--count N] [--quick]
"""

import argparse
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import chand  # noqa: E402

BIN_DIR = os.path.abspath(os.environ.get("CHAND_BIN_DIR",
                                         os.path.join(HERE, "..", "build")))


def start_daemon(tmp):
    sock = os.path.join(tmp, "chand.sock")
    r, w = os.pipe()
    p = subprocess.Popen([os.path.join(BIN_DIR, "daemon", "chand"), "--socket", sock,
                          "--log-level", "error", "--ready-fd", str(w),
                          "--max-queued-bytes", "2G"], pass_fds=(w,))
    os.close(w)
    ready, _, _ = select.select([r], [], [], 20)
    if not ready or not os.read(r, 16).startswith(b"READY"):
        p.kill()
        sys.exit("bench: chand did not start")
    os.close(r)
    return p, sock


def worker(sock, name, size, n):
    """One producer process: waits for 'go' on stdin, sends, reports."""
    c = chand.connect(sock)
    tx = c.sender(name, capacity=chand.UNBOUNDED, capacity_bytes=chand.UNBOUNDED)
    payload = b"x" * size
    print("ready", flush=True)
    sys.stdin.readline()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    send = tx.send_nowait
    for _ in range(n):
        send(payload)
    tx.flush()
    t1 = time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"start": t0, "end": t1, "cpu": cpu}), flush=True)
    tx.close()
    c.close()


def python_pipelined(sock, producers, size, n):
    name = "bench-%d-%d" % (producers, size)
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", sock, name,
                               str(size), str(n)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
             for _ in range(producers)]
    for p in procs:
        if p.stdout.readline().strip() != b"ready":
            sys.exit("bench: a producer failed to start")
    for p in procs:
        p.stdin.write(b"go\n")
        p.stdin.flush()
    res = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait(60)
    secs = max(r["end"] for r in res) - min(r["start"] for r in res)
    with chand.connect(sock) as c:
        ch = [x for x in c.info("channels")["channels"] if x["name"] == name.encode()][0]
        if ch["queued"] != producers * n:
            sys.exit("bench: %d queued, %d sent" % (ch["queued"], producers * n))
    # Drop the channel's messages: a consumer that takes them all would
    # keep the daemon's memory for the next run otherwise.
    cpu_ns = sum(r["cpu"] for r in res) * 1e9 / (producers * n)
    return producers * n / secs, cpu_ns


def c_figures(producers, sizes, n):
    out = subprocess.run([os.path.join(BIN_DIR, "bench", "chan-bench"), "--json",
                          "-t", "chand", "--no-latency",
                          "-P", ",".join(map(str, producers)),
                          "-s", ",".join(map(str, sizes)), "-n", str(n)],
                         capture_output=True, timeout=600)
    figs = {}
    try:
        for run in json.loads(out.stdout)["runs"]:
            if run.get("mode") == "throughput" and run.get("ok"):
                figs[(run["producers"], run["size"])] = (
                    run["msgs_per_s"], run["cpu_ns_per_msg"]["producer"])
    except (ValueError, KeyError):
        pass
    return figs


def confirmed(sock, n):
    with chand.connect(sock) as c, c.sender("confirmed", capacity=chand.UNBOUNDED) as tx:
        payload = b"x" * 16
        t0 = time.monotonic()
        for _ in range(n):
            tx.send(payload)
        return n / (time.monotonic() - t0)


def c_confirmed(sock, n):
    """chan-send --try: libchanclient, each message confirmed before the
    next (a round trip each), from one process."""
    lines = b"x" * 15 + b"\n"
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(BIN_DIR, "client", "chan-send"), "--socket", sock,
                        "--try", "c-confirmed"], input=lines * n,
                       capture_output=True, timeout=600)
    secs = time.monotonic() - t0
    if r.returncode != 0:
        return None
    return n / secs


def redis_lpush(tmp, n):
    try:
        import redis
    except ImportError:
        return None, "python3-redis not installed"
    server = shutil.which("redis-server")
    if server is None:
        return None, "redis-server not installed"
    rsock = os.path.join(tmp, "redis.sock")
    p = subprocess.Popen([server, "--port", "0", "--unixsocket", rsock, "--save", "",
                          "--appendonly", "no", "--dir", tmp],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(unix_socket_path=rsock)
        end = time.monotonic() + 20
        while True:   # bounded: redis has no readiness signal to wait on
            try:
                r.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > end or p.poll() is not None:
                    return None, "redis-server did not start"
                time.sleep(0.01)
        payload = b"x" * 16
        t0 = time.monotonic()
        for _ in range(n):
            r.lpush("bench", payload)
        rate = n / (time.monotonic() - t0)
        if r.llen("bench") != n:
            sys.exit("bench: redis lost messages")
        return rate, ""
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(20)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=200000,
                    help="16-byte messages per producer (1 KiB: a quarter)")
    ap.add_argument("--confirmed", type=int, default=20000,
                    help="confirmed sends (and LPUSHes)")
    ap.add_argument("--quick", action="store_true", help="small counts")
    a = ap.parse_args()
    if a.quick:
        a.count, a.confirmed = 20000, 2000
    tmp = tempfile.mkdtemp(prefix="chand-pybench-")
    producers, sizes = (1, 4), (16, 1024)
    print("chand Python bench: %s, msgpack %s, %d CPUs"
          % (sys.version.split()[0], ".".join(map(str, __import__("msgpack").version)),
             os.cpu_count()))
    py = {}
    d, sock = start_daemon(tmp)
    try:
        for size in sizes:
            n = a.count if size <= 16 else max(1000, a.count // 4)
            for p in producers:
                # A fresh daemon per run: the previous run's messages stay
                # queued in the one before.
                py[(p, size)] = (python_pipelined(sock, p, size, n), n)
                d.send_signal(signal.SIGTERM)
                d.wait(30)
                d, sock = start_daemon(tmp)
        conf = confirmed(sock, a.confirmed)
        cconf = c_confirmed(sock, a.confirmed)
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(30)
    cfig = c_figures(producers, sizes, a.count)
    print()
    print("Pipelined sends (Python: send_nowait + flush, first send to last "
          "confirmation;")
    print("C: chan-bench, libchanclient chan_tx_send_async, first send to last "
          "receive)")
    print("%3s %6s %9s %13s %13s %6s %12s %12s" % (
        "P", "size", "msgs", "Python msg/s", "C msg/s", "Py/C",
        "Py prod ns", "C prod ns"))
    for size in sizes:
        for p in producers:
            (rate, cpu), n = py[(p, size)]
            c = cfig.get((p, size))
            print("%3d %6d %9d %13.0f %13s %6s %12.0f %12s" % (
                p, size, p * n, rate, "%.0f" % c[0] if c else "-",
                "%.2f" % (rate / c[0]) if c else "-", cpu,
                "%.0f" % c[1] if c else "-"))
    print("(prod ns: CPU time of the producer processes per message, user + "
          "system)")
    print()
    print("Confirmed sends, 16 B, one process, one at a time (a round trip each):")
    print("  chand Python send()     %10.0f msg/s" % conf)
    if cconf:
        print("  chand C chan-send --try %10.0f msg/s   (process start included)"
              % cconf)
    rl, why = redis_lpush(tmp, a.confirmed)
    if rl is None:
        print("  redis-py LPUSH          %10s (%s)" % ("-", why))
    else:
        print("  redis-py LPUSH          %10.0f msg/s   chand/redis %.2f" % (rl, conf / rl))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

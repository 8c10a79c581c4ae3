# SPDX-License-Identifier: MIT
"""Python and the C programs on one channel, both ways; big and binary
payloads; producers and consumers killed with SIGKILL."""

import os
import signal
import time

import pytest

import chand
from conftest import CHAN_RECV, CHAN_SEND, read_line, run, spawn_python

BINARY = bytes(range(256)) * 4


def test_chan_send_to_python(client, daemon):
    with client.receiver("c2p") as rx:
        r = run([CHAN_SEND, "--socket", daemon.sock, "c2p", "one", "two", ""])
        assert r.returncode == 0, r.stderr
        assert [m.data for m in rx] == [b"one", b"two", b""]


def test_python_to_chan_recv(client, daemon):
    with client.sender("p2c") as tx:
        for i in range(1, 10):
            tx.send_nowait(b"%d" % i)
    r = run([CHAN_RECV, "--socket", daemon.sock, "--follow", "p2c"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"".join(b"%d\n" % i for i in range(1, 10))


def test_binary_payload_both_ways(client, daemon):
    nul_free = bytes(range(1, 256)) * 3
    with client.receiver("bin") as rx:
        r = run([CHAN_SEND, "--socket", daemon.sock, "-0", "bin"],
                input=nul_free + b"\0" + b"\n\r\xff" + b"\0")
        assert r.returncode == 0, r.stderr
        assert [m.data for m in rx] == [nul_free, b"\n\r\xff"]
    with client.sender("bin2") as tx:
        tx.send(BINARY)
    r = run([CHAN_RECV, "--socket", daemon.sock, "-0", "bin2"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == BINARY + b"\0"


def test_one_mib_payloads(client, daemon):
    big = os.urandom(client.max_msg)
    with client.sender("mib") as tx, client.receiver("mib") as rx:
        tx.send(big)
        tx.send_nowait(big[::-1])
        tx.flush()
        assert rx.recv(timeout=20).data == big
        assert rx.recv(timeout=20).data == big[::-1]
        tx.send(big)
    r = run([CHAN_RECV, "--socket", daemon.sock, "-0", "mib"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == big + b"\0"


PRODUCER = r"""
import sys, chand
c = chand.connect()
tx = c.sender(sys.argv[1] if len(sys.argv) > 1 else "killed")
for i in range(3):
    tx.send(b"%d" % i)
print("sent", flush=True)
sys.stdin.read()   # until killed
"""


def test_sigkill_of_a_producer_disconnects(client, daemon):
    with client.receiver("killed") as rx:
        p = spawn_python(PRODUCER, daemon.sock)
        try:
            assert read_line(p) == "sent"
            assert [rx.recv(timeout=10).data for _ in range(3)] == [b"0", b"1", b"2"]
            with pytest.raises(chand.Timeout):   # the producer is alive
                rx.recv(timeout=0.05)
            os.kill(p.pid, signal.SIGKILL)
            p.wait(20)
            with pytest.raises(chand.Disconnected):
                rx.recv(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


CONSUMER = r"""
import chand
c = chand.connect()
rx = c.receiver("work", manual_ack=True)
for _ in range(2):
    m = rx.recv()
    print(m.data.decode(), flush=True)
rx.ack(m)          # acknowledged, but never sent: the process dies first
import sys
sys.stdin.read()
"""


def test_redelivery_after_a_killed_consumer(client, daemon):
    with client.sender("work") as tx:
        for w in (b"a", b"b", b"c"):
            tx.send(w)
    p = spawn_python(CONSUMER, daemon.sock)
    try:
        assert [read_line(p), read_line(p)] == ["a", "b"]
        os.kill(p.pid, signal.SIGKILL)
        p.wait(20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # The daemon frees the consumer slot when it reads the socket's end:
    # wait for that in its admin view, round trip after round trip.
    end = time.monotonic() + 20
    while daemon.channel(client, "work")["consumer"] is not None:
        assert time.monotonic() < end, "the killed consumer is still attached"
    with client.receiver("work") as rx:
        got = [rx.recv(timeout=20) for _ in range(3)]
        assert [(m.data, m.redelivered) for m in got] == \
            [(b"a", True), (b"b", True), (b"c", False)]


def test_chan_recv_killed_python_gets_the_rest(client, daemon):
    with client.sender("k2") as tx:
        for i in range(5):
            tx.send(b"%d" % i)
    r = run([CHAN_RECV, "--socket", daemon.sock, "k2"])
    assert r.stdout == b"0\n"
    with client.receiver("k2") as rx:
        assert [m.data for m in rx.try_iter()] == [b"1", b"2", b"3", b"4"]


def test_through_a_libchanclient_program(client, daemon):
    """Python → examples/uv_consumer (libchanclient in a libuv loop,
    forwarding with pipelined sends) → Python: binary payloads both ways."""
    import subprocess
    import threading
    from conftest import BIN_DIR
    uvc = os.path.join(BIN_DIR, "examples", "uv_consumer")
    out = client.receiver("out", prefetch=64)
    p = subprocess.Popen([uvc, "--socket", daemon.sock, "--forward", "out", "in1", "in2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert read_line(p) == "ready"
        drain = threading.Thread(target=p.stdout.read)   # its prints
        drain.start()
        sent = {b"in1": [], b"in2": []}
        with client.sender("in1") as t1, client.sender("in2") as t2:
            for i in range(200):
                for tx in (t1, t2):
                    m = tx.name + b"\0" + os.urandom(i * 5)
                    sent[tx.name].append(m)
                    tx.send_nowait(m)
        got = [m.data for m in out]       # ends when uv_consumer exits
        assert p.wait(20) == 0, p.stderr.read()
        drain.join(20)
        for name in sent:
            assert [m for m in got if m.startswith(name + b"\0")] == sent[name]
        assert len(got) == 400
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()

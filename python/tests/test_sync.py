# SPDX-License-Identifier: MIT
"""The blocking API against a real daemon."""

import threading

import pytest

import chand
from conftest import need_feature, need_v2


def test_connect_handshake(daemon, client):
    assert client.version in (1, 2)
    assert client.max_msg == 1 << 20
    assert client.server.startswith("chand")
    assert client.daemon_pid == daemon.proc.pid


def test_no_daemon(tmp_path):
    with pytest.raises(chand.NoDaemon):
        chand.connect(str(tmp_path / "nothing.sock"))


def test_default_socket(monkeypatch, daemon):
    monkeypatch.setenv("CHAND_SOCKET", daemon.sock)
    assert chand.default_socket() == daemon.sock
    with chand.connect() as c:
        assert c.socket_path == daemon.sock


def test_send_recv_in_order(client):
    with client.sender("q") as tx, client.receiver("q") as rx:
        for i in range(10):
            tx.send(b"m%d" % i)
        got = [rx.recv() for _ in range(10)]
        assert [m.data for m in got] == [b"m%d" % i for i in range(10)]
        assert [m.seq for m in got] == list(range(1, 11))
        assert not any(m.redelivered for m in got)


def test_str_refused_bytes_like_taken(client):
    with client.sender("s") as tx, client.receiver("s") as rx:
        with pytest.raises(TypeError):
            tx.send("text")
        with pytest.raises(TypeError):
            tx.send_nowait("text")
        with pytest.raises(TypeError):
            tx.send(42)
        tx.send("text".encode())
        tx.send(bytearray(b"ba"))
        tx.send(memoryview(b"mv"))
        assert [rx.recv().data for _ in range(3)] == [b"text", b"ba", b"mv"]
        assert rx.try_recv.__doc__


def test_try_recv_empty_then_disconnected(client):
    rx = client.receiver("t")
    with pytest.raises(chand.Empty):
        rx.try_recv()           # no producer ever: empty, not disconnected
    tx = client.sender("t")
    tx.send(b"x")
    tx.close()
    assert rx.try_recv().data == b"x"   # messages first
    with pytest.raises(chand.Disconnected):
        rx.try_recv()
    rx.close()


def test_recv_timeout(client):
    with client.receiver("slow") as rx, client.sender("slow") as tx:
        with pytest.raises(chand.Timeout):
            rx.recv(timeout=0.05)
        with pytest.raises(TimeoutError):   # a builtin TimeoutError too
            rx.recv(timeout=0)
        tx.send(b"late")
        assert rx.recv(timeout=10).data == b"late"


def test_iteration_ends_at_disconnection(client, daemon):
    with client.receiver("it") as rx:
        with daemon.connect() as c2:
            tx = c2.sender("it")
            tx2 = tx.clone()
            for i in range(5):
                tx.send_nowait(b"%d" % i)
            tx.close()
            tx2.send(b"clone")      # still a producer: not disconnected
            tx2.close()
        assert [m.data for m in rx] == [b"0", b"1", b"2", b"3", b"4", b"clone"]


def test_try_iter_stops_before_disconnection(client):
    with client.receiver("ti", prefetch=4) as rx:
        assert list(rx.try_iter()) == []
        tx = client.sender("ti")
        for i in range(10):
            tx.send_nowait(b"%d" % i)
        tx.flush()
        assert [m.data for m in rx.try_iter()] == [b"%d" % i for i in range(10)]
        tx.close()
        assert list(rx.try_iter()) == []
        with pytest.raises(chand.Disconnected):   # left for the next receive
            rx.recv(timeout=10)


def test_pipelined_sends_and_flush(client):
    with client.sender("p", window=64) as tx, client.receiver("p", prefetch=256) as rx:
        for i in range(5000):
            tx.send_nowait(b"%05d" % i)
        tx.flush()
        assert tx.unconfirmed == 0
        got = [rx.recv(timeout=10).data for _ in range(5000)]
        assert got == [b"%05d" % i for i in range(5000)]


def test_too_big_checked_before_sending(client):
    with client.sender("big") as tx:
        with pytest.raises(chand.MessageTooBig):
            tx.send(bytes(client.max_msg + 1))
        tx.send(b"still usable")


def test_busy_names_the_consumer_pid(client, daemon):
    import os
    with client.receiver("b"):
        with daemon.connect() as c2:
            with pytest.raises(chand.Busy) as e:
                c2.receiver("b")
            assert e.value.pid == os.getpid()
            assert "b" in e.value.message


def test_capacity_mismatch_full_and_timeout(client):
    with client.sender("cap", capacity=1) as tx:
        with pytest.raises(chand.CapacityMismatch):
            client.sender("cap", capacity=2)
        tx.try_send(b"1")
        with pytest.raises(chand.Full):
            tx.try_send(b"2")
        with pytest.raises(chand.Timeout):
            tx.send(b"3", timeout=0.05)
        with client.receiver("cap") as rx:
            assert rx.recv().data == b"1"
            tx.try_send(b"4")
            assert rx.recv().data == b"4"
    with pytest.raises(ValueError):
        client.sender("cap2", capacity=-1)
    with client.sender("unb", capacity=chand.UNBOUNDED, capacity_bytes=chand.UNBOUNDED):
        pass


def test_rendezvous_send_returns_once_received(daemon, client):
    done = []
    with client.receiver("rdv", capacity=0) as rx:
        def produce():
            with daemon.connect() as c2, c2.sender("rdv") as tx:
                tx.send(b"hi")
                done.append(True)
        t = threading.Thread(target=produce)
        t.start()
        assert rx.recv(timeout=10).data == b"hi"
        t.join(10)
        assert done == [True]


def test_manual_ack_and_redelivery(client, daemon):
    with client.sender("ma") as tx:
        for i in range(3):
            tx.send(b"%d" % i)
    rx = client.receiver("ma", manual_ack=True)
    a, b = rx.recv(), rx.recv()
    assert (a.seq, b.seq) == (1, 2)
    rx.ack(a)                 # b is received, not acknowledged
    with pytest.raises(ValueError):
        rx.ack(chand.Message(b"", 99, False))
    rx.close()
    with daemon.connect() as c2, c2.receiver("ma") as rx2:
        m = rx2.recv(timeout=10)
        assert (m.data, m.redelivered) == (b"1", True)
        m = rx2.recv(timeout=10)
        assert (m.data, m.redelivered) == (b"2", False)


def test_context_managers_close_handles(client, daemon):
    with client.sender("cm"):
        with client.receiver("cm"):
            ch = daemon.channel(client, "cm")
            assert ch["producers"] == 1 and ch["consumer"] is not None
        assert daemon.channel(client, "cm")["consumer"] is None
    assert daemon.channel(client, "cm") is None     # forgotten: nothing left


def test_threads_share_a_connection(client):
    n = 500
    with client.receiver("thr", prefetch=64) as rx:
        def produce(k):
            with client.sender("thr") as tx:
                for i in range(n):
                    if i % 2:
                        tx.send(b"%d:%d" % (k, i))
                    else:
                        tx.send_nowait(b"%d:%d" % (k, i))
        ts = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        got = [m.data.split(b":") for m in rx]
        for k in range(4):
            assert [int(i) for kk, i in got if int(kk) == k] == list(range(n))


def test_select_takes_from_each_and_reports_disconnection(client):
    a = client.receiver("sa")
    b = client.receiver("sb")
    with pytest.raises(chand.Timeout):
        chand.select([a, b], timeout=0.05)
    with client.sender("sb") as tx:
        tx.send(b"to b")
        r, m = chand.select([a, b], timeout=10)
        assert r is b and m.data == b"to b"
    with pytest.raises(chand.Disconnected) as e:
        chand.select([a, b], timeout=10)
    assert e.value.receiver is b
    a.close()
    b.close()


def test_select_fairness(client):
    busy = client.receiver("busy")
    quiet = client.receiver("quiet")
    with client.sender("busy") as tb, client.sender("quiet") as tq:
        for i in range(1000):
            tb.send_nowait(b"%d" % i)
        for i in range(20):
            tq.send_nowait(b"%d" % i)
        tb.flush()
        tq.flush()
    counts = {busy: 0, quiet: 0}
    order = {busy: [], quiet: []}
    for _ in range(40):
        r, m = chand.select([busy, quiet], timeout=10)
        counts[r] += 1
        order[r].append(int(m.data))
    # Both queues are full: a fair select alternates, a greedy one would
    # take the busy channel 40 times.
    assert counts[quiet] >= 15, counts
    assert order[busy] == sorted(order[busy]) and order[quiet] == sorted(order[quiet])


def test_select_needs_one_connection(daemon, client):
    with daemon.connect() as c2:
        with pytest.raises(ValueError):
            chand.select([client.receiver("x1"), c2.receiver("x2")], timeout=0)


def test_info_views(client):
    d = client.info("daemon")
    assert d["pid"] > 0 and "version" in d
    with pytest.raises(chand.OptionError):
        client.info("nonsense")


def test_closed_connection_raises(daemon):
    c = daemon.connect()
    tx = c.sender("gone")
    c.close()
    with pytest.raises(chand.ConnectionLost):
        tx.send(b"x")


def test_daemon_stopping_loses_the_connection(daemon):
    c = daemon.connect()
    rx = c.receiver("stop")
    daemon.proc.terminate()
    daemon.proc.wait(20)
    with pytest.raises(chand.ConnectionLost):
        rx.recv(timeout=20)


# ---- the fidelity semantics: need a daemon that serves them -------------

def test_try_recv_leaves_no_credit(client, daemon):
    need_feature(client, chand.FEAT_RECALL, "RECALL")
    with client.receiver("rc", prefetch=8) as rx:
        with pytest.raises(chand.Empty):
            rx.try_recv()
        with pytest.raises(chand.Timeout):
            rx.recv(timeout=0.05)
        assert daemon.channel(client, "rc")["credit"] == 0
        with client.sender("rc") as tx:
            tx.send(b"q")
        # Nothing was delivered behind the application's back.
        assert daemon.channel(client, "rc")["queued"] == 1
        assert rx.try_recv().data == b"q"
        assert daemon.channel(client, "rc")["credit"] == 0


def test_disconnected_is_a_state(client):
    need_v2(client)
    with client.receiver("ds") as rx:
        client.sender("ds").close()
        for _ in range(3):
            with pytest.raises(chand.Disconnected):
                rx.recv(timeout=10)
            with pytest.raises(chand.Disconnected):
                rx.try_recv()
        with client.sender("ds") as tx:      # a producer attaches: it ends
            with pytest.raises(chand.Timeout):
                rx.recv(timeout=0.05)
            tx.send(b"again")
            assert rx.recv(timeout=10).data == b"again"
        with pytest.raises(chand.Disconnected):
            rx.recv(timeout=10)


def test_error_fields_on_version_2(client, daemon):
    need_v2(client)
    import os
    with client.sender("ef", capacity=3):
        with pytest.raises(chand.CapacityMismatch) as e:
            client.sender("ef", capacity=4)
        assert e.value.fields.get("capacity") == 3
        with client.receiver("ef"):
            with daemon.connect() as c2:
                with pytest.raises(chand.Busy) as e:
                    c2.receiver("ef")
                assert e.value.fields == {"pid": os.getpid()}


def test_receiver_gone(client, daemon):
    need_feature(client, chand.FEAT_RXGONE, "RXGONE")
    with client.sender("rg", rx_gone=True) as tx:
        tx.send(b"before")
        with daemon.connect() as c2:
            with c2.receiver("rg") as rx:
                assert rx.recv(timeout=10).data == b"before"
        with pytest.raises(chand.ReceiverGone):
            tx.send(b"after")
        with pytest.raises(chand.ReceiverGone):
            tx.send(b"for good")


def test_rx_gone_needs_the_feature(client):
    if client.features & chand.FEAT_RXGONE:
        pytest.skip("the daemon serves rx_gone: this checks the refusal by older daemons")
    with pytest.raises(chand.Unsupported):
        client.sender("rg", rx_gone=True)


def test_forever_receiver_outlives_disconnection(client):
    # Served by the daemon (FOREVER bit) or, on an older one, by the
    # library ignoring DISCONNECTED: the same behaviour either way.
    with client.receiver("fv", forever=True) as rx:
        with client.sender("fv") as tx:
            tx.send(b"1")
        assert rx.recv(timeout=10).data == b"1"
        with pytest.raises(chand.Timeout):
            rx.recv(timeout=0.1)
        with client.sender("fv") as tx:
            tx.send(b"2")
        assert rx.recv(timeout=10).data == b"2"


def test_select_over_rendezvous_takes_one_message(client, daemon):
    need_feature(client, chand.FEAT_SELECT, "SELECT")
    a = client.receiver("ra", capacity=0)
    b = client.receiver("rb", capacity=0)
    released = []

    def produce(name):
        with daemon.connect() as c2, c2.sender(name) as tx:
            tx.send(name.encode())
            released.append(name)
    ts = [threading.Thread(target=produce, args=(n,)) for n in ("ra", "rb")]
    for t in ts:
        t.start()
    # Both sends are held by the daemon before the select begins.
    end = __import__("time").monotonic() + 20
    while sum(ch["held"] for ch in client.info("channels")["channels"]) < 2:
        assert __import__("time").monotonic() < end
    r, m = chand.select([a, b], timeout=10)
    assert m.data == r.name
    client.ping()
    held = {ch["name"]: ch["held"] for ch in client.info("channels")["channels"]}
    other = b"rb" if r is a else b"ra"
    assert held[other] == 1 and held[r.name] == 0   # one sender released
    assert chand.select([a, b], timeout=10)[1].data == other
    for t in ts:
        t.join(20)
    assert sorted(released) == ["ra", "rb"]
    a.close()
    b.close()


def test_a_blocked_recv_does_not_hold_up_other_threads(client):
    # The README's first example: the sender is moved into a thread, on
    # the same connection as the receiver blocked in recv().
    rx = client.receiver("answer")
    tx = client.sender("answer")

    def produce():
        with tx:
            tx.send(b"10")
    t = threading.Thread(target=produce)
    got = []
    r = threading.Thread(target=lambda: got.append(rx.recv(timeout=20).data))
    r.start()
    t.start()
    t.join(20)
    r.join(20)
    assert got == [b"10"]
    with pytest.raises(chand.Disconnected):
        rx.recv(timeout=20)


def test_many_threads_block_on_one_connection(client):
    rxs = [client.receiver("mt%d" % i) for i in range(4)]
    got = {}

    def consume(i):
        got[i] = [m.data for m in rxs[i]]
    ts = [threading.Thread(target=consume, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for i in range(4):
        with client.sender("mt%d" % i) as tx:
            for k in range(50):
                tx.send(b"%d" % k)
    for t in ts:
        t.join(30)
    assert got == {i: [b"%d" % k for k in range(50)] for i in range(4)}

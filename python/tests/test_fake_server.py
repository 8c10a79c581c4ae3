# SPDX-License-Identifier: MIT
"""A fake daemon on a private socket sends what chand never would: the
client raises ProtocolError (or ConnectionLost, Timeout) within a bounded
time, never hangs. Also the version negotiation and its fallback."""

import asyncio
import os
import socket
import struct
import tempfile
import threading

import msgpack
import pytest

import chand
import chand.aio

WELCOME_V1 = [64, 1, 1, {"server": "fake", "max_msg": 1024, "pid": 1}]


def frame(obj):
    b = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(b)) + b


def read_frame(conn):
    hdr = b""
    while len(hdr) < 4:
        b = conn.recv(4 - len(hdr))
        if not b:
            return None
        hdr += b
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        b = conn.recv(n - len(body))
        if not b:
            return None
        body += b
    return msgpack.unpackb(body, raw=False)


class Fake:
    """Serves each connection with script(conn, hellos) in a thread."""

    def __init__(self, script):
        self.dir = tempfile.mkdtemp(prefix="chand-fake-")
        self.path = os.path.join(self.dir, "s")
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(self.path)
        self.ls.listen(8)
        self.ls.settimeout(20)
        self.hellos = []
        self.script = script
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.ls.accept()
            except OSError:
                return
            conn.settimeout(20)
            with conn:
                hello = read_frame(conn)
                self.hellos.append(hello)
                try:
                    self.script(conn, hello)
                except OSError:
                    pass

    def close(self):
        self.ls.shutdown(socket.SHUT_RDWR)   # wakes the accept()
        self.ls.close()
        self.t.join(20)
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.fixture
def fake():
    made = []

    def make(script):
        f = Fake(script)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def welcome_then(*frames, hold=True):
    def script(conn, hello):
        conn.sendall(frame(WELCOME_V1))
        # The client's first request (OPEN or PING), then the bad answer.
        read_frame(conn)
        for f in frames:
            conn.sendall(f)
        if hold:
            read_frame(conn)   # until the client closes
    return script


GARBAGE = {
    "not msgpack": struct.pack(">I", 3) + b"\xc1\xc1\xc1",
    "not an array": frame({"op": 65}),
    "unknown op": frame([99, 2]),
    "OK for no request": frame([65, 777]),
    "HANDLE for a PING": frame([66, 2, 5]),
    "huge frame": struct.pack(">I", 0x7FFFFFFF) + b"\x92",
    "empty frame": struct.pack(">I", 0),
    "negative rid": frame([65, -2]),
    "ERROR without message": frame([67, 2, 1]),
    "DELIVER on no handle": frame([80, 9, 1, 0, b"x"]),
    "str payload": frame([80, 9, 1, 0, "x"]),
    "trailing bytes": struct.pack(">I", 4) + b"\x92\x41\x02\x00",
}


@pytest.mark.parametrize("what", sorted(GARBAGE))
def test_garbage_is_a_protocol_error(fake, what):
    f = fake(welcome_then(GARBAGE[what]))
    c = chand.connect(f.path, timeout=20)
    with pytest.raises(chand.ProtocolError):
        c.ping(timeout=20)
    with pytest.raises(chand.ConnectionLost):   # and the connection is given up
        c.ping(timeout=20)
    c.close()


@pytest.mark.parametrize("what", sorted(GARBAGE))
def test_garbage_is_a_protocol_error_aio(fake, what):
    f = fake(welcome_then(GARBAGE[what]))

    async def main():
        c = await chand.aio.connect(f.path, timeout=20)
        with pytest.raises((chand.ProtocolError, chand.ConnectionLost)):
            await c.ping(timeout=20)
        with pytest.raises(chand.ConnectionLost):
            await c.ping(timeout=20)
        await c.close()
    asyncio.run(main())


def test_deliver_garbage_while_receiving(fake):
    def script(conn, hello):
        conn.sendall(frame(WELCOME_V1))
        read_frame(conn)                     # OPEN_RX
        conn.sendall(frame([66, 2, 1]))
        read_frame(conn)                     # CREDIT
        conn.sendall(frame([80, 1, 5, 0, b"seq out of order"]))
        read_frame(conn)
    f = fake(script)
    with chand.connect(f.path, timeout=20) as c:
        rx = c.receiver("x")
        with pytest.raises(chand.ProtocolError):
            rx.recv(timeout=20)


def test_silent_server_times_out(fake):
    f = fake(lambda conn, hello: read_frame(conn))
    with pytest.raises(chand.Timeout):
        chand.connect(f.path, timeout=0.2)


def test_server_closing_mid_frame(fake):
    f = fake(welcome_then(struct.pack(">I", 10) + b"\x92", hold=False))
    c = chand.connect(f.path, timeout=20)
    with pytest.raises(chand.ConnectionLost):
        c.ping(timeout=20)


def test_refused_connection_gets_its_code(fake):
    f = fake(lambda conn, hello: conn.sendall(frame([67, 0, 9, "too many connections"])))
    with pytest.raises(chand.LimitExceeded) as e:
        chand.connect(f.path, timeout=20)
    assert "too many" in str(e.value)


def v1_only(conn, hello):
    if hello[3] != 1 or "min_version" in hello[4]:
        conn.sendall(frame([67, hello[1], 2, "protocol version %d unsupported" % hello[3]]))
        return
    conn.sendall(frame(WELCOME_V1))
    read_frame(conn)


def test_falls_back_to_version_1(fake):
    f = fake(v1_only)
    with chand.connect(f.path, timeout=20) as c:
        assert c.version == 1
    assert f.hellos[0][3] == 2 and f.hellos[0][4]["min_version"] == 1
    assert f.hellos[1][3] == 1 and "min_version" not in f.hellos[1][4]


def test_falls_back_to_version_1_aio(fake):
    f = fake(v1_only)

    async def main():
        c = await chand.aio.connect(f.path, timeout=20)
        assert c.version == 1
        await c.close()
    asyncio.run(main())


def test_version_2_error_fields(fake):
    def script(conn, hello):
        conn.sendall(frame([64, 1, 2, {"server": "fake", "max_msg": 1024,
                                       "pid": 1, "features": 15}]))
        req = read_frame(conn)
        conn.sendall(frame([67, req[1], 5, "channel 'x' already has a consumer",
                            {"pid": 4242}]))
        read_frame(conn)
    f = fake(script)
    with chand.connect(f.path, timeout=20) as c:
        assert c.version == 2 and c.features == 15
        with pytest.raises(chand.Busy) as e:
            c.receiver("x")
        assert e.value.pid == 4242


def test_no_common_version(fake):
    def script(conn, hello):
        conn.sendall(frame([67, hello[1], 2, "no", {"min": 3, "max": 4}]))
    f = fake(script)
    with pytest.raises(chand.VersionError):
        chand.connect(f.path, timeout=20)

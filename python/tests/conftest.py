# SPDX-License-Identifier: MIT
"""Test harness: a private chand per test, on a socket in its own
temporary directory, started with --ready-fd (no sleeping for
readiness) and stopped by pid. The binaries come from $CHAND_BIN_DIR
(default: the build directory next to python/)."""

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # import chand from the source tree

import chand  # noqa: E402

BIN_DIR = os.path.abspath(os.environ.get("CHAND_BIN_DIR",
                                         os.path.join(HERE, "..", "..", "build")))
CHAND = os.path.join(BIN_DIR, "daemon", "chand")
CHAN_SEND = os.path.join(BIN_DIR, "client", "chan-send")
CHAN_RECV = os.path.join(BIN_DIR, "client", "chan-recv")
WAIT = 20.0   # the bound of every wait for a process or the daemon


class Daemon:
    def __init__(self, *args):
        if not os.access(CHAND, os.X_OK):
            pytest.fail("no chand at %s: build first or set CHAND_BIN_DIR" % CHAND)
        self.dir = tempfile.mkdtemp(prefix="chand-py-")
        self.sock = os.path.join(self.dir, "chand.sock")
        self.log = open(os.path.join(self.dir, "chand.log"), "wb")
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            [CHAND, "--socket", self.sock, "--log-level", "warning",
             "--ready-fd", str(w)] + list(args),
            stderr=self.log, pass_fds=(w,))
        os.close(w)
        try:
            ready, _, _ = select.select([r], [], [], WAIT)
            line = os.read(r, 64) if ready else b""
        finally:
            os.close(r)
        if not line.startswith(b"READY"):
            self.proc.kill()
            self.proc.wait(WAIT)
            pytest.fail("chand did not become ready: %s" % self.read_log())
        # Readiness as clients see it: the socket accepts a connection.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(WAIT)
        s.connect(self.sock)
        s.close()
        self._version = None

    def read_log(self):
        try:
            with open(os.path.join(self.dir, "chand.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def connect(self, **kw):
        return chand.connect(self.sock, **kw)

    def probe(self):
        """(version, features) the daemon negotiates with this client."""
        if self._version is None:
            with self.connect() as c:
                self._version = (c.version, c.features)
        return self._version

    def channel(self, c, name):
        for ch in c.info("channels")["channels"]:
            if ch["name"] == (name.encode() if isinstance(name, str) else name):
                return ch
        return None

    def stop(self):
        """Stops the daemon by pid; returns its exit status (0 after
        SIGTERM; a sanitizer report or a crash is not 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)
        self.log.close()
        log = self.read_log()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode, log


@pytest.fixture
def daemon():
    d = Daemon()
    yield d
    rc, log = d.stop()
    assert rc == 0, "chand exited %s:\n%s" % (rc, log)


@pytest.fixture
def client(daemon):
    with daemon.connect() as c:
        yield c


def need_feature(c, bit, what):
    if not c.features & bit:
        pytest.skip("the daemon's WELCOME lacks the %s feature bit (%d): "
                    "it predates the fidelity changes" % (what, bit))


def need_v2(c):
    if c.version < 2:
        pytest.skip("the daemon speaks protocol version 1 only: ERROR "
                    "fields and disconnection as a state need version 2")


def run(args, **kw):
    kw.setdefault("timeout", WAIT)
    kw.setdefault("capture_output", True)
    return subprocess.run(args, **kw)


def spawn_python(code, sock):
    """A Python child that imports chand from the source tree and talks
    on stdout; the test reads its lines with bounded waits."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE), CHAND_SOCKET=sock)
    return subprocess.Popen([sys.executable, "-c", code], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def read_line(proc, deadline=WAIT):
    end = time.monotonic() + deadline
    buf = b""
    fd = proc.stdout.fileno()
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0, left))
        if not ready:
            raise AssertionError("child said nothing within %s s" % deadline)
        b = os.read(fd, 1)
        if not b:
            raise AssertionError("child exited: %s" % proc.stderr.read().decode())
        buf += b
    return buf.decode().rstrip("\n")

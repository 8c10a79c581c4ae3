# SPDX-License-Identifier: MIT
"""The blocking client: connect(), Client, Sender, Receiver, select()."""

from __future__ import annotations

import os
import select as _select
import socket as _socket
import threading
import time
from typing import (Any, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import msgpack

from . import _core
from ._core import (FEAT_FOREVER, FEAT_RECALL, Message, Request, RxState,
                    Session, TxState, _Disc, check_name, check_payload)
from .errors import (ChandError, ConnectionLost, Disconnected, Empty, Full,
                     MessageTooBig, NoDaemon, OptionError, ProtocolError,
                     Timeout, VersionError)

Name = Union[str, bytes]
READ_MAX = 1 << 20
CONNECT_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0
TRY_TIMEOUT = 30.0   # a try_recv's round trip, as the C library's

_DONTWAIT = _socket.MSG_DONTWAIT
_POLLIN = _select.POLLIN | _select.POLLPRI
_POLLERR = _select.POLLERR | _select.POLLHUP | _select.POLLNVAL


def _disp(name: bytes) -> str:
    return name.decode("utf-8", "backslashreplace")


def _deadline(timeout: Optional[float]) -> Optional[float]:
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError("timeout must be >= 0 or None")
    return time.monotonic() + timeout


def _open_socket(path: str, deadline: float) -> _socket.socket:
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(max(0.0, deadline - time.monotonic()))
        s.connect(path)
    except (FileNotFoundError, ConnectionRefusedError) as e:
        s.close()
        raise NoDaemon("no daemon running on %s (%s)" % (path, e.strerror)) from None
    except _socket.timeout:
        s.close()
        raise Timeout("connecting to %s timed out" % path) from None
    except OSError as e:
        s.close()
        if "too long" in str(e):
            raise ValueError("socket path too long for a Unix socket: %s" % path) from None
        raise
    # Blocking, for the one wait that needs nothing else (a blocking
    # recv); every other read and write passes MSG_DONTWAIT.
    s.settimeout(None)
    return s


class Client:
    """A connection to the daemon, from :func:`connect`.

    Thread safety: a Client and its handles may be used from several
    threads at once. Calls take the connection's lock, except while they
    wait for the daemon: a thread blocked in ``recv()`` does not hold up
    another thread's ``send()`` on the same connection (one waiting thread
    reads the socket and hands each reply and delivery to its owner). A
    single Receiver should be used by one thread at a time, as a Rust
    ``Receiver`` is owned by one. ``close()`` must not race with calls
    still in progress on the connection. A Client must not be used in a
    child after ``fork()``.
    """

    def __init__(self, socket: Optional[str] = None, timeout: float = CONNECT_TIMEOUT,
                 client_name: str = "chand-python") -> None:
        self.socket_path = socket or _core.default_socket()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._reading = False   # a thread waits on the socket, unlocked
        self._sleepers = 0      # threads waiting for it to read for them
        # One read buffer, reused: feed() copies what it keeps.
        self._rbuf = bytearray(READ_MAX)
        self._rview = memoryview(self._rbuf)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sock: Optional[_socket.socket] = None
        self._s = Session()
        self._poll = _select.poll()
        deadline = time.monotonic() + timeout
        with self._lock:
            try:
                self._handshake(deadline, _core.VERSION_MAX, _core.VERSION_MIN,
                                client_name)
            except (VersionError, OptionError):
                # A daemon that speaks only version 1 refuses the
                # min_version option or version 2: say HELLO again as
                # version 1 alone.
                self._close_socket()
                self._s = Session()
                self._handshake(deadline, 1, None, client_name)

    def _handshake(self, deadline: float, version: int, min_version: Optional[int],
                   client_name: str) -> None:
        self._sock = _open_socket(self.socket_path, deadline)
        self._poll = _select.poll()
        self._poll.register(self._sock.fileno(), _POLLIN)
        self._poll.register(self._wake_r, _POLLIN)
        s = self._s
        r = Request(_core.HELLO)
        s.pending[1] = r
        s.out += _core.hello_frame(version, min_version, client_name)
        try:
            if not self._wait(lambda: r.done, deadline):
                raise Timeout("no WELCOME from %s within the time" % self.socket_path)
        except ConnectionLost as e:
            self._close_socket()
            cause = e.__cause__
            if isinstance(cause, ChandError) and not isinstance(cause, ConnectionLost):
                raise cause from None   # refused: LIMIT, SHUTDOWN, ...
            raise
        except BaseException:
            self._close_socket()
            raise
        if r.error is not None:
            self._close_socket()
            e = r.error
            cause = e.__cause__
            if isinstance(e, ConnectionLost) and isinstance(cause, ChandError) \
                    and not isinstance(cause, ConnectionLost):
                raise cause from None   # refused: LIMIT, SHUTDOWN, ...
            raise e

    # ---- properties -----------------------------------------------------

    @property
    def version(self) -> int:
        """The protocol version negotiated (1 or 2)."""
        return self._s.version

    @property
    def features(self) -> int:
        """The daemon's WELCOME feature bits (chand.FEAT_*)."""
        return self._s.features

    @property
    def max_msg(self) -> int:
        """The largest payload the daemon accepts."""
        return self._s.max_msg

    @property
    def server(self) -> str:
        return self._s.server

    @property
    def daemon_pid(self) -> int:
        return self._s.daemon_pid

    # ---- I/O ------------------------------------------------------------

    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._poll.unregister(self._sock.fileno())
            except (KeyError, ValueError, OSError):
                pass
            self._sock.close()
            self._sock = None

    def _lose(self, why: ChandError) -> None:
        self._s.fail(why)
        self._close_socket()

    def _write_some(self) -> None:
        s = self._s
        if not s.out or self._sock is None:
            return
        try:
            n = self._sock.send(s.out, _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lose(ConnectionLost("writing to the daemon: %s" % e.strerror))
            raise self._s.lost_error() from None
        if n == len(s.out):
            s.out.clear()
        else:
            del s.out[:n]

    def _read_some(self) -> bool:
        """Reads what the socket holds; False if nothing was there."""
        assert self._sock is not None
        try:
            n = self._sock.recv_into(self._rbuf, READ_MAX, _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as e:
            self._lose(ConnectionLost("reading from the daemon: %s" % e.strerror))
            raise self._s.lost_error() from None
        if not n:
            self._lose(ConnectionLost("the daemon closed the connection"))
            raise self._s.lost_error()
        try:
            self._s.feed(self._rview[:n])
        except ProtocolError:
            self._close_socket()
            raise
        return True

    def _wait(self, pred: Any, deadline: Optional[float]) -> bool:
        """Writes what is queued and reads and dispatches until pred() is
        true (True) or the deadline passes (False). Raises
        ConnectionLost / ProtocolError. Called with the lock held.

        One thread at a time waits on the socket, with the lock released
        so that other threads can queue requests meanwhile; it reads and
        dispatches with the lock held, then wakes the others, which look
        at their own conditions (one of them takes over the socket if
        its condition is not met)."""
        s = self._s
        while True:
            if s.out and self._sock is not None:
                self._write_some()
            if pred():
                return True
            if s.lost is not None or self._sock is None:
                if s.lost is None:
                    s.fail(ConnectionLost("the connection was closed"))
                raise s.lost_error()
            if deadline is None:
                left = None
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
            sock = self._sock
            if self._reading:
                if s.out:
                    self._wait_writable(sock, left)
                else:
                    self._sleepers += 1
                    try:
                        self._cond.wait(left)
                    finally:
                        self._sleepers -= 1
                continue
            if left is None and not s.out:
                self._recv_blocking(sock)
                continue
            fd = sock.fileno()
            self._poll.modify(fd, _POLLIN | (_select.POLLOUT if s.out else 0))
            ms = -1 if left is None else int(left * 1000) + 1
            self._reading = True
            saved = self._lock._release_save()  # type: ignore[attr-defined]
            try:
                ev = self._poll.poll(ms)
            except InterruptedError:
                ev = []
            except BaseException:
                self._lock._acquire_restore(saved)  # type: ignore[attr-defined]
                self._reading = False
                self._notify()
                raise
            self._lock._acquire_restore(saved)  # type: ignore[attr-defined]
            self._reading = False
            try:
                for f, e in ev:
                    if f == self._wake_r:
                        try:
                            os.read(self._wake_r, 512)
                        except BlockingIOError:
                            pass
                        continue
                    if self._sock is not sock:
                        continue   # closed meanwhile
                    if e & (_POLLIN | _POLLERR):
                        self._read_some()
                    if e & _select.POLLOUT and self._sock is not None:
                        self._write_some()
            finally:
                self._notify()

    def _recv_blocking(self, sock: _socket.socket) -> None:
        """The waiting thread's wait when it has no deadline and nothing
        to write: one blocking recv, unlocked (other threads write for
        themselves meanwhile, see _wait_writable; close() shuts the
        socket down, which ends it)."""
        self._reading = True
        saved = self._lock._release_save()  # type: ignore[attr-defined]
        err: Optional[OSError] = None
        n: Optional[int] = 0
        try:
            n = sock.recv_into(self._rbuf, READ_MAX)
        except InterruptedError:
            n = None
        except OSError as e:
            err = e
        except BaseException:
            self._lock._acquire_restore(saved)  # type: ignore[attr-defined]
            self._reading = False
            self._notify()   # another thread takes over the socket
            raise
        self._lock._acquire_restore(saved)  # type: ignore[attr-defined]
        self._reading = False
        try:
            if self._sock is not sock or n is None:
                return
            if err is not None:
                self._lose(ConnectionLost("reading from the daemon: %s" % err.strerror))
                raise self._s.lost_error() from None
            if not n:
                self._lose(ConnectionLost("the daemon closed the connection"))
                raise self._s.lost_error()
            try:
                self._s.feed(self._rview[:n])
            except ProtocolError:
                self._close_socket()
                raise
        finally:
            self._notify()

    def _wait_writable(self, sock: _socket.socket, left: Optional[float]) -> None:
        """While another thread waits to read: wait, unlocked, until the
        socket takes more of this thread's output (or a bounded while, so
        that the conditions are looked at again)."""
        saved = self._lock._release_save()  # type: ignore[attr-defined]
        try:
            t = 0.05 if left is None else min(left, 0.05)
            _select.select([], [sock], [], t)
        except (OSError, ValueError):
            pass
        finally:
            self._lock._acquire_restore(saved)  # type: ignore[attr-defined]

    def _notify(self) -> None:
        """Wakes the threads waiting for the socket's reader, if any."""
        if self._sleepers:
            self._cond.notify_all()

    def _kick(self) -> None:
        """Wakes the thread waiting on the socket, to write or give up."""
        try:
            os.write(self._wake_w, b"w")
        except (BlockingIOError, OSError):
            pass

    def _call(self, r: Request, deadline: Optional[float] = None) -> Any:
        if not self._wait(lambda: r.done, deadline):
            raise Timeout("the daemon did not answer within the time")
        if r.error is not None:
            raise r.error
        return r.value

    def _batch(self) -> None:
        """Writes the pipelined batch once it is big enough."""
        if len(self._s.out) >= _core.BATCH_BYTES:
            self._write_some()
            if len(self._s.out) >= _core.BATCH_BYTES:
                # The socket is full: wait for room (reading meanwhile),
                # rather than trying a write per message.
                self._wait(lambda: len(self._s.out) < _core.BATCH_BYTES, None)

    # ---- handles --------------------------------------------------------

    def sender(self, name: Name, *, capacity: Any = None, capacity_bytes: Any = None,
               durable: Optional[bool] = None, rx_gone: bool = False,
               window: int = 4096) -> "Sender":
        """Attaches a producer to channel ``name`` (created if needed).

        ``capacity`` (messages, 0: rendezvous) and ``capacity_bytes`` state
        the channel's bounds: None states nothing (a new channel takes the
        daemon's defaults), ``chand.UNBOUNDED`` asks for none. ``durable``
        None states nothing. ``rx_gone``: the sender fails with
        ReceiverGone once the channel's receiver has come and gone (needs
        a daemon that serves it: Unsupported otherwise). ``window``: how
        many pipelined sends may await confirmation.
        """
        if not 1 <= window <= 65536:
            raise ValueError("window is 1 to 65536")
        n = check_name(name)
        with self._lock:
            opts = _core.open_opts(capacity, capacity_bytes, durable, rx_gone,
                                   False, self._s.features)
            h = self._call(self._s.request([_core.OPEN_TX, 0, n, opts]))
            return Sender(self, TxState(h, n, opts, window))

    def receiver(self, name: Name, *, capacity: Any = None, capacity_bytes: Any = None,
                 durable: Optional[bool] = None, prefetch: int = 1,
                 manual_ack: bool = False, forever: bool = False,
                 rx_gone: bool = False) -> "Receiver":
        """Attaches the channel's consumer. Busy (with ``pid``) if it
        has one.

        ``prefetch``: messages the daemon may push ahead of ``recv``
        (1 to 65535). ``manual_ack``: messages stay in flight until
        :meth:`Receiver.ack`; otherwise each counts as acknowledged when a
        receive returns it. ``forever``: never report disconnection (wait
        across producer generations). Capacity options as for
        :meth:`sender`.
        """
        if not 1 <= prefetch <= _core.CREDIT_MAX:
            raise ValueError("prefetch is 1 to 65535")
        n = check_name(name)
        with self._lock:
            s = self._s
            opts = _core.open_opts(capacity, capacity_bytes, durable, rx_gone,
                                   forever, s.features)
            h = self._call(s.request([_core.OPEN_RX, 0, n, opts]))
            st = RxState(h, n, prefetch, manual_ack, forever,
                         forever and not s.features & FEAT_FOREVER)
            s.rxs[h] = st
            return Receiver(self, st)

    def ping(self, timeout: Optional[float] = TRY_TIMEOUT) -> None:
        """A round trip: everything the daemon sent before has arrived."""
        with self._lock:
            self._s.flush_acks()
            self._call(self._s.request([_core.PING, 0]), _deadline(timeout))

    def info(self, what: str = "daemon", *, after: Optional[bytes] = None,
             limit: Optional[int] = None, timeout: Optional[float] = 30.0) -> Dict[str, Any]:
        """The daemon's admin view ("daemon", "channels" or "connections";
        docs/protocol.md), one page, as a dict."""
        opts: Dict[str, Any] = {}
        if after is not None:
            opts["after"] = after
        if limit is not None:
            opts["limit"] = limit
        with self._lock:
            data = self._call(self._s.request([_core.STATS, 0, what, opts]),
                              _deadline(timeout))
        try:
            v = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception:
            raise ProtocolError("INFO data is not msgpack") from None
        if not isinstance(v, dict):
            raise ProtocolError("INFO data is not a map")
        return v

    def close(self) -> None:
        """Closes the connection and every handle on it: acknowledgements
        made are sent first; producers drop; a consumer's unacknowledged
        messages go back to the queue."""
        with self._lock:
            if self._sock is None:
                return
            s = self._s
            if s.lost is None:
                s.flush_acks()
                try:
                    self._sock.setblocking(True)
                    self._sock.settimeout(CLOSE_TIMEOUT)
                    if s.out:
                        self._sock.sendall(s.out)
                except OSError:
                    pass
                s.out.clear()
            s.fail(ConnectionLost("the connection was closed"))
            try:
                self._sock.shutdown(_socket.SHUT_RDWR)   # ends a blocking recv
            except OSError:
                pass
            self._close_socket()
            self._kick()
            self._notify()

    def __del__(self) -> None:
        for fd in (getattr(self, "_wake_r", -1), getattr(self, "_wake_w", -1)):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass

    @property
    def closed(self) -> bool:
        return self._sock is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<chand.Client %s v%d%s>" % (self.socket_path, self._s.version,
                                             " closed" if self.closed else "")


def connect(socket: Optional[str] = None, *, timeout: float = CONNECT_TIMEOUT) -> Client:
    """Connects to the daemon at ``socket`` (None: ``$CHAND_SOCKET`` and the
    CLIs' defaults) and completes the handshake within ``timeout`` s.

    Raises NoDaemon (nothing listening), Timeout, VersionError,
    ProtocolError, ConnectionLost, or the error with which the daemon
    refused the connection (LimitExceeded, Shutdown).
    """
    return Client(socket, timeout)


class Sender:
    """A producer handle (Rust's ``Sender`` / ``SyncSender``). Use it as a
    context manager, or ``close()`` it: that drops the producer."""

    def __init__(self, client: Client, st: TxState) -> None:
        self._c = client
        self._st = st

    @property
    def name(self) -> bytes:
        return self._st.name

    def _check(self, data: Any) -> bytes:
        b = check_payload(data)
        if len(b) > self._c._s.max_msg:
            raise MessageTooBig("message of %d bytes; the daemon takes at most %d"
                                % (len(b), self._c._s.max_msg))
        if self._st.closed:
            raise ValueError("send on a closed Sender")
        return b

    def _failure(self) -> None:
        st = self._st
        if st.failure is not None:
            e, st.failure = st.failure, None
            raise e

    def _confirmed(self, body: List[Any]) -> None:
        """A send that waits for its answer, after any earlier failure."""
        c = self._c
        with c._lock:
            self._failure()
            c._call(c._s.request(body))
            self._failure()

    def send(self, data: bytes, timeout: Optional[float] = None) -> None:
        """Sends one message and returns once the daemon has queued it (a
        rendezvous channel: once received). On a full channel it waits for
        room, for ever or at most ``timeout`` seconds (then Timeout, the
        message dropped). Raises LimitExceeded, MessageTooBig,
        PermissionDenied, DiskError, ReceiverGone, ConnectionLost, or the
        failure of an earlier pipelined send not yet reported."""
        b = self._check(data)
        h = self._st.handle
        if timeout is None:
            self._confirmed([_core.SEND, 0, h, b])
            return
        if timeout < 0:
            raise ValueError("timeout must be >= 0 or None")
        ms = min(int(timeout * 1000), 0xFFFFFFFF)
        try:
            self._confirmed([_core.SEND_TIMED, 0, h, b, ms])
        except Full as e:
            raise Timeout(e.message, e.fields) from None

    def try_send(self, data: bytes) -> None:
        """Sends without waiting for room: Full at once (message dropped)
        if the channel is full. Other errors as :meth:`send`."""
        b = self._check(data)
        self._confirmed([_core.SEND_TIMED, 0, self._st.handle, b, 0])

    def send_nowait(self, data: bytes) -> None:
        """Pipelined send: queues the message and returns without waiting
        for its confirmation; waits only while ``window`` sends are
        unconfirmed. Messages are written in 64 KiB batches, when the
        connection next waits, or by :meth:`flush`. A refusal is raised by
        the next send, flush or close of this sender."""
        st = self._st
        c = self._c
        s = c._s
        if data.__class__ is not bytes or len(data) > s.max_msg or st.closed:
            data = self._check(data)
        with c._lock:
            if st.failure is not None or s.lost is not None or \
                    st.unconfirmed >= st.window:
                self._failure()
                s.check_alive()
                c._wait(lambda: st.unconfirmed < st.window, None)
            s.send_frame(st, data)
            if len(s.out) >= _core.BATCH_BYTES:
                c._batch()

    def flush(self, timeout: Optional[float] = None) -> None:
        """Writes the batch and waits until every pipelined send is
        confirmed; raises the first failure not yet reported."""
        c = self._c
        st = self._st
        with c._lock:
            if not c._wait(lambda: st.unconfirmed == 0, _deadline(timeout)):
                raise Timeout("%d pipelined sends unconfirmed" % st.unconfirmed)
            self._failure()

    @property
    def unconfirmed(self) -> int:
        """Pipelined sends not yet confirmed."""
        return self._st.unconfirmed

    def clone(self) -> "Sender":
        """Another producer on the same channel and connection (Rust's
        ``Sender::clone``), with the same options."""
        c = self._c
        st = self._st
        with c._lock:
            h = c._call(c._s.request([_core.OPEN_TX, 0, st.name, dict(st.opts)]))
            return Sender(c, TxState(h, st.name, st.opts, st.window))

    def close(self) -> None:
        """Flushes the pipelined sends, then drops the producer; raises the
        first unreported failure. Closing twice does nothing."""
        c = self._c
        st = self._st
        if st.closed:
            return
        with c._lock:
            try:
                self.flush()
            finally:
                st.closed = True
                if c._s.lost is None:
                    c._call(c._s.request([_core.CLOSE, 0, st.handle]),
                            _deadline(CLOSE_TIMEOUT))

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<chand.Sender %r>" % (_disp(self._st.name),)


class Receiver:
    """The consumer handle of a channel (Rust's ``Receiver``). Iterating
    receives until disconnection. Use it as a context manager, or
    ``close()`` it: its unacknowledged messages go back to the queue."""

    def __init__(self, client: Client, st: RxState) -> None:
        self._c = client
        self._st = st

    @property
    def name(self) -> bytes:
        return self._st.name

    def _item(self, consume_disc: bool = True) -> Optional[Message]:
        """Takes the next buffered item: a Message, None (nothing), or
        raises Disconnected."""
        st = self._st
        if not st.buf:
            return None
        if not consume_disc and type(st.buf[0]) is _Disc:
            raise Disconnected("channel %r is disconnected: every sender is gone"
                               % _disp(st.name))
        item = self._c._s.take(st)
        if type(item) is _Disc:
            raise Disconnected("channel %r is disconnected: every sender is gone"
                               % _disp(st.name))
        return item  # type: ignore[return-value]

    def _check_open(self) -> None:
        if self._st.closed:
            raise ValueError("receive on a closed Receiver")

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next message, waiting for ever or at most ``timeout``
        seconds. Raises Disconnected (queue empty and every sender gone),
        Timeout, ConnectionLost. A timeout never loses a message."""
        self._check_open()
        c = self._c
        st = self._st
        with c._lock:
            m = self._item()
            if m is not None:
                return m
            if timeout is not None and timeout <= 0:
                return self._try(Timeout)
            deadline = _deadline(timeout)
            c._s.prepare_wait(st)
            try:
                ok = c._wait(lambda: bool(st.buf), deadline)
            except (KeyboardInterrupt, SystemExit):
                c._s.abandon_wait(st)
                raise
            if ok:
                m = self._item()
                assert m is not None
                return m
            return self._try(Timeout)

    def _try(self, exc: type, consume_disc: bool = True) -> Message:
        """Credit if none is outstanding, then RECALL (PING) and look at
        what arrived before its answer."""
        c = self._c
        st = self._st
        s = c._s
        deadline = _deadline(TRY_TIMEOUT)
        if st.recall is not None:
            c._call(st.recall, deadline)
        if st.credit == 0:
            s.grant(st, st.prefetch)
        c._call(s.recall(st), deadline)
        m = self._item(consume_disc)
        if m is not None:
            return m
        raise exc("channel %r: nothing received" % _disp(st.name))

    def try_recv(self) -> Message:
        """A message if one is there now: Empty if not, Disconnected (which
        wins over empty) if every sender is gone. Makes a round trip to the
        daemon when nothing is buffered; leaves no credit behind on a
        daemon that serves RECALL."""
        self._check_open()
        with self._c._lock:
            m = self._item()
            if m is not None:
                return m
            return self._try(Empty)

    def __iter__(self) -> Iterator[Message]:
        """``for msg in rx``: receives until the channel is disconnected."""
        while True:
            try:
                yield self.recv()
            except Disconnected:
                return

    def try_iter(self) -> Iterator[Message]:
        """Every message available now, without waiting; stops at empty
        or before a disconnection (left for the next receive to report)."""
        self._check_open()
        while True:
            with self._c._lock:
                try:
                    m = self._item(consume_disc=False)
                    if m is None:
                        m = self._try(Empty, consume_disc=False)
                except (Empty, Disconnected):
                    return
            yield m

    def ack(self, msg: Message) -> None:
        """With manual_ack: acknowledges msg and every message received
        before it (sent with the next request, or by :meth:`flush`)."""
        st = self._st
        if msg.seq > st.handed or msg.seq < 1:
            raise ValueError("message %d was not received on this receiver" % msg.seq)
        with self._c._lock:
            self._c._s.ack(st, msg.seq)

    def flush(self) -> None:
        """Sends the acknowledgements made so far, now."""
        c = self._c
        with c._lock:
            c._s.flush_acks()
            c._wait(lambda: not c._s.out, None)

    def close(self) -> None:
        """Sends the acknowledgements made, releases the consumer slot;
        messages buffered and not received go back to the queue."""
        c = self._c
        st = self._st
        if st.closed:
            return
        with c._lock:
            st.closed = True
            s = c._s
            if s.lost is None:
                s.flush_acks()
                c._call(s.request([_core.CLOSE, 0, st.handle]),
                        _deadline(CLOSE_TIMEOUT))
            s.rxs.pop(st.handle, None)
            s.owing.pop(st.handle, None)

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<chand.Receiver %r>" % (_disp(self._st.name),)


def _pick(rxs: Sequence[Receiver]) -> Optional[Receiver]:
    """The receiver whose oldest buffered item arrived first."""
    best = None
    for r in rxs:
        if r._st.buf:
            if best is None or r._st.buf[0].stamp < best._st.buf[0].stamp:
                best = r
    return best


def _select_take(r: Receiver) -> Tuple[Receiver, Message]:
    try:
        m = r._item()
    except Disconnected as e:
        e.receiver = r
        raise
    assert m is not None
    return r, m


def select(receivers: Sequence[Receiver], timeout: Optional[float] = None) -> Tuple[Receiver, Message]:
    """Receives from whichever receiver has something first.

    Every receiver must be on the same connection. Returns ``(rx, msg)``;
    raises Disconnected with ``receiver`` set to the disconnected one
    (leave it out of later calls), Timeout (after ``timeout`` seconds; 0:
    do not wait). Receivers are served in the order their messages
    arrived, so a busy channel does not starve the others.
    """
    if not receivers:
        raise ValueError("select needs at least one receiver")
    c = receivers[0]._c
    for r in receivers:
        if r._c is not c:
            raise ValueError("select: every receiver must be on one connection")
        r._check_open()
    with c._lock:
        s = c._s
        r = _pick(receivers)
        if r is not None:
            return _select_take(r)
        deadline = _deadline(timeout)
        sts = [r._st for r in receivers]
        shared = s.can_select(sts)
        if timeout is None or timeout > 0:
            if shared:
                s.select_grant(sts)
            else:
                for r in receivers:
                    s.prepare_wait(r._st)
            if c._wait(lambda: _pick(receivers) is not None, deadline):
                return _select_take(_pick(receivers))  # type: ignore[arg-type]
        # Nothing in time: one last round trip, as try_recv does.
        td = _deadline(TRY_TIMEOUT)
        for r in receivers:
            if r._st.recall is not None:
                c._call(r._st.recall, td)
        if shared:
            # One shared credit; a RECALL of one member ends the select for all.
            s.select_grant(sts)
            reqs = [s.recall(sts[0])]
        else:
            for r in receivers:
                if r._st.credit == 0:
                    s.grant(r._st, r._st.prefetch)
            reqs = []
            for r in receivers:
                reqs.append(s.recall(r._st))
                if not s.features & FEAT_RECALL:
                    break   # one PING is a barrier for all
        for q in reqs:
            c._call(q, td)
        r = _pick(receivers)
        if r is not None:
            return _select_take(r)
        raise Timeout("select: nothing received within the time")

# SPDX-License-Identifier: MIT
"""chand for asyncio: the names of the blocking API, awaited.

    import chand.aio
    async with await chand.aio.connect() as c:
        rx = await c.receiver("jobs")
        async for msg in rx:
            print(msg.data)

A connection belongs to the event loop that opened it; it runs no thread
and no task of its own: the loop's protocol callbacks decode what the
daemon sends, and requests are pipelined and matched by id, so many
handles and many concurrent coroutines share one connection. Cancelling
a receive loses no message (what arrived stays buffered for the next
receive) and, on a daemon that serves RECALL, leaves no credit behind.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence, Tuple, Union

import msgpack

from . import _core
from ._core import (FEAT_FOREVER, FEAT_RECALL, Message, Request, RxState,
                    Session, TxState, _Disc, check_name, check_payload)
from ._sync import CLOSE_TIMEOUT, CONNECT_TIMEOUT, TRY_TIMEOUT, _disp
from .errors import (ChandError, ConnectionLost, Disconnected, Empty, Full,
                     MessageTooBig, NoDaemon, OptionError, ProtocolError,
                     Timeout, VersionError)

Name = Union[str, bytes]

__all__ = ["connect", "Client", "Sender", "Receiver", "select"]


_READ_MAX = 256 * 1024


class _Protocol(asyncio.BufferedProtocol):
    """Reads into one buffer kept for the connection (the session copies
    what it keeps), rather than a new bytes object per read."""

    def __init__(self, client: "Client") -> None:
        self.c = client
        self.s = client._s   # the session of this transport only
        self.buf = bytearray(_READ_MAX)
        self.view = memoryview(self.buf)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self.view[:nbytes])

    def data_received(self, data: Any) -> None:
        c = self.c
        if self.s is not c._s:
            return
        try:
            c._s.feed(data)
        except ProtocolError:
            if c._transport is not None:
                c._transport.abort()
        finally:
            if c._s.out:
                c._flush()
            c._wake()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        c = self.c
        if self.s is not c._s:
            return
        if c._s.lost is None:
            why = "the daemon closed the connection"
            if exc is not None:
                why = "connection to the daemon lost: %s" % exc
            c._s.fail(ConnectionLost(why))
        c._transport = None
        c._wake()


def _loop_deadline(loop: asyncio.AbstractEventLoop, timeout: Optional[float]) -> Optional[float]:
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError("timeout must be >= 0 or None")
    return loop.time() + timeout


class Client:
    """A connection to the daemon from :func:`connect`, bound to the event
    loop that opened it. Safe for any number of coroutines of that loop;
    not for other loops or threads."""

    def __init__(self, socket: Optional[str]) -> None:
        self.socket_path = socket or _core.default_socket()
        self._s = Session()
        self._loop = asyncio.get_running_loop()
        self._transport: Optional[asyncio.Transport] = None
        self._waiters: List[asyncio.Future] = []
        self._flush_soon = False

    async def _open(self, deadline: float, version: int, min_version: Optional[int],
                    client_name: str) -> None:
        self._s = Session()
        try:
            tr, _ = await asyncio.wait_for(self._loop.create_unix_connection(
                lambda: _Protocol(self), self.socket_path),
                max(0.0, deadline - self._loop.time()))
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise NoDaemon("no daemon running on %s (%s)"
                           % (self.socket_path, e.strerror)) from None
        except asyncio.TimeoutError:
            raise Timeout("connecting to %s timed out" % self.socket_path) from None
        self._transport = tr  # type: ignore[assignment]
        r = Request(_core.HELLO)
        self._s.pending[1] = r
        self._s.out += _core.hello_frame(version, min_version, client_name)
        try:
            if not await self._wait(lambda: r.done, deadline):
                raise Timeout("no WELCOME from %s within the time" % self.socket_path)
        except ConnectionLost as e:
            self._abort()
            cause = e.__cause__
            if isinstance(cause, ChandError) and not isinstance(cause, ConnectionLost):
                raise cause from None
            raise
        except BaseException:
            self._abort()
            raise
        if r.error is not None:
            self._abort()
            e = r.error
            cause = e.__cause__
            if isinstance(e, ConnectionLost) and isinstance(cause, ChandError) \
                    and not isinstance(cause, ConnectionLost):
                raise cause from None   # refused: LIMIT, SHUTDOWN, ...
            raise e

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
            self._transport = None

    # ---- properties, as the blocking Client ----------------------------

    @property
    def version(self) -> int:
        return self._s.version

    @property
    def features(self) -> int:
        return self._s.features

    @property
    def max_msg(self) -> int:
        return self._s.max_msg

    @property
    def server(self) -> str:
        return self._s.server

    # ---- waiting --------------------------------------------------------

    def _wake(self) -> None:
        w, self._waiters = self._waiters, []
        for f in w:
            if not f.done():
                f.set_result(None)

    def _flush(self) -> None:
        self._flush_soon = False
        s = self._s
        if s.out and self._transport is not None:
            self._transport.write(bytes(s.out))
            s.out.clear()

    def _flush_later(self) -> None:
        if len(self._s.out) >= _core.BATCH_BYTES:
            self._flush()
        elif not self._flush_soon:
            self._flush_soon = True
            self._loop.call_soon(self._flush)

    async def _wait(self, pred: Any, deadline: Optional[float]) -> bool:
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("a chand.aio connection is used only from the "
                               "event loop that opened it")
        s = self._s
        self._flush()
        while not pred():
            if s.lost is not None:
                raise s.lost_error()
            fut = self._loop.create_future()
            self._waiters.append(fut)
            timer = None
            if deadline is not None:
                if self._loop.time() >= deadline:
                    return False
                timer = self._loop.call_at(deadline, _expire, fut)
            try:
                await fut
            finally:
                if timer is not None:
                    timer.cancel()
            self._flush()
        return True

    async def _call(self, r: Request, deadline: Optional[float] = None) -> Any:
        if not await self._wait(lambda: r.done, deadline):
            raise Timeout("the daemon did not answer within the time")
        if r.error is not None:
            raise r.error
        return r.value

    def _deadline(self, timeout: Optional[float]) -> Optional[float]:
        return _loop_deadline(self._loop, timeout)

    # ---- handles --------------------------------------------------------

    async def sender(self, name: Name, *, capacity: Any = None, capacity_bytes: Any = None,
                     durable: Optional[bool] = None, rx_gone: bool = False,
                     window: int = 4096) -> "Sender":
        """As :meth:`chand.Client.sender`."""
        if not 1 <= window <= 65536:
            raise ValueError("window is 1 to 65536")
        n = check_name(name)
        opts = _core.open_opts(capacity, capacity_bytes, durable, rx_gone, False,
                               self._s.features)
        h = await self._call(self._s.request([_core.OPEN_TX, 0, n, opts]))
        return Sender(self, TxState(h, n, opts, window))

    async def receiver(self, name: Name, *, capacity: Any = None, capacity_bytes: Any = None,
                       durable: Optional[bool] = None, prefetch: int = 1,
                       manual_ack: bool = False, forever: bool = False,
                       rx_gone: bool = False) -> "Receiver":
        """As :meth:`chand.Client.receiver`."""
        if not 1 <= prefetch <= _core.CREDIT_MAX:
            raise ValueError("prefetch is 1 to 65535")
        n = check_name(name)
        s = self._s
        opts = _core.open_opts(capacity, capacity_bytes, durable, rx_gone, forever,
                               s.features)
        h = await self._call(s.request([_core.OPEN_RX, 0, n, opts]))
        st = RxState(h, n, prefetch, manual_ack, forever,
                     forever and not s.features & FEAT_FOREVER)
        s.rxs[h] = st
        return Receiver(self, st)

    async def ping(self, timeout: Optional[float] = TRY_TIMEOUT) -> None:
        self._s.flush_acks()
        await self._call(self._s.request([_core.PING, 0]), self._deadline(timeout))

    async def info(self, what: str = "daemon", *, after: Optional[bytes] = None,
                   limit: Optional[int] = None,
                   timeout: Optional[float] = 30.0) -> Dict[str, Any]:
        """As :meth:`chand.Client.info`."""
        opts: Dict[str, Any] = {}
        if after is not None:
            opts["after"] = after
        if limit is not None:
            opts["limit"] = limit
        data = await self._call(self._s.request([_core.STATS, 0, what, opts]),
                                self._deadline(timeout))
        try:
            v = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception:
            raise ProtocolError("INFO data is not msgpack") from None
        if not isinstance(v, dict):
            raise ProtocolError("INFO data is not a map")
        return v

    async def close(self) -> None:
        """As :meth:`chand.Client.close`."""
        s = self._s
        if self._transport is None:
            return
        if s.lost is None:
            s.flush_acks()
            self._flush()
        s.fail(ConnectionLost("the connection was closed"))
        tr, self._transport = self._transport, None
        tr.close()
        self._wake()

    @property
    def closed(self) -> bool:
        return self._transport is None

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


async def connect(socket: Optional[str] = None, *, timeout: float = CONNECT_TIMEOUT,
                  client_name: str = "chand-python-aio") -> Client:
    """As :func:`chand.connect`, for the running event loop."""
    c = Client(socket)
    deadline = c._loop.time() + timeout
    try:
        await c._open(deadline, _core.VERSION_MAX, _core.VERSION_MIN, client_name)
    except (VersionError, OptionError):
        await c._open(deadline, 1, None, client_name)
    return c


class Sender:
    """As :class:`chand.Sender`, with awaited calls."""

    def __init__(self, client: Client, st: TxState) -> None:
        self._c = client
        self._st = st

    @property
    def name(self) -> bytes:
        return self._st.name

    @property
    def unconfirmed(self) -> int:
        return self._st.unconfirmed

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

    async def _confirmed(self, body: List[Any]) -> None:
        self._failure()
        await self._c._call(self._c._s.request(body))
        self._failure()

    async def send(self, data: bytes, timeout: Optional[float] = None) -> None:
        b = self._check(data)
        h = self._st.handle
        if timeout is None:
            await self._confirmed([_core.SEND, 0, h, b])
            return
        if timeout < 0:
            raise ValueError("timeout must be >= 0 or None")
        try:
            await self._confirmed([_core.SEND_TIMED, 0, h, b,
                                   min(int(timeout * 1000), 0xFFFFFFFF)])
        except Full as e:
            raise Timeout(e.message, e.fields) from None

    async def try_send(self, data: bytes) -> None:
        b = self._check(data)
        await self._confirmed([_core.SEND_TIMED, 0, self._st.handle, b, 0])

    async def send_nowait(self, data: bytes) -> None:
        """Pipelined send: awaits only while ``window`` sends are
        unconfirmed; the batch is written at the loop's next turn, at
        64 KiB, or by :meth:`flush`."""
        c = self._c
        st = self._st
        b = self._check(data)
        s = c._s
        if st.failure is not None:
            self._failure()
        if s.lost is not None:
            raise s.lost_error()
        if st.unconfirmed >= st.window:
            await c._wait(lambda: st.unconfirmed < st.window, None)
        s.send_frame(st, b)
        c._flush_later()

    async def flush(self, timeout: Optional[float] = None) -> None:
        st = self._st
        if not await self._c._wait(lambda: st.unconfirmed == 0, self._c._deadline(timeout)):
            raise Timeout("%d pipelined sends unconfirmed" % st.unconfirmed)
        self._failure()

    async def clone(self) -> "Sender":
        c = self._c
        st = self._st
        h = await c._call(c._s.request([_core.OPEN_TX, 0, st.name, dict(st.opts)]))
        return Sender(c, TxState(h, st.name, st.opts, st.window))

    async def close(self) -> None:
        c = self._c
        st = self._st
        if st.closed:
            return
        try:
            await self.flush()
        finally:
            st.closed = True
            if c._s.lost is None:
                await c._call(c._s.request([_core.CLOSE, 0, st.handle]),
                              c._deadline(CLOSE_TIMEOUT))

    async def __aenter__(self) -> "Sender":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class Receiver:
    """As :class:`chand.Receiver`, with awaited calls; ``async for msg in
    rx`` ends at disconnection."""

    def __init__(self, client: Client, st: RxState) -> None:
        self._c = client
        self._st = st

    @property
    def name(self) -> bytes:
        return self._st.name

    def _item(self, consume_disc: bool = True) -> Optional[Message]:
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

    async def _try(self, exc: type, consume_disc: bool = True) -> Message:
        c = self._c
        st = self._st
        s = c._s
        deadline = c._deadline(TRY_TIMEOUT)
        if st.recall is not None:
            await c._call(st.recall, deadline)
        if st.credit == 0:
            s.grant(st, st.prefetch)
        await c._call(s.recall(st), deadline)
        m = self._item(consume_disc)
        if m is not None:
            return m
        raise exc("channel %r: nothing received" % _disp(st.name))

    async def recv(self, timeout: Optional[float] = None) -> Message:
        """As :meth:`chand.Receiver.recv`. Cancelling it loses nothing:
        a message that arrives meanwhile is kept for the next receive, and
        the credit it granted is taken back (RECALL)."""
        self._check_open()
        c = self._c
        st = self._st
        m = self._item()
        if m is not None:
            return m
        if timeout is not None and timeout <= 0:
            return await self._try(Timeout)
        deadline = c._deadline(timeout)
        c._s.prepare_wait(st)
        try:
            ok = await c._wait(lambda: bool(st.buf), deadline)
        except asyncio.CancelledError:
            c._s.abandon_wait(st)
            c._flush()
            raise
        if ok:
            m = self._item()
            assert m is not None
            return m
        return await self._try(Timeout)

    async def try_recv(self) -> Message:
        self._check_open()
        m = self._item()
        if m is not None:
            return m
        return await self._try(Empty)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Message]:
        while True:
            try:
                yield await self.recv()
            except Disconnected:
                return

    async def try_iter(self) -> AsyncIterator[Message]:
        """``async for msg in rx.try_iter()``: what is there now."""
        self._check_open()
        while True:
            try:
                m = self._item(consume_disc=False)
                if m is None:
                    m = await self._try(Empty, consume_disc=False)
            except (Empty, Disconnected):
                return
            yield m

    def ack(self, msg: Message) -> None:
        """As :meth:`chand.Receiver.ack` (no wait)."""
        st = self._st
        if msg.seq > st.handed or msg.seq < 1:
            raise ValueError("message %d was not received on this receiver" % msg.seq)
        self._c._s.ack(st, msg.seq)

    async def flush(self) -> None:
        self._c._s.flush_acks()
        self._c._flush()

    async def close(self) -> None:
        c = self._c
        st = self._st
        if st.closed:
            return
        st.closed = True
        s = c._s
        if s.lost is None:
            s.flush_acks()
            await c._call(s.request([_core.CLOSE, 0, st.handle]), c._deadline(CLOSE_TIMEOUT))
        s.rxs.pop(st.handle, None)
        s.owing.pop(st.handle, None)

    async def __aenter__(self) -> "Receiver":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def _pick(rxs: Sequence[Receiver]) -> Optional[Receiver]:
    best = None
    for r in rxs:
        if r._st.buf and (best is None or r._st.buf[0].stamp < best._st.buf[0].stamp):
            best = r
    return best


def _take(r: Receiver) -> Tuple[Receiver, Message]:
    try:
        m = r._item()
    except Disconnected as e:
        e.receiver = r
        raise
    assert m is not None
    return r, m


async def select(receivers: Sequence[Receiver],
                 timeout: Optional[float] = None) -> Tuple[Receiver, Message]:
    """As :func:`chand.select`, awaited. Cancelling it takes the
    receivers' credit back as a cancelled recv does."""
    if not receivers:
        raise ValueError("select needs at least one receiver")
    c = receivers[0]._c
    for r in receivers:
        if r._c is not c:
            raise ValueError("select: every receiver must be on one connection")
        r._check_open()
    s = c._s
    r0 = _pick(receivers)
    if r0 is not None:
        return _take(r0)
    deadline = c._deadline(timeout)
    sts = [r._st for r in receivers]
    shared = s.can_select(sts)
    if timeout is None or timeout > 0:
        if shared:
            s.select_grant(sts)
        else:
            for r in receivers:
                s.prepare_wait(r._st)
        try:
            ok = await c._wait(lambda: _pick(receivers) is not None, deadline)
        except asyncio.CancelledError:
            if shared:
                s.abandon_wait(sts[0], shared=True)
            else:
                for r in receivers:
                    s.abandon_wait(r._st)
            c._flush()
            raise
        if ok:
            return _take(_pick(receivers))  # type: ignore[arg-type]
    td = c._deadline(TRY_TIMEOUT)
    for r in receivers:
        if r._st.recall is not None:
            await c._call(r._st.recall, td)
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
        await c._call(q, td)
    r0 = _pick(receivers)
    if r0 is not None:
        return _take(r0)
    raise Timeout("select: nothing received within the time")

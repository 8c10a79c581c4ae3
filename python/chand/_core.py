# SPDX-License-Identifier: MIT
"""The protocol state of one connection, without I/O (docs/protocol.md).

A :class:`Session` encodes requests into ``out`` and decodes what the
daemon sends (:meth:`Session.feed`), matching replies to requests by id
and queueing deliveries on their receivers. The blocking client
(``chand._sync``) and the asyncio one (``chand.aio``) drive it, each with
its own way of waiting; everything that decides what goes on the wire is
here, once.
"""

from __future__ import annotations

import os
import re
import struct
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Union

import msgpack

from .errors import (ChandError, ConnectionLost, OptionError, ProtocolError,
                     error_for_code)

MAGIC = "chand"
VERSION_MAX = 2
VERSION_MIN = 1

# Operations (docs/protocol.md).
HELLO, OPEN_TX, OPEN_RX, CLOSE, SEND, ACK, CREDIT, PING = 1, 2, 3, 4, 5, 6, 7, 8
SEND_TIMED, STATS, ACKS, RECALL, SELECT = 9, 10, 11, 12, 13
WELCOME, OK, HANDLE, ERROR, INFO = 64, 65, 66, 67, 68
DELIVER, DISCONNECTED = 80, 81

# WELCOME "features" bits.
FEAT_ACKS = 0x1
FEAT_RECALL = 0x2
FEAT_RXGONE = 0x4
FEAT_FOREVER = 0x8
FEAT_SELECT = 0x100
SELECT_MAX = 1000

CODE_VERSION = 2
CODE_OPTION = 8
CODE_FULL = 13
FLAG_REDELIVERED = 0x1
CREDIT_MAX = 65535
NAME_MAX = 255
FRAME_OVERHEAD = 1024
DEFAULT_MAX_MSG = 1 << 20
BATCH_BYTES = 64 * 1024  # pipelined sends are written when this is batched


class _Unbounded:
    """The capacity value that asks for no bound (msgpack nil)."""

    def __repr__(self) -> str:
        return "chand.UNBOUNDED"


UNBOUNDED: Any = _Unbounded()

_hdr = struct.Struct(">I")
_send_head = struct.Struct(">IBBBI")   # length, 0x94, SEND, 0xce, rid
_u16 = struct.Struct(">H")
# A whole SEND frame up to its payload, for payloads under 256 bytes:
# length, fixarray 4, SEND, uint32 rid, uint32 handle, bin8 length.
_send8 = struct.Struct(">IBBBIBIBB")
_u8_hdr = struct.Struct(">BB")
_u16_hdr = struct.Struct(">BH")
_u32_hdr = struct.Struct(">BI")
_packer = msgpack.Packer(use_bin_type=True)


def default_socket() -> str:
    """The socket the CLIs use: ``$CHAND_SOCKET``, else ``/run/chand.sock``
    for root, else ``$XDG_RUNTIME_DIR/chand.sock``, else
    ``/tmp/chand-$UID.sock``."""
    s = os.environ.get("CHAND_SOCKET")
    if s:
        return s
    uid = os.getuid()
    if uid == 0:
        return "/run/chand.sock"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "chand.sock")
    return "/tmp/chand-%d.sock" % uid


def frame(body: List[Any]) -> bytes:
    """One frame: a 4-byte big-endian length and the msgpack body."""
    b = _packer.pack(body)
    return _hdr.pack(len(b)) + b


def hello_frame(version: int, min_version: Optional[int], client: str) -> bytes:
    opts: Dict[str, Any] = {"client": client}
    if min_version is not None:
        opts["min_version"] = min_version
    return frame([HELLO, 1, MAGIC, version, opts])


def check_payload(data: Any) -> bytes:
    """Bytes as given; str and anything else not bytes-like is refused."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        raise TypeError("chand payloads are bytes: encode the str first "
                        "(for example msg.encode())")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError("chand payloads are bytes, not %s" % type(data).__name__)


def check_name(name: Union[str, bytes]) -> bytes:
    """A channel name as bytes: str is encoded as UTF-8 (names, unlike
    payloads, are text for the CLIs), bytes taken as they are."""
    if isinstance(name, str):
        b = name.encode("utf-8")
    elif isinstance(name, (bytes, bytearray, memoryview)):
        b = bytes(name)
    else:
        raise TypeError("a channel name is str or bytes, not %s"
                        % type(name).__name__)
    if not 1 <= len(b) <= NAME_MAX:
        raise ValueError("a channel name is 1 to 255 bytes, not %d" % len(b))
    return b


def open_opts(capacity: Any, capacity_bytes: Any, durable: Optional[bool],
              rx_gone: bool, forever: bool, features: int) -> Dict[str, Any]:
    """The opts map of OPEN_TX / OPEN_RX; None states nothing."""
    opts: Dict[str, Any] = {}
    for key, v, lo, hi in (("capacity", capacity, 0, 2**32 - 1),
                           ("capacity_bytes", capacity_bytes, 1, 2**63)):
        if v is None:
            continue
        if v is UNBOUNDED:
            opts[key] = None
        elif isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi:
            opts[key] = v
        else:
            raise ValueError("%s is None, chand.UNBOUNDED or %d to %d, not %r"
                             % (key, lo, hi, v))
    if durable is not None:
        opts["durable"] = bool(durable)
    if rx_gone:
        if not features & FEAT_RXGONE:
            from .errors import Unsupported
            raise Unsupported("the daemon does not serve the rx_gone option")
        opts["rx_gone"] = True
    if forever and features & FEAT_FOREVER:
        opts["forever"] = True
    return opts


def _bin_header(n: int) -> bytes:
    if n < 256:
        return _u8_hdr.pack(0xc4, n)
    if n < 65536:
        return _u16_hdr.pack(0xc5, n)
    return _u32_hdr.pack(0xc6, n)


_NOT_OK = (OPEN_TX, OPEN_RX, STATS, HELLO)   # requests that OK cannot answer


class Message:
    """A received message: ``data`` (bytes), ``seq`` (the delivery's
    sequence number on its receiver, from 1) and ``redelivered`` (an earlier
    consumer received it and did not acknowledge it). ``bytes(msg)`` is the
    data."""

    __slots__ = ("data", "seq", "redelivered", "stamp")

    def __init__(self, data: bytes, seq: int, redelivered: bool, stamp: int = 0):
        self.data = data
        self.seq = seq
        self.redelivered = redelivered
        self.stamp = stamp

    def __bytes__(self) -> bytes:
        return self.data

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Message):
            return (self.data, self.seq, self.redelivered) == \
                (other.data, other.seq, other.redelivered)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Message(%r, seq=%d%s)" % (
            self.data[:64], self.seq, ", redelivered" if self.redelivered else "")


class _Disc:
    """The DISCONNECTED marker in a receiver's buffer."""

    __slots__ = ("stamp",)

    def __init__(self, stamp: int) -> None:
        self.stamp = stamp


class Request:
    """A request awaiting its reply."""

    __slots__ = ("op", "done", "value", "error", "rx", "waker")

    def __init__(self, op: int, rx: "Optional[RxState]" = None):
        self.op = op
        self.done = False
        self.value: Any = None
        self.error: Optional[ChandError] = None
        self.rx = rx
        self.waker: Any = None


class TxState:
    """A producer handle's protocol state."""

    __slots__ = ("handle", "head", "unconfirmed", "window", "failure",
                 "closed", "opts", "name")

    def __init__(self, handle: int, name: bytes, opts: Dict[str, Any], window: int):
        self.handle = handle
        self.name = name
        self.opts = opts
        # The part of a SEND body after the rid: the handle, as uint32.
        self.head = b"\xce" + struct.pack(">I", handle)
        self.unconfirmed = 0
        self.window = window
        self.failure: Optional[ChandError] = None
        self.closed = False


class RxState:
    """A consumer handle's protocol state: its buffer of deliveries (and
    the DISCONNECTED marker), its credit as the daemon sees it, and what
    is owed as acknowledgement."""

    __slots__ = ("handle", "name", "buf", "credit", "since_recall", "recall",
                 "prefetch", "manual", "forever", "emulate_forever",
                 "delivered", "handed", "acked", "to_ack", "closed",
                 "want_recall")

    def __init__(self, handle: int, name: bytes, prefetch: int, manual: bool,
                 forever: bool, emulate_forever: bool):
        self.handle = handle
        self.name = name
        self.buf: Deque[Union[Message, _Disc]] = deque()
        self.credit = 0          # granted and not yet used, as far as known
        self.since_recall = 0    # granted after the pending RECALL was sent
        self.recall: Optional[Request] = None
        self.prefetch = prefetch
        self.manual = manual
        self.forever = forever
        self.emulate_forever = emulate_forever
        self.delivered = 0       # last seq the daemon delivered
        self.handed = 0          # last seq handed to the application
        self.acked = 0           # last seq acknowledged to the daemon
        self.to_ack = 0          # last seq to acknowledge (> acked: owed)
        self.closed = False
        self.want_recall = False  # RECALL again once the pending one ends


class Session:
    """One connection's protocol state. Not thread-safe: its driver
    serialises access."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.version = 1
        self.features = 0
        self.max_msg = DEFAULT_MAX_MSG
        self.server = ""
        self.daemon_pid = 0
        self.pending: Dict[int, Union[Request, TxState]] = {}
        self.rxs: Dict[int, RxState] = {}
        self.owing: Dict[int, RxState] = {}  # receivers owing an ACK
        self.rid = 1
        self.stamp = 0
        self.lost: Optional[ChandError] = None
        self.welcomed = False
        self._in = bytearray()
        self._max_body = DEFAULT_MAX_MSG + FRAME_OVERHEAD
        self.hello: Optional[Request] = None

    # ---- requests -------------------------------------------------------

    def next_rid(self) -> int:
        rid = self.rid
        while True:
            rid = rid + 1 if rid < 0xFFFFFFFF else 1
            if rid not in self.pending:
                self.rid = rid
                return rid

    def request(self, body: List[Any], rx: Optional[RxState] = None) -> Request:
        """Queues a request with a fresh rid; its reply completes it."""
        self.check_alive()
        rid = self.next_rid()
        body[1] = rid
        r = Request(body[0], rx)
        self.pending[rid] = r
        self.out += frame(body)
        return r

    def check_alive(self) -> None:
        if self.lost is not None:
            raise self.lost_error()

    def lost_error(self) -> ChandError:
        assert self.lost is not None
        e = ConnectionLost(self.lost.message or str(self.lost), self.lost.fields)
        e.__cause__ = self.lost
        return e

    def send_frame(self, tx: TxState, data: bytes) -> None:
        """Queues a pipelined SEND of tx (hand-encoded: the hot path)."""
        rid = self.rid + 1
        pending = self.pending
        if rid > 0xFFFFFFFF or rid in pending:
            rid = self.next_rid()
        self.rid = rid
        n = len(data)
        out = self.out
        if n < 256:
            out += _send8.pack(14 + n, 0x94, SEND, 0xce, rid, 0xce, tx.handle, 0xc4, n)
        else:
            hdr = _bin_header(n)
            out += _send_head.pack(12 + len(hdr) + n, 0x94, SEND, 0xce, rid)
            out += tx.head
            out += hdr
        out += data
        pending[rid] = tx
        tx.unconfirmed += 1

    def grant(self, rx: RxState, n: int) -> None:
        """Credit n more deliveries, with any acknowledgement owed."""
        n = min(n, CREDIT_MAX - rx.credit)
        if n <= 0:
            return
        rx.credit += n
        rx.since_recall += n
        if rx.to_ack > rx.acked and self.features & FEAT_ACKS:
            self.out += frame([ACKS, 0, [rx.handle, rx.to_ack, n]])
            rx.acked = rx.to_ack
            self.owing.pop(rx.handle, None)
            return
        self.flush_acks()
        self.out += frame([CREDIT, 0, rx.handle, n])

    def flush_acks(self) -> None:
        """Writes the acknowledgements owed, many to a frame if the daemon
        serves ACKS."""
        if not self.owing:
            return
        owing = [rx for rx in self.owing.values() if rx.to_ack > rx.acked]
        self.owing.clear()
        if self.features & FEAT_ACKS and len(owing) > 1:
            for i in range(0, len(owing), 256):
                ent: List[int] = []
                for rx in owing[i:i + 256]:
                    ent += (rx.handle, rx.to_ack, 0)
                    rx.acked = rx.to_ack
                self.out += frame([ACKS, 0, ent])
            return
        for rx in owing:
            self.out += frame([ACK, 0, rx.handle, rx.to_ack])
            rx.acked = rx.to_ack

    def recall(self, rx: RxState) -> Request:
        """Sends RECALL (or PING, for a daemon without it) for rx. The
        caller makes sure no other RECALL of rx is pending."""
        self.flush_acks()
        if self.features & FEAT_RECALL:
            r = self.request([RECALL, 0, rx.handle], rx)
            rx.since_recall = 0
            rx.recall = r
        else:
            r = self.request([PING, 0])
        return r

    def can_select(self, rxs: List[RxState]) -> bool:
        """Whether a select over rxs uses one shared credit (SELECT): the
        daemon serves it and every receiver wants one message at a time,
        so that the select takes one message from all of them together."""
        return bool(self.features & FEAT_SELECT) and len(rxs) <= SELECT_MAX \
            and all(rx.prefetch == 1 for rx in rxs)

    def select_grant(self, rxs: List[RxState]) -> None:
        """One credit shared by rxs; each gives up its own on joining."""
        self.flush_acks()
        for rx in rxs:
            rx.credit = 0
            rx.since_recall = 0
        self.out += frame([SELECT, 0, 1, [rx.handle for rx in rxs]])

    def abandon_wait(self, rx: RxState, shared: bool = False) -> None:
        """A receive on rx stopped waiting (cancelled): take its credit
        back without waiting, so that nothing is delivered that no receive
        asked for. What arrives before the RECALL's OK stays buffered for
        the next receive. (Without RECALL the credit stays, as on a
        version 1 daemon a timed-out receive leaves it.) shared: rx is
        the first member of a SELECT, whose RECALL ends it for all."""
        if not self.features & FEAT_RECALL or self.lost is not None or rx.closed:
            return
        if rx.recall is None:
            if rx.credit > 0 or shared:
                self.recall(rx)
        else:
            rx.want_recall = True

    def take(self, rx: RxState) -> Union[Message, _Disc, None]:
        """The next item of rx's buffer, handed to the application."""
        if not rx.buf:
            return None
        item = rx.buf.popleft()
        if type(item) is _Disc:
            return item
        assert isinstance(item, Message)
        rx.handed = item.seq
        if not rx.manual:
            self.ack(rx, item.seq)
        return item

    def ack(self, rx: RxState, seq: int) -> None:
        if seq > rx.to_ack:
            rx.to_ack = seq
            self.owing[rx.handle] = rx

    def wants_credit(self, rx: RxState) -> bool:
        """Whether a receive that finds rx's buffer empty must grant."""
        return rx.credit == 0

    def prepare_wait(self, rx: RxState) -> None:
        """Before a blocking receive waits on rx: credit it so the daemon
        may deliver (on version 2 a DISCONNECTED took the credit back, so
        a receive after it is told again at once)."""
        # A receive waits again: a RECALL deferred for an earlier cancelled
        # one would take back, once the pending one is answered, the
        # credit this one counts on, and it would wait for ever.
        rx.want_recall = False
        # While a RECALL is pending, what the handle will have once its OK
        # comes is what was granted after it.
        have = rx.credit if rx.recall is None else rx.since_recall
        if have == 0:
            self.grant(rx, rx.prefetch)
        else:
            self.flush_acks()

    # ---- input ----------------------------------------------------------

    def fail(self, err: ChandError) -> None:
        """The connection is lost: every pending request fails."""
        if self.lost is None:
            self.lost = err
        for r in self.pending.values():
            if isinstance(r, Request) and not r.done:
                r.done = True
                r.error = self.lost_error()
        self.pending.clear()

    def feed(self, data: Union[bytes, memoryview]) -> None:
        """Decodes the frames of data; raises ProtocolError (and marks the
        connection lost) on anything malformed. data may be a view of the
        caller's buffer: what is kept is copied."""
        if self._in:
            self._in += data
            buf: Union[bytes, bytearray, memoryview] = self._in
        else:
            buf = data
        end = len(buf)
        pos = 0
        unpack = _hdr.unpack_from
        pending = self.pending
        try:
            while end - pos >= 4:
                (n,) = unpack(buf, pos)
                if n > self._max_body or n == 0:
                    raise ProtocolError("the daemon sent a frame of %d bytes "
                                        "(largest expected: %d)" % (n, self._max_body))
                start = pos + 4
                if end - start < n:
                    break
                pos = start + n
                # OK [65, rid]: the reply to each pipelined send.
                if buf[start] == 0x92 and buf[start + 1] == 0x41:
                    b = buf[start + 2]
                    if n == 7 and b == 0xce:
                        rid = unpack(buf, start + 3)[0]
                    elif n == 3 and b < 0x80:
                        rid = b
                    elif n == 4 and b == 0xcc:
                        rid = buf[start + 3]
                    elif n == 5 and b == 0xcd:
                        rid = _u16.unpack_from(buf, start + 3)[0]
                    else:
                        rid = -1
                    if rid >= 0:
                        r = pending.pop(rid, None)
                        if r.__class__ is TxState:
                            r.unconfirmed -= 1
                        elif r.__class__ is Request and r.rx is None and \
                                r.op not in _NOT_OK:
                            r.done = True
                        else:
                            if r is not None:
                                pending[rid] = r
                            self._on_ok(rid)
                        continue
                self._on_body(bytes(buf[start:pos]))
        except ChandError as e:
            self.fail(e)
            raise
        if pos == end:
            if self._in:
                self._in = bytearray()
        elif buf is self._in:
            del self._in[:pos]
        else:
            self._in = bytearray(buf[pos:])

    def _on_body(self, body: bytes) -> None:
        try:
            m = msgpack.unpackb(body, raw=False, use_list=True,
                                strict_map_key=True)
        except Exception as e:
            raise ProtocolError("the daemon sent a frame that is not msgpack "
                                "(%s)" % e.__class__.__name__)
        if not isinstance(m, list) or not m or type(m[0]) is not int:
            raise ProtocolError("the daemon sent a frame that is not [op, ...]")
        op = m[0]
        try:
            if op == DELIVER:
                self._on_deliver(m)
            elif op == OK:
                _expect(m, 2)
                self._on_ok(_uint(m[1]))
            elif op == DISCONNECTED:
                self._on_disconnected(m)
            elif op == HANDLE:
                _expect(m, 3)
                r = self._reply(_uint(m[1]), HANDLE)
                r.value = _uint(m[2])
                r.done = True
            elif op == ERROR:
                self._on_error(m)
            elif op == WELCOME:
                self._on_welcome(m)
            elif op == INFO:
                _expect(m, 3)
                if not isinstance(m[2], bytes):
                    raise ProtocolError("INFO data is not bin")
                r = self._reply(_uint(m[1]), INFO)
                r.value = m[2]
                r.done = True
            else:
                raise ProtocolError("the daemon sent op %d, unknown" % op)
        except (TypeError, ValueError, KeyError, IndexError):
            raise ProtocolError("the daemon sent a malformed frame (op %d)" % op)

    def _reply(self, rid: int, op: int) -> Request:
        r = self.pending.pop(rid, None)
        if not isinstance(r, Request):
            raise ProtocolError("the daemon answered request %d, which is "
                                "not waiting for an answer" % rid)
        if op == HANDLE and r.op not in (OPEN_TX, OPEN_RX) or \
                op == INFO and r.op != STATS or \
                op == WELCOME and r.op != HELLO:
            raise ProtocolError("the daemon answered request %d with op %d"
                                % (rid, op))
        return r

    def _on_ok(self, rid: int) -> None:
        r = self.pending.pop(rid, None)
        if r is None:
            raise ProtocolError("the daemon answered request %d, which is "
                                "not waiting for an answer" % rid)
        if isinstance(r, TxState):
            r.unconfirmed -= 1
            return
        if r.op in _NOT_OK:
            raise ProtocolError("the daemon answered request %d with OK" % rid)
        rx = r.rx
        if rx is not None and rx.recall is r:
            # Everything delivered before this OK used the old credit; what
            # was granted after the RECALL is all the handle has now.
            rx.credit = rx.since_recall
            rx.recall = None
            if rx.want_recall:
                rx.want_recall = False
                if not rx.closed and self.lost is None:
                    self.recall(rx)
        r.done = True

    def _on_error(self, m: List[Any]) -> None:
        if len(m) not in (4, 5):
            raise ProtocolError("ERROR of %d elements" % len(m))
        rid, code = _uint(m[1]), _uint(m[2])
        msg = m[3]
        if not isinstance(msg, str):
            raise ProtocolError("ERROR message is not str")
        fields: Dict[str, Any] = {}
        if len(m) == 5:
            if not isinstance(m[4], dict):
                raise ProtocolError("ERROR fields is not a map")
            fields = m[4]
        elif code == 5:
            found = re.search(r"\(pid (\d+)\)", msg)
            if found:
                fields = {"pid": int(found.group(1))}
        err = error_for_code(code, msg, fields)
        if rid == 0:
            # A refusal of something sent without a request id
            # (acknowledgement, credit), or the daemon closing the
            # connection: the two sides no longer agree; the connection
            # is given up, with the daemon's reason.
            self.fail(err)
            return
        r = self.pending.pop(rid, None)
        if r is None:
            raise ProtocolError("the daemon refused request %d, which is "
                                "not waiting for an answer" % rid)
        if isinstance(r, TxState):
            r.unconfirmed -= 1
            if r.failure is None:
                err.message = "pipelined send: " + msg
                err.args = (err.message,)
                r.failure = err
            return
        rx = r.rx
        if rx is not None and rx.recall is r:
            rx.recall = None
        r.error = err
        r.done = True

    def _on_welcome(self, m: List[Any]) -> None:
        _expect(m, 4)
        r = self._reply(_uint(m[1]), WELCOME)
        version, info = _uint(m[2]), m[3]
        if not isinstance(info, dict) or version not in (1, 2):
            raise ProtocolError("bad WELCOME")
        self.version = version
        self.max_msg = _uint(info.get("max_msg", DEFAULT_MAX_MSG))
        self.features = _uint(info.get("features", 0))
        self.daemon_pid = _uint(info.get("pid", 0))
        server = info.get("server", "")
        self.server = server if isinstance(server, str) else ""
        self._max_body = self.max_msg + FRAME_OVERHEAD
        self.welcomed = True
        r.value = version
        r.done = True

    def _on_deliver(self, m: List[Any]) -> None:
        _expect(m, 5)
        rx = self.rxs.get(_uint(m[1]))
        if rx is None:
            raise ProtocolError("DELIVER on handle %d, not a receiver of "
                                "this connection" % m[1])
        seq, flags, data = _uint(m[2]), _uint(m[3]), m[4]
        if type(data) is not bytes:
            raise ProtocolError("DELIVER payload is not bin")
        if seq != rx.delivered + 1:
            raise ProtocolError("DELIVER seq %d after %d" % (seq, rx.delivered))
        if len(data) > self.max_msg:
            raise ProtocolError("DELIVER of %d bytes" % len(data))
        rx.delivered = seq
        if rx.credit > 0:
            rx.credit -= 1
        self.stamp += 1
        rx.buf.append(Message(data, seq, bool(flags & FLAG_REDELIVERED),
                              self.stamp))

    def _on_disconnected(self, m: List[Any]) -> None:
        _expect(m, 2)
        rx = self.rxs.get(_uint(m[1]))
        if rx is None:
            raise ProtocolError("DISCONNECTED on handle %d, not a receiver "
                                "of this connection" % m[1])
        if self.version >= 2 and rx.recall is None:
            # Version 2: the report takes back the handle's credit (while
            # a RECALL is pending, its OK settles the credit instead).
            rx.credit = 0
        if rx.emulate_forever:
            return
        if rx.buf and type(rx.buf[-1]) is _Disc:
            return
        self.stamp += 1
        rx.buf.append(_Disc(self.stamp))


def _expect(m: List[Any], n: int) -> None:
    if len(m) != n:
        raise ProtocolError("op %d with %d elements, not %d" % (m[0], len(m), n))


def _uint(v: Any) -> int:
    if type(v) is not int or v < 0:
        raise ProtocolError("expected an unsigned integer, got %r" % (v,))
    return v


__all__ = ["Session", "Message", "UNBOUNDED", "default_socket", "OptionError"]

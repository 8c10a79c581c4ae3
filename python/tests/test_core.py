# SPDX-License-Identifier: MIT
"""The protocol state (chand._core.Session) alone, without I/O: the
orders of events a daemon's timing makes rare, replayed exactly."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # import chand from the source tree

from chand import _core  # noqa: E402


def frames(buf):
    """The frames of an output buffer, decoded."""
    import msgpack
    out, pos = [], 0
    while pos < len(buf):
        n = int.from_bytes(buf[pos:pos + 4], "big")
        out.append(msgpack.unpackb(bytes(buf[pos + 4:pos + 4 + n]), raw=False))
        pos += 4 + n
    return out


def session_with_receiver(prefetch):
    s = _core.Session()
    s.version = 2
    s.features = _core.FEAT_RECALL
    rx = _core.RxState(7, b"c", prefetch, False, False, False)
    s.rxs[rx.handle] = rx
    return s, rx


def test_a_receive_after_two_cancelled_ones_keeps_its_credit():
    """Two receives cancelled in a row, the second while the first's
    RECALL is unanswered, then a third waits: the RECALL the second asked
    for must not be sent when the first's is answered, or it takes back
    the credit the third waits with and the third waits for ever."""
    s, rx = session_with_receiver(4)
    s.prepare_wait(rx)                   # receive 1 grants 4
    s.abandon_wait(rx)                   # cancelled: RECALL
    (recall,) = [f for f in frames(s.out) if f[0] == _core.RECALL]
    s.prepare_wait(rx)                   # receive 2 grants 4 more
    s.abandon_wait(rx)                   # cancelled, RECALL still pending
    s.prepare_wait(rx)                   # receive 3 waits
    s.out.clear()
    s.feed(_core.frame([_core.OK, recall[1]]))
    assert [f for f in frames(s.out) if f[0] == _core.RECALL] == []
    assert rx.recall is None and rx.credit == 4


def test_a_cancelled_receive_s_credit_is_recalled_once_answered():
    """The same, without a third receive: the second's credit is taken
    back once the first RECALL is answered, so that nothing is delivered
    that no receive asked for."""
    s, rx = session_with_receiver(4)
    s.prepare_wait(rx)
    s.abandon_wait(rx)
    (recall,) = [f for f in frames(s.out) if f[0] == _core.RECALL]
    s.prepare_wait(rx)
    s.abandon_wait(rx)
    s.out.clear()
    s.feed(_core.frame([_core.OK, recall[1]]))
    assert [f[0] for f in frames(s.out)] == [_core.RECALL]
    assert rx.recall is not None

# SPDX-License-Identifier: MIT
"""chand.aio against a real daemon."""

import asyncio
import random

import pytest

import chand
import chand.aio as aio
from conftest import need_feature


def arun(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_send_recv_iterate(daemon):
    async def main():
        async with await aio.connect(daemon.sock) as c:
            rx = await c.receiver("a", prefetch=16)
            async with await c.sender("a") as tx:
                await tx.send(b"one")
                for i in range(100):
                    await tx.send_nowait(b"%d" % i)
                await tx.flush()
                with pytest.raises(TypeError):
                    await tx.send("str")
            got = [m.data async for m in rx]
            assert got == [b"one"] + [b"%d" % i for i in range(100)]
            await rx.close()
    arun(main())


def test_many_coroutines_one_connection(daemon):
    async def main():
        async with await aio.connect(daemon.sock) as c:
            rx = await c.receiver("many", prefetch=64)

            async def produce(k):
                tx = await c.sender("many")
                for i in range(200):
                    await tx.send(b"%d:%d" % (k, i))
                await tx.close()
            await asyncio.gather(*(produce(k) for k in range(5)))
            got = [m.data.split(b":") async for m in rx]
            for k in range(5):
                assert [int(i) for kk, i in got if int(kk) == k] == list(range(200))
    arun(main())


def test_try_recv_timeout_and_errors(daemon):
    async def main():
        async with await aio.connect(daemon.sock) as c:
            rx = await c.receiver("t", capacity=1)
            with pytest.raises(chand.Empty):
                await rx.try_recv()
            with pytest.raises(chand.Timeout):
                await rx.recv(timeout=0.05)
            tx = await c.sender("t", capacity=1)   # as the channel has it
            with pytest.raises(chand.CapacityMismatch):
                await c.sender("t", capacity=5)
            await tx.try_send(b"x")
            # (On a version 1 daemon the timed-out recv above left its
            # credit, so "x" may already be with rx: check Full apart.)
            full = await c.sender("full", capacity=1)
            await full.try_send(b"1")
            with pytest.raises(chand.Full):
                await full.try_send(b"2")
            with pytest.raises(chand.Timeout):
                await full.send(b"3", timeout=0.05)
            async with await aio.connect(daemon.sock) as c2:
                with pytest.raises(chand.Busy):
                    await c2.receiver("t")
            assert (await rx.recv()).data == b"x"
            await tx.close()
            with pytest.raises(chand.Disconnected):
                await rx.recv(timeout=10)
    arun(main())


def test_select(daemon):
    async def main():
        async with await aio.connect(daemon.sock) as c:
            a = await c.receiver("sa")
            b = await c.receiver("sb")
            with pytest.raises(chand.Timeout):
                await aio.select([a, b], timeout=0.05)
            ta = await c.sender("sa")
            tb = await c.sender("sb")
            for i in range(300):
                await ta.send_nowait(b"a%d" % i)
            for i in range(10):
                await tb.send_nowait(b"b%d" % i)
            await ta.flush()
            await tb.flush()
            n = {a: 0, b: 0}
            for _ in range(20):
                r, m = await aio.select([a, b], timeout=10)
                n[r] += 1
            assert n[b] >= 8, n
            await tb.close()
            while True:
                try:
                    r, m = await aio.select([b], timeout=10)
                except chand.Disconnected as e:
                    assert e.receiver is b
                    break
    arun(main())


def test_cancelled_recv_loses_nothing(daemon):
    """Receives cancelled at random moments while a producer sends: every
    message is received exactly once, in order."""
    n = 300

    async def main():
        async with await aio.connect(daemon.sock) as c, \
                await aio.connect(daemon.sock) as cp:
            rx = await c.receiver("cancel", prefetch=4)
            tx = await cp.sender("cancel")
            rnd = random.Random(7)

            async def produce():
                for i in range(n):
                    await tx.send(b"%d" % i)
                    if rnd.random() < 0.3:
                        await asyncio.sleep(0)
                await tx.close()
            prod = asyncio.ensure_future(produce())
            got = []
            cancelled = 0
            while True:
                t = asyncio.ensure_future(rx.recv())
                for _ in range(rnd.randrange(4)):
                    await asyncio.sleep(0)
                mine = False
                if not t.done() and rnd.random() < 0.5:
                    mine = t.cancel()
                try:
                    # A receive that hangs fails the test (the bound is
                    # far above what the whole run takes).
                    got.append(int((await asyncio.wait_for(
                        asyncio.shield(t), 20)).data))
                except asyncio.CancelledError:
                    if not mine:
                        raise
                    cancelled += 1
                except chand.Disconnected:
                    break
            await prod
            assert got == list(range(n))
            assert cancelled > 0
    arun(main())


def test_cancelled_recv_leaves_no_credit(daemon):
    async def main():
        async with await aio.connect(daemon.sock) as c:
            need_feature(c, chand.FEAT_RECALL, "RECALL")
            rx = await c.receiver("nc", prefetch=8)
            t = asyncio.ensure_future(rx.recv())
            await asyncio.sleep(0)
            await c.ping()          # the CREDIT has reached the daemon
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            await c.ping()
            ch = [x for x in (await c.info("channels"))["channels"]
                  if x["name"] == b"nc"][0]
            assert ch["credit"] == 0
            async with await aio.connect(daemon.sock) as c2:
                tx = await c2.sender("nc")
                await tx.send(b"kept")
                ch = [x for x in (await c.info("channels"))["channels"]
                      if x["name"] == b"nc"][0]
                assert ch["queued"] == 1     # not delivered to nobody
                assert (await rx.recv(timeout=10)).data == b"kept"
                await tx.close()
    arun(main())


def test_cancelled_select_leaves_no_credit(daemon):
    async def main():
        async with await aio.connect(daemon.sock) as c:
            need_feature(c, chand.FEAT_RECALL, "RECALL")
            a = await c.receiver("ca")
            b = await c.receiver("cb")
            t = asyncio.ensure_future(aio.select([a, b]))
            await asyncio.sleep(0)
            await c.ping()
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            await c.ping()
            for ch in (await c.info("channels"))["channels"]:
                assert ch["credit"] == 0, ch
    arun(main())


def test_loop_bound(daemon):
    async def opener():
        return await aio.connect(daemon.sock)
    c = asyncio.run(opener())

    async def other():
        with pytest.raises(RuntimeError):
            await c.ping()
    asyncio.run(other())


def test_recv_right_after_a_cancelled_one(daemon):
    """A receive that starts while the cancelled one's RECALL is still
    unanswered grants credit of its own: it must not wait for ever."""
    async def main():
        async with await aio.connect(daemon.sock) as c:
            rx = await c.receiver("again")
            t = asyncio.ensure_future(rx.recv())
            await asyncio.sleep(0)
            t.cancel()
            # Starts in the loop turn where t handles its cancellation,
            # before the RECALL that sends can be answered.
            t2 = asyncio.ensure_future(rx.recv())
            with pytest.raises(asyncio.CancelledError):
                await t
            async with await aio.connect(daemon.sock) as c2:
                tx = await c2.sender("again")
                await tx.send(b"x")
                await tx.close()
            assert (await asyncio.wait_for(t2, 10)).data == b"x"
    arun(main())

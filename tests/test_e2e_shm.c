/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_shm.c: producers that send through a ring in shared memory
 * (CHAN_SHM), against a real chand: order and disconnection, a message
 * longer than the ring's records, capacity with try, timed and blocking
 * sends, rendezvous and durable channels on the socket path, a producer
 * gone mid-record, a producer that scribbles over its ring, a consumer
 * killed with unacknowledged messages, the daemon's descriptors and
 * mappings released when handles close and when clients go, and the
 * daemon-wide queue limits.
 *
 * Hostile producers are raw: they speak the protocol by hand (RING,
 * RING_FETCH, SCM_RIGHTS), map the ring and write it with the ring's
 * writer, or with anything at all.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"
#include "proto.h"
#include "raw_ring.h"
#include "shmring.h"


static chan_tx *
shm_tx(chan_client *c, const char *name, uint64_t capacity)
{
	chan_open_opts	o = CHAN_OPEN_OPTS_INIT;

	o.flags = CHAN_SHM;
	o.capacity = capacity;
	return (tx_open_opts(c, name, &o));
}

START_TEST(test_order_big_message_and_disconnection)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.order", 0);
	chan_tx		*tx = shm_tx(pc, "shm.order", CHAN_CAPACITY_DEFAULT);
	size_t		 big = 700 * 1024;	/* over the ring's records */
	char		*buf, s[32];
	chan_msg	*m;
	int		 i;

	buf = malloc(big);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 'b', big);
	for (i = 0; i < 3000; i++) {
		snprintf(s, sizeof(s), "m%d", i);
		if (i == 1500)
			expect_rc(chan_tx_send(tx, buf, big), 0, "send big");
		expect_rc(i % 2 == 0 ? chan_tx_send(tx, s, strlen(s)) :
		    chan_tx_send_async(tx, s, strlen(s)), 0, "send");
	}
	expect_rc(chan_tx_close(tx), 0, "close");
	for (i = 0; i < 3000; i++) {
		if (i == 1500) {
			m = recv_msg(rx);
			ck_assert_uint_eq(chan_msg_len(m), big);
			ck_assert(memcmp(chan_msg_data(m), buf, big) == 0);
			chan_msg_free(m);
		}
		snprintf(s, sizeof(s), "m%d", i);
		expect_str(rx, s);
	}
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	free(buf);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/* Records committed in this process's ring of maplen bytes, in all. */
static uint64_t
own_ring_sent(size_t maplen)
{
	unsigned char	*map = NULL;
	uint64_t	 n;

	ck_assert_int_eq(own_ring_maps(maplen, &map, NULL), 1);
	memcpy(&n, map + SHMRING_OFF_SENT, sizeof(n));
	return (n);
}

/*
 * ring_size: a message of up to half the ring less a record's 16-byte
 * header goes through the ring (counted there), a longer one over the
 * socket, all in order; a size that is not a power of two from 4096 to
 * 2^30 is refused; a caller whose chan_open_opts ends before ring_size
 * gets the daemon's ring whatever lies beyond.
 */
START_TEST(test_a_big_ring_carries_big_messages)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.bigring", 0);
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	size_t		 most = (1u << 20) - SHMRING_REC_HDR;
	size_t		 sizes[3] = { most, most + 1, most };
	chan_tx		*tx, *old;
	chan_msg	*m;
	char		*buf;
	int		 i;

	o.flags = CHAN_SHM;
	o.ring_size = 5000;
	expect_rc(chan_tx_open_ex(pc, "shm.bigring", 11, &o, &tx),
	    CHAN_EOPTION, "ring of 5000 bytes");
	o.ring_size = (uint64_t)1 << 31;
	expect_rc(chan_tx_open_ex(pc, "shm.bigring", 11, &o, &tx),
	    CHAN_EOPTION, "ring of 2 GiB");
	/* An older caller's struct: ring_size is past its end. */
	o.ring_size = 5000;
	o.size = offsetof(chan_open_opts, ring_size);
	expect_rc(chan_tx_open_ex(pc, "shm.bigring", 11, &o, &old), 0,
	    "older chan_open_opts");
	o.size = sizeof(o);
	o.ring_size = 2u << 20;
	expect_rc(chan_tx_open_ex(pc, "shm.bigring", 11, &o, &tx), 0,
	    "ring of 2 MiB");
	buf = malloc(most + 1);
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < 3; i++) {
		memset(buf, 'a' + i, sizes[i]);
		expect_rc(chan_tx_send(tx, buf, sizes[i]), 0, "send big");
		send_str(tx, "small");
	}
	/* The middle one went over the socket. */
	ck_assert_uint_eq(own_ring_sent(SHMRING_HDR_SIZE + (2u << 20)), 5);
	for (i = 0; i < 3; i++) {
		m = recv_msg(rx);
		memset(buf, 'a' + i, sizes[i]);
		ck_assert_uint_eq(chan_msg_len(m), sizes[i]);
		ck_assert(memcmp(chan_msg_data(m), buf, sizes[i]) == 0);
		chan_msg_free(m);
		expect_str(rx, "small");
	}
	send_str(old, "old");
	expect_str(rx, "old");
	free(buf);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * Rings that use all the memory the daemon gives them (16 of 64 MiB)
 * leave the next transmitter with CHAN_SHM on the socket: it opens, and
 * its messages arrive.
 */
START_TEST(test_no_ring_room_leaves_a_transmitter_on_the_socket)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.noroom", 0);
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_tx		*tx[16], *last;
	int		 i, before = own_ring_maps(0, NULL, NULL);

	o.flags = CHAN_SHM;
	o.ring_size = 64u << 20;
	for (i = 0; i < 16; i++)
		expect_rc(chan_tx_open_ex(pc, "shm.noroom", 10, &o, &tx[i]),
		    0, "a ring of 64 MiB");
	ck_assert_int_eq(own_ring_maps(0, NULL, NULL), before + 16);
	o.ring_size = 0;
	expect_rc(chan_tx_open_ex(pc, "shm.noroom", 10, &o, &last), 0,
	    "one ring too many");
	ck_assert_int_eq(own_ring_maps(0, NULL, NULL), before + 16);
	send_str(tx[0], "ring");
	send_str(last, "socket");
	expect_str(rx, "ring");
	expect_str(rx, "socket");
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * A marked send (chan_tx_send_redelivered) on a ring transmitter goes
 * over the socket, behind the ring's records, and keeps its mark.
 */
START_TEST(test_marked_send_follows_the_ring_records)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.marked", 0);
	chan_tx		*tx = shm_tx(pc, "shm.marked", CHAN_CAPACITY_DEFAULT);
	chan_msg	*m;
	char		 s[32];
	int		 i;

	for (i = 0; i < 100; i++) {
		snprintf(s, sizeof(s), "m%d", i);
		if (i % 10 == 5)
			expect_rc(chan_tx_send_redelivered(tx, s, strlen(s)),
			    0, "marked send");
		else
			expect_rc(chan_tx_send_async(tx, s, strlen(s)), 0,
			    "send");
	}
	expect_rc(chan_tx_close(tx), 0, "close");
	for (i = 0; i < 100; i++) {
		snprintf(s, sizeof(s), "m%d", i);
		m = recv_msg(rx);
		ck_assert_msg(chan_msg_len(m) == strlen(s) &&
		    memcmp(chan_msg_data(m), s, strlen(s)) == 0,
		    "message %d: \"%.*s\"", i, (int)chan_msg_len(m),
		    (const char *)chan_msg_data(m));
		ck_assert_msg(chan_msg_redelivered(m) == (i % 10 == 5),
		    "message %d: mark %d", i, chan_msg_redelivered(m));
		chan_msg_free(m);
	}
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/* The next message of rx must be s. */
static void
expect_next(chan_rx *rx, const char *s)
{
	chan_msg	*m = recv_msg(rx);

	ck_assert_msg(chan_msg_len(m) == strlen(s) &&
	    memcmp(chan_msg_data(m), s, strlen(s)) == 0,
	    "want \"%s\", got \"%.*s\"", s, (int)chan_msg_len(m),
	    (const char *)chan_msg_data(m));
	chan_msg_free(m);
}

/*
 * Pipelined sends on a ring are written at once and committed together
 * (chanclient.h, chan_tx_send_async), by whatever the application calls
 * on the connection next. A confirmed send of another transmitter of the
 * connection comes after them; a receive on the same connection that
 * waits for them gets them; a close commits them before its
 * disconnection.
 */
START_TEST(test_held_ring_sends_are_committed_by_the_next_call)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.held", 0), *own;
	chan_tx		*a = shm_tx(pc, "shm.held", CHAN_CAPACITY_DEFAULT);
	chan_tx		*b = shm_tx(pc, "shm.held", CHAN_CAPACITY_DEFAULT);
	chan_tx		*t;
	char		 s[32];
	int		 i;

	for (i = 0; i < 10; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		expect_rc(chan_tx_send_async(a, s, strlen(s)), 0, "send_async");
	}
	expect_rc(chan_tx_send(b, "b", 1), 0, "the other transmitter's send");
	for (i = 0; i < 10; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		expect_next(rx, s);
	}
	expect_next(rx, "b");

	/* Pipelined on one, then on the other: the first's are committed
	   when the second's begin. */
	for (i = 0; i < 5; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		expect_rc(chan_tx_send_async(a, s, strlen(s)), 0, "send_async");
	}
	for (i = 0; i < 5; i++) {
		snprintf(s, sizeof(s), "b%d", i);
		expect_rc(chan_tx_send_async(b, s, strlen(s)), 0, "send_async");
	}
	expect_rc(chan_tx_flush(b), 0, "flush");
	expect_rc(chan_tx_flush(a), 0, "flush");
	for (i = 0; i < 10; i++) {
		snprintf(s, sizeof(s), "%c%d", i < 5 ? 'a' : 'b', i % 5);
		expect_next(rx, s);
	}

	own = rx_open(pc, "shm.held.own", 0);
	t = shm_tx(pc, "shm.held.own", CHAN_CAPACITY_DEFAULT);
	expect_rc(chan_tx_send_async(t, "own", 3), 0, "send_async");
	expect_next(own, "own");

	for (i = 0; i < 3; i++) {
		snprintf(s, sizeof(s), "last%d", i);
		expect_rc(chan_tx_send_async(a, s, strlen(s)), 0, "send_async");
	}
	expect_rc(chan_tx_close(a), 0, "close");
	expect_rc(chan_tx_close(b), 0, "close");
	for (i = 0; i < 3; i++) {
		snprintf(s, sizeof(s), "last%d", i);
		expect_next(rx, s);
	}
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	(void)chan_tx_close(t);
	(void)chan_rx_close(own);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * As with Rust's mpsc on one thread: a send, then a try_recv, returns the
 * message, though the send was pipelined and held in the ring. The look
 * commits it first (any call on the connection does), and the daemon takes
 * what the ring committed before it answers a look. Both a consumer on
 * the socket and one on a ring of its own.
 */
START_TEST(test_a_look_after_held_sends_finds_them)
{
	static const char *const names[] = { "shm.look", "shm.look.ring" };
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_client	*c = test_connect(&fixture);
	chan_rx		*rx;
	chan_tx		*tx;
	chan_msg	*m, *msgs[8];
	size_t		 n;
	char		 s[32];
	int		 i, k;

	for (k = 0; k < 2; k++) {
		o.flags = k == 0 ? 0 : CHAN_SHM;
		expect_rc(chan_rx_open_ex(c, names[k], strlen(names[k]), &o,
		    &rx), 0, "rx_open");
		tx = shm_tx(c, names[k], CHAN_CAPACITY_DEFAULT);
		for (i = 0; i < 50; i++) {
			snprintf(s, sizeof(s), "m%d", i);
			expect_rc(chan_tx_send_async(tx, s, strlen(s)), 0,
			    "send_async");
			expect_try_str(rx, s);
		}
		for (i = 0; i < 3; i++) {
			snprintf(s, sizeof(s), "n%d", i);
			expect_rc(chan_tx_send_async(tx, s, strlen(s)), 0,
			    "send_async");
		}
		for (i = 0; i < 3; i++) {
			snprintf(s, sizeof(s), "n%d", i);
			expect_try_str(rx, s);
		}
		expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "try_recv");
		expect_rc(chan_tx_close(tx), 0, "close");
		(void)chan_rx_close(rx);
	}

	/* chan_rx_drain as the first look, on a ring. */
	o.flags = CHAN_SHM;
	expect_rc(chan_rx_open_ex(c, "shm.look.drain", 14, &o, &rx), 0,
	    "rx_open");
	tx = shm_tx(c, "shm.look.drain", CHAN_CAPACITY_DEFAULT);
	for (i = 0; i < 3; i++) {
		snprintf(s, sizeof(s), "d%d", i);
		expect_rc(chan_tx_send_async(tx, s, strlen(s)), 0, "send_async");
	}
	expect_rc(chan_rx_drain(rx, msgs, 8, &n), 0, "drain");
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < 3; i++) {
		snprintf(s, sizeof(s), "d%d", i);
		ck_assert(chan_msg_len(msgs[i]) == 2 &&
		    memcmp(chan_msg_data(msgs[i]), s, 2) == 0);
		chan_msg_free(msgs[i]);
	}
	expect_rc(chan_tx_close(tx), 0, "close");
	(void)chan_rx_close(rx);
	chan_disconnect(c);
}
END_TEST

/* A look of kind k (0 try_recv, 1 recv_many, 2 drain): rc, and *got. */
static int
look(chan_rx *rx, int k, size_t *got)
{
	chan_view	 v[4];
	chan_msg	*m[4];
	size_t		 i;
	int		 rc;

	*got = 0;
	switch (k) {
	case 0:
		if ((rc = chan_rx_try_recv(rx, &m[0])) == 0) {
			*got = 1;
			chan_msg_free(m[0]);
		}
		return (rc);
	case 1:
		return (chan_rx_recv_many(rx, 0, v, 4, got));
	default:
		rc = chan_rx_drain(rx, m, 4, got);
		for (i = 0; i < *got; i++)
			chan_msg_free(m[i]);
		return (rc);
	}
}

/*
 * As with Rust's mpsc: once the last transmitter is dropped and the
 * receiver has taken every message, a look says disconnected. Here the
 * receiver reads the producer's ring directly, so dropping the producer
 * takes the ring back while the receiver's acknowledgement is in its
 * page: the look must not answer before the daemon has it.
 */
START_TEST(test_a_look_after_the_last_producer_went_says_disconnected)
{
	static const char *const kinds[] = { "try_recv", "recv_many",
	    "drain" };
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_client	*cc = test_connect(&fixture);
	chan_client	*pc = test_connect(&fixture);
	chan_rx		*rx;
	chan_tx		*tx;
	char		 name[32];
	size_t		 got;
	int		 k, i, rc;

	o.flags = CHAN_SHM;
	for (i = 0; i < 30; i++) {
		k = i % 3;
		snprintf(name, sizeof(name), "shm.look.gone.%d", i);
		expect_rc(chan_rx_open_ex(cc, name, strlen(name), &o, &rx), 0,
		    "rx_open");
		tx = shm_tx(pc, name, CHAN_CAPACITY_DEFAULT);
		expect_rc(chan_tx_send(tx, "a", 1), 0, "send");
		rc = look(rx, k, &got);
		ck_assert_msg(rc == 0 && got == 1, "%s: %s, %zu messages",
		    kinds[k], chan_errname(rc), got);
		expect_rc(chan_tx_close(tx), 0, "close");
		rc = look(rx, k, &got);
		ck_assert_msg(rc == CHAN_EDISCONNECTED, "%s after the last "
		    "producer went: %s, %zu messages", kinds[k],
		    chan_errname(rc), got);
		(void)chan_rx_close(rx);
	}
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * A select that only looks (timeout 0) finds a message a ring producer
 * committed on any member, not only on the member its RECALL names:
 * here the consumers are on rings, so the daemon had left the records to
 * a direct reader until the select gave the rings back.
 */
START_TEST(test_a_select_look_takes_what_rings_committed)
{
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_client	*cc = test_connect(&fixture);
	chan_client	*pc = test_connect(&fixture);
	chan_rx		*rx[3];
	chan_tx		*tx[3];
	chan_msg	*m;
	char		 name[32];
	size_t		 idx;
	int		 k, i, rc;

	o.flags = CHAN_SHM;
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 3; i++) {
			snprintf(name, sizeof(name), "shm.select.%d.%d", k, i);
			expect_rc(chan_rx_open_ex(cc, name, strlen(name), &o,
			    &rx[i]), 0, "rx_open");
			tx[i] = shm_tx(pc, name, CHAN_CAPACITY_DEFAULT);
			/* The second time, each reads its ring first. */
			if (k == 1) {
				expect_rc(chan_tx_send(tx[i], "w", 1), 0, "send");
				expect_str(rx[i], "w");
			}
		}
		expect_rc(chan_tx_send(tx[2], "c", 1), 0, "send");
		rc = chan_select(rx, 3, 0, &idx, &m);
		ck_assert_msg(rc == 0 && idx == 2, "select: %s, index %zu",
		    chan_errname(rc), idx);
		chan_msg_free(m);
		expect_rc(chan_select(rx, 3, 0, &idx, &m), CHAN_ETIMEDOUT,
		    "select with nothing");
		expect_rc(chan_tx_close(tx[1]), 0, "close");
		rc = chan_select(rx, 3, 0, &idx, &m);
		ck_assert_msg(rc == CHAN_EDISCONNECTED && idx == 1,
		    "select after a producer went: %s, index %zu",
		    chan_errname(rc), idx);
		for (i = 0; i < 3; i++) {
			if (i != 1)
				expect_rc(chan_tx_close(tx[i]), 0, "close");
			(void)chan_rx_close(rx[i]);
		}
	}
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/* The look chan_rx_try_recv must give rc (CHAN_EEMPTY, ...), in mode k. */
static void
expect_look_rc(chan_rx *rx, int rc, int k, const char *what)
{
	chan_msg	*m;
	int		 got;

	got = chan_rx_try_recv(rx, &m);
	if (got == 0)
		chan_msg_free(m);
	ck_assert_msg(got == rc, "mode %d, %s: %s, want %s", k, what,
	    chan_errname(got), chan_errname(rc));
}

/* Opens name's consumer on c (on a ring if shm). */
static chan_rx *
rx_mode(chan_client *c, const char *name, bool shm)
{
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_rx		*rx;

	o.flags = shm ? CHAN_SHM : 0;
	expect_rc(chan_rx_open_ex(c, name, strlen(name), &o, &rx), 0,
	    "rx_open");
	return (rx);
}

/* Opens a producer of name on c (on a ring if shm). */
static chan_tx *
tx_mode(chan_client *c, const char *name, bool shm)
{
	return (shm ? shm_tx(c, name, CHAN_CAPACITY_DEFAULT) :
	    tx_open(c, name));
}

/*
 * Rust's mpsc sequences, each checked by looks that do not wait, in
 * every mix of paths: the consumer on the socket or a ring (read
 * directly), two producers each on the socket or a ring, on another
 * connection than the consumer's. Order across producers; a channel
 * empty while a producer or a clone lives, disconnected once the last
 * goes, revived by a new one; sends made before the consumer exists.
 */
START_TEST(test_mpsc_sequences_in_every_mode)
{
	chan_client	*cc = test_connect(&fixture);
	chan_client	*pc = test_connect(&fixture);
	chan_client	*qc = test_connect(&fixture);
	chan_rx		*rx;
	chan_tx		*a, *b, *clone;
	char		 name[32];
	int		 k;

	for (k = 0; k < 8; k++) {
		bool ra = (k & 1) != 0, rb = (k & 2) != 0, rr = (k & 4) != 0;

		snprintf(name, sizeof(name), "shm.modes.%d", k);
		rx = rx_mode(cc, name, rr);
		a = tx_mode(pc, name, ra);
		b = tx_mode(qc, name, rb);
		expect_rc(chan_tx_send(a, "a1", 2), 0, "send");
		expect_rc(chan_tx_send(b, "b1", 2), 0, "send");
		expect_rc(chan_tx_send(a, "a2", 2), 0, "send");
		expect_try_str(rx, "a1");
		expect_try_str(rx, "b1");
		expect_try_str(rx, "a2");
		expect_look_rc(rx, CHAN_EEMPTY, k, "nothing more");
		expect_rc(chan_tx_clone(a, &clone), 0, "clone");
		expect_rc(chan_tx_close(a), 0, "close");
		expect_rc(chan_tx_send_async(b, "b2", 2), 0, "send_async");
		expect_rc(chan_tx_close(b), 0, "close");
		expect_try_str(rx, "b2");
		expect_look_rc(rx, CHAN_EEMPTY, k, "a clone lives");
		expect_rc(chan_tx_send(clone, "c1", 2), 0, "send");
		expect_rc(chan_tx_close(clone), 0, "close");
		expect_try_str(rx, "c1");
		expect_look_rc(rx, CHAN_EDISCONNECTED, k, "every producer gone");
		a = tx_mode(pc, name, ra);
		expect_look_rc(rx, CHAN_EEMPTY, k, "revived");
		expect_rc(chan_tx_send(a, "a3", 2), 0, "send");
		expect_try_str(rx, "a3");
		expect_rc(chan_tx_close(a), 0, "close");
		expect_look_rc(rx, CHAN_EDISCONNECTED, k, "gone again");
		(void)chan_rx_close(rx);

		/* Sent before the consumer exists. */
		snprintf(name, sizeof(name), "shm.modes.pre.%d", k);
		a = tx_mode(pc, name, ra);
		expect_rc(chan_tx_send(a, "x", 1), 0, "send");
		expect_rc(chan_tx_send_async(a, "y", 1), 0, "send_async");
		expect_rc(chan_tx_flush(a), 0, "flush");
		rx = rx_mode(cc, name, rr);
		expect_try_str(rx, "x");
		expect_try_str(rx, "y");
		expect_rc(chan_tx_close(a), 0, "close");
		expect_look_rc(rx, CHAN_EDISCONNECTED, k, "sent before, gone");
		(void)chan_rx_close(rx);
	}
	chan_disconnect(qc);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

struct holder {
	chan_tx		*tx;
	char		 tag;
	int		 n;
	int		 rc;
};

/* Pipelined sends "<tag><i>", then a flush. */
static void *
holder_main(void *arg)
{
	struct holder	*h = arg;
	char		 s[32];
	int		 i, rc = 0;

	for (i = 0; i < h->n && rc == 0; i++) {
		snprintf(s, sizeof(s), "%c%d", h->tag, i);
		rc = chan_tx_send_async(h->tx, s, strlen(s));
	}
	if (rc == 0)
		rc = chan_tx_flush(h->tx);
	h->rc = rc;
	return (NULL);
}

/*
 * Two threads pipelining on two transmitters of one connection, each
 * holding sends in its own ring while the other's calls commit them:
 * every message arrives once, each thread's in order.
 */
START_TEST(test_two_threads_hold_on_one_connection)
{
	enum { N = 20000 };
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.threads", 0);
	struct holder	 h[2];
	pthread_t	 t[2];
	chan_msg	*m;
	int		 next[2] = { 0, 0 }, i, k, got;

	for (k = 0; k < 2; k++) {
		h[k].tx = shm_tx(pc, "shm.threads", CHAN_CAPACITY_DEFAULT);
		h[k].tag = k == 0 ? 'a' : 'b';
		h[k].n = N;
		h[k].rc = -1;
	}
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_create(&t[k], NULL, holder_main,
		    &h[k]), 0);
	for (i = 0; i < 2 * N; i++) {
		m = recv_msg(rx);
		ck_assert_uint_gt(chan_msg_len(m), 1);
		k = ((const char *)chan_msg_data(m))[0] == 'a' ? 0 : 1;
		got = atoi((const char *)chan_msg_data(m) + 1);
		ck_assert_msg(got == next[k], "%c: want %d, got %.*s",
		    h[k].tag, next[k], (int)chan_msg_len(m),
		    (const char *)chan_msg_data(m));
		next[k]++;
		chan_msg_free(m);
	}
	for (k = 0; k < 2; k++) {
		ck_assert_int_eq(pthread_join(t[k], NULL), 0);
		expect_rc(h[k].rc, 0, "a holder's sends");
	}
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "nothing more");
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * Held sends on a channel of several rings are stamped once, when they
 * are committed, so that a send which began after another producer's
 * send returned comes after that send even where the bundle holding it
 * began before. The daemon is stopped meanwhile, so that it takes both
 * rings together and only the stamps order them: x2 began after y was
 * confirmed and must come after it (x1 may come on either side).
 */
START_TEST(test_held_sends_are_stamped_when_committed)
{
	struct daemon	 d;
	chan_client	*pa, *pb, *cc;
	chan_tx		*a, *b;
	chan_rx		*rx;
	chan_msg	*m;
	char		 got[4][8];
	int		 i, y = -1, x2 = -1;

	daemon_start(&d, NULL);
	pa = test_connect(&d);
	pb = test_connect(&d);
	cc = test_connect(&d);
	rx = rx_open(cc, "shm.stamp", 0);
	a = shm_tx(pa, "shm.stamp", CHAN_CAPACITY_DEFAULT);
	b = shm_tx(pb, "shm.stamp", CHAN_CAPACITY_DEFAULT);
	/* Both rings granted, so both are stamped. */
	expect_rc(chan_tx_send(a, "a0", 2), 0, "send");
	expect_rc(chan_tx_send(b, "b0", 2), 0, "send");
	expect_str(rx, "a0");
	expect_str(rx, "b0");

	ck_assert_int_eq(kill(d.pid, SIGSTOP), 0);
	expect_rc(chan_tx_send_async(a, "x1", 2), 0, "send_async");
	expect_rc(chan_tx_send(b, "y", 1), 0, "send");
	expect_rc(chan_tx_send_async(a, "x2", 2), 0, "send_async");
	/* Commits x1 and x2, then x3. */
	expect_rc(chan_tx_send(a, "x3", 2), 0, "send");
	ck_assert_int_eq(kill(d.pid, SIGCONT), 0);

	for (i = 0; i < 4; i++) {
		m = recv_msg(rx);
		ck_assert_uint_lt(chan_msg_len(m), sizeof(got[i]));
		memcpy(got[i], chan_msg_data(m), chan_msg_len(m));
		got[i][chan_msg_len(m)] = '\0';
		chan_msg_free(m);
		if (strcmp(got[i], "y") == 0)
			y = i;
		if (strcmp(got[i], "x2") == 0)
			x2 = i;
	}
	ck_assert_msg(y >= 0 && x2 > y && strcmp(got[3], "x3") == 0,
	    "want y before x2 and x3 last; got %s %s %s %s", got[0], got[1],
	    got[2], got[3]);
	chan_disconnect(pa);
	chan_disconnect(pb);
	chan_disconnect(cc);
	daemon_stop(&d);
}
END_TEST

/*
 * A transmitter with CHAN_RX_GONE holds a pipelined send when its
 * channel's consumer goes: the daemon closes the ring, the held send was
 * not taken, and the next call says so, as a pipelined send's refusal,
 * as it would of a SEND still in the socket's batch.
 */
START_TEST(test_a_held_send_to_a_gone_receiver_is_reported)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_rx		*rx = rx_open(cc, "shm.held.gone", 0);
	chan_tx		*tx;

	o.flags = CHAN_SHM | CHAN_RX_GONE;
	tx = tx_open_opts(pc, "shm.held.gone", &o);
	/* Confirmed: the ring has its grant from then on. */
	expect_rc(chan_tx_send(tx, "first", 5), 0, "send");
	expect_next(rx, "first");
	expect_rc(chan_tx_send_async(tx, "held", 4), 0, "send_async");
	expect_rc(chan_rx_close(rx), 0, "the receiver's close");
	expect_rc(chan_tx_flush(tx), CHAN_ERXGONE, "flush");
	ck_assert_msg(strstr(chan_tx_errmsg(tx), "pipelined send 1") != NULL,
	    "errmsg \"%s\"", chan_tx_errmsg(tx));
	expect_rc(chan_tx_send(tx, "after", 5), CHAN_ERXGONE, "a later send");
	(void)chan_tx_close(tx);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

START_TEST(test_full_ring_try_timed_and_blocking_sends)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc;
	chan_tx		*tx = shm_tx(pc, "shm.full", 4);
	chan_rx		*rx;
	struct send_thread b;
	long long	 t0;

	expect_rc(chan_tx_try_send(tx, "one", 3), 0, "try 1");
	expect_rc(chan_tx_try_send(tx, "two", 3), 0, "try 2");
	expect_rc(chan_tx_send(tx, "three", 5), 0, "send 3");
	expect_rc(chan_tx_send_timeout(tx, "four", 4, 1000), 0, "timed 4");
	/* Full at 4, with no consumer: the ring takes no more. */
	expect_rc(chan_tx_try_send(tx, "x", 1), CHAN_EFULL, "try full");
	t0 = now_ms();
	expect_rc(chan_tx_send_timeout(tx, "x", 1, 100), CHAN_ETIMEDOUT,
	    "timed full");
	ck_assert_int_ge(now_ms() - t0, 100);
	/* A blocking send waits until the consumer takes one. */
	send_thread_start(&b, tx, "five");
	ck_assert_int_eq(send_thread_wait(&b, 200), 0);
	cc = test_connect(&fixture);
	rx = rx_open(cc, "shm.full", 1);
	expect_str(rx, "one");
	ck_assert_int_eq(send_thread_wait(&b, HARNESS_WAIT_MS), 1);
	expect_rc(send_thread_join(&b), 0, "blocked send");
	expect_str(rx, "two");
	expect_str(rx, "three");
	expect_str(rx, "four");
	expect_str(rx, "five");
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/* Try-sends "<tag><i>" from first on until one is refused: how many went. */
static unsigned
try_fill(chan_tx *tx, char tag, unsigned first, unsigned most)
{
	char		buf[32];
	unsigned	i;
	int		rc;

	for (i = 0; i <= most; i++) {
		snprintf(buf, sizeof(buf), "%c%u", tag, first + i);
		if ((rc = chan_tx_try_send(tx, buf, strlen(buf))) != 0) {
			expect_rc(rc, CHAN_EFULL, "try_fill");
			return (i);
		}
	}
	ck_abort_msg("%u sends went into a channel of %u", i, most);
	return (i);
}

/*
 * Receives n messages and checks that each producer's ("<tag><i>") come
 * in its order, numbered from 0: how many were tag's.
 */
static unsigned
recv_in_order(chan_rx *rx, unsigned n, const char *tags, unsigned *next)
{
	char		 buf[32];
	chan_msg	*m;
	const char	*t;
	size_t		 len;
	unsigned	 i;

	for (i = 0; i < n; i++) {
		expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0,
		    "recv_in_order");
		len = chan_msg_len(m);
		ck_assert_uint_lt(len, sizeof(buf));
		memcpy(buf, chan_msg_data(m), len);
		buf[len] = '\0';
		chan_msg_free(m);
		ck_assert_ptr_nonnull(t = strchr(tags, buf[0]));
		ck_assert_uint_eq(strtoul(buf + 1, NULL, 10),
		    next[t - tags]++);
	}
	return (next[0]);
}

/*
 * A ring producer that stops sending holds what it has claimed of its
 * grant (a part of SHMRING_CLAIM_MSGS), not the half of the channel it
 * was granted: a send on the socket takes the rest back. Both together
 * then fill the channel to its capacity exactly, in each one's order.
 */
START_TEST(test_unused_ring_grants_never_hold_a_socket_send)
{
	const unsigned	 cap = 4 * SHMRING_CLAIM_MSGS;
	chan_client	*rc = test_connect(&fixture);
	chan_client	*sc = test_connect(&fixture);
	chan_client	*cc;
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_tx		*rtx = shm_tx(rc, "shm.claims", cap), *stx;
	chan_rx		*rx;
	unsigned	 by_ring, by_socket, next[2] = { 0, 0 };

	expect_rc(chan_tx_send(rtx, "r0", 2), 0, "ring send");
	o.capacity = cap;
	stx = tx_open_opts(sc, "shm.claims", &o);
	/* Granted half the channel, it claimed a part and sent one. */
	by_socket = try_fill(stx, 's', 0, cap);
	ck_assert_uint_eq(by_socket, cap - SHMRING_CLAIM_MSGS);
	/* What it claimed is still its own. */
	by_ring = 1 + try_fill(rtx, 'r', 1, cap);
	ck_assert_uint_eq(by_ring, SHMRING_CLAIM_MSGS);
	cc = test_connect(&fixture);
	rx = rx_open(cc, "shm.claims", 64);
	ck_assert_uint_eq(recv_in_order(rx, cap, "rs", next), by_ring);
	ck_assert_uint_eq(next[1], by_socket);
	chan_disconnect(rc);
	chan_disconnect(sc);
	chan_disconnect(cc);
}
END_TEST

/*
 * A try-send through a ring fails FULL only on a channel full of messages
 * and claimed room: what another ring's producer, idle, holds unclaimed
 * comes back for it, as for a send on the socket.
 */
START_TEST(test_a_ring_try_send_takes_back_what_an_idle_ring_left)
{
	const unsigned	 cap = 8 * SHMRING_CLAIM_MSGS;
	chan_client	*ac = test_connect(&fixture);
	chan_client	*bc = test_connect(&fixture);
	chan_client	*cc;
	chan_tx		*atx = shm_tx(ac, "shm.tryback", cap);
	chan_tx		*btx = shm_tx(bc, "shm.tryback", cap);
	chan_rx		*rx;
	unsigned	 by_b, next[2] = { 0, 0 };

	/* Granted a quarter of the channel, it claimed a part, sent one. */
	expect_rc(chan_tx_send(atx, "a0", 2), 0, "ring send");
	by_b = try_fill(btx, 'b', 0, cap);
	ck_assert_uint_eq(by_b, cap - SHMRING_CLAIM_MSGS);
	cc = test_connect(&fixture);
	rx = rx_open(cc, "shm.tryback", 64);
	ck_assert_uint_eq(recv_in_order(rx, 1 + by_b, "ab", next), 1);
	ck_assert_uint_eq(next[1], by_b);
	chan_disconnect(ac);
	chan_disconnect(bc);
	chan_disconnect(cc);
}
END_TEST

/*
 * A producer that does not claim (an older library: RING_FETCH without
 * PROTO_FETCH_CLAIMS) keeps all it was granted: sends on the socket do
 * not take it back, and every record it commits within it arrives.
 */
START_TEST(test_a_producer_that_claims_nothing_keeps_its_grant)
{
	const unsigned	 cap = 4 * SHMRING_CLAIM_MSGS, more = 64;
	chan_client	*sc = test_connect(&fixture);
	chan_client	*cc;
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_tx		*stx;
	chan_rx		*rx;
	struct raw_ring	 r;
	char		 buf[32];
	unsigned	 i, by_socket, next[2] = { 0, 0 };

	o.capacity = cap;
	stx = tx_open_opts(sc, "shm.noclaims", &o);
	raw_ring_open(&r, "shm.noclaims");
	raw_ring_send(&r, "r0");
	/* The ring holds half the channel, less the record it sent. */
	by_socket = try_fill(stx, 's', 0, cap);
	ck_assert_uint_eq(by_socket, cap / 2);
	for (i = 1; i <= more; i++) {
		snprintf(buf, sizeof(buf), "r%u", i);
		raw_ring_send(&r, buf);
	}
	cc = test_connect(&fixture);
	rx = rx_open(cc, "shm.noclaims", 64);
	ck_assert_uint_eq(recv_in_order(rx, 1 + more + by_socket, "rs",
	    next), 1 + more);
	ck_assert_uint_eq(next[1], by_socket);
	raw_ring_close(&r);
	chan_disconnect(sc);
	chan_disconnect(cc);
}
END_TEST

START_TEST(test_rendezvous_keeps_the_socket_path)
{
	chan_client	*pc = test_connect(&fixture);
	int		 before = daemon_fd_count(&fixture);
	chan_tx		*tx = shm_tx(pc, "shm.meet", 0);

	/* No ring was made: rendezvous stays on the socket. */
	ck_assert_int_eq(daemon_fd_count(&fixture), before);
	expect_rc(chan_tx_try_send(tx, "x", 1), CHAN_EFULL, "try");
	chan_disconnect(pc);
}
END_TEST

START_TEST(test_producer_gone_mid_record)
{
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.cut", 0);
	struct raw_ring	 r;
	unsigned char	*rec;

	raw_ring_open(&r, "shm.cut");
	raw_ring_put(&r, "a");
	raw_ring_put(&r, "b");
	raw_ring_put(&r, "c");
	/* A fourth record written whole but never committed: its head
	   store never happened. */
	rec = r.w.data + (r.w.head & (r.w.data_size - 1));
	memcpy(rec + SHMRING_REC_HDR, "dddd", 4);
	memcpy(rec, &(uint32_t){ 4 }, 4);
	memcpy(rec + 4, &(uint32_t){ shmring_commit_word(r.w.sent) }, 4);
	raw_ring_kick(&r);
	raw_ring_close(&r);
	expect_str(rx, "a");
	expect_str(rx, "b");
	expect_str(rx, "c");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(cc);
}
END_TEST

/*
 * A look over a receiver set (no wait) is a PING: the daemon takes what
 * the consumer's rings committed before it answers, as for a RECALL.
 * The raw producer commits without waking the daemon, so nothing else
 * would make it read the ring in time.
 */
START_TEST(test_a_look_over_a_set_takes_what_rings_committed)
{
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.look", 1), *from;
	chan_rxset	*set;
	chan_msg	*m;
	struct raw_ring	 r;
	int		 i;

	expect_rc(chan_rxset_new(cc, &set), 0, "chan_rxset_new");
	expect_rc(chan_rxset_add(set, rx), 0, "chan_rxset_add");
	raw_ring_open(&r, "shm.look");
	raw_ring_put(&r, "x");
	raw_ring_put(&r, "y");
	for (i = 0; i < 2; i++) {
		expect_rc(chan_rxset_recv(set, 0, &from, &m), 0,
		    "a look over the set");
		ck_assert_ptr_eq(from, rx);
		ck_assert_str_eq(chan_msg_data(m), i == 0 ? "x" : "y");
		chan_msg_free(m);
	}
	raw_ring_close(&r);
	chan_rxset_free(set);
	chan_disconnect(cc);
}
END_TEST

START_TEST(test_scribbling_producer_goes_alone)
{
	chan_client	*cc = test_connect(&fixture);
	chan_client	*pc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.bad", 0);
	chan_tx		*good = shm_tx(pc, "shm.bad", CHAN_CAPACITY_DEFAULT);
	struct raw_ring	 r;
	uint64_t	 head;

	raw_ring_open(&r, "shm.bad");
	raw_ring_put(&r, "ok1");
	raw_ring_put(&r, "ok2");
	raw_ring_kick(&r);
	expect_str(rx, "ok1");
	expect_str(rx, "ok2");
	/* Garbage over the next record, and a head that covers it. */
	memset(r.w.data + (r.w.head & (r.w.data_size - 1)), 0x5a, 64);
	head = r.w.head + 64;
	__atomic_store_n((uint64_t *)(void *)(r.map + SHMRING_OFF_HEAD), head,
	    __ATOMIC_SEQ_CST);
	raw_ring_kick(&r);
	raw_expect_error(&r.rc, 0, -CHAN_EPROTO);
	raw_expect_closed(&r.rc);
	/* The daemon stopped reading it: its closed word says why. */
	ck_assert_int_eq(shmring_closed(&r.w), CHAN_EPROTO);
	raw_ring_close(&r);
	/* The other producer and the consumer go on. */
	send_str(good, "after");
	expect_str(rx, "after");
	assert_serves(&fixture);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST


/* Reads r's descriptor until told to stop, as a thief of its wake-ups. */
struct fd_thief {
	pthread_t	 t;
	int		 fd;
	int		 stop;
};

static void *
fd_thief_main(void *arg)
{
	struct fd_thief	*f = arg;
	uint64_t	 v;

	while (!__atomic_load_n(&f->stop, __ATOMIC_SEQ_CST) &&
	    read(f->fd, &v, sizeof(v)) > 0)
		;
	return (NULL);
}

/*
 * A producer that makes the descriptors it shares with the daemon
 * blocking (their file status flags are the daemon's too where the
 * descriptor is shared), fills what it can write and reads what it can
 * read, stops nobody: the daemon never blocks on them, and serves the
 * others. Its own wake-up is asked for with its counter full (a write
 * that would block), and the daemon's wake-ups are read from under it.
 */
START_TEST(test_a_producer_that_makes_its_descriptors_block_stops_nothing)
{
	chan_client	*cc = test_connect(&fixture);
	chan_client	*pc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.block", 0);
	chan_tx		*good = shm_tx(pc, "shm.block", CHAN_CAPACITY_DEFAULT);
	struct raw_ring	 r;
	struct fd_thief	 thief;
	uint64_t	 full = 0xfffffffffffffffeull, one = 1;
	int		 i;

	raw_ring_open(&r, "shm.block");
	raw_ring_put(&r, "ok");
	raw_ring_kick(&r);
	expect_str(rx, "ok");
	ck_assert_int_eq(fcntl(r.efd_prod, F_SETFL, 0), 0);
	ck_assert_int_eq(fcntl(r.efd_daemon, F_SETFL, 0), 0);
	/* Where they can be written: full, so that one more would block. */
	(void)!write(r.efd_prod, &full, sizeof(full));
	thief.fd = r.efd_daemon;
	thief.stop = 0;
	ck_assert_int_eq(pthread_create(&thief.t, NULL, fd_thief_main,
	    &thief), 0);
	/* Asks for a grant, and wakes the daemon, over and over. */
	for (i = 0; i < 200; i++) {
		(void)shmring_ask(&r.w, 1);
		shmring_set_prod_wait(&r.w, 1);
		if (write(r.efd_daemon, &one, sizeof(one)) < 0)
			break;
		send_str(good, "g");
		expect_str(rx, "g");
	}
	assert_serves(&fixture);
	__atomic_store_n(&thief.stop, 1, __ATOMIC_SEQ_CST);
	/* Ends the thief's read, if it still waits in it. */
	(void)shutdown(r.efd_daemon, SHUT_RD);
	(void)!write(r.efd_daemon, &one, sizeof(one));
	raw_ring_close(&r);
	ck_assert_int_eq(pthread_join(thief.t, NULL), 0);
	send_str(good, "after");
	expect_str(rx, "after");
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * The same while the consumer reads both rings itself: the scribbler
 * goes, and the consumer, which had read from both, keeps its
 * connection and gets the good producer's later messages.
 */
START_TEST(test_scribbling_producer_goes_alone_under_a_direct_reader)
{
	chan_client	*cc = test_connect(&fixture);
	chan_client	*pc = test_connect(&fixture);
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_tx		*good = shm_tx(pc, "shm.badd", CHAN_CAPACITY_DEFAULT);
	struct raw_ring	 r;
	chan_rx		*rx;
	long long	 until = now_ms() + HARNESS_WAIT_MS;
	uint64_t	 head;

	o.flags = CHAN_SHM;
	o.prefetch = 8;
	expect_rc(chan_rx_open_ex(cc, "shm.badd", 8, &o, &rx), 0, "rx open");
	raw_ring_open(&r, "shm.badd");
	/* Rounds until the consumer reads both rings itself. */
	while (own_direct_maps() != 2) {
		ck_assert_msg(now_ms() < until, "rx reads %d rings itself",
		    own_direct_maps());
		send_str(good, "w");
		raw_ring_put(&r, "w");
		raw_ring_kick(&r);
		expect_str(rx, "w");
		expect_str(rx, "w");
	}
	raw_ring_put(&r, "ok");
	raw_ring_kick(&r);
	expect_str(rx, "ok");
	/*
	 * Garbage over the record just read (which the daemon, following
	 * the consumer's claims, may not have read yet) and the next.
	 */
	memset(r.w.data + ((r.w.head - shmring_rec_size(2)) &
	    (r.w.data_size - 1)), 0x5a, shmring_rec_size(2));
	memset(r.w.data + (r.w.head & (r.w.data_size - 1)), 0x5a, 64);
	head = r.w.head + 64;
	__atomic_store_n((uint64_t *)(void *)(r.map + SHMRING_OFF_HEAD), head,
	    __ATOMIC_SEQ_CST);
	raw_ring_kick(&r);
	/* The consumer reads the garbage too, and gives the rings up. */
	send_str(good, "after");
	expect_str(rx, "after");
	raw_expect_error(&r.rc, 0, -CHAN_EPROTO);
	raw_expect_closed(&r.rc);
	raw_ring_close(&r);
	send_str(good, "later");
	expect_str(rx, "later");
	assert_serves(&fixture);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * A bundle whose header says a byte more than its frames hold: its
 * whole messages before the lie are delivered, then the producer goes
 * as after a protocol error, and the daemon serves on.
 */
START_TEST(test_a_lying_bundle_ends_its_producer)
{
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.lie", 0);
	struct raw_ring	 r;
	struct shmring_room room;
	struct iovec	 v[3] = { { "b", 1 }, { "c", 1 }, { "d", 1 } };
	unsigned char	*rec;
	uint32_t	 bytes;
	int		 rc;

	raw_ring_open(&r, "shm.lie");
	raw_ring_put(&r, "a");		/* and a grant for what follows */
	rec = r.w.data + (r.w.head & (r.w.data_size - 1));
	ck_assert_int_eq(shmring_room(&r.w, &room), 0);
	ck_assert_uint_eq(shmring_put_run_in(&r.w, &room, v, 3, SIZE_MAX,
	    SIZE_MAX, 0, &rc), 3);
	ck_assert_uint_eq(*(uint32_t *)(void *)rec & SHMRING_BUNDLE,
	    SHMRING_BUNDLE);
	memcpy(&bytes, rec + SHMRING_REC_HDR + 4, 4);
	bytes++;
	memcpy(rec + SHMRING_REC_HDR + 4, &bytes, 4);
	shmring_publish(&r.w);
	raw_ring_kick(&r);
	expect_str(rx, "a");
	expect_str(rx, "b");
	expect_str(rx, "c");
	raw_expect_error(&r.rc, 0, -CHAN_EPROTO);
	raw_expect_closed(&r.rc);
	raw_ring_close(&r);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	assert_serves(&fixture);
	chan_disconnect(cc);
}
END_TEST


/*
 * A timed send to a channel with room whose daemon answers after the
 * send's deadline (here: stopped through it): the ring had no grant yet
 * (a channel of one message grants none ahead), and the send still goes,
 * as on the socket, instead of failing TIMEDOUT for the daemon's delay.
 */
struct late_send {
	chan_tx	*tx;
	int	 rc;
};

static void *
late_send_main(void *arg)
{
	struct late_send *l = arg;

	l->rc = chan_tx_send_timeout(l->tx, "x", 1, 20);
	return (NULL);
}

START_TEST(test_a_timed_send_with_room_outlasts_a_late_grant)
{
	struct daemon	 d;
	struct late_send l;
	chan_client	*c;
	chan_rx		*rx;
	pthread_t	 t;
	int		 before;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	before = daemon_fd_count(&d);
	l.tx = shm_tx(c, "shm.late", 1);
	ck_assert_int_gt(daemon_fd_count(&d), before);	/* it has a ring */
	rx = rx_open(c, "shm.late", 0);
	l.rc = -1;
	ck_assert_int_eq(kill(d.pid, SIGSTOP), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, late_send_main, &l), 0);
	/* Well past the send's 20 ms while the daemon cannot answer. */
	(void)poll(NULL, 0, 200);
	ck_assert_int_eq(kill(d.pid, SIGCONT), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	expect_rc(l.rc, 0, "a timed send to a channel with room");
	expect_str(rx, "x");
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

static int
consumer_dies(void *arg)
{
	int		*fd = arg;
	chan_client	*c;
	chan_rx		*rx;
	chan_msg	*m;
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	int		 i;

	o.flags = CHAN_MANUAL_ACK;
	o.prefetch = 8;
	if (chan_connect(fixture.sock, &c) != 0 ||
	    chan_rx_open_ex(c, "shm.crash", 9, &o, &rx) != 0)
		return (10);
	for (i = 0; i < 5; i++) {
		if (chan_rx_recv_timeout(rx, 10000, &m) != 0)
			return (11);
		chan_msg_free(m);
	}
	if (write(*fd, "r", 1) != 1)
		return (12);
	pause();
	return (0);
}

START_TEST(test_consumer_killed_with_unacked_records)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc;
	chan_tx		*tx = shm_tx(pc, "shm.crash", CHAN_CAPACITY_DEFAULT);
	chan_rx		*rx;
	chan_msg	*m;
	char		 s[8];
	int		 p[2], i, status;
	pid_t		 pid;

	for (i = 0; i < 5; i++) {
		snprintf(s, sizeof(s), "r%d", i);
		send_str(tx, s);
	}
	ck_assert_int_eq(pipe(p), 0);
	pid = child_fork(consumer_dies, &p[1]);
	ck_assert_int_eq(pipe_read_byte(p[0]), 'r');
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	cc = test_connect(&fixture);
	rx = rx_open(cc, "shm.crash", 0);
	for (i = 0; i < 5; i++) {
		snprintf(s, sizeof(s), "r%d", i);
		m = recv_msg(rx);
		ck_assert_uint_eq(chan_msg_len(m), strlen(s));
		ck_assert(memcmp(chan_msg_data(m), s, strlen(s)) == 0);
		ck_assert_int_eq(chan_msg_redelivered(m), 1);
		chan_msg_free(m);
	}
	close(p[0]);
	close(p[1]);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

START_TEST(test_descriptors_and_memory_released)
{
	chan_client	*pc = test_connect(&fixture);
	chan_tx		*tx, *other;
	int		 before, i;

	other = tx_open(pc, "shm.other");
	before = daemon_fd_count(&fixture);
	for (i = 0; i < 20; i++) {
		tx = shm_tx(pc, "shm.fds", CHAN_CAPACITY_DEFAULT);
		/* A round trip: the daemon has seen the connection that
		   fetched the ring's descriptors go. */
		send_str(other, "y");
		/* The memfd; both ends of the socket pair by which the
		   producer wakes the daemon (it reads one, and keeps the
		   other for a direct reader); the daemon's end of the pair
		   by which it wakes the producer; and the end of the ring's
		   wake descriptor a direct reader would get. */
		ck_assert_int_eq(daemon_fd_count(&fixture), before + 5);
		send_str(tx, "x");
		expect_rc(chan_tx_close(tx), 0, "close");
		/* A round trip after the close: its handles are closed. */
		send_str(other, "y");
		ck_assert_int_eq(daemon_fd_count(&fixture), before);
	}
	chan_disconnect(pc);
}
END_TEST

/*
 * A producer process with rings on two channels: it sends one message on
 * each, says 'S' on fd, then waits for a byte on go (or to be killed),
 * and exits without closing anything.
 */
struct ring_client {
	int	fd;
	int	go;
};

static int
ring_client_main(void *arg)
{
	struct ring_client	*rc = arg;
	chan_open_opts		 o = CHAN_OPEN_OPTS_INIT;
	chan_client		*c;
	chan_tx			*a, *b;
	char			 ch;

	o.flags = CHAN_SHM;
	if (chan_connect(fixture.sock, &c) != 0 ||
	    chan_tx_open_ex(c, "shm.gone.a", 10, &o, &a) != 0 ||
	    chan_tx_open_ex(c, "shm.gone.b", 10, &o, &b) != 0)
		return (1);
	if (chan_tx_send(a, "a", 1) != 0 || chan_tx_send(b, "b", 1) != 0)
		return (2);
	if (write(rc->fd, "S", 1) != 1 || read(rc->go, &ch, 1) != 1)
		return (3);
	return (0);
}

/* One message s, then the channel's disconnection: its producer went. */
static void
expect_last(chan_rx *rx, const char *s)
{
	expect_str(rx, s);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
}

/*
 * Clients that go without closing, by exit or by kill -9, leave the
 * daemon none of their rings: its descriptors (the memfd and the ends of
 * the wake-up socket pairs of each) are closed and the memory unmapped.
 */
START_TEST(test_descriptors_and_mappings_released_when_clients_go)
{
	chan_client		*cc = test_connect(&fixture);
	chan_rx			*ra = rx_open(cc, "shm.gone.a", 0);
	chan_rx			*rb = rx_open(cc, "shm.gone.b", 0);
	struct ring_client	 rc;
	int			 p[2], go[2], before, i, status;
	pid_t			 pid;

	before = daemon_fd_count(&fixture);
	ck_assert_int_eq(daemon_ring_maps(&fixture), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(pipe(go), 0);
	rc.fd = p[1];
	rc.go = go[0];
	for (i = 0; i < 6; i++) {
		pid = child_fork(ring_client_main, &rc);
		ck_assert_int_eq(pipe_read_byte(p[0]), 'S');
		/* Both rings mapped, their descriptors open (a memfd and
		   four ends of wake-up socket pairs each), and the
		   client's connection. */
		ck_assert_int_eq(daemon_ring_maps(&fixture), 2);
		ck_assert_int_eq(daemon_fd_count(&fixture), before + 11);
		if (i % 2 == 1) {
			ck_assert_int_eq(kill(pid, SIGKILL), 0);
			ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		} else {
			ck_assert_int_eq(write(go[1], "G", 1), 1);
			child_wait_ok(pid);
		}
		/* Disconnected: the daemon dropped the handles; then a
		   round trip, after which their rings are freed. */
		expect_last(ra, "a");
		expect_last(rb, "b");
		expect_try_rc(ra, CHAN_EDISCONNECTED);
		ck_assert_int_eq(daemon_fd_count(&fixture), before);
		ck_assert_int_eq(daemon_ring_maps(&fixture), 0);
	}
	close(p[0]);
	close(p[1]);
	close(go[0]);
	close(go[1]);
	chan_disconnect(cc);
}
END_TEST

/* The word at off of r's header (cons_wait: 1 while the daemon sleeps). */
static uint32_t
raw_ring_word(const struct raw_ring *r, size_t off)
{
	return (__atomic_load_n((const uint32_t *)(const void *)(r->map +
	    off), __ATOMIC_SEQ_CST));
}

/*
 * A daemon without --spin-us sleeps on a ring it has drained: a record
 * committed next must wake it (the producer takes the wake-up).
 */
START_TEST(test_a_drained_ring_puts_the_daemon_to_sleep)
{
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.sleep", 0);
	struct raw_ring	 r;

	raw_ring_open(&r, "shm.sleep");
	raw_ring_put(&r, "first");
	raw_ring_kick(&r);
	expect_str(rx, "first");
	ck_assert_uint_eq(raw_ring_word(&r, SHMRING_OFF_CONS_WAIT), 1);
	raw_ring_put(&r, "second");
	ck_assert(shmring_take_wake(&r.w));
	raw_ring_kick(&r);
	expect_str(rx, "second");
	raw_ring_close(&r);
	chan_disconnect(cc);
}
END_TEST

/*
 * Waits, bounded, for word off of r's header to become v: the daemon
 * changes it on its own time, with no message to wait for.
 */
static void
raw_ring_wait_word(const struct raw_ring *r, size_t off, uint32_t v)
{
	long long	until = now_ms() + 3 * HARNESS_WAIT_MS;

	while (raw_ring_word(r, off) != v) {
		ck_assert_msg(now_ms() < until, "word %zu never became %u",
		    off, v);
		sched_yield();
	}
}

/*
 * A producer that shuts (shutdown(2)) the pair it wakes the daemon by
 * makes the daemon's end readable for ever: the daemon stops watching it
 * and ends that producer's ring, as after a protocol error, rather than
 * wake for it on every turn of its loop. Another producer goes on.
 */
START_TEST(test_a_producer_that_shuts_the_daemon_s_wake_up_is_closed)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.shut", 0);
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_tx		*tx;
	struct raw_ring	 r;
	long long	 until = now_ms() + HARNESS_WAIT_MS;

	o.flags = CHAN_SHM;
	tx = tx_open_opts(pc, "shm.shut", &o);
	raw_ring_open(&r, "shm.shut");
	raw_ring_send(&r, "raw");
	expect_str(rx, "raw");
	ck_assert_int_eq(shutdown(r.efd_daemon, SHUT_RDWR), 0);
	while (raw_ring_word(&r, SHMRING_OFF_CLOSED) == 0) {
		ck_assert_msg(now_ms() < until, "the daemon never closed the "
		    "ring whose wake-up pair was shut");
		sched_yield();
	}
	ck_assert_uint_eq(raw_ring_word(&r, SHMRING_OFF_CLOSED),
	    (uint32_t)CHAN_EPROTO);
	send_str(tx, "after");
	expect_str(rx, "after");
	raw_ring_close(&r);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * The same for a consumer's ring, spoken by hand: a consumer that shuts
 * the pair it wakes the daemon by loses its connection, with PROTO, and
 * the daemon goes on.
 */
START_TEST(test_a_consumer_that_shuts_the_daemon_s_wake_up_is_closed)
{
	chan_client	*pc = test_connect(&fixture);
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_rx		*rx;
	chan_tx		*tx;
	struct raw_conn	 rc;
	struct proto_buf b;
	struct proto_msg m;
	uint32_t	 h;
	int		 fds[3];

	raw_conn_open(&rc, &fixture, 1, 4096);
	h = raw_open_end(&rc, PROTO_OPEN_RX, 1, "shm.rxshut");
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_ring(&b, 2, h, RAW_RING_SIZE), 0);
	raw_send(&rc, &b);
	proto_buf_fini(&b);
	raw_expect(&rc, &m);
	ck_assert_msg(m.op == PROTO_RING_TOKEN && m.rid == 2, "RING: got %s",
	    proto_op_name((int)m.op));
	raw_fetch(m.token, fds);
	ck_assert_int_eq(shutdown(fds[1], SHUT_RDWR), 0);
	raw_expect_error(&rc, 0, -CHAN_EPROTO);
	raw_expect_closed(&rc);
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
	raw_conn_close(&rc);
	/* The daemon serves the others. */
	rx = rx_open(pc, "shm.rxshut.after", 0);
	tx = tx_open_opts(pc, "shm.rxshut.after", &o);
	send_str(tx, "after");
	expect_str(rx, "after");
	chan_disconnect(pc);
}
END_TEST

/*
 * A ring alone on its channel is told so (its sends need no stamps); a
 * second ring clears the word on both before it is granted anything; the
 * first is alone again once the second has gone.
 */
START_TEST(test_a_lone_ring_is_told_so)
{
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.alone", 0);
	struct raw_ring	 a, b;

	raw_ring_open(&a, "shm.alone");
	ck_assert_uint_eq(raw_ring_word(&a, SHMRING_OFF_ALONE), 1);
	raw_ring_open(&b, "shm.alone");
	ck_assert_uint_eq(raw_ring_word(&a, SHMRING_OFF_ALONE), 0);
	ck_assert_uint_eq(raw_ring_word(&b, SHMRING_OFF_ALONE), 0);
	raw_ring_put(&b, "b");
	raw_ring_kick(&b);
	expect_str(rx, "b");
	raw_ring_close(&b);
	raw_ring_wait_word(&a, SHMRING_OFF_ALONE, 1);
	raw_ring_put(&a, "a");
	raw_ring_kick(&a);
	expect_str(rx, "a");
	raw_ring_close(&a);
	chan_disconnect(cc);
}
END_TEST

static void
setup_spin(void)
{
	static const char *const args[] = { "--spin-us", "1000000", NULL };

	fixture_setup_args(args);
}

/*
 * With --spin-us the daemon keeps reading a drained ring for that long
 * (a second here): it says it is awake, the producer writes no eventfd,
 * and a record committed without one is taken all the same. (A daemon
 * under valgrind may take longer than the second between two puts; then
 * the put takes the wake-up, and only delivery is checked.)
 */
START_TEST(test_a_spinning_daemon_takes_records_unwoken)
{
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.spin", 0);
	struct raw_ring	 r;
	int		 i, unwoken = 0;

	raw_ring_open(&r, "shm.spin");
	raw_ring_put(&r, "first");
	raw_ring_kick(&r);
	expect_str(rx, "first");
	for (i = 0; i < 3; i++) {
		raw_ring_put(&r, "again");
		if (shmring_take_wake(&r.w))
			raw_ring_kick(&r);
		else
			unwoken++;
		expect_str(rx, "again");
	}
	if (!harness_under_valgrind())
		ck_assert_int_eq(unwoken, 3);
	/* Another client is served meanwhile. */
	assert_serves(&fixture);
	raw_ring_close(&r);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(cc);
}
END_TEST

static void
setup_short_spin(void)
{
	static const char *const args[] = { "--spin-us", "1000", NULL };

	fixture_setup_args(args);
}

/*
 * A spin ends: once the ring has been dry for --spin-us (a millisecond
 * here), the daemon sleeps on it again, and the next record must wake it.
 */
START_TEST(test_a_spin_ends)
{
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = rx_open(cc, "shm.spin.end", 0);
	struct raw_ring	 r;

	raw_ring_open(&r, "shm.spin.end");
	raw_ring_put(&r, "first");
	raw_ring_kick(&r);
	expect_str(rx, "first");
	raw_ring_wait_word(&r, SHMRING_OFF_CONS_WAIT, 1);
	raw_ring_put(&r, "second");
	ck_assert(shmring_take_wake(&r.w));
	raw_ring_kick(&r);
	expect_str(rx, "second");
	raw_ring_close(&r);
	chan_disconnect(cc);
}
END_TEST

static void
setup_queue_limits(void)
{
	static const char *const args[] = { "--max-queued-messages", "4",
	    "--max-queued-bytes", "1000", NULL };

	fixture_setup_args(args);
}

static void
setup_wide_limits(void)
{
	static const char *const args[] = { "--max-queued-messages", "8192",
	    NULL };

	fixture_setup_args(args);
}

/*
 * What a ring holds unclaimed counts in the daemon-wide limits, and comes
 * back for a send those limits would refuse: a producer that sent one
 * message and stopped holds its last part, not half the limit.
 */
START_TEST(test_unused_ring_grants_never_make_a_send_hit_the_limit)
{
	const unsigned	 lim = 8 * SHMRING_CLAIM_MSGS;
	chan_client	*rc = test_connect(&fixture);
	chan_client	*sc = test_connect(&fixture);
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_tx		*rtx, *stx;
	char		 buf[32];
	unsigned	 n;
	int		 r = 0;

	o.flags = CHAN_SHM;
	rtx = tx_open_opts(rc, "shm.lim.ring", &o);
	expect_rc(chan_tx_send(rtx, "r0", 2), 0, "ring send");
	o.flags = 0;
	stx = tx_open_opts(sc, "shm.lim.socket", &o);
	for (n = 0; n <= lim; n++) {
		snprintf(buf, sizeof(buf), "s%u", n);
		if ((r = chan_tx_try_send(stx, buf, strlen(buf))) != 0)
			break;
	}
	expect_rc(r, CHAN_ELIMIT, "the socket sends");
	ck_assert_uint_eq(n, lim - SHMRING_CLAIM_MSGS);
	chan_disconnect(rc);
	chan_disconnect(sc);
}
END_TEST

/*
 * The daemon-wide limits count what rings may still commit as queued: a
 * ring send over them fails LIMIT, as a SEND does, try or blocking, and
 * the transmitter goes on (through the socket) once there is room again.
 */
START_TEST(test_daemon_wide_limits_refuse_ring_sends_with_limit)
{
	chan_client	*pc = test_connect(&fixture), *cc;
	chan_tx		*a = shm_tx(pc, "shm.lim.a", CHAN_CAPACITY_DEFAULT);
	chan_tx		*b = shm_tx(pc, "shm.lim.b", 2);
	chan_rx		*rx;
	char		 big[600];

	memset(big, 'z', sizeof(big));
	expect_rc(chan_tx_send(a, big, 600), 0, "600 of 1000 bytes");
	expect_rc(chan_tx_send(b, big, 600), CHAN_ELIMIT, "1200 of 1000");
	ck_assert_ptr_nonnull(strstr(chan_tx_errmsg(b), "max-queued-bytes"));
	expect_rc(chan_tx_try_send(b, big, 400), 0, "exactly 1000");
	expect_rc(chan_tx_send(a, "", 0), 0, "third message, no bytes");
	expect_rc(chan_tx_send(b, "", 0), 0, "fourth message");
	expect_rc(chan_tx_try_send(a, "", 0), CHAN_ELIMIT, "fifth, try");
	expect_rc(chan_tx_send(a, "", 0), CHAN_ELIMIT, "fifth, blocking");
	ck_assert_ptr_nonnull(strstr(chan_tx_errmsg(a),
	    "max-queued-messages"));
	/* Room again: both go on, the limit still counted. */
	cc = test_connect(&fixture);
	rx = rx_open(cc, "shm.lim.a", 0);
	expect_msg(rx, big, 600);
	expect_msg(rx, "", 0);
	expect_rc(chan_rx_flush(rx), 0, "acks");
	expect_rc(chan_tx_send(a, big, 600), 0, "600 again");
	expect_rc(chan_tx_send(b, "x", 1), CHAN_ELIMIT, "1001 of 1000");
	expect_msg(rx, big, 600);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/* An event loop's turn: waits (bounded) for the socket, then processes. */
static void
loop_turn(chan_client *c)
{
	struct pollfd	pfd = { .fd = chan_client_fd(c), .events = POLLIN };

	if (chan_client_want_write(c))
		pfd.events |= POLLOUT;
	ck_assert_int_eq(poll_until(&pfd, 1, now_ms() + HARNESS_WAIT_MS), 1);
	expect_rc(chan_client_process(c), 0, "chan_client_process");
}

/* chan_tx_send_async from an event loop, retried until it goes. */
static void
loop_send(chan_client *c, chan_tx *tx, const char *s)
{
	int	rc;

	while ((rc = chan_tx_send_async(tx, s, strlen(s))) == CHAN_EAGAIN)
		loop_turn(c);
	expect_rc(rc, 0, "send_async from an event loop");
}

/*
 * A non-blocking client's ring send to a full channel does not block: it
 * gives CHAN_EAGAIN, and the daemon's grant, when the consumer makes
 * room, makes the socket readable, as a held SEND's confirmation would.
 */
START_TEST(test_nonblocking_ring_send_to_a_full_channel_gives_again)
{
	chan_client	*p = test_connect(&fixture);
	chan_client	*q = test_connect(&fixture);
	chan_tx		*tx;
	chan_rx		*rx;

	expect_rc(chan_client_set_nonblock(p, 1), 0, "set_nonblock");
	tx = shm_tx(p, "shm.nb", 2);
	rx = rx_open(q, "shm.nb", 1);
	loop_send(p, tx, "0");
	loop_send(p, tx, "1");
	/* Full: again, at once. */
	expect_rc(chan_tx_send_async(tx, "2", 1), CHAN_EAGAIN, "full");
	expect_str(rx, "0");
	loop_send(p, tx, "2");
	expect_str(rx, "1");
	expect_str(rx, "2");
	expect_rc(chan_tx_flush(tx), 0, "flush");
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/*
 * A producer whose ring asks for a grant the daemon-wide limits refuse,
 * and that goes before the daemon answered: taking back the offer of
 * both rings to a consumer that read nothing answers that ask, which
 * refuses it and delivers, and a delivery offers the rings again at
 * once. The ring that goes must be in no such offer: the daemon freed
 * it under the offer and read it afterwards (found by AddressSanitizer;
 * the daemon's exit at teardown says whether it survived).
 */
START_TEST(test_a_ring_that_goes_is_in_no_offer_made_as_it_goes)
{
	struct raw_ring	 p1, p2;
	struct raw_conn	 cons;
	struct proto_buf b;
	struct proto_msg m;
	chan_client	*fc;
	chan_tx		*fill;
	uint32_t	 h;
	int		 fds[3], i, off;

	/* A consumer on a ring that asks for direct reading, reads nothing. */
	raw_conn_open(&cons, &fixture, 1, 4096);
	h = raw_open_end(&cons, PROTO_OPEN_RX, 1, "lim.gone");
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_ring(&b, 2, h, 0), 0);
	raw_send(&cons, &b);
	raw_expect(&cons, &m);
	ck_assert_msg(m.op == PROTO_RING_TOKEN, "RING: got %s",
	    proto_op_name((int)m.op));
	raw_fetch(m.token, fds);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	/* Asked again once fetched, the handle moves to the ring. */
	proto_buf_fini(&b);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_ring(&b, 4, h, 0), 0);
	raw_send(&cons, &b);
	raw_expect(&cons, &m);
	ck_assert_msg(m.op == PROTO_RING_TOKEN, "RING again: got %s",
	    proto_op_name((int)m.op));
	proto_buf_fini(&b);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_direct(&b, 3, h, 1), 0);
	raw_send(&cons, &b);
	proto_buf_fini(&b);
	raw_expect_ok(&cons, 3);
	raw_credit(&cons, 0, h, 64);
	raw_ring_open(&p1, "lim.gone");
	raw_ring_open(&p2, "lim.gone");
	raw_ring_put(&p1, "a");
	/* The daemon-wide limit of 4 queued messages, reached elsewhere. */
	fc = test_connect(&fixture);
	fill = tx_open(fc, "lim.fill");
	for (i = 0; i < 8 && chan_tx_send(fill, "f", 1) == 0; i++)
		;
	ck_assert_int_lt(i, 8);
	/*
	 * p2 asks for a grant without waking the daemon, and goes: taking
	 * the rings back (the second DIRECT_OFF, after p2's coming), the
	 * daemon refuses the ask and delivers "a" into the consumer's ring;
	 * then it wakes for p1.
	 */
	(void)shmring_ask(&p2.w, 1);
	shmring_set_prod_wait(&p2.w, 1);
	raw_ring_close(&p2);
	for (i = 0, off = 0; i < 16 && off < 2; i++) {
		raw_expect(&cons, &m);
		off += m.op == PROTO_DIRECT_OFF;
	}
	ck_assert_msg(off == 2, "the rings were not taken back twice");
	raw_ring_kick(&p1);
	raw_send_ping(&cons, 5);
	for (i = 0; i < 16; i++) {
		raw_expect(&cons, &m);
		if (m.op == PROTO_OK && m.rid == 5)
			break;
	}
	ck_assert_msg(i < 16, "no answer to PING");
	raw_ring_close(&p1);
	raw_conn_close(&cons);
	chan_disconnect(fc);
}
END_TEST

static Suite *
shm_suite(void)
{
	Suite	*s = suite_create("e2e_shm");
	TCase	*tc = tcase_create("shm");

	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_order_big_message_and_disconnection);
	tcase_add_test(tc, test_a_look_over_a_set_takes_what_rings_committed);
	tcase_add_test(tc, test_a_big_ring_carries_big_messages);
	tcase_add_test(tc, test_no_ring_room_leaves_a_transmitter_on_the_socket);
	tcase_add_test(tc, test_marked_send_follows_the_ring_records);
	tcase_add_test(tc, test_held_ring_sends_are_committed_by_the_next_call);
	tcase_add_test(tc, test_a_held_send_to_a_gone_receiver_is_reported);
	tcase_add_test(tc, test_full_ring_try_timed_and_blocking_sends);
	tcase_add_test(tc, test_rendezvous_keeps_the_socket_path);
	tcase_add_test(tc, test_unused_ring_grants_never_hold_a_socket_send);
	tcase_add_test(tc, test_a_producer_that_claims_nothing_keeps_its_grant);
	tcase_add_test(tc,
	    test_a_ring_try_send_takes_back_what_an_idle_ring_left);
	tcase_add_test(tc, test_producer_gone_mid_record);
	tcase_add_test(tc, test_scribbling_producer_goes_alone);
	tcase_add_test(tc,
	    test_a_producer_that_makes_its_descriptors_block_stops_nothing);
	tcase_add_test(tc,
	    test_scribbling_producer_goes_alone_under_a_direct_reader);
	tcase_add_test(tc, test_a_lying_bundle_ends_its_producer);
	tcase_add_test(tc, test_a_timed_send_with_room_outlasts_a_late_grant);
	tcase_add_test(tc, test_held_sends_are_stamped_when_committed);
	tcase_add_test(tc, test_a_look_after_held_sends_finds_them);
	tcase_add_test(tc, test_two_threads_hold_on_one_connection);
	tcase_add_test(tc,
	    test_a_look_after_the_last_producer_went_says_disconnected);
	tcase_add_test(tc, test_a_select_look_takes_what_rings_committed);
	tcase_add_test(tc, test_mpsc_sequences_in_every_mode);
	tcase_add_test(tc, test_consumer_killed_with_unacked_records);
	tcase_add_test(tc, test_descriptors_and_memory_released);
	tcase_add_test(tc,
	    test_descriptors_and_mappings_released_when_clients_go);
	tcase_add_test(tc,
	    test_nonblocking_ring_send_to_a_full_channel_gives_again);
	tcase_add_test(tc, test_a_drained_ring_puts_the_daemon_to_sleep);
	tcase_add_test(tc, test_a_lone_ring_is_told_so);
	tcase_add_test(tc,
	    test_a_producer_that_shuts_the_daemon_s_wake_up_is_closed);
	tcase_add_test(tc,
	    test_a_consumer_that_shuts_the_daemon_s_wake_up_is_closed);
	suite_add_tcase(s, tc);
	tc = tcase_create("spin");
	tcase_add_checked_fixture(tc, setup_spin, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_a_spinning_daemon_takes_records_unwoken);
	suite_add_tcase(s, tc);
	tc = tcase_create("short spin");
	tcase_add_checked_fixture(tc, setup_short_spin, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_a_spin_ends);
	suite_add_tcase(s, tc);
	tc = tcase_create("daemon-wide limits");
	tcase_add_checked_fixture(tc, setup_queue_limits, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_daemon_wide_limits_refuse_ring_sends_with_limit);
	tcase_add_test(tc, test_a_ring_that_goes_is_in_no_offer_made_as_it_goes);
	suite_add_tcase(s, tc);
	tc = tcase_create("daemon-wide limits, wide");
	tcase_add_checked_fixture(tc, setup_wide_limits, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_unused_ring_grants_never_make_a_send_hit_the_limit);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (harness_main(shm_suite()));
}

/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_client_api.c: the library's pipelined sends, select over
 * several receivers, drain, the non-blocking event-loop calls and the
 * open options, against a real chand.
 *
 * Where a test needs the daemon's answers to earlier frames to have been
 * read, it does a round trip on the same connection (a try_recv is a PING
 * barrier: the daemon answers in order), never a sleep.
 */
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_util.h"
#include "harness.h"

#define ORDER_MESSAGES	20000
#define SMALL_WINDOW	64
/* 192 x 4096 OKs of about 11 bytes: 8 MiB, over the 5 MiB high water. */
#define MANY_TX		192
#define MANY_WINDOW	4096

static void
setup_limited(void)
{
	static const char *const args[] = { "--max-queued-messages", "10",
	    NULL };

	fixture_setup_args(args);
}

static chan_tx *
tx_open_window(chan_client *c, const char *name, unsigned window)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;

	o.window = window;
	return tx_open_opts(c, name, &o);
}

static void
send_async_str(chan_tx *tx, const char *s)
{
	expect_rc(chan_tx_send_async(tx, s, strlen(s)), 0,
	    "chan_tx_send_async");
}

/* Pipelined sends. */

START_TEST(test_pipelined_sends_arrive_complete_and_in_order)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx = tx_open_window(p, "order", SMALL_WINDOW);
	chan_rx *rx = rx_open(q, "order", 256);
	char buf[32];
	int i;

	for (i = 0; i < ORDER_MESSAGES; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		send_async_str(tx, buf);
		ck_assert_uint_le(chan_tx_unconfirmed(tx), SMALL_WINDOW);
	}
	expect_rc(chan_tx_flush(tx), 0, "chan_tx_flush");
	ck_assert_uint_eq(chan_tx_unconfirmed(tx), 0);
	for (i = 0; i < ORDER_MESSAGES; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		expect_str(rx, buf);
	}
	expect_rc(chan_tx_close(tx), 0, "chan_tx_close");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/*
 * Many transmitters on one connection, each with a full window: the
 * daemon's OKs outgrow its output high water long before the client
 * waits for any of them, so the daemon stops reading. The client's
 * writes must read those OKs meanwhile, or both sides wait for ever (the
 * test then fails on Check's time limit).
 */
START_TEST(test_many_pipelined_transmitters_on_one_connection_never_stall)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx[MANY_TX];
	char name[32];
	int i, j;

	for (i = 0; i < MANY_TX; i++) {
		snprintf(name, sizeof(name), "many%d", i);
		tx[i] = tx_open_window(c, name, MANY_WINDOW);
	}
	for (j = 0; j < MANY_WINDOW; j++) {
		for (i = 0; i < MANY_TX; i++)
			send_async_str(tx[i], "m");
	}
	for (i = 0; i < MANY_TX; i++) {
		expect_rc(chan_tx_flush(tx[i]), 0, "chan_tx_flush");
		ck_assert_uint_eq(chan_tx_unconfirmed(tx[i]), 0);
	}
	chan_disconnect(c);
}
END_TEST

START_TEST(test_confirmed_send_after_pipelined_ones_keeps_their_order)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = tx_open(c, "mixed");
	chan_rx *rx = rx_open(c, "mixed", 1);

	send_async_str(tx, "a");
	send_async_str(tx, "b");
	send_str(tx, "c");
	/* The confirmed send waited behind the batch: all three are in. */
	ck_assert_uint_eq(chan_tx_unconfirmed(tx), 0);
	expect_str(rx, "a");
	expect_str(rx, "b");
	expect_str(rx, "c");
	chan_disconnect(c);
}
END_TEST

START_TEST(test_close_flushes_pipelined_sends)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx = tx_open(p, "closing");
	chan_rx *rx = rx_open(q, "closing", 8);

	send_async_str(tx, "one");
	send_async_str(tx, "two");
	expect_rc(chan_tx_close(tx), 0, "chan_tx_close");
	/* Nothing else happened on p: the close wrote the batch. */
	expect_str(rx, "one");
	expect_str(rx, "two");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_pipelined_failure_surfaces_on_flush_naming_the_send)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = tx_open(c, "limited");
	char buf[16];
	int i;

	/* The daemon queues 10 messages in all; the 11th is refused. */
	for (i = 1; i <= 12; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		send_async_str(tx, buf);
	}
	expect_rc(chan_tx_flush(tx), CHAN_ELIMIT, "chan_tx_flush");
	ck_assert_msg(strstr(chan_tx_errmsg(tx), "pipelined send 11:") != NULL,
	    "errmsg does not name send 11: %s", chan_tx_errmsg(tx));
	/* Reported once: the transmitter goes on. */
	ck_assert_uint_eq(chan_tx_unconfirmed(tx), 0);
	expect_rc(chan_tx_flush(tx), 0, "second chan_tx_flush");
	chan_disconnect(c);
}
END_TEST

START_TEST(test_pipelined_failure_surfaces_on_the_next_send)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = tx_open(c, "limited");
	chan_rx *other = rx_open(c, "other", 1);
	chan_msg *m;
	char buf[16];
	int i;

	for (i = 1; i <= 11; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		send_async_str(tx, buf);
	}
	/* A round trip on the same connection: every answer is read. */
	expect_rc(chan_rx_try_recv(other, &m), CHAN_EEMPTY, "try_recv");
	expect_rc(chan_tx_send_async(tx, "x", 1), CHAN_ELIMIT,
	    "chan_tx_send_async after a refused send");
	ck_assert_ptr_nonnull(strstr(chan_tx_errmsg(tx), "pipelined send 11"));
	chan_disconnect(c);
}
END_TEST

/*
 * One transmitter whose sends are held by a full channel: a later send
 * refused at once is answered before the held ones, so its ERROR is not
 * the reply to the oldest send outstanding. It must reach that send, and
 * the held ones their OKs once the consumer makes room.
 */
#define LONE_CAPACITY	2
#define LONE_SENDS	12	/* the daemon holds 10 messages in all */

/*
 * The same through a ring (docs/protocol.md): nothing is held, the
 * pipelined sends past the capacity wait for grant, so the consumer gets
 * them all and the daemon-wide limit is never reached.
 */
static void
lone_sends_wait_for_grant(chan_client *p, chan_client *q, chan_tx *tx)
{
	struct async_sender s;
	chan_rx *rx;
	char buf[16];
	int i;

	async_sender_start(&s, tx, "", 1, LONE_SENDS);
	rx = rx_open(q, "lone", 1);
	for (i = 1; i <= LONE_SENDS; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		expect_str(rx, buf);
	}
	expect_rc(async_sender_join(&s), 0, "the waiting sends");
	ck_assert_uint_eq(chan_tx_unconfirmed(tx), 0);
	chan_rx_close(rx);
	chan_disconnect(p);
	chan_disconnect(q);
}

START_TEST(test_a_refusal_overtaking_held_sends_finds_its_own_send)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_tx *tx;
	chan_rx *rx;
	chan_msg *m;
	char buf[16];
	int i;

	o.capacity = LONE_CAPACITY;
	expect_rc(chan_tx_open_ex(p, "lone", 4, &o, &tx), 0, "open");
	if (e2e_shm_path()) {
		lone_sends_wait_for_grant(p, q, tx);
		return;
	}
	for (i = 1; i <= LONE_SENDS; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		send_async_str(tx, buf);
	}
	/* A round trip: the refusals have come, the held sends wait. */
	rx = rx_open(p, "other", 1);
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "try_recv");
	ck_assert_uint_eq(chan_tx_unconfirmed(tx), 10 - LONE_CAPACITY);
	chan_rx_close(rx);
	rx = rx_open(q, "lone", 1);
	for (i = 1; i <= 10; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		expect_str(rx, buf);
	}
	expect_rc(chan_tx_flush(tx), CHAN_ELIMIT, "chan_tx_flush");
	ck_assert_msg(strstr(chan_tx_errmsg(tx), "pipelined send 11:") != NULL,
	    "errmsg does not name send 11: %s", chan_tx_errmsg(tx));
	ck_assert_uint_eq(chan_tx_unconfirmed(tx), 0);
	expect_rc(chan_tx_flush(tx), 0, "second chan_tx_flush");
	chan_rx_close(rx);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_close_reports_a_pipelined_failure)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = tx_open(c, "limited");
	char buf[16];
	int i;

	for (i = 1; i <= 11; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		send_async_str(tx, buf);
	}
	expect_rc(chan_tx_close(tx), CHAN_ELIMIT, "chan_tx_close");
	chan_disconnect(c);
}
END_TEST

START_TEST(test_too_big_pipelined_send_fails_at_once)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = tx_open(c, "big");
	size_t len = chan_client_max_msg(c) + 1;
	char *buf = calloc(1, len);

	ck_assert_ptr_nonnull(buf);
	expect_rc(chan_tx_send_async(tx, buf, len), CHAN_ETOOBIG,
	    "chan_tx_send_async");
	ck_assert_uint_eq(chan_tx_unconfirmed(tx), 0);
	expect_rc(chan_tx_send_async(tx, buf, len - 1), 0, "at the limit");
	expect_rc(chan_tx_flush(tx), 0, "chan_tx_flush");
	free(buf);
	chan_disconnect(c);
}
END_TEST

/*
 * Replies out of order across transmitters: the sends held on a full
 * channel are confirmed after many later sends on other channels of the
 * same connection, and each confirmation must reach its own transmitter.
 */
#define HELD_CAPACITY	2
#define HELD_SENDS	40	/* the ring grows while they are held */
#define FREE_TX		64
#define FREE_SENDS	50

START_TEST(test_held_sends_are_confirmed_after_later_ones_on_other_channels)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	struct async_sender hs;
	chan_tx *held, *tx[FREE_TX];
	chan_rx *rx;
	char buf[32];
	int i, j;

	o.capacity = HELD_CAPACITY;
	expect_rc(chan_tx_open_ex(p, "held", 4, &o, &held), 0, "open held");
	for (i = 0; i < FREE_TX; i++) {
		snprintf(buf, sizeof(buf), "free%d", i);
		tx[i] = tx_open_window(p, buf, SMALL_WINDOW);
	}
	/*
	 * Through a ring a pipelined send to a full channel waits for
	 * grant (docs/protocol.md): nothing is held, the later sends of the
	 * other transmitters go meanwhile from this thread.
	 */
	if (e2e_shm_path())
		async_sender_start(&hs, held, "h", 0, HELD_SENDS);
	for (j = 0; j < HELD_SENDS && !e2e_shm_path(); j++) {
		snprintf(buf, sizeof(buf), "h%d", j);
		send_async_str(held, buf);
	}
	for (j = 0; j < FREE_SENDS; j++) {
		for (i = 0; i < FREE_TX; i++) {
			snprintf(buf, sizeof(buf), "f%d.%d", i, j);
			send_async_str(tx[i], buf);
		}
	}
	for (i = 0; i < FREE_TX; i++) {
		expect_rc(chan_tx_flush(tx[i]), 0, "flush a free channel");
		ck_assert_uint_eq(chan_tx_unconfirmed(tx[i]), 0);
	}
	/* Every later OK was read, and the daemon still holds these. */
	if (!e2e_shm_path())
		ck_assert_uint_eq(chan_tx_unconfirmed(held),
		    HELD_SENDS - HELD_CAPACITY);
	rx = rx_open(q, "held", 1);
	for (j = 0; j < HELD_SENDS; j++) {
		snprintf(buf, sizeof(buf), "h%d", j);
		expect_str(rx, buf);
	}
	if (e2e_shm_path())
		expect_rc(async_sender_join(&hs), 0, "the waiting sends");
	expect_rc(chan_tx_flush(held), 0, "flush the held channel");
	ck_assert_uint_eq(chan_tx_unconfirmed(held), 0);
	chan_rx_close(rx);
	for (i = 0; i < FREE_TX; i++) {
		snprintf(buf, sizeof(buf), "free%d", i);
		rx = rx_open(q, buf, 16);
		for (j = 0; j < FREE_SENDS; j++) {
			snprintf(buf, sizeof(buf), "f%d.%d", i, j);
			expect_str(rx, buf);
		}
		chan_rx_close(rx);
	}
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/*
 * Refusals among many transmitters of one connection: each failure is
 * reported by the transmitter whose send it was, naming that send, and
 * the others see none.
 */
START_TEST(test_pipelined_failures_reach_their_own_transmitter)
{
	static const int refused[] = { 4, 1, 2 };	/* tx of sends 11.. */
	static const char *const want[] = { NULL, "pipelined send 2:",
	    "pipelined send 6:", NULL, "pipelined send 2:", NULL };
	chan_client *c = test_connect(&fixture);
	chan_tx *tx[6];
	char name[16];
	size_t i;
	int rc;

	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "e%zu", i);
		tx[i] = tx_open(c, name);
		send_async_str(tx[i], "a");
	}
	/* The daemon queues 10 messages in all: these fill it. */
	for (i = 0; i < 4; i++)
		send_async_str(tx[2], "b");
	for (i = 0; i < 3; i++)
		send_async_str(tx[refused[i]], "c");
	for (i = 0; i < 6; i++) {
		rc = chan_tx_flush(tx[i]);
		ck_assert_uint_eq(chan_tx_unconfirmed(tx[i]), 0);
		if (want[i] == NULL) {
			expect_rc(rc, 0, "flush of a transmitter not refused");
			continue;
		}
		expect_rc(rc, CHAN_ELIMIT, "flush of a refused transmitter");
		ck_assert_msg(strstr(chan_tx_errmsg(tx[i]), want[i]) != NULL,
		    "tx %zu: errmsg \"%s\" does not name \"%s\"", i,
		    chan_tx_errmsg(tx[i]), want[i]);
		/* Reported once. */
		expect_rc(chan_tx_flush(tx[i]), 0, "second flush");
	}
	chan_disconnect(c);
}
END_TEST

/*
 * The daemon keeps a connection's handles by id with holes where closed
 * ones were: closing most of many handles, in an order that leaves holes
 * everywhere and then squeezes them out, must leave the rest working and
 * each still bound to its own channel.
 */
#define HOLES_TX	300

START_TEST(test_handles_closed_in_any_order_leave_the_rest_working)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx[HOLES_TX];
	chan_rx *rx;
	char name[32];
	int i;

	for (i = 0; i < HOLES_TX; i++) {
		snprintf(name, sizeof(name), "hole%d", i);
		tx[i] = tx_open(p, name);
	}
	/* Every other one, then most of the rest from the far end. */
	for (i = 1; i < HOLES_TX; i += 2) {
		expect_rc(chan_tx_close(tx[i]), 0, "close an odd one");
		tx[i] = NULL;
	}
	for (i = HOLES_TX - 2; i >= 0; i -= 2) {
		if (i % 10 == 0)
			continue;
		expect_rc(chan_tx_close(tx[i]), 0, "close an even one");
		tx[i] = NULL;
	}
	for (i = 0; i < HOLES_TX; i++) {
		if (tx[i] == NULL)
			continue;
		snprintf(name, sizeof(name), "to hole%d", i);
		send_str(tx[i], name);
	}
	/* A handle opened now gets a fresh id after the survivors. */
	tx[1] = tx_open(p, "hole-new");
	send_str(tx[1], "to hole-new");
	for (i = 0; i < HOLES_TX; i += 10) {
		snprintf(name, sizeof(name), "hole%d", i);
		rx = rx_open(q, name, 1);
		snprintf(name, sizeof(name), "to hole%d", i);
		expect_str(rx, name);
		chan_rx_close(rx);
	}
	rx = rx_open(q, "hole-new", 1);
	expect_str(rx, "to hole-new");
	chan_rx_close(rx);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/* Select. */

/* Receives from the set until it has both want messages of one channel. */
struct sel_state {
	chan_rx	*rxs[3];
	size_t	 n;
	int	 next[3];	/* next expected number, per channel */
	int	 names[3];	/* channel index of each rxs slot */
};

/*
 * Selects until the channel `which` reports its disconnection; every
 * message must be the next in its channel's order.
 */
static void
select_until_disconnected(struct sel_state *st, int which)
{
	chan_msg *m;
	size_t i;
	char want[32];
	int rc;

	for (;;) {
		rc = chan_select(st->rxs, st->n, HARNESS_WAIT_MS, &i, &m);
		ck_assert_msg(rc == 0 || rc == CHAN_EDISCONNECTED,
		    "chan_select: %s", chan_errname(rc));
		ck_assert_uint_lt(i, st->n);
		if (rc == CHAN_EDISCONNECTED) {
			ck_assert_int_eq(st->names[i], which);
			ck_assert_int_eq(st->next[which], 3);
			st->rxs[i] = st->rxs[st->n - 1];
			st->names[i] = st->names[st->n - 1];
			st->n--;
			return;
		}
		snprintf(want, sizeof(want), "%c%d", 'a' + st->names[i],
		    st->next[st->names[i]]++);
		ck_assert_str_eq(chan_msg_data(m), want);
		chan_msg_free(m);
	}
}

START_TEST(test_select_over_three_channels_reports_each_disconnection)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	struct sel_state st = { .n = 3 };
	chan_tx *tx[3];
	char buf[8];
	int i, j;

	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "sel%c", 'a' + i);
		tx[i] = tx_open(p, buf);
		st.rxs[i] = rx_open(q, buf, i + 1);
		st.names[i] = i;
		for (j = 0; j < 3; j++) {
			snprintf(buf, sizeof(buf), "%c%d", 'a' + i, j);
			send_str(tx[i], buf);
		}
	}
	/* Producers drop one at a time: b, then a, then c. */
	expect_rc(chan_tx_close(tx[1]), 0, "close b");
	select_until_disconnected(&st, 1);
	expect_rc(chan_tx_close(tx[0]), 0, "close a");
	select_until_disconnected(&st, 0);
	expect_rc(chan_tx_close(tx[2]), 0, "close c");
	select_until_disconnected(&st, 2);
	ck_assert_uint_eq(st.n, 0);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_select_times_out_and_then_gets_a_late_message)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rx *rxs[2] = { rx_open(q, "s1", 1), rx_open(q, "s2", 1) };
	chan_tx *tx = tx_open(p, "s2");
	chan_msg *m;
	size_t i = 7;

	expect_rc(chan_select(rxs, 2, 0, &i, &m), CHAN_ETIMEDOUT, "timeout 0");
	expect_rc(chan_select(rxs, 2, 50, &i, &m), CHAN_ETIMEDOUT, "50 ms");
	send_str(tx, "late");
	expect_rc(chan_select(rxs, 2, HARNESS_WAIT_MS, &i, &m), 0, "select");
	ck_assert_uint_eq(i, 1);
	ck_assert_str_eq(chan_msg_data(m), "late");
	chan_msg_free(m);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_select_refuses_receivers_of_two_connections)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rx *rxs[2] = { rx_open(p, "x1", 1), rx_open(q, "x2", 1) };
	chan_msg *m;
	size_t i;

	expect_rc(chan_select(rxs, 2, 0, &i, &m), CHAN_EINVAL, "two conns");
	expect_rc(chan_select(rxs, 0, 0, &i, &m), CHAN_EINVAL, "none");
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/* Drain. */

START_TEST(test_drain_takes_what_is_there_then_reports_disconnection)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx = tx_open(p, "drain");
	chan_rx *rx = rx_open(q, "drain", 2);
	chan_msg *batch[3];
	size_t n, i;

	expect_rc(chan_rx_drain(rx, batch, 3, &n), 0, "empty drain");
	ck_assert_uint_eq(n, 0);
	for (i = 0; i < 5; i++)
		send_str(tx, i % 2 ? "odd" : "even");
	expect_rc(chan_rx_drain(rx, batch, 3, &n), 0, "first drain");
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(chan_msg_data(batch[i]), i % 2 ? "odd" : "even");
		chan_msg_free(batch[i]);
	}
	expect_rc(chan_tx_close(tx), 0, "close");
	/* Two messages, then the disconnection on its own. */
	expect_rc(chan_rx_drain(rx, batch, 3, &n), 0, "second drain");
	ck_assert_uint_eq(n, 2);
	chan_msg_free(batch[0]);
	chan_msg_free(batch[1]);
	expect_rc(chan_rx_drain(rx, batch, 3, &n), CHAN_EDISCONNECTED,
	    "third drain");
	ck_assert_uint_eq(n, 0);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/* Batches: chan_tx_send_many and chan_rx_recv_many. */

#define BATCH_MESSAGES	3000
#define BATCH_SEND	100
#define BATCH_RECV	37

/* Message i of a batch test: i's bytes, (i * 7) % 300 of them. */
static size_t
batch_payload(char *buf, size_t i)
{
	size_t len = (i * 7) % 300, k;

	for (k = 0; k < len; k++)
		buf[k] = (char)('a' + (i + k) % 26);
	return len;
}

static void
send_many_range(chan_tx *tx, size_t first, size_t n)
{
	struct iovec iov[BATCH_SEND];
	static char bufs[BATCH_SEND][300];
	size_t i, sent = 0;

	ck_assert_uint_le(n, BATCH_SEND);
	for (i = 0; i < n; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = batch_payload(bufs[i], first + i);
	}
	expect_rc(chan_tx_send_many(tx, iov, n, &sent), 0,
	    "chan_tx_send_many");
	ck_assert_uint_eq(sent, n);
}

static void
expect_view(const chan_view *v, size_t i)
{
	char want[300];
	size_t len = batch_payload(want, i);

	ck_assert_msg(v->len == len && memcmp(v->data, want, len) == 0,
	    "message %zu: %zu bytes, want %zu", i, v->len, len);
	ck_assert_int_eq(((const char *)v->data)[len], '\0');
	ck_assert_int_eq(v->redelivered, 0);
}

START_TEST(test_send_many_and_recv_many_keep_order_and_bytes)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx = tx_open(p, "batches");
	chan_rx *rx = rx_open(q, "batches", 64);
	chan_view v[BATCH_RECV];
	size_t i, k, n, got = 0;

	for (i = 0; i < BATCH_MESSAGES; i += BATCH_SEND)
		send_many_range(tx, i, BATCH_SEND);
	expect_rc(chan_tx_close(tx), 0, "chan_tx_close");
	/* Every message, in order, then the disconnection on its own. */
	while (got < BATCH_MESSAGES) {
		expect_rc(chan_rx_recv_many(rx, HARNESS_WAIT_MS, v, BATCH_RECV,
		    &n), 0, "chan_rx_recv_many");
		ck_assert_uint_ge(n, 1);
		ck_assert_uint_le(n, BATCH_RECV);
		for (k = 0; k < n; k++)
			expect_view(&v[k], got + k);
		got += n;
	}
	ck_assert_uint_eq(got, BATCH_MESSAGES);
	expect_rc(chan_rx_recv_many(rx, HARNESS_WAIT_MS, v, BATCH_RECV, &n),
	    CHAN_EDISCONNECTED, "after the last batch");
	ck_assert_uint_eq(n, 0);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/* A batch's views hold while other receives go on: only the next batch
   (or closing) ends them. */
START_TEST(test_views_stay_valid_until_the_next_batch)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = tx_open(c, "views");
	chan_rx *rx = rx_open(c, "views", 16);
	chan_view v[4];
	chan_msg *m;
	size_t k, n, i;

	send_many_range(tx, 0, 4);
	expect_rc(chan_rx_recv_many(rx, HARNESS_WAIT_MS, v, 4, &n), 0,
	    "first batch");
	ck_assert_uint_ge(n, 1);
	/*
	 * The rest, and more traffic than a receiver's window and a bite,
	 * received one by one: the views above must not move.
	 */
	for (i = 4; i < 4 + 3 * BATCH_SEND; i += BATCH_SEND)
		send_many_range(tx, i, BATCH_SEND);
	for (i = n; i < 4 + 3 * BATCH_SEND; i++) {
		m = recv_msg(rx);
		ck_assert_uint_eq(chan_msg_len(m), i * 7 % 300);
		chan_msg_free(m);
	}
	for (k = 0; k < n; k++)
		expect_view(&v[k], k);
	chan_disconnect(c);
}
END_TEST

START_TEST(test_send_many_stops_at_a_message_over_the_limit)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx = tx_open(p, "too-big");
	chan_rx *rx = rx_open(q, "too-big", 8);
	size_t big = chan_client_max_msg(p) + 1, sent = 99;
	struct iovec iov[5];
	char *buf;

	ck_assert_ptr_nonnull(buf = calloc(1, big));
	iov[0] = (struct iovec){ "a", 1 };
	iov[1] = (struct iovec){ "b", 1 };
	iov[2] = (struct iovec){ "c", 1 };
	iov[3] = (struct iovec){ buf, big };
	iov[4] = (struct iovec){ "e", 1 };
	expect_rc(chan_tx_send_many(tx, iov, 5, &sent), CHAN_ETOOBIG,
	    "a batch with a message over the limit");
	ck_assert_uint_eq(sent, 3);
	expect_in(chan_tx_errmsg(tx), "message 4 of 5");
	expect_str(rx, "a");
	expect_str(rx, "b");
	expect_str(rx, "c");
	/* Nothing after it went. */
	expect_try_rc(rx, CHAN_EEMPTY);
	/* The transmitter goes on. */
	send_str(tx, "f");
	expect_str(rx, "f");
	free(buf);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_batch_calls_check_their_arguments_and_time_out)
{
	chan_client *c = test_connect(&fixture);
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_tx *tx = tx_open(c, "args");
	chan_rx *rx = rx_open(c, "args", 4), *manual = NULL;
	chan_view v[2];
	size_t n = 7, sent = 7;

	expect_rc(chan_tx_send_many(tx, NULL, 0, &sent), 0, "no messages");
	ck_assert_uint_eq(sent, 0);
	expect_rc(chan_tx_send_many(NULL, NULL, 0, NULL), CHAN_EINVAL,
	    "no transmitter");
	expect_rc(chan_tx_send_many(tx, NULL, 1, NULL), CHAN_EINVAL,
	    "no array");
	expect_rc(chan_rx_recv_many(rx, 0, v, 0, &n), CHAN_EINVAL, "max 0");
	ck_assert_uint_eq(n, 0);
	expect_rc(chan_rx_recv_many(rx, 0, NULL, 2, &n), CHAN_EINVAL,
	    "no views");
	/* Nothing there: a bounded wait, and a try, time out. */
	expect_rc(chan_rx_recv_many(rx, 50, v, 2, &n), CHAN_ETIMEDOUT,
	    "an empty channel, 50 ms");
	ck_assert_uint_eq(n, 0);
	expect_rc(chan_rx_recv_many(rx, 0, v, 2, &n), CHAN_ETIMEDOUT,
	    "an empty channel, no wait");
	send_str(tx, "late");
	expect_rc(chan_rx_recv_many(rx, HARNESS_WAIT_MS, v, 2, &n), 0,
	    "a message after the time-outs");
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].data, "late");
	/* A view cannot be acknowledged by hand. */
	o.flags = CHAN_MANUAL_ACK;
	expect_rc(chan_rx_open_ex(c, "manual", 6, &o, &manual), 0, "open");
	expect_rc(chan_rx_recv_many(manual, 0, v, 2, &n), CHAN_EINVAL,
	    "CHAN_MANUAL_ACK");
	chan_disconnect(c);
}
END_TEST

/*
 * A confirmed send on a ring, alone or in a batch, comes after a longer
 * message pipelined before it on the socket (over a small ring's record
 * limit), though the ring record could be read first.
 */
START_TEST(test_ring_sends_wait_behind_pipelined_socket_sends)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_rx *rx = rx_open(q, "behind", 8);
	struct iovec iov[2] = { { "b1", 2 }, { "b2", 2 } };
	char big[3000];
	chan_tx *tx;
	size_t sent;

	o.flags = CHAN_SHM;
	o.ring_size = 4096;	/* records of 2 KiB at most */
	tx = tx_open_opts(p, "behind", &o);
	memset(big, 'x', sizeof(big));
	expect_rc(chan_tx_send_async(tx, big, sizeof(big)), 0, "async big");
	send_str(tx, "small");
	expect_msg(rx, big, sizeof(big));
	expect_str(rx, "small");
	expect_rc(chan_tx_send_async(tx, big, sizeof(big)), 0, "async big");
	expect_rc(chan_tx_send_many(tx, iov, 2, &sent), 0, "send_many");
	ck_assert_uint_eq(sent, 2);
	expect_msg(rx, big, sizeof(big));
	expect_str(rx, "b1");
	expect_str(rx, "b2");
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

struct many_sender {
	pthread_t	 thread;
	chan_tx		*tx;
	size_t		 sent;
	int		 rc;
};

static void *
many_sender_main(void *arg)
{
	struct many_sender *s = arg;
	struct iovec iov[BATCH_SEND];
	static char bufs[BATCH_SEND][300];
	size_t i;

	for (i = 0; i < BATCH_SEND; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = batch_payload(bufs[i], i);
	}
	s->rc = chan_tx_send_many(s->tx, iov, BATCH_SEND, &s->sent);
	return NULL;
}

/* A batch larger than a bounded channel waits for room, in order. */
START_TEST(test_send_many_waits_for_room_in_a_bounded_channel)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	struct many_sender s = { 0 };
	chan_view v[7];
	chan_rx *rx;
	size_t k, n, got = 0;

	o.capacity = 3;
	s.tx = tx_open_opts(p, "bounded-batch", &o);
	rx = rx_open(q, "bounded-batch", 1);
	ck_assert_int_eq(pthread_create(&s.thread, NULL, many_sender_main,
	    &s), 0);
	while (got < BATCH_SEND) {
		expect_rc(chan_rx_recv_many(rx, HARNESS_WAIT_MS, v, 7, &n), 0,
		    "chan_rx_recv_many");
		for (k = 0; k < n; k++)
			expect_view(&v[k], got + k);
		got += n;
	}
	ck_assert_int_eq(pthread_join(s.thread, NULL), 0);
	expect_rc(s.rc, 0, "chan_tx_send_many");
	ck_assert_uint_eq(s.sent, BATCH_SEND);
	ck_assert_uint_eq(got, BATCH_SEND);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/* Non-blocking mode. */

START_TEST(test_nonblocking_receive_grants_credit_and_gets_the_message)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rx *rx = rx_open(q, "nb", 4);
	chan_tx *tx = tx_open(p, "nb");
	chan_msg *m = NULL;
	int rc;

	ck_assert_int_ge(chan_client_fd(q), 0);
	expect_rc(chan_client_set_nonblock(q, 1), 0, "set_nonblock");
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "first try");
	send_str(tx, "hello");
	while ((rc = chan_rx_try_recv(rx, &m)) == CHAN_EEMPTY)
		process_when_readable(q);
	expect_rc(rc, 0, "try_recv");
	ck_assert_str_eq(chan_msg_data(m), "hello");
	chan_msg_free(m);
	expect_rc(chan_tx_close(tx), 0, "close");
	while ((rc = chan_rx_try_recv(rx, &m)) == CHAN_EEMPTY)
		process_when_readable(q);
	expect_rc(rc, CHAN_EDISCONNECTED, "after the producer left");
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_nonblocking_send_gives_again_when_the_window_is_full)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx = tx_open_window(p, "nbw", 2);
	chan_rx *rx = rx_open(q, "nbw", 8);
	int rc, sent = 0;

	expect_rc(chan_client_set_nonblock(p, 1), 0, "set_nonblock");
	if (e2e_shm_path()) {
		/*
		 * A ring send is confirmed once written: no window fills.
		 * Until the daemon's first grant it gives CHAN_EAGAIN, and
		 * the grant makes the socket readable.
		 */
		for (sent = 0; sent < 3; sent++) {
			char s[2] = { (char)('0' + sent), '\0' };

			while ((rc = chan_tx_send_async(tx, s, 1)) ==
			    CHAN_EAGAIN)
				process_when_readable(p);
			expect_rc(rc, 0, "ring send from an event loop");
		}
		ck_assert_uint_eq(chan_tx_unconfirmed(tx), 0);
		ck_assert_int_eq(chan_client_want_write(p), 0);
		expect_rc(chan_tx_flush(tx), 0, "flush");
		for (sent = 0; sent < 3; sent++) {
			char want[2] = { (char)('0' + sent), '\0' };

			expect_str(rx, want);
		}
		chan_disconnect(p);
		chan_disconnect(q);
		return;
	}
	send_async_str(tx, "0");
	send_async_str(tx, "1");
	ck_assert_int_eq(chan_client_want_write(p), 1);
	expect_rc(chan_tx_send_async(tx, "2", 1), CHAN_EAGAIN, "window full");
	expect_rc(chan_tx_flush(tx), CHAN_EAGAIN, "flush, unconfirmed");
	while ((rc = chan_tx_send_async(tx, "2", 1)) == CHAN_EAGAIN)
		process_when_readable(p);
	expect_rc(rc, 0, "send after confirmations");
	while ((rc = chan_tx_flush(tx)) == CHAN_EAGAIN)
		process_when_readable(p);
	expect_rc(rc, 0, "flush");
	ck_assert_int_eq(chan_client_want_write(p), 0);
	for (sent = 0; sent < 3; sent++) {
		char want[2] = { (char)('0' + sent), '\0' };

		expect_str(rx, want);
	}
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/* Messages sent marked redelivered (SEND_MARKED). */

/* The next message: its payload s, and its mark. */
static void
expect_marked(chan_rx *rx, const char *s, int marked)
{
	chan_msg *m = recv_msg(rx);

	ck_assert_uint_eq(chan_msg_len(m), strlen(s));
	ck_assert_mem_eq(chan_msg_data(m), s, strlen(s));
	ck_assert_msg(chan_msg_redelivered(m) == marked,
	    "'%s': redelivered %d, want %d", s, chan_msg_redelivered(m),
	    marked);
	chan_rx_ack(rx, m);
	chan_msg_free(m);
}

START_TEST(test_a_message_sent_marked_is_delivered_marked)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx;
	chan_rx *rx;
	char *out;
	static const char *const stats[] = { "--json", "channels", NULL };

	/* Queued: the mark goes only on the message sent with it. */
	tx = tx_open(p, "marked");
	send_str(tx, "a");
	expect_rc(chan_tx_send_redelivered(tx, "b", 1), 0,
	    "chan_tx_send_redelivered");
	send_str(tx, "c");
	expect_rc(chan_tx_send_redelivered(tx, "", 0), 0,
	    "chan_tx_send_redelivered, empty");
	rx = rx_open(q, "marked", 1);
	expect_marked(rx, "a", 0);
	expect_marked(rx, "b", 1);
	expect_marked(rx, "c", 0);
	expect_marked(rx, "", 1);
	/* The admin view counts its delivery as a redelivery. */
	out = chanctl(&fixture, 0, stats);
	expect_in(out, "\"redeliveries\":2");
	free(out);
	chan_rx_close(rx);

	chan_disconnect(q);
	chan_disconnect(p);
}
END_TEST

/* Options. */

START_TEST(test_open_options_are_checked_and_an_old_struct_works)
{
	chan_client *c = test_connect(&fixture);
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_tx *tx;
	chan_rx *rx;

	o.window = 65537;
	expect_rc(chan_tx_open_ex(c, "o", 1, &o, &tx), CHAN_EOPTION, "window");
	o.window = 65536;
	expect_rc(chan_tx_open_ex(c, "o", 1, &o, &tx), 0, "largest window");
	expect_rc(chan_rx_open_ex(c, "o", 1, &o, &rx), CHAN_EOPTION,
	    "window on a receiver");
	o = (chan_open_opts)CHAN_OPEN_OPTS_INIT;
	o.prefetch = 2;
	expect_rc(chan_tx_open_ex(c, "o", 1, &o, &tx), CHAN_EOPTION,
	    "prefetch on a transmitter");
	o = (chan_open_opts)CHAN_OPEN_OPTS_INIT;
	o.capacity = (uint64_t)UINT32_MAX + 1;
	expect_rc(chan_tx_open_ex(c, "o", 1, &o, &tx), CHAN_EOPTION,
	    "capacity over 2^32-1");
	o.capacity = CHAN_CAPACITY_DEFAULT;
	o.capacity_bytes = 0;
	expect_rc(chan_tx_open_ex(c, "o", 1, &o, &tx), CHAN_EOPTION,
	    "capacity_bytes 0");
	/* A caller built before capacity existed: the rest are defaults. */
	o.size = offsetof(chan_open_opts, capacity);
	o.prefetch = 3;
	expect_rc(chan_rx_open_ex(c, "o", 1, &o, &rx), 0, "old struct");
	chan_disconnect(c);
}
END_TEST

static Suite *
client_api_suite(void)
{
	Suite *s = suite_create("e2e_client_api");
	TCase *tc;

	tc = tcase_create("pipelined sends");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_pipelined_sends_arrive_complete_and_in_order);
	tcase_add_test(tc,
	    test_confirmed_send_after_pipelined_ones_keeps_their_order);
	tcase_add_test(tc, test_close_flushes_pipelined_sends);
	tcase_add_test(tc,
	    test_many_pipelined_transmitters_on_one_connection_never_stall);
	tcase_add_test(tc, test_too_big_pipelined_send_fails_at_once);
	tcase_add_test(tc,
	    test_held_sends_are_confirmed_after_later_ones_on_other_channels);
	tcase_add_test(tc,
	    test_handles_closed_in_any_order_leave_the_rest_working);
	tcase_add_test(tc, test_a_message_sent_marked_is_delivered_marked);
	suite_add_tcase(s, tc);

	tc = tcase_create("pipelined failures");
	tcase_add_checked_fixture(tc, setup_limited,
	    fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_pipelined_failure_surfaces_on_flush_naming_the_send);
	tcase_add_test(tc, test_pipelined_failure_surfaces_on_the_next_send);
	tcase_add_test(tc, test_close_reports_a_pipelined_failure);
	tcase_add_test(tc, test_pipelined_failures_reach_their_own_transmitter);
	tcase_add_test(tc,
	    test_a_refusal_overtaking_held_sends_finds_its_own_send);
	suite_add_tcase(s, tc);

	tc = tcase_create("select and drain");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_select_over_three_channels_reports_each_disconnection);
	tcase_add_test(tc, test_select_times_out_and_then_gets_a_late_message);
	tcase_add_test(tc, test_select_refuses_receivers_of_two_connections);
	tcase_add_test(tc,
	    test_drain_takes_what_is_there_then_reports_disconnection);
	suite_add_tcase(s, tc);

	tc = tcase_create("batches");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_send_many_and_recv_many_keep_order_and_bytes);
	tcase_add_test(tc, test_views_stay_valid_until_the_next_batch);
	tcase_add_test(tc, test_send_many_stops_at_a_message_over_the_limit);
	tcase_add_test(tc, test_batch_calls_check_their_arguments_and_time_out);
	tcase_add_test(tc, test_send_many_waits_for_room_in_a_bounded_channel);
	tcase_add_test(tc, test_ring_sends_wait_behind_pipelined_socket_sends);
	suite_add_tcase(s, tc);

	tc = tcase_create("non-blocking and options");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_nonblocking_receive_grants_credit_and_gets_the_message);
	tcase_add_test(tc,
	    test_nonblocking_send_gives_again_when_the_window_is_full);
	tcase_add_test(tc, test_open_options_are_checked_and_an_old_struct_works);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(client_api_suite());
}

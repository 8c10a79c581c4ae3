/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_flow_client.c: bounded channels through libchanclient against a
 * real chand: a full channel holds a producer and releases it when the
 * consumer reads, try_send, send_timeout, rendezvous, capacity options,
 * pipelined sends into a small channel.
 *
 * Whether a send is still held is checked without timing: a try_recv on
 * the producer's own connection is a PING round trip, after which every
 * answer the daemon had given is read, so a pipelined send still
 * unconfirmed is one the daemon holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"

#define FLOOD_MESSAGES	2000

static chan_tx *
tx_open_cap(chan_client *c, const char *name, uint64_t cap)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;

	o.capacity = cap;
	return tx_open_opts(c, name, &o);
}

/*
 * A round trip on c: every answer the daemon gave before it has been
 * dispatched. probe is a receiver on c of a channel nobody uses.
 */
static void
barrier(chan_rx *probe)
{
	chan_msg *m;

	expect_rc(chan_rx_try_recv(probe, &m), CHAN_EEMPTY, "barrier");
}

START_TEST(test_full_channel_holds_a_send_until_the_consumer_reads)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx = tx_open_cap(p, "bounded", 2);
	chan_rx *probe = rx_open(p, "probe-bounded", 0);
	chan_rx *rx;

	send_str(tx, "1");
	send_str(tx, "2");
	if (e2e_shm_path()) {
		struct async_sender s;

		/* Through a ring the send waits for grant, nothing held. */
		async_sender_start(&s, tx, "", 3, 1);
		rx = rx_open(q, "bounded", 0);
		expect_str(rx, "1");
		expect_rc(async_sender_join(&s), 0, "third send");
		ck_assert_uint_eq(chan_tx_unconfirmed(tx), 0);
		expect_str(rx, "2");
		expect_str(rx, "3");
		chan_disconnect(p);
		chan_disconnect(q);
		return;
	}
	expect_rc(chan_tx_send_async(tx, "3", 1), 0, "third send");
	barrier(probe);
	ck_assert_uint_eq(chan_tx_unconfirmed(tx), 1);
	rx = rx_open(q, "bounded", 0);
	expect_str(rx, "1");
	/* Room for one: the held send is queued and confirmed. */
	expect_rc(chan_tx_flush(tx), 0, "flush");
	expect_str(rx, "2");
	expect_str(rx, "3");
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/* A child that sends "blocked" with chan_tx_send, then writes 'S'. */
struct blocked_sender {
	const char	*sock;
	const char	*name;
	int		 fd;
};

static int
blocked_sender_main(void *arg)
{
	struct blocked_sender *b = arg;
	chan_client *c;
	chan_tx *tx;

	if (chan_connect(b->sock, &c) != 0 || chan_tx_open(c, b->name, &tx))
		return 1;
	if (write(b->fd, "A", 1) != 1)
		return 2;
	if (chan_tx_send(tx, "blocked", 7) != 0)
		return 3;
	if (write(b->fd, "S", 1) != 1)
		return 4;
	chan_tx_close(tx);
	chan_disconnect(c);
	return 0;
}

START_TEST(test_blocking_send_returns_once_the_consumer_made_room)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx = tx_open_cap(p, "hold", 1);
	struct blocked_sender b = { fixture.sock, "hold", -1 };
	chan_rx *rx;
	int fds[2];
	pid_t pid;

	send_str(tx, "first");
	ck_assert_int_eq(pipe(fds), 0);
	b.fd = fds[1];
	pid = child_fork(blocked_sender_main, &b);
	close(fds[1]);
	ck_assert_int_eq(pipe_read_byte(fds[0]), 'A');
	expect_rc(chan_tx_try_send(tx, "x", 1), CHAN_EFULL, "channel is full");
	rx = rx_open(q, "hold", 0);
	expect_str(rx, "first");
	/* The consumer made room: the child's send completes. */
	ck_assert_int_eq(pipe_read_byte(fds[0]), 'S');
	expect_str(rx, "blocked");
	child_wait_ok(pid);
	close(fds[0]);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_try_send_on_a_full_channel_gives_full_and_drops_it)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = tx_open_cap(c, "try", 2);
	chan_rx *rx = rx_open(c, "try", 0);
	chan_msg *m;

	expect_rc(chan_tx_try_send(tx, "a", 1), 0, "first try_send");
	expect_rc(chan_tx_try_send(tx, "b", 1), 0, "second try_send");
	expect_rc(chan_tx_try_send(tx, "c", 1), CHAN_EFULL, "third try_send");
	expect_str(rx, "a");
	expect_rc(chan_tx_try_send(tx, "d", 1), 0, "after a receive");
	expect_str(rx, "b");
	expect_str(rx, "d");
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "c was dropped");
	chan_disconnect(c);
}
END_TEST

START_TEST(test_send_timeout_on_a_full_channel_times_out_and_drops_it)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = tx_open_cap(c, "timed", 1);
	chan_rx *rx = rx_open(c, "timed", 0);
	chan_msg *m;

	expect_rc(chan_tx_send_timeout(tx, "a", 1, 0), 0, "room");
	expect_rc(chan_tx_send_timeout(tx, "b", 1, 0), CHAN_ETIMEDOUT,
	    "timeout 0");
	expect_rc(chan_tx_send_timeout(tx, "c", 1, 50), CHAN_ETIMEDOUT,
	    "timeout 50 ms");
	expect_str(rx, "a");
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "b and c dropped");
	expect_rc(chan_tx_send_timeout(tx, "d", 1, HARNESS_WAIT_MS), 0,
	    "room again");
	expect_str(rx, "d");
	chan_disconnect(c);
}
END_TEST

START_TEST(test_rendezvous_send_completes_only_when_received)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_tx *tx = tx_open_cap(p, "meet", 0);
	chan_rx *probe = rx_open(p, "probe-meet", 0);
	chan_rx *rx = rx_open(q, "meet", 0);

	/* The consumer exists but is not receiving: nothing can go. */
	expect_rc(chan_tx_try_send(tx, "no", 2), CHAN_EFULL, "try_send");
	expect_rc(chan_tx_send_async(tx, "x", 1), 0, "send_async");
	barrier(probe);
	barrier(probe);
	ck_assert_uint_eq(chan_tx_unconfirmed(tx), 1);
	expect_str(rx, "x");
	expect_rc(chan_tx_flush(tx), 0, "confirmed once received");
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_rendezvous_blocking_send_returns_after_the_receive)
{
	chan_client *q = test_connect(&fixture), *p = test_connect(&fixture);
	struct blocked_sender b = { fixture.sock, "meet2", -1 };
	chan_tx *owner = tx_open_cap(p, "meet2", 0);
	chan_rx *rx = rx_open(q, "meet2", 0);
	int fds[2];
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	b.fd = fds[1];
	pid = child_fork(blocked_sender_main, &b);
	close(fds[1]);
	ck_assert_int_eq(pipe_read_byte(fds[0]), 'A');
	expect_str(rx, "blocked");
	ck_assert_int_eq(pipe_read_byte(fds[0]), 'S');
	child_wait_ok(pid);
	close(fds[0]);
	chan_tx_close(owner);
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_open_with_another_capacity_gives_capacity)
{
	chan_client *c = test_connect(&fixture);
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_tx *tx = tx_open_cap(c, "sized", 5), *tx2;
	chan_rx *rx;

	o.capacity = 6;
	expect_rc(chan_rx_open_ex(c, "sized", 5, &o, &rx), CHAN_ECAPACITY,
	    "capacity 6 on a channel of 5");
	ck_assert_msg(strstr(chan_client_errmsg(c), "sized") != NULL,
	    "errmsg does not name the channel: %s", chan_client_errmsg(c));
	o.capacity = CHAN_CAPACITY_UNBOUNDED;
	expect_rc(chan_tx_open_ex(c, "sized", 5, &o, &tx2), CHAN_ECAPACITY,
	    "unbounded on a channel of 5");
	o.capacity = 5;
	expect_rc(chan_rx_open_ex(c, "sized", 5, &o, &rx), 0, "the same");
	expect_rc(chan_tx_clone(tx, &tx2), 0, "clone keeps the capacity");
	chan_disconnect(c);
}
END_TEST

/* A consumer child: receives count messages "0".."count-1" in order. */
struct consumer {
	const char	*sock;
	const char	*name;
	int		 count;
};

static int
consumer_main(void *arg)
{
	struct consumer *k = arg;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	char want[16];
	int i;

	if (chan_connect(k->sock, &c) != 0 || chan_rx_open(c, k->name, &rx))
		return 1;
	for (i = 0; i < k->count; i++) {
		if (chan_rx_recv(rx, &m) != 0)
			return 2;
		snprintf(want, sizeof(want), "%d", i);
		if (strcmp(chan_msg_data(m), want) != 0)
			return 3;
		chan_msg_free(m);
	}
	chan_disconnect(c);
	return 0;
}

START_TEST(test_pipelined_sends_into_a_small_channel_all_arrive_in_order)
{
	chan_client *p = test_connect(&fixture);
	chan_tx *tx = tx_open_cap(p, "small", 4);
	struct consumer k = { fixture.sock, "small", FLOOD_MESSAGES };
	char buf[16];
	pid_t pid;
	int i;

	pid = child_fork(consumer_main, &k);
	for (i = 0; i < FLOOD_MESSAGES; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		expect_rc(chan_tx_send_async(tx, buf, strlen(buf)), 0,
		    "send_async");
	}
	expect_rc(chan_tx_close(tx), 0, "close");
	child_wait_ok(pid);
	chan_disconnect(p);
}
END_TEST

static Suite *
flow_client_suite(void)
{
	Suite *s = suite_create("e2e_flow_client");
	TCase *tc;

	tc = tcase_create("bounded channels");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_full_channel_holds_a_send_until_the_consumer_reads);
	tcase_add_test(tc,
	    test_blocking_send_returns_once_the_consumer_made_room);
	tcase_add_test(tc,
	    test_try_send_on_a_full_channel_gives_full_and_drops_it);
	tcase_add_test(tc,
	    test_send_timeout_on_a_full_channel_times_out_and_drops_it);
	tcase_add_test(tc, test_rendezvous_send_completes_only_when_received);
	tcase_add_test(tc,
	    test_rendezvous_blocking_send_returns_after_the_receive);
	tcase_add_test(tc, test_open_with_another_capacity_gives_capacity);
	tcase_add_test(tc,
	    test_pipelined_sends_into_a_small_channel_all_arrive_in_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(flow_client_suite());
}

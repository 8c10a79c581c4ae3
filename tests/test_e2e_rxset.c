/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_rxset.c: receiver sets (chan_rxset_*), a standing select over
 * the receivers of one connection, against a real chand: every message
 * of every member in its channel's order, each disconnection once,
 * fairness, timeouts, what a zero timeout sees, membership rules, a
 * crash with messages waiting in the set, the non-blocking calls, and a
 * set of a thousand channels.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"

#define MANY_CHANNELS	1000

static chan_rxset *
set_new(chan_client *c)
{
	chan_rxset *set = NULL;

	expect_rc(chan_rxset_new(c, &set), 0, "chan_rxset_new");
	ck_assert_ptr_nonnull(set);
	return set;
}

static void
set_add(chan_rxset *set, chan_rx *rx)
{
	expect_rc(chan_rxset_add(set, rx), 0, "chan_rxset_add");
}

/* The end of a test: the set, then both connections. */
static void
set_done(chan_rxset *set, chan_client *p, chan_client *q)
{
	chan_rxset_free(set);
	chan_disconnect(p);
	chan_disconnect(q);
}

/* A bounded receive from set that must succeed; *from is set. */
static chan_msg *
set_recv(chan_rxset *set, chan_rx **from)
{
	chan_msg *m = NULL;

	expect_rc(chan_rxset_recv(set, HARNESS_WAIT_MS, from, &m), 0,
	    "chan_rxset_recv");
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(*from);
	return m;
}

/* The index of rx in rxs[0 .. n), which it must be in. */
static int
index_of(chan_rx *const *rxs, int n, const chan_rx *rx)
{
	int i;

	for (i = 0; i < n; i++) {
		if (rxs[i] == rx)
			return i;
	}
	ck_abort_msg("a receive named a receiver not in the set");
	return -1;
}

START_TEST(test_a_set_gets_every_message_in_order_and_each_disconnection)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rxset *set = set_new(q);
	chan_tx *tx[3];
	chan_rx *rxs[3], *from;
	chan_msg *m;
	int next[3] = { 0 }, gone[3] = { 0 }, i, j, k, rc;
	size_t left = 3;
	char buf[16];

	/* Windows of 1, 2 and 8: the set keeps each open. */
	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "set%d", i);
		tx[i] = tx_open(p, buf);
		rxs[i] = rx_open(q, buf, i == 0 ? 1 : i == 1 ? 2 : 8);
		set_add(set, rxs[i]);
	}
	ck_assert_uint_eq(chan_rxset_len(set), 3);
	for (j = 0; j < 50; j++) {
		for (i = 0; i < 3; i++) {
			snprintf(buf, sizeof(buf), "%d.%d", i, j);
			expect_rc(chan_tx_send_async(tx[i], buf, strlen(buf)),
			    0, "chan_tx_send_async");
		}
	}
	for (i = 0; i < 3; i++)
		expect_rc(chan_tx_close(tx[i]), 0, "chan_tx_close");
	while (left > 0) {
		rc = chan_rxset_recv(set, HARNESS_WAIT_MS, &from, &m);
		ck_assert_ptr_nonnull(from);
		k = index_of(rxs, 3, from);
		if (rc == CHAN_EDISCONNECTED) {
			/* After its last message; closing takes it out. */
			ck_assert_int_eq(next[k], 50);
			ck_assert_int_eq(gone[k]++, 0);
			expect_rc(chan_rx_close(from), 0, "chan_rx_close");
			ck_assert_uint_eq(chan_rxset_len(set), --left);
			continue;
		}
		expect_rc(rc, 0, "chan_rxset_recv");
		snprintf(buf, sizeof(buf), "%d.%d", k, next[k]++);
		ck_assert_str_eq(chan_msg_data(m), buf);
		chan_msg_free(m);
	}
	expect_rc(chan_rxset_recv(set, 0, &from, &m), CHAN_EINVAL,
	    "a receive from an empty set");
	set_done(set, p, q);
}
END_TEST

/*
 * As chan_rx_recv: a member stays disconnected, and is reported so at
 * each receive that reaches it, until a producer attaches again; then
 * its messages come.
 */
START_TEST(test_a_disconnected_member_is_reported_until_a_producer_comes)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rxset *set = set_new(q);
	chan_rx *rx = rx_open(q, "again", 1), *from;
	chan_tx *tx = tx_open(p, "again");
	chan_msg *m;
	int i, rc;

	set_add(set, rx);
	expect_rc(chan_tx_close(tx), 0, "chan_tx_close");
	for (i = 0; i < 3; i++) {
		expect_rc(chan_rxset_recv(set, HARNESS_WAIT_MS, &from, &m),
		    CHAN_EDISCONNECTED, "a disconnected member");
		ck_assert_ptr_eq(from, rx);
	}
	tx = tx_open(p, "again");
	send_str(tx, "back");
	/* Reports answered before the producer came may still arrive. */
	for (i = 0; (rc = chan_rxset_recv(set, HARNESS_WAIT_MS, &from, &m)) ==
	    CHAN_EDISCONNECTED; i++)
		ck_assert_int_lt(i, 2);
	expect_rc(rc, 0, "the new producer's message");
	ck_assert_str_eq(chan_msg_data(m), "back");
	chan_msg_free(m);
	set_done(set, p, q);
}
END_TEST

/*
 * A member holding many messages goes behind the others after each
 * receive: the one message of another member comes within two receives.
 */
START_TEST(test_a_busy_member_does_not_starve_the_others)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rxset *set = set_new(q);
	chan_tx *busy = tx_open(p, "busy"), *quiet = tx_open(p, "quiet");
	chan_rx *rxs[2] = { rx_open(q, "busy", 64), rx_open(q, "quiet", 1) };
	chan_rx *from;
	chan_msg *m;
	int i, seen_quiet = 0, busy_next = 0;
	char buf[16];

	for (i = 0; i < 64; i++) {
		snprintf(buf, sizeof(buf), "b%d", i);
		send_str(busy, buf);
	}
	send_str(quiet, "q");
	set_add(set, rxs[0]);
	set_add(set, rxs[1]);
	/* Both windows are filled before the first message is handed out. */
	expect_rc(chan_rxset_recv(set, 0, &from, &m), 0, "timeout 0");
	for (i = 0; i < 65; i++) {
		if (i > 0)
			m = set_recv(set, &from);
		if (from == rxs[1]) {
			ck_assert_str_eq(chan_msg_data(m), "q");
			ck_assert_msg(i < 2, "the quiet member waited %d receives",
			    i);
			seen_quiet++;
		} else {
			snprintf(buf, sizeof(buf), "b%d", busy_next++);
			ck_assert_str_eq(chan_msg_data(m), buf);
		}
		chan_msg_free(m);
	}
	ck_assert_int_eq(seen_quiet, 1);
	ck_assert_int_eq(busy_next, 64);
	set_done(set, p, q);
}
END_TEST

START_TEST(test_a_set_times_out_and_then_gets_a_late_message)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rxset *set = set_new(q);
	chan_rx *rxs[2] = { rx_open(q, "late1", 1), rx_open(q, "late2", 1) };
	chan_tx *tx = tx_open(p, "late2");
	chan_rx *from = rxs[0];
	chan_msg *m = NULL;

	set_add(set, rxs[0]);
	set_add(set, rxs[1]);
	expect_rc(chan_rxset_recv(set, 0, &from, &m), CHAN_ETIMEDOUT,
	    "timeout 0");
	ck_assert_ptr_null(from);
	ck_assert_ptr_null(m);
	expect_rc(chan_rxset_recv(set, 50, &from, &m), CHAN_ETIMEDOUT,
	    "50 ms");
	send_str(tx, "late");
	m = set_recv(set, &from);
	ck_assert_ptr_eq(from, rxs[1]);
	ck_assert_str_eq(chan_msg_data(m), "late");
	chan_msg_free(m);
	set_done(set, p, q);
}
END_TEST

/*
 * As try_recv: a zero timeout sees every confirmed send, also when the
 * member's window of 1 was used by the message before.
 */
START_TEST(test_a_zero_timeout_sees_every_confirmed_send)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rxset *set = set_new(q);
	chan_rx *rx = rx_open(q, "zero", 1), *from;
	chan_tx *tx = tx_open(p, "zero");
	chan_msg *m;
	char buf[16];
	int i;

	set_add(set, rx);
	for (i = 0; i < 5; i++) {
		snprintf(buf, sizeof(buf), "z%d", i);
		send_str(tx, buf);
		expect_rc(chan_rxset_recv(set, 0, &from, &m), 0, "timeout 0");
		ck_assert_ptr_eq(from, rx);
		ck_assert_str_eq(chan_msg_data(m), buf);
		chan_msg_free(m);
	}
	expect_rc(chan_rxset_recv(set, 0, &from, &m), CHAN_ETIMEDOUT,
	    "nothing more");
	set_done(set, p, q);
}
END_TEST

START_TEST(test_membership_is_checked_and_a_removed_member_is_left_alone)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rxset *set = set_new(q), *other = set_new(q);
	chan_rx *a = rx_open(q, "ma", 1), *b = rx_open(q, "mb", 1);
	chan_rx *elsewhere = rx_open(p, "mc", 1), *from;
	chan_rx *pair[2];
	chan_tx *tb = tx_open(p, "mb");
	chan_msg *m;
	size_t i;

	set_add(set, a);
	set_add(set, b);
	expect_rc(chan_rxset_add(set, a), CHAN_EINVAL, "added twice");
	expect_rc(chan_rxset_add(other, a), CHAN_EINVAL, "in two sets");
	expect_rc(chan_rxset_add(set, elsewhere), CHAN_EINVAL,
	    "another connection's receiver");
	expect_rc(chan_rxset_add(NULL, a), CHAN_EINVAL, "no set");
	expect_rc(chan_rxset_remove(other, a), CHAN_EINVAL, "not a member");
	expect_rc(chan_rxset_recv(other, 0, &from, &m), CHAN_EINVAL,
	    "an empty set");
	expect_rc(chan_rxset_new(NULL, &other), CHAN_EINVAL, "no client");
	ck_assert_uint_eq(chan_rxset_len(set), 2);
	ck_assert_uint_eq(chan_rxset_len(NULL), 0);
	pair[0] = a;
	pair[1] = b;
	expect_rc(chan_select(pair, 2, 0, &i, &m), CHAN_EINVAL,
	    "chan_select over members");

	/* Out of the set, b is a plain receiver again; nothing is lost. */
	expect_rc(chan_rxset_remove(set, b), 0, "chan_rxset_remove");
	ck_assert_uint_eq(chan_rxset_len(set), 1);
	send_str(tb, "for b");
	expect_rc(chan_rxset_recv(set, 0, &from, &m), CHAN_ETIMEDOUT,
	    "the set without b");
	expect_rc(chan_select(&b, 1, HARNESS_WAIT_MS, &i, &m), 0,
	    "chan_select once b left");
	ck_assert_str_eq(chan_msg_data(m), "for b");
	chan_msg_free(m);
	send_str(tb, "again");
	expect_str(b, "again");
	chan_rxset_free(other);
	/* chan_disconnect frees the set left. */
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

/* The child: a set takes one message of four in its window, then dies. */
static int
crash_child(void *arg)
{
	chan_client *c;
	chan_rxset *set;
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_rx *rx, *from;
	chan_msg *m;

	(void)arg;
	o.prefetch = 4;
	if (chan_connect(fixture.sock, &c) != 0 ||
	    chan_rx_open_ex(c, "crash", 5, &o, &rx) != 0 ||
	    chan_rxset_new(c, &set) != 0 || chan_rxset_add(set, rx) != 0)
		return 1;
	if (chan_rxset_recv(set, HARNESS_WAIT_MS, &from, &m) != 0 ||
	    strcmp(chan_msg_data(m), "c0") != 0)
		return 2;
	_exit(0);
}

START_TEST(test_what_a_crashed_set_held_comes_again_marked)
{
	chan_client *p = test_connect(&fixture), *q;
	chan_tx *tx = tx_open(p, "crash");
	chan_rx *rx;
	chan_msg *m;
	char buf[16];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(buf, sizeof(buf), "c%d", i);
		send_str(tx, buf);
	}
	child_wait_ok(child_fork(crash_child, NULL));
	q = test_connect(&fixture);
	rx = rx_open(q, "crash", 1);
	for (i = 0; i < 10; i++) {
		snprintf(buf, sizeof(buf), "c%d", i);
		m = recv_msg(rx);
		ck_assert_str_eq(chan_msg_data(m), buf);
		/* The four in the crashed set's window, and no others. */
		ck_assert_msg(!chan_msg_redelivered(m) == (i >= 4),
		    "%s: redelivered %d", buf, chan_msg_redelivered(m));
		chan_msg_free(m);
	}
	chan_disconnect(p);
	chan_disconnect(q);
}
END_TEST

START_TEST(test_a_nonblocking_consumer_takes_from_the_set)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rxset *set = set_new(q);
	chan_rx *rxs[2] = { rx_open(q, "nb1", 1), rx_open(q, "nb2", 1) };
	chan_tx *tx[2] = { tx_open(p, "nb1"), tx_open(p, "nb2") };
	chan_rx *from;
	chan_msg *m;
	int got[2] = { 0 }, n = 0, rc;

	set_add(set, rxs[0]);
	set_add(set, rxs[1]);
	expect_rc(chan_client_set_nonblock(q, 1), 0, "set_nonblock");
	expect_rc(chan_rxset_recv(set, 0, &from, &m), CHAN_ETIMEDOUT,
	    "before any send");
	send_str(tx[0], "one");
	send_str(tx[1], "two");
	while (n < 2) {
		rc = chan_rxset_recv(set, 0, &from, &m);
		if (rc == CHAN_ETIMEDOUT) {
			process_when_readable(q);
			continue;
		}
		expect_rc(rc, 0, "chan_rxset_recv");
		ck_assert_str_eq(chan_msg_data(m),
		    index_of(rxs, 2, from) == 0 ? "one" : "two");
		ck_assert_int_eq(got[index_of(rxs, 2, from)]++, 0);
		chan_msg_free(m);
		n++;
	}
	set_done(set, p, q);
}
END_TEST

/* Every member gets credit once, many to an ACKS frame. */
START_TEST(test_a_set_of_a_thousand_channels_gets_each_message)
{
	chan_client *p = test_connect(&fixture), *q = test_connect(&fixture);
	chan_rxset *set = set_new(q);
	chan_rx **rxs = calloc(MANY_CHANNELS, sizeof(*rxs)), *from;
	chan_tx **tx = calloc(MANY_CHANNELS, sizeof(*tx));
	char *seen = calloc(MANY_CHANNELS, 1);
	chan_msg *m;
	char buf[32];
	int i, k;

	ck_assert(rxs != NULL && tx != NULL && seen != NULL);
	for (i = 0; i < MANY_CHANNELS; i++) {
		snprintf(buf, sizeof(buf), "many%d", i);
		rxs[i] = rx_open(q, buf, 1);
		set_add(set, rxs[i]);
		tx[i] = tx_open(p, buf);
	}
	/* From the last channel to the first, two each. */
	for (i = MANY_CHANNELS - 1; i >= 0; i--) {
		snprintf(buf, sizeof(buf), "%d", i);
		expect_rc(chan_tx_send_async(tx[i], buf, strlen(buf)), 0,
		    "chan_tx_send_async");
		expect_rc(chan_tx_send_async(tx[i], buf, strlen(buf)), 0,
		    "chan_tx_send_async");
	}
	for (i = 0; i < MANY_CHANNELS; i++)
		expect_rc(chan_tx_flush(tx[i]), 0, "chan_tx_flush");
	for (i = 0; i < 2 * MANY_CHANNELS; i++) {
		m = set_recv(set, &from);
		k = atoi(chan_msg_data(m));
		ck_assert_int_ge(k, 0);
		ck_assert_int_lt(k, MANY_CHANNELS);
		ck_assert_ptr_eq(from, rxs[k]);
		ck_assert_int_lt(seen[k]++, 2);
		chan_msg_free(m);
	}
	expect_rc(chan_rxset_recv(set, 0, &from, &m), CHAN_ETIMEDOUT,
	    "nothing more");
	set_done(set, p, q);
	free(rxs);
	free(tx);
	free(seen);
}
END_TEST

static Suite *
rxset_suite(void)
{
	Suite *s = suite_create("e2e_rxset");
	TCase *tc;

	tc = tcase_create("receiver sets");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_a_set_gets_every_message_in_order_and_each_disconnection);
	tcase_add_test(tc,
	    test_a_disconnected_member_is_reported_until_a_producer_comes);
	tcase_add_test(tc, test_a_busy_member_does_not_starve_the_others);
	tcase_add_test(tc, test_a_set_times_out_and_then_gets_a_late_message);
	tcase_add_test(tc, test_a_zero_timeout_sees_every_confirmed_send);
	tcase_add_test(tc,
	    test_membership_is_checked_and_a_removed_member_is_left_alone);
	tcase_add_test(tc, test_what_a_crashed_set_held_comes_again_marked);
	tcase_add_test(tc, test_a_nonblocking_consumer_takes_from_the_set);
	tcase_add_test(tc, test_a_set_of_a_thousand_channels_gets_each_message);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(rxset_suite());
}

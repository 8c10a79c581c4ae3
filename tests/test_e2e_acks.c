/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_acks.c: ACKS, acknowledgements and credit for many consumer
 * handles in one frame, against the real daemon: raw frames for what the
 * daemon must accept and refuse, the library for when it sends them.
 * What the daemon applied is read from its admin view (chanctl).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chanclient.h"
#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

#define CMD_MS		20000
#define FRAME_MAX	4096

/* chanctl channels --json on d. */
static char *
channels_json(const struct daemon *d)
{
	const char *argv[] = { CHANCTL_BIN, "--socket", d->sock, "channels",
	    "--json", NULL };
	struct cmd_result r;
	char *out;

	run_cmd(argv, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 0, "chanctl: exit %d: %s", r.code, r.err);
	out = r.out;
	r.out = NULL;
	cmd_result_fini(&r);
	return out;
}

/* Asserts the in-flight count and credit of channel name. */
static void
expect_channel(const struct daemon *d, const char *name, int in_flight,
    int credit)
{
	char want[128], *out, *row, *end;

	out = channels_json(d);
	snprintf(want, sizeof want, "{\"name\":\"%s\",", name);
	row = strstr(out, want);
	ck_assert_msg(row != NULL, "no channel %s in %s", name, out);
	/* The row ends with its last key. */
	if ((end = strstr(row, "\"log_bytes\"")) != NULL)
		*end = '\0';
	snprintf(want, sizeof want, "\"in_flight\":%d,", in_flight);
	ck_assert_msg(strstr(row, want) != NULL, "channel %s: not %s in %s",
	    name, want, row);
	snprintf(want, sizeof want, "\"credit\":%d,", credit);
	ck_assert_msg(credit < 0 || strstr(row, want) != NULL,
	    "channel %s: not %s in %s", name, want, row);
	free(out);
}

/* ACKS with rid and the entries; m is what answers rid. */
static void
acks_send(struct raw_conn *rc, uint32_t rid, const struct proto_ack_entry *e,
    uint32_t n, struct proto_msg *m)
{
	struct proto_buf b;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_acks(&b, rid, e, n), 0);
	raw_send(rc, &b);
	proto_buf_fini(&b);
	do
		raw_expect(rc, m);
	while (m->op == PROTO_DELIVER);
	ck_assert_uint_eq(m->rid, rid);
}

/*
 * One ACKS frame credits and acknowledges several channels; a frame with
 * one bad entry, wherever it is, changes nothing and gets the error that
 * entry would get alone.
 */
START_TEST(test_acks_applies_every_entry_or_none)
{
	struct proto_ack_entry e[3];
	struct raw_conn rc;
	struct proto_msg m;
	struct daemon d;
	chan_client *c;
	chan_tx *ta, *tb;
	uint32_t ha, hb;
	int i;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ta = tx_open(c, "a");
	tb = tx_open(c, "b");
	for (i = 0; i < 3; i++) {
		send_str(ta, "to a");
		send_str(tb, "to b");
	}
	raw_conn_open(&rc, &d, 1, FRAME_MAX);
	ha = raw_open_end(&rc, PROTO_OPEN_RX, 2, "a");
	hb = raw_open_end(&rc, PROTO_OPEN_RX, 3, "b");

	/* Credit for both in one frame: the OK, then a's three, b's three. */
	e[0] = (struct proto_ack_entry){ .handle = ha, .n = 5 };
	e[1] = (struct proto_ack_entry){ .handle = hb, .n = 4 };
	acks_send(&rc, 10, e, 2, &m);
	ck_assert_int_eq(m.op, PROTO_OK);
	for (i = 0; i < 6; i++) {
		raw_expect(&rc, &m);
		ck_assert_int_eq(m.op, PROTO_DELIVER);
		ck_assert_uint_eq(m.seq, (uint64_t)(i % 3 + 1));
	}
	expect_channel(&d, "a", 3, 2);
	expect_channel(&d, "b", 3, 1);

	/* A handle that does not exist after a good entry: nothing. */
	e[0] = (struct proto_ack_entry){ .handle = ha, .seq = 3 };
	e[1] = (struct proto_ack_entry){ .handle = hb + 100, .seq = 1 };
	acks_send(&rc, 11, e, 2, &m);
	ck_assert_int_eq(m.op, PROTO_ERROR);
	ck_assert_uint_eq(m.code, (uint32_t)-CHAN_EBADHANDLE);
	/* A seq beyond the last delivery. */
	e[1] = (struct proto_ack_entry){ .handle = hb, .seq = 4 };
	acks_send(&rc, 12, e, 2, &m);
	ck_assert_int_eq(m.op, PROTO_ERROR);
	ck_assert_uint_eq(m.code, (uint32_t)-CHAN_EPROTO);
	expect_channel(&d, "a", 3, 2);
	expect_channel(&d, "b", 3, 1);

	/* Good entries: acknowledged, the same handle twice included. */
	e[0] = (struct proto_ack_entry){ .handle = ha, .seq = 2 };
	e[1] = (struct proto_ack_entry){ .handle = hb, .seq = 3, .n = 1 };
	e[2] = (struct proto_ack_entry){ .handle = ha, .seq = 3 };
	acks_send(&rc, 13, e, 3, &m);
	ck_assert_int_eq(m.op, PROTO_OK);
	expect_channel(&d, "a", 0, 2);
	expect_channel(&d, "b", 0, 2);

	raw_conn_close(&rc);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* The daemon says in its WELCOME that it serves ACKS. */
START_TEST(test_welcome_announces_acks)
{
	struct raw_conn rc;
	struct proto_buf b;
	struct proto_msg m;
	struct daemon d;

	daemon_start(&d, NULL);
	raw_conn_open(&rc, &d, 0, FRAME_MAX);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_hello(&b, 1, "test"), 0);
	raw_send(&rc, &b);
	proto_buf_fini(&b);
	raw_expect(&rc, &m);
	ck_assert_int_eq(m.op, PROTO_WELCOME);
	ck_assert_uint_eq(m.features & PROTO_FEAT_ACKS, PROTO_FEAT_ACKS);
	raw_conn_close(&rc);
	daemon_stop(&d);
}
END_TEST

/*
 * A consumer of two channels that takes every message of one and then
 * waits on the other: the acknowledgements of the first go with that
 * wait, although the first receiver never waited after taking them.
 */
START_TEST(test_waiting_on_one_receiver_acknowledges_the_others)
{
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;
	struct daemon d;
	chan_client *pc, *cc;
	chan_tx *ta, *tb;
	chan_rx *ra, *rb;
	int i;

	daemon_start(&d, NULL);
	pc = test_connect(&d);
	cc = test_connect(&d);
	ta = tx_open(pc, "a");
	tb = tx_open(pc, "b");
	opts.prefetch = 8;
	expect_rc(chan_rx_open_ex(cc, "a", 1, &opts, &ra), 0, "open a");
	expect_rc(chan_rx_open_ex(cc, "b", 1, &opts, &rb), 0, "open b");
	for (i = 0; i < 3; i++)
		send_str(ta, "to a");
	send_str(tb, "to b");

	/*
	 * a's last acknowledgement (seq 3) is owed once its third message is
	 * taken; a does not wait again, b does: it goes with b's credit.
	 */
	for (i = 0; i < 3; i++)
		chan_msg_free(recv_msg(ra));
	chan_msg_free(recv_msg(rb));
	/*
	 * Read from the producers' rings, they used no credit and are not in
	 * flight in the daemon's view; what credit there is depends on
	 * whether the first receive waited (-1: not checked).
	 */
	expect_channel(&d, "a", 0, e2e_direct_path() ? -1 : 5);
	expect_channel(&d, "b", e2e_direct_path() ? 0 : 1,
	    e2e_direct_path() ? -1 : 7);
	/*
	 * Nothing more on b: its own acknowledgement goes with the look, and
	 * the look, over without a message, takes b's credit back (RECALL).
	 */
	expect_try_rc(rb, CHAN_EEMPTY);
	expect_channel(&d, "b", 0, 0);

	chan_disconnect(cc);
	chan_disconnect(pc);
	daemon_stop(&d);
}
END_TEST

/*
 * Many receivers, each with messages taken and not yet acknowledged:
 * one wait acknowledges them all (more than one ACKS frame holds).
 */
START_TEST(test_many_receivers_are_acknowledged_together)
{
	enum { NCH = PROTO_ACKS_MAX * 2 + 7 };
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;
	static chan_rx *rx[NCH];
	static chan_tx *tx[NCH];
	struct daemon d;
	chan_client *pc, *cc;
	char name[32], *out, *p;
	int i, n;
	const char *args[] = { "--max-handles", "2000", NULL };

	daemon_start(&d, args);
	pc = test_connect(&d);
	cc = test_connect(&d);
	opts.prefetch = 4;
	for (i = 0; i < NCH; i++) {
		snprintf(name, sizeof name, "ch%d", i);
		tx[i] = tx_open(pc, name);
		expect_rc(chan_rx_open_ex(cc, name, strlen(name), &opts,
		    &rx[i]), 0, "open rx");
		send_str(tx[i], "one");
		send_str(tx[i], "two");
	}
	/* The first of each: channel i's wait acknowledges the others. */
	for (i = 0; i < NCH; i++)
		chan_msg_free(recv_msg(rx[i]));
	/* The second is buffered: taking it sends nothing, the look does. */
	for (i = 0; i < NCH; i++)
		chan_msg_free(recv_msg(rx[i]));
	expect_try_rc(rx[0], CHAN_EEMPTY);
	out = channels_json(&d);
	for (n = 0, p = out; (p = strstr(p, "\"in_flight\":0,")) != NULL; p++)
		n++;
	ck_assert_msg(n == NCH, "%d of %d channels with nothing in flight: "
	    "%s", n, NCH, out);
	free(out);
	/* The look refilled ch0's window, then, empty, took it back. */
	expect_channel(&d, "ch0", 0, 0);
	chan_disconnect(cc);
	chan_disconnect(pc);
	daemon_stop(&d);
}
END_TEST

/*
 * chan_select over many receivers, two with something: each in the order
 * it got it, and a receiver with more behind it goes behind the other.
 */
START_TEST(test_select_over_many_receivers_serves_each_in_turn)
{
	enum { NCH = 600 };
	static chan_rx *rx[NCH];
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;
	static const size_t want[] = { 0, NCH - 1, 0, 0, 0, 0 };
	struct daemon d;
	chan_client *pc, *cc;
	chan_tx *busy, *quiet;
	chan_msg *m;
	char name[32];
	size_t i, k;

	daemon_start(&d, NULL);
	pc = test_connect(&d);
	cc = test_connect(&d);
	opts.prefetch = 8;
	for (i = 0; i < NCH; i++) {
		snprintf(name, sizeof name, "s%zu", i);
		expect_rc(chan_rx_open_ex(cc, name, strlen(name), &opts,
		    &rx[i]), 0, "open rx");
		/* Credit now, so that what is sent is delivered at once. */
		expect_try_rc(rx[i], CHAN_EEMPTY);
	}
	busy = tx_open(pc, "s0");
	snprintf(name, sizeof name, "s%d", NCH - 1);
	quiet = tx_open(pc, name);
	for (i = 0; i < 5; i++)
		send_str(busy, "busy");
	send_str(quiet, "quiet");
	/* A round trip on the consumer: every delivery is buffered. */
	expect_try_rc(rx[1], CHAN_EEMPTY);

	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		expect_rc(chan_select(rx, NCH, 0, &k, &m), 0, "select");
		ck_assert_msg(k == want[i], "select %zu: receiver %zu, not %zu",
		    i, k, want[i]);
		ck_assert_uint_eq(chan_msg_len(m), k == 0 ? 4 : 5);
		ck_assert_mem_eq(chan_msg_data(m), k == 0 ? "busy" : "quiet",
		    chan_msg_len(m));
		chan_msg_free(m);
	}
	expect_rc(chan_select(rx, NCH, 0, &k, &m), CHAN_ETIMEDOUT,
	    "select with nothing left");
	chan_disconnect(cc);
	chan_disconnect(pc);
	daemon_stop(&d);
}
END_TEST

static Suite *
acks_suite(void)
{
	Suite *s = suite_create("e2e_acks");
	TCase *tc = tcase_create("acks");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_acks_applies_every_entry_or_none);
	tcase_add_test(tc, test_welcome_announces_acks);
	tcase_add_test(tc,
	    test_waiting_on_one_receiver_acknowledges_the_others);
	tcase_add_test(tc, test_many_receivers_are_acknowledged_together);
	tcase_add_test(tc,
	    test_select_over_many_receivers_serves_each_in_turn);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(acks_suite());
}

/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_stop.c: what a stop (SIGTERM) says about the messages it
 * drops. The real daemon is given queued messages on several channels
 * through the library (and one delivered but never acknowledged, through
 * a raw consumer still connected), stopped by pid with SIGTERM, and its
 * log must count the messages and channels of in-memory channels that
 * were dropped, name the fullest channels up to ten and count the rest,
 * and count what durable channels keep in their logs.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chanclient.h"
#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

#define FRAME_MAX	4096

/* Sends n messages "<name>-<i>" on name and closes the transmitter. */
static void
fill(chan_client *c, const char *name, int n)
{
	chan_tx	*tx;
	char	 buf[64];
	int	 i;

	tx = tx_open(c, name);
	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof buf, "%s-%d", name, i);
		send_str(tx, buf);
	}
	chan_tx_close(tx);
}

/* The log must hold this exact line. */
static void
expect_line(const char *log, const char *line)
{
	char	want[512];

	snprintf(want, sizeof want, "chand: %s\n", line);
	ck_assert_msg(strstr(log, want) != NULL, "no line \"%s\" in the "
	    "log:\n%s", line, log);
}

static void
expect_no(const char *log, const char *text)
{
	ck_assert_msg(strstr(log, text) == NULL, "\"%s\" in the log:\n%s",
	    text, log);
}

/*
 * Two channels with queued messages, one of them with a message in
 * flight to a consumer that never acknowledges it, and a drained one:
 * 3 + 5 dropped, the fuller channel named first, the drained one not.
 */
START_TEST(test_stop_counts_dropped_messages_per_channel)
{
	struct daemon	 d;
	struct raw_conn	 rc;
	struct proto_msg m;
	chan_client	*c;
	chan_rx		*rx;
	char		*log, *alpha, *beta;
	uint32_t	 h;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	fill(c, "alpha", 3);		/* alpha-0 .. alpha-2: 21 bytes */
	fill(c, "beta", 5);		/* beta-0 .. beta-4: 30 bytes */
	fill(c, "drained", 2);
	rx = rx_open(c, "drained", 0);
	expect_str(rx, "drained-0");
	expect_str(rx, "drained-1");
	chan_rx_close(rx);

	/* One of beta's messages is delivered, not acknowledged. */
	raw_conn_open(&rc, &d, 1, FRAME_MAX);
	h = raw_open_end(&rc, PROTO_OPEN_RX, 2, "beta");
	raw_credit(&rc, 0, h, 1);
	raw_expect(&rc, &m);
	ck_assert_int_eq(m.op, PROTO_DELIVER);

	log = daemon_stop_log(&d);
	raw_conn_close(&rc);
	chan_disconnect(c);
	expect_line(log, "warning: stop: dropped 8 message(s) (51 bytes) "
	    "queued in 2 in-memory channel(s)");
	beta = strstr(log, "warning: stop: dropped 5 message(s) of channel "
	    "'beta'\n");
	alpha = strstr(log, "warning: stop: dropped 3 message(s) of channel "
	    "'alpha'\n");
	ck_assert_msg(beta != NULL && alpha != NULL && beta < alpha,
	    "channels not named, fullest first:\n%s", log);
	expect_no(log, "'drained'");
	expect_no(log, "more channel(s)");
	expect_no(log, "durable channel(s)");
	free(log);
}
END_TEST

/*
 * Twelve channels holding 1 to 12 messages: the ten fullest are named
 * (12 down to 3) and the other two are counted (1 + 2 messages).
 */
START_TEST(test_stop_names_ten_channels_then_counts_the_rest)
{
	struct daemon	 d;
	chan_client	*c;
	char		 name[32], line[128], *log, *prev, *at;
	int		 i;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	for (i = 1; i <= 12; i++) {
		snprintf(name, sizeof name, "ch%02d", i);
		fill(c, name, i);
	}
	chan_disconnect(c);
	log = daemon_stop_log(&d);
	expect_line(log, "warning: stop: dropped 78 message(s) (471 bytes) "
	    "queued in 12 in-memory channel(s)");
	prev = log;
	for (i = 12; i >= 3; i--) {
		snprintf(line, sizeof line, "warning: stop: dropped %d "
		    "message(s) of channel 'ch%02d'\n", i, i);
		at = strstr(log, line);
		ck_assert_msg(at != NULL && at > prev, "'ch%02d' not named "
		    "in order:\n%s", i, log);
		prev = at;
	}
	expect_no(log, "'ch02'");
	expect_no(log, "'ch01'");
	expect_line(log, "warning: stop: dropped 3 message(s) of 2 more "
	    "channel(s)");
	free(log);
}
END_TEST

/* Nothing queued: the stop says so, at info level. */
START_TEST(test_stop_with_nothing_queued_says_so)
{
	struct daemon	 d;
	char		*log;

	daemon_start(&d, NULL);
	assert_serves(&d);
	log = daemon_stop_log(&d);
	expect_line(log, "info: stop: no message dropped: no in-memory "
	    "channel holds one");
	expect_no(log, "warning: stop:");
	free(log);
}
END_TEST

/* Durable channels keep their messages: counted apart, not as dropped. */
START_TEST(test_stop_counts_durable_messages_as_kept)
{
	struct daemon	 d;
	chan_client	*c;
	char		 data[PATH_MAX], *log;
	const char	*args[] = { "--data-dir", data, "--durable", "keep.*",
	    NULL };

	make_dir(data, sizeof data);
	daemon_start(&d, args);
	c = test_connect(&d);
	fill(c, "keep.a", 4);		/* keep.a-0 ..: 32 bytes */
	fill(c, "keep.b", 1);		/* 8 bytes */
	fill(c, "mem", 2);		/* mem-0, mem-1: 10 bytes */
	chan_disconnect(c);
	log = daemon_stop_log(&d);
	expect_line(log, "info: stop: 5 message(s) (40 bytes) kept in the "
	    "logs of 2 durable channel(s)");
	expect_line(log, "warning: stop: dropped 2 message(s) (10 bytes) "
	    "queued in 1 in-memory channel(s)");
	expect_line(log, "warning: stop: dropped 2 message(s) of channel "
	    "'mem'");
	expect_no(log, "'keep.");
	free(log);

	/* What the log said was kept is there after a restart. */
	daemon_start(&d, args);
	c = test_connect(&d);
	log = chanctl(&d, 0, (const char *const[]){ "--json", "channels",
	    NULL });
	expect_in(log, "\"keep.a\"");
	expect_in(log, "\"keep.b\"");
	ck_assert_msg(strstr(log, "\"mem\"") == NULL, "mem came back:\n%s",
	    log);
	free(log);
	chan_disconnect(c);
	daemon_stop(&d);
	remove_tree(data);
}
END_TEST

static Suite *
stop_suite(void)
{
	Suite	*s = suite_create("e2e_stop");
	TCase	*tc = tcase_create("stop");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_stop_counts_dropped_messages_per_channel);
	tcase_add_test(tc, test_stop_names_ten_channels_then_counts_the_rest);
	tcase_add_test(tc, test_stop_with_nothing_queued_says_so);
	tcase_add_test(tc, test_stop_counts_durable_messages_as_kept);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return harness_main(stop_suite());
}

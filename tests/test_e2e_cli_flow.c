/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_cli_flow.c: chan-send's and chan-recv's flow-control options,
 * pipelined standard input, several channels with --format, the exit
 * codes for full, capacity, limit, and the libuv example program driving
 * the non-blocking API, against a real chand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"

#define CMD_MS		(3 * HARNESS_WAIT_MS)
#define STDIN_LINES	5000	/* their output fits in a pipe's buffer */
#define LINE_BUF	256

static void
setup_limited(void)
{
	static const char *const args[] = { "--max-queued-messages", "5",
	    NULL };

	fixture_setup_args(args);
}

/* chan-send. */

START_TEST(test_try_exits_9_on_a_full_channel_and_timeout_exits_5)
{
	const char *fill[] = { CHAN_SEND_BIN, "--capacity", "1", "q", "a",
	    NULL };
	const char *try[] = { CHAN_SEND_BIN, "--try", "q", "b", NULL };
	const char *timed[] = { CHAN_SEND_BIN, "-t", "0.05", "q", "c", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "-n", "q", NULL };
	struct cmd_result r;

	cli_run(fill, NULL, 0, &r);
	assert_ok(&r);
	cmd_result_fini(&r);
	cli_run(try, NULL, 0, &r);
	assert_fails_with(&r, 9, "'q' is full");
	cmd_result_fini(&r);
	cli_run(timed, NULL, 0, &r);
	assert_fails_with(&r, 5, "q");
	cmd_result_fini(&r);
	cli_run(recv, NULL, 0, &r);
	assert_ok(&r);
	ck_assert_str_eq(r.out, "a\n");
	cmd_result_fini(&r);
	cli_run(try, NULL, 0, &r);
	assert_ok(&r);
	cmd_result_fini(&r);
}
END_TEST

START_TEST(test_capacity_that_differs_exits_10)
{
	const char *make[] = { CHAN_SEND_BIN, "--capacity", "3", "sized", "x",
	    NULL };
	const char *other[] = { CHAN_SEND_BIN, "--capacity", "4", "sized", "y",
	    NULL };
	const char *bytes[] = { CHAN_RECV_BIN, "-n", "--capacity-bytes",
	    "unbounded", "sized", NULL };
	const char *same[] = { CHAN_RECV_BIN, "-n", "--capacity", "3", "sized",
	    NULL };
	struct cmd_result r;

	cli_run(make, NULL, 0, &r);
	assert_ok(&r);
	cmd_result_fini(&r);
	cli_run(other, NULL, 0, &r);
	assert_fails_with(&r, 10, "sized");
	cmd_result_fini(&r);
	cli_run(bytes, NULL, 0, &r);
	assert_fails_with(&r, 10, "sized");
	cmd_result_fini(&r);
	cli_run(same, NULL, 0, &r);
	assert_ok(&r);
	ck_assert_str_eq(r.out, "x\n");
	cmd_result_fini(&r);
}
END_TEST

START_TEST(test_bad_capacity_and_try_with_timeout_are_usage_errors)
{
	const char *neg[] = { CHAN_SEND_BIN, "--capacity", "-1", "q", NULL };
	const char *big[] = { CHAN_SEND_BIN, "--capacity", "4294967296", "q",
	    NULL };
	const char *zero[] = { CHAN_RECV_BIN, "--capacity-bytes", "0", "q",
	    NULL };
	const char *both[] = { CHAN_SEND_BIN, "-T", "-t", "1", "q", NULL };
	const char *fmt[] = { CHAN_RECV_BIN, "--format", "%x", "q", NULL };
	const char *const *argvs[] = { neg, big, zero, both, fmt };
	struct cmd_result r;
	size_t i;

	for (i = 0; i < sizeof(argvs) / sizeof(argvs[0]); i++) {
		cli_run(argvs[i], NULL, 0, &r);
		assert_fails_with(&r, 2, "--help");
		cmd_result_fini(&r);
	}
}
END_TEST

START_TEST(test_stdin_lines_are_pipelined_into_a_small_channel_in_order)
{
	const char *send[] = { CHAN_SEND_BIN, "lines", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "--follow", "lines", NULL };
	chan_client *c = test_connect(&fixture);
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	struct cmd_result r;
	struct proc consumer;
	chan_tx *owner;
	size_t len;
	char *in, *out;
	size_t got = 0;
	ssize_t n;
	char line[LINE_BUF];

	/* The channel is made small first, so that chan-send waits on it. */
	o.capacity = 100;
	expect_rc(chan_tx_open_ex(c, "lines", 5, &o, &owner), 0, "open");
	in = numbered_lines(STDIN_LINES, &len);
	proc_spawn(&consumer, recv);
	cli_run(send, in, len, &r);
	assert_ok(&r);
	cmd_result_fini(&r);
	expect_rc(chan_tx_close(owner), 0, "close");
	out = malloc(len + 1);
	ck_assert_ptr_nonnull(out);
	while ((n = proc_read_line(&consumer, line, sizeof(line),
	    HARNESS_WAIT_MS)) >= 0) {
		ck_assert_uint_le(got + (size_t)n + 1, len);
		memcpy(out + got, line, (size_t)n);
		got += (size_t)n;
		out[got++] = '\n';
	}
	ck_assert_int_eq(proc_wait(&consumer, HARNESS_WAIT_MS), 0);
	ck_assert_uint_eq(got, len);
	ck_assert_msg(memcmp(out, in, len) == 0, "lines differ");
	free(out);
	free(in);
	chan_disconnect(c);
}
END_TEST

START_TEST(test_stdin_send_refused_by_a_limit_exits_11_naming_the_send)
{
	const char *send[] = { CHAN_SEND_BIN, "over", NULL };
	struct cmd_result r;
	size_t len;
	char *in = numbered_lines(8, &len);

	/* The daemon queues 5 messages in all: the sixth is refused. */
	cli_run(send, in, len, &r);
	assert_fails_with(&r, 11, "pipelined send 6");
	cmd_result_fini(&r);
	free(in);
}
END_TEST

/* chan-recv with several channels. */

START_TEST(test_follow_of_three_channels_prints_names_and_ends_when_all_left)
{
	const char *recv[] = { CHAN_RECV_BIN, "--follow", "--format",
	    "%c=%m%%\\n", "ma", "mb", "mc", NULL };
	chan_client *c = test_connect(&fixture);
	chan_tx *tx[3];
	struct proc p;
	char line[LINE_BUF], want[LINE_BUF], *err;
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "m%c", 'a' + i);
		tx[i] = tx_open(c, want);
	}
	proc_spawn(&p, recv);
	/* One channel at a time: each line names its channel. */
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "v%d", i);
		send_str(tx[i], want);
		snprintf(want, sizeof(want), "m%c=v%d%%", 'a' + i, i);
		ck_assert_int_ge(proc_read_line(&p, line, sizeof(line),
		    HARNESS_WAIT_MS), 0);
		ck_assert_str_eq(line, want);
	}
	/* mb's producer leaves first; the others still deliver. */
	expect_rc(chan_tx_close(tx[1]), 0, "close mb");
	send_str(tx[2], "late%");
	ck_assert_int_ge(proc_read_line(&p, line, sizeof(line),
	    HARNESS_WAIT_MS), 0);
	ck_assert_str_eq(line, "mc=late%%");
	expect_rc(chan_tx_close(tx[0]), 0, "close ma");
	expect_rc(chan_tx_close(tx[2]), 0, "close mc");
	ck_assert_int_eq(proc_read_line(&p, line, sizeof(line),
	    HARNESS_WAIT_MS), -1);
	err = proc_read_err(&p, NULL, HARNESS_WAIT_MS);
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "channel 'm%c' is disconnected",
		    'a' + i);
		ck_assert_msg(strstr(err, want) != NULL, "no \"%s\" in: %s",
		    want, err);
	}
	free(err);
	ck_assert_int_eq(proc_wait(&p, HARNESS_WAIT_MS), 0);
	chan_disconnect(c);
}
END_TEST

START_TEST(test_single_receive_from_several_channels_and_its_exit_codes)
{
	const char *nb[] = { CHAN_RECV_BIN, "-n", "x1", "x2", NULL };
	const char *one[] = { CHAN_RECV_BIN, "x1", "x2", NULL };
	const char *timed[] = { CHAN_RECV_BIN, "-t", "0.05", "x1", "x2", NULL };
	chan_client *c = test_connect(&fixture);
	chan_tx *tx1 = tx_open(c, "x1"), *tx2 = tx_open(c, "x2");
	struct cmd_result r;

	cli_run(nb, NULL, 0, &r);
	assert_fails_with(&r, 4, "empty");
	cmd_result_fini(&r);
	cli_run(timed, NULL, 0, &r);
	assert_fails_with(&r, 5, "2 channels");
	cmd_result_fini(&r);
	send_str(tx2, "two");
	cli_run(one, NULL, 0, &r);
	assert_ok(&r);
	ck_assert_str_eq(r.out, "x2\ttwo\n");
	cmd_result_fini(&r);
	expect_rc(chan_tx_close(tx1), 0, "close x1");
	expect_rc(chan_tx_close(tx2), 0, "close x2");
	chan_disconnect(c);
}
END_TEST

/* The libuv example. */

START_TEST(test_libuv_example_consumes_three_channels_and_forwards)
{
	const char *uvc[] = { UV_CONSUMER_BIN, "--forward", "out", "u0", "u1",
	    "u2", NULL };
	chan_client *c = test_connect(&fixture);
	chan_tx *tx[3];
	chan_rx *out;
	chan_msg *m;
	struct proc p;
	char line[LINE_BUF], name[8], want[LINE_BUF];
	int i, j, next[3] = { 0, 0, 0 }, seen = 0;

	proc_spawn(&p, uvc);
	ck_assert_int_ge(proc_read_line(&p, line, sizeof(line),
	    HARNESS_WAIT_MS), 0);
	ck_assert_str_eq(line, "ready");
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		tx[i] = tx_open(c, name);
	}
	for (j = 0; j < 100; j++) {
		for (i = 0; i < 3; i++) {
			snprintf(want, sizeof(want), "%d-%d", i, j);
			expect_rc(chan_tx_send_async(tx[i], want, strlen(want)),
			    0, "send_async");
		}
	}
	for (i = 0; i < 3; i++)
		expect_rc(chan_tx_close(tx[i]), 0, "close");
	while (proc_read_line(&p, line, sizeof(line), HARNESS_WAIT_MS) >= 0) {
		ck_assert_msg(line[0] == 'u' && line[2] == '\t', "%s", line);
		i = line[1] - '0';
		snprintf(want, sizeof(want), "u%d\t%d-%d", i, i, next[i]++);
		ck_assert_str_eq(line, want);
	}
	ck_assert_int_eq(proc_wait(&p, HARNESS_WAIT_MS), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(next[i], 100);
	/* Every forwarded message, each channel's in its order. */
	memset(next, 0, sizeof(next));
	ck_assert_int_eq(chan_rx_open(c, "out", &out), 0);
	while (seen < 300) {
		m = recv_msg(out);
		i = ((const char *)chan_msg_data(m))[0] - '0';
		snprintf(want, sizeof(want), "%d-%d", i, next[i]++);
		ck_assert_str_eq(chan_msg_data(m), want);
		chan_msg_free(m);
		seen++;
	}
	chan_disconnect(c);
}
END_TEST

static Suite *
cli_flow_suite(void)
{
	Suite *s = suite_create("e2e_cli_flow");
	TCase *tc;

	tc = tcase_create("chan-send");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_try_exits_9_on_a_full_channel_and_timeout_exits_5);
	tcase_add_test(tc, test_capacity_that_differs_exits_10);
	tcase_add_test(tc,
	    test_bad_capacity_and_try_with_timeout_are_usage_errors);
	tcase_add_test(tc,
	    test_stdin_lines_are_pipelined_into_a_small_channel_in_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup_limited,
	    fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_stdin_send_refused_by_a_limit_exits_11_naming_the_send);
	suite_add_tcase(s, tc);

	tc = tcase_create("several channels and event loops");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_follow_of_three_channels_prints_names_and_ends_when_all_left);
	tcase_add_test(tc,
	    test_single_receive_from_several_channels_and_its_exit_codes);
	tcase_add_test(tc,
	    test_libuv_example_consumes_three_channels_and_forwards);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(cli_flow_suite());
}

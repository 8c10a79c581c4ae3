/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_limits.c: the limits that defend the daemon against clients
 * that hold resources for nothing: --max-channels and --idle-timeout,
 * each with its typed error (LIMIT) and one log line, against a real
 * chand. (The connection, handle, message size, queue and output limits
 * have their tests with the features they bound.)
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

static struct daemon	d;

/* Number of times needle occurs in hay. */
static int
count_in(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static int
try_tx(chan_client *c, const char *name, chan_tx **tx)
{
	*tx = NULL;
	return chan_tx_open(c, name, tx);
}

START_TEST(test_max_channels_refuses_a_new_channel_only)
{
	const char *args[] = { "--max-channels", "3", NULL };
	chan_client *c;
	chan_tx *tx[4], *again, *extra;
	char *log;

	daemon_start(&d, args);
	c = test_connect(&d);
	tx[0] = tx_open(c, "a");
	tx[1] = tx_open(c, "b");
	tx[2] = tx_open(c, "c");
	expect_rc(try_tx(c, "d", &extra), CHAN_ELIMIT, "open of a 4th channel");
	ck_assert_msg(strstr(chan_client_errmsg(c), "channel limit of 3") &&
	    strstr(chan_client_errmsg(c), "'d'") &&
	    strstr(chan_client_errmsg(c), "--max-channels"),
	    "errmsg: %s", chan_client_errmsg(c));
	expect_rc(try_tx(c, "e", &extra), CHAN_ELIMIT, "open of another");
	/* Channels that exist take more handles. */
	again = tx_open(c, "a");
	chan_tx_close(again);

	/* A channel that holds a message counts after its handles close. */
	send_str(tx[2], "kept");
	chan_tx_close(tx[2]);
	expect_rc(try_tx(c, "d", &extra), CHAN_ELIMIT, "open while c holds");
	/* One that is forgotten frees its place. */
	chan_tx_close(tx[1]);
	tx[3] = tx_open(c, "d");
	expect_rc(try_tx(c, "e", &extra), CHAN_ELIMIT, "open past the limit");

	chan_tx_close(tx[0]);
	chan_tx_close(tx[3]);
	chan_disconnect(c);
	assert_serves(&d);
	log = daemon_log(&d);
	/* One line per time the limit is reached, not per refusal. */
	ck_assert_msg(count_in(log, "channel limit of 3 reached") == 2,
	    "log: %s", log);
	free(log);
	daemon_stop(&d);
}
END_TEST

/* Reads one frame and asserts it is ERROR(code) mentioning text. */
static void
expect_error_frame(int fd, int code, const char *text)
{
	struct proto_decoder *dec;
	struct proto_msg m;
	char body[1024];
	ssize_t n;

	n = raw_read_frame(fd, body, sizeof body, HARNESS_WAIT_MS);
	ck_assert_msg(n > 0, "connection closed without an ERROR");
	ck_assert_ptr_nonnull(dec = proto_decoder_new(1024));
	ck_assert_int_eq(proto_decode(dec, body, (size_t)n, &m), 0);
	ck_assert_msg(m.op == PROTO_ERROR && m.code == (uint32_t)-code,
	    "got %s code %u", proto_op_name((int)m.op), m.code);
	ck_assert_msg(memmem(m.text, m.text_len, text, strlen(text)) != NULL,
	    "ERROR says '%.*s'", (int)m.text_len, m.text);
	proto_decoder_free(dec);
}

static void
send_frame(int fd, int (*enc)(struct proto_buf *), size_t cut)
{
	struct proto_buf b;

	proto_buf_init(&b);
	ck_assert_int_eq(enc(&b), 0);
	raw_write(fd, b.data, cut != 0 ? cut : b.len);
	proto_buf_fini(&b);
}

static int
enc_open_tx(struct proto_buf *b)
{
	return proto_enc_open(b, PROTO_OPEN_TX, 2, "idle", 4);
}

static int
enc_ping(struct proto_buf *b)
{
	return proto_enc_ping(b, 3);
}

/* Reads the reply to a request and asserts its op. */
static void
expect_op(int fd, enum proto_op op)
{
	struct proto_decoder *dec;
	struct proto_msg m;
	char body[1024];
	ssize_t n;

	n = raw_read_frame(fd, body, sizeof body, HARNESS_WAIT_MS);
	ck_assert_msg(n > 0, "connection closed, %s expected",
	    proto_op_name((int)op));
	ck_assert_ptr_nonnull(dec = proto_decoder_new(1024));
	ck_assert_int_eq(proto_decode(dec, body, (size_t)n, &m), 0);
	ck_assert_msg(m.op == op, "got %s, want %s",
	    proto_op_name((int)m.op), proto_op_name((int)op));
	proto_decoder_free(dec);
}

/*
 * With --idle-timeout 1, a connection with no channel open and one stuck
 * halfway through a frame are closed with LIMIT; one holding a channel
 * open is not. It connected and last spoke first, so its timer ran out
 * first: when the others are closed it has been idle as long.
 */
START_TEST(test_idle_timeout_closes_idle_and_stalled_connections_only)
{
	const char *args[] = { "--idle-timeout", "1", NULL };
	char buf[16], *log;
	int holder, idle, stalled;

	daemon_start(&d, args);
	holder = raw_connect(&d);
	raw_hello(holder);
	send_frame(holder, enc_open_tx, 0);
	expect_op(holder, PROTO_HANDLE);
	idle = raw_connect(&d);
	raw_hello(idle);
	stalled = raw_connect(&d);
	raw_hello(stalled);
	send_frame(stalled, enc_ping, 3);

	expect_error_frame(idle, CHAN_ELIMIT, "no channel open");
	ck_assert_int_eq(raw_read_frame(idle, buf, sizeof buf,
	    HARNESS_WAIT_MS), -1);
	expect_error_frame(stalled, CHAN_ELIMIT, "part of a frame");
	ck_assert_int_eq(raw_read_frame(stalled, buf, sizeof buf,
	    HARNESS_WAIT_MS), -1);
	send_frame(holder, enc_ping, 0);
	expect_op(holder, PROTO_OK);

	close(idle);
	close(stalled);
	close(holder);
	log = daemon_log(&d);
	ck_assert_msg(count_in(log, "idle timeout: nothing sent for 1 s") == 2,
	    "log: %s", log);
	free(log);
	daemon_stop(&d);
}
END_TEST

/* Without --idle-timeout, an idle connection stays (past the others'). */
START_TEST(test_no_idle_timeout_by_default)
{
	const char *args[] = { "--idle-timeout", "1", NULL };
	struct daemon d2;
	int quiet, idle;
	char buf[16];

	daemon_start(&d, NULL);
	quiet = raw_connect(&d);
	raw_hello(quiet);
	/* A second daemon with the timeout is the clock. */
	daemon_start(&d2, args);
	idle = raw_connect(&d2);
	raw_hello(idle);
	expect_error_frame(idle, CHAN_ELIMIT, "no channel open");
	ck_assert_int_eq(raw_read_frame(idle, buf, sizeof buf,
	    HARNESS_WAIT_MS), -1);
	send_frame(quiet, enc_ping, 0);
	expect_op(quiet, PROTO_OK);
	close(idle);
	close(quiet);
	daemon_stop(&d2);
	daemon_stop(&d);
}
END_TEST

static Suite *
limits_suite(void)
{
	Suite *s = suite_create("e2e_limits");
	TCase *tc = tcase_create("limits");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_max_channels_refuses_a_new_channel_only);
	tcase_add_test(tc,
	    test_idle_timeout_closes_idle_and_stalled_connections_only);
	tcase_add_test(tc, test_no_idle_timeout_by_default);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(limits_suite());
}

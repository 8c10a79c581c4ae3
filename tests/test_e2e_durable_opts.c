/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_durable_opts.c: the surfaces of durable channels against the
 * real daemon: its options (--help, ranges, reload), the "durable" open
 * option through the library and the CLIs, refusals (DISK without
 * --data-dir, CAPACITY for other durability), and the admin view's
 * durability fields. What survives a restart is tested in
 * test_e2e_durable.c.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "chanclient.h"
#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

#define CMD_MS		20000

static void
run(const char *const *argv, struct cmd_result *r)
{
	run_cmd(argv, NULL, 0, CMD_MS, r);
}

/* chanctl --json ARG on d: its stdout, which the caller frees. */
static char *
ctl_json(const struct daemon *d, const char *what)
{
	return chanctl(d, 0, (const char *const[]){ "--json", what, NULL });
}

static chan_tx *
tx_open_durable(chan_client *c, const char *name, int durable, int want)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_tx *tx = NULL;

	o.durable = durable;
	expect_rc(chan_tx_open_ex(c, name, strlen(name), &o, &tx), want,
	    name);
	return tx;
}

/* Squeezes each run of blanks and newlines in s to one space. */
static void
squeeze(char *s)
{
	char *o = s;
	int blank = 0;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\n') {
			if (!blank)
				*o++ = ' ';
			blank = 1;
		} else {
			*o++ = *s;
			blank = 0;
		}
	}
	*o = '\0';
}

START_TEST(test_help_lists_each_durability_option_with_its_default)
{
	const char *argv[] = { CHAND_BIN, "--help", NULL };
	struct cmd_result r;

	run(argv, &r);
	ck_assert_int_eq(r.code, 0);
	squeeze(r.out);
	expect_in(r.out, "--data-dir PATH");
	expect_in(r.out, "--durable PATTERNS");
	expect_in(r.out, "--sync always|periodic|os");
	expect_in(r.out, "(default: always)");
	expect_in(r.out, "--sync-interval MS");
	expect_in(r.out, "(default: 1000; range 1 to 60000)");
	expect_in(r.out, "--segment-size BYTES");
	expect_in(r.out, "(default: 16M; range 64K to 1G)");
	cmd_result_fini(&r);
}
END_TEST

/* A bad value exits 2 naming the option, before anything is bound. */
static void
expect_usage_error(const char *opt, const char *val, const char *why)
{
	char dir[PATH_MAX], sock[PATH_MAX];
	const char *argv[] = { CHAND_BIN, "--socket", sock, opt, val, NULL };
	struct cmd_result r;

	make_dir(dir, sizeof dir);
	path_join(sock, sizeof sock, dir, "chand.sock");
	run(argv, &r);
	ck_assert_msg(r.code == 2, "%s %s: exit %d", opt, val, r.code);
	expect_in(r.err, why);
	ck_assert_msg(access(sock, F_OK) < 0, "socket created anyway");
	cmd_result_fini(&r);
	rmdir(dir);
}

START_TEST(test_durability_options_out_of_range_exit_2)
{
	expect_usage_error("--sync", "sometimes", "--sync: 'sometimes' is "
	    "not one of always, periodic, os");
	expect_usage_error("--sync-interval", "0", "--sync-interval: 0 is "
	    "out of range (1 to 60000)");
	expect_usage_error("--sync-interval", "60001", "--sync-interval: "
	    "60001 is out of range");
	expect_usage_error("--segment-size", "65535", "--segment-size: 65535 "
	    "is out of range");
	expect_usage_error("--segment-size", "2G", "--segment-size: 2G is "
	    "out of range");
	expect_usage_error("--data-dir", "", "--data-dir: empty path");
}
END_TEST

START_TEST(test_durability_options_just_inside_their_ranges_start)
{
	struct daemon d;
	char *out;

	daemon_start(&d, (const char *const[]){ "--sync", "os",
	    "--sync-interval", "60000", "--segment-size", "64K",
	    "--durable", "none", NULL });
	out = ctl_json(&d, "status");
	expect_in(out, "\"data_dir\":null,\"sync\":\"os\",");
	free(out);
	daemon_stop(&d);
}
END_TEST

/*
 * Without --data-dir a durable channel cannot exist: the open that would
 * create it gets DISK saying so, and no channel is left behind.
 */
START_TEST(test_durable_open_without_data_dir_is_disk_and_creates_nothing)
{
	struct daemon d;
	chan_client *c;
	char *out;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx_open_durable(c, "logged", CHAN_DURABLE_YES, CHAN_EDISK);
	expect_in(chan_client_errmsg(c), "durable channel 'logged' not "
	    "created: the daemon keeps no logs (no --data-dir)");
	out = ctl_json(&d, "status");
	expect_in(out, "\"channels\":0,");
	free(out);
	/* The connection stays usable; an explicit "no" is fine. */
	chan_tx_close(tx_open_durable(c, "logged", CHAN_DURABLE_NO, 0));
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_chan_send_durable_without_data_dir_exits_13)
{
	struct daemon d;
	struct cmd_result r;
	const char *argv[] = { CHAN_SEND_BIN, "--socket", NULL, "--durable",
	    "keep", "x", NULL };

	daemon_start(&d, NULL);
	argv[2] = d.sock;
	run(argv, &r);
	ck_assert_msg(r.code == 13, "exit %d: %s", r.code, r.err);
	expect_in(r.err, "'keep'");
	expect_in(r.err, "no --data-dir");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

/* --durable patterns decide for an open that states nothing. */
START_TEST(test_durable_patterns_decide_when_the_open_states_nothing)
{
	struct daemon d;
	chan_client *c;
	chan_tx *tx;

	daemon_start(&d, (const char *const[]){ "--durable", "jobs.* exact",
	    NULL });
	c = test_connect(&d);
	tx_open_durable(c, "jobs.1", CHAN_DURABLE_DEFAULT, CHAN_EDISK);
	tx_open_durable(c, "exact", CHAN_DURABLE_DEFAULT, CHAN_EDISK);
	/* Not named by a pattern, or stated otherwise: in memory. */
	chan_tx_close(tx_open_durable(c, "exactly", CHAN_DURABLE_DEFAULT, 0));
	chan_tx_close(tx_open_durable(c, "jobs", CHAN_DURABLE_DEFAULT, 0));
	tx = tx_open_durable(c, "jobs.2", CHAN_DURABLE_NO, 0);
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * An open that states the other durability than the existing channel's
 * gets CAPACITY naming the channel and what it is; one that states
 * nothing takes it as it is.
 */
START_TEST(test_open_stating_other_durability_gets_capacity)
{
	struct daemon d;
	chan_client *c;
	chan_tx *tx, *tx2;
	chan_rx *rx;
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open_durable(c, "mem", CHAN_DURABLE_NO, 0);
	tx_open_durable(c, "mem", CHAN_DURABLE_YES, CHAN_ECAPACITY);
	expect_in(chan_client_errmsg(c), "channel 'mem' exists and is not "
	    "durable");
	o.durable = CHAN_DURABLE_YES;
	expect_rc(chan_rx_open_ex(c, "mem", 3, &o, &rx), CHAN_ECAPACITY,
	    "rx open stating durable");
	tx2 = tx_open_durable(c, "mem", CHAN_DURABLE_DEFAULT, 0);
	chan_tx_close(tx2);
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_durable_value_outside_the_constants_is_option)
{
	struct daemon d;
	chan_client *c;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx_open_durable(c, "x", 3, CHAN_EOPTION);
	tx_open_durable(c, "x", -1, CHAN_EOPTION);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* The admin view reports durability; chanctl shows it as columns. */
START_TEST(test_admin_view_reports_durability_fields)
{
	const char *argv[] = { CHANCTL_BIN, "--socket", NULL, "channels",
	    NULL };
	struct cmd_result r;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;
	char *out;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open_durable(c, "plain", CHAN_DURABLE_DEFAULT, 0);
	out = ctl_json(&d, "channels");
	expect_in(out, "\"name\":\"plain\",");
	expect_in(out, "\"durable\":false,\"log_bytes\":0,\"log_dir\":null,");
	free(out);
	argv[2] = d.sock;
	run(argv, &r);
	ck_assert_int_eq(r.code, 0);
	expect_in(r.out, "CAP_BYTES  DURABLE  LOG_BYTES  OLDEST");
	expect_in(r.out, "no          0  ");
	cmd_result_fini(&r);
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Polls the status view until it holds want; bounded. */
static void
status_until(const struct daemon *d, const char *want)
{
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	char *out;

	for (;;) {
		out = ctl_json(d, "status");
		if (strstr(out, want) != NULL)
			break;
		ck_assert_msg(now_ms() < deadline, "status never showed %s:\n"
		    "%s", want, out);
		free(out);
	}
	free(out);
}

/*
 * SIGHUP applies --sync at once (new confirmations follow it) and keeps
 * --data-dir, which needs a restart: the log says so.
 */
START_TEST(test_sighup_changes_sync_but_not_data_dir)
{
	char conf[PATH_MAX], dir1[PATH_MAX], dir2[PATH_MAX], text[3 * PATH_MAX];
	char *log;
	struct daemon d;

	make_dir(dir1, sizeof dir1);
	make_dir(dir2, sizeof dir2);
	path_join(conf, sizeof conf, dir1, "chand.conf");
	snprintf(text, sizeof text, "data-dir = %s\nsync = always\n", dir1);
	write_file(conf, text);
	daemon_start(&d, (const char *const[]){ "--config", conf, NULL });
	snprintf(text, sizeof text, "\"data_dir\":\"%s\",\"sync\":\"always\",",
	    dir1);
	status_until(&d, text);

	snprintf(text, sizeof text, "data-dir = %s\nsync = periodic\n"
	    "segment-size = 1M\n", dir2);
	write_file(conf, text);
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	snprintf(text, sizeof text, "\"data_dir\":\"%s\",\"sync\":"
	    "\"periodic\",", dir1);
	status_until(&d, text);
	log = daemon_log(&d);
	daemon_stop(&d);

	expect_in(log, "reload: sync changed from always to periodic");
	expect_in(log, "reload: segment-size changed from 16M to 1M");
	snprintf(text, sizeof text, "reload: data-dir changed from %s to %s; "
	    "it takes effect only after a restart", dir1, dir2);
	expect_in(log, text);
	free(log);
	unlink(conf);
	rmdir(dir1);
	rmdir(dir2);
}
END_TEST

/*
 * Durable channels with a data directory: a daemon on d whose logs live
 * in data (made here), with extra options.
 */
static void
durable_start(struct daemon *d, char *data, size_t len, const char *sync)
{
	make_dir(data, len);
	daemon_start(d, (const char *const[]){ "--data-dir", data, "--sync",
	    sync, NULL });
}

/* Entries of directory dir other than . and .., counted. */
static int
dir_entries(const char *dir)
{
	struct cmd_result r;
	const char *argv[] = { "ls", "-A", dir, NULL };
	int n = 0;
	char *p;

	run(argv, &r);
	ck_assert_int_eq(r.code, 0);
	for (p = r.out; p != NULL && *p != '\0'; p++)
		n += *p == '\n';
	cmd_result_fini(&r);
	return n;
}

START_TEST(test_admin_view_shows_a_durable_channel_and_its_log)
{
	char data[PATH_MAX], want[PATH_MAX + 64], *out;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;

	durable_start(&d, data, sizeof data, "periodic");
	c = test_connect(&d);
	tx = tx_open_durable(c, "kept", CHAN_DURABLE_YES, 0);
	send_str(tx, "hello");
	out = ctl_json(&d, "channels");
	expect_in(out, "\"name\":\"kept\",\"queued\":1,");
	expect_in(out, "\"durable\":true,\"log_bytes\":");
	ck_assert_msg(strstr(out, "\"log_bytes\":0,") == NULL,
	    "no log bytes: %s", out);
	free(out);
	out = ctl_json(&d, "status");
	snprintf(want, sizeof want, "\"data_dir\":\"%s\",\"sync\":"
	    "\"periodic\",", data);
	expect_in(out, want);
	free(out);
	/* An open that states the other durability gets CAPACITY. */
	tx_open_durable(c, "kept", CHAN_DURABLE_NO, CHAN_ECAPACITY);
	expect_in(chan_client_errmsg(c), "channel 'kept' exists and is "
	    "durable");
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
	remove_tree(data);
}
END_TEST

/* The next frame on fd, decoded into m (strings point into body). */
static void
read_reply(int fd, struct proto_decoder *dec, char *body, size_t cap,
    struct proto_msg *m)
{
	ssize_t n = raw_read_frame(fd, body, cap, HARNESS_WAIT_MS);

	ck_assert_msg(n >= 0, "daemon closed the connection");
	ck_assert_int_eq(proto_decode(dec, body, (size_t)n, m), 0);
}

/*
 * A producer's CLOSE, pipelined behind its sends, is answered after
 * them: under --sync always their OKs wait for the fdatasync, and the
 * CLOSE waits for those.
 */
START_TEST(test_close_answers_after_the_sends_it_follows)
{
	char data[PATH_MAX], body[4096];
	struct proto_decoder *dec = proto_decoder_new(PROTO_DEFAULT_MAX_MSG);
	struct proto_buf b;
	struct proto_msg m;
	struct daemon d;
	int fd, i;

	durable_start(&d, data, sizeof data, "always");
	fd = raw_connect(&d);
	raw_hello(fd);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_open_opts(&b, PROTO_OPEN_TX, 2, "seq", 3,
	    NULL, NULL, 1), 0);
	raw_write(fd, b.data, b.len);
	read_reply(fd, dec, body, sizeof body, &m);
	ck_assert_int_eq(m.op, PROTO_HANDLE);
	proto_buf_consume(&b, b.len);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(proto_enc_send(&b, 10 + i, m.handle, "x", 1),
		    0);
	ck_assert_int_eq(proto_enc_close(&b, 20, m.handle), 0);
	raw_write(fd, b.data, b.len);
	for (i = 0; i < 4; i++) {
		read_reply(fd, dec, body, sizeof body, &m);
		ck_assert_int_eq(m.op, PROTO_OK);
		ck_assert_uint_eq(m.rid, i < 3 ? 10u + i : 20u);
	}
	proto_buf_fini(&b);
	proto_decoder_free(dec);
	close(fd);
	daemon_stop(&d);
	remove_tree(data);
}
END_TEST

/*
 * A producer that goes with sends unconfirmed (its connection closed
 * right after writing them) costs the daemon nothing: later producers
 * and consumers carry on, and every message sent is there.
 */
START_TEST(test_producer_gone_with_sends_unconfirmed_leaves_the_daemon_sound)
{
	char data[PATH_MAX];
	struct proto_buf b;
	struct daemon d;
	chan_client *c;
	chan_rx *rx;
	chan_msg *msg;
	int fd, i, round;

	durable_start(&d, data, sizeof data, "always");
	c = test_connect(&d);
	expect_rc(chan_rx_open(c, "gone", &rx), 0, "rx open");
	for (round = 0; round < 20; round++) {
		fd = raw_connect(&d);
		raw_hello(fd);
		proto_buf_init(&b);
		ck_assert_int_eq(proto_enc_open_opts(&b, PROTO_OPEN_TX, 2,
		    "gone", 4, NULL, NULL, -1), 0);
		/* The handle will be 1: this connection's first. */
		for (i = 0; i < 5; i++)
			ck_assert_int_eq(proto_enc_send(&b, 3 + i, 1, "m", 1),
			    0);
		raw_write(fd, b.data, b.len);
		proto_buf_fini(&b);
		close(fd);
		for (i = 0; i < 5; i++) {
			msg = recv_msg(rx);
			ck_assert_uint_eq(chan_msg_len(msg), 1);
			chan_msg_free(msg);
		}
	}
	assert_serves(&d);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
	remove_tree(data);
}
END_TEST

/*
 * A clean stop syncs and closes every log whatever --sync says: what
 * was queued comes back, in order; what was consumed does not. Once
 * everything is consumed and the channel forgotten, its log goes.
 */
START_TEST(test_clean_restart_keeps_unconsumed_messages_and_then_removes_the_log)
{
	const char *const sync[] = { "always", "periodic", "os" };
	char data[PATH_MAX], buf[16];
	struct daemon d;
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	chan_msg *msg;
	size_t k;
	int i;

	for (k = 0; k < 3; k++) {
		make_dir(data, sizeof data);
		daemon_start(&d, (const char *const[]){ "--data-dir", data,
		    "--sync", sync[k], "--durable", "q*", NULL });
		c = test_connect(&d);
		tx = tx_open(c, "q1");
		for (i = 0; i < 5; i++) {
			snprintf(buf, sizeof buf, "m%d", i);
			send_str(tx, buf);
		}
		expect_rc(chan_rx_open(c, "q1", &rx), 0, "rx open");
		chan_msg_free(recv_msg(rx));
		chan_rx_close(rx);
		chan_tx_close(tx);
		chan_disconnect(c);
		daemon_stop(&d);

		daemon_start(&d, (const char *const[]){ "--data-dir", data,
		    "--sync", sync[k], NULL });
		c = test_connect(&d);
		expect_rc(chan_rx_open(c, "q1", &rx), 0, "rx open again");
		for (i = 1; i < 5; i++) {
			msg = recv_msg(rx);
			snprintf(buf, sizeof buf, "m%d", i);
			ck_assert_uint_eq(chan_msg_len(msg), strlen(buf));
			ck_assert_mem_eq(chan_msg_data(msg), buf, strlen(buf));
			chan_msg_free(msg);
		}
		/* Recovered: its producers are gone. */
		expect_try_rc(rx, CHAN_EDISCONNECTED);
		chan_rx_close(rx);
		chan_disconnect(c);
		/* Consumed and forgotten: nothing left on disk. */
		ck_assert_msg(dir_entries(data) == 0, "sync %s: log left",
		    sync[k]);
		daemon_stop(&d);
		remove_tree(data);
	}
}
END_TEST

/*
 * A held send that expires (FULL) is withdrawn from the log: after a
 * restart only the message that was queued comes back.
 */
START_TEST(test_expired_held_send_does_not_come_back)
{
	char data[PATH_MAX];
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	chan_msg *msg;

	durable_start(&d, data, sizeof data, "os");
	c = test_connect(&d);
	o.capacity = 1;
	o.durable = CHAN_DURABLE_YES;
	expect_rc(chan_tx_open_ex(c, "one", 3, &o, &tx), 0, "tx open");
	send_str(tx, "kept");
	expect_rc(chan_tx_send_timeout(tx, "late", 4, 1), CHAN_ETIMEDOUT,
	    "held send expires");
	expect_rc(chan_tx_try_send(tx, "tried", 5), CHAN_EFULL, "try send");
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);

	daemon_start(&d, (const char *const[]){ "--data-dir", data, NULL });
	c = test_connect(&d);
	expect_rc(chan_rx_open(c, "one", &rx), 0, "rx open");
	msg = recv_msg(rx);
	ck_assert_uint_eq(chan_msg_len(msg), 4);
	ck_assert_mem_eq(chan_msg_data(msg), "kept", 4);
	chan_msg_free(msg);
	/* Recovered: its producers are gone. */
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
	remove_tree(data);
}
END_TEST

static Suite *
durable_opts_suite(void)
{
	Suite *s = suite_create("e2e_durable_opts");
	TCase *tc = tcase_create("surfaces");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_help_lists_each_durability_option_with_its_default);
	tcase_add_test(tc, test_durability_options_out_of_range_exit_2);
	tcase_add_test(tc,
	    test_durability_options_just_inside_their_ranges_start);
	tcase_add_test(tc,
	    test_durable_open_without_data_dir_is_disk_and_creates_nothing);
	tcase_add_test(tc, test_chan_send_durable_without_data_dir_exits_13);
	tcase_add_test(tc,
	    test_durable_patterns_decide_when_the_open_states_nothing);
	tcase_add_test(tc, test_open_stating_other_durability_gets_capacity);
	tcase_add_test(tc, test_durable_value_outside_the_constants_is_option);
	tcase_add_test(tc, test_admin_view_reports_durability_fields);
	tcase_add_test(tc, test_sighup_changes_sync_but_not_data_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("daemon");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_admin_view_shows_a_durable_channel_and_its_log);
	tcase_add_test(tc, test_close_answers_after_the_sends_it_follows);
	tcase_add_test(tc,
	    test_producer_gone_with_sends_unconfirmed_leaves_the_daemon_sound);
	tcase_add_test(tc,
	    test_clean_restart_keeps_unconsumed_messages_and_then_removes_the_log);
	tcase_add_test(tc, test_expired_held_send_does_not_come_back);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(durable_opts_suite());
}

/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_admin.c: the admin view, STATS -> INFO, through chanctl and
 * chan_client_info against the real daemon: live figures in JSON and in
 * tables, paging by request and by the frame limit, refusals.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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

static long long	json_num(const char *text, const char *key);

/* Columns of the channels table after NAME. */
enum {
	COL_QUEUED, COL_BYTES, COL_INFLIGHT, COL_HELD, COL_PRODUCERS,
	COL_CPID, COL_CUID, COL_IN, COL_OUT, COL_REDELIVERED, COL_CAPACITY,
	COL_CAP_BYTES, COL_DURABLE, COL_LOG_BYTES, NCOLS
};

/*
 * The channels table's row for name: its NCOLS columns after NAME, each
 * a number, a dash (read as -1), "unbounded" (read as -2), "yes" (1) or
 * "no" (0).
 */
static void
table_row(const char *table, const char *name, long long col[NCOLS])
{
	char head[300], cols[NCOLS][32];
	const char *line;
	int i, n;

	snprintf(head, sizeof head, "\n%s ", name);
	line = strstr(table, head);
	ck_assert_msg(line != NULL, "no row for %s in:\n%s", name, table);
	n = sscanf(line + strlen(head), "%31s %31s %31s %31s %31s %31s %31s "
	    "%31s %31s %31s %31s %31s %31s %31s", cols[0], cols[1], cols[2],
	    cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9],
	    cols[10], cols[11], cols[12], cols[13]);
	ck_assert_msg(n == NCOLS, "short row for %s in:\n%s", name, table);
	for (i = 0; i < NCOLS; i++)
		col[i] = strcmp(cols[i], "-") == 0 ? -1 :
		    strcmp(cols[i], "unbounded") == 0 ? -2 :
		    strcmp(cols[i], "yes") == 0 ? 1 : atoll(cols[i]);
}

/*
 * A channel with two producers and a consumer (all this process) holding
 * three queued messages, one of them already delivered once and
 * redelivered: every figure of the channels view has a known value.
 */
START_TEST(test_chanctl_shows_live_channel_figures)
{
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;
	const char *jargs[] = { "channels", "--json", NULL };
	const char *targs[] = { "channels", NULL };
	char want[512], *out;
	struct daemon d;
	chan_client *c, *c2;
	chan_tx *tx1, *tx2;
	chan_rx *rx;
	chan_msg *m;
	long long col[NCOLS];

	daemon_start(&d, NULL);
	c = test_connect(&d);
	c2 = test_connect(&d);
	tx1 = tx_open(c, "jobs");
	tx2 = tx_open(c2, "jobs");
	send_str(tx1, "first");
	send_str(tx2, "second!");
	send_str(tx1, "3");

	/* Take "first" without acknowledging it, and leave: requeued. */
	opts.flags = CHAN_MANUAL_ACK;
	expect_rc(chan_rx_open_ex(c, "jobs", 4, &opts, &rx), 0, "rx open");
	m = recv_msg(rx);
	chan_msg_free(m);
	expect_rc(chan_rx_close(rx), 0, "rx close");
	/* Redelivered to a consumer that does not acknowledge either. */
	expect_rc(chan_rx_open_ex(c, "jobs", 4, &opts, &rx), 0, "rx reopen");
	m = recv_msg(rx);
	ck_assert_msg(chan_msg_redelivered(m), "not marked redelivered");
	chan_msg_free(m);

	out = chanctl(&d, 0, jargs);
	snprintf(want, sizeof want, "{\"name\":\"jobs\",\"queued\":2,"
	    "\"queued_bytes\":8,\"in_flight\":1,\"in_flight_bytes\":5,"
	    "\"held\":0,\"held_bytes\":0,\"capacity\":65536,"
	    "\"capacity_bytes\":67108864,\"producers\":2,"
	    "\"consumer\":{\"conn\":");
	expect_in(out, want);
	snprintf(want, sizeof want, "\"pid\":%ld,\"uid\":%ld,\"client\":"
	    "\"test_e2e_admin\",\"idle_s\":", (long)getpid(),
	    (long)getuid());
	expect_in(out, want);
	expect_in(out, "},\"credit\":0,\"msgs_in\":3,\"msgs_out\":2,"
	    "\"redeliveries\":1,\"durable\":false,\"log_bytes\":0,"
	    "\"log_dir\":null,\"oldest_age_s\":");
	free(out);

	out = chanctl(&d, 0, targs);
	ck_assert_msg(strncmp(out, "NAME ", 5) == 0, "no header:\n%s", out);
	table_row(out, "jobs", col);
	ck_assert_int_eq(col[COL_QUEUED], 2);
	ck_assert_int_eq(col[COL_BYTES], 8);
	ck_assert_int_eq(col[COL_INFLIGHT], 1);
	ck_assert_int_eq(col[COL_HELD], 0);
	ck_assert_int_eq(col[COL_PRODUCERS], 2);
	ck_assert_int_eq(col[COL_CPID], getpid());
	ck_assert_int_eq(col[COL_CUID], getuid());
	ck_assert_int_eq(col[COL_IN], 3);
	ck_assert_int_eq(col[COL_OUT], 2);
	ck_assert_int_eq(col[COL_REDELIVERED], 1);
	ck_assert_int_eq(col[COL_CAPACITY], 65536);
	ck_assert_int_eq(col[COL_CAP_BYTES], 67108864);
	ck_assert_int_eq(col[COL_DURABLE], 0);
	ck_assert_int_eq(col[COL_LOG_BYTES], 0);
	free(out);

	/* The consumer leaves: the in-flight message is queued again. */
	expect_rc(chan_rx_close(rx), 0, "rx close");
	out = chanctl(&d, 0, targs);
	table_row(out, "jobs", col);
	ck_assert_int_eq(col[COL_QUEUED], 3);
	ck_assert_int_eq(col[COL_INFLIGHT], 0);
	ck_assert_int_eq(col[COL_CPID], -1);
	ck_assert_int_eq(col[COL_CUID], -1);
	free(out);

	chan_tx_close(tx1);
	chan_tx_close(tx2);
	chan_disconnect(c);
	chan_disconnect(c2);
	daemon_stop(&d);
}
END_TEST

/*
 * A full channel (capacity 1, opened in raw frames) holds the next send:
 * the view shows it held, and the capacity the open asked for.
 */
START_TEST(test_chanctl_shows_held_sends_and_capacity)
{
	const char *jargs[] = { "channels", "--json", NULL };
	const char *targs[] = { "channels", NULL };
	const char *sargs[] = { "--json", NULL };
	struct proto_cap cap = { PROTO_CAP_VALUE, 1 };
	struct proto_cap unb = { PROTO_CAP_UNBOUNDED, 0 };
	struct proto_buf b;
	char *out, body[256];
	struct daemon d;
	long long col[NCOLS];
	int fd;

	daemon_start(&d, NULL);
	fd = raw_connect(&d);
	raw_hello(fd);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_open_cap(&b, PROTO_OPEN_TX, 2, "full", 4,
	    &cap, &unb), 0);
	ck_assert_int_eq(proto_enc_send(&b, 3, 1, "one", 3), 0);
	ck_assert_int_eq(proto_enc_send(&b, 4, 1, "two!", 4), 0);
	ck_assert_int_eq(proto_enc_ping(&b, 5), 0);
	raw_write(fd, b.data, b.len);
	proto_buf_fini(&b);
	/* HANDLE, OK for "one", then PING's OK: "two!" is held by now. */
	ck_assert_int_gt(raw_read_frame(fd, body, sizeof body, 20000), 0);
	ck_assert_int_gt(raw_read_frame(fd, body, sizeof body, 20000), 0);
	ck_assert_int_gt(raw_read_frame(fd, body, sizeof body, 20000), 0);
	ck_assert_msg((unsigned char)body[1] == 65 &&
	    (unsigned char)body[2] == 5, "third reply is not PING's OK");

	out = chanctl(&d, 0, jargs);
	expect_in(out, "{\"name\":\"full\",\"queued\":1,\"queued_bytes\":3,"
	    "\"in_flight\":0,\"in_flight_bytes\":0,\"held\":1,"
	    "\"held_bytes\":4,\"capacity\":1,\"capacity_bytes\":null,");
	free(out);
	out = chanctl(&d, 0, targs);
	table_row(out, "full", col);
	ck_assert_int_eq(col[COL_QUEUED], 1);
	ck_assert_int_eq(col[COL_HELD], 1);
	ck_assert_int_eq(col[COL_CAPACITY], 1);
	ck_assert_int_eq(col[COL_CAP_BYTES], -2);
	free(out);
	out = chanctl(&d, 0, sargs);
	expect_in(out, "\"queued\":2,\"queued_bytes\":7,\"held\":1,");
	free(out);
	close(fd);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_chanctl_status_shows_daemon_figures)
{
	const char *jargs[] = { "status", "--json", NULL };
	const char *targs[] = { NULL };
	char want[PATH_MAX + 256], *out;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;

	daemon_start(&d, (const char *const[]){ "--max-connections", "77",
	    NULL });
	c = test_connect(&d);
	tx = tx_open(c, "a");
	send_str(tx, "xy");
	send_str(tx, "z");

	out = chanctl(&d, 0, jargs);
	snprintf(want, sizeof want, "{\"version\":\"%s\",\"pid\":%d,"
	    "\"socket\":\"%s\",", CHAN_VERSION_STRING, (int)d.pid, d.sock);
	expect_in(out, want);
	/* This connection and chanctl's own. */
	expect_in(out, ",\"connections\":2,\"max_connections\":77,"
	    "\"channels\":1,\"queued\":2,\"queued_bytes\":3,\"held\":0,");
	expect_in(out, ",\"msgs_in\":2,\"msgs_out\":0,\"redeliveries\":0,"
	    "\"data_dir\":null,\"sync\":\"always\",\"log_level\":\"info\","
	    "\"config\":null,\"access_file\":null,\"features\":");
	ck_assert_msg(json_num(out, "\"features\":") & PROTO_FEAT_ADMIN,
	    "no ADMIN feature: %s", out);
	ck_assert_msg(strstr(out, "\"rss_bytes\":0,") == NULL &&
	    strstr(out, "\"rss_bytes\":") != NULL, "no memory figure: %s",
	    out);
	free(out);

	out = chanctl(&d, 0, targs);
	snprintf(want, sizeof want, "daemon       chand %s, pid %d\n",
	    CHAN_VERSION_STRING, (int)d.pid);
	expect_in(out, want);
	expect_in(out, "connections  2 (limit 77)\n");
	expect_in(out, "channels     1\n");
	expect_in(out, "queued       2 messages, 3 bytes (limits 16777216, "
	    "1073741824), 0 sends held\n");
	expect_in(out, "messages     2 in, 0 out, 0 redelivered\n");
	expect_in(out, "durability   none (no --data-dir)\n");
	expect_in(out, "log level    info\n");
	expect_in(out, "config       none\n");
	free(out);

	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_chanctl_connections_lists_clients)
{
	const char *jargs[] = { "connections", "--json", NULL };
	const char *targs[] = { "connections", NULL };
	char want[256], *out, *line;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	long long id, pid, uid, ntx, nrx, pending;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "a");
	expect_rc(chan_rx_open(c, "b", &rx), 0, "rx open");

	out = chanctl(&d, 0, jargs);
	snprintf(want, sizeof want, "\"pid\":%ld,\"uid\":%ld,\"gid\":%ld,"
	    "\"handles\":2,\"producers\":1,\"consumers\":1,\"pending_output\":"
	    "0,\"closing\":false,\"client\":\"test_e2e_admin\",\"age_ms\":",
	    (long)getpid(), (long)getuid(), (long)getgid());
	expect_in(out, want);
	free(out);

	out = chanctl(&d, 0, targs);
	snprintf(want, sizeof want, " %ld ", (long)getpid());
	line = strstr(out, want);
	ck_assert_msg(line != NULL, "no row for pid %ld:\n%s", (long)getpid(),
	    out);
	while (line > out && line[-1] != '\n')
		line--;
	ck_assert_int_eq(sscanf(line, "%lld %lld %lld %lld %lld %lld", &id,
	    &pid, &uid, &ntx, &nrx, &pending), 6);
	ck_assert_int_eq(pid, getpid());
	ck_assert_int_eq(uid, getuid());
	ck_assert_int_eq(ntx, 1);
	ck_assert_int_eq(nrx, 1);
	ck_assert_int_eq(pending, 0);
	free(out);

	chan_rx_close(rx);
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* Five channel names, the index in each, as in the daemon's byte order. */
static void
page_names(char names[5][300], size_t len)
{
	int i;

	for (i = 0; i < 5; i++) {
		memset(names[i], 'a' + i, len);
		names[i][len] = '\0';
	}
}

/*
 * Lists longer than a reply: by --limit, and by the frame limit alone
 * (--max-msg-size 1 leaves room for one long-named channel per reply).
 * Every channel appears once, in name order, either way.
 */
static void
check_paging(const char *const *daemon_args, size_t name_len,
    const char *limit)
{
	const char *jargs[] = { "channels", "--json", limit != NULL ?
	    "--limit" : NULL, limit, NULL };
	char names[5][300], *out, *p;
	struct daemon d;
	chan_client *c;
	chan_tx *tx[5];
	int i;

	page_names(names, name_len);
	daemon_start(&d, daemon_args);
	c = test_connect(&d);
	for (i = 4; i >= 0; i--)
		expect_rc(chan_tx_open(c, names[i], &tx[i]), 0, "open");
	out = chanctl(&d, 0, jargs);
	for (i = 0, p = out; i < 5; i++) {
		p = strstr(p, names[i]);
		ck_assert_msg(p != NULL, "channel %d missing or out of order:\n"
		    "%s", i, out);
		p += name_len;
		ck_assert_ptr_null(strstr(p, names[i]));
	}
	free(out);
	for (i = 0; i < 5; i++)
		chan_tx_close(tx[i]);
	chan_disconnect(c);
	daemon_stop(&d);
}

START_TEST(test_channels_are_paged_by_limit)
{
	check_paging(NULL, 3, "2");
}
END_TEST

START_TEST(test_channels_are_paged_to_fit_the_frame_limit)
{
	check_paging((const char *const[]){ "--max-msg-size", "1", NULL },
	    250, NULL);
}
END_TEST

/*
 * Many channels in small pages: opened in scrambled order, with names
 * that are prefixes of others ("n1", "n10", "n100"), they are listed
 * each once, in byte order, whatever the page size.
 */
#define MANY	600

static int
cmp_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

START_TEST(test_many_channels_page_in_order)
{
	static const char *const limits[] = { "1", "7", "64", NULL };
	static char names[MANY][8];
	const char *jargs[] = { "channels", "--json", NULL, NULL, NULL };
	struct daemon d;
	chan_client *c;
	chan_tx **tx;
	char key[32], *out, *p;
	int i, l;

	tx = calloc(MANY, sizeof *tx);
	ck_assert_ptr_nonnull(tx);
	daemon_start(&d, NULL);
	c = test_connect(&d);
	for (i = 0; i < MANY; i++) {
		snprintf(names[i], sizeof names[i], "n%d", i * 397 % MANY);
		expect_rc(chan_tx_open(c, names[i], &tx[i]), 0, "open");
	}
	qsort(names, MANY, sizeof names[0], cmp_name);
	for (l = 0; limits[l] != NULL; l++) {
		jargs[2] = "--limit";
		jargs[3] = limits[l];
		out = chanctl(&d, 0, jargs);
		for (i = 0, p = out; i < MANY; i++) {
			snprintf(key, sizeof key, "{\"name\":\"%.7s\",",
			    names[i]);
			p = strstr(p, key);
			ck_assert_msg(p != NULL, "--limit %s: %s missing or "
			    "out of order", limits[l], names[i]);
			p += strlen(key);
			ck_assert_msg(strstr(p, key) == NULL, "--limit %s: %s "
			    "twice", limits[l], names[i]);
		}
		ck_assert_msg(strstr(p, "{\"name\":") == NULL, "--limit %s: "
		    "more channels than opened", limits[l]);
		free(out);
	}
	for (i = 0; i < MANY; i++)
		chan_tx_close(tx[i]);
	free(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* The library call, page by page. */
START_TEST(test_info_pages_through_the_library)
{
	char names[5][300];
	struct daemon d;
	chan_client *c;
	chan_tx *tx[5];
	void *data;
	size_t len;
	int i;

	page_names(names, 1);
	daemon_start(&d, NULL);
	c = test_connect(&d);
	for (i = 0; i < 5; i++)
		expect_rc(chan_tx_open(c, names[i], &tx[i]), 0, "open");
	/* Page 1 of 2 entries: a fixmap {"channels": [a, b], "next": "b"}. */
	expect_rc(chan_client_info(c, "channels", NULL, 0, 2, &data, &len), 0,
	    "info page 1");
	ck_assert_msg(len > 8 && memmem(data, len, "next\xc4\x01" "b", 7) !=
	    NULL, "page 1 does not end at cursor b");
	free(data);
	/* The last page, after "d": one entry and a nil cursor. */
	expect_rc(chan_client_info(c, "channels", "d", 1, 2, &data, &len), 0,
	    "info last page");
	ck_assert_msg(memmem(data, len, "next\xc0", 5) != NULL &&
	    memmem(data, len, "\xc4\x01" "e", 3) != NULL &&
	    memmem(data, len, "\xc4\x01" "d", 3) == NULL,
	    "last page is not [e] with a nil cursor");
	free(data);

	expect_rc(chan_client_info(c, "queues", NULL, 0, 0, &data, &len),
	    CHAN_EOPTION, "unknown view");
	expect_in(chan_client_errmsg(c), "unknown view");
	expect_rc(chan_client_info(c, "daemon", NULL, 0, 3, &data, &len),
	    CHAN_EOPTION, "daemon view with a limit");
	expect_rc(chan_client_info(c, "connections", "x1", 2, 0, &data, &len),
	    CHAN_EOPTION, "connections cursor that is not an id");
	/* The connection is still fine. */
	expect_rc(chan_client_info(c, "daemon", NULL, 0, 0, &data, &len), 0,
	    "info daemon after refusals");
	free(data);
	for (i = 0; i < 5; i++)
		chan_tx_close(tx[i]);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * Runs chanctl with args until its output holds want, and returns that
 * output. For figures that the daemon samples once a
 * second: there is no event to wait on but the view itself, so it is
 * asked again every 100 ms, at most HARNESS_WAIT_MS in all.
 */
static char *
chanctl_until(const struct daemon *d, const char *const *args,
    const char *want)
{
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	char *out;

	for (;;) {
		out = chanctl(d, 0, args);
		if (strstr(out, want) != NULL)
			return out;
		ck_assert_msg(now_ms() < deadline, "no '%s' after %d ms "
		    "in:\n%.2000s", want, HARNESS_WAIT_MS, out);
		free(out);
		poll_until(NULL, 0, now_ms() + 100);
	}
}

/* The unsigned number after key in text, which must be there. */
static long long
json_num(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	ck_assert_msg(p != NULL, "no %s in:\n%.2000s", key, text);
	p += strlen(key);
	ck_assert_msg(*p >= '0' && *p <= '9', "%s is not a number in:\n"
	    "%.2000s", key, text);
	return atoll(p);
}

/*
 * The recent figures of a channel: its producers by connection (pid,
 * uid, client name, handles), the consumer's client name and idle time,
 * the age of the oldest message, what was sent, delivered and
 * acknowledged in the last seconds, and when the last acknowledgement
 * came.
 */
START_TEST(test_channels_show_producers_ages_and_recent_rates)
{
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;
	const char *jargs[] = { "channels", "--json", NULL };
	const char *pargs[] = { "producers", NULL };
	const char *targs[] = { "channels", NULL };
	char want[256], *out, *row;
	struct daemon d;
	chan_client *c, *c2;
	chan_tx *tx, *tx2;
	chan_rx *rx;
	chan_msg *m;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	c2 = test_connect(&d);
	tx = tx_open(c, "rates");
	tx2 = tx_open(c, "rates");
	send_str(tx, "a");
	send_str(tx, "b");
	send_str(tx2, "c");
	opts.flags = CHAN_MANUAL_ACK;
	opts.prefetch = 1;
	expect_rc(chan_rx_open_ex(c2, "rates", 5, &opts, &rx), 0, "rx open");
	m = recv_msg(rx);
	expect_rc(chan_rx_ack(rx, m), 0, "ack");
	expect_rc(chan_rx_flush(rx), 0, "flush");
	chan_msg_free(m);

	/* The window fills at the next sample, within a second. */
	out = chanctl_until(&d, jargs, "\"recent_in\":3,\"recent_out\":1,"
	    "\"recent_acked\":1,\"acked\":1,\"last_ack_age_s\":");
	ck_assert_int_ge(json_num(out, "\"recent_s\":"), 1);
	ck_assert_int_ge(json_num(out, "\"oldest_age_s\":"), 0);
	ck_assert_int_ge(json_num(out, "\"last_ack_age_s\":"), 0);
	ck_assert_int_ge(json_num(out, "\"idle_s\":"), 0);
	snprintf(want, sizeof want, "\"pid\":%ld,\"uid\":%ld,\"client\":"
	    "\"test_e2e_admin\",\"idle_s\":", (long)getpid(), (long)getuid());
	expect_in(out, want);
	/* One connection holds both producer handles. */
	snprintf(want, sizeof want, "\"producer_conns\":[{\"conn\":%lld,"
	    "\"pid\":%ld,\"uid\":%ld,\"client\":\"test_e2e_admin\","
	    "\"handles\":2}]}", json_num(out, "\"producer_conns\":[{\"conn\":"),
	    (long)getpid(), (long)getuid());
	expect_in(out, want);
	free(out);

	out = chanctl(&d, 0, pargs);
	ck_assert_msg(strncmp(out, "CHANNEL  CONN  ", 15) == 0, "no header:"
	    "\n%s", out);
	snprintf(want, sizeof want, "  %ld  ", (long)getpid());
	row = strstr(out, "\nrates ");
	ck_assert_msg(row != NULL && strstr(row, want) != NULL &&
	    strstr(row, "test_e2e_admin\n") != NULL, "no producer row:\n%s",
	    out);
	free(out);

	/* The table has the columns, in the header's order. */
	out = chanctl(&d, 0, targs);
	expect_in(out, "LOG_BYTES  OLDEST  IN/S  OUT/S  ACK/S  LAST_ACK  "
	    "IDLE  RINGS  IN_RINGS  PATH");
	free(out);

	/* Nothing queued nor in flight: no oldest message. */
	m = recv_msg(rx);
	expect_rc(chan_rx_ack(rx, m), 0, "ack");
	chan_msg_free(m);
	m = recv_msg(rx);
	expect_rc(chan_rx_ack(rx, m), 0, "ack");
	expect_rc(chan_rx_flush(rx), 0, "flush");
	chan_msg_free(m);
	/* The ACK is in the daemon before chanctl's HELLO is answered. */
	out = chanctl(&d, 0, jargs);
	expect_in(out, "\"oldest_age_s\":null,");
	free(out);

	chan_rx_close(rx);
	chan_tx_close(tx);
	chan_tx_close(tx2);
	chan_disconnect(c);
	chan_disconnect(c2);
	daemon_stop(&d);
}
END_TEST

/*
 * A channel that nobody has used keeps no samples: once a sample has
 * counted a busy channel's message, the idle one beside it still covers
 * 0 seconds (docs/protocol.md, recent_s).
 */
START_TEST(test_an_idle_channel_keeps_no_samples)
{
	const char *jargs[] = { "channels", "--json", NULL };
	struct daemon d;
	chan_client *c;
	chan_tx *busy, *quiet;
	char *out, *row;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	quiet = tx_open(c, "quiet");
	busy = tx_open(c, "busy");
	send_str(busy, "a");
	out = chanctl_until(&d, jargs, "\"recent_in\":1,");
	row = strstr(out, "\"name\":\"quiet\"");
	ck_assert_msg(row != NULL, "no channel quiet in:\n%.2000s", out);
	ck_assert_int_eq(json_num(row, "\"recent_s\":"), 0);
	ck_assert_int_eq(json_num(row, "\"recent_in\":"), 0);
	free(out);

	chan_tx_close(busy);
	chan_tx_close(quiet);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* The last n cells of a table's row, one space apart, into out. */
static void
row_tail(const char *row, int n, char *out, size_t len)
{
	const char *end = strchr(row, '\n'), *p;
	size_t o = 0;
	int k;

	if (end == NULL)
		end = row + strlen(row);
	for (p = end, k = 0; p > row && k < n; k++) {
		while (p > row && p[-1] == ' ')
			p--;
		while (p > row && p[-1] != ' ')
			p--;
	}
	/* Runs of spaces (the columns' padding) become one. */
	for (; p < end && o + 1 < len; p++)
		if (*p != ' ' || (o > 0 && out[o - 1] != ' '))
			out[o++] = *p;
	out[o] = '\0';
}

/*
 * The shared-memory path, for an operator: a channel's producer rings,
 * the messages waiting in them (not in "queued": the consumer reads the
 * ring itself) and how the consumer receives, "direct" while it reads
 * its producer's ring, "ring" once a socket send took the ring back.
 * (Its rings are its own: it runs the same under CHANCLIENT_SHM=1.)
 */
START_TEST(test_channels_show_rings_and_the_consumer_s_path)
{
	const char *jargs[] = { "channels", "--json", NULL };
	const char *targs[] = { "channels", NULL };
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT, topts = CHAN_OPEN_OPTS_INIT;
	struct daemon d;
	chan_client *c, *c2;
	chan_tx *tx, *stx;
	chan_rx *rx;
	char *out, *row, tail[64];

	/* The default; set in case the environment turned it off. */
	setenv("CHANCLIENT_DIRECT", "1", 1);
	daemon_start(&d, NULL);
	c = test_connect(&d);
	c2 = test_connect(&d);
	opts.flags = CHAN_SHM;
	opts.prefetch = 1;
	expect_rc(chan_rx_open_ex(c2, "fast", 4, &opts, &rx), 0, "rx open");
	topts.flags = CHAN_SHM;
	tx = tx_open_opts(c, "fast", &topts);
	send_str(tx, "a");
	send_str(tx, "b");
	send_str(tx, "c");
	out = chanctl(&d, 0, jargs);
	expect_in(out, "{\"name\":\"fast\",\"queued\":0,");
	expect_in(out, "\"rings\":1,\"in_rings\":3,");
	expect_in(out, ",\"path\":\"direct\"}");
	free(out);
	out = chanctl(&d, 0, targs);
	ck_assert_msg((row = strstr(out, "\nfast ")) != NULL, "no row:\n%s",
	    out);
	row_tail(row + 1, 3, tail, sizeof(tail));
	ck_assert_msg(strcmp(tail, "1 3 direct") == 0, "row ends \"%s\", want "
	    "\"1 3 direct\":\n%s", tail, out);
	free(out);

	/*
	 * A socket send takes the ring back: the daemon queues its records,
	 * then the send. Under CHANCLIENT_SHM=1 the second producer has a
	 * ring of its own, whose coming takes the ring back; "d" waits in
	 * it, unread, for the queue to drain before both are offered.
	 */
	stx = tx_open(c, "fast");
	send_str(stx, "d");
	out = chanctl(&d, 0, jargs);
	if (e2e_shm_path()) {
		expect_in(out, "{\"name\":\"fast\",\"queued\":3,");
		expect_in(out, "\"rings\":2,\"in_rings\":1,");
	} else {
		expect_in(out, "{\"name\":\"fast\",\"queued\":4,");
		expect_in(out, "\"rings\":1,\"in_rings\":0,");
	}
	expect_in(out, ",\"path\":\"ring\"}");
	free(out);
	expect_str(rx, "a");

	chan_rx_close(rx);
	chan_tx_close(tx);
	chan_tx_close(stx);
	chan_disconnect(c);
	chan_disconnect(c2);
	daemon_stop(&d);
}
END_TEST

/* Connections: client name, age, bytes read and written. */
START_TEST(test_connections_show_client_age_and_bytes)
{
	const char *jargs[] = { "connections", "--json", NULL };
	const char *targs[] = { "connections", NULL };
	char want[128], *out, *p;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "bytes");
	send_str(tx, "0123456789");

	out = chanctl(&d, 0, jargs);
	snprintf(want, sizeof want, "\"pid\":%ld,", (long)getpid());
	p = strstr(out, want);
	ck_assert_msg(p != NULL, "no connection of pid %ld:\n%s",
	    (long)getpid(), out);
	expect_in(p, "\"client\":\"test_e2e_admin\",\"age_ms\":");
	/* HELLO, OPEN_TX, SEND in; WELCOME, HANDLE, OK out, at least. */
	ck_assert_int_gt(json_num(p, "\"bytes_in\":"), 10 + 20);
	ck_assert_int_gt(json_num(p, "\"bytes_out\":"), 20);
	ck_assert_int_ge(json_num(p, "\"age_ms\":"), 0);
	free(out);

	out = chanctl(&d, 0, targs);
	expect_in(out, "STATE  AGE  BYTES_IN  BYTES_OUT  CLIENT\n");
	expect_in(out, "  test_e2e_admin\n");
	expect_in(out, "  chanctl\n");
	free(out);
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* The configuration in force, as the daemon has it. */
START_TEST(test_chanctl_config_shows_the_effective_configuration)
{
	const char *targs[] = { "config", NULL };
	const char *jargs[] = { "config", "--json", NULL };
	const char *ll[] = { "log-level", "notice", NULL };
	struct daemon d;
	char *out;

	daemon_start(&d, (const char *const[]){ "--max-connections", "77",
	    "--default-capacity", "unbounded", NULL });
	out = chanctl(&d, 0, targs);
	expect_in(out, "max-connections = 77\n");
	expect_in(out, "default-capacity = unbounded\n");
	expect_in(out, "max-msg-size = 1M\n");
	expect_in(out, "log-level = info\n");
	expect_in(out, "data-dir = none\n");
	free(out);
	free(chanctl(&d, 0, ll));
	out = chanctl(&d, 0, jargs);
	expect_in(out, "\"max-connections\":\"77\",");
	expect_in(out, "\"log-level\":\"notice\",");
	free(out);
	daemon_stop(&d);
}
END_TEST

/* Durable channels: the directory that holds each one's log. */
START_TEST(test_chanctl_logs_names_each_durable_channels_directory)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	const char *args[] = { "logs", NULL };
	char data[PATH_MAX], want[PATH_MAX + 64], *out, *row, *dir;
	struct daemon d;
	chan_client *c;
	chan_tx *tx, *tx2;
	struct stat st;

	make_dir(data, sizeof data);
	daemon_start(&d, (const char *const[]){ "--data-dir", data, NULL });
	c = test_connect(&d);
	o.durable = CHAN_DURABLE_YES;
	tx = tx_open_opts(c, "kept", &o);
	tx2 = tx_open(c, "memory");
	send_str(tx, "x");
	out = chanctl(&d, 0, args);
	ck_assert_msg(strstr(out, "memory") == NULL, "a channel without a "
	    "log is listed:\n%s", out);
	row = strstr(out, "\nkept ");
	ck_assert_msg(row != NULL, "no row for kept:\n%s", out);
	snprintf(want, sizeof want, "  %s/", data);
	dir = strstr(row, want);
	ck_assert_msg(dir != NULL, "no directory under %s:\n%s", data, out);
	dir += 2;
	dir[strcspn(dir, "\n")] = '\0';
	ck_assert_msg(stat(dir, &st) == 0 && S_ISDIR(st.st_mode),
	    "%s is not a directory", dir);
	free(out);
	chan_tx_close(tx);
	chan_tx_close(tx2);
	chan_disconnect(c);
	daemon_stop(&d);
	remove_tree(data);
}
END_TEST

/*
 * JSON tells every name apart: valid UTF-8 as a string, other bytes as
 * {"hex": ...}. "\xc3\xbf" (U+00FF) and the lone byte "\xff" would both
 * read U+00FF under \u00XX escapes of bytes.
 */
START_TEST(test_json_names_are_unambiguous)
{
	const char *jargs[] = { "channels", "--json", NULL };
	struct daemon d;
	chan_client *c;
	chan_tx *tx[3];
	char *out;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx[0] = tx_open(c, "\xc3\xbf");
	tx[1] = tx_open(c, "\xff");
	tx[2] = tx_open(c, "q\"\\\x01");
	out = chanctl(&d, 0, jargs);
	expect_in(out, "{\"name\":\"\xc3\xbf\",");
	expect_in(out, "{\"name\":{\"hex\":\"ff\"},");
	expect_in(out, "{\"name\":\"q\\\"\\\\\\u0001\",");
	free(out);
	chan_tx_close(tx[0]);
	chan_tx_close(tx[1]);
	chan_tx_close(tx[2]);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * purge drops what is queued, not what is in flight: a consumer that
 * goes without acknowledging gets its message back. The daemon logs who
 * purged.
 */
START_TEST(test_purge_drops_queued_messages_and_keeps_in_flight)
{
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;
	const char *args[] = { "purge", "work", NULL };
	const char *jargs[] = { "purge", "work", "--json", NULL };
	char want[128], *out, *log;
	struct daemon d;
	chan_client *c, *c2;
	chan_tx *tx;
	chan_rx *rx;
	chan_msg *m;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	c2 = test_connect(&d);
	tx = tx_open(c, "work");
	send_str(tx, "a");
	send_str(tx, "bb");
	send_str(tx, "ccc");
	opts.flags = CHAN_MANUAL_ACK;
	opts.prefetch = 1;
	expect_rc(chan_rx_open_ex(c2, "work", 4, &opts, &rx), 0, "rx open");
	m = recv_msg(rx);
	ck_assert_mem_eq(chan_msg_data(m), "a", 1);
	chan_msg_free(m);

	out = chanctl(&d, 0, args);
	expect_in(out, "channel work: 2 queued message(s) of 5 bytes purged; "
	    "1 in flight, 0 queued now\n");
	free(out);
	out = chanctl(&d, 0, jargs);
	expect_in(out, "{\"channel\":\"work\",\"purged\":0,\"purged_bytes\":0,"
	    "\"in_flight\":1,\"queued\":0}");
	free(out);
	/* The unacknowledged message comes back; the purged ones do not. */
	expect_rc(chan_rx_close(rx), 0, "rx close");
	expect_rc(chan_rx_open(c2, "work", &rx), 0, "rx reopen");
	m = recv_msg(rx);
	ck_assert_mem_eq(chan_msg_data(m), "a", 1);
	ck_assert_msg(chan_msg_redelivered(m), "not marked redelivered");
	chan_msg_free(m);
	expect_try_rc(rx, CHAN_EEMPTY);
	/* Sends go on as before. */
	send_str(tx, "d");
	expect_str(rx, "d");

	log = daemon_log(&d);
	snprintf(want, sizeof want, "2 queued message(s) of 5 bytes purged "
	    "by connection ");
	expect_in(log, want);
	snprintf(want, sizeof want, " uid=%ld); 1 in flight and 0 held left",
	    (long)getuid());
	expect_in(log, want);
	free(log);
	chan_rx_close(rx);
	chan_tx_close(tx);
	chan_disconnect(c);
	chan_disconnect(c2);
	daemon_stop(&d);
}
END_TEST

/* A purge of a durable channel reaches its log: nothing comes back. */
START_TEST(test_purge_of_a_durable_channel_survives_a_restart)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	const char *args[] = { "purge", "kept", NULL };
	const char *jargs[] = { "channels", "--json", NULL };
	char data[PATH_MAX], *out;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;

	make_dir(data, sizeof data);
	daemon_start(&d, (const char *const[]){ "--data-dir", data, NULL });
	c = test_connect(&d);
	o.durable = CHAN_DURABLE_YES;
	tx = tx_open_opts(c, "kept", &o);
	send_str(tx, "one");
	send_str(tx, "two");
	out = chanctl(&d, 0, args);
	expect_in(out, "channel kept: 2 queued message(s) of 6 bytes purged");
	free(out);
	send_str(tx, "three");
	/* The producer stays: the channel and its log stay too. */
	daemon_stop(&d);
	chan_tx_close(tx);
	chan_disconnect(c);

	daemon_start(&d, (const char *const[]){ "--data-dir", data, NULL });
	out = chanctl(&d, 0, jargs);
	expect_in(out, "{\"name\":\"kept\",\"queued\":1,\"queued_bytes\":5,");
	free(out);
	daemon_stop(&d);
	remove_tree(data);
}
END_TEST

/* A send held by a full channel takes the room a purge makes. */
START_TEST(test_purge_lets_a_held_send_in)
{
	const char *args[] = { "purge", "full", NULL };
	struct proto_cap cap = { PROTO_CAP_VALUE, 1 };
	struct proto_cap unb = { PROTO_CAP_UNBOUNDED, 0 };
	struct raw_conn rc;
	struct proto_buf b;
	struct proto_msg m;
	struct daemon d;
	chan_client *c;
	chan_rx *rx;
	char *out;

	daemon_start(&d, NULL);
	raw_conn_open(&rc, &d, 1, 4096);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_open_cap(&b, PROTO_OPEN_TX, 2, "full", 4,
	    &cap, &unb), 0);
	ck_assert_int_eq(proto_enc_send(&b, 3, 1, "one", 3), 0);
	ck_assert_int_eq(proto_enc_send(&b, 4, 1, "two!", 4), 0);
	raw_send(&rc, &b);
	proto_buf_fini(&b);
	raw_expect(&rc, &m);
	ck_assert_int_eq(m.op, PROTO_HANDLE);
	raw_expect_ok(&rc, 3);
	raw_ping(&rc, 5);		/* "two!" is held by now */

	out = chanctl(&d, 0, args);
	expect_in(out, "channel full: 1 queued message(s) of 3 bytes purged; "
	    "0 in flight, 1 queued now\n");
	free(out);
	raw_expect_ok(&rc, 4);
	c = test_connect(&d);
	expect_rc(chan_rx_open(c, "full", &rx), 0, "rx open");
	expect_str(rx, "two!");
	chan_rx_close(rx);
	chan_disconnect(c);
	raw_conn_close(&rc);
	daemon_stop(&d);
}
END_TEST

/* purge of a channel that does not exist, or of a bad name. */
START_TEST(test_purge_refusals)
{
	const char *args[] = { "purge", "none", NULL };
	struct daemon d;
	chan_client *c;
	void *data;
	size_t len;
	char *out;

	daemon_start(&d, NULL);
	out = chanctl(&d, 1, args);
	free(out);
	c = test_connect(&d);
	expect_rc(chan_client_admin(c, "purge", "none", 4, &data, &len),
	    CHAN_EOPTION, "purge of no channel");
	expect_in(chan_client_errmsg(c), "no channel 'none'");
	expect_rc(chan_client_admin(c, "purge", "", 0, &data, &len),
	    CHAN_EBADNAME, "purge of an empty name");
	expect_rc(chan_client_admin(c, "explode", "", 0, &data, &len),
	    CHAN_EOPTION, "unknown action");
	expect_in(chan_client_errmsg(c), "unknown action 'explode'");
	expect_rc(chan_client_admin(c, "reload", "x", 1, &data, &len),
	    CHAN_EOPTION, "reload with an argument");
	/* The connection is still fine. */
	expect_rc(chan_client_info(c, "daemon", NULL, 0, 0, &data, &len), 0,
	    "info after refusals");
	free(data);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* disconnect closes the connection named by its id, telling it why. */
START_TEST(test_disconnect_closes_the_connection_by_id)
{
	const char *jargs[] = { "connections", "--json", NULL };
	const char *bad[] = { "disconnect", "999999", NULL };
	const char *args[] = { "disconnect", NULL, NULL };
	char want[128], id[32], *out, *log;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;
	long long n;
	void *data;
	size_t len;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "gone");
	out = chanctl(&d, 0, jargs);
	snprintf(want, sizeof want, ",\"pid\":%ld,", (long)getpid());
	ck_assert_msg(strstr(out, want) != NULL, "no connection:\n%s", out);
	/* The id just before our pid's entry. */
	n = json_num(out, "{\"id\":");
	free(out);
	snprintf(id, sizeof id, "%lld", n);
	args[1] = id;
	out = chanctl(&d, 0, args);
	snprintf(want, sizeof want, "connection %lld (pid %ld, uid %ld) "
	    "disconnected\n", n, (long)getpid(), (long)getuid());
	expect_in(out, want);
	free(out);
	expect_rc(chan_client_info(c, "daemon", NULL, 0, 0, &data, &len),
	    CHAN_ECONNLOST, "a request after the disconnection");
	expect_in(chan_client_errmsg(c), "closed by an administrator");
	free(chanctl(&d, 1, bad));
	log = daemon_log(&d);
	snprintf(want, sizeof want, "connection %lld (pid=%ld uid=%ld) "
	    "disconnected by connection ", n, (long)getpid(),
	    (long)getuid());
	expect_in(log, want);
	free(log);
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* log-level takes effect at once, and says who changed it. */
START_TEST(test_log_level_changes_at_once)
{
	const char *dbg[] = { "log-level", "debug", NULL };
	const char *bad[] = { "log-level", "loud", NULL };
	const char *status[] = { NULL };
	struct daemon d;
	chan_client *c;
	char *out, *log;

	daemon_start(&d, NULL);
	out = chanctl(&d, 0, dbg);
	expect_in(out, "log level debug (was info)\n");
	free(out);
	free(chanctl(&d, 1, bad));
	c = test_connect(&d);
	chan_disconnect(c);
	out = chanctl(&d, 0, status);
	expect_in(out, "log level    debug\n");
	free(out);
	log = daemon_stop_log(&d);
	expect_in(log, "chand: notice: log level changed from info to debug "
	    "by connection ");
	expect_in(log, "chand: debug: ");
	free(log);
}
END_TEST

START_TEST(test_chanctl_without_a_daemon_exits_7)
{
	const char *argv[] = { CHANCTL_BIN, "--socket", NULL, NULL };
	char dir[PATH_MAX], sock[PATH_MAX];
	struct cmd_result r;

	make_dir(dir, sizeof dir);
	path_join(sock, sizeof sock, dir, "none.sock");
	argv[2] = sock;
	run_cmd(argv, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 7, "exit %d: %s", r.code, r.err);
	expect_in(r.err, "no daemon running on ");
	cmd_result_fini(&r);
	rmdir(dir);
}
END_TEST

START_TEST(test_chanctl_usage_errors_exit_2)
{
	const char *bad[][4] = {
		{ CHANCTL_BIN, "queues", NULL },
		{ CHANCTL_BIN, "status", "extra", NULL },
		{ CHANCTL_BIN, "--limit", "0", NULL },
		{ CHANCTL_BIN, "--bogus", NULL },
		{ CHANCTL_BIN, "purge", NULL },
		{ CHANCTL_BIN, "reload", "now", NULL },
	};
	struct cmd_result r;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		run_cmd(bad[i], NULL, 0, CMD_MS, &r);
		ck_assert_msg(r.code == 2, "%s: exit %d", bad[i][1], r.code);
		expect_in(r.err, "chanctl: ");
		cmd_result_fini(&r);
	}
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite *s = suite_create("e2e_admin");
	TCase *tc = tcase_create("admin");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_chanctl_shows_live_channel_figures);
	tcase_add_test(tc, test_chanctl_shows_held_sends_and_capacity);
	tcase_add_test(tc, test_chanctl_status_shows_daemon_figures);
	tcase_add_test(tc, test_chanctl_connections_lists_clients);
	tcase_add_test(tc, test_channels_are_paged_by_limit);
	tcase_add_test(tc, test_channels_are_paged_to_fit_the_frame_limit);
	tcase_add_test(tc, test_info_pages_through_the_library);
	tcase_add_test(tc, test_many_channels_page_in_order);
	tcase_add_test(tc, test_channels_show_producers_ages_and_recent_rates);
	tcase_add_test(tc, test_an_idle_channel_keeps_no_samples);
	tcase_add_test(tc, test_channels_show_rings_and_the_consumer_s_path);
	tcase_add_test(tc, test_connections_show_client_age_and_bytes);
	tcase_add_test(tc,
	    test_chanctl_config_shows_the_effective_configuration);
	tcase_add_test(tc,
	    test_chanctl_logs_names_each_durable_channels_directory);
	tcase_add_test(tc, test_json_names_are_unambiguous);
	tcase_add_test(tc, test_purge_drops_queued_messages_and_keeps_in_flight);
	tcase_add_test(tc, test_purge_lets_a_held_send_in);
	tcase_add_test(tc, test_purge_of_a_durable_channel_survives_a_restart);
	tcase_add_test(tc, test_purge_refusals);
	tcase_add_test(tc, test_disconnect_closes_the_connection_by_id);
	tcase_add_test(tc, test_log_level_changes_at_once);
	tcase_add_test(tc, test_chanctl_without_a_daemon_exits_7);
	tcase_add_test(tc, test_chanctl_usage_errors_exit_2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(admin_suite());
}

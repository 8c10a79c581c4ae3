/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_consumer.c: the consumer end, through libchanclient against a
 * real chand: the single-consumer rule, timeouts that lose nothing,
 * acknowledgement and redelivery when a consumer closes or is killed,
 * prefetch, and disconnection held back by unacknowledged messages.
 *
 * Consumer processes are plain fork()s with their own connection; they
 * talk to the test through pipes and their exit code, never through Check.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
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

static struct daemon	d;

/*
 * Helpers: each asserts the exact result it expects (more in e2e_util.h).
 */

static int
rx_try_open(chan_client *c, const char *name, unsigned flags,
    unsigned prefetch, chan_rx **rx)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;

	o.flags = flags;
	o.prefetch = prefetch;
	*rx = NULL;
	return chan_rx_open_ex(c, name, strlen(name), &o, rx);
}

static chan_rx *
rx_open_flags(chan_client *c, const char *name, unsigned flags,
    unsigned prefetch)
{
	chan_rx *rx;
	int rc;

	rc = rx_try_open(c, name, flags, prefetch, &rx);
	ck_assert_msg(rc == 0, "chan_rx_open %s: %s (%s)", name,
	    chan_errname(rc), chan_client_errmsg(c));
	return rx;
}

/*
 * Opens the consumer of a channel whose previous consumer's process has
 * just died (kill -9, or exit). The kernel hands the daemon that
 * connection's end of file asynchronously, and the protocol has nothing
 * that tells another connection when the daemon has read it: no event
 * announces a dead peer, and an OPEN_RX that arrives first is rightly
 * refused with BUSY. So CHAN_EBUSY, and only CHAN_EBUSY, is retried,
 * until HARNESS_WAIT_MS has passed. The loop does not spin: every attempt
 * is a full OPEN_RX round trip, blocked until the daemon's loop has
 * answered it, and each such turn of the loop is one in which it can read
 * the dead connection's end of file.
 */
static chan_rx *
rx_open_after_kill(chan_client *c, const char *name, unsigned flags)
{
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	chan_rx *rx;
	int rc;

	while ((rc = rx_try_open(c, name, flags, 0, &rx)) == CHAN_EBUSY &&
	    now_ms() < deadline)
		;
	ck_assert_msg(rc == 0, "chan_rx_open %s after kill: %s (%s)", name,
	    chan_errname(rc), chan_client_errmsg(c));
	return rx;
}

static void
send_numbered(chan_tx *tx, int first, int last)
{
	char buf[32];
	int i;

	for (i = first; i <= last; i++) {
		snprintf(buf, sizeof buf, "m%d", i);
		send_str(tx, buf);
	}
}

static int
msg_is(const chan_msg *m, const char *s)
{
	return chan_msg_len(m) == strlen(s) &&
	    memcmp(chan_msg_data(m), s, strlen(s)) == 0;
}

/* Receives s, asserting its redelivered mark when redelivered >= 0. */
static void
expect_marked(chan_rx *rx, const char *s, int redelivered)
{
	chan_msg *m = recv_msg(rx);

	ck_assert_msg(msg_is(m, s), "got \"%.*s\", want \"%s\"",
	    (int)chan_msg_len(m), (const char *)chan_msg_data(m), s);
	if (redelivered >= 0)
		ck_assert_msg(!chan_msg_redelivered(m) == !redelivered,
		    "\"%s\" redelivered mark is %d, want %d", s,
		    chan_msg_redelivered(m), redelivered);
	chan_msg_free(m);
}

static void
expect_numbered(chan_rx *rx, int first, int last, int redelivered)
{
	char buf[32];
	int i;

	for (i = first; i <= last; i++) {
		snprintf(buf, sizeof buf, "m%d", i);
		expect_marked(rx, buf, redelivered);
	}
}

/* Forked children (child_fork, e2e_util.h). */

/*
 * A consumer process. It opens the channel's consumer (manual ack when
 * ack_upto >= 0), receives count messages, acknowledges up to message
 * number ack_upto (counting from 1), writes 'R' on ready_fd, and then
 * either waits for end of file on hold_fd (and closes cleanly) or, with
 * hold_fd < 0, hangs until killed. It first closes other_fd, the test's
 * end of its pipes, so that end of file can come.
 */
struct consumer {
	const char	*name;
	int		 count;
	int		 ack_upto;
	int		 ready_fd;
	int		 hold_fd;
	int		 other_fd;
};

static int
consumer_recv(struct consumer *k, chan_rx *rx)
{
	chan_msg *m;
	int i, rc;

	for (i = 1; i <= k->count; i++) {
		if (chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m) != 0)
			return 12;
		rc = i == k->ack_upto ? chan_rx_ack(rx, m) : 0;
		chan_msg_free(m);
		if (rc != 0)
			return 13;
	}
	if (k->ack_upto >= 0 && chan_rx_flush(rx) != 0)
		return 14;
	return 0;
}

static int
consumer_main(void *arg)
{
	struct consumer *k = arg;
	chan_client *c;
	chan_rx *rx;
	ssize_t n;
	char b;
	int rc;

	if (k->other_fd >= 0)
		close(k->other_fd);
	if (chan_connect(d.sock, &c) != 0)
		return 10;
	if (rx_try_open(c, k->name, k->ack_upto >= 0 ? CHAN_MANUAL_ACK : 0,
	    0, &rx) != 0)
		return 11;
	if ((rc = consumer_recv(k, rx)) != 0)
		return rc;
	if (write(k->ready_fd, "R", 1) != 1)
		return 15;
	if (k->hold_fd < 0)
		for (;;)
			pause();
	while ((n = read(k->hold_fd, &b, 1)) > 0 || (n < 0 && errno == EINTR))
		;
	chan_rx_close(rx);
	chan_disconnect(c);
	return 0;
}

/* The single consumer. */

START_TEST(test_second_consumer_is_refused_with_pid)
{
	struct consumer k = { "taken", 0, -1, -1, -1, -1 };
	int ready[2], hold[2];
	char pidstr[32];
	chan_client *c;
	const char *msg;
	chan_rx *rx;
	pid_t pid;

	daemon_start(&d, NULL);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(hold), 0);
	k.ready_fd = ready[1];
	k.hold_fd = hold[0];
	k.other_fd = hold[1];
	pid = child_fork(consumer_main, &k);
	close(ready[1]);
	close(hold[0]);
	ck_assert_int_eq(pipe_read_byte(ready[0]), 'R');

	c = test_connect(&d);
	expect_rc(rx_try_open(c, "taken", 0, 0, &rx), CHAN_EBUSY,
	    "second consumer");
	msg = chan_client_errmsg(c);
	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	ck_assert_msg(strstr(msg, "taken") != NULL,
	    "errmsg \"%s\" does not name the channel", msg);
	ck_assert_msg(strstr(msg, pidstr) != NULL,
	    "errmsg \"%s\" does not name the holder's pid %s", msg, pidstr);

	close(hold[1]);
	ck_assert_int_eq(child_wait(pid), 0);
	close(ready[0]);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_second_consumer_on_the_same_connection_is_refused)
{
	chan_client *c;
	chan_rx *rx, *rx2;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	rx = rx_open_flags(c, "same", 0, 0);
	expect_rc(rx_try_open(c, "same", 0, 0, &rx2), CHAN_EBUSY,
	    "second consumer, same connection");
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_new_consumer_can_open_after_the_first_closes)
{
	chan_client *c1, *c2;
	chan_rx *rx, *rx2;
	chan_tx *tx;

	daemon_start(&d, NULL);
	c1 = test_connect(&d);
	c2 = test_connect(&d);
	tx = tx_open(c1, "handover");
	rx = rx_open_flags(c1, "handover", 0, 0);
	expect_rc(rx_try_open(c2, "handover", 0, 0, &rx2), CHAN_EBUSY,
	    "while held");
	expect_rc(chan_rx_close(rx), 0, "close first consumer");
	rx2 = rx_open_flags(c2, "handover", 0, 0);
	send_str(tx, "to the second");
	expect_marked(rx2, "to the second", 0);
	chan_tx_close(tx);
	chan_rx_close(rx2);
	chan_disconnect(c1);
	chan_disconnect(c2);
	daemon_stop(&d);
}
END_TEST

/* Timeouts. */

START_TEST(test_recv_timeout_does_not_lose_a_later_message)
{
	chan_msg *m = NULL;
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "later");
	rx = rx_open_flags(c, "later", 0, 0);
	expect_rc(chan_rx_recv_timeout(rx, 100, &m), CHAN_ETIMEDOUT,
	    "recv on empty channel");
	send_str(tx, "after the timeout");
	expect_marked(rx, "after the timeout", 0);
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_tx_close(tx);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_message_arriving_after_a_timeout_goes_to_the_next_consumer)
{
	chan_client *c, *pc;
	chan_msg *m = NULL;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	pc = test_connect(&d);
	tx = tx_open(pc, "orphan");
	rx = rx_open_flags(c, "orphan", 0, 0);
	expect_rc(chan_rx_recv_timeout(rx, 100, &m), CHAN_ETIMEDOUT,
	    "recv on empty channel");
	/* The credit of that receive is still granted: it may go to rx. */
	send_str(tx, "orphan");
	expect_rc(chan_rx_close(rx), 0, "close rx holding credit");
	rx = rx_open_flags(c, "orphan", 0, 0);
	/* Redelivered or not, depending on when it arrived: both are fine. */
	expect_marked(rx, "orphan", -1);
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_tx_close(tx);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(pc);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* Acknowledgement and redelivery. */

START_TEST(test_unacked_messages_go_to_the_next_consumer_in_order_redelivered)
{
	chan_msg *m[10];
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	int i;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "manual");
	send_numbered(tx, 1, 10);
	rx = rx_open_flags(c, "manual", CHAN_MANUAL_ACK, 0);
	for (i = 0; i < 10; i++)
		m[i] = recv_msg(rx);
	ck_assert(msg_is(m[3], "m4"));
	expect_rc(chan_rx_ack(rx, m[3]), 0, "ack m4");
	expect_rc(chan_rx_flush(rx), 0, "flush");
	for (i = 0; i < 10; i++)
		chan_msg_free(m[i]);
	expect_rc(chan_rx_close(rx), 0, "close");

	rx = rx_open_flags(c, "manual", 0, 0);
	expect_numbered(rx, 5, 10, 1);
	/* Nothing else: m1..m4 were acknowledged for good. */
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_tx_close(tx);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_killed_consumer_process_loses_no_message)
{
	struct consumer k = { "crash", 8, 5, -1, -1, -1 };
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	char buf[32];
	chan_msg *m;
	int ready[2], i, seen_fresh = 0;
	pid_t pid;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "crash");
	send_numbered(tx, 1, 20);
	ck_assert_int_eq(pipe(ready), 0);
	k.ready_fd = ready[1];
	pid = child_fork(consumer_main, &k);
	close(ready[1]);
	/* It received m1..m8 and its ack of m5 reached the daemon. */
	ck_assert_int_eq(pipe_read_byte(ready[0]), 'R');
	close(ready[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(child_wait(pid), 128 + SIGKILL);

	rx = rx_open_after_kill(c, "crash", 0);
	/* m6..m8 were delivered to the dead consumer: marked. */
	expect_numbered(rx, 6, 8, 1);
	/*
	 * m9..m20 in order; any the library had prefetched for the dead
	 * consumer come first and marked, the rest unmarked.
	 */
	for (i = 9; i <= 20; i++) {
		snprintf(buf, sizeof buf, "m%d", i);
		m = recv_msg(rx);
		ck_assert_msg(msg_is(m, buf), "got \"%.*s\", want \"%s\"",
		    (int)chan_msg_len(m), (const char *)chan_msg_data(m), buf);
		if (!chan_msg_redelivered(m))
			seen_fresh = 1;
		else
			ck_assert_msg(!seen_fresh, "%s marked redelivered "
			    "after an unmarked message", buf);
		chan_msg_free(m);
	}
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_tx_close(tx);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_auto_acked_message_is_not_redelivered)
{
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "auto");
	send_numbered(tx, 1, 2);
	rx = rx_open_flags(c, "auto", 0, 0);
	expect_marked(rx, "m1", 0);
	expect_rc(chan_rx_close(rx), 0, "close");
	rx = rx_open_flags(c, "auto", 0, 0);
	/* m1 was acknowledged on receipt; m2 may have been prefetched. */
	expect_marked(rx, "m2", -1);
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_tx_close(tx);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * A consumer process with automatic acknowledgement: one try_recv (a round
 * trip, after which its buffer holds all that the daemon had), then
 * recvs from the buffer up to count messages in all, then chan_rx_flush
 * if flush; then 'R' on ready_fd, and it hangs until killed.
 */
struct auto_consumer {
	int	count;
	int	flush;
	int	ready_fd;
};

static int
auto_consumer_main(void *arg)
{
	struct auto_consumer *k = arg;
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	int i, rc;

	if (chan_connect(d.sock, &c) != 0)
		return 10;
	/* The previous one was killed: BUSY until the daemon has seen it. */
	while ((rc = rx_try_open(c, "autocrash", 0, 8, &rx)) == CHAN_EBUSY &&
	    now_ms() < deadline)
		;
	if (rc != 0)
		return 10;
	for (i = 0; i < k->count; i++) {
		if ((i == 0 ? chan_rx_try_recv(rx, &m) :
		    chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m)) != 0)
			return 11;
		chan_msg_free(m);
	}
	if (k->flush && chan_rx_flush(rx) != 0)
		return 12;
	if (write(k->ready_fd, "R", 1) != 1)
		return 13;
	for (;;)
		pause();
}

/* Runs an auto_consumer to its 'R', then kills it. */
static void
auto_consumer_run(int count, int flush)
{
	struct auto_consumer k = { count, flush, -1 };
	int ready[2];
	pid_t pid;

	ck_assert_int_eq(pipe(ready), 0);
	k.ready_fd = ready[1];
	pid = child_fork(auto_consumer_main, &k);
	close(ready[1]);
	ck_assert_int_eq(pipe_read_byte(ready[0]), 'R');
	close(ready[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(child_wait(pid), 128 + SIGKILL);
}

/*
 * chanclient.h: an automatic acknowledgement reaches the daemon when the
 * receiver's buffer runs empty and it asks for more, or at chan_rx_flush;
 * a process that dies before that gets its messages delivered again.
 */
START_TEST(test_auto_acks_not_yet_sent_are_redelivered_after_a_crash)
{
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "autocrash");
	send_numbered(tx, 1, 6);
	/* m1..m3 handed out from the buffer, no ACK sent: they come back. */
	auto_consumer_run(3, 0);
	/* m1..m3 again, then flushed: acknowledged for good. */
	auto_consumer_run(3, 1);
	rx = rx_open_after_kill(c, "autocrash", 0);
	/* m4..m6 were delivered to both dead consumers. */
	expect_numbered(rx, 4, 6, 1);
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_tx_close(tx);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_prefetched_unreceived_messages_return_to_the_next_consumer)
{
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "prefetch");
	send_numbered(tx, 1, 12);
	rx = rx_open_flags(c, "prefetch", 0, 8);
	expect_numbered(rx, 1, 2, 0);
	expect_rc(chan_rx_close(rx), 0, "close");
	rx = rx_open_flags(c, "prefetch", 0, 0);
	/*
	 * The first receive granted a window of 8: m3..m8 were delivered
	 * ahead and never handed out, so they come back marked. The
	 * library may have topped the window up as it handed out m1 and
	 * m2, so m9 and m10 may be marked too; m11 and m12 were never
	 * delivered.
	 */
	expect_numbered(rx, 3, 8, 1);
	expect_numbered(rx, 9, 10, -1);
	expect_numbered(rx, 11, 12, 0);
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_tx_close(tx);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_prefetching_consumer_receives_everything_in_order)
{
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "window");
	rx = rx_open_flags(c, "window", 0, 64);
	send_numbered(tx, 1, 1000);
	chan_tx_close(tx);
	expect_numbered(rx, 1, 1000, 0);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_disconnect_waits_until_held_messages_are_acked)
{
	chan_msg *m[3];
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	int i;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "held");
	rx = rx_open_flags(c, "held", CHAN_MANUAL_ACK, 0);
	send_numbered(tx, 1, 3);
	expect_rc(chan_tx_close(tx), 0, "close the only producer");
	for (i = 0; i < 3; i++)
		m[i] = recv_msg(rx);
	/* No producer, nothing queued, but three in flight: not yet. */
	expect_try_rc(rx, CHAN_EEMPTY);
	expect_rc(chan_rx_ack(rx, m[1]), 0, "ack m2");
	expect_try_rc(rx, CHAN_EEMPTY);
	expect_rc(chan_rx_ack(rx, m[2]), 0, "ack m3");
	for (i = 0; i < 3; i++)
		chan_msg_free(m[i]);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * A fake daemon on a socket of the test's own, for replies the real one
 * never sends: it completes the handshake, gives handle 1 to every OPEN,
 * answers CLOSE and PING, and rejects every CREDIT with an ERROR carrying
 * request id 0 (as the daemon answers a failed ACK or CREDIT).
 */
struct fake_daemon {
	char		dir[64];
	char		sock[96];
	int		lfd;
	int		refuse;		/* ERROR(0, LIMIT) and close at once */
	pthread_t	thread;
};

/* Reads exactly len bytes; 0, or -1 at end of stream or on error. */
static int
fake_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Encodes the fake daemon's answer to m into out (possibly nothing). */
static void
fake_answer(const struct proto_msg *m, struct proto_buf *out)
{
	switch (m->op) {
	case PROTO_HELLO:
		proto_enc_welcome(out, m->rid, PROTO_VERSION, "fake", 1024 * 1024,
		    (uint64_t)getpid());
		break;
	case PROTO_OPEN_TX:
	case PROTO_OPEN_RX:
		proto_enc_handle(out, m->rid, 1);
		break;
	case PROTO_CLOSE:
	case PROTO_PING:
		proto_enc_ok(out, m->rid);
		break;
	case PROTO_CREDIT:
		proto_enc_error(out, 0, CHAN_EPROTO,
		    "CREDIT refused by the fake daemon");
		break;
	case PROTO_RING:
		/* Under CHANCLIENT_SHM=1: the handle stays on the socket. */
		proto_enc_error(out, m->rid, CHAN_EOPTION,
		    "the fake daemon has no rings");
		break;
	default:
		break;
	}
}

static void *
fake_daemon_main(void *arg)
{
	struct fake_daemon *f = arg;
	struct proto_decoder *dec;
	struct proto_buf out;
	struct proto_msg m;
	unsigned char hdr[4];
	char *body = NULL;
	size_t len;
	int fd;

	if ((fd = accept(f->lfd, NULL, NULL)) < 0)
		return NULL;
	dec = proto_decoder_new(1024 * 1024);
	proto_buf_init(&out);
	if (f->refuse) {
		/* Closes without reading the HELLO, as chand over its limit. */
		proto_enc_error(&out, 0, CHAN_ELIMIT, "fake connection limit");
		(void)!write(fd, out.data, out.len);
		proto_decoder_free(dec);
		dec = NULL;
	}
	while (dec != NULL && fake_read_full(fd, hdr, 4) == 0) {
		len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
		    (size_t)hdr[2] << 8 | hdr[3];
		free(body);
		if (len > 65536 || (body = malloc(len)) == NULL ||
		    fake_read_full(fd, body, len) != 0)
			break;
		if (proto_decode(dec, body, len, &m) != 0)
			break;
		fake_answer(&m, &out);
		if (out.len > 0 && write(fd, out.data, out.len) !=
		    (ssize_t)out.len)
			break;
		out.len = 0;
	}
	free(body);
	proto_buf_fini(&out);
	proto_decoder_free(dec);
	close(fd);
	return NULL;
}

static void
fake_daemon_start(struct fake_daemon *f)
{
	make_dir(f->dir, sizeof f->dir);
	path_join(f->sock, sizeof f->sock, f->dir, "fake.sock");
	f->lfd = listen_unix(f->sock);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_daemon_main,
	    f), 0);
}

static void
fake_daemon_stop(struct fake_daemon *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->sock);
	rmdir(f->dir);
}

START_TEST(test_rejected_credit_fails_the_waiting_receive_at_once)
{
	struct fake_daemon f;
	chan_msg *m = NULL;
	chan_client *c;
	chan_rx *rx;
	long long start;
	int rc;

	memset(&f, 0, sizeof f);
	fake_daemon_start(&f);
	expect_rc(chan_connect(f.sock, &c), 0, "connect to the fake daemon");
	expect_rc(chan_rx_open(c, "refused", &rx), 0, "open rx");
	start = now_ms();
	rc = chan_rx_recv_timeout(rx, 5000, &m);
	expect_rc(rc, CHAN_ECONNLOST, "recv whose credit was refused");
	ck_assert_msg(now_ms() - start < 2500, "recv took %lld ms",
	    now_ms() - start);
	ck_assert_msg(strstr(chan_client_errmsg(c), "CREDIT refused") != NULL,
	    "errmsg does not carry the daemon's reason: \"%s\"",
	    chan_client_errmsg(c));
	expect_rc(chan_rx_close(rx), CHAN_ECONNLOST, "close after");
	chan_disconnect(c);
	fake_daemon_stop(&f);
}
END_TEST

START_TEST(test_connection_refused_by_the_daemon_reports_its_code)
{
	struct fake_daemon f;
	chan_client *c = NULL;

	memset(&f, 0, sizeof f);
	f.refuse = 1;
	fake_daemon_start(&f);
	expect_rc(chan_connect(f.sock, &c), CHAN_ELIMIT, "refused connect");
	ck_assert_ptr_null(c);
	fake_daemon_stop(&f);
}
END_TEST

START_TEST(test_recv_timeout_reports_disconnected_rather_than_timed_out)
{
	chan_client *c;
	chan_msg *m = NULL;
	chan_tx *tx;
	chan_rx *rx;
	int i;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	rx = rx_open_flags(c, "gone", 0, 0);
	for (i = 0; i < 50; i++) {
		tx = tx_open(c, "gone");
		chan_tx_close(tx);
		/* Both apply at the deadline: disconnected wins. */
		expect_rc(chan_rx_recv_timeout(rx, 1, &m), CHAN_EDISCONNECTED,
		    "recv_timeout after the only producer left");
	}
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* Reads what fd yields until end of file (bounded), NUL-terminated. */
static size_t
read_to_eof(int fd, char *buf, size_t cap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	size_t len = 0;
	ssize_t n;

	for (;;) {
		ck_assert_msg(poll_until(&pfd, 1, deadline) == 1,
		    "no end of file within %d ms", HARNESS_WAIT_MS);
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

START_TEST(test_follow_into_a_closed_pipe_fails_and_loses_nothing)
{
	const char *argv[] = { CHAN_RECV_BIN, "--follow", "piped", NULL };
	char err[1024];
	chan_client *c;
	struct proc p;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "piped");
	proc_spawn(&p, argv);
	close(p.out_fd);	/* nobody will read what it prints */
	p.out_fd = -1;
	send_numbered(tx, 1, 3);
	read_to_eof(p.err_fd, err, sizeof err);
	ck_assert_int_eq(proc_wait(&p, HARNESS_WAIT_MS), 1);
	ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1,
	    "stderr is not one line: \"%s\"", err);
	ck_assert_msg(strstr(err, "'piped'") != NULL,
	    "stderr does not name the channel: %s", err);
	/* The message it could not write was not acknowledged. */
	rx = rx_open_after_kill(c, "piped", 0);
	expect_numbered(rx, 1, 1, 1);
	expect_numbered(rx, 2, 3, -1);
	chan_tx_close(tx);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_cli_error_about_a_name_with_a_newline_is_one_line)
{
	const char *argv[] = { CHAN_RECV_BIN, "--nonblock", "two\nlines",
	    NULL };
	struct cmd_result r;

	daemon_start(&d, NULL);
	run_cmd(argv, NULL, 0, HARNESS_WAIT_MS, &r);
	ck_assert_msg(r.code == 4, "exit %d: %s", r.code, r.err);
	ck_assert_msg(r.err_len > 0 && strchr(r.err, '\n') ==
	    r.err + r.err_len - 1, "stderr is not one line: \"%s\"", r.err);
	ck_assert_msg(strstr(r.err, "two\\nlines") != NULL,
	    "stderr does not show the name escaped: %s", r.err);
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

static Suite *
consumer_suite(void)
{
	Suite *s = suite_create("e2e_consumer");
	TCase *tc;

	tc = tcase_create("single_consumer");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_second_consumer_is_refused_with_pid);
	tcase_add_test(tc,
	    test_second_consumer_on_the_same_connection_is_refused);
	tcase_add_test(tc, test_new_consumer_can_open_after_the_first_closes);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeouts");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_recv_timeout_does_not_lose_a_later_message);
	tcase_add_test(tc,
	    test_message_arriving_after_a_timeout_goes_to_the_next_consumer);
	suite_add_tcase(s, tc);

	tc = tcase_create("acknowledgement");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_unacked_messages_go_to_the_next_consumer_in_order_redelivered);
	tcase_add_test(tc, test_killed_consumer_process_loses_no_message);
	tcase_add_test(tc, test_auto_acked_message_is_not_redelivered);
	tcase_add_test(tc,
	    test_auto_acks_not_yet_sent_are_redelivered_after_a_crash);
	tcase_add_test(tc,
	    test_prefetched_unreceived_messages_return_to_the_next_consumer);
	tcase_add_test(tc,
	    test_prefetching_consumer_receives_everything_in_order);
	tcase_add_test(tc, test_disconnect_waits_until_held_messages_are_acked);
	suite_add_tcase(s, tc);
	tc = tcase_create("failures");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_rejected_credit_fails_the_waiting_receive_at_once);
	tcase_add_test(tc,
	    test_connection_refused_by_the_daemon_reports_its_code);
	tcase_add_test(tc,
	    test_recv_timeout_reports_disconnected_rather_than_timed_out);
	tcase_add_test(tc,
	    test_follow_into_a_closed_pipe_fails_and_loses_nothing);
	tcase_add_test(tc,
	    test_cli_error_about_a_name_with_a_newline_is_one_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(consumer_suite());
}

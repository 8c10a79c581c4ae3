/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_channel.c: channel semantics end to end, through libchanclient
 * against a real chand: payloads, names, ordering, producers coming and
 * going (processes, clones, kill -9), disconnection, many producers, and
 * several threads on one connection.
 *
 * Producer processes are plain fork()s that open their own connection and
 * report through their exit code (never through Check, which belongs to
 * the test's process). Every wait is bounded.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"

#define DEFAULT_MAX_MSG		(1024 * 1024)
#define MANY_PRODUCERS		100
#define MANY_MESSAGES		1000
#define THREAD_MESSAGES		5000

static struct daemon	d;

/*
 * Helpers: each asserts the exact result it expects (more in e2e_util.h).
 */

/* Forked children (child_fork, e2e_util.h). */

/* A producer process: sends "ID:SEQ" for SEQ in 0..count-1. */
struct producer {
	const char	*name;
	int		 id;
	int		 count;
	int		 ready_fd;	/* >= 0: write 'S', then hang */
};

static int
producer_main(void *arg)
{
	struct producer *p = arg;
	chan_client *c;
	chan_tx *tx;
	char buf[32];
	int i, n;

	if (chan_connect(d.sock, &c) != 0)
		return 10;
	if (chan_tx_open(c, p->name, &tx) != 0)
		return 11;
	for (i = 0; i < p->count; i++) {
		n = snprintf(buf, sizeof buf, "%d:%d", p->id, i);
		if (chan_tx_send(tx, buf, (size_t)n) != 0)
			return 12;
	}
	if (p->ready_fd >= 0) {
		if (write(p->ready_fd, "S", 1) != 1)
			return 13;
		for (;;)
			pause();
	}
	if (chan_tx_close(tx) != 0)
		return 14;
	chan_disconnect(c);
	return 0;
}

/* Checks "ID:SEQ" messages: every producer's SEQs 0, 1, 2... in order. */
struct order {
	int	 nprod;
	int	*next;
	long	 total;
};

static void
order_init(struct order *o, int nprod)
{
	o->nprod = nprod;
	o->total = 0;
	o->next = calloc((size_t)nprod, sizeof *o->next);
	ck_assert_ptr_nonnull(o->next);
}

/* Returns NULL or what is wrong with m. */
static const char *
order_add(struct order *o, const chan_msg *m)
{
	char buf[32];
	size_t len = chan_msg_len(m);
	int id, seq;

	if (len >= sizeof buf)
		return "message too long";
	memcpy(buf, chan_msg_data(m), len);
	buf[len] = '\0';
	if (sscanf(buf, "%d:%d", &id, &seq) != 2 || id < 0 || id >= o->nprod)
		return "message not ID:SEQ";
	if (seq != o->next[id])
		return "producer's messages out of order or missing";
	o->next[id]++;
	o->total++;
	return NULL;
}

static void
order_recv(struct order *o, chan_rx *rx, long count)
{
	const char *why;
	chan_msg *m;

	while (count-- > 0) {
		m = recv_msg(rx);
		why = order_add(o, m);
		ck_assert_msg(why == NULL, "\"%.*s\" after %ld messages: %s",
		    (int)chan_msg_len(m), (const char *)chan_msg_data(m),
		    o->total, why);
		chan_msg_free(m);
	}
}

static void
order_expect_complete(struct order *o, int per_producer)
{
	int i;

	for (i = 0; i < o->nprod; i++)
		ck_assert_int_eq(o->next[i], per_producer);
	ck_assert_int_eq(o->total, (long)o->nprod * per_producer);
	free(o->next);
	o->next = NULL;
}

/* Payloads. */

START_TEST(test_binary_payload_with_nul_bytes_round_trips)
{
	static const char bin[] = { 'a', '\0', '\0', 'b', '\xff', '\0',
	    '\x80' };
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "bin");
	rx = rx_open(c, "bin", 0);
	expect_rc(chan_tx_send(tx, bin, sizeof bin), 0, "send binary");
	expect_rc(chan_tx_send(tx, "", 0), 0, "send empty");
	expect_msg(rx, bin, sizeof bin);
	expect_msg(rx, "", 0);
	chan_tx_close(tx);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_payload_of_exactly_max_msg_is_accepted)
{
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	size_t max, i;
	char *buf;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	max = chan_client_max_msg(c);
	ck_assert_uint_eq(max, DEFAULT_MAX_MSG);
	buf = malloc(max);
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < max; i++)
		buf[i] = (char)(i * 7 + i / 251);
	tx = tx_open(c, "big");
	rx = rx_open(c, "big", 0);
	expect_rc(chan_tx_send(tx, buf, max), 0, "send max_msg bytes");
	expect_msg(rx, buf, max);
	free(buf);
	chan_tx_close(tx);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_payload_over_max_msg_is_too_big_and_connection_stays_usable)
{
	static const char *const args[] = { "--max-msg-size", "1000", NULL };
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	char buf[1001];

	daemon_start(&d, args);
	c = test_connect(&d);
	ck_assert_uint_eq(chan_client_max_msg(c), 1000);
	memset(buf, 'x', sizeof buf);
	tx = tx_open(c, "limit");
	rx = rx_open(c, "limit", 0);
	expect_rc(chan_tx_send(tx, buf, 1001), CHAN_ETOOBIG, "send 1001");
	expect_rc(chan_tx_send(tx, buf, 1000), 0, "send 1000 after TOOBIG");
	send_str(tx, "after");
	expect_msg(rx, buf, 1000);
	expect_str(rx, "after");
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_tx_close(tx);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* Names. */

START_TEST(test_name_of_255_bytes_is_accepted)
{
	char name[256];
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	memset(name, 'n', 255);
	name[255] = '\0';
	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, name);
	rx = rx_open(c, name, 0);
	send_str(tx, "long name");
	expect_str(rx, "long name");
	chan_tx_close(tx);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_name_of_256_bytes_is_rejected_as_bad_name)
{
	char name[257];
	chan_client *c;
	chan_tx *tx = NULL;
	chan_rx *rx = NULL;

	memset(name, 'n', 256);
	name[256] = '\0';
	daemon_start(&d, NULL);
	c = test_connect(&d);
	expect_rc(chan_tx_open(c, name, &tx), CHAN_EBADNAME, "tx 256");
	expect_rc(chan_rx_open(c, name, &rx), CHAN_EBADNAME, "rx 256");
	expect_rc(chan_tx_open_ex(c, name, 256, NULL, &tx), CHAN_EBADNAME,
	    "tx_ex 256");
	/* The connection is still good. */
	tx = tx_open(c, "fine");
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_empty_name_is_rejected_as_bad_name)
{
	chan_client *c;
	chan_tx *tx = NULL;
	chan_rx *rx = NULL;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	expect_rc(chan_tx_open(c, "", &tx), CHAN_EBADNAME, "tx \"\"");
	expect_rc(chan_rx_open(c, "", &rx), CHAN_EBADNAME, "rx \"\"");
	expect_rc(chan_tx_open_ex(c, "x", 0, NULL, &tx), CHAN_EBADNAME,
	    "tx_ex len 0");
	expect_rc(chan_rx_open_ex(c, "x", 0, NULL, &rx), CHAN_EBADNAME,
	    "rx_ex len 0");
	tx = tx_open(c, "fine");
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_names_with_nul_bytes_are_distinct_channels)
{
	static const char n1[] = { 'a', '\0', 'b' };
	static const char n2[] = { 'a', '\0', 'c' };
	static const char n3[] = { 'a', '\0' };
	const char *names[] = { n1, n2, n3, "a" };
	size_t lens[] = { 3, 3, 2, 1 };
	chan_tx *tx[4];
	chan_rx *rx[4];
	chan_client *c;
	char buf[8];
	int i;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	for (i = 0; i < 4; i++) {
		expect_rc(chan_tx_open_ex(c, names[i], lens[i], NULL, &tx[i]),
		    0, "tx_open_ex");
		snprintf(buf, sizeof buf, "m%d", i);
		send_str(tx[i], buf);
	}
	for (i = 0; i < 4; i++) {
		expect_rc(chan_rx_open_ex(c, names[i], lens[i], NULL, &rx[i]),
		    0, "rx_open_ex");
		snprintf(buf, sizeof buf, "m%d", i);
		expect_str(rx[i], buf);
		expect_try_rc(rx[i], CHAN_EEMPTY);
	}
	for (i = 0; i < 4; i++) {
		chan_tx_close(tx[i]);
		chan_rx_close(rx[i]);
	}
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* Ordering and producers. */

START_TEST(test_messages_of_one_producer_arrive_in_order)
{
	struct order o;
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	char buf[32];
	int i;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "fifo");
	rx = rx_open(c, "fifo", 0);
	for (i = 0; i < 2000; i++) {
		snprintf(buf, sizeof buf, "0:%d", i);
		send_str(tx, buf);
	}
	chan_tx_close(tx);
	order_init(&o, 1);
	order_recv(&o, rx, 2000);
	order_expect_complete(&o, 2000);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_two_producer_processes_deliver_everything_in_producer_order)
{
	struct producer p[2];
	pid_t pid[2];
	struct order o;
	chan_client *c;
	chan_tx *hold;
	chan_rx *rx;
	int i;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	rx = rx_open(c, "two", 0);
	/* Our own producer keeps the channel connected until all are in. */
	hold = tx_open(c, "two");
	for (i = 0; i < 2; i++) {
		p[i] = (struct producer){ "two", i, 3000, -1 };
		pid[i] = child_fork(producer_main, &p[i]);
	}
	order_init(&o, 2);
	order_recv(&o, rx, 6000);
	order_expect_complete(&o, 3000);
	for (i = 0; i < 2; i++)
		child_wait_ok(pid[i]);
	chan_tx_close(hold);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_hundred_producer_processes_deliver_every_message_in_order)
{
	static const char *const args[] = { "--max-connections", "1000",
	    NULL };
	struct producer p[MANY_PRODUCERS];
	pid_t pid[MANY_PRODUCERS];
	struct order o;
	chan_client *c;
	chan_tx *hold;
	chan_rx *rx;
	int i;

	daemon_start(&d, args);
	c = test_connect(&d);
	rx = rx_open(c, "many", 256);
	hold = tx_open(c, "many");
	for (i = 0; i < MANY_PRODUCERS; i++) {
		p[i] = (struct producer){ "many", i, MANY_MESSAGES, -1 };
		pid[i] = child_fork(producer_main, &p[i]);
	}
	order_init(&o, MANY_PRODUCERS);
	order_recv(&o, rx, (long)MANY_PRODUCERS * MANY_MESSAGES);
	ck_assert_int_eq(o.total, 100000);
	order_expect_complete(&o, MANY_MESSAGES);
	for (i = 0; i < MANY_PRODUCERS; i++)
		child_wait_ok(pid[i]);
	chan_tx_close(hold);
	/* Nothing beyond the 100,000: the next event is the disconnection. */
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_tx_clone_keeps_channel_connected_after_original_closes)
{
	chan_client *c;
	chan_tx *tx, *clone = NULL;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	rx = rx_open(c, "clone", 0);
	tx = tx_open(c, "clone");
	expect_rc(chan_tx_clone(tx, &clone), 0, "clone");
	expect_rc(chan_tx_close(tx), 0, "close original");
	send_str(clone, "from clone");
	expect_str(rx, "from clone");
	expect_try_rc(rx, CHAN_EEMPTY);
	expect_rc(chan_tx_close(clone), 0, "close clone");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_consumer_started_before_any_producer_waits_for_it)
{
	chan_client *c, *pc;
	chan_msg *m = NULL;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	rx = rx_open(c, "early", 0);
	expect_rc(chan_rx_recv_timeout(rx, 200, &m), CHAN_ETIMEDOUT,
	    "recv with no producer yet");
	expect_try_rc(rx, CHAN_EEMPTY);
	pc = test_connect(&d);
	tx = tx_open(pc, "early");
	send_str(tx, "late");
	chan_tx_close(tx);
	expect_str(rx, "late");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(pc);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_messages_of_an_exited_producer_are_drained_before_disconnect)
{
	struct producer p = { "gone", 0, 5, -1 };
	struct order o;
	chan_client *c;
	chan_rx *rx;

	daemon_start(&d, NULL);
	child_wait_ok(child_fork(producer_main, &p));
	c = test_connect(&d);
	rx = rx_open(c, "gone", 0);
	order_init(&o, 1);
	order_recv(&o, rx, 5);
	order_expect_complete(&o, 5);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_try_recv_is_empty_while_a_producer_is_attached)
{
	chan_client *c, *pc;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	pc = test_connect(&d);
	tx = tx_open(pc, "idle");
	c = test_connect(&d);
	rx = rx_open(c, "idle", 0);
	expect_try_rc(rx, CHAN_EEMPTY);
	expect_try_rc(rx, CHAN_EEMPTY);
	send_str(tx, "one");
	expect_str(rx, "one");
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_tx_close(tx);
	chan_rx_close(rx);
	chan_disconnect(pc);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_try_recv_reports_disconnected_not_empty_after_producer_closed)
{
	chan_client *c, *pc;
	chan_msg *m = NULL;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	pc = test_connect(&d);
	tx = tx_open(pc, "drop");
	send_str(tx, "last");
	expect_rc(chan_tx_close(tx), 0, "tx close");
	c = test_connect(&d);
	rx = rx_open(c, "drop", 0);
	expect_rc(chan_rx_try_recv(rx, &m), 0, "try_recv queued message");
	ck_assert_uint_eq(chan_msg_len(m), 4);
	ck_assert_int_eq(memcmp(chan_msg_data(m), "last", 4), 0);
	chan_msg_free(m);
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(pc);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_disconnection_holds_until_a_new_producer_attaches)
{
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	rx = rx_open(c, "rearm", 0);
	tx = tx_open(c, "rearm");
	send_str(tx, "first");
	chan_tx_close(tx);
	expect_str(rx, "first");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	/* As in Rust, every receive after it is disconnected at once. */
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	expect_rc(chan_rx_recv_timeout(rx, 0, &(chan_msg *){ NULL }),
	    CHAN_EDISCONNECTED, "recv_timeout(0)");
	/* A new producer ends the state: the channel is then just empty. */
	tx = tx_open(c, "rearm");
	expect_try_rc(rx, CHAN_EEMPTY);
	send_str(tx, "second");
	chan_tx_close(tx);
	expect_str(rx, "second");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_killed_producer_process_counts_as_dropped)
{
	struct producer p = { "killed", 0, 3, -1 };
	struct order o;
	chan_client *c;
	chan_rx *rx;
	int fds[2], code;
	pid_t pid;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	rx = rx_open(c, "killed", 0);
	ck_assert_int_eq(pipe(fds), 0);
	p.ready_fd = fds[1];
	pid = child_fork(producer_main, &p);
	close(fds[1]);
	/* The child has had OK for all three sends and holds its tx. */
	ck_assert_int_eq(pipe_read_byte(fds[0]), 'S');
	close(fds[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	code = child_wait(pid);
	ck_assert_int_eq(code, 128 + SIGKILL);
	order_init(&o, 1);
	order_recv(&o, rx, 3);
	order_expect_complete(&o, 3);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* Channel lifetime. */

/*
 * A producer came and went, and the empty channel was forgotten: a
 * consumer that comes now finds it disconnected, as it would had it come
 * first (the name is remembered, --remember-for).
 */
START_TEST(test_consumer_after_the_producer_left_sees_disconnection)
{
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "gone");
	expect_rc(chan_tx_close(tx), 0, "tx close");
	rx = rx_open(c, "gone", 0);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	/* Consumed once, the name is still remembered while it ends again. */
	rx = rx_open(c, "gone", 0);
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* With --remember-for 0, a forgotten name starts fresh. */
START_TEST(test_reopened_channel_name_starts_fresh_without_memory)
{
	const char *args[] = { "--remember-for", "0", NULL };
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, args);
	c = test_connect(&d);
	tx = tx_open(c, "fresh");
	expect_rc(chan_tx_close(tx), 0, "tx close");
	rx = rx_open(c, "fresh", 0);
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* Opens, uses and closes count channels with distinct long names. */
static void
churn_channels(chan_client *c, int base, int count)
{
	char name[201];
	chan_tx *tx;
	chan_rx *rx;
	int i;

	for (i = base; i < base + count; i++) {
		snprintf(name, sizeof name, "%0200d", i);
		tx = tx_open(c, name);
		send_str(tx, "payload that the consumer drains");
		chan_tx_close(tx);
		rx = rx_open(c, name, 0);
		expect_str(rx, "payload that the consumer drains");
		chan_rx_close(rx);
	}
}

START_TEST(test_daemon_memory_does_not_grow_with_forgotten_channels)
{
	chan_client *c;
	long before, after;

#ifdef __SANITIZE_ADDRESS__
	/* ASan's quarantine holds freed memory back: turn it off. */
	ck_assert_int_eq(setenv("ASAN_OPTIONS", "quarantine_size_mb=0:"
	    "thread_local_quarantine_size_kb=0", 1), 0);
#endif
	daemon_start(&d, NULL);
	c = test_connect(&d);
	/* Warm up allocator and buffers first, then measure a second run. */
	churn_channels(c, 0, 5000);
	before = daemon_rss_kib(&d);
	churn_channels(c, 5000, 20000);
	after = daemon_rss_kib(&d);
	/* 20,000 remembered channels would cost far more than 2 MiB. */
	ck_assert_msg(after - before < 2048,
	    "RSS grew from %ld to %ld KiB over 20000 idle channels", before,
	    after);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* Threads on one connection. */

struct thread_send {
	chan_tx	*tx;
	int	 id;
	int	 rc;
};

static void *
thread_send_main(void *arg)
{
	struct thread_send *t = arg;
	char buf[32];
	int i, n;

	for (i = 0; i < THREAD_MESSAGES && t->rc == 0; i++) {
		n = snprintf(buf, sizeof buf, "%d:%d", t->id, i);
		t->rc = chan_tx_send(t->tx, buf, (size_t)n);
	}
	return NULL;
}

struct thread_recv {
	chan_rx		*rx;
	struct order	 o;
	const char	*why;
	int		 rc;
	int		 end_rc;
};

static void *
thread_recv_main(void *arg)
{
	struct thread_recv *t = arg;
	chan_msg *m;

	while (t->o.total < 2 * THREAD_MESSAGES) {
		t->rc = chan_rx_recv_timeout(t->rx, HARNESS_WAIT_MS, &m);
		if (t->rc != 0)
			return NULL;
		t->why = order_add(&t->o, m);
		chan_msg_free(m);
		if (t->why != NULL)
			return NULL;
	}
	t->end_rc = chan_rx_recv_timeout(t->rx, HARNESS_WAIT_MS, &m);
	if (t->end_rc == 0)
		chan_msg_free(m);
	return NULL;
}

START_TEST(test_two_threads_send_on_clones_while_a_third_receives)
{
	struct thread_send s[2];
	struct thread_recv r;
	pthread_t ts[2], tr;
	chan_client *c;
	chan_tx *tx, *clone = NULL;
	int i;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "threads");
	expect_rc(chan_tx_clone(tx, &clone), 0, "clone");
	memset(&r, 0, sizeof r);
	r.rx = rx_open(c, "threads", 0);
	order_init(&r.o, 2);
	/* The receiver blocks first, on the connection the senders use. */
	ck_assert_int_eq(pthread_create(&tr, NULL, thread_recv_main, &r), 0);
	s[0] = (struct thread_send){ tx, 0, 0 };
	s[1] = (struct thread_send){ clone, 1, 0 };
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&ts[i], NULL,
		    thread_send_main, &s[i]), 0);
	for (i = 0; i < 2; i++) {
		pthread_join(ts[i], NULL);
		expect_rc(s[i].rc, 0, "thread send");
	}
	chan_tx_close(tx);
	chan_tx_close(clone);
	pthread_join(tr, NULL);
	expect_rc(r.rc, 0, "thread recv");
	ck_assert_msg(r.why == NULL, "receiver: %s", r.why);
	expect_rc(r.end_rc, CHAN_EDISCONNECTED, "recv after both closed");
	order_expect_complete(&r.o, THREAD_MESSAGES);
	chan_rx_close(r.rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * Threads sharing one connection, under load: per channel, sender threads
 * on tx clones and one receiver (one blocked without a deadline, the
 * others cycling through 1-3 ms timeouts so the reader role changes hands
 * all the time), while a churn thread opens, sends, closes and try_recvs
 * on a channel of its own. Nothing may be lost, reordered or reported
 * twice; run it under ThreadSanitizer for the locking.
 */
#define STRESS_CHANNELS		3
#define STRESS_SENDERS		2	/* per channel */
#define STRESS_MESSAGES		2000	/* per sender */

struct stress_rx {
	chan_rx		*rx;
	int		 blocking;	/* chan_rx_recv, no deadline */
	struct order	 o;
	const char	*why;
	int		 rc;
	int		 end_rc;
	long		 timeouts;
};

static void *
stress_recv_main(void *arg)
{
	struct stress_rx *t = arg;
	long long deadline = now_ms() + 4 * HARNESS_WAIT_MS;
	chan_msg *m;
	int rc;

	while (t->o.total < (long)STRESS_SENDERS * STRESS_MESSAGES) {
		if (t->blocking)
			rc = chan_rx_recv(t->rx, &m);
		else
			rc = chan_rx_recv_timeout(t->rx,
			    1 + (int)(t->o.total % 3), &m);
		if (rc == CHAN_ETIMEDOUT && now_ms() < deadline) {
			t->timeouts++;
			continue;
		}
		if ((t->rc = rc) != 0)
			return NULL;
		t->why = order_add(&t->o, m);
		chan_msg_free(m);
		if (t->why != NULL)
			return NULL;
	}
	t->end_rc = chan_rx_recv_timeout(t->rx, HARNESS_WAIT_MS, &m);
	if (t->end_rc == 0)
		chan_msg_free(m);
	return NULL;
}

struct stress_churn {
	chan_client	*c;
	int		 stop;		/* set by the test, read atomically */
	long		 rounds;
	const char	*why;
	int		 rc;
};

/* One round: a producer comes, sends, goes; the consumer sees both. */
static int
stress_churn_round(struct stress_churn *t, chan_rx *rx)
{
	chan_msg *m = NULL;
	chan_tx *tx;
	int rc;

	if ((rc = chan_tx_open(t->c, "stress-churn", &tx)) != 0)
		return rc;
	rc = chan_tx_send(tx, "x", 1);
	if (chan_tx_close(tx) != 0 && rc == 0)
		t->why = "tx close failed";
	if (rc != 0 || t->why != NULL)
		return rc;
	if ((rc = chan_rx_try_recv(rx, &m)) != 0) {
		t->why = "try_recv after a confirmed send found no message";
		return rc;
	}
	if (chan_msg_len(m) != 1 || memcmp(chan_msg_data(m), "x", 1) != 0)
		t->why = "churn message corrupted";
	chan_msg_free(m);
	if ((rc = chan_rx_try_recv(rx, &m)) != CHAN_EDISCONNECTED) {
		t->why = "try_recv after the only producer left is not "
		    "disconnected";
		if (rc == 0)
			chan_msg_free(m);
		return rc;
	}
	return 0;
}

static void *
stress_churn_main(void *arg)
{
	struct stress_churn *t = arg;
	chan_rx *rx;

	if ((t->rc = chan_rx_open(t->c, "stress-churn", &rx)) != 0)
		return NULL;
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		t->rc = stress_churn_round(t, rx);
		if (t->rc != 0 || t->why != NULL)
			break;
		t->rounds++;
	}
	if (chan_rx_close(rx) != 0 && t->rc == 0 && t->why == NULL)
		t->why = "rx close failed";
	return NULL;
}

struct stress_send {
	chan_tx	*tx;
	int	 id;
	int	 rc;
	int	 close_rc;
};

static void *
stress_send_main(void *arg)
{
	struct stress_send *t = arg;
	char buf[32];
	int i, n;

	for (i = 0; i < STRESS_MESSAGES && t->rc == 0; i++) {
		n = snprintf(buf, sizeof buf, "%d:%d", t->id, i);
		t->rc = chan_tx_send(t->tx, buf, (size_t)n);
	}
	t->close_rc = chan_tx_close(t->tx);
	return NULL;
}

static void
stress_open(chan_client *c, struct stress_rx *r,
    struct stress_send s[STRESS_SENDERS], int ch)
{
	char name[32];
	chan_tx *tx;
	int i;

	snprintf(name, sizeof name, "stress-%d", ch);
	memset(r, 0, sizeof *r);
	r->rx = rx_open(c, name, ch == 1 ? 16 : 0);
	r->blocking = ch == 0;
	order_init(&r->o, STRESS_SENDERS);
	/* The clones keep the channel connected once tx is closed. */
	tx = tx_open(c, name);
	for (i = 0; i < STRESS_SENDERS; i++) {
		memset(&s[i], 0, sizeof s[i]);
		s[i].id = i;
		expect_rc(chan_tx_clone(tx, &s[i].tx), 0, "clone");
	}
	expect_rc(chan_tx_close(tx), 0, "close the original");
}

static void
stress_check(struct stress_rx *r, struct stress_send s[STRESS_SENDERS])
{
	int i;

	for (i = 0; i < STRESS_SENDERS; i++) {
		expect_rc(s[i].rc, 0, "stress send");
		expect_rc(s[i].close_rc, 0, "stress tx close");
	}
	expect_rc(r->rc, 0, "stress recv");
	ck_assert_msg(r->why == NULL, "stress receiver: %s", r->why);
	expect_rc(r->end_rc, CHAN_EDISCONNECTED, "recv after every sender");
	order_expect_complete(&r->o, STRESS_MESSAGES);
	expect_rc(chan_rx_close(r->rx), 0, "stress rx close");
}

START_TEST(test_threads_sharing_a_connection_lose_and_reorder_nothing)
{
	struct stress_send s[STRESS_CHANNELS][STRESS_SENDERS];
	struct stress_rx r[STRESS_CHANNELS];
	struct stress_churn churn;
	pthread_t ts[STRESS_CHANNELS][STRESS_SENDERS];
	pthread_t tr[STRESS_CHANNELS], tc;
	chan_client *c;
	int i, j;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	for (i = 0; i < STRESS_CHANNELS; i++)
		stress_open(c, &r[i], s[i], i);
	memset(&churn, 0, sizeof churn);
	churn.c = c;
	ck_assert_int_eq(pthread_create(&tc, NULL, stress_churn_main,
	    &churn), 0);
	for (i = 0; i < STRESS_CHANNELS; i++) {
		ck_assert_int_eq(pthread_create(&tr[i], NULL,
		    stress_recv_main, &r[i]), 0);
		for (j = 0; j < STRESS_SENDERS; j++)
			ck_assert_int_eq(pthread_create(&ts[i][j], NULL,
			    stress_send_main, &s[i][j]), 0);
	}
	for (i = 0; i < STRESS_CHANNELS; i++) {
		for (j = 0; j < STRESS_SENDERS; j++)
			pthread_join(ts[i][j], NULL);
		pthread_join(tr[i], NULL);
	}
	__atomic_store_n(&churn.stop, 1, __ATOMIC_RELEASE);
	pthread_join(tc, NULL);
	for (i = 0; i < STRESS_CHANNELS; i++)
		stress_check(&r[i], s[i]);
	expect_rc(churn.rc, 0, "churn");
	ck_assert_msg(churn.why == NULL, "churn: %s", churn.why);
	ck_assert_msg(churn.rounds > 0, "churn thread never completed a "
	    "round");
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * A chand of the test's own (struct own_daemon, e2e_util.h), outside the
 * harness's bookkeeping, so that it can be killed with SIGKILL.
 */
static void
own_daemon_kill(struct own_daemon *o)
{
	proc_kill(&o->p, SIGKILL);
	ck_assert_int_eq(proc_wait(&o->p, HARNESS_WAIT_MS), 128 + SIGKILL);
	own_daemon_cleanup(o);
}

/* A call made from a thread of its own, with its result and end time. */
struct lost_call {
	const char	*what;
	chan_tx		*tx;
	chan_rx		*rx;
	chan_client	*c;
	int		 start_fd;	/* a byte is written just before */
	int		 rc;
	long long	 end_ms;
	pthread_t	 thread;
};

static void *
lost_call_main(void *arg)
{
	struct lost_call *t = arg;
	chan_msg *m = NULL;
	chan_tx *tx = NULL;

	if (write(t->start_fd, "G", 1) != 1)
		t->rc = -1000;
	else if (t->rx != NULL)
		t->rc = chan_rx_recv(t->rx, &m);
	else if (t->tx != NULL)
		t->rc = chan_tx_send(t->tx, "lost", 4);
	else
		t->rc = chan_tx_open(t->c, "lost-open", &tx);
	if (m != NULL)
		chan_msg_free(m);
	if (tx != NULL)
		chan_tx_close(tx);
	t->end_ms = now_ms();
	return NULL;
}

/* Every later call on a lost connection fails at once, and nothing leaks. */
static void
expect_all_lost(chan_client *c, chan_tx *tx, chan_rx *rx)
{
	chan_tx *tx2 = NULL;
	chan_rx *rx2 = NULL;
	chan_msg *m = NULL;

	expect_rc(chan_tx_send(tx, "x", 1), CHAN_ECONNLOST, "send after");
	expect_rc(chan_tx_clone(tx, &tx2), CHAN_ECONNLOST, "clone after");
	expect_rc(chan_tx_open(c, "after", &tx2), CHAN_ECONNLOST,
	    "open tx after");
	expect_rc(chan_rx_open(c, "after", &rx2), CHAN_ECONNLOST,
	    "open rx after");
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_ECONNLOST, "try_recv after");
	expect_rc(chan_rx_recv_timeout(rx, 10, &m), CHAN_ECONNLOST,
	    "recv_timeout after");
	expect_rc(chan_rx_flush(rx), CHAN_ECONNLOST, "flush after");
	ck_assert_ptr_null(tx2);
	ck_assert_ptr_null(rx2);
	ck_assert_ptr_null(m);
	ck_assert_msg(chan_client_errmsg(c)[0] != '\0',
	    "no explanation of the loss");
}

START_TEST(test_daemon_killed_fails_every_waiting_thread_promptly)
{
	struct lost_call calls[5];
	struct own_daemon o;
	chan_client *c, *pc;
	chan_tx *tx;
	chan_rx *rx[3];
	char name[16];
	long long killed;
	int pfd[2], i;

	own_daemon_init(&o);
	own_daemon_start(&o);
	expect_rc(chan_connect(o.sock, &c), 0, "connect");
	expect_rc(chan_connect(o.sock, &pc), 0, "connect producer");
	for (i = 0; i < 3; i++) {
		/* An attached producer: the receivers wait for messages. */
		snprintf(name, sizeof name, "lost-%d", i);
		tx_open(pc, name);	/* freed by chan_disconnect(pc) */
		rx[i] = rx_open(c, name, (unsigned)i);
	}
	tx = tx_open(c, "lost-send");
	ck_assert_int_eq(pipe(pfd), 0);
	/* Stopped, the daemon answers nothing: the calls must block. */
	ck_assert_int_eq(kill(o.p.pid, SIGSTOP), 0);
	memset(calls, 0, sizeof calls);
	for (i = 0; i < 5; i++) {
		calls[i].start_fd = pfd[1];
		calls[i].rx = i < 3 ? rx[i] : NULL;
		calls[i].tx = i == 3 ? tx : NULL;
		calls[i].c = c;
		ck_assert_int_eq(pthread_create(&calls[i].thread, NULL,
		    lost_call_main, &calls[i]), 0);
	}
	for (i = 0; i < 5; i++)
		pipe_read_byte(pfd[0]);
	killed = now_ms();
	own_daemon_kill(&o);
	for (i = 0; i < 5; i++) {
		pthread_join(calls[i].thread, NULL);
		expect_rc(calls[i].rc, CHAN_ECONNLOST, "call when killed");
		ck_assert_msg(calls[i].end_ms - killed < 5000, "call %d took "
		    "%lld ms to notice", i, calls[i].end_ms - killed);
	}
	expect_all_lost(c, tx, rx[0]);
	expect_rc(chan_tx_close(tx), CHAN_ECONNLOST, "tx close after");
	expect_rc(chan_rx_close(rx[1]), CHAN_ECONNLOST, "rx close after");
	/* rx[0], rx[2] and the producers are freed by chan_disconnect. */
	chan_disconnect(c);
	chan_disconnect(pc);
	close(pfd[0]);
	close(pfd[1]);
}
END_TEST

START_TEST(test_close_on_a_daemon_that_stopped_answering_returns)
{
	struct own_daemon o;
	chan_client *c, *rc_c;
	chan_msg *m = NULL;
	chan_tx *tx;
	chan_rx *rx;
	long long start;
	int rc;

	own_daemon_init(&o);
	own_daemon_start(&o);
	expect_rc(chan_connect(o.sock, &c), 0, "connect");
	expect_rc(chan_connect(o.sock, &rc_c), 0, "connect consumer");
	tx = tx_open(c, "stopped");
	rx = rx_open(rc_c, "stopped", 0);
	ck_assert_int_eq(kill(o.p.pid, SIGSTOP), 0);
	start = now_ms();
	rc = chan_tx_close(tx);
	ck_assert_msg(now_ms() - start < 15000, "close took %lld ms",
	    now_ms() - start);
	expect_rc(rc, CHAN_ETIMEDOUT, "close on a stopped daemon");
	/* Once the daemon runs again, the close takes effect. */
	ck_assert_int_eq(kill(o.p.pid, SIGCONT), 0);
	expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m),
	    CHAN_EDISCONNECTED, "recv after the late close");
	tx = tx_open(c, "stopped");
	send_str(tx, "still usable");
	expect_str(rx, "still usable");
	chan_tx_close(tx);
	chan_rx_close(rx);
	chan_disconnect(rc_c);
	chan_disconnect(c);
	own_daemon_kill(&o);
}
END_TEST

/* chan-send passes each stdin line on as it arrives, not at end of input. */
START_TEST(test_send_forwards_each_stdin_line_before_input_ends)
{
	const char *sargv[] = { CHAN_SEND_BIN, "live", NULL };
	const char *rargv[] = { CHAN_RECV_BIN, "--follow", "live", NULL };
	struct proc snd, rcv;
	char line[64];

	daemon_start(&d, NULL);
	proc_spawn(&rcv, rargv);
	proc_spawn(&snd, sargv);
	proc_write(&snd, "one\n", 4);
	ck_assert_int_eq(proc_read_line(&rcv, line, sizeof line,
	    HARNESS_WAIT_MS), 3);
	ck_assert_str_eq(line, "one");
	proc_write(&snd, "two\n", 4);
	ck_assert_int_eq(proc_read_line(&rcv, line, sizeof line,
	    HARNESS_WAIT_MS), 3);
	ck_assert_str_eq(line, "two");
	proc_close_stdin(&snd);
	ck_assert_int_eq(proc_wait(&snd, HARNESS_WAIT_MS), 0);
	ck_assert_int_eq(proc_read_line(&rcv, line, sizeof line,
	    HARNESS_WAIT_MS), -1);
	ck_assert_int_eq(proc_wait(&rcv, HARNESS_WAIT_MS), 0);
	daemon_stop(&d);
}
END_TEST

static Suite *
channel_suite(void)
{
	Suite *s = suite_create("e2e_channel");
	TCase *tc;

	tc = tcase_create("payloads_and_names");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_binary_payload_with_nul_bytes_round_trips);
	tcase_add_test(tc, test_payload_of_exactly_max_msg_is_accepted);
	tcase_add_test(tc,
	    test_payload_over_max_msg_is_too_big_and_connection_stays_usable);
	tcase_add_test(tc, test_name_of_255_bytes_is_accepted);
	tcase_add_test(tc, test_name_of_256_bytes_is_rejected_as_bad_name);
	tcase_add_test(tc, test_empty_name_is_rejected_as_bad_name);
	tcase_add_test(tc, test_names_with_nul_bytes_are_distinct_channels);
	suite_add_tcase(s, tc);

	tc = tcase_create("producers");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_messages_of_one_producer_arrive_in_order);
	tcase_add_test(tc,
	    test_two_producer_processes_deliver_everything_in_producer_order);
	tcase_add_test(tc,
	    test_hundred_producer_processes_deliver_every_message_in_order);
	tcase_add_test(tc,
	    test_tx_clone_keeps_channel_connected_after_original_closes);
	tcase_add_test(tc,
	    test_two_threads_send_on_clones_while_a_third_receives);
	suite_add_tcase(s, tc);

	tc = tcase_create("disconnection");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_consumer_started_before_any_producer_waits_for_it);
	tcase_add_test(tc,
	    test_messages_of_an_exited_producer_are_drained_before_disconnect);
	tcase_add_test(tc, test_try_recv_is_empty_while_a_producer_is_attached);
	tcase_add_test(tc,
	    test_try_recv_reports_disconnected_not_empty_after_producer_closed);
	tcase_add_test(tc,
	    test_disconnection_holds_until_a_new_producer_attaches);
	tcase_add_test(tc, test_killed_producer_process_counts_as_dropped);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_consumer_after_the_producer_left_sees_disconnection);
	tcase_add_test(tc,
	    test_reopened_channel_name_starts_fresh_without_memory);
	tcase_add_test(tc,
	    test_daemon_memory_does_not_grow_with_forgotten_channels);
	suite_add_tcase(s, tc);
	tc = tcase_create("threads_and_loss");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_threads_sharing_a_connection_lose_and_reorder_nothing);
	tcase_add_test(tc,
	    test_daemon_killed_fails_every_waiting_thread_promptly);
	tcase_add_test(tc,
	    test_close_on_a_daemon_that_stopped_answering_returns);
	tcase_add_test(tc,
	    test_send_forwards_each_stdin_line_before_input_ends);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(channel_suite());
}

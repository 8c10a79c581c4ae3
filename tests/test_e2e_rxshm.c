/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_rxshm.c: consumers whose frames come through their
 * connection's ring in shared memory (CHAN_SHM on a receiver), against a
 * real chand: messages of every size in order and the disconnection
 * behind them, one ring for all of a connection's receivers, a ring
 * that fills and waits for its consumer, a consumer that scribbles over
 * its ring, a consumer killed with unacknowledged messages, and the
 * daemon's descriptors and mappings released when consumers go.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"
#include "shmring.h"

static chan_rx *
shm_rx(chan_client *c, const char *name, unsigned prefetch, unsigned flags)
{
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_rx		*rx;

	o.flags = CHAN_SHM | flags;
	o.prefetch = prefetch;
	expect_rc(chan_rx_open_ex(c, name, strlen(name), &o, &rx), 0,
	    "rx open with CHAN_SHM");
	return (rx);
}

/* Payload i of a test: its bytes tell its number and its length. */
static size_t
fill(unsigned char *p, size_t len, unsigned i)
{
	size_t	k;

	for (k = 0; k < len; k++)
		p[k] = (unsigned char)(i * 31 + k);
	return (len);
}

/*
 * A producer with CHAN_RX_GONE on a channel of its own: sends until the
 * daemon says the consumer has gone (each send a round trip), then one
 * more round trip. After it the daemon has dropped that consumer's
 * connection and run the callbacks that free what it held.
 */
static void
wait_consumer_gone(chan_tx *gone, chan_tx *other)
{
	int	i, rc = 0;

	for (i = 0; i < 100000; i++) {
		if ((rc = chan_tx_send(gone, "p", 1)) == CHAN_ERXGONE)
			break;
		expect_rc(rc, 0, "send while the consumer is there");
	}
	expect_rc(rc, CHAN_ERXGONE, "send after the consumer went");
	send_str(other, "barrier");
}

static chan_tx *
gone_tx(chan_client *c, const char *name)
{
	chan_open_opts	o = CHAN_OPEN_OPTS_INIT;

	o.flags = CHAN_RX_GONE;
	return (tx_open_opts(c, name, &o));
}

/* This process's mapping of a ring (one only): its start and length. */
static unsigned char *
own_ring(size_t *len)
{
	unsigned char	*p = NULL;

	ck_assert_int_eq(own_ring_maps(0, &p, len), 1);
	return (p);
}

/* Records the daemon has written into this process's ring, in all. */
static uint64_t
ring_records(void)
{
	size_t		 len;
	unsigned char	*ring = own_ring(&len);
	uint64_t	 n;

	memcpy(&n, ring + SHMRING_OFF_SENT, sizeof(n));
	return (n);
}

/*
 * Messages from 0 bytes to the daemon's largest, in order and whole;
 * a second receiver on the same connection shares the ring; the
 * disconnection comes behind the messages; the ring and its
 * descriptors go with the connection.
 */
START_TEST(test_frames_come_through_the_ring)
{
	chan_client	*pc = test_connect(&fixture), *cc;
	chan_tx		*tx, *tb, *gone, *other;
	chan_rx		*rx, *rb, *keep;
	unsigned char	*buf, *want;
	size_t		 max, len;
	chan_msg	*m;
	int		 before;
	unsigned	 i;

	other = tx_open(pc, "rx.other");
	before = daemon_fd_count(&fixture);
	cc = test_connect(&fixture);
	max = chan_client_max_msg(cc);
	rx = shm_rx(cc, "rx.a", 16, 0);
	keep = shm_rx(cc, "rx.gone", 1, CHAN_RX_GONE);
	ck_assert_int_eq(daemon_ring_maps(&fixture), 1);
	gone = gone_tx(pc, "rx.gone");
	tx = tx_open(pc, "rx.a");
	ck_assert_ptr_nonnull(buf = malloc(max));
	ck_assert_ptr_nonnull(want = malloc(max));
	for (i = 0; i < 64; i++) {
		len = i == 63 ? max : i % 8 == 7 ? 65536 + i : i * 3;
		expect_rc(chan_tx_send(tx, buf, fill(buf, len, i)), 0,
		    "send");
	}
	for (i = 0; i < 64; i++) {
		len = i == 63 ? max : i % 8 == 7 ? 65536 + i : i * 3;
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "recv");
		ck_assert_uint_eq(chan_msg_len(m), len);
		ck_assert(memcmp(chan_msg_data(m), want, fill(want, len, i)) ==
		    0);
		chan_msg_free(m);
	}
	/* They came through the ring: a record each. */
	ck_assert_uint_ge(ring_records(), 64);
	/* Another receiver of the connection: the same ring. */
	rb = shm_rx(cc, "rx.b", 0, 0);
	ck_assert_int_eq(daemon_ring_maps(&fixture), 1);
	tb = tx_open(pc, "rx.b");
	send_str(tb, "b");
	expect_str(rb, "b");
	expect_rc(chan_tx_close(tb), 0, "close rx.b's producer");
	expect_recv_rc(rb, CHAN_EDISCONNECTED);
	send_str(tx, "last");
	expect_rc(chan_tx_close(tx), 0, "close rx.a's producer");
	expect_str(rx, "last");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	(void)keep;
	chan_disconnect(cc);
	wait_consumer_gone(gone, other);
	ck_assert_int_eq(daemon_ring_maps(&fixture), 0);
	ck_assert_int_eq(daemon_fd_count(&fixture), before);
	free(buf);
	free(want);
	chan_disconnect(pc);
}
END_TEST

/*
 * A receiver that spins (chan_client_set_spin) watches its ring in memory
 * without asking for a RING_WAKE; when the spin ends with nothing, it
 * asks (cons_wait 1) before it sleeps, and a message sent then wakes it.
 * The sender waits for that word: a receiver that slept unarmed would
 * leave it 0 (and would sleep through the message).
 */
struct armed_sender {
	const char	*sock;
	volatile uint32_t *cons_wait;
	int		 rc;
};

static void *
armed_sender_main(void *arg)
{
	struct armed_sender	*a = arg;
	long long		 until = now_ms() + 3 * HARNESS_WAIT_MS;
	chan_client		*c;
	chan_tx			*tx;

	a->rc = 1;
	while (__atomic_load_n(a->cons_wait, __ATOMIC_SEQ_CST) != 1) {
		if (now_ms() >= until)
			return (NULL);
		sched_yield();
	}
	if (chan_connect(a->sock, &c) != 0)
		return (NULL);
	if (chan_tx_open(c, "rx.spin", &tx) == 0 &&
	    chan_tx_send(tx, "late", 4) == 0)
		a->rc = 0;
	chan_disconnect(c);
	return (NULL);
}

START_TEST(test_a_spinning_receiver_arms_before_it_sleeps)
{
	chan_client		*pc = test_connect(&fixture);
	chan_client		*cc = test_connect(&fixture);
	chan_tx			*tx = tx_open(pc, "rx.spin");
	chan_rx			*rx = shm_rx(cc, "rx.spin", 4, 0);
	struct armed_sender	 a = { fixture.sock, NULL, -1 };
	unsigned char		*ring;
	size_t			 len;
	pthread_t		 t;

	expect_rc(chan_client_set_spin(cc, 1000), 0, "spin 1 ms");
	send_str(tx, "early");
	expect_str(rx, "early");
	ring = own_ring(&len);
	a.cons_wait = (volatile uint32_t *)(void *)(ring +
	    SHMRING_OFF_CONS_WAIT);
	/* Reading "early" disarmed the ring. */
	ck_assert_uint_eq(*a.cons_wait, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, armed_sender_main, &a), 0);
	expect_str(rx, "late");
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(a.rc, 0);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * The library keeps a large message's memory for the next one: a smaller
 * message in a kept block has its own length, its bytes and the NUL after
 * them, on the socket and on a ring alike.
 */
START_TEST(test_kept_blocks_hold_the_next_message_whole)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_tx		*tx = tx_open(pc, "rx.kept");
	chan_rx		*rx = shm_rx(cc, "rx.kept", 4, 0);
	size_t		 sizes[4] = { 1u << 20, 600 * 1024, 200 * 1024,
			    700 * 1024 };
	unsigned char	*buf, *want;
	const char	*p;
	chan_msg	*m;
	unsigned	 i, k;

	ck_assert_ptr_nonnull(buf = malloc(sizes[0]));
	ck_assert_ptr_nonnull(want = malloc(sizes[0]));
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 4; i++)
			expect_rc(chan_tx_send(tx, buf, fill(buf, sizes[i],
			    i + k)), 0, "send");
		for (i = 0; i < 4; i++) {
			m = recv_msg(rx);
			ck_assert_uint_eq(chan_msg_len(m), sizes[i]);
			p = chan_msg_data(m);
			ck_assert(memcmp(p, want, fill(want, sizes[i],
			    i + k)) == 0);
			ck_assert_int_eq(p[sizes[i]], '\0');
			chan_msg_free(m);
		}
	}
	free(buf);
	free(want);
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * Small messages' blocks are kept per thread for the next ones: messages
 * received in a thread of their own (which keeps blocks, then exits) and
 * freed in another, then received again, are whole each time. (Under
 * ASan the library keeps none, so that a use after free is reported.)
 */
struct small_receiver {
	chan_rx		*rx;
	chan_msg	*msgs[3000];
	int		 rc;
};

static void *
small_receiver_main(void *arg)
{
	struct small_receiver	*r = arg;
	chan_msg		*m;
	int			 i;

	r->rc = 1;
	for (i = 0; i < 3000; i++)
		if (chan_rx_recv_timeout(r->rx, HARNESS_WAIT_MS,
		    &r->msgs[i]) != 0)
			return (NULL);
	/* Kept blocks for this thread, which then exits. */
	for (i = 0; i < 100; i++) {
		if (chan_rx_recv_timeout(r->rx, HARNESS_WAIT_MS, &m) != 0)
			return (NULL);
		chan_msg_free(m);
	}
	r->rc = 0;
	return (NULL);
}

START_TEST(test_small_blocks_kept_per_thread)
{
	chan_client		*pc = test_connect(&fixture);
	chan_client		*cc = test_connect(&fixture);
	chan_tx			*tx = tx_open(pc, "rx.small");
	struct small_receiver	 r;
	char			 s[32];
	pthread_t		 t;
	int			 k, i;

	r.rx = shm_rx(cc, "rx.small", 64, 0);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 3100; i++) {
			snprintf(s, sizeof(s), "%d-%d", k, i);
			expect_rc(chan_tx_send_async(tx, s, strlen(s)), 0,
			    "send");
		}
		expect_rc(chan_tx_flush(tx), 0, "flush");
		ck_assert_int_eq(pthread_create(&t, NULL, small_receiver_main,
		    &r), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		ck_assert_int_eq(r.rc, 0);
		for (i = 0; i < 3000; i++) {
			snprintf(s, sizeof(s), "%d-%d", k, i);
			ck_assert_uint_eq(chan_msg_len(r.msgs[i]), strlen(s));
			ck_assert_str_eq(chan_msg_data(r.msgs[i]), s);
			chan_msg_free(r.msgs[i]);
		}
	}
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * More than the ring holds, queued before the consumer reads any: the
 * daemon fills the ring, waits, and goes on as the consumer reads.
 */
START_TEST(test_a_full_ring_waits_for_its_consumer)
{
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	unsigned char	*buf, *want;
	size_t		 len = 256 * 1024;
	chan_rx		*rx;
	chan_tx		*tx;
	chan_msg	*m;
	unsigned	 i, n = 48;

	o.capacity_bytes = 64u << 20;
	tx = tx_open_opts(pc, "rx.full", &o);
	ck_assert_ptr_nonnull(buf = malloc(len));
	ck_assert_ptr_nonnull(want = malloc(len));
	for (i = 0; i < n; i++)
		expect_rc(chan_tx_send(tx, buf, fill(buf, len, i)), 0, "send");
	/* 12 MiB queued; the ring holds 4 MiB. */
	rx = shm_rx(cc, "rx.full", n, 0);
	for (i = 0; i < n; i++) {
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "recv");
		ck_assert_uint_eq(chan_msg_len(m), len);
		ck_assert(memcmp(chan_msg_data(m), want, fill(want, len, i)) ==
		    0);
		chan_msg_free(m);
	}
	expect_try_rc(rx, CHAN_EEMPTY);
	ck_assert_uint_ge(ring_records(), n);
	free(buf);
	free(want);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * A consumer that writes over its whole ring, header and frames: the
 * daemon lives and serves the others; that consumer gets errors or
 * nothing, never a crash.
 */
START_TEST(test_scribbling_consumer_harms_only_itself)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_client	*oc = test_connect(&fixture);
	unsigned char	*ring;
	size_t		 len, k;
	chan_rx		*rx, *orx;
	chan_tx		*tx, *otx;
	chan_msg	*m;
	int		 i, rc;

	rx = shm_rx(cc, "rx.scribble", 8, 0);
	tx = tx_open(pc, "rx.scribble");
	send_str(tx, "before");
	expect_str(rx, "before");
	ring = own_ring(&len);
	for (i = 0; i < 4; i++) {
		/* Garbage everywhere, then a send on top of it. */
		for (k = 0; k < len; k++)
			ring[k] = (unsigned char)(k * 7 + i * 13);
		send_str(tx, "after");
		rc = chan_rx_recv_timeout(rx, 100, &m);
		if (rc == 0)
			chan_msg_free(m);
		else
			ck_assert_msg(rc == CHAN_ETIMEDOUT ||
			    rc == CHAN_ECONNLOST, "recv after scribbling: %s",
			    chan_strerror(rc));
	}
	/* Everyone else: served, on a ring of their own too. */
	assert_serves(&fixture);
	orx = shm_rx(oc, "rx.other", 0, 0);
	otx = tx_open(pc, "rx.other");
	send_str(otx, "fine");
	expect_str(orx, "fine");
	chan_disconnect(cc);
	chan_disconnect(oc);
	chan_disconnect(pc);
}
END_TEST

/*
 * A consumer on a ring killed with three messages received and not
 * acknowledged: the next consumer gets them again, marked, and the
 * dead one's ring is gone.
 */
struct killed_consumer {
	int	fd;
};

static int
killed_consumer_main(void *arg)
{
	struct killed_consumer	*k = arg;
	chan_open_opts		 o = CHAN_OPEN_OPTS_INIT;
	chan_client		*c;
	chan_rx			*rx, *watched;
	chan_msg		*m;
	int			 i;

	o.flags = CHAN_SHM | CHAN_MANUAL_ACK;
	o.prefetch = 8;
	if (chan_connect(fixture.sock, &c) != 0 ||
	    chan_rx_open_ex(c, "rx.killed", 9, &o, &rx) != 0)
		return (1);
	/* The parent's producer there learns when this consumer is gone. */
	o.flags = CHAN_SHM | CHAN_RX_GONE;
	if (chan_rx_open_ex(c, "rx.watch", 8, &o, &watched) != 0)
		return (1);
	for (i = 0; i < 3; i++) {
		if (chan_rx_recv_timeout(rx, 10000, &m) != 0)
			return (2);
		chan_msg_free(m);
	}
	if (write(k->fd, "R", 1) != 1)
		return (3);
	for (;;)
		pause();
}

START_TEST(test_consumer_killed_with_unacked_messages)
{
	chan_client		*pc = test_connect(&fixture);
	chan_client		*cc = test_connect(&fixture);
	struct killed_consumer	 k;
	chan_tx			*tx, *other, *gone;
	chan_rx			*rx;
	chan_msg		*m;
	const char		*want[] = { "one", "two", "three" };
	int			 p[2], status, i;
	pid_t			 pid;

	other = tx_open(pc, "rx.other");
	gone = gone_tx(pc, "rx.watch");
	tx = tx_open(pc, "rx.killed");
	for (i = 0; i < 3; i++)
		send_str(tx, want[i]);
	ck_assert_int_eq(pipe(p), 0);
	k.fd = p[1];
	pid = child_fork(killed_consumer_main, &k);
	ck_assert_int_eq(pipe_read_byte(p[0]), 'R');
	ck_assert_int_eq(daemon_ring_maps(&fixture), 1);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	wait_consumer_gone(gone, other);
	ck_assert_int_eq(daemon_ring_maps(&fixture), 0);
	rx = shm_rx(cc, "rx.killed", 8, 0);
	for (i = 0; i < 3; i++) {
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "recv again");
		ck_assert_str_eq(chan_msg_data(m), want[i]);
		ck_assert_msg(chan_msg_redelivered(m), "%s not marked",
		    want[i]);
		chan_msg_free(m);
	}
	ck_assert_int_eq(daemon_ring_maps(&fixture), 1);
	close(p[0]);
	close(p[1]);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

static Suite *
rxshm_suite(void)
{
	Suite	*s = suite_create("e2e_rxshm");
	TCase	*tc = tcase_create("consumer rings");

	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_frames_come_through_the_ring);
	tcase_add_test(tc, test_a_spinning_receiver_arms_before_it_sleeps);
	tcase_add_test(tc, test_kept_blocks_hold_the_next_message_whole);
	tcase_add_test(tc, test_small_blocks_kept_per_thread);
	tcase_add_test(tc, test_a_full_ring_waits_for_its_consumer);
	tcase_add_test(tc, test_scribbling_consumer_harms_only_itself);
	tcase_add_test(tc, test_consumer_killed_with_unacked_messages);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (harness_main(rxshm_suite()));
}

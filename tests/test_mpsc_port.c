/* SPDX-License-Identifier: MIT */
/*
 * test_mpsc_port.c: the Rust standard library's own tests of
 * std::sync::mpsc (library/std/src/sync/mpsc/tests.rs for channel(),
 * sync_tests.rs for sync_channel()), ported to chand: every end of a
 * channel is in a process of its own, through libchanclient, against a
 * real daemon on a private socket.
 *
 * How Rust maps here (docs/mpsc.md has the whole table):
 *   channel()          a channel opened with CHAN_CAPACITY_UNBOUNDED;
 *   sync_channel(n)    a channel opened with capacity n (0: rendezvous);
 *   Sender / clone     chan_tx_open / chan_tx_clone in a producer process;
 *   drop(tx)           chan_tx_close, or the producer process exiting;
 *   Receiver           chan_rx_open (prefetch 1) in the consumer process;
 *   drop(rx)           chan_rx_close; a Sender learns it only on handles
 *                      opened with CHAN_RX_GONE (SendError is opt-in);
 *   thread::spawn      a forked process (kid_start) with its own
 *                      connection; the order Rust gets from a join or a
 *                      second channel comes from a byte on a pipe.
 * Every test states the same capacity on every open, as Rust's
 * constructor fixes it once. Where Rust's test asserts nothing (it
 * passes when it does not crash or hang), the port asserts what the
 * daemon must have done. Stress counts are scaled down (10 000 messages
 * rather than millions, processes rather than threads) so that the whole
 * suite runs in seconds; stress_factor() is 1, as in Rust's CI.
 *
 * Tests named test_sync_X are sync_tests.rs's X; test_X is tests.rs's X.
 * The tests after "Beyond the Rust tests" pin the edges where chand used
 * to differ from Rust without saying so.
 *
 * Not ported, having no meaning across processes:
 *   test_recv_into_iter_borrowed   `(&rx).into_iter()` borrows the
 *       Receiver instead of moving it; in C both are the same
 *       chan_rx_recv loop, which test_recv_into_iter_owned runs.
 *   mpsc_queue/tests.rs, spsc_queue/tests.rs, the flavour "upgrade"
 *       machinery (oneshot -> stream -> shared)    the lock-free queues
 *       and packet flavours inside Rust's implementation; chand's
 *       daemon holds the queue, and the tests named after an upgrade
 *       (recv_timeout_upgrade, destroy_upgraded_shared_port_...) are
 *       ported for what they do to the channel, cloning a Sender.
 *   "runtime" in send_from_outside_runtime, recv_from_outside_runtime,
 *       no_runtime    the green-thread runtime Rust once had; ported as
 *       plain processes.
 *   very_long_recv_timeout_wont_panic's u64::MAX seconds    the C call
 *       takes an int of milliseconds: ported with INT_MAX.
 *   drop_unreceived's Rc::downgrade    observed instead as the daemon's
 *       queued count falling to 0 when the consumer goes.
 *
 * Synchronisation is by pipes: a kid and the test's process exchange
 * single bytes, each read bounded by HARNESS_WAIT_MS; a kid also dies of
 * SIGALRM after twice that, so that a receive or send that wrongly
 * blocks for ever fails the test instead of hanging it. Nothing sleeps.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"

#define UNBOUNDED	CHAN_CAPACITY_UNBOUNDED
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define STRESS_MESSAGES		10000	/* Rust: 10 000 (stress) */
#define SHARED_PRODUCERS	8	/* Rust: NTHREADS */
#define SHARED_AMT		1250	/* Rust: 10 000 per thread */
#define SYNC_SHARED_AMT		250	/* Rust: 1 000 per thread */
#define ONESHOT_ROUNDS		50	/* Rust: stress_factor() rounds */
#define MANY_PRODUCERS		100	/* Rust: stress_factor() + 100 */
#define TIMEOUT_PRODUCERS	20	/* Rust: stress_factor() + 100 */
#define TWO_THREADS_SENDS	100	/* Rust: stress_factor() + 100 */
#define SYNC_TWO_THREADS	2000	/* Rust: 10 000 */
#define CHAIN			10	/* stream_send_recv_stress */

/* Kids: forked processes, each one end (or two) of the test's channels. */

struct kid {
	pid_t	pid;
	int	to;	/* the test writes, the kid reads */
	int	from;	/* the kid writes, the test reads */
};

/* In a kid: its pipes and name, for its messages. */
static int		 kid_in = -1, kid_out = -1;
static const char	*kid_name = "test";

typedef int (*kid_fn)(void *);

static void __attribute__((format(printf, 1, 2), noreturn))
kid_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mpsc kid %s (pid %d): ", kid_name, (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(1);
}

/* Starts fn(arg) in a forked kid; it exits with fn's result. */
static void
kid_start(struct kid *k, const char *name, kid_fn fn, void *arg)
{
	int down[2], up[2];

	ck_assert_int_eq(pipe(down), 0);
	ck_assert_int_eq(pipe(up), 0);
	fflush(NULL);
	k->pid = fork();
	ck_assert_msg(k->pid >= 0, "fork: %s", strerror(errno));
	if (k->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Check's SIGALRM handler would kill the whole test. */
		signal(SIGALRM, SIG_DFL);
		alarm((unsigned)(2 * HARNESS_WAIT_MS / 1000));
		close(down[1]);
		close(up[0]);
		kid_in = down[0];
		kid_out = up[1];
		kid_name = name;
		_exit(fn(arg));
	}
	close(down[0]);
	close(up[1]);
	k->to = down[1];
	k->from = up[0];
}

/* Kills the kid with SIGKILL, as a crash would end it, and reaps it. */
static void
kid_kill(struct kid *k)
{
	ck_assert_int_eq(kill(k->pid, SIGKILL), 0);
	ck_assert_int_eq(child_wait(k->pid), 128 + SIGKILL);
	close(k->to);
	close(k->from);
}

/* The test's side: a byte to the kid, a byte from it. */
static void
tell(struct kid *k, char c)
{
	ck_assert_msg(write(k->to, &c, 1) == 1, "write to kid: %s",
	    strerror(errno));
}

static void
hear(struct kid *k, char want)
{
	char c = pipe_read_byte(k->from);

	ck_assert_msg(c == want, "kid said '%c', want '%c'", c, want);
}

/* Waits for the kid's exit (bounded), asserting 0, and closes its pipes. */
static void
kid_done(struct kid *k)
{
	child_wait_ok(k->pid);
	close(k->to);
	close(k->from);
}

/* The kid's side. */
static void
say(char c)
{
	if (write(kid_out, &c, 1) != 1)
		kid_fail("write to the test: %s", strerror(errno));
}

/* The next byte from the test. */
static char
await_any(void)
{
	struct pollfd pfd = { .fd = kid_in, .events = POLLIN };
	char c;

	if (poll_until(&pfd, 1, now_ms() + HARNESS_WAIT_MS) != 1)
		kid_fail("no word from the test in time");
	if (read(kid_in, &c, 1) != 1)
		kid_fail("the test closed its pipe");
	return c;
}

static void
await(char want)
{
	char c = await_any();

	if (c != want)
		kid_fail("the test said '%c', want '%c'", c, want);
}

static void
k_rc(int rc, int want, const char *what)
{
	if (rc != want)
		kid_fail("%s: got %s, want %s", what, chan_errname(rc),
		    chan_errname(want));
}

static chan_client *
k_connect(void)
{
	chan_client *c = NULL;

	k_rc(chan_connect(fixture.sock, &c), 0, "chan_connect");
	return c;
}

/* Opens either end, stating capacity cap and flags. */
static int
open_tx(chan_client *c, const char *name, uint64_t cap, unsigned flags,
    chan_tx **tx)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;

	o.capacity = cap;
	o.flags = flags;
	return chan_tx_open_ex(c, name, strlen(name), &o, tx);
}

static int
open_rx(chan_client *c, const char *name, uint64_t cap, unsigned flags,
    chan_rx **rx)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;

	o.capacity = cap;
	o.flags = flags;
	return chan_rx_open_ex(c, name, strlen(name), &o, rx);
}

static chan_tx *
k_tx(chan_client *c, const char *name, uint64_t cap, unsigned flags)
{
	chan_tx *tx = NULL;

	k_rc(open_tx(c, name, cap, flags, &tx), 0, "open_tx");
	return tx;
}

static chan_rx *
k_rx(chan_client *c, const char *name, uint64_t cap, unsigned flags)
{
	chan_rx *rx = NULL;

	k_rc(open_rx(c, name, cap, flags, &rx), 0, "open_rx");
	return rx;
}

static void
k_send(chan_tx *tx, const char *s)
{
	k_rc(chan_tx_send(tx, s, strlen(s)), 0, "send");
}

/* chan_rx_recv (bounded by the kid's alarm) must give exactly s. */
static void
k_expect(chan_rx *rx, const char *s)
{
	chan_msg *m = NULL;

	k_rc(chan_rx_recv(rx, &m), 0, "recv");
	if (chan_msg_len(m) != strlen(s) ||
	    memcmp(chan_msg_data(m), s, strlen(s)) != 0)
		kid_fail("recv: got \"%.*s\", want \"%s\"",
		    (int)chan_msg_len(m), (const char *)chan_msg_data(m), s);
	chan_msg_free(m);
}

/* chan_rx_recv must fail with want. */
static void
k_expect_rc(chan_rx *rx, int want)
{
	chan_msg *m = NULL;
	int rc = chan_rx_recv(rx, &m);

	if (rc == 0)
		kid_fail("recv: got \"%.*s\", want %s", (int)chan_msg_len(m),
		    (const char *)chan_msg_data(m), chan_errname(want));
	k_rc(rc, want, "recv");
}

/* The test's side of opening and receiving. */
static chan_tx *
p_tx(chan_client *c, const char *name, uint64_t cap, unsigned flags)
{
	chan_tx *tx = NULL;
	int rc = open_tx(c, name, cap, flags, &tx);

	ck_assert_msg(rc == 0, "open_tx %s: %s (%s)", name, chan_errname(rc),
	    chan_client_errmsg(c));
	return tx;
}

static chan_rx *
p_rx(chan_client *c, const char *name, uint64_t cap, unsigned flags)
{
	chan_rx *rx = NULL;
	int rc = open_rx(c, name, cap, flags, &rx);

	ck_assert_msg(rc == 0, "open_rx %s: %s (%s)", name, chan_errname(rc),
	    chan_client_errmsg(c));
	return rx;
}

/* chan_rx_recv itself (bounded by Check's timeout) must fail with want. */
static void
expect_plain_recv_rc(chan_rx *rx, int want, const char *what)
{
	chan_msg *m = NULL;
	int rc = chan_rx_recv(rx, &m);

	ck_assert_msg(rc != 0, "%s: got a message \"%.*s\", want %s", what,
	    rc == 0 ? (int)chan_msg_len(m) : 0,
	    rc == 0 ? (const char *)chan_msg_data(m) : "", chan_errname(want));
	expect_rc(rc, want, what);
}

/* Kid bodies shared by many tests. */

/* What a kid is to do: its channel, capacity, flags, a count, a text. */
struct job {
	const char	*name;
	uint64_t	 cap;
	unsigned	 flags;
	int		 n;
	const char	*text;
	const char	*name2;		/* a second channel, if any */
	int		 want;		/* an expected result, if any */
	int		 clones;	/* extra producers to open and drop */
	int		 pace;		/* wait for a 't' before every other send */
};

#define JOB(nm, c)	{ .name = (nm), .cap = (c) }

/*
 * Opens a producer, says 'o', sends text n times (1 if n is 0), drops
 * it.
 */
static int
sender_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, j->flags), *t2;
	int i;

	say('o');
	for (i = 0; i < j->clones; i++) {
		k_rc(chan_tx_clone(tx, &t2), 0, "clone");
		k_rc(chan_tx_close(t2), 0, "close a clone");
	}
	for (i = 0; i < (j->n > 0 ? j->n : 1); i++)
		k_send(tx, j->text != NULL ? j->text : "1");
	k_rc(chan_tx_close(tx), 0, "close");
	chan_disconnect(c);
	return 0;
}

/* Opens a producer, says 'o', waits for 'x', drops it. */
static int
holder_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, j->flags);

	say('o');
	await('x');
	k_rc(chan_tx_close(tx), 0, "close");
	chan_disconnect(c);
	return 0;
}

/* Opens a producer and drops it at once, sending nothing. */
static int
dropper_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, j->flags);

	k_rc(chan_tx_close(tx), 0, "close");
	chan_disconnect(c);
	return 0;
}

/* Opens the consumer, receives text n times, then (want != 0) want. */
static int
receiver_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_rx *rx = k_rx(c, j->name, j->cap, j->flags);
	int i;

	say('o');
	for (i = 0; i < j->n; i++)
		k_expect(rx, j->text != NULL ? j->text : "1");
	if (j->want != 0)
		k_expect_rc(rx, j->want);
	k_rc(chan_rx_close(rx), 0, "close");
	chan_disconnect(c);
	return 0;
}

/* Opens the consumer, says 'o', closes it on 'x' (on the spot if n < 0). */
static int
port_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_rx *rx = k_rx(c, j->name, j->cap, j->flags);

	say('o');
	if (j->n >= 0)
		await('x');
	k_rc(chan_rx_close(rx), 0, "close");
	chan_disconnect(c);
	return 0;
}

/*
 * A consumer attaches to name and goes: after it the channel's consumer
 * has come and gone, as after Rust's drop(rx).
 */
static void
consumer_comes_and_goes(const char *name, uint64_t cap, unsigned flags)
{
	struct job j = { .name = name, .cap = cap, .flags = flags, .n = -1 };
	struct kid k;

	kid_start(&k, "port", port_main, &j);
	hear(&k, 'o');
	kid_done(&k);
}

/* tests.rs and sync_tests.rs, in their order. */

#define PORT(fn, cap)							\
START_TEST(test_##fn)							\
{									\
	fn(cap);							\
}									\
END_TEST

#define PORT_SYNC(fn, cap)						\
START_TEST(test_sync_##fn)						\
{									\
	fn(cap);							\
}									\
END_TEST

#define PORT_BOTH(fn, sync_cap)						\
	PORT(fn, UNBOUNDED)						\
	PORT_SYNC(fn, sync_cap)

/* smoke: tx.send(1); rx.recv() == 1. */
static void
smoke(uint64_t cap)
{
	struct job j = JOB("smoke", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "smoke", cap, 0);
	struct kid k;

	kid_start(&k, "tx", sender_main, &j);
	expect_str(rx, "1");
	kid_done(&k);
	chan_disconnect(c);
}
PORT_BOTH(smoke, 1)

/*
 * drop_full: a message sent and never received, the receiver dropped.
 * Rust drops it; chand keeps it for the next consumer (a channel without
 * the receiver-gone option outlives its consumer): the next one gets it.
 */
static void
drop_full(uint64_t cap)
{
	struct job j = JOB("full", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "full", cap, 0);
	struct kid k;

	kid_start(&k, "tx", sender_main, &j);
	kid_done(&k);
	expect_rc(chan_rx_close(rx), 0, "drop(_rx)");
	rx = p_rx(c, "full", cap, 0);
	expect_str(rx, "1");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(c);
}
PORT_BOTH(drop_full, 1)

/* drop_full_shared: two clones dropped, then a send. */
static void
drop_full_shared(uint64_t cap)
{
	struct job j = JOB("full", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "full", cap, 0);
	struct kid k;

	j.clones = 2;
	kid_start(&k, "tx", sender_main, &j);
	kid_done(&k);
	expect_str(rx, "1");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(c);
}
PORT(drop_full_shared, UNBOUNDED)

/* smoke_shared: send, recv; clone, send on the clone, recv. */
static int
smoke_shared_tx(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, 0), *t2;

	k_send(tx, "1");
	say('1');
	await('r');
	k_rc(chan_tx_clone(tx, &t2), 0, "clone");
	k_send(t2, "2");
	say('2');
	chan_disconnect(c);
	return 0;
}

static void
smoke_shared(uint64_t cap)
{
	struct job j = JOB("shared", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "shared", cap, 0);
	struct kid k;

	kid_start(&k, "tx", smoke_shared_tx, &j);
	hear(&k, '1');
	expect_str(rx, "1");
	tell(&k, 'r');
	hear(&k, '2');
	expect_str(rx, "2");
	kid_done(&k);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(c);
}
PORT_BOTH(smoke_shared, 1)

/* smoke_threads: the send comes from another process. */
static void
smoke_threads(uint64_t cap)
{
	struct job j = JOB("threads", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "threads", cap, 0);
	struct kid k;

	kid_start(&k, "tx", sender_main, &j);
	expect_str(rx, "1");
	kid_done(&k);
	chan_disconnect(c);
}
PORT_BOTH(smoke_threads, 0)

/*
 * smoke_port_gone: drop(rx); tx.send(1) is an error. The producer opens
 * with CHAN_RX_GONE; the consumer attaches and goes in a process of its
 * own; the send then fails with CHAN_ERXGONE.
 */
static void
smoke_port_gone(uint64_t cap)
{
	chan_client *c;
	chan_tx *tx;

	c = test_connect(&fixture);
	tx = p_tx(c, "gone", cap, CHAN_RX_GONE);
	consumer_comes_and_goes("gone", cap, 0);
	expect_rc(chan_tx_send(tx, "1", 1), CHAN_ERXGONE, "send after drop(rx)");
	chan_disconnect(c);
}
PORT_BOTH(smoke_port_gone, 0)

/*
 * smoke_shared_port_gone: as Rust's (the same as smoke_port_gone there),
 * with the option on the channel instead: the consumer's open creates it
 * with CHAN_RX_GONE, and a producer that asked for nothing fails too.
 */
static int
rx_gone_port_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_rx *rx = k_rx(c, j->name, j->cap, CHAN_RX_GONE);

	say('o');
	await('x');
	k_rc(chan_rx_close(rx), 0, "close");
	chan_disconnect(c);
	return 0;
}

static void
smoke_shared_port_gone(uint64_t cap)
{
	struct job j = JOB("gone", cap);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	kid_start(&k, "rx", rx_gone_port_main, &j);
	hear(&k, 'o');
	c = test_connect(&fixture);
	tx = p_tx(c, "gone", cap, 0);
	tell(&k, 'x');
	kid_done(&k);
	expect_rc(chan_tx_send(tx, "1", 1), CHAN_ERXGONE, "send after drop(rx)");
	chan_disconnect(c);
}
PORT(smoke_shared_port_gone, UNBOUNDED)

/*
 * smoke_shared_port_gone2: drop(rx); tx2 = tx.clone(); drop(tx);
 * tx2.send(1) is an error. Here the clone is taken while the consumer is
 * attached (a clone is a new open of the name; docs/mpsc.md), then the
 * consumer goes, the original is dropped, and the clone's send fails.
 */
static void
smoke_shared_port_gone2(uint64_t cap)
{
	struct job j = JOB("gone", cap);
	chan_client *c;
	chan_tx *tx, *tx2;
	struct kid k;

	c = test_connect(&fixture);
	tx = p_tx(c, "gone", cap, CHAN_RX_GONE);
	kid_start(&k, "rx", port_main, &j);
	hear(&k, 'o');
	expect_rc(chan_tx_clone(tx, &tx2), 0, "tx.clone()");
	tell(&k, 'x');
	kid_done(&k);
	expect_rc(chan_tx_close(tx), 0, "drop(tx)");
	expect_rc(chan_tx_send(tx2, "1", 1), CHAN_ERXGONE, "tx2.send");
	chan_disconnect(c);
}
PORT_BOTH(smoke_shared_port_gone2, 0)

/*
 * port_gone_concurrent: the consumer takes one message and goes; the
 * producer's `while tx.send(1).is_ok() {}` must end, with CHAN_ERXGONE.
 * The producer is the kid, so that a send that blocks for ever (a full or
 * rendezvous channel whose consumer is gone) ends with its alarm.
 */
static int
send_until_gone_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, CHAN_RX_GONE), *tx2 = NULL;
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	int rc;

	if (j->clones > 0)
		k_rc(chan_tx_clone(tx, &tx2), 0, "clone");
	say('o');
	for (;;) {
		if (now_ms() > deadline)
			kid_fail("sends still succeed %d ms after the consumer "
			    "went", HARNESS_WAIT_MS);
		if ((rc = chan_tx_send(tx, "1", 1)) != 0)
			break;
		if (tx2 != NULL && (rc = chan_tx_send(tx2, "1", 1)) != 0)
			break;
	}
	k_rc(rc, CHAN_ERXGONE, "the send that ended the loop");
	chan_disconnect(c);
	return 0;
}

/* A consumer that takes one message, says 'r', and waits to be killed. */
static int __attribute__((noreturn))
take_one_and_hang_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_rx *rx = k_rx(c, j->name, j->cap, 0);

	k_expect(rx, "1");
	say('r');
	for (;;)
		pause();
}

/*
 * The receiving thread's end drops its Receiver; here the consumer
 * process is killed (kill -9) after its receive, or, in the shared
 * variant, closes its receiver.
 */
static void
port_gone_concurrent_common(uint64_t cap, int shared)
{
	struct job j = JOB("gone", cap);
	chan_client *c;
	chan_rx *rx;
	struct kid k, r;

	j.clones = shared;
	kid_start(&k, "tx", send_until_gone_main, &j);
	hear(&k, 'o');
	if (shared) {
		c = test_connect(&fixture);
		rx = p_rx(c, "gone", cap, 0);
		expect_str(rx, "1");
		expect_rc(chan_rx_close(rx), 0, "drop(rx)");
		chan_disconnect(c);
	} else {
		kid_start(&r, "rx", take_one_and_hang_main, &j);
		hear(&r, 'r');
		kid_kill(&r);
	}
	kid_done(&k);
}

static void
port_gone_concurrent(uint64_t cap)
{
	port_gone_concurrent_common(cap, 0);
}
PORT_BOTH(port_gone_concurrent, 0)

static void
port_gone_concurrent_shared(uint64_t cap)
{
	port_gone_concurrent_common(cap, 1);
}
PORT_BOTH(port_gone_concurrent_shared, 0)

/* smoke_chan_gone: drop(tx); rx.recv() is an error. */
static void
smoke_chan_gone(uint64_t cap)
{
	struct job j = JOB("gone", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "gone", cap, 0);
	struct kid k;

	kid_start(&k, "tx", dropper_main, &j);
	kid_done(&k);
	expect_plain_recv_rc(rx, CHAN_EDISCONNECTED, "recv after drop(tx)");
	chan_disconnect(c);
}
PORT_BOTH(smoke_chan_gone, 0)

/* smoke_chan_gone_shared: two producers dropped; recv is an error. */
static int
two_droppers_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, 0), *tx2;

	k_rc(chan_tx_clone(tx, &tx2), 0, "clone");
	k_rc(chan_tx_close(tx), 0, "drop(tx)");
	k_rc(chan_tx_close(tx2), 0, "drop(tx2)");
	chan_disconnect(c);
	return 0;
}

static void
smoke_chan_gone_shared(uint64_t cap)
{
	struct job j = JOB("gone", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "gone", cap, 0);
	struct kid k;

	kid_start(&k, "tx", two_droppers_main, &j);
	kid_done(&k);
	expect_plain_recv_rc(rx, CHAN_EDISCONNECTED, "recv after both drops");
	chan_disconnect(c);
}
PORT_BOTH(smoke_chan_gone_shared, 0)

/* chan_gone_concurrent: two sends, then `while rx.recv().is_ok() {}`. */
static void
chan_gone_concurrent(uint64_t cap)
{
	struct job j = JOB("gone", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "gone", cap, 0);
	chan_msg *m;
	struct kid k;
	int rc, n = 0;

	j.n = 2;
	kid_start(&k, "tx", sender_main, &j);
	while ((rc = chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m)) == 0) {
		chan_msg_free(m);
		n++;
	}
	expect_rc(rc, CHAN_EDISCONNECTED, "the recv that ended the loop");
	ck_assert_int_eq(n, 2);
	kid_done(&k);
	chan_disconnect(c);
}
PORT_BOTH(chan_gone_concurrent, 0)

/* stress: 10 000 sends from one process, 10 000 receives in another. */
static void
stress(uint64_t cap)
{
	struct job j = JOB("stress", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "stress", cap, 0);
	struct kid k;
	int i;

	j.n = STRESS_MESSAGES;
	kid_start(&k, "tx", sender_main, &j);
	for (i = 0; i < STRESS_MESSAGES; i++)
		expect_str(rx, "1");
	kid_done(&k);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(c);
}
PORT_BOTH(stress, 0)

/*
 * stress_shared: NTHREADS producers of AMT each, cloned from a sender
 * that is dropped once they all exist; the consumer takes them all, then
 * try_recv must not give a message.
 */
static void
stress_shared_common(uint64_t cap, int amt)
{
	struct job j = JOB("stress", cap);
	struct kid k[SHARED_PRODUCERS];
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "stress", cap, 0);
	chan_tx *tx = p_tx(c, "stress", cap, 0);
	chan_msg *m = NULL;
	int i, rc;

	j.n = amt;
	for (i = 0; i < SHARED_PRODUCERS; i++)
		kid_start(&k[i], "tx", sender_main, &j);
	for (i = 0; i < SHARED_PRODUCERS; i++)
		hear(&k[i], 'o');
	expect_rc(chan_tx_close(tx), 0, "drop(tx)");
	for (i = 0; i < SHARED_PRODUCERS * amt; i++)
		expect_str(rx, "1");
	rc = chan_rx_try_recv(rx, &m);
	ck_assert_msg(rc == CHAN_EEMPTY || rc == CHAN_EDISCONNECTED,
	    "try_recv after all: %s", chan_errname(rc));
	for (i = 0; i < SHARED_PRODUCERS; i++)
		kid_done(&k[i]);
	chan_disconnect(c);
}

START_TEST(test_stress_shared)
{
	stress_shared_common(UNBOUNDED, SHARED_AMT);
}
END_TEST

START_TEST(test_sync_stress_shared)
{
	stress_shared_common(0, SYNC_SHARED_AMT);
}
END_TEST

/*
 * send_from_outside_runtime: a consumer of "b" first says it is ready on
 * channel "a", then takes 40 messages that another process sends on "b".
 */
static int
outside_consumer_main(void *arg)
{
	chan_client *c = k_connect();
	chan_rx *rx2 = k_rx(c, "b", UNBOUNDED, 0);
	chan_tx *tx1 = k_tx(c, "a", UNBOUNDED, 0);
	int i;

	(void)arg;
	k_send(tx1, "()");
	for (i = 0; i < 40; i++)
		k_expect(rx2, "1");
	chan_disconnect(c);
	return 0;
}

START_TEST(test_send_from_outside_runtime)
{
	struct job j = JOB("b", UNBOUNDED);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx1 = p_rx(c, "a", UNBOUNDED, 0);
	struct kid t1, t2;

	kid_start(&t1, "t1", outside_consumer_main, NULL);
	expect_str(rx1, "()");
	j.n = 40;
	kid_start(&t2, "t2", sender_main, &j);
	kid_done(&t1);
	kid_done(&t2);
	chan_disconnect(c);
}
END_TEST

/* recv_from_outside_runtime: 40 receives in a process, 40 sends here. */
START_TEST(test_recv_from_outside_runtime)
{
	struct job j = JOB("r", UNBOUNDED);
	chan_client *c;
	chan_tx *tx;
	struct kid k;
	int i;

	j.n = 40;
	kid_start(&k, "rx", receiver_main, &j);
	c = test_connect(&fixture);
	tx = p_tx(c, "r", UNBOUNDED, 0);
	for (i = 0; i < 40; i++)
		send_str(tx, "1");
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/* no_runtime: t1 waits for 1 on "1" and answers 2 on "2", t2 the reverse. */
static int
no_runtime_t1(void *arg)
{
	chan_client *c = k_connect();
	chan_rx *rx1 = k_rx(c, "1", UNBOUNDED, 0);
	chan_tx *tx2 = k_tx(c, "2", UNBOUNDED, 0);

	(void)arg;
	k_expect(rx1, "1");
	k_send(tx2, "2");
	chan_disconnect(c);
	return 0;
}

static int
no_runtime_t2(void *arg)
{
	chan_client *c = k_connect();
	chan_tx *tx1 = k_tx(c, "1", UNBOUNDED, 0);
	chan_rx *rx2 = k_rx(c, "2", UNBOUNDED, 0);

	(void)arg;
	k_send(tx1, "1");
	k_expect(rx2, "2");
	chan_disconnect(c);
	return 0;
}

START_TEST(test_no_runtime)
{
	struct kid t1, t2;

	kid_start(&t1, "t1", no_runtime_t1, NULL);
	kid_start(&t2, "t2", no_runtime_t2, NULL);
	kid_done(&t1);
	kid_done(&t2);
	assert_serves(&fixture);
}
END_TEST

/*
 * oneshot_single_thread_close_port_first: drop(rx) with a sender alive.
 * Without the receiver-gone option the producer is not told: its send
 * still succeeds and waits for the next consumer, which gets it.
 */
static void
oneshot_single_thread_close_port_first(uint64_t cap)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = p_tx(c, "port", cap, 0);
	struct job j = JOB("port", cap);
	struct kid k;
	chan_rx *rx;

	consumer_comes_and_goes("port", cap, 0);
	if (cap > 0)
		send_str(tx, "after");
	/* The slot is free again. */
	rx = p_rx(c, "port", cap, 0);
	if (cap == 0) {
		kid_start(&k, "tx", sender_main, &j);
		expect_str(rx, "1");
		kid_done(&k);
	} else {
		expect_str(rx, "after");
	}
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_close_port_first, 0)

/* oneshot_single_thread_close_chan_first: drop(tx) with the receiver. */
static void
oneshot_single_thread_close_chan_first(uint64_t cap)
{
	struct job j = JOB("chan", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "chan", cap, 0);
	struct kid k;

	kid_start(&k, "tx", dropper_main, &j);
	kid_done(&k);
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_close_chan_first, 0)

/*
 * oneshot_single_thread_send_port_close: drop(rx); tx.send(big) is an
 * error and the payload is not kept: nothing is queued in the daemon.
 */
static void
oneshot_single_thread_send_port_close(uint64_t cap)
{
	static const char *const status[] = { "status", "--json", NULL };
	chan_client *c;
	chan_tx *tx;
	size_t len = 256 * 1024;
	char *big, *out;

	big = calloc(1, len);
	ck_assert_ptr_nonnull(big);
	c = test_connect(&fixture);
	tx = p_tx(c, "port", cap, CHAN_RX_GONE);
	consumer_comes_and_goes("port", cap, 0);
	expect_rc(chan_tx_send(tx, big, len), CHAN_ERXGONE, "send after drop(rx)");
	out = chanctl(&fixture, 0, status);
	expect_in(out, "\"queued\":0,\"queued_bytes\":0,\"held\":0,");
	free(out);
	free(big);
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_send_port_close, 0)

/*
 * oneshot_single_thread_recv_chan_close: drop(tx); rx.recv() fails. Here
 * the producer comes and goes, sending nothing, before the consumer
 * exists at all: the consumer that arrives after must still be told.
 */
static void
oneshot_single_thread_recv_chan_close(uint64_t cap)
{
	struct job j = JOB("late", cap);
	chan_client *c;
	chan_rx *rx;
	struct kid k;

	kid_start(&k, "tx", dropper_main, &j);
	kid_done(&k);
	c = test_connect(&fixture);
	rx = p_rx(c, "late", cap, 0);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_recv_chan_close, 0)

/* oneshot_single_thread_send_then_recv: send(10); recv() == 10. */
static void
oneshot_single_thread_send_then_recv(uint64_t cap)
{
	struct job j = JOB("ten", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "ten", cap, 0);
	struct kid k;

	j.text = "10";
	kid_start(&k, "tx", sender_main, &j);
	kid_done(&k);
	expect_str(rx, "10");
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_send_then_recv, 1)

/*
 * oneshot_single_thread_try_send_open: try_send(10) on a channel with
 * room succeeds (tests.rs: send, there being no try_send on Sender).
 */
static int
try_send_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, j->flags);

	if (j->cap == UNBOUNDED)
		k_rc(chan_tx_send(tx, "10", 2), 0, "send");
	else
		k_rc(chan_tx_try_send(tx, "10", 2), 0, "try_send");
	chan_disconnect(c);
	return 0;
}

static void
oneshot_single_thread_try_send_open(uint64_t cap)
{
	struct job j = JOB("ten", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "ten", cap, 0);
	struct kid k;

	kid_start(&k, "tx", try_send_main, &j);
	kid_done(&k);
	expect_str(rx, "10");
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_try_send_open, 1)

/*
 * oneshot_single_thread_try_send_closed: drop(rx); send (tests.rs) or
 * try_send (sync_tests.rs: TrySendError::Disconnected) fails.
 */
static void
oneshot_single_thread_try_send_closed(uint64_t cap)
{
	chan_client *c;
	chan_tx *tx;

	c = test_connect(&fixture);
	tx = p_tx(c, "closed", cap, CHAN_RX_GONE);
	consumer_comes_and_goes("closed", cap, 0);
	if (cap == UNBOUNDED)
		expect_rc(chan_tx_send(tx, "10", 2), CHAN_ERXGONE, "send");
	else
		expect_rc(chan_tx_try_send(tx, "10", 2), CHAN_ERXGONE, "try_send");
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_try_send_closed, 0)

/*
 * oneshot_single_thread_try_send_closed2: sync_channel(0) with a receiver
 * that is not receiving: try_send is Full.
 */
static void
oneshot_single_thread_try_send_closed2(uint64_t cap)
{
	struct job j = JOB("full", cap);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	kid_start(&k, "rx", port_main, &j);
	hear(&k, 'o');
	c = test_connect(&fixture);
	tx = p_tx(c, "full", cap, 0);
	expect_rc(chan_tx_try_send(tx, "10", 2), CHAN_EFULL, "try_send");
	tell(&k, 'x');
	kid_done(&k);
	chan_disconnect(c);
}
PORT_SYNC(oneshot_single_thread_try_send_closed2, 0)

/* oneshot_single_thread_try_recv_open: send(10); recv() == Ok(10). */
static void
oneshot_single_thread_try_recv_open(uint64_t cap)
{
	oneshot_single_thread_send_then_recv(cap);
}
PORT_BOTH(oneshot_single_thread_try_recv_open, 1)

/* oneshot_single_thread_try_recv_closed: drop(tx); recv() fails. */
static void
oneshot_single_thread_try_recv_closed(uint64_t cap)
{
	smoke_chan_gone(cap);
}
PORT_BOTH(oneshot_single_thread_try_recv_closed, 0)

/*
 * oneshot_single_thread_try_recv_closed_with_data: send(10); drop(tx);
 * try_recv() == Ok(10); try_recv() is Disconnected.
 */
static void
oneshot_single_thread_try_recv_closed_with_data(uint64_t cap)
{
	struct job j = JOB("data", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "data", cap, 0);
	chan_msg *m = NULL;
	struct kid k;

	j.text = "10";
	kid_start(&k, "tx", sender_main, &j);
	kid_done(&k);
	expect_rc(chan_rx_try_recv(rx, &m), 0, "try_recv");
	ck_assert_str_eq(chan_msg_data(m), "10");
	chan_msg_free(m);
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(c);
}
PORT_SYNC(oneshot_single_thread_try_recv_closed_with_data, 1)

/*
 * oneshot_single_thread_peek_data: try_recv() is Empty; send(10);
 * try_recv() == Ok(10).
 */
/* Opens a producer, says 'o'; sends on each 's' and says 's'; 'x' ends. */
static int
send_on_cue_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, 0);

	say('o');
	while (await_any() == 's') {
		k_send(tx, j->text != NULL ? j->text : "1");
		say('s');
	}
	k_rc(chan_tx_close(tx), 0, "drop(tx)");
	chan_disconnect(c);
	return 0;
}

static void
oneshot_single_thread_peek_data(uint64_t cap)
{
	struct job j = JOB("peek", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "peek", cap, 0);
	chan_msg *m = NULL;
	struct kid k;

	j.text = "10";
	kid_start(&k, "tx", send_on_cue_main, &j);
	hear(&k, 'o');
	expect_try_rc(rx, CHAN_EEMPTY);
	tell(&k, 's');
	hear(&k, 's');
	expect_rc(chan_rx_try_recv(rx, &m), 0, "try_recv after the send");
	ck_assert_str_eq(chan_msg_data(m), "10");
	chan_msg_free(m);
	tell(&k, 'x');
	kid_done(&k);
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_peek_data, 1)

/*
 * oneshot_single_thread_peek_close: drop(tx); try_recv() is Disconnected,
 * and again: disconnected is a state, not an event told once.
 */
static void
oneshot_single_thread_peek_close(uint64_t cap)
{
	struct job j = JOB("peek", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "peek", cap, 0);
	struct kid k;

	kid_start(&k, "tx", dropper_main, &j);
	kid_done(&k);
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_peek_close, 0)

/* oneshot_single_thread_peek_open: a sender alive; try_recv() is Empty. */
static void
oneshot_single_thread_peek_open(uint64_t cap)
{
	struct job j = JOB("peek", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "peek", cap, 0);
	struct kid k;

	kid_start(&k, "tx", holder_main, &j);
	hear(&k, 'o');
	expect_try_rc(rx, CHAN_EEMPTY);
	tell(&k, 'x');
	kid_done(&k);
	chan_disconnect(c);
}
PORT_BOTH(oneshot_single_thread_peek_open, 0)

/* oneshot_multi_task_recv_then_send: a receiving process; send(10). */
static void
oneshot_multi_task_recv_then_send(uint64_t cap)
{
	struct job j = JOB("ten", cap);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	j.n = 1;
	j.text = "10";
	kid_start(&k, "rx", receiver_main, &j);
	c = test_connect(&fixture);
	tx = p_tx(c, "ten", cap, 0);
	send_str(tx, "10");
	kid_done(&k);
	chan_disconnect(c);
}
PORT_BOTH(oneshot_multi_task_recv_then_send, 0)

/*
 * oneshot_multi_task_recv_then_close: one process drops the sender, sending
 * nothing, while another receives: the receive fails whichever comes
 * first (the consumer may arrive after the producer has gone).
 */
static void
recv_then_close_once(uint64_t cap, const char *name)
{
	struct job tj = JOB(name, cap), rj = JOB(name, cap);
	struct kid t, r;

	rj.want = CHAN_EDISCONNECTED;
	kid_start(&t, "tx", dropper_main, &tj);
	kid_start(&r, "rx", receiver_main, &rj);
	hear(&r, 'o');
	kid_done(&t);
	kid_done(&r);
}

static void
oneshot_multi_task_recv_then_close(uint64_t cap)
{
	recv_then_close_once(cap, "close");
}
PORT_BOTH(oneshot_multi_task_recv_then_close, 0)

/*
 * oneshot_multi_thread_close_stress: rounds of a consumer dropped in one
 * process while the producer drops in another; nothing may be left behind
 * (a consumer slot still taken, a daemon that stops serving).
 */
static void
oneshot_multi_thread_close_stress(uint64_t cap)
{
	struct job j = JOB("cs", cap);
	chan_client *c;
	chan_rx *rx;
	struct kid t, r;
	int i;

	j.n = -1;
	for (i = 0; i < ONESHOT_ROUNDS; i++) {
		kid_start(&r, "rx", port_main, &j);
		kid_start(&t, "tx", dropper_main, &j);
		hear(&r, 'o');
		kid_done(&t);
		kid_done(&r);
	}
	c = test_connect(&fixture);
	rx = p_rx(c, "cs", cap, 0);
	expect_rc(chan_rx_close(rx), 0, "a last consumer");
	chan_disconnect(c);
	assert_serves(&fixture);
}
PORT_BOTH(oneshot_multi_thread_close_stress, 0)

/*
 * oneshot_multi_thread_send_close_stress: a consumer dropped while a
 * producer with the receiver-gone option sends once: the send succeeds
 * or fails with CHAN_ERXGONE, never hangs or fails otherwise.
 */
static int
send_once_or_gone_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, CHAN_RX_GONE);
	int rc;

	say('o');
	rc = chan_tx_send(tx, "1", 1);
	if (rc != 0 && rc != CHAN_ERXGONE)
		kid_fail("send: %s", chan_errname(rc));
	chan_disconnect(c);
	return 0;
}

static void
oneshot_multi_thread_send_close_stress(uint64_t cap)
{
	char name[32];
	struct job j = JOB(name, cap);
	struct kid t, r;
	int i;

	j.n = -1;
	for (i = 0; i < ONESHOT_ROUNDS; i++) {
		/* A channel a round: the previous one's state is not ours. */
		snprintf(name, sizeof name, "sc%d", i);
		kid_start(&t, "tx", send_once_or_gone_main, &j);
		hear(&t, 'o');
		kid_start(&r, "rx", port_main, &j);
		kid_done(&r);
		kid_done(&t);
	}
	assert_serves(&fixture);
}
PORT_BOTH(oneshot_multi_thread_send_close_stress, 0)

/*
 * oneshot_multi_thread_recv_close_stress: rounds of
 * oneshot_multi_task_recv_then_close, so that both orders happen.
 */
static void
oneshot_multi_thread_recv_close_stress(uint64_t cap)
{
	char name[32];
	int i;

	for (i = 0; i < ONESHOT_ROUNDS; i++) {
		snprintf(name, sizeof name, "rc%d", i);
		recv_then_close_once(cap, name);
	}
}
PORT_BOTH(oneshot_multi_thread_recv_close_stress, 0)

/* oneshot_multi_thread_send_recv_stress: rounds of send(10) / recv. */
static void
oneshot_multi_thread_send_recv_stress(uint64_t cap)
{
	char name[32];
	struct job j = JOB(name, cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx;
	struct kid k;
	int i;

	j.text = "10";
	for (i = 0; i < ONESHOT_ROUNDS; i++) {
		/* A channel a round, as Rust makes one. */
		snprintf(name, sizeof name, "sr%d", i);
		rx = p_rx(c, name, cap, 0);
		kid_start(&k, "tx", sender_main, &j);
		expect_str(rx, "10");
		kid_done(&k);
		expect_rc(chan_rx_close(rx), 0, "drop(rx)");
	}
	chan_disconnect(c);
}
PORT_BOTH(oneshot_multi_thread_send_recv_stress, 0)

/*
 * stream_send_recv_stress: the Sender moves down a chain of ten threads,
 * each sending its number, and so does the Receiver, each receiving one.
 * Here: a chain of producer processes, each attaching before the one
 * before it drops (so that the channel never lacks a producer), and a
 * chain of consumer processes, each taking one message and then leaving
 * the consumer slot to the next. Every number arrives in order, once.
 */
struct chain {
	const char	*name;
	uint64_t	 cap;
	int		 i;
	int		 up;	/* >= 0: the predecessor's pipe */
};

static int
chain_send_main(void *arg)
{
	struct chain *ch = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, ch->name, ch->cap, 0);
	struct chain next = *ch;
	char buf[16];
	int p[2], rc = 0;
	pid_t pid;
	struct proc pr;

	if (ch->up >= 0 && write(ch->up, "o", 1) != 1)
		kid_fail("write to the predecessor");
	snprintf(buf, sizeof buf, "%d", ch->i);
	k_send(tx, buf);
	if (ch->i + 1 < CHAIN) {
		if (pipe(p) != 0)
			kid_fail("pipe");
		next.i = ch->i + 1;
		next.up = p[1];
		fflush(NULL);
		if ((pid = fork()) < 0)
			kid_fail("fork");
		if (pid == 0)
			_exit(chain_send_main(&next));
		close(p[1]);
		kid_in = p[0];
		await('o');
		k_rc(chan_tx_close(tx), 0, "drop(tx)");
		pr = (struct proc){ pid, -1, -1, -1 };
		rc = proc_wait(&pr, 3 * HARNESS_WAIT_MS);
	} else {
		k_rc(chan_tx_close(tx), 0, "drop(tx)");
	}
	chan_disconnect(c);
	return rc;
}

static int
chain_recv_main(void *arg)
{
	struct chain *ch = arg;
	chan_client *c = k_connect();
	chan_rx *rx = k_rx(c, ch->name, ch->cap, 0);
	struct chain next = *ch;
	chan_msg *m = NULL;
	char buf[16];
	pid_t pid;
	struct proc pr;

	snprintf(buf, sizeof buf, "%d", ch->i);
	k_rc(chan_rx_recv(rx, &m), 0, "recv");
	if (strcmp(chan_msg_data(m), buf) != 0 || chan_msg_redelivered(m))
		kid_fail("got \"%s\"%s, want \"%s\"",
		    (const char *)chan_msg_data(m),
		    chan_msg_redelivered(m) ? " redelivered" : "", buf);
	chan_msg_free(m);
	k_rc(chan_rx_close(rx), 0, "drop(rx)");
	chan_disconnect(c);
	if (ch->i + 1 == CHAIN)
		return 0;
	next.i = ch->i + 1;
	fflush(NULL);
	if ((pid = fork()) < 0)
		kid_fail("fork");
	if (pid == 0)
		_exit(chain_recv_main(&next));
	pr = (struct proc){ pid, -1, -1, -1 };
	return proc_wait(&pr, 3 * HARNESS_WAIT_MS);
}

static void
stream_send_recv_stress(uint64_t cap)
{
	struct chain ch = { "stream", cap, 0, -1 };
	struct kid s, r;

	kid_start(&s, "send chain", chain_send_main, &ch);
	kid_start(&r, "recv chain", chain_recv_main, &ch);
	kid_done(&s);
	kid_done(&r);
}
PORT_BOTH(stream_send_recv_stress, 0)

/*
 * oneshot_single_thread_recv_timeout: send; recv_timeout(1 ms) is Ok;
 * recv_timeout(1 ms) is Timeout; send; recv_timeout(1 ms) is Ok.
 */
START_TEST(test_oneshot_single_thread_recv_timeout)
{
	struct job j = JOB("rt", UNBOUNDED);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "rt", UNBOUNDED, 0);
	chan_msg *m = NULL;
	struct kid k;

	j.text = "()";
	kid_start(&k, "tx", send_on_cue_main, &j);
	hear(&k, 'o');
	tell(&k, 's');
	hear(&k, 's');
	expect_rc(chan_rx_recv_timeout(rx, 1, &m), 0, "first recv_timeout");
	chan_msg_free(m);
	expect_rc(chan_rx_recv_timeout(rx, 1, &m), CHAN_ETIMEDOUT,
	    "second recv_timeout");
	tell(&k, 's');
	hear(&k, 's');
	expect_rc(chan_rx_recv_timeout(rx, 1, &m), 0, "third recv_timeout");
	chan_msg_free(m);
	tell(&k, 'x');
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/* recv_timeout (sync_channel(1)): Timeout; send(1); Ok(1). */
START_TEST(test_sync_recv_timeout)
{
	struct job j = JOB("rt", 1);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "rt", 1, 0);
	chan_msg *m = NULL;
	struct kid k;

	kid_start(&k, "tx", send_on_cue_main, &j);
	hear(&k, 'o');
	expect_rc(chan_rx_recv_timeout(rx, 1, &m), CHAN_ETIMEDOUT,
	    "recv_timeout before the send");
	/* No time at all: Timeout, where try_recv says Empty. */
	expect_rc(chan_rx_recv_timeout(rx, 0, &m), CHAN_ETIMEDOUT,
	    "recv_timeout(0)");
	expect_try_rc(rx, CHAN_EEMPTY);
	tell(&k, 's');
	hear(&k, 's');
	expect_rc(chan_rx_recv_timeout(rx, 1, &m), 0, "after the send");
	ck_assert_str_eq(chan_msg_data(m), "1");
	chan_msg_free(m);
	tell(&k, 'x');
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/*
 * send_timeout (sync_channel(1), receiver alive, not receiving):
 * send_timeout(1 ms) is Ok, the next is Timeout.
 */
START_TEST(test_sync_send_timeout)
{
	struct job j = JOB("st", 1);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	kid_start(&k, "rx", port_main, &j);
	hear(&k, 'o');
	c = test_connect(&fixture);
	tx = p_tx(c, "st", 1, 0);
	expect_rc(chan_tx_send_timeout(tx, "1", 1, 1), 0, "first");
	expect_rc(chan_tx_send_timeout(tx, "1", 1, 1), CHAN_ETIMEDOUT,
	    "second");
	expect_rc(chan_tx_send_timeout(tx, "1", 1, 0), CHAN_ETIMEDOUT,
	    "send_timeout of no time");
	tell(&k, 'x');
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/*
 * stress_recv_timeout_two_threads: the producer pauses before every other
 * send (Rust sleeps twice the timeout; here it waits until the consumer
 * has timed out once); the consumer counts messages over timeouts until
 * the disconnection.
 */
static int
paced_sender_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, 0);
	int i;

	for (i = 0; i < j->n; i++) {
		if (j->pace && i % 2 == 0)
			await('t');
		k_send(tx, "1");
	}
	k_rc(chan_tx_close(tx), 0, "drop(tx)");
	chan_disconnect(c);
	return 0;
}

static void
count_until_disconnected(chan_rx *rx, int timeout_ms, struct kid *pace,
    int want)
{
	chan_msg *m;
	int rc, count = 0;
	long long deadline = now_ms() + 2 * HARNESS_WAIT_MS;

	for (;;) {
		ck_assert_msg(now_ms() < deadline, "no disconnection after "
		    "%d messages", count);
		rc = chan_rx_recv_timeout(rx, timeout_ms, &m);
		if (rc == 0) {
			ck_assert_str_eq(chan_msg_data(m), "1");
			chan_msg_free(m);
			count++;
			continue;
		}
		if (rc == CHAN_ETIMEDOUT) {
			if (pace != NULL)
				tell(pace, 't');
			continue;
		}
		expect_rc(rc, CHAN_EDISCONNECTED, "recv_timeout");
		break;
	}
	ck_assert_int_eq(count, want);
}

START_TEST(test_stress_recv_timeout_two_threads)
{
	struct job j = JOB("rt", UNBOUNDED);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "rt", UNBOUNDED, 0);
	struct kid k;

	j.n = TWO_THREADS_SENDS;
	j.pace = 1;
	kid_start(&k, "tx", paced_sender_main, &j);
	count_until_disconnected(rx, 10, &k, TWO_THREADS_SENDS);
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

START_TEST(test_sync_stress_recv_timeout_two_threads)
{
	struct job j = JOB("rt", 0);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "rt", 0, 0);
	struct kid k;

	j.n = SYNC_TWO_THREADS;
	kid_start(&k, "tx", paced_sender_main, &j);
	count_until_disconnected(rx, 1, NULL, SYNC_TWO_THREADS);
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/*
 * recv_timeout_upgrade: with a cloned sender alive, recv_timeout(1 ms)
 * is Timeout and took at least the millisecond.
 */
static int
clone_holder_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, 0), *t2;

	k_rc(chan_tx_clone(tx, &t2), 0, "clone");
	say('o');
	await('x');
	chan_disconnect(c);
	return 0;
}

START_TEST(test_recv_timeout_upgrade)
{
	struct job j = JOB("up", UNBOUNDED);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "up", UNBOUNDED, 0);
	chan_msg *m = NULL;
	struct kid k;
	long long start;

	kid_start(&k, "tx", clone_holder_main, &j);
	hear(&k, 'o');
	start = now_ms();
	expect_rc(chan_rx_recv_timeout(rx, 1, &m), CHAN_ETIMEDOUT,
	    "recv_timeout");
	ck_assert_int_ge(now_ms(), start + 1);
	tell(&k, 'x');
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/*
 * stress_recv_timeout_shared (tests.rs): many producers, each sending
 * once, released one at a time (Rust staggers them by sleeping i * 10 ms;
 * here each waits until the consumer has timed out once more); the
 * consumer loops on recv_timeout(10 ms) until the disconnection.
 */
static int
one_on_cue_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, 0);

	say('o');
	await('t');
	k_send(tx, "1");
	chan_disconnect(c);
	return 0;
}

START_TEST(test_stress_recv_timeout_shared)
{
	struct job j = JOB("rs", UNBOUNDED);
	struct kid k[TIMEOUT_PRODUCERS], holder;
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "rs", UNBOUNDED, 0);
	chan_msg *m;
	int i, rc, released = 0, count = 0;
	long long deadline = now_ms() + 2 * HARNESS_WAIT_MS;

	kid_start(&holder, "tx", holder_main, &j);
	hear(&holder, 'o');
	for (i = 0; i < TIMEOUT_PRODUCERS; i++) {
		kid_start(&k[i], "clone", one_on_cue_main, &j);
		hear(&k[i], 'o');
	}
	tell(&holder, 'x');	/* drop(tx): the clones remain */
	kid_done(&holder);
	for (;;) {
		ck_assert_msg(now_ms() < deadline, "no disconnection");
		rc = chan_rx_recv_timeout(rx, 10, &m);
		if (rc == 0) {
			chan_msg_free(m);
			count++;
		} else if (rc == CHAN_ETIMEDOUT) {
			if (released < TIMEOUT_PRODUCERS)
				tell(&k[released++], 't');
		} else {
			expect_rc(rc, CHAN_EDISCONNECTED, "recv_timeout");
			break;
		}
	}
	ck_assert_int_eq(count, TIMEOUT_PRODUCERS);
	for (i = 0; i < TIMEOUT_PRODUCERS; i++)
		kid_done(&k[i]);
	chan_disconnect(c);
}
END_TEST

/*
 * stress_recv_timeout_shared (sync_tests.rs): NTHREADS producers of AMT
 * into a rendezvous, cloned from a sender dropped once they all exist;
 * the consumer, a process of its own, counts them over recv_timeout(10
 * ms) until the disconnection, then try_recv must fail.
 */
static int
timeout_counter_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_rx *rx = k_rx(c, j->name, j->cap, 0);
	chan_msg *m = NULL;
	int rc, count = 0;

	say('o');
	for (;;) {
		rc = chan_rx_recv_timeout(rx, 10, &m);
		if (rc == 0) {
			chan_msg_free(m);
			count++;
		} else if (rc != CHAN_ETIMEDOUT)
			break;
	}
	k_rc(rc, CHAN_EDISCONNECTED, "the recv_timeout that ended the loop");
	if (count != j->n)
		kid_fail("%d messages, want %d", count, j->n);
	if (chan_rx_try_recv(rx, &m) == 0)
		kid_fail("try_recv gave a message after all");
	chan_disconnect(c);
	return 0;
}

START_TEST(test_sync_stress_recv_timeout_shared)
{
	struct job cj = JOB("rs", 0), pj = JOB("rs", 0);
	struct kid counter, k[SHARED_PRODUCERS];
	chan_client *c;
	chan_tx *tx;
	int i;

	cj.n = SHARED_PRODUCERS * SYNC_SHARED_AMT;
	pj.n = SYNC_SHARED_AMT;
	kid_start(&counter, "rx", timeout_counter_main, &cj);
	hear(&counter, 'o');
	c = test_connect(&fixture);
	tx = p_tx(c, "rs", 0, 0);
	for (i = 0; i < SHARED_PRODUCERS; i++)
		kid_start(&k[i], "tx", sender_main, &pj);
	for (i = 0; i < SHARED_PRODUCERS; i++)
		hear(&k[i], 'o');
	expect_rc(chan_tx_close(tx), 0, "drop(tx)");
	for (i = 0; i < SHARED_PRODUCERS; i++)
		kid_done(&k[i]);
	kid_done(&counter);
	chan_disconnect(c);
}
END_TEST

/*
 * very_long_recv_timeout_wont_panic: a receive with the longest timeout
 * the call takes (Rust: u64::MAX seconds) gets a message sent later.
 */
START_TEST(test_very_long_recv_timeout_wont_panic)
{
	struct job j = JOB("long", UNBOUNDED);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "long", UNBOUNDED, 0);
	chan_msg *m = NULL;
	struct kid k;

	j.text = "()";
	kid_start(&k, "tx", sender_main, &j);
	expect_rc(chan_rx_recv_timeout(rx, INT_MAX, &m), 0, "recv_timeout");
	ck_assert_str_eq(chan_msg_data(m), "()");
	chan_msg_free(m);
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/* recv_a_lot: 10 000 sends, then 10 000 receives. */
static void
recv_a_lot(uint64_t cap)
{
	struct job j = JOB("lot", cap);
	chan_client *c;
	chan_rx *rx;
	struct kid k;
	int i;

	j.n = STRESS_MESSAGES;
	j.text = "()";
	kid_start(&k, "tx", sender_main, &j);
	kid_done(&k);
	c = test_connect(&fixture);
	rx = p_rx(c, "lot", cap, 0);
	for (i = 0; i < STRESS_MESSAGES; i++)
		expect_str(rx, "()");
	chan_disconnect(c);
}
PORT_BOTH(recv_a_lot, STRESS_MESSAGES)

/*
 * shared_recv_timeout: five producers send once each; five receives;
 * recv_timeout(1 ms) is Timeout; the original sender sends;
 * recv_timeout(1 ms) is Ok.
 */
START_TEST(test_shared_recv_timeout)
{
	struct job j = JOB("srt", UNBOUNDED);
	struct kid k[5], tx;
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "srt", UNBOUNDED, 0);
	chan_msg *m = NULL;
	int i;

	j.text = "()";
	kid_start(&tx, "tx", send_on_cue_main, &j);
	hear(&tx, 'o');
	for (i = 0; i < 5; i++)
		kid_start(&k[i], "clone", sender_main, &j);
	for (i = 0; i < 5; i++)
		expect_str(rx, "()");
	for (i = 0; i < 5; i++)
		kid_done(&k[i]);
	expect_rc(chan_rx_recv_timeout(rx, 1, &m), CHAN_ETIMEDOUT,
	    "recv_timeout before the send");
	tell(&tx, 's');
	hear(&tx, 's');
	expect_rc(chan_rx_recv_timeout(rx, 1, &m), 0, "after the send");
	chan_msg_free(m);
	tell(&tx, 'x');
	kid_done(&tx);
	chan_disconnect(c);
}
END_TEST

/*
 * shared_chan_stress: 100 producer processes send once each, while the
 * original sender stays (Rust's main thread keeps tx).
 */
static void
shared_chan_stress(uint64_t cap)
{
	struct job j = JOB("many", cap);
	struct kid k[MANY_PRODUCERS];
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "many", cap, 0);
	chan_tx *tx = p_tx(c, "many", cap, 0);
	int i;

	j.text = "()";
	for (i = 0; i < MANY_PRODUCERS; i++)
		kid_start(&k[i], "tx", sender_main, &j);
	for (i = 0; i < MANY_PRODUCERS; i++)
		expect_str(rx, "()");
	for (i = 0; i < MANY_PRODUCERS; i++)
		kid_done(&k[i]);
	expect_rc(chan_tx_close(tx), 0, "drop(tx)");
	chan_disconnect(c);
}
PORT_BOTH(shared_chan_stress, 0)

/*
 * test_nested_recv_iter: a process sums `for x in rx.iter()` and sends
 * the total on a second channel once the loop ends.
 */
static int
summer_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_rx *rx = k_rx(c, j->name, j->cap, 0);
	chan_tx *total = k_tx(c, j->name2, j->cap, 0);
	chan_msg *m;
	char buf[16];
	int rc, acc = 0;

	say('o');
	while ((rc = chan_rx_recv(rx, &m)) == 0) {
		acc += atoi(chan_msg_data(m));
		chan_msg_free(m);
	}
	k_rc(rc, CHAN_EDISCONNECTED, "the recv that ended the loop");
	snprintf(buf, sizeof buf, "%d", acc);
	k_send(total, buf);
	chan_disconnect(c);
	return 0;
}

static void
test_nested_recv_iter(uint64_t cap)
{
	struct job j = JOB("nums", cap);
	chan_client *c;
	chan_tx *tx;
	chan_rx *total;
	struct kid k;

	j.name2 = "total";
	c = test_connect(&fixture);
	total = p_rx(c, "total", cap, 0);
	kid_start(&k, "iter", summer_main, &j);
	hear(&k, 'o');
	tx = p_tx(c, "nums", cap, 0);
	send_str(tx, "3");
	send_str(tx, "1");
	send_str(tx, "2");
	expect_rc(chan_tx_close(tx), 0, "drop(tx)");
	expect_str(total, "6");
	kid_done(&k);
	chan_disconnect(c);
}

START_TEST(test_test_nested_recv_iter)
{
	test_nested_recv_iter(UNBOUNDED);
}
END_TEST

START_TEST(test_sync_test_nested_recv_iter)
{
	test_nested_recv_iter(0);
}
END_TEST

/*
 * test_recv_iter_break: a process adds up messages and leaves the loop
 * once its count reaches 3 (on the third message); it sends the count.
 * The fourth send's result is ignored, as in Rust.
 */
static int
breaker_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_rx *rx = k_rx(c, j->name, j->cap, 0);
	chan_tx *count_tx = k_tx(c, j->name2, j->cap, 0);
	chan_msg *m;
	char buf[16];
	int count = 0;

	say('o');
	while (chan_rx_recv(rx, &m) == 0) {
		if (count >= 3) {
			chan_msg_free(m);
			break;
		}
		count += atoi(chan_msg_data(m));
		chan_msg_free(m);
	}
	k_rc(chan_rx_close(rx), 0, "drop(rx)");
	snprintf(buf, sizeof buf, "%d", count);
	k_send(count_tx, buf);
	chan_disconnect(c);
	return 0;
}

static void
test_recv_iter_break(uint64_t cap)
{
	struct job j = JOB("nums", cap);
	chan_client *c;
	chan_tx *tx;
	chan_rx *count;
	struct kid k;
	int rc;

	j.name2 = "count";
	c = test_connect(&fixture);
	count = p_rx(c, "count", cap, 0);
	kid_start(&k, "iter", breaker_main, &j);
	hear(&k, 'o');
	tx = p_tx(c, "nums", cap, 0);
	send_str(tx, "2");
	send_str(tx, "2");
	send_str(tx, "2");
	if (cap == UNBOUNDED)
		rc = chan_tx_send(tx, "2", 1);
	else
		rc = chan_tx_try_send(tx, "2", 1);
	(void)rc;
	expect_rc(chan_tx_close(tx), 0, "drop(tx)");
	expect_str(count, "4");
	kid_done(&k);
	chan_disconnect(c);
}

START_TEST(test_test_recv_iter_break)
{
	test_recv_iter_break(UNBOUNDED);
}
END_TEST

START_TEST(test_sync_test_recv_iter_break)
{
	test_recv_iter_break(0);
}
END_TEST

/*
 * test_recv_try_iter: a process asks for more on "request" until what it
 * drains from "response" (try_iter: chan_rx_drain) adds up to 6; this
 * side answers each request with 2 until a send fails or the requests
 * end.
 */
static int
try_iter_main(void *arg)
{
	chan_client *c = k_connect();
	chan_rx *response = k_rx(c, "response", UNBOUNDED, 0);
	chan_tx *request = k_tx(c, "request", UNBOUNDED, 0);
	chan_msg *batch[8];
	size_t i, n;
	int count = 0;

	(void)arg;
	say('o');
	for (;;) {
		k_rc(chan_rx_drain(response, batch, 8, &n), 0, "try_iter");
		for (i = 0; i < n; i++) {
			count += atoi(chan_msg_data(batch[i]));
			chan_msg_free(batch[i]);
			if (count == 6) {
				for (i++; i < n; i++)
					chan_msg_free(batch[i]);
				chan_disconnect(c);
				return 0;
			}
		}
		k_send(request, "()");
	}
}

START_TEST(test_test_recv_try_iter)
{
	chan_client *c;
	chan_rx *request;
	chan_tx *response;
	chan_msg *m;
	struct kid k;
	int rc, answered = 0;

	kid_start(&k, "t", try_iter_main, NULL);
	hear(&k, 'o');
	c = test_connect(&fixture);
	request = p_rx(c, "request", UNBOUNDED, 0);
	response = p_tx(c, "response", UNBOUNDED, CHAN_RX_GONE);
	while ((rc = chan_rx_recv_timeout(request, HARNESS_WAIT_MS, &m)) == 0) {
		chan_msg_free(m);
		if (chan_tx_send(response, "2", 1) != 0)
			break;
		answered++;
	}
	ck_assert_msg(rc == 0 || rc == CHAN_EDISCONNECTED, "request: %s",
	    chan_errname(rc));
	ck_assert_int_ge(answered, 3);
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST


/*
 * test_recv_into_iter_owned: send 1, 2; drop the sender; the loop that
 * owns the receiver gives 1, 2 and ends, and the receiver goes with it.
 */
static int
one_two_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, 0);

	k_send(tx, "1");
	k_send(tx, "2");
	k_rc(chan_tx_close(tx), 0, "drop(tx)");
	chan_disconnect(c);
	return 0;
}

START_TEST(test_test_recv_into_iter_owned)
{
	struct job j = JOB("own", UNBOUNDED);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "own", UNBOUNDED, 0);
	chan_msg *m;
	char want[2] = "1";
	int rc, n = 0;
	struct kid k;

	kid_start(&k, "tx", one_two_main, &j);
	kid_done(&k);
	while ((rc = chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m)) == 0) {
		ck_assert_str_eq(chan_msg_data(m), want);
		chan_msg_free(m);
		want[0]++;
		n++;
	}
	expect_rc(rc, CHAN_EDISCONNECTED, "iter.next() is None");
	ck_assert_int_eq(n, 2);
	expect_rc(chan_rx_close(rx), 0, "the iterator's drop");
	chan_disconnect(c);
}
END_TEST

/*
 * try_recv_states: a process drives three channels; this side sees rx1
 * go from Empty to a message to Empty to Disconnected.
 */
static int
states_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_rx *rx2 = k_rx(c, "2", j->cap, 0);
	chan_tx *tx1 = k_tx(c, "1", j->cap, 0);
	chan_tx *tx3 = k_tx(c, "3", j->cap, 0);

	say('o');
	k_expect(rx2, "()");
	k_send(tx1, "1");
	k_send(tx3, "()");
	k_expect(rx2, "()");
	k_rc(chan_tx_close(tx1), 0, "drop(tx1)");
	k_send(tx3, "()");
	chan_disconnect(c);
	return 0;
}

static void
try_recv_states(uint64_t cap)
{
	struct job j = JOB("1", cap);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx1 = p_rx(c, "1", cap, 0);
	chan_tx *tx2 = p_tx(c, "2", cap, 0);
	chan_rx *rx3 = p_rx(c, "3", cap, 0);
	chan_msg *m = NULL;
	struct kid k;

	kid_start(&k, "t", states_main, &j);
	hear(&k, 'o');
	expect_try_rc(rx1, CHAN_EEMPTY);
	send_str(tx2, "()");
	expect_str(rx3, "()");
	expect_rc(chan_rx_try_recv(rx1, &m), 0, "try_recv == Ok(1)");
	ck_assert_str_eq(chan_msg_data(m), "1");
	chan_msg_free(m);
	expect_try_rc(rx1, CHAN_EEMPTY);
	send_str(tx2, "()");
	expect_str(rx3, "()");
	expect_try_rc(rx1, CHAN_EDISCONNECTED);
	kid_done(&k);
	chan_disconnect(c);
}
PORT_BOTH(try_recv_states, 1)

/*
 * destroy_upgraded_shared_port_when_sender_still_active: the consumer
 * takes one message and drops its receiver while a (cloned) producer is
 * still attached; nothing hangs.
 */
static int
destroy_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_rx *rx = k_rx(c, "a", j->cap, 0);
	chan_tx *tx2 = k_tx(c, "b", j->cap, 0);

	say('o');
	k_expect(rx, "()");
	k_rc(chan_rx_close(rx), 0, "drop(rx)");
	k_send(tx2, "()");
	chan_disconnect(c);
	return 0;
}

static void
destroy_upgraded_shared_port_when_sender_still_active(uint64_t cap)
{
	struct job j = JOB("a", cap);
	chan_client *c = test_connect(&fixture);
	chan_tx *tx = p_tx(c, "a", cap, 0), *t;
	chan_rx *rx2 = p_rx(c, "b", cap, 0);
	struct kid k;

	kid_start(&k, "t", destroy_main, &j);
	hear(&k, 'o');
	expect_rc(chan_tx_clone(tx, &t), 0, "tx.clone()");
	expect_rc(chan_tx_close(tx), 0, "drop(tx)");
	send_str(t, "()");
	expect_str(rx2, "()");
	kid_done(&k);
	chan_disconnect(c);
}
PORT_BOTH(destroy_upgraded_shared_port_when_sender_still_active, 0)

/* issue_32114: the receiver dropped; a send fails, and so does the next. */
START_TEST(test_issue_32114)
{
	chan_client *c;
	chan_tx *tx;

	c = test_connect(&fixture);
	tx = p_tx(c, "i", UNBOUNDED, CHAN_RX_GONE);
	consumer_comes_and_goes("i", UNBOUNDED, 0);
	(void)chan_tx_send(tx, "123", 3);
	expect_rc(chan_tx_send(tx, "123", 3), CHAN_ERXGONE, "the second send");
	chan_disconnect(c);
}
END_TEST

/* send1: a process receives; send(1) on the rendezvous is Ok. */
START_TEST(test_sync_send1)
{
	struct job j = JOB("s", 0);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	j.n = 1;
	kid_start(&k, "rx", receiver_main, &j);
	c = test_connect(&fixture);
	tx = p_tx(c, "s", 0, 0);
	expect_rc(chan_tx_send(tx, "1", 1), 0, "send");
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/*
 * send2: the receiver is dropped in another process, concurrently with a
 * send on the rendezvous: the send fails, whether it was held already or
 * came after.
 */
START_TEST(test_sync_send2)
{
	struct job j = JOB("s", 0);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	c = test_connect(&fixture);
	tx = p_tx(c, "s", 0, CHAN_RX_GONE);
	j.n = -1;
	kid_start(&k, "rx", port_main, &j);
	hear(&k, 'o');
	expect_rc(chan_tx_send(tx, "1", 1), CHAN_ERXGONE, "send");
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/* send3: sync_channel(1): send is Ok; the receiver goes; send fails. */
START_TEST(test_sync_send3)
{
	struct job j = JOB("s", 1);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	c = test_connect(&fixture);
	tx = p_tx(c, "s", 1, CHAN_RX_GONE);
	kid_start(&k, "rx", port_main, &j);
	hear(&k, 'o');
	expect_rc(chan_tx_send(tx, "1", 1), 0, "first send");
	tell(&k, 'x');
	kid_done(&k);
	expect_rc(chan_tx_send(tx, "1", 1), CHAN_ERXGONE, "send after drop(rx)");
	chan_disconnect(c);
}
END_TEST

/*
 * send4: two producers block on a rendezvous, each in its own process;
 * the receiver is dropped: both sends fail.
 */
static int
send_expect_gone_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, j->cap, CHAN_RX_GONE);

	say('o');
	k_rc(chan_tx_send(tx, "1", 1), CHAN_ERXGONE, "send");
	chan_disconnect(c);
	return 0;
}

START_TEST(test_sync_send4)
{
	struct job j = JOB("s", 0);
	chan_client *c;
	chan_rx *rx;
	struct kid k1, k2;

	c = test_connect(&fixture);
	rx = p_rx(c, "s", 0, 0);
	kid_start(&k1, "tx", send_expect_gone_main, &j);
	kid_start(&k2, "tx2", send_expect_gone_main, &j);
	hear(&k1, 'o');
	hear(&k2, 'o');
	expect_rc(chan_rx_close(rx), 0, "drop(rx)");
	kid_done(&k1);
	kid_done(&k2);
	chan_disconnect(c);
}
END_TEST

/* try_send1: a rendezvous whose receiver is not receiving: Full. */
START_TEST(test_sync_try_send1)
{
	oneshot_single_thread_try_send_closed2(0);
}
END_TEST

/* try_send2: sync_channel(1): try_send is Ok, then Full. */
START_TEST(test_sync_try_send2)
{
	struct job j = JOB("t", 1);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	kid_start(&k, "rx", port_main, &j);
	hear(&k, 'o');
	c = test_connect(&fixture);
	tx = p_tx(c, "t", 1, 0);
	expect_rc(chan_tx_try_send(tx, "1", 1), 0, "first try_send");
	expect_rc(chan_tx_try_send(tx, "1", 1), CHAN_EFULL, "second");
	tell(&k, 'x');
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/* try_send3: try_send is Ok; the receiver goes; try_send is Disconnected. */
START_TEST(test_sync_try_send3)
{
	struct job j = JOB("t", 1);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	c = test_connect(&fixture);
	tx = p_tx(c, "t", 1, CHAN_RX_GONE);
	kid_start(&k, "rx", port_main, &j);
	hear(&k, 'o');
	expect_rc(chan_tx_try_send(tx, "1", 1), 0, "first try_send");
	tell(&k, 'x');
	kid_done(&k);
	expect_rc(chan_tx_try_send(tx, "1", 1), CHAN_ERXGONE, "after drop(rx)");
	chan_disconnect(c);
}
END_TEST

/*
 * issue_15761: two sync_channel(3); a process answers each message on
 * the first with a try_send on the second, which must always succeed.
 */
#define ISSUE_15761_ROUNDS	100

static int
echo_try_main(void *arg)
{
	chan_client *c = k_connect();
	chan_rx *rx1 = k_rx(c, "1", 3, 0);
	chan_tx *tx2 = k_tx(c, "2", 3, 0);
	int i;

	(void)arg;
	say('o');
	for (i = 0; i < ISSUE_15761_ROUNDS; i++) {
		k_expect(rx1, "()");
		k_rc(chan_tx_try_send(tx2, "()", 2), 0, "tx2.try_send");
	}
	chan_disconnect(c);
	return 0;
}

START_TEST(test_sync_issue_15761)
{
	chan_client *c = test_connect(&fixture);
	chan_tx *tx1 = p_tx(c, "1", 3, 0);
	chan_rx *rx2 = p_rx(c, "2", 3, 0);
	struct kid k;
	int i;

	kid_start(&k, "t", echo_try_main, NULL);
	hear(&k, 'o');
	for (i = 0; i < ISSUE_15761_ROUNDS; i++) {
		expect_rc(chan_tx_try_send(tx1, "()", 2), 0, "tx1.try_send");
		expect_str(rx2, "()");
	}
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/*
 * drop_unreceived: a message sent and not received is dropped when the
 * receiver goes (the channel was created with the receiver-gone option):
 * the daemon holds nothing any more, and a later consumer of the name
 * does not get it.
 */
START_TEST(test_sync_drop_unreceived)
{
	static const char *const status[] = { "status", "--json", NULL };
	struct job j = JOB("u", 1);
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	chan_msg *m = NULL;
	struct kid k;
	char *out;
	int rc;

	c = test_connect(&fixture);
	tx = p_tx(c, "u", 1, CHAN_RX_GONE);
	kid_start(&k, "rx", port_main, &j);
	hear(&k, 'o');
	send_str(tx, "rc");
	tell(&k, 'x');
	kid_done(&k);
	out = chanctl(&fixture, 0, status);
	expect_in(out, "\"queued\":0,\"queued_bytes\":0,\"held\":0,");
	free(out);
	rx = p_rx(c, "u", 1, 0);
	rc = chan_rx_try_recv(rx, &m);
	ck_assert_msg(rc == CHAN_EEMPTY || rc == CHAN_EDISCONNECTED,
	    "a later consumer: %s%s%s", chan_errname(rc),
	    rc == 0 ? ", got " : "", rc == 0 ? (char *)chan_msg_data(m) : "");
	expect_rc(chan_tx_send(tx, "1", 1), CHAN_ERXGONE, "drop(tx) after");
	chan_disconnect(c);
}
END_TEST

/*
 * Beyond the Rust tests: the edges where chand's receives used to leave
 * credit behind, forget a disconnection, or depend on who came first.
 */

/* A round trip on c through a receiver of its own: a barrier. */
static void
k_barrier(chan_client *c)
{
	static chan_rx *rx;
	chan_msg *m = NULL;

	if (rx == NULL)
		rx = k_rx(c, "barrier", UNBOUNDED, 0);
	k_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "barrier try_recv");
}

/*
 * A send on tx that must be held by the daemon, not completed: written
 * pipelined, then a round trip on the same connection, after which the
 * daemon's answer would have come.
 */
static void
k_send_held(chan_client *c, chan_tx *tx, const char *s)
{
	k_rc(chan_tx_send_async(tx, s, strlen(s)), 0, "send_async");
	k_barrier(c);
	if (chan_tx_unconfirmed(tx) != 1)
		kid_fail("send of \"%s\" completed with no receive waiting", s);
}

/*
 * The issue's sequence, in two processes, on sync_channel(0): try_send
 * is Full, and stays Full after a try_recv that found nothing and after a
 * recv_timeout that timed out; a send then waits until the next recv.
 */
static int
rendezvous_tx_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, 0, 0);

	say('o');
	await('1');
	k_rc(chan_tx_try_send(tx, "a", 1), CHAN_EFULL, "try_send, no recv");
	say('1');
	await('2');
	k_rc(chan_tx_try_send(tx, "a", 1), CHAN_EFULL,
	    "try_send after an empty try_recv");
	say('2');
	await('3');
	k_rc(chan_tx_try_send(tx, "a", 1), CHAN_EFULL,
	    "try_send after a timed-out recv_timeout");
	k_send_held(c, tx, "b");
	say('3');
	await('4');
	k_rc(chan_tx_flush(tx), 0, "the held send, after the recv");
	say('4');
	chan_disconnect(c);
	return 0;
}

START_TEST(test_rendezvous_empty_receives_leave_no_credit)
{
	struct job j = JOB("meet", 0);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "meet", 0, 0);
	chan_msg *m = NULL;
	struct kid k;

	kid_start(&k, "tx", rendezvous_tx_main, &j);
	hear(&k, 'o');
	tell(&k, '1');
	hear(&k, '1');
	expect_try_rc(rx, CHAN_EEMPTY);
	tell(&k, '2');
	hear(&k, '2');
	expect_rc(chan_rx_recv_timeout(rx, 10, &m), CHAN_ETIMEDOUT,
	    "recv_timeout");
	tell(&k, '3');
	hear(&k, '3');
	expect_str(rx, "b");
	tell(&k, '4');
	hear(&k, '4');
	chan_disconnect(c);
}
END_TEST

/*
 * sync_channel(1) after an empty try_recv and a timed-out recv_timeout
 * takes one message, not two; and the message, handed to no receive,
 * reaches the next consumer as new, not as redelivered.
 */
static int
one_slot_tx_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, 1, 0);

	say('o');
	await('1');
	k_rc(chan_tx_try_send(tx, "a", 1), 0, "first try_send");
	k_rc(chan_tx_try_send(tx, "b", 1), CHAN_EFULL, "second try_send");
	say('1');
	await('x');
	chan_disconnect(c);
	return 0;
}

START_TEST(test_sync_channel_1_empty_receives_leave_no_credit)
{
	struct job j = JOB("one", 1);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "one", 1, 0);
	chan_msg *m = NULL;
	struct kid k;

	kid_start(&k, "tx", one_slot_tx_main, &j);
	hear(&k, 'o');
	expect_try_rc(rx, CHAN_EEMPTY);
	expect_rc(chan_rx_recv_timeout(rx, 10, &m), CHAN_ETIMEDOUT,
	    "recv_timeout");
	tell(&k, '1');
	hear(&k, '1');
	expect_rc(chan_rx_close(rx), 0, "drop(rx) before any receive");
	rx = p_rx(c, "one", 1, 0);
	m = recv_msg(rx);
	ck_assert_str_eq(chan_msg_data(m), "a");
	ck_assert_msg(!chan_msg_redelivered(m), "a message no receive "
	    "returned came back marked redelivered");
	chan_msg_free(m);
	tell(&k, 'x');
	kid_done(&k);
	chan_disconnect(c);
}
END_TEST

/*
 * chan_select over two rendezvous channels takes one message and leaves
 * the other channel's sender waiting.
 */
static int
held_on_b_main(void *arg)
{
	struct job *j = arg;
	chan_client *c = k_connect();
	chan_tx *tx = k_tx(c, j->name, 0, 0);

	k_send_held(c, tx, "b");
	say('h');
	await('r');
	k_rc(chan_tx_flush(tx), 0, "the held send, after the recv");
	say('f');
	chan_disconnect(c);
	return 0;
}

START_TEST(test_select_over_rendezvous_releases_one_sender)
{
	struct job ja = JOB("a", 0), jb = JOB("b", 0);
	chan_client *c = test_connect(&fixture);
	chan_rx *rxs[2] = { p_rx(c, "a", 0, 0), p_rx(c, "b", 0, 0) };
	chan_msg *m = NULL;
	size_t i = 9;
	struct kid ka, kb;

	kid_start(&ka, "tx a", sender_main, &ja);
	expect_rc(chan_select(rxs, 2, HARNESS_WAIT_MS, &i, &m), 0, "select");
	ck_assert_uint_eq(i, 0);
	ck_assert_str_eq(chan_msg_data(m), "1");
	chan_msg_free(m);
	kid_done(&ka);
	kid_start(&kb, "tx b", held_on_b_main, &jb);
	hear(&kb, 'h');
	expect_str(rxs[1], "b");
	tell(&kb, 'r');
	hear(&kb, 'f');
	kid_done(&kb);
	chan_disconnect(c);
}
END_TEST

/*
 * Disconnected stays disconnected: after the loop has ended, recv,
 * try_recv and select report it again at once, until a producer attaches
 * again; then the next disconnection is reported in turn.
 */
START_TEST(test_disconnected_stays_disconnected_until_a_producer_attaches)
{
	struct job j = JOB("d", UNBOUNDED);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "d", UNBOUNDED, 0);
	chan_msg *m = NULL;
	size_t i = 9;
	struct kid k;

	kid_start(&k, "tx", sender_main, &j);
	kid_done(&k);
	expect_str(rx, "1");
	expect_plain_recv_rc(rx, CHAN_EDISCONNECTED, "recv ending the loop");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	expect_rc(chan_select(&rx, 1, HARNESS_WAIT_MS, &i, &m),
	    CHAN_EDISCONNECTED, "select over the disconnected receiver");
	ck_assert_uint_eq(i, 0);
	expect_rc(chan_rx_recv_timeout(rx, 0, &m), CHAN_EDISCONNECTED,
	    "recv_timeout(0)");
	j.text = "2";
	kid_start(&k, "tx again", sender_main, &j);
	kid_done(&k);
	expect_str(rx, "2");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(c);
}
END_TEST

/*
 * The receiver-gone option on one producer handle of a channel created
 * without it: that handle fails once the consumer has come and gone; a
 * producer without the option goes on, and what was queued waits for the
 * next consumer.
 */
START_TEST(test_rx_gone_on_one_handle_leaves_the_channel_as_it_was)
{
	chan_client *c;
	chan_tx *plain, *flagged;
	chan_rx *rx;

	c = test_connect(&fixture);
	plain = p_tx(c, "h", UNBOUNDED, 0);
	flagged = p_tx(c, "h", UNBOUNDED, CHAN_RX_GONE);
	send_str(flagged, "g");
	consumer_comes_and_goes("h", UNBOUNDED, 0);
	expect_rc(chan_tx_send(flagged, "x", 1), CHAN_ERXGONE, "flagged send");
	expect_rc(chan_tx_try_send(flagged, "x", 1), CHAN_ERXGONE,
	    "flagged try_send");
	send_str(plain, "p");
	rx = p_rx(c, "h", UNBOUNDED, 0);
	expect_str(rx, "g");
	expect_str(rx, "p");
	chan_disconnect(c);
}
END_TEST

/*
 * Rust's tx.clone() of a Sender whose Receiver is gone gives a Sender
 * whose sends fail. chan_tx_clone is a new open of the name: the clone is
 * not told of a consumer that went before it attached; its send waits
 * for the next consumer, and fails once that one has gone in turn.
 */
START_TEST(test_clone_after_the_receiver_went_waits_for_the_next)
{
	struct job j = JOB("late", UNBOUNDED);
	chan_client *c;
	chan_tx *tx, *tx2;
	struct kid k;

	c = test_connect(&fixture);
	tx = p_tx(c, "late", UNBOUNDED, CHAN_RX_GONE);
	consumer_comes_and_goes("late", UNBOUNDED, 0);
	expect_rc(chan_tx_send(tx, "1", 1), CHAN_ERXGONE, "the original's send");
	expect_rc(chan_tx_clone(tx, &tx2), 0, "tx.clone()");
	expect_rc(chan_tx_send(tx2, "2", 1), 0, "the clone's send");
	j.n = 1;
	j.text = "2";
	kid_start(&k, "rx", receiver_main, &j);
	kid_done(&k);
	expect_rc(chan_tx_send(tx2, "3", 1), CHAN_ERXGONE,
	    "the clone's send after the next consumer went");
	chan_disconnect(c);
}
END_TEST

/*
 * A producer with the receiver-gone option is told only of a consumer
 * that came and went: before any came, a full channel is full, and the
 * message waits for the first consumer.
 */
START_TEST(test_rx_gone_producer_waits_for_a_first_consumer)
{
	struct job j = JOB("first", 1);
	chan_client *c;
	chan_tx *tx;
	struct kid k;

	c = test_connect(&fixture);
	tx = p_tx(c, "first", 1, CHAN_RX_GONE);
	send_str(tx, "1");
	expect_rc(chan_tx_try_send(tx, "2", 1), CHAN_EFULL,
	    "try_send before any consumer");
	j.n = 1;
	kid_start(&k, "rx", receiver_main, &j);
	kid_done(&k);
	expect_rc(chan_tx_try_send(tx, "2", 1), CHAN_ERXGONE,
	    "try_send after the consumer went");
	chan_disconnect(c);
}
END_TEST

/*
 * The CLIs' exit codes for Rust's errors: RecvError and the Disconnected
 * variants 3 (a --follow loop ends with 0), TryRecvError::Empty 4,
 * RecvTimeoutError::Timeout 5, TrySendError::Full 9,
 * SendTimeoutError::Timeout 5. (SendError: chan-send --rx-gone exits 14,
 * test_send_rx_gone_exits_14_once_the_consumer_left in test_e2e_cli.)
 */
static void
cli_expect(const char *const argv[], int code, const char *what)
{
	struct cmd_result r;

	cli_run(argv, NULL, 0, &r);
	if (code == 0)
		assert_ok(&r);
	else
		assert_fails_with(&r, code, what);
	cmd_result_fini(&r);
}

START_TEST(test_cli_exit_codes_of_the_rust_errors)
{
	const char *const recv[] = { CHAN_RECV_BIN, "gone", NULL };
	const char *const nonblock[] = { CHAN_RECV_BIN, "-n", "gone", NULL };
	const char *const timed[] = { CHAN_RECV_BIN, "-t", "0.05", "gone",
	    NULL };
	const char *const follow[] = { CHAN_RECV_BIN, "-f", "gone", NULL };
	const char *const empty[] = { CHAN_RECV_BIN, "-n", "open", NULL };
	const char *const late[] = { CHAN_RECV_BIN, "-t", "0.05", "open",
	    NULL };
	const char *const try_send[] = { CHAN_SEND_BIN, "--capacity", "0",
	    "-T", "meet", "x", NULL };
	const char *const timed_send[] = { CHAN_SEND_BIN, "--capacity", "0",
	    "-t", "0.05", "meet", "x", NULL };
	struct job g = JOB("gone", CHAN_CAPACITY_DEFAULT);
	struct job o = JOB("open", CHAN_CAPACITY_DEFAULT);
	struct kid k;

	kid_start(&k, "tx", dropper_main, &g);
	kid_done(&k);
	cli_expect(recv, 3, "disconnected");
	cli_expect(nonblock, 3, "disconnected");
	cli_expect(timed, 3, "disconnected");
	cli_expect(follow, 0, NULL);
	kid_start(&k, "tx", holder_main, &o);
	hear(&k, 'o');
	cli_expect(empty, 4, NULL);
	cli_expect(late, 5, NULL);
	tell(&k, 'x');
	kid_done(&k);
	cli_expect(try_send, 9, NULL);
	cli_expect(timed_send, 5, NULL);
}
END_TEST

/*
 * A "forever" consumer is never told of a disconnection: it waits for
 * the next producer.
 */
START_TEST(test_forever_consumer_waits_across_producers)
{
	struct job j = JOB("f", UNBOUNDED);
	chan_client *c = test_connect(&fixture);
	chan_rx *rx = p_rx(c, "f", UNBOUNDED, CHAN_FOREVER);
	chan_msg *m = NULL;
	struct kid k;

	kid_start(&k, "tx", sender_main, &j);
	kid_done(&k);
	expect_str(rx, "1");
	expect_try_rc(rx, CHAN_EEMPTY);
	expect_rc(chan_rx_recv_timeout(rx, 10, &m), CHAN_ETIMEDOUT,
	    "recv_timeout");
	j.text = "2";
	kid_start(&k, "tx again", sender_main, &j);
	kid_done(&k);
	expect_str(rx, "2");
	expect_try_rc(rx, CHAN_EEMPTY);
	chan_disconnect(c);
}
END_TEST

/*
 * Adds tests[0 .. n) to tc; with MPSC_ONLY set in the environment, only
 * those whose name holds it (for running one test while working on it).
 */
static void
add_tests(TCase *tc, const TTest *const *tests, size_t n)
{
	const char *only = getenv("MPSC_ONLY");
	size_t i;

	for (i = 0; i < n; i++)
		if (only == NULL || strstr(tests[i]->name, only) != NULL)
			tcase_add_test(tc, tests[i]);
}

static Suite *
mpsc_suite(void)
{
	const TTest *const channel_tests[] = {
		test_smoke, test_drop_full, test_drop_full_shared,
		test_smoke_shared, test_smoke_threads, test_smoke_port_gone,
		test_smoke_shared_port_gone, test_smoke_shared_port_gone2,
		test_port_gone_concurrent, test_port_gone_concurrent_shared,
		test_smoke_chan_gone, test_smoke_chan_gone_shared,
		test_chan_gone_concurrent, test_stress, test_stress_shared,
		test_send_from_outside_runtime,
		test_recv_from_outside_runtime, test_no_runtime,
		test_oneshot_single_thread_close_port_first,
		test_oneshot_single_thread_close_chan_first,
		test_oneshot_single_thread_send_port_close,
		test_oneshot_single_thread_recv_chan_close,
		test_oneshot_single_thread_send_then_recv,
		test_oneshot_single_thread_try_send_open,
		test_oneshot_single_thread_try_send_closed,
		test_oneshot_single_thread_try_recv_open,
		test_oneshot_single_thread_try_recv_closed,
		test_oneshot_single_thread_peek_data,
		test_oneshot_single_thread_peek_close,
		test_oneshot_single_thread_peek_open,
		test_oneshot_multi_task_recv_then_send,
		test_oneshot_multi_task_recv_then_close,
		test_oneshot_multi_thread_close_stress,
		test_oneshot_multi_thread_send_close_stress,
		test_oneshot_multi_thread_recv_close_stress,
		test_oneshot_multi_thread_send_recv_stress,
		test_stream_send_recv_stress,
		test_oneshot_single_thread_recv_timeout,
		test_stress_recv_timeout_two_threads,
		test_recv_timeout_upgrade, test_stress_recv_timeout_shared,
		test_very_long_recv_timeout_wont_panic, test_recv_a_lot,
		test_shared_recv_timeout, test_shared_chan_stress,
		test_test_nested_recv_iter, test_test_recv_iter_break,
		test_test_recv_try_iter, test_test_recv_into_iter_owned,
		test_try_recv_states,
		test_destroy_upgraded_shared_port_when_sender_still_active,
		test_issue_32114,
	};
	const TTest *const sync_tests[] = {
		test_sync_smoke, test_sync_drop_full, test_sync_smoke_shared,
		test_sync_recv_timeout, test_sync_send_timeout,
		test_sync_smoke_threads, test_sync_smoke_port_gone,
		test_sync_smoke_shared_port_gone2,
		test_sync_port_gone_concurrent,
		test_sync_port_gone_concurrent_shared,
		test_sync_smoke_chan_gone, test_sync_smoke_chan_gone_shared,
		test_sync_chan_gone_concurrent, test_sync_stress,
		test_sync_stress_recv_timeout_two_threads,
		test_sync_stress_recv_timeout_shared, test_sync_stress_shared,
		test_sync_oneshot_single_thread_close_port_first,
		test_sync_oneshot_single_thread_close_chan_first,
		test_sync_oneshot_single_thread_send_port_close,
		test_sync_oneshot_single_thread_recv_chan_close,
		test_sync_oneshot_single_thread_send_then_recv,
		test_sync_oneshot_single_thread_try_send_open,
		test_sync_oneshot_single_thread_try_send_closed,
		test_sync_oneshot_single_thread_try_send_closed2,
		test_sync_oneshot_single_thread_try_recv_open,
		test_sync_oneshot_single_thread_try_recv_closed,
		test_sync_oneshot_single_thread_try_recv_closed_with_data,
		test_sync_oneshot_single_thread_peek_data,
		test_sync_oneshot_single_thread_peek_close,
		test_sync_oneshot_single_thread_peek_open,
		test_sync_oneshot_multi_task_recv_then_send,
		test_sync_oneshot_multi_task_recv_then_close,
		test_sync_oneshot_multi_thread_close_stress,
		test_sync_oneshot_multi_thread_send_close_stress,
		test_sync_oneshot_multi_thread_recv_close_stress,
		test_sync_oneshot_multi_thread_send_recv_stress,
		test_sync_stream_send_recv_stress, test_sync_recv_a_lot,
		test_sync_shared_chan_stress, test_sync_test_nested_recv_iter,
		test_sync_test_recv_iter_break, test_sync_try_recv_states,
		test_sync_destroy_upgraded_shared_port_when_sender_still_active,
		test_sync_send1, test_sync_send2, test_sync_send3,
		test_sync_send4, test_sync_try_send1, test_sync_try_send2,
		test_sync_try_send3, test_sync_issue_15761,
		test_sync_drop_unreceived,
	};
	const TTest *const edge_tests[] = {
		test_rendezvous_empty_receives_leave_no_credit,
		test_sync_channel_1_empty_receives_leave_no_credit,
		test_select_over_rendezvous_releases_one_sender,
		test_disconnected_stays_disconnected_until_a_producer_attaches,
		test_rx_gone_on_one_handle_leaves_the_channel_as_it_was,
		test_clone_after_the_receiver_went_waits_for_the_next,
		test_rx_gone_producer_waits_for_a_first_consumer,
		test_cli_exit_codes_of_the_rust_errors,
		test_forever_consumer_waits_across_producers,
	};
	Suite *s = suite_create("mpsc_port");
	TCase *tc;

	tc = tcase_create("channel");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	add_tests(tc, channel_tests, nitems(channel_tests));
	suite_add_tcase(s, tc);

	tc = tcase_create("sync_channel");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	add_tests(tc, sync_tests, nitems(sync_tests));
	suite_add_tcase(s, tc);

	tc = tcase_create("edges");
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	add_tests(tc, edge_tests, nitems(edge_tests));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(mpsc_suite());
}

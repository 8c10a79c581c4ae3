/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_fair.c: no client, local user or stored log takes the daemon
 * from the others, against a real chand.
 *
 * A streaming producer/consumer pair keeps its share of the daemon while
 * other clients pipeline STATS or never read their replies; out of memory,
 * past the descriptor limit and mid-way through a huge frame, every client
 * gets its typed error and the daemon's memory stays bounded; a recovered
 * message over today's size limit is set aside, not left to block its
 * channel; a data directory others may write, and logs other users
 * planted, are not trusted.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "chanclient.h"
#include "e2e_util.h"
#include "harness.h"
#include "proto.h"
#include "wal.h"

/* Fairness. */

/*
 * Share of its own baseline the pair must keep, in percent. Before the
 * loop shares it kept 0.0 to 0.3%; now 40 to 120% (docs/security.md),
 * each reading abuser costing the loop a write per turn, which the pair,
 * one message per round trip, feels most. Less under the sanitizers,
 * which make the daemon's STATS replies (allocations) dearer than its
 * message path.
 */
#if defined(__SANITIZE_ADDRESS__)
#define FAIR_SHARE_MIN		5	/* 11% seen on a CI run */
#else
#define FAIR_SHARE_MIN		35
#endif
/* Longest the pair's consumer may wait for a message under abuse. */
#define FAIR_STALL_MAX_MS	1000
/* Messages the pair's consumer lets the daemon push ahead. */
#define FAIR_PREFETCH		1
/* Length of each measured window; pairs of windows (alone, abused). */
#define FAIR_WINDOW_MS		200
#define FAIR_SLICES		5

struct pair {
	const struct daemon	*d;
	atomic_int		 stop;		/* the consumer */
	atomic_int		 stop_tx;	/* the producer */
	atomic_int		 ready;
	atomic_llong		 received;
	atomic_llong		 last_ms;	/* when the last one arrived */
	atomic_llong		 max_gap_ms;	/* since max_gap was reset */
	int			 failed;
};

static void *
pair_producer(void *arg)
{
	struct pair *p = arg;
	chan_client *c;
	chan_tx *tx;
	char msg[64];

	memset(msg, 'p', sizeof msg);
	if (chan_connect(p->d->sock, &c) != 0 ||
	    chan_tx_open(c, "stream", &tx) != 0) {
		p->failed = 1;
		return NULL;
	}
	while (!atomic_load(&p->stop_tx)) {
		if (chan_tx_send_async(tx, msg, sizeof msg) != 0) {
			p->failed = 2;
			break;
		}
	}
	(void)chan_tx_flush(tx);
	chan_tx_close(tx);
	chan_disconnect(c);
	return NULL;
}

static void *
pair_consumer(void *arg)
{
	struct pair *p = arg;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	long long t, gap;
	int rc;

	chan_open_opts o = CHAN_OPEN_OPTS_INIT;

	/* A streaming consumer: the daemon may push ahead of its receives. */
	o.prefetch = FAIR_PREFETCH;
	if (chan_connect(p->d->sock, &c) != 0 ||
	    chan_rx_open_ex(c, "stream", 6, &o, &rx) != 0) {
		p->failed = 3;
		atomic_store(&p->ready, 1);
		return NULL;
	}
	atomic_store(&p->last_ms, now_ms());
	atomic_store(&p->ready, 1);
	while (!atomic_load(&p->stop)) {
		rc = chan_rx_recv_timeout(rx, 50, &m);
		t = now_ms();
		if (rc == 0) {
			chan_msg_free(m);
			atomic_fetch_add(&p->received, 1);
			gap = t - atomic_exchange(&p->last_ms, t);
		} else if (rc == CHAN_ETIMEDOUT)
			gap = t - atomic_load(&p->last_ms);
		else if (rc == CHAN_EDISCONNECTED && atomic_load(&p->stop_tx))
			break;	/* the producer is done, and all was read */
		else {
			p->failed = 4;
			break;
		}
		if (gap > atomic_load(&p->max_gap_ms))
			atomic_store(&p->max_gap_ms, gap);
	}
	chan_rx_close(rx);
	chan_disconnect(c);
	return NULL;
}

/* Messages per second the pair moves in one window; its longest gap. */
static double
pair_window(struct pair *p, long long *max_gap)
{
	long long n0, t0, t1;

	atomic_store(&p->max_gap_ms, 0);
	n0 = atomic_load(&p->received);
	t0 = now_ms();
	/* A measurement window, not a wait for readiness. */
	usleep(FAIR_WINDOW_MS * 1000);
	t1 = now_ms();
	*max_gap = atomic_load(&p->max_gap_ms);
	return (double)(atomic_load(&p->received) - n0) * 1000.0 /
	    (double)(t1 - t0);
}

/* A client that sends STATS daemon without pause; reads replies or not. */
struct abuser {
	int		 fd;
	int		 reads;
	atomic_int	*stop;
	long long	 sent, replies_bytes;
};

static void *
abuser_run(void *arg)
{
	struct abuser *a = arg;
	struct proto_buf b;
	struct pollfd pfd;
	char in[65536];
	size_t off = 0;
	ssize_t n;
	int i;

	/*
	 * The abusers run in the test's process, on the machine the daemon
	 * and the pair share: lowest priority, so that what is measured is
	 * the share the daemon gives the pair, not the share of the CPUs
	 * these threads take for their own loops.
	 */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
	proto_buf_init(&b);
	for (i = 0; i < 1024; i++)
		if (proto_enc_stats(&b, 7, "daemon", NULL, 0, 0) != 0)
			return NULL;
	(void)fcntl(a->fd, F_SETFL, fcntl(a->fd, F_GETFL) | O_NONBLOCK);
	while (!atomic_load(a->stop)) {
		pfd.fd = a->fd;
		pfd.events = POLLOUT | (a->reads ? POLLIN : 0);
		if (poll(&pfd, 1, 20) < 0 && errno != EINTR)
			break;
		if (pfd.revents & POLLIN) {
			while ((n = read(a->fd, in, sizeof in)) > 0)
				a->replies_bytes += n;
		}
		if (pfd.revents & POLLOUT) {
			n = write(a->fd, b.data + off, b.len - off);
			if (n > 0) {
				off = (off + (size_t)n) % b.len;
				a->sent += n;
			}
		}
		if (pfd.revents & (POLLERR | POLLHUP))
			break;
	}
	proto_buf_fini(&b);
	return NULL;
}

/* Starts the four abusers: two read every reply, two never read. */
static void
abusers_start(const struct daemon *d, struct abuser *ab, pthread_t *t,
    atomic_int *stop)
{
	int i;

	atomic_store(stop, 0);
	for (i = 0; i < 4; i++) {
		memset(&ab[i], 0, sizeof ab[i]);
		ab[i].fd = raw_connect(d);
		raw_hello(ab[i].fd);
		ab[i].reads = i < 2;
		ab[i].stop = stop;
		ck_assert_int_eq(pthread_create(&t[i], NULL, abuser_run,
		    &ab[i]), 0);
	}
}

static void
abusers_stop(struct abuser *ab, pthread_t *t, atomic_int *stop)
{
	int i;

	atomic_store(stop, 1);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		close(ab[i].fd);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Rounds measured at most; the first that passes counts. */
#define FAIR_ROUNDS		3
/*
 * A round whose baseline is under this many messages a second does not
 * count: the daemon (or the machine) was busy with something else.
 */
#define FAIR_BASE_MIN		1000

/* The median of n rates (sorts them). */
static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof v[0], cmp_double);
	return v[n / 2];
}

/*
 * A streaming pair's throughput alone, then while two clients pipeline
 * STATS daemon (reading every reply) and two send STATS and never read:
 * the pair keeps FAIR_SHARE_MIN % of its baseline and never waits more
 * than FAIR_STALL_MAX_MS for a message. The machine is shared (CI runs
 * suites two at a time, other builds): each phase is FAIR_SLICES
 * windows whose median counts, so that a moment of someone else's load
 * does not decide, and of FAIR_ROUNDS rounds (each with its own
 * baseline) the first that passes counts. Every round is printed.
 */
START_TEST(test_fair_share_under_stats_abuse)
{
	struct daemon d;
	struct pair p;
	struct abuser ab[4];
	pthread_t prod, cons, abt[4];
	atomic_int stop_ab = 0;
	double alone[FAIR_SLICES], abused[FAIR_SLICES], base = 0, under = 0;
	long long gap, gap_alone, gap_abused = 0, deadline;
	int i, round, ok = 0;

	/* Under valgrind the daemon runs ten times slower: no figure. */
	if (harness_under_valgrind())
		return;
	daemon_start(&d, NULL);
	memset(&p, 0, sizeof p);
	p.d = &d;
	ck_assert_int_eq(pthread_create(&cons, NULL, pair_consumer, &p), 0);
	deadline = now_ms() + HARNESS_WAIT_MS;
	while (!atomic_load(&p.ready) && now_ms() < deadline)
		usleep(1000);
	ck_assert_int_eq(pthread_create(&prod, NULL, pair_producer, &p), 0);
	/* The stream has started once a message came through. */
	while (atomic_load(&p.received) == 0 && now_ms() < deadline &&
	    p.failed == 0)
		usleep(1000);
	ck_assert_msg(atomic_load(&p.received) > 0, "no message (%d)",
	    p.failed);

	for (round = 1; round <= FAIR_ROUNDS && !ok; round++) {
		gap_alone = gap_abused = 0;
		for (i = 0; i < FAIR_SLICES; i++) {
			alone[i] = pair_window(&p, &gap);
			if (gap > gap_alone)
				gap_alone = gap;
		}
		abusers_start(&d, ab, abt, &stop_ab);
		for (i = 0; i < FAIR_SLICES; i++) {
			abused[i] = pair_window(&p, &gap);
			if (gap > gap_abused)
				gap_abused = gap;
		}
		abusers_stop(ab, abt, &stop_ab);
		base = median(alone, FAIR_SLICES);
		under = median(abused, FAIR_SLICES);
		printf("fairness, round %d: pair alone %.0f msgs/s (median of "
		    "%d windows of %d ms, longest gap %lld ms); with 2 clients "
		    "pipelining STATS and 2 never reading %.0f msgs/s (%.1f%% "
		    "of alone, longest gap %lld ms); STATS bytes sent %lld, "
		    "%lld, %lld, %lld; reply bytes read %lld, %lld\n", round,
		    base, FAIR_SLICES, FAIR_WINDOW_MS, gap_alone, under,
		    base > 0 ? 100.0 * under / base : 0.0, gap_abused,
		    ab[0].sent, ab[1].sent, ab[2].sent, ab[3].sent,
		    ab[0].replies_bytes, ab[1].replies_bytes);
		fflush(stdout);
		ok = base >= FAIR_BASE_MIN &&
		    under * 100 >= base * FAIR_SHARE_MIN &&
		    gap_abused <= FAIR_STALL_MAX_MS;
	}

	/* The producer's last sends are confirmed while the consumer runs. */
	atomic_store(&p.stop_tx, 1);
	pthread_join(prod, NULL);
	atomic_store(&p.stop, 1);
	pthread_join(cons, NULL);
	ck_assert_msg(p.failed == 0, "pair failed (%d)", p.failed);
	ck_assert_msg(ab[0].replies_bytes > 0 && ab[1].replies_bytes > 0,
	    "the reading STATS clients were not served");
	ck_assert_msg(base >= FAIR_BASE_MIN, "the pair moved %.0f msgs/s "
	    "alone, under %d", base, FAIR_BASE_MIN);
	ck_assert_msg(under * 100 >= base * FAIR_SHARE_MIN,
	    "the pair kept %.1f%% of its baseline (%.0f of %.0f msgs/s), "
	    "under %d%%", 100.0 * under / base, under, base, FAIR_SHARE_MIN);
	ck_assert_msg(gap_abused <= FAIR_STALL_MAX_MS, "the pair stalled for "
	    "%lld ms (bound %d ms)", gap_abused, FAIR_STALL_MAX_MS);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

/* Memory. */

/* The daemon's address space (VmSize) in KiB. */
static long
daemon_vm_kib(const struct daemon *d)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)d->pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
			break;
	fclose(f);
	ck_assert_msg(kib >= 0, "no VmSize in %s", path);
	return kib;
}

/* The head of SEND(rid, handle) with a payload of len bytes, no payload. */
static void
send_head(struct proto_buf *b, uint32_t rid, uint32_t h, size_t len)
{
	char *payload;

	/* Encode with a payload of that length, then cut it off. */
	ck_assert_ptr_nonnull(payload = calloc(1, len));
	proto_buf_init(b);
	ck_assert_int_eq(proto_enc_send(b, rid, h, payload, len), 0);
	free(payload);
	b->len -= len;
}

#define STALL_CONNS	8
#define STALL_MSG	(64u << 20)
#define STALL_SENT	(256u << 10)

/*
 * Connections that announce a maximum-size SEND, send a little of it and
 * stall hold about what they sent, not what they announced.
 */
START_TEST(test_stalled_huge_frames_reserve_what_arrived)
{
	const char *args[] = { "--max-msg-size", "64M", NULL };
	struct daemon d;
	struct raw_conn rc[STALL_CONNS], probe;
	struct proto_buf head;
	char *some;
	uint32_t h;
	long before, after;
	int i;

	daemon_start(&d, args);
	raw_conn_open(&probe, &d, 1, 4096);
	raw_ping(&probe, 1);
	before = daemon_vm_kib(&d);
	ck_assert_ptr_nonnull(some = calloc(1, STALL_SENT));
	for (i = 0; i < STALL_CONNS; i++) {
		raw_conn_open(&rc[i], &d, 1, 4096);
		h = raw_open_end(&rc[i], PROTO_OPEN_TX, 2, "stall");
		send_head(&head, 3, h, STALL_MSG);
		raw_send(&rc[i], &head);
		proto_buf_fini(&head);
		raw_write(rc[i].fd, some, STALL_SENT);
	}
	/* Written before the PING: read in its iteration or earlier. */
	raw_ping(&probe, 2);
	raw_ping(&probe, 3);
	after = daemon_vm_kib(&d);
	printf("stalled frames: %d connections announced %u MiB each and "
	    "sent %u KiB: the daemon's address space grew by %ld KiB\n",
	    STALL_CONNS, STALL_MSG >> 20, STALL_SENT >> 10, after - before);
	fflush(stdout);
	ck_assert_msg(after - before < 96 * 1024, "address space grew by %ld "
	    "KiB for %d stalled frames of %u KiB sent", after - before,
	    STALL_CONNS, STALL_SENT >> 10);
	for (i = 0; i < STALL_CONNS; i++)
		raw_conn_close(&rc[i]);
	raw_conn_close(&probe);
	free(some);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

struct writer {
	int		 fd;
	const char	*data;
	size_t		 len;
};

/* Writes until done or the daemon stops reading. */
static void *
writer_run(void *arg)
{
	struct writer *w = arg;
	size_t off = 0;
	ssize_t n;

	while (off < w->len) {
		n = send(w->fd, w->data + off, w->len - off, MSG_NOSIGNAL);
		if (n <= 0 && errno != EINTR)
			break;
		if (n > 0)
			off += (size_t)n;
	}
	return NULL;
}

/*
 * Out of memory for a frame (the daemon's address space limited with
 * RLIMIT_AS): ERROR(NOMEM) for that SEND, the frame dropped, and the
 * connection and the daemon go on.
 */
START_TEST(test_out_of_memory_says_nomem)
{
	const char *args[] = { "--max-msg-size", "64M", NULL };
	struct daemon d;
	struct raw_conn rc;
	struct proto_buf b;
	struct proto_msg m;
	struct rlimit rl, old;
	struct writer w;
	pthread_t t;
	uint32_t h;
	long vm;

	if (harness_under_valgrind())
		return;
	daemon_start(&d, args);
	vm = daemon_vm_kib(&d);
	if (vm > (1L << 30)) {
		/* Sanitizers reserve terabytes of shadow: no limit fits. */
		printf("out of memory: skipped (address space %ld KiB, a "
		    "sanitizer build)\n", vm);
		daemon_stop(&d);
		return;
	}
	raw_conn_open(&rc, &d, 1, 65536);
	h = raw_open_end(&rc, PROTO_OPEN_TX, 2, "nomem");
	/* The soft limit only: lowered now, raised again at the end. */
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_AS, NULL, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)(vm + 16 * 1024) * 1024;
	ck_assert_msg(prlimit(d.pid, RLIMIT_AS, &rl, NULL) == 0,
	    "prlimit: %s", strerror(errno));
	proto_buf_init(&b);
	{
		char *payload = malloc(48u << 20);

		ck_assert_ptr_nonnull(payload);
		memset(payload, 'x', 48u << 20);
		ck_assert_int_eq(proto_enc_send(&b, 77, h, payload,
		    48u << 20), 0);
		free(payload);
	}
	w = (struct writer){ rc.fd, b.data, b.len };
	ck_assert_int_eq(pthread_create(&t, NULL, writer_run, &w), 0);
	ck_assert_int_eq(raw_recv(&rc, &m, HARNESS_WAIT_MS), 0);
	ck_assert_msg(m.op == PROTO_ERROR && m.rid == 77 &&
	    m.code == (uint32_t)-CHAN_ENOMEM, "got %s rid %u code %u",
	    proto_op_name((int)m.op), m.rid, m.code);
	ck_assert_msg(memmem(m.text, m.text_len, "out of memory", 13) != NULL,
	    "ERROR says '%.*s'", (int)m.text_len, m.text);
	pthread_join(t, NULL);
	proto_buf_fini(&b);
	/* The rest of the frame was read and dropped: the next is served. */
	raw_ping(&rc, 78);
	raw_conn_close(&rc);
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_AS, &old, NULL), 0);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

/* Descriptors. */

/*
 * What the daemon answers a HELLO on fd with: its op, ERROR's code in
 * *code; -1 if it closed the connection (or reset it) without a frame.
 */
static int
hello_answer(int fd, uint32_t *code)
{
	struct proto_decoder *dec;
	struct proto_buf b;
	struct proto_msg m;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	char buf[4096];
	size_t have = 0, body_len;
	ssize_t n;
	int op = -1;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_hello(&b, 1, "fair"), 0);
	/* Refused at once, the daemon may have closed already. */
	(void)send(fd, b.data, b.len, MSG_NOSIGNAL);
	proto_buf_fini(&b);
	for (;;) {
		if (proto_frame_check(buf, have, sizeof buf, &body_len) == 1)
			break;
		ck_assert_msg(poll_until(&pfd, 1, deadline) > 0,
		    "no answer to HELLO");
		n = recv(fd, buf + have, sizeof buf - have, 0);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	ck_assert_ptr_nonnull(dec = proto_decoder_new(4096));
	if (proto_decode(dec, buf + PROTO_HEADER_LEN, body_len, &m) == 0) {
		op = (int)m.op;
		*code = m.code;
	}
	proto_decoder_free(dec);
	return op;
}

#define FD_EXTRA	8
#define FD_CLIENTS	40

/*
 * With the daemon's descriptors nearly used up, every client that cannot
 * be served is told so, with ERROR(LIMIT), none is dropped without a word.
 */
START_TEST(test_descriptor_limit_every_refusal_says_limit)
{
	struct daemon d;
	struct rlimit rl, old;
	int fd[FD_CLIENTS], i, op, welcomed = 0, limited = 0;
	uint32_t code;

	if (harness_under_valgrind())
		return;
	daemon_start(&d, NULL);
	assert_serves(&d);
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, NULL, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)(daemon_fd_count(&d) + FD_EXTRA);
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, &rl, NULL), 0);
	for (i = 0; i < FD_CLIENTS; i++)
		fd[i] = raw_connect(&d);
	for (i = 0; i < FD_CLIENTS; i++) {
		op = hello_answer(fd[i], &code);
		ck_assert_msg(op == PROTO_WELCOME || (op == PROTO_ERROR &&
		    code == (uint32_t)-CHAN_ELIMIT), "client %d of %d: %s "
		    "(code %u) after %d welcomed, %d refused", i + 1,
		    FD_CLIENTS, op < 0 ? "closed without a word" :
		    proto_op_name(op), op == PROTO_ERROR ? code : 0,
		    welcomed, limited);
		if (op == PROTO_WELCOME)
			welcomed++;
		else
			limited++;
	}
	printf("descriptor limit of %llu: %d clients welcomed, %d refused "
	    "with LIMIT, none dropped\n", (unsigned long long)rl.rlim_cur,
	    welcomed, limited);
	fflush(stdout);
	ck_assert_int_gt(welcomed, 0);
	ck_assert_int_gt(limited, 0);
	for (i = 0; i < FD_CLIENTS; i++)
		close(fd[i]);
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, &old, NULL), 0);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

/*
 * A burst of refusals at --max-connections holds no place: once a client
 * leaves, the next one is served at once, not after the refused ones'
 * linger.
 */
START_TEST(test_refusals_hold_no_places)
{
	const char *args[] = { "--max-connections", "4", NULL };
	struct daemon d;
	struct raw_conn keep[4];
	int fd[32], i, op;
	uint32_t code;

	daemon_start(&d, args);
	for (i = 0; i < 4; i++)
		raw_conn_open(&keep[i], &d, 1, 4096);
	for (i = 0; i < 32; i++) {
		fd[i] = raw_connect(&d);
		op = hello_answer(fd[i], &code);
		ck_assert_msg(op == PROTO_ERROR && code ==
		    (uint32_t)-CHAN_ELIMIT, "refusal %d: %s", i + 1,
		    op < 0 ? "closed without a word" : proto_op_name(op));
	}
	/* One leaves (its close seen once the daemon answers the PING). */
	raw_conn_close(&keep[0]);
	raw_ping(&keep[1], 9);
	{
		int nfd = raw_connect(&d);

		op = hello_answer(nfd, &code);
		ck_assert_msg(op == PROTO_WELCOME, "a client after one left: "
		    "%s (code %u)", op < 0 ? "closed" : proto_op_name(op),
		    op == PROTO_ERROR ? code : 0);
		close(nfd);
	}
	for (i = 0; i < 32; i++)
		close(fd[i]);
	for (i = 1; i < 4; i++)
		raw_conn_close(&keep[i]);
	daemon_stop(&d);
}
END_TEST

/* Stored logs. */

static void
durable_send(const struct daemon *d, const char *name, const void *data,
    size_t len)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_client *c = test_connect(d);
	chan_tx *tx;

	o.durable = CHAN_DURABLE_YES;
	tx = tx_open_opts(c, name, &o);
	expect_rc(chan_tx_send(tx, data, len), 0, "durable send");
	chan_tx_close(tx);
	chan_disconnect(c);
}

/* The one entry of dir whose name starts with prefix, into out. */
static void
find_entry(const char *dir, const char *prefix, char *out, size_t len)
{
	struct dirent *de;
	DIR *dp;
	int n = 0;

	ck_assert_ptr_nonnull(dp = opendir(dir));
	while ((de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		path_join(out, len, dir, de->d_name);
		n++;
	}
	closedir(dp);
	ck_assert_msg(n == 1, "%d entries %s* in %s", n, prefix, dir);
}

static void
chown_tree(const char *dir, uid_t uid, gid_t gid)
{
	struct dirent *de;
	char path[PATH_MAX];
	DIR *dp;

	ck_assert_int_eq(chown(dir, uid, gid), 0);
	ck_assert_ptr_nonnull(dp = opendir(dir));
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		path_join(path, sizeof path, dir, de->d_name);
		ck_assert_int_eq(chown(path, uid, gid), 0);
	}
	closedir(dp);
}

static void
data_args(const char **args, const char *data, const char *max)
{
	int i = 0;

	args[i++] = "--data-dir";
	args[i++] = data;
	if (max != NULL) {
		args[i++] = "--max-msg-size";
		args[i++] = max;
	}
	args[i] = NULL;
}

/*
 * A data directory anyone may write is made private, with a log line; a
 * log planted in it by another user (here nobody, with a message of its
 * own for the same channel, under a name read first) is left alone, and
 * the real log is recovered.
 */
START_TEST(test_planted_logs_are_not_trusted)
{
	char top[PATH_MAX], data[PATH_MAX], other[PATH_MAX];
	char planted[PATH_MAX], to[PATH_MAX];
	const char *args[6];
	struct daemon d;
	struct stat st;
	chan_client *c;
	chan_rx *rx;
	char *log;

	if (geteuid() != 0) {
		printf("planted logs: skipped (needs root to plant a log "
		    "owned by another user)\n");
		return;
	}
	make_dir(top, sizeof top);
	path_join(data, sizeof data, top, "data");
	path_join(other, sizeof other, top, "other");
	ck_assert_int_eq(mkdir(data, 0700), 0);
	ck_assert_int_eq(chmod(data, 0777), 0);

	data_args(args, other, NULL);
	daemon_start(&d, args);
	durable_send(&d, "jobs", "planted", 7);
	daemon_stop(&d);

	data_args(args, data, NULL);
	daemon_start(&d, args);
	durable_send(&d, "jobs", "real", 4);
	daemon_stop(&d);

	/* The planted log is read first, and owned by nobody. */
	find_entry(other, "chan-", planted, sizeof planted);
	path_join(to, sizeof to, data, "chan-000000");
	ck_assert_int_eq(rename(planted, to), 0);
	chown_tree(to, 65534, 65534);
	ck_assert_int_eq(chmod(data, 0777), 0);

	daemon_start(&d, args);
	c = test_connect(&d);
	rx = rx_open(c, "jobs", 0);
	expect_str(rx, "real");
	/* Recovered, the channel starts disconnected: nothing more. */
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	log = daemon_stop_log(&d);
	expect_in(log, "was writable by others (mode 777): mode set to 755");
	expect_in(log, "owned by uid 65534, not the daemon's user");
	free(log);
	ck_assert_int_eq(stat(data, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0755);
	ck_assert_int_eq(stat(to, &st), 0);
	remove_tree(top);
}
END_TEST

#define BIG_MSG		(3u << 20)

/*
 * A durable message of 3 MiB sent under --max-msg-size 4M, recovered
 * under the default 1 MiB: set aside in a file, with a log line, and the
 * messages behind it are delivered.
 */
START_TEST(test_recovered_message_over_the_limit_is_set_aside)
{
	char top[PATH_MAX], data[PATH_MAX], aside[PATH_MAX], file[PATH_MAX];
	const char *args[6];
	struct daemon d;
	struct stat st;
	chan_client *c;
	chan_rx *rx;
	char *big, *log;

	make_dir(top, sizeof top);
	path_join(data, sizeof data, top, "data");
	ck_assert_ptr_nonnull(big = malloc(BIG_MSG));
	memset(big, 'b', BIG_MSG);
	data_args(args, data, "4M");
	daemon_start(&d, args);
	durable_send(&d, "big", "before", 6);
	durable_send(&d, "big", big, BIG_MSG);
	durable_send(&d, "big", "after", 5);
	daemon_stop(&d);

	data_args(args, data, NULL);
	daemon_start(&d, args);
	c = test_connect(&d);
	rx = rx_open(c, "big", 0);
	expect_str(rx, "before");
	expect_str(rx, "after");
	/* Recovered, the channel starts disconnected: nothing more. */
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	log = daemon_stop_log(&d);
	expect_in(log, "message 2 of 3145728 bytes is over --max-msg-size "
	    "1048576: set aside in");
	free(log);
	path_join(aside, sizeof aside, data, "set-aside");
	find_entry(aside, "chan-", file, sizeof file);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_size, BIG_MSG);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);

	/* Set aside once: the next start recovers nothing of it. */
	daemon_start(&d, args);
	log = daemon_stop_log(&d);
	ck_assert_msg(strstr(log, "set aside") == NULL, "log: %s", log);
	free(log);
	free(big);
	remove_tree(top);
}
END_TEST

/*
 * A record written straight into a log (a valid checksum, a payload of
 * 2 MiB that no daemon under the default limit accepted) is set aside
 * the same.
 */
START_TEST(test_crafted_record_over_the_limit_is_set_aside)
{
	static const struct wal_settings set = { 16u << 20, true };
	struct wal_meta meta = { "crafted", 7, CHAN_CAPACITY_UNBOUNDED,
	    CHAN_CAPACITY_UNBOUNDED };
	char top[PATH_MAX], data[PATH_MAX], err[256];
	const char *args[6];
	struct daemon d;
	struct wal *w;
	chan_client *c;
	chan_rx *rx;
	char *big, *log;

	make_dir(top, sizeof top);
	path_join(data, sizeof data, top, "data");
	ck_assert_int_eq(mkdir(data, 0700), 0);
	ck_assert_ptr_nonnull(big = calloc(1, 2u << 20));
	ck_assert_msg(wal_create(data, &meta, &set, &w, err, sizeof err) == 0,
	    "wal_create: %s", err);
	ck_assert_int_eq(wal_append_msg(w, 1, big, 2u << 20, NULL), 0);
	ck_assert_int_eq(wal_append_msg(w, 2, "next", 4, NULL), 0);
	ck_assert_int_eq(wal_sync_now(w), 0);
	wal_close(w);
	free(big);

	data_args(args, data, NULL);
	daemon_start(&d, args);
	c = test_connect(&d);
	rx = rx_open(c, "crafted", 0);
	expect_str(rx, "next");
	chan_rx_close(rx);
	chan_disconnect(c);
	log = daemon_stop_log(&d);
	expect_in(log, "durable channel 'crafted': message 1 of 2097152 bytes "
	    "is over --max-msg-size 1048576: set aside in");
	free(log);
	remove_tree(top);
}
END_TEST

/* Shares per user. */

#define UID_X	4242
#define UID_Y	4243

static char	rules_dir[PATH_MAX];
static char	rules_path[PATH_MAX];

/* Clients of other uids need root to become them. */
static int
skip_unless_root(const char *what)
{
	if (geteuid() == 0)
		return 0;
	printf("%s: skipped (needs root to connect as other uids)\n", what);
	return 1;
}

/* A daemon that every uid can reach, with these rules and options. */
static void
start_with_rules(struct daemon *d, const char *text, const char *opt,
    const char *val)
{
	const char *args[] = { "--socket-mode", "0666", "--access-file",
	    rules_path, opt, val, NULL };
	FILE *f;

	make_dir(rules_dir, sizeof rules_dir);
	path_join(rules_path, sizeof rules_path, rules_dir, "access");
	ck_assert_ptr_nonnull(f = fopen(rules_path, "w"));
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	daemon_start(d, args);
	ck_assert_int_eq(chmod(d->dir, 0711), 0);
}

static void
stop_with_rules(struct daemon *d)
{
	daemon_stop(d);
	unlink(rules_path);
	rmdir(rules_dir);
}

/*
 * A socket connected to d by a child that became uid (and gid) first, so
 * that the daemon sees that uid: the child hands it over (SCM_RIGHTS).
 */
static int
connect_as(const struct daemon *d, uid_t uid)
{
	struct sockaddr_un sun;
	struct msghdr mh;
	struct cmsghdr *cm;
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct iovec iov;
	char byte = 0;
	int sp[2], fd, st;
	pid_t pid;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp), 0);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, d->sock);
	memset(&mh, 0, sizeof mh);
	iov.iov_base = &byte;
	iov.iov_len = 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof u.buf;
	if ((pid = fork()) == 0) {
		if (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 ||
		    setuid(uid) != 0)
			_exit(3);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun,
		    sizeof sun) != 0)
			_exit(4);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
		_exit(sendmsg(sp[1], &mh, 0) == 1 ? 0 : 5);
	}
	ck_assert_int_gt(pid, 0);
	close(sp[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child connecting as uid %d: status %d", (int)uid, st);
	ck_assert_int_eq(recvmsg(sp[0], &mh, 0), 1);
	cm = CMSG_FIRSTHDR(&mh);
	ck_assert_ptr_nonnull(cm);
	memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	close(sp[0]);
	return fd;
}

/* A raw connection as uid: HELLO answered with WELCOME. */
static void
raw_as(struct raw_conn *rc, const struct daemon *d, uid_t uid)
{
	rc->fd = connect_as(d, uid);
	rc->cap = 65536;
	ck_assert_ptr_nonnull(rc->dec = proto_decoder_new(
	    PROTO_DEFAULT_MAX_MSG));
	ck_assert_ptr_nonnull(rc->body = malloc(rc->cap));
	raw_hello(rc->fd);
}

/* OPEN_TX/RX of name with a capacity (NULL: none): HANDLE or ERROR. */
static int
raw_try_open(struct raw_conn *rc, int op, uint32_t rid, const char *name,
    const struct proto_cap *cap, uint32_t *h, char *text, size_t len)
{
	struct proto_buf b;
	struct proto_msg m;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_open_cap(&b, op, rid, name, strlen(name),
	    cap, NULL), 0);
	raw_send(rc, &b);
	proto_buf_fini(&b);
	raw_expect(rc, &m);
	ck_assert_uint_eq(m.rid, rid);
	if (m.op == PROTO_HANDLE) {
		*h = m.handle;
		return 0;
	}
	ck_assert_int_eq(m.op, PROTO_ERROR);
	snprintf(text, len, "%.*s", (int)m.text_len, m.text);
	return -(int)m.code;
}

/* SEND of len bytes on h: 0 (OK) or the ERROR's code, negated. */
static int
raw_try_send(struct raw_conn *rc, uint32_t rid, uint32_t h, size_t len,
    char *text, size_t tlen)
{
	struct proto_buf b;
	struct proto_msg m;
	char *p;

	ck_assert_ptr_nonnull(p = calloc(1, len));
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_send(&b, rid, h, p, len), 0);
	free(p);
	raw_send(rc, &b);
	proto_buf_fini(&b);
	raw_expect(rc, &m);
	ck_assert_uint_eq(m.rid, rid);
	if (m.op == PROTO_OK)
		return 0;
	ck_assert_int_eq(m.op, PROTO_ERROR);
	snprintf(text, tlen, "%.*s", (int)m.text_len, m.text);
	return -(int)m.code;
}

/*
 * The limit lines of the access file: connections, handles, channels
 * created and what those channels queue, per uid, each refused with
 * LIMIT naming the limit.
 */
START_TEST(test_per_uid_limits)
{
	struct daemon d;
	struct raw_conn a, b;
	char text[PROTO_ERRMSG_MAX + 1];
	uint32_t h1, h2, h3, hx, code;
	int fd, op;

	if (skip_unless_root("test_per_uid_limits"))
		return;

	start_with_rules(&d, "allow uid:4242 send,recv x.*\n"
	    "limit uid:4242 connections 2 handles 3\n"
	    "limit uid:4242 channels 2 queued-bytes 1000 connections 99\n",
	    NULL, NULL);
	raw_as(&a, &d, UID_X);
	raw_as(&b, &d, UID_X);
	fd = connect_as(&d, UID_X);
	op = hello_answer(fd, &code);
	ck_assert_msg(op == PROTO_ERROR && code == (uint32_t)-CHAN_ELIMIT,
	    "a third connection of uid 4242: %s",
	    op < 0 ? "closed" : proto_op_name(op));
	close(fd);

	ck_assert_int_eq(raw_try_open(&a, PROTO_OPEN_TX, 2, "x.a", NULL, &h1,
	    text, sizeof text), 0);
	ck_assert_int_eq(raw_try_open(&b, PROTO_OPEN_TX, 3, "x.b", NULL, &h2,
	    text, sizeof text), 0);
	ck_assert_int_eq(raw_try_open(&a, PROTO_OPEN_TX, 4, "x.c", NULL, &hx,
	    text, sizeof text), CHAN_ELIMIT);
	expect_in(text, "limit of 2 channels for uid 4242");
	ck_assert_int_eq(raw_try_open(&b, PROTO_OPEN_RX, 5, "x.a", NULL, &h3,
	    text, sizeof text), 0);
	/* Handles count across the uid's connections. */
	ck_assert_int_eq(raw_try_open(&a, PROTO_OPEN_RX, 6, "x.b", NULL, &hx,
	    text, sizeof text), CHAN_ELIMIT);
	expect_in(text, "limit of 3 handles for uid 4242");

	ck_assert_int_eq(raw_try_send(&a, 7, h1, 600, text, sizeof text), 0);
	ck_assert_int_eq(raw_try_send(&b, 8, h2, 400, text, sizeof text), 0);
	ck_assert_int_eq(raw_try_send(&a, 9, h1, 1, text, sizeof text),
	    CHAN_ELIMIT);
	expect_in(text, "limit of 1000 queued-bytes for the channels of uid "
	    "4242");
	raw_conn_close(&a);
	raw_conn_close(&b);
	assert_serves(&d);
	stop_with_rules(&d);
}
END_TEST

static void
raw_try_close(struct raw_conn *rc, uint32_t rid, uint32_t h)
{
	struct proto_buf b;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_close(&b, rid, h), 0);
	raw_send(rc, &b);
	proto_buf_fini(&b);
	raw_expect_ok(rc, rid);
}

/*
 * What a uid's channels queue is counted as it changes: a message the
 * consumer acknowledges, and a channel that is gone, stop counting, and
 * the room comes back to the byte.
 */
START_TEST(test_per_uid_queued_bytes_come_back)
{
	struct daemon d;
	struct raw_conn a, b;
	struct proto_msg m;
	char text[PROTO_ERRMSG_MAX + 1];
	uint32_t ha, hb, hr;

	if (skip_unless_root("test_per_uid_queued_bytes_come_back"))
		return;

	start_with_rules(&d, "allow uid:4242 send,recv x.*\n"
	    "limit uid:4242 queued-bytes 1000\n", NULL, NULL);
	raw_as(&a, &d, UID_X);
	raw_as(&b, &d, UID_X);
	ck_assert_int_eq(raw_try_open(&a, PROTO_OPEN_TX, 2, "x.a", NULL, &ha,
	    text, sizeof text), 0);
	ck_assert_int_eq(raw_try_open(&a, PROTO_OPEN_TX, 3, "x.b", NULL, &hb,
	    text, sizeof text), 0);
	ck_assert_int_eq(raw_try_open(&b, PROTO_OPEN_RX, 4, "x.a", NULL, &hr,
	    text, sizeof text), 0);
	ck_assert_int_eq(raw_try_send(&a, 5, ha, 600, text, sizeof text), 0);
	ck_assert_int_eq(raw_try_send(&a, 6, hb, 400, text, sizeof text), 0);
	ck_assert_int_eq(raw_try_send(&a, 7, hb, 1, text, sizeof text),
	    CHAN_ELIMIT);

	/* Delivered, it still counts (in flight); acknowledged, it does not. */
	raw_credit(&b, 0, hr, 1);
	raw_expect(&b, &m);
	ck_assert_int_eq(m.op, PROTO_DELIVER);
	ck_assert_uint_eq(m.payload_len, 600);
	ck_assert_int_eq(raw_try_send(&a, 8, hb, 1, text, sizeof text),
	    CHAN_ELIMIT);
	raw_ack(&b, 0, hr, m.seq);
	raw_ping(&b, 20);	/* the ACK has been read */
	ck_assert_int_eq(raw_try_send(&a, 9, hb, 600, text, sizeof text), 0);
	ck_assert_int_eq(raw_try_send(&a, 10, ha, 1, text, sizeof text),
	    CHAN_ELIMIT);

	/* x.a, empty and left by all, is gone; x.b's 1000 bytes still count. */
	raw_conn_close(&b);
	raw_try_close(&a, 11, ha);
	ck_assert_int_eq(raw_try_send(&a, 12, hb, 1, text, sizeof text),
	    CHAN_ELIMIT);
	raw_conn_close(&a);
	assert_serves(&d);
	stop_with_rules(&d);
}
END_TEST

#define RESERVE_CONNS	16
#define RESERVE_BYTES	16000

/*
 * With no limit lines at all, a user without the admin right can take
 * no more than 15/16 of --max-connections and --max-queued-bytes: root
 * is still served, and its sends are still queued.
 */
START_TEST(test_root_keeps_a_reserve)
{
	const char *args[] = { "--socket-mode", "0666", "--access-file",
	    rules_path, "--max-connections", "16", "--max-queued-bytes",
	    "16000", NULL };
	struct daemon d;
	struct raw_conn y, r;
	char text[PROTO_ERRMSG_MAX + 1];
	int fd[RESERVE_CONNS + 1], held = 0, i, op, sent = 0, rc, root_rc;
	uint32_t code, h, hr;
	FILE *f;

	if (skip_unless_root("test_root_keeps_a_reserve"))
		return;

	make_dir(rules_dir, sizeof rules_dir);
	path_join(rules_path, sizeof rules_path, rules_dir, "access");
	ck_assert_ptr_nonnull(f = fopen(rules_path, "w"));
	fputs("allow uid:4243 send y.*\n", f);
	ck_assert_int_eq(fclose(f), 0);
	daemon_start(&d, args);
	ck_assert_int_eq(chmod(d.dir, 0711), 0);

	/* Queued bytes: 1000 at a time, until refused. */
	raw_as(&y, &d, UID_Y);
	ck_assert_int_eq(raw_try_open(&y, PROTO_OPEN_TX, 2, "y.fill", NULL,
	    &h, text, sizeof text), 0);
	for (i = 0; i < RESERVE_BYTES / 1000; i++) {
		if ((rc = raw_try_send(&y, 10 + (uint32_t)i, h, 1000, text,
		    sizeof text)) != 0)
			break;
		sent += 1000;
	}
	raw_conn_open(&r, &d, 1, 65536);
	ck_assert_int_eq(raw_try_open(&r, PROTO_OPEN_TX, 2, "root.jobs",
	    NULL, &hr, text, sizeof text), 0);
	rc = raw_try_send(&r, 3, hr, 1000, text, sizeof text);
	printf("reserve: uid 4243 queued %d of %d bytes; root's send of 1000 "
	    "bytes: %s%s%s\n", sent, RESERVE_BYTES, rc == 0 ? "queued" :
	    chan_errname(rc), rc == 0 ? "" : ": ", rc == 0 ? "" : text);
	fflush(stdout);
	root_rc = rc;
	raw_conn_close(&r);
	raw_conn_close(&y);

	/* Connections: uid 4243 opens them until refused. */
	for (i = 0; i < RESERVE_CONNS; i++) {
		fd[i] = connect_as(&d, UID_Y);
		op = hello_answer(fd[i], &code);
		if (op != PROTO_WELCOME) {
			close(fd[i]);
			break;
		}
		held++;
	}
	fd[held] = raw_connect(&d);
	op = hello_answer(fd[held], &code);
	printf("reserve: uid 4243 holds %d of %d connections; root's "
	    "connection: %s\n", held, RESERVE_CONNS, op < 0 ? "closed" :
	    proto_op_name(op));
	fflush(stdout);
	for (i = 0; i <= held; i++)
		close(fd[i]);
	ck_assert_msg(root_rc == 0, "root's send refused with uid 4243 "
	    "holding %d bytes", sent);
	ck_assert_int_eq(sent, RESERVE_BYTES - RESERVE_BYTES / 16);
	ck_assert_msg(op == PROTO_WELCOME, "root refused with uid 4243 "
	    "holding %d connections", held);
	ck_assert_int_eq(held, RESERVE_CONNS - RESERVE_CONNS / 16);
	stop_with_rules(&d);
}
END_TEST

/*
 * Who creates a channel, and with which bounds: once a rule names the
 * create right, a user with send alone cannot create the channel (so it
 * cannot pick the capacity root's consumer then gets CAPACITY for), and
 * a channel a user creates stays within its capacity bounds.
 */
START_TEST(test_create_right_and_capacity_bounds)
{
	struct daemon d;
	struct raw_conn x, y, r;
	struct proto_cap cap;
	char text[PROTO_ERRMSG_MAX + 1];
	uint32_t h;

	if (skip_unless_root("test_create_right_and_capacity_bounds"))
		return;

	start_with_rules(&d, "allow uid:4242 send jobs\n"
	    "allow uid:4243 send,recv,create own.*\n"
	    "limit uid:4243 capacity 10 capacity-bytes 4096\n", NULL, NULL);
	raw_as(&x, &d, UID_X);
	ck_assert_int_eq(raw_try_open(&x, PROTO_OPEN_TX, 2, "jobs", NULL, &h,
	    text, sizeof text), CHAN_EPERM);
	expect_in(text, "no create right");
	/* Root creates it with its settings; then the sender may join. */
	raw_conn_open(&r, &d, 1, 65536);
	cap.kind = PROTO_CAP_VALUE;
	cap.value = 5;
	ck_assert_int_eq(raw_try_open(&r, PROTO_OPEN_RX, 2, "jobs", &cap, &h,
	    text, sizeof text), 0);
	ck_assert_int_eq(raw_try_open(&x, PROTO_OPEN_TX, 3, "jobs", NULL, &h,
	    text, sizeof text), 0);

	raw_as(&y, &d, UID_Y);
	cap.kind = PROTO_CAP_UNBOUNDED;
	ck_assert_int_eq(raw_try_open(&y, PROTO_OPEN_TX, 2, "own.a", &cap, &h,
	    text, sizeof text), CHAN_ELIMIT);
	expect_in(text, "capacity of at most 10");
	cap.kind = PROTO_CAP_VALUE;
	cap.value = 11;
	ck_assert_int_eq(raw_try_open(&y, PROTO_OPEN_TX, 3, "own.a", &cap, &h,
	    text, sizeof text), CHAN_ELIMIT);
	/* Stating nothing: the default, lowered to the bound. */
	ck_assert_int_eq(raw_try_open(&y, PROTO_OPEN_TX, 4, "own.a", NULL, &h,
	    text, sizeof text), 0);
	cap.value = 11;
	ck_assert_int_eq(raw_try_open(&r, PROTO_OPEN_RX, 3, "own.a", &cap, &h,
	    text, sizeof text), CHAN_ECAPACITY);
	expect_in(text, "capacity 10 messages, 4096 bytes");
	raw_conn_close(&x);
	raw_conn_close(&y);
	raw_conn_close(&r);
	stop_with_rules(&d);
}
END_TEST

static Suite *
fair_suite(void)
{
	Suite *s = suite_create("e2e_fair");
	TCase *tc;

	tc = tcase_create("share");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fair_share_under_stats_abuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stalled_huge_frames_reserve_what_arrived);
	tcase_add_test(tc, test_out_of_memory_says_nomem);
	suite_add_tcase(s, tc);

	tc = tcase_create("descriptors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_descriptor_limit_every_refusal_says_limit);
	tcase_add_test(tc, test_refusals_hold_no_places);
	suite_add_tcase(s, tc);

	tc = tcase_create("logs");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_planted_logs_are_not_trusted);
	tcase_add_test(tc, test_recovered_message_over_the_limit_is_set_aside);
	tcase_add_test(tc, test_crafted_record_over_the_limit_is_set_aside);
	suite_add_tcase(s, tc);

	tc = tcase_create("users");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_per_uid_limits);
	tcase_add_test(tc, test_per_uid_queued_bytes_come_back);
	tcase_add_test(tc, test_root_keeps_a_reserve);
	tcase_add_test(tc, test_create_right_and_capacity_bounds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(fair_suite());
}

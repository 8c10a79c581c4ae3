/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_chaos.c: many clients connecting, dying and misbehaving at once
 * against one real chand, and what must hold through it.
 *
 * For CHAOS_SECS seconds (CHAND_CHAOS_SECS, default 30; scripts/chaos.sh
 * runs it for minutes) the test keeps up to LIVE_PRODUCERS producer
 * processes sending numbered messages to CHANNELS channels, one consumer
 * process per channel, and spawns garbage clients, while it SIGKILLs
 * producers in the middle of their sends and consumers in the middle of
 * their receives (a new consumer takes over). Some garbage clients send
 * random bytes, others half a SEND frame and then SIGKILL themselves.
 * One raw consumer takes credit and never reads its socket while a
 * producer floods its channel.
 *
 * Producers note in shared memory each message the daemon confirmed;
 * consumers note each message they receive and count violations: a
 * message received twice without the redelivered mark, or a producer's
 * message received (unmarked) before one it sent earlier. At the end
 * every channel gets an END message, the consumers drain up to it, and
 * the test asserts that every confirmed message was received at least
 * once, that there were no violations, and that the daemon's descriptors
 * and memory returned to where they were once every client had gone.
 *
 * A first, shorter round warms the daemon (allocator, buffers); the
 * memory baseline is taken after it.
 *
 * Processes, not threads, so that SIGKILL and credentials are real. The
 * test's own waits are on child exits (bounded by alarm()) and on the
 * daemon's socket.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

#define CHANNELS	8
#define LIVE_PRODUCERS	16
#define MSGS		40		/* per producer */
#define MAX_SLOTS	100000		/* producers in one run, at most */
#define MAX_PAYLOAD	2048
#define FLOOD_MSGS	2500		/* to the channel nobody reads */
#define FLOOD_SIZE	4096
/*
 * Growth of the daemon's RSS allowed over the main round: the node slabs
 * (up to 64 MiB, kept until exit: msgpool.h) and malloc's arenas grow to
 * the busiest moment, which a loaded machine makes busier than the
 * warm-up's; what this catches is growth without bound. Leaks are for the
 * sanitizer and valgrind runs.
 */
#define RSS_SLACK_KIB	(96 * 1024)

/* Counters shared by the consumers of all channels. */
#define ADD(x)		__atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

/*
 * What the processes share, in one MAP_SHARED mapping. A producer's slot
 * is written by the producer and by its channel's consumer, one at a time.
 */
struct shared {
	int		confirmed[MAX_SLOTS];	/* messages 0..n-1 confirmed */
	unsigned char	got[MAX_SLOTS][MSGS];	/* times received (capped) */
	int		max_seen[MAX_SLOTS];	/* highest unmarked seq seen */
	int		violations;
	long		delivered;
	long		redelivered;
	int		flood_confirmed;
};

/* The test's tallies, printed at the end. */
struct tally {
	int	producers;
	int	producer_kills;
	int	consumer_kills;
	int	garbage;
	int	garbage_midframe;
};

static struct daemon	 d;
static struct shared	*sh;
static pid_t		 consumers[CHANNELS];
static pid_t		 producers[LIVE_PRODUCERS];
static pid_t		 flooder, stalled_pid;
static int		 next_slot;
static struct tally	 t;

static void
channel_name(char *buf, size_t len, int ch)
{
	snprintf(buf, len, "chaos.%d", ch);
}

/* Children. */

static int
producer_main(void *arg)
{
	int slot = (int)(long)arg, seq, rc, len;
	char name[32], payload[MAX_PAYLOAD];
	chan_client *c;
	chan_tx *tx;

	srandom((unsigned)getpid());
	channel_name(name, sizeof name, slot % CHANNELS);
	if (chan_connect(d.sock, &c) != 0 || chan_tx_open(c, name, &tx) != 0)
		return 1;
	for (seq = 0; seq < MSGS; seq++) {
		len = snprintf(payload, sizeof payload, "%d:%d:", slot, seq);
		len += (int)(random() % (MAX_PAYLOAD - 32));
		memset(payload + strlen(payload), 'x',
		    (size_t)len - strlen(payload));
		if ((rc = chan_tx_send(tx, payload, (size_t)len)) != 0) {
			fprintf(stderr, "producer %d: send: %s (%s)\n", slot,
			    chan_errname(rc), chan_tx_errmsg(tx));
			return 1;
		}
		sh->confirmed[slot] = seq + 1;
	}
	chan_disconnect(c);
	return 0;
}

/* Notes one received message; returns 1 at END. */
static int
consume(int ch, const chan_msg *m)
{
	const char *p = chan_msg_data(m);
	int slot, seq, marked = chan_msg_redelivered(m);

	if (chan_msg_len(m) == 3 && memcmp(p, "END", 3) == 0)
		return 1;
	if (sscanf(p, "%d:%d:", &slot, &seq) != 2 || slot < 0 ||
	    slot >= MAX_SLOTS || seq < 0 || seq >= MSGS ||
	    slot % CHANNELS != ch) {
		fprintf(stderr, "consumer %d: bad message '%.20s'\n", ch, p);
		ADD(sh->violations);
		return 0;
	}
	ADD(sh->delivered);
	if (marked)
		ADD(sh->redelivered);
	else if (sh->got[slot][seq] != 0) {
		fprintf(stderr, "consumer %d: %d:%d again, not marked\n", ch,
		    slot, seq);
		ADD(sh->violations);
	} else if (seq <= sh->max_seen[slot]) {
		fprintf(stderr, "consumer %d: %d:%d after %d:%d\n", ch, slot,
		    seq, slot, sh->max_seen[slot]);
		ADD(sh->violations);
	}
	if (!marked && seq > sh->max_seen[slot])
		sh->max_seen[slot] = seq;
	if (sh->got[slot][seq] < 255)
		sh->got[slot][seq]++;
	return 0;
}

/*
 * Opens the consumer of a channel whose previous consumer may have just
 * been killed: the daemon answers BUSY until it has seen that one's end
 * of file, so each try is a round trip, bounded in number and time.
 */
static int
rx_open_retry(chan_client *c, const char *name, chan_rx **rx)
{
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	int rc;

	do {
		rc = chan_rx_open(c, name, rx);
	} while (rc == CHAN_EBUSY && now_ms() < deadline);
	return rc;
}

static int
consumer_main(void *arg)
{
	int ch = (int)(long)arg, rc;
	char name[32];
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;

	channel_name(name, sizeof name, ch);
	if (chan_connect(d.sock, &c) != 0)
		return 1;
	if ((rc = rx_open_retry(c, name, &rx)) != 0) {
		fprintf(stderr, "consumer %d: open: %s\n", ch,
		    chan_errname(rc));
		return 1;
	}
	for (;;) {
		rc = chan_rx_recv(rx, &m);
		if (rc == CHAN_EDISCONNECTED)
			continue;
		if (rc != 0) {
			fprintf(stderr, "consumer %d: recv: %s\n", ch,
			    chan_errname(rc));
			return 1;
		}
		rc = consume(ch, m);
		chan_msg_free(m);
		if (rc == 1)
			break;
	}
	chan_disconnect(c);
	return 0;
}

/*
 * The raw clients' connection and writes, without the harness's raw_
 * helpers: those assert through Check, whose every assertion writes to
 * the message file all of the test's processes share, and hundreds of
 * children writing there at once garble it for the parent.
 */
static int
child_connect(void)
{
	struct sockaddr_un sun;
	struct timeval tv = { HARNESS_WAIT_MS / 1000, 0 };
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(d.sock) >= sizeof sun.sun_path ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	/* A daemon that stops reading fails the write, in bounded time. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	strcpy(sun.sun_path, d.sock);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Writes what the socket takes, until an error. */
static void
child_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Random bytes, or half a SEND frame and death by SIGKILL. */
static int
garbage_main(void *arg)
{
	int midframe = (int)(long)arg, fd, i;
	unsigned char junk[512];
	struct proto_buf b;

	srandom((unsigned)getpid());
	if ((fd = child_connect()) < 0)
		return 1;
	if (midframe) {
		proto_buf_init(&b);
		proto_enc_hello(&b, 1, "chaos-garbage");
		proto_enc_open(&b, PROTO_OPEN_TX, 2, "chaos.0", 7);
		proto_enc_send(&b, 3, 1, junk, sizeof junk);
		child_write(fd, b.data, b.len - sizeof junk / 2);
		raise(SIGKILL);
	}
	for (i = 0; i < (int)sizeof junk; i++)
		junk[i] = (unsigned char)random();
	child_write(fd, junk, 1 + (size_t)(random() % sizeof junk));
	close(fd);
	return 0;
}

static int
flooder_main(void *arg)
{
	char payload[FLOOD_SIZE];
	chan_client *c;
	chan_tx *tx;
	int i;

	(void)arg;
	memset(payload, 'f', sizeof payload);
	if (chan_connect(d.sock, &c) != 0 ||
	    chan_tx_open(c, "chaos.stalled", &tx) != 0)
		return 1;
	for (i = 0; i < FLOOD_MSGS; i++) {
		if (chan_tx_send(tx, payload, sizeof payload) != 0)
			return 1;
		sh->flood_confirmed = i + 1;
	}
	chan_disconnect(c);
	return 0;
}

/* A consumer that takes all the credit it can and never reads. */
static int
stalled_main(void *arg)
{
	struct proto_buf b;
	int fd;

	(void)arg;
	if ((fd = child_connect()) < 0)
		return 1;
	proto_buf_init(&b);
	proto_enc_hello(&b, 1, "chaos-stalled");
	proto_enc_open(&b, PROTO_OPEN_RX, 2, "chaos.stalled", 13);
	proto_enc_credit(&b, 3, 1, PROTO_CREDIT_MAX);
	child_write(fd, b.data, b.len);
	/* Until the test SIGKILLs it. */
	for (;;)
		pause();
	return 0;
}

/* The conductor. */

static void
alarm_cb(int sig)
{
	(void)sig;
}

/*
 * Waits for any child to exit and returns its pid. The daemon and its
 * guardian are children too: the daemon must not die, the guardian does
 * not exit before daemon_stop.
 */
static pid_t
reap_one(int *status)
{
	pid_t pid;

	alarm((unsigned)(3 * HARNESS_WAIT_MS / 1000));
	pid = waitpid(-1, status, 0);
	alarm(0);
	ck_assert_msg(pid > 0, "no child exited in time: %s",
	    strerror(errno));
	ck_assert_msg(pid != d.pid, "chand died (status %d)", *status);
	return pid;
}

static int
consumer_index(pid_t pid)
{
	int i;

	for (i = 0; i < CHANNELS; i++) {
		if (consumers[i] == pid)
			return i;
	}
	return -1;
}

/* A producer or consumer may die by our SIGKILL, not by failing. */
static void
check_status(pid_t pid, int status, const char *what)
{
	ck_assert_msg(WIFSIGNALED(status) ? WTERMSIG(status) == SIGKILL :
	    WEXITSTATUS(status) == 0, "%s %d failed (status %#x; see its "
	    "stderr)", what, (int)pid, status);
}

static void
spawn_consumer(int ch)
{
	consumers[ch] = child_fork(consumer_main, (void *)(long)ch);
}

static void
spawn_producer(int i)
{
	producers[i] = 0;
	if (next_slot >= MAX_SLOTS)
		return;
	producers[i] = child_fork(producer_main, (void *)(long)next_slot++);
	t.producers++;
}

/* Something exited: replaces it, and stirs things up. */
static void
on_exit_of(pid_t pid, int status, int spawning)
{
	int i;

	if ((i = consumer_index(pid)) >= 0) {
		check_status(pid, status, "consumer");
		spawn_consumer(i);
	}
	for (i = 0; i < LIVE_PRODUCERS; i++) {
		if (producers[i] != pid)
			continue;
		check_status(pid, status, "producer");
		producers[i] = 0;
		if (spawning)
			spawn_producer(i);
	}
	if (pid == flooder) {
		check_status(pid, status, "flooder");
		flooder = 0;
	}
	if (!spawning)
		return;
	switch (random() % 8) {
	case 0:
		i = (int)(random() % LIVE_PRODUCERS);
		if (producers[i] > 0 && kill(producers[i], SIGKILL) == 0)
			t.producer_kills++;
		break;
	case 1:
		i = (int)(random() % CHANNELS);
		if (kill(consumers[i], SIGKILL) == 0)
			t.consumer_kills++;
		break;
	case 2:
	case 3:
		child_fork(garbage_main, (void *)(long)(random() % 2));
		t.garbage++;
		break;
	}
}

static int
producers_alive(void)
{
	int i, n = flooder > 0;

	for (i = 0; i < LIVE_PRODUCERS; i++)
		n += producers[i] > 0;
	return n;
}

/* One round: chaos for secs seconds, then everything drained and gone. */
static void
chaos_round(int secs)
{
	long long end = now_ms() + secs * 1000LL;
	char name[32];
	chan_client *c;
	chan_rx *rx;
	chan_tx *tx;
	chan_msg *m;
	pid_t pid;
	int i, rc, status, flood_seen = 0;

	for (i = 0; i < CHANNELS; i++)
		spawn_consumer(i);
	stalled_pid = child_fork(stalled_main, NULL);
	flooder = child_fork(flooder_main, NULL);
	for (i = 0; i < LIVE_PRODUCERS; i++)
		spawn_producer(i);

	while (now_ms() < end && next_slot < MAX_SLOTS) {
		pid = reap_one(&status);
		on_exit_of(pid, status, 1);
	}
	/* Wind down: producers and garbage finish, nothing is killed. */
	while (producers_alive() > 0) {
		pid = reap_one(&status);
		on_exit_of(pid, status, 0);
	}
	kill(stalled_pid, SIGKILL);

	c = test_connect(&d);
	for (i = 0; i < CHANNELS; i++) {
		channel_name(name, sizeof name, i);
		tx = tx_open(c, name);
		send_str(tx, "END");
		chan_tx_close(tx);
	}
	/* Each consumer ends at its END; others exiting are garbage. */
	for (i = 0; i < CHANNELS;) {
		if ((rc = consumer_index(pid = reap_one(&status))) < 0)
			continue;
		/*
		 * Killed by the chaos just before it ended and reaped only
		 * now: a replacement reads on, its END included.
		 */
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			spawn_consumer(rc);
			continue;
		}
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "consumer %d failed at the end (status %#x)", (int)pid,
		    status);
		consumers[rc] = 0;
		i++;
	}

	/* What the stalled consumer never read is still there. */
	tx = tx_open(c, "chaos.stalled");
	send_str(tx, "END");
	chan_tx_close(tx);
	expect_rc(rx_open_retry(c, "chaos.stalled", &rx), 0,
	    "open of the stalled channel");
	for (;;) {
		m = recv_msg(rx);
		rc = chan_msg_len(m) == 3;
		chan_msg_free(m);
		if (rc)
			break;
		flood_seen++;
	}
	ck_assert_msg(flood_seen >= sh->flood_confirmed,
	    "%d of %d flood messages came back", flood_seen,
	    sh->flood_confirmed);
	chan_rx_close(rx);
	chan_disconnect(c);
	/* Garbage clients still running, and the stalled one. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Every confirmed message was received at least once. */
static long
check_delivery(void)
{
	long confirmed = 0;
	int slot, seq;

	for (slot = 0; slot < next_slot; slot++) {
		for (seq = 0; seq < sh->confirmed[slot]; seq++) {
			ck_assert_msg(sh->got[slot][seq] > 0,
			    "message %d:%d was confirmed, never received",
			    slot, seq);
		}
		confirmed += sh->confirmed[slot];
	}
	ck_assert_msg(sh->violations == 0, "%d order or marking violations",
	    sh->violations);
	return confirmed;
}

/*
 * Round trips until the daemon's descriptors are back to want: every
 * client is dead, so each end of file is already readable, and a round
 * trip lets the daemon's loop go round and close them.
 */
static int
settle_fds(int want)
{
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	chan_client *c;
	int n;

	while ((n = daemon_fd_count(&d)) > want && now_ms() < deadline) {
		c = test_connect(&d);
		chan_disconnect(c);
	}
	return n;
}

static int
env_secs(void)
{
	const char *v = getenv("CHAND_CHAOS_SECS");

	return v != NULL && atoi(v) > 0 ? atoi(v) : 30;
}

START_TEST(test_chaos)
{
	struct sigaction sa;
	int secs = env_secs(), fd_start, fd0, fd1;
	long rss0, rss1, confirmed;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = alarm_cb;
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_msg(sh != MAP_FAILED, "mmap: %s", strerror(errno));
	memset(sh->max_seen, 0xff, sizeof sh->max_seen);
	srandom(4242);

#ifdef __SANITIZE_ADDRESS__
	/* ASan's quarantine holds freed memory back: turn it off. */
	ck_assert_int_eq(setenv("ASAN_OPTIONS", "quarantine_size_mb=0:"
	    "thread_local_quarantine_size_kb=0", 1), 0);
#endif
	daemon_start(&d, NULL);
	/* The baselines: once the warm-up round's clients have all gone. */
	fd_start = daemon_fd_count(&d);
	chaos_round(secs / 4 > 0 ? secs / 4 : 1);
	fd0 = settle_fds(fd_start);
	rss0 = daemon_rss_kib(&d);
	memset(&t, 0, sizeof t);
	chaos_round(secs);
	confirmed = check_delivery();
	fd1 = settle_fds(fd_start);
	rss1 = daemon_rss_kib(&d);

	printf("chaos: %d s: %d producers, %ld messages confirmed, %ld "
	    "delivered, %ld redelivered (marked); SIGKILLed %d producers and "
	    "%d consumers; %d garbage clients; %d flood messages to a "
	    "consumer that never read; daemon RSS %ld KiB after warm-up, "
	    "%ld KiB after; descriptors %d at start, %d after warm-up, %d "
	    "after\n", secs,
	    t.producers, confirmed, sh->delivered, sh->redelivered,
	    t.producer_kills, t.consumer_kills, t.garbage,
	    sh->flood_confirmed, rss0, rss1, fd_start, fd0, fd1);
	fflush(stdout);
	/* Back to where it was before any client came. */
	ck_assert_msg(fd1 <= fd_start, "daemon descriptors %d, were %d at "
	    "start", fd1, fd_start);
	/* Under valgrind, RSS is valgrind's; memcheck's leak check judges. */
	ck_assert_msg(rss1 <= rss0 + RSS_SLACK_KIB || harness_under_valgrind(),
	    "daemon RSS %ld KiB after, %ld KiB after warm-up", rss1, rss0);
	assert_serves(&d);
	daemon_stop(&d);
	munmap(sh, sizeof *sh);
}
END_TEST

static Suite *
chaos_suite(void)
{
	Suite *s = suite_create("e2e_chaos");
	TCase *tc = tcase_create("chaos");

	/* Generous: the machine may be slow and valgrind slower. */
	tcase_set_timeout(tc, 60 + 20 * env_secs());
	tcase_add_test(tc, test_chaos);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(chaos_suite());
}

/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_durable.c: durable channels end to end, against the real
 * daemon, library and CLIs: what a confirmed send promises across kill -9
 * under every sync policy, recovery from a damaged log, a full disk and a
 * file size limit, disk use that follows the backlog, the redelivered
 * mark after a restart, and the settings (durable or not, patterns,
 * capacity kept in the log).
 *
 * Every daemon runs on a private socket with a private --data-dir that
 * the test removes; logs are inspected on disk only to damage them or to
 * count their files. The crash test counts confirmations read from a pipe
 * to decide when to SIGKILL the daemon, never time.
 */
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "chanclient.h"
#include "e2e_util.h"
#include "harness.h"
#include "shmring.h"

#define CMD_MS		20000
#define MAX_SEGS	256

static const char *const policies[] = { "always", "periodic", "os" };

/* Data directories. */

/* Number of subdirectories of dir: durable channels with a log. */
static int
count_subdirs(const char *dir, char *first, size_t len)
{
	struct dirent *de;
	struct stat st;
	char path[PATH_MAX];
	DIR *dp;
	int n = 0;

	dp = opendir(dir);
	ck_assert_msg(dp != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		path_join(path, sizeof path, dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (n++ == 0 && first != NULL)
				snprintf(first, len, "%s", path);
		}
	}
	closedir(dp);
	return n;
}

/* The directory of the one durable channel in data, into out. */
static void
chan_dir(const char *data, char *out, size_t len)
{
	int n = count_subdirs(data, out, len);

	ck_assert_msg(n == 1, "%d channel directories in %s, want 1", n, data);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The segment files of a channel directory, sorted by name (which sorts
 * them in log order): full paths, malloc'd, into segs. Returns how many.
 */
static int
segments(const char *dir, char **segs)
{
	struct dirent *de;
	struct stat st;
	char path[PATH_MAX];
	DIR *dp;
	int n = 0;

	dp = opendir(dir);
	ck_assert_msg(dp != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		path_join(path, sizeof path, dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		ck_assert_int_lt(n, MAX_SEGS);
		segs[n] = strdup(path);
		ck_assert_ptr_nonnull(segs[n]);
		n++;
	}
	closedir(dp);
	qsort(segs, (size_t)n, sizeof *segs, cmp_str);
	return n;
}

static void
segments_free(char **segs, int n)
{
	while (n-- > 0)
		free(segs[n]);
}

static int
count_segments(const char *dir)
{
	char *segs[MAX_SEGS];
	int n = segments(dir, segs);

	segments_free(segs, n);
	return n;
}

/* A whole file, malloc'd; its length in *len. */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_msg(read(fd, buf, (size_t)st.st_size) == st.st_size,
	    "short read of %s", path);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Flips one byte of a file, in place. */
static void
flip_byte(const char *path, off_t off)
{
	unsigned char c;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* Daemons with a data directory. */

struct dd {
	struct daemon	d;
	char		data[PATH_MAX];
	const char	*args[24];
};

/*
 * Sets up the arguments of a durable daemon on a new private data
 * directory: --data-dir, --sync policy, then extra (NULL-terminated, may
 * be NULL).
 */
static void
dd_init(struct dd *x, const char *policy, const char *const *extra)
{
	size_t n = 0;

	memset(x, 0, sizeof *x);
	make_dir(x->data, sizeof x->data);
	x->args[n++] = "--data-dir";
	x->args[n++] = x->data;
	x->args[n++] = "--sync";
	x->args[n++] = policy;
	while (extra != NULL && *extra != NULL && n < 22)
		x->args[n++] = *extra++;
	x->args[n] = NULL;
}

static void
dd_start(struct dd *x)
{
	daemon_start(&x->d, x->args);
}

static void
dd_fini(struct dd *x)
{
	if (x->d.pid > 0)
		daemon_stop(&x->d);
	remove_tree(x->data);
}

/* Opens. */

static int
open_tx(chan_client *c, const char *name, int durable, chan_tx **tx)
{
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;

	opts.durable = durable;
	return chan_tx_open_ex(c, name, strlen(name), &opts, tx);
}

static int
open_rx(chan_client *c, const char *name, int durable, unsigned flags,
    chan_rx **rx)
{
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;

	opts.durable = durable;
	opts.flags = flags;
	return chan_rx_open_ex(c, name, strlen(name), &opts, rx);
}

static chan_tx *
dtx_open(chan_client *c, const char *name)
{
	chan_tx *tx = NULL;
	int rc;

	rc = open_tx(c, name, CHAN_DURABLE_YES, &tx);
	ck_assert_msg(rc == 0, "durable tx open %s: %s (%s)", name,
	    chan_errname(rc), chan_client_errmsg(c));
	return tx;
}

static chan_rx *
drx_open(chan_client *c, const char *name, unsigned flags)
{
	chan_rx *rx = NULL;
	int rc;

	rc = open_rx(c, name, CHAN_DURABLE_DEFAULT, flags, &rx);
	ck_assert_msg(rc == 0, "rx open %s: %s (%s)", name, chan_errname(rc),
	    chan_client_errmsg(c));
	return rx;
}

/* Payloads: "m-000042-" then letters that depend on the index. */

static size_t
payload(char *buf, size_t size, int i)
{
	size_t j, n;

	n = (size_t)snprintf(buf, size, "m-%06d-", i);
	for (j = n; j < size; j++)
		buf[j] = (char)('a' + (i * 7 + (int)j) % 26);
	return size;
}

/* Sends n confirmed messages 0 .. n-1 of size bytes on tx. */
static void
send_payloads(chan_tx *tx, int from, int n, size_t size)
{
	char *buf = malloc(size);
	int i;

	ck_assert_ptr_nonnull(buf);
	for (i = from; i < from + n; i++) {
		payload(buf, size, i);
		expect_rc(chan_tx_send(tx, buf, size), 0, "durable send");
	}
	free(buf);
}

/* Receives message i of size bytes from rx, asserting it intact. */
static void
expect_payload(chan_rx *rx, int i, size_t size, int redelivered)
{
	char *want = malloc(size);
	chan_msg *m = recv_msg(rx);

	ck_assert_ptr_nonnull(want);
	payload(want, size, i);
	ck_assert_msg(chan_msg_len(m) == size &&
	    memcmp(chan_msg_data(m), want, size) == 0,
	    "message %d: got %zu bytes \"%.12s...\", want %zu bytes "
	    "\"%.12s...\"", i, chan_msg_len(m),
	    (const char *)chan_msg_data(m), size, want);
	if (redelivered >= 0)
		ck_assert_msg(!chan_msg_redelivered(m) == !redelivered,
		    "message %d: redelivered mark %d, want %d", i,
		    chan_msg_redelivered(m), redelivered);
	chan_msg_free(m);
	free(want);
}

/* Nothing more is queued on rx (a round trip to the daemon). */
static void
expect_empty(chan_rx *rx)
{
	expect_try_rc(rx, CHAN_EEMPTY);
}

/*
 * Nothing more is queued on rx, a channel recovered after a restart: its
 * producers went with the daemon before, so it is disconnected.
 */
static void
expect_drained(chan_rx *rx)
{
	expect_try_rc(rx, CHAN_EDISCONNECTED);
}

/* The admin view through chanctl. */

static char *
chanctl_json(const struct daemon *d, const char *view)
{
	return chanctl(d, 0, (const char *const[]){ view, "--json", NULL });
}

/*
 * The text of field in the channels view's entry for name ("true",
 * "12", ...), into out; asserts that both exist.
 */
static void
chan_field(const struct daemon *d, const char *name, const char *field,
    char *out, size_t len)
{
	char *json = chanctl_json(d, "channels"), key[300], *e, *end, *f;
	size_t n;

	snprintf(key, sizeof key, "{\"name\":\"%s\",", name);
	e = strstr(json, key);
	ck_assert_msg(e != NULL, "no channel %s in:\n%s", name, json);
	end = strstr(e + 1, "{\"name\":");
	snprintf(key, sizeof key, "\"%s\":", field);
	f = strstr(e, key);
	ck_assert_msg(f != NULL && (end == NULL || f < end),
	    "no %s for channel %s in:\n%s", field, name, json);
	f += strlen(key);
	n = strcspn(f, ",}");
	ck_assert_uint_lt(n, len);
	memcpy(out, f, n);
	out[n] = '\0';
	free(json);
}

static void
expect_field(const struct daemon *d, const char *name, const char *field,
    const char *want)
{
	char got[64];

	chan_field(d, name, field, got, sizeof got);
	ck_assert_msg(strcmp(got, want) == 0, "channel %s: %s is %s, want %s",
	    name, field, got, want);
}

static long long
field_num(const struct daemon *d, const char *name, const char *field)
{
	char got[64];

	chan_field(d, name, field, got, sizeof got);
	return atoll(got);
}

/*
 * 1. kill -9 under load.
 *
 * KP producer processes send KMSGS messages "P:N" each, in pipelined
 * batches that end with a flush and in single confirmed sends, and write
 * every confirmation ({P, N + 1}: all of P's messages below N + 1) to a
 * pipe. One consumer process receives with manual acks; after every
 * KACK_EVERY messages it acks, and once a later round trip has come back
 * (which the daemon answers only after the ACK record is written) it
 * counts what it acked as consumed. The test SIGKILLs the daemon when
 * the confirmations pass KILL_AT, restarts it on the same data
 * directory, and drains the channel with a fresh consumer.
 */
#define KP		3
#define KMSGS		3000
#define KBATCH		40
#define KACK_EVERY	25
#define KILL_AT		(KP * KMSGS * 2 / 5)
#define KCHAN		"crash"

struct kshared {
	int		sent[KP];		/* messages handed to the library */
	unsigned char	pre[KP][KMSGS];		/* received before the crash */
	unsigned char	acked[KP][KMSGS];	/* and consumed for certain */
	unsigned char	post[KP][KMSGS];	/* received after the restart */
	int		pre_last[KP];		/* last N received before */
	int		pre_count;
	char		why[256];		/* first violation */
};

struct kproducer {
	struct kshared	*sh;
	const char	*sock;
	int		 p;
	int		 report_fd;
	int		 ready_fd;	/* one byte once connected and open */
	int		 go_fd;		/* a byte for each end: start */
};

/* Tells the test this end is set up, and waits for all to be. */
static int
kready(const struct kproducer *k)
{
	char c = 'R';

	ssize_t n;

	if (write(k->ready_fd, &c, 1) != 1)
		return -1;
	while ((n = read(k->go_fd, &c, 1)) < 0 && errno == EINTR)
		;
	return n == 1 ? 0 : -1;
}

static void
kviolation(struct kshared *sh, const char *fmt, int p, int n)
{
	if (sh->why[0] == '\0')
		snprintf(sh->why, sizeof sh->why, fmt, p, n);
}

/* "P:N" into p and n: 0, or -1 if it is not exactly such a payload. */
static int
kparse(const chan_msg *m, int *p, int *n)
{
	char buf[32], again[32];
	size_t len = chan_msg_len(m);

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, chan_msg_data(m), len);
	buf[len] = '\0';
	if (sscanf(buf, "%d:%d", p, n) != 2 || *p < 0 || *p >= KP ||
	    *n < 0 || *n >= KMSGS)
		return -1;
	snprintf(again, sizeof again, "%d:%d", *p, *n);
	return strcmp(again, buf) == 0 ? 0 : -1;
}

static void
kreport(int fd, int p, int upto)
{
	int rec[2] = { p, upto };

	/* 8 bytes: atomic on a pipe, whichever producer writes. */
	if (write(fd, rec, sizeof rec) != sizeof rec)
		_exit(3);
}

/* One batch of pipelined sends then one confirmed send, from *n on. */
static int
kproduce_round(struct kproducer *k, chan_tx *tx, int *n, int batch)
{
	char buf[32];
	int rc, len;

	for (; batch > 0 && *n < KMSGS; batch--, (*n)++) {
		len = snprintf(buf, sizeof buf, "%d:%d", k->p, *n);
		k->sh->sent[k->p] = *n + 1;
		if ((rc = chan_tx_send_async(tx, buf, (size_t)len)) != 0)
			return rc;
	}
	if ((rc = chan_tx_flush(tx)) != 0)
		return rc;
	kreport(k->report_fd, k->p, *n);
	if (*n == KMSGS)
		return 0;
	len = snprintf(buf, sizeof buf, "%d:%d", k->p, *n);
	k->sh->sent[k->p] = ++(*n);
	if ((rc = chan_tx_send(tx, buf, (size_t)len)) != 0)
		return rc;
	kreport(k->report_fd, k->p, *n);
	return 0;
}

static int
kproducer_main(void *arg)
{
	struct kproducer *k = arg;
	chan_client *c = NULL;
	chan_tx *tx = NULL;
	int n = 0, rc;

	srandom((unsigned)getpid());
	if (chan_connect(k->sock, &c) != 0 ||
	    open_tx(c, KCHAN, CHAN_DURABLE_YES, &tx) != 0 || kready(k) != 0)
		return 1;
	while (n < KMSGS) {
		rc = kproduce_round(k, tx, &n, 1 + (int)(random() % KBATCH));
		if (rc == CHAN_ECONNLOST)
			_exit(0);	/* the daemon was killed */
		if (rc != 0)
			return 2;
	}
	chan_tx_close(tx);
	chan_disconnect(c);
	return 0;
}

/* Everything received since the last certain ack is now consumed. */
static void
kconsumed(struct kshared *sh, const int *pend, int npend)
{
	int i;

	for (i = 0; i < npend; i++)
		sh->acked[pend[i] / KMSGS][pend[i] % KMSGS] = 1;
}

/*
 * Acks m (and all before it) and waits for a round trip behind the ACK:
 * 0 once the daemon has certainly processed it, else an error.
 */
static int
kack(chan_client *c, chan_rx *rx, const chan_msg *m)
{
	void *data;
	size_t len;
	int rc;

	if ((rc = chan_rx_ack(rx, m)) != 0 || (rc = chan_rx_flush(rx)) != 0)
		return rc;
	if ((rc = chan_client_info(c, "daemon", NULL, 0, 0, &data, &len)) != 0)
		return rc;
	free(data);
	return 0;
}

/*
 * Records one message received before the crash, P:N into *key as
 * P * KMSGS + N: 0, or -1 to stop.
 */
static int
kconsume_one(struct kshared *sh, const chan_msg *m, int *key)
{
	int p, n;

	if (kparse(m, &p, &n) != 0) {
		kviolation(sh, "garbage before the crash (%d %d)", -1, -1);
		return -1;
	}
	if (chan_msg_redelivered(m))
		kviolation(sh, "%d:%d marked redelivered before the crash",
		    p, n);
	if (n <= sh->pre_last[p])
		kviolation(sh, "%d:%d received out of order before the crash",
		    p, n);
	if (n >= sh->sent[p])
		kviolation(sh, "%d:%d received before it was sent", p, n);
	sh->pre[p][n]++;
	sh->pre_last[p] = n;
	sh->pre_count++;
	*key = p * KMSGS + n;
	return 0;
}

static int
kconsumer_main(void *arg)
{
	struct kproducer *k = arg;
	struct kshared *sh = k->sh;
	chan_client *c = NULL;
	chan_rx *rx = NULL;
	chan_msg *m;
	int pend[KACK_EVERY], npend = 0, rc;

	if (chan_connect(k->sock, &c) != 0 ||
	    open_rx(c, KCHAN, CHAN_DURABLE_YES, CHAN_MANUAL_ACK, &rx) != 0 ||
	    kready(k) != 0)
		return 1;
	for (;;) {
		rc = chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m);
		if (rc == CHAN_ECONNLOST)
			return 0;	/* the daemon was killed */
		if (rc != 0)
			return 2;
		if (kconsume_one(sh, m, &pend[npend++]) != 0) {
			chan_msg_free(m);
			return 3;
		}
		if (npend == KACK_EVERY) {
			rc = kack(c, rx, m);
			if (rc == 0)
				kconsumed(sh, pend, npend);
			npend = 0;
		}
		chan_msg_free(m);
		if (rc == CHAN_ECONNLOST)
			return 0;
	}
}

/*
 * Reads confirmations until every producer has closed the pipe, and
 * SIGKILLs the daemon once they pass KILL_AT. conf[p]: P's messages
 * below it are confirmed.
 */
static void
kcollect(struct daemon *d, int fd, int conf[KP])
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	long long deadline = now_ms() + 3 * HARNESS_WAIT_MS;
	int rec[2], total = 0, killed = 0, p;
	ssize_t n;

	for (;;) {
		ck_assert_msg(poll_until(&pfd, 1, deadline) == 1,
		    "producers still confirming after %d ms (%d confirmed)",
		    3 * HARNESS_WAIT_MS, total);
		n = read(fd, rec, sizeof rec);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_int_eq(n, sizeof rec);
		ck_assert(rec[0] >= 0 && rec[0] < KP && rec[1] <= KMSGS);
		ck_assert_msg(rec[1] >= conf[rec[0]], "confirmations of "
		    "producer %d went back from %d to %d", rec[0],
		    conf[rec[0]], rec[1]);
		conf[rec[0]] = rec[1];
		for (total = 0, p = 0; p < KP; p++)
			total += conf[p];
		if (!killed && total >= KILL_AT) {
			daemon_kill(d);
			killed = 1;
		}
	}
	ck_assert_msg(killed, "the producers finished before %d "
	    "confirmations (%d)", KILL_AT, total);
}

/* One message received after the restart. */
static void
kdrain_one(struct kshared *sh, const chan_msg *m, int first_last[KP])
{
	int p, n, flag = chan_msg_redelivered(m);

	ck_assert_msg(kparse(m, &p, &n) == 0, "garbage after the restart: "
	    "%zu bytes \"%.*s\"", chan_msg_len(m), (int)chan_msg_len(m),
	    (const char *)chan_msg_data(m));
	ck_assert_msg(n < sh->sent[p], "%d:%d delivered but never sent", p,
	    n);
	ck_assert_msg(sh->post[p][n] == 0, "%d:%d delivered twice after the "
	    "restart", p, n);
	sh->post[p][n]++;
	if (sh->pre[p][n] > 0) {
		ck_assert_msg(!sh->acked[p][n], "%d:%d was acked before the "
		    "crash and came back", p, n);
		ck_assert_msg(flag, "%d:%d was delivered before the crash "
		    "and came back without the redelivered mark", p, n);
		return;
	}
	ck_assert_msg(n > first_last[p], "%d:%d first delivered after "
	    "%d:%d", p, n, p, first_last[p]);
	first_last[p] = n;
}

static int
kaccounted(const struct kshared *sh, const int conf[KP])
{
	int p, n;

	for (p = 0; p < KP; p++)
		for (n = 0; n < conf[p]; n++)
			if (sh->pre[p][n] == 0 && sh->post[p][n] == 0)
				return 0;
	return 1;
}

static void
kdrain(struct daemon *d, struct kshared *sh, const int conf[KP])
{
	chan_client *c = test_connect(d);
	chan_rx *rx = drx_open(c, KCHAN, 0);
	int first_last[KP], p, rc, got = 0;
	chan_msg *m;

	for (p = 0; p < KP; p++)
		first_last[p] = sh->pre_last[p];
	while (!kaccounted(sh, conf)) {
		rc = chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m);
		ck_assert_msg(rc == 0, "after the restart, %d messages in: "
		    "%s; confirmed messages missing", got, chan_errname(rc));
		kdrain_one(sh, m, first_last);
		chan_msg_free(m);
		got++;
	}
	/* Whatever else survived (unconfirmed sends) obeys the same. */
	while ((rc = chan_rx_try_recv(rx, &m)) == 0) {
		kdrain_one(sh, m, first_last);
		chan_msg_free(m);
	}
	expect_rc(rc, CHAN_EDISCONNECTED, "last try_recv after the restart");
	chan_rx_close(rx);
	chan_disconnect(c);
}

START_TEST(test_kill9_loses_no_confirmed_message)
{
	const char *extra[] = { "--segment-size", "64K", NULL };
	struct kproducer kp[KP + 1];
	struct kshared *sh;
	struct dd x;
	pid_t pids[KP + 1];
	int pfd[2], ready[2], go[2], conf[KP] = { 0 }, p, n, acked = 0;
	int dups = 0;

	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(sh, MAP_FAILED);
	memset(sh, 0, sizeof *sh);
	for (p = 0; p < KP; p++)
		sh->pre_last[p] = -1;
	dd_init(&x, policies[_i], extra);
	dd_start(&x);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);

	/* Every end connects and opens before any producer sends. */
	kp[KP] = (struct kproducer){ sh, x.d.sock, -1, -1, ready[1], go[0] };
	pids[KP] = child_fork(kconsumer_main, &kp[KP]);
	for (p = 0; p < KP; p++) {
		kp[p] = (struct kproducer){ sh, x.d.sock, p, pfd[1], ready[1],
		    go[0] };
		pids[p] = child_fork(kproducer_main, &kp[p]);
	}
	close(pfd[1]);
	close(ready[1]);
	close(go[0]);
	for (p = 0; p <= KP; p++)
		ck_assert_int_eq(pipe_read_byte(ready[0]), 'R');
	close(ready[0]);
	for (p = 0; p <= KP; p++)
		ck_assert_int_eq(write(go[1], "G", 1), 1);
	close(go[1]);
	kcollect(&x.d, pfd[0], conf);
	close(pfd[0]);
	for (p = 0; p <= KP; p++)
		child_wait_ok(pids[p]);
	ck_assert_msg(sh->why[0] == '\0', "%s", sh->why);

	dd_start(&x);
	kdrain(&x.d, sh, conf);
	for (p = 0; p < KP; p++)
		for (n = 0; n < KMSGS; n++) {
			acked += sh->acked[p][n];
			dups += sh->pre[p][n] && sh->post[p][n];
		}
	fprintf(stderr, "durable kill -9, sync %s: %d/%d/%d confirmed, %d "
	    "received before the crash (%d acked), %d again after it\n",
	    policies[_i], conf[0], conf[1], conf[2], sh->pre_count, acked,
	    dups);
	dd_fini(&x);
	munmap(sh, sizeof *sh);
}
END_TEST

/* 2. Recovery from damaged logs. */

#define RCHAN		"logs"

/*
 * Writes n messages of size bytes to a durable channel of a daemon on x,
 * stops the daemon cleanly, and returns its channel's segments.
 */
static int
write_and_stop(struct dd *x, int n, size_t size, char **segs)
{
	char dir[PATH_MAX];
	chan_client *c;
	chan_tx *tx;

	dd_start(x);
	c = test_connect(&x->d);
	tx = dtx_open(c, RCHAN);
	send_payloads(tx, 0, n, size);
	expect_rc(chan_tx_close(tx), 0, "tx close");
	chan_disconnect(c);
	daemon_stop(&x->d);
	chan_dir(x->data, dir, sizeof dir);
	return segments(dir, segs);
}

/* The offset of message i's payload in the file's bytes, or -1. */
static off_t
find_payload(const char *buf, size_t len, int i)
{
	char key[16];
	const char *at;

	snprintf(key, sizeof key, "m-%06d-", i);
	at = memmem(buf, len, key, strlen(key));
	return at == NULL ? -1 : at - buf;
}

/*
 * Restarts the daemon on x after damage, and expects a log line of level
 * ("warning", "error") naming what (unless NULL).
 */
static void
recovered_start(struct dd *x, const char *level, const char *what)
{
	char *log, want[64];

	dd_start(x);
	log = daemon_log(&x->d);
	snprintf(want, sizeof want, "%s: ", level);
	expect_in(log, want);
	if (what != NULL)
		expect_in(log, what);
	free(log);
}

/*
 * Expects exactly messages [0, a) and [b, n) of size bytes on RCHAN, in
 * order and intact, then messages [more, more + nmore), then nothing.
 */
static void
expect_survivors(struct dd *x, int a, int b, int n, size_t size, int more,
    int nmore)
{
	chan_client *c;
	chan_rx *rx;
	int i;

	c = test_connect(&x->d);
	rx = drx_open(c, RCHAN, 0);
	for (i = 0; i < n; i++)
		if (i < a || i >= b)
			expect_payload(rx, i, size, 0);
	for (i = more; i < more + nmore; i++)
		expect_payload(rx, i, size, 0);
	expect_drained(rx);
	chan_rx_close(rx);
	chan_disconnect(c);
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

/*
 * The last segment cut in the middle of its last record: the messages
 * before it come back intact, the cut one does not, a warning names the
 * file; and the log takes new records after the cut.
 */
START_TEST(test_truncated_tail_is_cut_with_a_warning)
{
	char *segs[MAX_SEGS], *buf, *last;
	chan_client *c;
	chan_tx *tx;
	struct dd x;
	size_t len;
	off_t at;
	int nseg;

	dd_init(&x, "always", NULL);
	nseg = write_and_stop(&x, 20, 100, segs);
	ck_assert_int_ge(nseg, 1);
	last = segs[nseg - 1];
	buf = slurp(last, &len);
	at = find_payload(buf, len, 19);
	ck_assert_msg(at >= 0, "message 19 not in the last segment %s", last);
	free(buf);
	ck_assert_int_eq(truncate(last, at + 50), 0);

	recovered_start(&x, "warning", base_name(last));

	/* New records go after the cut, and the next start reads them. */
	c = test_connect(&x.d);
	tx = dtx_open(c, RCHAN);
	send_payloads(tx, 100, 2, 100);
	expect_rc(chan_tx_close(tx), 0, "tx close");
	chan_disconnect(c);
	daemon_stop(&x.d);
	dd_start(&x);
	expect_survivors(&x, 19, 20, 20, 100, 100, 2);
	segments_free(segs, nseg);
	dd_fini(&x);
}
END_TEST

/* A flipped byte in the last segment ends the log there. */
START_TEST(test_flipped_byte_in_last_segment_ends_the_log)
{
	char *segs[MAX_SEGS], *buf, *last;
	struct dd x;
	size_t len;
	off_t at;
	int nseg;

	dd_init(&x, "periodic", NULL);
	nseg = write_and_stop(&x, 50, 200, segs);
	last = segs[nseg - 1];
	buf = slurp(last, &len);
	at = find_payload(buf, len, 30);
	ck_assert_msg(at >= 0, "message 30 not in the last segment %s", last);
	free(buf);
	flip_byte(last, at + 100);

	recovered_start(&x, "warning", base_name(last));
	expect_survivors(&x, 30, 50, 50, 200, 0, 0);
	segments_free(segs, nseg);
	dd_fini(&x);
}
END_TEST

/*
 * A flipped byte in an earlier segment loses the rest of that segment
 * only, with an error: the next segments are read.
 */
START_TEST(test_flipped_byte_in_earlier_segment_loses_only_its_rest)
{
	const char *extra[] = { "--segment-size", "64K", NULL };
	char *segs[MAX_SEGS], *buf;
	struct dd x;
	size_t len;
	off_t at;
	int nseg, i, first = -1, last = -1, next = -1;

	dd_init(&x, "os", extra);
	nseg = write_and_stop(&x, 300, 1000, segs);
	ck_assert_msg(nseg >= 3, "%d segments for 300 KB at 64K each", nseg);
	/* The messages in segment 1, and the first one of segment 2. */
	buf = slurp(segs[1], &len);
	for (i = 0; i < 300; i++)
		if (find_payload(buf, len, i) >= 0) {
			if (first < 0)
				first = i;
			last = i;
		}
	ck_assert_msg(first >= 0 && last > first, "segment %s holds "
	    "messages %d to %d", segs[1], first, last);
	i = (first + last) / 2;
	at = find_payload(buf, len, i);
	free(buf);
	buf = slurp(segs[2], &len);
	for (next = last + 1; next < 300; next++)
		if (find_payload(buf, len, next) >= 0)
			break;
	free(buf);
	ck_assert_msg(next == last + 1, "segment %s does not start with "
	    "message %d", segs[2], last + 1);
	flip_byte(segs[1], at + 500);

	recovered_start(&x, "error", base_name(segs[1]));
	expect_survivors(&x, i, next, 300, 1000, 0, 0);
	segments_free(segs, nseg);
	dd_fini(&x);
}
END_TEST

/* 3. Disk full and file size limits. */

#define FCHAN		"jobs.big"
#define FSIZE		(16 * 1024)

/* Sends FSIZE-byte messages until one fails: returns how many went. */
static int
fill_until_disk(chan_tx *tx)
{
	char *buf = malloc(FSIZE);
	int i, rc = 0;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < 256; i++) {
		payload(buf, FSIZE, i);
		if ((rc = chan_tx_send(tx, buf, FSIZE)) != 0)
			break;
	}
	free(buf);
	expect_rc(rc, CHAN_EDISK, "send to a durable channel on a full disk");
	ck_assert_int_gt(i, 4);
	expect_in(chan_tx_errmsg(tx), FCHAN);
	expect_in(chan_tx_errmsg(tx), strerror(ENOSPC));
	return i;
}

static void
send_big_fails(chan_tx *tx)
{
	static char big[FSIZE];

	expect_rc(chan_tx_send(tx, big, sizeof big), CHAN_EDISK, "retry");
}

/* chan-send to a full durable channel: exit 13 and one line. */
static void
expect_cli_disk(const struct daemon *d)
{
	static char big[FSIZE];
	const char *argv[] = { CHAN_SEND_BIN, "--socket", d->sock, FCHAN,
	    big, NULL };
	struct cmd_result r;
	char *nl;

	memset(big, 'x', sizeof big - 1);
	run_cmd(argv, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 13, "chan-send on a full disk: exit %d, not "
	    "13; stderr: %s", r.code, r.err);
	nl = strchr(r.err, '\n');
	ck_assert_msg(nl != NULL && nl[1] == '\0', "chan-send on a full "
	    "disk: want one line on stderr, got:\n%s", r.err);
	expect_in(r.err, FCHAN);
	cmd_result_fini(&r);
}

/* Drains n FSIZE messages from FCHAN and releases the consumer. */
static void
drain_big(chan_client *c, int from, int n)
{
	chan_rx *rx = drx_open(c, FCHAN, 0);
	int i;

	for (i = from; i < from + n; i++)
		expect_payload(rx, i, FSIZE, 0);
	expect_empty(rx);
	expect_rc(chan_rx_close(rx), 0, "rx close");
}

/* A private tmpfs of 1 MiB on dir; 0, or -1 (skip) with why printed. */
static int
private_tmpfs(const char *dir)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIPPED: disk-full test needs root (a tmpfs "
		    "in a private mount namespace); CI runs it as root\n");
		return -1;
	}
	if (unshare(CLONE_NEWNS) < 0) {
		fprintf(stderr, "SKIPPED: disk-full test: unshare(CLONE_NEWNS):"
		    " %s\n", strerror(errno));
		return -1;
	}
	ck_assert_msg(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0,
	    "mount --make-rprivate /: %s", strerror(errno));
	ck_assert_msg(mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700") ==
	    0, "mount tmpfs on %s: %s", dir, strerror(errno));
	return 0;
}

/*
 * A durable channel on a full disk refuses sends with DISK (chan-send:
 * exit 13), the daemon serves everything else, and once the consumer has
 * drained the channel (its segments deleted) sends go through again.
 * The disk is a 1 MiB tmpfs in a mount namespace of this test's process
 * (Check forks each test).
 */
START_TEST(test_full_disk_refuses_durable_sends_only)
{
	const char *extra[] = { "--segment-size", "64K", NULL };
	chan_client *c;
	chan_tx *tx;
	struct dd x;
	int n;

	dd_init(&x, "always", extra);
	if (private_tmpfs(x.data) != 0) {
		remove_tree(x.data);
		return;
	}
	dd_start(&x);
	c = test_connect(&x.d);
	tx = dtx_open(c, FCHAN);
	n = fill_until_disk(tx);
	/* Nothing was queued and nothing freed: a retry fails the same way. */
	send_big_fails(tx);
	expect_cli_disk(&x.d);
	assert_serves(&x.d);

	drain_big(c, 0, n);
	send_payloads(tx, 1000, 8, FSIZE);
	drain_big(c, 1000, 8);
	expect_rc(chan_tx_close(tx), 0, "tx close");
	chan_disconnect(c);
	daemon_stop(&x.d);
	ck_assert_int_eq(umount(x.data), 0);
	dd_fini(&x);
}
END_TEST

#define LIMIT_BYTES	(256 * 1024)

/*
 * RLIMIT_FSIZE on the daemon (inherited through fork and exec; the
 * daemon ignores SIGXFSZ): a message bigger than the limit gets DISK and
 * is not queued; smaller ones go through.
 */
START_TEST(test_file_size_limit_refuses_only_bigger_messages)
{
	const char *extra[] = { "--max-msg-size", "1M", NULL };
	struct rlimit old, lim;
	size_t big = LIMIT_BYTES + 64 * 1024;
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	struct dd x;
	char *buf;
	int i;

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert(old.rlim_max == RLIM_INFINITY || old.rlim_max > big);
	lim = old;
	lim.rlim_cur = LIMIT_BYTES;
	dd_init(&x, "always", extra);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	dd_start(&x);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);

	c = test_connect(&x.d);
	tx = dtx_open(c, FCHAN);
	buf = malloc(big);
	ck_assert_ptr_nonnull(buf);
	payload(buf, big, 999);
	expect_rc(chan_tx_send(tx, buf, big), CHAN_EDISK,
	    "send bigger than RLIMIT_FSIZE");
	expect_in(chan_tx_errmsg(tx), FCHAN);
	expect_in(chan_tx_errmsg(tx), strerror(EFBIG));
	free(buf);
	send_payloads(tx, 0, 20, 4096);
	assert_serves(&x.d);
	rx = drx_open(c, FCHAN, 0);
	for (i = 0; i < 20; i++)
		expect_payload(rx, i, 4096, 0);
	expect_empty(rx);
	chan_rx_close(rx);
	chan_tx_close(tx);
	chan_disconnect(c);
	dd_fini(&x);
}
END_TEST

/* 4. Disk use follows the backlog. */

/*
 * With 64K segments, a backlog of 400 KB takes several segment files,
 * more as it grows; consumed and acked, all but the active one are
 * deleted; once the channel is forgotten its directory goes too.
 */
START_TEST(test_disk_use_follows_the_backlog)
{
	const char *extra[] = { "--segment-size", "64K", NULL };
	char dir[PATH_MAX];
	chan_client *c, *c2;
	chan_tx *tx;
	chan_rx *rx;
	struct dd x;
	long long bytes;
	int i, nseg, prev = 0;

	dd_init(&x, "periodic", extra);
	dd_start(&x);
	c = test_connect(&x.d);
	tx = dtx_open(c, "backlog");
	chan_dir(x.data, dir, sizeof dir);
	for (i = 0; i < 8; i++) {
		send_payloads(tx, i * 50, 50, 1000);
		nseg = count_segments(dir);
		ck_assert_msg(nseg >= prev, "segments went from %d to %d "
		    "while the backlog grew", prev, nseg);
		prev = nseg;
	}
	ck_assert_msg(prev >= 5, "400 KB in %d segments of 64K", prev);
	bytes = field_num(&x.d, "backlog", "log_bytes");
	ck_assert_msg(bytes >= 400 * 1000, "log_bytes %lld for 400 KB", bytes);
	expect_field(&x.d, "backlog", "durable", "true");

	c2 = test_connect(&x.d);
	rx = drx_open(c2, "backlog", 0);
	for (i = 0; i < 400; i++)
		expect_payload(rx, i, 1000, 0);
	expect_empty(rx);	/* a round trip: the acks are processed */
	nseg = count_segments(dir);
	ck_assert_msg(nseg <= 1, "%d segments left once all is acked", nseg);
	bytes = field_num(&x.d, "backlog", "log_bytes");
	ck_assert_msg(bytes < 2 * 64 * 1024, "log_bytes %lld once all is "
	    "acked", bytes);

	expect_rc(chan_rx_close(rx), 0, "rx close");
	expect_rc(chan_tx_close(tx), 0, "tx close");
	assert_serves(&x.d);	/* a round trip after the closes */
	ck_assert_msg(access(dir, F_OK) < 0 && errno == ENOENT,
	    "%s still there once the channel is forgotten", dir);
	chan_disconnect(c2);
	chan_disconnect(c);
	dd_fini(&x);
}
END_TEST

/*
 * Segments acknowledged while they were active outlive a crash: the ACK
 * drops only earlier segments. Ten messages fill part of the first
 * segment and are consumed (a round trip: the ACK is written); a message
 * bigger than a segment then goes to a new one, with no consumer open.
 * After kill -9 the first file is still there; the restart removes it at
 * once, and only the big message comes back, never delivered before.
 */
START_TEST(test_acked_segments_go_at_recovery)
{
	const char *extra[] = { "--segment-size", "64K", NULL };
	const size_t big = 70 * 1024;
	char dir[PATH_MAX], *segs[MAX_SEGS];
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	struct dd x;
	int i, n;

	dd_init(&x, "always", extra);
	dd_start(&x);
	c = test_connect(&x.d);
	tx = dtx_open(c, "acked");
	chan_dir(x.data, dir, sizeof dir);
	send_payloads(tx, 0, 10, 1000);
	rx = drx_open(c, "acked", 0);
	for (i = 0; i < 10; i++)
		expect_payload(rx, i, 1000, 0);
	expect_empty(rx);	/* a round trip: the ACK is written */
	expect_rc(chan_rx_close(rx), 0, "rx close");	/* none in flight */
	ck_assert_int_eq(count_segments(dir), 1);
	send_payloads(tx, 10, 1, big);
	daemon_kill(&x.d);
	chan_disconnect(c);
	n = segments(dir, segs);
	ck_assert_msg(n >= 2, "%d segments after a message bigger than one",
	    n);

	dd_start(&x);
	ck_assert_msg(access(segs[0], F_OK) < 0 && errno == ENOENT,
	    "%s, all acknowledged, still there after the restart", segs[0]);
	ck_assert_msg(count_segments(dir) == n - 1, "%d segments after the "
	    "restart, want %d", count_segments(dir), n - 1);
	segments_free(segs, n);
	c = test_connect(&x.d);
	rx = drx_open(c, "acked", 0);
	expect_payload(rx, 10, big, 0);
	expect_drained(rx);
	chan_rx_close(rx);
	chan_disconnect(c);
	dd_fini(&x);
}
END_TEST

/*
 * The shutdown reads in order in the daemon's log: the signal, the logs
 * synced and closed, and "stopped" last.
 */
START_TEST(test_shutdown_log_reads_in_order)
{
	chan_client *c;
	chan_tx *tx;
	char *log, *sig, *closed, *stopped;
	struct dd x;

	dd_init(&x, "periodic", NULL);
	dd_start(&x);
	c = test_connect(&x.d);
	tx = dtx_open(c, "order");
	send_payloads(tx, 0, 3, 64);
	chan_disconnect(c);
	log = daemon_stop_log(&x.d);
	sig = strstr(log, "received SIGTERM, stopping\n");
	closed = strstr(log, "durable channels: 1 logs synced and closed\n");
	stopped = strstr(log, "chand: info: stopped\n");
	ck_assert_msg(sig != NULL && closed != NULL && stopped != NULL &&
	    sig < closed && closed < stopped &&
	    stopped[strlen("chand: info: stopped\n")] == '\0',
	    "shutdown out of order:\n%s", log);
	free(log);
	dd_fini(&x);
}
END_TEST

/* 5. The redelivered mark survives a restart. */

/*
 * Ten messages; a manual-ack consumer takes five and acks two (a round
 * trip behind the ack), then the daemon stops (SIGTERM, or SIGKILL). After
 * the restart the delivered-unacked ones (as many as the daemon showed in
 * flight) come back marked redelivered, the rest unmarked, the acked ones
 * never. Runs 2 and 3 again with the consumer on a ring (CHAN_SHM): its
 * deliveries are in memory, their DELIVERED records on disk all the same.
 */
START_TEST(test_unacked_deliveries_come_back_redelivered)
{
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	chan_msg *m, *second = NULL;
	struct dd x;
	long long inflight;
	int i;

	dd_init(&x, "always", NULL);
	dd_start(&x);
	c = test_connect(&x.d);
	tx = dtx_open(c, "redo");
	send_payloads(tx, 0, 10, 64);
	rx = drx_open(c, "redo", CHAN_MANUAL_ACK | (_i >= 2 ? CHAN_SHM : 0));
	for (i = 0; i < 5; i++) {
		m = recv_msg(rx);
		if (i == 1)
			second = m;
		else
			chan_msg_free(m);
	}
	expect_rc(kack(c, rx, second), 0, "ack and a round trip");
	chan_msg_free(second);
	if (_i >= 2) {
		/* The five came through the consumer's ring. */
		unsigned char *ring = NULL;
		uint64_t sent;

		ck_assert_int_eq(own_ring_maps(0, &ring, NULL), 1);
		memcpy(&sent, ring + SHMRING_OFF_SENT, sizeof(sent));
		ck_assert_uint_ge(sent, 5);
	}
	inflight = field_num(&x.d, "redo", "in_flight");
	ck_assert_msg(inflight >= 3 && inflight <= 8, "in flight: %lld",
	    inflight);
	if (_i % 2 == 0) {
		chan_disconnect(c);
		daemon_stop(&x.d);
	} else {
		daemon_kill(&x.d);
		chan_disconnect(c);
	}

	dd_start(&x);
	c = test_connect(&x.d);
	rx = drx_open(c, "redo", 0);
	for (i = 2; i < 10; i++)
		expect_payload(rx, i, 64, i < 2 + inflight);
	expect_drained(rx);
	chan_rx_close(rx);
	chan_disconnect(c);
	dd_fini(&x);
}
END_TEST

/*
 * A message sent marked redelivered (chan_tx_send_redelivered) on a
 * durable channel: delivered marked, and marked again after a restart
 * (kill -9). The log records the mark as a delivery, so the messages
 * queued before it come back marked too; those after it do not.
 */
START_TEST(test_a_message_sent_marked_stays_marked_after_a_restart)
{
	chan_client *c;
	chan_tx *tx;
	chan_rx *rx;
	struct dd x;
	char buf[32];

	dd_init(&x, "always", NULL);
	dd_start(&x);
	c = test_connect(&x.d);
	tx = dtx_open(c, "marks");
	send_payloads(tx, 0, 2, sizeof(buf));
	payload(buf, sizeof(buf), 2);
	expect_rc(chan_tx_send_redelivered(tx, buf, sizeof(buf)), 0,
	    "durable marked send");
	send_payloads(tx, 3, 1, sizeof(buf));
	/* Before a restart, only the marked one is marked. */
	tx = dtx_open(c, "marks2");
	send_payloads(tx, 4, 1, sizeof(buf));
	payload(buf, sizeof(buf), 5);
	expect_rc(chan_tx_send_redelivered(tx, buf, sizeof(buf)), 0,
	    "durable marked send");
	rx = drx_open(c, "marks2", 0);
	expect_payload(rx, 4, sizeof(buf), 0);
	expect_payload(rx, 5, sizeof(buf), 1);
	chan_rx_close(rx);
	daemon_kill(&x.d);
	chan_disconnect(c);

	dd_start(&x);
	c = test_connect(&x.d);
	rx = drx_open(c, "marks", 0);
	/* Queued before the marked one: marked too. */
	expect_payload(rx, 0, sizeof(buf), 1);
	expect_payload(rx, 1, sizeof(buf), 1);
	expect_payload(rx, 2, sizeof(buf), 1);
	expect_payload(rx, 3, sizeof(buf), 0);
	expect_drained(rx);
	chan_rx_close(rx);
	chan_disconnect(c);
	dd_fini(&x);
}
END_TEST

/* 6. Settings. */

/* The open of name stating durable fails with CAPACITY, explained. */
static void
expect_conflict(chan_client *c, const char *name, int durable)
{
	chan_tx *tx = NULL;
	chan_rx *rx = NULL;

	expect_rc(open_tx(c, name, durable, &tx), CHAN_ECAPACITY,
	    "tx open stating the other durability");
	expect_in(chan_client_errmsg(c), name);
	expect_in(chan_client_errmsg(c), "durable");
	expect_rc(open_rx(c, name, durable, 0, &rx), CHAN_ECAPACITY,
	    "rx open stating the other durability");
}

/*
 * An open that states the other durability than the channel's gets
 * CAPACITY naming the channel, both ways; one that states nothing takes
 * the channel as it is.
 */
START_TEST(test_stated_durability_must_match_the_channel)
{
	chan_client *c;
	chan_tx *mem = NULL, *dur, *any = NULL;
	struct dd x;

	dd_init(&x, "always", NULL);
	dd_start(&x);
	c = test_connect(&x.d);
	expect_rc(open_tx(c, "mem", CHAN_DURABLE_NO, &mem), 0, "open mem");
	dur = dtx_open(c, "dur");
	expect_field(&x.d, "mem", "durable", "false");
	expect_field(&x.d, "dur", "durable", "true");
	expect_conflict(c, "mem", CHAN_DURABLE_YES);
	expect_conflict(c, "dur", CHAN_DURABLE_NO);
	expect_rc(open_tx(c, "mem", CHAN_DURABLE_DEFAULT, &any), 0,
	    "open mem stating nothing");
	chan_tx_close(any);
	expect_rc(open_tx(c, "dur", CHAN_DURABLE_DEFAULT, &any), 0,
	    "open dur stating nothing");
	chan_tx_close(any);
	chan_tx_close(mem);
	chan_tx_close(dur);
	chan_disconnect(c);
	dd_fini(&x);
}
END_TEST

/* --durable patterns decide for channels opened without a statement. */
START_TEST(test_durable_patterns_choose_channels)
{
	const char *extra[] = { "--durable", "orders.* audit", NULL };
	const char *names[] = { "orders.eu", "orders.", "audit", "other",
	    "audit.x", "xorders.eu" };
	const char *want[] = { "true", "true", "true", "false", "false",
	    "false" };
	chan_tx *tx[6];
	chan_client *c;
	struct dd x;
	size_t i;

	dd_init(&x, "os", extra);
	dd_start(&x);
	c = test_connect(&x.d);
	for (i = 0; i < 6; i++)
		tx[i] = tx_open(c, names[i]);
	for (i = 0; i < 6; i++)
		expect_field(&x.d, names[i], "durable", want[i]);
	ck_assert_int_eq(count_subdirs(x.data, NULL, 0), 3);
	/* A statement wins over the patterns. */
	expect_conflict(c, "orders.eu", CHAN_DURABLE_NO);
	for (i = 0; i < 6; i++)
		chan_tx_close(tx[i]);
	chan_disconnect(c);
	dd_fini(&x);
}
END_TEST

/* Without --data-dir a durable open is refused with DISK. */
START_TEST(test_no_data_dir_refuses_durable_opens)
{
	struct daemon d;
	chan_client *c;
	chan_tx *tx = NULL;
	chan_rx *rx = NULL;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	expect_rc(open_tx(c, "d", CHAN_DURABLE_YES, &tx), CHAN_EDISK,
	    "durable tx open without --data-dir");
	ck_assert_msg(chan_client_errmsg(c)[0] != '\0', "no explanation");
	expect_rc(open_rx(c, "d", CHAN_DURABLE_YES, 0, &rx), CHAN_EDISK,
	    "durable rx open without --data-dir");
	assert_serves(&d);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * The capacity of a durable channel is in its log: after a restart the
 * channel has it, and an open stating another gets CAPACITY.
 */
START_TEST(test_capacity_survives_a_restart)
{
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;
	chan_client *c;
	chan_tx *tx = NULL;
	chan_rx *rx;
	struct dd x;

	dd_init(&x, "always", NULL);
	dd_start(&x);
	c = test_connect(&x.d);
	opts.durable = CHAN_DURABLE_YES;
	opts.capacity = 5;
	expect_rc(chan_tx_open_ex(c, "capped", 6, &opts, &tx), 0, "open");
	send_payloads(tx, 0, 3, 32);
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&x.d);

	dd_start(&x);
	expect_field(&x.d, "capped", "capacity", "5");
	expect_field(&x.d, "capped", "durable", "true");
	c = test_connect(&x.d);
	opts.capacity = 6;
	expect_rc(chan_tx_open_ex(c, "capped", 6, &opts, &tx), CHAN_ECAPACITY,
	    "open stating another capacity after the restart");
	opts.capacity = 5;
	expect_rc(chan_tx_open_ex(c, "capped", 6, &opts, &tx), 0,
	    "open stating the same capacity after the restart");
	rx = drx_open(c, "capped", 0);
	expect_payload(rx, 0, 32, 0);
	expect_payload(rx, 1, 32, 0);
	expect_payload(rx, 2, 32, 0);
	expect_empty(rx);
	chan_rx_close(rx);
	chan_tx_close(tx);
	chan_disconnect(c);
	dd_fini(&x);
}
END_TEST

/*
 * The CLIs: chan-send --durable creates a durable channel whose messages
 * chan-recv gets after a restart; --no-durable on it exits 10.
 */
START_TEST(test_cli_durable_messages_survive_a_restart)
{
	const char *send[] = { CHAN_SEND_BIN, "--durable", "cli", "one",
	    "two", NULL };
	const char *nodur[] = { CHAN_SEND_BIN, "--no-durable", "cli", "x",
	    NULL };
	const char *recv[] = { CHAN_RECV_BIN, "-n", "cli", NULL };
	struct cmd_result r;
	struct dd x;

	dd_init(&x, "always", NULL);
	dd_start(&x);
	run_cmd(send, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 0, "chan-send --durable: exit %d: %s", r.code,
	    r.err);
	cmd_result_fini(&r);
	daemon_stop(&x.d);

	dd_start(&x);	/* sets CHAND_SOCKET for the CLIs */
	run_cmd(nodur, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 10, "chan-send --no-durable on a durable "
	    "channel: exit %d, not 10: %s", r.code, r.err);
	cmd_result_fini(&r);
	run_cmd(recv, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 0 && strcmp(r.out, "one\n") == 0,
	    "chan-recv after the restart: exit %d, out \"%s\": %s", r.code,
	    r.out, r.err);
	cmd_result_fini(&r);
	run_cmd(recv, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 0 && strcmp(r.out, "two\n") == 0,
	    "second chan-recv: exit %d, out \"%s\": %s", r.code, r.out, r.err);
	cmd_result_fini(&r);
	dd_fini(&x);
}
END_TEST

static Suite *
durable_suite(void)
{
	Suite *s = suite_create("e2e_durable");
	TCase *tc;

	tc = tcase_create("crash");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_kill9_loses_no_confirmed_message, 0, 3);
	tcase_add_loop_test(tc, test_unacked_deliveries_come_back_redelivered,
	    0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("recovery");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_truncated_tail_is_cut_with_a_warning);
	tcase_add_test(tc, test_flipped_byte_in_last_segment_ends_the_log);
	tcase_add_test(tc,
	    test_flipped_byte_in_earlier_segment_loses_only_its_rest);
	suite_add_tcase(s, tc);

	tc = tcase_create("disk");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_full_disk_refuses_durable_sends_only);
	tcase_add_test(tc, test_file_size_limit_refuses_only_bigger_messages);
	tcase_add_test(tc, test_disk_use_follows_the_backlog);
	tcase_add_test(tc, test_acked_segments_go_at_recovery);
	tcase_add_test(tc, test_shutdown_log_reads_in_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("settings");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stated_durability_must_match_the_channel);
	tcase_add_test(tc, test_durable_patterns_choose_channels);
	tcase_add_test(tc, test_no_data_dir_refuses_durable_opens);
	tcase_add_test(tc, test_capacity_survives_a_restart);
	tcase_add_test(tc,
	    test_a_message_sent_marked_stays_marked_after_a_restart);
	tcase_add_test(tc, test_cli_durable_messages_survive_a_restart);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(durable_suite());
}

/* SPDX-License-Identifier: MIT */
/*
 * e2e_util.c: assertions and small helpers shared by the end-to-end tests
 * (see e2e_util.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"

/* Library calls. */

void
expect_rc(int rc, int want, const char *what)
{
	ck_assert_msg(rc == want, "%s: got %s (%d), want %s (%d)", what,
	    chan_errname(rc), rc, chan_errname(want), want);
}

chan_tx *
tx_open(chan_client *c, const char *name)
{
	chan_tx *tx = NULL;
	int rc;

	rc = chan_tx_open(c, name, &tx);
	ck_assert_msg(rc == 0, "chan_tx_open %s: %s (%s)", name,
	    chan_errname(rc), chan_client_errmsg(c));
	return tx;
}

chan_tx *
tx_open_opts(chan_client *c, const char *name, const chan_open_opts *o)
{
	chan_tx *tx = NULL;
	int rc;

	rc = chan_tx_open_ex(c, name, strlen(name), o, &tx);
	ck_assert_msg(rc == 0, "chan_tx_open_ex %s: %s (%s)", name,
	    chan_errname(rc), chan_client_errmsg(c));
	return tx;
}

void
send_str(chan_tx *tx, const char *s)
{
	expect_rc(chan_tx_send(tx, s, strlen(s)), 0, s);
}

chan_msg *
recv_msg(chan_rx *rx)
{
	chan_msg *m = NULL;
	int rc;

	rc = chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m);
	ck_assert_msg(rc == 0, "recv: %s (%s)", chan_errname(rc),
	    chan_rx_errmsg(rx));
	ck_assert_ptr_nonnull(m);
	return m;
}

chan_rx *
rx_open(chan_client *c, const char *name, unsigned prefetch)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_rx *rx = NULL;
	int rc;

	o.prefetch = prefetch;
	rc = chan_rx_open_ex(c, name, strlen(name), &o, &rx);
	ck_assert_msg(rc == 0, "chan_rx_open %s: %s (%s)", name,
	    chan_errname(rc), chan_client_errmsg(c));
	return rx;
}

/* m must be exactly data[0..len); frees it. */
static void
expect_is(chan_msg *m, const void *data, size_t len)
{
	ck_assert_msg(chan_msg_len(m) == len && (len == 0 ||
	    memcmp(chan_msg_data(m), data, len) == 0),
	    "got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"",
	    chan_msg_len(m), (int)chan_msg_len(m),
	    (const char *)chan_msg_data(m), len, (int)len,
	    (const char *)data);
	chan_msg_free(m);
}

void
expect_msg(chan_rx *rx, const void *data, size_t len)
{
	expect_is(recv_msg(rx), data, len);
}

void
expect_str(chan_rx *rx, const char *s)
{
	expect_msg(rx, s, strlen(s));
}

/* A receive's result rc (message m) that must be the error want. */
static void
expect_no_msg(int rc, chan_msg *m, int want, const char *what)
{
	if (rc == 0) {
		ck_abort_msg("%s: got a message \"%.*s\", want %s", what,
		    (int)chan_msg_len(m), (const char *)chan_msg_data(m),
		    chan_errname(want));
	}
	expect_rc(rc, want, what);
}

void
expect_recv_rc(chan_rx *rx, int want)
{
	chan_msg *m = NULL;
	int rc;

	rc = chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m);
	expect_no_msg(rc, m, want, "recv");
}

void
expect_try_str(chan_rx *rx, const char *s)
{
	chan_msg *m = NULL;
	int rc;

	rc = chan_rx_try_recv(rx, &m);
	ck_assert_msg(rc == 0, "try_recv for \"%s\": %s", s,
	    chan_errname(rc));
	expect_is(m, s, strlen(s));
}

void
expect_try_rc(chan_rx *rx, int want)
{
	chan_msg *m = NULL;
	int rc;

	rc = chan_rx_try_recv(rx, &m);
	expect_no_msg(rc, m, want, "try_recv");
}

void
assert_serves_at(const char *sock)
{
	static unsigned n;
	chan_client *c = NULL;
	char name[32];
	chan_tx *tx;
	chan_rx *rx;
	chan_msg *m;
	int rc;

	rc = chan_connect(sock, &c);
	ck_assert_msg(rc == 0, "chan_connect %s: %s", sock, chan_errname(rc));
	/* A channel of its own: nothing an earlier check left can answer. */
	snprintf(name, sizeof name, "health-%u", n++);
	ck_assert_int_eq(chan_tx_open(c, name, &tx), 0);
	ck_assert_int_eq(chan_tx_send(tx, "ok", 2), 0);
	ck_assert_int_eq(chan_rx_open(c, name, &rx), 0);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0);
	ck_assert_uint_eq(chan_msg_len(m), 2);
	ck_assert_int_eq(memcmp(chan_msg_data(m), "ok", 2), 0);
	chan_msg_free(m);
	chan_rx_close(rx);
	chan_tx_close(tx);
	chan_disconnect(c);
}

int
own_ring_maps(size_t maplen, unsigned char **map, size_t *len)
{
	char		 line[512];
	unsigned long	 lo, hi;
	FILE		*f = fopen("/proc/self/maps", "r");
	int		 n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "chand-ring") == NULL)
			continue;
		ck_assert_int_eq(sscanf(line, "%lx-%lx", &lo, &hi), 2);
		if (maplen != 0 && hi - lo != maplen)
			continue;
		if (map != NULL)
			*map = (unsigned char *)lo;
		if (len != NULL)
			*len = hi - lo;
		n++;
	}
	fclose(f);
	return (n);
}

void
assert_serves(const struct daemon *d)
{
	assert_serves_at(d->sock);
}

/* Check fixtures. */

struct daemon	fixture;

void
fixture_setup(void)
{
	daemon_start(&fixture, NULL);
}

void
fixture_setup_args(const char *const *args)
{
	daemon_start(&fixture, args);
}

void
fixture_teardown(void)
{
	daemon_stop(&fixture);
}

/* The CLIs. */

void
cli_run(const char *const argv[], const void *in, size_t in_len,
    struct cmd_result *r)
{
	run_cmd(argv, in, in_len, 3 * HARNESS_WAIT_MS, r);
}

void
assert_one_line(const char *err, size_t err_len, const char *what)
{
	const char *nl;
	int one;

	nl = strchr(err, '\n');
	one = nl != NULL && nl[1] == '\0' && err_len > 1;
	if (!one)
		harness_show_long("stderr", err);
	ck_assert_msg(one, "stderr is not exactly one line: \"%.1500s\"",
	    err);
	ck_assert_msg(strlen(err) == err_len, "NUL byte on stderr");
	if (what != NULL)
		ck_assert_msg(strstr(err, what) != NULL,
		    "stderr does not name \"%s\": %.1500s", what, err);
}

void
assert_exit_code(int got, int want, const char *err)
{
	if (got != want)
		harness_show_long("stderr", err);
	ck_assert_msg(got == want, "exit %d, want %d; stderr: %.1500s", got,
	    want, err);
}

void
assert_fails_with(const struct cmd_result *r, int code, const char *what)
{
	assert_exit_code(r->code, code, r->err);
	assert_one_line(r->err, r->err_len, what);
}

void
assert_ok(const struct cmd_result *r)
{
	assert_exit_code(r->code, 0, r->err);
}

char *
numbered_lines(int n, size_t *len)
{
	char *buf;
	size_t off = 0, cap = (size_t)n * 12 + 1;
	int i;

	buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (i = 1; i <= n; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%d\n", i);
	*len = off;
	return buf;
}

char *
chanctl(const struct daemon *d, int want, const char *const *args)
{
	const char *argv[16] = { CHANCTL_BIN, "--socket", d->sock };
	struct cmd_result r;
	size_t n = 3;
	char *out;

	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	cli_run(argv, NULL, 0, &r);
	ck_assert_msg(r.code == want, "chanctl %s: exit %d, not %d; stderr: "
	    "%s", argv[3] != NULL ? argv[3] : "", r.code, want, r.err);
	ck_assert_msg(want != 0 || r.err_len == 0, "chanctl wrote to stderr: "
	    "%s", r.err);
	out = r.out;
	r.out = NULL;
	cmd_result_fini(&r);
	return out;
}

void
expect_in(const char *text, const char *want)
{
	ck_assert_msg(text != NULL && strstr(text, want) != NULL,
	    "missing '%s' in:\n%.2000s", want, text != NULL ? text :
	    "(null)");
}

/* Forked children. */

pid_t
child_fork(child_fn fn, void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int
child_wait(pid_t pid)
{
	struct proc p = { pid, -1, -1, -1 };

	return proc_wait(&p, 3 * HARNESS_WAIT_MS);
}

void
child_wait_ok(pid_t pid)
{
	int code = child_wait(pid);

	ck_assert_msg(code == 0, "child %d exited with %d", (int)pid, code);
}

char
pipe_read_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	ck_assert_msg(poll_until(&pfd, 1, now_ms() + HARNESS_WAIT_MS) == 1,
	    "no word from the child within %d ms", HARNESS_WAIT_MS);
	ck_assert_msg(read(fd, &c, 1) == 1, "child closed its pipe early");
	return c;
}

void
process_when_readable(chan_client *c)
{
	struct pollfd pfd = { .fd = chan_client_fd(c), .events = POLLIN };

	if (chan_client_want_write(c))
		pfd.events |= POLLOUT;
	ck_assert_int_eq(poll_until(&pfd, 1, now_ms() + HARNESS_WAIT_MS), 1);
	expect_rc(chan_client_process(c), 0, "chan_client_process");
}

/* Paths and sockets. */

void
make_dir(char *dir, size_t len)
{
	char tmpl[] = "/tmp/chand-e2e-XXXXXX";

	ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp: %s", strerror(errno));
	ck_assert_uint_gt(len, strlen(tmpl));
	snprintf(dir, len, "%s", tmpl);
}

/* shared_copy's directory, its maker, and the copies made so far. */
#define SHARED_COPIES	8
static char	 shared_dir[PATH_MAX];
static pid_t	 shared_maker;
static struct {
	char	*from;
	char	*to;
} shared_copies[SHARED_COPIES];

static void
shared_cleanup(void)
{
	/* Not in a forked child that exits: the copies are the maker's. */
	if (shared_maker == getpid())
		remove_tree(shared_dir);
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	char	buf[65536];
	ssize_t	n;
	int	in, out;

	in = open(from, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in >= 0, "open %s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	ck_assert_msg(out >= 0, "create %s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_msg(n > 0, "read %s: %s", from, strerror(errno));
		ck_assert_msg(write(out, buf, (size_t)n) == n, "write %s: %s",
		    to, strerror(errno));
	}
	ck_assert_int_eq(fchmod(out, mode), 0);
	close(in);
	ck_assert_msg(close(out) == 0, "close %s: %s", to, strerror(errno));
}

const char *
shared_copy(const char *path)
{
	char	to[PATH_MAX], base[PATH_MAX];
	size_t	i;

	if (shared_maker != getpid()) {
		/* A fork of the maker starts afresh. */
		memset(shared_copies, 0, sizeof shared_copies);
		make_dir(shared_dir, sizeof shared_dir);
		ck_assert_msg(chmod(shared_dir, 0711) == 0, "chmod %s: %s",
		    shared_dir, strerror(errno));
		if (shared_maker == 0)
			atexit(shared_cleanup);
		shared_maker = getpid();
	}
	for (i = 0; i < SHARED_COPIES && shared_copies[i].from != NULL; i++) {
		if (strcmp(shared_copies[i].from, path) == 0)
			return (shared_copies[i].to);
	}
	ck_assert_msg(i < SHARED_COPIES, "shared_copy: more than %d programs",
	    SHARED_COPIES);
	snprintf(base, sizeof base, "%s", path);
	path_join(to, sizeof to, shared_dir, basename(base));
	copy_file(path, to, 0755);
	shared_copies[i].from = strdup(path);
	shared_copies[i].to = strdup(to);
	ck_assert(shared_copies[i].from != NULL && shared_copies[i].to != NULL);
	return (shared_copies[i].to);
}

static int
remove_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

void
remove_tree(const char *dir)
{
	(void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	ck_assert_msg(n > 0 && (size_t)n < len, "path too long: %s/%s", dir,
	    name);
}

int
listen_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ck_assert_msg(strlen(path) < sizeof sun.sun_path,
	    "socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	ck_assert_msg(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "bind %s: %s", path, strerror(errno));
	ck_assert_msg(listen(fd, 4) == 0, "listen: %s", strerror(errno));
	return fd;
}

/* A chand of the test's own. */

void
own_daemon_init(struct own_daemon *od)
{
	memset(od, 0, sizeof *od);
	make_dir(od->dir, sizeof od->dir);
	path_join(od->sock, sizeof od->sock, od->dir, "chand.sock");
}

void
own_daemon_start(struct own_daemon *od)
{
	const char *argv[] = { CHAND_BIN, "--socket", od->sock,
	    "--ready-fd", "1", NULL };
	char line[64];
	ssize_t n;

	proc_spawn(&od->p, argv);
	n = proc_read_line(&od->p, line, sizeof line, HARNESS_WAIT_MS);
	ck_assert_msg(n >= 0, "chand exited before READY");
	ck_assert_str_eq(line, "READY");
}

void
own_daemon_cleanup(struct own_daemon *od)
{
	unlink(od->sock);
	rmdir(od->dir);
}

/* Usage text. */

int
mentions_option(const char *text, const char *lng, char shrt)
{
	const char *s;
	size_t n;

	if (lng != NULL && strstr(text, lng) != NULL)
		return 1;
	for (s = strchr(text, '-'); s != NULL; s = strchr(s + 1, '-')) {
		if (s != text && strchr(" \t\n[|(,", s[-1]) == NULL)
			continue;
		n = strspn(s + 1, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
		if (shrt != '\0' && memchr(s + 1, shrt, n) != NULL)
			return 1;
	}
	return 0;
}

int
e2e_shm_path(void)
{
	const char *v = getenv("CHANCLIENT_SHM");

	return v != NULL && strcmp(v, "1") == 0;
}

int
e2e_direct_path(void)
{
	const char *v = getenv("CHANCLIENT_DIRECT");

	return e2e_shm_path() && (v == NULL || strcmp(v, "0") != 0);
}

static void *
async_sender_main(void *arg)
{
	struct async_sender *s = arg;
	char buf[64];
	int i;

	for (i = s->first; i < s->first + s->count && s->rc == 0; i++) {
		snprintf(buf, sizeof(buf), "%s%d", s->prefix, i);
		s->rc = chan_tx_send_async(s->tx, buf, strlen(buf));
	}
	if (s->rc == 0)
		s->rc = chan_tx_flush(s->tx);
	return NULL;
}

void
async_sender_start(struct async_sender *s, chan_tx *tx, const char *prefix,
    int first, int count)
{
	*s = (struct async_sender){ .tx = tx, .prefix = prefix,
	    .first = first, .count = count };
	ck_assert_int_eq(pthread_create(&s->thread, NULL, async_sender_main,
	    s), 0);
}

int
async_sender_join(struct async_sender *s)
{
	ck_assert_int_eq(pthread_join(s->thread, NULL), 0);
	return s->rc;
}

static void *
send_thread_main(void *arg)
{
	struct send_thread *s = arg;

	s->rc = chan_tx_send(s->tx, s->msg, strlen(s->msg));
	if (write(s->done[1], "x", 1) != 1)
		s->rc = CHAN_ESYS;
	return NULL;
}

void
send_thread_start(struct send_thread *s, chan_tx *tx, const char *msg)
{
	*s = (struct send_thread){ .tx = tx, .msg = msg, .rc = 1 };
	ck_assert_int_eq(pipe(s->done), 0);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, send_thread_main,
	    s), 0);
}

int
send_thread_wait(struct send_thread *s, int ms)
{
	struct pollfd pfd = { .fd = s->done[0], .events = POLLIN };

	return poll_until(&pfd, 1, now_ms() + ms);
}

int
send_thread_join(struct send_thread *s)
{
	ck_assert_int_eq(pthread_join(s->thread, NULL), 0);
	close(s->done[0]);
	close(s->done[1]);
	return s->rc;
}

int
own_direct_maps(void)
{
	char	 line[512];
	FILE	*f = fopen("/proc/self/maps", "r");
	int	 n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "chand-ring") != NULL &&
		    strstr(line, " r--s ") != NULL)
			n++;
	fclose(f);
	return (n);
}

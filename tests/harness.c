/* SPDX-License-Identifier: MIT */
/*
 * harness.c: end-to-end test helpers (see harness.h).
 *
 * Everything here waits with poll() against a deadline: on pipes for
 * readiness and child output, on pidfds for process exit, on sockets for
 * frames. Nothing sleeps. A helper that cannot do its job fails the
 * current test with ck_abort_msg().
 *
 * A failed test must neither leak its daemon nor hide the daemon's log.
 * The daemon dies with the test's process (PR_SET_PDEATHSIG). Its log is
 * printed by whoever notices first: an atexit handler covers a process
 * that ends with exit(); but Check's fork mode ends a failed test with
 * _exit() and a timed-out one with SIGKILL to its process group, which
 * skip atexit, so each daemon also has a guardian: a small forked process
 * in its own process group that holds the read end of a pipe from the
 * test. daemon_stop() tells it "stopped"; end of file without that means
 * the test's process died, and the guardian kills the daemon, prints its
 * log and removes its directory.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proto.h"

#define READY_FD	3	/* fd number chand gets for --ready-fd */
#define MAX_DAEMONS	16	/* daemons alive at once in one process */
#define RAW_HELLO_CAP	4096

/*
 * Daemons started by this process and not yet stopped. Copies, not
 * pointers: the caller's struct daemon may live on a stack that a failed
 * assertion has already left.
 */
struct live_daemon {
	pid_t	pid;
	pid_t	owner;			/* process that started it */
	int	guard_fd;		/* write end, guardian's pipe */
	char	log[PATH_MAX];
};

static struct live_daemon	live[MAX_DAEMONS];
static int			atexit_registered;

static void	print_log_file(const char *path, pid_t pid);
static void	remove_dir(const char *dir);

long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline, never negative, for poll(). */
static int
ms_left(long long deadline)
{
	long long left = deadline - now_ms();

	if (left < 0)
		return 0;
	if (left > 0x7fffffff)
		return 0x7fffffff;
	return (int)left;
}

int
poll_until(struct pollfd *pfd, nfds_t n, long long deadline)
{
	int rc;

	for (;;) {
		rc = poll(pfd, n, ms_left(deadline));
		if (rc >= 0 || errno != EINTR)
			return rc;
	}
}

static int
pidfd_open_pid(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * Waits at most until deadline for child pid to exit and reaps it.
 * Returns 0 with *status set, or -1 on timeout (the child is not reaped).
 * A pidfd lets poll() wait for the exit; kernels without one fall back to
 * short polls of waitpid(WNOHANG).
 */
static int
wait_child(pid_t pid, long long deadline, int *status)
{
	struct pollfd pfd;
	pid_t r;
	int fd;

	fd = pidfd_open_pid(pid);
	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			ck_abort_msg("waitpid %d: %s", (int)pid,
			    strerror(errno));
		if (ms_left(deadline) == 0) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if (fd >= 0) {
			pfd.fd = fd;
			pfd.events = POLLIN;
			poll_until(&pfd, 1, deadline);
		} else
			poll(NULL, 0, 5);
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* Exit code of a wait status: the code, or 128 + signal. */
static int
status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/*
 * Common set-up of every child before exec: die with the test, default
 * SIGPIPE (ignored dispositions survive exec and the harness ignores it)
 * and no blocked signals.
 */
static void
child_prepare(pid_t parent)
{
	sigset_t set;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
}

/* Closes every fd from lowfd up, so tests' fds do not leak into children. */
static void
close_from(int lowfd)
{
	long max, fd;

	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	for (fd = lowfd; fd < max; fd++)
		close((int)fd);
}

/* Daemons. */

/* Tells a guardian that its daemon was dealt with, and lets it go. */
static void
guard_release(int *fd)
{
	if (*fd < 0)
		return;
	(void)!write(*fd, "S", 1);
	close(*fd);
	*fd = -1;
}

static void
close_except(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		syscall(SYS_close_range, 3U, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1, 0);
	syscall(SYS_close_range, (unsigned)hi + 1, ~0U, 0);
}

/* The guardian's life: see the comment at the top of this file. */
static void
guard_run(int rfd, pid_t dpid, const char *log, const char *dir)
{
	struct pollfd pfd;
	ssize_t n;
	char c;
	int pidfd;

	setpgid(0, 0);	/* Check kills a timed-out test's whole group */
	pidfd = pidfd_open_pid(dpid);
	close_except(rfd, pidfd);
	while ((n = read(rfd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1)
		_exit(0);
	if (pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		pfd.fd = pidfd;
		pfd.events = POLLIN;
		poll_until(&pfd, 1, now_ms() + HARNESS_WAIT_MS);
	}
	fprintf(stderr, "harness: test process ended with chand %d still "
	    "running (failed or timed out?); killed it\n", (int)dpid);
	print_log_file(log, dpid);
	remove_dir(dir);
	_exit(0);
}

static int
guard_start(const struct daemon *d)
{
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		ck_abort_msg("pipe2: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) < 0)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[1]);
		guard_run(pfd[0], d->pid, d->log, d->dir);
	}
	close(pfd[0]);
	return pfd[1];
}

static void
live_kill_all(void)
{
	int i, status;

	for (i = 0; i < MAX_DAEMONS; i++) {
		if (live[i].pid <= 0 || live[i].owner != getpid())
			continue;
		kill(live[i].pid, SIGKILL);
		while (waitpid(live[i].pid, &status, 0) < 0 && errno == EINTR)
			;
		fprintf(stderr, "harness: test ended with chand %d still "
		    "running; killed it\n", (int)live[i].pid);
		print_log_file(live[i].log, live[i].pid);
		guard_release(&live[i].guard_fd);
		live[i].pid = 0;
	}
}

static void
live_add(const struct daemon *d)
{
	int i;

	if (!atexit_registered) {
		atexit(live_kill_all);
		atexit_registered = 1;
	}
	for (i = 0; i < MAX_DAEMONS; i++) {
		if (live[i].pid > 0 && live[i].owner == getpid())
			continue;
		live[i].pid = d->pid;
		live[i].owner = getpid();
		live[i].guard_fd = guard_start(d);
		snprintf(live[i].log, sizeof live[i].log, "%s", d->log);
		return;
	}
	kill(d->pid, SIGKILL);
	ck_abort_msg("harness: more than %d daemons at once", MAX_DAEMONS);
}

static void
live_remove(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_DAEMONS; i++) {
		if (live[i].pid != pid || live[i].owner != getpid())
			continue;
		guard_release(&live[i].guard_fd);
		live[i].pid = 0;
	}
}

static char *
read_file(const char *path)
{
	FILE *f;
	char *buf;
	size_t len = 0, cap = 4096, n;

	if ((buf = malloc(cap)) == NULL)
		ck_abort_msg("out of memory");
	if ((f = fopen(path, "r")) == NULL) {
		buf[0] = '\0';
		return buf;
	}
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			char *nb = realloc(buf, cap * 2);

			if (nb == NULL) {
				fclose(f);
				free(buf);
				ck_abort_msg("out of memory");
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static void
print_log_file(const char *path, pid_t pid)
{
	char *text = read_file(path);

	fprintf(stderr, "---- chand %d log (%s) ----\n%s---- end of log ----\n",
	    (int)pid, path, text);
	free(text);
}

char *
daemon_log(const struct daemon *d)
{
	return read_file(d->log);
}

/*
 * With CHAND_TEST_VALGRIND set (scripts/valgrind.sh), the daemon runs
 * under memcheck: any error, or a leak found when it exits, makes its exit
 * code VALGRIND_EXIT, which daemon_stop reports with the log (valgrind
 * writes to the daemon's stderr, that is, its log).
 */
#define VALGRIND_EXIT	99
static const char *const valgrind_argv[] = {
	"valgrind", "--tool=memcheck", "-q", "--error-exitcode=99",
	"--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
	"--errors-for-leak-kinds=definite,indirect,possible",
	"--track-fds=no", "--child-silent-after-fork=yes",
	/* A small quarantine of freed blocks, as for ASan in the RSS tests. */
	"--freelist-vol=1000000",
};
#define VALGRIND_ARGC	(sizeof valgrind_argv / sizeof valgrind_argv[0])

int
harness_under_valgrind(void)
{
	const char *v = getenv("CHAND_TEST_VALGRIND");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

int
harness_wait_ms(void)
{
	return harness_under_valgrind() ? 60000 : 20000;
}

/*
 * Builds chand's argv: binary, socket, ready fd, then extra_args; behind
 * valgrind's own arguments when harness_under_valgrind().
 */
static char **
daemon_argv(const struct daemon *d, const char *const *extra_args)
{
	static char ready[16];
	size_t n = 0, i, v = harness_under_valgrind() ? VALGRIND_ARGC : 0;
	char **argv;

	while (extra_args != NULL && extra_args[n] != NULL)
		n++;
	if ((argv = calloc(v + n + 6, sizeof *argv)) == NULL)
		return NULL;
	for (i = 0; i < v; i++)
		argv[i] = (char *)valgrind_argv[i];
	snprintf(ready, sizeof ready, "%d", READY_FD);
	argv[v + 0] = (char *)CHAND_BIN;
	argv[v + 1] = (char *)"--socket";
	argv[v + 2] = (char *)d->sock;
	argv[v + 3] = (char *)"--ready-fd";
	argv[v + 4] = ready;
	for (i = 0; i < n; i++)
		argv[v + 5 + i] = (char *)extra_args[i];
	return argv;
}

static void
daemon_exec(int ready_w, int log_fd, char **argv, pid_t parent)
{
	int null_fd;

	child_prepare(parent);
	if ((null_fd = open("/dev/null", O_RDONLY)) < 0 ||
	    dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 ||
	    dup2(log_fd, 2) < 0)
		_exit(127);
	/* dup2 onto the same number keeps FD_CLOEXEC, so clear it. */
	if (ready_w == READY_FD) {
		if (fcntl(READY_FD, F_SETFD, 0) < 0)
			_exit(127);
	} else if (dup2(ready_w, READY_FD) < 0)
		_exit(127);
	close_from(READY_FD + 1);
	if (strchr(argv[0], '/') == NULL)
		execvp(argv[0], argv);
	else
		execv(argv[0], argv);
	dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Fails the test with the log of a daemon that did not come up. */
static void
daemon_start_failed(struct daemon *d, const char *why)
{
	int status, code = -1;

	kill(d->pid, SIGKILL);
	if (wait_child(d->pid, now_ms() + HARNESS_WAIT_MS, &status) == 0)
		code = status_code(status);
	live_remove(d->pid);
	print_log_file(d->log, d->pid);
	ck_abort_msg("chand did not start (%s; exit code %d); log in %s",
	    why, code, d->log);
}

/* Waits for "READY\n" on fd. Returns NULL or why it did not come. */
static const char *
daemon_wait_ready(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	char buf[16];
	size_t len = 0;
	ssize_t n;

	while (len < 6) {
		if (poll_until(&pfd, 1, deadline) == 0)
			return "timed out waiting for READY";
		n = read(fd, buf + len, sizeof buf - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return "exited or closed --ready-fd before READY";
		len += (size_t)n;
	}
	if (memcmp(buf, "READY\n", 6) != 0)
		return "wrote something other than READY";
	return NULL;
}

void
daemon_start(struct daemon *d, const char *const *extra_args)
{
	int pfd[2], log_fd;
	const char *why;
	char **argv, dir[] = "/tmp/chand-e2e-XXXXXX";
	pid_t parent = getpid();

	/* Short paths: a socket path must fit in sun_path (108 bytes). */
	memset(d, 0, sizeof *d);
	if (mkdtemp(dir) == NULL)
		ck_abort_msg("mkdtemp: %s", strerror(errno));
	snprintf(d->dir, sizeof d->dir, "%s", dir);
	snprintf(d->sock, sizeof d->sock, "%s/chand.sock", dir);
	snprintf(d->log, sizeof d->log, "%s/chand.log", dir);

	if ((argv = daemon_argv(d, extra_args)) == NULL)
		ck_abort_msg("out of memory");
	log_fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log_fd < 0)
		ck_abort_msg("open %s: %s", d->log, strerror(errno));
	if (pipe2(pfd, O_CLOEXEC) < 0)
		ck_abort_msg("pipe2: %s", strerror(errno));

	fflush(NULL);
	if ((d->pid = fork()) < 0)
		ck_abort_msg("fork: %s", strerror(errno));
	if (d->pid == 0)
		daemon_exec(pfd[1], log_fd, argv, parent);

	free(argv);
	close(pfd[1]);
	close(log_fd);
	live_add(d);
	why = daemon_wait_ready(pfd[0]);
	close(pfd[0]);
	if (why != NULL)
		daemon_start_failed(d, why);
	if (setenv("CHAND_SOCKET", d->sock, 1) < 0)
		ck_abort_msg("setenv: %s", strerror(errno));
}

/* Removes dir and the files in it (the daemon makes no subdirectories). */
static void
remove_dir(const char *dir)
{
	char path[PATH_MAX * 2];
	struct dirent *de;
	DIR *dp;

	if ((dp = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(dp);
	rmdir(dir);
}

void
daemon_stop(struct daemon *d)
{
	free(daemon_stop_log(d));
}

char *
daemon_stop_log(struct daemon *d)
{
	char *log;
	int status;

	ck_assert_msg(d->pid > 0, "daemon_stop: no daemon");
	if (kill(d->pid, SIGTERM) < 0)
		ck_abort_msg("kill chand %d: %s", (int)d->pid, strerror(errno));
	if (wait_child(d->pid, now_ms() + HARNESS_WAIT_MS, &status) < 0) {
		kill(d->pid, SIGKILL);
		wait_child(d->pid, now_ms() + HARNESS_WAIT_MS, &status);
		live_remove(d->pid);
		print_log_file(d->log, d->pid);
		ck_abort_msg("chand %d did not exit within %d ms of SIGTERM",
		    (int)d->pid, HARNESS_WAIT_MS);
	}
	live_remove(d->pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_log_file(d->log, d->pid);
		ck_abort_msg("chand %d exited with code %d after SIGTERM, "
		    "not 0%s", (int)d->pid, status_code(status),
		    harness_under_valgrind() &&
		    status_code(status) == VALGRIND_EXIT ? " (valgrind found "
		    "errors or leaks: see the log)" : "");
	}
	d->pid = 0;
	log = daemon_log(d);
	remove_dir(d->dir);
	return log;
}

void
daemon_kill(struct daemon *d)
{
	int status;

	ck_assert_msg(d->pid > 0, "daemon_kill: no daemon");
	if (kill(d->pid, SIGKILL) < 0)
		ck_abort_msg("kill chand %d: %s", (int)d->pid, strerror(errno));
	if (wait_child(d->pid, now_ms() + HARNESS_WAIT_MS, &status) < 0)
		ck_abort_msg("chand %d still running %d ms after SIGKILL",
		    (int)d->pid, HARNESS_WAIT_MS);
	live_remove(d->pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "chand %d ended with code %d before SIGKILL reached it",
	    (int)d->pid, status_code(status));
	d->pid = 0;
	remove_dir(d->dir);
}

long
daemon_rss_kib(const struct daemon *d)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)d->pid);
	if ((f = fopen(path, "r")) == NULL)
		ck_abort_msg("open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	}
	fclose(f);
	ck_assert_msg(kib >= 0, "no VmRSS in %s", path);
	return kib;
}

int
daemon_ring_maps(const struct daemon *d)
{
	char path[64], line[512];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)d->pid);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, "chand-ring") != NULL)
			n++;
	}
	fclose(f);
	return n;
}

int
daemon_fd_count(const struct daemon *d)
{
	char path[64];
	struct dirent *de;
	DIR *dp;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)d->pid);
	if ((dp = opendir(path)) == NULL)
		ck_abort_msg("open %s: %s", path, strerror(errno));
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(dp);
	return n;
}

chan_client *
test_connect(const struct daemon *d)
{
	chan_client *c = NULL;
	int rc;

	rc = chan_connect(d->sock, &c);
	ck_assert_msg(rc == 0, "chan_connect %s: %s (%s)", d->sock,
	    chan_errname(rc), chan_strerror(rc));
	return c;
}

/* Child processes. */

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		ck_abort_msg("fcntl: %s", strerror(errno));
}

void
proc_spawn(struct proc *p, const char *const argv[])
{
	int in[2], out[2], err[2];
	pid_t parent = getpid();

	/* Writes to a child that exited must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(err, O_CLOEXEC) < 0)
		ck_abort_msg("pipe2: %s", strerror(errno));
	fflush(NULL);
	if ((p->pid = fork()) < 0)
		ck_abort_msg("fork: %s", strerror(errno));
	if (p->pid == 0) {
		child_prepare(parent);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0)
			_exit(127);
		close_from(3);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->err_fd = err[0];
	set_nonblock(p->in_fd);
	set_nonblock(p->out_fd);
	set_nonblock(p->err_fd);
}

void
proc_write(struct proc *p, const void *buf, size_t len)
{
	struct pollfd pfd = { .fd = p->in_fd, .events = POLLOUT };
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	const char *b = buf;
	ssize_t n;

	ck_assert_msg(p->in_fd >= 0, "proc_write: stdin already closed");
	while (len > 0) {
		n = write(p->in_fd, b, len);
		if (n > 0) {
			b += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			ck_abort_msg("write to child %d: %s", (int)p->pid,
			    strerror(errno));
		if (poll_until(&pfd, 1, deadline) == 0)
			ck_abort_msg("child %d did not read its stdin within "
			    "%d ms", (int)p->pid, HARNESS_WAIT_MS);
	}
}

void
proc_close_stdin(struct proc *p)
{
	if (p->in_fd >= 0)
		close(p->in_fd);
	p->in_fd = -1;
}

ssize_t
proc_read_line(struct proc *p, char *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
	long long deadline = now_ms() + timeout_ms;
	size_t n = 0;
	ssize_t r;
	char c;

	/*
	 * One byte at a time: slow but stateless, so nothing after the
	 * line is taken from the pipe and lost to the next reader.
	 */
	for (;;) {
		r = read(p->out_fd, &c, 1);
		if (r == 1) {
			if (c == '\n')
				break;
			if (n + 1 >= len)
				ck_abort_msg("proc_read_line: line longer than "
				    "%zu bytes", len);
			buf[n++] = c;
			continue;
		}
		if (r == 0) {
			if (n == 0)
				return -1;
			break;
		}
		if (errno != EAGAIN && errno != EINTR)
			ck_abort_msg("read from child %d: %s", (int)p->pid,
			    strerror(errno));
		if (poll_until(&pfd, 1, deadline) == 0) {
			buf[n] = '\0';
			ck_abort_msg("no full line from child %d within %d ms "
			    "(got \"%s\")", (int)p->pid, timeout_ms, buf);
		}
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

static void
drain_fd(int *fd)
{
	char buf[4096];
	ssize_t n;

	if (*fd < 0)
		return;
	while ((n = read(*fd, buf, sizeof buf)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
}

static void
proc_close_all(struct proc *p)
{
	proc_close_stdin(p);
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->err_fd >= 0)
		close(p->err_fd);
	p->out_fd = p->err_fd = -1;
}

int
proc_wait(struct proc *p, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	struct pollfd pfd[2];
	int status;

	/*
	 * Output nobody reads any more is drained while waiting, so a child
	 * blocked on a full pipe still gets to exit.
	 */
	proc_close_stdin(p);
	while (p->out_fd >= 0 || p->err_fd >= 0) {
		pfd[0].fd = p->out_fd;
		pfd[1].fd = p->err_fd;
		pfd[0].events = pfd[1].events = POLLIN;
		if (poll_until(pfd, 2, deadline) == 0)
			break;
		drain_fd(&p->out_fd);
		drain_fd(&p->err_fd);
	}
	if (wait_child(p->pid, deadline, &status) < 0) {
		kill(p->pid, SIGKILL);
		wait_child(p->pid, now_ms() + HARNESS_WAIT_MS, &status);
		proc_close_all(p);
		ck_abort_msg("child %d still running after %d ms; killed it",
		    (int)p->pid, timeout_ms);
	}
	proc_close_all(p);
	return status_code(status);
}

void
proc_kill(struct proc *p, int sig)
{
	if (kill(p->pid, sig) < 0)
		ck_abort_msg("kill %d: %s", (int)p->pid, strerror(errno));
}

/* run_cmd */

struct grow {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

/* Reads what fd has into g; closes fd (-1) at end of file. */
static void
grow_read(struct grow *g, int *fd)
{
	ssize_t n;

	for (;;) {
		if (g->cap - g->len < 4096) {
			size_t cap = g->cap * 2 + 8192;
			char *nd = realloc(g->data, cap);

			if (nd == NULL)
				ck_abort_msg("out of memory");
			g->data = nd;
			g->cap = cap;
		}
		n = read(*fd, g->data + g->len, g->cap - g->len - 1);
		if (n > 0) {
			g->len += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		close(*fd);
		*fd = -1;
		return;
	}
}

char *
proc_read_err(struct proc *p, size_t *len, int timeout_ms)
{
	struct pollfd pfd = { .fd = p->err_fd, .events = POLLIN };
	long long deadline = now_ms() + timeout_ms;
	struct grow err = { 0 };

	while (p->err_fd >= 0) {
		if (poll_until(&pfd, 1, deadline) == 0) {
			free(err.data);
			ck_abort_msg("child %d did not close its stderr within "
			    "%d ms", (int)p->pid, timeout_ms);
		}
		grow_read(&err, &p->err_fd);
	}
	if (err.data == NULL && (err.data = calloc(1, 1)) == NULL)
		ck_abort_msg("out of memory");
	err.data[err.len] = '\0';
	if (len != NULL)
		*len = err.len;
	return err.data;
}

/* Writes what the pipe takes of in; closes it when done or broken. */
static void
feed_stdin(struct proc *p, const char *in, size_t in_len, size_t *off)
{
	ssize_t n;

	while (*off < in_len) {
		n = write(p->in_fd, in + *off, in_len - *off);
		if (n > 0) {
			*off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EPIPE: the child stopped reading; that is its business. */
		break;
	}
	proc_close_stdin(p);
}

void
run_cmd(const char *const argv[], const void *in, size_t in_len,
    int timeout_ms, struct cmd_result *r)
{
	long long deadline = now_ms() + timeout_ms;
	struct grow out = { 0 }, err = { 0 };
	struct pollfd pfd[3];
	struct proc p;
	size_t off = 0;
	int status;

	memset(r, 0, sizeof *r);
	proc_spawn(&p, argv);
	feed_stdin(&p, in, in_len, &off);
	while (p.out_fd >= 0 || p.err_fd >= 0) {
		pfd[0].fd = p.in_fd;
		pfd[0].events = POLLOUT;
		pfd[1].fd = p.out_fd;
		pfd[2].fd = p.err_fd;
		pfd[1].events = pfd[2].events = POLLIN;
		if (poll_until(pfd, 3, deadline) == 0)
			break;
		if (p.in_fd >= 0 && pfd[0].revents != 0)
			feed_stdin(&p, in, in_len, &off);
		if (p.out_fd >= 0 && pfd[1].revents != 0)
			grow_read(&out, &p.out_fd);
		if (p.err_fd >= 0 && pfd[2].revents != 0)
			grow_read(&err, &p.err_fd);
	}
	if (wait_child(p.pid, deadline, &status) < 0) {
		kill(p.pid, SIGKILL);
		wait_child(p.pid, now_ms() + HARNESS_WAIT_MS, &status);
		proc_close_all(&p);
		ck_abort_msg("%s ran longer than %d ms; killed it (stderr so "
		    "far: %.*s)", argv[0], timeout_ms, (int)err.len,
		    err.data != NULL ? err.data : "");
	}
	proc_close_all(&p);
	r->code = status_code(status);
	r->out = out.data != NULL ? out.data : calloc(1, 1);
	r->err = err.data != NULL ? err.data : calloc(1, 1);
	if (r->out == NULL || r->err == NULL)
		ck_abort_msg("out of memory");
	r->out[out.len] = '\0';
	r->err[err.len] = '\0';
	r->out_len = out.len;
	r->err_len = err.len;
}

void
cmd_result_fini(struct cmd_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}

/* Raw protocol access. */

int
raw_connect(const struct daemon *d)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ck_assert_msg(strlen(d->sock) < sizeof sun.sun_path,
	    "socket path too long: %s", d->sock);
	strcpy(sun.sun_path, d->sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		ck_abort_msg("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
		ck_abort_msg("connect %s: %s", d->sock, strerror(errno));
	return fd;
}

void
raw_hello(int fd)
{
	struct proto_decoder *dec;
	struct proto_buf b;
	struct proto_msg m;
	char *body;
	ssize_t n;
	int rc;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_hello(&b, 1, "harness"), 0);
	raw_write(fd, b.data, b.len);
	proto_buf_fini(&b);

	if ((body = malloc(RAW_HELLO_CAP)) == NULL)
		ck_abort_msg("out of memory");
	n = raw_read_frame(fd, body, RAW_HELLO_CAP, HARNESS_WAIT_MS);
	ck_assert_msg(n >= 0, "daemon closed the connection after HELLO");
	if ((dec = proto_decoder_new(PROTO_DEFAULT_MAX_MSG)) == NULL)
		ck_abort_msg("out of memory");
	rc = proto_decode(dec, body, (size_t)n, &m);
	ck_assert_msg(rc == 0, "WELCOME does not decode: %s",
	    chan_errname(rc));
	ck_assert_msg(m.op == PROTO_WELCOME, "HELLO answered with %s",
	    proto_op_name((int)m.op));
	ck_assert_uint_eq(m.rid, 1);
	ck_assert_uint_eq(m.version, PROTO_VERSION);
	proto_decoder_free(dec);
	free(body);
}

/*
 * Writes all of buf, waiting at most HARNESS_WAIT_MS for room. If the
 * daemon has closed the connection (EPIPE, ECONNRESET) the rest is
 * dropped silently: abuse tests provoke exactly that, and see the close
 * in raw_read_frame.
 */
void
raw_write(int fd, const void *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	const char *b = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			b += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			ck_abort_msg("send: %s", strerror(errno));
		if (poll_until(&pfd, 1, deadline) == 0)
			ck_abort_msg("daemon did not read within %d ms",
			    HARNESS_WAIT_MS);
	}
}

void
raw_write_frame(int fd, const void *body, size_t len)
{
	unsigned char hdr[PROTO_HEADER_LEN];

	hdr[0] = (unsigned char)(len >> 24);
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
	raw_write(fd, hdr, sizeof hdr);
	raw_write(fd, body, len);
}

/*
 * Reads exactly len bytes. Returns len, 0 on end of file before the first
 * byte, or -1 on end of file (or reset) after it.
 */
static ssize_t
raw_read_full(int fd, void *buf, size_t len, long long deadline,
    int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char *b = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		if (poll_until(&pfd, 1, deadline) == 0)
			ck_abort_msg("no frame from the daemon within %d ms",
			    timeout_ms);
		n = recv(fd, b + got, len - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0 && errno != ECONNRESET)
			ck_abort_msg("recv: %s", strerror(errno));
		return got == 0 ? 0 : -1;
	}
	return (ssize_t)len;
}

ssize_t
raw_read_frame(int fd, void *buf, size_t cap, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	unsigned char hdr[PROTO_HEADER_LEN];
	uint32_t len;
	ssize_t n;

	n = raw_read_full(fd, hdr, sizeof hdr, deadline, timeout_ms);
	if (n == 0)
		return -1;
	ck_assert_msg(n > 0, "connection closed inside a frame header");
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	ck_assert_msg(len <= cap, "frame of %u bytes, buffer holds %zu",
	    len, cap);
	if (len == 0)
		return 0;
	n = raw_read_full(fd, buf, len, deadline, timeout_ms);
	ck_assert_msg(n == (ssize_t)len,
	    "connection closed inside a frame body");
	return (ssize_t)len;
}

void
raw_conn_open(struct raw_conn *rc, const struct daemon *d, int hello,
    size_t cap)
{
	rc->fd = raw_connect(d);
	rc->cap = cap;
	rc->dec = proto_decoder_new(PROTO_DEFAULT_MAX_MSG);
	rc->body = malloc(cap);
	ck_assert_ptr_nonnull(rc->dec);
	ck_assert_ptr_nonnull(rc->body);
	if (hello)
		raw_hello(rc->fd);
}

void
raw_conn_close(struct raw_conn *rc)
{
	if (rc->fd >= 0)
		close(rc->fd);
	rc->fd = -1;
	proto_decoder_free(rc->dec);
	rc->dec = NULL;
	free(rc->body);
	rc->body = NULL;
}

void
raw_send(struct raw_conn *rc, const struct proto_buf *b)
{
	raw_write(rc->fd, b->data, b->len);
}

int
raw_recv(struct raw_conn *rc, struct proto_msg *m, int timeout_ms)
{
	ssize_t n;
	int err;

	n = raw_read_frame(rc->fd, rc->body, rc->cap, timeout_ms);
	if (n < 0)
		return -1;
	/* Failure messages print fields the frame's op may not set. */
	memset(m, 0, sizeof(*m));
	err = proto_decode(rc->dec, rc->body, (size_t)n, m);
	ck_assert_msg(err == 0, "daemon frame does not decode: %s",
	    chan_errname(err));
	return 0;
}

void
raw_expect(struct raw_conn *rc, struct proto_msg *m)
{
	ck_assert_msg(raw_recv(rc, m, HARNESS_WAIT_MS) == 0,
	    "daemon closed the connection");
}

void
raw_expect_ok(struct raw_conn *rc, uint32_t rid)
{
	struct proto_msg m;

	raw_expect(rc, &m);
	ck_assert_msg(m.op == PROTO_OK && m.rid == rid,
	    "got %s rid %u code %u \"%.*s\", wanted OK rid %u",
	    proto_op_name((int)m.op), m.rid, m.code, (int)m.text_len,
	    m.text != NULL ? m.text : "", rid);
}

void
raw_expect_error(struct raw_conn *rc, uint32_t rid, uint32_t code)
{
	struct proto_msg m;

	raw_expect(rc, &m);
	ck_assert_msg(m.op == PROTO_ERROR, "got %s, wanted ERROR %u",
	    proto_op_name((int)m.op), code);
	ck_assert_msg(m.rid == rid && m.code == code,
	    "got ERROR(rid %u, code %u \"%.*s\"), wanted ERROR(rid %u, "
	    "code %u)", m.rid, m.code, (int)m.text_len,
	    m.text != NULL ? m.text : "", rid, code);
}

void
raw_expect_closed(struct raw_conn *rc)
{
	struct proto_msg m;

	ck_assert_msg(raw_recv(rc, &m, HARNESS_WAIT_MS) < 0,
	    "connection still open: got %s", proto_op_name((int)m.op));
}

void
raw_send_ping(struct raw_conn *rc, uint32_t rid)
{
	struct proto_buf b;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_ping(&b, rid), 0);
	raw_send(rc, &b);
	proto_buf_fini(&b);
}

void
raw_ping(struct raw_conn *rc, uint32_t rid)
{
	raw_send_ping(rc, rid);
	raw_expect_ok(rc, rid);
}

uint32_t
raw_open_end(struct raw_conn *rc, int op, uint32_t rid, const char *name)
{
	struct proto_buf b;
	struct proto_msg m;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_open(&b, (enum proto_op)op, rid, name,
	    strlen(name)), 0);
	raw_send(rc, &b);
	proto_buf_fini(&b);
	raw_expect(rc, &m);
	ck_assert_msg(m.op == PROTO_HANDLE && m.rid == rid,
	    "open %s: got %s code %u", name, proto_op_name((int)m.op),
	    m.code);
	return m.handle;
}

void
raw_ack(struct raw_conn *rc, uint32_t rid, uint32_t h, uint64_t seq)
{
	struct proto_buf b;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_ack(&b, rid, h, seq), 0);
	raw_send(rc, &b);
	proto_buf_fini(&b);
}

void
raw_credit(struct raw_conn *rc, uint32_t rid, uint32_t h, uint32_t n)
{
	struct proto_buf b;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_credit(&b, rid, h, n), 0);
	raw_send(rc, &b);
	proto_buf_fini(&b);
}

void
harness_show_long(const char *what, const char *text)
{
	size_t len = text != NULL ? strlen(text) : 0;

	if (len > HARNESS_MSG_CLIP)
		fprintf(stderr, "---- %s (%zu bytes) ----\n%s\n---- end ----\n",
		    what, len, text);
}

int
harness_main(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* SPDX-License-Identifier: MIT */
/*
 * harness.h: helpers for end-to-end tests against a real chand.
 *
 * Every daemon a test starts lives in its own temporary directory with a
 * private socket, signals readiness on a pipe (chand --ready-fd), and is
 * stopped by pid. Waits are bounded: a broken build fails, never hangs.
 * Failures abort the current Check test (ck_abort_msg); when a test fails
 * while a daemon is running, the daemon is killed and its log printed
 * (an atexit handler in the test's forked process, and a guardian process
 * per daemon for the _exit() and SIGKILL by which Check ends failed and
 * timed-out tests; see harness.c). The assertions the tests share, built
 * on these, are in e2e_util.h.
 */
#ifndef CHAND_TESTS_HARNESS_H
#define CHAND_TESTS_HARNESS_H

#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>

#include "chanclient.h"

/*
 * Default bound on any single wait: 20 s, three times that when the daemon
 * runs under valgrind (CHAND_TEST_VALGRIND), which slows it tenfold.
 */
#define HARNESS_WAIT_MS	(harness_wait_ms())
int	harness_wait_ms(void);
/*
 * Check refuses a failure message over 4 KiB ("Message string too long"),
 * and a larger limit makes it allocate that much for every message it
 * passes, passing or not. A failure that quotes a child's stderr (which
 * may be a sanitizer report) quotes its first HARNESS_MSG_CLIP bytes
 * ("%.1500s") and first shows the whole text with harness_show_long.
 */
#define HARNESS_MSG_CLIP	1500
void	harness_show_long(const char *what, const char *text);
/*
 * True when CHAND_TEST_VALGRIND asks for daemon_start to run chand under
 * valgrind memcheck (scripts/valgrind.sh); a test that cannot hold there
 * (valgrind takes descriptors of its own) is then left out.
 */
int	harness_under_valgrind(void);

struct daemon {
	pid_t	pid;
	char	dir[PATH_MAX];		/* private temporary directory */
	char	sock[PATH_MAX];		/* dir/chand.sock */
	char	log[PATH_MAX];		/* dir/chand.log: daemon stderr */
};

/*
 * Starts chand on d->sock with optional extra arguments (NULL-terminated,
 * may be NULL) and waits until it reports readiness. Also sets
 * CHAND_SOCKET in this process's environment to d->sock, so that children
 * (CLIs) find it.
 */
void	daemon_start(struct daemon *d, const char *const *extra_args);
/* SIGTERM by pid, waits (bounded) and asserts a clean exit (status 0). */
void	daemon_stop(struct daemon *d);
/* daemon_stop, returning the whole log (malloc'd, NUL-terminated). */
char	*daemon_stop_log(struct daemon *d);
/*
 * SIGKILL by pid, as a crash would end it: waits (bounded), asserts that
 * the signal killed it, and removes its directory (socket and log).
 */
void	daemon_kill(struct daemon *d);
/* Text of the daemon's log so far (malloc'd, NUL-terminated). */
char	*daemon_log(const struct daemon *d);
/* Resident set size of the daemon in KiB, from /proc. */
long	daemon_rss_kib(const struct daemon *d);
/* Number of open file descriptors of the daemon, from /proc. */
int	daemon_fd_count(const struct daemon *d);
/* The daemon's mappings of shared-memory rings (/proc/PID/maps). */
int	daemon_ring_maps(const struct daemon *d);

/* chan_connect to d, asserting success. */
chan_client	*test_connect(const struct daemon *d);

/* A child process with pipes to its stdin, stdout and stderr. */
struct proc {
	pid_t	pid;
	int	in_fd;		/* write end of its stdin, -1 once closed */
	int	out_fd;		/* read end of its stdout */
	int	err_fd;		/* read end of its stderr */
};

void	proc_spawn(struct proc *p, const char *const argv[]);
/* Writes all of buf to the child's stdin (bounded wait). */
void	proc_write(struct proc *p, const void *buf, size_t len);
void	proc_close_stdin(struct proc *p);
/*
 * Reads one line (up to and without '\n') of the child's stdout into buf,
 * NUL-terminated. Returns its length, or -1 on EOF. Fails the test if no
 * full line arrives within timeout_ms.
 */
ssize_t	proc_read_line(struct proc *p, char *buf, size_t len, int timeout_ms);
/*
 * Waits for exit at most timeout_ms (fails the test otherwise, after
 * killing it) and returns the exit code (128 + signal if killed by one).
 * Closes the pipes.
 */
int	proc_wait(struct proc *p, int timeout_ms);
/*
 * Reads the child's stderr up to end of file (that is, until it exits or
 * closes it), waiting at most timeout_ms, and returns it malloc'd and
 * NUL-terminated, its length in *len unless len is NULL. Closes the pipe,
 * so call it before proc_wait, which would discard the text.
 */
char	*proc_read_err(struct proc *p, size_t *len, int timeout_ms);
void	proc_kill(struct proc *p, int sig);

/* Result of run_cmd: malloc'd NUL-terminated outputs and the exit code. */
struct cmd_result {
	int	 code;		/* exit code, or 128 + signal */
	char	*out;
	size_t	 out_len;
	char	*err;
	size_t	 err_len;
};

/*
 * Runs argv to completion with in[0..in_len) on its stdin, collecting
 * stdout and stderr; fails the test if it runs longer than timeout_ms.
 */
void	run_cmd(const char *const argv[], const void *in, size_t in_len,
	    int timeout_ms, struct cmd_result *r);
void	cmd_result_fini(struct cmd_result *r);

/*
 * Raw protocol access, for tests that must send what the library never
 * would. raw_connect returns a blocking socket connected to d (asserting
 * success); raw_hello performs the handshake on it.
 */
int	raw_connect(const struct daemon *d);
void	raw_hello(int fd);
void	raw_write(int fd, const void *buf, size_t len);
/* raw_write of body behind its 4-byte big-endian length prefix. */
void	raw_write_frame(int fd, const void *body, size_t len);
/*
 * Reads one frame body into buf (at most cap bytes). Returns its length,
 * or -1 if the daemon closed the connection. Fails the test after
 * timeout_ms.
 */
ssize_t	raw_read_frame(int fd, void *buf, size_t cap, int timeout_ms);

/*
 * A raw connection that reads and decodes the daemon's frames: a
 * proto_msg read from it points into body until the next read. The
 * raw_ functions that take one fail the test on anything unexpected.
 */
struct proto_buf;
struct proto_decoder;
struct proto_msg;

struct raw_conn {
	int			 fd;
	struct proto_decoder	*dec;
	char			*body;	/* receive buffer of cap bytes */
	size_t			 cap;
};

/* raw_connect to d, then raw_hello if hello; frames up to cap bytes. */
void	raw_conn_open(struct raw_conn *rc, const struct daemon *d, int hello,
	    size_t cap);
/* Closes the socket (if open) and frees the buffers. */
void	raw_conn_close(struct raw_conn *rc);
/* Writes the frames encoded in b (which stays the caller's). */
void	raw_send(struct raw_conn *rc, const struct proto_buf *b);
/*
 * Reads and decodes the next frame into m: 0, or -1 if the daemon closed
 * the connection. Fails the test after timeout_ms.
 */
int	raw_recv(struct raw_conn *rc, struct proto_msg *m, int timeout_ms);
/* raw_recv that must get a frame within HARNESS_WAIT_MS. */
void	raw_expect(struct raw_conn *rc, struct proto_msg *m);
/* The next frame must be OK(rid). */
void	raw_expect_ok(struct raw_conn *rc, uint32_t rid);
/* The next frame must be ERROR(rid, code); code is the wire code. */
void	raw_expect_error(struct raw_conn *rc, uint32_t rid, uint32_t code);
/* The daemon must close the connection before sending another frame. */
void	raw_expect_closed(struct raw_conn *rc);
/* Sends PING(rid); raw_ping also waits for its OK. */
void	raw_send_ping(struct raw_conn *rc, uint32_t rid);
void	raw_ping(struct raw_conn *rc, uint32_t rid);
/* Opens an end (op) of name and returns the handle of the answer. */
uint32_t	raw_open_end(struct raw_conn *rc, int op, uint32_t rid,
		    const char *name);
/* Sends ACK(rid, h, seq) / CREDIT(rid, h, n), unanswered if rid is 0. */
void	raw_ack(struct raw_conn *rc, uint32_t rid, uint32_t h,
	    uint64_t seq);
void	raw_credit(struct raw_conn *rc, uint32_t rid, uint32_t h,
	    uint32_t n);

/* Milliseconds on CLOCK_MONOTONIC. */
long long	now_ms(void);
/*
 * poll() until deadline (a now_ms() value), retrying on EINTR; a deadline
 * already past polls once without waiting, never with a negative (that
 * is, endless) timeout. Returns poll's result: 0 on timeout.
 */
int	poll_until(struct pollfd *pfd, nfds_t n, long long deadline);

/*
 * A test program's main: runs s in Check's fork mode (each test in its
 * own process) and returns EXIT_SUCCESS if no test failed.
 */
int	harness_main(Suite *s);

#endif /* CHAND_TESTS_HARNESS_H */

/* SPDX-License-Identifier: MIT */
/*
 * e2e_util.h: assertions and small helpers shared by the end-to-end tests,
 * on top of harness.h.
 *
 * Each expect_ and assert_ helper checks one exact result and fails the
 * current Check test otherwise, naming what it got. Every wait is bounded
 * by HARNESS_WAIT_MS (or a multiple of it, where said).
 */
#ifndef CHAND_TESTS_E2E_UTIL_H
#define CHAND_TESTS_E2E_UTIL_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#include "chanclient.h"
#include "harness.h"

/* Library calls. */

/* Asserts that a library call returned want; what names the call. */
void	expect_rc(int rc, int want, const char *what);
/* chan_tx_open, asserting success. */
chan_tx	*tx_open(chan_client *c, const char *name);
/* chan_tx_open_ex with the options o, asserting success. */
chan_tx	*tx_open_opts(chan_client *c, const char *name,
	    const chan_open_opts *o);
/* chan_tx_send of the NUL-terminated s, asserting success. */
void	send_str(chan_tx *tx, const char *s);
/* Receives one message (bounded), asserting success. Caller frees it. */
chan_msg	*recv_msg(chan_rx *rx);
/*
 * chan_rx_open_ex with that prefetch (0: the library's default),
 * asserting success.
 */
chan_rx	*rx_open(chan_client *c, const char *name, unsigned prefetch);
/* Receives one message (bounded): exactly data[0..len), or fails. */
void	expect_msg(chan_rx *rx, const void *data, size_t len);
/* expect_msg of the NUL-terminated s, without the NUL. */
void	expect_str(chan_rx *rx, const char *s);
/* Receive (blocking, bounded) whose result must be the error want. */
void	expect_recv_rc(chan_rx *rx, int want);
/* chan_rx_try_recv, which must give exactly the NUL-terminated s. */
void	expect_try_str(chan_rx *rx, const char *s);
/* chan_rx_try_recv whose result must be the error want. */
void	expect_try_rc(chan_rx *rx, int want);
/*
 * Proves that the daemon listening on sock serves: a fresh connection
 * sends a message on a channel of its own and receives it back.
 */
void	assert_serves_at(const char *sock);
/* assert_serves_at(d->sock). */
void	assert_serves(const struct daemon *d);
/*
 * This process's mappings of shared-memory rings of maplen bytes (0: of
 * any size): how many; *map and *len (either may be NULL) say where the
 * last one is.
 */
int	own_ring_maps(size_t maplen, unsigned char **map, size_t *len);

/*
 * Check fixtures: tests of a case with the checked fixture
 * fixture_setup, fixture_teardown each get a daemon of their own,
 * fixture, started in the test's process and stopped after it.
 */
extern struct daemon	fixture;
/* daemon_start(&fixture, NULL). */
void	fixture_setup(void);
/* daemon_start(&fixture, args), for a fixture with options of its own. */
void	fixture_setup_args(const char *const *args);
/* daemon_stop(&fixture). */
void	fixture_teardown(void);

/* The shared-memory path. */

/*
 * Whether this run's transmitters send through rings in shared memory
 * (CHANCLIENT_SHM=1, the *_shm runs of ctest): where the socket and the
 * rings differ on purpose (docs/protocol.md, "Shared-memory data path"),
 * a test checks the rings' documented behaviour then.
 */
int	e2e_shm_path(void);
/*
 * Whether receivers on rings also read their producer's ring directly
 * (CHANCLIENT_SHM=1, unless CHANCLIENT_DIRECT=0): records read so use no
 * credit and are not in flight in the daemon's view until it takes the
 * ring back.
 */
int	e2e_direct_path(void);

/*
 * A thread of the test that sends count pipelined messages "<prefix><i>"
 * (i from first) on tx, then flushes: for sends that wait, as a ring
 * producer's chan_tx_send_async does at a full channel, while the test
 * consumes. async_sender_join returns the first failure, or 0.
 */
struct async_sender {
	pthread_t	 thread;
	chan_tx		*tx;
	const char	*prefix;
	int		 first;
	int		 count;
	int		 rc;
};
void	async_sender_start(struct async_sender *s, chan_tx *tx,
	    const char *prefix, int first, int count);
int	async_sender_join(struct async_sender *s);

/*
 * A thread of the test blocked in one chan_tx_send of msg on tx.
 * send_thread_wait polls, up to ms, for the send to return: 1 if it
 * has, 0 if not yet. send_thread_join joins the thread and returns the
 * send's result.
 */
struct send_thread {
	pthread_t	 thread;
	chan_tx		*tx;
	const char	*msg;
	int		 rc;
	int		 done[2];	/* a pipe, written once it returns */
};
void	send_thread_start(struct send_thread *s, chan_tx *tx,
	    const char *msg);
int	send_thread_wait(struct send_thread *s, int ms);
int	send_thread_join(struct send_thread *s);

/* The CLIs. */

/*
 * run_cmd bounded by 3 * HARNESS_WAIT_MS: for a CLI run that must
 * finish.
 */
void	cli_run(const char *const argv[], const void *in, size_t in_len,
	    struct cmd_result *r);
/* Asserts that err is exactly one line, mentioning what unless NULL. */
void	assert_one_line(const char *err, size_t err_len, const char *what);
/* A command's exit code is want; its stderr (clipped) says why not. */
void	assert_exit_code(int got, int want, const char *err);
/* Asserts exit code and one line of stderr that mentions what. */
void	assert_fails_with(const struct cmd_result *r, int code,
	    const char *what);
/* Asserts exit code 0, showing stderr otherwise. */
void	assert_ok(const struct cmd_result *r);
/* "1\n2\n...n\n", malloc'd; its length in *len. */
char	*numbered_lines(int n, size_t *len);

/*
 * Runs chanctl --socket d->sock with args (NULL-terminated, at most 12);
 * asserts exit code want and, for 0, an empty stderr. Returns stdout
 * (malloc'd).
 */
char	*chanctl(const struct daemon *d, int want, const char *const *args);
/*
 * Whether text holds want, showing the start of text otherwise (Check
 * cannot carry a failure message of more than a few KiB).
 */
void	expect_in(const char *text, const char *want);

/*
 * The rings this process maps read-only: those a direct reader reads
 * (docs/protocol.md, "Direct reading").
 */
int	own_direct_maps(void);

/*
 * Forked children: plain fork()s that report through their exit code
 * (never through Check, which belongs to the test's process).
 */
typedef int (*child_fn)(void *);

/* Forks a child that runs fn(arg) and _exit()s with its result. */
pid_t	child_fork(child_fn fn, void *arg);
/* Waits at most 3 * HARNESS_WAIT_MS for it and returns its exit code. */
int	child_wait(pid_t pid);
/* child_wait, asserting exit code 0. */
void	child_wait_ok(pid_t pid);
/* Reads one byte from a child's pipe, waiting at most HARNESS_WAIT_MS. */
char	pipe_read_byte(int fd);
/*
 * Non-blocking clients: waits (bounded) until c's descriptor is readable,
 * or writable while it wants to write, then chan_client_process.
 */
void	process_when_readable(chan_client *c);

/* Paths and sockets. */

/* Creates a private directory /tmp/chand-e2e-XXXXXX into dir. */
void	make_dir(char *dir, size_t len);
/* Removes dir and everything under it, best effort (what cannot go stays
   for the machine's tmp cleaner). */
void	remove_tree(const char *dir);
/*
 * The path of a copy of the program at path that every user may run, for
 * a test that runs it under another uid (nobody, the users of the access
 * rules): the build tree may be out of their reach (a checkout in /root
 * or in a `mktemp -d` directory, mode 0700). The copies live in one
 * directory under /tmp, mode 0711, made on first use and removed when the
 * process that made it exits. Call it in the test's process, before any
 * fork; the returned string lives as long as the process.
 */
const char	*shared_copy(const char *path);
/* dir/name into out, asserting that it fits. */
void	path_join(char *out, size_t len, const char *dir, const char *name);
/* A listening Unix stream socket bound at path (close-on-exec). */
int	listen_unix(const char *path);

/*
 * A chand a test runs itself rather than through daemon_start, because it
 * needs the exact path, the exit status of a signal, or SIGKILL.
 * proc_spawn makes it die with the test's process if the test fails.
 */
struct own_daemon {
	struct proc	p;
	char		dir[PATH_MAX];
	char		sock[PATH_MAX];	/* dir/chand.sock */
};

/* Zeroes od and gives it a private directory (make_dir) and socket. */
void	own_daemon_init(struct own_daemon *od);
/*
 * Starts chand --socket od->sock --ready-fd 1 and waits (bounded) for
 * READY on its stdout.
 */
void	own_daemon_start(struct own_daemon *od);
/* Removes the socket file, if any, and the directory. */
void	own_daemon_cleanup(struct own_daemon *od);

/*
 * Whether usage text mentions an option, by its long name lng or its
 * short letter shrt, alone ("-h") or in a cluster ("[-hV]"). Either may
 * be NULL or '\0'.
 */
int	mentions_option(const char *text, const char *lng, char shrt);

#endif /* CHAND_TESTS_E2E_UTIL_H */

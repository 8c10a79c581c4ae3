/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_service.c: chand as a system service: started the way systemd
 * starts a socket-activated Type=notify unit (listening socket inherited
 * as fd 3 with LISTEN_FDS/LISTEN_PID, readiness on NOTIFY_SOCKET), log
 * lines for the journal, the config file and its reload on SIGHUP.
 *
 * The test plays the service manager: it binds the listening socket and
 * the notification socket itself, forks, sets the environment in the
 * child (LISTEN_PID must be the daemon's own pid) and execs chand. Every
 * wait is on a socket, a datagram or a pidfd, bounded.
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "chanclient.h"
#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

#define CMD_MS		10000
#define FRAME_CAP	4096

/* A chand started by the test as a service manager would start it. */
struct svc_daemon {
	pid_t	pid;
	char	dir[PATH_MAX];
	char	sock[PATH_MAX];		/* dir/act.sock: bound by the test */
	char	notify[PATH_MAX];	/* dir/notify: NOTIFY_SOCKET */
	char	log[PATH_MAX];		/* dir/chand.log: its stderr */
	int	listen_fd;
	int	notify_fd;
};

/* How the child's environment announces the listening socket. */
enum listen_env {
	LISTEN_OWN_PID,		/* LISTEN_PID = the daemon: activation */
	LISTEN_OTHER_PID,	/* LISTEN_PID = someone else: not for us */
	LISTEN_SANDBOXED,	/* activation, in chand.service's sandbox */
};

#define SANDBOX_UID	65534	/* nobody */
#define SANDBOX_EXIT	126	/* the child could not build the sandbox */

/*
 * What chand.service asks of systemd, done by hand before exec: a private
 * network namespace (PrivateNetwork), a read-only view of the file system
 * (ProtectSystem=strict), an unprivileged user without capabilities
 * (User=), no new privileges (NoNewPrivileges). Exits SANDBOX_EXIT, saying
 * why on stderr, if this machine does not allow it.
 */
static void
sandbox_enter(void)
{
	gid_t gid = SANDBOX_UID;

	if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) {
		dprintf(2, "sandbox: unshare: %s\n", strerror(errno));
		_exit(SANDBOX_EXIT);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("/", "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY,
	    NULL) != 0) {
		dprintf(2, "sandbox: read-only /: %s\n", strerror(errno));
		_exit(SANDBOX_EXIT);
	}
	if (setgroups(1, &gid) != 0 || setgid(SANDBOX_UID) != 0 ||
	    setuid(SANDBOX_UID) != 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		dprintf(2, "sandbox: user %d: %s\n", SANDBOX_UID,
		    strerror(errno));
		_exit(SANDBOX_EXIT);
	}
}

static void
svc_init(struct svc_daemon *sd)
{
	struct sockaddr_un sun;

	memset(sd, 0, sizeof *sd);
	make_dir(sd->dir, sizeof sd->dir);
	path_join(sd->sock, sizeof sd->sock, sd->dir, "act.sock");
	path_join(sd->notify, sizeof sd->notify, sd->dir, "notify");
	path_join(sd->log, sizeof sd->log, sd->dir, "chand.log");
	sd->listen_fd = listen_unix(sd->sock);

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sd->notify);
	sd->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(sd->notify_fd >= 0, "socket: %s", strerror(errno));
	ck_assert_msg(bind(sd->notify_fd, (struct sockaddr *)&sun,
	    sizeof sun) == 0, "bind %s: %s", sd->notify, strerror(errno));
}

/* In the child: fd 3 is the listening socket, the rest as systemd does. */
static void __attribute__((noreturn))
svc_child(struct svc_daemon *sd, enum listen_env env, int journal,
    const char *const *argv, pid_t parent)
{
	char pid[32], js[64];
	struct stat st;
	int null_fd, log_fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	null_fd = open("/dev/null", O_RDONLY);
	log_fd = open(sd->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (null_fd < 0 || log_fd < 0 || dup2(null_fd, 0) < 0 ||
	    dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0 ||
	    dup2(sd->listen_fd, 3) < 0)
		_exit(127);
	syscall(SYS_close_range, 4U, ~0U, 0);
	if (env == LISTEN_SANDBOXED)
		sandbox_enter();
	snprintf(pid, sizeof pid, "%ld",
	    env != LISTEN_OTHER_PID ? (long)getpid() : (long)getppid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_FDNAMES", "chand.socket", 1);
	setenv("NOTIFY_SOCKET", sd->notify, 1);
	unsetenv("JOURNAL_STREAM");
	if (journal && fstat(2, &st) == 0) {
		snprintf(js, sizeof js, "%llu:%llu",
		    (unsigned long long)st.st_dev,
		    (unsigned long long)st.st_ino);
		setenv("JOURNAL_STREAM", js, 1);
	}
	execv(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void
svc_spawn(struct svc_daemon *sd, enum listen_env env, int journal,
    const char *const *argv)
{
	pid_t parent = getpid();

	fflush(NULL);
	sd->pid = fork();
	ck_assert_msg(sd->pid >= 0, "fork: %s", strerror(errno));
	if (sd->pid == 0)
		svc_child(sd, env, journal, argv, parent);
}

static char *
read_text(const char *path)
{
	char *buf;
	FILE *f;
	size_t n;

	buf = calloc(1, 65536);
	ck_assert_ptr_nonnull(buf);
	if ((f = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, 65535, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/*
 * Reads datagrams from the notification socket until one holds want (a
 * whole "KEY=VALUE" line); fails the test after HARNESS_WAIT_MS. Each
 * datagram seen is appended to seen (for the failure message).
 */
static void
notify_expect(struct svc_daemon *sd, const char *want)
{
	struct pollfd pfd[2] = {
		{ .fd = sd->notify_fd, .events = POLLIN },
		{ .fd = -1, .events = POLLIN },
	};
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	char buf[1024], seen[4096] = "", *line, *save;
	ssize_t n;

	/* A daemon that ends (or never starts) fails the wait at once. */
	pfd[1].fd = (int)syscall(SYS_pidfd_open, sd->pid, 0);
	for (;;) {
		if (poll_until(pfd, 2, deadline) == 0 ||
		    (pfd[0].revents & POLLIN) == 0) {
			char *log = read_text(sd->log);

			if (pfd[1].fd >= 0)
				close(pfd[1].fd);
			ck_abort_msg("no %s on NOTIFY_SOCKET %s (got: %s); "
			    "log:\n%s", want, pfd[1].revents != 0 ?
			    "before chand exited" : "in time", seen, log);
		}
		n = recv(sd->notify_fd, buf, sizeof buf - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
		buf[n] = '\0';
		strncat(seen, buf, sizeof seen - strlen(seen) - 2);
		strcat(seen, "|");
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (strcmp(line, want) == 0) {
				if (pfd[1].fd >= 0)
					close(pfd[1].fd);
				return;
			}
		}
	}
}

/* Waits (bounded) for the daemon to exit; returns its exit code. */
static int
svc_wait(struct svc_daemon *sd)
{
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	struct pollfd pfd;
	int status, fd;
	pid_t r;

	fd = (int)syscall(SYS_pidfd_open, sd->pid, 0);
	ck_assert_msg(fd >= 0, "pidfd_open: %s", strerror(errno));
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll_until(&pfd, 1, deadline) == 0) {
		kill(sd->pid, SIGKILL);
		ck_abort_msg("chand %d did not exit within %d ms", (int)sd->pid,
		    HARNESS_WAIT_MS);
	}
	close(fd);
	while ((r = waitpid(sd->pid, &status, 0)) < 0 && errno == EINTR)
		;
	ck_assert_int_eq(r, sd->pid);
	sd->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
}

static void
svc_stop(struct svc_daemon *sd)
{
	int code;

	ck_assert_int_eq(kill(sd->pid, SIGTERM), 0);
	notify_expect(sd, "STOPPING=1");
	code = svc_wait(sd);
	ck_assert_msg(code == 0, "chand exited %d after SIGTERM", code);
}

static void
svc_cleanup(struct svc_daemon *sd)
{
	close(sd->listen_fd);
	close(sd->notify_fd);
	unlink(sd->sock);
	unlink(sd->notify);
	unlink(sd->log);
	rmdir(sd->dir);
}

START_TEST(test_socket_activation_serves_the_inherited_socket)
{
	struct svc_daemon sd;
	char other[PATH_MAX], *log;
	const char *argv[] = { CHAND_BIN, "--socket", other, NULL };
	struct stat st;

	svc_init(&sd);
	path_join(other, sizeof other, sd.dir, "not-this.sock");
	svc_spawn(&sd, LISTEN_OWN_PID, 0, argv);
	notify_expect(&sd, "READY=1");

	/* Through the library, on the socket the "service manager" bound. */
	assert_serves_at(sd.sock);
	ck_assert_msg(access(other, F_OK) != 0,
	    "chand bound --socket although it was given a socket");
	log = read_text(sd.log);
	ck_assert_msg(strstr(log, "socket activation") != NULL,
	    "log does not mention socket activation:\n%s", log);
	free(log);

	svc_stop(&sd);
	/* The socket file belongs to the service manager: it stays. */
	ck_assert_msg(stat(sd.sock, &st) == 0 && S_ISSOCK(st.st_mode),
	    "chand removed the inherited socket file");
	svc_cleanup(&sd);
}
END_TEST

/*
 * A client that connects while no daemon runs waits in the socket's
 * backlog; the next activation, on the same socket, serves it. (systemd
 * starts the service on such a connection.)
 */
START_TEST(test_client_waiting_in_backlog_is_served_by_next_activation)
{
	struct svc_daemon sd;
	const char *argv[] = { CHAND_BIN, NULL };
	int fd;

	svc_init(&sd);
	svc_spawn(&sd, LISTEN_OWN_PID, 0, argv);
	notify_expect(&sd, "READY=1");
	svc_stop(&sd);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	{
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		strcpy(sun.sun_path, sd.sock);
		ck_assert_msg(connect(fd, (struct sockaddr *)&sun,
		    sizeof sun) == 0, "connect while stopped: %s",
		    strerror(errno));
	}
	svc_spawn(&sd, LISTEN_OWN_PID, 0, argv);
	raw_hello(fd);	/* answered by the second daemon */
	close(fd);
	notify_expect(&sd, "READY=1");
	svc_stop(&sd);
	svc_cleanup(&sd);
}
END_TEST

START_TEST(test_listen_fds_for_another_pid_are_ignored)
{
	struct svc_daemon sd;
	char own[PATH_MAX];
	const char *argv[] = { CHAND_BIN, "--socket", own, NULL };

	svc_init(&sd);
	path_join(own, sizeof own, sd.dir, "own.sock");
	svc_spawn(&sd, LISTEN_OTHER_PID, 0, argv);
	notify_expect(&sd, "READY=1");
	assert_serves_at(own);
	svc_stop(&sd);
	ck_assert_msg(access(own, F_OK) != 0 && errno == ENOENT,
	    "chand left its own socket file behind");
	svc_cleanup(&sd);
}
END_TEST

START_TEST(test_inherited_descriptor_that_is_not_a_socket_is_refused)
{
	struct svc_daemon sd;
	const char *argv[] = { CHAND_BIN, NULL };
	char *log;
	int pfd[2], code;

	svc_init(&sd);
	close(sd.listen_fd);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	sd.listen_fd = pfd[0];
	svc_spawn(&sd, LISTEN_OWN_PID, 0, argv);
	code = svc_wait(&sd);
	log = read_text(sd.log);
	ck_assert_msg(code == 1, "exit %d, log:\n%s", code, log);
	ck_assert_msg(strstr(log, "not a Unix stream socket") != NULL,
	    "log does not say why:\n%s", log);
	free(log);
	close(pfd[1]);
	svc_cleanup(&sd);
}
END_TEST

START_TEST(test_log_lines_carry_syslog_priorities_on_the_journal)
{
	struct svc_daemon sd;
	const char *argv[] = { CHAND_BIN, "--log-level", "debug", NULL };
	char *log;

	svc_init(&sd);
	svc_spawn(&sd, LISTEN_OWN_PID, 1, argv);
	notify_expect(&sd, "READY=1");
	assert_serves_at(sd.sock);
	svc_stop(&sd);
	log = read_text(sd.log);
	ck_assert_msg(strstr(log, "\n<6>info: chand ") != NULL,
	    "no startup line with priority 6:\n%s", log);
	ck_assert_msg(strncmp(log, "<5>notice: socket activation", 28) == 0,
	    "first line is not a notice with priority 5:\n%s", log);
	ck_assert_msg(strstr(log, "\n<7>debug: ") != NULL,
	    "no debug line with priority 7:\n%s", log);
	ck_assert_msg(strstr(log, "chand: info:") == NULL,
	    "a line without a priority prefix:\n%s", log);
	ck_assert_msg(strchr(log, '\033') == NULL, "escape sequence in log");
	free(log);
	svc_cleanup(&sd);
}
END_TEST

/* A config file error, before the daemon runs, is an error too. */
START_TEST(test_config_error_carries_a_priority_on_the_journal)
{
	struct svc_daemon sd;
	char conf[PATH_MAX], *log;
	const char *argv[] = { CHAND_BIN, "--config", conf, NULL };
	int code;

	svc_init(&sd);
	path_join(conf, sizeof conf, sd.dir, "chand.conf");
	{
		FILE *f = fopen(conf, "w");

		ck_assert_ptr_nonnull(f);
		fputs("max-handles = none\n", f);
		fclose(f);
	}
	svc_spawn(&sd, LISTEN_OWN_PID, 1, argv);
	code = svc_wait(&sd);
	log = read_text(sd.log);
	ck_assert_msg(code == 2, "exit %d, log:\n%s", code, log);
	ck_assert_msg(strncmp(log, "<3>error: ", 10) == 0 &&
	    strstr(log, "chand.conf:1: --max-handles: 'none' is not a number")
	    != NULL, "not an error line for the journal:\n%s", log);
	free(log);
	unlink(conf);
	svc_cleanup(&sd);
}
END_TEST

START_TEST(test_log_lines_are_plain_when_stderr_is_not_the_journal)
{
	struct daemon d;
	char *log;

	/* JOURNAL_STREAM names some other stream: stderr is not it. */
	setenv("JOURNAL_STREAM", "1:1", 1);
	daemon_start(&d, NULL);
	log = daemon_log(&d);
	daemon_stop(&d);
	ck_assert_msg(strncmp(log, "chand: info: chand ", 19) == 0,
	    "unexpected first line:\n%s", log);
	ck_assert_msg(strchr(log, '<') == NULL && strchr(log, '\033') == NULL,
	    "priority prefix or escape in a plain log:\n%s", log);
	free(log);
}
END_TEST

/*
 * The daemon works inside the sandbox of chand.service: inherited
 * socket, readiness, config file, memory figures, clients' credentials.
 */
START_TEST(test_daemon_serves_inside_the_service_sandbox)
{
	struct svc_daemon sd;
	char conf[PATH_MAX], *log;
	const char *argv[] = { CHAND_BIN, "--config", conf, NULL };
	const char *ctl[] = { CHANCTL_BIN, "--socket", sd.sock, "--json",
	    NULL };
	struct cmd_result r;
	FILE *f;
	int code;

	if (geteuid() != 0) {
		fprintf(stderr, "test_e2e_service: not root: the sandbox test "
		    "(user nobody, namespaces) is not run\n");
		return;
	}
	svc_init(&sd);
	path_join(conf, sizeof conf, sd.dir, "chand.conf");
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fputs("max-connections = 55\n", f);
	fclose(f);
	/* The unprivileged daemon runs, reads its config, and notifies. */
	argv[0] = shared_copy(CHAND_BIN);
	ck_assert_int_eq(chmod(sd.dir, 0711), 0);
	ck_assert_int_eq(chmod(conf, 0644), 0);
	ck_assert_int_eq(chmod(sd.notify, 0666), 0);
	svc_spawn(&sd, LISTEN_SANDBOXED, 0, argv);
	{
		struct pollfd pfd[2] = {
			{ .fd = sd.notify_fd, .events = POLLIN },
			{ .fd = (int)syscall(SYS_pidfd_open, sd.pid, 0),
			  .events = POLLIN },
		};

		/* READY, or an exit because the sandbox cannot be built. */
		ck_assert_int_ge(pfd[1].fd, 0);
		poll_until(pfd, 2, now_ms() + HARNESS_WAIT_MS);
		close(pfd[1].fd);
		if (!(pfd[0].revents & POLLIN) && (pfd[1].revents & POLLIN)) {
			code = svc_wait(&sd);
			log = read_text(sd.log);
			if (code == SANDBOX_EXIT) {
				fprintf(stderr, "test_e2e_service: sandbox "
				    "not available on this machine, not run: "
				    "%s", log);
				free(log);
				svc_cleanup(&sd);
				return;
			}
			ck_abort_msg("chand exited %d in the sandbox before "
			    "READY=1; log:\n%s", code, log);
		}
	}
	notify_expect(&sd, "READY=1");
	assert_serves_at(sd.sock);
	run_cmd(ctl, NULL, 0, 20000, &r);
	ck_assert_msg(r.code == 0, "chanctl exit %d: %s", r.code, r.err);
	ck_assert_msg(strstr(r.out, "\"max_connections\":55,") != NULL,
	    "config file not applied: %s", r.out);
	ck_assert_msg(strstr(r.out, "\"rss_bytes\":0,") == NULL,
	    "no memory figure in the sandbox: %s", r.out);
	cmd_result_fini(&r);
	svc_stop(&sd);
	log = read_text(sd.log);
	ck_assert_msg(strstr(log, "warning") == NULL && strstr(log,
	    "error") == NULL, "trouble in the sandbox:\n%s", log);
	free(log);
	svc_cleanup(&sd);
}
END_TEST

/* Config file. */

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* Opens n senders on one connection; returns the result of the last. */
static int
open_n(chan_client *c, int n, chan_tx **txs)
{
	int i, rc = 0;

	for (i = 0; i < n; i++) {
		rc = chan_tx_open(c, "cfg", &txs[i]);
		if (rc != 0)
			break;
	}
	return rc;
}

static void
close_n(chan_tx **txs, int n)
{
	while (n-- > 0)
		chan_tx_close(txs[n]);
}

START_TEST(test_config_file_values_take_effect)
{
	char dir[PATH_MAX], conf[PATH_MAX];
	const char *args[] = { "--config", conf, NULL };
	chan_tx *txs[3];
	struct daemon d;
	chan_client *c;

	make_dir(dir, sizeof dir);
	path_join(conf, sizeof conf, dir, "chand.conf");
	write_file(conf, "# limits\n\n  max-handles = 2  \n"
	    "log-level=debug\n");
	daemon_start(&d, args);
	c = test_connect(&d);
	expect_rc(open_n(c, 2, txs), 0, "two opens under max-handles 2");
	expect_rc(chan_tx_open(c, "cfg", &txs[2]), CHAN_ELIMIT,
	    "third open under max-handles 2");
	ck_assert_msg(strstr(chan_client_errmsg(c), "limit of 2") != NULL,
	    "errmsg: %s", chan_client_errmsg(c));
	close_n(txs, 2);
	chan_disconnect(c);
	{
		char *log = daemon_log(&d);

		ck_assert_msg(strstr(log, "chand: debug:") != NULL,
		    "log-level = debug from the file had no effect:\n%s", log);
		free(log);
	}
	daemon_stop(&d);
	unlink(conf);
	rmdir(dir);
}
END_TEST

START_TEST(test_command_line_overrides_config_file)
{
	char dir[PATH_MAX], conf[PATH_MAX];
	const char *args[] = { "--max-handles", "3", "--config", conf, NULL };
	chan_tx *txs[4];
	struct daemon d;
	chan_client *c;

	make_dir(dir, sizeof dir);
	path_join(conf, sizeof conf, dir, "chand.conf");
	write_file(conf, "max-handles = 1\n");
	daemon_start(&d, args);
	c = test_connect(&d);
	expect_rc(open_n(c, 3, txs), 0, "three opens under --max-handles 3");
	expect_rc(chan_tx_open(c, "cfg", &txs[3]), CHAN_ELIMIT,
	    "fourth open under --max-handles 3");
	close_n(txs, 3);
	chan_disconnect(c);
	daemon_stop(&d);
	unlink(conf);
	rmdir(dir);
}
END_TEST

/* chand --config with a file holding text: exit 2, stderr has want. */
static void
expect_bad_config(const char *text, const char *want)
{
	char dir[PATH_MAX], conf[PATH_MAX], sock[PATH_MAX];
	const char *argv[] = { CHAND_BIN, "--socket", sock, "--config", conf,
	    NULL };
	struct cmd_result r;

	make_dir(dir, sizeof dir);
	path_join(conf, sizeof conf, dir, "chand.conf");
	path_join(sock, sizeof sock, dir, "chand.sock");
	if (text != NULL)
		write_file(conf, text);
	run_cmd(argv, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 2, "exit %d for %s, stderr: %s", r.code,
	    want, r.err);
	ck_assert_msg(strstr(r.err, want) != NULL,
	    "stderr does not say '%s': %s", want, r.err);
	ck_assert_msg(strstr(r.err, conf) != NULL,
	    "stderr does not name the file: %s", r.err);
	ck_assert_msg(access(sock, F_OK) != 0, "chand created its socket");
	cmd_result_fini(&r);
	unlink(conf);
	rmdir(dir);
}

START_TEST(test_bad_config_file_is_a_usage_error)
{
	expect_bad_config("max-handles = 2\nmax-handle = 3\n",
	    ":2: unknown option 'max-handle'");
	expect_bad_config("# ok\nmax-handles = lots\n",
	    ":2: --max-handles: 'lots' is not a number");
	expect_bad_config("max-handles 3\n", ":1: expected 'name = value'");
	expect_bad_config("max-handles =\n", ":1: no value for 'max-handles'");
	expect_bad_config("config = /etc/x\n", ":1: 'config' cannot be set");
	expect_bad_config(NULL, "cannot read config file");
}
END_TEST

/*
 * SIGHUP raises a limit while clients stay connected. The reload is
 * observed on NOTIFY_SOCKET (RELOADING=1, then READY=1 once applied) and
 * its effect through the protocol.
 */
START_TEST(test_sighup_reloads_a_live_limit)
{
	struct svc_daemon sd;
	char conf[PATH_MAX], *log;
	const char *argv[] = { CHAND_BIN, "--config", conf, NULL };
	chan_tx *txs[3];
	chan_client *c;

	svc_init(&sd);
	path_join(conf, sizeof conf, sd.dir, "chand.conf");
	write_file(conf, "max-handles = 1\n");
	svc_spawn(&sd, LISTEN_OWN_PID, 0, argv);
	notify_expect(&sd, "READY=1");
	expect_rc(chan_connect(sd.sock, &c), 0, "connect");
	expect_rc(open_n(c, 1, txs), 0, "one open under max-handles 1");
	expect_rc(chan_tx_open(c, "cfg", &txs[1]), CHAN_ELIMIT,
	    "second open under max-handles 1");

	write_file(conf, "max-handles = 2\nmax-msg-size = 2M\n");
	ck_assert_int_eq(kill(sd.pid, SIGHUP), 0);
	notify_expect(&sd, "RELOADING=1");
	notify_expect(&sd, "READY=1");
	expect_rc(chan_tx_open(c, "cfg", &txs[1]), 0,
	    "second open after the reload to max-handles 2");
	expect_rc(chan_tx_open(c, "cfg", &txs[2]), CHAN_ELIMIT,
	    "third open after the reload to max-handles 2");
	/* The message size limit needs a restart: unchanged. */
	ck_assert_uint_eq(chan_client_max_msg(c), 1048576);

	/* A file with an error changes nothing. */
	write_file(conf, "max-handles = 1\nbogus = 1\n");
	ck_assert_int_eq(kill(sd.pid, SIGHUP), 0);
	notify_expect(&sd, "RELOADING=1");
	notify_expect(&sd, "READY=1");
	close_n(txs, 2);
	expect_rc(open_n(c, 2, txs), 0, "two opens after a failed reload");
	close_n(txs, 2);
	chan_disconnect(c);
	svc_stop(&sd);

	log = read_text(sd.log);
	ck_assert_msg(strstr(log, "reload: max-handles changed from 1 to 2")
	    != NULL, "change not logged:\n%s", log);
	ck_assert_msg(strstr(log, "reload: max-msg-size changed from 1M to "
	    "2M; it takes effect only after a restart") != NULL,
	    "restart-only change not logged:\n%s", log);
	ck_assert_msg(strstr(log, "reload failed, configuration unchanged: ")
	    != NULL && strstr(log, ":2: unknown option 'bogus'") != NULL,
	    "failed reload not logged:\n%s", log);
	free(log);
	unlink(conf);
	svc_cleanup(&sd);
}
END_TEST

#ifdef CHAND_TEST_LIBSYSTEMD
/*
 * Built with libsystemd, lines about a client's request go to the
 * journal with PEER_PID=, PEER_UID= and CHANNEL=; other lines stay on
 * the stream. The journal is the test's own: a socket bound where
 * sd_journal_send(3) writes, /run/systemd/journal/socket, in a private
 * mount namespace with a tmpfs over /run.
 */
START_TEST(test_request_lines_carry_journal_fields)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct svc_daemon sd;
	const char *argv[] = { CHAND_BIN, NULL };
	struct pollfd pfd;
	char buf[4096], want[64], *log;
	long long deadline;
	chan_client *c;
	chan_tx *tx;
	void *data;
	size_t len;
	ssize_t n;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0) {
		fprintf(stderr, "test_e2e_service: no private /run here (%s): "
		    "journal fields not tested\n", strerror(errno));
		return;
	}
	ck_assert_int_eq(mkdir("/run/systemd", 0755), 0);
	ck_assert_int_eq(mkdir("/run/systemd/journal", 0755), 0);
	strcpy(sun.sun_path, "/run/systemd/journal/socket");
	pfd.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	pfd.events = POLLIN;
	ck_assert_int_ge(pfd.fd, 0);
	ck_assert_int_eq(bind(pfd.fd, (struct sockaddr *)&sun, sizeof sun), 0);

	svc_init(&sd);
	svc_spawn(&sd, LISTEN_OWN_PID, 1, argv);
	notify_expect(&sd, "READY=1");
	expect_rc(chan_connect(sd.sock, &c), 0, "connect");
	expect_rc(chan_tx_open(c, "jrnl", &tx), 0, "open");
	expect_rc(chan_tx_send(tx, "x", 1), 0, "send");
	expect_rc(chan_client_admin(c, "purge", "jrnl", 4, &data, &len), 0,
	    "purge");
	free(data);

	deadline = now_ms() + HARNESS_WAIT_MS;
	for (;;) {
		ck_assert_msg(poll_until(&pfd, 1, deadline) == 1,
		    "no purge entry on the journal socket");
		n = recv(pfd.fd, buf, sizeof buf - 1, 0);
		ck_assert_int_ge(n, 0);
		buf[n] = '\0';
		if (strstr(buf, "MESSAGE=notice: channel 'jrnl': 1 queued") !=
		    NULL)
			break;
	}
	expect_in(buf, "\nPRIORITY=5\n");
	expect_in(buf, "\nSYSLOG_IDENTIFIER=chand\n");
	snprintf(want, sizeof want, "\nPEER_PID=%ld\n", (long)getpid());
	expect_in(buf, want);
	snprintf(want, sizeof want, "\nPEER_UID=%ld\n", (long)getuid());
	expect_in(buf, want);
	expect_in(buf, "\nCHANNEL=jrnl\n");

	chan_tx_close(tx);
	chan_disconnect(c);
	svc_stop(&sd);
	log = read_text(sd.log);
	/* Lines of no request stay on the stream; the purge's went. */
	ck_assert_msg(strstr(log, "<6>info: chand ") != NULL,
	    "startup line not on the stream:\n%s", log);
	ck_assert_msg(strstr(log, "purged") == NULL,
	    "the purge line went to the stream too:\n%s", log);
	free(log);
	close(pfd.fd);
	svc_cleanup(&sd);
}
END_TEST
#endif

/*
 * The daemon's figures on NOTIFY_SOCKET (STATUS=, sent when they change)
 * and the watchdog's keep-alive (WATCHDOG=1, every half WATCHDOG_USEC).
 */
START_TEST(test_status_and_watchdog_reach_the_service_manager)
{
	struct svc_daemon sd;
	const char *argv[] = { CHAND_BIN, NULL };
	chan_client *c;
	chan_tx *tx;

	svc_init(&sd);
	setenv("WATCHDOG_USEC", "2000000", 1);
	svc_spawn(&sd, LISTEN_OWN_PID, 0, argv);
	unsetenv("WATCHDOG_USEC");
	notify_expect(&sd, "READY=1");
	notify_expect(&sd, "STATUS=0 connections, 0 channels, 0 messages "
	    "queued");
	notify_expect(&sd, "WATCHDOG=1");
	expect_rc(chan_connect(sd.sock, &c), 0, "connect");
	expect_rc(chan_tx_open(c, "st", &tx), 0, "open");
	expect_rc(chan_tx_send(tx, "x", 1), 0, "send");
	notify_expect(&sd, "STATUS=1 connections, 1 channels, 1 messages "
	    "queued");
	/* Again a second later: the daemon stays alive. */
	notify_expect(&sd, "WATCHDOG=1");
	chan_tx_close(tx);
	chan_disconnect(c);
	svc_stop(&sd);
	svc_cleanup(&sd);
}
END_TEST

/* chanctl run as ExecReload=: exit 0 once applied, 1 if refused. */
static struct cmd_result
chanctl_reload(const struct svc_daemon *sd)
{
	const char *argv[] = { CHANCTL_BIN, "--socket", sd->sock, "reload",
	    NULL };
	struct cmd_result r;

	run_cmd(argv, NULL, 0, CMD_MS, &r);
	return r;
}

/*
 * chanctl reload reports the outcome to its caller, so that `systemctl
 * reload` (ExecReload=chanctl reload) fails on a bad configuration:
 * exit 0 and what changed; exit 1 and the file's line, nothing applied.
 */
START_TEST(test_chanctl_reload_reports_success_and_refusal)
{
	struct svc_daemon sd;
	char conf[PATH_MAX], rules[PATH_MAX], *log;
	const char *argv[] = { CHAND_BIN, "--config", conf, NULL };
	struct cmd_result r;
	chan_tx *txs[3];
	chan_client *c;

	svc_init(&sd);
	path_join(conf, sizeof conf, sd.dir, "chand.conf");
	path_join(rules, sizeof rules, sd.dir, "access");
	write_file(conf, "max-handles = 1\n");
	svc_spawn(&sd, LISTEN_OWN_PID, 0, argv);
	notify_expect(&sd, "READY=1");
	expect_rc(chan_connect(sd.sock, &c), 0, "connect");

	write_file(conf, "max-handles = 2\n");
	r = chanctl_reload(&sd);
	ck_assert_msg(r.code == 0, "reload: exit %d: %s", r.code, r.err);
	ck_assert_str_eq(r.out, "reloaded: 1 option(s) changed\n");
	cmd_result_fini(&r);
	notify_expect(&sd, "RELOADING=1");
	notify_expect(&sd, "READY=1");
	expect_rc(open_n(c, 2, txs), 0, "two opens after the reload");
	expect_rc(chan_tx_open(c, "cfg", &txs[2]), CHAN_ELIMIT,
	    "third open under max-handles 2");

	write_file(conf, "max-handles = 3\nbogus = 1\n");
	r = chanctl_reload(&sd);
	assert_fails_with(&r, 1, "chand.conf:2: unknown option 'bogus'");
	expect_in(r.err, "reload refused, configuration unchanged");
	cmd_result_fini(&r);
	expect_rc(chan_tx_open(c, "cfg", &txs[2]), CHAN_ELIMIT,
	    "third open after a refused reload");

	/* Rules that do not load refuse the whole reload too. */
	write_file(rules, "allow nobody-at-all send *\n");
	write_file(conf, "max-handles = 3\naccess-file = ");
	{
		FILE *f = fopen(conf, "a");

		ck_assert_ptr_nonnull(f);
		fprintf(f, "%s\n", rules);
		fclose(f);
	}
	r = chanctl_reload(&sd);
	assert_fails_with(&r, 1, "access:1:");
	cmd_result_fini(&r);
	expect_rc(chan_tx_open(c, "cfg", &txs[2]), CHAN_ELIMIT,
	    "third open after refused rules");

	close_n(txs, 2);
	chan_disconnect(c);
	svc_stop(&sd);
	log = read_text(sd.log);
	ck_assert_msg(strstr(log, "reload requested by connection ") != NULL,
	    "who reloaded is not logged:\n%s", log);
	free(log);
	unlink(conf);
	unlink(rules);
	svc_cleanup(&sd);
}
END_TEST

/*
 * chand --check-config: one line per problem, exit 2, nothing started;
 * exit 0 and one line on standard output when there is none.
 */
START_TEST(test_check_config_reports_every_problem)
{
	char dir[PATH_MAX], conf[PATH_MAX], sock[PATH_MAX];
	const char *argv[] = { CHAND_BIN, "--check-config", "--socket", sock,
	    "--config", conf, "--max-connections", "lots", NULL };
	const char *good[] = { CHAND_BIN, "--check-config", "--socket", sock,
	    "--config", conf, NULL };
	struct cmd_result r;
	const char *p;
	int lines = 0;

	make_dir(dir, sizeof dir);
	path_join(conf, sizeof conf, dir, "chand.conf");
	path_join(sock, sizeof sock, dir, "chand.sock");
	write_file(conf, "max-handles = 0\n# fine\nbogus = 1\n"
	    "sync = always\nlog-level = loud\naccess-file = /nonexistent\n");
	run_cmd(argv, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 2, "exit %d: %s", r.code, r.err);
	expect_in(r.err, "chand.conf:1: --max-handles: 0 is out of range");
	expect_in(r.err, "chand.conf:3: unknown option 'bogus'");
	expect_in(r.err, "chand.conf:5: --log-level: 'loud'");
	expect_in(r.err, "--max-connections: 'lots' is not a number");
	expect_in(r.err, "/nonexistent");
	for (p = r.err; *p != '\0'; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, 5);
	ck_assert_uint_eq(r.out_len, 0);
	ck_assert_msg(access(sock, F_OK) != 0, "chand created its socket");
	cmd_result_fini(&r);

	write_file(conf, "max-handles = 5\n");
	run_cmd(good, NULL, 0, CMD_MS, &r);
	ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
	ck_assert_uint_eq(r.err_len, 0);
	expect_in(r.out, "configuration OK");
	ck_assert_msg(access(sock, F_OK) != 0, "chand created its socket");
	cmd_result_fini(&r);
	unlink(conf);
	rmdir(dir);
}
END_TEST

static Suite *
service_suite(void)
{
	Suite *s = suite_create("e2e_service");
	TCase *tc = tcase_create("activation");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_socket_activation_serves_the_inherited_socket);
	tcase_add_test(tc,
	    test_client_waiting_in_backlog_is_served_by_next_activation);
	tcase_add_test(tc, test_listen_fds_for_another_pid_are_ignored);
	tcase_add_test(tc,
	    test_inherited_descriptor_that_is_not_a_socket_is_refused);
	tcase_add_test(tc, test_log_lines_carry_syslog_priorities_on_the_journal);
	tcase_add_test(tc,
	    test_config_error_carries_a_priority_on_the_journal);
	tcase_add_test(tc,
	    test_log_lines_are_plain_when_stderr_is_not_the_journal);
	tcase_add_test(tc, test_daemon_serves_inside_the_service_sandbox);
	tcase_add_test(tc, test_status_and_watchdog_reach_the_service_manager);
#ifdef CHAND_TEST_LIBSYSTEMD
	tcase_add_test(tc, test_request_lines_carry_journal_fields);
#endif
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_config_file_values_take_effect);
	tcase_add_test(tc, test_command_line_overrides_config_file);
	tcase_add_test(tc, test_bad_config_file_is_a_usage_error);
	tcase_add_test(tc, test_sighup_reloads_a_live_limit);
	tcase_add_test(tc, test_chanctl_reload_reports_success_and_refusal);
	tcase_add_test(tc, test_check_config_reports_every_problem);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(service_suite());
}

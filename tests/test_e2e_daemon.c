/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_daemon.c: chand's command line, startup and shutdown, driven
 * through the real executable: socket path checks, stale and live sockets,
 * socket modes, signals, usage.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
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

#define CMD_MS		10000	/* bound on a command that must exit */

static void
run_chand(const char *const argv[], struct cmd_result *r)
{
	run_cmd(argv, NULL, 0, CMD_MS, r);
}

START_TEST(test_socket_path_longer_than_sun_path_is_refused)
{
	struct sockaddr_un sun;
	struct cmd_result r;
	char dir[PATH_MAX], path[PATH_MAX];
	const char *argv[] = { CHAND_BIN, "--socket", path, NULL };
	size_t len;

	make_dir(dir, sizeof dir);
	len = (size_t)snprintf(path, sizeof path, "%s/", dir);
	while (len < sizeof sun.sun_path + 20)
		path[len++] = 'a';
	path[len] = '\0';

	run_chand(argv, &r);
	ck_assert_msg(r.code == 1, "exit %d, stderr: %s", r.code, r.err);
	ck_assert_msg(strstr(r.err, "too long") != NULL,
	    "stderr does not say the path is too long: %s", r.err);
	ck_assert_msg(access(path, F_OK) < 0 && errno == ENOENT,
	    "a truncated socket file was created");
	cmd_result_fini(&r);
	rmdir(dir);
}
END_TEST

START_TEST(test_stale_socket_file_is_replaced)
{
	struct own_daemon od;
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	own_daemon_init(&od);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	path_join(sun.sun_path, sizeof sun.sun_path, od.dir, "chand.sock");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);
	ck_assert_int_eq(stat(od.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));

	own_daemon_start(&od);
	assert_serves_at(od.sock);
	proc_kill(&od.p, SIGTERM);
	ck_assert_int_eq(proc_wait(&od.p, HARNESS_WAIT_MS), 0);
	own_daemon_cleanup(&od);
}
END_TEST

START_TEST(test_live_daemon_is_not_clobbered_by_a_second_one)
{
	struct daemon d;
	struct cmd_result r;
	struct stat before, after;

	daemon_start(&d, NULL);
	ck_assert_int_eq(stat(d.sock, &before), 0);
	{
		const char *argv[] = { CHAND_BIN, "--socket", d.sock, NULL };

		run_chand(argv, &r);
	}
	ck_assert_msg(r.code == 1, "second chand: exit %d, stderr: %s",
	    r.code, r.err);
	ck_assert_msg(strstr(r.err, "already") != NULL &&
	    strstr(r.err, d.sock) != NULL,
	    "stderr does not say a daemon already serves %s: %s", d.sock,
	    r.err);
	cmd_result_fini(&r);

	ck_assert_int_eq(stat(d.sock, &after), 0);
	ck_assert_msg(before.st_ino == after.st_ino,
	    "the socket file was replaced");
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_socket_mode_defaults_to_0600_outside_run)
{
	struct daemon d;
	struct stat st;

	daemon_start(&d, NULL);
	ck_assert_int_eq(stat(d.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_socket_mode_option_is_honoured)
{
	const char *args[] = { "--socket-mode", "0640", NULL };
	struct daemon d;
	struct stat st;

	daemon_start(&d, args);
	ck_assert_int_eq(stat(d.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

/* Signal sig to a serving daemon: exit 0 and the socket file is gone. */
static void
check_clean_exit_on(int sig)
{
	struct own_daemon od;

	own_daemon_init(&od);
	own_daemon_start(&od);
	assert_serves_at(od.sock);
	proc_kill(&od.p, sig);
	ck_assert_int_eq(proc_wait(&od.p, HARNESS_WAIT_MS), 0);
	ck_assert_msg(access(od.sock, F_OK) < 0 && errno == ENOENT,
	    "socket file %s left behind", od.sock);
	own_daemon_cleanup(&od);
}

START_TEST(test_sigterm_exits_0_and_removes_the_socket)
{
	check_clean_exit_on(SIGTERM);
}
END_TEST

START_TEST(test_sigint_exits_0_and_removes_the_socket)
{
	check_clean_exit_on(SIGINT);
}
END_TEST

START_TEST(test_version_prints_name_and_version)
{
	const char *argv[] = { CHAND_BIN, "--version", NULL };
	struct cmd_result r;

	run_chand(argv, &r);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "chand 0.1.0\n");
	cmd_result_fini(&r);
}
END_TEST

/*
 * A usage error must exit 2 before the daemon binds anything: the socket
 * path points into an empty directory that must stay empty.
 */
static void
check_usage_error(const char *opt, const char *val)
{
	struct cmd_result r;
	char dir[PATH_MAX], sock[PATH_MAX];
	const char *argv[] = { CHAND_BIN, "--socket", sock, opt, val, NULL };

	make_dir(dir, sizeof dir);
	path_join(sock, sizeof sock, dir, "chand.sock");
	run_chand(argv, &r);
	ck_assert_msg(r.code == 2, "chand %s %s: exit %d, stderr: %s", opt,
	    val != NULL ? val : "", r.code, r.err);
	ck_assert_msg(r.err_len > 0, "chand %s: nothing on stderr", opt);
	ck_assert_msg(access(sock, F_OK) < 0, "socket created anyway");
	cmd_result_fini(&r);
	rmdir(dir);
}

START_TEST(test_unknown_flag_exits_2)
{
	check_usage_error("--no-such-flag", NULL);
}
END_TEST

START_TEST(test_max_msg_size_0_exits_2)
{
	check_usage_error("--max-msg-size", "0");
}
END_TEST

START_TEST(test_socket_mode_999_exits_2)
{
	check_usage_error("--socket-mode", "999");
}
END_TEST

START_TEST(test_missing_flag_value_exits_2)
{
	check_usage_error("--max-connections", NULL);
}
END_TEST

/* Limits. */

START_TEST(test_connection_over_max_connections_gets_limit_and_others_stay)
{
	const char *args[] = { "--max-connections", "2", NULL };
	chan_client *c1, *c2, *c3 = NULL;
	struct daemon d;
	int rc;

	daemon_start(&d, args);
	c1 = test_connect(&d);
	c2 = test_connect(&d);
	rc = chan_connect(d.sock, &c3);
	expect_rc(rc, CHAN_ELIMIT, "third connection");
	ck_assert_ptr_null(c3);
	/* Refused twice: a refusal does not take a slot for good either. */
	expect_rc(chan_connect(d.sock, &c3), CHAN_ELIMIT, "fourth connection");
	/* The two admitted connections still work, with each other. */
	{
		chan_tx *tx;
		chan_rx *rx;
		chan_msg *m;

		expect_rc(chan_tx_open(c1, "two", &tx), 0, "tx on c1");
		expect_rc(chan_rx_open(c2, "two", &rx), 0, "rx on c2");
		expect_rc(chan_tx_send(tx, "hi", 2), 0, "send");
		expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0,
		    "recv");
		ck_assert_uint_eq(chan_msg_len(m), 2);
		chan_msg_free(m);
		chan_rx_close(rx);
		chan_tx_close(tx);
	}
	chan_disconnect(c1);
	chan_disconnect(c2);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_open_over_max_handles_gets_limit_and_the_connection_stays)
{
	const char *args[] = { "--max-handles", "2", NULL };
	chan_tx *a, *b, *x = NULL;
	chan_rx *rx = NULL;
	chan_client *c;
	struct daemon d;

	daemon_start(&d, args);
	c = test_connect(&d);
	expect_rc(chan_tx_open(c, "a", &a), 0, "first handle");
	expect_rc(chan_tx_clone(a, &b), 0, "second handle (a clone)");
	expect_rc(chan_tx_open(c, "x", &x), CHAN_ELIMIT, "third tx");
	expect_rc(chan_rx_open(c, "x", &rx), CHAN_ELIMIT, "third rx");
	expect_rc(chan_tx_clone(a, &x), CHAN_ELIMIT, "third as a clone");
	/* A handle closed is a slot free, on the same connection. */
	expect_rc(chan_tx_close(b), 0, "close second");
	expect_rc(chan_rx_open(c, "a", &rx), 0, "rx after a close");
	expect_rc(chan_tx_send(a, "still", 5), 0, "send on the first");
	chan_rx_close(rx);
	chan_tx_close(a);
	chan_disconnect(c);
	/* The limit is per connection: another one has its own. */
	c = test_connect(&d);
	expect_rc(chan_tx_open(c, "a", &a), 0, "other connection, first");
	expect_rc(chan_tx_open(c, "b", &b), 0, "other connection, second");
	chan_tx_close(a);
	chan_tx_close(b);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_send_over_max_queued_bytes_gets_limit_until_the_consumer_acks)
{
	const char *args[] = { "--max-queued-bytes", "1000", NULL };
	char buf[600];
	chan_client *c;
	struct daemon d;
	chan_tx *tx;
	chan_rx *rx;
	chan_msg *m;

	memset(buf, 'q', sizeof buf);
	daemon_start(&d, args);
	c = test_connect(&d);
	expect_rc(chan_tx_open(c, "full", &tx), 0, "tx");
	expect_rc(chan_tx_send(tx, buf, 600), 0, "600 of 1000 bytes");
	expect_rc(chan_tx_send(tx, buf, 600), CHAN_ELIMIT, "1200 of 1000");
	expect_rc(chan_tx_send(tx, buf, 400), 0, "exactly 1000");
	expect_rc(chan_tx_send(tx, "", 0), 0, "an empty message costs none");
	expect_rc(chan_tx_send(tx, "x", 1), CHAN_ELIMIT, "1001 of 1000");

	/* Delivered but not acknowledged still counts. */
	{
		chan_open_opts o = CHAN_OPEN_OPTS_INIT;

		o.flags = CHAN_MANUAL_ACK;
		expect_rc(chan_rx_open_ex(c, "full", 4, &o, &rx), 0, "rx");
	}
	expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0, "recv");
	ck_assert_uint_eq(chan_msg_len(m), 600);
	expect_rc(chan_tx_send(tx, "x", 1), CHAN_ELIMIT, "600 in flight");
	expect_rc(chan_rx_ack(rx, m), 0, "ack");
	chan_msg_free(m);
	/* Same connection: the ACK is processed before the SEND. */
	expect_rc(chan_rx_flush(rx), 0, "flush");
	expect_rc(chan_tx_send(tx, buf, 600), 0, "after the ack");
	/* What was refused was never queued: 400, empty, 600 follow. */
	expect_rc(chan_tx_close(tx), 0, "tx close");
	expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0, "400");
	ck_assert_uint_eq(chan_msg_len(m), 400);
	chan_rx_ack(rx, m);
	chan_msg_free(m);
	expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0, "empty");
	ck_assert_uint_eq(chan_msg_len(m), 0);
	chan_rx_ack(rx, m);
	chan_msg_free(m);
	expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0, "600");
	ck_assert_uint_eq(chan_msg_len(m), 600);
	chan_rx_ack(rx, m);
	chan_msg_free(m);
	expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m),
	    CHAN_EDISCONNECTED, "then disconnected");
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/* Shutdown with clients attached. */

START_TEST(test_sigterm_with_clients_attached_exits_0_and_their_calls_fail)
{
	chan_client *pc, *cc;
	struct daemon d;
	chan_msg *m = NULL;
	chan_tx *tx;
	chan_rx *rx;

	daemon_start(&d, NULL);
	pc = test_connect(&d);
	cc = test_connect(&d);
	expect_rc(chan_tx_open(pc, "live", &tx), 0, "tx");
	expect_rc(chan_rx_open(cc, "live", &rx), 0, "rx");
	expect_rc(chan_tx_send(tx, "one", 3), 0, "send");
	expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0, "recv");
	chan_msg_free(m);

	/* Both connections open and idle: the daemon must not wait on them. */
	daemon_stop(&d);
	ck_assert_msg(access(d.sock, F_OK) < 0 && errno == ENOENT,
	    "socket file %s left behind", d.sock);

	/* The daemon is gone: every call says so, none blocks. */
	expect_rc(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m),
	    CHAN_ECONNLOST, "recv after shutdown");
	expect_rc(chan_tx_send(tx, "two", 3), CHAN_ECONNLOST,
	    "send after shutdown");
	expect_rc(chan_rx_close(rx), CHAN_ECONNLOST, "rx close");
	expect_rc(chan_tx_close(tx), CHAN_ECONNLOST, "tx close");
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/* Logging. */

/* Lines of text that contain needle. */
static int
count_lines_with(const char *text, const char *needle)
{
	const char *line = text, *nl;
	int n = 0;

	while (*line != '\0') {
		nl = strchr(line, '\n');
		if (nl == NULL)
			nl = line + strlen(line);
		if (memmem(line, (size_t)(nl - line), needle,
		    strlen(needle)) != NULL)
			n++;
		line = *nl == '\n' ? nl + 1 : nl;
	}
	return n;
}

/* Every line is "chand: LEVEL: text", whole (newline-terminated). */
static void
assert_log_lines_have_levels(const char *text)
{
	regex_t re;
	const char *line = text, *nl;
	char buf[4096];
	size_t len;

	ck_assert_int_eq(regcomp(&re, "^chand: (debug|info|notice|warning|"
	    "error): [^ ]", REG_EXTENDED | REG_NOSUB), 0);
	while (*line != '\0') {
		nl = strchr(line, '\n');
		ck_assert_msg(nl != NULL, "log ends inside a line: \"%s\"",
		    line);
		len = (size_t)(nl - line);
		if (len >= sizeof buf)
			len = sizeof buf - 1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		ck_assert_msg(regexec(&re, buf, 0, NULL, 0) == 0,
		    "log line without a level: \"%s\"", buf);
		line = nl + 1;
	}
	regfree(&re);
}

START_TEST(test_startup_and_shutdown_are_logged_one_line_each_with_a_level)
{
	struct own_daemon od;
	char *err, want[PATH_MAX + 64];

	own_daemon_init(&od);
	own_daemon_start(&od);
	assert_serves_at(od.sock);
	proc_kill(&od.p, SIGTERM);
	err = proc_read_err(&od.p, NULL, HARNESS_WAIT_MS);
	ck_assert_int_eq(proc_wait(&od.p, HARNESS_WAIT_MS), 0);

	assert_log_lines_have_levels(err);
	snprintf(want, sizeof want, "listening on %s (pid %d)", od.sock,
	    (int)od.p.pid);
	ck_assert_msg(count_lines_with(err, want) == 1,
	    "no single startup line \"%s\" in:\n%s", want, err);
	ck_assert_msg(count_lines_with(err, "SIGTERM") == 1,
	    "no single line about SIGTERM in:\n%s", err);
	/* A client that connected and left cleanly is no notable event. */
	ck_assert_msg(count_lines_with(err, "warning") == 0 &&
	    count_lines_with(err, "error") == 0,
	    "warnings or errors in a clean run:\n%s", err);
	free(err);
	own_daemon_cleanup(&od);
}
END_TEST

/* Sends n undecodable frames on a handshaken connection; n ERRORs back. */
static void
send_garbage_frames(const struct daemon *d, int n)
{
	static const char frame[] = "\x00\x00\x00\x04\xc1\xc1\xc1\xc1";
	char body[4096];
	int fd, i;

	fd = raw_connect(d);
	raw_hello(fd);
	for (i = 0; i < n; i++)
		raw_write(fd, frame, sizeof frame - 1);
	/* Each ERROR was logged, if at all, before it was sent. */
	for (i = 0; i < n; i++)
		ck_assert_int_gt(raw_read_frame(fd, body, sizeof body,
		    HARNESS_WAIT_MS), 0);
	close(fd);
}

START_TEST(test_log_level_warning_leaves_out_info_lines)
{
	const char *args[] = { "--log-level", "warning", NULL };
	struct daemon d;
	char *log;

	daemon_start(&d, args);
	/* The startup line is written before READY. */
	log = daemon_log(&d);
	ck_assert_msg(count_lines_with(log, "info") == 0,
	    "info lines at level warning:\n%s", log);
	free(log);
	send_garbage_frames(&d, 1);
	log = daemon_log(&d);
	ck_assert_msg(count_lines_with(log, "warning: protocol error") == 1,
	    "the warning is missing:\n%s", log);
	free(log);
	daemon_stop(&d);
}
END_TEST

/* More startup checks. */

/*
 * The default mode for root under /run: the rule is "euid 0 and a path
 * under /run/", so a private directory there shows it without touching
 * the system's shared /run/chand.sock. Runs only as root with a writable
 * /run. The daemon is stopped and the directory removed before the mode
 * is judged, so that a wrong mode leaves nothing behind in /run.
 */
START_TEST(test_socket_mode_defaults_to_0660_for_root_under_run)
{
	char dir[] = "/run/chand-test-XXXXXX";
	struct own_daemon od;
	struct stat st;
	int rc, err;

	if (geteuid() != 0 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "%s: skipped (needs root and a writable "
		    "/run)\n", __func__);
		return;
	}
	memset(&od, 0, sizeof od);
	snprintf(od.dir, sizeof od.dir, "%s", dir);
	path_join(od.sock, sizeof od.sock, od.dir, "chand.sock");
	own_daemon_start(&od);
	rc = stat(od.sock, &st);
	err = errno;
	proc_kill(&od.p, SIGTERM);
	ck_assert_int_eq(proc_wait(&od.p, HARNESS_WAIT_MS), 0);
	own_daemon_cleanup(&od);
	ck_assert_msg(rc == 0, "stat %s: %s", od.sock, strerror(err));
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
}
END_TEST

START_TEST(test_regular_file_at_the_socket_path_is_left_alone)
{
	struct cmd_result r;
	char dir[PATH_MAX], path[PATH_MAX], buf[16];
	const char *argv[] = { CHAND_BIN, "--socket", path, NULL };
	int fd;

	make_dir(dir, sizeof dir);
	path_join(path, sizeof path, dir, "chand.sock");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "precious", 8), 8);
	close(fd);

	run_chand(argv, &r);
	ck_assert_msg(r.code == 1, "exit %d, stderr: %s", r.code, r.err);
	ck_assert_msg(strstr(r.err, path) != NULL &&
	    strstr(r.err, "not a socket") != NULL,
	    "stderr does not say %s is not a socket: %s", path, r.err);
	cmd_result_fini(&r);

	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof buf), 8);
	ck_assert_int_eq(memcmp(buf, "precious", 8), 0);
	close(fd);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_socket_in_a_missing_directory_exits_1_naming_it)
{
	struct cmd_result r;
	char dir[PATH_MAX], path[PATH_MAX];
	const char *argv[] = { CHAND_BIN, "--socket", path, NULL };

	make_dir(dir, sizeof dir);
	path_join(path, sizeof path, dir, "missing/chand.sock");
	run_chand(argv, &r);
	ck_assert_msg(r.code == 1, "exit %d, stderr: %s", r.code, r.err);
	ck_assert_msg(strstr(r.err, path) != NULL,
	    "stderr does not name %s: %s", path, r.err);
	cmd_result_fini(&r);
	rmdir(dir);
}
END_TEST

/*
 * Without --socket, a user other than root gets
 * $XDG_RUNTIME_DIR/chand.sock. As root the test runs chand as nobody
 * (setpriv), in a directory nobody owns.
 */
START_TEST(test_default_socket_of_a_non_root_user_is_in_xdg_runtime_dir)
{
	struct own_daemon od;
	struct stat st;
	char line[64];
	uid_t uid = geteuid() == 0 ? 65534 : geteuid();

	own_daemon_init(&od);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(od.dir, uid, (gid_t)uid), 0);
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", od.dir, 1), 0);
	unsetenv("CHAND_SOCKET");
	{
		/* nobody may not reach the build tree: run a copy. */
		const char *as_nobody[] = { "setpriv", "--reuid=65534",
		    "--regid=65534", "--clear-groups",
		    geteuid() == 0 ? shared_copy(CHAND_BIN) : CHAND_BIN,
		    "--ready-fd", "1", NULL };
		const char *as_me[] = { CHAND_BIN, "--ready-fd", "1", NULL };

		proc_spawn(&od.p, geteuid() == 0 ? as_nobody : as_me);
	}
	ck_assert_msg(proc_read_line(&od.p, line, sizeof line,
	    HARNESS_WAIT_MS) >= 0, "chand exited before READY");
	ck_assert_str_eq(line, "READY");
	ck_assert_int_eq(stat(od.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_uid, uid);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	assert_serves_at(od.sock);
	proc_kill(&od.p, SIGTERM);
	ck_assert_int_eq(proc_wait(&od.p, HARNESS_WAIT_MS), 0);
	own_daemon_cleanup(&od);
}
END_TEST

/* Next frame on fd must be ERROR(rid 0, SHUTDOWN), then end of file. */
static void
expect_shutdown_error(int fd)
{
	static const char why[] = "daemon shutting down";
	struct proto_decoder *dec;
	struct proto_msg m;
	char body[4096];
	ssize_t n;

	n = raw_read_frame(fd, body, sizeof body, HARNESS_WAIT_MS);
	ck_assert_msg(n > 0, "connection closed without an ERROR");
	ck_assert_ptr_nonnull(dec = proto_decoder_new(sizeof body));
	ck_assert_int_eq(proto_decode(dec, body, (size_t)n, &m), 0);
	ck_assert_msg(m.op == PROTO_ERROR && m.rid == 0 &&
	    m.code == (uint32_t)-CHAN_ESHUTDOWN,
	    "got %s rid %u code %u, want ERROR rid 0 code %d",
	    proto_op_name((int)m.op), m.rid, m.code, -CHAN_ESHUTDOWN);
	ck_assert_msg(m.text_len == sizeof why - 1 &&
	    memcmp(m.text, why, sizeof why - 1) == 0,
	    "ERROR text \"%.*s\"", (int)m.text_len,
	    m.text != NULL ? m.text : "");
	proto_decoder_free(dec);
	ck_assert_int_eq(raw_read_frame(fd, body, sizeof body,
	    HARNESS_WAIT_MS), -1);
}

/*
 * SIGTERM with clients attached: before its connection closes, each client
 * is told why, ERROR(rid 0, SHUTDOWN "daemon shutting down"), whether it
 * is waiting in a receive or has not even sent its HELLO. The library
 * turns that into CHAN_ECONNLOST with the daemon's reason. daemon_stop
 * then sends a second SIGTERM, which must not change the exit status 0.
 */
START_TEST(test_sigterm_tells_every_client_the_daemon_is_shutting_down)
{
	struct daemon d;
	chan_client *c;
	chan_msg *msg = NULL;
	chan_rx *rx;
	const char *why;
	int fd, rc;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ck_assert_int_eq(chan_rx_open(c, "idle", &rx), 0);
	/*
	 * Its round trip grants the daemon credit now, so the receive below
	 * only reads: this test is about a client waiting on the daemon
	 * (test_send_after_the_daemon_stopped_reports_its_shutdown covers
	 * one that writes).
	 */
	ck_assert_int_eq(chan_rx_try_recv(rx, &msg), CHAN_EEMPTY);
	fd = raw_connect(&d);		/* no HELLO: still in its handshake */
	ck_assert_int_eq(kill(d.pid, SIGTERM), 0);

	/* Nothing is queued: the receive waits until the daemon says why. */
	rc = chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &msg);
	ck_assert_msg(rc == CHAN_ECONNLOST, "recv: got %s, want %s",
	    chan_errname(rc), chan_errname(CHAN_ECONNLOST));
	ck_assert_ptr_null(msg);
	why = chan_client_errmsg(c);
	ck_assert_msg(strstr(why, "CHAN_ESHUTDOWN") != NULL &&
	    strstr(why, "daemon shutting down") != NULL,
	    "errmsg does not say the daemon is shutting down: \"%s\"", why);

	expect_shutdown_error(fd);
	close(fd);

	daemon_stop(&d);	/* a second SIGTERM; exit status 0 */
	ck_assert_int_eq(chan_rx_close(rx), CHAN_ECONNLOST);
	chan_disconnect(c);
}
END_TEST

/*
 * A client that connects while the daemon is stopped (SIGSTOP) waits in
 * the listen backlog; SIGTERM then SIGCONT. Whether the daemon accepts it
 * before or after handling SIGTERM, it is told why, not reset.
 */
START_TEST(test_connection_not_yet_accepted_at_sigterm_gets_the_shutdown_error)
{
	struct daemon d;
	int fd[3], i;

	daemon_start(&d, NULL);
	ck_assert_int_eq(kill(d.pid, SIGSTOP), 0);
	for (i = 0; i < 3; i++)
		fd[i] = raw_connect(&d);	/* queued: nobody accepts */
	ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
	ck_assert_int_eq(kill(d.pid, SIGCONT), 0);
	for (i = 0; i < 3; i++) {
		expect_shutdown_error(fd[i]);
		close(fd[i]);
	}
	daemon_stop(&d);	/* a second SIGTERM; exit status 0 */
}
END_TEST

/*
 * A client that only writes after the daemon has gone still learns why:
 * the send fails with CHAN_ECONNLOST and the reason is the daemon's
 * SHUTDOWN error left on the socket, not a bare broken pipe.
 */
START_TEST(test_send_after_the_daemon_stopped_reports_its_shutdown)
{
	struct daemon d;
	chan_client *c;
	chan_tx *tx;
	const char *why;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ck_assert_int_eq(chan_tx_open(c, "late", &tx), 0);
	daemon_stop(&d);	/* reaped: the daemon is gone */

	ck_assert_int_eq(chan_tx_send(tx, "x", 1), CHAN_ECONNLOST);
	why = chan_client_errmsg(c);
	ck_assert_msg(strstr(why, "daemon shutting down") != NULL,
	    "errmsg does not give the daemon's reason: \"%s\"", why);
	chan_tx_close(tx);
	chan_disconnect(c);
}
END_TEST

/* text with every run of spaces and newlines made one space (malloc'd). */
static char *
squeeze(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;

	ck_assert_ptr_nonnull(out);
	for (; *text != '\0'; text++) {
		if (*text != ' ' && *text != '\n')
			*o++ = *text;
		else if (o > out && o[-1] != ' ')
			*o++ = ' ';
	}
	*o = '\0';
	return out;
}

/*
 * --help is the manual: every option has an entry of its own (a line
 * "--name VALUE" in OPTIONS) with its default, and the sections SIGNALS
 * and EXIT STATUS say what SIGTERM does and what each status means. Usage
 * errors get only the synopsis, on stderr.
 */
START_TEST(test_help_describes_every_option_with_its_default)
{
	static const char *opts[] = { "--socket PATH", "--socket-mode MODE",
	    "--max-msg-size BYTES", "--max-connections N",
	    "--max-handles N", "--max-queued-bytes BYTES",
	    "--max-queued-messages N", "--handshake-timeout SECONDS",
	    "--log-level LEVEL", "--ready-fd FD",
	    "--default-capacity N|unbounded",
	    "--default-capacity-bytes BYTES|unbounded", NULL };
	static const char *sections[] = { "NAME\n", "SYNOPSIS\n",
	    "DESCRIPTION\n", "OPTIONS\n", "SIGNALS\n", "EXIT STATUS\n", NULL };
	const char *help[] = { CHAND_BIN, "--help", NULL };
	const char *bad[] = { CHAND_BIN, "--no-such-flag", NULL };
	struct cmd_result r;
	char entry[64], *flat;
	size_t i;

	run_cmd(help, NULL, 0, HARNESS_WAIT_MS, &r);
	ck_assert_msg(r.code == 0 && r.err_len == 0, "exit %d, stderr: %s",
	    r.code, r.err);
	for (i = 0; sections[i] != NULL; i++)
		ck_assert_msg(strstr(r.out, sections[i]) != NULL,
		    "no section %s in:\n%s", sections[i], r.out);
	for (i = 0; opts[i] != NULL; i++) {
		/* An entry starts its line: "         --socket PATH ..." */
		snprintf(entry, sizeof entry, "         %s", opts[i]);
		ck_assert_msg(strstr(r.out, entry) != NULL,
		    "no entry for %s in:\n%s", opts[i], r.out);
	}
	/* Descriptions wrap anywhere: compare them with spaces squeezed. */
	flat = squeeze(r.out);
	ck_assert_msg(strstr(flat, "(default: 1M; range 1 to 64M)") != NULL,
	    "--max-msg-size default and range missing:\n%s", r.out);
	ck_assert_msg(strstr(flat, "SIGINT, SIGTERM") != NULL &&
	    strstr(flat, "(ERROR SHUTDOWN, code 12)") != NULL &&
	    strstr(flat, "exit 0") != NULL,
	    "SIGNALS does not say what SIGTERM does:\n%s", r.out);
	free(flat);
	ck_assert_msg(mentions_option(r.out, "--help", 'h') &&
	    mentions_option(r.out, "--version", 'V'),
	    "--help does not mention -h and -V:\n%s", r.out);
	ck_assert_msg(strstr(r.out, "     0  ") != NULL &&
	    strstr(r.out, "     1  ") != NULL &&
	    strstr(r.out, "     2  usage error") != NULL,
	    "EXIT STATUS incomplete:\n%s", r.out);
	cmd_result_fini(&r);

	run_cmd(bad, NULL, 0, HARNESS_WAIT_MS, &r);
	ck_assert_int_eq(r.code, 2);
	ck_assert_uint_eq(r.out_len, 0);
	ck_assert_msg(strstr(r.err, "usage: chand [-hV]") != NULL &&
	    strstr(r.err, "OPTIONS") == NULL,
	    "usage error does not print the short synopsis:\n%s", r.err);
	cmd_result_fini(&r);
}
END_TEST

/* The "Max open files" soft and hard limits of pid, from /proc. */
static void
proc_nofile(pid_t pid, unsigned long long *soft, unsigned long long *hard)
{
	char path[64], line[256];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "re"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Max open files", 14) != 0)
			continue;
		found = sscanf(line + 14, "%llu %llu", soft, hard) == 2;
		break;
	}
	fclose(f);
	ck_assert_msg(found, "no numeric \"Max open files\" in %s", path);
}

START_TEST(test_descriptor_soft_limit_is_raised_to_the_hard_limit)
{
	struct rlimit saved, low;
	struct daemon d;
	unsigned long long soft, hard;
	char want[96], *log;

	/* Started with a soft limit far below the hard one. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	ck_assert_uint_gt(saved.rlim_max, 64);
	low = saved;
	low.rlim_cur = 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	daemon_start(&d, NULL);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);

	proc_nofile(d.pid, &soft, &hard);
	ck_assert_uint_eq(soft, hard);
	if (saved.rlim_max != RLIM_INFINITY)
		ck_assert_uint_eq(hard, saved.rlim_max);
	snprintf(want, sizeof(want), "descriptor limit raised from 64 to %llu",
	    soft);
	log = daemon_log(&d);
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in the log:\n%s",
	    want, log);
	free(log);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

static Suite *
daemon_suite(void)
{
	Suite *s = suite_create("e2e_daemon");
	TCase *tc;

	tc = tcase_create("startup");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_socket_path_longer_than_sun_path_is_refused);
	tcase_add_test(tc, test_stale_socket_file_is_replaced);
	tcase_add_test(tc, test_live_daemon_is_not_clobbered_by_a_second_one);
	tcase_add_test(tc, test_socket_mode_defaults_to_0600_outside_run);
	tcase_add_test(tc, test_socket_mode_option_is_honoured);
	tcase_add_test(tc,
	    test_socket_mode_defaults_to_0660_for_root_under_run);
	tcase_add_test(tc, test_regular_file_at_the_socket_path_is_left_alone);
	tcase_add_test(tc,
	    test_socket_in_a_missing_directory_exits_1_naming_it);
	tcase_add_test(tc,
	    test_default_socket_of_a_non_root_user_is_in_xdg_runtime_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_connection_over_max_connections_gets_limit_and_others_stay);
	tcase_add_test(tc,
	    test_open_over_max_handles_gets_limit_and_the_connection_stays);
	tcase_add_test(tc,
	    test_send_over_max_queued_bytes_gets_limit_until_the_consumer_acks);
	/* Valgrind fixes the hard limit at the soft one it starts with. */
	if (!harness_under_valgrind())
		tcase_add_test(tc,
		    test_descriptor_soft_limit_is_raised_to_the_hard_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("logging");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_startup_and_shutdown_are_logged_one_line_each_with_a_level);
	tcase_add_test(tc, test_log_level_warning_leaves_out_info_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("shutdown");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_sigterm_tells_every_client_the_daemon_is_shutting_down);
	tcase_add_test(tc,
	    test_connection_not_yet_accepted_at_sigterm_gets_the_shutdown_error);
	tcase_add_test(tc,
	    test_send_after_the_daemon_stopped_reports_its_shutdown);
	tcase_add_test(tc, test_sigterm_exits_0_and_removes_the_socket);
	tcase_add_test(tc, test_sigint_exits_0_and_removes_the_socket);
	tcase_add_test(tc,
	    test_sigterm_with_clients_attached_exits_0_and_their_calls_fail);
	suite_add_tcase(s, tc);

	tc = tcase_create("usage");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_help_describes_every_option_with_its_default);
	tcase_add_test(tc, test_version_prints_name_and_version);
	tcase_add_test(tc, test_unknown_flag_exits_2);
	tcase_add_test(tc, test_max_msg_size_0_exits_2);
	tcase_add_test(tc, test_socket_mode_999_exits_2);
	tcase_add_test(tc, test_missing_flag_value_exits_2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(daemon_suite());
}

/*
 * test_e2e_daemon.c: chand's command line, startup and shutdown, driven
 * through the real executable: socket path checks, stale and live sockets,
 * socket modes, signals, usage.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "chanclient.h"
#include "harness.h"

#define CMD_MS		10000	/* bound on a command that must exit */

/*
 * A chand this file runs itself rather than through daemon_start, because
 * the test needs the exact path or the exit status of a signal. proc_spawn
 * makes it die with the test process if the test fails.
 */
struct own_daemon {
	struct proc	p;
	char		dir[PATH_MAX];
	char		sock[PATH_MAX];
};

static void
make_dir(char *dir, size_t len)
{
	char tmpl[] = "/tmp/chand-e2e-XXXXXX";

	ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(dir, len, "%s", tmpl);
}

/* dir/name into out, which must hold it. */
static void
path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	ck_assert_msg(n > 0 && (size_t)n < len, "path too long: %s/%s", dir,
	    name);
}

/* Starts chand on od->sock and waits for READY on its stdout. */
static void
own_start(struct own_daemon *od)
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

static void
own_init(struct own_daemon *od)
{
	memset(od, 0, sizeof *od);
	make_dir(od->dir, sizeof od->dir);
	path_join(od->sock, sizeof od->sock, od->dir, "chand.sock");
}

static void
own_cleanup(struct own_daemon *od)
{
	unlink(od->sock);
	rmdir(od->dir);
}

/* One message through the daemon at path, proving that it serves. */
static void
assert_serves(const char *path)
{
	chan_client *c = NULL;
	chan_tx *tx;
	chan_rx *rx;
	chan_msg *m;
	int rc;

	rc = chan_connect(path, &c);
	ck_assert_msg(rc == 0, "chan_connect %s: %s", path, chan_errname(rc));
	ck_assert_int_eq(chan_tx_open(c, "alive", &tx), 0);
	ck_assert_int_eq(chan_tx_send(tx, "yes", 3), 0);
	ck_assert_int_eq(chan_rx_open(c, "alive", &rx), 0);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0);
	ck_assert_uint_eq(chan_msg_len(m), 3);
	ck_assert_int_eq(memcmp(chan_msg_data(m), "yes", 3), 0);
	chan_msg_free(m);
	chan_rx_close(rx);
	chan_tx_close(tx);
	chan_disconnect(c);
}

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

	own_init(&od);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	path_join(sun.sun_path, sizeof sun.sun_path, od.dir, "chand.sock");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);
	ck_assert_int_eq(stat(od.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));

	own_start(&od);
	assert_serves(od.sock);
	proc_kill(&od.p, SIGTERM);
	ck_assert_int_eq(proc_wait(&od.p, HARNESS_WAIT_MS), 0);
	own_cleanup(&od);
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
	assert_serves(d.sock);
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
	assert_serves(d.sock);
	daemon_stop(&d);
}
END_TEST

/* Signal sig to a serving daemon: exit 0 and the socket file is gone. */
static void
check_clean_exit_on(int sig)
{
	struct own_daemon od;

	own_init(&od);
	own_start(&od);
	assert_serves(od.sock);
	proc_kill(&od.p, sig);
	ck_assert_int_eq(proc_wait(&od.p, HARNESS_WAIT_MS), 0);
	ck_assert_msg(access(od.sock, F_OK) < 0 && errno == ENOENT,
	    "socket file %s left behind", od.sock);
	own_cleanup(&od);
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

/*
 * Whether usage text mentions an option, by its long name or its short
 * letter, alone ("-h") or in a cluster ("[-hV]").
 */
static int
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

START_TEST(test_help_exits_0_and_lists_every_flag)
{
	static const char *flags[] = { "--socket", "--socket-mode",
	    "--max-msg-size", "--max-connections", "--max-handles",
	    "--max-queued-bytes", "--handshake-timeout", "--log-level",
	    "--ready-fd", NULL };
	const char *argv[] = { CHAND_BIN, "--help", NULL };
	struct cmd_result r;
	size_t i;

	run_chand(argv, &r);
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	for (i = 0; flags[i] != NULL; i++)
		ck_assert_msg(strstr(r.out, flags[i]) != NULL,
		    "--help does not mention %s:\n%s", flags[i], r.out);
	ck_assert_msg(mentions_option(r.out, "--help", 'h'),
	    "--help does not mention -h:\n%s", r.out);
	ck_assert_msg(mentions_option(r.out, "--version", 'V'),
	    "--help does not mention -V:\n%s", r.out);
	cmd_result_fini(&r);
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
	suite_add_tcase(s, tc);

	tc = tcase_create("shutdown");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sigterm_exits_0_and_removes_the_socket);
	tcase_add_test(tc, test_sigint_exits_0_and_removes_the_socket);
	suite_add_tcase(s, tc);

	tc = tcase_create("usage");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_help_exits_0_and_lists_every_flag);
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
	SRunner *sr = srunner_create(daemon_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

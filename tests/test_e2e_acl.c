/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_acl.c: access rules (--access-file) against a real chand.
 *
 * The tests run as root; each client whose rights are under test is a
 * forked child that takes another uid, gid and supplementary groups
 * (setgroups, setgid, setuid) and then connects through libchanclient, so
 * that the daemon sees those credentials on the socket. Children report
 * through their exit code and stderr, never through Check.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

/* Ids with no passwd or group entry: rules name them by number. */
#define UID_A	4242
#define UID_B	4243
#define GID_A	4000
#define GID_X	5000

static struct daemon	d;
static char		rules_dir[PATH_MAX];
static char		rules[PATH_MAX];

/* Who a child becomes. */
struct who {
	uid_t	uid;
	gid_t	gid;
	int	ngroups;
	gid_t	groups[4];
};

/* One open a child tries, and the result it must get. */
struct try {
	char		 end;		/* 't': OPEN_TX, 'r': OPEN_RX */
	const char	*name;
	int		 want;
};

struct job {
	struct who		 who;
	const struct try	*tries;
	size_t			 ntries;
};

#define NTRIES(a)	(sizeof(a) / sizeof((a)[0]))

static void
write_rules(const char *text)
{
	FILE *f;

	make_dir(rules_dir, sizeof rules_dir);
	path_join(rules, sizeof rules, rules_dir, "access");
	ck_assert_msg((f = fopen(rules, "w")) != NULL, "%s: %s", rules,
	    strerror(errno));
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static void
remove_rules(void)
{
	unlink(rules);
	rmdir(rules_dir);
}

/* A daemon that every uid can reach, with the rules file if any. */
static void
start(int with_rules)
{
	const char *with[] = { "--socket-mode", "0666", "--access-file",
	    rules, NULL };
	const char *without[] = { "--socket-mode", "0666", NULL };

	daemon_start(&d, with_rules ? with : without);
	/* mkdtemp made it 0700: let other users reach the socket. */
	ck_assert_int_eq(chmod(d.dir, 0711), 0);
}

static int
become(const struct who *w)
{
	if (setgroups((size_t)w->ngroups, w->groups) != 0 ||
	    setgid(w->gid) != 0 || setuid(w->uid) != 0) {
		fprintf(stderr, "child: cannot become uid %d: %s\n",
		    (int)w->uid, strerror(errno));
		return -1;
	}
	return 0;
}

static int
try_one(chan_client *c, const struct try *t)
{
	chan_tx *tx = NULL;
	chan_rx *rx = NULL;
	const char *msg;
	int rc;

	rc = t->end == 't' ? chan_tx_open(c, t->name, &tx) :
	    chan_rx_open(c, t->name, &rx);
	if (tx != NULL)
		chan_tx_close(tx);
	if (rx != NULL)
		chan_rx_close(rx);
	msg = chan_client_errmsg(c);
	if (rc != t->want) {
		fprintf(stderr, "child: open %s '%s': got %s, want %s (%s)\n",
		    t->end == 't' ? "tx" : "rx", t->name, chan_errname(rc),
		    chan_errname(t->want), msg);
		return -1;
	}
	/*
	 * A refusal names the channel and says why, and nothing more: not
	 * whether the channel has a consumer (a BUSY error names its pid).
	 */
	if (rc == CHAN_EPERM && (strstr(msg, t->name) == NULL ||
	    strstr(msg, "permission denied") == NULL ||
	    strstr(msg, "pid") != NULL)) {
		fprintf(stderr, "child: PERM for '%s' says '%s'\n", t->name,
		    msg);
		return -1;
	}
	return 0;
}

static int
run_job(void *arg)
{
	const struct job *j = arg;
	chan_client *c;
	size_t i;
	int rc, failed = 0;

	if (become(&j->who) != 0)
		return 3;
	if ((rc = chan_connect(d.sock, &c)) != 0) {
		fprintf(stderr, "child: connect: %s\n", chan_errname(rc));
		return 4;
	}
	for (i = 0; i < j->ntries; i++)
		failed |= try_one(c, &j->tries[i]) != 0;
	chan_disconnect(c);
	return failed ? 1 : 0;
}

static void
expect_job(const struct job *j)
{
	child_wait_ok(child_fork(run_job, (void *)j));
}

START_TEST(test_without_rules_everyone_may_do_everything)
{
	static const struct try tries[] = {
		{ 't', "jobs", 0 }, { 'r', "jobs", 0 }, { 't', "x.y", 0 },
	};
	struct job j = { { UID_A, GID_A, 0, { 0 } }, tries, NTRIES(tries) };

	start(0);
	expect_job(&j);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_denied_send_allowed_receive)
{
	static const struct try tries[] = {
		{ 't', "jobs", CHAN_EPERM }, { 'r', "jobs", 0 },
		{ 't', "other", CHAN_EPERM }, { 'r', "other", CHAN_EPERM },
	};
	struct job j = { { UID_A, GID_A, 0, { 0 } }, tries, NTRIES(tries) };
	chan_client *c;
	chan_tx *tx;
	char *log;

	write_rules("# consumers of jobs\n"
	    "allow uid:4242 recv jobs   # the worker\n\n");
	start(1);
	expect_job(&j);
	/* Root may do everything; one refusal per connection is logged. */
	c = test_connect(&d);
	tx = tx_open(c, "jobs");
	send_str(tx, "work");
	chan_disconnect(c);
	log = daemon_log(&d);
	ck_assert_msg(strstr(log, "permission denied: no send right on "
	    "channel 'jobs' (pid=") != NULL, "log: %s", log);
	ck_assert_msg(strstr(log, "'other'") == NULL, "logged twice: %s", log);
	free(log);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

/* chan-send as UID_A, its stderr into a pipe. */
struct cli_as {
	int		 err_fd;
	const char	*channel;
	const char	*bin;		/* chan-send, where UID_A reaches it */
};

static int
chan_send_as_a(void *arg)
{
	const struct cli_as *a = arg;

	if (become(&(struct who){ UID_A, GID_A, 0, { 0 } }) != 0)
		return 3;
	if (dup2(a->err_fd, STDERR_FILENO) < 0)
		return 4;
	execl(a->bin, "chan-send", "--socket", d.sock, a->channel,
	    "value", (char *)NULL);
	dprintf(STDERR_FILENO, "exec %s as uid %d: %s\n", a->bin, UID_A,
	    strerror(errno));
	return 5;
}

/* Reads fd to its end (bounded) into buf, NUL-terminated. */
static void
read_to_eof(int fd, char *buf, size_t cap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	for (;;) {
		ck_assert_msg(poll_until(&pfd, 1, now_ms() + HARNESS_WAIT_MS)
		    == 1, "no end of stderr from chan-send");
		n = read(fd, buf + len, cap - 1 - len);
		ck_assert_int_ge(n, 0);
		if (n == 0 || (len += (size_t)n) == cap - 1)
			break;
	}
	buf[len] = '\0';
}

START_TEST(test_denied_cli_send_exits_12_naming_the_channel)
{
	struct cli_as a = { -1, "jobs", shared_copy(CHAN_SEND_BIN) };
	char err[1024];
	pid_t pid;
	int fds[2], code;

	write_rules("allow uid:4242 recv jobs\n");
	start(1);
	ck_assert_int_eq(pipe(fds), 0);
	a.err_fd = fds[1];
	pid = child_fork(chan_send_as_a, &a);
	close(fds[1]);
	read_to_eof(fds[0], err, sizeof(err));
	close(fds[0]);
	code = child_wait(pid);
	ck_assert_msg(code == 12, "chan-send as uid %d exited %d, not 12; "
	    "stderr: %s", UID_A, code, err);
	ck_assert_msg(strstr(err, "jobs") != NULL &&
	    strstr(err, "permission denied") != NULL, "stderr: %s", err);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

/* The allowed consumer gets what root sent: rules let messages through. */
static int
receive_work(void *arg)
{
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	int rc;

	(void)arg;
	if (become(&(struct who){ UID_A, GID_A, 0, { 0 } }) != 0)
		return 3;
	if (chan_connect(d.sock, &c) != 0 || chan_rx_open(c, "jobs", &rx) != 0)
		return 4;
	rc = chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m);
	if (rc != 0 || chan_msg_len(m) != 4 ||
	    memcmp(chan_msg_data(m), "work", 4) != 0) {
		fprintf(stderr, "child: recv: %s\n", chan_errname(rc));
		return 1;
	}
	chan_msg_free(m);
	chan_disconnect(c);
	return 0;
}

START_TEST(test_allowed_consumer_receives)
{
	chan_client *c;
	chan_tx *tx;

	write_rules("allow uid:4242 recv jobs\n");
	start(1);
	c = test_connect(&d);
	tx = tx_open(c, "jobs");
	send_str(tx, "work");
	child_wait_ok(child_fork(receive_work, NULL));
	chan_disconnect(c);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

START_TEST(test_prefix_rules)
{
	static const struct try a_tries[] = {
		{ 't', "team.a", 0 }, { 't', "team.b.c", 0 },
		{ 't', "team.", 0 }, { 't', "team", CHAN_EPERM },
		{ 't', "teamx", CHAN_EPERM }, { 'r', "team.a", CHAN_EPERM },
		{ 'r', "pub.news", 0 }, { 't', "pub.news", CHAN_EPERM },
	};
	static const struct try b_tries[] = {
		{ 't', "team.a", 0 }, { 'r', "pub.news", 0 },
		{ 't', "anything", 0 }, { 'r', "anything", CHAN_EPERM },
		{ 'r', "team.a", CHAN_EPERM },
	};
	struct job a = { { UID_A, GID_A, 0, { 0 } }, a_tries,
	    NTRIES(a_tries) };
	struct job b = { { UID_B, GID_A, 0, { 0 } }, b_tries,
	    NTRIES(b_tries) };

	write_rules("allow uid:4242 send team.*\n"
	    "allow * recv pub.*\n"
	    "allow uid:4243 send *\n");
	start(1);
	expect_job(&a);
	expect_job(&b);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

START_TEST(test_group_rules_match_primary_and_supplementary_groups)
{
	static const struct try yes[] = {
		{ 't', "grp", 0 }, { 'r', "grp", 0 }, { 't', "nobody.q", 0 },
	};
	static const struct try no[] = {
		{ 't', "grp", CHAN_EPERM }, { 'r', "grp", CHAN_EPERM },
		{ 't', "nobody.q", CHAN_EPERM },
	};
	/* In GID_X as a supplementary group, then as the primary one. */
	struct job supp = { { UID_A, GID_A, 2, { 123, GID_X } }, yes, 2 };
	struct job prim = { { UID_B, GID_X, 0, { 0 } }, yes, 2 };
	struct job none = { { UID_A, GID_A, 1, { 123 } }, no, 2 };
	struct group *gr = getgrnam("nogroup");
	struct job named = { { UID_A, GID_A, 1, { 0 } }, yes + 2, 1 };
	struct job unnamed = { { UID_A, GID_A, 0, { 0 } }, no + 2, 1 };

	ck_assert_msg(gr != NULL, "no group 'nogroup' on this system");
	named.who.groups[0] = gr->gr_gid;
	write_rules("allow gid:5000 send,recv grp\n"
	    "allow group:nogroup all nobody.*\n");
	start(1);
	expect_job(&supp);
	expect_job(&prim);
	expect_job(&none);
	expect_job(&named);
	expect_job(&unnamed);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

START_TEST(test_user_rules_and_rights_lists)
{
	static const struct try tries[] = {
		{ 't', "n", 0 }, { 'r', "n", 0 }, { 't', "m", CHAN_EPERM },
		{ 'r', "m", 0 },
	};
	struct passwd *pw = getpwnam("nobody");
	struct job j = { { 0, GID_A, 0, { 0 } }, tries, NTRIES(tries) };

	ck_assert_msg(pw != NULL, "no user 'nobody' on this system");
	j.who.uid = pw->pw_uid;
	write_rules("allow user:nobody recv,send n\n"
	    "allow user:nobody recv m\n");
	start(1);
	expect_job(&j);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

/* A refusal must not tell whether the channel has a consumer. */
START_TEST(test_denied_consumer_learns_nothing_about_the_channel)
{
	static const struct try tries[] = {
		{ 'r', "secret", CHAN_EPERM },
	};
	struct job j = { { UID_A, GID_A, 0, { 0 } }, tries, NTRIES(tries) };
	chan_client *c;
	chan_rx *rx;

	write_rules("allow uid:4242 send public\n");
	start(1);
	c = test_connect(&d);
	expect_rc(chan_rx_open(c, "secret", &rx), 0, "chan_rx_open secret");
	expect_job(&j);
	chan_disconnect(c);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

/*
 * The admin view: a uid with the admin right on team.* sees those channels
 * only; one without any admin right is refused, naming the view.
 */
static int
view_channels(void *arg)
{
	uid_t uid = *(const uid_t *)arg;
	chan_client *c;
	size_t len;
	void *data;
	int rc;

	if (become(&(struct who){ uid, GID_A, 0, { 0 } }) != 0)
		return 3;
	if (chan_connect(d.sock, &c) != 0)
		return 4;
	rc = chan_client_info(c, "channels", NULL, 0, 0, &data, &len);
	if (uid == UID_B) {
		if (rc != CHAN_EPERM || strstr(chan_client_errmsg(c),
		    "channels") == NULL) {
			fprintf(stderr, "child: STATS without admin: %s (%s)\n",
			    chan_errname(rc), chan_client_errmsg(c));
			return 1;
		}
		chan_disconnect(c);
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "child: STATS: %s\n", chan_errname(rc));
		return 1;
	}
	rc = memmem(data, len, "team.a", 6) != NULL &&
	    memmem(data, len, "team.b", 6) != NULL &&
	    memmem(data, len, "secret", 6) == NULL ? 0 : 2;
	if (rc != 0)
		fprintf(stderr, "child: channel list shows the wrong set\n");
	free(data);
	chan_disconnect(c);
	return rc;
}

START_TEST(test_admin_view_needs_admin_and_shows_only_visible_channels)
{
	static const uid_t admin = UID_A, plain = UID_B;
	chan_client *c;
	chan_tx *tx[3];
	size_t len, i;
	void *data;

	write_rules("allow uid:4242 admin team.*\n"
	    "allow uid:4243 send,recv *\n");
	start(1);
	c = test_connect(&d);
	tx[0] = tx_open(c, "team.a");
	tx[1] = tx_open(c, "team.b");
	tx[2] = tx_open(c, "secret");
	child_wait_ok(child_fork(view_channels, (void *)&admin));
	child_wait_ok(child_fork(view_channels, (void *)&plain));
	/* Root sees everything. */
	expect_rc(chan_client_info(c, "channels", NULL, 0, 0, &data, &len), 0,
	    "root's STATS channels");
	ck_assert_msg(memmem(data, len, "secret", 6) != NULL,
	    "root does not see every channel");
	free(data);
	for (i = 0; i < 3; i++)
		chan_tx_close(tx[i]);
	chan_disconnect(c);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

/* One admin action a child tries, and the result it must get. */
struct act {
	const char	*action;
	const char	*arg;
	int		 want;
};

struct act_job {
	uid_t			 uid;
	const struct act	*acts;
	size_t			 n;
	uint64_t		 root_conn;	/* root's connection, to disconnect */
};

static int
run_acts(void *arg)
{
	const struct act_job *j = arg;
	const struct act *a;
	char id[32];
	chan_client *c;
	const char *what;
	size_t i, len;
	void *data;
	int rc, failed = 0;

	if (become(&(struct who){ j->uid, GID_A, 0, { 0 } }) != 0)
		return 3;
	if (chan_connect(d.sock, &c) != 0)
		return 4;
	snprintf(id, sizeof id, "%llu", (unsigned long long)j->root_conn);
	for (i = 0; i < j->n; i++) {
		a = &j->acts[i];
		what = a->arg != NULL ? a->arg : id;
		rc = chan_client_admin(c, a->action, what, strlen(what), &data,
		    &len);
		if (rc == 0)
			free(data);
		if (rc != a->want) {
			fprintf(stderr, "child uid %d: %s %s: %s, want %s (%s)\n",
			    (int)j->uid, a->action, what, chan_errname(rc),
			    chan_errname(a->want), chan_client_errmsg(c));
			failed = 1;
		} else if (rc == CHAN_EPERM && strstr(chan_client_errmsg(c),
		    "permission denied") == NULL) {
			fprintf(stderr, "child: PERM says '%s'\n",
			    chan_client_errmsg(c));
			failed = 1;
		}
	}
	chan_disconnect(c);
	return failed;
}

/*
 * Admin actions need the admin right: purge on the channel, disconnect
 * on some channel (and only connections the caller may see), log-level
 * and reload on every channel. Root may do everything.
 */
START_TEST(test_admin_actions_need_the_admin_right)
{
	static const struct act team[] = {
		{ "purge", "team.a", 0 },
		{ "purge", "secret", CHAN_EPERM },
		{ "log-level", "debug", CHAN_EPERM },
		{ "reload", "", CHAN_EPERM },
		/* Root's connection is not one uid 4242 may see. */
		{ "disconnect", NULL, CHAN_EOPTION },
	};
	static const struct act plain[] = {
		{ "purge", "team.a", CHAN_EPERM },
		{ "disconnect", NULL, CHAN_EPERM },
		{ "log-level", "debug", CHAN_EPERM },
		{ "reload", "", CHAN_EPERM },
	};
	struct act_job a = { UID_A, team, 5, 0 }, b = { UID_B, plain, 4, 0 };
	const char *jargs[] = { "connections", "--json", NULL };
	chan_client *c;
	chan_tx *tx[2];
	size_t len;
	void *data;
	char *out, *p;

	write_rules("allow uid:4242 admin team.*\n"
	    "allow uid:4243 send,recv *\n");
	start(1);
	c = test_connect(&d);
	tx[0] = tx_open(c, "team.a");
	tx[1] = tx_open(c, "secret");
	send_str(tx[0], "x");
	send_str(tx[1], "y");
	out = chanctl(&d, 0, jargs);
	p = strstr(out, "{\"id\":");
	ck_assert_ptr_nonnull(p);
	a.root_conn = b.root_conn = strtoull(p + 6, NULL, 10);
	free(out);
	child_wait_ok(child_fork(run_acts, &a));
	child_wait_ok(child_fork(run_acts, &b));
	/* team.a was purged, secret was not; root's connection lives. */
	expect_rc(chan_client_info(c, "channels", NULL, 0, 0, &data, &len), 0,
	    "root's STATS after the children");
	ck_assert_msg(memmem(data, len, "\xa6queued\x01", 8) != NULL &&
	    memmem(data, len, "\xa6queued\x00", 8) != NULL,
	    "not one channel purged and one left");
	free(data);
	expect_rc(chan_client_admin(c, "log-level", "info", 4, &data, &len), 0,
	    "root's log-level");
	free(data);
	chan_tx_close(tx[0]);
	chan_tx_close(tx[1]);
	chan_disconnect(c);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

/* SIGHUP reads the rules again: a right granted later applies. */
START_TEST(test_sighup_reads_the_rules_again)
{
	static const struct try before[] = { { 't', "later", CHAN_EPERM } };
	static const struct try after[] = { { 't', "later", 0 } };
	struct job j1 = { { UID_A, GID_A, 0, { 0 } }, before, 1 };
	struct job j2 = { { UID_A, GID_A, 0, { 0 } }, after, 1 };
	FILE *f;
	struct raw_conn rc;

	write_rules("allow uid:4242 recv later\n");
	start(1);
	raw_conn_open(&rc, &d, 1, 4096);
	expect_job(&j1);
	ck_assert_msg((f = fopen(rules, "a")) != NULL, "%s", rules);
	fputs("allow uid:4242 send later\n", f);
	ck_assert_int_eq(fclose(f), 0);
	/*
	 * The signal is pending in the daemon before the PING can reach it,
	 * and replies are written after every event of a loop iteration is
	 * handled: the OK comes after the reload.
	 */
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	raw_ping(&rc, 77);
	expect_job(&j2);
	raw_conn_close(&rc);
	daemon_stop(&d);
	remove_rules();
}
END_TEST

/* A rules file that does not parse stops the daemon from starting. */
START_TEST(test_bad_rules_file_is_refused_with_its_line)
{
	static const char *const bad[] = {
		"allow uid:1 send\n",
		"allow who:1 send x\n",
		"allow uid:1 write x\n",
		"deny uid:1 send x\n",
		"allow user:no-such-user-here send x\n",
		"allow uid:1 send x y\n",
	};
	const char *argv[] = { CHAND_BIN, "--socket", NULL, "--access-file",
	    rules, NULL };
	char sock[PATH_MAX];
	struct cmd_result r;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_rules(bad[i]);
		path_join(sock, sizeof sock, rules_dir, "s.sock");
		argv[2] = sock;
		run_cmd(argv, NULL, 0, HARNESS_WAIT_MS, &r);
		ck_assert_msg(r.code != 0, "chand accepted '%s'", bad[i]);
		ck_assert_msg(strstr(r.err, "access:1:") != NULL,
		    "no file:line for '%s' in: %s", bad[i], r.err);
		cmd_result_fini(&r);
		unlink(sock);
		remove_rules();
	}
}
END_TEST

/*
 * As UID_A: sends on "q.a", a channel of its own, against its limit of
 * 1000 queued bytes: the send over it fails LIMIT, through the socket
 * and through a ring alike (the *_shm run), and names the limit.
 */
static int
sends_against_uid_limit(void *arg)
{
	static const struct { size_t len; int want; } sends[] = {
		{ 600, 0 }, { 600, CHAN_ELIMIT }, { 400, 0 }, { 1, CHAN_ELIMIT },
	};
	static char buf[600];
	chan_client *c;
	chan_tx *tx;
	size_t i;
	int rc;

	(void)arg;
	if (become(&(struct who){ UID_A, GID_A, 0, { 0 } }) != 0)
		return 3;
	if (chan_connect(d.sock, &c) != 0 || chan_tx_open(c, "q.a", &tx) != 0)
		return 4;
	for (i = 0; i < sizeof(sends) / sizeof(sends[0]); i++) {
		rc = chan_tx_send(tx, buf, sends[i].len);
		if (rc != sends[i].want || (rc == CHAN_ELIMIT &&
		    strstr(chan_tx_errmsg(tx), "queued-bytes") == NULL)) {
			fprintf(stderr, "child: send %zu of %zu bytes: %s (%s)\n",
			    i, sends[i].len, chan_errname(rc),
			    chan_tx_errmsg(tx));
			return 1;
		}
	}
	chan_disconnect(c);
	return 0;
}

START_TEST(test_uid_queue_limit_refuses_the_send_over_it)
{
	write_rules("allow uid:4242 send,recv q.*\n"
	    "limit uid:4242 queued-bytes 1000\n");
	start(1);
	child_wait_ok(child_fork(sends_against_uid_limit, NULL));
	daemon_stop(&d);
	remove_rules();
}
END_TEST

static Suite *
acl_suite(void)
{
	Suite *s = suite_create("e2e_acl");
	TCase *tc = tcase_create("rules");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_without_rules_everyone_may_do_everything);
	tcase_add_test(tc, test_denied_send_allowed_receive);
	tcase_add_test(tc, test_denied_cli_send_exits_12_naming_the_channel);
	tcase_add_test(tc, test_allowed_consumer_receives);
	tcase_add_test(tc, test_prefix_rules);
	tcase_add_test(tc,
	    test_group_rules_match_primary_and_supplementary_groups);
	tcase_add_test(tc, test_user_rules_and_rights_lists);
	tcase_add_test(tc,
	    test_denied_consumer_learns_nothing_about_the_channel);
	tcase_add_test(tc, test_bad_rules_file_is_refused_with_its_line);
	tcase_add_test(tc,
	    test_admin_view_needs_admin_and_shows_only_visible_channels);
	tcase_add_test(tc, test_sighup_reads_the_rules_again);
	tcase_add_test(tc, test_admin_actions_need_the_admin_right);
	tcase_add_test(tc, test_uid_queue_limit_refuses_the_send_over_it);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(acl_suite());
}

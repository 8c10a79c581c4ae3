/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_cli.c: chan-send and chan-recv against a real chand: message
 * framing on stdin and stdout, every documented exit code, the socket
 * path rules, and delivery across a consumer killed mid-stream.
 *
 * Where a test must know that a chan-recv has attached before something
 * else happens, it does not guess: the CLI talks to the daemon through a
 * relay in this process, which forwards frames one at a time until the
 * daemon has answered OPEN_RX, holds the rest while the test acts, then
 * forwards everything.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
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

#define CMD_MS		20000	/* bound on a CLI run that must finish */
#define LINE_MAX_LEN	4096
#define RELAY_BUF	65536

/* Helpers. */

/* Waits for p's exit; asserts code and one line of stderr naming what. */
static void
assert_proc_fails_with(struct proc *p, int code, const char *what)
{
	size_t len;
	char *err;
	int got;

	err = proc_read_err(p, &len, HARNESS_WAIT_MS);
	got = proc_wait(p, HARNESS_WAIT_MS);
	assert_exit_code(got, code, err);
	assert_one_line(err, len, what);
	free(err);
}

static void
assert_ok_output(const struct cmd_result *r, const char *out)
{
	assert_exit_code(r->code, 0, r->err);
	ck_assert_str_eq(r->out, out);
}

/* chan-send NAME VALUE... through $CHAND_SOCKET, asserting success. */
static void
send_values(const char *name, const char *v1, const char *v2, const char *v3)
{
	const char *argv[] = { CHAN_SEND_BIN, name, v1, v2, v3, NULL };
	struct cmd_result r;

	cli_run(argv, NULL, 0, &r);
	ck_assert_msg(r.code == 0, "chan-send: exit %d; stderr: %s", r.code,
	    r.err);
	ck_assert_uint_eq(r.out_len, 0);
	cmd_result_fini(&r);
}

/* chan-send NAME with in on stdin, asserting success. */
static void
send_stdin(const char *opt, const char *name, const void *in, size_t len)
{
	const char *argv[] = { CHAN_SEND_BIN, opt != NULL ? opt : name,
	    opt != NULL ? name : NULL, NULL };
	struct cmd_result r;

	cli_run(argv, in, len, &r);
	ck_assert_msg(r.code == 0, "chan-send: exit %d; stderr: %s", r.code,
	    r.err);
	cmd_result_fini(&r);
}

static void
read_expected_line(struct proc *p, const char *want)
{
	char line[LINE_MAX_LEN];
	ssize_t n;

	n = proc_read_line(p, line, sizeof line, HARNESS_WAIT_MS);
	ck_assert_msg(n >= 0, "end of output, wanted \"%s\"", want);
	ck_assert_str_eq(line, want);
}

/*
 * Relay: a Unix socket in a private directory that a CLI connects to
 * instead of the daemon.
 */
struct relay {
	char		dir[PATH_MAX];
	char		path[PATH_MAX];
	int		lfd;		/* listening */
	int		cfd;		/* the CLI's connection */
	int		dfd;		/* our connection to the daemon */
	pthread_t	thr;
	struct proto_decoder *dec;
};

static void
relay_listen(struct relay *r)
{
	memset(r, 0, sizeof *r);
	r->cfd = r->dfd = -1;
	make_dir(r->dir, sizeof r->dir);
	path_join(r->path, sizeof r->path, r->dir, "relay.sock");
	r->lfd = listen_unix(r->path);
	r->dec = proto_decoder_new(PROTO_DEFAULT_MAX_MSG);
	ck_assert_ptr_nonnull(r->dec);
}

static void
relay_accept(struct relay *r, const struct daemon *d)
{
	struct pollfd pfd = { .fd = r->lfd, .events = POLLIN };

	ck_assert_msg(poll(&pfd, 1, HARNESS_WAIT_MS) == 1,
	    "the CLI did not connect to the relay");
	r->cfd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_msg(r->cfd >= 0, "accept: %s", strerror(errno));
	r->dfd = raw_connect(d);
}

/* Moves one frame from one side to the other and decodes it into m. */
static void
relay_frame(struct relay *r, int from, int to, char *body,
    struct proto_msg *m)
{
	ssize_t n;
	int rc;

	n = raw_read_frame(from, body, RELAY_BUF, HARNESS_WAIT_MS);
	ck_assert_msg(n >= 0, "%s closed the connection",
	    from == r->cfd ? "the CLI" : "the daemon");
	raw_write_frame(to, body, (size_t)n);
	rc = proto_decode(r->dec, body, (size_t)n, m);
	ck_assert_msg(rc == 0, "relayed frame does not decode: %s",
	    chan_errname(rc));
}

/*
 * Forwards the CLI's requests and the daemon's replies one by one until
 * the daemon has answered an OPEN_RX with a handle: the CLI is then the
 * channel's consumer. Whatever the CLI sends next stays unread.
 */
static void
relay_until_attached(struct relay *r)
{
	struct proto_msg req, rep;
	char *body;

	body = malloc(RELAY_BUF);
	ck_assert_ptr_nonnull(body);
	for (;;) {
		relay_frame(r, r->cfd, r->dfd, body, &req);
		if (req.rid == 0)
			continue;
		do
			relay_frame(r, r->dfd, r->cfd, body, &rep);
		while (rep.op == PROTO_DELIVER || rep.op == PROTO_DISCONNECTED);
		ck_assert_uint_eq(rep.rid, req.rid);
		if (req.op == PROTO_OPEN_RX) {
			ck_assert_msg(rep.op == PROTO_HANDLE,
			    "OPEN_RX answered with %s", proto_op_name(rep.op));
			break;
		}
	}
	free(body);
}

/*
 * Forwards frames both ways, one at a time, until the daemon has sent the
 * CLI an event op (DELIVER or DISCONNECTED), and returns with it delivered
 * to the CLI. Lets a test know that the CLI has been told something.
 */
static void
relay_until_event(struct relay *r, enum proto_op op)
{
	struct pollfd pfd[2];
	struct proto_msg m;
	long long deadline = now_ms() + HARNESS_WAIT_MS;
	char *body;
	int left;

	body = malloc(RELAY_BUF);
	ck_assert_ptr_nonnull(body);
	pfd[0].fd = r->cfd;
	pfd[1].fd = r->dfd;
	for (;;) {
		pfd[0].events = pfd[1].events = POLLIN;
		left = (int)(deadline - now_ms());
		ck_assert_msg(left > 0 && poll(pfd, 2, left) > 0,
		    "no %s from the daemon within %d ms", proto_op_name(op),
		    HARNESS_WAIT_MS);
		if (pfd[0].revents != 0)
			relay_frame(r, r->cfd, r->dfd, body, &m);
		if (pfd[1].revents != 0) {
			relay_frame(r, r->dfd, r->cfd, body, &m);
			if (m.op == op)
				break;
		}
	}
	free(body);
}

/* Copies len bytes to fd; 0 or -1. Runs in the pump thread: no asserts. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Forwards bytes both ways until either side closes. */
static void *
relay_pump(void *arg)
{
	struct relay *r = arg;
	struct pollfd pfd[2];
	char buf[RELAY_BUF];
	ssize_t n;
	int i;

	pfd[0].fd = r->cfd;
	pfd[1].fd = r->dfd;
	pfd[0].events = pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			if (pfd[i].revents == 0)
				continue;
			n = recv(pfd[i].fd, buf, sizeof buf, MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0 || write_all(pfd[1 - i].fd, buf,
			    (size_t)n) < 0)
				goto done;
		}
	}
done:
	/* Either side gone: the other sees its connection close. */
	shutdown(r->cfd, SHUT_RDWR);
	shutdown(r->dfd, SHUT_RDWR);
	return NULL;
}

static void
relay_pump_start(struct relay *r)
{
	ck_assert_int_eq(pthread_create(&r->thr, NULL, relay_pump, r), 0);
}

/* After the CLI has exited: the pump sees its side close and stops. */
static void
relay_fini(struct relay *r)
{
	ck_assert_int_eq(pthread_join(r->thr, NULL), 0);
	close(r->cfd);
	close(r->dfd);
	close(r->lfd);
	proto_decoder_free(r->dec);
	unlink(r->path);
	rmdir(r->dir);
}

/* Tests. */

START_TEST(test_lines_piped_into_send_come_out_of_follow_in_order)
{
	const char *send[] = { CHAN_SEND_BIN, "nums", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "--follow", "nums", NULL };
	const char *lines = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, NULL);
	cli_run(send, lines, strlen(lines), &r);
	assert_ok_output(&r, "");
	cmd_result_fini(&r);

	cli_run(recv, NULL, 0, &r);
	assert_ok_output(&r, lines);
	ck_assert_uint_eq(r.err_len, 0);
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_follow_started_before_any_producer_waits_for_one)
{
	const char *send[] = { CHAN_SEND_BIN, "nums", NULL };
	const char *lines = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
	struct cmd_result r;
	struct daemon d;
	struct relay rl;
	struct proc p;
	char want[4];
	int i;

	daemon_start(&d, NULL);
	relay_listen(&rl);
	{
		const char *recv[] = { CHAN_RECV_BIN, "--socket", rl.path,
		    "--follow", "nums", NULL };

		proc_spawn(&p, recv);
	}
	relay_accept(&rl, &d);
	relay_until_attached(&rl);
	relay_pump_start(&rl);

	/* The consumer is attached and no producer has ever existed. */
	cli_run(send, lines, strlen(lines), &r);
	assert_ok_output(&r, "");
	cmd_result_fini(&r);

	for (i = 1; i <= 9; i++) {
		snprintf(want, sizeof want, "%d", i);
		read_expected_line(&p, want);
	}
	ck_assert_int_eq(proc_wait(&p, HARNESS_WAIT_MS), 0);
	relay_fini(&rl);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_send_sends_each_value_argument_as_one_message)
{
	const char *recv[] = { CHAN_RECV_BIN, "--follow", "args", NULL };
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, NULL);
	send_values("args", "a", "", "c d");
	cli_run(recv, NULL, 0, &r);
	assert_ok_output(&r, "a\n\nc d\n");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_send_keeps_empty_lines_and_a_final_unterminated_line)
{
	static const char *want[] = { "x", "", "", "y", "last" };
	const char *in = "x\n\n\ny\nlast";
	struct daemon d;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	size_t i;

	daemon_start(&d, NULL);
	send_stdin(NULL, "lines", in, strlen(in));

	c = test_connect(&d);
	ck_assert_int_eq(chan_rx_open(c, "lines", &rx), 0);
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS,
		    &m), 0);
		ck_assert_uint_eq(chan_msg_len(m), strlen(want[i]));
		ck_assert_int_eq(memcmp(chan_msg_data(m), want[i],
		    strlen(want[i])), 0);
		chan_msg_free(m);
	}
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m),
	    CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_null_separated_input_and_output_carry_newlines)
{
	const char in[] = "a\nb\0c\0\0d";		/* "a\nb", "c", "", "d" */
	const char want[] = "a\nb\0c\0\0d\0";
	const char *recv[] = { CHAN_RECV_BIN, "-0", "--follow", "nul", NULL };
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, NULL);
	send_stdin("-0", "nul", in, sizeof in - 1);
	cli_run(recv, NULL, 0, &r);
	ck_assert_msg(r.code == 0, "exit %d; stderr: %s", r.code, r.err);
	ck_assert_uint_eq(r.out_len, sizeof want - 1);
	ck_assert_int_eq(memcmp(r.out, want, sizeof want - 1), 0);
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_recv_without_follow_takes_one_message_and_leaves_the_rest)
{
	const char *one[] = { CHAN_RECV_BIN, "q", NULL };
	const char *all[] = { CHAN_RECV_BIN, "--follow", "q", NULL };
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, NULL);
	send_values("q", "a", "b", "c");
	cli_run(one, NULL, 0, &r);
	assert_ok_output(&r, "a\n");
	cmd_result_fini(&r);
	cli_run(one, NULL, 0, &r);
	assert_ok_output(&r, "b\n");
	cmd_result_fini(&r);
	cli_run(all, NULL, 0, &r);
	assert_ok_output(&r, "c\n");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_nonblock_on_empty_channel_with_a_producer_exits_4)
{
	const char *recv[] = { CHAN_RECV_BIN, "--nonblock", "quiet", NULL };
	struct cmd_result r;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ck_assert_int_eq(chan_tx_open(c, "quiet", &tx), 0);
	cli_run(recv, NULL, 0, &r);
	assert_fails_with(&r, 4, "quiet");
	ck_assert_uint_eq(r.out_len, 0);
	cmd_result_fini(&r);
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_nonblock_after_the_producer_left_and_the_queue_drained_exits_3)
{
	const char *first[] = { CHAN_RECV_BIN, "-n", "gone", NULL };
	struct cmd_result r;
	struct daemon d;
	struct relay rl;
	struct proc p;
	chan_client *c;
	chan_tx *tx, *barrier;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ck_assert_int_eq(chan_tx_open(c, "gone", &tx), 0);
	ck_assert_int_eq(chan_tx_send(tx, "m", 1), 0);
	cli_run(first, NULL, 0, &r);
	assert_ok_output(&r, "m\n");
	cmd_result_fini(&r);

	/*
	 * The channel only lives on while something holds it, so the
	 * producer leaves while the second chan-recv is attached, before it
	 * asks for anything.
	 */
	relay_listen(&rl);
	{
		const char *recv[] = { CHAN_RECV_BIN, "--socket", rl.path,
		    "-n", "gone", NULL };

		proc_spawn(&p, recv);
	}
	relay_accept(&rl, &d);
	relay_until_attached(&rl);
	chan_tx_close(tx);
	/* A reply on the same connection: the CLOSE has been processed. */
	ck_assert_int_eq(chan_tx_open(c, "barrier", &barrier), 0);
	chan_tx_close(barrier);
	relay_pump_start(&rl);

	assert_proc_fails_with(&p, 3, "gone");
	relay_fini(&rl);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * Without producer, consumer or message the daemon forgets a channel
 * (docs/protocol.md, "Channel lifetime"), so there is nothing left to
 * report disconnected: a later try_recv finds a new, empty channel.
 */
/*
 * The producer sent and left, the consumer drained the channel: a later
 * non-blocking receive finds it disconnected (3), not empty (4), as long
 * as the daemon remembers the name (--remember-for); without that memory
 * the name starts fresh and is empty.
 */
START_TEST(test_nonblock_after_the_producers_left_exits_3)
{
	const char *recv[] = { CHAN_RECV_BIN, "-n", "old", NULL };
	const char *forget[] = { "--remember-for", "0", NULL };
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, NULL);
	send_values("old", "m", NULL, NULL);
	cli_run(recv, NULL, 0, &r);
	assert_ok_output(&r, "m\n");
	cmd_result_fini(&r);
	cli_run(recv, NULL, 0, &r);
	assert_fails_with(&r, 3, "disconnected");
	cmd_result_fini(&r);
	daemon_stop(&d);

	daemon_start(&d, forget);
	send_values("old", "m", NULL, NULL);
	cli_run(recv, NULL, 0, &r);
	assert_ok_output(&r, "m\n");
	cmd_result_fini(&r);
	cli_run(recv, NULL, 0, &r);
	assert_fails_with(&r, 4, "old");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

/*
 * chan-send --rx-gone feeding a consumer that takes one message and
 * exits: the next send fails with exit 14, as Rust's SendError ends a
 * `while tx.send(x).is_ok()` loop, so the pipeline ends too.
 */
START_TEST(test_send_rx_gone_exits_14_once_the_consumer_left)
{
	const char *send[] = { CHAN_SEND_BIN, "--rx-gone", "nums", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "nums", NULL };
	struct cmd_result r;
	struct daemon d;
	struct proc p;
	char *err;

	daemon_start(&d, NULL);
	proc_spawn(&p, send);
	proc_write(&p, "1\n", 2);
	/* The consumer comes, takes the producer's first message, goes. */
	cli_run(recv, NULL, 0, &r);
	assert_ok_output(&r, "1\n");
	cmd_result_fini(&r);
	proc_write(&p, "2\n", 2);
	err = proc_read_err(&p, NULL, HARNESS_WAIT_MS);
	ck_assert_int_eq(proc_wait(&p, HARNESS_WAIT_MS), 14);
	expect_in(err, "receiver is gone");
	free(err);
	daemon_stop(&d);
}
END_TEST

/*
 * chan-recv -f into a pipe whose reader takes one line and exits: what it
 * never read stays queued (redelivered to the next consumer), and
 * chan-recv says the pipe broke. The reader reads a byte at a time (the
 * shell's read), so it leaves the rest in the pipe; a reader that reads
 * a block takes what it read with it (chan-recv(1), BUGS).
 */
START_TEST(test_follow_into_a_pipe_keeps_what_the_reader_never_read)
{
	const char *send[] = { CHAN_SEND_BIN, "jobs", NULL };
	const char *pipeline[] = { "/bin/sh", "-c", "\"$0\" -f jobs | "
	    "{ read -r l; echo \"$l\"; }", CHAN_RECV_BIN, NULL };
	const char *rest[] = { CHAN_RECV_BIN, "-f", "jobs", NULL };
	struct cmd_result r;
	struct daemon d;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	char want[2] = "b";

	daemon_start(&d, NULL);
	cli_run(send, "a\nb\nc\nd\ne\n", 10, &r);
	assert_ok(&r);
	cmd_result_fini(&r);
	run_cmd(pipeline, NULL, 0, HARNESS_WAIT_MS, &r);
	ck_assert_msg(r.out_len == 2 && memcmp(r.out, "a\n", 2) == 0,
	    "pipeline printed '%s'", r.out);
	expect_in(r.err, "Broken pipe");
	cmd_result_fini(&r);
	/* The four lines the reader never read come back, marked. */
	c = test_connect(&d);
	ck_assert_int_eq(chan_rx_open(c, "jobs", &rx), 0);
	for (; want[0] <= 'e'; want[0]++) {
		ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m),
		    0);
		ck_assert_str_eq(chan_msg_data(m), want);
		ck_assert_int_ne(chan_msg_redelivered(m), 0);
		chan_msg_free(m);
	}
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);
	/* Drained and remembered disconnected: --follow ends at once, 0. */
	cli_run(rest, NULL, 0, &r);
	assert_ok_output(&r, "");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_timeout_with_nothing_to_receive_exits_5)
{
	const char *recv[] = { CHAN_RECV_BIN, "--timeout", "0.2", "idle",
	    NULL };
	struct cmd_result r;
	struct daemon d;
	long long t0, elapsed;

	daemon_start(&d, NULL);
	t0 = now_ms();
	cli_run(recv, NULL, 0, &r);
	elapsed = now_ms() - t0;
	assert_fails_with(&r, 5, "idle");
	ck_assert_uint_eq(r.out_len, 0);
	ck_assert_msg(elapsed >= 200 && elapsed < 10000,
	    "timed out after %lld ms, asked for 200", elapsed);
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_second_consumer_exits_6_naming_the_holder_pid)
{
	const char *follow[] = { CHAN_RECV_BIN, "--follow", "busy", NULL };
	const char *second[] = { CHAN_RECV_BIN, "busy", NULL };
	struct cmd_result r;
	struct daemon d;
	struct proc p;
	chan_client *c;
	chan_tx *tx;
	char pid[32];

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ck_assert_int_eq(chan_tx_open(c, "busy", &tx), 0);
	ck_assert_int_eq(chan_tx_send(tx, "first", 5), 0);
	proc_spawn(&p, follow);
	read_expected_line(&p, "first");	/* it holds the channel now */

	cli_run(second, NULL, 0, &r);
	assert_fails_with(&r, 6, "busy");
	snprintf(pid, sizeof pid, "%d", (int)p.pid);
	ck_assert_msg(strstr(r.err, pid) != NULL,
	    "stderr does not name holder pid %s: %s", pid, r.err);
	cmd_result_fini(&r);

	chan_tx_close(tx);
	ck_assert_int_eq(proc_wait(&p, HARNESS_WAIT_MS), 0);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_both_clis_exit_7_when_no_daemon_listens)
{
	struct cmd_result r;
	char dir[PATH_MAX], sock[PATH_MAX];
	const char *send[] = { CHAN_SEND_BIN, "--socket", sock, "q", "v",
	    NULL };
	const char *recv[] = { CHAN_RECV_BIN, "--socket", sock, "q", NULL };

	make_dir(dir, sizeof dir);
	path_join(sock, sizeof sock, dir, "chand.sock");
	cli_run(send, NULL, 0, &r);
	assert_fails_with(&r, 7, sock);
	cmd_result_fini(&r);
	cli_run(recv, NULL, 0, &r);
	assert_fails_with(&r, 7, sock);
	cmd_result_fini(&r);
	rmdir(dir);
}
END_TEST

START_TEST(test_chand_socket_environment_variable_is_used)
{
	const char *send[] = { CHAN_SEND_BIN, "env", "v", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "env", NULL };
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, NULL);	/* sets CHAND_SOCKET */
	ck_assert_str_eq(getenv("CHAND_SOCKET"), d.sock);
	cli_run(send, NULL, 0, &r);
	assert_ok_output(&r, "");
	cmd_result_fini(&r);
	cli_run(recv, NULL, 0, &r);
	assert_ok_output(&r, "v\n");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_socket_option_overrides_the_environment)
{
	struct cmd_result r;
	struct daemon d;
	char dir[PATH_MAX], nowhere[PATH_MAX];
	const char *send[] = { CHAN_SEND_BIN, "--socket", d.sock, "over", "v",
	    NULL };
	const char *recv[] = { CHAN_RECV_BIN, "--socket", d.sock, "over",
	    NULL };

	daemon_start(&d, NULL);
	make_dir(dir, sizeof dir);
	path_join(nowhere, sizeof nowhere, dir, "chand.sock");
	ck_assert_int_eq(setenv("CHAND_SOCKET", nowhere, 1), 0);
	cli_run(send, NULL, 0, &r);
	assert_ok_output(&r, "");
	cmd_result_fini(&r);
	cli_run(recv, NULL, 0, &r);
	assert_ok_output(&r, "v\n");
	cmd_result_fini(&r);
	rmdir(dir);
	daemon_stop(&d);
}
END_TEST

/*
 * Runs argv with $CHAND_SOCKET pointing nowhere, so that a usage error
 * the CLI failed to catch shows up as exit 7 rather than passing.
 */
static void
check_usage_error(const char *const argv[])
{
	struct cmd_result r;
	char dir[PATH_MAX], sock[PATH_MAX];

	make_dir(dir, sizeof dir);
	path_join(sock, sizeof sock, dir, "chand.sock");
	ck_assert_int_eq(setenv("CHAND_SOCKET", sock, 1), 0);
	cli_run(argv, NULL, 0, &r);
	ck_assert_msg(r.code == 2, "%s %s: exit %d; stderr: %s", argv[0],
	    argv[1] != NULL ? argv[1] : "", r.code, r.err);
	assert_one_line(r.err, r.err_len, NULL);
	ck_assert_uint_eq(r.out_len, 0);
	cmd_result_fini(&r);
	rmdir(dir);
}

START_TEST(test_missing_name_is_a_usage_error)
{
	const char *send[] = { CHAN_SEND_BIN, NULL };
	const char *recv[] = { CHAN_RECV_BIN, "--follow", NULL };

	check_usage_error(send);
	check_usage_error(recv);
}
END_TEST

START_TEST(test_unknown_option_is_a_usage_error)
{
	const char *send[] = { CHAN_SEND_BIN, "--bogus", "q", "v", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "-z", "q", NULL };

	check_usage_error(send);
	check_usage_error(recv);
}
END_TEST

START_TEST(test_bad_timeout_is_a_usage_error)
{
	const char *words[] = { CHAN_RECV_BIN, "--timeout", "abc", "q", NULL };
	const char *suffix[] = { CHAN_RECV_BIN, "-t", "1.5s", "q", NULL };
	const char *empty[] = { CHAN_RECV_BIN, "-t", "", "q", NULL };
	const char *negative[] = { CHAN_RECV_BIN, "--timeout=-1", "q", NULL };

	check_usage_error(words);
	check_usage_error(suffix);
	check_usage_error(empty);
	check_usage_error(negative);
}
END_TEST

struct option_name {
	const char	*lng;
	char		 shrt;
};

static void
check_help(const char *prog, const struct option_name *opts)
{
	const char *argv[] = { prog, "--help", NULL };
	struct cmd_result r;
	size_t i;

	cli_run(argv, NULL, 0, &r);
	ck_assert_msg(r.code == 0, "%s --help: exit %d", prog, r.code);
	ck_assert_msg(strstr(r.out, "NAME") != NULL,
	    "%s --help has no synopsis:\n%s", prog, r.out);
	for (i = 0; opts[i].lng != NULL; i++)
		ck_assert_msg(mentions_option(r.out, opts[i].lng,
		    opts[i].shrt), "%s --help does not mention %s:\n%s", prog,
		    opts[i].lng, r.out);
	cmd_result_fini(&r);
}

START_TEST(test_help_exits_0_and_mentions_every_option)
{
	static const struct option_name send[] = { { "--socket", 0 },
	    { "--null", '0' }, { "--help", 'h' }, { "--version", 'V' },
	    { NULL, 0 } };
	static const struct option_name recv[] = { { "--socket", 0 },
	    { "--follow", 'f' }, { "--forever", 'F' }, { "--nonblock", 'n' },
	    { "--timeout", 't' }, { "--null", '0' }, { "--help", 'h' },
	    { "--version", 'V' }, { NULL, 0 } };

	check_help(CHAN_SEND_BIN, send);
	check_help(CHAN_RECV_BIN, recv);
}
END_TEST

static void
check_version(const char *prog, const char *opt, const char *want)
{
	const char *argv[] = { prog, opt, NULL };
	struct cmd_result r;

	cli_run(argv, NULL, 0, &r);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, want);
	cmd_result_fini(&r);
}

START_TEST(test_version_prints_program_and_version)
{
	check_version(CHAN_SEND_BIN, "--version", "chan-send 0.1.0\n");
	check_version(CHAN_SEND_BIN, "-V", "chan-send 0.1.0\n");
	check_version(CHAN_RECV_BIN, "--version", "chan-recv 0.1.0\n");
	check_version(CHAN_RECV_BIN, "-V", "chan-recv 0.1.0\n");
}
END_TEST

START_TEST(test_thousand_lines_arrive_complete_and_in_order)
{
	const char *recv[] = { CHAN_RECV_BIN, "--follow", "many", NULL };
	struct cmd_result r;
	struct daemon d;
	size_t len;
	char *in;

	daemon_start(&d, NULL);
	in = numbered_lines(1000, &len);
	send_stdin(NULL, "many", in, len);
	cli_run(recv, NULL, 0, &r);
	ck_assert_msg(r.code == 0, "exit %d; stderr: %s", r.code, r.err);
	ck_assert_uint_eq(r.out_len, len);
	ck_assert_msg(memcmp(r.out, in, len) == 0, "output differs");
	cmd_result_fini(&r);
	free(in);
	daemon_stop(&d);
}
END_TEST

#define KILL_MSGS	300
#define KILL_PAD	1000	/* bytes per line: the consumer's pipe fills */

/* Parses a line of the kill test: its number, checking the padding. */
static int
kill_line_number(const char *line)
{
	size_t i;

	ck_assert_uint_eq(strlen(line), 4 + KILL_PAD);
	for (i = 4; i < 4 + KILL_PAD; i++)
		ck_assert_msg(line[i] == 'x', "corrupt line");
	return atoi(line);
}

/*
 * Reads a consumer's lines until end of output; checks they are
 * consecutive and returns the first number in *first (-1 if none) and the
 * count. A consumer killed in the middle of writing a line may leave a
 * piece of it as the very last output: that one does not count as
 * printed.
 */
static int
read_run(struct proc *p, int *first)
{
	char line[LINE_MAX_LEN];
	int n = 0, num;

	*first = -1;
	while (proc_read_line(p, line, sizeof line, HARNESS_WAIT_MS) >= 0) {
		if (strlen(line) != 4 + KILL_PAD) {
			ck_assert_msg(proc_read_line(p, line, sizeof line,
			    HARNESS_WAIT_MS) < 0, "short line before the end");
			break;
		}
		num = kill_line_number(line);
		if (*first < 0)
			*first = num;
		ck_assert_msg(num == *first + n, "line %d after %d", num,
		    *first + n - 1);
		n++;
	}
	return n;
}

START_TEST(test_killed_follow_consumer_loses_nothing_to_its_successor)
{
	const char *recv[] = { CHAN_RECV_BIN, "--follow", "kill", NULL };
	char msg[4 + KILL_PAD + 1], line[LINE_MAX_LEN];
	int i, a_rest, a_count, b_first, b_count;
	struct daemon d;
	struct proc a, b;
	chan_client *c;
	chan_tx *tx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ck_assert_int_eq(chan_tx_open(c, "kill", &tx), 0);
	memset(msg + 4, 'x', KILL_PAD);
	for (i = 0; i < KILL_MSGS; i++) {
		snprintf(msg, 5, "%04d", i);
		msg[4] = 'x';
		ck_assert_int_eq(chan_tx_send(tx, msg, sizeof msg - 1), 0);
	}
	chan_tx_close(tx);

	/* A's stdout pipe fills and blocks it, mid-stream. */
	proc_spawn(&a, recv);
	for (i = 0; i < 10; i++) {
		ck_assert_int_ge(proc_read_line(&a, line, sizeof line,
		    HARNESS_WAIT_MS), 0);
		ck_assert_int_eq(kill_line_number(line), i);
	}
	proc_kill(&a, SIGKILL);
	a_count = 10 + read_run(&a, &a_rest);
	ck_assert_msg(a_rest < 0 || a_rest == 10, "A skipped to %d", a_rest);
	ck_assert_int_eq(proc_wait(&a, HARNESS_WAIT_MS), 128 + SIGKILL);
	ck_assert_msg(a_count < KILL_MSGS, "A printed everything (%d) before "
	    "it was killed: its pipe did not fill", a_count);

	proc_spawn(&b, recv);
	b_count = read_run(&b, &b_first);
	ck_assert_int_eq(proc_wait(&b, HARNESS_WAIT_MS), 0);

	/* At least once: B starts at or before where A stopped, ends last. */
	ck_assert_msg(b_count > 0, "B printed nothing");
	ck_assert_msg(b_first >= 0 && b_first <= a_count,
	    "A printed 0..%d, B starts at %d", a_count - 1, b_first);
	ck_assert_int_eq(b_first + b_count, KILL_MSGS);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_forever_keeps_following_across_disconnections)
{
	struct daemon d;
	struct relay rl;
	struct proc p;

	daemon_start(&d, NULL);
	relay_listen(&rl);
	{
		const char *recv[] = { CHAN_RECV_BIN, "--socket", rl.path,
		    "--forever", "ever", NULL };

		proc_spawn(&p, recv);
	}
	relay_accept(&rl, &d);
	relay_until_attached(&rl);
	send_values("ever", "from A", NULL, NULL);
	/*
	 * The producer is gone once the message reaches the CLI, so the
	 * channel is disconnected once it is acknowledged; a --forever
	 * consumer is not told (CHAN_FOREVER) ...
	 */
	relay_until_event(&rl, PROTO_DELIVER);
	relay_pump_start(&rl);
	read_expected_line(&p, "from A");
	/* ... and takes what the next producer sends. */
	send_values("ever", "from B", NULL, NULL);
	read_expected_line(&p, "from B");
	send_values("ever", "from C", NULL, NULL);
	read_expected_line(&p, "from C");

	/* Killed, not exited: it was still following. */
	proc_kill(&p, SIGTERM);
	ck_assert_int_eq(proc_wait(&p, HARNESS_WAIT_MS), 128 + SIGTERM);
	relay_fini(&rl);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_send_sends_each_line_as_it_arrives_and_holds_its_tx_to_eof)
{
	const char *send[] = { CHAN_SEND_BIN, "live", NULL };
	struct daemon d;
	struct proc p;
	chan_client *c;
	chan_msg *m;
	chan_rx *rx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ck_assert_int_eq(chan_rx_open(c, "live", &rx), 0);
	proc_spawn(&p, send);

	proc_write(&p, "one\n", 4);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0);
	ck_assert_uint_eq(chan_msg_len(m), 3);
	ck_assert_int_eq(memcmp(chan_msg_data(m), "one", 3), 0);
	chan_msg_free(m);
	/* Input not ended: its sender is still attached. */
	ck_assert_int_eq(chan_rx_try_recv(rx, &m), CHAN_EEMPTY);

	proc_write(&p, "two\n", 4);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0);
	ck_assert_uint_eq(chan_msg_len(m), 3);
	ck_assert_int_eq(memcmp(chan_msg_data(m), "two", 3), 0);
	chan_msg_free(m);
	ck_assert_int_eq(chan_rx_try_recv(rx, &m), CHAN_EEMPTY);

	proc_close_stdin(&p);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m),
	    CHAN_EDISCONNECTED);
	ck_assert_int_eq(proc_wait(&p, HARNESS_WAIT_MS), 0);
	chan_rx_close(rx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_follow_with_zero_timeout_ends_disconnected_not_timed_out)
{
	const char *recv[] = { CHAN_RECV_BIN, "--follow", "--timeout", "0",
	    "zero", NULL };
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, NULL);
	send_values("zero", "a", "b", NULL);
	/* After b, disconnected and timed out both apply: disconnected wins. */
	cli_run(recv, NULL, 0, &r);
	assert_ok_output(&r, "a\nb\n");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_zero_timeout_on_an_empty_channel_exits_5)
{
	const char *recv[] = { CHAN_RECV_BIN, "-t", "0", "zero", NULL };
	struct cmd_result r;
	struct daemon d;
	chan_client *c;
	chan_tx *tx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ck_assert_int_eq(chan_tx_open(c, "zero", &tx), 0);
	cli_run(recv, NULL, 0, &r);
	assert_fails_with(&r, 5, "zero");
	cmd_result_fini(&r);
	chan_tx_close(tx);
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_send_of_a_value_over_the_size_limit_exits_1)
{
	const char *args[] = { "--max-msg-size", "8", NULL };
	const char *send[] = { CHAN_SEND_BIN, "small", "12345678",
	    "123456789", NULL };
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, args);
	cli_run(send, NULL, 0, &r);
	assert_fails_with(&r, 1, "small");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_send_of_a_stdin_line_over_the_size_limit_exits_1)
{
	const char *args[] = { "--max-msg-size", "8", NULL };
	const char *send[] = { CHAN_SEND_BIN, "small", NULL };
	const char *in = "12345678\n123456789\n";
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, args);
	cli_run(send, in, strlen(in), &r);
	assert_fails_with(&r, 1, "small");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_name_of_256_bytes_exits_1_for_both_clis)
{
	char name[257];
	const char *send[] = { CHAN_SEND_BIN, name, "v", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "-n", name, NULL };
	struct cmd_result r;
	struct daemon d;

	memset(name, 'n', 256);
	name[256] = '\0';
	daemon_start(&d, NULL);
	cli_run(send, NULL, 0, &r);
	assert_fails_with(&r, 1, "name");
	cmd_result_fini(&r);
	cli_run(recv, NULL, 0, &r);
	assert_fails_with(&r, 1, "name");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

/*
 * chan-recv acknowledges only what it wrote: with stdout on /dev/full
 * every write fails, so the message must still be there afterwards.
 */
START_TEST(test_recv_that_cannot_write_exits_1_and_the_message_stays_queued)
{
	const char *full[] = { "/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/full",
	    CHAN_RECV_BIN, "kept", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "-n", "kept", NULL };
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, NULL);
	send_values("kept", "m", NULL, NULL);
	cli_run(full, NULL, 0, &r);
	assert_fails_with(&r, 1, "kept");
	cmd_result_fini(&r);
	cli_run(recv, NULL, 0, &r);
	assert_ok_output(&r, "m\n");
	cmd_result_fini(&r);
	daemon_stop(&d);
}
END_TEST

/*
 * The daemon stops while a chan-recv --follow and a chan-send reading
 * stdin are attached: both exit 8, naming the socket.
 */
START_TEST(test_both_clis_exit_8_when_the_daemon_goes_away)
{
	const char *recv[] = { CHAN_RECV_BIN, "--follow", "lost", NULL };
	const char *send[] = { CHAN_SEND_BIN, "lost", NULL };
	struct daemon d;
	struct proc rp, sp;

	daemon_start(&d, NULL);
	proc_spawn(&rp, recv);
	proc_spawn(&sp, send);
	proc_write(&sp, "first\n", 6);
	/* Printed: both are connected and attached. */
	read_expected_line(&rp, "first");

	daemon_stop(&d);
	assert_proc_fails_with(&rp, 8, d.sock);
	/* The sender learns it when it next sends, if not before. */
	(void)!write(sp.in_fd, "second\n", 7);
	assert_proc_fails_with(&sp, 8, d.sock);
}
END_TEST

/*
 * Without --socket or $CHAND_SOCKET, root's default is /run/chand.sock.
 * /run/chand.sock is the system's shared path: no test binds it or talks
 * to what may be there. The rule is checked through the exit-7 message of
 * CLIs that find nothing at that path, so only where nothing exists there
 * (not even a dangling link); the resolution itself is also unit-tested
 * (proto_default_socket, test_proto.c).
 */
START_TEST(test_default_socket_for_root_is_run_chand_sock)
{
	const char *send[] = { CHAN_SEND_BIN, "q", "v", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "-n", "q", NULL };
	struct cmd_result r;
	struct stat st;

	if (geteuid() != 0) {
		fprintf(stderr, "%s: skipped (not root)\n", __func__);
		return;
	}
	if (lstat("/run/chand.sock", &st) == 0 || errno != ENOENT) {
		fprintf(stderr, "%s: skipped (/run/chand.sock exists or "
		    "cannot be checked: a daemon may be using it)\n",
		    __func__);
		return;
	}
	unsetenv("CHAND_SOCKET");
	cli_run(send, NULL, 0, &r);
	assert_fails_with(&r, 7, "no daemon running on /run/chand.sock");
	cmd_result_fini(&r);
	cli_run(recv, NULL, 0, &r);
	assert_fails_with(&r, 7, "no daemon running on /run/chand.sock");
	cmd_result_fini(&r);
}
END_TEST

/*
 * For other users: $XDG_RUNTIME_DIR/chand.sock, else /tmp/chand-$UID.sock.
 * As root the CLIs run as nobody (setpriv) against a daemon whose socket
 * nobody may use.
 */
static void
run_as_user(const char *const argv[], struct cmd_result *r)
{
	const char *wrapped[16] = { "setpriv", "--reuid=65534",
	    "--regid=65534", "--clear-groups" };
	size_t i;

	if (geteuid() != 0) {
		cli_run(argv, NULL, 0, r);
		return;
	}
	/* nobody may not reach the build tree: run a copy. */
	for (i = 0; argv[i] != NULL && i + 5 < 16; i++)
		wrapped[4 + i] = i == 0 ? shared_copy(argv[0]) : argv[i];
	wrapped[4 + i] = NULL;
	cli_run(wrapped, NULL, 0, r);
}

START_TEST(test_default_socket_for_other_users_is_in_xdg_runtime_dir)
{
	const char *args[] = { "--socket-mode", "0666", NULL };
	const char *send[] = { CHAN_SEND_BIN, "xdg", "v", NULL };
	const char *recv[] = { CHAN_RECV_BIN, "-n", "xdg", NULL };
	uid_t uid = geteuid() == 0 ? 65534 : geteuid();
	char fallback[64];
	struct cmd_result r;
	struct daemon d;

	daemon_start(&d, args);
	ck_assert_int_eq(chmod(d.dir, 0711), 0);
	unsetenv("CHAND_SOCKET");
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", d.dir, 1), 0);
	run_as_user(send, &r);
	assert_ok_output(&r, "");
	cmd_result_fini(&r);
	run_as_user(recv, &r);
	assert_ok_output(&r, "v\n");
	cmd_result_fini(&r);

	snprintf(fallback, sizeof fallback, "/tmp/chand-%u.sock",
	    (unsigned)uid);
	if (access(fallback, F_OK) == 0) {
		fprintf(stderr, "%s: fallback not checked: %s exists\n",
		    __func__, fallback);
	} else {
		unsetenv("XDG_RUNTIME_DIR");
		run_as_user(recv, &r);
		assert_fails_with(&r, 7, fallback);
		cmd_result_fini(&r);
	}
	daemon_stop(&d);
}
END_TEST

static Suite *
cli_suite(void)
{
	Suite *s = suite_create("e2e_cli");
	TCase *tc;

	tc = tcase_create("messages");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_lines_piped_into_send_come_out_of_follow_in_order);
	tcase_add_test(tc,
	    test_follow_started_before_any_producer_waits_for_one);
	tcase_add_test(tc, test_send_sends_each_value_argument_as_one_message);
	tcase_add_test(tc,
	    test_send_keeps_empty_lines_and_a_final_unterminated_line);
	tcase_add_test(tc, test_null_separated_input_and_output_carry_newlines);
	tcase_add_test(tc,
	    test_recv_without_follow_takes_one_message_and_leaves_the_rest);
	tcase_add_test(tc, test_thousand_lines_arrive_complete_and_in_order);
	tcase_add_test(tc,
	    test_killed_follow_consumer_loses_nothing_to_its_successor);
	tcase_add_test(tc, test_forever_keeps_following_across_disconnections);
	tcase_add_test(tc,
	    test_send_sends_each_line_as_it_arrives_and_holds_its_tx_to_eof);
	tcase_add_test(tc,
	    test_follow_with_zero_timeout_ends_disconnected_not_timed_out);
	suite_add_tcase(s, tc);

	tc = tcase_create("exit codes");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_nonblock_on_empty_channel_with_a_producer_exits_4);
	tcase_add_test(tc,
	    test_nonblock_after_the_producer_left_and_the_queue_drained_exits_3);
	tcase_add_test(tc, test_nonblock_after_the_producers_left_exits_3);
	tcase_add_test(tc, test_timeout_with_nothing_to_receive_exits_5);
	tcase_add_test(tc,
	    test_follow_into_a_pipe_keeps_what_the_reader_never_read);
	tcase_add_test(tc, test_send_rx_gone_exits_14_once_the_consumer_left);
	tcase_add_test(tc, test_second_consumer_exits_6_naming_the_holder_pid);
	tcase_add_test(tc, test_both_clis_exit_7_when_no_daemon_listens);
	tcase_add_test(tc, test_zero_timeout_on_an_empty_channel_exits_5);
	tcase_add_test(tc, test_send_of_a_value_over_the_size_limit_exits_1);
	tcase_add_test(tc,
	    test_send_of_a_stdin_line_over_the_size_limit_exits_1);
	tcase_add_test(tc, test_name_of_256_bytes_exits_1_for_both_clis);
	tcase_add_test(tc,
	    test_recv_that_cannot_write_exits_1_and_the_message_stays_queued);
	tcase_add_test(tc, test_both_clis_exit_8_when_the_daemon_goes_away);
	suite_add_tcase(s, tc);

	tc = tcase_create("command line");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_chand_socket_environment_variable_is_used);
	tcase_add_test(tc, test_socket_option_overrides_the_environment);
	tcase_add_test(tc, test_default_socket_for_root_is_run_chand_sock);
	tcase_add_test(tc,
	    test_default_socket_for_other_users_is_in_xdg_runtime_dir);
	tcase_add_test(tc, test_missing_name_is_a_usage_error);
	tcase_add_test(tc, test_unknown_option_is_a_usage_error);
	tcase_add_test(tc, test_bad_timeout_is_a_usage_error);
	tcase_add_test(tc, test_help_exits_0_and_mentions_every_option);
	tcase_add_test(tc, test_version_prints_program_and_version);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(cli_suite());
}

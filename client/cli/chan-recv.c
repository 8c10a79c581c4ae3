/*
 * chan-recv: receive messages from a chand channel.
 *
 * The receiver is opened with manual acknowledgement: a message is
 * acknowledged only after it has been written to standard output and
 * flushed, so a message this program could not pass on goes back to the
 * channel for the next consumer.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define RECV_PROG		"chan-recv"
#define RECV_FOLLOW_PREFETCH	64
#define RECV_ERRMSG_MAX	1024

struct recv_opts {
	int		 follow;	/* until disconnected */
	int		 forever;	/* across disconnections */
	int		 nonblock;
	int		 timeout_ms;	/* -1: none */
	double		 timeout_s;
	int		 sep;		/* '\n', or '\0' with -0 */
};

static void __attribute__((noreturn))
recv_usage(void)
{
	printf(
"NAME\n"
"     chan-recv - receive messages from a chand channel\n"
"\n"
"SYNOPSIS\n"
"     chan-recv [-0fFhnV] [-t SECONDS] [--socket PATH] NAME\n"
"\n"
"DESCRIPTION\n"
"     Receives one message from channel NAME, as its single consumer, and\n"
"     prints it followed by a newline. A message is acknowledged only once\n"
"     it has been written and flushed; one that could not be goes back to\n"
"     the channel.\n"
"\n"
"OPTIONS\n"
"     -f, --follow       print every message until the channel is\n"
"                        disconnected (every sender gone), then exit 0\n"
"     -F, --forever      like --follow, but keep waiting for new senders\n"
"                        after a disconnection\n"
"     -n, --nonblock     do not wait: exit 4 if nothing is queued (not\n"
"                        with -f, -F or -t)\n"
"     -t, --timeout SECONDS\n"
"                        wait at most SECONDS (decimals allowed) for a\n"
"                        message; with --follow, for each next message\n"
"     -0, --null         end each message with a NUL byte, not a newline\n"
CLI_COMMON_OPTIONS_HELP
"\n"
CLI_EXIT_HELP);
	cli_exit_stdout();
}

static void
recv_parse_timeout(struct cli *cli, struct recv_opts *o, const char *arg)
{
	char *end;
	double s, ms;

	errno = 0;
	s = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno != 0 || !isfinite(s) || s < 0)
		cli_usage_error(cli, "invalid timeout '%s': expected seconds, "
		    "0 or more", arg);
	ms = ceil(s * 1000.0);
	o->timeout_ms = ms > INT_MAX ? INT_MAX : (int)ms;
	o->timeout_s = s;
}

static void
recv_parse(struct cli *cli, struct recv_opts *o, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "forever", no_argument, NULL, 'F' },
		{ "nonblock", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "null", no_argument, NULL, '0' },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = -1;
	o->sep = '\n';
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":fFnt:0hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->follow = 1;
			break;
		case 'F':
			o->forever = 1;
			break;
		case 'n':
			o->nonblock = 1;
			break;
		case 't':
			recv_parse_timeout(cli, o, optarg);
			break;
		case '0':
			o->sep = '\0';
			break;
		default:
			cli_common_option(cli, ch, argv, recv_usage);
			break;
		}
	}
	if (o->nonblock && (o->follow || o->forever))
		cli_usage_error(cli, "--nonblock cannot be combined with "
		    "--follow or --forever");
	if (o->nonblock && o->timeout_ms >= 0)
		cli_usage_error(cli, "--nonblock cannot be combined with "
		    "--timeout");
	if (optind >= argc)
		cli_usage_error(cli, "missing channel name");
	if (optind + 1 < argc)
		cli_usage_error(cli, "unexpected argument '%s'",
		    argv[optind + 1]);
	cli->name = argv[optind];
}

static int
recv_one(const struct recv_opts *o, chan_rx *rx, chan_msg **m)
{
	if (o->nonblock)
		return chan_rx_try_recv(rx, m);
	return chan_rx_recv_timeout(rx, o->timeout_ms, m);
}

/* Writes and flushes one message; 0 or -1 with errno set. */
static int
recv_print(const struct recv_opts *o, const chan_msg *m)
{
	size_t len = chan_msg_len(m);

	if (fwrite(chan_msg_data(m), 1, len, stdout) != len ||
	    putchar(o->sep) == EOF || fflush(stdout) != 0)
		return -1;
	return 0;
}

/*
 * Receives and prints until done. Returns 0, the CHAN_E* that ended the
 * loop, or RECV_WRITE_FAILED with *write_errno set.
 */
#define RECV_WRITE_FAILED	1
static int
recv_loop(const struct recv_opts *o, chan_rx *rx, int *write_errno)
{
	chan_msg *m;
	int rc;

	for (;;) {
		rc = recv_one(o, rx, &m);
		if (rc == CHAN_EDISCONNECTED && o->forever)
			continue;
		if (rc != 0)
			return rc;
		if (recv_print(o, m) != 0) {
			/* Not acknowledged: the daemon requeues it. */
			*write_errno = errno;
			chan_msg_free(m);
			return RECV_WRITE_FAILED;
		}
		rc = chan_rx_ack(rx, m);
		chan_msg_free(m);
		if (rc != 0)
			return rc;
		if (!o->follow && !o->forever)
			return 0;
	}
}

int
main(int argc, char *argv[])
{
	struct cli cli;
	struct recv_opts o;
	chan_open_opts opts = CHAN_OPEN_OPTS_INIT;
	char errmsg[RECV_ERRMSG_MAX];
	chan_rx *rx;
	int rc, crc, write_errno = 0;

	cli_init(&cli, RECV_PROG);
	recv_parse(&cli, &o, argc, argv);
	/* A closed stdout must be a write error we report, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	cli_connect(&cli);
	opts.flags = CHAN_MANUAL_ACK;
	opts.prefetch = o.follow || o.forever ? RECV_FOLLOW_PREFETCH : 1;
	rc = chan_rx_open_ex(cli.c, cli.name, strlen(cli.name), &opts, &rx);
	if (rc != 0)
		cli_fail(&cli, rc, chan_client_errmsg(cli.c));

	rc = recv_loop(&o, rx, &write_errno);
	snprintf(errmsg, sizeof(errmsg), "%s", chan_rx_errmsg(rx));
	/*
	 * Whatever ended the loop, closing the receiver sends the
	 * acknowledgements made so far and returns the rest to the queue.
	 */
	crc = chan_rx_close(rx);
	if (rc == CHAN_EDISCONNECTED && o.follow)
		rc = 0;
	if (rc == 0)
		rc = crc;
	if (rc == CHAN_ECONNLOST)
		snprintf(errmsg, sizeof(errmsg), "%s",
		    chan_client_errmsg(cli.c));
	chan_disconnect(cli.c);
	cli.c = NULL;

	switch (rc) {
	case 0:
		return CLI_EXIT_OK;
	case RECV_WRITE_FAILED:
		cli_die(&cli, CLI_EXIT_FAIL, "channel '%s': writing standard "
		    "output: %s (the message stays queued)", cli.name,
		    strerror(write_errno));
	case CHAN_ETIMEDOUT:
		cli_die(&cli, CLI_EXIT_TIMEDOUT, "channel '%s': timed out "
		    "after %g s", cli.name, o.timeout_s);
	default:
		cli_fail(&cli, rc, errmsg);
	}
}

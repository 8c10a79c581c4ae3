/* SPDX-License-Identifier: MIT */
/*
 * chan-send: send messages on a chand channel.
 *
 * Each VALUE is one message; with none, each line of standard input is one
 * message. Messages are pipelined (sent without waiting for each
 * confirmation, many per write) unless --try or --timeout asks for a
 * decision per message; the batch goes out whenever standard input has
 * nothing more to give at once. Exits 0 only once the daemon has confirmed
 * every message.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define SEND_PROG	"chan-send"

#define SEND_READ_CHUNK	65536

struct send_opts {
	int		 delim;		/* '\n', or '\0' with -0 */
	int		 try;		/* --try */
	int		 timeout_ms;	/* --timeout; -1: none */
	double		 timeout_s;
	chan_open_opts	 open;		/* --capacity, --capacity-bytes */
};

/* A growable line, capped at the daemon's payload limit. */
struct send_line {
	char	*buf;
	size_t	 len;		/* bytes kept */
	size_t	 cap;
	size_t	 size;		/* bytes seen, kept or not */
};

static void __attribute__((noreturn))
send_usage(void)
{
	printf(
"NAME\n"
"     chan-send - send messages on a chand channel\n"
"\n"
"SYNOPSIS\n"
"     chan-send [-0hRTV] [-t SECONDS] [--capacity N|unbounded]\n"
"               [--capacity-bytes N|unbounded] [--[no-]durable]\n"
"               [--socket PATH] NAME [VALUE ...]\n"
"\n"
"DESCRIPTION\n"
"     Sends each VALUE as one message on channel NAME, in order. With no\n"
"     VALUE, sends one message per line of standard input (without its\n"
"     newline; an empty line is an empty message), holding the channel\n"
"     open until end of input. Messages are pipelined: many go out per\n"
"     write without waiting for each confirmation, and whatever was read\n"
"     is sent before waiting for more input. A full channel makes\n"
"     chan-send wait (and stop reading its input) until the consumer\n"
"     makes room. Exits 0 only after the daemon has queued every message.\n"
"\n"
"OPTIONS\n"
"     -0, --null         split standard input on NUL bytes, not newlines\n"
"     -T, --try          do not wait for room: exit 9 at the first\n"
"                        message that finds the channel full (that one\n"
"                        and the rest are not sent)\n"
"     -t, --timeout SECONDS\n"
"                        wait at most SECONDS (decimals allowed) for room\n"
"                        for each message, else exit 5 (that message and\n"
"                        the rest are not sent)\n"
"     -R, --rx-gone      fail, exit 14, once the channel's consumer has\n"
"                        come and gone (as Rust's SendError): a pipeline\n"
"                        feeding a consumer that exits stops\n"
CLI_CAPACITY_OPTIONS_HELP
CLI_COMMON_OPTIONS_HELP
"\n"
CLI_EXIT_HELP);
	cli_exit_stdout();
}

static int
send_parse(struct cli *cli, struct send_opts *o, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "null", no_argument, NULL, '0' },
		{ "try", no_argument, NULL, 'T' },
		{ "timeout", required_argument, NULL, 't' },
		{ "rx-gone", no_argument, NULL, 'R' },
		CLI_CAPACITY_LONGOPTS,
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const chan_open_opts def = CHAN_OPEN_OPTS_INIT;
	int ch;

	memset(o, 0, sizeof(*o));
	o->delim = '\n';
	o->timeout_ms = -1;
	o->open = def;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":0RTt:hV", longopts, NULL)) != -1) {
		if (cli_capacity_option(cli, ch, &o->open))
			continue;
		switch (ch) {
		case '0':
			o->delim = '\0';
			break;
		case 'T':
			o->try = 1;
			break;
		case 'R':
			o->open.flags |= CHAN_RX_GONE;
			break;
		case 't':
			o->timeout_ms = cli_parse_seconds(cli, "timeout", optarg,
			    &o->timeout_s);
			break;
		default:
			cli_common_option(cli, ch, argv, send_usage);
			break;
		}
	}
	if (o->try && o->timeout_ms >= 0)
		cli_usage_error(cli, "--try cannot be combined with --timeout");
	if (optind >= argc)
		cli_usage_error(cli, "missing channel name");
	cli->name = argv[optind];
	return optind + 1;
}

static void
send_one(struct cli *cli, const struct send_opts *o, chan_tx *tx,
    const void *data, size_t len)
{
	int rc;

	if (o->try)
		rc = chan_tx_try_send(tx, data, len);
	else if (o->timeout_ms >= 0)
		rc = chan_tx_send_timeout(tx, data, len, o->timeout_ms);
	else
		rc = chan_tx_send_async(tx, data, len);
	if (rc == CHAN_ETIMEDOUT)
		cli_die(cli, CLI_EXIT_TIMEDOUT, "channel '%s': no room within "
		    "%g s", cli->name, o->timeout_s);
	if (rc != 0)
		cli_fail(cli, rc, chan_tx_errmsg(tx));
}

/* Every value is checked before the first is sent: all or none. */
static void
send_values(struct cli *cli, const struct send_opts *o, chan_tx *tx, int argc,
    char *argv[], int first)
{
	size_t max = chan_client_max_msg(cli->c), len;
	int i;

	for (i = first; i < argc; i++) {
		len = strlen(argv[i]);
		if (len > max)
			cli_die(cli, CLI_EXIT_FAIL, "channel '%s': value %d is "
			    "%zu bytes, over the daemon's limit of %zu bytes",
			    cli->name, i - first + 1, len, max);
	}
	for (i = first; i < argc; i++)
		send_one(cli, o, tx, argv[i], strlen(argv[i]));
}

/* Adds one byte to the line; bytes past max are only counted. */
static void
send_line_add(struct cli *cli, struct send_line *l, int ch, size_t max)
{
	char *p;
	size_t cap;

	l->size++;
	if (l->size > max)
		return;
	if (l->len == l->cap) {
		cap = l->cap > 0 ? l->cap * 2 : 256;
		if ((p = realloc(l->buf, cap)) == NULL)
			cli_die(cli, CLI_EXIT_FAIL, "channel '%s': out of "
			    "memory for a line of input", cli->name);
		l->buf = p;
		l->cap = cap;
	}
	l->buf[l->len++] = (char)ch;
}

static void
send_line_flush(struct cli *cli, const struct send_opts *o, chan_tx *tx,
    struct send_line *l, unsigned long lineno, size_t max)
{
	if (l->size > max)
		cli_die(cli, CLI_EXIT_FAIL, "channel '%s': line %lu is %zu "
		    "bytes, over the daemon's limit of %zu bytes", cli->name,
		    lineno, l->size, max);
	send_one(cli, o, tx, l->buf, l->len);
	l->len = 0;
	l->size = 0;
}

/*
 * Before a read that may wait: the messages sent so far must not sit in
 * the batch while input is slow (an interactive user, a quiet pipe).
 */
static void
send_before_wait(struct cli *cli, chan_tx *tx)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	int rc;

	if (chan_tx_unconfirmed(tx) == 0 || poll(&pfd, 1, 0) > 0)
		return;
	if ((rc = chan_tx_flush(tx)) != 0)
		cli_fail(cli, rc, chan_tx_errmsg(tx));
}

/* read(2) of standard input: its byte count, 0 at end of input. */
static size_t
send_read(struct cli *cli, chan_tx *tx, char *buf, size_t len)
{
	ssize_t n;

	send_before_wait(cli, tx);
	while ((n = read(STDIN_FILENO, buf, len)) < 0 && errno == EINTR)
		;
	if (n < 0)
		cli_die(cli, CLI_EXIT_FAIL, "channel '%s': reading standard "
		    "input: %s", cli->name, strerror(errno));
	return (size_t)n;
}

static void
send_stdin(struct cli *cli, const struct send_opts *o, chan_tx *tx)
{
	struct send_line l = { NULL, 0, 0, 0 };
	size_t max = chan_client_max_msg(cli->c), n, i;
	unsigned long lineno = 0;
	char *buf;

	if ((buf = malloc(SEND_READ_CHUNK)) == NULL)
		cli_die(cli, CLI_EXIT_FAIL, "out of memory");
	while ((n = send_read(cli, tx, buf, SEND_READ_CHUNK)) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == o->delim)
				send_line_flush(cli, o, tx, &l, ++lineno, max);
			else
				send_line_add(cli, &l, buf[i], max);
		}
	}
	if (l.size > 0)
		send_line_flush(cli, o, tx, &l, ++lineno, max);
	free(l.buf);
	free(buf);
}

int
main(int argc, char *argv[])
{
	struct cli cli;
	struct send_opts o;
	chan_tx *tx;
	int first, rc;

	cli_init(&cli, SEND_PROG);
	first = send_parse(&cli, &o, argc, argv);
	cli_connect(&cli);
	rc = chan_tx_open_ex(cli.c, cli.name, strlen(cli.name), &o.open, &tx);
	if (rc != 0)
		cli_fail(&cli, rc, chan_client_errmsg(cli.c));

	if (first < argc)
		send_values(&cli, &o, tx, argc, argv, first);
	else
		send_stdin(&cli, &o, tx);

	/* Every pipelined send confirmed: exit 0 means all were queued. */
	if ((rc = chan_tx_flush(tx)) != 0)
		cli_fail(&cli, rc, chan_tx_errmsg(tx));
	if ((rc = chan_tx_close(tx)) != 0)
		cli_fail(&cli, rc, "");
	chan_disconnect(cli.c);
	return CLI_EXIT_OK;
}

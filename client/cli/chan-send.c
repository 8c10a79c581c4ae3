/*
 * chan-send: send messages on a chand channel.
 *
 * Each VALUE is one message; with none, each line of standard input is one
 * message, sent as soon as the line is complete. Exits 0 only once the
 * daemon has confirmed every message.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define SEND_PROG	"chan-send"

struct send_opts {
	int	 delim;		/* '\n', or '\0' with -0 */
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
"     chan-send [-0hV] [--socket PATH] NAME [VALUE ...]\n"
"\n"
"DESCRIPTION\n"
"     Sends each VALUE as one message on channel NAME, in order. With no\n"
"     VALUE, sends one message per line of standard input as each line\n"
"     arrives (without its newline; an empty line is an empty message),\n"
"     holding the channel open until end of input. Exits 0 only after the\n"
"     daemon has queued every message.\n"
"\n"
"OPTIONS\n"
"     -0, --null         split standard input on NUL bytes, not newlines\n"
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
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	o->delim = '\n';
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":0hV", longopts, NULL)) != -1) {
		switch (ch) {
		case '0':
			o->delim = '\0';
			break;
		default:
			cli_common_option(cli, ch, argv, send_usage);
			break;
		}
	}
	if (optind >= argc)
		cli_usage_error(cli, "missing channel name");
	cli->name = argv[optind];
	return optind + 1;
}

static void
send_one(struct cli *cli, chan_tx *tx, const void *data, size_t len)
{
	int rc;

	if ((rc = chan_tx_send(tx, data, len)) != 0)
		cli_fail(cli, rc, chan_tx_errmsg(tx));
}

/* Every value is checked before the first is sent: all or none. */
static void
send_values(struct cli *cli, chan_tx *tx, int argc, char *argv[], int first)
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
		send_one(cli, tx, argv[i], strlen(argv[i]));
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
send_line_flush(struct cli *cli, chan_tx *tx, struct send_line *l,
    unsigned long lineno, size_t max)
{
	if (l->size > max)
		cli_die(cli, CLI_EXIT_FAIL, "channel '%s': line %lu is %zu "
		    "bytes, over the daemon's limit of %zu bytes", cli->name,
		    lineno, l->size, max);
	send_one(cli, tx, l->buf, l->len);
	l->len = 0;
	l->size = 0;
}

static void
send_stdin(struct cli *cli, chan_tx *tx, int delim)
{
	struct send_line l = { NULL, 0, 0, 0 };
	size_t max = chan_client_max_msg(cli->c);
	unsigned long lineno = 0;
	int ch;

	/* stdio hands over each line as soon as read() returns it. */
	while ((ch = getc_unlocked(stdin)) != EOF) {
		if (ch == delim)
			send_line_flush(cli, tx, &l, ++lineno, max);
		else
			send_line_add(cli, &l, ch, max);
	}
	if (ferror(stdin))
		cli_die(cli, CLI_EXIT_FAIL, "channel '%s': reading standard "
		    "input: %s", cli->name, strerror(errno));
	if (l.size > 0)
		send_line_flush(cli, tx, &l, ++lineno, max);
	free(l.buf);
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
	if ((rc = chan_tx_open(cli.c, cli.name, &tx)) != 0)
		cli_fail(&cli, rc, chan_client_errmsg(cli.c));

	if (first < argc)
		send_values(&cli, tx, argc, argv, first);
	else
		send_stdin(&cli, tx, o.delim);

	if ((rc = chan_tx_close(tx)) != 0)
		cli_fail(&cli, rc, "");
	chan_disconnect(cli.c);
	return CLI_EXIT_OK;
}

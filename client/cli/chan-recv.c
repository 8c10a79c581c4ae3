/* SPDX-License-Identifier: MIT */
/*
 * chan-recv: receive messages from a chand channel.
 *
 * The receiver is opened with manual acknowledgement: a message is
 * acknowledged only after it has been written to standard output and
 * flushed and, when that is a pipe, read from it (outack.h), so a message
 * this program could not pass on goes back to the channel for the next
 * consumer.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "outack.h"

#define RECV_PROG		"chan-recv"
#define RECV_FOLLOW_PREFETCH	64
#define RECV_ERRMSG_MAX	1024
#define RECV_CHANNELS_MAX	64
/* While written messages wait for the pipe's reader: how often to look. */
#define RECV_SETTLE_MS		20

struct recv_opts {
	int		 follow;	/* until disconnected */
	int		 forever;	/* across disconnections */
	int		 nonblock;
	int		 timeout_ms;	/* -1: none */
	double		 timeout_s;
	int		 sep;		/* '\n', or '\0' with -0 */
	const char	*format;	/* --format, or NULL */
	chan_open_opts	 open;		/* --capacity, --capacity-bytes */
};

/* The channels, and the receivers still listened to. */
struct recv_set {
	char		*names[RECV_CHANNELS_MAX];
	chan_rx		*rxs[RECV_CHANNELS_MAX];	/* NULL once closed */
	size_t		 n;
	size_t		 live;		/* not yet disconnected */
	chan_rx		*active[RECV_CHANNELS_MAX];
	size_t		 map[RECV_CHANNELS_MAX];	/* active -> index */
	size_t		 last;		/* channel of the latest result */
	struct outack	 acks;		/* written, acknowledged once read */
};

static void __attribute__((noreturn))
recv_usage(void)
{
	printf(
"NAME\n"
"     chan-recv - receive messages from chand channels\n"
"\n"
"SYNOPSIS\n"
"     chan-recv [-0fFhV] [-t SECONDS] [--format FMT] [--socket PATH]\n"
"               [--capacity N|unbounded] [--capacity-bytes N|unbounded]\n"
"               [--[no-]durable] NAME ...\n"
"     chan-recv -n [-0hV] [--format FMT] [--socket PATH] NAME ...\n"
"\n"
"DESCRIPTION\n"
"     Receives one message from channel NAME, as its single consumer, and\n"
"     prints it followed by a newline. A message is acknowledged only once\n"
"     it has been written and flushed, and, into a pipe, read by the\n"
"     pipe's reader; one that could not be goes back to the channel.\n"
"\n"
"     With several NAMEs (up to 64), chan-recv is the consumer of each and\n"
"     takes messages from whichever has one, printing the channel's name,\n"
"     a tab and the message. A channel that is disconnected (every sender\n"
"     gone) is reported on standard error and no longer listened to\n"
"     (except with --forever); --follow ends, with status 0, once every\n"
"     channel is disconnected, and a single receive exits 3 only if every\n"
"     channel is disconnected before a message comes.\n"
"\n"
"OPTIONS\n"
"     -f, --follow       print every message until every channel is\n"
"                        disconnected, then exit 0\n"
"     -F, --forever      like --follow, but keep waiting for new senders\n"
"                        after a disconnection\n"
"     -n, --nonblock     do not wait: exit 4 if nothing is queued (not\n"
"                        with -f, -F or -t)\n"
"     -t, --timeout SECONDS\n"
"                        wait at most SECONDS (decimals allowed) for a\n"
"                        message; with --follow, for each next message\n"
"     -0, --null         end each message with a NUL byte, not a newline\n"
"         --format FMT   print each message as FMT, where %%m is the\n"
"                        message, %%c the channel's name, %%%% a percent\n"
"                        sign, and \\n \\t \\0 \\\\ a newline, tab, NUL\n"
"                        and backslash; nothing is added (not with -0)\n"
CLI_CAPACITY_OPTIONS_HELP
CLI_COMMON_OPTIONS_HELP
"\n"
CLI_EXIT_HELP);
	cli_exit_stdout();
}

/* Checks FMT: only the directives and escapes the help lists. */
static void
recv_check_format(struct cli *cli, const char *fmt)
{
	const char *p;

	for (p = fmt; *p != '\0'; p++) {
		if (*p == '%' && (p[1] == 'm' || p[1] == 'c' || p[1] == '%'))
			p++;
		else if (*p == '\\' && p[1] != '\0' &&
		    strchr("nt0\\", p[1]) != NULL)
			p++;
		else if (*p == '%' || *p == '\\')
			cli_usage_error(cli, "invalid --format '%s': %%m, %%c, "
			    "%%%%, \\n, \\t, \\0 and \\\\ are known", fmt);
	}
}

static void
recv_parse_check(struct cli *cli, const struct recv_opts *o)
{
	if (o->nonblock && (o->follow || o->forever))
		cli_usage_error(cli, "--nonblock cannot be combined with "
		    "--follow or --forever");
	if (o->nonblock && o->timeout_ms >= 0)
		cli_usage_error(cli, "--nonblock cannot be combined with "
		    "--timeout");
	if (o->format != NULL && o->sep != '\n')
		cli_usage_error(cli, "--null cannot be combined with --format "
		    "(write \\0 in the format)");
	if (o->format != NULL)
		recv_check_format(cli, o->format);
}

static void
recv_option(struct cli *cli, struct recv_opts *o, int ch, char *argv[])
{
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
		o->timeout_ms = cli_parse_seconds(cli, "timeout", optarg,
		    &o->timeout_s);
		break;
	case '0':
		o->sep = '\0';
		break;
	case 'M':
		o->format = optarg;
		break;
	default:
		cli_common_option(cli, ch, argv, recv_usage);
		break;
	}
}

static void
recv_parse(struct cli *cli, struct recv_opts *o, struct recv_set *set,
    int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "forever", no_argument, NULL, 'F' },
		{ "nonblock", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "null", no_argument, NULL, '0' },
		{ "format", required_argument, NULL, 'M' },
		CLI_CAPACITY_LONGOPTS,
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const chan_open_opts def = CHAN_OPEN_OPTS_INIT;
	int ch;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = -1;
	o->sep = '\n';
	o->open = def;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":fFnt:0hV", longopts,
	    NULL)) != -1) {
		if (!cli_capacity_option(cli, ch, &o->open))
			recv_option(cli, o, ch, argv);
	}
	recv_parse_check(cli, o);
	if (optind >= argc)
		cli_usage_error(cli, "missing channel name");
	if (argc - optind > RECV_CHANNELS_MAX)
		cli_usage_error(cli, "too many channels: at most %d",
		    RECV_CHANNELS_MAX);
	memset(set, 0, sizeof(*set));
	for (; optind < argc; optind++)
		set->names[set->n++] = argv[optind];
	cli->name = set->names[0];
}

/*
 * Writes FMT's text, escapes and directives for m from channel name;
 * returns how many bytes.
 */
static size_t
recv_put_format(const char *fmt, const char *name, const chan_msg *m)
{
	static const char esc_in[] = "nt0\\", esc_out[] = "\n\t\0\\";
	const char *p;
	size_t n = 0;

	for (p = fmt; *p != '\0'; p++, n++) {
		if (*p == '%' && p[1] == 'm') {
			fwrite(chan_msg_data(m), 1, chan_msg_len(m), stdout);
			n += chan_msg_len(m) - 1;
			p++;
		} else if (*p == '%' && p[1] == 'c') {
			fputs(name, stdout);
			n += strlen(name) - 1;
			p++;
		} else if ((*p == '%' || *p == '\\') && p[1] != '\0') {
			p++;
			putchar(*p == '%' ? '%' :
			    esc_out[strchr(esc_in, *p) - esc_in]);
		} else
			putchar(*p);
	}
	return n;
}

/* Writes and flushes one message, *written bytes; 0 or -1 with errno set. */
static int
recv_print(const struct recv_opts *o, const struct recv_set *set, size_t i,
    const chan_msg *m, size_t *written)
{
	size_t len = chan_msg_len(m);

	if (o->format != NULL)
		*written = recv_put_format(o->format, set->names[i], m);
	else {
		*written = len + 1;
		if (set->n > 1) {
			printf("%s\t", set->names[i]);
			*written += strlen(set->names[i]) + 1;
		}
		fwrite(chan_msg_data(m), 1, len, stdout);
		putchar(o->sep);
	}
	if (ferror(stdout) || fflush(stdout) != 0)
		return -1;
	return 0;
}

/* Opens a receiver on every channel; exits on the first failure. */
static void
recv_open_all(struct cli *cli, const struct recv_opts *o, struct recv_set *set)
{
	chan_open_opts opts = o->open;
	size_t i;
	int rc;

	opts.flags = CHAN_MANUAL_ACK | (o->forever ? CHAN_FOREVER : 0);
	opts.prefetch = o->follow || o->forever ? RECV_FOLLOW_PREFETCH : 1;
	for (i = 0; i < set->n; i++) {
		rc = chan_rx_open_ex(cli->c, set->names[i],
		    strlen(set->names[i]), &opts, &set->rxs[i]);
		/* A daemon without CHAN_FOREVER reports each generation once. */
		if (rc == CHAN_EOPTION && (opts.flags & CHAN_FOREVER)) {
			opts.flags &= ~CHAN_FOREVER;
			rc = chan_rx_open_ex(cli->c, set->names[i],
			    strlen(set->names[i]), &opts, &set->rxs[i]);
		}
		if (rc != 0) {
			cli->name = set->names[i];
			cli_fail(cli, rc, chan_client_errmsg(cli->c));
		}
	}
	set->live = set->n;
}

/* The receivers not yet disconnected, in set->active. */
static size_t
recv_active(struct recv_set *set)
{
	size_t i, k = 0;

	for (i = 0; i < set->n; i++) {
		if (set->rxs[i] == NULL)
			continue;
		set->active[k] = set->rxs[i];
		set->map[k++] = i;
	}
	return k;
}

/*
 * A channel is disconnected: with several channels, say so and stop
 * listening to it (closing it lets another consumer take it). Returns
 * CHAN_EDISCONNECTED when no channel is left, else 1 (go on).
 */
static int
recv_disconnected(struct cli *cli, struct recv_set *set, size_t i)
{
	if (set->n == 1)
		return CHAN_EDISCONNECTED;
	fprintf(stderr, "%s: channel '%s' is disconnected: every sender is "
	    "gone\n", cli->prog, set->names[i]);
	chan_rx_close(set->rxs[i]);
	set->rxs[i] = NULL;
	return --set->live == 0 ? CHAN_EDISCONNECTED : 1;
}

/*
 * Waits while the pipe's reader has messages to read: 0 once it read
 * them all (acknowledged), RECV_WRITE_FAILED with errno EPIPE if it went
 * first, or the CHAN_E* of an acknowledgement.
 */
#define RECV_WRITE_FAILED	2	/* not a CHAN_E*, nor recv_next's 1 */
static int
recv_settle_all(struct recv_set *set)
{
	struct pollfd pfd = { set->acks.fd, 0, 0 };
	int rc;

	for (;;) {
		if ((rc = outack_settle(&set->acks)) != 0)
			return rc;
		if (outack_waiting(&set->acks) == 0)
			return 0;
		if (outack_reader_gone(&set->acks)) {
			errno = EPIPE;
			return RECV_WRITE_FAILED;
		}
		/* A pipe tells when its reader goes, not when it reads. */
		(void)poll(&pfd, 1, RECV_SETTLE_MS);
	}
}

/*
 * chan_select, but while written messages wait for the pipe's reader,
 * in slices that acknowledge what it has read meanwhile: the daemon
 * reports a disconnection only once nothing is in flight. The timeout
 * counts from when the reader has read everything, since until then the
 * wait is for the reader, as a blocked write would be; without one
 * (--nonblock, 0) the reader is waited for first. A reader that goes ends
 * the wait (RECV_WRITE_FAILED, errno EPIPE).
 */
static int
recv_select(const struct recv_opts *o, struct recv_set *set, size_t n,
    size_t *k, chan_msg **m)
{
	int left = o->nonblock ? 0 : o->timeout_ms, rc;

	*k = 0;
	for (;;) {
		if (outack_waiting(&set->acks) == 0)
			return chan_select(set->active, n, left, k, m);
		if (left == 0) {
			if ((rc = recv_settle_all(set)) != 0)
				return rc;
			continue;
		}
		rc = chan_select(set->active, n, RECV_SETTLE_MS, k, m);
		if (rc != CHAN_ETIMEDOUT)
			return rc;
		if ((rc = outack_settle(&set->acks)) != 0)
			return rc;
		if (outack_reader_gone(&set->acks)) {
			errno = EPIPE;
			return RECV_WRITE_FAILED;
		}
	}
}

/*
 * Takes the next message or event, into *m and *i. Returns 0, 1 (an event
 * handled, call again) or the CHAN_E* that ends the loop.
 */
static int
recv_next(struct cli *cli, const struct recv_opts *o, struct recv_set *set,
    size_t *i, chan_msg **m)
{
	size_t n = recv_active(set), k;
	int rc;

	rc = recv_select(o, set, n, &k, m);
	if (rc == CHAN_ETIMEDOUT && o->nonblock)
		rc = CHAN_EEMPTY;
	*i = set->map[k];
	set->last = *i;
	cli->name = set->names[*i];
	if (rc == CHAN_EDISCONNECTED && o->forever)
		return 1;
	if (rc == CHAN_EDISCONNECTED)
		return recv_disconnected(cli, set, *i);
	return rc;
}

/*
 * Receives and prints until done, then waits for the pipe's reader to
 * read what was written. Returns 0, the CHAN_E* that ended the loop, or
 * RECV_WRITE_FAILED with *write_errno set.
 */
static int
recv_loop(struct cli *cli, const struct recv_opts *o, struct recv_set *set,
    int *write_errno)
{
	chan_msg *m;
	size_t i, len;
	int rc, src;

	for (;;) {
		if ((rc = recv_next(cli, o, set, &i, &m)) == 1)
			continue;
		if (rc != 0)
			break;
		if (recv_print(o, set, i, m, &len) != 0) {
			/* Not acknowledged: the daemon requeues it. */
			*write_errno = errno;
			chan_msg_free(m);
			return RECV_WRITE_FAILED;
		}
		if ((rc = outack_written(&set->acks, set->rxs[i], m, len)) != 0)
			return rc;
		if (!o->follow && !o->forever)
			break;
	}
	if (rc == RECV_WRITE_FAILED) {
		*write_errno = errno;
		return rc;
	}
	if (rc != 0 && rc != CHAN_EDISCONNECTED)
		return rc;
	/* What the reader never read stays the channel's. */
	if ((src = recv_settle_all(set)) == RECV_WRITE_FAILED)
		*write_errno = errno;
	return src != 0 ? src : rc;
}

/*
 * Closes every receiver still open: that sends the acknowledgements made
 * so far and returns the rest to the queues. The first failure, or 0.
 */
static int
recv_close_all(struct recv_set *set)
{
	size_t i;
	int rc = 0, crc;

	for (i = 0; i < set->n; i++) {
		if (set->rxs[i] == NULL)
			continue;
		crc = chan_rx_close(set->rxs[i]);
		set->rxs[i] = NULL;
		if (rc == 0)
			rc = crc;
	}
	return rc;
}

static int
recv_exit(struct cli *cli, const struct recv_opts *o,
    const struct recv_set *set, int rc, const char *errmsg, int write_errno)
{
	switch (rc) {
	case 0:
		return CLI_EXIT_OK;
	case RECV_WRITE_FAILED:
		cli_die(cli, CLI_EXIT_FAIL, "channel '%s': writing standard "
		    "output: %s (the message stays queued)", cli->name,
		    strerror(write_errno));
	case CHAN_ETIMEDOUT:
		if (set->n > 1)
			cli_die(cli, CLI_EXIT_TIMEDOUT, "no message on %zu "
			    "channels within %g s", set->n, o->timeout_s);
		cli_die(cli, CLI_EXIT_TIMEDOUT, "channel '%s': timed out "
		    "after %g s", cli->name, o->timeout_s);
	case CHAN_EEMPTY:
		if (set->n > 1)
			cli_die(cli, CLI_EXIT_EMPTY, "all %zu channels are "
			    "empty", set->n);
		break;
	case CHAN_EDISCONNECTED:
		if (set->n > 1)
			cli_die(cli, CLI_EXIT_DISCONNECTED, "every channel is "
			    "disconnected: every sender is gone");
		break;
	default:
		break;
	}
	cli_fail(cli, rc, errmsg);
}

int
main(int argc, char *argv[])
{
	struct cli cli;
	struct recv_opts o;
	struct recv_set set;
	char errmsg[RECV_ERRMSG_MAX] = "";
	int rc, crc, write_errno = 0;


	cli_init(&cli, RECV_PROG);
	recv_parse(&cli, &o, &set, argc, argv);
	/* A closed stdout must be a write error we report, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	cli_connect(&cli);
	recv_open_all(&cli, &o, &set);
	outack_init(&set.acks, STDOUT_FILENO);
	rc = recv_loop(&cli, &o, &set, &write_errno);
	outack_fini(&set.acks);
	if (set.rxs[set.last] != NULL)
		snprintf(errmsg, sizeof(errmsg), "%s",
		    chan_rx_errmsg(set.rxs[set.last]));
	crc = recv_close_all(&set);
	if (rc == CHAN_EDISCONNECTED && o.follow)
		rc = 0;
	if (rc == 0)
		rc = crc;
	if (rc == CHAN_ECONNLOST)
		snprintf(errmsg, sizeof(errmsg), "%s",
		    chan_client_errmsg(cli.c));
	chan_disconnect(cli.c);
	cli.c = NULL;
	return recv_exit(&cli, &o, &set, rc, errmsg, write_errno);
}

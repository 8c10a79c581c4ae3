/* SPDX-License-Identifier: MIT */
/*
 * cli.c: option, connection and error helpers for chan-send and chan-recv.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void
cli_init(struct cli *cli, const char *prog)
{
	memset(cli, 0, sizeof(*cli));
	cli->prog = prog;
}

/*
 * Writes s to stderr with control characters escaped: a channel name or a
 * daemon message holding a newline must not break the one-line report.
 */
static void
cli_put_escaped(const char *s)
{
	unsigned char ch;

	for (; (ch = (unsigned char)*s) != '\0'; s++) {
		if (ch == '\n')
			fputs("\\n", stderr);
		else if (ch == '\t')
			fputs("\\t", stderr);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(stderr, "\\x%02x", ch);
		else
			fputc(ch, stderr);
	}
}

/* "prog: message" and then suffix, as one line on stderr. */
static void
cli_vprint(const struct cli *cli, const char *suffix, const char *fmt,
    va_list ap)
{
	char line[CLI_LINE_MAX];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s: ", cli->prog);
	cli_put_escaped(line);
	fprintf(stderr, "%s\n", suffix);
}

void
cli_die(const struct cli *cli, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vprint(cli, "", fmt, ap);
	va_end(ap);
	exit(code);
}

void
cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	char suffix[64];
	va_list ap;

	snprintf(suffix, sizeof(suffix), " (see '%s --help')", cli->prog);
	va_start(ap, fmt);
	cli_vprint(cli, suffix, fmt, ap);
	va_end(ap);
	exit(CLI_EXIT_USAGE);
}

/* Reports a getopt_long failure ('?' or ':') for argv. */
static void __attribute__((noreturn))
cli_bad_option(const struct cli *cli, int ch, char *const argv[])
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (ch == ':')
		cli_usage_error(cli, "option '%s' needs an argument", arg);
	if (optopt != 0)
		cli_usage_error(cli, "unknown option '-%c'", optopt);
	cli_usage_error(cli, "unknown option '%s'", arg);
}

void
cli_exit_stdout(void)
{
	exit(fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL);
}

void
cli_common_option(struct cli *cli, int ch, char *const argv[],
    void (*usage)(void))
{
	switch (ch) {
	case 'S':
		cli->socket_opt = optarg;
		return;
	case 'h':
		usage();
		break;
	case 'V':
		printf("%s %s\n", cli->prog, CHAN_VERSION_STRING);
		cli_exit_stdout();
	}
	cli_bad_option(cli, ch, argv);
}

/* N (at most max) or "unbounded"; a usage error otherwise. */
static uint64_t
cli_parse_capacity(const struct cli *cli, const char *opt, const char *arg,
    uint64_t min, uint64_t max)
{
	uintmax_t v;
	char *end;

	if (strcmp(arg, "unbounded") == 0)
		return CHAN_CAPACITY_UNBOUNDED;
	errno = 0;
	v = strtoumax(arg, &end, 10);
	if (end == arg || *end != '\0' || errno != 0 || arg[0] == '-' ||
	    v < min || v > max)
		cli_usage_error(cli, "invalid %s '%s': expected %" PRIu64
		    " to %" PRIu64 " or 'unbounded'", opt, arg, min, max);
	return (uint64_t)v;
}

int
cli_capacity_option(const struct cli *cli, int ch, chan_open_opts *o)
{
	switch (ch) {
	case CLI_OPT_CAPACITY:
		o->capacity = cli_parse_capacity(cli, "--capacity", optarg, 0,
		    UINT32_MAX);
		return 1;
	case CLI_OPT_CAPACITY_BYTES:
		o->capacity_bytes = cli_parse_capacity(cli, "--capacity-bytes",
		    optarg, 1, (uint64_t)1 << 63);
		return 1;
	case CLI_OPT_DURABLE:
		o->durable = CHAN_DURABLE_YES;
		return 1;
	case CLI_OPT_NO_DURABLE:
		o->durable = CHAN_DURABLE_NO;
		return 1;
	default:
		return 0;
	}
}

int
cli_parse_seconds(const struct cli *cli, const char *opt, const char *arg,
    double *seconds)
{
	char *end;
	double s, ms;

	errno = 0;
	s = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno != 0 || !isfinite(s) || s < 0)
		cli_usage_error(cli, "invalid %s '%s': expected seconds, 0 or "
		    "more", opt, arg);
	*seconds = s;
	ms = s * 1000.0;
	if (ms >= INT_MAX)
		return INT_MAX;
	/* Rounded up by hand: chanctl links this file without libm. */
	return (double)(int)ms < ms ? (int)ms + 1 : (int)ms;
}

int
cli_exit_code(int rc)
{
	switch (rc) {
	case 0:
		return CLI_EXIT_OK;
	case CHAN_EDISCONNECTED:
		return CLI_EXIT_DISCONNECTED;
	case CHAN_EEMPTY:
		return CLI_EXIT_EMPTY;
	case CHAN_ETIMEDOUT:
		return CLI_EXIT_TIMEDOUT;
	case CHAN_EBUSY:
		return CLI_EXIT_BUSY;
	case CHAN_ENODAEMON:
		return CLI_EXIT_NODAEMON;
	case CHAN_ECONNLOST:
		return CLI_EXIT_CONNLOST;
	case CHAN_EFULL:
		return CLI_EXIT_FULL;
	case CHAN_ECAPACITY:
		return CLI_EXIT_CAPACITY;
	case CHAN_EDISK:
		return CLI_EXIT_DISK;
	case CHAN_ELIMIT:
		return CLI_EXIT_LIMIT;
	case CHAN_EPERM:
		return CLI_EXIT_PERM;
	case CHAN_ERXGONE:
		return CLI_EXIT_RXGONE;
	default:
		return CLI_EXIT_FAIL;
	}
}

/* Whether text already holds 'NAME', the channel quoted. */
static int
cli_names_channel(const struct cli *cli, const char *text)
{
	char quoted[CLI_LINE_MAX];
	int n;

	n = snprintf(quoted, sizeof(quoted), "'%s'", cli->name);
	return n > 0 && (size_t)n < sizeof(quoted) &&
	    strstr(text, quoted) != NULL;
}

void
cli_fail(const struct cli *cli, int rc, const char *errmsg)
{
	const char *why;
	int code = cli_exit_code(rc);

	switch (rc) {
	case CHAN_ENODAEMON:
		cli_die(cli, code, "no daemon running on %s", cli->socket);
	case CHAN_ECONNLOST:
		/* Once disconnected, the caller passes the reason in errmsg. */
		why = cli->c != NULL ? chan_client_errmsg(cli->c) : errmsg;
		if (why == NULL)
			why = "";
		cli_die(cli, code, "channel '%s': connection to the daemon on "
		    "%s lost%s%s%s", cli->name, cli->socket,
		    *why != '\0' ? " (" : "", why, *why != '\0' ? ")" : "");
	case CHAN_ESYS:
		cli_die(cli, code, "channel '%s': %s", cli->name,
		    strerror(errno));
	case CHAN_EDISCONNECTED:
		cli_die(cli, code, "channel '%s' is disconnected: every "
		    "sender is gone", cli->name);
	case CHAN_EEMPTY:
		cli_die(cli, code, "channel '%s' is empty", cli->name);
	case CHAN_EFULL:
		cli_die(cli, code, "channel '%s' is full", cli->name);
	case CHAN_EBADNAME:
		cli_die(cli, code, "channel '%s': invalid name: a channel "
		    "name is 1 to 255 bytes", cli->name);
	default:
		break;
	}
	if (errmsg == NULL || *errmsg == '\0')
		cli_die(cli, code, "channel '%s': %s", cli->name,
		    chan_strerror(rc));
	/* The daemon's message may already name the channel, or not. */
	if (cli_names_channel(cli, errmsg))
		cli_die(cli, code, "%s", errmsg);
	cli_die(cli, code, "channel '%s': %s", cli->name, errmsg);
}

void
cli_connect(struct cli *cli)
{
	int rc;

	if (cli->socket_opt != NULL) {
		if (strlen(cli->socket_opt) >= sizeof(cli->socket))
			cli_die(cli, CLI_EXIT_FAIL, "socket path too long: %s",
			    cli->socket_opt);
		strcpy(cli->socket, cli->socket_opt);
	} else if (chan_default_socket(cli->socket, sizeof(cli->socket)) != 0)
		cli_die(cli, CLI_EXIT_FAIL, "channel '%s': the default socket "
		    "path ($CHAND_SOCKET or $XDG_RUNTIME_DIR) is too long",
		    cli->name);

	rc = chan_connect(cli->socket, &cli->c);
	switch (rc) {
	case 0:
		return;
	case CHAN_EINVAL:
		cli_die(cli, CLI_EXIT_FAIL, "socket path too long for a Unix "
		    "socket: %s", cli->socket);
	case CHAN_ESYS:
		cli_die(cli, CLI_EXIT_FAIL, "cannot connect to %s: %s",
		    cli->socket, strerror(errno));
	case CHAN_ENODAEMON:
		cli_die(cli, CLI_EXIT_NODAEMON, "no daemon running on %s",
		    cli->socket);
	default:
		cli_die(cli, cli_exit_code(rc), "cannot connect to the daemon "
		    "on %s: %s", cli->socket, chan_strerror(rc));
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * cli.h: what chan-send and chan-recv share: exit codes, option helpers,
 * connecting, and the one line of stderr that explains a failure.
 */
#ifndef CHAN_CLI_H
#define CHAN_CLI_H

#include <limits.h>

#include "chanclient.h"

#define CLI_LINE_MAX		2048	/* one stderr report, before escaping */

/* Exit codes, documented in both programs' --help. */
#define CLI_EXIT_OK		0	/* success */
#define CLI_EXIT_FAIL		1	/* any other failure */
#define CLI_EXIT_USAGE		2	/* bad command line */
#define CLI_EXIT_DISCONNECTED	3	/* no message and every sender gone */
#define CLI_EXIT_EMPTY		4	/* --nonblock: nothing queued */
#define CLI_EXIT_TIMEDOUT	5	/* --timeout passed */
#define CLI_EXIT_BUSY		6	/* another process is the consumer */
#define CLI_EXIT_NODAEMON	7	/* nothing listening on the socket */
#define CLI_EXIT_CONNLOST	8	/* connection to the daemon lost */
#define CLI_EXIT_FULL		9	/* --try: the channel is full */
#define CLI_EXIT_CAPACITY	10	/* channel has another capacity */
#define CLI_EXIT_LIMIT		11	/* a daemon limit refused the request */
#define CLI_EXIT_PERM		12	/* the daemon's access rules refused */
#define CLI_EXIT_DISK		13	/* not written to the channel's log */
#define CLI_EXIT_RXGONE		14	/* --rx-gone: the receiver went */

/* The options both programs take, for their --help and longopts. */
#define CLI_COMMON_OPTIONS_HELP						\
	"         --socket PATH  daemon socket (default: $CHAND_SOCKET, else\n" \
	"                        /run/chand.sock for root, else\n"	\
	"                        $XDG_RUNTIME_DIR/chand.sock, else\n"	\
	"                        /tmp/chand-$UID.sock)\n"		\
	"     -h, --help         print this help and exit\n"		\
	"     -V, --version      print the version and exit\n"
#define CLI_COMMON_LONGOPTS						\
	{ "socket", required_argument, NULL, 'S' },			\
	{ "help", no_argument, NULL, 'h' },				\
	{ "version", no_argument, NULL, 'V' }

/* The exit-code table for --help. */
#define CLI_EXIT_HELP							\
	"EXIT STATUS\n"							\
	"     0  success\n"						\
	"     1  other failure (protocol error, message too large, write\n" \
	"        error)\n"						\
	"     2  usage error\n"						\
	"     3  disconnected: no message and every sender gone\n"	\
	"     4  empty (--nonblock): nothing queued\n"			\
	"     5  timed out\n"						\
	"     6  the channel already has a consumer\n"			\
	"     7  no daemon running on the socket\n"			\
	"     8  connection to the daemon lost\n"			\
	"     9  full: the channel had no room (chan-send -T)\n"	\
	"    10  the channel exists with a different capacity or\n"	\
	"        durability\n"	\
	"    11  a daemon limit refused the request (queued bytes or\n" \
	"        messages, connections, handles)\n"			\
	"    12  permission denied by the daemon's access rules\n"	\
	"    13  not written to the channel's log (durable channel: disk\n" \
	"        full or I/O error, or the daemon keeps no logs)\n"	\
	"    14  the receiver is gone: its consumer came and went\n"	\
	"        (chan-send -R)\n"

/* --capacity and --capacity-bytes, which both programs take. */
#define CLI_CAPACITY_OPTIONS_HELP					\
	"         --capacity N|unbounded\n"				\
	"                        if this creates the channel: queue at most N\n" \
	"                        messages (0: rendezvous, a send completes when\n" \
	"                        the consumer takes it); if the channel exists\n" \
	"                        with another capacity: exit 10 (default: take\n" \
	"                        the channel's, or the daemon's default)\n" \
	"         --capacity-bytes N|unbounded\n"			\
	"                        the same for the bytes of queued payload\n" \
	"         --durable, --no-durable\n"				\
	"                        if this creates the channel: keep (or do not\n" \
	"                        keep) its messages in a log on disk, so that\n" \
	"                        they survive a restart of the daemon; if the\n" \
	"                        channel exists otherwise: exit 10 (default:\n" \
	"                        the daemon's --durable patterns decide)\n"
#define CLI_CAPACITY_LONGOPTS						\
	{ "capacity", required_argument, NULL, CLI_OPT_CAPACITY },	\
	{ "capacity-bytes", required_argument, NULL, CLI_OPT_CAPACITY_BYTES }, \
	{ "durable", no_argument, NULL, CLI_OPT_DURABLE },		\
	{ "no-durable", no_argument, NULL, CLI_OPT_NO_DURABLE }
#define CLI_OPT_CAPACITY	0x100
#define CLI_OPT_CAPACITY_BYTES	0x101
#define CLI_OPT_DURABLE		0x102
#define CLI_OPT_NO_DURABLE	0x103

struct cli {
	const char	*prog;		/* for messages */
	const char	*socket_opt;	/* --socket, or NULL */
	char		 socket[PATH_MAX];	/* the path actually used */
	const char	*name;		/* channel */
	chan_client	*c;
};

void	cli_init(struct cli *, const char *prog);

/* Prints "prog: message" on stderr and exits with code. */
void	cli_die(const struct cli *, int code, const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 3, 4)));
/* A usage error: one line naming the problem, exit 2. */
void	cli_usage_error(const struct cli *, const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 2, 3)));
/*
 * Handles what getopt_long returned for an option both programs share:
 * --socket, -h (calls usage), -V; anything else is a usage error.
 */
void	cli_common_option(struct cli *, int ch, char *const argv[],
	    void (*usage)(void));
/* Exits 0 if what was printed on stdout reached it, else 1. */
void	cli_exit_stdout(void) __attribute__((noreturn));

/*
 * Handles --capacity, --capacity-bytes, --durable and --no-durable (ch
 * from getopt_long) into opts: 1 if ch was one of them, else 0. A bad
 * value is a usage error; the last of --durable and --no-durable counts.
 */
int	cli_capacity_option(const struct cli *, int ch, chan_open_opts *);
/*
 * Parses SECONDS (decimals allowed, 0 or more) into milliseconds, rounded
 * up; a bad value is a usage error naming opt.
 */
int	cli_parse_seconds(const struct cli *, const char *opt, const char *arg,
	    double *seconds);

/* Exit code for a CHAN_E* code. */
int	cli_exit_code(int rc);
/*
 * Explains rc, a failure of an operation on cli->name, using the daemon's
 * message errmsg when there is one, and exits. A caller holding a
 * receiver closes it first, so that its acknowledgements reach the daemon.
 */
void	cli_fail(const struct cli *, int rc, const char *errmsg)
	    __attribute__((noreturn));

/* Connects to --socket, $CHAND_SOCKET or the default; exits on failure. */
void	cli_connect(struct cli *);

#endif /* CHAN_CLI_H */

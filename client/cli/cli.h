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
	"     1  other failure (protocol error, daemon limit, message too\n" \
	"        large, write error)\n"					\
	"     2  usage error\n"						\
	"     3  disconnected: no message and every sender gone\n"	\
	"     4  empty (--nonblock): nothing queued\n"			\
	"     5  timed out\n"						\
	"     6  the channel already has a consumer\n"			\
	"     7  no daemon running on the socket\n"			\
	"     8  connection to the daemon lost\n"

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

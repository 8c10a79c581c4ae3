/* SPDX-License-Identifier: MIT */
/*
 * main.c: chand, the local channel daemon: flags, signals, the loop.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "acl.h"
#include "admin.h"
#include "config.h"
#include "conn.h"
#include "durable.h"
#include "listener.h"
#include "log.h"
#include "monitor.h"
#include "proto.h"
#include "registry.h"
#include "quota.h"
#include "server.h"
#include "shutdown.h"
#include "svc.h"

#define EXIT_USAGE	2
#define OPT_CONFIG_BASE	256	/* getopt value of config option 0 */
#define MAX_OPTIONS	32
/* Descriptors besides connections: stdio, loop, listener, refusals. */
#define FD_RESERVE	256

/* One option from the command line, kept for reloads. */
struct cli_option {
	const char	*name;		/* config_name() */
	const char	*value;		/* in argv */
};

/* What config_build found wrong, for the exit status and the message. */
enum build_error {
	BUILD_OK,
	BUILD_ARGS,		/* a command-line option: usage error */
	BUILD_FILE,		/* the config file: usage error */
	BUILD_OTHER,		/* out of memory, no default socket path */
};

/* Signals the daemon handles; each has a uv_signal_t in daemon_state. */
static const int	handled_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define NSIGNALS	(sizeof(handled_signals) / sizeof(handled_signals[0]))

struct daemon_state {
	struct server		srv;
	struct config		cfg;
	uv_loop_t		loop;
	uv_signal_t		sigs[NSIGNALS];
	bool			signals_on;	/* sigs initialised */
	/* The command line, which overrides the config file on reloads. */
	struct cli_option	*args;
	size_t			 nargs;
	bool			 check;		/* --check-config */
};

/* Layout of --help, as in the CLIs' (see chan-recv --help). */
#define HELP_INDENT	5	/* body text */
#define HELP_DESC_COL	24	/* descriptions in OPTIONS and SIGNALS */
#define HELP_WIDTH	76	/* no line goes past this column */
#define HELP_TEXT_MAX	1024

/* "[-hV] [--socket PATH] ..." after lead, wrapped under its end. */
static void
synopsis(FILE *f, const char *lead)
{
	const char	*name;
	char		 item[128];
	size_t		 i;
	int		 col, n, indent = (int)strlen(lead);

	col = fprintf(f, "%s[-hV] [--check-config]", lead);
	for (i = 0; (name = config_name(i)) != NULL; i++) {
		n = snprintf(item, sizeof(item), "[--%s %s]", name,
		    config_arg(i));
		if (col + 1 + n > HELP_WIDTH) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else
			col += fprintf(f, " ");
		col += fprintf(f, "%s", item);
	}
	fprintf(f, "\n");
}

/* The short synopsis, for usage errors. */
static void
usage(FILE *f)
{
	synopsis(f, "usage: chand ");
}

/*
 * Prints text from column col (where the cursor is), wrapping words at
 * HELP_WIDTH onto lines indented by indent.
 */
static void
help_wrap(const char *text, int col, int indent)
{
	size_t	n;
	bool	first = true;		/* no space before the line's first word */

	for (;;) {
		text += strspn(text, " ");
		if (*text == '\0')
			break;
		n = strcspn(text, " ");
		if (!first && col + 1 + (int)n > HELP_WIDTH) {
			printf("\n%*s", indent, "");
			col = indent;
			first = true;
		}
		col += printf("%s%.*s", first ? "" : " ", (int)n, text);
		first = false;
		text += n;
	}
	printf("\n");
}

/* One OPTIONS or SIGNALS entry: label, then text from HELP_DESC_COL. */
static void
help_entry(const char *label, const char *text)
{
	int	col;

	col = printf("%*s%s", HELP_INDENT, "", label);
	if (col > HELP_DESC_COL - 2) {
		printf("\n");
		col = 0;
	}
	printf("%*s", HELP_DESC_COL - col, "");
	help_wrap(text, HELP_DESC_COL, HELP_DESC_COL);
}

static void
help_options(void)
{
	const char	*name;
	char		 label[128], text[HELP_TEXT_MAX];
	size_t		 i;

	for (i = 0; (name = config_name(i)) != NULL; i++) {
		snprintf(label, sizeof(label), "    --%s %s", name,
		    config_arg(i));
		config_describe(i, text, sizeof(text));
		help_entry(label, text);
	}
	help_entry("    --check-config", "read the configuration (the "
	    "command line, the --config file, the --access-file rules, "
	    "--data-dir), print one line per problem on standard error and "
	    "exit (0: no problem, 2: problems) without starting anything");
	help_entry("-h, --help", "print this help and exit");
	help_entry("-V, --version", "print the version and exit");
}

static void __attribute__((noreturn))
help(void)
{
	printf("NAME\n"
	    "     chand - local message-passing daemon with named channels\n"
	    "\n"
	    "SYNOPSIS\n");
	synopsis(stdout, "     chand ");
	printf("\nDESCRIPTION\n%*s", HELP_INDENT, "");
	help_wrap("Serves named multiple-producer, single-consumer channels "
	    "to local processes over a Unix socket (see chan-send, chan-recv "
	    "and libchanclient). It runs in the foreground and logs one line "
	    "per event to standard error. Messages are kept in memory: those "
	    "still queued when the daemon stops are lost, except on durable "
	    "channels (--data-dir, --durable, or the durable option of the "
	    "open that creates the channel), which also keep them in a log "
	    "on disk and get them back at startup. Each option also takes "
	    "the form --option=VALUE.", HELP_INDENT, HELP_INDENT);
	printf("\nOPTIONS\n");
	help_options();
	printf("\nSIGNALS\n");
	help_entry("SIGINT, SIGTERM", "stop: remove the socket file, tell "
	    "each client why (ERROR SHUTDOWN, code 12), close every "
	    "connection without waiting for the peer, and exit 0");
	help_entry("SIGHUP", "reload: read the --config file again, "
	    "command-line options still over it, and apply what can change "
	    "while running (limits, log level, defaults for new channels, "
	    "--durable, --sync, --sync-interval, --segment-size); log each "
	    "change, and each one that needs a restart (socket, socket mode, "
	    "message size limit, --data-dir); a file with an error changes "
	    "nothing. chanctl reload does the same and reports the outcome");
	printf("\nSYSTEMD\n%*s", HELP_INDENT, "");
	help_wrap("Under systemd, chand takes its listening socket from the "
	    "service manager when LISTEN_PID and LISTEN_FDS pass one (socket "
	    "activation; --socket and --socket-mode then do not apply), and "
	    "reports READY=1, RELOADING=1 and STOPPING=1 on NOTIFY_SOCKET, "
	    "its figures as STATUS= every second they change, and WATCHDOG=1 "
	    "every half WATCHDOG_USEC. When standard error is the journal "
	    "(JOURNAL_STREAM), each log line starts with its syslog "
	    "priority, <3> error to <7> debug; built with libsystemd, lines "
	    "about a client's request carry PEER_PID=, PEER_UID= and "
	    "CHANNEL= fields.",
	    HELP_INDENT, HELP_INDENT);
	printf("\nEXIT STATUS\n"
	    "     0  clean stop (SIGINT or SIGTERM)\n"
	    "     1  startup failure (socket in use or unusable, out of "
	    "memory)\n"
	    "     2  usage error: a bad option, or a config file that "
	    "cannot be\n"
	    "        read or has an error\n");
	exit(fflush(stdout) == 0 ? 0 : 1);
}

/* Exits after a configuration error: 2 for options and files, else 1. */
static void __attribute__((noreturn))
config_error_exit(struct daemon_state *d, enum build_error e,
    const char *msg)
{
	/* Under systemd, the journal files it as an error. */
	if (log_to_journal())
		fprintf(stderr, "<3>error: %s\n", msg);
	else
		fprintf(stderr, "chand: %s\n", msg);
	if (e == BUILD_ARGS)
		usage(stderr);
	config_fini(&d->cfg);
	free(d->args);
	exit(e == BUILD_OTHER ? 1 : EXIT_USAGE);
}

/* Builds getopt's table from the config table, then -h and -V. */
static void
build_options(struct option *opts)
{
	const char	*name;
	size_t		 i;

	for (i = 0; (name = config_name(i)) != NULL && i < MAX_OPTIONS; i++) {
		opts[i].name = name;
		opts[i].has_arg = required_argument;
		opts[i].flag = NULL;
		opts[i].val = OPT_CONFIG_BASE + (int)i;
	}
	opts[i++] = (struct option){ "check-config", no_argument, NULL, 'C' };
	opts[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[i++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[i] = (struct option){ NULL, 0, NULL, 0 };
}

/*
 * Reads the command line into d->args (the options in order), handling
 * -h, -V and usage errors, which exit.
 */
static void
parse_args(int argc, char **argv, struct daemon_state *d)
{
	struct option	 opts[MAX_OPTIONS + 4];
	int		 ch;

	build_options(opts);
	if ((d->args = calloc((size_t)argc, sizeof(*d->args))) == NULL) {
		fprintf(stderr, "chand: out of memory\n");
		exit(1);
	}
	while ((ch = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			help();
		case 'V':
			printf("chand %s\n", CHAND_VERSION);
			exit(0);
		case 'C':
			d->check = true;
			break;
		case '?':
			usage(stderr);
			exit(EXIT_USAGE);
		default:
			d->args[d->nargs].name = config_name((size_t)(ch -
			    OPT_CONFIG_BASE));
			d->args[d->nargs++].value = optarg;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chand: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		exit(EXIT_USAGE);
	}
}

/*
 * Builds a configuration: defaults, then the config file named by
 * --config, then the rest of the command line over it, then what
 * depends on other options. BUILD_OK, or what failed with err set (cfg
 * then needs only config_fini).
 */
static enum build_error
config_build(const struct daemon_state *d, struct config *cfg, char *err,
    size_t errlen)
{
	size_t	i;

	if (config_init(cfg, err, errlen) != 0)
		return (BUILD_OTHER);
	for (i = 0; i < d->nargs; i++) {
		if (strcmp(d->args[i].name, "config") == 0 &&
		    config_set(cfg, "config", d->args[i].value, err,
		    errlen) != 0)
			return (BUILD_ARGS);
	}
	if (cfg->config_path != NULL &&
	    config_load(cfg, cfg->config_path, err, errlen) != 0)
		return (BUILD_FILE);
	for (i = 0; i < d->nargs; i++) {
		if (config_set(cfg, d->args[i].name, d->args[i].value, err,
		    errlen) != 0)
			return (BUILD_ARGS);
	}
	if (config_finish(cfg, err, errlen) != 0)
		return (BUILD_OTHER);
	return (BUILD_OK);
}

/*
 * Stops serving: every client is told why and closed at once. The signal
 * handles stay open, so that another SIGINT or SIGTERM during the rest of
 * the shutdown is taken, not fatal; they no longer keep the loop running.
 */
static void
daemon_stop(struct daemon_state *d)
{
	struct server	*srv = &d->srv;

	if (srv->stopping)
		return;
	srv->stopping = true;
	svc_notify("STOPPING=1");
	if (srv->listener != NULL)
		listener_close(srv->listener);
	srv->listener = NULL;
	conn_close_all(srv);
	durable_stop(srv);
	monitor_stop(srv);
	if (d->signals_on) {
		for (size_t i = 0; i < NSIGNALS; i++)
			uv_unref((uv_handle_t *)&d->sigs[i]);
	}
}

static void	fd_limit_check(uint64_t max_connections);

/*
 * Reads the rules of path (NULL: no rules) into *aclp. 0, or -1 with the
 * error in err.
 */
static int
access_read(const char *path, struct acl **aclp, char *err, size_t errlen)
{
	*aclp = NULL;
	if (path != NULL && (*aclp = acl_load(path, geteuid(), err,
	    errlen)) == NULL)
		return (-1);
	return (0);
}

/* Puts acl (from access_read) in force in place of the rules of srv. */
static void
access_apply(struct daemon_state *d, struct acl *acl)
{
	if (acl != NULL)
		log_info("access rules: %zu from %s", acl_count(acl),
		    d->cfg.access_file);
	else if (d->srv.acl != NULL)
		log_notice("access rules removed: everyone who can open the "
		    "socket may do everything");
	acl_free(d->srv.acl);
	d->srv.acl = acl;
}

/* At startup: the rules of --access-file. 0, or -1 with the error logged. */
static int
access_load(struct daemon_state *d)
{
	struct acl	*acl;
	char		 err[ACL_ERR_MAX];

	if (access_read(d->cfg.access_file, &acl, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return (-1);
	}
	access_apply(d, acl);
	return (0);
}

/*
 * SIGHUP or ADMIN reload: reads the configuration again (config file,
 * then the command line over it) and the access rules it names, and
 * applies what may change while running. A file that no longer parses,
 * or rules that do not load, change nothing: -1 with err saying why.
 */
static int
daemon_reload(struct daemon_state *d, int *changed, char *err,
    size_t errlen)
{
	struct config	 next;
	struct acl	*acl = NULL;
	int		 rc = -1;

	svc_notify("RELOADING=1");
	log_info("reloading %s", d->cfg.config_path != NULL ?
	    d->cfg.config_path : "the command line (no --config)");
	if (config_build(d, &next, err, errlen) != BUILD_OK ||
	    access_read(next.access_file, &acl, err, errlen) != 0) {
		log_error("reload failed, configuration unchanged: %s", err);
		goto out;
	}
	*changed = config_reload(&d->cfg, &next);
	log_set_level(d->cfg.log_level);
	access_apply(d, acl);
	fd_limit_check(d->cfg.max_connections);
	log_info("reload done: %d option(s) changed", *changed);
	rc = 0;
out:
	config_fini(&next);
	svc_notify("READY=1");
	return (rc);
}

/* srv->reload: the daemon_state holds the server as its first member. */
static int
server_reload(struct server *srv, int *changed, char *err, size_t errlen)
{
	return (daemon_reload((struct daemon_state *)srv, changed, err,
	    errlen));
}

static void
signal_cb(uv_signal_t *sig, int signum)
{
	struct daemon_state	*d = sig->data;
	const char		*name = signum == SIGINT ? "SIGINT" : "SIGTERM";
	char			 err[CONFIG_ERR_MAX + ACL_ERR_MAX];
	int			 changed;

	if (signum == SIGHUP) {
		if (!d->srv.stopping) {
			log_info("received SIGHUP");
			(void)daemon_reload(d, &changed, err, sizeof(err));
		}
		return;
	}
	if (d->srv.stopping) {
		log_debug("received %s, already stopping", name);
		return;
	}
	log_info("received %s, stopping", name);
	daemon_stop(d);
}

static int
signals_start(struct daemon_state *d)
{
	size_t	i, n;
	int	rc = 0;

	for (n = 0; n < NSIGNALS; n++) {
		if ((rc = uv_signal_init(&d->loop, &d->sigs[n])) != 0)
			break;
		d->sigs[n].data = d;
	}
	if (rc != 0) {
		for (i = 0; i < n; i++)
			uv_close((uv_handle_t *)&d->sigs[i], NULL);
		goto fail;
	}
	d->signals_on = true;
	for (i = 0; i < NSIGNALS && rc == 0; i++)
		rc = uv_signal_start(&d->sigs[i], signal_cb,
		    handled_signals[i]);
	if (rc == 0)
		return (0);
fail:
	log_error("cannot handle signals: %s", uv_strerror(rc));
	return (rc);
}

/* The kernel's ceiling for a descriptor limit (fs.nr_open). */
static rlim_t
fd_nr_open(void)
{
	unsigned long long	n = 0;
	FILE			*f;

	if ((f = fopen("/proc/sys/fs/nr_open", "re")) != NULL) {
		if (fscanf(f, "%llu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return (n > 0 ? (rlim_t)n : 1024 * 1024);
}

/* What fd_limit_raise did, logged once the daemon listens. */
struct fd_limit {
	rlim_t		 old, now, want;
	int		 err;		/* setrlimit's errno, or 0 */
};

/*
 * Each connection holds a descriptor, and so does each open file of a
 * durable channel's log. Raises the soft limit to the hard one at start
 * (the default soft limit, often 1024, is far below what 10,000
 * connections or many durable channels need), so that --max-connections,
 * which answers with an ERROR, is what refuses clients, not EMFILE, which
 * drops them without a word.
 */
static void
fd_limit_raise(uint64_t max_connections, struct fd_limit *fl)
{
	struct rlimit	rl;
	rlim_t		top;

	memset(fl, 0, sizeof(*fl));
	fl->want = (rlim_t)max_connections + FD_RESERVE;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	fl->old = fl->now = rl.rlim_cur;
	/* An unlimited hard limit still stops at the kernel's ceiling. */
	top = rl.rlim_max == RLIM_INFINITY ? fd_nr_open() : rl.rlim_max;
	if (rl.rlim_cur >= top)
		return;
	rl.rlim_cur = top;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		fl->now = top;
	else
		fl->err = errno;
}

/*
 * After the startup line: the limit in force, and a warning when it is
 * short of --max-connections.
 */
static void
fd_limit_log(const struct fd_limit *fl, uint64_t max_connections)
{
	if (fl->now == 0)
		return;
	if (fl->err != 0)
		log_warning("cannot raise the descriptor limit from %llu: %s",
		    (unsigned long long)fl->old, strerror(fl->err));
	else if (fl->now != fl->old)
		log_info("descriptor limit raised from %llu to %llu (the hard "
		    "limit)", (unsigned long long)fl->old,
		    (unsigned long long)fl->now);
	else
		log_debug("descriptor limit %llu", (unsigned long long)fl->now);
	if (fl->now < fl->want)
		log_warning("--max-connections %llu needs %llu descriptors, "
		    "the limit is %llu", (unsigned long long)max_connections,
		    (unsigned long long)fl->want,
		    (unsigned long long)fl->now);
}

/* A reload: the limit against a --max-connections that may be new. */
static void
fd_limit_check(uint64_t max_connections)
{
	struct fd_limit	fl;

	fd_limit_raise(max_connections, &fl);
	fd_limit_log(&fl, max_connections);
}

/* Tells whoever started us that the socket accepts connections. */
static void
ready_notify(int fd)
{
	static const char	msg[] = "READY\n";

	if (fd < 0)
		return;
	if (write(fd, msg, sizeof(msg) - 1) != (ssize_t)(sizeof(msg) - 1))
		log_warning("cannot write to --ready-fd %d: %s", fd,
		    strerror(errno));
	close(fd);
}

/*
 * Listens on the socket the service manager passed, if it passed one
 * (socket activation: the unit's ListenStream wins over --socket), else
 * binds --socket.
 */
static int
listener_start(struct daemon_state *d)
{
	struct server	*srv = &d->srv;
	int		 fd;

	if ((fd = svc_listen_fd()) == -2)
		return (-1);
	if (fd >= 0) {
		srv->listener = listener_adopt(srv, fd);
		if (srv->listener != NULL &&
		    strcmp(listener_path(srv->listener), d->cfg.socket) != 0)
			log_notice("socket activation: listening on %s, not "
			    "on --socket %s", listener_path(srv->listener),
			    d->cfg.socket);
	} else
		srv->listener = listener_open(srv, d->cfg.socket,
		    d->cfg.socket_mode);
	return (srv->listener == NULL ? -1 : 0);
}

static int
daemon_start(struct daemon_state *d)
{
	struct server	*srv = &d->srv;
	int		 rc;

	if ((rc = uv_loop_init(&d->loop)) != 0) {
		log_error("cannot start the event loop: %s", uv_strerror(rc));
		return (-1);
	}
	srv->loop = &d->loop;
	srv->cfg = &d->cfg;
	srv->start_ns = uv_hrtime();
	srv->start_time = time(NULL);
	registry_init(&srv->reg);
	remember_init(&srv->remember, d->cfg.remember_max,
	    d->cfg.remember_for * 1000);
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->dirty);
	if ((rc = conn_flush_init(srv)) != 0) {
		log_error("cannot start the event loop: %s", uv_strerror(rc));
		return (-1);
	}
	srv->dec = proto_decoder_new(d->cfg.max_msg_size);
	if (srv->dec == NULL) {
		log_error("out of memory");
		return (-1);
	}
	if (access_load(d) != 0)
		return (-1);
	admin_set_filter(&(struct admin_filter){ acl_sees_channel,
	    acl_sees_conn });
	srv->reload = server_reload;
	if ((rc = monitor_start(srv)) != 0) {
		log_error("cannot start the timer: %s", uv_strerror(rc));
		return (-1);
	}
	if (signals_start(d) != 0)
		return (-1);
	/* Durable channels come back before any client can open them. */
	if (durable_init(srv) != 0)
		return (-1);
	return (listener_start(d));
}

/*
 * Closing a signal handle restores the default action, which would let a
 * late SIGTERM kill a daemon that has stopped cleanly (exit status 143,
 * not 0). The signals are blocked while the handles close, then ignored:
 * setting SIG_IGN also discards one already pending.
 */
static void
signals_fini(struct daemon_state *d)
{
	sigset_t	set;

	size_t		i;

	if (!d->signals_on)
		return;
	sigemptyset(&set);
	for (i = 0; i < NSIGNALS; i++)
		sigaddset(&set, handled_signals[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (i = 0; i < NSIGNALS; i++)
		uv_close((uv_handle_t *)&d->sigs[i], NULL);
	d->signals_on = false;
	uv_run(&d->loop, UV_RUN_DEFAULT);
	for (i = 0; i < NSIGNALS; i++)
		signal(handled_signals[i], SIG_IGN);
}

/* Frees what daemon_start made, whether or not it got far. */
static void
daemon_fini(struct daemon_state *d)
{
	struct server	*srv = &d->srv;

	if (srv->loop != NULL) {
		daemon_stop(d);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		/* Every client gone: what the stop drops, or keeps. */
		shutdown_report(&srv->reg);
		signals_fini(d);
		/* Every log synced and closed, whatever --sync says. */
		durable_fini(srv);
		if (uv_loop_close(&d->loop) != 0)
			log_warning("event loop closed with handles open");
	}
	registry_fini(&srv->reg);
	remember_fini(&srv->remember);
	quota_fini(srv);
	proto_decoder_free(srv->dec);
	acl_free(srv->acl);
	config_fini(&d->cfg);
	free(d->args);
}

/* --check-config: one problem, one line. */
static void
check_report(void *arg, const char *msg)
{
	int	*n = arg;

	fprintf(stderr, "chand: %s\n", msg);
	(*n)++;
}

/* --data-dir must be a directory the daemon can write, or creatable. */
static void
check_data_dir(const char *dir, int *n)
{
	struct stat	st;
	char		msg[PATH_MAX + 128];

	if (stat(dir, &st) != 0) {
		if (errno == ENOENT)
			return;		/* created at startup */
		snprintf(msg, sizeof(msg), "--data-dir %s: %s", dir,
		    strerror(errno));
	} else if (!S_ISDIR(st.st_mode))
		snprintf(msg, sizeof(msg), "--data-dir %s: not a directory",
		    dir);
	else if (access(dir, R_OK | W_OK | X_OK) != 0)
		snprintf(msg, sizeof(msg), "--data-dir %s: %s", dir,
		    strerror(errno));
	else
		return;
	check_report(n, msg);
}

/*
 * chand --check-config: the configuration as a start would build it,
 * every problem reported, nothing started. Exits 0 or EXIT_USAGE.
 */
static void __attribute__((noreturn))
check_config(struct daemon_state *d)
{
	struct config	 cfg;
	struct acl	*acl;
	char		 err[CONFIG_ERR_MAX + ACL_ERR_MAX];
	size_t		 i;
	int		 n = 0;

	if (config_init(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "chand: %s\n", err);
		exit(1);
	}
	for (i = 0; i < d->nargs; i++) {
		if (strcmp(d->args[i].name, "config") == 0 &&
		    config_set(&cfg, "config", d->args[i].value, err,
		    sizeof(err)) != 0)
			check_report(&n, err);
	}
	if (cfg.config_path != NULL)
		config_check_file(&cfg, cfg.config_path, check_report, &n);
	for (i = 0; i < d->nargs; i++) {
		if (config_set(&cfg, d->args[i].name, d->args[i].value, err,
		    sizeof(err)) != 0)
			check_report(&n, err);
	}
	if (config_finish(&cfg, err, sizeof(err)) != 0)
		check_report(&n, err);
	if (access_read(cfg.access_file, &acl, err, sizeof(err)) != 0)
		check_report(&n, err);
	acl_free(acl);
	if (cfg.data_dir != NULL)
		check_data_dir(cfg.data_dir, &n);
	if (n == 0)
		printf("chand: configuration OK (%s)\n", cfg.config_path !=
		    NULL ? cfg.config_path : "no --config");
	config_fini(&cfg);
	free(d->args);
	exit(n == 0 ? 0 : EXIT_USAGE);
}

int
main(int argc, char **argv)
{
	struct daemon_state	d;
	struct fd_limit		fl;
	char			err[CONFIG_ERR_MAX];
	enum build_error	e;

	memset(&d, 0, sizeof(d));
	/* A client gone mid-write is an error return, not a death. */
	signal(SIGPIPE, SIG_IGN);
	/* A log over RLIMIT_FSIZE is EFBIG, refused as DISK, not a death. */
	signal(SIGXFSZ, SIG_IGN);
	log_init();

	parse_args(argc, argv, &d);
	if (d.check)
		check_config(&d);
	if ((e = config_build(&d, &d.cfg, err, sizeof(err))) != BUILD_OK)
		config_error_exit(&d, e, err);
	log_set_level(d.cfg.log_level);
	fd_limit_raise(d.cfg.max_connections, &fl);

	if (daemon_start(&d) != 0) {
		daemon_fini(&d);
		return (1);
	}
	log_info("chand %s listening on %s (pid %ld%s)", CHAND_VERSION,
	    listener_path(d.srv.listener), (long)getpid(),
	    listener_inherited(d.srv.listener) ? ", socket activation" : "");
	fd_limit_log(&fl, d.cfg.max_connections);
	ready_notify(d.cfg.ready_fd);
	svc_notify("READY=1");
	uv_run(&d.loop, UV_RUN_DEFAULT);
	daemon_fini(&d);
	/* Last, so that the shutdown reads in order: logs are closed. */
	log_info("stopped");
	return (0);
}

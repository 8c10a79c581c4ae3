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
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "config.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "proto.h"
#include "registry.h"
#include "server.h"

#define EXIT_USAGE	2
#define OPT_CONFIG_BASE	256	/* getopt value of config option 0 */
#define MAX_OPTIONS	32
/* Descriptors besides connections: stdio, loop, listener, refusals. */
#define FD_RESERVE	256

struct daemon_state {
	struct server	srv;
	struct config	cfg;
	uv_loop_t	loop;
	uv_signal_t	sigint;
	uv_signal_t	sigterm;
	bool		signals_on;	/* sigint and sigterm initialised */
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chand [-hV] [--socket path] [--socket-mode mode]\n"
	    "             [--max-msg-size bytes] [--max-connections n]\n"
	    "             [--max-handles n] [--max-queued-bytes bytes]\n"
	    "             [--max-queued-messages n]\n"
	    "             [--handshake-timeout seconds]\n"
	    "             [--log-level debug|info|notice|warning|error]\n"
	    "             [--ready-fd fd]\n");
}

static void
usage_error(const char *msg)
{
	fprintf(stderr, "chand: %s\n", msg);
	usage(stderr);
	exit(EXIT_USAGE);
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
	opts[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[i++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[i] = (struct option){ NULL, 0, NULL, 0 };
}

static void
parse_args(int argc, char **argv, struct config *cfg)
{
	struct option	 opts[MAX_OPTIONS + 3];
	char		 err[CONFIG_ERR_MAX];
	int		 ch;

	build_options(opts);
	while ((ch = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			config_fini(cfg);
			exit(0);
		case 'V':
			printf("chand %s\n", CHAND_VERSION);
			config_fini(cfg);
			exit(0);
		case '?':
			usage(stderr);
			config_fini(cfg);
			exit(EXIT_USAGE);
		default:
			if (config_set(cfg, config_name((size_t)(ch -
			    OPT_CONFIG_BASE)), optarg, err, sizeof(err)) != 0) {
				config_fini(cfg);
				usage_error(err);
			}
		}
	}
	if (optind < argc) {
		config_fini(cfg);
		fprintf(stderr, "chand: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		exit(EXIT_USAGE);
	}
}

static void
signal_close(uv_signal_t *sig)
{
	uv_signal_stop(sig);
	uv_close((uv_handle_t *)sig, NULL);
}

static void
daemon_stop(struct daemon_state *d)
{
	struct server	*srv = &d->srv;

	if (srv->stopping)
		return;
	srv->stopping = true;
	if (srv->listener != NULL)
		listener_close(srv->listener);
	srv->listener = NULL;
	conn_close_all(srv);
	if (d->signals_on) {
		signal_close(&d->sigint);
		signal_close(&d->sigterm);
		d->signals_on = false;
	}
}

static void
signal_cb(uv_signal_t *sig, int signum)
{
	struct daemon_state	*d = sig->data;

	log_info("received %s, stopping", signum == SIGINT ? "SIGINT" :
	    "SIGTERM");
	daemon_stop(d);
}

static int
signals_start(struct daemon_state *d)
{
	int	rc;

	if ((rc = uv_signal_init(&d->loop, &d->sigint)) != 0)
		goto fail;
	if ((rc = uv_signal_init(&d->loop, &d->sigterm)) != 0) {
		uv_close((uv_handle_t *)&d->sigint, NULL);
		goto fail;
	}
	d->sigint.data = d->sigterm.data = d;
	d->signals_on = true;
	rc = uv_signal_start(&d->sigint, signal_cb, SIGINT);
	if (rc == 0)
		rc = uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
	if (rc == 0)
		return (0);
fail:
	log_error("cannot handle signals: %s", uv_strerror(rc));
	return (rc);
}

/*
 * Each connection holds a descriptor. Raises the soft limit toward the
 * hard one so that --max-connections, which answers with an ERROR, is
 * what refuses clients, not EMFILE, which drops them without a word.
 */
static void
fd_limit_raise(uint64_t max_connections)
{
	struct rlimit	rl;
	rlim_t		want = (rlim_t)max_connections + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		log_warning("--max-connections %llu needs %llu descriptors, "
		    "the hard limit is %llu",
		    (unsigned long long)max_connections,
		    (unsigned long long)want, (unsigned long long)rl.rlim_max);
		want = rl.rlim_max;
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warning("cannot raise the descriptor limit to %llu: %s",
		    (unsigned long long)want, strerror(errno));
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
	registry_init(&srv->reg);
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
	if (signals_start(d) != 0)
		return (-1);
	srv->listener = listener_open(srv, d->cfg.socket, d->cfg.socket_mode);
	if (srv->listener == NULL)
		return (-1);
	return (0);
}

/* Frees what daemon_start made, whether or not it got far. */
static void
daemon_fini(struct daemon_state *d)
{
	struct server	*srv = &d->srv;

	if (srv->loop != NULL) {
		daemon_stop(d);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&d->loop) != 0)
			log_warning("event loop closed with handles open");
	}
	registry_fini(&srv->reg);
	proto_decoder_free(srv->dec);
	config_fini(&d->cfg);
}

int
main(int argc, char **argv)
{
	struct daemon_state	d;
	char			err[CONFIG_ERR_MAX];
	int			status = 0;

	memset(&d, 0, sizeof(d));
	/* A client gone mid-write is an error return, not a death. */
	signal(SIGPIPE, SIG_IGN);

	if (config_init(&d.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "chand: %s\n", err);
		return (1);
	}
	parse_args(argc, argv, &d.cfg);
	if (config_finish(&d.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "chand: %s\n", err);
		config_fini(&d.cfg);
		return (1);
	}
	log_set_level(d.cfg.log_level);
	fd_limit_raise(d.cfg.max_connections);

	if (daemon_start(&d) != 0) {
		status = 1;
		goto out;
	}
	log_info("chand %s listening on %s (pid %ld)", CHAND_VERSION,
	    d.cfg.socket, (long)getpid());
	ready_notify(d.cfg.ready_fd);
	uv_run(&d.loop, UV_RUN_DEFAULT);
	log_info("stopped");
out:
	daemon_fini(&d);
	return (status);
}

/* SPDX-License-Identifier: MIT */
/*
 * main.c: chan-bridge's options, threads and signals.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: chan-bridge [--config PATH] [--url URL] [--socket PATH]\n"
"                   [--export NAME]... [--import NAME]...\n"
"                   [--host NAME] [--bucket NAME] [--lease SECONDS]\n"
"                   [--ack-wait SECONDS] [--max-msgs N] [--batch N]\n"
"                   [--capacity N|unbounded] [--ready-fd FD] [-v]\n"
"Carries chand channels across hosts through NATS JetStream.\n"
"  --config PATH      read `name = value` options from PATH first\n"
"  --url URL          NATS server (nats://127.0.0.1:4222)\n"
"  --socket PATH      chand's socket (as chan-send's default)\n"
"  --export NAME      publish the local channel NAME to its stream;\n"
"                     NAME 'prefix*': every channel whose name starts so\n"
"  --import NAME      consume NAME's stream into the local channel;\n"
"                     NAME 'prefix*': every stream of such a channel\n"
"  --host NAME        this host's name in leases and locks (hostname)\n"
"  --bucket NAME      KV bucket of leases and locks (chan-bridge)\n"
"  --lease SECONDS    producer lease and importer lock time (10)\n"
"  --ack-wait SECONDS JetStream redelivery time of an import (30)\n"
"  --max-msgs N       a new stream's message limit, discard new (65536)\n"
"  --batch N          messages per publish or fetch batch (256)\n"
"  --capacity N       the local channel's capacity, if the bridge\n"
"                     creates it (the daemon's default)\n"
"  --ready-fd FD      write READY=1 to FD once every channel is bridged\n"
"  -v, --verbose      log each producer generation and retry\n"
"  -h, --help         this text\n"
"\n"
"EXIT STATUS\n"
"  0  stopped by SIGINT or SIGTERM\n"
"  1  failure: NATS, JetStream or the connection to chand\n"
"  2  usage error or bad configuration file\n"
"  6  an exported channel already has a consumer, or an imported\n"
"     stream already has an importer (its host and pid are logged)\n"
"  7  no daemon running on the socket\n"
"\n"
"man chan-bridge has the details.\n");
}

void
map_ready(struct map *m)
{
	struct bridge *b = m->b;

	pthread_mutex_lock(&b->lock);
	m->ready = true;
	b->nready++;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

void
map_done(struct map *m, int status)
{
	struct bridge *b = m->b;

	pthread_mutex_lock(&b->lock);
	m->status = status;
	/*
	 * A channel a pattern chose that already has a consumer (export) or
	 * an importer (import) is left alone; the bridge goes on.
	 */
	if (status == EXIT_BUSY && m->from_pattern && !b->stop) {
		m->skipped = true;
		b->nskipped++;
		blog("'%s' (matching a pattern) is left alone", m->channel);
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
		return;
	}
	if (status != 0 && b->failed == 0)
		b->failed = status;
	if (status != 0)
		b->stop = 1;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "url", required_argument, NULL, 'u' },
	{ "socket", required_argument, NULL, 's' },
	{ "export", required_argument, NULL, 'E' },
	{ "import", required_argument, NULL, 'I' },
	{ "host", required_argument, NULL, 'H' },
	{ "bucket", required_argument, NULL, 'B' },
	{ "lease", required_argument, NULL, 'l' },
	{ "ack-wait", required_argument, NULL, 'a' },
	{ "max-msgs", required_argument, NULL, 'm' },
	{ "batch", required_argument, NULL, 'b' },
	{ "capacity", required_argument, NULL, 'C' },
	{ "ready-fd", required_argument, NULL, 'r' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static int
parse_args(struct bridge_config *cfg, int argc, char **argv)
{
	const struct option *o;
	int ch, i;

	/* The file first, so that the command line overrides it. */
	for (i = 1; i < argc - 1; i++)
		if (strcmp(argv[i], "--config") == 0 &&
		    config_file(cfg, argv[i + 1]) != 0)
			return -1;
	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			cfg->verbose = 1;
			continue;
		case 'h':
			usage(stdout);
			exit(0);
		case 'c':
			continue;
		case '?':
			usage(stderr);
			return -1;
		}
		for (o = longopts; o->name != NULL && o->val != ch; o++)
			;
		if (config_option(cfg, "--", o->name, optarg, 0) != 0)
			return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "chan-bridge: unexpected argument '%s'\n",
		    argv[optind]);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct bridge b;
	struct bridge_config *cfg = &b.cfg;
	sigset_t set;
	struct timespec ts;
	pthread_t scanner;
	int i, sig, status = 0, announced = 0, scanning = 0;

	config_defaults(cfg);
	if (parse_args(cfg, argc, argv) != 0 || config_finish(cfg) != 0)
		return EXIT_USAGE;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	b.started = time(NULL);
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);

	if (js_setup(&b) != 0) {
		js_teardown(&b);
		return 1;
	}
	pthread_mutex_lock(&b.lock);
	for (i = 0; i < cfg->nmaps; i++)
		if (map_start(&b, &cfg->maps[i]) != 0) {
			b.stop = 1;
			status = 1;
			break;
		}
	pthread_mutex_unlock(&b.lock);
	if (!b.stop && cfg->npatterns > 0) {
		if (pthread_create(&scanner, NULL, scan_main, &b) != 0) {
			blog("cannot start a thread");
			b.stop = 1;
			status = 1;
		} else
			scanning = 1;
	}
	/* Wait for a signal, or a thread that fails. */
	while (!b.stop) {
		ts.tv_sec = 0;
		ts.tv_nsec = 100 * 1000000;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			blog("signal %d: stopping", sig);
			b.stop = 1;
		}
		heartbeat(&b);
		pthread_mutex_lock(&b.lock);
		if (!announced && (cfg->npatterns == 0 || b.scanned) &&
		    b.nready + b.nskipped == cfg->nmaps) {
			announced = 1;
			blog("ready: %d channel%s bridged through %s%s",
			    b.nready, b.nready == 1 ? "" : "s", cfg->url,
			    cfg->npatterns > 0 ? ", and more as they match" :
			    "");
			if (cfg->ready_fd >= 0) {
				if (write(cfg->ready_fd, "READY=1\n", 8) < 0)
					blog("ready-fd: %s", strerror(errno));
				close(cfg->ready_fd);
			}
		}
		pthread_mutex_unlock(&b.lock);
	}
	/* No map is added once the scanner is gone. */
	if (scanning)
		pthread_join(scanner, NULL);
	for (i = 0; i < cfg->nmaps; i++)
		if (cfg->maps[i].started)
			pthread_join(cfg->maps[i].thread, NULL);
	if (status == 0)
		status = b.failed;
	js_teardown(&b);
	nats_Close();
	return status;
}

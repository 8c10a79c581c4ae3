/* SPDX-License-Identifier: MIT */
/*
 * main.c: chan-bench's options, the list of runs, and the output.
 */
#include <sys/utsname.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "bench.h"

#define MAX_LIST	16
#define MAX_RUNS	256

/* Default throughput workload: this much payload, within these counts. */
#define DEF_BYTES	(256ull << 20)
#define DEF_MSGS_MAX	2000000ull
#define DEF_MSGS_MIN	2000ull
/* --smoke: this much payload, at most this many messages per producer. */
#define SMOKE_BYTES	(8ull << 20)
#define SMOKE_MSGS	2000ull
#define SMOKE_MSGS_MIN	100ull
/*
 * Scale runs: messages per channel or connection at least, so that the
 * traffic, not one round per channel, is what the figure per message
 * shows (set-up and tear-down are measured apart); --smoke and -n keep
 * a few each.
 */
#define SCALE_PER_UNIT		32ull
#define SCALE_PER_UNIT_MIN	4ull

struct opts {
	unsigned	 prod[MAX_LIST];
	size_t		 nprod;
	unsigned long	 sizes[MAX_LIST];
	size_t		 nsizes;
	bool		 target[BENCH_NTARGETS];
	uint64_t	 count;		/* per producer; 0: by size */
	double		 rate;
	uint64_t	 lat_count;	/* in all */
	bool		 thr, lat;
	unsigned	 channels[MAX_LIST];
	size_t		 nchannels;
	unsigned	 conns[MAX_LIST];
	size_t		 nconns;
	bool		 memory;
	unsigned	 mem_channels, mem_conns, mem_queued;
	unsigned	 prefetch;
	unsigned	 window;
	uint64_t	 capacity;	/* chand channels: BENCH_CAP_* or N */
	uint64_t	 capacity_bytes;
	const char	*socket;
	const char	*chand;
	bool		 json;
	bool		 smoke;
	bool		 shm;		/* chand runs also through rings */
	bool		 confirmed;	/* chand throughput: chan_tx_send */
	unsigned	 spin_us;	/* chand latency runs also spinning */
	unsigned	 batch;		/* chand throughput runs also batched */
	bool		 sync[BENCH_NSYNC];	/* durable runs, by policy */
	bool		 recv[BENCH_NRECV];	/* scale runs: the consumers */
	const char	*data_dir;
};

static const char *const target_names[BENCH_NTARGETS] = { "chand", "relay",
	"direct", "ring", "packed", "packed-inline", "packed-inplace",
	"ring-copy", "ring-read", "memfd" };
const char *const recv_names[BENCH_NRECV] = { "each", "set", "select" };

static const char	*run_label(const struct bench_run *, char *, size_t);

static struct bench_result	results[MAX_RUNS];
static size_t			nresults;
static struct mem_result	mem;
static bool			mem_done;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: chan-bench [options]\n"
"\n"
"Moves messages from P producer processes to one consumer process through\n"
"chand, through a minimal two-hop libuv relay (the baseline: the socket\n"
"path without channel logic), through a direct socket and, with one\n"
"producer, through a shared-memory ring alone (chand's ring code, both\n"
"ends spinning, no daemon: the shared-memory path's ceiling) and through\n"
"a ring of packed runs (target packed: one checked header a run, then\n"
"the messages framed as on the socket; otherwise as ring), and prints\n"
"throughput, latency at a paced rate, CPU time per message and the\n"
"server's peak RSS, with every chand figure as a ratio to the relay.\n"
"Every message is checked: all arrived, whole, in per-producer order;\n"
"a failed check exits 1.\n"
"\n"
"  -P, --producers LIST   producer processes (default 1,4)\n"
"  -s, --sizes LIST       payload bytes, at least 16 (default 16,1024,65536)\n"
"  -n, --count N          messages per producer (default: 256 MiB of\n"
"                         payload in all, 2000 to 2000000 messages)\n"
"  -t, --targets LIST     chand,relay,direct,ring,packed (default all\n"
"                         five); also packed-inline, packed-inplace: the\n"
"                         packed producer copying in line, or building\n"
"                         each message in the ring, with no copy;\n"
"                         ring-copy: the ring, its consumer copying each\n"
"                         message out before it looks at it, as chand's\n"
"                         direct reader must (a producer may write over\n"
"                         what it committed); ring-read: the ring, its\n"
"                         consumer reading every cache line of each\n"
"                         message in place; memfd: each message in a\n"
"                         sealed memfd of its own, passed by reference\n"
"                         over a socket and read in place (no daemon)\n"
"  -r, --rate R           latency runs: messages/s in all (default 10000)\n"
"  -l, --latency-count N  latency runs: messages in all (default 20000)\n"
"      --no-throughput    skip the throughput runs\n"
"      --no-latency       skip the latency runs\n"
"  -c, --channels LIST    chand scale runs: traffic spread over K channels\n"
"                         (e.g. 1,1000,100000)\n"
"      --recv LIST        scale runs over K channels: how the consumer\n"
"                         receives, each in turn: each (channel by\n"
"                         channel, as the producer sends; the default),\n"
"                         set (whichever has something, from a receiver\n"
"                         set: chan_rxset_recv), select (chan_select over\n"
"                         all K)\n"
"  -C, --conns LIST       chand scale runs: producers use C connections in\n"
"                         all (e.g. 1,100,10000)\n"
"  -m, --memory           daemon RSS per idle channel, idle connection and\n"
"                         queued message (beyond its payload)\n"
"      --mem-channels N   idle channels to open (default 100000)\n"
"      --mem-conns N      idle connections to open (default 10000)\n"
"      --mem-queued N     messages to queue (default 100000)\n"
"  -p, --prefetch N       chand consumer window (default 65535)\n"
"  -w, --window N         chand producers: pipelined sends awaiting\n"
"                         confirmation (default: the library's, 4096)\n"
"      --capacity N       chand channels: most messages queued, or\n"
"                         'unbounded', or 'default' (the daemon's, which\n"
"                         is what chan-bench states unless told)\n"
"      --capacity-bytes SIZE  chand channels: most payload bytes queued\n"
"                         (suffix K, M or G), 'unbounded' or 'default'\n"
"                         (default 4M, the relay's bound: it stops\n"
"                         reading producers while 4 MiB wait)\n"
"      --durable          chand runs also with durable channels, once per\n"
"                         sync policy, each beside the in-memory run with\n"
"                         ratios to it, confirmation latency and the log's\n"
"                         disk figures\n"
"      --sync LIST        durable runs: always,periodic,os (default all\n"
"                         three; implies --durable)\n"
"      --data-dir PATH    durable runs keep their logs in a fresh directory\n"
"                         under PATH, removed after each run (default: a\n"
"                         private directory under $TMPDIR or /tmp)\n"
"      --smoke            small counts: a quick check that runs anywhere\n"
"      --shm              chand runs also with producers and consumer on\n"
"                         rings in shared memory (CHAN_SHM), labelled\n"
"                         \"chand shm\"; producers of messages over 512 KiB\n"
"                         ask for rings twice their size (ring_size)\n"
"      --confirmed        chand throughput runs send with the confirmed\n"
"                         chan_tx_send in a plain loop (label \"send\")\n"
"      --spin-us N        chand latency runs also with the consumer spinning\n"
"                         up to N us before it sleeps (chan_client_set_spin;\n"
"                         label \"spin\"); with --shm, the daemon spins as\n"
"                         long on the rings (chand --spin-us)\n"
"      --batch N          with --shm, chand throughput runs on rings also\n"
"                         with batches of up to N messages a call (a\n"
"                         producer's: at most 4 MiB of payload):\n"
"                         chan_tx_send_many and chan_rx_recv_many (label\n"
"                         \"shm many\"; the plain runs of one channel)\n"
"  -S, --socket PATH      use the daemon already running on PATH (default:\n"
"                         start a private one for each run)\n"
"  -D, --chand PATH       the chand to start (default: next to chan-bench,\n"
"                         else on PATH)\n"
"  -j, --json             print JSON instead of tables\n"
"  -h, --help             print this help\n"
"\n"
"Exit status: 0 all runs delivered every message in order; 1 a run failed\n"
"its delivery check or could not run; 2 usage error.\n");
}

static int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == '-' || v < min ||
	    v > max)
		return (-1);
	*out = v;
	return (0);
}

/* A comma-separated list of numbers in [min, max]: 0 or -1. */
static int
parse_list(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    size_t *n)
{
	char	*copy, *tok, *save = NULL;
	int	 rc = 0;

	if ((copy = strdup(s)) == NULL)
		return (-1);
	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
	    tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST || parse_u64(tok, min, max, &out[*n]) != 0)
			rc = -1;
		else
			(*n)++;
	}
	free(copy);
	return (rc == 0 && *n > 0 ? 0 : -1);
}

/*
 * A comma-separated list of names[first .. n) into on[]: each named one
 * true, the others false. 0, or -1 for a name not in the list.
 */
static int
parse_names(const char *s, const char *const *names, size_t first, size_t n,
    bool *on)
{
	char	*copy, *tok, *save = NULL;
	size_t	 i;
	int	 rc = 0;

	if ((copy = strdup(s)) == NULL)
		return (-1);
	for (i = 0; i < n; i++)
		on[i] = false;
	for (tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
	    tok = strtok_r(NULL, ",", &save)) {
		for (i = first; i < n; i++)
			if (strcmp(tok, names[i]) == 0)
				break;
		if (i == n)
			rc = -1;
		else
			on[i] = true;
	}
	free(copy);
	return (rc);
}

static bool
durable_wanted(const struct opts *o)
{
	size_t	i;

	for (i = SYNC_ALWAYS; i < BENCH_NSYNC; i++)
		if (o->sync[i])
			return (true);
	return (false);
}

static void
opts_defaults(struct opts *o)
{
	size_t	i;

	memset(o, 0, sizeof(*o));
	o->prod[0] = 1;
	o->prod[1] = 4;
	o->nprod = 2;
	o->sizes[0] = 16;
	o->sizes[1] = 1024;
	o->sizes[2] = 65536;
	o->nsizes = 3;
	o->recv[RECV_EACH] = true;
	for (i = 0; i < BENCH_NDEFAULT; i++)
		o->target[i] = true;
	o->rate = 10000;
	o->lat_count = 20000;
	o->thr = o->lat = true;
	o->mem_channels = 100000;
	o->mem_conns = 10000;
	o->mem_queued = 100000;
	o->prefetch = 65535;
	o->capacity = BENCH_CAP_DEFAULT;
	o->capacity_bytes = BENCH_CAP_BYTES;
}

/* Small enough to run in seconds anywhere, big enough to check order. */
static void
opts_smoke(struct opts *o)
{
	o->smoke = true;
	o->lat_count = 1000;
	o->mem_channels = 1000;
	o->mem_conns = 100;
	o->mem_queued = 2000;
}

enum {
	OPT_NO_THR = 256,
	OPT_NO_LAT,
	OPT_MEM_CHANNELS,
	OPT_MEM_CONNS,
	OPT_MEM_QUEUED,
	OPT_SMOKE,
	OPT_SHM,
	OPT_CONFIRMED,
	OPT_SPIN_US,
	OPT_BATCH,
	OPT_DURABLE,
	OPT_SYNC,
	OPT_DATA_DIR,
	OPT_CAPACITY,
	OPT_CAPACITY_BYTES,
	OPT_RECV,
};

static const struct option longopts[] = {
	{ "producers", required_argument, NULL, 'P' },
	{ "sizes", required_argument, NULL, 's' },
	{ "count", required_argument, NULL, 'n' },
	{ "targets", required_argument, NULL, 't' },
	{ "rate", required_argument, NULL, 'r' },
	{ "latency-count", required_argument, NULL, 'l' },
	{ "no-throughput", no_argument, NULL, OPT_NO_THR },
	{ "no-latency", no_argument, NULL, OPT_NO_LAT },
	{ "channels", required_argument, NULL, 'c' },
	{ "conns", required_argument, NULL, 'C' },
	{ "recv", required_argument, NULL, OPT_RECV },
	{ "memory", no_argument, NULL, 'm' },
	{ "mem-channels", required_argument, NULL, OPT_MEM_CHANNELS },
	{ "mem-conns", required_argument, NULL, OPT_MEM_CONNS },
	{ "mem-queued", required_argument, NULL, OPT_MEM_QUEUED },
	{ "prefetch", required_argument, NULL, 'p' },
	{ "window", required_argument, NULL, 'w' },
	{ "capacity", required_argument, NULL, OPT_CAPACITY },
	{ "capacity-bytes", required_argument, NULL, OPT_CAPACITY_BYTES },
	{ "smoke", no_argument, NULL, OPT_SMOKE },
	{ "shm", no_argument, NULL, OPT_SHM },
	{ "confirmed", no_argument, NULL, OPT_CONFIRMED },
	{ "spin-us", required_argument, NULL, OPT_SPIN_US },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "durable", no_argument, NULL, OPT_DURABLE },
	{ "sync", required_argument, NULL, OPT_SYNC },
	{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
	{ "socket", required_argument, NULL, 'S' },
	{ "chand", required_argument, NULL, 'D' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int
opt_uint(const char *s, uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t	v;

	if (parse_u64(s, min, max, &v) != 0)
		return (-1);
	*out = (unsigned)v;
	return (0);
}

static int
opt_list(const char *s, uint64_t min, uint64_t max, unsigned *out,
    size_t *n)
{
	uint64_t	v[MAX_LIST];
	size_t		i;

	if (parse_list(s, min, max, v, n) != 0)
		return (-1);
	for (i = 0; i < *n; i++)
		out[i] = (unsigned)v[i];
	return (0);
}

static int
opt_sizes(const char *s, struct opts *o)
{
	uint64_t	v[MAX_LIST];
	size_t		i;

	if (parse_list(s, BENCH_HDR, BENCH_MAX_SIZE, v, &o->nsizes) != 0)
		return (-1);
	for (i = 0; i < o->nsizes; i++)
		o->sizes[i] = (unsigned long)v[i];
	return (0);
}

/*
 * A channel bound: "default", "unbounded", or a number in [min, max],
 * with a K, M or G suffix (powers of 1024) if sized. 0 or -1.
 */
static int
opt_cap(const char *s, uint64_t min, uint64_t max, bool sized,
    uint64_t *out)
{
	char		 num[32];
	size_t		 n = strlen(s);
	unsigned	 shift = 0;
	uint64_t	 v;

	if (strcmp(s, "default") == 0 || strcmp(s, "unbounded") == 0) {
		*out = s[0] == 'd' ? BENCH_CAP_DEFAULT : BENCH_CAP_UNBOUNDED;
		return (0);
	}
	if (n == 0 || n >= sizeof(num))
		return (-1);
	memcpy(num, s, n + 1);
	if (sized && strchr("kKmMgG", num[n - 1]) != NULL) {
		shift = num[n - 1] == 'k' || num[n - 1] == 'K' ? 10 :
		    num[n - 1] == 'm' || num[n - 1] == 'M' ? 20 : 30;
		num[n - 1] = '\0';
	}
	if (parse_u64(num, 0, max >> shift, &v) != 0 || (v << shift) < min)
		return (-1);
	*out = v << shift;
	return (0);
}

/* One option; 0, or -1 for a bad value. */
static int
opt_one(int ch, const char *arg, struct opts *o)
{
	uint64_t	v;

	switch (ch) {
	case 'P':
		return (opt_list(arg, 1, 1024, o->prod, &o->nprod));
	case 's':
		return (opt_sizes(arg, o));
	case 'n':
		return (parse_u64(arg, 1, UINT32_MAX, &o->count));
	case 't':
		return (parse_names(arg, target_names, 0, BENCH_NTARGETS,
		    o->target));
	case 'r':
		if (parse_u64(arg, 1, 10000000, &v) != 0)
			return (-1);
		o->rate = (double)v;
		return (0);
	case 'l':
		return (parse_u64(arg, 1, UINT32_MAX, &o->lat_count));
	case 'c':
		return (opt_list(arg, 1, 1000000, o->channels, &o->nchannels));
	case 'C':
		return (opt_list(arg, 1, 100000, o->conns, &o->nconns));
	case OPT_MEM_CHANNELS:
		return (opt_uint(arg, 1, 1000000, &o->mem_channels));
	case OPT_MEM_CONNS:
		return (opt_uint(arg, 1, 100000, &o->mem_conns));
	case OPT_MEM_QUEUED:
		return (opt_uint(arg, 1, 100000000, &o->mem_queued));
	case 'p':
		return (opt_uint(arg, 1, 65535, &o->prefetch));
	case 'w':
		return (opt_uint(arg, 1, 65536, &o->window));
	case OPT_SPIN_US:
		return (opt_uint(arg, 1, 1000000, &o->spin_us));
	case OPT_BATCH:
		return (opt_uint(arg, 1, 65536, &o->batch));
	case OPT_SYNC:
		return (parse_names(arg, sync_names, SYNC_ALWAYS, BENCH_NSYNC,
		    o->sync));
	case OPT_RECV:
		return (parse_names(arg, recv_names, 0, BENCH_NRECV, o->recv));
	/* The library's ranges (chanclient.h, chan_open_opts). */
	case OPT_CAPACITY:
		return (opt_cap(arg, 0, UINT32_MAX, false, &o->capacity));
	case OPT_CAPACITY_BYTES:
		return (opt_cap(arg, 1, UINT64_C(1) << 63, true,
		    &o->capacity_bytes));
	}
	return (-1);
}

static int
opts_parse(int argc, char **argv, struct opts *o)
{
	bool	smoke = false;
	int	ch;

	opts_defaults(o);
	while ((ch = getopt_long(argc, argv, "P:s:n:t:r:l:c:C:mp:w:S:D:jh",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_NO_THR: o->thr = false; break;
		case OPT_NO_LAT: o->lat = false; break;
		case 'm': o->memory = true; break;
		case OPT_SMOKE: smoke = true; break;
		case OPT_SHM: o->shm = true; break;
		case OPT_CONFIRMED: o->confirmed = true; break;
		case OPT_DURABLE:
			if (!durable_wanted(o))
				o->sync[SYNC_ALWAYS] = o->sync[SYNC_PERIODIC] =
				    o->sync[SYNC_OS] = true;
			break;
		case OPT_DATA_DIR: o->data_dir = optarg; break;
		case 'S': o->socket = optarg; break;
		case 'D': o->chand = optarg; break;
		case 'j': o->json = true; break;
		case 'h': usage(stdout); exit(0);
		case '?': return (-1);
		default:
			if (opt_one(ch, optarg, o) != 0) {
				fprintf(stderr, "chan-bench: invalid value for "
				    "-%c: %s\n", ch < 256 ? ch : '-', optarg);
				return (-1);
			}
		}
	}
	if (smoke)
		opts_smoke(o);	/* replaces -l and --mem-*; -n still applies */
	if (optind != argc) {
		fprintf(stderr, "chan-bench: unexpected argument %s\n",
		    argv[optind]);
		return (-1);
	}
	if (durable_wanted(o) && o->socket != NULL) {
		fprintf(stderr, "chan-bench: --durable runs start their own "
		    "chand: not with --socket\n");
		return (-1);
	}
	return (0);
}

static uint64_t
default_count(const struct opts *o, size_t size, unsigned producers)
{
	uint64_t	total = DEF_BYTES / size;

	if (o->count > 0)
		return (o->count);
	if (o->smoke) {
		total = SMOKE_BYTES / size / producers;
		return (total > SMOKE_MSGS ? SMOKE_MSGS : total < SMOKE_MSGS_MIN ?
		    SMOKE_MSGS_MIN : total);
	}
	if (total > DEF_MSGS_MAX)
		total = DEF_MSGS_MAX;
	if (total < DEF_MSGS_MIN)
		total = DEF_MSGS_MIN;
	return ((total + producers - 1) / producers);
}

/* The flags of a private chand for run. */
static void
chand_args(const struct bench_run *run, char bufs[4][32],
    const char **args)
{
	size_t	n = 0, maxmsg = run->size > (1u << 20) ? run->size : 1u << 20;

	snprintf(bufs[0], 32, "%u", run->conns + run->producers + 64);
	snprintf(bufs[1], 32, "%u", run->channels + 64);
	snprintf(bufs[2], 32, "%zu", maxmsg);
	args[n++] = "--max-connections";
	args[n++] = bufs[0];
	args[n++] = "--max-handles";
	args[n++] = bufs[1];
	args[n++] = "--max-channels";
	args[n++] = bufs[1];
	args[n++] = "--max-msg-size";
	args[n++] = bufs[2];
	/* The queue may hold a whole run when the consumer lags. */
	args[n++] = "--max-queued-bytes";
	args[n++] = "16G";
	/* A spinning consumer of rings: the daemon spins on them too. */
	if (run->spin_us > 0 && run->shm) {
		snprintf(bufs[3], 32, "%u", run->spin_us);
		args[n++] = "--spin-us";
		args[n++] = bufs[3];
	}
	if (run->sync != SYNC_NONE) {
		args[n++] = "--data-dir";
		args[n++] = run->data_dir;
		args[n++] = "--sync";
		args[n++] = sync_names[run->sync];
		args[n++] = "--durable";
		args[n++] = "bench.*";
	}
	args[n] = NULL;
}

/* Runs run on a server of its own (or --socket) and records it. */
static void
bench(const struct opts *o, struct bench_run *run)
{
	struct bench_result	*res = &results[nresults];
	struct daemon		 d = { .pid = -1 };
	const char		*args[24];
	char			 bufs[4][32], data[320], label[32];
	int64_t			 w0 = -1;
	int			 rc = 0;

	if (nresults == MAX_RUNS)
		return;
	run->server = -1;
	run->serial = nresults;
	if (run->sync != SYNC_NONE) {
		if (durable_run_dir(data, sizeof(data)) != 0) {
			fprintf(stderr, "chan-bench: %s: %s\n", data,
			    strerror(errno));
			return;
		}
		run->data_dir = data;
	}
	if (run->target == TARGET_CHAND && o->socket != NULL) {
		run->sock = o->socket;
		run->server = socket_peer_pid(o->socket);
	} else if (run->target == TARGET_CHAND) {
		chand_args(run, bufs, args);
		rc = daemon_start(&d, daemon_find(o->chand), args);
		run->private_srv = true;
	} else if (run->target == TARGET_RELAY) {
		rc = relay_start(&d);
		run->private_srv = true;
	} else if (target_is_ring(run->target))
		rc = ring_map(run);
	else if (target_is_packed(run->target))
		rc = packed_map(run);
	else
		rc = daemon_start_dir(&d);
	if (rc != 0) {
		memset(res, 0, sizeof(*res));
		res->run = *run;
		snprintf(res->err, sizeof(res->err), "cannot start the %s",
		    target_names[run->target]);
	} else {
		if (d.sock[0] != '\0')
			run->sock = d.sock;
		if (d.pid > 0)
			run->server = d.pid;
		if (run->sync != SYNC_NONE)
			w0 = proc_write_bytes(run->server);
		run_one(run, res);
		durable_figures(run, w0, res);
	}
	daemon_stop(&d);
	if (target_is_packed(run->target))
		packed_unmap(run);
	else
		ring_unmap(run);
	res->run.ring = NULL;
	if (run->sync != SYNC_NONE)
		durable_run_dir_fini(data);
	res->run.data_dir = run->data_dir = NULL;
	nresults++;
	if (!o->json)
		fprintf(stderr, "chan-bench: %-15s %-10s P=%u size=%zu: "
		    "%s\n", run_label(run, label, sizeof(label)),
		    run->mode == MODE_LATENCY ? "latency" : "throughput",
		    run->producers, run->size, res->ok ? "ok" : res->err);
}

/* The durable runs of run's workload, one per sync policy asked for. */
static void
run_durable(const struct opts *o, struct bench_run *run)
{
	size_t	i;

	for (i = SYNC_ALWAYS; i < BENCH_NSYNC; i++) {
		if (!o->sync[i])
			continue;
		run->sync = (enum bench_sync)i;
		bench(o, run);
	}
	run->sync = SYNC_NONE;
}

static void
run_base(const struct opts *o, enum bench_mode mode, unsigned producers,
    size_t size)
{
	struct bench_run	run;
	int			t;

	for (t = 0; t < BENCH_NTARGETS; t++) {
		if (!o->target[t])
			continue;
		/* One ring, one producer; no pacing without a sleeping end. */
		if ((target_is_ring(t) || target_is_packed(t) ||
		    t == TARGET_MEMFD) &&
		    (producers != 1 || mode != MODE_THROUGHPUT))
			continue;
		memset(&run, 0, sizeof(run));
		run.target = (enum bench_target)t;
		run.mode = mode;
		run.producers = producers;
		run.size = size;
		run.channels = 1;
		run.conns = producers;
		run.prefetch = o->prefetch;
		run.window = o->window;
		run.capacity = o->capacity;
		run.capacity_bytes = o->capacity_bytes;
		run.rate = o->rate;
		run.count = mode == MODE_LATENCY ? (o->lat_count + producers -
		    1) / producers : default_count(o, size, producers);
		run.confirmed = o->confirmed;
		bench(o, &run);
		if (run.target == TARGET_CHAND)
			run_durable(o, &run);
		if (run.target == TARGET_CHAND && o->shm) {
			run.shm = true;
			bench(o, &run);
		}
		/* Over the socket each send of a batch is a round trip: the
		   batch calls are for rings. */
		if (run.target == TARGET_CHAND && o->batch > 0 && o->shm &&
		    mode == MODE_THROUGHPUT) {
			run.batch = o->batch;
			run.shm = true;
			bench(o, &run);
			run.batch = 0;
		}
		if (run.target == TARGET_CHAND && o->spin_us > 0 &&
		    mode == MODE_LATENCY) {
			run.spin_us = o->spin_us;
			run.shm = false;
			bench(o, &run);
			if (o->shm) {
				run.shm = true;
				bench(o, &run);
			}
		}
	}
}

static void
run_scale(const struct opts *o, unsigned channels, unsigned conns)
{
	struct bench_run	run;
	unsigned		senders;
	uint64_t		per;
	int			i, shm;

	memset(&run, 0, sizeof(run));
	run.target = TARGET_CHAND;
	run.mode = MODE_THROUGHPUT;
	run.scale = true;
	run.producers = 1;
	run.size = o->sizes[0];
	run.channels = channels;
	run.conns = conns;
	run.window = o->window;
	run.capacity = o->capacity;
	run.capacity_bytes = o->capacity_bytes;
	senders = channels > conns ? channels : conns;
	run.prefetch = o->prefetch;
	run.count = default_count(o, run.size, 1);
	per = o->count > 0 || o->smoke ? SCALE_PER_UNIT_MIN : SCALE_PER_UNIT;
	if (run.count < per * senders)
		run.count = per * senders;
	/* Each way of receiving, on the socket and, with --shm, on rings. */
	for (shm = 0; shm <= (o->shm ? 1 : 0); shm++) {
		for (i = 0; i < BENCH_NRECV; i++) {
			if (!o->recv[i] || (i != RECV_EACH && channels == 1))
				continue;
			run.shm = shm == 1;
			run.recv = (enum bench_recv)i;
			bench(o, &run);
		}
	}
}

static void
run_all(const struct opts *o)
{
	size_t	i, j;

	for (i = 0; o->thr && i < o->nsizes; i++)
		for (j = 0; j < o->nprod; j++)
			run_base(o, MODE_THROUGHPUT, o->prod[j], o->sizes[i]);
	for (i = 0; o->lat && i < o->nsizes; i++)
		run_base(o, MODE_LATENCY, 1, o->sizes[i]);
	for (i = 0; i < o->nchannels; i++)
		run_scale(o, o->channels[i], 1);
	for (i = 0; i < o->nconns; i++)
		run_scale(o, 1, o->conns[i]);
	if (o->memory) {
		memory_measure(daemon_find(o->chand), o->mem_channels,
		    o->mem_conns, o->mem_queued, o->sizes[0], &mem);
		mem_done = true;
	}
}

/* The relay run with the same workload as r, or NULL. */
static const struct bench_result *
relay_of(const struct bench_result *r)
{
	size_t	i;

	for (i = 0; i < nresults; i++) {
		const struct bench_run *b = &results[i].run;

		if (b->target == TARGET_RELAY && results[i].ok &&
		    b->mode == r->run.mode && b->size == r->run.size &&
		    b->producers == r->run.producers)
			return (&results[i]);
	}
	return (NULL);
}

static double
ratio(double a, double b)
{
	return (b > 0 ? a / b : 0);
}

/* A scale run: "chand[ shm] K=1000[ set]", "chand C=50", "chand K=1,C=1". */
static const char *
scale_label(const struct bench_run *run, char *buf, size_t len)
{
	const char	*shm = run->shm ? " shm" : "";

	if (run->channels > 1)
		snprintf(buf, len, "%s%s K=%u%s%s", target_names[run->target],
		    shm, run->channels, run->recv != RECV_EACH ? " " : "",
		    run->recv != RECV_EACH ? recv_names[run->recv] : "");
	else if (run->conns > run->producers)
		snprintf(buf, len, "%s%s C=%u", target_names[run->target],
		    shm, run->conns);
	else
		snprintf(buf, len, "%s%s K=1,C=1", target_names[run->target],
		    shm);
	return (buf);
}

static const char *
run_label(const struct bench_run *run, char *buf, size_t len)
{
	if (run->scale)
		return (scale_label(run, buf, len));
	if (run->sync != SYNC_NONE)
		snprintf(buf, len, "%s %s", target_names[run->target],
		    sync_names[run->sync]);
	else if (run->shm || run->confirmed || run->spin_us > 0 ||
	    run->batch > 0)
		snprintf(buf, len, "%s%s%s%s%s", target_names[run->target],
		    run->shm ? " shm" : "", run->confirmed &&
		    run->mode == MODE_THROUGHPUT ? " send" : "",
		    run->spin_us > 0 ? " spin" : "",
		    run->batch > 0 ? " many" : "");
	else
		snprintf(buf, len, "%s", target_names[run->target]);
	return (buf);
}


/* A channel bound for people: "default", "unbounded", "4 MiB", "65536". */
static const char *
cap_text(uint64_t v, bool sized, char *buf, size_t len)
{
	if (v == BENCH_CAP_DEFAULT)
		snprintf(buf, len, "the daemon's default");
	else if (v == BENCH_CAP_UNBOUNDED)
		snprintf(buf, len, "unbounded");
	else if (sized && v >= 1024 && v % (1u << 20) == 0)
		snprintf(buf, len, "%llu MiB", (unsigned long long)(v >> 20));
	else if (sized && v >= 1024 && v % 1024 == 0)
		snprintf(buf, len, "%llu KiB", (unsigned long long)(v >> 10));
	else
		snprintf(buf, len, "%llu%s", (unsigned long long)v,
		    sized ? " bytes" : "");
	return (buf);
}

/* What bounds chand's channels: it decides how much a run buffers. */
static void
print_capacity(const struct bench_run *run)
{
	char	msgs[32], bytes[32];

	printf("chand channels: capacity_bytes %s%s, capacity %s\n",
	    cap_text(run->capacity_bytes, true, bytes, sizeof(bytes)),
	    run->capacity_bytes == BENCH_CAP_BYTES ? " (the relay's bound)" :
	    "", cap_text(run->capacity, false, msgs, sizeof(msgs)));
}

static void
print_throughput(void)
{
	const struct bench_result	*r, *base;
	char				 label[32], rel[16], srv[16], hwm[16];
	size_t				 i;

	for (i = 0; i < nresults; i++)
		if (results[i].run.mode == MODE_THROUGHPUT &&
		    !results[i].run.scale)
			break;
	if (i == nresults)
		return;
	printf("Throughput (first send to last receive; CPU ns per message "
	    "of each process)\n");
	for (i = 0; i < nresults; i++)
		if (results[i].run.target == TARGET_CHAND &&
		    results[i].run.mode == MODE_THROUGHPUT) {
			print_capacity(&results[i].run);
			break;
		}
	printf("%-15s %2s %6s %9s %11s %9s %8s %8s %8s %8s %9s %s\n",
	    "target", "P", "size", "msgs", "msgs/s", "MB/s", "x relay",
	    "prod ns", "cons ns", "srv ns", "srv KiB", "check");
	for (i = 0; i < nresults; i++) {
		r = &results[i];
		if (r->run.mode != MODE_THROUGHPUT || r->run.scale)
			continue;
		base = relay_of(r);
		snprintf(rel, sizeof(rel), "%.3f", base != NULL &&
		    base != r ? ratio(r->msgs_s, base->msgs_s) : 1.0);
		snprintf(srv, sizeof(srv), "%.0f", r->cpu_srv_ns);
		snprintf(hwm, sizeof(hwm), "%ld", r->srv_hwm_kib);
		printf("%-15s %2u %6zu %9llu %11.0f %9.1f %8s %8.0f %8.0f "
		    "%8s %9s %s\n", run_label(&r->run, label, sizeof(label)),
		    r->run.producers, r->run.size,
		    (unsigned long long)r->msgs, r->msgs_s, r->mb_s,
		    base == NULL ? "-" : rel, r->cpu_prod_ns, r->cpu_cons_ns,
		    r->cpu_srv_ns < 0 ? "-" : srv,
		    r->srv_hwm_kib < 0 ? "-" : hwm, r->ok ? "ok" : "FAILED");
	}
}

/* A figure in a column of width w, "-" if unknown. */
static void
print_fig(int w, double v, double div)
{
	if (v < 0)
		printf(" %*s", w, "-");
	else
		printf(" %*.*f", w, div > 1 ? 2 : 0, v / div);
}

static void
print_scale(void)
{
	const struct bench_result	*r;
	char				 label[32];
	size_t				 i;

	for (i = 0; i < nresults; i++)
		if (results[i].run.scale)
			break;
	if (i == nresults)
		return;
	printf("\nScale (one producer process; K channels: one connection "
	    "each side, C connections: producers on one channel)\n"
	    "CPU ns per message over the traffic; the daemon's set-up "
	    "(connect, open, first credit) and\ntear-down (disconnection, "
	    "forgetting) in us per channel or connection\n");
	printf("%-22s %6s %9s %7s %11s %8s %8s %8s %8s %8s %9s %s\n",
	    "target", "size", "msgs", "per K/C", "msgs/s", "prod ns",
	    "cons ns", "srv ns", "setup us", "down us", "srv KiB", "check");
	for (i = 0; i < nresults; i++) {
		r = &results[i];
		if (!r->run.scale)
			continue;
		printf("%-22s %6zu %9llu %7llu %11.0f %8.0f %8.0f",
		    run_label(&r->run, label, sizeof(label)), r->run.size,
		    (unsigned long long)r->msgs, (unsigned long long)(r->units ?
		    r->msgs / r->units : 0), r->msgs_s, r->cpu_prod_ns,
		    r->cpu_cons_ns);
		print_fig(8, r->cpu_srv_ns, 1);
		print_fig(8, r->srv_setup_ns, 1000);
		print_fig(8, r->srv_teardown_ns, 1000);
		printf(" %9ld %s\n", r->srv_hwm_kib, r->ok ? "ok" : "FAILED");
	}
}

static void
print_latency(void)
{
	const struct bench_result	*r, *base;
	char				 label[32];
	size_t				 i;

	for (i = 0; i < nresults; i++)
		if (results[i].run.mode == MODE_LATENCY)
			break;
	if (i == nresults)
		return;
	printf("\nLatency (one way, paced; microseconds)\n");
	printf("%-15s %2s %6s %8s %8s %8s %9s %9s %9s %s\n", "target", "P",
	    "size", "rate", "p50", "p99", "p99.9", "p50 x rl", "p99 x rl",
	    "check");
	for (i = 0; i < nresults; i++) {
		r = &results[i];
		if (r->run.mode != MODE_LATENCY)
			continue;
		base = relay_of(r);
		printf("%-15s %2u %6zu %8.0f %8.1f %8.1f %8.1f %9.2f %9.2f "
		    "%s\n", run_label(&r->run, label, sizeof(label)),
		    r->run.producers,
		    r->run.size, r->run.rate, r->lat_us[0], r->lat_us[1],
		    r->lat_us[2], base ? ratio(r->lat_us[0], base->lat_us[0]) :
		    0, base ? ratio(r->lat_us[1], base->lat_us[1]) : 0,
		    r->ok ? "ok" : "FAILED");
	}
}

static void
print_memory(void)
{
	printf("\nDaemon memory (RSS deltas)\n");
	if (!mem.ok) {
		printf("FAILED: %s\n", mem.err);
		return;
	}
	printf("idle channel      %8.0f bytes  (%u channels, one producer "
	    "handle each)\n", mem.per_channel, mem.channels);
	printf("idle connection   %8.0f bytes  (%u connections)\n",
	    mem.per_conn, mem.conns);
	printf("queued message    %8.0f bytes  beyond its %zu-byte payload "
	    "(%u messages)\n", mem.per_queued, mem.queued_size, mem.queued);
}

static void
print_errors(void)
{
	char	label[32];
	size_t	i;

	for (i = 0; i < nresults; i++)
		if (!results[i].ok)
			printf("FAILED: %s %s P=%u size=%zu: %s\n",
			    run_label(&results[i].run, label, sizeof(label)),
			    results[i].run.mode == MODE_LATENCY ? "latency" :
			    "throughput", results[i].run.producers,
			    results[i].run.size, results[i].err);
}

static void
machine(char *cpu, size_t len, char *kernel, size_t klen)
{
	struct utsname	 u;
	char		 line[256], *p;
	FILE		*f;

	snprintf(cpu, len, "unknown");
	if ((f = fopen("/proc/cpuinfo", "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "model name", 10) != 0 ||
			    (p = strchr(line, ':')) == NULL)
				continue;
			p += strspn(p + 1, " \t") + 1;
			p[strcspn(p, "\n")] = '\0';
			snprintf(cpu, len, "%s", p);
			break;
		}
		fclose(f);
	}
	snprintf(kernel, klen, "%s", uname(&u) == 0 ? u.release : "unknown");
}

static void
print_machine(void)
{
	char	cpu[128], kernel[128];

	machine(cpu, sizeof(cpu), kernel, sizeof(kernel));
	printf("chan-bench: %ld CPUs (%s), Linux %s, libuv %s\n\n",
	    sysconf(_SC_NPROCESSORS_ONLN), cpu, kernel, uv_version_string());
}

/* A JSON string of s, which holds no control characters. */
static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar((unsigned char)*s >= 0x20 ? *s : ' ');
	}
	putchar('"');
}

/* The chand channels' bounds: a number, "default" or "unbounded". */
static void
json_cap(const char *key, uint64_t v)
{
	if (v == BENCH_CAP_DEFAULT || v == BENCH_CAP_UNBOUNDED)
		printf("\"%s\":\"%s\",", key, v == BENCH_CAP_DEFAULT ?
		    "default" : "unbounded");
	else
		printf("\"%s\":%llu,", key, (unsigned long long)v);
}

static void
json_caps(const struct bench_run *run)
{
	json_cap("capacity", run->capacity);
	json_cap("capacity_bytes", run->capacity_bytes);
}

static void
json_result(const struct bench_result *r)
{
	const struct bench_result	*base = relay_of(r);

	printf("{\"target\":\"%s\",\"mode\":\"%s\",\"producers\":%u,"
	    "\"size\":%zu,\"channels\":%u,\"recv\":\"%s\",\"conns\":%u,"
	    "\"ok\":%s,", target_names[r->run.target],
	    r->run.mode == MODE_LATENCY ? "latency" : "throughput",
	    r->run.producers, r->run.size, r->run.channels,
	    recv_names[r->run.recv], r->run.conns, r->ok ? "true" : "false");
	durable_json(r, results, nresults);
	if (r->run.target == TARGET_CHAND)
		json_caps(&r->run);
	printf("\"msgs\":%llu,\"secs\":%.6f,\"msgs_per_s\":%.1f,"
	    "\"mb_per_s\":%.2f,", (unsigned long long)r->msgs, r->secs,
	    r->msgs_s, r->mb_s);
	if (r->run.mode == MODE_LATENCY)
		printf("\"rate\":%.0f,\"p50_us\":%.2f,\"p99_us\":%.2f,"
		    "\"p999_us\":%.2f,", r->run.rate, r->lat_us[0],
		    r->lat_us[1], r->lat_us[2]);
	printf("\"cpu_ns_per_msg\":{\"producer\":%.1f,\"consumer\":%.1f,"
	    "\"server\":%.1f},\"server_peak_rss_kib\":%ld,",
	    r->cpu_prod_ns, r->cpu_cons_ns, r->cpu_srv_ns, r->srv_hwm_kib);
	if (r->run.scale)
		printf("\"scale_units\":%u,\"server_setup_ns_per_unit\":%.1f,"
		    "\"server_teardown_ns_per_unit\":%.1f,", r->units,
		    r->srv_setup_ns, r->srv_teardown_ns);
	if (base != NULL && base != r)
		printf("\"vs_relay\":{\"msgs_per_s\":%.4f,\"p50\":%.4f,"
		    "\"p99\":%.4f},", ratio(r->msgs_s, base->msgs_s),
		    ratio(r->lat_us[0], base->lat_us[0]),
		    ratio(r->lat_us[1], base->lat_us[1]));
	printf("\"error\":");
	json_str(r->err);
	printf("}");
}

static void
print_json(void)
{
	char	cpu[128], kernel[128];
	size_t	i;

	machine(cpu, sizeof(cpu), kernel, sizeof(kernel));
	printf("{\"machine\":{\"nproc\":%ld,\"cpu\":",
	    sysconf(_SC_NPROCESSORS_ONLN));
	json_str(cpu);
	printf(",\"kernel\":");
	json_str(kernel);
	printf(",\"libuv\":\"%s\"},\n\"runs\":[\n", uv_version_string());
	for (i = 0; i < nresults; i++) {
		json_result(&results[i]);
		printf(i + 1 < nresults ? ",\n" : "\n");
	}
	printf("]");
	if (mem_done) {
		printf(",\n\"memory\":{\"ok\":%s,\"idle_channel_bytes\":%.1f,"
		    "\"idle_conn_bytes\":%.1f,\"queued_msg_overhead_bytes\":"
		    "%.1f,\"channels\":%u,\"conns\":%u,\"queued\":%u,"
		    "\"queued_size\":%zu,\"error\":", mem.ok ? "true" : "false",
		    mem.per_channel, mem.per_conn, mem.per_queued,
		    mem.channels, mem.conns, mem.queued, mem.queued_size);
		json_str(mem.err);
		printf("}");
	}
	printf("}\n");
}

static bool
all_ok(void)
{
	size_t	i;

	for (i = 0; i < nresults; i++)
		if (!results[i].ok)
			return (false);
	return (!mem_done || mem.ok);
}

/*
 * Descriptors the largest run needs in one process: the daemon holds a
 * socket per connection plus its reserve (chand asks for 256 spare), a
 * producer one per connection.
 */
static rlim_t
fd_need(const struct opts *o)
{
	rlim_t	most = o->memory ? o->mem_conns : 0;
	size_t	i;

	for (i = 0; i < o->nconns; i++)
		if (o->conns[i] > most)
			most = o->conns[i];
	return (most + 1024);
}

int
main(int argc, char **argv)
{
	struct opts	o;

	if (opts_parse(argc, argv, &o) != 0) {
		usage(stderr);
		return (2);
	}
	signal(SIGPIPE, SIG_IGN);
	fd_limit_raise(fd_need(&o));
	if (durable_wanted(&o) && durable_dir_init(o.data_dir) != 0) {
		fprintf(stderr, "chan-bench: data directory %s: %s\n",
		    o.data_dir != NULL ? o.data_dir : "(private)",
		    strerror(errno));
		return (1);
	}
	run_all(&o);
	durable_dir_fini();
	if (o.json)
		print_json();
	else {
		print_machine();
		print_throughput();
		print_latency();
		print_scale();
		if (mem_done)
			print_memory();
		durable_print(results, nresults);
		print_errors();
	}
	if (!all_ok()) {
		fprintf(stderr, "chan-bench: FAILED: a run did not deliver "
		    "every message in order (see above)\n");
		return (1);
	}
	return (0);
}

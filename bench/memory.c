/* SPDX-License-Identifier: MIT */
/*
 * memory.c: what the daemon's resident memory grows by per idle
 * connection, per idle channel and per queued message. Each phase keeps
 * what it opened until the end, so that no phase reuses memory another
 * freed and every delta is new memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chanclient.h>

#include "bench.h"

struct mem_state {
	struct daemon	  d;
	chan_client	**conns;
	unsigned	  nconns;
	chan_client	 *c;		/* channels and the queue */
	chan_tx		**tx;
	unsigned	  ntx;
};

static long
rss(const struct mem_state *s)
{
	return (proc_status_kib(s->d.pid, "VmRSS:"));
}

static int
mem_conns(struct mem_state *s, unsigned n, struct mem_result *r)
{
	long	before = rss(s);
	int	rc;

	if ((s->conns = calloc(n, sizeof(*s->conns))) == NULL)
		return (-1);
	for (; s->nconns < n; s->nconns++) {
		rc = chan_connect(s->d.sock, &s->conns[s->nconns]);
		if (rc != 0) {
			snprintf(r->err, sizeof(r->err), "connection %u: %s",
			    s->nconns, chan_strerror(rc));
			return (-1);
		}
	}
	r->per_conn = (double)(rss(s) - before) * 1024 / n;
	return (0);
}

static int
mem_channels(struct mem_state *s, unsigned n, struct mem_result *r)
{
	char	name[32];
	long	before = rss(s);
	int	rc;

	if ((s->tx = calloc(n + 1u, sizeof(*s->tx))) == NULL)
		return (-1);
	for (; s->ntx < n; s->ntx++) {
		snprintf(name, sizeof(name), "idle.%u", s->ntx);
		if ((rc = chan_tx_open(s->c, name, &s->tx[s->ntx])) != 0) {
			snprintf(r->err, sizeof(r->err), "channel %u: %s: %s",
			    s->ntx, chan_strerror(rc),
			    chan_client_errmsg(s->c));
			return (-1);
		}
	}
	r->per_channel = (double)(rss(s) - before) * 1024 / n;
	return (0);
}

static int
mem_queued(struct mem_state *s, unsigned n, size_t size,
    struct mem_result *r)
{
	chan_tx	*tx;
	char	*buf;
	long	 before;
	unsigned i;
	int	 rc;
	chan_open_opts	opts = CHAN_OPEN_OPTS_INIT;

	/* No consumer takes them: the channel must hold them all. */
	opts.capacity = CHAN_CAPACITY_UNBOUNDED;
	opts.capacity_bytes = CHAN_CAPACITY_UNBOUNDED;
	if ((rc = chan_tx_open_ex(s->c, "queued", 6, &opts, &tx)) != 0) {
		snprintf(r->err, sizeof(r->err), "open: %s",
		    chan_strerror(rc));
		return (-1);
	}
	s->tx[s->ntx++] = tx;
	if ((buf = calloc(1, size)) == NULL)
		return (-1);
	before = rss(s);
	for (i = 0; i < n; i++) {
		payload_fill(buf, size, 0, i, 0);
		if ((rc = chan_tx_send_async(tx, buf, size)) != 0) {
			snprintf(r->err, sizeof(r->err), "send %u: %s: %s", i,
			    chan_strerror(rc), chan_tx_errmsg(tx));
			free(buf);
			return (-1);
		}
	}
	free(buf);
	if ((rc = chan_tx_flush(tx)) != 0) {
		snprintf(r->err, sizeof(r->err), "flush: %s: %s",
		    chan_strerror(rc), chan_tx_errmsg(tx));
		return (-1);
	}
	r->per_queued = (double)(rss(s) - before) * 1024 / n - (double)size;
	return (0);
}

static void
mem_close(struct mem_state *s)
{
	unsigned	i;

	for (i = 0; i < s->nconns; i++)
		chan_disconnect(s->conns[i]);
	if (s->c != NULL)
		chan_disconnect(s->c);	/* closes the handles too */
	free(s->conns);
	free(s->tx);
	daemon_stop(&s->d);
}

int
memory_measure(const char *chand, unsigned channels, unsigned conns,
    unsigned queued, size_t size, struct mem_result *r)
{
	struct mem_state	 s = { .d = { .pid = -1 } };
	const char		*args[8];
	char			 nconn[32], nhandle[32];
	int			 rc;

	memset(r, 0, sizeof(*r));
	r->channels = channels;
	r->conns = conns;
	r->queued = queued;
	r->queued_size = size;
	snprintf(nconn, sizeof(nconn), "%u", conns + 64);
	snprintf(nhandle, sizeof(nhandle), "%u", channels + 64);
	args[0] = "--max-connections";
	args[1] = nconn;
	args[2] = "--max-handles";
	args[3] = nhandle;
	args[4] = "--max-channels";
	args[5] = nhandle;
	args[6] = NULL;
	if (daemon_start(&s.d, chand, args) != 0) {
		snprintf(r->err, sizeof(r->err), "cannot start %s", chand);
		return (-1);
	}
	if ((rc = chan_connect(s.d.sock, &s.c)) != 0) {
		snprintf(r->err, sizeof(r->err), "connect: %s",
		    chan_strerror(rc));
		mem_close(&s);
		return (-1);
	}
	rc = mem_conns(&s, conns, r);
	if (rc == 0)
		rc = mem_channels(&s, channels, r);
	if (rc == 0)
		rc = mem_queued(&s, queued, size, r);
	if (rc != 0 && r->err[0] == '\0')
		snprintf(r->err, sizeof(r->err), "out of memory");
	r->ok = rc == 0;
	mem_close(&s);
	return (rc);
}

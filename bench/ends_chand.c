/* SPDX-License-Identifier: MIT */
/*
 * ends_chand.c: the producer and consumer ends that talk to chand through
 * libchanclient.
 *
 * A producer process has one or more senders (producer handles), each with
 * its own sequence numbers: one handle on one channel; with --channels K,
 * one handle on each of K channels, over one connection; with --conns C,
 * C / P connections, each with one handle on the channel. Message i of a
 * producer goes to sender i mod senders. The consumer has one receiver per
 * channel on one connection, with a large prefetch window so that
 * deliveries stream.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chanclient.h>

#include "bench.h"

/*
 * How a producer sends: the one place that chooses. Throughput runs use
 * pipelined sends (up to the window unconfirmed, batched writes) and
 * bench_flush waits for every confirmation; paced latency runs use the
 * confirmed send, which writes at once (a pipelined one would wait in
 * the batch).
 */
static int
bench_send(const struct bench_run *run, chan_tx *tx, const void *p,
    size_t len)
{
	if (run->mode == MODE_LATENCY || run->confirmed)
		return (chan_tx_send(tx, p, len));
	return (chan_tx_send_async(tx, p, len));
}

static int
bench_flush(chan_tx *tx)
{
	return (chan_tx_flush(tx));
}

/* The channel's bounds as run states them, the same at both ends. */
static uint64_t
bench_cap(uint64_t v)
{
	if (v == BENCH_CAP_DEFAULT)
		return (CHAN_CAPACITY_DEFAULT);
	if (v == BENCH_CAP_UNBOUNDED)
		return (CHAN_CAPACITY_UNBOUNDED);
	return (v);
}

static void
bench_cap_opts(const struct bench_run *run, chan_open_opts *opts)
{
	opts->capacity = bench_cap(run->capacity);
	opts->capacity_bytes = bench_cap(run->capacity_bytes);
}

/*
 * The ring a producer of size-byte messages asks for, as an application
 * would: twice a record (a record may take half the ring), when the
 * daemon's default (1 MiB) is smaller; else the default (0).
 */
static uint32_t
bench_ring_size(size_t size)
{
	uint64_t	ring = 1u << 20;

	while (ring / 2 < size + 16 && ring < (1u << 30))
		ring <<= 1;
	return (ring > (1u << 20) ? (uint32_t)ring : 0);
}

static int
bench_tx_open(const struct bench_run *run, chan_client *c, const char *name,
    chan_tx **tx)
{
	chan_open_opts	opts = CHAN_OPEN_OPTS_INIT;
	unsigned	per_conn = run->channels > 1 ? run->channels : 1;

	/*
	 * The window is per transmitter: keep what all the transmitters of
	 * one connection may owe together bounded, so that a run with many
	 * channels measures the same batching as a run with one.
	 */
	bench_cap_opts(run, &opts);
	if (run->shm) {
		opts.flags |= CHAN_SHM;
		opts.ring_size = bench_ring_size(run->size);
	}
	opts.window = run->window > 0 ? run->window : BENCH_WINDOW;
	if (opts.window > BENCH_CONN_UNCONFIRMED / per_conn)
		opts.window = BENCH_CONN_UNCONFIRMED / per_conn;
	if (opts.window == 0)
		opts.window = 1;
	return (chan_tx_open_ex(c, name, strlen(name), &opts, tx));
}

/*
 * Channel k of run: the names are the run's own, so that on a daemon
 * that serves several runs (--socket) a run does not find the channels
 * of the one before, or the memory of their senders having gone.
 */
static void
chan_name(const struct bench_run *run, char *buf, size_t len, unsigned k)
{
	snprintf(buf, len, "bench.%ld.%u.%u", (long)getppid(), run->serial,
	    k);
}

struct senders {
	chan_client	**c;
	unsigned	  nc;
	chan_tx		**tx;
	unsigned	  ntx;
};

static unsigned
senders_per_producer(const struct bench_run *run)
{
	if (run->channels > 1)
		return (run->channels);
	if (run->conns > run->producers)
		return (run->conns / run->producers);
	return (1);
}

/*
 * Disconnecting drops every handle of the connection at once (the sends
 * were all confirmed by then). Closing them one by one would cost a round
 * trip each, which in a run with 100,000 channels would swamp the
 * per-message figures the run is for.
 */
static void
senders_close(struct senders *s)
{
	unsigned	i;

	for (i = 0; i < s->nc; i++)
		if (s->c[i] != NULL)
			chan_disconnect(s->c[i]);
	free(s->tx);
	free(s->c);
}

static int
senders_open(const struct bench_run *run, struct senders *s, char *err,
    size_t errlen)
{
	unsigned	i, n = senders_per_producer(run);
	char		name[32];
	int		rc;

	s->nc = run->channels > 1 ? 1 : n;
	s->ntx = n;
	s->c = calloc(s->nc, sizeof(*s->c));
	s->tx = calloc(s->ntx, sizeof(*s->tx));
	if (s->c == NULL || s->tx == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (i = 0; i < s->nc; i++) {
		if ((rc = chan_connect(run->sock, &s->c[i])) != 0) {
			snprintf(err, errlen, "connect %s (connection %u): %s",
			    run->sock, i, chan_strerror(rc));
			return (-1);
		}
	}
	for (i = 0; i < s->ntx; i++) {
		chan_name(run, name, sizeof(name), run->channels > 1 ? i : 0);
		rc = bench_tx_open(run, s->c[s->nc > 1 ? i : 0], name,
		    &s->tx[i]);
		if (rc != 0) {
			snprintf(err, errlen, "open %s: %s: %s", name,
			    chan_strerror(rc), chan_client_errmsg(s->c[0]));
			return (-1);
		}
	}
	return (0);
}

static void
sleep_until(int64_t t)
{
	struct timespec	ts = { .tv_sec = t / 1000000000,
			    .tv_nsec = t % 1000000000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

static int
cmp_ns(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return ((x > y) - (x < y));
}

/* p50, p99, p99.9 of n samples (sorted here) into out. */
static void
confirm_quantiles(int64_t *ns, uint64_t n, int64_t out[3])
{
	static const double	q[3] = { 0.50, 0.99, 0.999 };
	uint64_t		i, k;

	if (n == 0)
		return;
	qsort(ns, n, sizeof(*ns), cmp_ns);
	for (k = 0; k < 3; k++) {
		i = (uint64_t)(q[k] * (double)n);
		out[k] = ns[i < n ? i : n - 1];
	}
}

/*
 * --batch: the producer's one transmitter sends up to run->batch messages
 * a call (chan_tx_send_many; at most BENCH_BATCH_BYTES of payload), each
 * confirmed as chan_tx_send's.
 */
static int
chand_send_many(const struct bench_run *run, chan_tx *tx, int index,
    struct bench_report *rep)
{
	struct iovec	*iov;
	char		*bufs;
	uint64_t	 i, k, j;
	size_t		 sent, per = bench_batch_msgs(run->batch, run->size);
	int		 rc = 0;

	iov = calloc(per, sizeof(*iov));
	bufs = calloc(per, run->size > 0 ? run->size : 1);
	if (iov == NULL || bufs == NULL) {
		free(iov);
		free(bufs);
		return (CHAN_ENOMEM);
	}
	rep->t_first = now_ns();
	for (i = 0; i < run->count && rc == 0; i += k) {
		k = run->count - i < per ? run->count - i : per;
		for (j = 0; j < k; j++) {
			iov[j].iov_base = bufs + j * run->size;
			iov[j].iov_len = run->size;
			payload_fill(iov[j].iov_base, run->size,
			    (uint32_t)index, (uint32_t)(i + j), 0);
		}
		rc = chan_tx_send_many(tx, iov, k, &sent);
		rep->msgs += sent;
	}
	rep->t_last = now_ns();
	if (rc != 0)
		snprintf(rep->err, sizeof(rep->err), "send: %s: %s",
		    chan_strerror(rc), chan_tx_errmsg(tx));
	free(iov);
	free(bufs);
	return (rc);
}

static int
chand_send_all(const struct bench_run *run, struct senders *s, int index,
    struct bench_report *rep)
{
	int64_t		 interval = 0, t0, ts, *conf = NULL;
	uint64_t	 i;
	uint32_t	 round = 0;
	unsigned	 j = 0;
	char		*buf;
	int		 rc = 0;

	/* Paced runs also time each confirmed send: what a producer waits. */
	if (run->mode == MODE_LATENCY) {
		interval = (int64_t)(1e9 * run->producers / run->rate);
		if ((conf = calloc(run->count, sizeof(*conf))) == NULL)
			return (CHAN_ENOMEM);
	}
	if ((buf = calloc(1, run->size)) == NULL) {
		free(conf);
		return (CHAN_ENOMEM);
	}
	t0 = rep->t_first = now_ns();
	/*
	 * Message i goes on transmitter i % ntx as its (i / ntx)th, counted
	 * as it goes: a division a message would cost the loop as much as a
	 * send on a ring, and the baselines' loops have none.
	 */
	for (i = 0; i < run->count; i++) {
		if (interval > 0)
			sleep_until(t0 + (int64_t)i * interval);
		ts = interval > 0 ? now_ns() : 0;
		payload_fill(buf, run->size, (uint32_t)index * s->ntx + j,
		    round, ts);
		if ((rc = bench_send(run, s->tx[j], buf, run->size)) != 0)
			break;
		rep->msgs++;
		if (conf != NULL)
			conf[i] = now_ns() - ts;
		if (++j == s->ntx) {
			j = 0;
			round++;
		}
	}
	if (conf != NULL)
		confirm_quantiles(conf, rep->msgs, rep->conf_ns);
	free(conf);
	/* j names the transmitter that failed, if one did. */
	for (j = 0; rc == 0 && j < s->ntx; j++)
		if ((rc = bench_flush(s->tx[j])) != 0)
			break;
	rep->t_last = now_ns();
	if (rc != 0)
		snprintf(rep->err, sizeof(rep->err), "send: %s: %s",
		    chan_strerror(rc), chan_tx_errmsg(s->tx[j]));
	free(buf);
	return (rc);
}

void
chand_producer(const struct bench_run *run, int index,
    const struct end_sync *sync, struct bench_report *rep)
{
	struct senders	s = { 0 };
	int64_t		cpu0;
	int		rc;

	if (senders_open(run, &s, rep->err, sizeof(rep->err)) != 0)
		goto out;
	if (end_ready_and_wait(sync) != 0) {
		snprintf(rep->err, sizeof(rep->err), "never told to start");
		goto out;
	}
	cpu0 = cpu_self_ns();
	if (run->batch > 0 && s.ntx == 1 && run->mode == MODE_THROUGHPUT)
		rc = chand_send_many(run, s.tx[0], index, rep);
	else
		rc = chand_send_all(run, &s, index, rep);
	if (rc == 0)
		rep->ok = 1;
	rep->cpu_ns = cpu_self_ns() - cpu0;
	end_wait_stop(sync);
out:
	senders_close(&s);
}

struct receivers {
	chan_client	 *c;
	chan_rx		**rx;
	unsigned	  n;
	uint64_t	 *left;		/* per channel: messages to come */
};

/*
 * A receiver grants credit when the application first waits on it: a
 * try_recv on each, before the producers start, grants it to all.
 */
static int
receivers_prime(struct receivers *r, char *err, size_t errlen)
{
	chan_msg	*m;
	unsigned	 k;
	int		 rc;

	for (k = 0; k < r->n; k++) {
		if ((rc = chan_rx_try_recv(r->rx[k], &m)) == CHAN_EEMPTY)
			continue;
		if (rc == 0)
			chan_msg_free(m);
		snprintf(err, errlen, "channel %u before the start: %s", k,
		    rc == 0 ? "a message" : chan_strerror(rc));
		return (-1);
	}
	return (0);
}

static int
receivers_open(const struct bench_run *run, struct receivers *r, char *err,
    size_t errlen)
{
	chan_open_opts	opts = CHAN_OPEN_OPTS_INIT;
	unsigned	k;
	char		name[32];
	uint64_t	i;
	int		rc;

	r->n = run->channels > 1 ? run->channels : 1;
	r->rx = calloc(r->n, sizeof(*r->rx));
	r->left = calloc(r->n, sizeof(*r->left));
	if (r->rx == NULL || r->left == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	/* Message i of each producer goes to channel i mod n. */
	for (i = 0; i < r->n; i++)
		r->left[i] = run->count / r->n * run->producers;
	for (i = 0; i < run->count % r->n; i++)
		r->left[i] += run->producers;
	if ((rc = chan_connect(run->sock, &r->c)) != 0) {
		snprintf(err, errlen, "connect %s: %s", run->sock,
		    chan_strerror(rc));
		return (-1);
	}
	if (run->spin_us > 0 &&
	    (rc = chan_client_set_spin(r->c, run->spin_us)) != 0) {
		snprintf(err, errlen, "spin: %s", chan_strerror(rc));
		return (-1);
	}
	/*
	 * Many channels: each window holds all its channel will carry, so
	 * that once primed (below) deliveries stream without the consumer
	 * granting credit channel by channel as it goes round.
	 */
	bench_cap_opts(run, &opts);
	if (run->shm)
		opts.flags |= CHAN_SHM;
	opts.prefetch = run->prefetch;
	if (r->n > 1)
		opts.prefetch = r->left[0] < 65535 ? (unsigned)r->left[0] :
		    65535;
	for (k = 0; k < r->n; k++) {
		chan_name(run, name, sizeof(name), k);
		rc = chan_rx_open_ex(r->c, name, strlen(name), &opts,
		    &r->rx[k]);
		if (rc != 0) {
			snprintf(err, errlen, "open %s: %s: %s", name,
			    chan_strerror(rc), chan_client_errmsg(r->c));
			return (-1);
		}
	}
	return (r->n > 1 ? receivers_prime(r, err, errlen) : 0);
}

/* As senders_close; chan_disconnect sends what was acknowledged. */
static void
receivers_close(struct receivers *r)
{
	if (r->c != NULL)
		chan_disconnect(r->c);
	free(r->rx);
	free(r->left);
}

/* A receive from rx failed with rc: -1, with err saying so. */
static int
recv_failed(chan_rx *rx, int rc, const struct order_check *oc, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "receive after %llu messages: %s%s%s",
	    (unsigned long long)oc->seen, chan_strerror(rc),
	    rc == CHAN_EDISCONNECTED ? " (messages lost)" : "",
	    chan_rx_errmsg(rx));
	return (-1);
}

/* Checks and frees one message received: 0 or -1 with err set. */
static int
msg_check(const struct bench_run *run, chan_msg *m, struct order_check *oc,
    char *err, size_t errlen)
{
	int	rc;

	rc = order_check(oc, chan_msg_data(m), chan_msg_len(m), run->size,
	    run->mode == MODE_LATENCY ? now_ns() : 0);
	chan_msg_free(m);
	if (rc != 0)
		snprintf(err, errlen, "%s", oc->err);
	return (rc);
}

/* Receives and checks one message from rx: 0 or -1 with err set. */
static int
recv_one(const struct bench_run *run, chan_rx *rx, struct order_check *oc,
    char *err, size_t errlen)
{
	chan_msg	*m;
	int		 rc;

	rc = chan_rx_recv_timeout(rx, BENCH_STALL_MS, &m);
	if (rc != 0)
		return (recv_failed(rx, rc, oc, err, errlen));
	return (msg_check(run, m, oc, err, errlen));
}

/* Every channel reported its disconnection before all arrived. */
static int
recv_lost(const struct order_check *oc, uint64_t total, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "every channel disconnected after %llu of %llu "
	    "messages (messages lost)", (unsigned long long)oc->seen,
	    (unsigned long long)total);
	return (-1);
}

/*
 * --recv set: from whichever channel has something, through a receiver
 * set. A channel reports its disconnection after its last message, and
 * leaves the set then. 0 or -1 with err set.
 */
static int
recv_from_set(const struct bench_run *run, const struct receivers *r,
    struct order_check *oc, uint64_t total, char *err, size_t errlen)
{
	chan_rxset	*set;
	chan_rx		*from;
	chan_msg	*m;
	unsigned	 k;
	int		 rc;

	if ((rc = chan_rxset_new(r->c, &set)) != 0) {
		snprintf(err, errlen, "receiver set: %s", chan_strerror(rc));
		return (-1);
	}
	for (k = 0; k < r->n && rc == 0; k++)
		rc = chan_rxset_add(set, r->rx[k]);
	if (rc != 0)
		snprintf(err, errlen, "receiver set: %s", chan_strerror(rc));
	while (rc == 0 && oc->seen < total) {
		if (chan_rxset_len(set) == 0) {
			rc = recv_lost(oc, total, err, errlen);
			break;
		}
		rc = chan_rxset_recv(set, BENCH_STALL_MS, &from, &m);
		if (rc == CHAN_EDISCONNECTED)
			rc = chan_rxset_remove(set, from);
		else if (rc != 0)
			rc = recv_failed(from != NULL ? from : r->rx[0], rc, oc,
			    err, errlen);
		else
			rc = msg_check(run, m, oc, err, errlen);
	}
	chan_rxset_free(set);
	return (rc == 0 ? 0 : -1);
}

/* --recv select: chan_select over the channels not yet disconnected. */
static int
recv_by_select(const struct bench_run *run, const struct receivers *r,
    struct order_check *oc, uint64_t total, char *err, size_t errlen)
{
	chan_rx		**live;
	chan_msg	*m;
	size_t		 n = r->n, i;
	int		 rc = 0;

	if ((live = calloc(n, sizeof(*live))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	memcpy(live, r->rx, n * sizeof(*live));
	while (rc == 0 && oc->seen < total) {
		if (n == 0) {
			rc = recv_lost(oc, total, err, errlen);
			break;
		}
		rc = chan_select(live, n, BENCH_STALL_MS, &i, &m);
		if (rc == CHAN_EDISCONNECTED) {
			live[i] = live[--n];
			rc = 0;
		} else if (rc != 0)
			rc = recv_failed(live[i], rc, oc, err, errlen);
		else
			rc = msg_check(run, m, oc, err, errlen);
	}
	free(live);
	return (rc);
}

/*
 * --batch: receives and checks up to run->batch messages in one call
 * (chan_rx_recv_many): 0 or -1 with err set.
 */
static int
recv_many(const struct bench_run *run, chan_rx *rx, chan_view *v,
    uint64_t want, struct order_check *oc, char *err, size_t errlen)
{
	size_t	 n, i;
	int	 rc;

	rc = chan_rx_recv_many(rx, BENCH_STALL_MS, v, want < run->batch ?
	    (size_t)want : run->batch, &n);
	if (rc != 0)
		return (recv_failed(rx, rc, oc, err, errlen));
	for (i = 0; i < n; i++) {
		if (order_check(oc, v[i].data, v[i].len, run->size, 0) != 0) {
			snprintf(err, errlen, "%s", oc->err);
			return (-1);
		}
	}
	return (0);
}

/* Once all arrived: nothing more may come, only the disconnection. */
static int
recv_nothing_more(struct receivers *r, char *err, size_t errlen)
{
	chan_msg	*m;
	unsigned	 k;
	int		 rc;

	for (k = 0; k < r->n; k++) {
		rc = chan_rx_recv_timeout(r->rx[k], BENCH_STALL_MS, &m);
		if (rc == CHAN_EDISCONNECTED)
			continue;
		if (rc == 0)
			chan_msg_free(m);
		snprintf(err, errlen, "channel %u: expected the disconnection "
		    "after the last message, got %s", k, rc == 0 ?
		    "one more message" : chan_strerror(rc));
		return (-1);
	}
	return (0);
}

void
chand_consumer(const struct bench_run *run, const struct end_sync *sync,
    struct bench_report *rep)
{
	struct receivers	r = { 0 };
	struct order_check	oc;
	chan_view		*v = NULL;
	uint64_t		total = run->count * run->producers;
	unsigned		k, senders;
	int64_t			cpu0;
	bool			failed = false;

	rep->consumer = 1;
	senders = run->producers * senders_per_producer(run);
	if (order_init(&oc, senders, run->mode == MODE_LATENCY ? total : 0,
	    total / 100) != 0) {
		snprintf(rep->err, sizeof(rep->err), "out of memory");
		return;
	}
	if (receivers_open(run, &r, rep->err, sizeof(rep->err)) != 0)
		goto out;
	if (end_ready_and_wait(sync) != 0) {
		snprintf(rep->err, sizeof(rep->err), "never told to start");
		goto out;
	}
	cpu0 = cpu_self_ns();
	if (run->batch > 0 && r.n == 1 && run->mode == MODE_THROUGHPUT) {
		if ((v = calloc(run->batch, sizeof(*v))) == NULL) {
			snprintf(rep->err, sizeof(rep->err), "out of memory");
			failed = true;
		}
		while (oc.seen < total && !failed)
			failed = recv_many(run, r.rx[0], v, total - oc.seen,
			    &oc, rep->err, sizeof(rep->err)) != 0;
	}
	if (run->recv == RECV_SET && !failed)
		failed = recv_from_set(run, &r, &oc, total, rep->err,
		    sizeof(rep->err)) != 0;
	else if (run->recv == RECV_SELECT && !failed)
		failed = recv_by_select(run, &r, &oc, total, rep->err,
		    sizeof(rep->err)) != 0;
	/* Round robin over the channels, as the producers send. */
	while (oc.seen < total && !failed) {
		for (k = 0; k < r.n && !failed; k++) {
			if (r.left[k] == 0)
				continue;
			r.left[k]--;
			failed = recv_one(run, r.rx[k], &oc, rep->err,
			    sizeof(rep->err)) != 0;
		}
	}
	rep->t_last = now_ns();
	rep->cpu_ns = cpu_self_ns() - cpu0;
	end_mark(sync);
	rep->msgs = oc.seen;
	order_latency(&oc, rep->lat_ns);
	if (!failed && recv_nothing_more(&r, rep->err, sizeof(rep->err)) == 0)
		rep->ok = 1;
out:
	free(v);
	receivers_close(&r);
	order_fini(&oc);
}

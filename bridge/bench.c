/* SPDX-License-Identifier: MIT */
/*
 * bench.c: chan-bridge-bench, one producer and one consumer through one
 * of three paths, printing throughput and one-way latency:
 *
 *   chand SOCK NAME            a local channel (producer and consumer on
 *                              one daemon)
 *   bridge SOCKA SOCKB NAME    into the channel on daemon A, out of the
 *                              channel on daemon B, chan-bridge between
 *   jetstream URL STREAM       a plain NATS C client: publish to and
 *                              consume from (on a second connection) a
 *                              stream set up as chan-bridge sets up its
 *                              streams
 *
 * usage: chan-bridge-bench [-n N] [-s SIZE] [-r RATE] [-l N] PATH ARGS...
 * Every message carries its sequence number and send time; the consumer
 * checks that each arrives once and in order (exit 1 otherwise).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "chanclient.h"

struct chand_ends;

struct bench {
	const char	*mode;
	const char	*sock_a, *sock_b, *name, *url, *stream;
	char		 subject[300];
	uint64_t	 n;		/* messages */
	size_t		 size;
	uint64_t	 rate;		/* paced latency run: messages/s */
	uint64_t	 nlat;		/* messages of the latency run */
	/* run state */
	uint64_t	 count;		/* messages of this run */
	int		 paced;
	uint64_t	 t_first, t_last;
	uint64_t	*lat;		/* ns, per message of a paced run */
	int		 failed;
	natsConnection	*nc, *nc2;	/* producer's, consumer's */
	jsCtx		*js, *js2;
	natsSubscription *sub;
	struct chand_ends *e;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
sleep_until(uint64_t t)
{
	struct timespec ts;
	uint64_t now = now_ns();

	if (t <= now)
		return;
	ts.tv_sec = (time_t)((t - now) / 1000000000u);
	ts.tv_nsec = (long)((t - now) % 1000000000u);
	nanosleep(&ts, NULL);
}

static void
fill(struct bench *b, char *buf, uint64_t seq)
{
	uint64_t t = now_ns();

	memcpy(buf, &seq, 8);
	memcpy(buf + 8, &t, 8);
}

/* The consumer's check of one message. */
static void
got(struct bench *b, const void *data, size_t len, uint64_t *expect)
{
	uint64_t seq, t, now = now_ns();

	if (len != b->size) {
		fprintf(stderr, "bench: message of %zu bytes, not %zu\n", len,
		    b->size);
		b->failed = 1;
		return;
	}
	memcpy(&seq, data, 8);
	memcpy(&t, (const char *)data + 8, 8);
	if (seq != *expect) {
		fprintf(stderr, "bench: message %" PRIu64 " where %" PRIu64
		    " was due\n", seq, *expect);
		b->failed = 1;
	}
	(*expect)++;
	if (b->paced && seq < b->count)
		b->lat[seq] = now - t;
	b->t_last = now;
}

/* --- chand ends ----------------------------------------------------------- */

struct chand_ends {
	chan_client	*ca, *cb;
	chan_tx		*tx;
	chan_rx		*rx;
};

static int
chand_open(struct bench *b, struct chand_ends *e)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	int rc;

	if ((rc = chan_connect(b->sock_a, &e->ca)) != 0 ||
	    (rc = chan_connect(b->sock_b, &e->cb)) != 0) {
		fprintf(stderr, "bench: connect: %s\n", chan_strerror(rc));
		return -1;
	}
	o.prefetch = 256;
	if ((rc = chan_rx_open_ex(e->cb, b->name, strlen(b->name), &o,
	    &e->rx)) != 0 ||
	    (rc = chan_tx_open(e->ca, b->name, &e->tx)) != 0) {
		fprintf(stderr, "bench: open '%s': %s\n", b->name,
		    chan_strerror(rc));
		return -1;
	}
	return 0;
}

static void *
chand_consume(void *arg)
{
	struct bench *b = arg;
	struct chand_ends *e = b->e;
	uint64_t expect = 0, i;
	chan_msg *m;
	int rc;

	for (i = 0; i < b->count; i++) {
		if ((rc = chan_rx_recv(e->rx, &m)) != 0) {
			fprintf(stderr, "bench: recv: %s\n", chan_strerror(rc));
			b->failed = 1;
			break;
		}
		got(b, chan_msg_data(m), chan_msg_len(m), &expect);
		chan_msg_free(m);
	}
	return NULL;
}

static int
chand_produce(struct bench *b, char *buf)
{
	struct chand_ends *e = b->e;
	uint64_t i, t0 = now_ns();
	int rc;

	for (i = 0; i < b->count; i++) {
		if (b->paced)
			sleep_until(t0 + i * (1000000000u / b->rate));
		fill(b, buf, i);
		if ((rc = chan_tx_send_async(e->tx, buf, b->size)) != 0)
			break;
		if (b->paced && (rc = chan_tx_flush(e->tx)) != 0)
			break;
	}
	if (rc == 0)
		rc = chan_tx_flush(e->tx);
	if (rc != 0)
		fprintf(stderr, "bench: send: %s\n", chan_strerror(rc));
	return rc;
}

/* --- plain JetStream ------------------------------------------------------ */

static int
js_open(struct bench *b)
{
	jsOptions jo;
	jsStreamConfig sc;
	jsSubOptions so;
	jsStreamInfo *si = NULL;
	const char *subjects[1];
	natsStatus s;

	snprintf(b->subject, sizeof(b->subject), "bench.%s", b->stream);
	if ((s = natsConnection_ConnectTo(&b->nc, b->url)) != NATS_OK)
		goto fail;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = 4096;
	jo.PublishAsync.StallWait = 30000;
	if ((s = natsConnection_JetStream(&b->js, b->nc, &jo)) != NATS_OK)
		goto fail;
	/* The consumer on a connection of its own, as across a bridge. */
	if ((s = natsConnection_ConnectTo(&b->nc2, b->url)) != NATS_OK ||
	    (s = natsConnection_JetStream(&b->js2, b->nc2, NULL)) != NATS_OK)
		goto fail;
	js_DeleteStream(b->js, b->stream, NULL, NULL);
	jsStreamConfig_Init(&sc);
	subjects[0] = b->subject;
	sc.Name = b->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Retention = js_WorkQueuePolicy;
	sc.MaxMsgs = 65536;
	sc.Discard = js_DiscardNew;
	sc.Storage = js_FileStorage;
	sc.Duplicates = (int64_t)120 * 1000000000;
	if ((s = js_AddStream(&si, b->js, &sc, NULL, NULL)) != NATS_OK)
		goto fail;
	jsStreamInfo_Destroy(si);
	jsSubOptions_Init(&so);
	so.Stream = b->stream;
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.MaxAckPending = 2048;
	if ((s = js_PullSubscribe(&b->sub, b->js2, b->subject, "bench", NULL,
	    &so, NULL)) != NATS_OK)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "bench: JetStream: %s: %s\n", natsStatus_GetText(s),
	    nats_GetLastError(NULL));
	return -1;
}

static void *
js_consume(void *arg)
{
	struct bench *b = arg;
	natsMsgList list;
	uint64_t expect = 0;
	natsStatus s;
	int i;

	while (expect < b->count && !b->failed) {
		s = natsSubscription_Fetch(&list, b->sub, 256, 1000, NULL);
		if (s == NATS_TIMEOUT)
			continue;
		if (s != NATS_OK) {
			fprintf(stderr, "bench: fetch: %s\n",
			    natsStatus_GetText(s));
			b->failed = 1;
			break;
		}
		for (i = 0; i < list.Count; i++) {
			got(b, natsMsg_GetData(list.Msgs[i]),
			    (size_t)natsMsg_GetDataLength(list.Msgs[i]),
			    &expect);
			natsMsg_Ack(list.Msgs[i], NULL);
		}
		natsMsgList_Destroy(&list);
	}
	return NULL;
}

static int
js_produce(struct bench *b, char *buf)
{
	jsPubOptions po;
	natsStatus s = NATS_OK;
	char id[64];
	uint64_t i, t0 = now_ns();
	static uint64_t run;

	run++;
	for (i = 0; i < b->count; i++) {
		if (b->paced)
			sleep_until(t0 + i * (1000000000u / b->rate));
		fill(b, buf, i);
		jsPubOptions_Init(&po);
		snprintf(id, sizeof(id), "bench-%" PRIu64 "-%" PRIu64, run, i);
		po.MsgId = id;
		if (b->paced) {
			/* As a confirmed send: wait for the ack. */
			s = js_Publish(NULL, b->js, b->subject, buf,
			    (int)b->size, &po, NULL);
		} else
			s = js_PublishAsync(b->js, b->subject, buf,
			    (int)b->size, &po);
		if (s != NATS_OK)
			break;
	}
	if (s == NATS_OK)
		s = js_PublishAsyncComplete(b->js, NULL);
	if (s != NATS_OK)
		fprintf(stderr, "bench: publish: %s\n", natsStatus_GetText(s));
	return s == NATS_OK ? 0 : -1;
}

/* --- runs ------------------------------------------------------------------ */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
run(struct bench *b, int paced)
{
	pthread_t th;
	char *buf;
	int rc, is_js = strcmp(b->mode, "jetstream") == 0;

	b->paced = paced;
	b->count = paced ? b->nlat : b->n;
	b->t_last = 0;
	if ((buf = calloc(1, b->size)) == NULL)
		return -1;
	pthread_create(&th, NULL, is_js ? js_consume : chand_consume, b);
	b->t_first = now_ns();
	rc = is_js ? js_produce(b, buf) : chand_produce(b, buf);
	if (rc != 0)
		b->failed = 1;
	pthread_join(th, NULL);
	free(buf);
	return b->failed ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct {
		struct bench b;
		struct chand_ends e;
	} all;
	struct bench *b = &all.b;
	double secs;
	uint64_t saved;
	int ch;

	memset(&all, 0, sizeof(all));
	b->e = &all.e;
	b->n = 100000;
	b->size = 1024;
	b->rate = 1000;
	b->nlat = 2000;
	while ((ch = getopt(argc, argv, "n:s:r:l:")) != -1) {
		switch (ch) {
		case 'n': b->n = strtoull(optarg, NULL, 10); break;
		case 's': b->size = strtoull(optarg, NULL, 10); break;
		case 'r': b->rate = strtoull(optarg, NULL, 10); break;
		case 'l': b->nlat = strtoull(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if (b->size < 16 || b->rate == 0 || b->n == 0 || argc < 1)
		goto usage;
	b->mode = argv[0];
	if (strcmp(b->mode, "chand") == 0 && argc == 3) {
		b->sock_a = b->sock_b = argv[1];
		b->name = argv[2];
	} else if (strcmp(b->mode, "bridge") == 0 && argc == 4) {
		b->sock_a = argv[1];
		b->sock_b = argv[2];
		b->name = argv[3];
	} else if (strcmp(b->mode, "jetstream") == 0 && argc == 3) {
		b->url = argv[1];
		b->stream = argv[2];
	} else
		goto usage;
	if ((b->lat = calloc(b->nlat, sizeof(*b->lat))) == NULL)
		return 1;
	if (strcmp(b->mode, "jetstream") == 0 ? js_open(b) != 0 :
	    chand_open(b, &all.e) != 0)
		return 1;
	/* A first round, not measured: connections and streams warm. */
	saved = b->n;
	b->n = b->n < 1000 ? b->n : 1000;
	if (run(b, 0) != 0)
		return 1;
	b->n = saved;
	if (run(b, 0) != 0)
		return 1;
	secs = (double)(b->t_last - b->t_first) / 1e9;
	if (b->nlat > 0 && run(b, 1) != 0)
		return 1;
	qsort(b->lat, b->nlat, sizeof(*b->lat), cmp_u64);
	/* mode msgs/s MB/s p50_us p99_us */
	printf("%s %.0f %.1f", b->mode, (double)b->n / secs,
	    (double)b->n * (double)b->size / secs / 1e6);
	if (b->nlat > 0)
		printf(" %.0f %.0f", b->lat[b->nlat / 2] / 1e3,
		    b->lat[b->nlat * 99 / 100] / 1e3);
	printf("\n");
	if (all.e.tx != NULL)
		chan_tx_close(all.e.tx);
	if (all.e.rx != NULL)
		chan_rx_close(all.e.rx);
	chan_disconnect(all.e.ca);
	if (all.e.cb != all.e.ca)
		chan_disconnect(all.e.cb);
	if (b->sub != NULL)
		natsSubscription_Destroy(b->sub);
	if (b->js != NULL)
		jsCtx_Destroy(b->js);
	if (b->js2 != NULL)
		jsCtx_Destroy(b->js2);
	natsConnection_Destroy(b->nc);
	natsConnection_Destroy(b->nc2);
	free(b->lat);
	return 0;
usage:
	fprintf(stderr, "usage: chan-bridge-bench [-n N] [-s SIZE] [-r RATE] "
	    "[-l N]\n"
	    "       chand SOCK NAME | bridge SOCKA SOCKB NAME | "
	    "jetstream URL STREAM\n");
	return 2;
}

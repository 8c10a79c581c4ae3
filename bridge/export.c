/* SPDX-License-Identifier: MIT */
/*
 * export.c: a local channel carried out to JetStream.
 *
 * The thread is the local channel's consumer (manual acknowledgement). It
 * takes a batch of messages, publishes each to the channel's stream with a
 * message id (the producer generation and a sequence number), waits for
 * every publish acknowledgement and only then acknowledges the batch to
 * chand. While the stream is full it keeps retrying and receives nothing
 * more, so the local channel fills and its producers wait.
 *
 * A generation starts with the first message after the bridge started or
 * after the channel was disconnected, and ends when chand reports the
 * channel disconnected (every local producer gone, everything taken):
 * a lease key in the KV bucket says it is alive, a "begin" message opens
 * it in the stream and an "end" message closes it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

struct export {
	struct map	*m;
	struct bridge	*b;
	chan_client	*c;
	chan_rx		*rx;
	jsCtx		*js;
	char		 id[160];	/* generation id */
	uint64_t	 genno;
	bool		 gen_open;
	uint64_t	 seq;		/* last sequence number published */
	uint64_t	 lease_at;	/* when the lease was last written */
	chan_msg	**batch;
	/* Publish acknowledgements of the batch in flight, by index. */
	pthread_mutex_t	 mu;
	signed char	*result;	/* 0 waiting, 1 stored, -1 failed */
	bool		 async;		/* js has published asynchronously */
	size_t		 nbatch;
	uint64_t	 base;		/* sequence number of batch[0] */
	uint64_t	 published;
	uint64_t	 redelivered;
};

static uint64_t
msg_seq(natsMsg *msg)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(msg, HDR_SEQ, &v) != NATS_OK || v == NULL)
		return UINT64_MAX;
	return strtoull(v, NULL, 10);
}

static void
on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
    void *arg)
{
	struct export *e = arg;
	uint64_t seq = msg_seq(msg);

	pthread_mutex_lock(&e->mu);
	if (seq >= e->base && seq - e->base < e->nbatch)
		e->result[seq - e->base] = pae == NULL ? 1 : -1;
	pthread_mutex_unlock(&e->mu);
	natsMsg_Destroy(msg);
}

static natsStatus
build_msg(struct export *e, natsMsg **out, uint64_t seq, const char *event,
    const void *data, size_t len, int redelivered)
{
	char num[32];
	natsStatus s;

	snprintf(num, sizeof(num), "%" PRIu64, seq);
	if ((s = natsMsg_Create(out, e->m->subject, NULL, data,
	    (int)len)) != NATS_OK)
		return s;
	if ((s = natsMsgHeader_Set(*out, HDR_PRODUCER, e->id)) == NATS_OK &&
	    (s = natsMsgHeader_Set(*out, HDR_SEQ, num)) == NATS_OK &&
	    event != NULL)
		s = natsMsgHeader_Set(*out, HDR_EVENT, event);
	if (s == NATS_OK && redelivered)
		s = natsMsgHeader_Set(*out, HDR_REDELIVERED, "1");
	if (s != NATS_OK) {
		natsMsg_Destroy(*out);
		*out = NULL;
	}
	return s;
}

static void
msg_id(struct export *e, char *buf, size_t len, uint64_t seq)
{
	snprintf(buf, len, "%s-%" PRIu64, e->id, seq);
}

/* Writes the generation's lease and has the main thread renew it. */
static void
lease_begin(struct export *e)
{
	struct bridge *b = e->b;
	char key[512], val[512];
	natsStatus s;

	lease_key(key, sizeof(key), e->m, e->id);
	snprintf(val, sizeof(val), "host=%s pid=%ld channel=%s",
	    b->cfg.host, (long)getpid(), e->m->channel);
	if ((s = kvStore_PutString(NULL, b->kv, key, val)) != NATS_OK)
		bdebug(b, "'%s': lease %s: %s", e->m->channel, key,
		    js_err(s, 0));
	hb_set(e->m, key, val, false, 0);
}

/*
 * Publishes one message and waits for its acknowledgement, retrying (with
 * the same message id, so that JetStream stores it once) until it is
 * stored or the bridge stops. Returns 0 or -1 (stopping).
 */
static int
publish_sync(struct export *e, uint64_t seq, const char *event,
    const void *data, size_t len, int redelivered)
{
	struct bridge *b = e->b;
	jsPubOptions po;
	jsErrCode jerr;
	natsMsg *msg = NULL;
	natsStatus s;
	char id[200];
	uint64_t wait = 10, logged = 0;

	msg_id(e, id, sizeof(id), seq);
	for (;;) {
		if (b->stop)
			return -1;
		if ((s = build_msg(e, &msg, seq, event, data, len,
		    redelivered)) != NATS_OK) {
			blog("'%s': message: %s", e->m->channel,
			    natsStatus_GetText(s));
			return -1;
		}
		jsPubOptions_Init(&po);
		po.MsgId = id;
		po.MaxWait = 5000;
		jerr = 0;
		s = js_PublishMsg(NULL, e->js, msg, &po, &jerr);
		natsMsg_Destroy(msg);
		msg = NULL;
		if (s == NATS_OK)
			return 0;
		if (now_ms() - logged > 5000) {
			bdebug(b, "'%s': publish: %s; retrying", e->m->channel,
			    js_err(s, jerr));
			logged = now_ms();
		}
		ms_sleep(wait);
		if (wait < 500)
			wait *= 2;
	}
}

static int
gen_begin(struct export *e)
{
	struct bridge *b = e->b;
	char host[64];
	size_t i;

	snprintf(host, sizeof(host), "%s", b->cfg.host);
	for (i = 0; host[i] != '\0'; i++)
		if (!((host[i] >= 'a' && host[i] <= 'z') ||
		    (host[i] >= 'A' && host[i] <= 'Z') ||
		    (host[i] >= '0' && host[i] <= '9') || host[i] == '-'))
			host[i] = '_';
	e->genno++;
	/* Unique across restarts and reboots (a pid comes again). */
	snprintf(e->id, sizeof(e->id), "%s-%ld-%lld-%d-%" PRIu64, host,
	    (long)getpid(), (long long)b->started, (int)(e->m - b->cfg.maps),
	    e->genno);
	e->gen_open = true;
	e->seq = 0;
	lease_begin(e);
	bdebug(b, "'%s': producer %s begins", e->m->channel, e->id);
	return publish_sync(e, 0, "begin", NULL, 0, 0);
}

static int
gen_end(struct export *e)
{
	struct bridge *b = e->b;
	char key[512];

	if (publish_sync(e, ++e->seq, "end", NULL, 0, 0) != 0)
		return -1;
	hb_clear(e->m);
	lease_key(key, sizeof(key), e->m, e->id);
	kvStore_Delete(b->kv, key);
	e->gen_open = false;
	bdebug(b, "'%s': producer %s ends after %" PRIu64 " messages",
	    e->m->channel, e->id, e->seq - 1);
	return 0;
}

/*
 * Publishes batch[0 .. n) and returns once JetStream stored all of them
 * (0) or the bridge stops (-1). Pipelined; on a failure (a full stream,
 * a lost connection) every message from the first failed one is
 * published again in order, one at a time.
 */
static int
publish_batch(struct export *e, size_t n)
{
	struct bridge *b = e->b;
	jsPubOptions po;
	natsMsgList pending;
	natsMsg *msg;
	natsStatus s;
	char id[200];
	size_t i, first;

	pthread_mutex_lock(&e->mu);
	e->base = e->seq + 1;
	e->nbatch = n;
	memset(e->result, 0, n);
	pthread_mutex_unlock(&e->mu);
	e->async = true;
	for (i = 0; i < n; i++) {
		msg = NULL;
		s = build_msg(e, &msg, e->base + i, NULL,
		    chan_msg_data(e->batch[i]), chan_msg_len(e->batch[i]),
		    chan_msg_redelivered(e->batch[i]));
		if (s == NATS_OK) {
			jsPubOptions_Init(&po);
			msg_id(e, id, sizeof(id), e->base + i);
			po.MsgId = id;
			s = js_PublishMsgAsync(e->js, &msg, &po);
		}
		natsMsg_Destroy(msg);
		if (s != NATS_OK)
			break;
	}
	jsPubOptions_Init(&po);
	po.MaxWait = 10000;
	if (js_PublishAsyncComplete(e->js, &po) != NATS_OK &&
	    js_PublishAsyncGetPendingList(&pending, e->js) == NATS_OK)
		natsMsgList_Destroy(&pending);
	pthread_mutex_lock(&e->mu);
	for (first = 0; first < n && e->result[first] == 1; first++)
		;
	e->nbatch = 0;
	pthread_mutex_unlock(&e->mu);
	for (i = first; i < n; i++)
		if (publish_sync(e, e->base + i, NULL,
		    chan_msg_data(e->batch[i]), chan_msg_len(e->batch[i]),
		    chan_msg_redelivered(e->batch[i])) != 0)
			return -1;
	e->seq += n;
	e->published += n;
	if (first < n)
		bdebug(b, "'%s': %zu of %zu messages published again",
		    e->m->channel, n - first, n);
	return 0;
}

static void
free_batch(struct export *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		chan_msg_free(e->batch[i]);
}

static int
export_open(struct export *e)
{
	struct bridge *b = e->b;
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	jsOptions jo;
	natsStatus s;
	int rc;

	if ((rc = chan_connect(b->cfg.socket, &e->c)) != 0) {
		blog("'%s': %s: %s", e->m->channel, b->cfg.socket,
		    chan_strerror(rc));
		return rc == CHAN_ENODAEMON ? EXIT_NODAEMON : 1;
	}
	o.flags = CHAN_MANUAL_ACK;
	o.prefetch = (unsigned)b->cfg.batch;
	o.capacity = b->cfg.capacity;
	if ((rc = chan_rx_open_ex(e->c, e->m->channel,
	    strlen(e->m->channel), &o, &e->rx)) != 0) {
		blog("'%s': cannot be its consumer: %s", e->m->channel,
		    chan_client_errmsg(e->c)[0] != '\0' ?
		    chan_client_errmsg(e->c) : chan_strerror(rc));
		return rc == CHAN_EBUSY ? EXIT_BUSY : 1;
	}
	jsOptions_Init(&jo);
	jo.Wait = 5000;
	jo.PublishAsync.MaxPending = (int64_t)b->cfg.batch + 1;
	jo.PublishAsync.AckHandler = on_puback;
	jo.PublishAsync.AckHandlerClosure = e;
	if ((s = natsConnection_JetStream(&e->js, b->nc, &jo)) != NATS_OK) {
		blog("'%s': JetStream: %s", e->m->channel, js_err(s, 0));
		return 1;
	}
	if (js_stream(b, e->m) != 0)
		return 1;
	return 0;
}

static int
export_loop(struct export *e)
{
	struct bridge *b = e->b;
	chan_msg *m;
	size_t n;
	int rc, hb, last_disc = 0;

	/* Short waits, so that a stop is noticed at once. */
	hb = 250;
	while (!b->stop) {
		rc = chan_rx_recv_timeout(e->rx, hb, &m);
		if (rc == CHAN_ETIMEDOUT)
			continue;
		if (rc == CHAN_EDISCONNECTED) {
			if (e->gen_open) {
				if (gen_end(e) != 0)
					return 0;
			} else if (!last_disc) {
				/* Producers came and went without a word. */
				if (gen_begin(e) != 0 || gen_end(e) != 0)
					return 0;
			} else
				ms_sleep(100);
			last_disc = 1;
			continue;
		}
		if (rc != 0) {
			blog("'%s': receive: %s", e->m->channel,
			    chan_strerror(rc));
			return 1;
		}
		last_disc = 0;
		e->batch[0] = m;
		n = 1;
		if (b->cfg.batch > 1 && chan_rx_drain(e->rx, e->batch + 1,
		    b->cfg.batch - 1, &n) == 0)
			n++;
		else
			n = 1;
		if (!e->gen_open && gen_begin(e) != 0) {
			free_batch(e, n);
			return 0;
		}
		if (publish_batch(e, n) != 0) {
			free_batch(e, n);
			return 0;
		}
		for (size_t i = 0; i < n; i++)
			if (chan_msg_redelivered(e->batch[i]))
				e->redelivered++;
		chan_rx_ack(e->rx, e->batch[n - 1]);
		free_batch(e, n);
	}
	return 0;
}

/*
 * Ends e's JetStream context so that no acknowledgement handler runs on e
 * after it: the pending messages are taken out (a late acknowledgement
 * then finds none and calls no handler), then the handlers already past
 * that point are waited for (the context counts them until they return).
 * jsCtx_Destroy alone does neither: a handler running meanwhile would
 * write into e once it is freed. false if they did not return in time.
 * (That is how libnats 3.4 counts and calls its handlers. A context
 * that never published asynchronously has no pending list, and asking
 * for it there crashes: it is only destroyed.)
 */
static bool
export_js_end(struct export *e)
{
	natsMsgList pending;
	jsPubOptions po;
	bool done;

	if (e->js == NULL)
		return true;
	if (!e->async) {
		jsCtx_Destroy(e->js);
		e->js = NULL;
		return true;
	}
	if (js_PublishAsyncGetPendingList(&pending, e->js) == NATS_OK)
		natsMsgList_Destroy(&pending);
	jsPubOptions_Init(&po);
	po.MaxWait = 10000;
	done = js_PublishAsyncComplete(e->js, &po) == NATS_OK;
	jsCtx_Destroy(e->js);
	e->js = NULL;
	return done;
}

void *
export_main(void *arg)
{
	struct map *m = arg;
	struct export *e;
	int status = 1;

	/* On the heap: it must outlive a handler that never returns. */
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		blog("'%s': out of memory", m->channel);
		map_done(m, status);
		return NULL;
	}
	e->m = m;
	e->b = m->b;
	pthread_mutex_init(&e->mu, NULL);
	e->batch = calloc(m->b->cfg.batch, sizeof(*e->batch));
	e->result = calloc(m->b->cfg.batch, 1);
	if (e->batch == NULL || e->result == NULL) {
		blog("'%s': out of memory", m->channel);
	} else if ((status = export_open(e)) == 0) {
		blog("exporting channel '%s' to stream %s", m->channel,
		    m->stream);
		map_ready(m);
		status = export_loop(e);
		blog("'%s': %" PRIu64 " messages published (%" PRIu64
		    " marked redelivered)", m->channel, e->published,
		    e->redelivered);
	}
	if (e->rx != NULL)
		chan_rx_close(e->rx);
	chan_disconnect(e->c);
	if (export_js_end(e)) {
		free(e->batch);
		free(e->result);
		pthread_mutex_destroy(&e->mu);
		free(e);
	} else
		blog("'%s': JetStream acknowledgements still being handled; "
		    "their state is left allocated", m->channel);
	map_done(m, status);
	return NULL;
}

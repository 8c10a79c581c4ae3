/* SPDX-License-Identifier: MIT */
/*
 * import.c: a stream carried into a local channel.
 *
 * The thread holds the stream's consumer lock (a create-only KV key with
 * its host and pid, refreshed like a lease), so a second importer is
 * refused. It is the stream's only JetStream consumer and, for each live
 * remote producer generation, holds one producer handle on the local
 * channel: the local channel is disconnected exactly when every remote
 * producer has ended in stream order and its messages were consumed,
 * which chand itself then reports to the local consumer.
 *
 * A fetched batch is sent into the local channel pipelined; JetStream is
 * acknowledged only once chand confirmed every send of the batch. Per
 * producer, messages carry a sequence number: one below the next
 * expected is a duplicate (dropped), one above is held back until the
 * ones before it arrive (a publish retried after a failure may land
 * after later ones).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

#define DURABLE		"chan-bridge"

struct producer {
	struct producer	*next;
	char		 id[160];
	chan_tx		*tx;
	uint64_t	 expect;	/* next sequence number */
	bool		 known;		/* expect is known */
	bool		 dirty;		/* sends to flush */
	uint64_t	 saved;		/* expect as last written to kvpos */
	natsMsg		**held;
	size_t		 nheld, capheld;
};

struct import {
	struct map	*m;
	struct bridge	*b;
	chan_client	*c;
	natsSubscription *sub;
	struct producer	*producers;
	pthread_mutex_t	 mu;	/* acks, held: the keeper reads them */
	natsMsg		**acks;
	size_t		 nacks, capacks;
	pthread_t	 keeper;
	bool		 keeper_on;
	volatile bool	 keeper_stop;
	char		 lockval[256];
	uint64_t	 lock_rev;
	uint64_t	 leases_at;
	uint64_t	 imported, duplicates, redelivered;
	bool		 nomark;	/* chand lacks SEND_MARKED */
	/*
	 * The last stream sequence number the previous importer was
	 * given: what it may have sent to chand already, unless its
	 * position says so (0: none, or past it).
	 */
	uint64_t	 marked_upto;
};

static const char *
hdr(natsMsg *msg, const char *key)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(msg, key, &v) != NATS_OK)
		return NULL;
	return v;
}

static int
push(natsMsg ***arr, size_t *n, size_t *cap, natsMsg *msg)
{
	natsMsg **p;
	size_t ncap;

	if (*n == *cap) {
		ncap = *cap == 0 ? 64 : *cap * 2;
		if ((p = realloc(*arr, ncap * sizeof(*p))) == NULL)
			return -1;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = msg;
	return 0;
}

/* Acknowledged to JetStream once the batch is confirmed by chand. */
static void
ack_later(struct import *im, natsMsg *msg)
{
	int rc;

	pthread_mutex_lock(&im->mu);
	rc = push(&im->acks, &im->nacks, &im->capacks, msg);
	pthread_mutex_unlock(&im->mu);
	if (rc != 0) {
		/* Unacknowledged, so JetStream delivers it again. */
		natsMsg_Destroy(msg);
	}
}

/*
 * The keeper tells JetStream that the messages of the batch in progress
 * and the held ones are being worked on, so that a local channel that is
 * full for longer than the ack wait does not make them come again.
 */
static void *
keeper_main(void *arg)
{
	struct import *im = arg;
	struct producer *p;
	uint64_t period = im->b->cfg.ack_wait_ms / 3, last = now_ms();
	size_t i;

	while (!im->keeper_stop) {
		ms_sleep(50);
		if (now_ms() - last < period)
			continue;
		last = now_ms();
		pthread_mutex_lock(&im->mu);
		for (i = 0; i < im->nacks; i++)
			natsMsg_InProgress(im->acks[i], NULL);
		for (p = im->producers; p != NULL; p = p->next)
			for (i = 0; i < p->nheld; i++)
				natsMsg_InProgress(p->held[i], NULL);
		pthread_mutex_unlock(&im->mu);
	}
	return NULL;
}

static struct producer *
producer_find(struct import *im, const char *id)
{
	struct producer *p;

	for (p = im->producers; p != NULL; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

/*
 * Where an earlier importer left producer id: 0 and *expect, 1 if it
 * ended (its messages are duplicates), -1 if there is no trace of it.
 */
static int
pos_lookup(struct import *im, const char *id, uint64_t *expect)
{
	kvEntry *ent = NULL;
	const char *v;
	char key[512];
	int rc = -1;

	pos_key(key, sizeof(key), im->m, id);
	if (kvStore_Get(&ent, im->b->kvpos, key) != NATS_OK)
		return -1;
	v = kvEntry_ValueString(ent);
	if (strcmp(v, "end") == 0)
		rc = 1;
	else if ((*expect = strtoull(v, NULL, 10)) > 0)
		rc = 0;
	kvEntry_Destroy(ent);
	return rc;
}

static struct producer *
producer_add(struct import *im, const char *id)
{
	struct bridge *b = im->b;
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	struct producer *p;
	int rc;

	uint64_t expect;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	snprintf(p->id, sizeof(p->id), "%s", id);
	if (pos_lookup(im, id, &expect) == 0) {
		p->expect = p->saved = expect;
		p->known = true;
		bdebug(b, "'%s': producer %s resumes at #%" PRIu64,
		    im->m->channel, id, p->expect);
	}
	o.capacity = b->cfg.capacity;
	if ((rc = chan_tx_open_ex(im->c, im->m->channel,
	    strlen(im->m->channel), &o, &p->tx)) != 0) {
		blog("'%s': cannot open a producer: %s", im->m->channel,
		    chan_client_errmsg(im->c)[0] != '\0' ?
		    chan_client_errmsg(im->c) : chan_strerror(rc));
		free(p);
		return NULL;
	}
	pthread_mutex_lock(&im->mu);
	p->next = im->producers;
	im->producers = p;
	pthread_mutex_unlock(&im->mu);
	bdebug(b, "'%s': remote producer %s is live", im->m->channel, id);
	return p;
}

/* A send to chand failed: says why, with the connection's reason. */
static void
send_failed(struct import *im, int rc)
{
	const char *why = chan_client_errmsg(im->c);

	blog("'%s': send: %s%s%s", im->m->channel, chan_strerror(rc),
	    why[0] != '\0' ? ": " : "", why);
}

/*
 * The producer's generation ended (expired: its lease did): its local
 * producer handle goes.
 */
static int
producer_end(struct import *im, struct producer *p, bool expired)
{
	struct producer **pp;
	char key[512], val[32];
	size_t i;
	int rc;

	rc = chan_tx_close(p->tx);
	pos_key(key, sizeof(key), im->m, p->id);
	if (rc == 0 && !expired) {
		/* What comes of it again (an ack lost) is a duplicate. */
		kvStore_PutString(NULL, im->b->kvpos, key, "end");
	} else if (rc == 0 && p->known) {
		/*
		 * A lease also expires while its bridge lives but cannot
		 * renew it (stopped, or cut off from NATS for longer): the
		 * generation's later messages are new, and open it again
		 * where it stopped; only the earlier ones are duplicates.
		 */
		snprintf(val, sizeof(val), "%" PRIu64, p->expect);
		kvStore_PutString(NULL, im->b->kvpos, key, val);
	}
	pthread_mutex_lock(&im->mu);
	for (pp = &im->producers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&im->mu);
	for (i = 0; i < p->nheld; i++)
		natsMsg_Destroy(p->held[i]);
	free(p->held);
	bdebug(im->b, "'%s': remote producer %s has gone", im->m->channel,
	    p->id);
	free(p);
	if (rc != 0) {
		send_failed(im, rc);
		return -1;
	}
	return 0;
}

static int	deliver(struct import *, struct producer *, natsMsg *);

/* Holds msg (sequence seq) until the producer's earlier ones come. */
static int
hold(struct import *im, struct producer *p, natsMsg *msg)
{
	int rc;

	pthread_mutex_lock(&im->mu);
	rc = push(&p->held, &p->nheld, &p->capheld, msg);
	pthread_mutex_unlock(&im->mu);
	if (rc != 0)
		natsMsg_Destroy(msg);
	return 0;
}

static uint64_t
seq_of(natsMsg *msg, bool *has)
{
	const char *v = hdr(msg, HDR_SEQ);

	*has = v != NULL;
	return v != NULL ? strtoull(v, NULL, 10) : 0;
}

/* Delivers the held messages that are next in sequence. */
static int
release_held(struct import *im, struct producer *p)
{
	natsMsg *msg;
	size_t i;
	bool has;
	int rc;

	for (;;) {
		msg = NULL;
		pthread_mutex_lock(&im->mu);
		for (i = 0; i < p->nheld; i++)
			if (seq_of(p->held[i], &has) == p->expect) {
				msg = p->held[i];
				p->held[i] = p->held[--p->nheld];
				break;
			}
		pthread_mutex_unlock(&im->mu);
		if (msg == NULL)
			return 0;
		if ((rc = deliver(im, p, msg)) != 0)
			return rc < 0 ? -1 : 0;	/* 1: it ended */
	}
}

/*
 * Whether the previous importer of the stream was given msg: it may have
 * sent it to chand before it died, after its last position was written.
 * The new consumer gives the stream in order, so once a message past the
 * previous one's last is sent and none is held back (out of order), no
 * later one was given before, and the question is no longer asked.
 */
static bool
given_before(struct import *im, natsMsg *msg)
{
	jsMsgMetaData *meta = NULL;
	struct producer *p;
	bool before = false, held = false;

	if (im->marked_upto == 0 ||
	    natsMsg_GetMetaData(&meta, msg) != NATS_OK)
		return false;
	if (meta->Sequence.Stream <= im->marked_upto)
		before = true;
	else {
		for (p = im->producers; p != NULL; p = p->next)
			if (p->nheld > 0)
				held = true;
		if (!held)
			im->marked_upto = 0;
	}
	jsMsgMetaData_Destroy(meta);
	return before;
}

/*
 * A message chand A delivered to the exporting bridge as redelivered,
 * or one the previous importer was given (a copy of it may have gone
 * through already): sent marked, so that the final consumer sees the
 * mark too. The send waits for chand's confirmation, behind the
 * pipelined ones; such messages are few (at most a batch after an
 * exporting bridge's crash, what an importer had in flight after its
 * own). A daemon that cannot mark a message gets it unmarked, as before.
 */
static int
send_marked(struct import *im, struct producer *p, natsMsg *msg)
{
	const void *data = natsMsg_GetData(msg);
	size_t len = (size_t)natsMsg_GetDataLength(msg);
	int rc;

	if (!im->nomark) {
		rc = chan_tx_send_redelivered(p->tx, data, len);
		if (rc != CHAN_EOPTION)
			return rc;
		blog("'%s': chand cannot mark messages redelivered (no "
		    "SEND_MARKED): duplicates reach the consumer unmarked",
		    im->m->channel);
		im->nomark = true;
	}
	return chan_tx_send_async(p->tx, data, len);
}

/*
 * msg is the next of p in sequence: send it (0), or end p (1: p is
 * freed). -1: the local channel failed.
 */
static int
deliver(struct import *im, struct producer *p, natsMsg *msg)
{
	const char *ev = hdr(msg, HDR_EVENT);
	int rc;

	p->expect++;
	if (ev != NULL && strcmp(ev, "end") == 0) {
		ack_later(im, msg);
		return producer_end(im, p, false) == 0 ? 1 : -1;
	}
	if (ev != NULL) {		/* begin */
		ack_later(im, msg);
		return 0;
	}
	if (hdr(msg, HDR_REDELIVERED) != NULL || given_before(im, msg)) {
		im->redelivered++;
		rc = send_marked(im, p, msg);
	} else
		rc = chan_tx_send_async(p->tx, natsMsg_GetData(msg),
		    (size_t)natsMsg_GetDataLength(msg));
	if (rc != 0) {
		send_failed(im, rc);
		natsMsg_Destroy(msg);
		return -1;
	}
	p->dirty = true;
	im->imported++;
	ack_later(im, msg);
	return 0;
}

static int
handle(struct import *im, natsMsg *msg)
{
	const char *id = hdr(msg, HDR_PRODUCER), *ev = hdr(msg, HDR_EVENT);
	struct producer *p;
	uint64_t seq;
	bool has;
	int rc;

	if (id == NULL) {
		blog("'%s': message %" PRIu64 " without a producer header, "
		    "dropped", im->m->channel, natsMsg_GetSequence(msg));
		ack_later(im, msg);
		return 0;
	}
	seq = seq_of(msg, &has);
	if ((p = producer_find(im, id)) == NULL) {
		uint64_t expect;

		if (ev != NULL && strcmp(ev, "end") == 0) {
			/* Ended already (a lease expiry's end, or again). */
			ack_later(im, msg);
			return 0;
		}
		if ((rc = pos_lookup(im, id, &expect)) == 1 ||
		    (rc == 0 && has && seq < expect)) {
			/* Ended, or expired and this one came before. */
			im->duplicates++;
			bdebug(im->b, "'%s': duplicate %s #%" PRIu64 " of an "
			    "ended producer dropped", im->m->channel, id, seq);
			ack_later(im, msg);
			return 0;
		}
		if ((p = producer_add(im, id)) == NULL) {
			natsMsg_Destroy(msg);
			return -1;
		}
	}
	if (!has) {
		/* An end published on a lease expiry: ends p now. */
		if (ev != NULL && strcmp(ev, "end") == 0) {
			blog("'%s': remote producer %s expired (its lease "
			    "was not renewed)", im->m->channel, id);
			ack_later(im, msg);
			return producer_end(im, p, true);
		}
		ack_later(im, msg);
		return 0;
	}
	if (!p->known) {
		p->known = true;
		p->expect = seq;
	}
	if (seq < p->expect) {
		im->duplicates++;
		bdebug(im->b, "'%s': duplicate %s #%" PRIu64 " dropped",
		    im->m->channel, id, seq);
		ack_later(im, msg);
		return 0;
	}
	if (seq > p->expect)
		return hold(im, p, msg);
	if ((rc = deliver(im, p, msg)) != 0)
		return rc < 0 ? -1 : 0;
	if (p->nheld > 0)
		return release_held(im, p);
	return 0;
}

/* Waits for chand to confirm the batch, then acknowledges JetStream. */
static int
commit(struct import *im)
{
	struct producer *p;
	natsMsg **acks;
	char key[512], val[32];
	natsStatus s;
	size_t i, n;
	int rc;

	for (p = im->producers; p != NULL; p = p->next)
		if (p->dirty) {
			if ((rc = chan_tx_flush(p->tx)) != 0) {
				send_failed(im, rc);
				return -1;
			}
			p->dirty = false;
		}
	/*
	 * Positions, before JetStream forgets the messages: an importer
	 * that starts after a crash drops what chand already confirmed.
	 */
	for (p = im->producers; p != NULL; p = p->next)
		if (p->known && p->expect != p->saved) {
			pos_key(key, sizeof(key), im->m, p->id);
			snprintf(val, sizeof(val), "%" PRIu64, p->expect);
			if ((s = kvStore_PutString(NULL, im->b->kvpos, key,
			    val)) == NATS_OK)
				p->saved = p->expect;
			else
				bdebug(im->b, "'%s': position %s: %s",
				    im->m->channel, key, js_err(s, 0));
		}
	pthread_mutex_lock(&im->mu);
	acks = im->acks;
	n = im->nacks;
	im->acks = NULL;
	im->nacks = im->capacks = 0;
	pthread_mutex_unlock(&im->mu);
	for (i = 0; i < n; i++) {
		natsMsg_Ack(acks[i], NULL);
		natsMsg_Destroy(acks[i]);
	}
	free(acks);
	return 0;
}

static int
lock_take(struct import *im)
{
	struct bridge *b = im->b;
	kvEntry *ent = NULL;
	char key[512];
	int tries;

	lock_key(key, sizeof(key), im->m);
	snprintf(im->lockval, sizeof(im->lockval), "host=%s pid=%ld",
	    b->cfg.host, (long)getpid());
	for (tries = 0; tries < 3; tries++) {
		if (kvStore_CreateString(&im->lock_rev, b->kv, key,
		    im->lockval) == NATS_OK) {
			hb_set(im->m, key, im->lockval, true, im->lock_rev);
			return 0;
		}
		if (kvStore_Get(&ent, b->kv, key) == NATS_OK) {
			blog("channel '%s': stream %s already has an importer "
			    "(%s); its lock expires %" PRIu64 " s after it "
			    "stops", im->m->channel, im->m->stream,
			    kvEntry_ValueString(ent), b->cfg.lease_ms / 1000);
			kvEntry_Destroy(ent);
			return EXIT_BUSY;
		}
	}
	blog("channel '%s': cannot take the lock %s", im->m->channel, key);
	return 1;
}

/*
 * Remote producers whose lease expired (their bridge died) are ended in
 * stream order: an end message goes into the stream behind whatever they
 * published, and ends them when the import reaches it.
 */
static void
leases_check(struct import *im)
{
	struct bridge *b = im->b;
	struct producer *p;
	kvEntry *ent;
	natsMsg *msg;
	char key[512];
	natsStatus s;

	if (now_ms() - im->leases_at < b->cfg.lease_ms / 4)
		return;
	im->leases_at = now_ms();
	for (p = im->producers; p != NULL; p = p->next) {
		lease_key(key, sizeof(key), im->m, p->id);
		ent = NULL;
		s = kvStore_Get(&ent, b->kv, key);
		kvEntry_Destroy(ent);
		if (s != NATS_NOT_FOUND)
			continue;
		bdebug(b, "'%s': lease of %s expired", im->m->channel, p->id);
		if (natsMsg_Create(&msg, im->m->subject, NULL, NULL,
		    0) != NATS_OK)
			continue;
		if (natsMsgHeader_Set(msg, HDR_PRODUCER, p->id) == NATS_OK &&
		    natsMsgHeader_Set(msg, HDR_EVENT, "end") == NATS_OK)
			js_PublishMsg(NULL, b->js, msg, NULL, NULL);
		natsMsg_Destroy(msg);
	}
}

/* Producers live when the import starts: the leases in the bucket. */
static int
leases_restore(struct import *im)
{
	struct bridge *b = im->b;
	kvKeysList keys;
	char prefix[300];
	size_t plen;
	int i;

	memset(&keys, 0, sizeof(keys));
	if (kvStore_Keys(&keys, b->kv, NULL) != NATS_OK)
		return 0;	/* NATS_NOT_FOUND: no keys */
	snprintf(prefix, sizeof(prefix), "lease.%s.", im->m->stream);
	plen = strlen(prefix);
	for (i = 0; i < keys.Count; i++) {
		const char *id = keys.Keys[i] + plen;
		kvEntry *ent = NULL;
		uint64_t expect;

		/* The list may hold keys that expired: ask for each. */
		if (strncmp(keys.Keys[i], prefix, plen) != 0 ||
		    producer_find(im, id) != NULL ||
		    kvStore_Get(&ent, b->kv, keys.Keys[i]) != NATS_OK ||
		    pos_lookup(im, id, &expect) == 1) {
			kvEntry_Destroy(ent);
			continue;
		}
		kvEntry_Destroy(ent);
		if (producer_add(im, id) == NULL) {
			kvKeysList_Destroy(&keys);
			return -1;
		}
	}
	kvKeysList_Destroy(&keys);
	return 0;
}

static int
import_open(struct import *im)
{
	struct bridge *b = im->b;
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;
	int rc;

	if ((rc = chan_connect(b->cfg.socket, &im->c)) != 0) {
		blog("'%s': %s: %s", im->m->channel, b->cfg.socket,
		    chan_strerror(rc));
		return rc == CHAN_ENODAEMON ? EXIT_NODAEMON : 1;
	}
	if (js_stream(b, im->m) != 0)
		return 1;
	if ((rc = lock_take(im)) != 0)
		return rc;
	/*
	 * A new consumer starts from the first message still in the
	 * stream, so what a dead importer had fetched comes first, in
	 * order, instead of after its ack wait.
	 */
	if (js_GetConsumerInfo(&ci, b->js, im->m->stream, DURABLE, NULL,
	    NULL) == NATS_OK) {
		im->marked_upto = ci->Delivered.Stream;
		jsConsumerInfo_Destroy(ci);
	}
	js_DeleteConsumer(b->js, im->m->stream, DURABLE, NULL, NULL);
	jsSubOptions_Init(&so);
	so.Stream = im->m->stream;
	so.Config.Durable = DURABLE;
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.AckWait = (int64_t)b->cfg.ack_wait_ms * 1000000;
	so.Config.MaxDeliver = -1;
	so.Config.MaxAckPending = (int64_t)b->cfg.batch * 8;
	so.Config.DeliverPolicy = js_DeliverAll;
	if ((s = js_PullSubscribe(&im->sub, b->js, im->m->subject, DURABLE,
	    NULL, &so, &jerr)) != NATS_OK) {
		blog("'%s': consumer of stream %s: %s", im->m->channel,
		    im->m->stream, js_err(s, jerr));
		return 1;
	}
	if (leases_restore(im) != 0)
		return 1;
	if (pthread_create(&im->keeper, NULL, keeper_main, im) != 0) {
		blog("'%s': cannot start a thread", im->m->channel);
		return 1;
	}
	im->keeper_on = true;
	return 0;
}

/*
 * How many messages the next fetch asks for. libnats's fetch (up to 3.8,
 * nats.c pull request 749) writes past its array of batch messages when
 * the subscription already holds some from an earlier fetch (answers that
 * came after that fetch returned) and it then asks the server for more:
 * it counts the ones it held against a batch it has already lowered by
 * them. It cannot do so for a batch of one, so while messages are held
 * they are taken one at a time.
 */
static int
import_batch(struct import *im)
{
	int held = 0;

	if (natsSubscription_GetPending(im->sub, &held, NULL) != NATS_OK ||
	    held > 0)
		return 1;
	return (int)im->b->cfg.batch;
}

static int
import_loop(struct import *im)
{
	struct bridge *b = im->b;
	natsMsgList list;
	jsErrCode jerr;
	natsStatus s;
	int i, wait, batch;

	wait = 250;
	while (!b->stop) {
		if (im->m->lock_lost)
			return 1;
		leases_check(im);
		memset(&list, 0, sizeof(list));
		jerr = 0;
		batch = import_batch(im);
		s = natsSubscription_Fetch(&list, im->sub, batch, wait, &jerr);
		if (s == NATS_TIMEOUT)
			continue;
		if (s != NATS_OK) {
			bdebug(b, "'%s': fetch: %s", im->m->channel,
			    js_err(s, jerr));
			ms_sleep(100);
			continue;
		}
		/* The overrun import_batch avoids: its memory is not ours. */
		if (list.Count > batch) {
			blog("'%s': libnats returned %d messages for a fetch of "
			    "%d", im->m->channel, list.Count, batch);
			natsMsgList_Destroy(&list);
			return 1;
		}
		for (i = 0; i < list.Count; i++) {
			natsMsg *msg = list.Msgs[i];

			list.Msgs[i] = NULL;
			if (handle(im, msg) != 0) {
				natsMsgList_Destroy(&list);
				return 1;
			}
		}
		natsMsgList_Destroy(&list);
		if (commit(im) != 0)
			return 1;
	}
	return 0;
}

void *
import_main(void *arg)
{
	struct map *m = arg;
	struct import im;
	struct producer *p;
	char key[512];
	int status;

	memset(&im, 0, sizeof(im));
	im.m = m;
	im.b = m->b;
	pthread_mutex_init(&im.mu, NULL);
	if ((status = import_open(&im)) == 0) {
		blog("importing stream %s into channel '%s'", m->stream,
		    m->channel);
		map_ready(m);
		status = import_loop(&im);
		blog("'%s': %" PRIu64 " messages imported (%" PRIu64
		    " marked redelivered, %" PRIu64 " duplicates dropped)",
		    m->channel, im.imported, im.redelivered, im.duplicates);
	}
	if (im.keeper_on) {
		im.keeper_stop = true;
		pthread_join(im.keeper, NULL);
	}
	/* Unacknowledged messages come again to the next importer. */
	pthread_mutex_lock(&im.mu);
	for (size_t i = 0; i < im.nacks; i++)
		natsMsg_Destroy(im.acks[i]);
	free(im.acks);
	pthread_mutex_unlock(&im.mu);
	while ((p = im.producers) != NULL) {
		im.producers = p->next;
		for (size_t i = 0; i < p->nheld; i++)
			natsMsg_Destroy(p->held[i]);
		free(p->held);
		free(p);
	}
	if (im.sub != NULL)
		natsSubscription_Destroy(im.sub);
	hb_clear(m);
	if (im.lock_rev != 0 && !m->lock_lost) {
		lock_key(key, sizeof(key), m);
		kvStore_Delete(m->b->kv, key);
	}
	chan_disconnect(im.c);
	pthread_mutex_destroy(&im.mu);
	map_done(m, status);
	return NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * js.c: the connection to NATS, the KV bucket of leases and locks, the
 * streams, and the small helpers the two directions share.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bridge.h"

void
blog(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "chan-bridge: %s\n", buf);
}

void
bdebug(const struct bridge *b, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!b->cfg.verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "chan-bridge: %s\n", buf);
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
ms_sleep(uint64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

const char *
js_err(natsStatus s, jsErrCode jerr)
{
	static __thread char buf[512];
	const char *last = nats_GetLastError(NULL);

	snprintf(buf, sizeof(buf), "%s%s%s (js %d)", natsStatus_GetText(s),
	    last != NULL && last[0] != '\0' ? ": " : "",
	    last != NULL ? last : "", (int)jerr);
	return buf;
}

/* KV keys: lease.STREAM.ID for a producer, lock.STREAM for the importer. */
void
lease_key(char *buf, size_t len, const struct map *m, const char *id)
{
	snprintf(buf, len, "lease.%s.%s", m->stream, id);
}

void
lock_key(char *buf, size_t len, const struct map *m)
{
	snprintf(buf, len, "lock.%s", m->stream);
}

/* In BUCKET-pos: the next sequence number an importer expects. */
void
pos_key(char *buf, size_t len, const struct map *m, const char *id)
{
	snprintf(buf, len, "pos.%s.%s", m->stream, id);
}

static int
bucket(struct bridge *b, kvStore **kv, const char *name, int64_t ttl_ms)
{
	natsStatus s;
	kvConfig kc;

	if (js_KeyValue(kv, b->js, name) == NATS_OK)
		return 0;
	kvConfig_Init(&kc);
	kc.Bucket = name;
	kc.History = 1;
	kc.TTL = ttl_ms * 1000000;
	kc.StorageType = js_FileStorage;
	if ((s = js_CreateKeyValue(kv, b->js, &kc)) != NATS_OK &&
	    (s = js_KeyValue(kv, b->js, name)) != NATS_OK) {
		blog("KV bucket %s: %s", name, js_err(s, 0));
		return -1;
	}
	return 0;
}

static void
on_disconnected(natsConnection *nc, void *arg)
{
	blog("NATS connection lost; reconnecting");
}

static void
on_reconnected(natsConnection *nc, void *arg)
{
	blog("NATS connection back");
}

/*
 * Connects (retrying for ever, so that a NATS server that restarts is
 * waited for) and binds or creates the KV bucket, whose TTL is the lease
 * time: a key not refreshed within it disappears.
 */
int
js_setup(struct bridge *b)
{
	natsOptions *opts = NULL;
	natsStatus s;
	jsOptions jo;
	char name[128];

	snprintf(name, sizeof(name), "chan-bridge %s", b->cfg.host);
	if ((s = natsOptions_Create(&opts)) != NATS_OK ||
	    (s = natsOptions_SetURL(opts, b->cfg.url)) != NATS_OK ||
	    (s = natsOptions_SetName(opts, name)) != NATS_OK ||
	    (s = natsOptions_SetMaxReconnect(opts, -1)) != NATS_OK ||
	    (s = natsOptions_SetReconnectWait(opts, 100)) != NATS_OK ||
	    (s = natsOptions_SetReconnectBufSize(opts, 64 << 20)) != NATS_OK ||
	    (s = natsOptions_SetDisconnectedCB(opts, on_disconnected,
	    NULL)) != NATS_OK ||
	    (s = natsOptions_SetReconnectedCB(opts, on_reconnected,
	    NULL)) != NATS_OK) {
		blog("NATS options: %s", natsStatus_GetText(s));
		natsOptions_Destroy(opts);
		return -1;
	}
	s = natsConnection_Connect(&b->nc, opts);
	natsOptions_Destroy(opts);
	if (s != NATS_OK) {
		blog("cannot connect to %s: %s", b->cfg.url, js_err(s, 0));
		return -1;
	}
	jsOptions_Init(&jo);
	jo.Wait = 5000;
	if ((s = natsConnection_JetStream(&b->js, b->nc, &jo)) != NATS_OK) {
		blog("JetStream: %s", js_err(s, 0));
		return -1;
	}
	/*
	 * Leases and locks expire after the lease time; positions after a
	 * day, so that those of producers that ended do not pile up.
	 */
	snprintf(name, sizeof(name), "%s-pos", b->cfg.bucket);
	if (bucket(b, &b->kv, b->cfg.bucket, (int64_t)b->cfg.lease_ms) != 0 ||
	    bucket(b, &b->kvpos, name, (int64_t)86400 * 1000) != 0)
		return -1;
	return 0;
}

/*
 * Creates the channel's stream if it does not exist: a work queue (a
 * message goes once its consumer acknowledges it), at most max-msgs
 * messages, a full stream refusing new ones, deduplication by message id.
 */
int
js_stream(struct bridge *b, const struct map *m)
{
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	const char *subjects[1];

	s = js_GetStreamInfo(&si, b->js, m->stream, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	jsStreamConfig_Init(&sc);
	subjects[0] = m->subject;
	sc.Name = m->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Retention = js_WorkQueuePolicy;
	sc.MaxMsgs = (int64_t)b->cfg.max_msgs;
	sc.Discard = js_DiscardNew;
	sc.Storage = js_FileStorage;
	sc.Duplicates = (int64_t)120 * 1000000000;
	jerr = 0;
	s = js_AddStream(&si, b->js, &sc, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	/* Another bridge may have created it meanwhile. */
	if (js_GetStreamInfo(&si, b->js, m->stream, NULL, NULL) == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	blog("stream %s for channel '%s': %s", m->stream, m->channel,
	    js_err(s, jerr));
	return -1;
}

void
js_teardown(struct bridge *b)
{
	if (b->kv != NULL)
		kvStore_Destroy(b->kv);
	if (b->kvpos != NULL)
		kvStore_Destroy(b->kvpos);
	b->kvpos = NULL;
	if (b->js != NULL)
		jsCtx_Destroy(b->js);
	if (b->nc != NULL) {
		natsConnection_Flush(b->nc);
		natsConnection_Destroy(b->nc);
	}
	b->kv = NULL;
	b->js = NULL;
	b->nc = NULL;
}

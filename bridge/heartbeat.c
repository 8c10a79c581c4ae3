/* SPDX-License-Identifier: MIT */
/*
 * heartbeat.c: leases and locks kept alive by the main thread.
 *
 * The KV bucket's TTL is the lease time, so a key that is not written
 * again within it disappears. Each exported channel's producer lease and
 * each imported channel's consumer lock is written every quarter of the
 * lease time from here, whatever its own thread is waiting for (a full
 * local channel, a NATS server being restarted).
 */
#include <stdio.h>
#include <string.h>

#include "bridge.h"

/* Starts keeping key alive (the caller wrote it once, at revision rev). */
void
hb_set(struct map *m, const char *key, const char *val, bool lock,
    uint64_t rev)
{
	struct bridge *b = m->b;

	pthread_mutex_lock(&b->lock);
	snprintf(m->hb_key, sizeof(m->hb_key), "%s", key);
	snprintf(m->hb_val, sizeof(m->hb_val), "%s", val);
	m->hb_lock = lock;
	m->hb_rev = rev;
	m->hb_at = now_ms();
	m->hb_on = true;
	pthread_mutex_unlock(&b->lock);
}

void
hb_clear(struct map *m)
{
	struct bridge *b = m->b;

	pthread_mutex_lock(&b->lock);
	m->hb_on = false;
	pthread_mutex_unlock(&b->lock);
}

static void
hb_one(struct bridge *b, struct map *m)
{
	natsStatus s;

	if (!m->hb_lock) {
		if ((s = kvStore_PutString(NULL, b->kv, m->hb_key,
		    m->hb_val)) == NATS_OK)
			m->hb_at = now_ms();
		else
			bdebug(b, "lease %s: %s", m->hb_key, js_err(s, 0));
		return;
	}
	s = kvStore_UpdateString(&m->hb_rev, b->kv, m->hb_key, m->hb_val,
	    m->hb_rev);
	if (s == NATS_OK) {
		m->hb_at = now_ms();
		return;
	}
	if (now_ms() - m->hb_at < b->cfg.lease_ms)
		return;		/* NATS unreachable: try again */
	/* It expired: take it again, unless another importer did. */
	if (kvStore_CreateString(&m->hb_rev, b->kv, m->hb_key,
	    m->hb_val) == NATS_OK) {
		blog("'%s': the lock %s had expired; taken again",
		    m->channel, m->hb_key);
		m->hb_at = now_ms();
		return;
	}
	blog("'%s': lost the lock %s to another importer", m->channel,
	    m->hb_key);
	m->hb_on = false;
	m->lock_lost = true;
}

void
heartbeat(struct bridge *b)
{
	struct map *m;
	int i;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < b->cfg.nmaps; i++) {
		m = &b->cfg.maps[i];
		if (m->hb_on && now_ms() - m->hb_at >= b->cfg.lease_ms / 4)
			hb_one(b, m);
	}
	pthread_mutex_unlock(&b->lock);
}

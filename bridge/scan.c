/* SPDX-License-Identifier: MIT */
/*
 * scan.c: channels chosen by name pattern.
 *
 * A pattern "prefix*" chooses, for export, every local channel whose
 * name starts with prefix (chand's admin view lists them), and for
 * import, every stream whose name is that of such a channel (docs/
 * bridge.md, "Names"). A thread of its own looks every BRIDGE_SCAN_MS
 * and starts a worker for each new match, as for a channel named in the
 * configuration, up to BRIDGE_MAX_MAPS channels in all. It has its own
 * connection to chand, so that a slow answer delays no lease.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "bridge.h"

struct scan {
	struct bridge	*b;
	chan_client	*c;		/* export patterns only */
	bool		 full_logged;
};

/* Starts m's worker thread. 0, or -1 (logged). */
int
map_start(struct bridge *b, struct map *m)
{
	m->b = b;
	if (pthread_create(&m->thread, NULL, m->dir == MAP_EXPORT ?
	    export_main : import_main, m) != 0) {
		blog("cannot start a thread for channel '%s'", m->channel);
		return -1;
	}
	m->started = true;
	return 0;
}

/*
 * A channel that a pattern of direction dir chose: a new map and its
 * worker, unless the channel is bridged already (or chosen for the other
 * direction, or the bridge carries as many as it may).
 */
static void
scan_found(struct scan *s, enum map_dir dir, const char *name, size_t len)
{
	struct bridge *b = s->b;
	struct bridge_config *cfg = &b->cfg;
	struct map *m;
	int i, ok = 0;

	if (len == 0 || len > BRIDGE_NAME_MAX || memchr(name, '\0', len))
		return;
	for (i = 0; i < cfg->npatterns; i++)
		if (pattern_match(&cfg->patterns[i], dir, name, len))
			ok = 1;
	if (!ok)
		return;
	pthread_mutex_lock(&b->lock);
	for (i = 0; i < cfg->nmaps; i++)
		if (strlen(cfg->maps[i].channel) == len &&
		    memcmp(cfg->maps[i].channel, name, len) == 0) {
			pthread_mutex_unlock(&b->lock);
			return;
		}
	if (config_conflict(cfg, dir, name, len)) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	if (cfg->nmaps == BRIDGE_MAX_MAPS) {
		pthread_mutex_unlock(&b->lock);
		if (!s->full_logged)
			blog("channel '%.*s' not bridged: at most %d channels",
			    (int)len, name, BRIDGE_MAX_MAPS);
		s->full_logged = true;
		return;
	}
	m = &cfg->maps[cfg->nmaps];
	memset(m, 0, sizeof(*m));
	m->dir = dir;
	memcpy(m->channel, name, len);
	m->channel[len] = '\0';
	m->from_pattern = true;
	map_names(m);
	/* The worker waits for the lock to report; nmaps covers it first. */
	if (map_start(b, m) == 0)
		cfg->nmaps++;
	else
		b->stop = 1;
	pthread_mutex_unlock(&b->lock);
	bdebug(b, "channel '%s' matches a pattern: %s", m->channel,
	    dir == MAP_EXPORT ? "exported" : "imported");
}

static const msgpack_object *
map_get(const msgpack_object *o, const char *key)
{
	size_t klen = strlen(key);
	uint32_t i;

	if (o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    memcmp(k->via.str.ptr, key, klen) == 0)
			return &o->via.map.ptr[i].val;
	}
	return NULL;
}

static int
obj_bytes(const msgpack_object *o, const char **p, size_t *len)
{
	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_BIN) {
		*p = o->via.bin.ptr;
		*len = o->via.bin.size;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_STR) {
		*p = o->via.str.ptr;
		*len = o->via.str.size;
		return 0;
	}
	return -1;
}

/* Local channels, from chand's admin view, page by page. */
static int
scan_exports(struct scan *s)
{
	char after[BRIDGE_NAME_MAX + 1];
	size_t after_len = 0, len, off, nlen;
	msgpack_unpacked u;
	const msgpack_object *list, *next;
	const char *name;
	void *data;
	uint32_t i;
	int rc, more = 1, first = 1;

	while (more && !s->b->stop) {
		if ((rc = chan_client_info(s->c, "channels", first ? NULL :
		    after, after_len, 0, &data, &len)) != 0) {
			blog("patterns: chand's list of channels: %s",
			    chan_strerror(rc));
			return rc == CHAN_ECONNLOST ? -1 : 0;
		}
		first = 0;
		more = 0;
		off = 0;
		msgpack_unpacked_init(&u);
		if (msgpack_unpack_next(&u, data, len, &off) ==
		    MSGPACK_UNPACK_SUCCESS &&
		    (list = map_get(&u.data, "channels")) != NULL &&
		    list->type == MSGPACK_OBJECT_ARRAY) {
			for (i = 0; i < list->via.array.size; i++)
				if (obj_bytes(map_get(&list->via.array.ptr[i],
				    "name"), &name, &nlen) == 0)
					scan_found(s, MAP_EXPORT, name, nlen);
			next = map_get(&u.data, "next");
			if (obj_bytes(next, &name, &nlen) == 0 && nlen > 0 &&
			    nlen <= sizeof(after)) {
				memcpy(after, name, nlen);
				after_len = nlen;
				more = 1;
			}
		}
		msgpack_unpacked_destroy(&u);
		free(data);
	}
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The channel whose stream is named stream (CHAN_ENC): 0 with name and
 * *len set, or -1 if stream is not such a name (another stream, or an
 * encoding that map_names would not write).
 */
static int
stream_channel(const char *stream, char *name, size_t *len)
{
	const char *p;
	size_t n = 0;
	int hi, lo;

	if (strncmp(stream, "CHAN_", 5) != 0 || stream[5] == '\0')
		return -1;
	for (p = stream + 5; *p != '\0'; p++) {
		if (n == BRIDGE_NAME_MAX)
			return -1;
		if (*p != '_') {
			if (!isalnum((unsigned char)*p) && *p != '-')
				return -1;
			name[n++] = *p;
			continue;
		}
		if ((hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0)
			return -1;
		name[n] = (char)(hi << 4 | lo);
		/* Only bytes that map_names writes so. */
		if (name[n] == '\0' || isalnum((unsigned char)name[n]) ||
		    name[n] == '-')
			return -1;
		n++;
		p += 2;
	}
	*len = n;
	return 0;
}

/* Streams, from JetStream. */
static void
scan_imports(struct scan *s)
{
	jsStreamNamesList *list = NULL;
	jsErrCode jerr = 0;
	natsStatus st;
	char name[BRIDGE_NAME_MAX + 1];
	size_t len;
	int i;

	st = js_StreamNames(&list, s->b->js, NULL, &jerr);
	if (st == NATS_NOT_FOUND)
		return;
	if (st != NATS_OK) {
		bdebug(s->b, "patterns: list of streams: %s", js_err(st, jerr));
		return;
	}
	for (i = 0; i < list->Count && !s->b->stop; i++)
		if (stream_channel(list->List[i], name, &len) == 0)
			scan_found(s, MAP_IMPORT, name, len);
	jsStreamNamesList_Destroy(list);
}

void *
scan_main(void *arg)
{
	struct scan s;
	struct bridge *b = arg;
	uint64_t last;
	int i, exports = 0, imports = 0, rc, status = 0;

	memset(&s, 0, sizeof(s));
	s.b = b;
	for (i = 0; i < b->cfg.npatterns; i++) {
		if (b->cfg.patterns[i].dir == MAP_EXPORT)
			exports = 1;
		else
			imports = 1;
	}
	if (exports && (rc = chan_connect(b->cfg.socket, &s.c)) != 0) {
		blog("patterns: %s: %s", b->cfg.socket, chan_strerror(rc));
		status = rc == CHAN_ENODAEMON ? EXIT_NODAEMON : 1;
		goto done;
	}
	while (!b->stop) {
		last = now_ms();
		if (exports && scan_exports(&s) != 0) {
			status = 1;
			break;
		}
		if (imports)
			scan_imports(&s);
		pthread_mutex_lock(&b->lock);
		b->scanned = true;
		pthread_mutex_unlock(&b->lock);
		while (!b->stop && now_ms() - last < BRIDGE_SCAN_MS)
			ms_sleep(50);
	}
done:
	chan_disconnect(s.c);
	pthread_mutex_lock(&b->lock);
	if (status != 0) {
		if (b->failed == 0)
			b->failed = status;
		b->stop = 1;
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * admin.c: the admin view, STATS -> INFO. See admin.h; the schema is in
 * docs/protocol.md ("Admin view").
 *
 * Each reply is one msgpack map inside INFO's bin, built with msgpack-c
 * into a scratch buffer and copied into the connection's output. Lists
 * are paged so that a reply always fits in the frame limit: entries are
 * added while they fit, and "next" is the cursor of the last one sent.
 * Channels are listed in byte order of their names, connections by id,
 * so that a cursor stays meaningful while channels come and go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "acl.h"
#include "admin.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "durable.h"
#include "listener.h"
#include "log.h"
#include "monitor.h"
#include "proto.h"
#include "pump.h"
#include "registry.h"
#include "server.h"
#include "shm.h"

/*
 * Room kept in a frame for what surrounds the entries: the INFO header,
 * the map keys and a "next" cursor of up to PROTO_NAME_MAX bytes.
 */
#define ADMIN_ENVELOPE	512

static struct admin_filter	admin_filter;

void
admin_set_filter(const struct admin_filter *f)
{
	if (f == NULL)
		memset(&admin_filter, 0, sizeof(admin_filter));
	else
		admin_filter = *f;
}

static bool
admin_sees_channel(const struct conn *viewer, const struct channel *ch)
{
	return (admin_filter.channel == NULL ||
	    admin_filter.channel(viewer, ch));
}

static bool
admin_sees_conn(const struct conn *viewer, const struct conn *other)
{
	return (admin_filter.conn == NULL || admin_filter.conn(viewer, other));
}

/* msgpack writing: each helper returns nonzero once anything failed. */

static int
pk_key(msgpack_packer *pk, const char *key)
{
	size_t	len = strlen(key);

	return (msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, key,
	    len));
}

static int
pk_kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
	return (pk_key(pk, key) || msgpack_pack_uint64(pk, v));
}

static int
pk_str(msgpack_packer *pk, const char *v)
{
	return (msgpack_pack_str(pk, strlen(v)) ||
	    msgpack_pack_str_body(pk, v, strlen(v)));
}

static int
pk_kv_str(msgpack_packer *pk, const char *key, const char *v)
{
	return (pk_key(pk, key) || pk_str(pk, v));
}

static int
pk_bin(msgpack_packer *pk, const void *p, size_t len)
{
	return (msgpack_pack_bin(pk, len) || msgpack_pack_bin_body(pk, p,
	    len));
}

/* A uint, or nil when v is negative (not known, not applicable). */
static int
pk_kv_opt(msgpack_packer *pk, const char *key, int64_t v)
{
	return (pk_key(pk, key) || (v < 0 ? msgpack_pack_nil(pk) :
	    msgpack_pack_uint64(pk, (uint64_t)v)));
}

/* A str, or nil for NULL. */
static int
pk_kv_strnil(msgpack_packer *pk, const char *key, const char *v)
{
	return (pk_key(pk, key) || (v != NULL ? pk_str(pk, v) :
	    msgpack_pack_nil(pk)));
}

/* A connection's client name, from its HELLO: a str, maybe empty. */
static int
pk_kv_client(msgpack_packer *pk, const struct conn *o)
{
	return (pk_key(pk, "client") || msgpack_pack_str(pk, o->client_len) ||
	    msgpack_pack_str_body(pk, o->client, o->client_len));
}

/* Errors. */

static void
admin_reply_error(struct conn *c, uint32_t rid, int code, const char *msg)
{
	if (proto_enc_error(&c->out, rid, code, msg) != 0)
		conn_nomem(c, rid, "queueing a reply", true);
	conn_dirty(c);
}

static void
admin_reply_data(struct conn *c, uint32_t rid, const msgpack_sbuffer *sb)
{
	if (rid == 0)
		return;
	/* Pages are sized to fit; this would be a bug, not a big view. */
	if (sb->size + ADMIN_ENVELOPE / 2 > proto_max_body(
	    c->srv->cfg->max_msg_size)) {
		log_error("admin view of %zu bytes does not fit in a frame "
		    "(%s)", sb->size, c->peer);
		admin_reply_error(c, rid, CHAN_ENOMEM, "admin view too large "
		    "for a frame");
		return;
	}
	if (proto_enc_info(&c->out, rid, sb->data, sb->size) != 0) {
		admin_reply_error(c, rid, CHAN_ENOMEM,
		    "out of memory building the admin view");
		return;
	}
	conn_dirty(c);
}

/* Daemon. */

/*
 * The resident size is read from /proc at most once per ADMIN_RSS_MS of
 * loop time: a client pipelining STATS must not turn each request into
 * three system calls.
 */
#define ADMIN_RSS_MS	100

static uint64_t
admin_rss_read(void)
{
	unsigned long long	 size, resident;
	FILE			*f;
	long			 page = sysconf(_SC_PAGESIZE);
	int			 n;

	if ((f = fopen("/proc/self/statm", "re")) == NULL)
		return (0);
	n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2 || page <= 0)
		return (0);
	return ((uint64_t)resident * (uint64_t)page);
}

static uint64_t
admin_rss_bytes(uv_loop_t *loop)
{
	static uint64_t	rss, at;
	static bool	known;
	uint64_t	now = uv_now(loop);

	if (!known || now - at >= ADMIN_RSS_MS) {
		rss = admin_rss_read();
		at = now;
		known = true;
	}
	return (rss);
}

/* Calls fn for every channel, in no particular order. */
static void
admin_each_channel(struct registry *reg,
    void (*fn)(struct channel *, void *), void *arg)
{
	struct channel	*ch;
	size_t		 i;

	for (i = 0; i < reg->nbuckets; i++) {
		for (ch = reg->buckets[i]; ch != NULL; ch = ch->hnext)
			fn(ch, arg);
	}
}

struct admin_sums {
	const struct conn	*viewer;
	uint64_t		 visible;
	uint64_t		 msgs_in;
	uint64_t		 msgs_out;
	uint64_t		 redeliveries;
};

static void
admin_sum_channel(struct channel *ch, void *arg)
{
	struct admin_sums	*s = arg;

	s->msgs_in += ch->msgs_in;
	s->msgs_out += ch->msgs_out;
	s->redeliveries += ch->redeliveries;
	if (admin_sees_channel(s->viewer, ch))
		s->visible++;
}

static uint64_t
admin_visible_conns(const struct conn *viewer)
{
	const struct conn	*o;
	uint64_t		 n = 0;

	TAILQ_FOREACH(o, &viewer->srv->conns, entry) {
		if (admin_sees_conn(viewer, o))
			n++;
	}
	return (n);
}

static int
admin_daemon(struct conn *c, msgpack_packer *pk)
{
	struct server		*srv = c->srv;
	struct registry		*reg = &srv->reg;
	struct admin_sums	 s = { .viewer = c };

	admin_each_channel(reg, admin_sum_channel, &s);
	return (msgpack_pack_map(pk, 23) ||
	    pk_kv_str(pk, "version", CHAND_VERSION) ||
	    pk_kv_u64(pk, "pid", (uint64_t)getpid()) ||
	    pk_kv_str(pk, "socket", srv->listener != NULL ?
		listener_path(srv->listener) : "") ||
	    pk_kv_u64(pk, "started", (uint64_t)srv->start_time) ||
	    pk_kv_u64(pk, "uptime_ms",
		(uv_hrtime() - srv->start_ns) / 1000000) ||
	    pk_kv_u64(pk, "rss_bytes", admin_rss_bytes(srv->loop)) ||
	    pk_kv_u64(pk, "connections", admin_visible_conns(c)) ||
	    pk_kv_u64(pk, "max_connections", srv->cfg->max_connections) ||
	    pk_kv_u64(pk, "channels", s.visible) ||
	    pk_kv_u64(pk, "queued", reg->totals.msgs) ||
	    pk_kv_u64(pk, "queued_bytes", reg->totals.bytes) ||
	    pk_kv_u64(pk, "held", reg->totals.held) ||
	    pk_kv_u64(pk, "max_queued", srv->cfg->max_queued_msgs) ||
	    pk_kv_u64(pk, "max_queued_bytes", srv->cfg->max_queued_bytes) ||
	    pk_kv_u64(pk, "msgs_in", reg->gone_msgs_in + s.msgs_in) ||
	    pk_kv_u64(pk, "msgs_out", reg->gone_msgs_out + s.msgs_out) ||
	    pk_kv_u64(pk, "redeliveries",
		reg->gone_redeliveries + s.redeliveries) ||
	    pk_key(pk, "data_dir") || (srv->cfg->data_dir != NULL ?
		pk_str(pk, srv->cfg->data_dir) : msgpack_pack_nil(pk)) ||
	    pk_kv_str(pk, "sync", config_sync_name(srv->cfg->sync)) ||
	    pk_kv_str(pk, "log_level", log_level_name(log_get_level())) ||
	    pk_kv_strnil(pk, "config", srv->cfg->config_path) ||
	    pk_kv_strnil(pk, "access_file", srv->cfg->access_file) ||
	    pk_kv_u64(pk, "features", PROTO_FEATURES));
}

/* Configuration: every option by name, its value as text. */
static int
admin_config(struct conn *c, msgpack_packer *pk)
{
	/* A --durable list may be as long as a line of the config file. */
	char	value[4200];
	size_t	i, n;
	int	failed;

	for (n = 0; config_name(n) != NULL; n++)
		;
	failed = msgpack_pack_map(pk, n);
	for (i = 0; i < n && !failed; i++) {
		if (config_value_text(c->srv->cfg, i, value,
		    sizeof(value)) != 0)
			snprintf(value, sizeof(value), "?");
		/* The level in force: "chanctl log-level" may have set it. */
		if (strcmp(config_name(i), "log-level") == 0)
			snprintf(value, sizeof(value), "%s",
			    log_level_name(log_get_level()));
		failed = pk_kv_str(pk, config_name(i), value);
	}
	return (failed);
}

/* Pages. */

/* A page under construction: entries go to body, counted. */
struct admin_page {
	msgpack_sbuffer	 body;
	msgpack_packer	 pk;
	size_t		 budget;	/* most bytes body may hold */
	uint32_t	 limit;		/* most entries */
	uint32_t	 count;
	bool		 more;		/* stopped before the end */
	bool		 failed;
};

static void
admin_page_init(struct admin_page *p, const struct server *srv,
    uint32_t limit)
{
	msgpack_sbuffer_init(&p->body);
	msgpack_packer_init(&p->pk, &p->body, msgpack_sbuffer_write);
	p->budget = proto_max_body(srv->cfg->max_msg_size) - ADMIN_ENVELOPE;
	p->limit = limit == 0 ? UINT32_MAX : limit;
	p->count = 0;
	p->more = p->failed = false;
}

/*
 * Whether one more entry may start: not past the limit. The entry is
 * written, then admin_page_fits takes it back if it went over budget.
 */
static bool
admin_page_room(struct admin_page *p)
{
	if (p->failed || p->count >= p->limit) {
		p->more = !p->failed;
		return (false);
	}
	return (true);
}

/* After an entry that started at mark: keeps it, or drops it and stops. */
static bool
admin_page_fits(struct admin_page *p, size_t mark, int failed)
{
	if (failed) {
		p->failed = true;
		return (false);
	}
	/* The first entry always goes: each fits alone, and paging must
	   move on. */
	if (p->body.size > p->budget && p->count > 0) {
		p->body.size = mark;
		p->more = true;
		return (false);
	}
	p->count++;
	return (true);
}

/* Writes {key: [entries], "next": cursor|nil} to pk. */
static int
admin_page_finish(struct admin_page *p, msgpack_packer *pk, const char *key,
    const void *next, size_t next_len)
{
	int	failed;

	failed = p->failed || msgpack_pack_map(pk, 2) || pk_key(pk, key) ||
	    msgpack_pack_array(pk, p->count);
	/* The entries are msgpack already: appended as they are. */
	if (!failed && p->body.size > 0)
		failed = pk->callback(pk->data, p->body.data, p->body.size);
	if (!failed)
		failed = pk_key(pk, "next") || (p->more ? pk_bin(pk, next,
		    next_len) : msgpack_pack_nil(pk));
	msgpack_sbuffer_destroy(&p->body);
	return (failed);
}

/* Channels. */

static int
admin_name_cmp(const void *an, size_t alen, const void *bn, size_t blen)
{
	int	r = memcmp(an, bn, alen < blen ? alen : blen);

	if (r != 0)
		return (r);
	return (alen < blen ? -1 : alen > blen);
}

static int
admin_channel_cmp(const struct channel *x, const struct channel *y)
{
	return (admin_name_cmp(x->name, x->name_len, y->name, y->name_len));
}

/*
 * The first channels of a page: of those after the cursor that the viewer
 * may see, the cap smallest names, kept in a max-heap (the largest at
 * v[0]) so that a page costs O(n log cap), not a sort of every channel.
 * seen counts all candidates: more than cap means the list goes on.
 */
struct admin_pick {
	const struct conn	 *viewer;
	const struct proto_msg	 *m;
	struct channel		**v;
	size_t			  n, cap;
	size_t			  seen;
};

/* Moves v[i] up to its place in the max-heap v[0 .. i]. */
static void
admin_heap_up(struct channel **v, size_t i)
{
	struct channel	*t;

	while (i > 0 && admin_channel_cmp(v[(i - 1) / 2], v[i]) < 0) {
		t = v[i];
		v[i] = v[(i - 1) / 2];
		v[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

/* Moves v[i] down to its place in the max-heap v[0 .. n). */
static void
admin_heap_down(struct channel **v, size_t n, size_t i)
{
	struct channel	*t;
	size_t		 c;

	while ((c = 2 * i + 1) < n) {
		if (c + 1 < n && admin_channel_cmp(v[c + 1], v[c]) > 0)
			c++;
		if (admin_channel_cmp(v[c], v[i]) <= 0)
			break;
		t = v[i];
		v[i] = v[c];
		v[c] = t;
		i = c;
	}
}

static void
admin_pick_channel(struct channel *ch, void *arg)
{
	struct admin_pick	*pick = arg;
	const struct proto_msg	*m = pick->m;

	if (m->after != NULL && admin_name_cmp(ch->name, ch->name_len,
	    m->after, m->after_len) <= 0)
		return;
	if (!admin_sees_channel(pick->viewer, ch))
		return;
	pick->seen++;
	if (pick->n < pick->cap) {
		pick->v[pick->n] = ch;
		admin_heap_up(pick->v, pick->n++);
	} else if (pick->cap > 0 && admin_channel_cmp(ch, pick->v[0]) < 0) {
		pick->v[0] = ch;
		admin_heap_down(pick->v, pick->n, 0);
	}
}

/* Sorts the heap in place, smallest name first. */
static void
admin_pick_sort(struct admin_pick *pick)
{
	struct channel	*t;
	size_t		 n;

	for (n = pick->n; n > 1; n--) {
		t = pick->v[0];
		pick->v[0] = pick->v[n - 1];
		pick->v[n - 1] = t;
		admin_heap_down(pick->v, n - 1, 0);
	}
}

static uint64_t
admin_inflight_bytes(const struct channel *ch)
{
	const struct message	*msg;
	uint64_t		 n = 0;

	for (msg = ch->fhead; msg != NULL; msg = msg->next)
		n += msg->len;
	return (n);
}

/* How ch's consumer gets its messages: "socket", "ring" or "direct". */
static const char *
admin_consumer_path(const struct channel *ch)
{
	const struct handle	*h = ch->consumer;

	if (ch->direct != NULL)
		return ("direct");
	return (h->ring != NULL ? "ring" : "socket");
}

static int
admin_consumer(msgpack_packer *pk, const struct channel *ch, bool full)
{
	const struct handle	*h = ch->consumer;

	if (h == NULL)
		return (msgpack_pack_nil(pk));
	return (msgpack_pack_map(pk, full ? 6 : 3) ||
	    pk_kv_u64(pk, "conn", h->conn->id) ||
	    pk_kv_u64(pk, "pid", (uint64_t)h->conn->pid) ||
	    pk_kv_u64(pk, "uid", (uint64_t)h->conn->uid) ||
	    (full && (pk_kv_client(pk, h->conn) ||
	    pk_kv_opt(pk, "idle_s", monitor_consumer_idle(ch)) ||
	    pk_kv_str(pk, "path", admin_consumer_path(ch)))));
}

/* A capacity: a number, or nil for unbounded. */
static int
pk_kv_cap(msgpack_packer *pk, const char *key, uint64_t v)
{
	return (pk_key(pk, key) || (v == CHANNEL_UNBOUNDED ?
	    msgpack_pack_nil(pk) : msgpack_pack_uint64(pk, v)));
}

/*
 * The producers of the channels of a page: the connections holding a
 * producer handle on each, at most ADMIN_PRODUCERS_MAX of them listed.
 */
#define ADMIN_PRODUCERS_MAX	8

struct admin_prods {
	const struct conn	*conn[ADMIN_PRODUCERS_MAX];
	uint32_t		 handles[ADMIN_PRODUCERS_MAX];
	uint32_t		 n;
};

/* A page's channel and its index in the page, sorted by address. */
struct admin_chidx {
	const struct channel	*ch;
	size_t			 i;
};

static int
admin_chidx_cmp(const void *a, const void *b)
{
	const struct admin_chidx	*x = a, *y = b;

	return (x->ch < y->ch ? -1 : x->ch > y->ch);
}

/* One producer handle of o on the page's channel p. */
static void
admin_prods_add(struct admin_prods *p, const struct conn *o)
{
	/* A connection's handles come together: its entry is the last. */
	if (p->n > 0 && p->conn[p->n - 1] == o) {
		p->handles[p->n - 1]++;
		return;
	}
	if (p->n == ADMIN_PRODUCERS_MAX)
		return;
	p->conn[p->n] = o;
	p->handles[p->n++] = 1;
}

/*
 * Fills prods[i] for the n channels of v, in one pass over every
 * connection's handles. NULL if out of memory (caller frees otherwise).
 */
static struct admin_prods *
admin_producers(const struct server *srv, struct channel *const *v, size_t n)
{
	struct admin_prods	*prods;
	struct admin_chidx	*idx, key, *hit;
	const struct conn	*o;
	const struct handle	*h;
	size_t			 i;

	prods = calloc(n > 0 ? n : 1, sizeof(*prods));
	idx = calloc(n > 0 ? n : 1, sizeof(*idx));
	if (prods == NULL || idx == NULL) {
		free(prods);
		free(idx);
		return (NULL);
	}
	for (i = 0; i < n; i++) {
		idx[i].ch = v[i];
		idx[i].i = i;
	}
	qsort(idx, n, sizeof(*idx), admin_chidx_cmp);
	TAILQ_FOREACH(o, &srv->conns, entry) {
		for (i = 0; i < o->hlen; i++) {
			if ((h = o->handles[i].h) == NULL || h->rx)
				continue;
			key.ch = h->ch;
			hit = bsearch(&key, idx, n, sizeof(*idx),
			    admin_chidx_cmp);
			if (hit != NULL)
				admin_prods_add(&prods[hit->i], o);
		}
	}
	free(idx);
	return (prods);
}

static int
admin_prods_pack(msgpack_packer *pk, const struct admin_prods *p)
{
	const struct conn	*o;
	uint32_t		 i;
	int			 failed;

	failed = pk_key(pk, "producer_conns") ||
	    msgpack_pack_array(pk, p->n);
	for (i = 0; i < p->n && !failed; i++) {
		o = p->conn[i];
		failed = msgpack_pack_map(pk, 5) ||
		    pk_kv_u64(pk, "conn", o->id) ||
		    pk_kv_u64(pk, "pid", (uint64_t)o->pid) ||
		    pk_kv_u64(pk, "uid", (uint64_t)o->uid) ||
		    pk_kv_client(pk, o) ||
		    pk_kv_u64(pk, "handles", p->handles[i]);
	}
	return (failed);
}

/*
 * The recent figures: oldest message, rates, last acknowledgement; and
 * the producers' rings, with what waits in them.
 */
static int
admin_channel_recent(msgpack_packer *pk, const struct channel *ch)
{
	struct monitor_rates	r;
	uint32_t		age;
	int64_t			oldest = -1;
	uint64_t		rings, in_rings;

	if (monitor_oldest_age(ch, &age) == 0)
		oldest = age;
	monitor_rates(ch, &r);
	shm_pending(ch, &rings, &in_rings);
	return (pk_kv_opt(pk, "oldest_age_s", oldest) ||
	    pk_kv_u64(pk, "recent_s", r.secs) ||
	    pk_kv_u64(pk, "recent_in", r.in) ||
	    pk_kv_u64(pk, "recent_out", r.out) ||
	    pk_kv_u64(pk, "recent_acked", r.acked) ||
	    pk_kv_u64(pk, "acked", ch->acked) ||
	    pk_kv_opt(pk, "last_ack_age_s", monitor_last_ack_age(ch)) ||
	    pk_kv_u64(pk, "rings", rings) ||
	    pk_kv_u64(pk, "in_rings", in_rings));
}

/*
 * A channel's entry; without prods (NULL), only its first 17 keys, the
 * consumer's first 3: what fits in a frame of the smallest limit.
 */
static int
admin_channel_entry(msgpack_packer *pk, const struct channel *ch,
    const struct admin_prods *prods)
{
	return (msgpack_pack_map(pk, prods != NULL ? 28 : 17) ||
	    pk_key(pk, "name") || pk_bin(pk, ch->name, ch->name_len) ||
	    pk_kv_u64(pk, "queued", ch->nqueued) ||
	    pk_kv_u64(pk, "queued_bytes", ch->qbytes) ||
	    pk_kv_u64(pk, "in_flight", ch->ninflight) ||
	    pk_kv_u64(pk, "in_flight_bytes", admin_inflight_bytes(ch)) ||
	    pk_kv_u64(pk, "held", ch->nheld) ||
	    pk_kv_u64(pk, "held_bytes", ch->held_bytes) ||
	    pk_kv_cap(pk, "capacity", ch->cap_msgs) ||
	    pk_kv_cap(pk, "capacity_bytes", ch->cap_bytes) ||
	    pk_kv_u64(pk, "producers", ch->producers) ||
	    pk_key(pk, "consumer") || admin_consumer(pk, ch, prods != NULL) ||
	    pk_kv_u64(pk, "credit", channel_credit_left(ch)) ||
	    pk_kv_u64(pk, "msgs_in", ch->msgs_in) ||
	    pk_kv_u64(pk, "msgs_out", ch->msgs_out) ||
	    pk_kv_u64(pk, "redeliveries", ch->redeliveries) ||
	    pk_key(pk, "durable") || (ch->durable ? msgpack_pack_true(pk) :
		msgpack_pack_false(pk)) ||
	    pk_kv_u64(pk, "log_bytes", durable_log_bytes(ch)) ||
	    (prods != NULL && (pk_kv_strnil(pk, "log_dir",
	    durable_log_dir(ch)) || admin_channel_recent(pk, ch) ||
	    admin_prods_pack(pk, prods))));
}

/*
 * At most how many channel entries fit in one reply: each takes more
 * than its 17 keys' 165 bytes. Too small a bound would only shorten
 * pages (the cursor still moves on), never lose an entry.
 */
#define ADMIN_CHANNEL_MIN	160

static int
admin_channels(struct conn *c, const struct proto_msg *m, msgpack_packer *pk)
{
	struct admin_pick	 pick = { .viewer = c, .m = m };
	struct admin_prods	*prods;
	struct admin_page	 page;
	const struct channel	*last = NULL;
	size_t			 i, mark;
	int			 failed;

	admin_page_init(&page, c->srv, m->limit);
	pick.cap = page.budget / ADMIN_CHANNEL_MIN + 1;
	if (pick.cap > page.limit)
		pick.cap = page.limit;
	if (pick.cap > c->srv->reg.count)
		pick.cap = c->srv->reg.count;
	if (pick.cap > 0 &&
	    (pick.v = calloc(pick.cap, sizeof(*pick.v))) == NULL) {
		msgpack_sbuffer_destroy(&page.body);
		return (-1);
	}
	admin_each_channel(&c->srv->reg, admin_pick_channel, &pick);
	admin_pick_sort(&pick);
	if ((prods = admin_producers(c->srv, pick.v, pick.n)) == NULL) {
		msgpack_sbuffer_destroy(&page.body);
		free(pick.v);
		return (-1);
	}
	for (i = 0; i < pick.n && admin_page_room(&page); i++) {
		mark = page.body.size;
		failed = admin_channel_entry(&page.pk, pick.v[i], &prods[i]);
		/*
		 * Alone and still over the budget (a --max-msg-size under
		 * 1 KiB): its first keys only, so that paging goes on.
		 */
		if (!failed && page.count == 0 &&
		    page.body.size > page.budget) {
			page.body.size = mark;
			failed = admin_channel_entry(&page.pk, pick.v[i], NULL);
		}
		if (!admin_page_fits(&page, mark, failed))
			break;
		last = pick.v[i];
	}
	free(prods);
	/* Every picked entry went, and channels beyond them wait. */
	if (i == pick.n && pick.seen > pick.n && !page.failed)
		page.more = true;
	failed = admin_page_finish(&page, pk, "channels",
	    last != NULL ? last->name : "", last != NULL ? last->name_len : 0);
	free(pick.v);
	return (failed);
}

/* Connections. */

static int
admin_conn_entry(msgpack_packer *pk, const struct conn *o)
{
	uint64_t	tx = 0, rx = 0;
	size_t		i;

	for (i = 0; i < o->hlen; i++) {
		if (o->handles[i].h == NULL)
			continue;
		if (o->handles[i].h->rx)
			rx++;
		else
			tx++;
	}
	return (msgpack_pack_map(pk, 13) ||
	    pk_kv_u64(pk, "id", o->id) ||
	    pk_kv_u64(pk, "pid", (uint64_t)o->pid) ||
	    pk_kv_u64(pk, "uid", (uint64_t)o->uid) ||
	    pk_kv_u64(pk, "gid", (uint64_t)o->gid) ||
	    pk_kv_u64(pk, "handles", o->nhandles) ||
	    pk_kv_u64(pk, "producers", tx) ||
	    pk_kv_u64(pk, "consumers", rx) ||
	    pk_kv_u64(pk, "pending_output", conn_pending(o)) ||
	    pk_key(pk, "closing") || (o->want_close || o->shut ?
		msgpack_pack_true(pk) : msgpack_pack_false(pk)) ||
	    pk_kv_client(pk, o) ||
	    pk_kv_u64(pk, "age_ms", uv_now(o->srv->loop) - o->opened) ||
	    pk_kv_u64(pk, "bytes_in", o->bytes_in) ||
	    pk_kv_u64(pk, "bytes_out", o->bytes_out));
}

/* The "after" cursor of connections: a decimal id. */
static int
admin_conn_cursor(const struct proto_msg *m, uint64_t *after)
{
	char	 buf[24], *end;

	*after = 0;
	if (m->after == NULL)
		return (0);
	if (m->after_len == 0 || m->after_len >= sizeof(buf))
		return (-1);
	memcpy(buf, m->after, m->after_len);
	buf[m->after_len] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return (-1);
	*after = strtoull(buf, &end, 10);
	return (*end == '\0' ? 0 : -1);
}

static int
admin_connections(struct conn *c, uint64_t after, uint32_t limit,
    msgpack_packer *pk)
{
	struct admin_page	 page;
	const struct conn	*o;
	char			 next[24] = "";
	size_t			 mark;

	admin_page_init(&page, c->srv, limit);
	TAILQ_FOREACH(o, &c->srv->conns, entry) {
		if (o->id <= after || !admin_sees_conn(c, o))
			continue;
		if (!admin_page_room(&page))
			break;
		mark = page.body.size;
		if (!admin_page_fits(&page, mark, admin_conn_entry(&page.pk,
		    o)))
			break;
		snprintf(next, sizeof(next), "%llu", (unsigned long long)o->id);
	}
	return (admin_page_finish(&page, pk, "connections", next,
	    strlen(next)));
}

/* The request. */

static bool
admin_what_is(const struct proto_msg *m, const char *what)
{
	return (m->what_len == strlen(what) &&
	    memcmp(m->what, what, m->what_len) == 0);
}

void
admin_stats(struct conn *c, const struct proto_msg *m)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;
	uint64_t	after;
	int		failed;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	/* What direct readers claimed and acknowledged is in their pages. */
	shm_direct_sync(c->srv);
	if (admin_what_is(m, "daemon")) {
		if (m->after != NULL || m->limit != 0) {
			admin_reply_error(c, m->rid, CHAN_EOPTION, "STATS "
			    "daemon takes no \"after\" or \"limit\"");
			goto out;
		}
		failed = admin_daemon(c, &pk);
	} else if (admin_what_is(m, "config")) {
		if (m->after != NULL || m->limit != 0) {
			admin_reply_error(c, m->rid, CHAN_EOPTION, "STATS "
			    "config takes no \"after\" or \"limit\"");
			goto out;
		}
		failed = admin_config(c, &pk);
	} else if (admin_what_is(m, "channels"))
		failed = admin_channels(c, m, &pk);
	else if (admin_what_is(m, "connections")) {
		if (admin_conn_cursor(m, &after) != 0) {
			admin_reply_error(c, m->rid, CHAN_EOPTION, "STATS "
			    "connections: \"after\" must be a connection id "
			    "in decimal");
			goto out;
		}
		failed = admin_connections(c, after, m->limit, &pk);
	} else {
		admin_reply_error(c, m->rid, CHAN_EOPTION, "STATS: unknown "
		    "view (daemon, channels, connections or config)");
		goto out;
	}
	if (failed)
		admin_reply_error(c, m->rid, CHAN_ENOMEM,
		    "out of memory building the admin view");
	else
		admin_reply_data(c, m->rid, &sb);
out:
	msgpack_sbuffer_destroy(&sb);
}

/* Admin actions (ADMIN -> INFO). */

void
admin_hello(struct conn *c, const struct proto_msg *m)
{
	size_t	len = m->text != NULL ? m->text_len : 0;

	if (len > sizeof(c->client))
		len = sizeof(c->client);
	if (len > 0)
		memcpy(c->client, m->text, len);
	c->client_len = (uint8_t)len;
}

/* A refusal by the access rules: logged once per connection at notice. */
static void
admin_refuse(struct conn *c, uint32_t rid, const char *what)
{
	log_msg((c->logged & CONN_LOG_PERM) ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_NOTICE, "permission denied: no admin right for %s "
	    "(%s)", what, c->peer);
	c->logged |= CONN_LOG_PERM;
	admin_reply_error(c, rid, CHAN_EPERM, what);
}

/* The action's result, an INFO; or NOMEM if building it failed. */
static void
admin_result(struct conn *c, uint32_t rid, msgpack_sbuffer *sb, int failed)
{
	if (failed)
		admin_reply_error(c, rid, CHAN_ENOMEM,
		    "out of memory building the result");
	else
		admin_reply_data(c, rid, sb);
}

/* A purged message of a durable channel leaves its log too. */
static void
admin_purge_cancel(struct channel *ch, uint64_t id, void *arg)
{
	durable_cancel(arg, ch, id);
}

static void
admin_purge(struct conn *c, const struct proto_msg *m, msgpack_packer *pk)
{
	struct server	*srv = c->srv;
	struct channel	*ch;
	char		 name[LOG_NAME_MAX], msg[LOG_NAME_MAX + 128];
	uint64_t	 bytes;
	size_t		 n;

	if (!proto_name_valid(m->name, m->name_len)) {
		admin_reply_error(c, m->rid, CHAN_EBADNAME, "purge: a channel "
		    "name is 1 to 255 bytes");
		return;
	}
	log_escape(name, m->name, m->name_len);
	if (!(acl_conn_rights(c, m->name, m->name_len) & ACL_ADMIN)) {
		snprintf(msg, sizeof(msg), "permission denied: uid %lu has no "
		    "admin right on channel '%s' (access rules): purge "
		    "refused", (unsigned long)c->uid, name);
		admin_refuse(c, m->rid, msg);
		return;
	}
	if ((ch = registry_find(&srv->reg, m->name, m->name_len)) == NULL) {
		snprintf(msg, sizeof(msg), "purge: no channel '%s'", name);
		admin_reply_error(c, m->rid, CHAN_EOPTION, msg);
		return;
	}
	n = channel_drop_queued(ch, ch->durable ? admin_purge_cancel : NULL,
	    srv, &bytes);
	log_notice("channel '%s': %zu queued message(s) of %llu bytes purged "
	    "by connection %llu (%s); %zu in flight and %zu held left",
	    name, n, (unsigned long long)bytes, (unsigned long long)c->id,
	    c->peer, ch->ninflight, ch->nheld);
	/* Held sends took the room: deliver, or report DISCONNECTED. */
	pump_channel(srv, ch);
	admin_result(c, m->rid, pk->data, msgpack_pack_map(pk, 5) ||
	    pk_key(pk, "channel") || pk_bin(pk, ch->name, ch->name_len) ||
	    pk_kv_u64(pk, "purged", n) ||
	    pk_kv_u64(pk, "purged_bytes", bytes) ||
	    pk_kv_u64(pk, "in_flight", ch->ninflight) ||
	    pk_kv_u64(pk, "queued", ch->nqueued));
	if (channel_is_idle(ch)) {
		if (ch->durable)
			durable_forget(srv, ch);
		registry_release(&srv->reg, ch);
	}
}

static void
admin_disconnect(struct conn *c, const struct proto_msg *m,
    msgpack_packer *pk)
{
	struct proto_msg	 q = { .after = m->name,
				   .after_len = m->name_len };
	struct conn		*o;
	char			 msg[160];
	uint64_t		 id;

	if (m->name_len == 0 || admin_conn_cursor(&q, &id) != 0) {
		admin_reply_error(c, m->rid, CHAN_EOPTION, "disconnect: a "
		    "connection id, in decimal");
		return;
	}
	if (!(acl_conn_some(c) & ACL_ADMIN)) {
		admin_refuse(c, m->rid, "permission denied: no admin right "
		    "(access rules): disconnect refused");
		return;
	}
	TAILQ_FOREACH(o, &c->srv->conns, entry) {
		if (o->id == id)
			break;
	}
	/* One the caller may not see is answered as if it did not exist. */
	if (o == NULL || o->shut || !acl_sees_conn(c, o)) {
		snprintf(msg, sizeof(msg), "disconnect: no connection %llu",
		    (unsigned long long)id);
		admin_reply_error(c, m->rid, CHAN_EOPTION, msg);
		return;
	}
	log_notice("connection %llu (%s) disconnected by connection %llu "
	    "(%s)", (unsigned long long)o->id, o->peer,
	    (unsigned long long)c->id, c->peer);
	admin_result(c, m->rid, pk->data, msgpack_pack_map(pk, 3) ||
	    pk_kv_u64(pk, "conn", o->id) ||
	    pk_kv_u64(pk, "pid", (uint64_t)o->pid) ||
	    pk_kv_u64(pk, "uid", (uint64_t)o->uid));
	snprintf(msg, sizeof(msg), "connection closed by an administrator "
	    "(%s)", c->peer);
	if (proto_enc_error(&o->out, 0, CHAN_EPERM, msg) != 0)
		log_warning("out of memory for a reply (%s)", o->peer);
	conn_mark_close(o);
}

static void
admin_log_level(struct conn *c, const struct proto_msg *m,
    msgpack_packer *pk)
{
	enum log_level	 level, was = log_get_level();
	char		 text[16];

	if (m->name_len == 0 || m->name_len >= sizeof(text)) {
		text[0] = '\0';
	} else {
		memcpy(text, m->name, m->name_len);
		text[m->name_len] = '\0';
	}
	if (log_level_parse(text, &level) != 0) {
		admin_reply_error(c, m->rid, CHAN_EOPTION, "log-level: one of "
		    "debug, info, notice, warning, error");
		return;
	}
	if (!acl_conn_all(c, ACL_ADMIN)) {
		admin_refuse(c, m->rid, "permission denied: log-level needs "
		    "the admin right on every channel (access rules)");
		return;
	}
	log_set_level(level);
	/* Said at the new level if notice no longer shows. */
	log_msg(level > LOG_LEVEL_NOTICE ? level : LOG_LEVEL_NOTICE,
	    "log level changed from %s to %s by connection %llu (%s)",
	    log_level_name(was), log_level_name(level),
	    (unsigned long long)c->id, c->peer);
	admin_result(c, m->rid, pk->data, msgpack_pack_map(pk, 2) ||
	    pk_kv_str(pk, "level", log_level_name(level)) ||
	    pk_kv_str(pk, "was", log_level_name(was)));
}

static void
admin_reload(struct conn *c, const struct proto_msg *m, msgpack_packer *pk)
{
	struct server	*srv = c->srv;
	char		 err[512], msg[600];
	int		 changed;

	if (m->name_len != 0) {
		admin_reply_error(c, m->rid, CHAN_EOPTION, "reload takes no "
		    "argument");
		return;
	}
	if (!acl_conn_all(c, ACL_ADMIN)) {
		admin_refuse(c, m->rid, "permission denied: reload needs the "
		    "admin right on every channel (access rules)");
		return;
	}
	if (srv->reload == NULL) {
		admin_reply_error(c, m->rid, CHAN_EOPTION, "reload: not "
		    "offered by this daemon");
		return;
	}
	log_info("reload requested by connection %llu (%s)",
	    (unsigned long long)c->id, c->peer);
	if (srv->reload(srv, &changed, err, sizeof(err)) != 0) {
		snprintf(msg, sizeof(msg), "reload refused, configuration "
		    "unchanged: %s", err);
		admin_reply_error(c, m->rid, CHAN_EOPTION, msg);
		return;
	}
	admin_result(c, m->rid, pk->data, msgpack_pack_map(pk, 1) ||
	    pk_kv_u64(pk, "changed", (uint64_t)changed));
}

void
admin_action(struct conn *c, const struct proto_msg *m)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;
	char		what[PROTO_ADMIN_ACTION_MAX * 4 + 1], msg[256];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (admin_what_is(m, "purge"))
		admin_purge(c, m, &pk);
	else if (admin_what_is(m, "disconnect"))
		admin_disconnect(c, m, &pk);
	else if (admin_what_is(m, "log-level"))
		admin_log_level(c, m, &pk);
	else if (admin_what_is(m, "reload"))
		admin_reload(c, m, &pk);
	else {
		log_escape(what, m->what, m->what_len);
		snprintf(msg, sizeof(msg), "ADMIN: unknown action '%s' "
		    "(purge, disconnect, log-level or reload)", what);
		admin_reply_error(c, m->rid, CHAN_EOPTION, msg);
	}
	msgpack_sbuffer_destroy(&sb);
}

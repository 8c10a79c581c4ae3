/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c: one handler per request op. See dispatch.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "admin.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "durable.h"
#include "flow.h"
#include "log.h"
#include "msgpool.h"
#include "proto.h"
#include "pump.h"
#include "quota.h"
#include "shm.h"
#include "registry.h"
#include "server.h"

typedef void	(*dispatch_fn)(struct conn *, const struct proto_msg *);

/* A reply that could not be queued: ERROR(NOMEM) in its place, close. */
static void
dispatch_nomem(struct conn *c, uint32_t rid)
{
	conn_nomem(c, rid, "queueing a reply", true);
}

static void
reply_ok(struct conn *c, uint32_t rid)
{
	if (rid == 0)
		return;
	if (proto_enc_ok(&c->out, rid) != 0)
		dispatch_nomem(c, rid);
	conn_dirty(c);
}

static void
reply_handle(struct conn *c, uint32_t rid, uint32_t id)
{
	if (rid == 0)
		return;
	if (proto_enc_handle(&c->out, rid, id) != 0)
		dispatch_nomem(c, rid);
	conn_dirty(c);
}

/*
 * ERROR with its facts for a version 2 peer (f may be NULL: none), the
 * message alone for version 1.
 */
static void
reply_error_facts(struct conn *c, uint32_t rid, int code, const char *msg,
    const struct proto_field *f, size_t n)
{
	int	rc;

	if (c->version >= 2)
		rc = proto_enc_error_fields(&c->out, rid, code, msg, f, n);
	else
		rc = proto_enc_error(&c->out, rid, code, msg);
	if (rc != 0)
		dispatch_nomem(c, rid);
	conn_dirty(c);
}

static void
reply_error_text(struct conn *c, uint32_t rid, int code, const char *msg)
{
	reply_error_facts(c, rid, code, msg, NULL, 0);
}

/* reply_error with facts. */
static void __attribute__((format(printf, 6, 7)))
reply_error_f(struct conn *c, uint32_t rid, int code,
    const struct proto_field *f, size_t n, const char *fmt, ...)
{
	char	msg[PROTO_ERRMSG_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error_facts(c, rid, code, msg, f, n);
}

static void __attribute__((format(printf, 4, 5)))
reply_error(struct conn *c, uint32_t rid, int code, const char *fmt, ...)
{
	char	msg[PROTO_ERRMSG_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error_text(c, rid, code, msg);
}

/* Logs the first trouble of a kind on c at level, the rest at debug. */
static enum log_level
dispatch_log_level(struct conn *c, unsigned kind, enum log_level level)
{
	if (c->logged & kind)
		return (LOG_LEVEL_DEBUG);
	c->logged |= kind;
	return (level);
}

/* ERROR for a request the client got wrong, logged as a protocol error. */
static void __attribute__((format(printf, 4, 5)))
reply_proto_error(struct conn *c, uint32_t rid, int code, const char *fmt,
    ...)
{
	char	msg[PROTO_ERRMSG_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(dispatch_log_level(c, CONN_LOG_PROTO, LOG_LEVEL_WARNING),
	    "protocol error: %s (%s)", msg, c->peer);
	reply_error_text(c, rid, code, msg);
}

/* Escaped name of ch for messages, in buf of LOG_NAME_MAX bytes. */
static const char *
chname(char *buf, const struct channel *ch)
{
	return (log_escape(buf, ch->name, ch->name_len));
}

/* The end of a channel that a request needs. */
enum dispatch_end {
	DISPATCH_TX,
	DISPATCH_RX,
	DISPATCH_ANY,
};

/*
 * Handle id of c, named by request op rid, if it exists, is the wanted end
 * and is not closing; else ERROR.
 */
static struct handle *
dispatch_handle_id(struct conn *c, enum proto_op op, uint32_t rid,
    uint32_t id, enum dispatch_end end)
{
	struct handle	*h;
	char		 name[LOG_NAME_MAX];

	if ((h = conn_handle_find(c, id)) == NULL) {
		reply_proto_error(c, rid, CHAN_EBADHANDLE, "%s: no handle "
		    "%lu on this connection", proto_op_name(op),
		    (unsigned long)id);
		return (NULL);
	}
	if (h->closing) {
		reply_proto_error(c, rid, CHAN_EBADHANDLE, "%s: handle %lu "
		    "is closing", proto_op_name(op), (unsigned long)id);
		return (NULL);
	}
	if (end != DISPATCH_ANY && h->rx != (end == DISPATCH_RX)) {
		reply_proto_error(c, rid, CHAN_EWRONGEND, "%s is not valid "
		    "on the %s end of channel '%s'", proto_op_name(op),
		    h->rx ? "receiving" : "sending", chname(name, h->ch));
		return (NULL);
	}
	return (h);
}

/* The handle named by m, if it exists and is the wanted end; else ERROR. */
static struct handle *
dispatch_handle(struct conn *c, const struct proto_msg *m,
    enum dispatch_end end)
{
	return (dispatch_handle_id(c, m->op, m->rid, m->handle, end));
}

/* The remembered names under the configuration in force (SIGHUP). */
static struct remember *
dispatch_remember(struct server *srv)
{
	srv->remember.max = srv->cfg->remember_max;
	srv->remember.ttl_ms = srv->cfg->remember_for * 1000;
	return (&srv->remember);
}

/*
 * Forgets ch if it is idle; a durable one's log goes with it. One that
 * ended disconnected is remembered so for a while.
 */
static void
dispatch_release(struct server *srv, struct channel *ch)
{
	if (!channel_is_idle(ch))
		return;
	if (ch->durable)
		durable_forget(srv, ch);
	/* One that never had a producer since it was remembered keeps
	   the time it ended, so that memory does not renew itself. */
	if (ch->had_producer)
		remember_put(dispatch_remember(srv), ch->name, ch->name_len,
		    ch->ended_ms != 0 ? ch->ended_ms : uv_now(srv->loop),
		    uv_now(srv->loop));
	quota_channel_gone(srv, ch);
	registry_release(&srv->reg, ch);
}

/* Producer handles that fail once the consumer goes: ch->gone_tx. */
static void
dispatch_gone_add(struct channel *ch, struct handle *h)
{
	struct handle	*head = ch->gone_tx;

	h->gone_next = head;
	if (head != NULL)
		head->gone_prevp = &h->gone_next;
	h->gone_prevp = (struct handle **)&ch->gone_tx;
	ch->gone_tx = h;
}

static void
dispatch_gone_remove(struct handle *h)
{
	if (h->gone_prevp == NULL)
		return;
	if (h->gone_next != NULL)
		h->gone_next->gone_prevp = h->gone_prevp;
	*h->gone_prevp = h->gone_next;
	h->gone_next = NULL;
	h->gone_prevp = NULL;
}

/*
 * The consumer of ch has gone: its watching producers may no longer send
 * (RXGONE, their held sends too), and a channel in rx_gone mode drops
 * what it queued, as Rust drops a Receiver's buffer.
 */
static void
dispatch_rx_gone(struct server *srv, struct channel *ch)
{
	struct handle	*h;
	char		 name[LOG_NAME_MAX];
	size_t		 n = 0;

	while ((h = ch->gone_tx) != NULL) {
		dispatch_gone_remove(h);
		h->rx_dead = true;
		channel_fail_held(ch, h, CHAN_ERXGONE);
		if (h->ring != NULL)
			shm_ring_refuse(srv, h, CHAN_ERXGONE);
	}
	if (ch->rx_gone)
		n = channel_purge(ch);
	if (n > 0)
		log_info("channel '%s': receiver gone, %zu queued messages "
		    "dropped", chname(name, ch), n);
}

void
dispatch_handle_drop(struct conn *c, struct handle *h)
{
	struct server	*srv = c->srv;
	struct channel	*ch = h->ch;
	char		 name[LOG_NAME_MAX];

	if (h->rx) {
		if (h->ring != NULL)
			shm_rx_ring_end(srv, h);
		channel_consumer_detach(ch);
		dispatch_rx_gone(srv, ch);
	} else {
		dispatch_gone_remove(h);
		durable_drop_handle(srv, h);
		flow_discard(srv, h);
		if (h->ring != NULL)
			shm_ring_end(srv, h);
		channel_producer_detach(ch);
	}
	conn_handle_remove(c, h);
	pump_channel(srv, ch);
	if (log_enabled(LOG_LEVEL_DEBUG) && channel_is_idle(ch))
		log_debug("channel '%s' forgotten", chname(name, ch));
	dispatch_release(srv, ch);
}

/* The lowest version HELLO m speaks: its "min_version", else its version. */
static uint32_t
dispatch_min_version(const struct proto_msg *m)
{
	return (m->min_version != 0 ? m->min_version : m->version);
}

/* The highest version both speak, or 0 if none. */
static uint32_t
dispatch_version(const struct proto_msg *m)
{
	uint32_t	v = m->version < PROTO_VERSION ? m->version :
			    PROTO_VERSION;

	if (v < PROTO_VERSION_MIN || v < dispatch_min_version(m))
		return (0);
	return (v);
}

static void
do_hello(struct conn *c, const struct proto_msg *m)
{
	char	server[64], client[LOG_NAME_MAX];

	if (c->hello) {
		reply_error(c, m->rid, CHAN_EPROTO, "HELLO already received");
		return;
	}
	if ((c->version = dispatch_version(m)) == 0) {
		log_notice("handshake failed: protocol versions %lu to %lu "
		    "(%s)", (unsigned long)dispatch_min_version(m),
		    (unsigned long)m->version, c->peer);
		/* Facts in the form a client of any version can read. */
		c->version = m->version >= 2 ? 2 : 1;
		reply_error_f(c, m->rid, CHAN_EVERSION, (struct proto_field[]){
		    { "min", PROTO_FIELD_UINT, PROTO_VERSION_MIN, NULL },
		    { "max", PROTO_FIELD_UINT, PROTO_VERSION, NULL } }, 2,
		    "protocol versions %lu to %lu not supported (this daemon "
		    "speaks %d to %d)", (unsigned long)dispatch_min_version(m),
		    (unsigned long)m->version, PROTO_VERSION_MIN,
		    PROTO_VERSION);
		conn_mark_close(c);
		return;
	}
	c->hello = true;
	uv_timer_stop(&c->timer);
	admin_hello(c, m);
	log_debug("connection %llu: HELLO from '%s' (%s)",
	    (unsigned long long)c->id, m->text == NULL ? "" :
	    log_escape(client, m->text, m->text_len), c->peer);
	if (m->rid == 0)
		return;
	snprintf(server, sizeof(server), "chand %s", CHAND_VERSION);
	if (proto_enc_welcome(&c->out, m->rid, c->version, server,
	    c->srv->cfg->max_msg_size, (uint64_t)getpid()) != 0)
		dispatch_nomem(c, m->rid);
	conn_dirty(c);
}

/* A capacity option as the channel stores it, dflt if not given. */
static uint64_t
dispatch_cap(const struct proto_cap *cap, uint64_t dflt)
{
	switch (cap->kind) {
	case PROTO_CAP_UNBOUNDED:
		return (CHANNEL_UNBOUNDED);
	case PROTO_CAP_VALUE:
		return (cap->value);
	default:
		return (dflt);
	}
}

/* A capacity for messages: "10" or "unbounded". */
static const char *
dispatch_cap_text(char *buf, size_t len, uint64_t cap)
{
	if (cap == CHANNEL_UNBOUNDED)
		return ("unbounded");
	snprintf(buf, len, "%llu", (unsigned long long)cap);
	return (buf);
}

/* A capacity as an ERROR fact: the number, or nil for unbounded. */
static struct proto_field
dispatch_cap_field(const char *key, uint64_t cap)
{
	return ((struct proto_field){ key, cap == CHANNEL_UNBOUNDED ?
	    PROTO_FIELD_NIL : PROTO_FIELD_UINT, cap, NULL });
}

/* The settings of ch, the facts of ERROR(CAPACITY): 4 fields in f. */
static size_t
dispatch_settings_fields(struct proto_field *f, const struct channel *ch)
{
	f[0] = dispatch_cap_field("capacity", ch->cap_msgs);
	f[1] = dispatch_cap_field("capacity_bytes", ch->cap_bytes);
	f[2] = (struct proto_field){ "durable", PROTO_FIELD_BOOL,
	    ch->durable, NULL };
	f[3] = (struct proto_field){ "rx_gone", PROTO_FIELD_BOOL,
	    ch->rx_gone, NULL };
	return (4);
}

/* The facts of ERROR(LIMIT): the option's name and its value. */
static size_t
dispatch_limit_fields(struct proto_field *f, const char *option,
    uint64_t value)
{
	f[0] = (struct proto_field){ "limit", PROTO_FIELD_STR, 0, option };
	f[1] = (struct proto_field){ "value", PROTO_FIELD_UINT, value, NULL };
	return (2);
}

/* ERROR for a refusal of quota.c, with the limit's facts if any. */
static void __attribute__((format(printf, 5, 6)))
dispatch_quota_error(struct conn *c, uint32_t rid, int code,
    const struct quota_refusal *r, const char *fmt, ...)
{
	struct proto_field	f[2];
	char			msg[PROTO_ERRMSG_MAX];
	va_list			ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->limit == NULL)
		reply_error_facts(c, rid, code, msg, NULL, 0);
	else
		reply_error_facts(c, rid, code, msg, f,
		    dispatch_limit_fields(f, r->limit, r->value));
}

/*
 * An OPEN of an existing channel that states a capacity other than the
 * channel's gets ERROR(CAPACITY) naming both; a key left out accepts the
 * channel's. True if it was refused.
 */
static bool
dispatch_capacity_differs(struct conn *c, const struct proto_msg *m,
    const struct channel *ch)
{
	struct proto_field f[4];
	char	name[LOG_NAME_MAX], n[24], b[24], asked[64];
	bool	msgs, bytes;

	msgs = m->capacity.kind != PROTO_CAP_ABSENT &&
	    dispatch_cap(&m->capacity, 0) != ch->cap_msgs;
	bytes = m->capacity_bytes.kind != PROTO_CAP_ABSENT &&
	    dispatch_cap(&m->capacity_bytes, 0) != ch->cap_bytes;
	if (!msgs && !bytes)
		return (false);
	if (msgs)
		snprintf(asked, sizeof(asked), "%s messages", dispatch_cap_text(
		    n, sizeof(n), dispatch_cap(&m->capacity, 0)));
	else
		snprintf(asked, sizeof(asked), "%s bytes", dispatch_cap_text(
		    b, sizeof(b), dispatch_cap(&m->capacity_bytes, 0)));
	reply_error_f(c, m->rid, CHAN_ECAPACITY, f,
	    dispatch_settings_fields(f, ch), "channel '%s' exists with "
	    "capacity %s messages, %s bytes (this open asked for %s)",
	    chname(name, ch), dispatch_cap_text(n, sizeof(n), ch->cap_msgs),
	    dispatch_cap_text(b, sizeof(b), ch->cap_bytes), asked);
	return (true);
}

/*
 * An OPEN of an existing channel that states a durability other than the
 * channel's gets ERROR(CAPACITY) too: it exists with other settings.
 */
static bool
dispatch_durable_differs(struct conn *c, const struct proto_msg *m,
    const struct channel *ch)
{
	struct proto_field f[4];
	char	name[LOG_NAME_MAX];

	if (m->durable < 0 || (m->durable == 1) == ch->durable)
		return (false);
	reply_error_f(c, m->rid, CHAN_ECAPACITY, f,
	    dispatch_settings_fields(f, ch), "channel '%s' exists and is "
	    "%s (this open asked for a %s channel)", chname(name, ch),
	    ch->durable ? "durable" : "not durable",
	    m->durable ? "durable" : "non-durable");
	return (true);
}

/* Logs a refusal by the access rules: the first on c, the rest at debug. */
static void
dispatch_perm_log(struct conn *c, unsigned right, const char *what)
{
	log_msg(dispatch_log_level(c, CONN_LOG_PERM, LOG_LEVEL_NOTICE),
	    "permission denied: no %s right on %s (%s)",
	    acl_right_name(right), what, c->peer);
}

/*
 * Whether the access rules let c's peer use right on the channel m names;
 * if not, replies ERROR(PERM) naming the channel. Checked before anything
 * else about the channel, so that a refusal tells nothing about it
 * (whether it exists, or has a consumer).
 */
static bool
dispatch_allowed(struct conn *c, const struct proto_msg *m, unsigned right)
{
	char	name[LOG_NAME_MAX], what[LOG_NAME_MAX + 16];

	if (acl_conn_rights(c, m->name, m->name_len) & right)
		return (true);
	log_escape(name, m->name, m->name_len);
	snprintf(what, sizeof(what), "channel '%s'", name);
	dispatch_perm_log(c, right, what);
	reply_error(c, m->rid, CHAN_EPERM, "permission denied: uid %lu has "
	    "no %s right on channel '%s' (access rules)",
	    (unsigned long)c->uid, acl_right_name(right), name);
	return (false);
}

/*
 * Whether creating the channel m names would pass --max-channels; if so,
 * replies LIMIT naming it. Logged once until a channel is created again.
 */
static bool
dispatch_over_channels(struct conn *c, const struct proto_msg *m)
{
	struct server	*srv = c->srv;
	struct proto_field f[2];
	char		 name[LOG_NAME_MAX];

	if (srv->reg.count < srv->cfg->max_channels)
		return (false);
	log_escape(name, m->name, m->name_len);
	if (!srv->channel_limit_logged)
		log_warning("channel limit of %llu reached, refusing to create "
		    "channel '%s' (%s)",
		    (unsigned long long)srv->cfg->max_channels, name, c->peer);
	srv->channel_limit_logged = true;
	reply_error_f(c, m->rid, CHAN_ELIMIT, f, dispatch_limit_fields(f,
	    "max-channels", srv->cfg->max_channels), "channel limit of %llu "
	    "reached (--max-channels); channel '%s' not created",
	    (unsigned long long)srv->cfg->max_channels, name);
	return (true);
}

/*
 * Gives the channel just created for m its log; if that fails, replies
 * DISK and forgets the channel.
 */
static int
dispatch_durable_open(struct conn *c, const struct proto_msg *m,
    struct channel *ch)
{
	char	name[LOG_NAME_MAX], why[PROTO_ERRMSG_MAX / 2];

	if (durable_open(c->srv, ch, why, sizeof(why)) == 0)
		return (0);
	chname(name, ch);
	log_warning("durable channel '%s' not created: %s (%s)", name, why,
	    c->peer);
	reply_error(c, m->rid, CHAN_EDISK, "durable channel '%s' not "
	    "created: %s", name, why);
	dispatch_release(c->srv, ch);
	return (-1);
}

/*
 * The open options that only some opens may state: "forever" belongs to
 * OPEN_RX; "rx_gone" does not go with a durable channel, which keeps its
 * messages for the next consumer; a consumer's "rx_gone" states the
 * channel's mode, which an existing channel must have. True if refused.
 */
static bool
dispatch_open_opts_bad(struct conn *c, const struct proto_msg *m, bool rx,
    const struct channel *ch)
{
	struct proto_field f[4];
	char	name[LOG_NAME_MAX];
	bool	durable;

	if (!rx && m->forever >= 0) {
		reply_proto_error(c, m->rid, CHAN_EOPTION, "OPEN_TX: option "
		    "\"forever\" is a receiver's");
		return (true);
	}
	durable = ch != NULL ? ch->durable : m->durable == 1 ||
	    (m->durable < 0 && durable_wanted(c->srv, m));
	if (m->rx_gone == 1 && ch == NULL && durable) {
		reply_proto_error(c, m->rid, CHAN_EOPTION, "option "
		    "\"rx_gone\" does not go with a durable channel, which "
		    "keeps its messages for the next consumer");
		return (true);
	}
	if (rx && ch != NULL && m->rx_gone >= 0 &&
	    (m->rx_gone == 1) != ch->rx_gone) {
		log_escape(name, m->name, m->name_len);
		reply_error_f(c, m->rid, CHAN_ECAPACITY, f,
		    dispatch_settings_fields(f, ch), "channel '%s' exists %s "
		    "rx_gone mode (this open asked otherwise)", name,
		    ch->rx_gone ? "in" : "not in");
		return (true);
	}
	return (false);
}

/* Opens a channel and a handle on it, or replies with the error. */
static struct handle *
dispatch_open(struct conn *c, const struct proto_msg *m, bool rx)
{
	struct server	*srv = c->srv;
	const struct config *cfg = srv->cfg;
	struct proto_field f[2];
	struct channel	*ch;
	struct handle	*h;
	struct quota_refusal r;
	char		 name[LOG_NAME_MAX];
	uint64_t	 cap_msgs, cap_bytes;
	bool		 created;
	int		 rc;

	if (c->nhandles >= srv->cfg->max_handles) {
		log_msg(dispatch_log_level(c, CONN_LOG_LIMIT, LOG_LEVEL_NOTICE),
		    "handle limit of %llu reached (%s)",
		    (unsigned long long)srv->cfg->max_handles, c->peer);
		reply_error_f(c, m->rid, CHAN_ELIMIT, f, dispatch_limit_fields(
		    f, "max-handles", srv->cfg->max_handles), "handle limit "
		    "of %llu per connection reached (--max-handles)",
		    (unsigned long long)srv->cfg->max_handles);
		return (NULL);
	}
	ch = registry_find(&srv->reg, m->name, m->name_len);
	if (ch != NULL && (dispatch_capacity_differs(c, m, ch) ||
	    dispatch_durable_differs(c, m, ch)))
		return (NULL);
	if (dispatch_open_opts_bad(c, m, rx, ch))
		return (NULL);
	created = ch == NULL;
	if (created && dispatch_over_channels(c, m))
		return (NULL);
	if ((rc = quota_handle_check(c, &r)) != 0) {
		dispatch_quota_error(c, m->rid, rc, &r, "%s", r.text);
		return (NULL);
	}
	cap_msgs = dispatch_cap(&m->capacity, cfg->default_capacity);
	cap_bytes = dispatch_cap(&m->capacity_bytes,
	    cfg->default_capacity_bytes);
	if (created && ((rc = quota_channel_check(c, m->name, m->name_len,
	    &r)) != 0 || (rc = quota_capacity(c, &cap_msgs,
	    m->capacity.kind != PROTO_CAP_ABSENT, &cap_bytes,
	    m->capacity_bytes.kind != PROTO_CAP_ABSENT, &r)) != 0)) {
		log_escape(name, m->name, m->name_len);
		log_msg(dispatch_log_level(c, rc == CHAN_EPERM ?
		    CONN_LOG_PERM : CONN_LOG_LIMIT, LOG_LEVEL_NOTICE),
		    "channel '%s' not created: %s (%s)", name, r.text,
		    c->peer);
		dispatch_quota_error(c, m->rid, rc, &r, "channel '%s' not "
		    "created: %s", name, r.text);
		return (NULL);
	}
	rc = registry_open(&srv->reg, m->name, m->name_len, &ch);
	if (rc == CHAN_EBADNAME) {
		reply_error(c, m->rid, rc, "channel name must be 1 to %d bytes",
		    PROTO_NAME_MAX);
		return (NULL);
	}
	if (rc != 0) {
		reply_error(c, m->rid, rc, "out of memory opening a channel");
		return (NULL);
	}
	if (created)
		srv->channel_limit_logged = false;
	/* The first open of a name fixes the channel's capacity. */
	if (created) {
		channel_set_capacity(ch, cap_msgs, cap_bytes);
		quota_channel_created(c, ch);
		ch->rx_gone = m->rx_gone == 1;
		ch->had_producer = remember_take(dispatch_remember(srv),
		    m->name, m->name_len, uv_now(srv->loop), &ch->ended_ms);
	}
	if (created && durable_wanted(srv, m) &&
	    dispatch_durable_open(c, m, ch) != 0)
		return (NULL);
	if ((rc = conn_handle_add(c, ch, rx, &h)) != 0) {
		reply_error(c, m->rid, rc, "cannot open a handle: %s",
		    rc == CHAN_ELIMIT ? "handle ids exhausted" :
		    "out of memory");
		/* A channel created for this open must not linger. */
		dispatch_release(srv, ch);
		return (NULL);
	}
	return (h);
}

static void
do_open_tx(struct conn *c, const struct proto_msg *m)
{
	struct handle	*h;

	if (!dispatch_allowed(c, m, ACL_SEND))
		return;
	if ((h = dispatch_open(c, m, false)) == NULL)
		return;
	channel_producer_attach(h->ch);
	h->rx_gone = m->rx_gone == 1 || h->ch->rx_gone;
	if (h->rx_gone)
		dispatch_gone_add(h->ch, h);
	reply_handle(c, m->rid, h->id);
}

static void
do_open_rx(struct conn *c, const struct proto_msg *m)
{
	struct channel	*ch;
	struct handle	*h, *other;
	char		 name[LOG_NAME_MAX];

	if (!dispatch_allowed(c, m, ACL_RECV))
		return;
	ch = registry_find(&c->srv->reg, m->name, m->name_len);
	if (ch != NULL && (other = ch->consumer) != NULL) {
		chname(name, ch);
		log_msg(dispatch_log_level(c, CONN_LOG_BUSY, LOG_LEVEL_NOTICE),
		    "channel '%s' busy: consumer pid %ld, refused %s", name,
		    (long)other->conn->pid, c->peer);
		reply_error_f(c, m->rid, CHAN_EBUSY, (struct proto_field[]){
		    { "pid", PROTO_FIELD_UINT, (uint64_t)other->conn->pid,
		    NULL } }, 1, "channel '%s' already has a consumer (pid %ld)",
		    name, (long)other->conn->pid);
		return;
	}
	if ((h = dispatch_open(c, m, true)) == NULL)
		return;
	channel_consumer_attach(h->ch, h);
	channel_consumer_set_mode(h->ch, m->forever == 1 ? CHANNEL_RX_FOREVER :
	    c->version >= 2 ? CHANNEL_RX_STATE : CHANNEL_RX_ONCE);
	reply_handle(c, m->rid, h->id);
	pump_channel(c->srv, h->ch);
}

static void
do_close(struct conn *c, const struct proto_msg *m)
{
	struct handle	*h;

	if ((h = dispatch_handle(c, m, DISPATCH_ANY)) == NULL)
		return;
	/* The producer stays attached until its held sends are queued. */
	if (h->nheld > 0) {
		h->closing = true;
		h->close_rid = m->rid;
		return;
	}
	reply_ok(c, m->rid);
	dispatch_handle_drop(c, h);
}

void
dispatch_close_done(struct conn *c, struct handle *h)
{
	reply_ok(c, h->close_rid);
	dispatch_handle_drop(c, h);
}

/*
 * The daemon-wide limit that one more message of len bytes would pass,
 * as text for the error, with its value in *limit; NULL if there is room.
 */
static const char *
dispatch_queue_limit(const struct server *srv, size_t len, uint64_t *limit,
    const char **option)
{
	const struct channel_totals	*t = &srv->reg.totals;
	const struct config		*cfg = srv->cfg;
	/* What producer rings hold granted counts as queued. */
	uint64_t			 bytes = t->bytes + srv->shm_resv_bytes;

	if (len > cfg->max_queued_bytes ||
	    bytes > cfg->max_queued_bytes - len) {
		*limit = cfg->max_queued_bytes;
		*option = "max-queued-bytes";
		return ("queued bytes (--max-queued-bytes)");
	}
	if (t->msgs + srv->shm_resv_msgs >= cfg->max_queued_msgs) {
		*limit = cfg->max_queued_msgs;
		*option = "max-queued-messages";
		return ("queued messages (--max-queued-messages)");
	}
	return (NULL);
}

/*
 * ERROR(FULL) for a send that could not be queued in time, naming what
 * stood in its way: the message capacity, the byte capacity, or sends
 * held before it (which it may not overtake).
 */
static void
reply_full(struct conn *c, uint32_t rid, const struct channel *ch)
{
	struct proto_field f[2];
	char	name[LOG_NAME_MAX], n[24];

	chname(name, ch);
	if (ch->nqueued >= ch->cap_msgs || ch->cap_msgs == 0) {
		f[0] = (struct proto_field){ "limit", PROTO_FIELD_STR, 0,
		    "capacity" };
		f[1] = dispatch_cap_field("value", ch->cap_msgs);
		reply_error_f(c, rid, CHAN_EFULL, f, 2, "channel '%s' is full "
		    "(capacity %s messages); message not queued", name,
		    dispatch_cap_text(n, sizeof(n), ch->cap_msgs));
	} else if (ch->nheld > 0 && ch->qbytes < ch->cap_bytes) {
		f[0] = (struct proto_field){ "limit", PROTO_FIELD_STR, 0,
		    "held" };
		f[1] = (struct proto_field){ "value", PROTO_FIELD_UINT,
		    ch->nheld, NULL };
		reply_error_f(c, rid, CHAN_EFULL, f, 2, "channel '%s': %zu "
		    "sends are held before this one; message not queued", name,
		    ch->nheld);
	} else {
		f[0] = (struct proto_field){ "limit", PROTO_FIELD_STR, 0,
		    "capacity_bytes" };
		f[1] = dispatch_cap_field("value", ch->cap_bytes);
		reply_error_f(c, rid, CHAN_EFULL, f, 2, "channel '%s' is full "
		    "(capacity %s bytes, %zu queued); message not queued",
		    name, dispatch_cap_text(n, sizeof(n), ch->cap_bytes),
		    ch->qbytes);
	}
}

/* ERROR(RXGONE) for a send of a producer whose consumer went. */
static void
reply_rx_gone(struct conn *c, uint32_t rid, const struct channel *ch)
{
	char	name[LOG_NAME_MAX];

	reply_error(c, rid, CHAN_ERXGONE, "channel '%s': the receiver is "
	    "gone; message not queued", chname(name, ch));
}

void
dispatch_send_done(struct conn *c, struct handle *h, uint32_t rid,
    int result)
{
	if (result == CHAN_ERXGONE)
		reply_rx_gone(c, rid, h->ch);
	else if (result != 0)
		reply_full(c, rid, h->ch);
	else if (h->ch->durable)
		durable_confirm(c->srv, h, rid, 0);
	else
		reply_ok(c, rid);
}

void
dispatch_send_confirmed(struct conn *c, struct handle *h, uint32_t rid,
    int rc, const char *why)
{
	char	name[LOG_NAME_MAX];

	if (rc == 0)
		reply_ok(c, rid);
	else
		reply_error(c, rid, rc, "message to durable channel '%s' not "
		    "confirmed: %s", chname(name, h->ch), why);
	if (--h->nheld == 0 && h->closing)
		dispatch_close_done(c, h);
}

/*
 * A send to a durable channel logs its message first: DISK, nothing
 * queued, if it cannot. 0 with *lsn set, or -1 once replied.
 */
static int
dispatch_send_log(struct conn *c, const struct proto_msg *m,
    struct channel *ch, uint64_t *lsn)
{
	char	name[LOG_NAME_MAX], why[PROTO_ERRMSG_MAX / 2];

	if (durable_append(c->srv, ch, m->payload, m->payload_len, lsn, why,
	    sizeof(why)) == 0)
		return (0);
	chname(name, ch);
	log_msg(dispatch_log_level(c, CONN_LOG_DISK, LOG_LEVEL_WARNING),
	    "send to durable channel '%s' refused: %s (%s)", name, why,
	    c->peer);
	reply_error(c, m->rid, CHAN_EDISK, "message to durable channel '%s' "
	    "not written to its log: %s; not queued", name, why);
	return (-1);
}

/*
 * SEND, SEND_TIMED and SEND_MARKED. may_wait false: FULL unless queued or
 * delivered at once; deadline: when a held send expires with FULL; flags:
 * the message's mark (SEND_MARKED), 0 for the others. *node, if not
 * NULL, holds the payload already (m->payload is its data): the channel
 * takes it, and *node becomes NULL, if the message is queued or held.
 */
static void
dispatch_send(struct conn *c, const struct proto_msg *m, bool may_wait,
    uint64_t deadline, uint16_t flags, struct message **node)
{
	struct server	*srv = c->srv;
	struct channel_send a;
	struct proto_field f[2];
	struct handle	*h;
	struct held	*hd;
	const char	*what, *option;
	struct quota_refusal r;
	char		 name[LOG_NAME_MAX];
	uint64_t	 limit, id, lsn = 0;
	int		 rc;

	if ((h = dispatch_handle(c, m, DISPATCH_TX)) == NULL)
		return;
	if (h->rx_dead) {
		reply_rx_gone(c, m->rid, h->ch);
		return;
	}
	what = dispatch_queue_limit(srv, m->payload_len, &limit, &option);
	/* Rings' unclaimed grants count in the limits: they come back first. */
	if (what != NULL && shm_take_back_all(srv))
		what = dispatch_queue_limit(srv, m->payload_len, &limit,
		    &option);
	if (what != NULL) {
		chname(name, h->ch);
		/* Logged again only after a send has succeeded. */
		if (!srv->queue_limit_logged)
			log_warning("limit of %llu %s reached, refusing a send "
			    "to '%s' (%s)", (unsigned long long)limit, what,
			    name, c->peer);
		srv->queue_limit_logged = true;
		reply_error_f(c, m->rid, CHAN_ELIMIT, f, dispatch_limit_fields(
		    f, option, limit), "daemon limit of %llu %s reached; "
		    "message to channel '%s' not queued",
		    (unsigned long long)limit, what, name);
		return;
	}
	if ((rc = quota_queue_check(c, h->ch, m->payload_len, &r)) != 0 &&
	    shm_take_back_all(srv))
		rc = quota_queue_check(c, h->ch, m->payload_len, &r);
	if (rc != 0) {
		dispatch_quota_error(c, m->rid, rc, &r, "%s; message to channel "
		    "'%s' not queued", r.text, chname(name, h->ch));
		return;
	}
	/* A durable send that would fail FULL is not logged at all. */
	if (h->ch->durable && channel_refuses(h->ch, m->payload_len,
	    may_wait)) {
		reply_full(c, m->rid, h->ch);
		return;
	}
	id = h->ch->next_id;
	if (h->ch->durable && dispatch_send_log(c, m, h->ch, &lsn) != 0)
		return;
	/* What rings committed before this send came is sent before it. */
	if (h->ch->rings != NULL) {
		shm_direct_pause(srv, h->ch);
		shm_collect(srv, h->ch);
		shm_make_room(srv, h->ch, m->payload_len);
	}
	a = (struct channel_send){ h, m->rid, may_wait, deadline, flags };
	if (node != NULL && *node != NULL) {
		rc = channel_send_msg(h->ch, *node, &a, &hd);
		if (rc >= 0)
			*node = NULL;
	} else
		rc = channel_send(h->ch, m->payload, m->payload_len, &a,
		    &hd);
	if (rc < 0 && h->ch->durable) {
		/* Logged but not accepted: withdrawn, its id not reused. */
		durable_cancel(srv, h->ch, id);
		h->ch->next_id = id + 1;
	}
	if (rc == CHAN_EFULL) {
		reply_full(c, m->rid, h->ch);
		return;
	}
	if (rc < 0) {
		reply_error(c, m->rid, rc, "cannot queue a message of %zu "
		    "bytes on channel '%s'", m->payload_len,
		    chname(name, h->ch));
		return;
	}
	srv->queue_limit_logged = false;
	/*
	 * The log has no mark per message: a marked message is logged as
	 * delivered, so that it comes back marked after a restart too (and
	 * so do the messages before it; docs/durability.md).
	 */
	if (flags != 0 && h->ch->durable)
		durable_delivered(srv, h->ch, id);
	if (rc == CHANNEL_QUEUED && h->ch->durable)
		durable_confirm(srv, h, m->rid, lsn);
	else if (rc == CHANNEL_QUEUED)
		reply_ok(c, m->rid);
	else
		flow_held(srv, h, hd);
	pump_channel(srv, h->ch);
	/* Not delivered straight away: a send that may not wait fails. */
	if (rc == CHANNEL_HELD && !may_wait)
		flow_expire(srv);
}

static void
do_send(struct conn *c, const struct proto_msg *m)
{
	dispatch_send(c, m, true, CHANNEL_NO_DEADLINE, 0, NULL);
}

void
dispatch_send_node(struct conn *c, const struct proto_msg *m,
    struct message *node)
{
	struct proto_msg	mm = *m;

	mm.payload = node->data;
	mm.payload_len = node->len;
	dispatch_send(c, &mm, true, CHANNEL_NO_DEADLINE, 0, &node);
	msgpool_put(node);
}

static void
do_send_timed(struct conn *c, const struct proto_msg *m)
{
	uint64_t	now = uv_now(c->srv->loop);

	dispatch_send(c, m, m->wait_ms > 0, now + m->wait_ms, 0, NULL);
}

static void
do_send_marked(struct conn *c, const struct proto_msg *m)
{
	dispatch_send(c, m, true, CHANNEL_NO_DEADLINE, (uint16_t)m->flags,
	    NULL);
}

/*
 * Whether pumping the channel of consumer h can do anything after an
 * acknowledgement that granted n credits. One that grants none changes
 * neither the credit nor the queue, so it cannot start a delivery; and a
 * disconnection, the only thing it can make reportable, needs both the
 * last message in flight taken and no producer left. The shared-memory
 * path (a consumer's ring filling and draining, the retries of direct
 * reading) is left to pump as it did. At thousands of channels each
 * acknowledgement's pump was a pass over cold lines (the consumer's
 * handle among them) for nothing.
 */
static bool
dispatch_ack_pumps(const struct handle *h, uint32_t n)
{
	const struct channel *ch = h->ch;

	return (n > 0 || (ch->fhead == NULL && ch->producers == 0) ||
	    ch->rings != NULL || h->ring != NULL);
}

static void
do_ack(struct conn *c, const struct proto_msg *m)
{
	struct handle	*h;
	char		 name[LOG_NAME_MAX];

	if ((h = dispatch_handle(c, m, DISPATCH_RX)) == NULL)
		return;
	if (channel_ack(h->ch, m->seq) != 0) {
		reply_proto_error(c, m->rid, CHAN_EPROTO, "ACK of seq %llu on "
		    "channel '%s' is beyond the last delivered seq %llu",
		    (unsigned long long)m->seq, chname(name, h->ch),
		    (unsigned long long)h->ch->last_seq);
		return;
	}
	if (h->ch->durable)
		durable_acked(c->srv, h->ch);
	reply_ok(c, m->rid);
	if (dispatch_ack_pumps(h, 0))
		pump_channel(c->srv, h->ch);
}

static void
do_credit(struct conn *c, const struct proto_msg *m)
{
	struct handle	*h;

	/* proto_decode has refused a count outside 1..PROTO_CREDIT_MAX. */
	if ((h = dispatch_handle(c, m, DISPATCH_RX)) == NULL)
		return;
	channel_credit(h->ch, m->count);
	reply_ok(c, m->rid);
	pump_channel(c->srv, h->ch);
}

/*
 * ACKS: ACK and CREDIT for many consumer handles in one frame, so that a
 * consumer of many channels owes the daemon one frame per round, not one
 * per channel. Every entry is checked before any is applied: a frame
 * with a bad entry changes nothing and gets the error the same ACK or
 * CREDIT would. The check leaves entry i's handle in hs[i], so that each
 * is looked up once, not once a pass.
 */
static bool
dispatch_acks_check(struct conn *c, const struct proto_msg *m,
    struct handle **hs)
{
	const struct proto_ack_entry *e;
	struct channel		*ch;
	char			 name[LOG_NAME_MAX];
	uint32_t		 i;

	for (i = 0; i < m->nacks; i++) {
		e = &m->acks[i];
		hs[i] = dispatch_handle_id(c, m->op, m->rid, e->handle,
		    DISPATCH_RX);
		if (hs[i] == NULL)
			return (false);
		ch = hs[i]->ch;
		if (e->seq > ch->last_seq) {
			reply_proto_error(c, m->rid, CHAN_EPROTO, "ACKS: seq "
			    "%llu on channel '%s' is beyond the last delivered "
			    "seq %llu", (unsigned long long)e->seq,
			    chname(name, ch), (unsigned long long)ch->last_seq);
			return (false);
		}
	}
	return (true);
}

static void
do_acks(struct conn *c, const struct proto_msg *m)
{
	const struct proto_ack_entry *e;
	struct handle	*hs[PROTO_ACKS_MAX];
	struct channel	*ch;
	uint32_t	 i;

	if (!dispatch_acks_check(c, m, hs))
		return;
	for (i = 0; i < m->nacks; i++) {
		e = &m->acks[i];
		ch = hs[i]->ch;
		if (e->seq > 0 && channel_ack(ch, e->seq) == 0 && ch->durable)
			durable_acked(c->srv, ch);
		if (e->n > 0)
			channel_credit(ch, e->n);
	}
	reply_ok(c, m->rid);
	for (i = 0; i < m->nacks; i++) {
		if (dispatch_ack_pumps(hs[i], m->acks[i].n))
			pump_channel(c->srv, hs[i]->ch);
	}
}

/*
 * The admin view needs the admin right on some channel; what it lists is
 * then narrowed to what the caller may see (acl_sees_channel).
 */
static void
do_stats(struct conn *c, const struct proto_msg *m)
{
	char	view[PROTO_STATS_WHAT_MAX * 4 + 1], what[sizeof(view) + 16];

	if (acl_conn_some(c) & ACL_ADMIN) {
		admin_stats(c, m);
		return;
	}
	log_escape(view, m->what, m->what_len);
	snprintf(what, sizeof(what), "STATS '%s'", view);
	dispatch_perm_log(c, ACL_ADMIN, what);
	reply_error(c, m->rid, CHAN_EPERM, "permission denied: uid %lu has "
	    "no admin right on any channel (access rules): STATS '%s' "
	    "refused", (unsigned long)c->uid, view);
}

/*
 * PING: a barrier. Records committed in the rings of the channels this
 * connection receives from count as sent before it (as for a RECALL), so
 * that a look over a standing set of receivers (chan_rxset_recv with no
 * wait) sees a send confirmed through a ring. A consumer reading its
 * ring directly takes its records itself.
 */
static void
do_ping(struct conn *c, const struct proto_msg *m)
{
	struct handle	*h;
	size_t		 i;

	for (i = 0; i < c->hlen; i++) {
		h = c->handles[i].h;
		if (h == NULL || !h->rx || h->ch->rings == NULL ||
		    h->ch->direct != NULL)
			continue;
		shm_collect(c->srv, h->ch);
		pump_channel(c->srv, h->ch);
	}
	reply_ok(c, m->rid);
}

/* Orders the channels of a group by their consumer handle's id. */
static int
dispatch_cmp_consumer(const void *a, const void *b)
{
	const struct handle	*x = (*(struct channel *const *)a)->consumer;
	const struct handle	*y = (*(struct channel *const *)b)->consumer;

	return ((x->id > y->id) - (x->id < y->id));
}

/*
 * RECALL: a receive is over. What the consumer's credit lets the daemon
 * deliver now goes first, then a disconnection it is owed, then the
 * credit comes back and OK follows: no message leaves the queue for a
 * receive that has returned, and none the receive could have had is
 * missed.
 */
static void
do_recall(struct conn *c, const struct proto_msg *m)
{
	struct channel	*chs[PROTO_SELECT_MAX];
	struct selgroup	*g;
	struct handle	*h;
	size_t		 i, n;

	if ((h = dispatch_handle(c, m, DISPATCH_RX)) == NULL)
		return;
	/*
	 * A SELECT's receive is over for every member: each gets its due, in
	 * handle order, from the group's own list (not from all the
	 * connection's handles, which may be thousands).
	 */
	if ((g = h->ch->group) != NULL) {
		n = g->members;
		memcpy(chs, g->chs, n * sizeof(chs[0]));
		qsort(chs, n, sizeof(chs[0]), dispatch_cmp_consumer);
		for (i = 0; i < n && g->credit > 0; i++) {
			if (chs[i] != h->ch)
				pump_force(c->srv, chs[i]);
		}
	}
	pump_recall(c->srv, h->ch);
	reply_ok(c, m->rid);
}

/*
 * SELECT: one credit shared by several consumer handles, so that a
 * receive over several channels takes no more messages than it asked for
 * from all of them together. Every handle is checked first; a bad one
 * fails the frame and nothing of it is applied. The members are pumped
 * from a turn that moves on with each SELECT, so that a busy channel
 * cannot starve the others.
 */
static void
do_select(struct conn *c, const struct proto_msg *m)
{
	struct channel	*chs[PROTO_SELECT_MAX];
	struct proto_msg one;
	struct selgroup	*g;
	struct handle	*h;
	uint32_t	 i, start;

	for (i = 0; i < m->nhandles; i++) {
		one = (struct proto_msg){ .op = m->op, .rid = m->rid,
		    .handle = m->handles[i] };
		if ((h = dispatch_handle(c, &one, DISPATCH_RX)) == NULL)
			return;
		chs[i] = h->ch;
	}
	if ((g = channel_group_new(chs, m->nhandles, m->count)) == NULL) {
		reply_error(c, m->rid, CHAN_ENOMEM, "out of memory for a "
		    "SELECT of %lu handles", (unsigned long)m->nhandles);
		return;
	}
	start = c->select_turn++ % m->nhandles;
	for (i = 0; i < m->nhandles && g->credit > 0; i++)
		pump_channel(c->srv, chs[(start + i) % m->nhandles]);
	reply_ok(c, m->rid);
}

static void
do_ring(struct conn *c, const struct proto_msg *m)
{
	struct handle	*h;
	const char	*why = NULL;
	uint64_t	 token;
	int		 rc;

	if ((h = dispatch_handle(c, m, DISPATCH_ANY)) == NULL)
		return;
	if ((rc = shm_ring_new(c, h, m->count, &token, &why)) != 0) {
		reply_proto_error(c, m->rid, rc, "RING: %s", why);
		return;
	}
	if (m->rid == 0)
		return;
	if (proto_enc_ring_token(&c->out, m->rid, token) != 0)
		dispatch_nomem(c, m->rid);
	conn_dirty(c);
}

/* DIRECT: a consumer on a ring wants to read its producer's ring, or not. */
static void
do_direct(struct conn *c, const struct proto_msg *m)
{
	struct handle	*h;

	/*
	 * Giving up is answered for a handle already closed: the client may
	 * have closed it while it fetched an offer the close withdrew.
	 */
	if (m->count == 0 && conn_handle_find(c, m->handle) == NULL) {
		reply_ok(c, m->rid);
		return;
	}
	if ((h = dispatch_handle(c, m, DISPATCH_RX)) == NULL)
		return;
	if (m->count > 3) {
		reply_proto_error(c, m->rid, CHAN_EPROTO, "DIRECT: on must be "
		    "0, 1, 2 or 3, not %lu", (unsigned long)m->count);
		return;
	}
	shm_direct_want(c->srv, h, (int)m->count);
	reply_ok(c, m->rid);
}

void
dispatch_conn_error(struct conn *c, int code, const char *msg)
{
	reply_error_text(c, 0, code, msg);
	conn_mark_close(c);
}

static const dispatch_fn dispatch_table[] = {
	[PROTO_HELLO] = do_hello,
	[PROTO_OPEN_TX] = do_open_tx,
	[PROTO_OPEN_RX] = do_open_rx,
	[PROTO_CLOSE] = do_close,
	[PROTO_SEND] = do_send,
	[PROTO_ACK] = do_ack,
	[PROTO_CREDIT] = do_credit,
	[PROTO_PING] = do_ping,
	[PROTO_STATS] = do_stats,
	[PROTO_SEND_TIMED] = do_send_timed,
	[PROTO_ACKS] = do_acks,
	[PROTO_RECALL] = do_recall,
	[PROTO_SELECT] = do_select,
	[PROTO_SEND_MARKED] = do_send_marked,
	[PROTO_ADMIN] = admin_action,
	[PROTO_RING] = do_ring,
	[PROTO_DIRECT] = do_direct,
};

#define DISPATCH_NOPS	(sizeof(dispatch_table) / sizeof(dispatch_table[0]))

static const char *
dispatch_decode_error(int rc)
{
	switch (rc) {
	case CHAN_EUNKNOWNOP:
		return ("unknown op");
	case CHAN_EBADNAME:
		return ("channel name must be 1 to 255 bytes");
	case CHAN_EOPTION:
		return ("unknown or invalid option");
	case CHAN_ETOOBIG:
		return ("payload over the size limit");
	case CHAN_ENOMEM:
		return ("out of memory decoding the request");
	case CHAN_EVERSION:
		return ("bad magic or unsupported version");
	default:
		return ("malformed request");
	}
}

/* The first frame must be a well-formed HELLO; otherwise reply, close. */
static void
dispatch_handshake_error(struct conn *c, const struct proto_msg *m, int rc)
{
	int	code = rc == CHAN_EVERSION || rc == CHAN_EOPTION ? rc :
		    CHAN_EPROTO;

	if (rc == 0) {
		log_notice("handshake failed: %s before HELLO (%s)",
		    proto_op_name(m->op), c->peer);
		reply_error(c, m->rid, code, "expected HELLO, got %s",
		    proto_op_name(m->op));
	} else {
		log_notice("handshake failed: %s (%s)",
		    dispatch_decode_error(rc), c->peer);
		reply_error(c, m->rid, code, "HELLO expected: %s",
		    dispatch_decode_error(rc));
	}
	conn_mark_close(c);
}

static void
dispatch_bad_frame(struct conn *c, const struct proto_msg *m, int rc)
{
	const char	*op = proto_op_name(m->op);
	char		 opbuf[32];

	if (strcmp(op, "?") == 0) {
		snprintf(opbuf, sizeof(opbuf), m->op == 0 ? "frame" : "op %d",
		    (int)m->op);
		op = opbuf;
	}
	if (rc == CHAN_ETOOBIG)
		reply_proto_error(c, m->rid, rc, "%s: payload over the limit "
		    "of %llu bytes", op,
		    (unsigned long long)c->srv->cfg->max_msg_size);
	else
		reply_proto_error(c, m->rid, rc, "%s: %s", op,
		    dispatch_decode_error(rc));
}

/* The channel a request is about, for the journal's CHANNEL= field. */
static void
dispatch_log_channel(struct conn *c, const struct proto_msg *m)
{
	struct handle	*h;

	if (m->op == PROTO_OPEN_TX || m->op == PROTO_OPEN_RX ||
	    (m->op == PROTO_ADMIN && m->name_len > 0))
		log_ctx_channel(m->name, m->name_len);
	else if (m->handle != 0 && (h = conn_handle_find(c, m->handle)) != NULL)
		log_ctx_channel(h->ch->name, h->ch->name_len);
}

static void	dispatch_one(struct conn *, const char *, size_t);

void
dispatch_frame(struct conn *c, const char *body, size_t len)
{
	/* Lines about this request carry its peer, if the journal takes it. */
	if (!log_fields_on()) {
		dispatch_one(c, body, len);
		return;
	}
	log_ctx_peer(c->pid, c->uid);
	dispatch_one(c, body, len);
	log_ctx_clear();
}

static void
dispatch_one(struct conn *c, const char *body, size_t len)
{
	struct proto_msg	m;
	int			rc;

	/* proto_decode clears m first, so m.op and m.rid are safe to read. */
	rc = proto_decode(c->srv->dec, body, len, &m);
	/* A connection made to fetch a ring's descriptors, and for no more. */
	if (!c->hello && rc == 0 && m.op == PROTO_RING_FETCH) {
		shm_ring_fetch(c, &m);
		return;
	}
	if (!c->hello && (rc != 0 || m.op != PROTO_HELLO)) {
		dispatch_handshake_error(c, &m, rc);
		return;
	}
	if (rc != 0) {
		dispatch_bad_frame(c, &m, rc);
		return;
	}
	if ((size_t)m.op >= DISPATCH_NOPS || dispatch_table[m.op] == NULL) {
		/* A request this daemon does not serve, or a reply or event
		   sent the wrong way. */
		dispatch_bad_frame(c, &m, CHAN_EUNKNOWNOP);
		return;
	}
	if (log_fields_on())
		dispatch_log_channel(c, &m);
	dispatch_table[m.op](c, &m);
}

void
dispatch_too_big(struct conn *c, size_t len, size_t max)
{
	log_warning("frame of %zu bytes exceeds the limit of %zu, closing "
	    "(%s)", len, max, c->peer);
	reply_error(c, 0, CHAN_ETOOBIG, "frame of %zu bytes exceeds the "
	    "limit of %zu", len, max);
	conn_mark_close(c);
}

/* SPDX-License-Identifier: MIT */
/*
 * quota.c: what each uid uses of the daemon. See quota.h.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "quota.h"
#include "server.h"

/* One uid's use; never freed before exit, so channels may point to it. */
struct quota_use {
	uid_t		  uid;
	struct acl_limits lim;		/* as of its latest connection */
	size_t		  conns;
	size_t		  handles;
	size_t		  nchans;	/* channels it created */
	struct channel_sum queued;	/* what those channels hold */
	struct channel_sum resv;	/* what rings may still commit to
					   them (quota_resv) */
};

/*
 * The use of the uid that created ch, or NULL: a channel points only at
 * its creator's sums (owner_sum), which every SEND and ACK updates, so
 * that a SEND finds the limits without another cache line of the
 * channel.
 */
static struct quota_use *
quota_of(const struct channel *ch)
{
	if (ch->owner_sum == NULL)
		return (NULL);
	return ((struct quota_use *)(void *)((char *)ch->owner_sum -
	    offsetof(struct quota_use, queued)));
}

struct quota {
	struct quota_use **u;
	size_t		  n;
	size_t		  cap;
};

static struct quota_use *
quota_find(struct server *srv, uid_t uid)
{
	struct quota		*q = srv->quota;
	struct quota_use	**nu, *u;
	size_t			 i, ncap;

	if (q == NULL) {
		if ((q = calloc(1, sizeof(*q))) == NULL)
			return (NULL);
		srv->quota = q;
	}
	for (i = 0; i < q->n; i++)
		if (q->u[i]->uid == uid)
			return (q->u[i]);
	if (q->n == q->cap) {
		ncap = q->cap == 0 ? 8 : q->cap * 2;
		if ((nu = reallocarray(q->u, ncap, sizeof(*nu))) == NULL)
			return (NULL);
		q->u = nu;
		q->cap = ncap;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return (NULL);
	u->uid = uid;
	q->u[q->n++] = u;
	return (u);
}

/*
 * Whether c's peer may use the reserve, judged once per connection (the
 * rules are walked once, not at every send).
 */
static bool
quota_privileged(struct conn *c)
{
	if (c->privileged == 0)
		c->privileged = acl_conn_privileged(c) ? 2 : 1;
	return (c->privileged == 2);
}

/* The part of a daemon-wide limit the unprivileged may use. */
static uint64_t
quota_share(uint64_t max)
{
	return (max - max / QUOTA_RESERVE_DIV);
}

static int
quota_refuse(struct quota_refusal *r, const struct conn *c,
    enum acl_limit_key k, uint64_t v)
{
	snprintf(r->text, sizeof(r->text), "limit of %llu %s for uid %lu "
	    "reached (access file)", (unsigned long long)v, acl_limit_name(k),
	    (unsigned long)c->uid);
	r->limit = acl_limit_name(k);
	r->value = v;
	return (CHAN_ELIMIT);
}

/* option: the daemon's option, what: what it counts. */
static int
quota_reserved(struct quota_refusal *r, const char *option,
    const char *what, uint64_t max)
{
	snprintf(r->text, sizeof(r->text), "%s limit of %llu reached for all "
	    "but privileged users (%llu kept in reserve, --%s)", what,
	    (unsigned long long)max,
	    (unsigned long long)(max / QUOTA_RESERVE_DIV), option);
	r->limit = option;
	r->value = quota_share(max);
	return (CHAN_ELIMIT);
}

int
quota_conn_open(struct conn *c, struct quota_refusal *r)
{
	struct server		*srv = c->srv;
	struct quota_use	*u;

	if (!quota_privileged(c) && srv->nconns >
	    quota_share(srv->cfg->max_connections))
		return (quota_reserved(r, "max-connections", "connection",
		    srv->cfg->max_connections));
	if ((u = quota_find(srv, c->uid)) == NULL) {
		snprintf(r->text, sizeof(r->text), "out of memory");
		r->limit = NULL;
		return (CHAN_ENOMEM);
	}
	acl_conn_limits(c, &u->lim);
	if (u->conns >= u->lim.v[ACL_LIM_CONNECTIONS])
		return (quota_refuse(r, c, ACL_LIM_CONNECTIONS,
		    u->lim.v[ACL_LIM_CONNECTIONS]));
	u->conns++;
	c->quota = u;
	return (0);
}

void
quota_conn_close(struct conn *c)
{
	struct quota_use	*u = c->quota;

	if (u != NULL)
		u->conns--;
	c->quota = NULL;
}

int
quota_handle_check(struct conn *c, struct quota_refusal *r)
{
	struct quota_use	*u = c->quota;

	if (u == NULL || u->handles < u->lim.v[ACL_LIM_HANDLES])
		return (0);
	return (quota_refuse(r, c, ACL_LIM_HANDLES,
	    u->lim.v[ACL_LIM_HANDLES]));
}

void
quota_handle_add(struct conn *c)
{
	struct quota_use	*u = c->quota;

	if (u != NULL)
		u->handles++;
}

void
quota_handle_remove(struct conn *c)
{
	struct quota_use	*u = c->quota;

	if (u != NULL)
		u->handles--;
}

int
quota_channel_check(struct conn *c, const void *name, size_t len,
    struct quota_refusal *r)
{
	struct server		*srv = c->srv;
	struct quota_use	*u = c->quota;

	if (!acl_conn_may_create(c, name, len)) {
		snprintf(r->text, sizeof(r->text), "uid %lu has no create "
		    "right on it (access rules)", (unsigned long)c->uid);
		r->limit = NULL;
		return (CHAN_EPERM);
	}
	if (u != NULL && u->nchans >= u->lim.v[ACL_LIM_CHANNELS])
		return (quota_refuse(r, c, ACL_LIM_CHANNELS,
		    u->lim.v[ACL_LIM_CHANNELS]));
	if (!quota_privileged(c) && srv->reg.count >=
	    quota_share(srv->cfg->max_channels))
		return (quota_reserved(r, "max-channels", "channel",
		    srv->cfg->max_channels));
	return (0);
}

/* One capacity against its bound; unbounded is above every bound. */
static int
quota_bound(struct conn *c, uint64_t *v, bool asked, enum acl_limit_key k,
    struct quota_refusal *r)
{
	uint64_t	bound = c->quota == NULL ? ACL_LIM_NONE :
			    ((struct quota_use *)c->quota)->lim.v[k];

	if (bound == ACL_LIM_NONE || (*v != CHANNEL_UNBOUNDED &&
	    *v <= bound))
		return (0);
	if (asked) {
		snprintf(r->text, sizeof(r->text), "a channel uid %lu creates "
		    "may have a %s of at most %llu (access file)",
		    (unsigned long)c->uid, acl_limit_name(k),
		    (unsigned long long)bound);
		r->limit = acl_limit_name(k);
		r->value = bound;
		return (CHAN_ELIMIT);
	}
	*v = bound;
	return (0);
}

int
quota_capacity(struct conn *c, uint64_t *msgs, bool msgs_asked,
    uint64_t *bytes, bool bytes_asked, struct quota_refusal *r)
{
	int	rc;

	if ((rc = quota_bound(c, msgs, msgs_asked, ACL_LIM_CAPACITY, r)) != 0)
		return (rc);
	return (quota_bound(c, bytes, bytes_asked, ACL_LIM_CAPACITY_BYTES,
	    r));
}

void
quota_channel_created(struct conn *c, struct channel *ch)
{
	struct quota_use	*u = c->quota;

	if (u == NULL)
		return;
	u->nchans++;
	ch->owner_sum = &u->queued;
}

/* Takes what ch still holds out of its creator's sums. */
static void
quota_sum_remove(struct channel_sum *sum, const struct channel *ch)
{
	sum->bytes -= ch->bytes + ch->held_bytes;
	sum->msgs -= ch->nqueued + ch->ninflight + ch->nheld;
}

void
quota_channel_gone(struct server *srv, struct channel *ch)
{
	struct quota_use	*u = quota_of(ch);

	(void)srv;
	if (u == NULL)
		return;
	u->nchans--;
	quota_sum_remove(&u->queued, ch);
	quota_resv(ch, ch->shm_resv_msgs, ch->shm_resv_bytes, false);
	ch->owner_sum = NULL;
}

/*
 * What the channels u created hold: queued, in flight and held, and what
 * producer rings may still commit to them.
 */
static void
quota_uid_use(const struct quota_use *u, uint64_t *msgs, uint64_t *bytes)
{
	*bytes = u->queued.bytes + u->resv.bytes;
	*msgs = u->queued.msgs + u->resv.msgs;
}

void
quota_resv(struct channel *ch, uint64_t msgs, uint64_t bytes, bool add)
{
	struct quota_use	*u = quota_of(ch);

	if (u == NULL)
		return;
	if (add) {
		u->resv.msgs += msgs;
		u->resv.bytes += bytes;
	} else {
		u->resv.msgs -= msgs;
		u->resv.bytes -= bytes;
	}
}

int
quota_queue_check(struct conn *c, const struct channel *ch, size_t len,
    struct quota_refusal *r)
{
	const struct channel_totals	*t = &c->srv->reg.totals;
	const struct config		*cfg = c->srv->cfg;
	struct quota_use		*u = quota_of(ch);
	uint64_t			 bytes, msgs, lb, lm;

	if (!quota_privileged(c)) {
		if (t->bytes + c->srv->shm_resv_bytes + len >
		    quota_share(cfg->max_queued_bytes))
			return (quota_reserved(r, "max-queued-bytes",
			    "queued bytes", cfg->max_queued_bytes));
		if (t->msgs + c->srv->shm_resv_msgs + 1 >
		    quota_share(cfg->max_queued_msgs))
			return (quota_reserved(r, "max-queued-messages",
			    "queued messages", cfg->max_queued_msgs));
	}
	if (u == NULL)
		return (0);
	lb = u->lim.v[ACL_LIM_QUEUED_BYTES];
	lm = u->lim.v[ACL_LIM_QUEUED_MSGS];
	if (lb == ACL_LIM_NONE && lm == ACL_LIM_NONE)
		return (0);
	quota_uid_use(u, &msgs, &bytes);
	if (lb != ACL_LIM_NONE && bytes + len > lb) {
		snprintf(r->text, sizeof(r->text), "limit of %llu queued-bytes "
		    "for the channels of uid %lu reached (access file)",
		    (unsigned long long)lb, (unsigned long)u->uid);
		r->limit = acl_limit_name(ACL_LIM_QUEUED_BYTES);
		r->value = lb;
		return (CHAN_ELIMIT);
	}
	if (lm != ACL_LIM_NONE && msgs + 1 > lm) {
		snprintf(r->text, sizeof(r->text), "limit of %llu "
		    "queued-messages for the channels of uid %lu reached "
		    "(access file)", (unsigned long long)lm,
		    (unsigned long)u->uid);
		r->limit = acl_limit_name(ACL_LIM_QUEUED_MSGS);
		r->value = lm;
		return (CHAN_ELIMIT);
	}
	return (0);
}

/* What is left of limit once used is taken. */
static uint64_t
quota_left(uint64_t limit, uint64_t used)
{
	return (used < limit ? limit - used : 0);
}

/* One room and its limit under another limit: the smaller of each. */
static void
quota_room_under(uint64_t *room, uint64_t *lim, uint64_t limit,
    uint64_t used)
{
	if (limit == ACL_LIM_NONE)
		return;
	if (quota_left(limit, used) < *room)
		*room = quota_left(limit, used);
	if (limit < *lim)
		*lim = limit;
}

void
quota_queue_room(struct conn *c, const struct channel *ch, uint64_t *msgs,
    uint64_t *bytes, uint64_t *lim_msgs, uint64_t *lim_bytes)
{
	const struct server		*srv = c->srv;
	const struct channel_totals	*t = &srv->reg.totals;
	const struct config		*cfg = srv->cfg;
	const struct quota_use		*u = quota_of(ch);
	uint64_t			 um, ub;

	*lim_msgs = cfg->max_queued_msgs;
	*lim_bytes = cfg->max_queued_bytes;
	if (!quota_privileged(c)) {
		*lim_msgs = quota_share(*lim_msgs);
		*lim_bytes = quota_share(*lim_bytes);
	}
	*msgs = quota_left(*lim_msgs, t->msgs + srv->shm_resv_msgs);
	*bytes = quota_left(*lim_bytes, t->bytes + srv->shm_resv_bytes);
	if (u == NULL || (u->lim.v[ACL_LIM_QUEUED_MSGS] == ACL_LIM_NONE &&
	    u->lim.v[ACL_LIM_QUEUED_BYTES] == ACL_LIM_NONE))
		return;
	quota_uid_use(u, &um, &ub);
	quota_room_under(msgs, lim_msgs, u->lim.v[ACL_LIM_QUEUED_MSGS], um);
	quota_room_under(bytes, lim_bytes, u->lim.v[ACL_LIM_QUEUED_BYTES],
	    ub);
}

void
quota_fini(struct server *srv)
{
	struct quota	*q = srv->quota;
	size_t		 i;

	if (q == NULL)
		return;
	for (i = 0; i < q->n; i++) {
		free(q->u[i]);
	}
	free(q->u);
	free(q);
	srv->quota = NULL;
}

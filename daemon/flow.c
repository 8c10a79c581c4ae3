/* SPDX-License-Identifier: MIT */
/*
 * flow.c: held sends between the channels and the connections. See flow.h.
 */
#include <stddef.h>

#include "channel.h"
#include "conn.h"
#include "dispatch.h"
#include "durable.h"
#include "flow.h"
#include "pump.h"
#include "server.h"

static void	flow_arm(struct server *);

static void
flow_timer_cb(uv_timer_t *timer)
{
	struct server	*srv = timer->data;

	srv->flow_armed = false;
	flow_expire(srv);
	/* No flush follows a timer in this iteration: answer and write. */
	conn_flush_dirty(srv);
}

/* Starts the timer for the earliest deadline, unless it is set for it. */
static void
flow_arm(struct server *srv)
{
	uint64_t	when, now;

	if (srv->stopping ||
	    !channel_next_deadline(&srv->reg.totals, &when))
		return;
	if (srv->flow_armed && srv->flow_due <= when)
		return;
	if (!srv->flow_timer_on) {
		if (uv_timer_init(srv->loop, &srv->flow_timer) != 0)
			return;
		srv->flow_timer.data = srv;
		srv->flow_timer_on = true;
	}
	now = uv_now(srv->loop);
	if (uv_timer_start(&srv->flow_timer, flow_timer_cb,
	    when > now ? when - now : 0, 0) != 0)
		return;
	srv->flow_armed = true;
	srv->flow_due = when;
}

void
flow_held(struct server *srv, struct handle *h, struct held *hd)
{
	h->nheld++;
	h->conn->held_bytes += hd->len;
	if (hd->deadline != CHANNEL_NO_DEADLINE)
		flow_arm(srv);
}

void
flow_expire(struct server *srv)
{
	struct channel	*ch;
	uint64_t	 now = uv_now(srv->loop);

	/* A channel whose held head expired may deliver the next one. */
	while ((ch = channel_expire(&srv->reg.totals, now)) != NULL)
		pump_channel(srv, ch);
	flow_arm(srv);
}

/* One done held send: its answer, then what waited on it. */
static void
flow_answer_one(struct held *hd)
{
	struct handle	*h = hd->owner;
	struct conn	*c = h->conn;
	size_t		 len = hd->len;

	/* An expired durable send is withdrawn from the log. */
	if (hd->result != 0 && h->ch->durable)
		durable_cancel(c->srv, h->ch, hd->id);
	dispatch_send_done(c, h, hd->rid, hd->result);
	channel_held_free(hd);
	if (--h->nheld == 0 && h->closing)
		dispatch_close_done(c, h);
	conn_held_release(c, len);
}

void
flow_answer(struct server *srv)
{
	struct held	*hd;

	/* Answering may resume a connection, whose requests may hold and
	   complete more sends: the outer loop takes those too. */
	if (srv->flow_answering)
		return;
	srv->flow_answering = true;
	while ((hd = channel_done_next(&srv->reg.totals)) != NULL)
		flow_answer_one(hd);
	srv->flow_answering = false;
}

/*
 * The durable sends of h that channel_discard is about to drop, still held
 * or expired and unanswered, are withdrawn from the log. Those already
 * queued stay: only their answer is lost.
 */
static void
flow_discard_log(struct server *srv, struct handle *h)
{
	struct held	*hd;

	for (hd = h->ch->hhead; hd != NULL; hd = hd->next) {
		if (hd->owner == h)
			durable_cancel(srv, h->ch, hd->id);
	}
	for (hd = srv->reg.totals.done; hd != NULL; hd = hd->next) {
		if (hd->owner == h && hd->result != 0)
			durable_cancel(srv, h->ch, hd->id);
	}
}

void
flow_discard(struct server *srv, struct handle *h)
{
	size_t	bytes, n;

	if (h->rx || h->nheld == 0)
		return;
	if (h->ch->durable)
		flow_discard_log(srv, h);
	bytes = channel_discard(h->ch, h, &n);
	h->nheld -= n;
	/* The connection is leaving: no reason to resume its reading. */
	h->conn->held_bytes -= bytes;
}

void
flow_stop(struct server *srv)
{
	if (srv->flow_timer_on)
		uv_close((uv_handle_t *)&srv->flow_timer, NULL);
	srv->flow_timer_on = false;
	srv->flow_armed = false;
}

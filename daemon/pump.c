/* SPDX-License-Identifier: MIT */
/*
 * pump.c: deliveries and DISCONNECTED events. See pump.h.
 */
#include <stddef.h>

#include "channel.h"
#include "conn.h"
#include "dispatch.h"
#include "durable.h"
#include "log.h"
#include "proto.h"
#include "pump.h"
#include "shm.h"
#include "server.h"

static void
pump_fail(struct conn *c)
{
	log_warning("out of memory for output, closing (%s)", c->peer);
	conn_mark_close(c);
}

/* h's deliveries wait for output room: the write callback resumes them. */
static void
pump_stall(struct conn *c, struct handle *h)
{
	if (h->stalled)
		return;
	h->stalled = true;
	TAILQ_INSERT_TAIL(&c->stalled, h, stall_entry);
}

/* Sends DISCONNECTED on h: 0, or -1 after closing c for want of memory. */
static int
pump_report(struct conn *c, struct handle *h)
{
	int	rc;

	if (h->ring != NULL) {
		/* Into the ring, behind the deliveries; or later, for room. */
		if ((rc = shm_rx_report(h)) == 0) {
			channel_mark_reported(h->ch);
			shm_rx_wake(c, h);
		} else if (rc > 0) {
			pump_stall(c, h);
			rc = 0;
		}
		if (rc < 0) {
			pump_fail(c);
			return (-1);
		}
		return (0);
	}
	if (proto_enc_disconnected(&c->out, h->id) != 0) {
		pump_fail(c);
		return (-1);
	}
	channel_mark_reported(h->ch);
	conn_dirty(c);
	return (0);
}

/*
 * Whether h may take another delivery: room in its ring for the next
 * message, or else, unless force, room in c's output.
 */
static bool
pump_may_deliver(struct conn *c, struct handle *h, bool force)
{
	if (h->ring == NULL)
		return (force || conn_can_deliver(c));
	if (c->want_close)
		return (false);
	if (shm_rx_room(h, channel_next_len(h->ch)))
		return (true);
	/* The consumer's ring wakes the daemon: pump_conn resumes h. */
	pump_stall(c, h);
	return (false);
}

/* The consumer wrote over its ring's header: it goes. */
static void
pump_broken_ring(struct conn *c)
{
	log_notice("consumer broke its ring, closing (%s)", c->peer);
	dispatch_conn_error(c, CHAN_EPROTO, "the consumer's shared-memory "
	    "ring was written over");
}

/*
 * Delivers from ch while its consumer has credit and, unless force, room
 * for output. Returns 0, or -1 once c is closing.
 */
static int
pump_deliver(struct server *srv, struct channel *ch, bool force)
{
	struct handle	*h = ch->consumer;
	struct conn	*c = h->conn;
	struct message	*m;
	uint64_t	 last_id = 0;
	int		 rc = 0;

	while (pump_may_deliver(c, h, force) &&
	    (m = channel_take(ch)) != NULL) {
		last_id = m->id;
		/* On failure the message stays in flight: closing requeues. */
		if (h->ring != NULL) {
			if (shm_rx_deliver(h, m) != 0) {
				pump_broken_ring(c);
				rc = -1;
				break;
			}
			continue;
		}
		if (conn_deliver(c, h->id, m) != 0) {
			pump_fail(c);
			rc = -1;
			break;
		}
		conn_dirty(c);
	}
	if (last_id != 0 && h->ring != NULL && rc == 0)
		shm_rx_wake(c, h);
	/* One DELIVERED record covers them: it is written before they go. */
	if (last_id != 0 && ch->durable)
		durable_delivered(srv, ch, last_id);
	/* Room for the shared-memory producers. */
	if (last_id != 0 && ch->rings != NULL)
		shm_room(srv, ch);
	return (rc);
}

void
pump_force(struct server *srv, struct channel *ch)
{
	struct handle	*h = ch->consumer;

	if (h == NULL || srv->stopping)
		return;
	/* As for its own RECALL: records committed before it count. */
	if (ch->rings != NULL)
		shm_collect(srv, ch);
	if (pump_deliver(srv, ch, true) == 0 && channel_should_report(ch))
		(void)pump_report(h->conn, h);
}

void
pump_recall(struct server *srv, struct channel *ch)
{
	struct handle	*h = ch->consumer;

	if (h == NULL || srv->stopping)
		return;
	/* Every record committed before the RECALL counts as sent. */
	if (ch->rings != NULL)
		shm_collect(srv, ch);
	if (pump_deliver(srv, ch, true) != 0)
		return;
	if (channel_should_report(ch) && pump_report(h->conn, h) != 0)
		return;
	channel_recall(ch);
}

void
pump_channel(struct server *srv, struct channel *ch)
{
	struct handle	*h = ch->consumer;
	struct conn	*c;

	if (h == NULL || srv->stopping)
		return;
	c = h->conn;
	if (h->ring == NULL && !conn_can_deliver(c)) {
		pump_stall(c, h);
		return;
	}
	if (pump_deliver(srv, ch, false) != 0)
		return;
	/*
	 * The event waits for room like a delivery: producers that attach and
	 * drop in a loop must not grow the output of a consumer that does not
	 * read. The channel stays due, so the write callback's pump sends it.
	 */
	if (h->ring == NULL && !conn_can_deliver(c)) {
		pump_stall(c, h);
		return;
	}
	if (channel_should_report(ch))
		pump_report(c, h);
	else if (ch->rings != NULL && ch->direct == NULL)
		shm_direct_offer(srv, ch);
}

void
pump_conn(struct conn *c)
{
	struct handle_list	 list;
	struct handle		*h;

	/* Those that stall again go back on c->stalled, not on list. */
	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &c->stalled, stall_entry);
	while ((h = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, h, stall_entry);
		h->stalled = false;
		pump_channel(c->srv, h->ch);
	}
}

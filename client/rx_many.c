/* SPDX-License-Identifier: MIT */
/*
 * rx_many.c: chan_rx_recv_many, a receive that hands out a batch as views
 * instead of one chan_msg per message. The views point into what the
 * receiver keeps until its next batch: the messages taken from its FIFO,
 * and one buffer into which direct reading copies a run of ring records
 * (rx_direct_view). Under a stream of small messages this saves the
 * allocation, the copy into it and the free of every message, and the
 * connection's lock per message.
 */
#include <stdlib.h>

#include "client.h"

void
rx_views_release(struct chan_rx *rx)
{
	struct chan_msg *m;

	while ((m = rx->views.msgs) != NULL) {
		rx->views.msgs = m->next;
		chan_msg_free(m);
	}
	rx->views.len = 0;
}

/*
 * Takes what rx has now into v[*n ..], up to max: the FIFO, then the ring
 * it reads directly. Stops before a disconnection once it took messages;
 * CHAN_EDISCONNECTED when that comes first.
 */
static int
rx_many_take(struct chan_rx *rx, chan_view *v, size_t max, size_t *n)
{
	struct chan_msg *m;
	int rc;

	while (*n < max && rx->head != NULL) {
		if (rx->head->seq == 0 && *n > 0)
			return 0;
		if ((rc = rx_take(rx, &m)) != 0)
			return rc;
		m->next = rx->views.msgs;
		rx->views.msgs = m;
		v[*n].data = m->data;
		v[*n].len = m->len;
		v[*n].redelivered = m->redelivered;
		(*n)++;
	}
	if (*n < max && rx->head == NULL && rx->direct != NULL)
		*n += rx_direct_view(rx, v + *n, max - *n);
	return 0;
}

/* c->mu held; as rx_recv_locked, for a batch. */
static int
rx_many_locked(struct chan_rx *rx, int timeout_ms, chan_view *v, size_t max,
    size_t *n)
{
	int rc;

	if (rx->c->dead)
		return CHAN_ECONNLOST;
	if ((rc = rx_many_take(rx, v, max, n)) != 0 || *n > 0)
		return rc;
	/* With 0, what chan_rx_recv_timeout does: a try, "nothing" timing
	   out. */
	if (timeout_ms == 0)
		rc = rx_look(rx, CONN_PING_MS);
	else
		rc = rx_wait_locked(rx, timeout_ms);
	if (rc != 0 || (rc = rx_many_take(rx, v, max, n)) != 0)
		return rc;
	return *n > 0 ? 0 : CHAN_ETIMEDOUT;
}

int
chan_rx_recv_many(chan_rx *rx, int timeout_ms, chan_view *v, size_t max,
    size_t *n)
{
	int rc;

	if (n != NULL)
		*n = 0;
	if (rx == NULL || v == NULL || n == NULL || max == 0 ||
	    (rx->flags & CHAN_MANUAL_ACK) != 0)
		return CHAN_EINVAL;
	conn_lock(rx->c);
	rx->errmsg[0] = '\0';
	rx_views_release(rx);
	rc = rx_many_locked(rx, timeout_ms, v, max, n);
	pthread_mutex_unlock(&rx->c->mu);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * shm_rx.c: consumer rings (shm.h): a consumer connection's DELIVER and
 * DISCONNECTED frames go into one ring in shared memory, which the
 * daemon makes (shm.c) and writes, instead of into its socket. See
 * shm_int.h.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "channel.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "proto.h"
#include "pump.h"
#include "server.h"
#include "shm.h"
#include "shm_int.h"
#include "shmring.h"

/*
 * Consumer rings: the daemon writes the frames of a consumer handle
 * (DELIVER, DISCONNECTED) into the ring instead of the socket, and the
 * consumer reads them from memory. The consumer may be hostile too: the
 * daemon's writer keeps its own head and counts, and what the consumer
 * can change (the tail, the grants, the closed word) can only make the
 * daemon overwrite frames the consumer has not read, or stop writing:
 * harm to that consumer alone.
 */

/*
 * The smallest data area whose max_record holds a DELIVER of the largest
 * message: a power of two, at least min.
 */
static uint32_t
shm_rx_size(const struct server *srv, uint32_t min)
{
	uint64_t	need = 2 * ((uint64_t)srv->cfg->max_msg_size +
			    PROTO_DELIVER_HDR_MAX + SHMRING_REC_HDR);
	uint64_t	size = SHMRING_MIN_DATA;

	while (size < need || size < min)
		size <<= 1;
	return (size > SHM_RING_MAX ? 0 : (uint32_t)size);
}

/* The consumer read frames while the daemon waited for room: deliver. */
static void
shm_rx_poll_cb(uv_poll_t *poll, int status, int events)
{
	struct shm_ring	*r = poll->data;

	(void)events;
	if (status < 0 || r->conn == NULL)
		return;
	if (shm_drain_fd(r->efd_daemon) != 0) {
		/* Its consumer shut the pair: it would wake the loop for ever. */
		uv_poll_stop(poll);
		dispatch_conn_error(r->conn, CHAN_EPROTO, "the connection's "
		    "ring's wake-up descriptor was shut");
		conn_flush_dirty(r->srv);
		return;
	}
	shmring_set_prod_wait(&r->w, 0);
	pump_conn(r->conn);
	conn_flush_dirty(r->srv);
}

/*
 * RING on consumer handle h: its frames go into its connection's ring
 * (all the connection's consumers share one, so that a consumer of many
 * channels maps one ring). The first RING makes the ring and answers its
 * token; h's frames go into the ring only from a RING after the
 * consumer has fetched it, so that a consumer that could not fetch it
 * (at the daemon's connection limit, say) stays on the socket.
 */
int
shm_rx_ring_new(struct conn *c, struct handle *h, uint32_t size,
    uint64_t *token, const char **why)
{
	struct shm_ring	*r = c->rx_ring;
	uint32_t	 want;
	int		 rc;

	if (r != NULL) {
		/* Once the consumer holds the ring, h's frames go there. */
		if (r->fetched)
			h->ring = r;
		*token = r->token;
		return (0);
	}
	if (size != 0 && !shmring_valid_sizes(size, 0)) {
		*why = "ring size must be a power of two from 4096";
		return (CHAN_EOPTION);
	}
	if ((want = shm_rx_size(c->srv, size)) == 0) {
		*why = "the largest message needs a ring over the most the "
		    "daemon gives";
		return (CHAN_EOPTION);
	}
	if ((rc = shm_ring_make(c, h, want, shm_rx_poll_cb, &r, why)) != 0)
		return (rc);
	r->consumer = true;
	r->h = NULL;
	h->ring = NULL;		/* until the consumer has fetched the ring */
	r->conn = c;
	c->rx_ring = r;
	shmring_init(r->map, want, shmring_max_record(want));
	shmring_grant(r->map, UINT64_MAX, UINT64_MAX);
	/* Cannot fail: the daemon wrote that header. */
	(void)shmring_attach(&r->w, r->map, r->maplen);
	*token = r->token;
	return (0);
}

bool
shm_rx_room(struct handle *h, size_t len)
{
	struct shm_ring	*r = h->ring;
	uint32_t	 need;

	if (len > r->w.max_record - PROTO_DELIVER_HDR_MAX)
		return (false);
	need = (uint32_t)len + PROTO_DELIVER_HDR_MAX;
	if (shmring_fits(&r->w, need) == 0)
		return (true);
	/*
	 * Say so, then look once more: the consumer wakes the daemon. The
	 * word stays set even if there is room now: it may be another
	 * handle's of the connection, stalled; the wake-up clears it.
	 */
	shmring_set_prod_wait(&r->w, 1);
	return (shmring_fits(&r->w, need) == 0);
}

int
shm_rx_deliver(struct handle *h, const struct message *m)
{
	struct shm_ring	*r = h->ring;
	char		 hdr[PROTO_DELIVER_HDR_MAX];
	size_t		 n;

	n = proto_enc_deliver_hdr(hdr, h->id, m->seq, m->flags, m->len);
	/* shm_rx_room said it fits: only a consumer that wrote its ring's
	   header can make it not. */
	if (n == 0 || shmring_put2_held(&r->w, hdr, (uint32_t)n, m->data,
	    m->len, 0) != 0)
		return (-1);
	return (0);
}

int
shm_rx_report(struct handle *h)
{
	struct shm_ring		*r = h->ring;
	struct proto_buf	 b;
	int			 rc;

	proto_buf_init(&b);
	if (proto_enc_disconnected(&b, h->id) != 0) {
		proto_buf_fini(&b);
		return (-1);
	}
	/* As shm_rx_room; written like a DELIVER, committed with it. */
	if ((rc = shmring_fits(&r->w, (uint32_t)b.len)) == CHAN_EFULL) {
		shmring_set_prod_wait(&r->w, 1);
		rc = shmring_fits(&r->w, (uint32_t)b.len);
	}
	if (rc == 0)
		rc = shmring_put2_held(&r->w, b.data, (uint32_t)b.len, NULL,
		    0, 0);
	proto_buf_fini(&b);
	return (rc == 0 ? 0 : 1);
}

void
shm_rx_wake(struct conn *c, struct handle *h)
{
	struct shm_ring	*r = h->ring;

	r->unpublished = true;
	r->wake_handle = h->id;
	conn_dirty(c);
}

void
shm_rx_publish(struct conn *c)
{
	struct shm_ring	*r = c->rx_ring;

	if (r == NULL || !r->unpublished)
		return;
	r->unpublished = false;
	shmring_publish(&r->w);
	if (shmring_take_wake(&r->w) && proto_enc_ring_wake(&c->out,
	    r->wake_handle) != 0) {
		log_warning("out of memory for output, closing (%s)", c->peer);
		conn_mark_close(c);
	}
}

bool
shm_rx_unpublished(const struct conn *c)
{
	return (c->rx_ring != NULL && c->rx_ring->unpublished);
}

void
shm_rx_ring_end(struct server *srv, struct handle *h)
{
	if (h->ch->direct != NULL && h->ch->consumer == h)
		shm_direct_take_back(srv, h->ch, false);
	h->ring = NULL;
}

void
shm_rx_conn_end(struct server *srv, struct conn *c)
{
	struct shm_ring	*r = c->rx_ring, **rp;

	if (r == NULL)
		return;
	for (rp = &srv->rings; *rp != r; rp = &(*rp)->srv_next)
		;
	*rp = r->srv_next;
	srv->ring_bytes -= r->data_size;
	shmring_close(r->map, CHAN_ECONNLOST);
	r->conn = NULL;
	c->rx_ring = NULL;
	uv_close((uv_handle_t *)&r->poll, shm_free_cb);
}

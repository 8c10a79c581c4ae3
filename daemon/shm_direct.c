/* SPDX-License-Identifier: MIT */
/*
 * shm_direct.c: consumers that read their channel's producer ring
 * themselves (direct reading; docs/protocol.md, "Direct reading"). While
 * a channel has one producer ring, nothing else queued and a consumer on
 * a ring that asked (DIRECT), the daemon offers that consumer a
 * read-only mapping of the producer's ring and a page of its own
 * (proto/shmdirect.h), and stops reading the ring: records go from the
 * producer to the consumer through memory alone. The daemon still grants
 * the producer its room, releases the space the consumer acknowledges
 * (in the page) and wakes a consumer that sleeps.
 *
 * Anything else the channel meets (a socket send, a second ring, either
 * end going) takes the ring back first (shm_direct_end): what the
 * consumer claimed and did not acknowledge becomes in flight, as if
 * delivered, and the daemon reads on from there. A ring is offered once,
 * or again after a stall (shm_direct_stall_cb).
 */
#include <sys/mman.h>
#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "proto.h"
#include "pump.h"
#include "server.h"
#include "shm.h"
#include "shm_int.h"
#include "shmdirect.h"
#include "shmring.h"

struct shm_direct {
	struct shm_ring	*ring;		/* the producer's ring it reads */
	struct handle	*h;		/* the consumer handle */
	unsigned char	*page;
	int		 page_fd;
	int		 ro_fd;		/* the ring's memfd, read-only */
	uint64_t	 token;
	uint64_t	 token_until;	/* uv_now */
	bool		 fetched;
	bool		 armed;		/* the consumer sleeps: RING_WAKE it
					   when the ring moves */
	uint64_t	 base_seq;	/* the last seq delivered before */
	uint64_t	 claim_seq;	/* the last seq claimed, as seen */
	uint64_t	 rel_seq;	/* the last seq whose space is free */
	struct shmring_reader rel;	/* where the free space ends */
	/* A producer waiting for space while the consumer reads nothing. */
	uv_timer_t	 stall;
	bool		 timer;		/* stall is initialized */
	uint64_t	 stall_claim;
};

/*
 * How long a producer waits for ring space its consumer does not free
 * (it reads nothing) before the daemon takes the ring back and queues
 * the records, as a channel does on the socket path: a program that
 * sends more than a ring holds before it receives must not block. Long
 * enough that a consumer descheduled on a busy machine keeps the ring.
 */
#define SHM_DIRECT_STALL_MS	20
/*
 * The most a ring waits before it is offered again after a stall. Each
 * stall doubles the wait from SHM_DIRECT_STALL_MS: a consumer that cannot
 * keep a ring (a channel of a few messages, a slow machine) is left on
 * the daemon's path instead of fetching an offer for every few messages
 * and stalling each time.
 */
#define SHM_DIRECT_BACKOFF_MAX_MS	1000

static void	shm_direct_unmap(struct shm_direct *);

static void
shm_direct_free_cb(uv_handle_t *handle)
{
	shm_direct_unmap(handle->data);
}

static void
shm_direct_free(struct shm_direct *d)
{
	if (d->timer)
		uv_close((uv_handle_t *)&d->stall, shm_direct_free_cb);
	else
		shm_direct_unmap(d);
}

static void
shm_direct_unmap(struct shm_direct *d)
{
	if (d->page != NULL)
		munmap(d->page, SHMDIRECT_SIZE);
	if (d->page_fd >= 0)
		close(d->page_fd);
	if (d->ro_fd >= 0)
		close(d->ro_fd);
	free(d);
}

/* The page and the read-only descriptor of r: NULL if they cannot be. */
static struct shm_direct *
shm_direct_make(struct shm_ring *r, struct handle *h, uint64_t now)
{
	struct shm_direct *d;
	char		 path[64];

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return (NULL);
	d->page_fd = d->ro_fd = -1;
	d->ring = r;
	d->h = h;
	d->token_until = now + SHM_TOKEN_SECS * 1000;
	/* A new open of the memfd, read-only: the consumer cannot write. */
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", r->fd);
	if ((d->ro_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (d->page_fd = memfd_create("chand-direct", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0 ||
	    ftruncate(d->page_fd, SHMDIRECT_SIZE) != 0 ||
	    fcntl(d->page_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) != 0 ||
	    getrandom(&d->token, sizeof(d->token), 0) !=
	    (ssize_t)sizeof(d->token) ||
	    (d->page = mmap(NULL, SHMDIRECT_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, d->page_fd, 0)) == MAP_FAILED) {
		log_debug("no direct reading: %s", strerror(errno));
		d->page = NULL;
		shm_direct_free(d);
		return (NULL);
	}
	return (d);
}

/* Whether ch may be read by its consumer directly now: its lone ring. */
static struct shm_ring *
shm_direct_ring(const struct channel *ch)
{
	struct shm_ring	*r = ch->rings;
	struct handle	*h = ch->consumer;

	if (r == NULL || r->ch_next != NULL || r->bad || !r->fetched ||
	    r->direct_done || uv_now(r->srv->loop) < r->direct_again ||
	    h == NULL || !h->direct_want ||
	    h->ring == NULL || ch->durable || ch->cap_msgs == 0 ||
	    ch->nqueued > 0 || ch->nheld > 0 || !shmring_at_record(&r->rd))
		return (NULL);
	return (r);
}

void
shm_direct_offer(struct server *srv, struct channel *ch)
{
	struct shm_direct *d;
	struct shm_ring	*r;
	struct handle	*h = ch->consumer;

	if (ch->direct != NULL || srv->stopping ||
	    (r = shm_direct_ring(ch)) == NULL)
		return;
	if ((d = shm_direct_make(r, h, uv_now(srv->loop))) == NULL) {
		r->direct_done = true;
		return;
	}
	if (uv_timer_init(srv->loop, &d->stall) != 0) {
		shm_direct_free(d);
		r->direct_done = true;
		return;
	}
	d->stall.data = d;
	d->timer = true;
	/* Nothing is queued: every record from rd.pos on is the consumer's. */
	shmdirect_init(d->page, r->rd.pos, ch->last_seq, r->rd.taken);
	d->base_seq = d->claim_seq = d->rel_seq = ch->last_seq;
	d->rel = r->rd;
	if (proto_enc_direct_offer(&h->conn->out, h->id, d->token) != 0) {
		shm_direct_free(d);
		r->direct_done = true;
		return;
	}
	conn_dirty(h->conn);
	log_debug("consumer handle %lu offered its producer's ring (%s)",
	    (unsigned long)h->id, h->conn->peer);
	if (ch->shm_spinning)
		shm_spin_unlink(srv, ch);
	/* The consumer arms the ring when it sleeps (its page's wait). */
	shmring_set_cons_wait(r->map, 0);
	r->direct = d;
	ch->direct = d;
}

bool
shm_direct_fetch(struct conn *c, const struct proto_msg *m)
{
	struct shm_ring	*r;
	struct shm_direct *d = NULL;
	int		 fds[3];

	for (r = c->srv->rings; r != NULL; r = r->srv_next) {
		if ((d = r->direct) != NULL && d->token == m->token &&
		    !d->fetched)
			break;
	}
	if (r == NULL)
		return (false);
	if (d->h->conn->uid != c->uid ||
	    uv_now(c->srv->loop) > d->token_until)
		return (false);
	d->fetched = true;
	fds[0] = d->ro_fd;
	fds[1] = d->page_fd;
	fds[2] = r->efd_daemon;
	if (shm_send_fds(c, m->rid, fds) != 0) {
		log_notice("cannot pass a direct reader's descriptors: %s "
		    "(%s)", strerror(errno), c->peer);
		dispatch_conn_error(c, CHAN_ENOMEM, "cannot pass the ring");
		return (true);
	}
	conn_mark_close(c);
	return (true);
}

/*
 * The records the consumer has claimed are delivered: taken out of the
 * ring's grant (shm_take_run: the channel has room again, as a delivery
 * makes room), not yet out of its space. r->rd follows the claims.
 */
static void
shm_direct_claims(struct shm_direct *d)
{
	struct shm_ring	*r = d->ring;
	uint64_t	 pos, seq;

	if (r->bad || shmdirect_claimed(d->page, &pos, &seq) != 0 ||
	    seq <= d->claim_seq)
		return;
	r->peeked = false;
	if (shmring_poll(&r->rd, r->map) != 0)
		return;
	d->claim_seq += shm_take_run(r, seq - d->claim_seq);
	if (!r->bad && r->rd.pos != pos)
		log_notice("consumer handle %lu claimed records its ring "
		    "does not hold (%s)", (unsigned long)d->h->id,
		    d->h->conn->peer);
}

/* k records' space, up to d->rel, goes back to the producer. */
static uint64_t
shm_direct_freed(struct shm_direct *d, uint64_t k)
{
	struct shm_ring	*r = d->ring;

	if (k > 0) {
		shmring_release(&d->rel, r->map);
		r->rd.tail = d->rel.pos;
		r->drained += k;
	}
	return (k);
}

/*
 * Gives the space of up to n claimed records back to the producer: into
 * flight with their seqs (inflight), or gone (acknowledged). Returns how
 * many; fewer if the producer broke the ring meanwhile.
 */
static uint64_t
shm_direct_free_space(struct shm_direct *d, uint64_t n, bool inflight)
{
	struct shm_ring	*r = d->ring;
	struct channel	*ch = r->ch;
	const unsigned char *p;
	uint64_t	 k, m, bytes, stamp;
	uint32_t	 len;
	int		 rc;

	/*
	 * Everything claimed is acknowledged (the usual case): the free
	 * space ends where the claims do, and the claims' walk checked those
	 * records already; no second walk over memory the producer and the
	 * consumer wrote from other CPUs.
	 */
	if (!inflight && n == d->claim_seq - d->rel_seq) {
		d->rel = r->rd;
		d->rel.peeked = 0;
		channel_consumed(ch, n);
		d->rel_seq += n;
		return (shm_direct_freed(d, n));
	}
	/* Up to the claims' end: n of them, within what r->rd checked. */
	d->rel.head = r->rd.head;
	for (k = 0; k < n; k++) {
		/* Acknowledged bundles go whole, as the claims' walk took them. */
		if (!inflight && (rc = shmring_skip_bundle(&d->rel, n - k, &m,
		    &bytes)) != 0) {
			if (rc < 0)
				break;
			channel_consumed(ch, m);
			d->rel_seq += m;
			k += m - 1;
			continue;
		}
		if (shmring_peek(&d->rel, &p, &len, &stamp) != 1)
			break;
		if (inflight && channel_push_inflight(ch, p, len,
		    d->rel_seq + 1) != 0)
			break;
		if (!inflight)
			channel_consumed(ch, 1);
		shmring_skip(&d->rel);
		d->rel_seq++;
	}
	return (shm_direct_freed(d, k));
}

/*
 * Releases what the consumer has acknowledged (its page's word): the
 * messages in flight before it began, then the ring's records it claimed.
 */
static void
shm_direct_release(struct shm_direct *d)
{
	struct channel	*ch = d->ring->ch;
	uint64_t	 acked = shmdirect_acked(d->page);

	/* 0 until the consumer writes it; cumulative, as an ACK. */
	if (ch->fhead != NULL && ch->fhead->seq <= acked &&
	    ch->fhead->seq <= d->base_seq)
		(void)channel_ack(ch, acked < d->base_seq ? acked :
		    d->base_seq);
	shm_direct_claims(d);
	/* What it has not claimed (that the daemon saw) it cannot have read. */
	if (acked > d->claim_seq)
		acked = d->claim_seq;
	if (acked > d->rel_seq)
		(void)shm_direct_free_space(d, acked - d->rel_seq, false);
}

static void	shm_direct_stall_cb(uv_timer_t *);

/* The consumer sleeps: RING_WAKE once the ring holds what it has not. */
static void
shm_direct_arm(struct shm_direct *d)
{
	struct conn	*c = d->h->conn;
	uint64_t	 pos, seq;

	shmring_set_cons_wait(d->ring->map, 1);
	if (shmdirect_claimed(d->page, &pos, &seq) == 0 &&
	    !shmring_moved(d->ring->map, pos))
		return;
	shmring_set_cons_wait(d->ring->map, 0);
	d->armed = false;
	if (proto_enc_ring_wake(&c->out, d->h->id) == 0)
		conn_dirty(c);
}

void
shm_direct_poll(struct server *srv, struct channel *ch)
{
	struct shm_direct *d = ch->direct;
	struct shm_ring	*r = d->ring;
	int		 i;

	/* A producer about to send on the socket wants its records taken. */
	if ((!d->fetched && uv_now(srv->loop) > d->token_until) ||
	    (shmring_producer_waits(r->map) &&
	    shmring_producer_want(r->map) == SHMRING_WANT_DRAIN)) {
		shm_direct_end(srv, ch);
		pump_channel(srv, ch);
		return;
	}
	/*
	 * A producer waiting for room the consumer's acknowledgements free:
	 * the consumer is asked to say when it acknowledges, then looked at
	 * once more (it may have just done so).
	 */
	for (i = 0; i < 2; i++) {
		shm_direct_release(d);
		if (ch->direct != d)
			return;
		shm_answer_rings(ch);
		if (r->bad || (!shmring_producer_waits(r->map) &&
		    shmring_asked_answered(r->map)) || i > 0)
			break;
		shmdirect_want_ack(d->page);
	}
	if (shmdirect_take_wait(d->page))
		d->armed = true;
	if (d->armed)
		shm_direct_arm(d);
	if (!r->bad && shmring_producer_waits(r->map) &&
	    !uv_is_active((uv_handle_t *)&d->stall)) {
		d->stall_claim = d->claim_seq;
		(void)uv_timer_start(&d->stall, shm_direct_stall_cb,
		    SHM_DIRECT_STALL_MS, 0);
	}
}

static void
shm_direct_stall_cb(uv_timer_t *timer)
{
	struct shm_direct *d = timer->data;
	struct shm_ring	*r = d->ring;
	struct server	*srv = r->srv;
	struct channel	*ch = r->ch;

	if (ch->direct != d || r->bad || !shmring_producer_waits(r->map))
		return;
	shm_direct_claims(d);
	if (d->claim_seq != d->stall_claim) {
		/* The consumer reads: it frees the space soon. */
		d->stall_claim = d->claim_seq;
		(void)uv_timer_start(&d->stall, shm_direct_stall_cb,
		    SHM_DIRECT_STALL_MS, 0);
		return;
	}
	shm_direct_end(srv, ch);
	/*
	 * The records go into the queue now, so that the ring is offered
	 * again only once the consumer has caught up with them.
	 */
	shm_collect(srv, ch);
	r->direct_done = false;
	r->direct_backoff = r->direct_backoff == 0 ? SHM_DIRECT_STALL_MS :
	    r->direct_backoff * 2;
	if (r->direct_backoff > SHM_DIRECT_BACKOFF_MAX_MS)
		r->direct_backoff = SHM_DIRECT_BACKOFF_MAX_MS;
	r->direct_again = uv_now(srv->loop) + r->direct_backoff;
	pump_channel(srv, ch);
	conn_flush_dirty(srv);
}

void
shm_direct_end(struct server *srv, struct channel *ch)
{
	shm_direct_take_back(srv, ch, true);
}

void
shm_direct_take_back(struct server *srv, struct channel *ch, bool tell)
{
	struct shm_direct *d = ch->direct;
	struct shm_ring	*r;
	struct conn	*c;
	uint64_t	 pos, seq, want, k = 0;

	if (d == NULL)
		return;
	r = d->ring;
	c = d->h->conn;
	log_debug("consumer handle %lu: its producer's ring taken back (%s)",
	    (unsigned long)d->h->id, c->peer);
	shmdirect_revoke(d->page, &pos, &seq);
	shm_direct_release(d);
	/* What it claimed, and has not acknowledged, it has: in flight. */
	want = d->claim_seq - d->rel_seq;
	k = shm_direct_free_space(d, want, true);
	if (k < want)
		d->rel_seq = d->claim_seq;	/* the producer broke them */
	/* The daemon reads on from the claims, whose records it copied. */
	if (!r->bad)
		shmring_release(&r->rd, r->map);
	/* Deliveries from here on follow the records it read. */
	ch->last_seq = d->claim_seq;
	if (!tell)
		;	/* its handle is going */
	else if (proto_enc_direct_off(&c->out, d->h->id, d->claim_seq) == 0)
		conn_dirty(c);
	else
		dispatch_conn_error(c, CHAN_ENOMEM, "out of memory");
	ch->direct = NULL;
	r->direct = NULL;
	r->direct_done = true;
	shm_direct_free(d);
	/* The daemon reads the ring again: from its next wake-up on. */
	shm_answer_rings(ch);
	if (!r->bad)
		shm_wake(r->efd_daemon);
	(void)srv;
}

void
shm_direct_want(struct server *srv, struct handle *h, bool on)
{
	struct channel	*ch = h->ch;

	h->direct_want = on;
	if (!on && ch->direct != NULL && ((struct shm_direct *)
	    ch->direct)->h == h)
		shm_direct_end(srv, ch);
	else if (on)
		shm_direct_offer(srv, ch);
}

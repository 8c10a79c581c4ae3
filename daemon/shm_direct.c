/* SPDX-License-Identifier: MIT */
/*
 * shm_direct.c: consumers that read their channel's producer rings
 * themselves (direct reading; docs/protocol.md, "Direct reading"). While
 * a channel has only producer rings (one to SHMDIRECT_MAX_RINGS), nothing
 * else queued and a consumer on a ring that asked (DIRECT), the daemon
 * offers that consumer read-only mappings of the rings and a page of its
 * own (proto/shmdirect.h), and stops reading the rings: records go from
 * the producers to the consumer through memory alone, the consumer
 * merging the rings by stamp as the daemon would. The daemon still grants
 * the producers their room, releases the space the consumer acknowledges
 * (in the page, whose log says which ring each seq came from) and wakes a
 * consumer that sleeps.
 *
 * Anything else the channel meets (a socket send, a ring that comes or
 * goes, either end going) takes the rings back first (shm_direct_end,
 * _pause, _regroup): what the consumer claimed and did not acknowledge
 * becomes in flight, as if delivered, in the order it claimed it, and the
 * daemon reads on from there. The rings are offered again, once the queue
 * has drained, after a socket send, a stall, or a change of the rings
 * while the consumer was reading them, after a wait that doubles each
 * time (shm_direct_backoff); after a change while it read nothing from
 * them, at once (enum shm_again).
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
	/* The producers' rings it reads, in the order of the page. */
	struct shm_ring	*ring[SHMDIRECT_MAX_RINGS];
	uint32_t	 nrings;
	struct handle	*h;		/* the consumer handle */
	unsigned char	*page;
	int		 page_fd;
	int		 ro_fd[SHMDIRECT_MAX_RINGS];	/* memfds, read-only */
	/*
	 * The reader's own wake-up pair to the daemon: it shares no end
	 * with a producer, so neither can shut the other's (shutdown(2)
	 * acts for every holder of an end).
	 */
	int		 kick_r;	/* the end the daemon reads */
	int		 kick_w;	/* passed to the reader, then closed */
	uv_poll_t	 kick;
	bool		 kick_on;	/* kick is initialized */
	unsigned	 handles;	/* handles closing before the free */
	uint64_t	 token;
	uint64_t	 token_until;	/* uv_now */
	uint64_t	 offered;	/* uv_now */
	bool		 fetched;
	bool		 armed;		/* the consumer sleeps: RING_WAKE it
					   when a ring moves */
	bool		 wake;		/* it fetched the wake descriptor */
	uint32_t	 wait_how;	/* armed: SHMDIRECT_WAIT_* */
	bool		 lied;		/* its page contradicts the rings */
	uint64_t	 base_seq;	/* the last seq delivered before */
	uint64_t	 claim_seq;	/* the last seq claimed, as seen */
	uint64_t	 claim_runs;	/* log entries of those claims */
	uint64_t	 rel_seq;	/* the last seq whose space is free */
	uint64_t	 rel_run;	/* the log entry it is in */
	uint32_t	 rel_off;	/* its messages freed before it */
	/* Per ring, where the free space ends. */
	struct shmring_reader rel[SHMDIRECT_MAX_RINGS];
	/* A producer waiting for space while the consumer reads nothing. */
	uv_timer_t	 stall;
	bool		 timer;		/* stall is initialized */
	uint64_t	 stall_claim;
	/* Grants wait for room to gather until the claims pass this seq. */
	uint64_t	 unbatched;
	/* The rings say watched: see shm_direct_watch. */
	bool		 watched;
};

/*
 * How long a producer waits for ring space its consumer does not free
 * (it reads nothing) before the daemon takes the rings back and queues
 * the records, as a channel does on the socket path: a program that
 * sends more than a ring holds before it receives must not block. Long
 * enough that a consumer descheduled on a busy machine keeps the rings.
 */
#define SHM_DIRECT_STALL_MS	20
/*
 * How long a producer's grant may wait for room to gather (shm_grant.c)
 * while the consumer claims nothing, before the room there is goes.
 */
#define SHM_DIRECT_BATCH_MS	2
/*
 * Runs of the claims' log an acknowledgement goal looks through, at most
 * (shm_direct_seq_freeing): the rings' bites since the last release,
 * usually a few.
 */
#define SHM_GOAL_RUNS		256
/*
 * The most a ring waits before it is offered again after a stall or a
 * change of the channel's rings. Each doubles the wait from
 * SHM_DIRECT_STALL_MS: a consumer that cannot keep the rings (a channel of
 * a few messages, producers that come and go) is left on the daemon's
 * path instead of fetching an offer for every few messages.
 */
#define SHM_DIRECT_BACKOFF_MAX_MS	1000
/*
 * An offer its consumer read from for this long shows that it keeps up:
 * the next wait after a take-back starts from SHM_DIRECT_STALL_MS again,
 * not from where stalls long past left it.
 */
#define SHM_DIRECT_KEPT_MS	SHM_DIRECT_BACKOFF_MAX_MS
/*
 * Offers a ring may see taken back, in a row, before its consumer reads
 * from them, with no wait before the next (rings joining one after
 * another): past that, producers that come and go without their
 * consumer reading make it wait as a stall does.
 */
#define SHM_DIRECT_UNUSED_MAX	SHMDIRECT_MAX_RINGS

static void	shm_direct_unmap(struct shm_direct *);

/*
 * When rings taken back may be offered again: never (their consumer does
 * not want them read directly, or lied about them); after a wait that
 * doubles each time (a send on the socket, a stall, an offer not fetched
 * in time, or their consumer said "not this offer");
 * or, when the channel's rings changed, at once if the consumer read
 * nothing from them since they were offered (taking back an offer that
 * was not used cost nothing, as rings joining one after another do; up
 * to SHM_DIRECT_UNUSED_MAX times in a row), else after the wait.
 */
enum shm_again {
	SHM_AGAIN_NEVER,
	SHM_AGAIN_LATER,
	SHM_AGAIN_CHANGED,
};

static void	shm_direct_finish(struct server *, struct channel *, bool tell,
		    enum shm_again);

/* The reader woke the daemon: its page has news (acks, a wait, a claim). */
static void
shm_direct_kick_cb(uv_poll_t *poll, int status, int events)
{
	struct shm_direct *d = poll->data;
	struct shm_ring	*r = d->ring[0];

	(void)events;
	if (status < 0)
		return;
	if (shm_drain_fd(d->kick_r) != 0) {
		/* Shut by the reader, or it went: it wakes the daemon no more. */
		uv_poll_stop(poll);
		return;
	}
	if (r->ch->direct == d)
		shm_look(r->srv, r->ch);
}

static void
shm_direct_free_cb(uv_handle_t *handle)
{
	struct shm_direct *d = handle->data;

	if (--d->handles == 0)
		shm_direct_unmap(d);
}

static void
shm_direct_free(struct shm_direct *d)
{
	d->handles = 1;
	if (d->timer) {
		d->handles++;
		uv_close((uv_handle_t *)&d->stall, shm_direct_free_cb);
	}
	if (d->kick_on) {
		d->handles++;
		uv_close((uv_handle_t *)&d->kick, shm_direct_free_cb);
	}
	if (--d->handles == 0)
		shm_direct_unmap(d);
}

static void
shm_direct_unmap(struct shm_direct *d)
{
	uint32_t	i;

	if (d->page != NULL)
		munmap(d->page, SHMDIRECT_SIZE);
	if (d->page_fd >= 0)
		close(d->page_fd);
	if (d->kick_r >= 0)
		close(d->kick_r);
	if (d->kick_w >= 0)
		close(d->kick_w);
	for (i = 0; i < d->nrings; i++) {
		if (d->ro_fd[i] >= 0)
			close(d->ro_fd[i]);
	}
	free(d);
}

/* A new open of r's memfd, read-only: the consumer cannot write. */
static int
shm_direct_open_ro(const struct shm_ring *r)
{
	char	path[64];

	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", r->fd);
	return (open(path, O_RDONLY | O_CLOEXEC));
}

/*
 * The page and the read-only descriptors of ch's rings (n of them, in
 * ring): NULL if they cannot be.
 */
static struct shm_direct *
shm_direct_make(struct shm_ring **ring, uint32_t n, struct handle *h,
    uint64_t now)
{
	struct shm_direct *d;
	uint32_t	 i;
	int		 kick[2];
	bool		 ok = true;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return (NULL);
	d->page_fd = d->kick_r = d->kick_w = -1;
	if (shm_wake_pair(kick) == 0) {
		d->kick_r = kick[0];
		d->kick_w = kick[1];
	} else
		ok = false;
	d->nrings = n;
	d->h = h;
	d->offered = now;
	d->token_until = now + SHM_TOKEN_SECS * 1000;
	for (i = 0; i < n; i++) {
		d->ring[i] = ring[i];
		if ((d->ro_fd[i] = shm_direct_open_ro(ring[i])) < 0)
			ok = false;
	}
	if (!ok || (d->page_fd = memfd_create("chand-direct", MFD_CLOEXEC |
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

/* Whether r may be read by a consumer now, as one of its channel's. */
static bool
shm_direct_ring_ready(const struct shm_ring *r)
{
	return (!r->bad && r->fetched && !r->direct_done &&
	    uv_now(r->srv->loop) >= r->direct_again &&
	    shmring_at_record(&r->rd));
}

/*
 * Whether ch may be read by its consumer directly once its queue is
 * empty: its rings, into ring (how many), or 0.
 */
static uint32_t
shm_direct_rings(const struct channel *ch, struct shm_ring **ring)
{
	struct shm_ring	*r;
	struct handle	*h = ch->consumer;
	uint32_t	 n = 0;

	if (ch->rings == NULL || h == NULL || !h->direct_want ||
	    h->ring == NULL || ch->durable || ch->cap_msgs == 0 ||
	    ch->nheld > 0)
		return (0);
	for (r = ch->rings; r != NULL; r = r->ch_next) {
		if (n == SHMDIRECT_MAX_RINGS || !shm_direct_ring_ready(r))
			return (0);
		ring[n++] = r;
	}
	return (n);
}

/*
 * Rings that wait for their channel's queue to drain before they are
 * offered to its consumer: meanwhile the daemon reads them no more (what
 * they hold comes after the queue), and answers their producers' asks. A
 * producer that waits while the queue does not move for
 * SHM_DIRECT_STALL_MS (a consumer that reads nothing) ends the wait, and
 * the daemon reads the rings again.
 */
struct shm_pending {
	uv_timer_t	 timer;
	struct channel	*ch;
	struct server	*srv;
	uint64_t	 queued;	/* ch->nqueued when the timer began */
};

static void
shm_direct_backoff(struct shm_ring *r, uint64_t now)
{
	r->direct_backoff = r->direct_backoff == 0 ? SHM_DIRECT_STALL_MS :
	    r->direct_backoff * 2;
	if (r->direct_backoff > SHM_DIRECT_BACKOFF_MAX_MS)
		r->direct_backoff = SHM_DIRECT_BACKOFF_MAX_MS;
	r->direct_again = now + r->direct_backoff;
}

static void
shm_pending_free_cb(uv_handle_t *handle)
{
	free(handle->data);
}

void
shm_direct_unpend(struct channel *ch, bool backoff)
{
	struct shm_pending *p = ch->direct_next;
	struct shm_ring	*r;

	if (p == NULL)
		return;
	ch->direct_next = NULL;
	uv_close((uv_handle_t *)&p->timer, shm_pending_free_cb);
	for (r = ch->rings; r != NULL; r = r->ch_next) {
		if (backoff)
			shm_direct_backoff(r, uv_now(p->srv->loop));
		/* The daemon reads the rings again: from their next wake-up. */
		if (!r->bad)
			shm_look_again(r);
	}
}

/* Whether a producer of ch's rings waits. */
static bool
shm_direct_producer_waits(const struct channel *ch)
{
	const struct shm_ring *r;

	for (r = ch->rings; r != NULL; r = r->ch_next) {
		if (!r->bad && shmring_producer_waits(r->map))
			return (true);
	}
	return (false);
}

/*
 * Whether a producer of ch's rings about to send on the socket waits for
 * its records to be taken.
 */
static bool
shm_direct_drain_wanted(const struct channel *ch)
{
	const struct shm_ring *r;

	for (r = ch->rings; r != NULL; r = r->ch_next) {
		if (!r->bad && shmring_producer_waits(r->map) &&
		    shmring_producer_want(r->map) == SHMRING_WANT_DRAIN)
			return (true);
	}
	return (false);
}

static void
shm_pending_cb(uv_timer_t *timer)
{
	struct shm_pending *p = timer->data;
	struct channel	*ch = p->ch;
	struct server	*srv = p->srv;

	if (!shm_direct_producer_waits(ch))
		return;
	if (ch->nqueued < p->queued) {
		/* The consumer reads: the queue drains soon. */
		p->queued = ch->nqueued;
		(void)uv_timer_start(&p->timer, shm_pending_cb,
		    SHM_DIRECT_STALL_MS, 0);
		return;
	}
	shm_direct_unpend(ch, true);
	shm_collect(srv, ch);
	pump_channel(srv, ch);
	conn_flush_dirty(srv);
}

/* ch's rings wait for its queue to drain (struct shm_pending). */
static void
shm_direct_pend(struct server *srv, struct channel *ch)
{
	struct shm_pending *p;
	struct shm_ring	*r;

	if (ch->direct_next != NULL)
		return;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return;
	if (uv_timer_init(srv->loop, &p->timer) != 0) {
		free(p);
		return;
	}
	p->timer.data = p;
	p->ch = ch;
	p->srv = srv;
	ch->direct_next = p;
	if (ch->shm_spinning)
		shm_spin_unlink(srv, ch);
	/* Nothing to read: their commits need not wake the daemon. */
	for (r = ch->rings; r != NULL; r = r->ch_next) {
		if (!r->bad)
			shmring_set_cons_wait(r->map, 0);
	}
}

void
shm_direct_pending_poll(struct server *srv, struct channel *ch)
{
	struct shm_pending *p = ch->direct_next;

	/* Its send on the socket would wait for the whole queue to drain. */
	if (shm_direct_drain_wanted(ch)) {
		shm_direct_unpend(ch, true);
		shm_collect(srv, ch);
		pump_channel(srv, ch);
		return;
	}
	shm_answer_rings(ch);
	if (shm_direct_producer_waits(ch) &&
	    !uv_is_active((uv_handle_t *)&p->timer)) {
		p->queued = ch->nqueued;
		(void)uv_timer_start(&p->timer, shm_pending_cb,
		    SHM_DIRECT_STALL_MS, 0);
	}
}

/* d's stall timer and the watch on its reader's wake-ups: 0, or -1. */
static int
shm_direct_handles(struct server *srv, struct shm_direct *d)
{
	if (uv_timer_init(srv->loop, &d->stall) != 0)
		return (-1);
	d->stall.data = d;
	d->timer = true;
	if (uv_poll_init(srv->loop, &d->kick, d->kick_r) != 0)
		return (-1);
	d->kick.data = d;
	d->kick_on = true;
	return (uv_poll_start(&d->kick, UV_READABLE, shm_direct_kick_cb));
}

void
shm_direct_offer(struct server *srv, struct channel *ch)
{
	struct shm_ring	*ring[SHMDIRECT_MAX_RINGS];
	struct shmdirect_claim start;
	struct shm_direct *d;
	struct handle	*h = ch->consumer;
	uint32_t	 n, i;

	if (ch->direct != NULL || ch->direct_hold)
		return;
	if (srv->stopping || (n = shm_direct_rings(ch, ring)) == 0) {
		shm_direct_unpend(ch, false);
		return;
	}
	/* What the queue holds comes before what the rings hold. */
	if (ch->nqueued > 0) {
		shm_direct_pend(srv, ch);
		return;
	}
	shm_direct_unpend(ch, false);
	if ((d = shm_direct_make(ring, n, h, uv_now(srv->loop))) == NULL ||
	    shm_direct_handles(srv, d) != 0) {
		if (d != NULL)
			shm_direct_free(d);
		for (i = 0; i < n; i++)
			ring[i]->direct_done = true;
		return;
	}
	/* Nothing is queued: every record from rd.pos on is the consumer's. */
	memset(&start, 0, sizeof(start));
	start.seq = ch->last_seq;
	for (i = 0; i < n; i++) {
		start.pos[i] = ring[i]->rd.pos;
		start.rec[i] = ring[i]->rd.taken;
		d->rel[i] = ring[i]->rd;
	}
	shmdirect_init(d->page, n, &start);
	d->base_seq = d->claim_seq = d->rel_seq = ch->last_seq;
	d->unbatched = UINT64_MAX;
	if (proto_enc_direct_offer(&h->conn->out, h->id, d->token) != 0) {
		shm_direct_free(d);
		for (i = 0; i < n; i++)
			ring[i]->direct_done = true;
		return;
	}
	conn_dirty(h->conn);
	log_debug("consumer handle %lu offered its producers' %u ring%s (%s)",
	    (unsigned long)h->id, n, n == 1 ? "" : "s", h->conn->peer);
	if (ch->shm_spinning)
		shm_spin_unlink(srv, ch);
	for (i = 0; i < n; i++) {
		/* The consumer arms the rings when it sleeps (its page). */
		shmring_set_cons_wait(ring[i]->map, 0);
		ring[i]->direct = d;
	}
	ch->direct = d;
}

bool
shm_direct_fetch(struct conn *c, const struct proto_msg *m)
{
	struct shm_ring	*r;
	struct shm_direct *d = NULL;
	int		 fds[SHM_FDS_MAX];
	uint32_t	 i, n;

	for (r = c->srv->rings; r != NULL; r = r->srv_next) {
		if ((d = r->direct) != NULL && d->token == m->token &&
		    !d->fetched)
			break;
	}
	if (r == NULL)
		return (false);
	if (d->h->conn->uid != c->uid)
		return (false);
	if (uv_now(c->srv->loop) > d->token_until) {
		/*
		 * Refused (ERROR(PROTO)), as an offer already taken back:
		 * take it back now, so that the refusal means that alone.
		 */
		shm_direct_pause(c->srv, d->ring[0]->ch);
		return (false);
	}
	d->fetched = true;
	fds[0] = d->page_fd;
	fds[1] = d->kick_w;
	for (i = 0; i < d->nrings; i++)
		fds[2 + i] = d->ro_fd[i];
	n = 2 + d->nrings;
	/* Last, for a consumer that asked: its producers may wake it. */
	for (i = 0; i < d->nrings && d->h->direct_wake; i++) {
		if (d->ring[i]->cons_wake && d->ring[i]->wake_r >= 0) {
			fds[n++] = d->ring[i]->wake_r;
			d->wake = true;
		}
	}
	if (shm_send_fds(c, m->rid, fds, n) != 0) {
		log_notice("cannot pass a direct reader's descriptors: %s "
		    "(%s)", strerror(errno), c->peer);
		dispatch_conn_error(c, CHAN_ENOMEM, "cannot pass the rings");
		return (true);
	}
	/* Fetched once: the reader's end is its alone now. */
	close(d->kick_w);
	d->kick_w = -1;
	conn_mark_close(c);
	return (true);
}

/* The consumer's page contradicts the rings: it loses direct reading. */
static void
shm_direct_lie(struct shm_direct *d, const char *what)
{
	if (d->lied)
		return;
	d->lied = true;
	log_notice("consumer handle %lu: %s (%s)", (unsigned long)d->h->id,
	    what, d->h->conn->peer);
}

/*
 * The records the consumer has claimed are delivered: taken out of the
 * rings' grants (shm_take_run: the channel has room again, as a delivery
 * makes room), not yet out of their space. Each ring's rd follows the
 * claims.
 */
static void
shm_direct_claims(struct shm_direct *d)
{
	struct shmdirect_claim cl;
	struct shm_ring	*r;
	uint64_t	 want, got = 0, before;
	uint32_t	 i;

	if (d->lied || shmdirect_claimed(d->page, &cl) != 0 ||
	    cl.seq <= d->claim_seq)
		return;
	want = cl.seq - d->claim_seq;
	if (cl.runs < d->claim_runs || cl.runs - d->claim_runs > want ||
	    cl.runs - d->rel_run > SHMDIRECT_LOG_CAP) {
		shm_direct_lie(d, "its claims' log does not hold");
		return;
	}
	for (i = 0; i < d->nrings; i++) {
		r = d->ring[i];
		if (cl.rec[i] == r->rd.taken)
			continue;
		if (cl.rec[i] < r->rd.taken ||
		    cl.rec[i] - r->rd.taken > want - got) {
			shm_direct_lie(d, "it claimed records its rings do "
			    "not hold");
			break;
		}
		before = r->rd.taken;
		/*
		 * The counts are what is checked: a claim's position may be
		 * past padding the daemon's walk stops before.
		 */
		r->peeked = false;
		if (!r->bad && shmring_poll(&r->rd, r->map) == 0)
			(void)shm_take_run(r, cl.rec[i] - r->rd.taken);
		/*
		 * A ring its producer broke (before, or over these records)
		 * is read no more, but what the consumer read of it is
		 * delivered: its seqs stay the consumer's.
		 */
		if (r->bad)
			r->rd.taken = cl.rec[i];
		got += r->rd.taken - before;
	}
	d->claim_seq += got;
	d->claim_runs = cl.runs;
	if (got != want)
		shm_direct_lie(d, "its claims do not add up");
}

/* k records' space of ring i, up to d->rel[i], goes back to its producer. */
static uint64_t
shm_direct_freed(struct shm_direct *d, uint32_t i, uint64_t k)
{
	struct shm_ring	*r = d->ring[i];

	if (k > 0) {
		shmring_release(&d->rel[i], r->map);
		r->rd.tail = d->rel[i].pos;
		r->drained += k;
	}
	return (k);
}

/*
 * Gives the space of the next n claimed records of ring i back to its
 * producer: into flight with their seqs (inflight), or gone
 * (acknowledged). Returns how many; fewer if the producer broke the ring
 * meanwhile.
 */
static uint64_t
shm_direct_free_ring(struct shm_direct *d, uint32_t i, uint64_t n,
    bool inflight)
{
	struct shm_ring	*r = d->ring[i];
	struct shmring_reader *rel = &d->rel[i];
	struct channel	*ch = r->ch;
	const unsigned char *p;
	uint64_t	 k, m, bytes, stamp;
	uint32_t	 len;
	int		 rc;

	/* A broken ring's records are not read again: delivered, gone. */
	if (r->bad) {
		if (!inflight)
			channel_consumed(ch, n);
		rel->taken += n;
		d->rel_seq += n;
		return (n);
	}
	/* Up to the claims' end: n of them, within what r->rd checked. */
	rel->head = r->rd.head;
	for (k = 0; k < n; k++) {
		/* Acknowledged bundles go whole, as the claims' walk took them. */
		if (!inflight && (rc = shmring_skip_bundle(rel, n - k, &m,
		    &bytes)) != 0) {
			if (rc < 0)
				break;
			channel_consumed(ch, m);
			d->rel_seq += m;
			k += m - 1;
			continue;
		}
		if (shmring_peek(rel, &p, &len, &stamp) != 1)
			break;
		if (inflight && channel_push_inflight(ch, p, len,
		    d->rel_seq + 1) != 0)
			break;
		if (!inflight)
			channel_consumed(ch, 1);
		shmring_skip(rel);
		d->rel_seq++;
	}
	return (shm_direct_freed(d, i, k));
}

/*
 * Everything claimed is acknowledged (the usual case): each ring's free
 * space ends where its claims do, and the claims' walk checked those
 * records already; no second walk over memory the producers and the
 * consumer wrote from other CPUs, and no look at the log.
 */
static uint64_t
shm_direct_free_all(struct shm_direct *d)
{
	struct shm_ring	*r;
	uint64_t	 n = d->claim_seq - d->rel_seq, k;
	uint32_t	 i;

	for (i = 0; i < d->nrings; i++) {
		r = d->ring[i];
		if ((k = r->rd.taken - d->rel[i].taken) == 0)
			continue;
		if (r->bad) {
			(void)shm_direct_free_ring(d, i, k, false);
			continue;
		}
		d->rel[i] = r->rd;
		d->rel[i].peeked = 0;
		channel_consumed(r->ch, k);
		(void)shm_direct_freed(d, i, k);
	}
	d->rel_seq = d->claim_seq;
	d->rel_run = d->claim_runs;
	d->rel_off = 0;
	shmdirect_set_freed(d->page, d->rel_run);
	return (n);
}

/*
 * Gives the space of up to n claimed records back to their producers, in
 * the order of the claims' log: into flight with their seqs (inflight),
 * or gone (acknowledged). Returns how many; fewer if a producer broke its
 * ring meanwhile or the log lies.
 */
static uint64_t
shm_direct_free_space(struct shm_direct *d, uint64_t n, bool inflight)
{
	uint64_t	 done = 0, e, m, k;
	uint32_t	 i, cnt;

	if (!inflight && !d->lied && n == d->claim_seq - d->rel_seq)
		return (shm_direct_free_all(d));
	while (done < n && !d->lied) {
		if (d->rel_run >= d->claim_runs) {
			shm_direct_lie(d, "its claims' log is short");
			break;
		}
		e = shmdirect_run(d->page, d->rel_run);
		i = SHMDIRECT_RUN_RING(e);
		cnt = SHMDIRECT_RUN_COUNT(e);
		if (i >= d->nrings || d->rel_off >= cnt) {
			shm_direct_lie(d, "its claims' log names no record");
			break;
		}
		m = cnt - d->rel_off;
		if (m > n - done)
			m = n - done;
		if (m > d->ring[i]->rd.taken - d->rel[i].taken) {
			shm_direct_lie(d, "its claims' log names records it "
			    "did not claim");
			break;
		}
		k = shm_direct_free_ring(d, i, m, inflight);
		done += k;
		d->rel_off += (uint32_t)k;
		if (d->rel_off == cnt) {
			d->rel_run++;
			d->rel_off = 0;
		}
		if (k < m)
			break;
	}
	shmdirect_set_freed(d->page, d->rel_run);
	return (done);
}

/*
 * Releases what the consumer has acknowledged (its page's word): the
 * messages in flight before it began, then the rings' records it claimed.
 */
static void
shm_direct_release(struct shm_direct *d)
{
	struct channel	*ch = d->ring[0]->ch;
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

/*
 * Looks at the claims again after a while: soon while grants wait for
 * room to gather, which a consumer that stopped must not hold up.
 */
static void
shm_direct_stall_start(struct shm_direct *d)
{
	(void)uv_timer_start(&d->stall, shm_direct_stall_cb,
	    d->claim_seq != d->unbatched ? SHM_DIRECT_BATCH_MS :
	    SHM_DIRECT_STALL_MS, 0);
}

/*
 * Says to each ring of d how its producer wakes the sleeping consumer
 * (on), or that it sleeps no more: cons_sleeps, for a producer that holds
 * the wake descriptor of a consumer that watches it; else cons_wait, and
 * the daemon, woken, sends RING_WAKE.
 */
static void
shm_direct_sleeping(struct shm_direct *d, bool on)
{
	struct shm_ring	*r;
	uint32_t	 i;
	bool		 wake = on && d->wake &&
			    d->wait_how == SHMDIRECT_WAIT_WAKE;

	for (i = 0; i < d->nrings; i++) {
		r = d->ring[i];
		if (wake && r->cons_wake)
			shmring_set_cons_sleeps(r->map, 1);
		else
			shmring_set_cons_wait(r->map, on ? 1 : 0);
		if (!on)
			shmring_set_cons_sleeps(r->map, 0);
	}
}

/*
 * The consumer sleeps: RING_WAKE once a ring holds what it has not. The
 * frame leaves at once if the connection's output held nothing: the
 * wake-up is the consumer's latency, the rest of the turn is not.
 */
static void
shm_direct_arm(struct shm_direct *d)
{
	struct shmdirect_claim cl;
	struct conn	*c = d->h->conn;
	uint32_t	 i;
	bool		 moved = false, alone;

	shm_direct_sleeping(d, true);
	if (shmdirect_claimed(d->page, &cl) == 0) {
		for (i = 0; i < d->nrings && !moved; i++)
			moved = shmring_moved(d->ring[i]->map, cl.pos[i]);
		if (!moved)
			return;
	}
	shm_direct_sleeping(d, false);
	d->armed = false;
	alone = c->out.len == 0;
	if (proto_enc_ring_wake(&c->out, d->h->id) != 0)
		return;
	conn_dirty(c);
	if (alone)
		conn_flush_now(c);
}

/* Whether the consumer asked to be woken: then it is, if a ring moved. */
static void
shm_direct_look_armed(struct shm_direct *d)
{
	uint32_t	how;

	if ((how = shmdirect_take_wait(d->page)) != 0) {
		d->armed = true;
		d->wait_how = how;
	}
	if (d->armed)
		shm_direct_arm(d);
}

/* Whether a producer of d's rings waits for room or space. */
static bool
shm_direct_asking(const struct shm_direct *d)
{
	const struct shm_ring *r;
	uint32_t	 i;

	for (i = 0; i < d->nrings; i++) {
		r = d->ring[i];
		if (!r->bad && shmring_producer_waits(r->map))
			return (true);
	}
	return (false);
}

/* Messages ring i's producer says it committed past n (a hint). */
static uint64_t
shm_direct_sent_past(const struct shm_direct *d, uint32_t i, uint64_t n)
{
	uint64_t	sent, bytes;

	shmring_sent(d->ring[i]->map, &sent, &bytes);
	return (sent > n ? sent - n : 0);
}

/*
 * Where the claims of the k records of ring i after the claims' log will
 * end: the consumer claims from each ring in turn, so as many of each
 * other ring's committed records as of ring i's come first, at most what
 * each holds.
 */
static uint64_t
shm_direct_seq_after_log(const struct shm_direct *d, uint32_t i, uint64_t k)
{
	uint64_t	n = k, un;
	uint32_t	j;

	for (j = 0; j < d->nrings; j++) {
		if (j == i || d->ring[j]->bad)
			continue;
		un = shm_direct_sent_past(d, j, d->ring[j]->rd.taken);
		n += un < k ? un : k;
	}
	return (d->claim_seq + n);
}

/*
 * The acknowledgement that frees the next k records of ring i (at most
 * those it holds): the claims' log from where the daemon released, then
 * past it as shm_direct_seq_after_log says. The log and the counts are
 * the peers' word, so this is a hint; a log longer than SHM_GOAL_RUNS
 * runs gives the least it can be, each record after could be ring i's.
 */
static uint64_t
shm_direct_seq_freeing(const struct shm_direct *d, uint32_t i, uint64_t k)
{
	uint64_t	 seq = d->rel_seq, run, e, held;
	uint32_t	 off = d->rel_off, cnt;

	held = shm_direct_sent_past(d, i, d->rel[i].taken);
	if (k > held)
		k = held > 0 ? held : 1;
	for (run = d->rel_run; run < d->claim_runs; run++, off = 0) {
		if (run - d->rel_run >= SHM_GOAL_RUNS)
			return (seq + k);
		e = shmdirect_run(d->page, run);
		cnt = SHMDIRECT_RUN_COUNT(e);
		if (off >= cnt)
			continue;
		cnt -= off;
		if (SHMDIRECT_RUN_RING(e) == i) {
			if (cnt >= k)
				return (seq + k);
			k -= cnt;
		}
		seq += cnt;
	}
	return (shm_direct_seq_after_log(d, i, k));
}

/*
 * The acknowledgement that may let a waiting producer go (false: none
 * waits for one). A producer waits for room (its grant waits for room to
 * gather), or for the space of its records, which their acknowledgement
 * frees. What the consumer acknowledges it has claimed, and each claim
 * is room: *goal is the least acknowledgement that gives a producer the
 * room or the space it still waits for, or 0 (the next one).
 */
static bool
shm_direct_ack_goal(const struct shm_direct *d, uint64_t *goal)
{
	const struct shm_ring *r;
	uint64_t	 short_of, at, least = UINT64_MAX;
	uint32_t	 i;
	bool		 space;

	*goal = 0;
	for (i = 0; i < d->nrings; i++) {
		r = d->ring[i];
		if (r->bad)
			continue;
		/* An ask not answered yet. */
		if (!shmring_producer_waits(r->map) &&
		    !shmring_asked_answered(r->map))
			return (true);
		if ((short_of = shm_grant_short(r, &space)) == 0)
			return (true);
		if (short_of == SHM_SHORT_NONE)
			continue;
		at = space ? shm_direct_seq_freeing(d, i, short_of) :
		    shmdirect_acked(d->page) + short_of;
		if (at < least)
			least = at;
	}
	if (least == UINT64_MAX)
		return (false);
	*goal = least;
	return (true);
}

/*
 * Says to the producers of d's rings whether the daemon looks at their
 * waits with no deadline without a wake-up (the rings' watched word).
 * It does while it has asked the consumer for an acknowledgement that a
 * producer waits for (or, just woken to a batch, will wait for next:
 * shm_grant_short) and its stall timer runs: that acknowledgement (or
 * the timer, once the consumer stops) brings it back to shm_direct_poll,
 * which looks at every ring. So a producer that runs out of room while
 * another waits, or again after its batch, need not wake the daemon.
 */
static void
shm_direct_watch(struct shm_direct *d, bool on)
{
	uint32_t	i;

	if (d->watched == on)
		return;
	d->watched = on;
	for (i = 0; i < d->nrings; i++)
		shmring_set_watched(d->ring[i]->map, on);
}

/*
 * Ends the watch: true if a producer waits now, which may have begun its
 * wait unwoken before the word was cleared (each side stores its word,
 * then reads the other's): then look again.
 */
static bool
shm_direct_unwatch(struct shm_direct *d)
{
	if (!d->watched)
		return (false);
	shm_direct_watch(d, false);
	return (shm_direct_asking(d));
}

/*
 * Frees what the consumer acknowledged and answers the rings; a producer
 * waiting for room the consumer's acknowledgements free has the consumer
 * asked to say when it acknowledges, then is looked at once more (it may
 * have just done so). *asked says whether it was. False if d is gone.
 */
static bool
shm_direct_answer(struct server *srv, struct channel *ch, bool *asked)
{
	struct shm_direct *d = ch->direct;
	uint64_t	 goal;
	int		 i;

	*asked = false;
	for (i = 0; i < 2; i++) {
		shm_direct_release(d);
		if (ch->direct != d)
			return (false);
		if (d->lied) {
			shm_direct_end(srv, ch);
			pump_channel(srv, ch);
			return (false);
		}
		shm_answer_rings(ch);
		if (i > 0 || !shm_direct_ack_goal(d, &goal))
			break;
		shmdirect_want_ack(d->page, goal);
		*asked = true;
	}
	return (true);
}

void
shm_direct_poll(struct server *srv, struct channel *ch)
{
	struct shm_direct *d = ch->direct;
	bool		 asked;
	int		 pass;

	if (d->lied) {
		shm_direct_end(srv, ch);
		pump_channel(srv, ch);
		return;
	}
	/* An offer not fetched in time; a producer about to use the socket. */
	if ((!d->fetched && uv_now(srv->loop) > d->token_until) ||
	    shm_direct_drain_wanted(ch)) {
		shm_direct_pause(srv, ch);
		pump_channel(srv, ch);
		return;
	}
	/* A sleeping consumer first: the rest can wait for its wake-up. */
	shm_direct_look_armed(d);
	for (pass = 0; pass < 2; pass++) {
		if (!shm_direct_answer(srv, ch, &asked))
			return;
		shm_direct_look_armed(d);
		if (shm_direct_asking(d) &&
		    !uv_is_active((uv_handle_t *)&d->stall)) {
			d->stall_claim = d->claim_seq;
			shm_direct_stall_start(d);
		}
		if (asked && uv_is_active((uv_handle_t *)&d->stall)) {
			shm_direct_watch(d, true);
			return;
		}
		if (!shm_direct_unwatch(d))
			return;
	}
}

bool
shm_direct_batching(const struct channel *ch)
{
	const struct shm_direct *d = ch->direct;

	return (d != NULL && d->fetched && !d->lied &&
	    d->claim_seq != d->unbatched);
}

void
shm_direct_sync(struct server *srv)
{
	struct shm_ring	*r;
	struct shm_direct *d;

	for (r = srv->rings; r != NULL; r = r->srv_next) {
		if ((d = r->direct) != NULL && d->ring[0] == r)
			shm_direct_poll(srv, r->ch);
	}
}

static void
shm_direct_stall_cb(uv_timer_t *timer)
{
	struct shm_direct *d = timer->data;
	struct channel	*ch = d->ring[0]->ch;
	struct server	*srv = d->ring[0]->srv;

	if (ch->direct != d)
		return;
	if (!shm_direct_asking(d)) {
		/* Nothing brings the daemon back: producers wake it again. */
		if (shm_direct_unwatch(d)) {
			shm_direct_poll(srv, ch);
			conn_flush_dirty(srv);
		}
		return;
	}
	shm_direct_claims(d);
	if (d->claim_seq != d->stall_claim && !d->lied) {
		/* The consumer reads: it frees the space soon. */
		d->stall_claim = d->claim_seq;
		shm_direct_stall_start(d);
		return;
	}
	if (d->claim_seq != d->unbatched && !d->lied) {
		/*
		 * It stopped: the room there is goes now, batch or not, with
		 * what producers that stopped too hold unclaimed.
		 */
		d->unbatched = d->claim_seq;
		(void)shm_take_back(ch);
		shm_direct_poll(srv, ch);
		conn_flush_dirty(srv);
		return;
	}
	shm_direct_finish(srv, ch, true, SHM_AGAIN_LATER);
	/*
	 * The records go into the queue now, so that the rings are offered
	 * again only once the consumer has caught up with them.
	 */
	shm_collect(srv, ch);
	pump_channel(srv, ch);
	conn_flush_dirty(srv);
}

void
shm_direct_end(struct server *srv, struct channel *ch)
{
	shm_direct_finish(srv, ch, true, SHM_AGAIN_NEVER);
}

void
shm_direct_pause(struct server *srv, struct channel *ch)
{
	shm_direct_finish(srv, ch, true, SHM_AGAIN_LATER);
}

void
shm_direct_regroup(struct server *srv, struct channel *ch)
{
	shm_direct_finish(srv, ch, true, SHM_AGAIN_CHANGED);
}

void
shm_direct_take_back(struct server *srv, struct channel *ch, bool tell)
{
	shm_direct_finish(srv, ch, tell, SHM_AGAIN_NEVER);
}

/*
 * What the consumer claimed and has not acknowledged, it has: in flight,
 * in the order of its claims; if its log lies, ring by ring. Returns the
 * last seq claimed.
 */
static uint64_t
shm_direct_unacked(struct shm_direct *d)
{
	struct shm_ring	*r;
	uint32_t	 i;

	(void)shm_direct_free_space(d, d->claim_seq - d->rel_seq, true);
	for (i = 0; i < d->nrings && d->lied; i++) {
		r = d->ring[i];
		(void)shm_direct_free_ring(d, i, r->rd.taken -
		    d->rel[i].taken, true);
	}
	/* The producer broke what is left. */
	if (d->rel_seq < d->claim_seq)
		d->rel_seq = d->claim_seq;
	return (d->rel_seq);
}

/* Each ring of d may be offered again (enum shm_again), or not. */
static void
shm_direct_retire(struct shm_direct *d, uint64_t now, enum shm_again again)
{
	struct shm_ring	*r;
	uint32_t	 i;
	bool		 used = d->claim_seq != d->base_seq;

	/* A consumer whose page lied is not offered the rings again. */
	if (d->lied)
		again = SHM_AGAIN_NEVER;
	for (i = 0; i < d->nrings; i++) {
		r = d->ring[i];
		r->direct = NULL;
		/* Its producer wakes the consumer no more. */
		shmring_set_cons_sleeps(r->map, 0);
		if (used)
			r->direct_unused = 0;
		if (used && now - d->offered >= SHM_DIRECT_KEPT_MS)
			r->direct_backoff = 0;
		if (again == SHM_AGAIN_NEVER)
			r->direct_done = true;
		else if (again == SHM_AGAIN_CHANGED && !used &&
		    r->direct_unused < SHM_DIRECT_UNUSED_MAX)
			r->direct_unused++;
		else {
			r->direct_unused = 0;
			shm_direct_backoff(r, now);
		}
	}
}

static void
shm_direct_finish(struct server *srv, struct channel *ch, bool tell,
    enum shm_again again)
{
	struct shm_direct *d = ch->direct;
	struct shmdirect_claim cl;
	struct shm_ring	*r;
	struct conn	*c;
	uint64_t	 seq;
	uint32_t	 i;

	/* Rings waiting for the queue to drain were not read directly. */
	shm_direct_unpend(ch, again == SHM_AGAIN_LATER);
	if (d == NULL)
		return;
	/* Producers wake the daemon to their waits again: it reads below. */
	shm_direct_watch(d, false);
	/*
	 * Answering the rings below may deliver, and a delivery offers:
	 * not before this is done (a ring on its way out is still listed).
	 */
	ch->direct_hold = true;
	c = d->h->conn;
	log_debug("consumer handle %lu: its producers' rings taken back (%s)",
	    (unsigned long)d->h->id, c->peer);
	shmdirect_revoke(d->page, &cl);
	shm_direct_release(d);
	seq = shm_direct_unacked(d);
	/* The daemon reads on from the claims, whose records it copied. */
	for (i = 0; i < d->nrings; i++) {
		r = d->ring[i];
		if (!r->bad)
			shmring_release(&r->rd, r->map);
	}
	/* Deliveries from here on follow the records it read. */
	ch->last_seq = seq;
	if (!tell)
		;	/* its handle is going */
	else if (proto_enc_direct_off(&c->out, d->h->id, seq) == 0)
		conn_dirty(c);
	else
		dispatch_conn_error(c, CHAN_ENOMEM, "out of memory");
	ch->direct = NULL;
	shm_direct_retire(d, uv_now(srv->loop), again);
	/* The daemon reads the rings again: from their next wake-up on. */
	shm_answer_rings(ch);
	for (i = 0; i < d->nrings; i++) {
		if (!d->ring[i]->bad)
			shm_look_again(d->ring[i]);
	}
	shm_direct_free(d);
	ch->direct_hold = false;
}

void
shm_direct_want(struct server *srv, struct handle *h, int on)
{
	struct channel	*ch = h->ch;
	struct shm_ring	*r;
	bool		 mine = ch->direct != NULL &&
			    ((struct shm_direct *)ch->direct)->h == h;

	h->direct_want = on != 0;
	if (on == 1 || on == 3) {
		h->direct_wake = on == 3;
		shm_direct_offer(srv, ch);
	} else if (on == 0 && mine)
		shm_direct_end(srv, ch);
	else if (on == 2 && mine)
		shm_direct_finish(srv, ch, true, SHM_AGAIN_LATER);
	else if (on == 2) {
		/* An offer taken back before it was fetched, say. */
		for (r = ch->rings; r != NULL; r = r->ch_next)
			shm_direct_backoff(r, uv_now(srv->loop));
	}
}

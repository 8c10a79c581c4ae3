/* SPDX-License-Identifier: MIT */
/*
 * shm.c: producer rings in shared memory (shm.h, docs/protocol.md).
 */
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "proto.h"
#include "pump.h"
#include "quota.h"
#include "server.h"
#include "shm.h"
#include "shmring.h"

struct shm_ring {
	struct server	*srv;
	struct handle	*h;		/* NULL once the producer is gone */
	struct channel	*ch;
	struct shm_ring	*ch_next;	/* ch->rings */
	struct shm_ring	*srv_next;	/* srv->rings */
	unsigned char	*map;
	size_t		 maplen;
	uint32_t	 data_size;
	int		 fd;		/* the memfd */
	int		 efd_daemon;	/* the producer wakes the daemon */
	int		 efd_prod;	/* the daemon wakes the producer */
	uv_poll_t	 poll;
	bool		 polling;
	bool		 bad;
	struct shmring_reader rd;
	uint64_t	 taken_bytes;
	uint64_t	 grant_msgs;	/* published, in all */
	uint64_t	 grant_bytes;
	uint64_t	 resv_msgs;	/* granted, unused, counted in ch */
	uint64_t	 resv_bytes;	/* and in srv */
	uint64_t	 wait_msgs;	/* waited for, counted in srv */
	uint64_t	 wait_bytes;
	uint64_t	 token;
	uint64_t	 token_until;	/* uv_now */
	uid_t		 uid;
	bool		 fetched;
	/* A consumer's ring: the daemon writes, the consumer reads. */
	bool		 consumer;
	struct conn	*conn;		/* NULL once it is gone */
	struct shmring_writer w;
	/* One pass of shm_take_channel: */
	bool		 peeked;	/* pk_* hold the next record */
	const unsigned char *pk_data;
	uint32_t	 pk_len;
	uint64_t	 pk_stamp;
	size_t		 took;		/* records taken in the pass */
	size_t		 drained;	/* records taken since the wake-up */
};

/* Passes of one wake-up before the daemon turns to other work. */
#define SHM_DRAIN_PASSES	8
/* Passes that take what was committed before a collect, at most. */
#define SHM_COLLECT_PASSES	4

static void	shm_poll_cb(uv_poll_t *, int, int);
static size_t	shm_take_now(struct channel *);
static int	shm_rx_ring_new(struct conn *, struct handle *, uint32_t,
		    uint64_t *, const char **);

static void
shm_wake(int fd)
{
	uint64_t	one = 1;

	/* A full counter already wakes the reader: EAGAIN is fine. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("eventfd write: %s", strerror(errno));
}

/*
 * Wakes r's waiting producer: its eventfd; and a RING_WAKE on its
 * connection if it waits in an event loop (it watches its socket only),
 * unless that connection's output is past the mark already: a client
 * that does not read its socket gets no more.
 */
static void
shm_wake_producer(struct shm_ring *r)
{
	struct conn	*c;

	shm_wake(r->efd_prod);
	if (r->h == NULL ||
	    shmring_producer_wait_kind(r->map) != SHMRING_WAIT_SOCKET)
		return;
	c = r->h->conn;
	if (!conn_can_deliver(c) || proto_enc_ring_wake(&c->out,
	    r->h->id) != 0)
		return;
	conn_dirty(c);
}

/* The rings of ch. */
static unsigned
shm_nrings(const struct channel *ch)
{
	const struct shm_ring	*r;
	unsigned		 n = 0;

	for (r = ch->rings; r != NULL; r = r->ch_next)
		n++;
	return (n);
}

/* The smaller of a and b. */
static uint64_t
shm_min(uint64_t a, uint64_t b)
{
	return (a < b ? a : b);
}

/* Half of limit split among n rings, at most most. */
static uint64_t
shm_share(uint64_t limit, unsigned n, uint64_t most)
{
	return (shm_min(limit / 2 / (n > 0 ? n : 1), most));
}

/* A share of the daemon-wide limits, 0 if too small to grant ahead. */
static uint64_t
shm_ahead(uint64_t share, uint64_t least)
{
	return (share >= least ? share : 0);
}

/*
 * Counts msgs records and bytes payload bytes more (add) or fewer as
 * granted to r and unused: in the channel's capacity and in the
 * daemon-wide queue limits alike.
 */
static void
shm_reserve(struct shm_ring *r, uint64_t msgs, uint64_t bytes, bool add)
{
	struct channel	*ch = r->ch;
	struct server	*srv = r->srv;

	if (add) {
		r->resv_msgs += msgs;
		r->resv_bytes += bytes;
		ch->shm_resv_msgs += msgs;
		ch->shm_resv_bytes += bytes;
		srv->shm_resv_msgs += msgs;
		srv->shm_resv_bytes += bytes;
		quota_resv(ch, msgs, bytes, true);
	} else {
		r->resv_msgs -= msgs;
		r->resv_bytes -= bytes;
		ch->shm_resv_msgs -= msgs;
		ch->shm_resv_bytes -= bytes;
		srv->shm_resv_msgs -= msgs;
		srv->shm_resv_bytes -= bytes;
		quota_resv(ch, msgs, bytes, false);
	}
}

/*
 * The record r's producer waits to commit, while the channel has no room
 * for it, counts in the daemon-wide limits as a held send on the socket
 * does: so room the limits had when it asked is still there when the
 * channel makes room. Sets that count to msgs and bytes.
 */
static void
shm_hold_wait(struct shm_ring *r, uint64_t msgs, uint64_t bytes)
{
	struct server	*srv = r->srv;

	srv->shm_resv_msgs = srv->shm_resv_msgs - r->wait_msgs + msgs;
	srv->shm_resv_bytes = srv->shm_resv_bytes - r->wait_bytes + bytes;
	r->wait_msgs = msgs;
	r->wait_bytes = bytes;
}

/* r holds nothing granted or waited for any more. */
static void
shm_release(struct shm_ring *r)
{
	shm_reserve(r, r->resv_msgs, r->resv_bytes, false);
	shm_hold_wait(r, 0, 0);
}

/*
 * What r may be granted of one dimension (messages or payload bytes):
 * room, the channel's within the daemon-wide limits' (droom, counting
 * what r's producer waits for as r's own); and r's share.
 */
struct shm_dim {
	uint64_t	room;
	uint64_t	droom;
	uint64_t	share;
};

static void
shm_dims(const struct shm_ring *r, struct shm_dim *m, struct shm_dim *b)
{
	struct channel	*ch = r->ch;
	uint64_t	 cm, cb, lm, lb;
	unsigned	 n = shm_nrings(ch), all = r->srv->nrings;

	channel_room(ch, &cm, &cb);
	quota_queue_room(r->h->conn, ch, &m->droom, &b->droom, &lm, &lb);
	m->droom += r->wait_msgs;
	b->droom += r->wait_bytes;
	m->room = shm_min(cm, m->droom);
	b->room = shm_min(cb, b->droom);
	m->share = shm_min(shm_share(ch->cap_msgs, n, SHM_GRANT_MAX),
	    shm_ahead(shm_share(lm, all, SHM_GRANT_MAX),
	    shm_min(SHM_AHEAD_MIN_MSGS, SHM_GRANT_MAX)));
	b->share = shm_min(shm_share(ch->cap_bytes, n, r->data_size),
	    shm_ahead(shm_share(lb, all, r->data_size),
	    shm_min(SHM_AHEAD_MIN_BYTES, r->data_size)));
}

/*
 * Messages: a waiting producer without any, or an active one whose share
 * is two or more, gets topped up to its share once half of it is used.
 */
static bool
shm_grant_msgs(struct shm_ring *r, bool waits, const struct shm_dim *m)
{
	uint64_t	share = m->share, add;

	if (m->room == 0 || !(waits ? r->resv_msgs == 0 ||
	    r->resv_msgs <= share / 2 : share >= 2 &&
	    r->resv_msgs <= share / 2))
		return (false);
	if (share < 1)
		share = 1;
	add = shm_min(share - r->resv_msgs, m->room);
	r->grant_msgs += add;
	shm_reserve(r, add, 0, true);
	return (add > 0);
}

/*
 * Payload bytes: as messages, and never less than what the waiting
 * producer wants; a record larger than the channel's byte budget goes,
 * alone, into an empty channel (never past the daemon-wide limits).
 */
static bool
shm_grant_bytes(struct shm_ring *r, bool waits, uint32_t want,
    const struct shm_dim *b)
{
	struct channel	*ch = r->ch;
	uint64_t	 share = b->share, add;

	if (!(waits ? r->resv_bytes < want || (want == 0 &&
	    r->resv_bytes <= share / 2) : share >= 2 &&
	    r->resv_bytes <= share / 2))
		return (false);
	if (share < want)
		share = want;
	add = shm_min(share - r->resv_bytes, b->room);
	if (waits && r->resv_bytes + add < want) {
		if (ch->nqueued == 0 && ch->shm_resv_msgs <= r->resv_msgs &&
		    ch->shm_resv_bytes == r->resv_bytes && ch->hhead == NULL &&
		    want - r->resv_bytes <= b->droom)
			add = want - r->resv_bytes;
		else
			add = 0;
	}
	r->grant_bytes += add;
	shm_reserve(r, 0, add, true);
	return (add > 0);
}

/*
 * A send over the daemon-wide limits is refused with LIMIT, not held: the
 * daemon takes the ring's records, closes it with LIMIT and lets go of
 * what it held; the handle stays, and its producer goes on through the
 * socket, where that send gets the socket's answer.
 */
static void
shm_limit(struct shm_ring *r)
{
	if (shm_take_now(r->ch) > 0 && !r->bad)
		pump_channel(r->srv, r->ch);
	if (r->bad)
		return;
	r->bad = true;
	shm_release(r);
	shmring_close(r->map, CHAN_ELIMIT);
	shm_wake_producer(r);
	log_info("producer handle %lu: a daemon-wide queue limit refuses "
	    "its ring a grant; it goes on through the socket (%s)",
	    (unsigned long)r->h->id, r->h->conn->peer);
}

/*
 * Grants r what its waiting producer asks, within its share of the room;
 * or, active (it just sent), tops its grant up to its share when shares
 * are big enough (two or more messages) that what idle producers hold
 * leaves half the channel to the others. Every grant is bounded by the
 * daemon-wide queue limits too, unbounded channels' included. A request
 * those limits refuse is answered (shm_limit) only where the ring's
 * records have just been taken (may_refuse); elsewhere it waits for the
 * wake-up the producer gave with it.
 */
static void
shm_grant_ring(struct shm_ring *r, bool active, bool may_refuse)
{
	struct shm_dim	 m, b;
	uint64_t	 need_msgs = 0, need_bytes = 0;
	uint32_t	 want = 0;
	bool		 more = false, waits, asks;

	if (r->bad || r->h == NULL)
		return;
	waits = shmring_producer_waits(r->map);
	asks = waits && !shmring_asked_answered(r->map);
	if (waits) {
		want = shmring_producer_want(r->map);
		if (want > r->rd.max_record)
			want = r->rd.max_record;
	}
	shm_dims(r, &m, &b);
	if (waits) {
		need_msgs = r->resv_msgs == 0;
		need_bytes = want > r->resv_bytes ? want - r->resv_bytes : 0;
	}
	/* As a SEND is checked against the limits before the capacity. */
	if (asks && (need_msgs > m.droom || need_bytes > b.droom)) {
		if (may_refuse)
			shm_limit(r);
		return;
	}
	if (waits || active) {
		more = shm_grant_msgs(r, waits, &m);
		more |= shm_grant_bytes(r, waits, want, &b);
	}
	/* What it still waits for keeps its room in the limits. */
	if (waits) {
		need_msgs = r->resv_msgs == 0;
		need_bytes = want > r->resv_bytes ? want - r->resv_bytes : 0;
	}
	if (!asks) {
		need_msgs = shm_min(need_msgs, r->wait_msgs);
		need_bytes = shm_min(need_bytes, r->wait_bytes);
	}
	shm_hold_wait(r, need_msgs, need_bytes);
	if (more)
		shmring_grant(r->map, r->grant_msgs, r->grant_bytes);
	if (waits && (more || asks)) {
		shmring_answer(r->map);
		shm_wake_producer(r);
	}
}

/* After shm_drain took r's records: active if it took any. */
static void
shm_grant_as(struct shm_ring *r, bool active)
{
	shm_grant_ring(r, active, true);
}

static void
shm_grant(struct shm_ring *r)
{
	shm_grant_ring(r, false, false);
}

void
shm_room(struct server *srv, struct channel *ch)
{
	struct shm_ring	*r, *first;

	(void)srv;
	if ((first = ch->rings) == NULL)
		return;
	for (r = first; r != NULL; r = r->ch_next)
		shm_grant(r);
	/* Round robin: the first served now is served last next time. */
	if (first->ch_next != NULL) {
		ch->rings = first->ch_next;
		for (r = ch->rings; r->ch_next != NULL; r = r->ch_next)
			;
		r->ch_next = first;
		first->ch_next = NULL;
	}
}

static void
shm_unreserve(struct shm_ring *r, uint32_t len)
{
	shm_reserve(r, r->resv_msgs > 0, shm_min(len, r->resv_bytes), false);
}

/* The producer broke its ring: it goes, as after a protocol error. */
static void
shm_bad(struct shm_ring *r, const char *what)
{
	struct conn	*c = r->h->conn;

	r->bad = true;
	shmring_close(r->map, CHAN_EPROTO);
	shm_wake(r->efd_prod);
	log_notice("producer handle %lu broke its ring: %s; closing (%s)",
	    (unsigned long)r->h->id, what, c->peer);
	dispatch_conn_error(c, CHAN_EPROTO, "a record in the handle's "
	    "shared-memory ring is malformed");
}

/* CLOCK_MONOTONIC in nanoseconds: the clock the producers stamp with. */
static uint64_t
shm_clock(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

/* Peeks at r's next record into r->pk_*: true if there is one. */
static bool
shm_peek(struct shm_ring *r)
{
	int	rc;

	if (r->bad)
		return (false);
	if (r->peeked)
		return (true);
	rc = shmring_peek(&r->rd, &r->pk_data, &r->pk_len, &r->pk_stamp);
	if (rc < 0)
		shm_bad(r, "malformed record");
	r->peeked = rc == 1;
	return (r->peeked);
}

/* Takes the record r peeked at into its channel: false if r went bad. */
static bool
shm_take_peeked(struct shm_ring *r)
{
	uint32_t	len = r->pk_len;

	r->peeked = false;
	/* A record beyond the grant was never allowed. */
	if (r->rd.taken >= r->grant_msgs ||
	    r->taken_bytes + len > r->grant_bytes) {
		shm_bad(r, "record beyond its grant");
		return (false);
	}
	if (channel_push(r->ch, r->pk_data, len) != 0) {
		shm_bad(r, "out of memory");
		return (false);
	}
	shmring_skip(&r->rd);
	r->taken_bytes += len;
	shm_unreserve(r, len);
	r->took++;
	return (true);
}

/* Takes every record committed in the lone ring r, in its order. */
static void
shm_take_ring(struct shm_ring *r)
{
	while (shm_peek(r) && shm_take_peeked(r))
		;
}

/*
 * Takes the records committed in several rings, in the order of their
 * stamps, so that a send that followed another producer's (it began
 * after the other returned) is queued after it. A record stamped before
 * this pass began (t0) was committed after every record that precedes
 * it (their commits happened before its stamp was read): the heads,
 * read after t0, cover them all, and the merge puts them first. A record
 * stamped after t0 may have a predecessor in a ring already read: it
 * waits for the next pass (*more). A stamp after t1, when the heads had
 * been read, is not a time the producer read: the record is taken as if
 * stamped t0, which disorders only that producer's records.
 */
static void
shm_take_merged(struct channel *ch, uint64_t t0, uint64_t t1, bool *more)
{
	struct shm_ring	*r, *best;
	uint64_t	 stamp, best_stamp = 0;

	for (;;) {
		best = NULL;
		for (r = ch->rings; r != NULL; r = r->ch_next) {
			if (!shm_peek(r))
				continue;
			stamp = r->pk_stamp > t1 ? t0 : r->pk_stamp;
			if (stamp > t0) {
				*more = true;
				continue;
			}
			if (best == NULL || stamp < best_stamp) {
				best = r;
				best_stamp = stamp;
			}
		}
		if (best == NULL)
			break;
		(void)shm_take_peeked(best);
	}
}

/*
 * One pass over ch's rings: reads each head, takes what may be taken
 * into ch and releases its space. Returns the records taken; *more if
 * some must wait for another pass.
 */
static size_t
shm_take_channel(struct channel *ch, bool *more)
{
	struct shm_ring	*r, *first = ch->rings;
	bool		 alone = first != NULL && first->ch_next == NULL;
	uint64_t	 t0 = alone ? 0 : shm_clock();
	size_t		 n = 0;

	*more = false;
	for (r = ch->rings; r != NULL; r = r->ch_next) {
		r->took = 0;
		r->peeked = false;
		if (!r->bad && shmring_poll(&r->rd, r->map) != 0)
			shm_bad(r, "impossible head");
	}
	if (alone)
		shm_take_ring(first);
	else
		shm_take_merged(ch, t0, shm_clock(), more);
	for (r = ch->rings; r != NULL; r = r->ch_next) {
		if (r->took == 0 || r->bad)
			continue;
		shmring_release(&r->rd, r->map);
		r->drained += r->took;
		n += r->took;
	}
	return (n);
}

/* Takes what ch's rings committed before now (bounded passes). */
static size_t
shm_take_now(struct channel *ch)
{
	size_t	n = 0;
	bool	more = true;
	int	i;

	for (i = 0; more && i < SHM_COLLECT_PASSES; i++)
		n += shm_take_channel(ch, &more);
	return (n);
}

/* Tells ch's rings whether there is one (alone): it needs no stamps. */
static void
shm_set_alone(struct channel *ch, bool alone)
{
	struct shm_ring	*r;

	for (r = ch->rings; r != NULL; r = r->ch_next)
		shmring_set_alone(r->map, alone);
}

static void
shm_set_cons_wait(struct channel *ch, uint32_t v)
{
	struct shm_ring	*r;

	for (r = ch->rings; r != NULL; r = r->ch_next)
		if (!r->bad)
			shmring_set_cons_wait(r->map, v);
}

/*
 * After a pass: each producer learns of the room its records freed or
 * the grant it asked for.
 */
static void
shm_answer_rings(struct channel *ch)
{
	struct shm_ring	*r;

	for (r = ch->rings; r != NULL; r = r->ch_next) {
		if (r->bad)
			continue;
		if (r->drained > 0 && shmring_producer_waits(r->map))
			shm_wake_producer(r);
		shm_grant_as(r, r->drained > 0);
		r->drained = 0;
	}
}

/*
 * About to sleep on ch's rings: says so (cons_wait), then looks once
 * more, adding what it took to *n. True if ch's rings are asleep.
 */
static bool
shm_try_sleep(struct channel *ch, size_t *n)
{
	size_t	got;
	bool	more;

	shm_set_cons_wait(ch, 1);
	*n += (got = shm_take_channel(ch, &more));
	if (got == 0 && !more)
		return (true);
	shm_set_cons_wait(ch, 0);
	return (false);
}

static void
shm_spin_unlink(struct server *srv, struct channel *ch)
{
	struct channel	**chp;

	for (chp = &srv->shm_spin; *chp != ch; chp = &(*chp)->shm_spin_next)
		;
	*chp = ch->shm_spin_next;
	if (srv->shm_spin_visit == ch)
		srv->shm_spin_visit = ch->shm_spin_next;
	ch->shm_spin_next = NULL;
	ch->shm_spinning = false;
}

static void	shm_spin_cb(uv_idle_t *);

/*
 * ch's rings ran dry: with --spin-us, the daemon keeps reading them from
 * its idle handle (the loop polls without sleeping) until they have been
 * dry that long, and the producers, seeing cons_wait 0, write no eventfd.
 * True if ch spins.
 */
static bool
shm_spin(struct server *srv, struct channel *ch)
{
	uint64_t	us = srv->cfg->spin_us;

	if (us == 0)
		return (false);
	if (!srv->shm_spin_on) {
		if (uv_idle_init(srv->loop, &srv->shm_spin_idle) != 0)
			return (false);
		srv->shm_spin_idle.data = srv;
		srv->shm_spin_on = true;
	}
	if (!ch->shm_spinning) {
		ch->shm_spinning = true;
		ch->shm_spin_until = uv_hrtime() + us * 1000;
		ch->shm_spin_next = srv->shm_spin;
		srv->shm_spin = ch;
		(void)uv_idle_start(&srv->shm_spin_idle, shm_spin_cb);
	}
	return (true);
}

/*
 * Takes ch's records for at most SHM_DRAIN_PASSES passes, adding them to
 * *n. True if the last pass found nothing and nothing waits for another.
 */
static bool
shm_take_passes(struct channel *ch, size_t *n)
{
	size_t	got;
	bool	more;
	int	i;

	for (i = 0; i < SHM_DRAIN_PASSES; i++) {
		*n += (got = shm_take_channel(ch, &more));
		if (got == 0 && !more)
			return (true);
	}
	return (false);
}

/* One turn of the loop while channels spin: a pass over each. */
static void
shm_spin_cb(uv_idle_t *idle)
{
	struct server	*srv = idle->data;
	struct channel	*ch;
	uint64_t	 now = uv_hrtime();
	size_t		 n;
	bool		 dry;

	for (ch = srv->shm_spin; ch != NULL; ch = srv->shm_spin_visit) {
		/* What a pump below ends, shm_spin_unlink steps over. */
		srv->shm_spin_visit = ch->shm_spin_next;
		n = 0;
		dry = shm_take_passes(ch, &n);
		if (n > 0)
			ch->shm_spin_until = now + srv->cfg->spin_us * 1000;
		else if (dry && now >= ch->shm_spin_until &&
		    shm_try_sleep(ch, &n))
			shm_spin_unlink(srv, ch);
		shm_answer_rings(ch);
		if (n > 0)
			pump_channel(srv, ch);
	}
	srv->shm_spin_visit = NULL;
	if (srv->shm_spin == NULL)
		(void)uv_idle_stop(idle);
	conn_flush_dirty(srv);
}

/*
 * A ring of ch woke the daemon: takes the records of all of ch's rings
 * (the order across rings needs them all), until every ring is empty
 * and asleep (or spinning: shm_spin), or for SHM_DRAIN_PASSES passes:
 * then it wakes itself, so that producers faster than the daemon do not
 * keep it from its other clients.
 */
static void
shm_drain(struct server *srv, struct channel *ch)
{
	struct shm_ring	*first = ch->rings;
	size_t		 n = 0, got;
	bool		 more, idle = false;
	int		 i;

	shm_set_cons_wait(ch, 0);
	for (i = 0; i < SHM_DRAIN_PASSES; i++) {
		n += (got = shm_take_channel(ch, &more));
		if (got > 0 || more)
			continue;
		if (shm_spin(srv, ch) || shm_try_sleep(ch, &n)) {
			idle = true;
			break;
		}
	}
	if (!idle && first != NULL && !ch->shm_spinning)
		shm_wake(first->efd_daemon);
	shm_answer_rings(ch);
	if (n > 0)
		pump_channel(srv, ch);
}

static void
shm_poll_cb(uv_poll_t *poll, int status, int events)
{
	struct shm_ring	*r = poll->data;
	uint64_t	 v;

	(void)events;
	if (status < 0 || r->h == NULL)
		return;
	while (read(r->efd_daemon, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	shm_drain(r->srv, r->ch);
	conn_flush_dirty(r->srv);
}

static void
shm_close_fds(struct shm_ring *r)
{
	if (r->map != NULL)
		munmap(r->map, r->maplen);
	if (r->fd >= 0)
		close(r->fd);
	if (r->efd_daemon >= 0)
		close(r->efd_daemon);
	if (r->efd_prod >= 0)
		close(r->efd_prod);
}

static void
shm_free_cb(uv_handle_t *handle)
{
	struct shm_ring	*r = handle->data;

	shm_close_fds(r);
	free(r);
}

static int
shm_map(struct shm_ring *r, uint32_t size)
{
	r->maplen = SHMRING_HDR_SIZE + (size_t)size;
	if ((r->fd = memfd_create("chand-ring", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0)
		return (-1);
	if (ftruncate(r->fd, (off_t)r->maplen) != 0 ||
	    fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) != 0)
		return (-1);
	r->map = mmap(NULL, r->maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
	    r->fd, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return (-1);
	}
	if ((r->efd_daemon = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    (r->efd_prod = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return (-1);
	return (0);
}

/*
 * The longest record of a ring of size data bytes: what the layout
 * allows, and no more than a message may be.
 */
static uint32_t
shm_max_record(const struct server *srv, uint32_t size)
{
	uint32_t	max = shmring_max_record(size);

	return (srv->cfg->max_msg_size < max ? (uint32_t)srv->cfg->max_msg_size :
	    max);
}

/*
 * The parts every ring has: the memory (size data bytes), the two
 * eventfds, the token, and the watch on the eventfd the daemon reads
 * (poll_cb). 0 with *rp set, or a CHAN_E* code with *why.
 */
static int
shm_ring_make(struct conn *c, struct handle *h, uint32_t size,
    uv_poll_cb poll_cb, struct shm_ring **rp, const char **why)
{
	struct server	*srv = c->srv;
	struct shm_ring	*r;

	if (srv->ring_bytes + size > SHM_TOTAL_MAX) {
		*why = "rings use all the memory the daemon gives them";
		return (CHAN_ELIMIT);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		*why = "out of memory";
		return (CHAN_ENOMEM);
	}
	r->fd = r->efd_daemon = r->efd_prod = -1;
	if (shm_map(r, size) != 0 || getrandom(&r->token,
	    sizeof(r->token), 0) != (ssize_t)sizeof(r->token)) {
		log_warning("cannot make a ring: %s", strerror(errno));
		shm_close_fds(r);
		free(r);
		*why = "cannot make the shared memory";
		return (CHAN_ENOMEM);
	}
	if (uv_poll_init(srv->loop, &r->poll, r->efd_daemon) != 0) {
		shm_close_fds(r);
		free(r);
		*why = "cannot watch the ring";
		return (CHAN_ENOMEM);
	}
	r->poll.data = r;
	r->polling = true;
	(void)uv_poll_start(&r->poll, UV_READABLE, poll_cb);
	r->srv = srv;
	r->h = h;
	r->ch = h->ch;
	r->data_size = size;
	r->uid = c->uid;
	r->token_until = uv_now(srv->loop) + SHM_TOKEN_SECS * 1000;
	r->srv_next = srv->rings;
	srv->rings = r;
	srv->ring_bytes += size;
	h->ring = r;
	*rp = r;
	return (0);
}

int
shm_ring_new(struct conn *c, struct handle *h, uint32_t size,
    uint64_t *token, const char **why)
{
	struct server	*srv = c->srv;
	struct channel	*ch = h->ch;
	struct shm_ring	*r;
	uint32_t	 maxrec;
	int		 rc;

	if (h->ring != NULL) {
		*why = "the handle has a ring";
		return (CHAN_EPROTO);
	}
	if (h->rx)
		return (shm_rx_ring_new(c, h, size, token, why));
	if (ch->durable || ch->cap_msgs == 0) {
		*why = ch->durable ? "a durable channel keeps the socket path" :
		    "a rendezvous channel keeps the socket path";
		return (CHAN_EOPTION);
	}
	if (size == 0)
		size = SHM_RING_DEFAULT;
	if (size > SHM_RING_MAX)
		size = SHM_RING_MAX;
	if (!shmring_valid_sizes(size, 0)) {
		*why = "ring size must be a power of two from 4096";
		return (CHAN_EOPTION);
	}
	if ((rc = shm_ring_make(c, h, size, shm_poll_cb, &r, why)) != 0)
		return (rc);
	maxrec = shm_max_record(srv, size);
	shmring_init(r->map, size, maxrec);
	shmring_reader_init(&r->rd, r->map, size, maxrec);
	shmring_set_cons_wait(r->map, 1);
	shm_set_alone(ch, false);
	shmring_set_alone(r->map, ch->rings == NULL);
	r->ch_next = ch->rings;
	ch->rings = r;
	srv->nrings++;
	shm_grant(r);
	*token = r->token;
	return (0);
}

void
shm_stop(struct server *srv)
{
	if (srv->shm_spin_on)
		uv_close((uv_handle_t *)&srv->shm_spin_idle, NULL);
	srv->shm_spin_on = false;
}

/* Sends OK(rid) with the ring's three descriptors on c's socket. */
static int
shm_send_fds(struct conn *c, uint32_t rid, const struct shm_ring *r)
{
	struct proto_buf	 b;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		char		buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr	align;
	} u;
	int			 fds[3] = { r->fd, r->efd_daemon, r->efd_prod };
	int			 fd, rc = -1;
	ssize_t			 n;

	proto_buf_init(&b);
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    proto_enc_ok(&b, rid) != 0)
		goto out;
	memset(&mh, 0, sizeof(mh));
	memset(&u, 0, sizeof(u));
	iov.iov_base = b.data;
	iov.iov_len = b.len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	/* Nothing else was ever written on this socket: it has room. */
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)b.len)
		rc = 0;
out:
	proto_buf_fini(&b);
	return (rc);
}

void
shm_ring_fetch(struct conn *c, const struct proto_msg *m)
{
	struct server	*srv = c->srv;
	struct shm_ring	*r;

	for (r = srv->rings; r != NULL; r = r->srv_next) {
		if (r->token == m->token && !r->fetched)
			break;
	}
	if (r == NULL || (r->h == NULL && r->conn == NULL) || r->uid != c->uid ||
	    uv_now(srv->loop) > r->token_until) {
		log_notice("RING_FETCH with no valid token (%s)", c->peer);
		dispatch_conn_error(c, CHAN_EPROTO, "no ring for that token");
		return;
	}
	r->fetched = true;
	if (shm_send_fds(c, m->rid, r) != 0) {
		log_notice("cannot pass a ring's descriptors: %s (%s)",
		    strerror(errno), c->peer);
		dispatch_conn_error(c, CHAN_ENOMEM, "cannot pass the ring");
		return;
	}
	conn_mark_close(c);
}

void
shm_collect(struct server *srv, struct channel *ch)
{
	(void)srv;
	if (shm_take_now(ch) > 0)
		shm_answer_rings(ch);
}

void
shm_ring_refuse(struct server *srv, struct handle *h, int code)
{
	struct shm_ring	*r = h->ring;

	if (r->bad)
		return;
	shm_collect(srv, r->ch);
	if (r->bad)
		return;
	r->bad = true;
	shm_release(r);
	shmring_close(r->map, code);
	shm_wake_producer(r);
}

void
shm_ring_end(struct server *srv, struct handle *h)
{
	struct shm_ring	*r = h->ring, **rp;
	struct channel	*ch = r->ch;

	/* Every record committed before now is the producer's to send. */
	if (shm_take_now(ch) > 0)
		pump_channel(srv, ch);
	/* What a clock gone wrong left behind, in the ring's order. */
	r->took = 0;
	shm_take_ring(r);
	if (r->took > 0)
		pump_channel(srv, ch);
	if (!r->bad)
		shmring_close(r->map, CHAN_ECONNLOST);
	shm_wake(r->efd_prod);
	shm_release(r);
	for (rp = (struct shm_ring **)&ch->rings; *rp != r;
	    rp = &(*rp)->ch_next)
		;
	*rp = r->ch_next;
	for (rp = &srv->rings; *rp != r; rp = &(*rp)->srv_next)
		;
	*rp = r->srv_next;
	srv->ring_bytes -= r->data_size;
	srv->nrings--;
	if (ch->rings != NULL && ((struct shm_ring *)ch->rings)->ch_next ==
	    NULL)
		shm_set_alone(ch, true);
	if (ch->rings == NULL && ch->shm_spinning)
		shm_spin_unlink(srv, ch);
	r->h = NULL;
	h->ring = NULL;
	/* Its room is free again for the others. */
	shm_room(srv, ch);
	uv_close((uv_handle_t *)&r->poll, shm_free_cb);
}

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
	uint64_t	 v;

	(void)events;
	if (status < 0 || r->conn == NULL)
		return;
	while (read(r->efd_daemon, &v, sizeof(v)) < 0 && errno == EINTR)
		;
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
static int
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
	/* Say so, then look once more: the consumer wakes the daemon. */
	shmring_set_prod_wait(&r->w, 1);
	if (shmring_fits(&r->w, need) != 0)
		return (false);
	shmring_set_prod_wait(&r->w, 0);
	return (true);
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
	if (n == 0 || shmring_put2(&r->w, hdr, (uint32_t)n, m->data, m->len,
	    0) != 0)
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
	if ((rc = shmring_fits(&r->w, (uint32_t)b.len)) == CHAN_EFULL) {
		shmring_set_prod_wait(&r->w, 1);
		rc = shmring_fits(&r->w, (uint32_t)b.len);
	}
	if (rc == 0) {
		shmring_set_prod_wait(&r->w, 0);
		rc = shmring_put(&r->w, b.data, (uint32_t)b.len, 0);
	}
	proto_buf_fini(&b);
	return (rc == 0 ? 0 : 1);
}

int
shm_rx_wake(struct conn *c, struct handle *h)
{
	struct shm_ring	*r = h->ring;

	if (!shmring_take_wake(&r->w))
		return (0);
	if (proto_enc_ring_wake(&c->out, h->id) != 0)
		return (-1);
	conn_dirty(c);
	return (0);
}

void
shm_rx_ring_end(struct server *srv, struct handle *h)
{
	(void)srv;
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

/* SPDX-License-Identifier: MIT */
/*
 * shm_take.c: reading producer rings (shm.h). A ring's wake-up pair wakes
 * the daemon, which takes the records committed in all of the channel's
 * rings into the channel, in the order of their stamps, checking each
 * (a producer may be hostile); with --spin-us it keeps reading a drained
 * channel's rings from its event loop for a while instead of sleeping.
 * See shm_int.h.
 */
#include <errno.h>
#include <time.h>
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

/* Whether r's grant covers messages up to number taken, bytes more. */
static bool
shm_granted(const struct shm_ring *r, uint64_t taken, uint64_t bytes)
{
	return (taken <= r->grant_msgs &&
	    r->taken_bytes + bytes <= r->grant_bytes);
}

/*
 * Moves past the record r peeked at, within r's grant: false if it is
 * beyond (the caller calls it bad, after its own bookkeeping).
 */
static bool
shm_skip_granted(struct shm_ring *r)
{
	r->peeked = false;
	if (!shm_granted(r, r->rd.taken + 1, r->pk_len))
		return (false);
	shmring_skip(&r->rd);
	r->taken_bytes += r->pk_len;
	return (true);
}

bool
shm_take_next(struct shm_ring *r, const unsigned char **p, uint32_t *len)
{
	if (!shm_peek(r))
		return (false);
	if (!shm_skip_granted(r)) {
		shm_bad(r, "record beyond its grant");
		return (false);
	}
	*p = r->pk_data;
	*len = r->pk_len;
	shm_unreserve(r, 1, *len);
	return (true);
}

/*
 * Takes a whole bundle of at most max messages from its header (a
 * direct reader checked its frames): 1 with *k and *bytes, 0 if the
 * next messages are to be taken one by one, -1 if r went bad.
 */
static int
shm_take_bundle(struct shm_ring *r, uint64_t max, uint64_t *k,
    uint64_t *bytes)
{
	int	rc;

	if (r->bad || r->peeked)
		return (0);
	if ((rc = shmring_skip_bundle(&r->rd, max, k, bytes)) < 0)
		shm_bad(r, "malformed record");
	else if (rc > 0 && !shm_granted(r, r->rd.taken, *bytes)) {
		shm_bad(r, "record beyond its grant");
		rc = -1;
	}
	if (rc > 0)
		r->taken_bytes += *bytes;
	return (rc);
}

uint64_t
shm_take_run(struct shm_ring *r, uint64_t max)
{
	uint64_t	k = 0, n, b, bytes = 0;
	bool		beyond = false;
	int		rc;

	while (k < max) {
		if ((rc = shm_take_bundle(r, max - k, &n, &b)) < 0)
			break;
		if (rc > 0) {
			k += n;
			bytes += b;
			continue;
		}
		if (!shm_peek(r))
			break;
		if ((beyond = !shm_skip_granted(r)))
			break;
		bytes += r->pk_len;
		k++;
	}
	shm_unreserve(r, k, bytes);
	if (beyond)
		shm_bad(r, "record beyond its grant");
	return (k);
}

/* Takes the record r peeked at into its channel: false if r went bad. */
static bool
shm_take_peeked(struct shm_ring *r)
{
	const unsigned char *p;
	uint32_t	 len;

	if (!shm_take_next(r, &p, &len))
		return (false);
	/* The record's bytes stay in the ring until its space is released. */
	if (channel_push(r->ch, p, len) != 0) {
		shm_bad(r, "out of memory");
		return (false);
	}
	r->took++;
	return (true);
}

void
shm_pending(const struct channel *ch, uint64_t *rings, uint64_t *records)
{
	const struct shm_ring	*r;
	uint64_t		 sent, bytes;

	*rings = *records = 0;
	for (r = ch->rings; r != NULL; r = r->ch_next) {
		(*rings)++;
		if (r->bad)
			continue;
		shmring_sent(r->map, &sent, &bytes);
		if (sent > r->rd.taken)
			*records += sent - r->rd.taken;
	}
}

/* Takes every record committed in the lone ring r, in its order. */
void
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
	uint64_t	 t0;
	size_t		 n = 0;

	*more = false;
	/*
	 * Its consumer reads the rings (shm_direct.c), not the daemon; or
	 * will, once the queue is drained.
	 */
	if (ch->direct != NULL || ch->direct_next != NULL)
		return (0);
	t0 = alone ? 0 : shm_clock();
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
size_t
shm_take_now(struct channel *ch)
{
	size_t	n = 0;
	bool	more = true;
	int	i;

	/* A look or a send must see every record committed before it. */
	shm_direct_unpend(ch, true);
	for (i = 0; more && i < SHM_COLLECT_PASSES; i++)
		n += shm_take_channel(ch, &more);
	return (n);
}

/* Tells ch's rings whether there is one (alone): it needs no stamps. */
void
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
void
shm_answer_rings(struct channel *ch)
{
	struct shm_ring	*r;
	bool		 answering = ch->shm_answering;

	/*
	 * A refused grant (shm_limit) pumps the channel, whose shm_room
	 * would turn the list under this walk: a ring skipped or answered
	 * twice.
	 */
	ch->shm_answering = true;
	for (r = ch->rings; r != NULL; r = r->ch_next) {
		if (r->bad)
			continue;
		/* Room for its records; a grant it waits for wakes it. */
		if (r->drained > 0 && !shm_woken(r) &&
		    shmring_producer_waits(r->map) &&
		    (shmring_producer_wait_kind(r->map) !=
		    SHMRING_WAIT_BATCH || !shm_direct_batching(ch)))
			shm_wake_producer(r);
		shm_grant_as(r, r->drained > 0);
		r->drained = 0;
	}
	ch->shm_answering = answering;
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

void
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
 * dry that long, and the producers, seeing cons_wait 0, send no wake-up.
 * True if ch spins.
 */
static bool
shm_spin(struct server *srv, struct channel *ch)
{
	uint64_t	us = srv->cfg->spin_us;

	if (us == 0 || srv->stopping)
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
 * then it wakes itself (or, spinning, leaves the rest to the next turn
 * of the loop), so that producers faster than the daemon do not keep it
 * from its other clients.
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
		shm_look_again(first);
	shm_answer_rings(ch);
	if (n > 0)
		pump_channel(srv, ch);
}

/*
 * A pass may answer a producer more than once (each answer of the
 * channel's rings, a grant after it): the wake-ups of ch's producers are
 * held until shm_wakes_flush, so that each gets one.
 */
static void
shm_wakes_hold(struct channel *ch)
{
	struct shm_ring	*r;

	for (r = ch->rings; r != NULL; r = r->ch_next)
		r->wake_held = true;
}

static void
shm_wakes_flush(struct shm_ring *r)
{
	r->wake_held = false;
	if (r->wake_due) {
		r->wake_due = false;
		shm_wake_producer(r);
	}
}

void
shm_poll_cb(uv_poll_t *poll, int status, int events)
{
	struct shm_ring	*r = poll->data;
	struct server	*srv = r->srv;
	struct channel	*ch = r->ch;

	(void)events;
	if (status < 0 || r->h == NULL)
		return;
	if (shm_drain_fd(r->efd_daemon) != 0) {
		/* Its producer shut the pair: it would wake the loop for ever. */
		uv_poll_stop(poll);
		if (!r->bad)
			shm_bad(r, "it shut its wake-up descriptor");
		conn_flush_dirty(srv);
		return;
	}
	/* Its producer woke the daemon: look again. */
	r->woken = false;
	shm_look(srv, ch);
}

void
shm_look(struct server *srv, struct channel *ch)
{
	struct shm_ring	*r;

	/* Connections close after the callback: ch and its rings stay. */
	shm_wakes_hold(ch);
	/* Its consumer has caught up: it may read what came, itself. */
	if (ch->direct == NULL)
		shm_direct_offer(srv, ch);
	if (ch->direct != NULL)
		shm_direct_poll(srv, ch);
	else if (ch->direct_next != NULL)
		shm_direct_pending_poll(srv, ch);
	else
		shm_drain(srv, ch);
	for (r = ch->rings; r != NULL; r = r->ch_next)
		shm_wakes_flush(r);
	conn_flush_dirty(srv);
}

/* SPDX-License-Identifier: MIT */
/*
 * shm_grant.c: what a producer ring may commit (shm.h). Each ring is
 * granted part of its channel's room, within the daemon-wide queue
 * limits, and what it holds granted and not yet taken is reserved in
 * both, so that a committed record is never refused and the channel never
 * holds more than its capacity. See shm_int.h.
 */
#include "channel.h"
#include "conn.h"
#include "log.h"
#include "proto.h"
#include "pump.h"
#include "quota.h"
#include "server.h"
#include "shm.h"
#include "shm_int.h"
#include "shmring.h"

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

/* a + b, or UINT64_MAX if that does not fit. */
static uint64_t
shm_add_sat(uint64_t a, uint64_t b)
{
	return (a > UINT64_MAX - b ? UINT64_MAX : a + b);
}

/*
 * Half of limit split among n rings, at most most; or, for a ring that
 * claims parts of part (0: it does not), all of limit split among them,
 * never more than half of it, if that is two parts or more. A producer
 * claims its whole grant when that is a part or less, and what it
 * claimed is never taken back: a smaller share stays half.
 */
static uint64_t
shm_share(uint64_t limit, unsigned n, uint64_t most, uint64_t part)
{
	uint64_t	wide;

	if (n == 0)
		n = 1;
	wide = shm_min(shm_min(limit / n, limit / 2), most);
	if (part > 0 && wide >= 2 * part)
		return (wide);
	return (shm_min(limit / 2 / n, most));
}

/*
 * A wide share of a dimension of capacity cap, of which the other rings
 * hold others granted: no more than the room r could ever be granted
 * while they hold it, or r would wait for room that no consumer frees.
 */
static uint64_t
shm_attainable(uint64_t share, uint64_t cap, uint64_t others)
{
	if (cap == CHANNEL_UNBOUNDED)
		return (share);
	return (shm_min(share, cap > others ? cap - others : 0));
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
void
shm_release(struct shm_ring *r)
{
	shm_reserve(r, r->resv_msgs, r->resv_bytes, false);
	shm_hold_wait(r, 0, 0);
}

/*
 * Takes back what r holds granted beyond its producer's claims: false if
 * that was nothing. Its grant never goes below what the daemon has taken.
 */
static bool
shm_take_back_ring(struct shm_ring *r)
{
	uint64_t	msgs = r->grant_msgs, bytes = r->grant_bytes;

	if (!r->claims || r->bad || r->h == NULL)
		return (false);
	shmring_take_back(r->map, &msgs, &bytes, r->rd.taken, r->taken_bytes);
	if (msgs == r->grant_msgs && bytes == r->grant_bytes)
		return (false);
	shm_reserve(r, shm_min(r->grant_msgs - msgs, r->resv_msgs),
	    shm_min(r->grant_bytes - bytes, r->resv_bytes), false);
	r->grant_msgs = msgs;
	r->grant_bytes = bytes;
	return (true);
}

bool
shm_take_back(struct channel *ch)
{
	struct shm_ring	*r;
	bool		 any = false;

	for (r = ch->rings; r != NULL; r = r->ch_next)
		any |= shm_take_back_ring(r);
	return (any);
}

bool
shm_take_back_all(struct server *srv)
{
	struct shm_ring	*r;
	bool		 any = false;

	for (r = srv->rings; r != NULL; r = r->srv_next)
		any |= shm_take_back_ring(r);
	return (any);
}

void
shm_make_room(struct server *srv, struct channel *ch, size_t len)
{
	(void)srv;
	if (ch->rings == NULL || channel_takes(ch, len))
		return;
	if (shm_take_back(ch))
		channel_admit(ch);
}

/*
 * Whether r's share is wide (shm_share): while grants come in batches
 * (shm_grant_later), to a producer that claims. A ring then sleeps once
 * for a larger part of the channel; what it has not claimed when it stops
 * is taken back when other senders need it (shm_take_back). A producer
 * that does not claim keeps what it is granted, so its share stays half.
 */
static bool
shm_wide(const struct shm_ring *r)
{
	return (r->claims && shm_direct_batching(r->ch));
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
	bool		 wide = shm_wide(r);

	channel_room(ch, &cm, &cb);
	quota_queue_room(r->h->conn, ch, &m->droom, &b->droom, &lm, &lb);
	m->droom += r->wait_msgs;
	b->droom += r->wait_bytes;
	m->room = shm_min(cm, m->droom);
	b->room = shm_min(cb, b->droom);
	m->share = shm_min(shm_share(ch->cap_msgs, n, SHM_GRANT_MAX,
	    wide ? SHMRING_CLAIM_MSGS : 0), shm_ahead(shm_share(lm, all,
	    SHM_GRANT_MAX, 0), shm_min(SHM_AHEAD_MIN_MSGS, SHM_GRANT_MAX)));
	b->share = shm_min(shm_share(ch->cap_bytes, n, r->data_size,
	    wide ? shmring_claim_part_bytes(r->rd.max_record) : 0),
	    shm_ahead(shm_share(lb, all, r->data_size, 0),
	    shm_min(SHM_AHEAD_MIN_BYTES, r->data_size)));
	if (wide) {
		m->share = shm_attainable(m->share, ch->cap_msgs,
		    ch->shm_resv_msgs - r->resv_msgs);
		b->share = shm_attainable(b->share, ch->cap_bytes,
		    ch->shm_resv_bytes - r->resv_bytes);
	}
}

/*
 * What r holds granted and not yet used by its producer: its reservation,
 * less, while its consumer reads it directly (shm_direct.c), the records
 * committed and not yet claimed (they wait for the consumer as queued
 * messages do; the producer's word for them, within its grant).
 */
static void
shm_idle(const struct shm_ring *r, uint64_t *msgs, uint64_t *bytes)
{
	uint64_t	sent, sent_bytes, busy, busy_bytes;

	*msgs = r->resv_msgs;
	*bytes = r->resv_bytes;
	if (r->direct == NULL)
		return;
	shmring_sent(r->map, &sent, &sent_bytes);
	busy = sent > r->rd.taken ? sent - r->rd.taken : 0;
	busy_bytes = sent_bytes > r->taken_bytes ? sent_bytes -
	    r->taken_bytes : 0;
	*msgs -= shm_min(busy, *msgs);
	*bytes -= shm_min(busy_bytes, *bytes);
}

/*
 * The free space of r's ring as its producer sees it: the daemon's view
 * of the head lags while a consumer reads the ring directly.
 */
static uint64_t
shm_space_free(const struct shm_ring *r)
{
	return (r->rd.data_size - shmring_used(&r->rd, r->map));
}

/*
 * Whether r's producer, which waits, could commit a record of want bytes
 * already: its grant takes it, and its ring has the space for it. A
 * grant made while it did not yet wait, and that its last look missed,
 * must still wake it: it asked once, that ask is answered, and nothing
 * else would.
 */
static bool
shm_grant_takes(const struct shm_ring *r, uint32_t want)
{
	uint64_t	msgs, bytes;

	shm_idle(r, &msgs, &bytes);
	if (msgs == 0 || bytes < want)
		return (false);
	return (shmring_writer_fits(&r->rd, r->map, want));
}

/*
 * Messages: a waiting producer without any, or an active one whose share
 * is two or more, gets topped up to its share once half of it is used.
 */
static bool
shm_grant_msgs(struct shm_ring *r, bool waits, const struct shm_dim *m)
{
	uint64_t	share = m->share, add, idle, idle_bytes;

	shm_idle(r, &idle, &idle_bytes);
	if (m->room == 0 || !(waits ? idle == 0 ||
	    idle <= share / 2 : share >= 2 && idle <= share / 2))
		return (false);
	if (share < 1)
		share = 1;
	add = shm_min(share - shm_min(idle, share), m->room);
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
	uint64_t	 share = b->share, add, idle_msgs, idle;

	shm_idle(r, &idle_msgs, &idle);
	if (!(waits ? idle < want || (want == 0 &&
	    idle <= share / 2) : share >= 2 && idle <= share / 2))
		return (false);
	if (share < want)
		share = want;
	add = shm_min(share - shm_min(idle, share), b->room);
	if (waits && idle + add < want) {
		if (ch->nqueued == 0 && ch->shm_resv_msgs <= r->resv_msgs &&
		    ch->shm_resv_bytes == r->resv_bytes && ch->hhead == NULL &&
		    want - idle <= b->droom)
			add = want - idle;
		else
			add = 0;
	}
	r->grant_bytes += add;
	shm_reserve(r, 0, add, true);
	return (add > 0);
}

/* The payload bytes r's waiting producer asks room for. */
static uint32_t
shm_want(const struct shm_ring *r)
{
	uint32_t	want = shmring_producer_want(r->map);

	if (want == SHMRING_WANT_DRAIN)
		return (0);	/* it asks for no room */
	return (want > r->rd.max_record ? r->rd.max_record : want);
}

/*
 * Whether r's grant waits for room to gather: while its channel's consumer
 * reads the rings directly and keeps claiming (shm_direct_batching), a
 * ring is topped up, or its producer blocked with no deadline
 * (SHMRING_WAIT_BATCH) is granted, once the channel has room for its
 * whole share, not each time the consumer frees a bite. Each grant is
 * then one wake-up for thousands of messages rather than for a bite's
 * worth, as a socket wakes a blocked writer once half its buffer is
 * free. A try or a timed send (SHMRING_WAIT_EVENTFD) is granted what
 * there is, and a consumer that stops claiming ends the wait
 * (shm_direct.c). Small shares and room the daemon-wide limits bound are
 * granted as they come.
 */
static bool
shm_grant_later(const struct shm_ring *r, bool waits, uint32_t want,
    const struct shm_dim *m, const struct shm_dim *b)
{
	uint64_t	idle, idle_bytes;

	if (m->share < SHM_GRANT_BATCH_MIN || want > b->share ||
	    !shm_direct_batching(r->ch))
		return (false);
	if (waits) {
		if (shmring_producer_wait_kind(r->map) != SHMRING_WAIT_BATCH)
			return (false);
	}
	shm_idle(r, &idle, &idle_bytes);
	/* It waits for the ring's space, not for a grant. */
	if (waits && idle > 0 && idle_bytes >= want)
		return (false);
	/* Room for what its share lacks, counting what it holds. */
	return ((shm_add_sat(m->room, idle) < m->share &&
	    m->droom >= m->share) || (shm_add_sat(b->room, idle_bytes) <
	    b->share && b->droom >= b->share));
}

/*
 * The free space of its ring that r's producer, granted what it asks and
 * waiting for its records' space, is woken to while grants come in
 * batches: half the ring, or less if a share (m, b) is less. A share,
 * not what it holds granted now: its grant is topped up as it sends.
 */
static uint64_t
shm_space_goal(const struct shm_ring *r, const struct shm_dim *m,
    const struct shm_dim *b)
{
	return (shm_min(r->rd.data_size / 2, b->share + m->share *
	    SHMRING_REC_HDR));
}

/*
 * The mean payload of the messages r's producer has sent (its word, so
 * only a hint), or dflt before it sent any.
 */
static uint64_t
shm_mean_len(const struct shm_ring *r, uint64_t dflt)
{
	uint64_t	sent, sent_bytes;

	shmring_sent(r->map, &sent, &sent_bytes);
	return (sent > 0 ? sent_bytes / sent : dflt);
}

/* The space of a record of the mean size r's producer has sent. */
static uint64_t
shm_space_rec(const struct shm_ring *r, uint32_t want)
{
	uint64_t	mean = shm_mean_len(r, want);

	return (shmring_rec_size(mean <= UINT32_MAX ? (uint32_t)mean : want));
}

/*
 * Notes whether r's producer, which waits (waits) for want bytes, ran out
 * of its ring's space: blocked with no deadline (SHMRING_WAIT_BATCH),
 * granted what it asks, and its ring without room for the record. It
 * stays so until it is woken (shm_wake_producer) or waits no more.
 */
static void
shm_space_note(struct shm_ring *r, bool waits, uint32_t want)
{
	uint64_t	idle, idle_bytes;

	if (!waits) {
		r->space_wait = false;
		return;
	}
	if (r->space_wait || shmring_producer_wait_kind(r->map) !=
	    SHMRING_WAIT_BATCH)
		return;
	shm_idle(r, &idle, &idle_bytes);
	r->space_wait = idle > 0 && idle_bytes >= want &&
	    !shmring_writer_fits(&r->rd, r->map, want);
}

/*
 * Whether r's producer, out of its ring's space (r->space_wait), waits
 * for that space to gather: while its channel's grants come in batches
 * (shm_grant_later), it is woken once the consumer's acknowledgements
 * have freed shm_space_goal, not at each one. A ring holds its records
 * until the consumer has claimed and acknowledged them, so with large
 * messages the ring, not the grant, is what a producer runs out of. As
 * for grants, a goal of fewer than SHM_GRANT_BATCH_MIN records is no
 * batch: such a producer is woken once its record fits.
 */
static bool
shm_space_later(const struct shm_ring *r, uint32_t want,
    const struct shm_dim *m, const struct shm_dim *b)
{
	uint64_t	goal;

	if (!r->space_wait || m->share < SHM_GRANT_BATCH_MIN ||
	    !shm_direct_batching(r->ch))
		return (false);
	goal = shm_space_goal(r, m, b);
	if (goal / shm_space_rec(r, want) < SHM_GRANT_BATCH_MIN)
		return (!shmring_writer_fits(&r->rd, r->map, want));
	return (shm_space_free(r) < goal);
}

/* The records of r's ring to be freed before shm_space_later ends. */
static uint64_t
shm_space_short(const struct shm_ring *r, uint32_t want,
    const struct shm_dim *m, const struct shm_dim *b)
{
	uint64_t	free = shm_space_free(r), goal = shm_space_goal(r, m, b);
	uint64_t	rec = shm_space_rec(r, want);

	if (goal / rec < SHM_GRANT_BATCH_MIN || free >= goal)
		return (1);
	return ((goal - free + rec - 1) / rec);
}

/* The messages of room a share of r lacks (m, b), bytes counted too. */
static uint64_t
shm_room_short(const struct shm_ring *r, const struct shm_dim *m,
    const struct shm_dim *b)
{
	uint64_t	short_msgs, short_bytes = 0, mean;

	short_msgs = m->room < m->share ? m->share - m->room : 0;
	/* Bytes as messages of the size the producer has sent so far. */
	mean = shm_mean_len(r, 0);
	if (b->room < b->share && mean > 0)
		short_bytes = (b->share - b->room) / mean;
	return (short_msgs > short_bytes ? short_msgs : short_bytes);
}

/*
 * For r's producer, woken to its grant and not yet run, blocked with no
 * deadline while grants come in batches: the room its next batch lacks.
 * It will use the batch it has and wait again; the acknowledgement that
 * gives the next one wakes the daemon, and the producer may wait for it
 * unwoken (watched). SHM_SHORT_NONE if there is room already, or no
 * batch.
 */
static uint64_t
shm_grant_ahead(const struct shm_ring *r, uint32_t want,
    const struct shm_dim *m, const struct shm_dim *b)
{
	uint64_t	short_of;

	if (shmring_producer_wait_kind(r->map) != SHMRING_WAIT_BATCH ||
	    m->share < SHM_GRANT_BATCH_MIN || want > b->share ||
	    !shm_direct_batching(r->ch))
		return (SHM_SHORT_NONE);
	short_of = shm_room_short(r, m, b);
	return (short_of > 0 ? short_of : SHM_SHORT_NONE);
}

uint64_t
shm_grant_short(const struct shm_ring *r, bool *space)
{
	struct shm_dim	m, b;
	uint32_t	want;

	*space = false;
	if (r->bad || r->h == NULL || !shmring_producer_waits(r->map))
		return (SHM_SHORT_NONE);
	want = shm_want(r);
	shm_dims(r, &m, &b);
	if (shm_space_later(r, want, &m, &b)) {
		*space = true;
		return (shm_space_short(r, want, &m, &b));
	}
	/* Woken, and not yet running. */
	if (shm_grant_takes(r, want))
		return (shm_grant_ahead(r, want, &m, &b));
	if (!shm_grant_later(r, true, want, &m, &b))
		return (0);
	return (shm_room_short(r, &m, &b));
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
	bool		 more = false, waits, asks, later, space_later;

	if (r->bad || r->h == NULL)
		return;
	waits = shmring_producer_waits(r->map);
	asks = waits && !shmring_asked_answered(r->map);
	if (waits)
		want = shm_want(r);
	shm_dims(r, &m, &b);
	/*
	 * A try or a timed send fails FULL only on a channel full of
	 * messages and claimed room: what other rings hold unclaimed comes
	 * back for it, as for a send on the socket. A blocking send waits for
	 * the consumer instead (busy producers would only ask sooner), or for
	 * the stall that takes it back (shm_direct.c).
	 */
	if (asks && (m.room == 0 || b.room < want) && r->ch->hhead == NULL &&
	    shmring_producer_wait_kind(r->map) == SHMRING_WAIT_EVENTFD &&
	    shm_take_back(r->ch))
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
	later = (waits || active) && shm_grant_later(r, waits, want, &m, &b);
	if ((waits || active) && !later) {
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
	if (!waits)
		r->woken = false;	/* it ran */
	shm_space_note(r, waits, want);
	space_later = waits && !later && shm_space_later(r, want, &m, &b);
	/* A producer blocked with no deadline does not look at the answer. */
	if (waits && (later || space_later) && asks)
		shmring_answer(r->map);
	else if (waits && !space_later && (more || asks)) {
		shmring_answer(r->map);
		shm_wake_producer(r);
	} else if (waits && !space_later && !shm_woken(r) &&
	    shm_grant_takes(r, want))
		shm_wake_producer(r);
}

/* After shm_drain took r's records: active if it took any. */
void
shm_grant_as(struct shm_ring *r, bool active)
{
	shm_grant_ring(r, active, true);
}

void
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
	if (first->ch_next != NULL && !ch->shm_answering) {
		ch->rings = first->ch_next;
		for (r = ch->rings; r->ch_next != NULL; r = r->ch_next)
			;
		r->ch_next = first;
		first->ch_next = NULL;
	}
}

void
shm_unreserve(struct shm_ring *r, uint64_t msgs, uint64_t bytes)
{
	shm_reserve(r, shm_min(msgs, r->resv_msgs), shm_min(bytes,
	    r->resv_bytes), false);
}

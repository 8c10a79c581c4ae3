/* SPDX-License-Identifier: MIT */
/*
 * channel.c: the state of one channel. See channel.h.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "msgpool.h"
#include "proto.h"


uint32_t	channel_clock;

void
channel_clock_set(uint32_t now)
{
	channel_clock = now;
}

/*
 * A channel starts on a cache line: every message touches its first
 * lines (channel.h), and at thousands of channels each touch is a miss;
 * malloc's 16-byte alignment would spread them over one line more. The
 * line is found inside a block a little bigger than the channel, since
 * aligned_alloc's leftovers cost an idle channel more than that.
 */
#define CHANNEL_ALIGN	64

_Static_assert(CHANNEL_ALIGN - alignof(max_align_t) <= UINT8_MAX,
    "mem_off holds the offset to the line");
/* The lines channel.h promises: an ACK's two, then a SEND's third. */
_Static_assert(offsetof(struct channel, qtailp) == 2 * CHANNEL_ALIGN,
    "an ACK's fields fill the channel's first two cache lines");
_Static_assert(offsetof(struct channel, shm_resv_msgs) == 3 * CHANNEL_ALIGN,
    "a SEND's fields fill the third");

struct channel *
channel_new(const void *name, size_t len, struct channel_totals *totals)
{
	struct channel	*ch;
	size_t		 size;
	void		*mem;

	if (len == 0 || len > PROTO_NAME_MAX)
		return (NULL);
	size = sizeof(*ch) + len + 1;
	if ((mem = malloc(size + CHANNEL_ALIGN - alignof(max_align_t))) ==
	    NULL)
		return (NULL);
	ch = (struct channel *)(void *)(((uintptr_t)mem + CHANNEL_ALIGN - 1) &
	    ~(uintptr_t)(CHANNEL_ALIGN - 1));
	memset(ch, 0, size);
	ch->mem_off = (uint8_t)((char *)ch - (char *)mem);
	memcpy(ch->name, name, len);
	ch->name[len] = '\0';
	ch->name_len = (uint16_t)len;
	ch->qtailp = &ch->qhead;
	ch->ftailp = &ch->fhead;
	ch->totals = totals;
	ch->cap_msgs = CHANNEL_UNBOUNDED;
	ch->cap_bytes = CHANNEL_UNBOUNDED;
	ch->next_id = 1;
	return (ch);
}

void
channel_set_capacity(struct channel *ch, uint64_t msgs, uint64_t bytes)
{
	ch->cap_msgs = msgs;
	ch->cap_bytes = bytes;
}

/*
 * Counts a message of len payload bytes in (add) or out of the daemon's
 * sums and those of ch's creator.
 */
static void
channel_count(struct channel *ch, size_t len, bool add)
{
	struct channel_totals	*t = ch->totals;
	struct channel_sum	*u = ch->owner_sum;

	if (t != NULL && add) {
		t->bytes += len;
		t->msgs++;
	} else if (t != NULL) {
		t->bytes -= len;
		t->msgs--;
	}
	if (u != NULL && add) {
		u->bytes += len;
		u->msgs++;
	} else if (u != NULL) {
		u->bytes -= len;
		u->msgs--;
	}
}

static void
channel_free_list(struct channel *ch, struct message *m)
{
	struct message	*next;

	for (; m != NULL; m = next) {
		next = m->next;
		ch->bytes -= m->len;
		channel_count(ch, m->len, false);
		msgpool_put(m);
	}
}

/*
 * The deadline heap: a binary min-heap of timed held sends in the shared
 * state, each knowing its index so that one admitted early leaves in
 * O(log n). One timer for the daemon then serves every timed send.
 */
static void
heap_set(struct channel_totals *t, size_t i, struct held *h)
{
	t->heap[i] = h;
	h->heap_idx = i;
}

static void
heap_up(struct channel_totals *t, size_t i)
{
	struct held	*h = t->heap[i];
	size_t		 parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (t->heap[parent]->deadline <= h->deadline)
			break;
		heap_set(t, i, t->heap[parent]);
		i = parent;
	}
	heap_set(t, i, h);
}

static void
heap_down(struct channel_totals *t, size_t i)
{
	struct held	*h = t->heap[i];
	size_t		 child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= t->nheap)
			break;
		if (child + 1 < t->nheap &&
		    t->heap[child + 1]->deadline < t->heap[child]->deadline)
			child++;
		if (h->deadline <= t->heap[child]->deadline)
			break;
		heap_set(t, i, t->heap[child]);
		i = child;
	}
	heap_set(t, i, h);
}

static int
heap_insert(struct channel_totals *t, struct held *h)
{
	struct held	**nh;
	size_t		  ncap;

	if (t->nheap == t->heap_cap) {
		ncap = t->heap_cap == 0 ? 16 : t->heap_cap * 2;
		nh = reallocarray(t->heap, ncap, sizeof(*nh));
		if (nh == NULL)
			return (CHAN_ENOMEM);
		t->heap = nh;
		t->heap_cap = ncap;
	}
	heap_set(t, t->nheap++, h);
	heap_up(t, h->heap_idx);
	return (0);
}

static void
heap_remove(struct channel_totals *t, struct held *h)
{
	size_t		 i = h->heap_idx;
	struct held	*last;

	last = t->heap[--t->nheap];
	if (i == t->nheap)
		return;
	heap_set(t, i, last);
	if (i > 0 && t->heap[(i - 1) / 2]->deadline > last->deadline)
		heap_up(t, i);
	else
		heap_down(t, i);
}

/* Held sends. */

/* Unlinks h from its channel's FIFO and the heap; the message stays. */
static void
held_unlink(struct channel *ch, struct held *h)
{
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		ch->hhead = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	else
		ch->htail = h->prev;
	h->prev = h->next = NULL;
	ch->nheld--;
	ch->held_bytes -= h->len;
	if (ch->totals != NULL)
		ch->totals->held--;
	if (h->deadline != CHANNEL_NO_DEADLINE)
		heap_remove(ch->totals, h);
	h->ch = NULL;
}

/* Ends h with an outcome to report: to the tail of the done list. */
static void
held_done(struct channel *ch, struct held *h, int result)
{
	struct channel_totals	*t = ch->totals;

	held_unlink(ch, h);
	h->result = result;
	h->msg = NULL;
	if (t->done == NULL)
		t->done = h;
	else
		t->done_tail->next = h;
	t->done_tail = h;
}

void
channel_held_free(struct held *h)
{
	free(h);
}

struct held *
channel_done_next(struct channel_totals *t)
{
	struct held	*h = t->done;

	if (h == NULL)
		return (NULL);
	t->done = h->next;
	h->next = NULL;
	return (h);
}

/* Frees a held send still in its channel, message and all. */
static void
held_destroy(struct channel *ch, struct held *h)
{
	held_unlink(ch, h);
	channel_count(ch, h->len, false);
	msgpool_put(h->msg);
	free(h);
}

void
channel_free(struct channel *ch)
{
	if (ch == NULL)
		return;
	channel_group_leave(ch);
	while (ch->hhead != NULL)
		held_destroy(ch, ch->hhead);
	channel_free_list(ch, ch->qhead);
	channel_free_list(ch, ch->fhead);
	free(ch->stat);
	free((char *)ch - ch->mem_off);
}

void
channel_totals_fini(struct channel_totals *t)
{
	struct held	*h;

	while ((h = channel_done_next(t)) != NULL)
		channel_held_free(h);
	free(t->heap);
	t->heap = NULL;
	t->nheap = t->heap_cap = 0;
}

struct message *
channel_msg_new(size_t len)
{
	struct message	*m;

	if (len > UINT32_MAX || (m = msgpool_get(len)) == NULL)
		return (NULL);
	m->next = NULL;
	m->seq = 0;
	m->id = 0;
	m->len = (uint32_t)len;
	m->flags = 0;
	m->born = channel_clock;
	return (m);
}

static struct message *
message_new(const void *payload, size_t len)
{
	struct message	*m;

	if ((m = channel_msg_new(len)) == NULL)
		return (NULL);
	if (len > 0)
		memcpy(m->data, payload, len);
	return (m);
}

/* Appends m to the queue; the sums already count it. */
static void
channel_enqueue(struct channel *ch, struct message *m)
{
	*ch->qtailp = m;
	ch->qtailp = &m->next;
	ch->nqueued++;
	ch->qbytes += m->len;
	ch->bytes += m->len;
	ch->msgs_in++;
}

/*
 * A copy of payload as ch's next message, counted in ch and the daemon's
 * totals, not yet queued: 0 with *out, CHAN_ETOOBIG or CHAN_ENOMEM.
 */
static int
channel_new_message(struct channel *ch, const void *payload, size_t len,
    struct message **out)
{
	struct message	*m;

	if (len > UINT32_MAX)
		return (CHAN_ETOOBIG);
	if ((m = message_new(payload, len)) == NULL)
		return (CHAN_ENOMEM);
	m->id = ch->next_id++;
	channel_count(ch, len, true);
	*out = m;
	return (0);
}

int
channel_push(struct channel *ch, const void *payload, size_t len)
{
	struct message	*m;
	int		 rc;

	if ((rc = channel_new_message(ch, payload, len, &m)) != 0)
		return (rc);
	channel_enqueue(ch, m);
	return (0);
}

int
channel_push_inflight(struct channel *ch, const void *payload, size_t len,
    uint64_t seq)
{
	struct message	*m;
	int		 rc;

	if ((rc = channel_new_message(ch, payload, len, &m)) != 0)
		return (rc);
	ch->bytes += len;
	ch->msgs_in++;
	ch->msgs_out++;
	m->next = NULL;
	m->seq = seq;
	ch->last_seq = seq;
	*ch->ftailp = m;
	ch->ftailp = &m->next;
	ch->ninflight++;
	return (0);
}

void
channel_consumed(struct channel *ch, uint64_t n)
{
	ch->next_id += n;
	ch->acked_id = ch->next_id - 1;
	ch->msgs_in += n;
	ch->msgs_out += n;
	ch->acked += n;
}

int
channel_restore(struct channel *ch, uint64_t id, const void *payload,
    size_t len, uint32_t flags)
{
	struct message	*m;

	if (len > UINT32_MAX)
		return (CHAN_ETOOBIG);
	if ((m = message_new(payload, len)) == NULL)
		return (CHAN_ENOMEM);
	m->id = id;
	m->flags = flags;
	if (ch->next_id <= id)
		ch->next_id = id + 1;
	channel_count(ch, len, true);
	channel_enqueue(ch, m);
	return (0);
}

/*
 * Room granted to shared-memory producers (none without rings: a ring
 * gives its room back before it leaves). Read only while there are rings,
 * so that a SEND on a channel without them reads one line fewer.
 */
static uint64_t
channel_resv_msgs(const struct channel *ch)
{
	return (ch->rings != NULL ? ch->shm_resv_msgs : 0);
}

static uint64_t
channel_resv_bytes(const struct channel *ch)
{
	return (ch->rings != NULL ? ch->shm_resv_bytes : 0);
}

/* Whether the queue takes one more message of len bytes. */
static bool
channel_has_room(const struct channel *ch, size_t len)
{
	uint64_t	n = ch->nqueued + channel_resv_msgs(ch);

	if (n >= ch->cap_msgs)
		return (false);
	/* One message larger than the budget still goes, alone. */
	return (n == 0 || ch->qbytes + channel_resv_bytes(ch) + len <=
	    ch->cap_bytes);
}

void
channel_room(const struct channel *ch, uint64_t *msgs, uint64_t *bytes)
{
	uint64_t	used;

	*msgs = *bytes = 0;
	if (ch->hhead != NULL)
		return;
	used = ch->nqueued + channel_resv_msgs(ch);
	if (ch->cap_msgs == CHANNEL_UNBOUNDED)
		*msgs = CHANNEL_UNBOUNDED;
	else if (used < ch->cap_msgs)
		*msgs = ch->cap_msgs - used;
	used = ch->qbytes + channel_resv_bytes(ch);
	if (ch->cap_bytes == CHANNEL_UNBOUNDED)
		*bytes = CHANNEL_UNBOUNDED;
	else if (used < ch->cap_bytes)
		*bytes = ch->cap_bytes - used;
}

/* Whether the consumer would take a message now without a queue. */
static bool
channel_consumer_waiting(const struct channel *ch)
{
	return (ch->consumer != NULL && channel_credit_left(ch) > 0 &&
	    ch->qhead == NULL && ch->hhead == NULL);
}

bool
channel_refuses(const struct channel *ch, size_t len, bool may_wait)
{
	if (channel_takes(ch, len))
		return (false);
	return (ch->totals == NULL ||
	    (!may_wait && !channel_consumer_waiting(ch)));
}

bool
channel_takes(const struct channel *ch, size_t len)
{
	return (ch->hhead == NULL && channel_has_room(ch, len));
}

void
channel_admit(struct channel *ch)
{
	struct held	*h;
	struct message	*m;

	while ((h = ch->hhead) != NULL && channel_has_room(ch, h->len)) {
		m = h->msg;
		held_done(ch, h, 0);
		channel_enqueue(ch, m);
	}
}

static int
channel_hold(struct channel *ch, struct message *m,
    const struct channel_send *a, struct held **hp)
{
	struct held	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return (CHAN_ENOMEM);
	h->ch = ch;
	h->msg = m;
	h->owner = a->owner;
	h->rid = a->rid;
	h->len = m->len;
	h->id = m->id;
	h->deadline = a->deadline;
	if (h->deadline != CHANNEL_NO_DEADLINE &&
	    heap_insert(ch->totals, h) != 0) {
		free(h);
		return (CHAN_ENOMEM);
	}
	h->prev = ch->htail;
	if (ch->htail != NULL)
		ch->htail->next = h;
	else
		ch->hhead = h;
	ch->htail = h;
	ch->nheld++;
	ch->held_bytes += h->len;
	ch->totals->held++;
	channel_count(ch, h->len, true);
	*hp = h;
	return (CHANNEL_HELD);
}

/* channel_send with m, or with a copy of payload if m is NULL. */
static int
channel_offer(struct channel *ch, struct message *m, const void *payload,
    size_t len, const struct channel_send *a, struct held **hp)
{
	bool	mine = m == NULL;
	int	rc;

	if (len > UINT32_MAX)
		return (CHAN_ETOOBIG);
	if (ch->hhead == NULL && channel_has_room(ch, len)) {
		if (mine && (m = message_new(payload, len)) == NULL)
			return (CHAN_ENOMEM);
		m->id = ch->next_id++;
		m->flags |= a->flags;
		channel_count(ch, len, true);
		channel_enqueue(ch, m);
		return (CHANNEL_QUEUED);
	}
	/* Holding needs the shared state: the done list and the heap. */
	if (ch->totals == NULL ||
	    (!a->may_wait && !channel_consumer_waiting(ch)))
		return (CHAN_EFULL);
	if (mine && (m = message_new(payload, len)) == NULL)
		return (CHAN_ENOMEM);
	m->id = ch->next_id;
	m->flags |= a->flags;
	if ((rc = channel_hold(ch, m, a, hp)) != CHANNEL_HELD) {
		if (mine)
			msgpool_put(m);
		return (rc);
	}
	ch->next_id++;
	return (rc);
}

int
channel_send(struct channel *ch, const void *payload, size_t len,
    const struct channel_send *a, struct held **hp)
{
	return (channel_offer(ch, NULL, payload, len, a, hp));
}

int
channel_send_msg(struct channel *ch, struct message *m,
    const struct channel_send *a, struct held **hp)
{
	return (channel_offer(ch, m, NULL, m->len, a, hp));
}

/* Moves m in flight with the next seq, taking a credit. */
static void
channel_inflight(struct channel *ch, struct message *m)
{
	m->next = NULL;
	m->seq = ++ch->last_seq;
	*ch->ftailp = m;
	ch->ftailp = &m->next;
	ch->ninflight++;

	if (ch->group != NULL)
		ch->group->credit--;
	else
		ch->credit--;
	ch->msgs_out++;
	if (m->flags & PROTO_FLAG_REDELIVERED)
		ch->redeliveries++;
}

/* The head held send, delivered without passing through the queue. */
static struct message *
channel_take_held(struct channel *ch)
{
	struct held	*h = ch->hhead;
	struct message	*m = h->msg;

	held_done(ch, h, 0);
	ch->bytes += m->len;
	ch->msgs_in++;
	return (m);
}

size_t
channel_next_len(const struct channel *ch)
{
	if (ch->qhead != NULL)
		return (ch->qhead->len);
	if (ch->hhead != NULL)
		return (ch->hhead->msg->len);
	return (0);
}

struct message *
channel_take(struct channel *ch)
{
	struct message	*m;

	if (ch->consumer == NULL || channel_credit_left(ch) == 0)
		return (NULL);
	if ((m = ch->qhead) != NULL) {
		ch->qhead = m->next;
		if (ch->qhead == NULL)
			ch->qtailp = &ch->qhead;
		ch->nqueued--;
		ch->qbytes -= m->len;
	} else if (ch->hhead != NULL)
		m = channel_take_held(ch);
	else
		return (NULL);
	channel_inflight(ch, m);
	channel_admit(ch);
	return (m);
}

struct channel *
channel_expire(struct channel_totals *t, uint64_t now)
{
	struct held	*h;
	struct channel	*ch;

	if (t->nheap == 0 || t->heap[0]->deadline > now)
		return (NULL);
	h = t->heap[0];
	ch = h->ch;
	channel_count(ch, h->len, false);
	msgpool_put(h->msg);
	held_done(ch, h, CHAN_EFULL);
	channel_admit(ch);
	return (ch);
}

bool
channel_next_deadline(const struct channel_totals *t, uint64_t *when)
{
	if (t->nheap == 0)
		return (false);
	*when = t->heap[0]->deadline;
	return (true);
}

/* Removes owner's entries from the done list. */
static size_t
channel_discard_done(struct channel_totals *t, void *owner, size_t *n)
{
	struct held	**pp = &t->done, *h, *last = NULL;
	size_t		  bytes = 0;

	while ((h = *pp) != NULL) {
		if (h->owner != owner) {
			last = h;
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		bytes += h->len;
		(*n)++;
		free(h);
	}
	t->done_tail = last;
	return (bytes);
}

size_t
channel_discard(struct channel *ch, void *owner, size_t *n)
{
	struct held	*h, *next;
	size_t		 bytes = 0;

	*n = 0;
	for (h = ch->hhead; h != NULL; h = next) {
		next = h->next;
		if (h->owner != owner)
			continue;
		bytes += h->len;
		(*n)++;
		held_destroy(ch, h);
	}
	if (ch->totals != NULL)
		bytes += channel_discard_done(ch->totals, owner, n);
	channel_admit(ch);
	return (bytes);
}

/*
 * How many of the messages in flight an ACK of seq takes. Their seqs
 * grow from the head, and run without a gap but after a direct reader
 * gave its ring back (shm_direct.c): the head's seq and the count then
 * say it, without reading the message after the last one taken, which
 * is long out of the caches when the consumer goes round thousands of
 * channels (reading it was most of an ACK's cost).
 */
static uint64_t
channel_acked_count(const struct channel *ch, uint64_t seq)
{
	const struct message *m = ch->fhead;
	uint64_t	 n = 0;

	if (m == NULL || m->seq > seq)
		return (0);
	if (m->seq + ch->ninflight - 1 == ch->last_seq)
		return (seq - m->seq + 1);
	for (; m != NULL && m->seq <= seq; m = m->next)
		n++;
	return (n);
}

int
channel_ack(struct channel *ch, uint64_t seq)
{
	struct message	*m;
	uint64_t	 n;

	if (seq > ch->last_seq)
		return (CHAN_EPROTO);
	for (n = channel_acked_count(ch, seq); n > 0 && ch->fhead != NULL;
	    n--) {
		m = ch->fhead;
		ch->fhead = m->next;
		/* Only the log reads it: a line fewer for the others. */
		if (ch->durable && m->id > ch->acked_id)
			ch->acked_id = m->id;
		ch->ninflight--;
		ch->bytes -= m->len;
		channel_count(ch, m->len, false);
		msgpool_put(m);
		ch->acked++;
	}
	if (ch->fhead == NULL)
		ch->ftailp = &ch->fhead;
	ch->requests++;
	return (0);
}

void
channel_credit(struct channel *ch, uint32_t n)
{
	uint32_t	room;

	channel_group_leave(ch);
	room = PROTO_CREDIT_MAX - ch->credit;
	ch->credit += n < room ? n : room;
	ch->requests++;
}

uint32_t
channel_credit_left(const struct channel *ch)
{
	return (ch->group != NULL ? ch->group->credit : ch->credit);
}

void
channel_group_leave(struct channel *ch)
{
	struct selgroup	*g = ch->group;
	struct channel	*last;

	if (g == NULL)
		return;
	/* The last member takes ch's place. */
	last = g->chs[--g->members];
	g->chs[ch->group_idx] = last;
	last->group_idx = ch->group_idx;
	ch->group = NULL;
	if (g->members == 0)
		free(g);
}

struct selgroup *
channel_group_new(struct channel *const *chs, size_t n, uint32_t credit)
{
	struct selgroup	*g;
	size_t		 i;

	if ((g = malloc(sizeof(*g) + n * sizeof(g->chs[0]))) == NULL)
		return (NULL);
	g->credit = credit;
	g->members = 0;
	for (i = 0; i < n; i++) {
		/* A channel named twice is in the group once. */
		if (chs[i]->group == g)
			continue;
		channel_group_leave(chs[i]);
		chs[i]->credit = 0;
		chs[i]->group = g;
		chs[i]->requests++;
		chs[i]->group_idx = g->members;
		g->chs[g->members++] = chs[i];
	}
	return (g);
}

int
channel_consumer_attach(struct channel *ch, void *consumer)
{
	if (ch->consumer != NULL)
		return (CHAN_EBUSY);
	ch->consumer = consumer;
	ch->credit = 0;
	ch->last_seq = 0;
	ch->rx_mode = CHANNEL_RX_ONCE;
	return (0);
}

void
channel_consumer_detach(struct channel *ch)
{
	struct message	*m;

	for (m = ch->fhead; m != NULL; m = m->next)
		m->flags |= PROTO_FLAG_REDELIVERED;

	/* Splice the in-flight list, in order, before the queue's head. */
	if (ch->fhead != NULL) {
		*ch->ftailp = ch->qhead;
		if (ch->qhead == NULL)
			ch->qtailp = ch->ftailp;
		ch->qhead = ch->fhead;
		ch->nqueued += ch->ninflight;
		ch->qbytes = ch->bytes;
	}
	ch->fhead = NULL;
	ch->ftailp = &ch->fhead;
	ch->ninflight = 0;

	ch->consumer = NULL;
	channel_group_leave(ch);
	ch->credit = 0;
	ch->last_seq = 0;
}

void
channel_producer_attach(struct channel *ch)
{
	ch->producers++;
	ch->armed = true;
	ch->had_producer = true;
	ch->ended_ms = 0;
}

void
channel_producer_detach(struct channel *ch)
{
	if (ch->producers > 0)
		ch->producers--;
}

void
channel_consumer_set_mode(struct channel *ch, enum channel_rx_mode mode)
{
	ch->rx_mode = (uint8_t)mode;
}

bool
channel_disconnected(const struct channel *ch)
{
	return (ch->had_producer && ch->producers == 0 &&
	    ch->qhead == NULL && ch->fhead == NULL && ch->hhead == NULL);
}

bool
channel_should_report(const struct channel *ch)
{
	if (ch->consumer == NULL || channel_credit_left(ch) == 0)
		return (false);
	switch (ch->rx_mode) {
	case CHANNEL_RX_STATE:
		return (channel_disconnected(ch));
	case CHANNEL_RX_FOREVER:
		return (false);
	default:
		return (ch->qhead == NULL && ch->fhead == NULL &&
		    ch->hhead == NULL && ch->producers == 0 && ch->armed);
	}
}

void
channel_recall(struct channel *ch)
{
	if (ch->group != NULL)
		ch->group->credit = 0;
	channel_group_leave(ch);
	ch->credit = 0;
}

size_t
channel_fail_held(struct channel *ch, void *owner, int code)
{
	struct held	*h, *next;
	size_t		 n = 0;

	for (h = ch->hhead; h != NULL; h = next) {
		next = h->next;
		if (h->owner != owner)
			continue;
		channel_count(ch, h->len, false);
		msgpool_put(h->msg);
		held_done(ch, h, code);
		n++;
	}
	channel_admit(ch);
	return (n);
}

size_t
channel_purge(struct channel *ch)
{
	size_t	n = ch->nqueued;

	channel_free_list(ch, ch->qhead);
	ch->qhead = NULL;
	ch->qtailp = &ch->qhead;
	ch->nqueued = 0;
	ch->qbytes = 0;
	channel_admit(ch);
	return (n);
}

void
channel_mark_reported(struct channel *ch)
{
	ch->armed = false;
	/* The report ends the receive it answers, a SELECT's too. */
	if (ch->rx_mode == CHANNEL_RX_STATE) {
		if (ch->group != NULL)
			ch->group->credit = 0;
		ch->credit = 0;
	}
}

bool
channel_is_idle(const struct channel *ch)
{
	return (ch->producers == 0 && ch->consumer == NULL &&
	    ch->qhead == NULL && ch->fhead == NULL && ch->hhead == NULL);
}

size_t
channel_drop_queued(struct channel *ch, void (*fn)(struct channel *,
    uint64_t, void *), void *arg, uint64_t *bytes)
{
	struct message	*m;
	size_t		 n = 0;

	*bytes = 0;
	while ((m = ch->qhead) != NULL) {
		ch->qhead = m->next;
		if (fn != NULL)
			fn(ch, m->id, arg);
		ch->nqueued--;
		ch->qbytes -= m->len;
		ch->bytes -= m->len;
		channel_count(ch, m->len, false);
		*bytes += m->len;
		n++;
		msgpool_put(m);
	}
	ch->qtailp = &ch->qhead;
	channel_admit(ch);
	return (n);
}

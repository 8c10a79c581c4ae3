/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c: pipelined sends. chan_tx_send_async queues a SEND without
 * waiting for its OK; up to tx->window of them may be unconfirmed at once.
 * Frames are batched in c->wbuf and written when the batch is big, when
 * the caller must wait anyway (window full, flush, any blocking call on
 * the connection), or in non-blocking mode by chan_client_process. The
 * first failure is kept and reported by the transmitter's next call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* The slot i places after the head of tx's ring (i < ring_cap). */
static struct tx_slot *
pipeline_at(struct chan_tx *tx, uint32_t i)
{
	uint32_t k = tx->head + i;

	return &tx->ring[k < tx->ring_cap ? k : k - tx->ring_cap];
}

/* Drops confirmed slots from the head of the ring. */
static void
pipeline_trim(struct chan_tx *tx)
{
	while (tx->used > 0 && tx->ring[tx->head].done) {
		if (++tx->head == tx->ring_cap)
			tx->head = 0;
		tx->used--;
	}
}

/* Records a pipelined send's failure; only the first is kept. */
static void
pipeline_fail(struct chan_tx *tx, const struct tx_slot *s,
    const struct proto_msg *m)
{
	int len;

	if (tx->async_rc != 0)
		return;
	tx->async_rc = conn_wire_code(m->code);
	len = m->text_len > PROTO_ERRMSG_MAX ? PROTO_ERRMSG_MAX :
	    (int)m->text_len;
	snprintf(tx->async_errmsg, sizeof(tx->async_errmsg),
	    "pipelined send %llu: %.*s", (unsigned long long)s->ord, len,
	    m->text != NULL ? m->text : chan_strerror(tx->async_rc));
}

void
pipeline_fail_held(struct chan_tx *tx, uint32_t n, int code)
{
	if (tx->async_rc != 0 || n == 0)
		return;
	tx->async_rc = code;
	snprintf(tx->async_errmsg, sizeof(tx->async_errmsg),
	    "pipelined send %llu: %s", (unsigned long long)(tx->next_ord -
	    n + 1), chan_strerror(code));
}

/*
 * The slot of tx's ring that holds rid, or NULL. Rids are given out in
 * order, so they increase from the head: replies mostly come in order and
 * find the head, the others a binary search. Should the rids of the ring
 * span more than 2^31 (a send held while billions of other requests went
 * by), comparing them would wrap: a linear look still finds the slot.
 */
static struct tx_slot *
pipeline_find(struct chan_tx *tx, uint32_t rid)
{
	struct tx_slot *s;
	uint32_t lo = 0, hi = tx->used, mid;

	if (tx->used > 0 && tx->ring[tx->head].rid == rid)
		return &tx->ring[tx->head];
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		s = pipeline_at(tx, mid);
		if (s->rid == rid)
			return s;
		if ((int32_t)(s->rid - rid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (mid = 0; mid < tx->used; mid++) {
		if ((s = pipeline_at(tx, mid))->rid == rid)
			return s;
	}
	return NULL;
}

/*
 * The transmitter a reply confirms: the only one with sends unconfirmed
 * (c->solo), or the one the connection's index gives, with the send's
 * ordinal, in constant time however many transmitters share the
 * connection. Slots hold consecutive ordinals from the head, so the
 * ordinal's distance from the head's is the slot's.
 */
int
pipeline_reply(struct chan_client *c, const struct proto_msg *m)
{
	struct chan_tx *tx;
	struct tx_slot *s;
	uint32_t ord;

	if (c->unconfirmed == 0)
		return 0;
	if ((tx = c->solo) != NULL)
		s = pipeline_find(tx, m->rid);
	else if (ridmap_take(&c->rids, m->rid, &tx, &ord) == 0)
		s = pipeline_at(tx, ord - (uint32_t)tx->ring[tx->head].ord);
	else
		return 0;
	/* A reply to a request that gave up waiting finds no slot. */
	if (s == NULL || s->rid != m->rid || s->done)
		return 0;
	if (m->op == PROTO_ERROR)
		pipeline_fail(tx, s, m);
	s->done = 1;
	tx->unconfirmed--;
	c->unconfirmed--;
	pipeline_trim(tx);
	/* Whoever dispatched the reply wakes the waiters (conn.c). */
	return 1;
}

int
pipeline_take_error(struct chan_tx *tx)
{
	int rc = tx->async_rc;

	if (rc != 0) {
		memcpy(tx->errmsg, tx->async_errmsg, sizeof(tx->errmsg));
		tx->async_rc = 0;
	}
	return rc;
}

void
pipeline_fini(struct chan_tx *tx)
{
	struct chan_tx *owner;
	struct tx_slot *s;
	uint32_t i, ord;

	/* Late replies to these sends must find nothing. */
	if (tx->c->solo == tx)
		tx->c->solo = NULL;
	for (i = 0; i < tx->used; i++) {
		s = pipeline_at(tx, i);
		if (!s->done)
			(void)ridmap_take(&tx->c->rids, s->rid, &owner, &ord);
	}
	tx->c->unconfirmed -= tx->unconfirmed;
	tx->unconfirmed = 0;
	tx->used = 0;
	free(tx->ring);
	tx->ring = NULL;
	tx->ring_cap = 0;
	tx->head = 0;
}

static int
pipeline_has_room(void *arg)
{
	struct chan_tx *tx = arg;

	return tx->used < tx->window;
}

static int
pipeline_all_confirmed(void *arg)
{
	return ((struct chan_tx *)arg)->unconfirmed == 0;
}

/*
 * Waits until done(tx), writing the batch first: the daemon cannot confirm
 * what it has not been sent.
 */
static int
pipeline_wait(struct chan_tx *tx, int (*done)(void *))
{
	struct chan_client *c = tx->c;
	int rc;

	if (done(tx))
		return 0;
	if ((rc = conn_write(c)) != 0)
		return rc;
	return conn_wait(c, done, tx, NULL);
}

int
pipeline_flush_locked(struct chan_tx *tx, int block)
{
	struct chan_client *c = tx->c;
	int rc;

	if (c->nonblock && !block) {
		rc = conn_write_nb(c);
		if (rc == 0 && tx->unconfirmed > 0)
			rc = CHAN_EAGAIN;
	} else
		rc = pipeline_wait(tx, pipeline_all_confirmed);
	/* An earlier failure wins over what stopped the wait. */
	if (tx->async_rc != 0)
		return pipeline_take_error(tx);
	return rc;
}

/*
 * Makes the ring hold one more slot, up to the window: it starts small and
 * doubles, so that a connection with thousands of transmitters that each
 * send a little does not pay for thousands of full windows.
 */
static int
pipeline_grow(struct chan_tx *tx)
{
	struct tx_slot *ring;
	uint32_t i, cap;

	if (tx->used < tx->ring_cap)
		return 0;
	cap = tx->ring_cap == 0 ? TX_RING_MIN : tx->ring_cap * 2;
	if (cap > tx->window)
		cap = tx->window;
	if ((ring = calloc(cap, sizeof(*ring))) == NULL)
		return CHAN_ENOMEM;
	for (i = 0; i < tx->used; i++)
		ring[i] = *pipeline_at(tx, i);
	free(tx->ring);
	tx->ring = ring;
	tx->ring_cap = cap;
	tx->head = 0;
	return 0;
}

/* A free slot: waits for one, or CHAN_EAGAIN in non-blocking mode. */
static int
pipeline_slot(struct chan_tx *tx)
{
	int rc = 0;

	if (tx->used >= tx->window && tx->c->nonblock) {
		/*
		 * Only chan_client_process reads in non-blocking mode (see
		 * conn_barrier): the answers that free a slot come with it.
		 */
		conn_write_nb(tx->c);
		return tx->c->dead ? CHAN_ECONNLOST : CHAN_EAGAIN;
	} else if (tx->used >= tx->window)
		rc = pipeline_wait(tx, pipeline_has_room);
	return rc != 0 ? rc : pipeline_grow(tx);
}

/*
 * Another transmitter is about to send while c->solo has sends
 * unconfirmed: those go into the index, and from now on every send does,
 * until all are confirmed. 0, or CHAN_ENOMEM with nothing changed.
 */
static int
pipeline_unsolo(struct chan_client *c)
{
	struct chan_tx *tx = c->solo, *owner;
	struct tx_slot *s;
	uint32_t i, ord;

	for (i = 0; i < tx->used; i++) {
		s = pipeline_at(tx, i);
		if (!s->done &&
		    ridmap_put(&c->rids, s->rid, tx, (uint32_t)s->ord) != 0)
			break;
	}
	if (i < tx->used) {
		while (i-- > 0) {
			s = pipeline_at(tx, i);
			if (!s->done)
				(void)ridmap_take(&c->rids, s->rid, &owner,
				    &ord);
		}
		return CHAN_ENOMEM;
	}
	c->solo = NULL;
	return 0;
}

/*
 * Where the reply to tx's next send will be looked up: its ring alone
 * while tx is the only transmitter with sends unconfirmed, else the index
 * (rid added there). 0 or CHAN_ENOMEM.
 */
static int
pipeline_track(struct chan_tx *tx, uint32_t rid, uint64_t ord)
{
	struct chan_client *c = tx->c;
	int rc;

	if (c->unconfirmed == 0)
		c->solo = tx;
	if (c->solo == tx)
		return 0;
	if (c->solo != NULL && (rc = pipeline_unsolo(c)) != 0)
		return rc;
	return ridmap_put(&c->rids, rid, tx, (uint32_t)ord);
}

/* Queues the SEND frame in the batch and its slot in the ring. */
static int
pipeline_queue(struct chan_tx *tx, const void *data, size_t len)
{
	struct chan_client *c = tx->c;
	struct chan_tx *owner;
	struct tx_slot *s;
	uint64_t ord = tx->next_ord + 1;
	uint32_t rid = conn_next_rid(c), ord32;
	int rc;

	if ((rc = pipeline_track(tx, rid, ord)) != 0)
		return rc;
	if ((rc = proto_enc_send(&c->wbuf, rid, tx->handle, data, len)) != 0) {
		if (c->solo != tx)
			(void)ridmap_take(&c->rids, rid, &owner, &ord32);
		return rc;
	}
	s = pipeline_at(tx, tx->used);
	s->rid = rid;
	s->done = 0;
	s->ord = tx->next_ord = ord;
	tx->used++;
	tx->unconfirmed++;
	c->unconfirmed++;
	if (c->wbuf.len < CONN_BATCH_BYTES)
		return 0;
	return c->nonblock ? conn_write_nb(c) : conn_write(c);
}

int
chan_tx_send_async(chan_tx *tx, const void *data, size_t len)
{
	int rc;

	if ((rc = tx_send_begin(tx, data, len)) != 0)
		return rc;
	/*
	 * Through the ring a send is confirmed once committed: written now,
	 * committed with those after it (tx_shm_hold), or, without room,
	 * as a confirmed send, which commits those held first.
	 */
	if (tx->shm != NULL && len <= tx_shm_max(tx)) {
		/* Behind the SENDs of longer messages before it. */
		rc = tx->unconfirmed > 0 ? pipeline_flush_locked(tx, 1) : 0;
		if (rc == 0 && (tx->c->nonblock ||
		    tx_shm_hold(tx, data, len) != 0))
			rc = tx_shm_send(tx, data, len, tx->c->nonblock ?
			    TX_SHM_LOOP : -1, 0);
		/* Numbered as the pipelined sends they are among. */
		if (rc == 0)
			tx->next_ord++;
		if (rc != TX_SHM_SOCKET) {
			pthread_mutex_unlock(&tx->c->mu);
			return rc;
		}
	}
	/* Over the socket, behind the records before it. */
	conn_commit_held(tx->c);
	if (tx->shm != NULL && (rc = tx_shm_drain(tx)) != 0 &&
	    rc != TX_SHM_SOCKET) {
		pthread_mutex_unlock(&tx->c->mu);
		return rc;
	}
	rc = pipeline_slot(tx);
	/* A failure met while waiting for room is reported first. */
	if (tx->async_rc != 0)
		rc = pipeline_take_error(tx);
	else if (rc == 0)
		rc = pipeline_queue(tx, data, len);
	pthread_mutex_unlock(&tx->c->mu);
	return rc;
}

int
chan_tx_flush(chan_tx *tx)
{
	int rc;

	if (tx == NULL)
		return CHAN_EINVAL;
	conn_lock(tx->c);
	tx->errmsg[0] = '\0';
	rc = pipeline_flush_locked(tx, 0);
	pthread_mutex_unlock(&tx->c->mu);
	return rc;
}

unsigned
chan_tx_unconfirmed(const chan_tx *tx)
{
	unsigned n;

	if (tx == NULL)
		return 0;
	conn_lock(tx->c);
	n = tx->unconfirmed;
	pthread_mutex_unlock(&tx->c->mu);
	return n;
}

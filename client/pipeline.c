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

/* Drops confirmed slots from the head of the ring. */
static void
pipeline_trim(struct chan_tx *tx)
{
	while (tx->used > 0 && tx->ring[tx->head].done) {
		tx->head = (tx->head + 1) % tx->ring_cap;
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

/*
 * The connection's index gives the transmitter a reply confirms, and the
 * send's ordinal, in constant time however many transmitters share the
 * connection. Slots hold consecutive ordinals from the head, so the
 * ordinal's distance from the head's is the slot's.
 */
int
pipeline_reply(struct chan_client *c, const struct proto_msg *m)
{
	struct chan_tx *tx;
	struct tx_slot *s;
	uint32_t ord;

	if (c->unconfirmed == 0 ||
	    ridmap_take(&c->rids, m->rid, &tx, &ord) != 0)
		return 0;
	s = &tx->ring[(tx->head + (ord - (uint32_t)tx->ring[tx->head].ord)) %
	    tx->ring_cap];
	if (s->rid != m->rid || s->done)
		return 0;		/* cannot happen: the index is exact */
	if (m->op == PROTO_ERROR)
		pipeline_fail(tx, s, m);
	s->done = 1;
	tx->unconfirmed--;
	c->unconfirmed--;
	pipeline_trim(tx);
	pthread_cond_broadcast(&c->cv);
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
	for (i = 0; i < tx->used; i++) {
		s = &tx->ring[(tx->head + i) % tx->ring_cap];
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
		ring[i] = tx->ring[(tx->head + i) % tx->ring_cap];
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

/* Queues the SEND frame in the batch and its slot in the ring. */
static int
pipeline_queue(struct chan_tx *tx, const void *data, size_t len)
{
	struct chan_client *c = tx->c;
	struct conn_req r;
	struct tx_slot *s;
	uint64_t ord = tx->next_ord + 1;
	uint32_t ord32;
	int rc;

	conn_req_init(c, &r, PROTO_OK, NULL);
	if ((rc = ridmap_put(&c->rids, r.rid, tx, (uint32_t)ord)) != 0)
		return rc;
	if ((rc = proto_enc_send(&c->wbuf, r.rid, tx->handle, data, len)) != 0) {
		(void)ridmap_take(&c->rids, r.rid, &tx, &ord32);
		return rc;
	}
	s = &tx->ring[(tx->head + tx->used) % tx->ring_cap];
	s->rid = r.rid;
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
	pthread_mutex_lock(&tx->c->mu);
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
	pthread_mutex_lock(&tx->c->mu);
	n = tx->unconfirmed;
	pthread_mutex_unlock(&tx->c->mu);
	return n;
}

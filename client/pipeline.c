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
		tx->head = (tx->head + 1) % tx->window;
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
 * The connection's index gives the transmitter and slot a reply confirms
 * in constant time, however many transmitters share the connection.
 */
int
pipeline_reply(struct chan_client *c, const struct proto_msg *m)
{
	struct chan_tx *tx;
	struct tx_slot *s;
	uint32_t i;

	if (c->unconfirmed == 0 || ridmap_take(&c->rids, m->rid, &tx, &i) != 0)
		return 0;
	s = &tx->ring[i];
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
	uint32_t i, slot;

	/* Late replies to these sends must find nothing. */
	for (i = 0; i < tx->used; i++) {
		s = &tx->ring[(tx->head + i) % tx->window];
		if (!s->done)
			(void)ridmap_take(&tx->c->rids, s->rid, &owner, &slot);
	}
	tx->c->unconfirmed -= tx->unconfirmed;
	tx->unconfirmed = 0;
	tx->used = 0;
	free(tx->ring);
	tx->ring = NULL;
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

/* A free slot: waits for one, or CHAN_EAGAIN in non-blocking mode. */
static int
pipeline_slot(struct chan_tx *tx)
{
	if (tx->ring == NULL &&
	    (tx->ring = calloc(tx->window, sizeof(*tx->ring))) == NULL)
		return CHAN_ENOMEM;
	if (tx->used < tx->window)
		return 0;
	if (tx->c->nonblock) {
		/* What the daemon already answered may free a slot. */
		if (conn_read_nb(tx->c, CONN_PROCESS_MAX) == 0 &&
		    tx->used < tx->window)
			return 0;
		conn_write_nb(tx->c);
		return tx->c->dead ? CHAN_ECONNLOST : CHAN_EAGAIN;
	}
	return pipeline_wait(tx, pipeline_has_room);
}

/* Queues the SEND frame in the batch and its slot in the ring. */
static int
pipeline_queue(struct chan_tx *tx, const void *data, size_t len)
{
	struct chan_client *c = tx->c;
	struct conn_req r;
	struct tx_slot *s;
	uint32_t i;
	int rc;

	conn_req_init(c, &r, PROTO_OK, NULL);
	i = (tx->head + tx->used) % tx->window;
	if ((rc = ridmap_put(&c->rids, r.rid, tx, i)) != 0)
		return rc;
	if ((rc = proto_enc_send(&c->wbuf, r.rid, tx->handle, data, len)) != 0) {
		(void)ridmap_take(&c->rids, r.rid, &tx, &i);
		return rc;
	}
	s = &tx->ring[i];
	s->rid = r.rid;
	s->done = 0;
	s->ord = ++tx->next_ord;
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

/*
 * channel.c: the state of one channel. See channel.h.
 */
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "proto.h"

struct channel *
channel_new(const void *name, size_t len, struct channel_totals *totals)
{
	struct channel	*ch;

	if (len == 0 || len > PROTO_NAME_MAX)
		return (NULL);
	ch = calloc(1, sizeof(*ch) + len + 1);
	if (ch == NULL)
		return (NULL);
	memcpy(ch->name, name, len);
	ch->name[len] = '\0';
	ch->name_len = (uint16_t)len;
	ch->qtailp = &ch->qhead;
	ch->ftailp = &ch->fhead;
	ch->totals = totals;
	return (ch);
}

/* Counts a message of len payload bytes in (add) or out of the sums. */
static void
channel_account(struct channel *ch, size_t len, bool add)
{
	struct channel_totals	*t = ch->totals;

	if (add) {
		ch->bytes += len;
		if (t != NULL) {
			t->bytes += len;
			t->msgs++;
		}
		return;
	}
	ch->bytes -= len;
	if (t != NULL) {
		t->bytes -= len;
		t->msgs--;
	}
}

static void
channel_free_list(struct channel *ch, struct message *m)
{
	struct message	*next;

	for (; m != NULL; m = next) {
		next = m->next;
		channel_account(ch, m->len, false);
		free(m);
	}
}

void
channel_free(struct channel *ch)
{
	if (ch == NULL)
		return;
	channel_free_list(ch, ch->qhead);
	channel_free_list(ch, ch->fhead);
	free(ch);
}

int
channel_push(struct channel *ch, const void *payload, size_t len)
{
	struct message	*m;

	if (len > UINT32_MAX)
		return (CHAN_ETOOBIG);
	m = malloc(sizeof(*m) + len);
	if (m == NULL)
		return (CHAN_ENOMEM);
	m->next = NULL;
	m->seq = 0;
	m->len = (uint32_t)len;
	m->flags = 0;
	if (len > 0)
		memcpy(m->data, payload, len);

	*ch->qtailp = m;
	ch->qtailp = &m->next;
	ch->nqueued++;
	ch->msgs_in++;
	channel_account(ch, len, true);
	return (0);
}

struct message *
channel_take(struct channel *ch)
{
	struct message	*m;

	if (ch->consumer == NULL || ch->credit == 0 || ch->qhead == NULL)
		return (NULL);
	m = ch->qhead;
	ch->qhead = m->next;
	if (ch->qhead == NULL)
		ch->qtailp = &ch->qhead;
	ch->nqueued--;

	m->next = NULL;
	m->seq = ++ch->last_seq;
	*ch->ftailp = m;
	ch->ftailp = &m->next;
	ch->ninflight++;

	ch->credit--;
	ch->msgs_out++;
	if (m->flags & PROTO_FLAG_REDELIVERED)
		ch->redeliveries++;
	return (m);
}

int
channel_ack(struct channel *ch, uint64_t seq)
{
	struct message	*m;

	if (seq > ch->last_seq)
		return (CHAN_EPROTO);
	while ((m = ch->fhead) != NULL && m->seq <= seq) {
		ch->fhead = m->next;
		ch->ninflight--;
		channel_account(ch, m->len, false);
		free(m);
	}
	if (ch->fhead == NULL)
		ch->ftailp = &ch->fhead;
	return (0);
}

void
channel_credit(struct channel *ch, uint32_t n)
{
	uint32_t	room = PROTO_CREDIT_MAX - ch->credit;

	ch->credit += n < room ? n : room;
}

int
channel_consumer_attach(struct channel *ch, void *consumer)
{
	if (ch->consumer != NULL)
		return (CHAN_EBUSY);
	ch->consumer = consumer;
	ch->credit = 0;
	ch->last_seq = 0;
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
	}
	ch->fhead = NULL;
	ch->ftailp = &ch->fhead;
	ch->ninflight = 0;

	ch->consumer = NULL;
	ch->credit = 0;
	ch->last_seq = 0;
}

void
channel_producer_attach(struct channel *ch)
{
	ch->producers++;
	ch->armed = true;
}

void
channel_producer_detach(struct channel *ch)
{
	if (ch->producers > 0)
		ch->producers--;
}

bool
channel_should_report(const struct channel *ch)
{
	return (ch->qhead == NULL && ch->fhead == NULL &&
	    ch->producers == 0 && ch->armed &&
	    ch->consumer != NULL && ch->credit > 0);
}

void
channel_mark_reported(struct channel *ch)
{
	ch->armed = false;
}

bool
channel_is_idle(const struct channel *ch)
{
	return (ch->producers == 0 && ch->consumer == NULL &&
	    ch->qhead == NULL && ch->fhead == NULL);
}

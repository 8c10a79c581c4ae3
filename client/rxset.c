/* SPDX-License-Identifier: MIT */
/*
 * rxset.c: a standing set of receivers of one connection, received from
 * as one (chan_rxset_recv), like an epoll set or crossbeam's Select
 * built once and selected on many times.
 *
 * What chan_select does on every call, a set does once, when a receiver
 * joins: marking it and asking credit for its prefetch window. A member
 * keeps that window open for as long as it is a member; taking a message
 * asks for the credit that refills it (sent with the next write), so the
 * work of a receive does not grow with the members that have nothing.
 * What is ready is on the set's own ready list, in the order the members
 * got something; a member that still holds more after a receive goes
 * behind the others, so a busy channel cannot starve the rest.
 */
#include <stdlib.h>

#include "client.h"

struct chan_rxset {
	LIST_ENTRY(chan_rxset)	 entry;		/* on c->sets */
	struct chan_client	*c;
	TAILQ_HEAD(, chan_rx)	 members;
	TAILQ_HEAD(, chan_rx)	 ready;		/* FIFO not empty */
	size_t			 n;
};

void
rxset_rx_ready(struct chan_rx *rx)
{
	TAILQ_INSERT_TAIL(&rx->set->ready, rx, set_ready_entry);
}

void
rxset_rx_empty(struct chan_rx *rx)
{
	TAILQ_REMOVE(&rx->set->ready, rx, set_ready_entry);
}

void
rxset_leave(struct chan_rx *rx)
{
	struct chan_rxset *set = rx->set;

	if (rx->head != NULL)
		TAILQ_REMOVE(&set->ready, rx, set_ready_entry);
	TAILQ_REMOVE(&set->members, rx, set_entry);
	set->n--;
	rx->set = NULL;
}

/*
 * rx left its set: with a window of 1 it gives its credit back (RECALL,
 * sent with the next write) or forgets the grant not yet sent, as a
 * receive that ends does; a wider window stays, asked for ahead of
 * receives (chanclient.h).
 */
static void
rxset_give_back(struct chan_rx *rx)
{
	if (rx->prefetch > 1)
		return;
	rx->grant = 0;
	(void)rx_enc_recall(rx);
}

static void
rxset_free_locked(struct chan_rxset *set)
{
	struct chan_rx *rx;

	while ((rx = TAILQ_FIRST(&set->members)) != NULL) {
		rxset_leave(rx);
		rxset_give_back(rx);
	}
	LIST_REMOVE(set, entry);
	free(set);
}

void
rxset_free_all(struct chan_client *c)
{
	struct chan_rxset *set;

	while ((set = LIST_FIRST(&c->sets)) != NULL)
		rxset_free_locked(set);
}

int
chan_rxset_new(chan_client *c, chan_rxset **out)
{
	struct chan_rxset *set;

	if (c == NULL || out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return CHAN_ENOMEM;
	set->c = c;
	TAILQ_INIT(&set->members);
	TAILQ_INIT(&set->ready);
	conn_lock(c);
	LIST_INSERT_HEAD(&c->sets, set, entry);
	pthread_mutex_unlock(&c->mu);
	*out = set;
	return 0;
}

int
chan_rxset_add(chan_rxset *set, chan_rx *rx)
{
	struct chan_client *c;

	if (set == NULL || rx == NULL || rx->c != set->c)
		return CHAN_EINVAL;
	c = set->c;
	conn_lock(c);
	if (rx->set != NULL || rx->closing) {
		pthread_mutex_unlock(&c->mu);
		return CHAN_EINVAL;
	}
	/* A member takes its messages from the daemon (as in a select). */
	rx_direct_select(rx);
	rx->set = set;
	TAILQ_INSERT_TAIL(&set->members, rx, set_entry);
	set->n++;
	if (rx->head != NULL)
		rxset_rx_ready(rx);
	rx_want_credit(rx);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int
chan_rxset_remove(chan_rxset *set, chan_rx *rx)
{
	struct chan_client *c;

	if (set == NULL || rx == NULL || rx->set != set)
		return CHAN_EINVAL;
	c = set->c;
	conn_lock(c);
	rxset_leave(rx);
	rxset_give_back(rx);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

size_t
chan_rxset_len(const chan_rxset *set)
{
	size_t n;

	if (set == NULL)
		return 0;
	conn_lock(set->c);
	n = set->n;
	pthread_mutex_unlock(&set->c->mu);
	return n;
}

void
chan_rxset_free(chan_rxset *set)
{
	struct chan_client *c;

	if (set == NULL)
		return;
	c = set->c;
	conn_lock(c);
	rxset_free_locked(set);
	pthread_mutex_unlock(&c->mu);
}

/* Takes from the member ready longest: 0 or an error, else 1. */
static int
rxset_take(struct chan_rxset *set, chan_rx **from, struct chan_msg **out)
{
	struct chan_rx *rx;
	int rc;

	if ((rx = TAILQ_FIRST(&set->ready)) == NULL)
		return 1;
	*from = rx;
	rc = rx_take(rx, out);
	if (rx->head != NULL) {
		TAILQ_REMOVE(&set->ready, rx, set_ready_entry);
		TAILQ_INSERT_TAIL(&set->ready, rx, set_ready_entry);
	}
	return rc;
}

static int
rxset_ready(void *arg)
{
	return !TAILQ_EMPTY(&((struct chan_rxset *)arg)->ready);
}

/*
 * What the daemon had when it read the credit just written has been
 * dispatched (a PING; in non-blocking mode only the write): then takes.
 */
static int
rxset_last_look(struct chan_rxset *set, int bound_ms, chan_rx **from,
    struct chan_msg **out)
{
	int rc;

	if ((rc = rx_enc_due(set->c)) != 0 ||
	    (rc = conn_barrier(set->c, bound_ms, NULL)) != 0)
		return rc;
	rc = rxset_take(set, from, out);
	if (rc == 1) {
		*from = NULL;
		return CHAN_ETIMEDOUT;
	}
	return rc;
}

/*
 * With c->mu held and nothing ready: waits for a member to get something
 * (timeout_ms < 0: for ever), then takes.
 */
static int
rxset_wait_locked(struct chan_rxset *set, int timeout_ms, chan_rx **from,
    struct chan_msg **out)
{
	struct chan_client *c = set->c;
	struct timespec deadline;
	int rc;

	if (timeout_ms >= 0)
		conn_deadline(&deadline, timeout_ms);
	if ((rc = rx_enc_due(c)) != 0 || (rc = conn_write(c)) != 0)
		return rc;
	rc = conn_wait(c, rxset_ready, set, timeout_ms >= 0 ? &deadline :
	    NULL);
	/* As chan_rx_recv_timeout: what the daemon already had wins. */
	if (rc == CHAN_ETIMEDOUT)
		return rxset_last_look(set, CONN_LAST_LOOK_MS, from, out);
	if (rc != 0)
		return rc;
	return rxset_take(set, from, out);
}

/* With c->mu held. In a stream most receives find something: no clock,
   no write. */
static int
rxset_recv_locked(struct chan_rxset *set, int timeout_ms, chan_rx **from,
    struct chan_msg **out)
{
	int rc;

	if ((rc = rxset_take(set, from, out)) != 1)
		return rc;
	if (timeout_ms == 0)
		return rxset_last_look(set, CONN_PING_MS, from, out);
	return rxset_wait_locked(set, timeout_ms, from, out);
}

int
chan_rxset_recv(chan_rxset *set, int timeout_ms, chan_rx **from,
    chan_msg **out)
{
	struct chan_client *c;
	int rc;

	if (set == NULL || from == NULL || out == NULL)
		return CHAN_EINVAL;
	*from = NULL;
	*out = NULL;
	c = set->c;
	conn_lock(c);
	if (set->n == 0)
		rc = CHAN_EINVAL;
	else if (c->dead)
		rc = CHAN_ECONNLOST;
	else
		rc = rxset_recv_locked(set, timeout_ms, from, out);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

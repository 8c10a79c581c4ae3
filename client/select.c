/* SPDX-License-Identifier: MIT */
/*
 * select.c: receiving from any of several receivers of one connection, as
 * crossbeam's select! or Go's select over receive cases. Every receiver
 * gets credit for its own prefetch while the caller waits.
 *
 * What is ready is found on the connection's ready list (receivers whose
 * FIFO holds something, the longest waiting first), not by looking at
 * every receiver given: with thousands of receivers, each dispatch during
 * a wait would otherwise cost a look at all of them. A call marks its
 * receivers once (sel_gen); a receiver taken from that still holds more
 * goes to the back of the list, so that a busy channel cannot starve the
 * others.
 */
#include "client.h"

struct select_set {
	chan_rx *const	*rxs;
	size_t		 n;
	unsigned	 gen;
	int		 grouped;	/* one credit for all (SELECT) */
};

/* The first ready receiver of the set, or NULL. */
static struct chan_rx *
select_first(const struct select_set *set)
{
	struct chan_rx *rx;

	TAILQ_FOREACH(rx, &set->rxs[0]->c->ready, ready_entry) {
		if (rx->sel_gen == set->gen)
			return rx;
	}
	return NULL;
}

/* Takes from the first receiver with something: 0 or an error, else 1. */
static int
select_take(const struct select_set *set, size_t *index, struct chan_msg **out)
{
	struct chan_client *c = set->rxs[0]->c;
	struct chan_rx *rx;
	int rc;

	if ((rx = select_first(set)) == NULL)
		return 1;
	*index = rx->sel_index;
	rc = rx_take(rx, out);
	if (rx->head != NULL) {
		TAILQ_REMOVE(&c->ready, rx, ready_entry);
		TAILQ_INSERT_TAIL(&c->ready, rx, ready_entry);
	}
	return rc;
}

static int
select_ready(void *arg)
{
	return select_first(arg) != NULL;
}

/* Marks the set's receivers as this call's, with their indexes. */
static void
select_mark(struct select_set *set)
{
	struct chan_client *c = set->rxs[0]->c;
	size_t i;

	set->gen = ++c->sel_gen;
	for (i = 0; i < set->n; i++) {
		set->rxs[i]->sel_gen = set->gen;
		set->rxs[i]->sel_index = i;
	}
}

/*
 * Whether the set's receivers share one credit for the call (SELECT):
 * when each asks for one message at a time and the daemon serves it, so
 * that the call takes one message from all of them together, as Rust's
 * and crossbeam's selects complete one operation. Receivers with a wider
 * prefetch window asked for messages ahead of their receives, and each
 * keeps its own window.
 */
static int
select_grouped(const struct select_set *set)
{
	const struct chan_client *c = set->rxs[0]->c;
	size_t i;

	if (!(c->features & PROTO_FEAT_SELECT) || c->nonblock ||
	    set->n > PROTO_SELECT_MAX)
		return 0;
	for (i = 0; i < set->n; i++) {
		if (set->rxs[i]->prefetch > 1)
			return 0;
	}
	return 1;
}

/*
 * Appends every receiver's due acknowledgement and credit, together: its
 * own for each, or one credit shared by the set (SELECT).
 */
static int
select_prepare(const struct select_set *set)
{
	struct chan_client *c = set->rxs[0]->c;
	uint32_t h[PROTO_SELECT_MAX];
	size_t i;
	int rc;

	/* A select's receivers take their messages from the daemon. */
	for (i = 0; i < set->n; i++)
		rx_direct_select(set->rxs[i]);
	if (!set->grouped) {
		for (i = 0; i < set->n; i++)
			rx_want_credit(set->rxs[i]);
		return rx_enc_due(c);
	}
	if ((rc = rx_enc_due(c)) != 0)
		return rc;
	for (i = 0; i < set->n; i++) {
		h[i] = set->rxs[i]->handle;
		set->rxs[i]->credit = 0;
		set->rxs[i]->grant = 0;
	}
	return proto_enc_select(&c->wbuf, 0, 1, h, (uint32_t)set->n);
}

/*
 * Takes back the credit of the set's receivers (RECALL, no answer
 * awaited), but for keep: the select is over for them. Receivers with a
 * prefetch window over 1 keep theirs unless all is true: they asked for
 * messages ahead of the receives (chanclient.h).
 */
static int
select_recall(const struct select_set *set, const struct chan_rx *keep,
    int all)
{
	struct chan_rx *rx;
	size_t i;
	int rc;

	for (i = 0; i < set->n; i++) {
		rx = set->rxs[i];
		if (rx == keep || (!all && rx->prefetch > 1))
			continue;
		if ((rc = rx_enc_recall(rx)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Takes, then ends the select for the other receivers: the shared credit,
 * or each one's own (select_recall), comes back.
 */
static int
select_take_end(const struct select_set *set, size_t *index,
    struct chan_msg **out)
{
	struct chan_client *c = set->rxs[0]->c;
	int rc, wrc;

	if ((rc = select_take(set, index, out)) == 1)
		return 1;
	if (set->grouped)
		wrc = proto_enc_recall(&c->wbuf, 0, set->rxs[0]->handle);
	else
		wrc = select_recall(set, set->rxs[*index], 0);
	if (wrc == 0)
		wrc = conn_write(c);
	if (wrc != 0 && rc == 0) {
		chan_msg_free(*out);
		*out = NULL;
		return wrc;
	}
	return rc;
}

/*
 * Asks the daemon for what it has now, then takes: every receiver's
 * credit is taken back (RECALL) and a PING waits for what came before.
 */
static int
select_try(const struct select_set *set, int bound_ms, size_t *index,
    struct chan_msg **out)
{
	struct chan_client *c = set->rxs[0]->c;
	int rc;

	if ((rc = select_prepare(set)) != 0)
		return rc;
	if (set->grouped)
		rc = conn_recall(c, set->rxs[0]->handle, bound_ms, NULL);
	else if ((rc = select_recall(set, NULL, 1)) == 0)
		rc = conn_barrier(c, bound_ms, NULL);
	if (rc != 0)
		return rc;
	rc = select_take(set, index, out);
	return rc == 1 ? CHAN_ETIMEDOUT : rc;
}

/* Timeout 0: what is buffered, else what the daemon has now. */
static int
select_now(const struct select_set *set, size_t *index, struct chan_msg **out)
{
	int rc;

	if (set->rxs[0]->c->dead)
		return CHAN_ECONNLOST;
	if ((rc = select_take(set, index, out)) != 1)
		return rc;
	return select_try(set, CONN_PING_MS, index, out);
}

/* With c->mu held; deadline NULL: for ever. */
static int
select_locked(const struct select_set *set, const struct timespec *deadline,
    size_t *index, struct chan_msg **out)
{
	struct chan_client *c = set->rxs[0]->c;
	int rc;

	if (c->dead)
		return CHAN_ECONNLOST;
	if ((rc = select_take(set, index, out)) != 1)
		return rc;
	if ((rc = select_prepare(set)) != 0 || (rc = conn_write(c)) != 0)
		return rc;
	rc = conn_wait(c, select_ready, (void *)set, deadline);
	/* As chan_rx_recv_timeout: what the daemon already had wins. */
	if (rc == CHAN_ETIMEDOUT)
		return select_try(set, CONN_LAST_LOOK_MS, index, out);
	if (rc != 0)
		return rc;
	return select_take_end(set, index, out);
}

/* Every receiver given, on one connection. */
static int
select_args(chan_rx *const *rxs, size_t n, size_t *index, chan_msg **out)
{
	size_t i;

	if (rxs == NULL || n == 0 || index == NULL || out == NULL)
		return CHAN_EINVAL;
	/* A set's member keeps a window open: the set receives for it. */
	for (i = 0; i < n; i++) {
		if (rxs[i] == NULL || rxs[i]->c != rxs[0]->c ||
		    rxs[i]->set != NULL)
			return CHAN_EINVAL;
	}
	return 0;
}

int
chan_select(chan_rx *const *rxs, size_t n, int timeout_ms, size_t *index,
    chan_msg **out)
{
	struct select_set set = { rxs, n, 0, 0 };
	struct chan_client *c;
	struct timespec deadline;
	int rc;

	if ((rc = select_args(rxs, n, index, out)) != 0)
		return rc;
	*out = NULL;
	*index = 0;
	c = rxs[0]->c;
	conn_lock(c);
	select_mark(&set);
	set.grouped = select_grouped(&set);
	if (timeout_ms == 0)
		rc = select_now(&set, index, out);
	else if (timeout_ms < 0)
		rc = select_locked(&set, NULL, index, out);
	else if (timeout_ms > 0) {
		conn_deadline(&deadline, timeout_ms);
		rc = select_locked(&set, &deadline, index, out);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

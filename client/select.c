/*
 * select.c: receiving from any of several receivers of one connection, as
 * crossbeam's select! or Go's select over receive cases. Every receiver
 * gets credit for its own prefetch while the caller waits; the first
 * receiver looked at turns round from call to call, so that a busy
 * channel cannot starve the others.
 */
#include "client.h"

struct select_set {
	chan_rx *const	*rxs;
	size_t		 n;
	size_t		 start;
};

/* Takes from the first receiver with something: 0 or an error, else 1. */
static int
select_take(const struct select_set *set, size_t *index, struct chan_msg **out)
{
	size_t i, j;
	int rc;

	for (i = 0; i < set->n; i++) {
		j = (set->start + i) % set->n;
		if ((rc = rx_take(set->rxs[j], out)) != 1) {
			*index = j;
			return rc;
		}
	}
	return 1;
}

static int
select_ready(void *arg)
{
	const struct select_set *set = arg;
	size_t i;

	for (i = 0; i < set->n; i++) {
		if (set->rxs[i]->head != NULL)
			return 1;
	}
	return 0;
}

/* Appends every receiver's due acknowledgement and credit, together. */
static int
select_prepare(const struct select_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		rx_want_credit(set->rxs[i]);
	return rx_enc_due(set->rxs[0]->c);
}

/* Asks the daemon for what it has now, then takes. */
static int
select_try(const struct select_set *set, int bound_ms, size_t *index,
    struct chan_msg **out)
{
	struct chan_client *c = set->rxs[0]->c;
	int rc;

	if ((rc = select_prepare(set)) != 0 ||
	    (rc = conn_barrier(c, bound_ms, NULL)) != 0)
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
	return select_take(set, index, out);
}

/* Every receiver given, on one connection. */
static int
select_args(chan_rx *const *rxs, size_t n, size_t *index, chan_msg **out)
{
	size_t i;

	if (rxs == NULL || n == 0 || index == NULL || out == NULL)
		return CHAN_EINVAL;
	for (i = 0; i < n; i++) {
		if (rxs[i] == NULL || rxs[i]->c != rxs[0]->c)
			return CHAN_EINVAL;
	}
	return 0;
}

int
chan_select(chan_rx *const *rxs, size_t n, int timeout_ms, size_t *index,
    chan_msg **out)
{
	struct select_set set = { rxs, n, 0 };
	struct chan_client *c;
	struct timespec deadline;
	int rc;

	if ((rc = select_args(rxs, n, index, out)) != 0)
		return rc;
	*out = NULL;
	*index = 0;
	c = rxs[0]->c;
	pthread_mutex_lock(&c->mu);
	set.start = c->select_next++ % n;
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

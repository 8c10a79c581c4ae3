/* SPDX-License-Identifier: MIT */
/*
 * rx.c: receivers, the consumer end of a channel.
 *
 * A receiver grants the daemon credit for up to `prefetch` messages and
 * keeps what arrives in a local FIFO; DISCONNECTED events sit in the same
 * FIFO as markers (seq 0), so every message delivered before the event is
 * handed out before it is reported. Credit is granted only when the FIFO is
 * empty and the application wants a message, so the client never holds
 * more than `prefetch` messages. Acknowledgements are cumulative: only the
 * highest wanted seq is sent, and always before the library waits on the
 * daemon (the daemon cannot report a disconnection while messages are in
 * flight). A receiver that owes an ACK, or credit for a wait, is on its
 * connection's due list; whenever the library is about to wait, every
 * receiver on it is served, several to a frame (ACKS) when the daemon
 * serves that op. A consumer going round many channels thus acknowledges
 * all it took in one frame per wait, instead of one frame per channel or,
 * worse, none until each channel's own turn to wait comes.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/*
 * Position of the first receiver in c->rxv whose handle is >= handle.
 * The handles sit in the index itself, so a search touches the index,
 * not a receiver at each step. The daemon gives a connection's handles
 * in order, one after the other, so the handles of a consumer's receivers
 * are spread about evenly between the first and the last: a guess in
 * proportion lands on the one wanted (every time, for a connection that
 * only receives), and one miss of the cache replaces a dozen at ten
 * thousand receivers. A wrong guess narrows the binary search.
 */
static size_t
rx_index(const struct chan_client *c, uint32_t handle)
{
	const struct rx_slot *v = c->rxv;
	size_t lo = 0, hi = c->nrxv, mid;
	uint64_t span;

	if (hi > 1 && handle >= v[0].handle && handle <= v[hi - 1].handle) {
		span = v[hi - 1].handle - v[0].handle;
		/* Handles one after the other need no division. */
		if (span == hi - 1)
			mid = handle - v[0].handle;
		else
			mid = (size_t)((uint64_t)(handle - v[0].handle) *
			    (hi - 1) / span);
		if (v[mid].handle == handle)
			return mid;
		if (v[mid].handle < handle)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->rxv[mid].handle < handle)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Deliveries come in runs on one receiver: the last one found is tried
   first. */
struct chan_rx *
rx_find(struct chan_client *c, uint32_t handle)
{
	size_t i;

	/* Its handle is kept beside it: no look at a cold receiver. */
	if (c->rx_last != NULL && c->rx_last_handle == handle)
		return c->rx_last;
	i = rx_index(c, handle);
	if (i == c->nrxv || c->rxv[i].handle != handle)
		return NULL;
	c->rx_last_handle = handle;
	return c->rx_last = c->rxv[i].rx;
}

/* Room for one more receiver in c->rxv: 0 or CHAN_ENOMEM. */
static int
rx_index_reserve(struct chan_client *c)
{
	struct rx_slot *v;
	size_t cap;

	if (c->nrxv < c->rxv_cap)
		return 0;
	cap = c->rxv_cap == 0 ? 8 : c->rxv_cap * 2;
	if ((v = realloc(c->rxv, cap * sizeof(*v))) == NULL)
		return CHAN_ENOMEM;
	c->rxv = v;
	c->rxv_cap = cap;
	return 0;
}

/* Adds rx to c->rxv, which rx_index_reserve has made room in. */
static void
rx_index_add(struct chan_client *c, struct chan_rx *rx)
{
	size_t i = rx_index(c, rx->handle);

	memmove(&c->rxv[i + 1], &c->rxv[i], (c->nrxv - i) * sizeof(*c->rxv));
	c->rxv[i].handle = rx->handle;
	c->rxv[i].rx = rx;
	c->nrxv++;
}

static void
rx_index_remove(struct chan_client *c, struct chan_rx *rx)
{
	size_t i = rx_index(c, rx->handle);

	if (c->rx_last == rx)
		c->rx_last = NULL;
	if (i == c->nrxv || c->rxv[i].rx != rx)
		return;
	memmove(&c->rxv[i], &c->rxv[i + 1],
	    (c->nrxv - i - 1) * sizeof(*c->rxv));
	c->nrxv--;
}

void
rx_due(struct chan_rx *rx)
{
	/* A receiver closing sent its last ACK before its CLOSE. */
	if (rx->due || rx->closing)
		return;
	TAILQ_INSERT_TAIL(&rx->c->due, rx, due_entry);
	rx->due = 1;
}

static void
rx_undue(struct chan_rx *rx)
{
	if (!rx->due)
		return;
	TAILQ_REMOVE(&rx->c->due, rx, due_entry);
	rx->due = 0;
}

void
rx_push(struct chan_rx *rx, struct chan_msg *m)
{
	if (m->seq != 0 && rx->credit > 0)
		rx->credit--;
	rx_append(rx, m);
}

void
rx_append(struct chan_rx *rx, struct chan_msg *m)
{
	m->next = NULL;
	if (rx->tail != NULL)
		rx->tail->next = m;
	else {
		rx->head = m;
		TAILQ_INSERT_TAIL(&rx->c->ready, rx, ready_entry);
		if (rx->set != NULL)
			rxset_rx_ready(rx);
	}
	rx->tail = m;
}

/* Takes the head of the FIFO: 0 (*out set), CHAN_EDISCONNECTED, or 1. */
int
rx_take(struct chan_rx *rx, struct chan_msg **out)
{
	struct chan_msg *m;

	if ((m = rx->head) == NULL)
		return 1;
	if ((rx->head = m->next) == NULL) {
		rx->tail = NULL;
		TAILQ_REMOVE(&rx->c->ready, rx, ready_entry);
		if (rx->set != NULL)
			rxset_rx_empty(rx);
	}
	m->next = NULL;
	/*
	 * A set's member keeps its window open, whoever takes from it; a
	 * disconnected one too, so it is reported again, as every receive
	 * is answered, until a producer attaches.
	 */
	if (rx->set != NULL)
		rx_want_credit(rx);
	if (m->seq == 0) {
		chan_msg_free(m);
		return CHAN_EDISCONNECTED;
	}
	rx->handed = m->seq;
	if ((rx->flags & CHAN_MANUAL_ACK) == 0) {
		rx->ack_want = m->seq;
		rx_due(rx);
	}
	*out = m;
	return 0;
}

static int
rx_ready(void *arg)
{
	return ((struct chan_rx *)arg)->head != NULL;
}

/* Appends the pending ACK, if any, to c->wbuf. */
static int
rx_enc_ack(struct chan_rx *rx)
{
	int rc;

	if (rx->direct != NULL)
		rx_direct_ack(rx);
	if (rx->ack_want <= rx->ack_sent)
		return 0;
	rc = proto_enc_ack(&rx->c->wbuf, 0, rx->handle, rx->ack_want);
	if (rc == 0)
		rx->ack_sent = rx->ack_want;
	return rc;
}

void
rx_want_credit(struct chan_rx *rx)
{
	if (rx->credit > rx->prefetch / 2)
		return;
	rx->grant = rx->prefetch - rx->credit;
	rx_due(rx);
}

/* What rx owes, as an ACKS entry: false if nothing. */
static int
rx_due_entry(const struct chan_rx *rx, struct proto_ack_entry *e)
{
	e->handle = rx->handle;
	e->seq = rx->ack_want > rx->ack_sent ? rx->ack_want : 0;
	e->n = rx->grant;
	return e->seq > 0 || e->n > 0;
}

/* The entry of rx has been encoded: it owes nothing more. */
static void
rx_due_sent(struct chan_rx *rx, const struct proto_ack_entry *e)
{
	if (e->seq > 0)
		rx->ack_sent = e->seq;
	rx->credit += e->n;
	rx->grant = 0;
	rx_undue(rx);
}

/* One receiver's entry as the ACK and CREDIT frames of old. */
static int
rx_enc_single(struct chan_rx *rx, struct proto_ack_entry *e)
{
	int rc;

	if (e->seq > 0 && (rc = proto_enc_ack(&rx->c->wbuf, 0, rx->handle,
	    e->seq)) != 0)
		return rc;
	if (e->seq > 0)
		rx->ack_sent = e->seq;
	e->seq = 0;
	if (e->n > 0 && (rc = proto_enc_credit(&rx->c->wbuf, 0, rx->handle,
	    e->n)) != 0)
		return rc;
	rx_due_sent(rx, e);
	return 0;
}

/* Encodes n entries of the receivers v: ACKS if it may, else singly. */
static int
rx_enc_entries(struct chan_client *c, struct chan_rx **v,
    struct proto_ack_entry *e, uint32_t n)
{
	uint32_t i;
	int rc;

	if (n > 1 && (c->features & PROTO_FEAT_ACKS)) {
		if ((rc = proto_enc_acks(&c->wbuf, 0, e, n)) != 0)
			return rc;
		for (i = 0; i < n; i++)
			rx_due_sent(v[i], &e[i]);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if ((rc = rx_enc_single(v[i], &e[i])) != 0)
			return rc;
	}
	return 0;
}

int
rx_enc_due(struct chan_client *c)
{
	struct proto_ack_entry e[PROTO_ACKS_MAX];
	struct chan_rx *v[PROTO_ACKS_MAX], *rx, *next;
	uint32_t n = 0;
	int rc = 0;

	for (rx = TAILQ_FIRST(&c->due); rx != NULL && rc == 0; rx = next) {
		next = TAILQ_NEXT(rx, due_entry);
		/* A direct reader's acknowledgement goes into its page. */
		if (rx->direct != NULL)
			rx_direct_ack(rx);
		if (!rx_due_entry(rx, &e[n]))
			rx_undue(rx);
		else
			v[n++] = rx;
		if (n == PROTO_ACKS_MAX || (next == NULL && n > 0)) {
			rc = rx_enc_entries(c, v, e, n);
			n = 0;
		}
	}
	return rc;
}

/*
 * Before waiting with an empty FIFO: the credit that refills rx's window
 * when at most half of it is still granted, with every acknowledgement
 * the connection's receivers owe.
 */
int
rx_enc_prepare(struct chan_rx *rx)
{
	rx_want_credit(rx);
	return rx_enc_due(rx->c);
}

int
rx_flush_locked(struct chan_rx *rx)
{
	int rc;

	if (rx->c->dead)
		return CHAN_ECONNLOST;
	if ((rc = rx_enc_ack(rx)) != 0)
		return rc;
	return conn_write(rx->c);
}

void
rx_free(struct chan_rx *rx)
{
	struct chan_msg *m;

	LIST_REMOVE(rx, entry);
	rx_direct_close(rx);
	rx_views_release(rx);
	free(rx->views.buf);
	rx_index_remove(rx->c, rx);
	rx_undue(rx);
	if (rx->set != NULL)
		rxset_leave(rx);
	if (rx->head != NULL)
		TAILQ_REMOVE(&rx->c->ready, rx, ready_entry);
	while ((m = rx->head) != NULL) {
		rx->head = m->next;
		chan_msg_free(m);
	}
	free(rx);
}

int
chan_rx_open(chan_client *c, const char *name, chan_rx **out)
{
	if (name == NULL)
		return CHAN_EINVAL;
	return chan_rx_open_ex(c, name, strlen(name), NULL, out);
}

/*
 * A receiver starts on a cache line, so that what every message reads of
 * it (the first lines of struct chan_rx) takes no line more: a consumer of
 * thousands of channels misses the cache at each one.
 */
#define RX_ALIGN	64

static struct chan_rx *
rx_alloc(void)
{
	size_t size = (sizeof(struct chan_rx) + RX_ALIGN - 1) &
	    ~(size_t)(RX_ALIGN - 1);
	struct chan_rx *rx;

	if ((rx = aligned_alloc(RX_ALIGN, size)) != NULL)
		memset(rx, 0, size);
	return rx;
}

int
chan_rx_open_ex(chan_client *c, const void *name, size_t name_len,
    const chan_open_opts *opts, chan_rx **out)
{
	struct chan_rx *rx;
	chan_open_opts o;
	int rc;

	if (out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	rc = conn_open_args(c, name, name_len, opts,
	    CHAN_MANUAL_ACK | CHAN_FOREVER | CHAN_RX_GONE | CHAN_SHM, &o);
	if (rc == 0 && o.window != 0)
		rc = CHAN_EOPTION;	/* a transmitter's option */
	if (rc != 0)
		return rc;
	/* Allocated first: once the daemon gave a handle, nothing can fail. */
	if ((rx = rx_alloc()) == NULL)
		return CHAN_ENOMEM;
	rx->c = c;
	rx->flags = o.flags;
	rx->prefetch = o.prefetch > 0 ? o.prefetch : 1;

	conn_lock(c);
	rc = rx_index_reserve(c);
	if (rc == 0)
		rc = conn_open(c, PROTO_OPEN_RX, name, name_len, &o, c->errmsg,
		    &rx->handle);
	if (rc == 0) {
		LIST_INSERT_HEAD(&c->rxs, rx, entry);
		rx_index_add(c, rx);
		if ((o.flags & CHAN_SHM || shm_wanted()) &&
		    ((rc = rx_shm_setup(c, rx)) != 0 ||
		    (rc = rx_direct_setup(c, rx)) != 0)) {
			(void)conn_close_handle(c, rx->handle, NULL);
			rx_free(rx);
			rx = NULL;
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (rc != 0) {
		free(rx);	/* NULL once rx_free freed it */
		return rc;
	}
	*out = rx;
	return 0;
}

/*
 * Ends a receive on rx: the daemon delivers what rx's credit allows now,
 * or reports the disconnection, then takes the credit back (RECALL), so
 * that nothing leaves the queue for a receive that has returned and a
 * rendezvous or bounded channel behaves as though none was made. A
 * daemon without RECALL is asked with a PING, and keeps the credit.
 */
int
rx_recall(struct chan_rx *rx, int bound_ms)
{
	struct chan_client *c = rx->c;
	int rc;

	if (!(c->features & PROTO_FEAT_RECALL) || c->nonblock)
		return conn_barrier(c, bound_ms, rx->errmsg);
	rc = conn_recall(c, rx->handle, bound_ms, rx->errmsg);
	/*
	 * Once sent, the RECALL takes the credit whenever the daemon reads
	 * it, answered in time or not: the next receive grants afresh.
	 */
	if (rc == 0 || rc == CHAN_ETIMEDOUT) {
		rx->credit = 0;
		rx->grant = 0;
		if (rx->set != NULL)
			rx_want_credit(rx);
	}
	return rc;
}

int
rx_enc_recall(struct chan_rx *rx)
{
	struct chan_client *c = rx->c;
	int rc;

	if (rx->credit == 0 || !(c->features & PROTO_FEAT_RECALL) ||
	    c->nonblock)
		return 0;
	if ((rc = proto_enc_recall(&c->wbuf, 0, rx->handle)) != 0)
		return rc;
	rx->credit = 0;
	rx->grant = 0;
	if (rx->set != NULL)
		rx_want_credit(rx);
	return 0;
}

/*
 * Grants the credit that is due and asks the daemon for what it has for rx
 * now (rx_recall): afterwards the FIFO holds it.
 */
static int
rx_refill(struct chan_rx *rx, int bound_ms)
{
	int rc;

	if (rx->c->dead)
		return CHAN_ECONNLOST;
	/* Encoders append whole frames or nothing; leftovers go out later. */
	if ((rc = rx_enc_prepare(rx)) != 0)
		return rc;
	return rx_recall(rx, bound_ms);
}

/*
 * After a look's RECALL was answered, with nothing in rx's FIFO. Reading
 * directly may have begun or ended during the look:
 * - the daemon offered the ring (DIRECT_OFFER, dispatched before the
 *   answer), and left the records committed before the RECALL to this
 *   receiver: they are the look's, as a message delivered before the
 *   answer would be;
 * - the daemon took the ring back (DIRECT_OFF, the last producer gone),
 *   and the acknowledgements written into the page went again on the
 *   socket (rx_direct_off), behind the RECALL: until it has them the
 *   daemon counts those messages in flight, so the channel was not yet
 *   disconnected when it answered. The look asks once more, after them.
 */
static int
rx_after_refill(struct chan_rx *rx, bool was_direct, int bound_ms)
{
	if (rx->head != NULL)
		return 0;
	if (rx->direct != NULL) {
		(void)rx_direct_pull(rx);
		/*
		 * An event loop's receive that finds nothing is its last
		 * before it watches the socket: a reader whose FIFO held
		 * messages when chan_client_process armed the others is
		 * armed now, or nothing would wake it. Only rx: the loop
		 * may have drained the others already in this pass.
		 */
		if (rx->head == NULL && rx->c->nonblock)
			rx_direct_rearm(rx);
		return 0;
	}
	if (was_direct)
		return rx_refill(rx, bound_ms);
	return 0;
}

int
rx_look(struct chan_rx *rx, int bound_ms)
{
	bool	was_direct = rx->direct != NULL;
	int	rc;

	if ((rc = rx_refill(rx, bound_ms)) != 0)
		return rc;
	return rx_after_refill(rx, was_direct, bound_ms);
}

/* A receive that does not wait for a message; c->mu held. */
int
rx_try_locked(struct chan_rx *rx, int bound_ms, struct chan_msg **out)
{
	int rc;

	if (rx->c->dead)
		return CHAN_ECONNLOST;
	if ((rc = rx_take(rx, out)) != 1)
		return rc;
	if (rx->direct != NULL && rx_direct_pull(rx) > 0)
		return rx_take(rx, out);
	if ((rc = rx_look(rx, bound_ms)) != 0)
		return rc;
	rc = rx_take(rx, out);
	return rc == 1 ? CHAN_EEMPTY : rc;
}

/*
 * Waits, with rx's FIFO empty, until it holds something, for at most
 * timeout_ms (< 0: for ever); c->mu held. 0, CHAN_ETIMEDOUT (nothing, and
 * the credit taken back) or an error.
 */
int
rx_wait_locked(struct chan_rx *rx, int timeout_ms)
{
	struct chan_client *c = rx->c;
	struct timespec deadline;
	int rc;

	if (timeout_ms >= 0)
		conn_deadline(&deadline, timeout_ms);
	if ((rc = rx_enc_prepare(rx)) != 0 || (rc = conn_write(c)) != 0)
		return rc;
	rx->receiving++;
	rc = conn_wait(c, rx_ready, rx, timeout_ms >= 0 ? &deadline : NULL);
	rx->receiving--;
	if (rc != CHAN_ETIMEDOUT)
		return rc;
	/*
	 * Take the credit back: a message or a disconnection the daemon had
	 * before it saw the RECALL comes first and wins over timing out;
	 * none comes after.
	 */
	rc = rx_recall(rx, CONN_LAST_LOOK_MS);
	if (rc != 0 && rc != CHAN_ETIMEDOUT)
		return rc;
	/* A record committed in a ring read directly is the daemon's too. */
	if (rx->head == NULL && rx->direct != NULL)
		(void)rx_direct_pull(rx);
	return rx->head != NULL ? 0 : CHAN_ETIMEDOUT;
}

/*
 * A blocking receive for at most timeout_ms (< 0: for ever); c->mu held.
 * The deadline is computed only when the FIFO is empty: in a stream most
 * receives find a message buffered and need no clock.
 */
static int
rx_recv_locked(struct chan_rx *rx, int timeout_ms, struct chan_msg **out)
{
	int rc;

	if (rx->c->dead)
		return CHAN_ECONNLOST;
	if ((rc = rx_take(rx, out)) != 1)
		return rc;
	if (rx->direct != NULL && rx_direct_pull(rx) > 0)
		return rx_take(rx, out);
	if ((rc = rx_wait_locked(rx, timeout_ms)) != 0)
		return rc;
	return rx_take(rx, out);
}

int
chan_rx_recv_timeout(chan_rx *rx, int timeout_ms, chan_msg **out)
{
	int rc;

	if (timeout_ms == 0) {
		rc = chan_rx_try_recv(rx, out);
		return rc == CHAN_EEMPTY ? CHAN_ETIMEDOUT : rc;
	}
	if (rx == NULL || out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	conn_lock(rx->c);
	rx->errmsg[0] = '\0';
	rc = rx_recv_locked(rx, timeout_ms, out);
	pthread_mutex_unlock(&rx->c->mu);
	return rc;
}

int
chan_rx_recv(chan_rx *rx, chan_msg **out)
{
	return chan_rx_recv_timeout(rx, -1, out);
}

int
chan_rx_try_recv(chan_rx *rx, chan_msg **out)
{
	int rc;

	if (rx == NULL || out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	conn_lock(rx->c);
	rx->errmsg[0] = '\0';
	rc = rx_try_locked(rx, CONN_PING_MS, out);
	pthread_mutex_unlock(&rx->c->mu);
	return rc;
}

/*
 * Takes what rx has now, asking the daemon (rx_look) whenever the FIFO
 * runs dry: up to max messages, stopping before a disconnection once some
 * were taken. Returns 0 or what stopped it with nothing taken.
 */
static int
rx_drain_locked(struct chan_rx *rx, chan_msg **msgs, size_t max, size_t *n)
{
	int rc;

	while (*n < max) {
		if (rx->head == NULL && rx->direct != NULL)
			(void)rx_direct_pull(rx);
		if (rx->head == NULL) {
			if ((rc = rx_look(rx, CONN_PING_MS)) != 0)
				return *n > 0 && rc != CHAN_ECONNLOST ? 0 : rc;
			if (rx->head == NULL)
				return 0;
		}
		if (rx->head->seq == 0 && *n > 0)
			return 0;
		if ((rc = rx_take(rx, &msgs[*n])) != 0)
			return rc;
		(*n)++;
	}
	return 0;
}

int
chan_rx_drain(chan_rx *rx, chan_msg **msgs, size_t max, size_t *n)
{
	int rc;

	if (rx == NULL || msgs == NULL || n == NULL)
		return CHAN_EINVAL;
	*n = 0;
	conn_lock(rx->c);
	rx->errmsg[0] = '\0';
	rc = rx->c->dead ? CHAN_ECONNLOST : rx_drain_locked(rx, msgs, max, n);
	pthread_mutex_unlock(&rx->c->mu);
	return rc;
}

int
chan_rx_ack(chan_rx *rx, const chan_msg *m)
{
	if (rx == NULL || m == NULL)
		return CHAN_EINVAL;
	conn_lock(rx->c);
	/* Only a message this receiver has handed out can be acknowledged. */
	if (m->handle != rx->handle || m->seq == 0 || m->seq > rx->handed) {
		pthread_mutex_unlock(&rx->c->mu);
		return CHAN_EINVAL;
	}
	if (m->seq > rx->ack_want) {
		rx->ack_want = m->seq;
		rx_due(rx);
	}
	pthread_mutex_unlock(&rx->c->mu);
	return 0;
}

int
chan_rx_flush(chan_rx *rx)
{
	int rc;

	if (rx == NULL)
		return CHAN_EINVAL;
	conn_lock(rx->c);
	if (!rx->c->nonblock)
		rc = rx_flush_locked(rx);
	else if ((rc = rx->c->dead ? CHAN_ECONNLOST : rx_enc_ack(rx)) == 0)
		rc = conn_write_nb(rx->c);
	pthread_mutex_unlock(&rx->c->mu);
	return rc;
}

int
chan_rx_close(chan_rx *rx)
{
	struct chan_client *c;
	int rc;

	if (rx == NULL)
		return CHAN_EINVAL;
	c = rx->c;
	conn_lock(c);
	if (!c->dead)
		rx_direct_ack_last(rx);
	rc = c->dead ? CHAN_ECONNLOST : rx_enc_ack(rx);
	/*
	 * Nothing more goes out for it: an ACKS of the connection's other
	 * receivers written while the CLOSE is answered must not name it
	 * (the daemon would end the connection: no such handle).
	 */
	rx->closing = 1;
	rx_undue(rx);
	if (rc == 0)
		rc = conn_close_handle(c, rx->handle, NULL);
	rx_free(rx);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

const char *
chan_rx_errmsg(const chan_rx *rx)
{
	return rx != NULL ? rx->errmsg : "";
}

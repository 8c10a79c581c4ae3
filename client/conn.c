/* SPDX-License-Identifier: MIT */
/*
 * conn.c: the connection to chand: socket, handshake, requests and the
 * reader that dispatches what the daemon sends. The locking rules are in
 * client.h.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "shmring.h"


void
conn_deadline(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds left until deadline, rounded up; -1 for no deadline. */
static int
conn_remaining_ms(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	if (deadline == NULL)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec + 999999) / 1000000;
	if (ms < 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int
conn_expired(const struct timespec *deadline)
{
	struct timespec now;

	if (deadline == NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec != deadline->tv_sec)
		return now.tv_sec > deadline->tv_sec;
	return now.tv_nsec >= deadline->tv_nsec;
}

void
conn_set_errmsg(char *buf, const char *text, size_t len)
{
	if (text == NULL)
		len = 0;
	if (len > PROTO_ERRMSG_MAX)
		len = PROTO_ERRMSG_MAX;
	if (len > 0)
		memcpy(buf, text, len);
	buf[len] = '\0';
}

int
conn_wire_code(uint32_t code)
{
	switch (code) {
#define CONN_WIRE_CASE(name, num, msg)					\
	case num:							\
		return (num) < 32 ? CHAN_E##name : CHAN_EPROTO;
	CHAN_ERRNO_MAP(CONN_WIRE_CASE)
#undef CONN_WIRE_CASE
	default:
		return CHAN_EPROTO;
	}
}

/*
 * Reading and dispatch.
 */

/*
 * An ERROR without a request id explains why the daemon is closing the
 * connection, or refuses an ACK or a CREDIT (the only requests the
 * library sends with rid 0). A refused CREDIT would leave a receive
 * waiting for ever; a refused ACK means the library and the daemon
 * disagree about what was received. No caller can be told which, so the
 * connection is dropped: every caller gets CHAN_ECONNLOST with the
 * daemon's reason, and the daemon requeues what was not acknowledged.
 */
static void
conn_reject(struct chan_client *c, const struct proto_msg *m)
{
	char why[PROTO_ERRMSG_MAX + 1];
	int len = m->text_len > PROTO_ERRMSG_MAX ? PROTO_ERRMSG_MAX :
	    (int)m->text_len;

	snprintf(why, sizeof(why), "the daemon reported %s: %.*s",
	    chan_errname(conn_wire_code(m->code)), len,
	    m->text != NULL ? m->text : "");
	c->refused = conn_wire_code(m->code);
	conn_fail(c, why);
}

/* Fills in the request a reply answers. */
static void
conn_fill_reply(struct conn_req *r, const struct proto_msg *m)
{
	if (m->op == PROTO_ERROR) {
		r->rc = conn_wire_code(m->code);
		if (r->errbuf != NULL)
			conn_set_errmsg(r->errbuf, m->text, m->text_len);
	} else if (m->op != r->reply) {
		r->rc = CHAN_EPROTO;
		if (r->errbuf != NULL)
			snprintf(r->errbuf, PROTO_ERRMSG_MAX + 1,
			    "daemon answered with %s instead of %s",
			    proto_op_name(m->op), proto_op_name(r->reply));
	} else if (m->op == PROTO_INFO && r->data != NULL &&
	    proto_buf_append(r->data, m->payload, m->payload_len) != 0)
		r->rc = CHAN_ENOMEM;
	/* Only the fields of m->op are set (proto_decode). */
	if (m->op == PROTO_HANDLE)
		r->handle = m->handle;
	if (m->op == PROTO_RING_TOKEN)
		r->token = m->token;
	if (m->op == PROTO_WELCOME) {
		r->version = m->version;
		r->max_msg = m->max_msg;
		r->features = m->features;
	}
}

static void
conn_reply(struct chan_client *c, const struct proto_msg *m)
{
	struct conn_req *r;

	if (m->op == PROTO_ERROR && m->rid == 0) {
		conn_reject(c, m);
		return;
	}
	LIST_FOREACH(r, &c->reqs, entry) {
		if (r->rid == m->rid)
			break;
	}
	if (r == NULL) {
		/* A pipelined send, or a caller that gave up (timeout). */
		pipeline_reply(c, m);
		return;
	}
	conn_fill_reply(r, m);
	r->done = 1;
	LIST_REMOVE(r, entry);
}

static void
conn_deliver(struct chan_client *c, const struct proto_msg *m)
{
	struct chan_rx *rx;
	struct chan_msg *msg;
	int redelivered;

	if ((rx = rx_find(c, m->handle)) == NULL)
		return;
	rx_direct_frame(rx);
	redelivered = (m->flags & PROTO_FLAG_REDELIVERED) != 0;
	msg = msg_new(m->handle, m->seq, redelivered, m->payload,
	    m->payload_len);
	/*
	 * Dropping a delivery would let a later cumulative ACK cover a
	 * message nobody saw; losing the connection returns it to the queue.
	 */
	if (msg == NULL || m->seq == 0) {
		chan_msg_free(msg);
		conn_fail(c, msg == NULL ? "out of memory for a message" :
		    "daemon delivered a message with sequence number 0");
		return;
	}
	rx_push(rx, msg);
}

static void
conn_disconnected(struct chan_client *c, const struct proto_msg *m)
{
	struct chan_rx *rx;
	struct chan_msg *marker;

	if ((rx = rx_find(c, m->handle)) == NULL)
		return;
	rx_direct_frame(rx);
	/* In version 2 the report ends the receiver's credit. */
	if (c->version >= 2)
		rx->credit = 0;
	/* A marker keeps the event behind the messages delivered before it. */
	if ((marker = msg_new(m->handle, 0, 0, NULL, 0)) == NULL) {
		conn_fail(c, "out of memory");
		return;
	}
	rx_push(rx, marker);
}

/*
 * RING_WAKE: the daemon wrote into a ring while the reader slept. The
 * reader reads the ring before it sleeps again (conn_read_once), and an
 * event loop's turn before it returns (chan_client_process): nothing is
 * left to do.
 */
static void
conn_ring_wake(struct chan_client *c, const struct proto_msg *m)
{
	rx_direct_woken(c, m->handle);
}

static void
conn_direct_offer(struct chan_client *c, const struct proto_msg *m)
{
	rx_direct_offer(c, m->handle, m->token);
}

static void
conn_direct_off(struct chan_client *c, const struct proto_msg *m)
{
	rx_direct_off(c, m->handle, m->seq);
}

/*
 * What the library does with each frame the daemon may send, the frames
 * of every message first. A new reply op is matched to its request by
 * conn_reply; conn_fill_reply copies what it carries.
 */
static const struct {
	enum proto_op	 op;
	void		(*fn)(struct chan_client *, const struct proto_msg *);
} conn_handlers[] = {
	{ PROTO_DELIVER, conn_deliver },
	{ PROTO_OK, conn_reply },
	{ PROTO_WELCOME, conn_reply },
	{ PROTO_HANDLE, conn_reply },
	{ PROTO_ERROR, conn_reply },
	{ PROTO_INFO, conn_reply },
	{ PROTO_RING_TOKEN, conn_reply },
	{ PROTO_DISCONNECTED, conn_disconnected },
	{ PROTO_RING_WAKE, conn_ring_wake },
	{ PROTO_DIRECT_OFFER, conn_direct_offer },
	{ PROTO_DIRECT_OFF, conn_direct_off },
};

static void
conn_dispatch_frame(struct chan_client *c, const char *body, size_t len)
{
	struct proto_msg m;
	size_t i;
	int rc;

	rc = proto_decode(c->dec, body, len, &m);
	if (rc == CHAN_EUNKNOWNOP)
		return;		/* an event from a newer daemon: not for us */
	if (rc < 0) {
		conn_fail(c, rc == CHAN_ENOMEM ? "out of memory" :
		    "daemon sent a malformed frame");
		return;
	}
	for (i = 0; i < sizeof(conn_handlers) / sizeof(conn_handlers[0]);
	    i++) {
		if (conn_handlers[i].op == m.op) {
			conn_handlers[i].fn(c, &m);
			return;
		}
	}
	conn_fail(c, "daemon sent a request frame");
}

/*
 * A frame's handler may write (rx_direct_give_up, an ACK), and a write
 * that finds the connection gone reads the daemon's last words: that
 * must not dispatch again from inside a handler, nor read into c->rbuf
 * under the frame being handled. While c->dispatching, nothing reads or
 * dispatches; the frames already read are the outer loop's.
 */
void
conn_dispatch(struct chan_client *c, const char *body, size_t len)
{
	c->dispatching = 1;
	conn_dispatch_frame(c, body, len);
	c->dispatching = 0;
}

/*
 * Decodes and dispatches every complete frame in c->rbuf. The caller then
 * wakes the threads waiting on c->cv (once, not once per frame).
 *
 * The daemon wrote its ring's frames before these: all that the ring
 * holds is dispatched before the first of them that is not a RING_WAKE,
 * which only says "look at the ring", so that a reader woken for its ring
 * takes it in bounded bites (conn_read_once) rather than all at once:
 * thousands of messages allocated together and freed together make malloc
 * give its heap back and fault it in again. Once is enough: every ring
 * frame that precedes a frame of this read was in the ring before the
 * read.
 */
static void
conn_dispatch_all(struct chan_client *c)
{
	const char *body;
	size_t off = 0, body_len;
	int rc, drained = 0;

	if (c->dispatching)
		return;
	while (!c->dead) {
		rc = proto_frame_check(c->rbuf.data + off, c->rbuf.len - off,
		    proto_max_body(c->max_msg), &body_len);
		if (rc == 0)
			break;
		if (rc < 0) {
			conn_fail(c, "daemon sent a frame over the size limit");
			break;
		}
		body = c->rbuf.data + off + PROTO_HEADER_LEN;
		if (c->rx_ring != NULL && !drained &&
		    proto_peek_op(body, body_len) != PROTO_RING_WAKE) {
			rx_shm_dispatch(c, 0);
			drained = 1;
		}
		if (c->dead)
			break;
		conn_dispatch(c, body, body_len);
		off += PROTO_HEADER_LEN + body_len;
	}
	if (c->dead)
		off = c->rbuf.len;
	proto_buf_consume(&c->rbuf, off);
}

/* The most chan_client_set_spin allows: a second. */
#define CONN_SPIN_MAX_US	1000000u

/* conn_fill's answer when the receivers' ring has frames: no CHAN_E*. */
#define CONN_RING_READY	((ssize_t)-1000)
/* The same, found on waking with the socket readable and left unread. */
#define CONN_RING_FIRST	((ssize_t)-1001)
/* A producer woke a direct reader on its wake descriptor. */
#define CONN_WOKEN	((ssize_t)-1002)
/* Spins look at the socket once in this many looks at the ring. */
#define CONN_SPIN_RING_LOOKS	64u

/*
 * The bounded spin (chan_client_set_spin): reads without sleeping until
 * bytes come, spin_us pass or the deadline does, so that a reader who
 * expects a message soon does not pay for being put to sleep and woken.
 * With the receivers' ring (ring, the reader at ring_pos) it watches the
 * ring's head in memory, and the socket now and then. Returns what
 * conn_fill does; 0 if nothing came.
 */
static ssize_t
conn_spin(struct chan_client *c, const struct timespec *deadline,
    unsigned spin_us, int ring, uint64_t ring_pos)
{
	struct timespec end;
	unsigned i;
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_nsec += (long)(spin_us % 1000000u) * 1000;
	end.tv_sec += spin_us / 1000000u + end.tv_nsec / 1000000000;
	end.tv_nsec %= 1000000000;
	if (deadline != NULL && (deadline->tv_sec < end.tv_sec ||
	    (deadline->tv_sec == end.tv_sec &&
	    deadline->tv_nsec < end.tv_nsec)))
		end = *deadline;
	for (i = 0;; i++) {
		if (ring && rx_shm_moved(c, ring_pos, 0))
			return CONN_RING_READY;
		if (ring && i % CONN_SPIN_RING_LOOKS != 0) {
			if ((i & 63) == 63 && conn_expired(&end))
				return 0;
			continue;
		}
		n = recv(c->fd, c->rbuf.data + c->rbuf.len,
		    c->rbuf.cap - c->rbuf.len, MSG_DONTWAIT);
		if (n > 0) {
			c->rbuf.len += (size_t)n;
			return n;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR))
			return CHAN_ECONNLOST;
		if ((i & 7) == 7 && conn_expired(&end))
			return 0;
	}
}

/*
 * Waits for the socket to be readable (until deadline) and reads what is
 * there into c->rbuf, after spinning for spin_us (the connection's, read
 * under c->mu). With ring, the receivers' ring is watched too (the
 * reader at ring_pos), and asked for a RING_WAKE before the sleep. With
 * look, a wake-up looks at the rings before it reads the socket (c->mu
 * taken for that look): a RING_WAKE says only "look at the ring", so the
 * records go to the receiver without waiting for a read and a decoding,
 * and the frame is read on the next round. Runs without c->mu, as the
 * reader. The nw descriptors of wfd (direct readers' wake descriptors)
 * are polled with the socket, and drained when readable (*woken then
 * says so); gone[i] says wfd[i] hung up. A wake-up with the socket readable too is taken as a
 * RING_WAKE would be (look: the rings first, the socket on the next
 * round; else the socket now), so that wake-ups written at will cannot
 * keep the socket unread. Returns the number of bytes read,
 * CONN_RING_READY if the ring has frames (CONN_RING_FIRST if found so,
 * the socket unread), CONN_WOKEN if a wake descriptor was readable and
 * the socket not, 0 on timeout or interruption, CHAN_ECONNLOST at end of
 * stream or on error, CHAN_ENOMEM.
 */
static ssize_t
conn_fill(struct chan_client *c, const struct timespec *deadline,
    unsigned spin_us, int ring, uint64_t ring_pos, int look, int *wfd,
    size_t nw, int *woken, int *gone)
{
	struct pollfd pfd[1 + RX_DIRECT_WATCH];
	size_t want = CONN_READ_CHUNK, body_len, i;
	ssize_t n;
	int found;

	*woken = 0;
	/* A partial frame: make room for all of it at once. */
	if (c->rbuf.len >= PROTO_HEADER_LEN &&
	    proto_frame_check(c->rbuf.data, c->rbuf.len,
	    proto_max_body(c->max_msg), &body_len) == 0 &&
	    PROTO_HEADER_LEN + body_len - c->rbuf.len > want)
		want = PROTO_HEADER_LEN + body_len - c->rbuf.len;
	if (proto_buf_reserve(&c->rbuf, want) != 0)
		return CHAN_ENOMEM;
	if (spin_us > 0 && (n = conn_spin(c, deadline, spin_us, ring,
	    ring_pos)) != 0)
		return n;
	if (ring && c->ndwatch > 0) {
		/* Direct rings are armed with c->mu: they may come and go. */
		pthread_mutex_lock(&c->mu);
		n = rx_direct_arm(c);
		nw = rx_direct_wake_fds(c, wfd, RX_DIRECT_WATCH);
		pthread_mutex_unlock(&c->mu);
		if (n != 0)
			return CONN_RING_READY;
	}
	if (ring && rx_shm_moved(c, ring_pos, 1))
		return CONN_RING_READY;

	pfd[0].fd = c->fd;
	pfd[0].events = POLLIN;
	for (i = 0; i < nw; i++) {
		pfd[1 + i].fd = wfd[i];
		pfd[1 + i].events = POLLIN;
	}
	n = poll(pfd, 1 + nw, conn_remaining_ms(deadline));
	if (n < 0 && errno != EINTR)
		return CHAN_ECONNLOST;
	if (n <= 0)
		return 0;
	for (i = 0; i < nw; i++) {
		gone[i] = (pfd[1 + i].revents & (POLLHUP | POLLERR |
		    POLLNVAL)) != 0;
		/* Non-blocking: empty is EAGAIN, and fine. */
		if ((pfd[1 + i].revents & POLLIN) && wake_drain(wfd[i]) > 0)
			*woken = 1;
		if (gone[i])
			*woken = 1;
	}
	/* Readable, or hung up or failed: a read says which. */
	if (pfd[0].revents == 0)
		return *woken ? CONN_WOKEN : 0;
	if (look && *woken)
		return CONN_RING_FIRST;
	if (look) {
		pthread_mutex_lock(&c->mu);
		found = rx_shm_woken(c);
		pthread_mutex_unlock(&c->mu);
		if (found)
			return CONN_RING_FIRST;
	}
	n = read(c->fd, c->rbuf.data + c->rbuf.len, c->rbuf.cap - c->rbuf.len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return CHAN_ECONNLOST;
	c->rbuf.len += (size_t)n;
	return n;
}

/*
 * Before going back to an event loop, which watches the socket only: the
 * ring must be empty, with the daemon asked for a RING_WAKE. The
 * receivers' credit bounds what the daemon may still write.
 */
static void
conn_ring_rearm(struct chan_client *c)
{
	while (!c->dead && c->rx_ring != NULL && rx_shm_arm(c))
		rx_shm_dispatch(c, 0);
}

/* Called with c->mu held and no reader: one round as the reader. */
static void
conn_read_once(struct chan_client *c, const struct timespec *deadline)
{
	unsigned spin_us = c->spin_us;
	uint64_t ring_pos = 0;
	int ring = 0, ready = 0, look, woken, wfd[RX_DIRECT_WATCH];
	int gone[RX_DIRECT_WATCH];
	size_t nw, i;
	ssize_t n;

	/*
	 * Frames in a ring: dispatched now, not waited for. A reader that
	 * spins watches the ring unarmed, so the daemon need not write it a
	 * RING_WAKE meanwhile.
	 */
	if (c->rx_ring != NULL && spin_us > 0 && !c->nonblock) {
		ring = 1;
		ready = rx_shm_ready(c, &ring_pos);
	} else if (c->rx_ring != NULL)
		ready = rx_shm_arm(c);
	if (ready) {
		rx_shm_dispatch(c, CONN_READ_CHUNK);
		pthread_cond_broadcast(&c->cv);
		return;
	}
	/* Once a round: the next one reads what woke this one. */
	look = c->rx_ring != NULL && !c->nonblock && !c->ring_first;
	c->ring_first = 0;
	/* Closed only once this read ends (rx_direct_reap). */
	nw = rx_direct_wake_fds(c, wfd, RX_DIRECT_WATCH);
	c->reading = 1;
	pthread_mutex_unlock(&c->mu);
	n = conn_fill(c, deadline, spin_us, ring, ring_pos, look, wfd, nw,
	    &woken, gone);
	pthread_mutex_lock(&c->mu);
	c->reading = 0;
	rx_direct_reap(c);
	for (i = 0; i < nw && woken; i++) {
		if (gone[i])
			rx_direct_wake_gone(c, wfd[i]);
	}
	if (woken)
		rx_direct_woken_all(c);
	if (n == CONN_RING_FIRST)
		c->ring_first = 1;
	if (n == CONN_WOKEN)
		n = CONN_RING_READY;
	if (n == CONN_RING_READY || n == CONN_RING_FIRST) {
		rx_shm_dispatch(c, CONN_READ_CHUNK);
		pthread_cond_broadcast(&c->cv);
		return;
	}
	if (n == CHAN_ENOMEM)
		conn_fail(c, "out of memory for the read buffer");
	else if (n < 0)
		conn_fail(c, "daemon closed the connection");
	else if (n > 0)
		conn_dispatch_all(c);
	/* A RING_WAKE read here disarmed the ring an event loop relies on. */
	if (c->nonblock)
		conn_ring_rearm(c);
	pthread_cond_broadcast(&c->cv);
}

void
conn_lock(struct chan_client *c)
{
	pthread_mutex_lock(&c->mu);
	conn_commit_held(c);
}

int
conn_wait(struct chan_client *c, int (*done)(void *), void *arg,
    const struct timespec *deadline)
{
	for (;;) {
		if (done(arg))
			return 0;
		if (c->dead)
			return CHAN_ECONNLOST;
		if (conn_expired(deadline))
			return CHAN_ETIMEDOUT;
		if (!c->reading)
			conn_read_once(c, deadline);
		else if (deadline != NULL)
			pthread_cond_timedwait(&c->cv, &c->mu, deadline);
		else
			pthread_cond_wait(&c->cv, &c->mu);
	}
}

/*
 * Writing and requests.
 */

/*
 * Marks the connection lost: every waiting request fails, every later
 * call returns CHAN_ECONNLOST. shutdown() rather than close() because
 * another thread may be in poll() on the descriptor; it wakes that thread.
 */
void
conn_fail(struct chan_client *c, const char *reason)
{
	struct conn_req *r;

	if (c->dead)
		return;
	c->dead = 1;
	conn_set_errmsg(c->errmsg, reason, strlen(reason));
	shutdown(c->fd, SHUT_RDWR);
	while ((r = LIST_FIRST(&c->reqs)) != NULL) {
		r->rc = CHAN_ECONNLOST;
		r->done = 1;
		LIST_REMOVE(r, entry);
	}
	pthread_cond_broadcast(&c->cv);
}

/*
 * The daemon closes a connection only after saying why (an ERROR with
 * rid 0). When a write finds the connection gone, read and dispatch what
 * the daemon left on the socket, so the caller gets its reason rather than
 * a bare broken pipe. Only when no other thread is the reader: that
 * thread owns c->rbuf and will find the reason itself.
 */
static void
conn_read_parting_words(struct chan_client *c)
{
	ssize_t n;

	if (c->reading || c->dispatching)
		return;
	for (;;) {
		if (proto_buf_reserve(&c->rbuf, CONN_READ_CHUNK) != 0)
			return;
		n = recv(c->fd, c->rbuf.data + c->rbuf.len,
		    c->rbuf.cap - c->rbuf.len, MSG_DONTWAIT);
		if (n <= 0)
			break;
		c->rbuf.len += (size_t)n;
	}
	conn_dispatch_all(c);
}

/*
 * The socket takes no more bytes: waits until it does. Unless another
 * thread is the reader, reads and dispatches what the daemon sent
 * meanwhile, because a daemon whose replies to us go unread stops
 * reading our requests (its output high water): a writer that only
 * waited for room would wait for ever.
 */
static void
conn_write_stalled(struct chan_client *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

	if (!c->reading && !c->dispatching)
		pfd.events |= POLLIN;
	if (poll(&pfd, 1, -1) <= 0)
		return;		/* EINTR: the caller tries again */
	if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
	    !c->reading && !c->dispatching)
		(void)conn_read_nb(c, CONN_READ_CHUNK * 16);
}

int
conn_write(struct chan_client *c)
{
	size_t off = 0;
	ssize_t n;
	int rc = 0;

	while (off < c->wbuf.len && !c->dead) {
		n = send(c->fd, c->wbuf.data + off, c->wbuf.len - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_write_stalled(c);
			continue;
		}
		if (n < 0) {
			conn_read_parting_words(c);
			conn_fail(c, "connection to the daemon broke");
			break;
		}
		off += (size_t)n;
	}
	if (c->dead)
		rc = CHAN_ECONNLOST;
	c->wbuf.len = 0;
	return rc;
}

int
conn_write_nb(struct chan_client *c)
{
	size_t off = 0;
	ssize_t n;

	while (off < c->wbuf.len && !c->dead) {
		n = send(c->fd, c->wbuf.data + off, c->wbuf.len - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			conn_read_parting_words(c);
			conn_fail(c, "connection to the daemon broke");
			break;
		}
		off += (size_t)n;
	}
	proto_buf_consume(&c->wbuf, off);
	return c->dead ? CHAN_ECONNLOST : 0;
}

int
conn_read_nb(struct chan_client *c, size_t max)
{
	size_t got = 0;
	ssize_t n;

	if (c->dead)
		return CHAN_ECONNLOST;
	if (c->reading || c->dispatching)
		return 0;	/* that thread, or the outer loop, has it */
	while (got < max) {
		if (proto_buf_reserve(&c->rbuf, CONN_READ_CHUNK) != 0) {
			conn_fail(c, "out of memory for the read buffer");
			break;
		}
		n = recv(c->fd, c->rbuf.data + c->rbuf.len,
		    c->rbuf.cap - c->rbuf.len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_dispatch_all(c);
			conn_fail(c, "daemon closed the connection");
			break;
		}
		c->rbuf.len += (size_t)n;
		got += (size_t)n;
		conn_dispatch_all(c);
	}
	conn_ring_rearm(c);
	pthread_cond_broadcast(&c->cv);
	return c->dead ? CHAN_ECONNLOST : 0;
}

uint32_t
conn_next_rid(struct chan_client *c)
{
	uint32_t rid = c->next_rid++;

	if (c->next_rid == 0)
		c->next_rid = 1;	/* rid 0 means "no reply" */
	return rid;
}

void
conn_req_init(struct chan_client *c, struct conn_req *r,
    enum proto_op reply, char *errbuf)
{
	memset(r, 0, sizeof(*r));
	r->reply = reply;
	r->rid = conn_next_rid(c);
	r->errbuf = errbuf;
	if (errbuf != NULL)
		errbuf[0] = '\0';
}

static int
conn_req_done(void *arg)
{
	return ((struct conn_req *)arg)->done;
}

int
conn_call(struct chan_client *c, struct conn_req *r,
    const struct timespec *deadline)
{
	int rc;

	LIST_INSERT_HEAD(&c->reqs, r, entry);
	rc = conn_write(c);
	if (rc == 0)
		rc = conn_wait(c, conn_req_done, r, deadline);
	if (!r->done) {
		LIST_REMOVE(r, entry);
		return rc;
	}
	return r->rc;
}

/* A capacity option as the codec writes it. */
static void
conn_cap(uint64_t v, struct proto_cap *cap)
{
	cap->value = 0;
	if (v == CHAN_CAPACITY_DEFAULT)
		cap->kind = PROTO_CAP_ABSENT;
	else if (v == CHAN_CAPACITY_UNBOUNDED)
		cap->kind = PROTO_CAP_UNBOUNDED;
	else {
		cap->kind = PROTO_CAP_VALUE;
		cap->value = v;
	}
}

/* A CHAN_DURABLE_ value as the codec writes it: -1 leaves it out. */
static int
conn_durable(int durable)
{
	switch (durable) {
	case CHAN_DURABLE_YES:
		return 1;
	case CHAN_DURABLE_NO:
		return 0;
	default:
		return -1;
	}
}

/*
 * A flag whose option an older daemon does not serve fails here, rather
 * than have the daemon refuse the unknown key with a vaguer OPTION.
 */
static int
conn_open_features(const struct chan_client *c, const chan_open_opts *opts,
    char *errbuf)
{
	const char *what = NULL;

	if ((opts->flags & CHAN_RX_GONE) && !(c->features & PROTO_FEAT_RXGONE))
		what = "CHAN_RX_GONE";
	else if ((opts->flags & CHAN_FOREVER) &&
	    !(c->features & PROTO_FEAT_FOREVER))
		what = "CHAN_FOREVER";
	if (what == NULL)
		return 0;
	if (errbuf != NULL)
		snprintf(errbuf, PROTO_ERRMSG_MAX + 1, "the daemon does not "
		    "serve %s", what);
	return CHAN_EOPTION;
}

int
conn_open(struct chan_client *c, enum proto_op op, const void *name,
    size_t name_len, const chan_open_opts *opts, char *errbuf,
    uint32_t *handle)
{
	struct proto_open_opts o;
	struct conn_req r;
	int rc;

	if (c->dead)
		return CHAN_ECONNLOST;
	conn_req_init(c, &r, PROTO_HANDLE, errbuf);
	if ((rc = conn_open_features(c, opts, errbuf)) != 0)
		return rc;
	o.durable = conn_durable(opts->durable);
	conn_cap(opts->capacity, &o.capacity);
	conn_cap(opts->capacity_bytes, &o.capacity_bytes);
	o.rx_gone = (opts->flags & CHAN_RX_GONE) ? 1 : -1;
	o.forever = (opts->flags & CHAN_FOREVER) ? 1 : -1;
	if ((rc = proto_enc_open_all(&c->wbuf, op, r.rid, name, name_len,
	    &o)) != 0)
		return rc;
	if ((rc = conn_call(c, &r, NULL)) == 0)
		*handle = r.handle;
	return rc;
}

/*
 * A request whose answer is OK: RECALL or CLOSE of handle, or PING.
 * Waits for the answer at most bound_ms.
 */
static int
conn_ask(struct chan_client *c, enum proto_op op, uint32_t handle,
    int bound_ms, char *errbuf)
{
	struct conn_req r;
	struct timespec deadline;
	int rc;

	if (c->dead)
		return CHAN_ECONNLOST;
	conn_req_init(c, &r, PROTO_OK, errbuf);
	/* Frames already in c->wbuf (acks, credit) go out before it. */
	if (op == PROTO_RECALL)
		rc = proto_enc_recall(&c->wbuf, r.rid, handle);
	else if (op == PROTO_CLOSE)
		rc = proto_enc_close(&c->wbuf, r.rid, handle);
	else
		rc = proto_enc_ping(&c->wbuf, r.rid);
	if (rc != 0)
		return rc;
	conn_deadline(&deadline, bound_ms);
	return conn_call(c, &r, &deadline);
}

int
conn_recall(struct chan_client *c, uint32_t handle, int bound_ms,
    char *errbuf)
{
	return conn_ask(c, PROTO_RECALL, handle, bound_ms, errbuf);
}

int
conn_barrier(struct chan_client *c, int bound_ms, char *errbuf)
{
	if (c->dead)
		return CHAN_ECONNLOST;
	/*
	 * Non-blocking: write only. Reading here would dispatch messages to
	 * receivers the application has already looked at in this pass, and
	 * with the socket then drained its event loop would not wake for
	 * them; chan_client_process alone reads.
	 */
	if (c->nonblock)
		return conn_write_nb(c);
	return conn_ask(c, PROTO_PING, 0, bound_ms, errbuf);
}

/*
 * Closing must not hang on a daemon that stopped answering: once the
 * CLOSE is written the daemon acts on it whenever it reads it, and its
 * late OK matches no request.
 */
int
conn_close_handle(struct chan_client *c, uint32_t handle, char *errbuf)
{
	return conn_ask(c, PROTO_CLOSE, handle, CONN_CLOSE_MS, errbuf);
}

/* Whether a capacity value is a CHAN_CAPACITY_ sentinel or in [lo, hi]. */
static int
conn_capacity_ok(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v == CHAN_CAPACITY_DEFAULT || v == CHAN_CAPACITY_UNBOUNDED ||
	    (v >= lo && v <= hi);
}

/*
 * Copies opts (NULL: defaults) into *out field by field: an older
 * caller's smaller struct leaves the later fields at their defaults.
 */
static int
conn_opts_copy(const chan_open_opts *opts, chan_open_opts *out)
{
	static const chan_open_opts def = CHAN_OPEN_OPTS_INIT;

	*out = def;
	if (opts == NULL)
		return 0;
	if (opts->size < sizeof(opts->size))
		return CHAN_EINVAL;
#define CONN_OPT(f)							\
	if (opts->size >= offsetof(chan_open_opts, f) + sizeof(opts->f))	\
		out->f = opts->f
	CONN_OPT(flags);
	CONN_OPT(prefetch);
	CONN_OPT(capacity);
	CONN_OPT(capacity_bytes);
	CONN_OPT(window);
	CONN_OPT(durable);
	CONN_OPT(ring_size);
#undef CONN_OPT
	return 0;
}

int
conn_open_args(const struct chan_client *c, const void *name,
    size_t name_len, const chan_open_opts *opts, unsigned allowed,
    chan_open_opts *out)
{
	int rc;

	if (c == NULL || (name == NULL && name_len > 0))
		return CHAN_EINVAL;
	if ((rc = conn_opts_copy(opts, out)) != 0)
		return rc;
	if ((out->flags & ~allowed) != 0 || out->prefetch > PROTO_CREDIT_MAX ||
	    out->window > TX_WINDOW_MAX || out->durable < CHAN_DURABLE_DEFAULT ||
	    out->durable > CHAN_DURABLE_NO || (out->ring_size != 0 &&
	    (out->ring_size > SHMRING_MAX_DATA ||
	    !shmring_valid_sizes((uint32_t)out->ring_size, 0))) ||
	    !conn_capacity_ok(out->capacity, 0, PROTO_CAPACITY_MAX) ||
	    !conn_capacity_ok(out->capacity_bytes, 1,
	    PROTO_CAPACITY_BYTES_MAX))
		return CHAN_EOPTION;
	if (name_len == 0 || name_len > PROTO_NAME_MAX)
		return CHAN_EBADNAME;
	return 0;
}

/*
 * Connecting.
 */

static struct chan_client *
conn_new(void)
{
	struct chan_client *c;
	pthread_condattr_t ca;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = -1;
	c->next_rid = 1;
	c->max_msg = PROTO_DEFAULT_MAX_MSG;
	LIST_INIT(&c->reqs);
	LIST_INIT(&c->txs);
	LIST_INIT(&c->rxs);
	LIST_INIT(&c->sets);
	LIST_INIT(&c->directs);
	LIST_INIT(&c->dead_dirs);
	TAILQ_INIT(&c->due);
	TAILQ_INIT(&c->ready);
	proto_buf_init(&c->rbuf);
	proto_buf_init(&c->wbuf);
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((c->dec = proto_decoder_new(c->max_msg)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

static void
conn_free(struct chan_client *c)
{
	rx_direct_reap(c);
	rx_shm_free(c);
	if (c->fd != -1)
		close(c->fd);
	proto_decoder_free(c->dec);
	proto_buf_fini(&c->rbuf);
	proto_buf_fini(&c->wbuf);
	ridmap_free(&c->rids);
	free(c->rxv);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static int
conn_socket(struct chan_client *c, const char *path)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		return CHAN_ESYS;
	while (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == ENOENT || errno == ECONNREFUSED)
			return CHAN_ENODAEMON;
		return CHAN_ESYS;
	}
	return 0;
}

/* The client name for the daemon's log: the program, cut to the limit. */
static void
conn_client_name(char *buf, size_t len)
{
	snprintf(buf, len, "%s", program_invocation_short_name);
}

/*
 * A daemon that refuses a connection (over its connection limit, shutting
 * down) sends an ERROR without a request id and closes at once, so the
 * HELLO may meet a closed socket before the reason was read. Nothing else
 * uses c yet: read what the daemon left and report its reason.
 */
static int
conn_hello_refused(struct chan_client *c)
{
	struct proto_msg m;
	size_t body_len;
	ssize_t n;

	if (c->refused != 0)
		return c->refused;	/* the reader got there first */
	c->rbuf.len = 0;
	if (proto_buf_reserve(&c->rbuf, PROTO_HEADER_LEN +
	    PROTO_ERRMSG_MAX + 64) != 0)
		return CHAN_ECONNLOST;
	do {
		n = recv(c->fd, c->rbuf.data + c->rbuf.len,
		    c->rbuf.cap - c->rbuf.len, MSG_DONTWAIT);
		if (n > 0)
			c->rbuf.len += (size_t)n;
	} while (n > 0 || (n < 0 && errno == EINTR));
	if (proto_frame_check(c->rbuf.data, c->rbuf.len,
	    proto_max_body(c->max_msg), &body_len) != 1 ||
	    proto_decode(c->dec, c->rbuf.data + PROTO_HEADER_LEN, body_len,
	    &m) != 0 || m.op != PROTO_ERROR)
		return CHAN_ECONNLOST;
	conn_set_errmsg(c->errmsg, m.text, m.text_len);
	return conn_wire_code(m.code);
}

/* HELLO for versions min_version to version; WELCOME's fields in *r. */
static int
conn_hello_try(struct chan_client *c, uint32_t version, uint32_t min_version,
    struct conn_req *r)
{
	char name[PROTO_CLIENT_NAME_MAX + 1];
	struct timespec deadline;
	int rc;

	conn_client_name(name, sizeof(name));
	conn_req_init(c, r, PROTO_WELCOME, c->errmsg);
	if ((rc = proto_enc_hello_range(&c->wbuf, r->rid, name, version,
	    min_version)) != 0)
		return rc;
	conn_deadline(&deadline, CONN_HANDSHAKE_MS);
	rc = conn_call(c, r, &deadline);
	if (rc == CHAN_ECONNLOST)
		rc = conn_hello_refused(c);
	return rc;
}

/*
 * Asks for versions 1 to PROTO_VERSION. A daemon that speaks version 1
 * only refuses the range (VERSION, or OPTION for "min_version") and
 * closes: a second connection then asks for version 1 alone.
 */
static int
conn_handshake(struct chan_client *c, const char *path, struct conn_req *r)
{
	int rc;

	rc = conn_hello_try(c, PROTO_VERSION, PROTO_VERSION_MIN, r);
	if (rc != CHAN_EVERSION && rc != CHAN_EOPTION)
		return rc;
	close(c->fd);
	c->fd = -1;
	c->dead = 0;
	c->refused = 0;
	c->rbuf.len = 0;
	c->wbuf.len = 0;
	if ((rc = conn_socket(c, path)) != 0)
		return rc;
	return conn_hello_try(c, PROTO_VERSION_MIN, 0, r);
}

static int
conn_hello(struct chan_client *c, const char *path)
{
	struct proto_decoder *dec;
	struct conn_req r;
	int rc;

	if ((rc = conn_handshake(c, path, &r)) != 0)
		return rc;
	if (r.version < PROTO_VERSION_MIN || r.version > PROTO_VERSION)
		return CHAN_EVERSION;
	c->version = r.version;
	if (r.max_msg == 0 || r.max_msg > SIZE_MAX / 2)
		return CHAN_EPROTO;
	c->max_msg = (size_t)r.max_msg;
	c->features = r.features;
	if (c->max_msg == PROTO_DEFAULT_MAX_MSG)
		return 0;
	/* The decoder checks payloads against the daemon's real limit. */
	if ((dec = proto_decoder_new(c->max_msg)) == NULL)
		return CHAN_ENOMEM;
	proto_decoder_free(c->dec);
	c->dec = dec;
	return 0;
}

/* CHANCLIENT_SPIN_US: microseconds, as chan_client_set_spin takes. */
static int
conn_set_spin(struct chan_client *c, const char *v)
{
	char *end;
	unsigned long us;

	errno = 0;
	us = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || v[0] == '-' ||
	    us > CONN_SPIN_MAX_US)
		return CHAN_EINVAL;
	c->spin_us = (unsigned)us;
	return 0;
}

int
chan_connect(const char *path, chan_client **out)
{
	char def[PATH_MAX];
	struct chan_client *c;
	const char *v;
	int rc, saved;

	if (out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	if (path == NULL) {
		if ((rc = chan_default_socket(def, sizeof(def))) != 0)
			return rc;
		path = def;
	}
	if (path[0] == '\0' ||
	    strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return CHAN_EINVAL;
	if ((c = conn_new()) == NULL)
		return CHAN_ENOMEM;

	pthread_mutex_lock(&c->mu);
	rc = conn_socket(c, path);
	if (rc == 0)
		rc = conn_hello(c, path);
	if (rc == 0)
		strcpy(c->path, path);
	if (rc == 0 && (v = getenv("CHANCLIENT_SPIN_US")) != NULL &&
	    *v != '\0')
		(void)conn_set_spin(c, v);
	pthread_mutex_unlock(&c->mu);
	if (rc != 0) {
		saved = errno;
		conn_free(c);
		errno = saved;
		return rc;
	}
	*out = c;
	return 0;
}

/*
 * Frees every chan_tx and chan_rx still open on c: pointers to them are
 * invalid afterwards. Closing the socket is what drops them in the daemon.
 */
void
chan_disconnect(chan_client *c)
{
	struct chan_rx *rx;
	struct chan_tx *tx;

	if (c == NULL)
		return;
	conn_lock(c);
	/*
	 * Acknowledgements the application already made must reach the
	 * daemon, or those messages would be delivered again. The daemon
	 * reads them before it sees the end of the stream.
	 */
	LIST_FOREACH(rx, &c->rxs, entry)
		rx_direct_ack_last(rx);
	if (!c->dead && rx_enc_due(c) == 0)
		conn_write(c);
	/* Pipelined sends still batched: written, as far as that goes. */
	if (!c->dead && c->wbuf.len > 0)
		conn_write_nb(c);
	while ((rx = LIST_FIRST(&c->rxs)) != NULL)
		rx_free(rx);
	rxset_free_all(c);
	while ((tx = LIST_FIRST(&c->txs)) != NULL)
		tx_free(tx);
	pthread_mutex_unlock(&c->mu);
	conn_free(c);
}

const char *
chan_client_errmsg(const chan_client *c)
{
	return c != NULL ? c->errmsg : "";
}

size_t
chan_client_max_msg(const chan_client *c)
{
	return c != NULL ? c->max_msg : 0;
}

int
chan_client_set_spin(chan_client *c, unsigned usec)
{
	if (c == NULL || usec > CONN_SPIN_MAX_US)
		return CHAN_EINVAL;
	conn_lock(c);
	c->spin_us = usec;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * conn.c: client connections. See conn.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acl.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "durable.h"
#include "flow.h"
#include "log.h"
#include "msgpool.h"
#include "pump.h"
#include "quota.h"
#include "server.h"
#include "shm.h"

/*
 * Read buffer: small for the handshake and light traffic; once a read
 * fills it, as big as the relay's, so that one read brings many frames.
 * A frame bigger than that gets a buffer of its own size, given back
 * once it is handled.
 */
#define CONN_RBUF_SMALL		(4u * 1024)
#define CONN_RBUF_BIG		(64u * 1024)
/*
 * A SEND whose payload still has CONN_DIRECT_MIN bytes to come once its
 * fields are in is read into its message node (channel_msg_new) rather
 * than into the read buffer, from which it would then be copied: at 64
 * KiB the copy, into memory the node has often never touched, costs more
 * than the one more read it saves. After such a frame the next read is of
 * CONN_PEEK bytes, the next frame's header and fields, so that a stream
 * of big sends pays no copy but for those bytes.
 */
#define CONN_DIRECT_MIN		(32u * 1024)
#define CONN_PEEK		64u
/* A write buffer bigger than this is freed once written. */
#define CONN_WBUF_KEEP		(256u * 1024)

static void	conn_shutdown(struct conn *);
static void	conn_direct_drop(struct conn *);
static void	conn_finish(struct conn *);
static void	conn_close_handles(struct conn *);
static void	conn_resume(struct conn *);
static void	conn_alloc_cb(uv_handle_t *, size_t, uv_buf_t *);
static void	conn_read_cb(uv_stream_t *, ssize_t, const uv_buf_t *);
static void	conn_timer_cb(uv_timer_t *);
static void	conn_turn_cb(uv_idle_t *);
static void	conn_yield(struct conn *);
static void	conn_turn_cancel(struct conn *);

/* A failed write leaves nothing to linger for: drop handles and close. */
static void
conn_write_failed(struct conn *c, int status)
{
	log_debug("connection %llu: write failed (%s): %s",
	    (unsigned long long)c->id, c->peer, uv_strerror(status));
	conn_shutdown(c);
	conn_close_handles(c);
}

static size_t
conn_max_body(const struct conn *c)
{
	return (proto_max_body(c->srv->cfg->max_msg_size));
}

/*
 * Reading stops above this, so a client can grow neither its output nor
 * its held sends forever.
 */
static bool
conn_over_high(const struct conn *c)
{
	size_t	high = CONN_DELIVER_MARK + conn_max_body(c);

	return (conn_pending(c) >= high || c->held_bytes >= high);
}

/* Reading resumes below this. */
static bool
conn_under_low(const struct conn *c)
{
	return (conn_pending(c) < CONN_LOW_WATER &&
	    c->held_bytes < CONN_LOW_WATER);
}

static void
conn_idle_cb(uv_idle_t *idle)
{
	(void)idle;
}

/*
 * Makes the loop reach its check (conn_flush_cb) without sleeping: work
 * queued outside the poll phase (a write callback deferred to the pending
 * phase) would otherwise wait in poll for an unrelated event.
 */
static void
conn_flush_soon(struct server *srv)
{
	if (srv->flush_on && !uv_is_active((uv_handle_t *)&srv->flush_idle))
		(void)uv_idle_start(&srv->flush_idle, conn_idle_cb);
}

void
conn_dirty(struct conn *c)
{
	if (c->dirty || c->closed)
		return;
	c->dirty = true;
	TAILQ_INSERT_TAIL(&c->srv->dirty, c, dirty_entry);
	conn_flush_soon(c->srv);
}

void
conn_mark_close(struct conn *c)
{
	c->want_close = true;
	conn_dirty(c);
}

void
conn_nomem(struct conn *c, uint32_t rid, const char *what, bool fatal)
{
	struct proto_buf	b;
	char			msg[128];

	snprintf(msg, sizeof(msg), "out of memory: %s", what);
	if (!fatal && proto_enc_error(&c->out, rid, CHAN_ENOMEM, msg) == 0) {
		log_warning("%s (%s)", msg, c->peer);
		conn_dirty(c);
		return;
	}
	log_warning("%s, closing (%s)", msg, c->peer);
	/* c->nomem holds what the encoder reserves: it never reallocates. */
	b.data = c->nomem;
	b.cap = sizeof(c->nomem);
	b.len = 0;
	if (c->nomem_len == 0 && proto_enc_error(&b, rid, CHAN_ENOMEM,
	    msg) == 0)
		c->nomem_len = b.len;
	conn_mark_close(c);
}

/* Handles. */

/* The slot of handle id, or of where it would be. */
static size_t
conn_handle_slot(const struct conn *c, uint32_t id)
{
	size_t	lo = 0, hi = c->hlen, mid;

	/*
	 * Ids are given in order and a closed handle leaves a hole, so until
	 * holes are squeezed out slot i holds the first id plus i: one look,
	 * not a binary search that misses the cache with many handles.
	 */
	if (hi > 0 && id >= c->handles[0].id) {
		mid = id - c->handles[0].id;
		if (mid < hi && c->handles[mid].id == id)
			return (mid);
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->handles[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo);
}

struct handle *
conn_handle_find(struct conn *c, uint32_t id)
{
	size_t	i;

	/* The id is kept beside it: a look that misses costs no miss of
	   the cache on a handle that has left it. */
	if (c->hlast != NULL && c->hlast_id == id)
		return (c->hlast);
	i = conn_handle_slot(c, id);
	if (i == c->hlen || c->handles[i].id != id)
		return (NULL);
	/* A closed handle's slot holds NULL until squeezed out. */
	if (c->handles[i].h != NULL) {
		c->hlast = c->handles[i].h;
		c->hlast_id = id;
	}
	return (c->handles[i].h);
}

int
conn_handle_add(struct conn *c, struct channel *ch, bool rx,
    struct handle **hp)
{
	struct handle_slot	*nh;
	struct handle		*h;
	size_t			 ncap;

	if (c->nhandles >= c->srv->cfg->max_handles || c->next_handle == 0)
		return (CHAN_ELIMIT);
	if (c->hlen == c->handles_cap) {
		ncap = c->handles_cap == 0 ? 4 : c->handles_cap * 2;
		nh = reallocarray(c->handles, ncap, sizeof(*nh));
		if (nh == NULL)
			return (CHAN_ENOMEM);
		c->handles = nh;
		c->handles_cap = ncap;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return (CHAN_ENOMEM);
	/* Ids only grow, so appending keeps the slots sorted. */
	h->id = c->next_handle++;
	h->rx = rx;
	h->stalled = false;
	h->ch = ch;
	h->conn = c;
	c->handles[c->hlen].id = h->id;
	c->handles[c->hlen].h = h;
	c->hlen++;
	c->nhandles++;
	quota_handle_add(c);
	*hp = h;
	return (0);
}

/* Squeezes the holes out once they outnumber the handles. */
static void
conn_handle_compact(struct conn *c)
{
	size_t	i, n = 0;

	while (c->hlen > 0 && c->handles[c->hlen - 1].h == NULL)
		c->hlen--;
	if (c->hlen - c->nhandles <= c->nhandles)
		return;
	for (i = 0; i < c->hlen; i++) {
		if (c->handles[i].h != NULL)
			c->handles[n++] = c->handles[i];
	}
	c->hlen = n;
}

void
conn_handle_remove(struct conn *c, struct handle *h)
{
	size_t	i = conn_handle_slot(c, h->id);

	if (c->hlast == h)
		c->hlast = NULL;
	if (i == c->hlen || c->handles[i].h != h)
		return;
	if (h->stalled)
		TAILQ_REMOVE(&c->stalled, h, stall_entry);
	c->handles[i].h = NULL;
	c->nhandles--;
	quota_handle_remove(c);
	conn_handle_compact(c);
	free(h);
}

/* Drops every handle, last first, as if each had been closed. */
static void
conn_drop_handles(struct conn *c)
{
	/* Removal trims trailing holes: the last slot is a handle. */
	while (c->hlen > 0)
		dispatch_handle_drop(c, c->handles[c->hlen - 1].h);
	shm_rx_conn_end(c->srv, c);
	free(c->handles);
	c->handles = NULL;
	c->handles_cap = 0;
}

/* Writing. */

int
conn_deliver(struct conn *c, uint32_t handle, struct message *m)
{
	size_t	min = c->srv->inplace_min != 0 ? c->srv->inplace_min :
		    CONN_INPLACE_MIN;
	size_t	n;
	int	rc;

	if (m->len < min || proto_buf_reserve(&c->out,
	    PROTO_DELIVER_HDR_MAX) != 0)
		goto copy;
	n = proto_enc_deliver_hdr(c->out.data + c->out.len, handle, m->seq,
	    m->flags, m->len);
	if ((rc = payrefs_add(&c->orefs, c->out.len + n, m)) == CHAN_ENOMEM)
		return (rc);
	if (rc == 0) {
		c->out.len += n;
		return (0);
	}
copy:
	/* Out of pins, or of memory: a copy may still fit. */
	return (proto_enc_deliver(&c->out, handle, m->seq, m->flags, m->data,
	    m->len));
}

/*
 * The pieces of one write: buf's bytes, with refs' payloads between them.
 * 0 or CHAN_ENOMEM.
 */
static int
conn_iov(struct conn *c, struct proto_buf *buf, const struct payrefs *refs,
    uv_buf_t *one, uv_buf_t **bufs, unsigned *n)
{
	if (refs->n == 0) {
		*one = uv_buf_init(buf->data, (unsigned int)buf->len);
		*bufs = one;
		*n = 1;
		return (0);
	}
	*bufs = NULL;
	if (payrefs_iov(refs, buf->data, buf->len, &c->iov, &c->iov_cap,
	    n) != 0)
		return (CHAN_ENOMEM);
	*bufs = c->iov;
	return (0);
}

static void
conn_write_cb(uv_write_t *req, int status)
{
	struct conn	*c = req->data;

	c->writing = false;
	if (status >= 0)
		c->bytes_out += c->wbuf.len + c->wrefs.bytes;
	/* Done or cancelled: the nodes may go (an ACK may have freed them). */
	payrefs_clear(&c->wrefs);
	if (c->wbuf.cap > CONN_WBUF_KEEP) {
		proto_buf_fini(&c->wbuf);
		proto_buf_init(&c->wbuf);
	} else
		c->wbuf.len = 0;
	if (c->closed)
		return;
	if (status < 0) {
		conn_write_failed(c, status);
		return;
	}
	if (c->shut) {
		conn_finish(c);
		return;
	}
	if (c->out.len > 0)
		conn_dirty(c);
	pump_conn(c);
	if (c->paused && conn_under_low(c))
		conn_resume(c);
}

void
conn_held_release(struct conn *c, size_t len)
{
	c->held_bytes -= len;
	if (c->paused && !c->shut && !c->want_close && conn_under_low(c))
		conn_resume(c);
}

/* Swaps c's output with the buffer being written (empty between writes). */
static void
conn_swap_out(struct conn *c)
{
	struct proto_buf	tmp;
	struct payrefs		rtmp;

	tmp = c->wbuf;
	c->wbuf = c->out;
	c->out = tmp;
	rtmp = c->wrefs;
	c->wrefs = c->orefs;
	c->orefs = rtmp;
}

/*
 * Hands c's pending output to one uv_write: 0, or a libuv error with the
 * output back in c->out as it was.
 */
static int
conn_write_out(struct conn *c)
{
	uv_buf_t	one, *bufs;
	unsigned	nbufs;
	int		rc;

	/* Swap: the written bytes stay put until the write callback. */
	conn_swap_out(c);
	c->wreq.data = c;
	if (conn_iov(c, &c->wbuf, &c->wrefs, &one, &bufs, &nbufs) != 0)
		rc = UV_ENOMEM;
	else
		rc = uv_write(&c->wreq, (uv_stream_t *)&c->pipe, bufs, nbufs,
		    conn_write_cb);
	if (rc != 0) {
		conn_swap_out(c);
		return (rc);
	}
	c->writing = true;
	return (0);
}

/* Hands the pending output to one uv_write, unless one is running. */
static void
conn_flush(struct conn *c)
{
	int	rc;

	/* A referenced payload always follows its header in out. */
	if (c->closed || c->writing || c->out.len == 0)
		return;
	if ((rc = conn_write_out(c)) != 0) {
		c->out.len = 0;
		payrefs_clear(&c->orefs);
		conn_write_failed(c, rc);
	}
}

void
conn_flush_now(struct conn *c)
{
	if (c->closed || c->want_close || c->writing || c->out.len == 0 ||
	    c->orefs.n > 0 || shm_rx_unpublished(c))
		return;
	/*
	 * A failure stays for the flush at the end of the iteration, which
	 * may close c: the caller may still be using c's handles.
	 */
	if (conn_write_out(c) == 0 && c->dirty) {
		TAILQ_REMOVE(&c->srv->dirty, c, dirty_entry);
		c->dirty = false;
	}
}

void
conn_flush_dirty(struct server *srv)
{
	struct conn	*c;

	/* What this flush dirties again starts it again. */
	if (srv->flush_on)
		(void)uv_idle_stop(&srv->flush_idle);
	flow_answer(srv);
	/* Log records first: no OK or DELIVER may leave before its record. */
	durable_flush(srv);
	while ((c = TAILQ_FIRST(&srv->dirty)) != NULL) {
		TAILQ_REMOVE(&srv->dirty, c, dirty_entry);
		c->dirty = false;
		shm_rx_publish(c);
		if (c->want_close && !c->shut)
			conn_shutdown(c);
		else
			conn_flush(c);
	}
}

static void
conn_flush_cb(uv_check_t *check)
{
	conn_flush_dirty(check->data);
}

int
conn_flush_init(struct server *srv)
{
	int	rc;

	if ((rc = uv_check_init(srv->loop, &srv->flush)) != 0)
		return (rc);
	if ((rc = uv_idle_init(srv->loop, &srv->flush_idle)) != 0) {
		uv_close((uv_handle_t *)&srv->flush, NULL);
		return (rc);
	}
	uv_unref((uv_handle_t *)&srv->flush_idle);
	if ((rc = uv_idle_init(srv->loop, &srv->turn_idle)) != 0) {
		uv_close((uv_handle_t *)&srv->flush, NULL);
		uv_close((uv_handle_t *)&srv->flush_idle, NULL);
		return (rc);
	}
	uv_unref((uv_handle_t *)&srv->turn_idle);
	srv->turn_idle.data = srv;
	TAILQ_INIT(&srv->turns);
	srv->flush_on = true;
	srv->flush.data = srv;
	if ((rc = uv_check_start(&srv->flush, conn_flush_cb)) != 0)
		return (rc);
	/* The listener and the connections keep the loop alive, not this. */
	uv_unref((uv_handle_t *)&srv->flush);
	return (0);
}

/* Closing. */

static void
conn_close_cb(uv_handle_t *handle)
{
	struct conn	*c = handle->data;

	if (--c->nopen > 0)
		return;
	log_debug("connection %llu closed (%s)", (unsigned long long)c->id,
	    c->peer);
	TAILQ_REMOVE(&c->srv->conns, c, entry);
	quota_conn_close(c);
	if (c->refused)
		c->srv->nrefused--;
	else
		c->srv->nconns--;
	conn_direct_drop(c);
	free(c->rbuf);
	proto_buf_fini(&c->out);
	proto_buf_fini(&c->wbuf);
	payrefs_fini(&c->orefs);
	payrefs_fini(&c->wrefs);
	free(c->iov);
	free(c->handles);
	free(c->groups);
	free(c);
}

static void
conn_close_handles(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	if (c->dirty) {
		TAILQ_REMOVE(&c->srv->dirty, c, dirty_entry);
		c->dirty = false;
	}
	conn_turn_cancel(c);
	uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
	uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}

/* ERROR(rid 0, LIMIT) saying why c is about to close. */
static void
conn_say_limit(struct conn *c, const char *msg)
{
	if (proto_enc_error(&c->out, 0, CHAN_ELIMIT, msg) != 0)
		log_debug("connection %llu: no memory to say why it closes "
		    "(%s)", (unsigned long long)c->id, c->peer);
}

/* After input: (re)starts the idle timeout of a connection past HELLO. */
static void
conn_idle_arm(struct conn *c)
{
	uint64_t	secs = c->srv->cfg->idle_timeout;

	if (secs == 0 || !c->hello || c->shut || c->closed)
		return;
	uv_timer_start(&c->timer, conn_timer_cb, secs * 1000, 0);
}

/*
 * --idle-timeout has passed since c last sent anything. A connection with
 * channels open may wait for ever (a consumer waiting for messages, a
 * producer between sends); one with none open, or stuck halfway through a
 * frame, holds a descriptor and memory for nothing and is closed. A
 * connection that the daemon stopped reading is not idle by its own doing.
 */
static void
conn_idle_check(struct conn *c)
{
	uint64_t	 secs = c->srv->cfg->idle_timeout;
	const char	*why;
	char		 msg[128];
	bool		 part;

	if (secs == 0)
		return;
	part = c->rlen > c->roff || c->rnode != NULL;
	if (c->paused || (c->nhandles > 0 && !part)) {
		conn_idle_arm(c);
		return;
	}
	why = part ? "part of a frame" : "no channel open";
	log_notice("idle timeout: nothing sent for %llu s with %s (%s)",
	    (unsigned long long)secs, why, c->peer);
	snprintf(msg, sizeof(msg), "idle for %llu s with %s (--idle-timeout)",
	    (unsigned long long)secs, why);
	conn_say_limit(c, msg);
	conn_shutdown(c);
}

static void
conn_timer_cb(uv_timer_t *timer)
{
	struct conn	*c = timer->data;
	char		 msg[96];

	if (c->shut) {
		log_debug("connection %llu (%s): dropped after %d ms of "
		    "linger", (unsigned long long)c->id, c->peer,
		    c->refused ? CONN_REFUSED_LINGER_MS :
		    CONN_LINGER_SECS * 1000);
		conn_close_handles(c);
		return;
	}
	if (c->hello) {
		conn_idle_check(c);
		return;
	}
	log_notice("handshake timeout: no HELLO within %llu s (%s)",
	    (unsigned long long)c->srv->cfg->handshake_timeout, c->peer);
	snprintf(msg, sizeof(msg), "no HELLO within %llu s "
	    "(--handshake-timeout)",
	    (unsigned long long)c->srv->cfg->handshake_timeout);
	conn_say_limit(c, msg);
	conn_shutdown(c);
}

static void
conn_fin_cb(uv_shutdown_t *req, int status)
{
	struct conn	*c = req->data;

	if (status < 0 && !c->closed)
		conn_close_handles(c);
}

/* Writes c->nomem, the last frame before closing. 0 or a libuv error. */
static int
conn_write_nomem(struct conn *c)
{
	uv_buf_t	one = uv_buf_init(c->nomem, (unsigned int)c->nomem_len);
	int		rc;

	c->wreq.data = c;
	if ((rc = uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &one, 1,
	    conn_write_cb)) == 0)
		c->writing = true;
	return (rc);
}

/*
 * The last step of a linger: once the output is written, closes if the
 * peer has gone, else shuts down our side so that it sees the end.
 */
static void
conn_finish(struct conn *c)
{
	if (c->closed)
		return;
	if (c->writing || c->out.len > 0) {
		conn_flush(c);
		return;
	}
	if (c->nomem_len > 0 && !c->nomem_sent && !c->eof) {
		c->nomem_sent = true;
		if (conn_write_nomem(c) == 0)
			return;
	}
	if (c->eof) {
		conn_close_handles(c);
		return;
	}
	if (c->fin)
		return;
	c->fin = true;
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->pipe, conn_fin_cb) != 0)
		conn_close_handles(c);
}

/*
 * Drops every handle (requeueing a consumer's messages) and lingers: no
 * more requests, input discarded, pending output written (see conn.h).
 */
static void
conn_shutdown(struct conn *c)
{
	if (c->shut)
		return;
	c->shut = true;
	c->want_close = true;
	c->rlen = c->roff = 0;
	conn_direct_drop(c);
	conn_drop_handles(c);
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, conn_timer_cb, CONN_LINGER_SECS * 1000, 0);
	/* Restart: reading may have been paused, or never started. */
	uv_read_stop((uv_stream_t *)&c->pipe);
	if (!c->eof && uv_read_start((uv_stream_t *)&c->pipe, conn_alloc_cb,
	    conn_read_cb) != 0)
		c->eof = true;
	conn_finish(c);
}

/*
 * At shutdown: tells the peer why, unless it was already told why it is
 * being closed, writes what the socket takes at once and closes. No
 * linger: the daemon must not wait for peers. Pending output is whole
 * frames, so the ERROR comes after everything already queued; a write
 * still in progress means the socket is full and uv_try_write declines
 * (UV_EAGAIN), as it does after our side was shut down (UV_EPIPE).
 */
static void
conn_close_now(struct conn *c)
{
	uv_buf_t	one, *bufs;
	unsigned	nbufs;

	if (c->closed)
		return;
	if (!c->shut && !c->want_close && proto_enc_error(&c->out, 0,
	    CHAN_ESHUTDOWN, "daemon shutting down") != 0)
		log_debug("connection %llu: no memory to say why it closes "
		    "(%s)", (unsigned long long)c->id, c->peer);
	c->shut = c->want_close = true;
	conn_drop_handles(c);
	if (c->out.len > 0 && conn_iov(c, &c->out, &c->orefs, &one, &bufs,
	    &nbufs) == 0)
		(void)uv_try_write((uv_stream_t *)&c->pipe, bufs, nbufs);
	conn_close_handles(c);
}

void
conn_close_all(struct server *srv)
{
	struct conn	*c;

	/* srv->stopping holds the pump: dropping handles queues nothing. */
	TAILQ_FOREACH(c, &srv->conns, entry)
		conn_close_now(c);
	flow_stop(srv);
	shm_stop(srv);
	if (srv->flush_on) {
		uv_close((uv_handle_t *)&srv->flush, NULL);
		uv_close((uv_handle_t *)&srv->flush_idle, NULL);
		uv_close((uv_handle_t *)&srv->turn_idle, NULL);
	}
	srv->flush_on = false;
}

/* Reading. */

static void
conn_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct conn	*c = handle->data;
	size_t		 len;

	(void)suggested;
	if (c->rnode != NULL) {
		*buf = uv_buf_init(c->rnode->data + c->rnode_have,
		    (unsigned int)(c->rnode->len - c->rnode_have));
		return;
	}
	if (c->rbuf == NULL) {
		c->rbuf = malloc(CONN_RBUF_SMALL);
		c->rcap = c->rbuf == NULL ? 0 : CONN_RBUF_SMALL;
	}
	len = c->rcap - c->rlen;
	if (c->rskip > 0 && len > c->rskip)
		len = c->rskip;
	if (c->rpeek && len > CONN_PEEK)
		len = CONN_PEEK;
	/* A zero-length buffer makes libuv report UV_ENOBUFS. */
	*buf = uv_buf_init(c->rbuf == NULL ? NULL : c->rbuf + c->rlen,
	    (unsigned int)len);
}

static int
conn_rbuf_resize(struct conn *c, size_t cap)
{
	char	*nb;

	if ((nb = realloc(c->rbuf, cap)) == NULL)
		return (CHAN_ENOMEM);
	c->rbuf = nb;
	c->rcap = cap;
	return (0);
}

/*
 * After the whole frames are handled: makes room for the next read. The
 * unhandled bytes (part of a frame) move to the front only when the room
 * behind them is short, so a read rarely pays for a move; the buffer
 * grows to CONN_RBUF_BIG once a read filled it (filled). A frame bigger
 * than that, whose header proto_frame_check has bounded, gets a buffer
 * that doubles as its bytes arrive, up to its size: memory follows what
 * a client sent, not what its header announced, so that one that stalls
 * inside a huge frame holds no more than twice what it sent. 0, or
 * CHAN_ENOMEM if the frame cannot be buffered.
 */
static int
conn_rbuf_settle(struct conn *c, bool filled)
{
	size_t	body_len = 0, need = 0, want;
	int	rc;

	if (c->roff == c->rlen)
		c->roff = c->rlen = 0;
	if (c->rlen - c->roff >= PROTO_HEADER_LEN &&
	    proto_frame_check(c->rbuf + c->roff, c->rlen - c->roff,
	    conn_max_body(c), &body_len) == 0)
		need = PROTO_HEADER_LEN + body_len;
	if (c->roff > 0 && (c->rcap - c->rlen < CONN_RBUF_SMALL ||
	    c->rcap - c->roff < need)) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	want = filled && c->rcap < CONN_RBUF_BIG ? CONN_RBUF_BIG : c->rcap;
	if (need > want && c->rcap - c->rlen < CONN_RBUF_SMALL) {
		want = c->rcap < CONN_RBUF_BIG ? CONN_RBUF_BIG : 2 * c->rcap;
		if (want > need)
			want = need;
	}
	/* Done with a frame bigger than the usual buffer: give it back. */
	if (need == 0 && c->rcap > CONN_RBUF_BIG && c->rlen <= CONN_RBUF_BIG)
		want = CONN_RBUF_BIG;
	if (c->rbuf == NULL || want == c->rcap)
		return (0);
	rc = conn_rbuf_resize(c, want);
	/* Only a frame that cannot fit is a failure; the rest can wait. */
	if (rc != 0 && c->rlen == c->rcap)
		return (rc);
	return (0);
}

/* Reading a big SEND's payload into its node. */

/* A connection that goes frees the node of the frame it was sending. */
static void
conn_direct_drop(struct conn *c)
{
	if (c->rnode != NULL)
		c->srv->direct_reserved -= c->rnode->len - c->rnode_have;
	msgpool_put(c->rnode);
	c->rnode = NULL;
}

/*
 * The frame at the front of rbuf is incomplete: if it is a big SEND whose
 * fields are in (proto_send_head), moves the payload bytes already read
 * into a new node, where the rest will be read. Anything else, or no
 * memory for the node, stays on the usual way: buffered whole, decoded,
 * and answered the same.
 */
static void
conn_direct_start(struct conn *c)
{
	struct proto_msg	 m;
	struct message		*node;
	const char		*body;
	size_t			 avail = c->rlen - c->roff, body_len, off, have;

	if (c->rnode != NULL || !c->hello || c->want_close ||
	    conn_over_high(c) || avail < PROTO_HEADER_LEN ||
	    proto_frame_check(c->rbuf + c->roff, avail, conn_max_body(c),
	    &body_len) != 0 ||
	    PROTO_HEADER_LEN + body_len - avail < CONN_DIRECT_MIN)
		return;
	/*
	 * The node is the whole payload's memory before it arrives: only
	 * while the nodes of all connections stay under the bound (the
	 * usual way grows with what arrives).
	 */
	if (PROTO_HEADER_LEN + body_len - avail > CONN_DIRECT_RESERVE_MAX -
	    c->srv->direct_reserved)
		return;
	body = c->rbuf + c->roff + PROTO_HEADER_LEN;
	if (proto_send_head(c->srv->dec, body, avail - PROTO_HEADER_LEN,
	    body_len, &m, &off) != 1 ||
	    (node = channel_msg_new(m.payload_len)) == NULL)
		return;
	have = avail - PROTO_HEADER_LEN - off;
	memcpy(node->data, body + off, have);
	c->rnode = node;
	c->rnode_have = have;
	c->srv->direct_reserved += node->len - have;
	c->rnode_rid = m.rid;
	c->rnode_handle = m.handle;
	c->roff = c->rlen = 0;
}

/* n more payload bytes are in the node: at the last, handles the SEND. */
static void
conn_direct_took(struct conn *c, size_t n)
{
	struct proto_msg	 m;
	struct message		*node = c->rnode;

	c->rnode_have += n;
	c->srv->direct_reserved -= n;
	if (c->rnode_have < node->len)
		return;
	c->rnode = NULL;
	c->rpeek = true;
	if (c->want_close) {
		msgpool_put(node);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.durable = -1;
	m.op = PROTO_SEND;
	m.rid = c->rnode_rid;
	m.handle = c->rnode_handle;
	dispatch_send_node(c, &m, node);
}

/*
 * No memory to buffer the frame at the front of rbuf: ERROR(NOMEM), for
 * the rid of a SEND whose fields are in, and the frame's bytes are read
 * and dropped; the connection goes on.
 */
static void
conn_frame_nomem(struct conn *c)
{
	struct proto_msg	m;
	size_t			avail = c->rlen - c->roff, body_len, off;
	uint32_t		rid = 0;
	char			what[64];

	if (avail < PROTO_HEADER_LEN || proto_frame_check(c->rbuf + c->roff,
	    avail, conn_max_body(c), &body_len) != 0) {
		conn_nomem(c, 0, "reading a frame", true);
		return;
	}
	if (proto_send_head(c->srv->dec, c->rbuf + c->roff +
	    PROTO_HEADER_LEN, avail - PROTO_HEADER_LEN, body_len, &m,
	    &off) == 1)
		rid = m.rid;
	snprintf(what, sizeof(what), "a frame of %zu bytes, dropped",
	    body_len);
	c->rskip = PROTO_HEADER_LEN + body_len - avail;
	c->roff = c->rlen = 0;
	conn_nomem(c, rid, what, false);
}

/*
 * Handles every whole frame in rbuf, in order, then keeps the rest;
 * filled says the last read filled the buffer.
 */
/*
 * What a frame costs of a connection's share of an iteration: 1, but
 * CONN_TURN_STATS for STATS, whose reply is built from the whole daemon's
 * state. The op is the array's second byte, a positive fixint, in every
 * request (proto.h); a frame that is not one is refused at 1.
 */
static unsigned
conn_frame_cost(const char *body, size_t len)
{
	if (len >= 2 && ((unsigned char)body[0] & 0xf0) == 0x90 &&
	    (unsigned char)body[1] == PROTO_STATS)
		return (CONN_TURN_STATS);
	return (1);
}

static void
conn_process(struct conn *c, bool filled)
{
	size_t		off = c->roff, body_len;
	unsigned	n = 0;
	int		rc = -1;

	while (!c->want_close && !conn_over_high(c)) {
		rc = proto_frame_check(c->rbuf + off, c->rlen - off,
		    conn_max_body(c), &body_len);
		if (rc == CHAN_ETOOBIG) {
			dispatch_too_big(c, body_len, conn_max_body(c));
			break;
		}
		if (rc != 1)
			break;
		if (n >= CONN_TURN_FRAMES) {
			conn_yield(c);
			break;
		}
		n += conn_frame_cost(c->rbuf + off + PROTO_HEADER_LEN,
		    body_len);
		dispatch_frame(c, c->rbuf + off + PROTO_HEADER_LEN, body_len);
		off += PROTO_HEADER_LEN + body_len;
	}
	c->roff = off;
	if (rc == 0)
		conn_direct_start(c);
	if (!c->want_close && conn_rbuf_settle(c, filled) != 0)
		conn_frame_nomem(c);
}

/* n bytes were read into the buffer conn_alloc_cb gave. */
static void
conn_took(struct conn *c, size_t n)
{
	if (c->rnode != NULL) {
		conn_direct_took(c, n);
		return;
	}
	c->rpeek = false;
	if (c->rskip > 0) {
		/* Read into the free room behind the buffer's bytes. */
		c->rskip -= n;
		return;
	}
	c->rlen += n;
	conn_process(c, c->rlen == c->rcap);
}

void
conn_gone(struct conn *c)
{
	c->eof = true;
	uv_read_stop((uv_stream_t *)&c->pipe);
	if (c->shut)
		conn_finish(c);
	else
		conn_shutdown(c);
}

size_t
conn_input(struct conn *c, const void *buf, size_t len)
{
	uv_buf_t	b;
	size_t		n, done = 0;

	while (done < len && !c->shut && !c->want_close &&
	    !conn_over_high(c)) {
		conn_alloc_cb((uv_handle_t *)&c->pipe, 0, &b);
		if (b.len == 0)
			break;
		n = len - done < b.len ? len - done : b.len;
		memcpy(b.base, (const char *)buf + done, n);
		done += n;
		conn_took(c, n);
		/* No loop turns here: the next share follows at once. */
		while (c->yielded && !c->want_close && !conn_over_high(c)) {
			conn_turn_cancel(c);
			conn_process(c, false);
		}
	}
	return (done);
}

static void
conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn	*c = stream->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("connection %llu: read failed (%s): %s",
			    (unsigned long long)c->id, c->peer,
			    uv_strerror((int)nread));
		conn_gone(c);
		return;
	}
	c->bytes_in += (uint64_t)nread;
	if (c->shut)
		return;		/* lingering: input is discarded */
	conn_took(c, (size_t)nread);
	if (c->want_close) {
		conn_shutdown(c);
		return;
	}
	conn_idle_arm(c);
	if (c->yielded) {
		/* The rest of the frames first: conn_turn reads again. */
		uv_read_stop(stream);
		return;
	}
	if (conn_over_high(c)) {
		c->paused = true;
		uv_read_stop(stream);
		log_debug("connection %llu: %zu bytes of output, %zu of held "
		    "sends, reading paused (%s)", (unsigned long long)c->id,
		    conn_pending(c), c->held_bytes, c->peer);
	}
}

static void
conn_resume(struct conn *c)
{
	int	rc;

	c->paused = false;
	/* Frames that arrived before the pause come first. */
	conn_process(c, false);
	if (c->want_close) {
		conn_mark_close(c);
		return;
	}
	if (conn_over_high(c)) {
		c->paused = true;
		return;
	}
	if (c->yielded)
		return;
	rc = uv_read_start((uv_stream_t *)&c->pipe, conn_alloc_cb,
	    conn_read_cb);
	if (rc != 0) {
		log_warning("cannot read (%s): %s", c->peer, uv_strerror(rc));
		conn_mark_close(c);
	}
}

/* Turns. */

/*
 * c has used up its share of this iteration with whole frames left:
 * they wait for the next iteration (conn_turn_cb), and c is not read
 * until they are handled.
 */
static void
conn_yield(struct conn *c)
{
	struct server	*srv = c->srv;

	c->yielded = true;
	if (c->queued_turn || !srv->flush_on)
		return;
	c->queued_turn = true;
	TAILQ_INSERT_TAIL(&srv->turns, c, turn_entry);
	srv->nturns++;
	if (!uv_is_active((uv_handle_t *)&srv->turn_idle))
		(void)uv_idle_start(&srv->turn_idle, conn_turn_cb);
}

static void
conn_turn_cancel(struct conn *c)
{
	c->yielded = false;
	if (!c->queued_turn)
		return;
	c->queued_turn = false;
	TAILQ_REMOVE(&c->srv->turns, c, turn_entry);
	c->srv->nturns--;
}

/* The next share of a connection that yielded. */
static void
conn_turn(struct conn *c)
{
	int	rc;

	if (c->closed || c->shut)
		return;
	conn_process(c, false);
	if (c->want_close) {
		conn_shutdown(c);
		return;
	}
	if (c->yielded || c->paused)
		return;
	if (conn_over_high(c)) {
		c->paused = true;
		return;
	}
	rc = uv_read_start((uv_stream_t *)&c->pipe, conn_alloc_cb,
	    conn_read_cb);
	if (rc != 0) {
		log_warning("cannot read (%s): %s", c->peer, uv_strerror(rc));
		conn_shutdown(c);
	}
}

static void
conn_turn_cb(uv_idle_t *idle)
{
	struct server	*srv = idle->data;
	struct conn	*c;
	size_t		 n = srv->nturns;

	/* Those that yield again go to the back, for the next iteration. */
	while (n-- > 0 && (c = TAILQ_FIRST(&srv->turns)) != NULL) {
		conn_turn_cancel(c);
		conn_turn(c);
	}
	if (TAILQ_EMPTY(&srv->turns))
		(void)uv_idle_stop(idle);
}

/* Accepting. */

static void
conn_peer_cred(struct conn *c)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);
	uv_os_fd_t	fd;

	c->pid = -1;
	c->uid = (uid_t)-1;
	c->gid = (gid_t)-1;
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->gid = cred.gid;
		/* Without them, group rules match the primary gid only. */
		(void)acl_peer_groups(fd, &c->groups, &c->ngroups);
	}
	log_peer(c->peer, c->pid, c->uid);
}

/*
 * Refuses c with ERROR(rid 0, LIMIT) saying msg. A refused connection no
 * longer counts against --max-connections; it lingers (see conn.h) for
 * CONN_REFUSED_LINGER_MS only, and only while fewer than
 * CONN_REFUSED_MAX do: past that, or when descriptors run short (now),
 * it gets what its socket takes at once and is closed, so that a burst
 * of refusals holds neither descriptors nor places.
 */
static void
conn_refuse_with(struct conn *c, const char *msg, bool now)
{
	struct server	*srv = c->srv;
	uv_buf_t	 one;

	c->refused = true;
	srv->nconns--;
	srv->nrefused++;
	if (proto_enc_error(&c->out, 0, CHAN_ELIMIT, msg) != 0)
		c->out.len = 0;
	if (now || srv->nrefused > CONN_REFUSED_MAX) {
		c->shut = c->want_close = true;
		if (c->out.len > 0) {
			one = uv_buf_init(c->out.data,
			    (unsigned int)c->out.len);
			(void)uv_try_write((uv_stream_t *)&c->pipe, &one, 1);
		}
		conn_close_handles(c);
		return;
	}
	conn_shutdown(c);
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, conn_timer_cb, CONN_REFUSED_LINGER_MS, 0);
}

/* Over the connection limit: say why, then close. */
static void
conn_refuse(struct conn *c)
{
	char	msg[128];

	/* Logged once until a connection is accepted again. */
	log_msg(c->srv->conn_limit_logged ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_WARNING, "connection limit of %llu reached, refusing "
	    "%s", (unsigned long long)c->srv->cfg->max_connections, c->peer);
	c->srv->conn_limit_logged = true;
	snprintf(msg, sizeof(msg), "connection limit of %llu reached "
	    "(--max-connections)",
	    (unsigned long long)c->srv->cfg->max_connections);
	conn_refuse_with(c, msg, false);
}

/*
 * True if c took the last descriptor but one: the one kept free so that
 * the next arrival can be accepted and told why it is refused, rather
 * than dropped without a word (as libuv does to what it cannot accept).
 */
static bool
conn_fds_short(struct conn *c)
{
	uv_os_fd_t	fd;
	int		probe;

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
		return (false);
	if ((probe = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return (errno == EMFILE || errno == ENFILE);
	close(probe);
	return (false);
}

static int
conn_start(struct conn *c)
{
	int	rc;

	rc = uv_timer_start(&c->timer, conn_timer_cb,
	    c->srv->cfg->handshake_timeout * 1000, 0);
	if (rc == 0)
		rc = uv_read_start((uv_stream_t *)&c->pipe, conn_alloc_cb,
		    conn_read_cb);
	return (rc);
}

struct conn *
conn_new(struct server *srv)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->srv = srv;
	c->id = ++srv->next_conn_id;
	c->opened = uv_now(srv->loop);
	c->next_handle = 1;
	TAILQ_INIT(&c->stalled);
	c->pid = -1;
	c->uid = (uid_t)-1;
	c->gid = (gid_t)-1;
	proto_buf_init(&c->out);
	proto_buf_init(&c->wbuf);
	payrefs_init(&c->orefs);
	payrefs_init(&c->wrefs);
	uv_pipe_init(srv->loop, &c->pipe, 0);
	uv_timer_init(srv->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->nopen = 2;
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	return (c);
}

void
conn_accept(struct server *srv, uv_stream_t *listener)
{
	struct quota_refusal r;
	struct conn	*c;
	int		 rc;

	if ((c = conn_new(srv)) == NULL) {
		log_error("out of memory accepting a connection");
		return;
	}
	if ((rc = uv_accept(listener, (uv_stream_t *)&c->pipe)) != 0) {
		log_warning("accept failed: %s", uv_strerror(rc));
		c->shut = true;
		conn_close_handles(c);
		return;
	}
	conn_peer_cred(c);
	if (srv->stopping) {
		conn_close_now(c);
		return;
	}
	if (conn_fds_short(c)) {
		if (!srv->fd_limit_logged)
			log_warning("out of file descriptors: refusing "
			    "connections (%s)", c->peer);
		srv->fd_limit_logged = true;
		conn_refuse_with(c, "daemon out of file descriptors", true);
		return;
	}
	srv->fd_limit_logged = false;
	if (srv->nconns > srv->cfg->max_connections) {
		conn_refuse(c);
		return;
	}
	if ((rc = quota_conn_open(c, &r)) != 0) {
		log_msg(srv->conn_limit_logged ? LOG_LEVEL_DEBUG :
		    LOG_LEVEL_WARNING, "%s, refusing %s", r.text, c->peer);
		srv->conn_limit_logged = true;
		conn_refuse_with(c, r.text, false);
		return;
	}
	srv->conn_limit_logged = false;
	log_debug("connection %llu opened (%s)", (unsigned long long)c->id,
	    c->peer);
	if ((rc = conn_start(c)) != 0) {
		log_warning("cannot start connection (%s): %s", c->peer,
		    uv_strerror(rc));
		conn_shutdown(c);
	}
}

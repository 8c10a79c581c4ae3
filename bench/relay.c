/* SPDX-License-Identifier: MIT */
/*
 * relay.c: the baseline a channel daemon is measured against. A minimal
 * two-hop relay over Unix sockets on the same libuv and the same 4-byte
 * length framing as chand, with no channel logic, made as fast as such a
 * relay goes:
 *
 * - Producers are read straight into reference-counted chunks
 *   (RELAY_CHUNK bytes, or one frame if bigger). The whole frames of a
 *   read are queued for the consumer as a reference to where they lie in
 *   the chunk: a frame is never copied in user space, only the partial
 *   frame at the end of a full chunk moves to the next one.
 * - The consumer's output is a queue of those references, written with
 *   one vectored write per loop iteration (as chand batches its output);
 *   consecutive frames of one chunk make one iovec. A chunk goes back to
 *   a free list when the last write that points into it completes.
 * - Producers stop being read while more than RELAY_HIGH bytes wait for
 *   the consumer, and start again under RELAY_LOW.
 *
 * The first frame on each connection says who it is: "P" (producer) or
 * "C" (consumer).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "bench.h"

#define RELAY_CHUNK	(256u * 1024)
#define RELAY_MIN_READ	(16u * 1024)	/* less room: read into a new chunk */
#define RELAY_FREE_MAX	64		/* chunks kept for reuse */
#define RELAY_HIGH	(4u << 20)
#define RELAY_LOW	(1u << 20)
#define RELAY_MAX_PROD	4096

struct chunk {
	struct chunk	*next;		/* on the free list */
	unsigned	 refs;		/* the reader's, one per queued iovec */
	size_t		 cap;
	char		 data[];
};

struct relay;

struct rconn {
	uv_pipe_t	 pipe;
	struct relay	*r;
	char		 role;		/* 0 until the first frame, 'P', 'C' */
	bool		 reading;
	struct chunk	*cur;		/* being read into */
	size_t		 start;		/* cur: first byte not yet queued */
	size_t		 len;		/* cur: bytes read */
};

/* References to frames in chunks, in order. */
struct outq {
	uv_buf_t	*iov;
	struct chunk	**owner;
	size_t		 n;
	size_t		 cap;
	size_t		 bytes;
};

struct relay {
	uv_loop_t	*loop;
	uv_pipe_t	 listener;
	uv_check_t	 check;
	struct rconn	*consumer;
	struct rconn	*prod[RELAY_MAX_PROD];
	size_t		 nprod;
	struct outq	 out;		/* frames for the consumer */
	struct outq	 wq;		/* being written */
	uv_write_t	 wreq;
	bool		 writing;
	bool		 paused;
	struct chunk	*free;
	unsigned	 nfree;
};

static void	relay_read_cb(uv_stream_t *, ssize_t, const uv_buf_t *);

static struct chunk *
chunk_get(struct relay *r, size_t need)
{
	struct chunk	*k;

	if (need <= RELAY_CHUNK && r->free != NULL) {
		k = r->free;
		r->free = k->next;
		r->nfree--;
	} else {
		if (need < RELAY_CHUNK)
			need = RELAY_CHUNK;
		if ((k = malloc(sizeof(*k) + need)) == NULL)
			return (NULL);
		k->cap = need;
	}
	k->next = NULL;
	k->refs = 1;
	return (k);
}

static void
chunk_put(struct relay *r, struct chunk *k)
{
	if (k == NULL || --k->refs > 0)
		return;
	if (k->cap == RELAY_CHUNK && r->nfree < RELAY_FREE_MAX) {
		k->next = r->free;
		r->free = k;
		r->nfree++;
		return;
	}
	free(k);
}

static int
outq_push(struct outq *q, struct chunk *k, size_t off, size_t len)
{
	uv_buf_t	*iov;
	struct chunk	**owner;
	size_t		 cap;

	q->bytes += len;
	/* Right after the previous frames of the same chunk: one iovec. */
	if (q->n > 0 && q->owner[q->n - 1] == k &&
	    q->iov[q->n - 1].base + q->iov[q->n - 1].len == k->data + off) {
		q->iov[q->n - 1].len += len;
		return (0);
	}
	if (q->n == q->cap) {
		cap = q->cap == 0 ? 64 : q->cap * 2;
		if ((iov = realloc(q->iov, cap * sizeof(*iov))) == NULL)
			return (-1);
		q->iov = iov;
		if ((owner = realloc(q->owner, cap * sizeof(*owner))) == NULL)
			return (-1);
		q->owner = owner;
		q->cap = cap;
	}
	q->iov[q->n] = uv_buf_init(k->data + off, (unsigned)len);
	q->owner[q->n] = k;
	q->n++;
	k->refs++;
	return (0);
}

static uint32_t
frame_len(const char *p)
{
	const unsigned char	*u = (const unsigned char *)p;

	return ((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	    (uint32_t)u[2] << 8 | u[3]);
}

static void
relay_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rconn	*c = h->data;
	struct relay	*r = c->r;
	struct chunk	*k = c->cur, *n;
	size_t		 part, need = RELAY_CHUNK;

	(void)suggested;
	*buf = uv_buf_init(NULL, 0);
	part = k != NULL ? c->len - c->start : 0;
	if (part >= BENCH_FRAME_HDR)
		need = BENCH_FRAME_HDR + (size_t)frame_len(k->data + c->start);
	if (k != NULL && part == 0 && k->refs == 1) {
		c->start = c->len = 0;	/* nothing points into it */
		if (need <= k->cap)
			goto out;
	}
	if (k == NULL || k->cap - c->len < RELAY_MIN_READ ||
	    c->start + need > k->cap) {
		/* The partial frame, if any, moves to a new chunk. */
		if ((n = chunk_get(r, need)) == NULL)
			return;		/* UV_ENOBUFS */
		if (part > 0)
			memcpy(n->data, k->data + c->start, part);
		chunk_put(r, k);
		c->cur = k = n;
		c->start = 0;
		c->len = part;
	}
out:
	*buf = uv_buf_init(k->data + c->len, (unsigned)(k->cap - c->len));
}

static void
relay_pause(struct relay *r, bool pause)
{
	size_t	i;

	r->paused = pause;
	for (i = 0; i < r->nprod; i++) {
		struct rconn *c = r->prod[i];

		if (c == NULL)
			continue;
		if (pause && c->reading)
			uv_read_stop((uv_stream_t *)&c->pipe);
		else if (!pause && !c->reading)
			uv_read_start((uv_stream_t *)&c->pipe, relay_alloc_cb,
			    relay_read_cb);
		c->reading = !pause;
	}
}

static void
outq_release(struct relay *r, struct outq *q)
{
	size_t	i;

	for (i = 0; i < q->n; i++)
		chunk_put(r, q->owner[i]);
	q->n = 0;
	q->bytes = 0;
}

static void
relay_write_cb(uv_write_t *req, int status)
{
	struct relay	*r = req->data;

	r->writing = false;
	outq_release(r, &r->wq);
	if (status < 0) {
		outq_release(r, &r->out);	/* the consumer has gone */
		return;
	}
	if (r->paused && r->out.bytes < RELAY_LOW)
		relay_pause(r, false);
}

static void
relay_check_cb(uv_check_t *check)
{
	struct relay	*r = check->data;
	struct outq	 tmp;

	if (r->writing || r->out.n == 0 || r->consumer == NULL)
		return;
	tmp = r->wq;
	r->wq = r->out;
	r->out = tmp;
	r->wreq.data = r;
	if (uv_write(&r->wreq, (uv_stream_t *)&r->consumer->pipe, r->wq.iov,
	    (unsigned)r->wq.n, relay_write_cb) != 0)
		exit(1);
	r->writing = true;
}

/* The first frame names the end; 0, or -1 if it is neither. */
static int
relay_role(struct rconn *c, const char *body, uint32_t len)
{
	struct relay	*r = c->r;

	if (len != 1 || (body[0] != 'P' && body[0] != 'C'))
		return (-1);
	c->role = body[0];
	if (c->role == 'C') {
		r->consumer = c;
		return (0);
	}
	if (r->nprod == RELAY_MAX_PROD)
		return (-1);
	r->prod[r->nprod++] = c;
	if (r->paused) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
	return (0);
}

/* Queues the whole frames read into c's chunk for the consumer. */
static int
relay_forward(struct rconn *c)
{
	struct relay	*r = c->r;
	char		*d = c->cur->data;
	size_t		 off = c->start;
	uint32_t	 len;

	if (c->role == 0 && c->len - off >= BENCH_FRAME_HDR) {
		len = frame_len(d + off);
		if (c->len - off - BENCH_FRAME_HDR < len)
			return (0);
		if (relay_role(c, d + off + BENCH_FRAME_HDR, len) != 0)
			return (-1);
		off += BENCH_FRAME_HDR + len;
		c->start = off;
	}
	if (c->role == 'C') {
		c->start = c->len;	/* a consumer says nothing more */
		return (0);
	}
	while (c->len - off >= BENCH_FRAME_HDR) {
		len = frame_len(d + off);
		if (c->len - off - BENCH_FRAME_HDR < len)
			break;
		off += BENCH_FRAME_HDR + len;
	}
	if (off > c->start && outq_push(&r->out, c->cur, c->start,
	    off - c->start) != 0)
		return (-1);
	c->start = off;
	if (!r->paused && r->out.bytes + r->wq.bytes > RELAY_HIGH)
		relay_pause(r, true);
	return (0);
}

static void
relay_close_cb(uv_handle_t *h)
{
	struct rconn	*c = h->data;

	chunk_put(c->r, c->cur);
	free(c);
}

static void
relay_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct rconn	*c = s->data;
	size_t		 i;

	(void)buf;
	if (nread == 0)
		return;
	if (nread > 0) {
		c->len += (size_t)nread;
		if (relay_forward(c) == 0)
			return;
	}
	if (c->role == 'C')
		c->r->consumer = NULL;	/* done; the parent stops the relay */
	for (i = 0; i < c->r->nprod; i++) {
		if (c->r->prod[i] == c)
			c->r->prod[i] = NULL;
	}
	uv_read_stop(s);
	uv_close((uv_handle_t *)&c->pipe, relay_close_cb);
}

static void
relay_accept_cb(uv_stream_t *listener, int status)
{
	struct relay	*r = listener->data;
	struct rconn	*c;

	if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->r = r;
	uv_pipe_init(r->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(listener, (uv_stream_t *)&c->pipe) != 0 ||
	    uv_read_start((uv_stream_t *)&c->pipe, relay_alloc_cb,
	    relay_read_cb) != 0) {
		uv_close((uv_handle_t *)&c->pipe, relay_close_cb);
		return;
	}
	c->reading = true;
}

int
relay_main(const char *path, int ready_fd)
{
	static struct relay	r;

	r.loop = uv_default_loop();
	uv_pipe_init(r.loop, &r.listener, 0);
	r.listener.data = &r;
	if (uv_pipe_bind(&r.listener, path) != 0 ||
	    uv_listen((uv_stream_t *)&r.listener, 1024, relay_accept_cb) != 0)
		return (-1);
	uv_check_init(r.loop, &r.check);
	r.check.data = &r;
	uv_check_start(&r.check, relay_check_cb);
	if (write(ready_fd, "READY\n", 6) != 6)
		return (-1);
	close(ready_fd);
	return (uv_run(r.loop, UV_RUN_DEFAULT));
}

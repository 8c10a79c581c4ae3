/* SPDX-License-Identifier: MIT */
/*
 * relay.c: the baseline a channel daemon is measured against. A minimal
 * two-hop relay over Unix sockets on the same libuv and the same 4-byte
 * length framing as chand, with no channel logic: every whole frame read
 * from a producer is copied to the consumer's output, which is written
 * once per loop iteration (as chand batches its output), and producers
 * stop being read while that output is over a high-water mark. The first
 * frame on each connection says who it is: "P" (producer) or "C".
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "bench.h"

#define RELAY_RBUF	BENCH_BATCH
#define RELAY_HIGH	(4u << 20)
#define RELAY_LOW	(1u << 20)
#define RELAY_MAX_PROD	4096

struct relay;

struct rconn {
	uv_pipe_t	 pipe;
	struct relay	*r;
	char		 role;		/* 0 until the first frame, 'P', 'C' */
	bool		 reading;
	char		*rbuf;
	size_t		 rlen;
	size_t		 rcap;
};

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

struct relay {
	uv_loop_t	*loop;
	uv_pipe_t	 listener;
	uv_check_t	 check;
	struct rconn	*consumer;
	struct rconn	*prod[RELAY_MAX_PROD];
	size_t		 nprod;
	struct buf	 out;		/* frames for the consumer */
	struct buf	 wbuf;		/* being written */
	uv_write_t	 wreq;
	bool		 writing;
	bool		 paused;
};

static void	relay_read_cb(uv_stream_t *, ssize_t, const uv_buf_t *);

static int
buf_append(struct buf *b, const char *p, size_t len)
{
	size_t	 cap;
	char	*n;

	if (len > b->cap - b->len) {
		cap = b->cap == 0 ? RELAY_RBUF : b->cap;
		while (cap - b->len < len)
			cap *= 2;
		if ((n = realloc(b->data, cap)) == NULL)
			return (-1);
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
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
	size_t		 need = c->rcap;

	/* A frame bigger than the buffer gets room for all of it. */
	if (c->rlen >= BENCH_FRAME_HDR)
		need = BENCH_FRAME_HDR + frame_len(c->rbuf);
	if (need < RELAY_RBUF)
		need = RELAY_RBUF;
	if (need > c->rcap) {
		char *n = realloc(c->rbuf, need);

		if (n != NULL) {
			c->rbuf = n;
			c->rcap = need;
		}
	}
	*buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
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
relay_write_cb(uv_write_t *req, int status)
{
	struct relay	*r = req->data;

	r->writing = false;
	r->wbuf.len = 0;
	if (status < 0) {
		r->out.len = 0;		/* the consumer has gone */
		return;
	}
	if (r->paused && r->out.len < RELAY_LOW)
		relay_pause(r, false);
}

static void
relay_check_cb(uv_check_t *check)
{
	struct relay	*r = check->data;
	struct buf	 tmp;
	uv_buf_t	 b;

	if (r->writing || r->out.len == 0 || r->consumer == NULL)
		return;
	tmp = r->wbuf;
	r->wbuf = r->out;
	r->out = tmp;
	b = uv_buf_init(r->wbuf.data, (unsigned)r->wbuf.len);
	r->wreq.data = r;
	if (uv_write(&r->wreq, (uv_stream_t *)&r->consumer->pipe, &b, 1,
	    relay_write_cb) != 0)
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

/* Copies the whole frames at the start of c's buffer to the output. */
static int
relay_forward(struct rconn *c)
{
	struct relay	*r = c->r;
	size_t		 off = 0, start;
	uint32_t	 len;

	if (c->role == 0 && c->rlen >= BENCH_FRAME_HDR) {
		len = frame_len(c->rbuf);
		if (c->rlen < BENCH_FRAME_HDR + len)
			return (0);
		if (relay_role(c, c->rbuf + BENCH_FRAME_HDR, len) != 0)
			return (-1);
		off = BENCH_FRAME_HDR + len;
	}
	start = off;
	while (c->rlen - off >= BENCH_FRAME_HDR) {
		len = frame_len(c->rbuf + off);
		if (c->rlen - off - BENCH_FRAME_HDR < len)
			break;
		off += BENCH_FRAME_HDR + len;
	}
	if (off > start && buf_append(&r->out, c->rbuf + start,
	    off - start) != 0)
		return (-1);
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	if (!r->paused && r->out.len + r->wbuf.len > RELAY_HIGH)
		relay_pause(r, true);
	return (0);
}

static void
relay_close_cb(uv_handle_t *h)
{
	struct rconn	*c = h->data;

	free(c->rbuf);
	free(c);
}

static void
relay_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct rconn	*c = s->data;
	size_t		 i;

	if (nread == 0)
		return;
	if (nread > 0) {
		c->rlen += (size_t)nread;
		if (relay_forward(c) == 0)
			return;
	}
	if (c->role == 'C')
		c->r->consumer = NULL;	/* done; the parent stops the relay */
	for (i = 0; i < c->r->nprod; i++) {
		if (c->r->prod[i] == c)
			c->r->prod[i] = NULL;
	}
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

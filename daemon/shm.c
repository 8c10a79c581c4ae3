/* SPDX-License-Identifier: MIT */
/*
 * shm.c: producer rings in shared memory (shm.h, docs/protocol.md): a
 * ring's life. Making and mapping a ring, passing its descriptors
 * (RING_FETCH), waking its producer, the end of a producer's ring and
 * collecting its records before a RECALL. Grants are in shm_grant.c,
 * reading producer rings in shm_take.c, consumer rings in shm_rx.c; what
 * they share is in shm_int.h.
 */
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "proto.h"
#include "pump.h"
#include "server.h"
#include "shm.h"
#include "shm_int.h"
#include "shmring.h"

/*
 * A wake-up connection: a socket pair, whose ends the daemon and its
 * clients use with per-call flags (MSG_DONTWAIT, MSG_NOSIGNAL), so that no
 * end's file status flags, which whoever holds the end may change, make
 * a send or a receive block.
 */
int
shm_wake_pair(int p[2])
{
	return (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, p));
}

void
shm_wake(int fd)
{
	static const uint64_t one = 1;

	/* Full (EAGAIN) already wakes the reader; EPIPE: it has gone. */
	if (send(fd, &one, sizeof(one), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    errno != EAGAIN && errno != EPIPE && errno != ECONNRESET)
		log_debug("wake-up send: %s", strerror(errno));
}

int
shm_drain_fd(int fd)
{
	char	buf[4096];
	ssize_t	n;

	/*
	 * One receive: a client that keeps writing keeps the end readable,
	 * and the loop comes back to it, rather than this never ending.
	 */
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) < 0 &&
	    errno == EINTR)
		;
	return (n == 0 ? -1 : 0);
}

/*
 * r's wake descriptor (PROTO_FEAT_WAKE), for a producer that asked for
 * it: the end it sends on, which the caller passes and closes; r keeps
 * the end a direct reader receives on (r->wake_r). -1 if it cannot be
 * made.
 */
static int
shm_wake_ends(struct shm_ring *r)
{
	int	p[2];

	if (shm_wake_pair(p) != 0) {
		log_warning("cannot make a ring's wake descriptor: %s",
		    strerror(errno));
		return (-1);
	}
	r->wake_r = p[0];
	return (p[1]);
}

bool
shm_woken(const struct shm_ring *r)
{
	/* A wait it began without waking the daemon (watched) says it ran. */
	return (r->woken && shmring_waits_begun(r->map) == r->woken_waits);
}

/*
 * Wakes r's waiting producer: its wake-up pair; and a RING_WAKE on its
 * connection if it waits in an event loop (it watches its socket only),
 * unless that connection's output is past the mark already: a client
 * that does not read its socket gets no more.
 */
void
shm_wake_producer(struct shm_ring *r)
{
	struct conn	*c;

	r->space_wait = false;
	r->woken = true;
	r->woken_waits = shmring_waits_begun(r->map);
	if (r->wake_held) {
		r->wake_due = true;
		return;
	}
	shm_wake(r->efd_prod);
	if (r->h == NULL ||
	    shmring_producer_wait_kind(r->map) != SHMRING_WAIT_SOCKET)
		return;
	c = r->h->conn;
	if (!conn_can_deliver(c) || proto_enc_ring_wake(&c->out,
	    r->h->id) != 0)
		return;
	conn_dirty(c);
}

static void
shm_close_fds(struct shm_ring *r)
{
	if (r->map != NULL)
		munmap(r->map, r->maplen);
	if (r->fd >= 0)
		close(r->fd);
	if (r->efd_daemon >= 0)
		close(r->efd_daemon);
	if (r->kick_w >= 0)
		close(r->kick_w);
	if (r->efd_prod >= 0)
		close(r->efd_prod);
	if (r->prod_r >= 0)
		close(r->prod_r);
	if (r->wake_r >= 0)
		close(r->wake_r);
}

void
shm_free_cb(uv_handle_t *handle)
{
	struct shm_ring	*r = handle->data;

	shm_close_fds(r);
	free(r);
}

static int
shm_map(struct shm_ring *r, uint32_t size)
{
	int	kick[2], wake[2];

	r->maplen = SHMRING_HDR_SIZE + (size_t)size;
	if ((r->fd = memfd_create("chand-ring", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0)
		return (-1);
	if (ftruncate(r->fd, (off_t)r->maplen) != 0 ||
	    fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) != 0)
		return (-1);
	r->map = mmap(NULL, r->maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
	    r->fd, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return (-1);
	}
	if (shm_wake_pair(kick) != 0)
		return (-1);
	r->efd_daemon = kick[0];
	r->kick_w = kick[1];
	if (shm_wake_pair(wake) != 0)
		return (-1);
	r->prod_r = wake[0];
	r->efd_prod = wake[1];
	return (0);
}

/*
 * The longest record of a ring of size data bytes: what the layout
 * allows, and no more than a message may be.
 */
static uint32_t
shm_max_record(const struct server *srv, uint32_t size)
{
	uint32_t	max = shmring_max_record(size);

	return (srv->cfg->max_msg_size < max ? (uint32_t)srv->cfg->max_msg_size :
	    max);
}

/*
 * The parts every ring has: the memory (size data bytes), the two
 * wake-up socket pairs, the token, and the watch on the end the daemon
 * reads (poll_cb). 0 with *rp set, or a CHAN_E* code with *why.
 */
int
shm_ring_make(struct conn *c, struct handle *h, uint32_t size,
    uv_poll_cb poll_cb, struct shm_ring **rp, const char **why)
{
	struct server	*srv = c->srv;
	struct shm_ring	*r;

	if (srv->ring_bytes + size > SHM_TOTAL_MAX) {
		*why = "rings use all the memory the daemon gives them";
		return (CHAN_ELIMIT);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		*why = "out of memory";
		return (CHAN_ENOMEM);
	}
	r->fd = r->efd_daemon = r->kick_w = r->efd_prod = r->prod_r = -1;
	r->wake_r = -1;
	if (shm_map(r, size) != 0 || getrandom(&r->token,
	    sizeof(r->token), 0) != (ssize_t)sizeof(r->token)) {
		log_warning("cannot make a ring: %s", strerror(errno));
		shm_close_fds(r);
		free(r);
		*why = "cannot make the shared memory";
		return (CHAN_ENOMEM);
	}
	if (uv_poll_init(srv->loop, &r->poll, r->efd_daemon) != 0) {
		shm_close_fds(r);
		free(r);
		*why = "cannot watch the ring";
		return (CHAN_ENOMEM);
	}
	r->poll.data = r;
	r->polling = true;
	(void)uv_poll_start(&r->poll, UV_READABLE, poll_cb);
	r->srv = srv;
	r->h = h;
	r->ch = h->ch;
	r->data_size = size;
	r->uid = c->uid;
	r->token_until = uv_now(srv->loop) + SHM_TOKEN_SECS * 1000;
	r->srv_next = srv->rings;
	srv->rings = r;
	srv->ring_bytes += size;
	h->ring = r;
	*rp = r;
	return (0);
}

int
shm_ring_new(struct conn *c, struct handle *h, uint32_t size,
    uint64_t *token, const char **why)
{
	struct server	*srv = c->srv;
	struct channel	*ch = h->ch;
	struct shm_ring	*r;
	uint32_t	 maxrec;
	int		 rc;

	if (h->ring != NULL) {
		*why = "the handle has a ring";
		return (CHAN_EPROTO);
	}
	if (h->rx)
		return (shm_rx_ring_new(c, h, size, token, why));
	if (ch->durable || ch->cap_msgs == 0) {
		*why = ch->durable ? "a durable channel keeps the socket path" :
		    "a rendezvous channel keeps the socket path";
		return (CHAN_EOPTION);
	}
	if (size == 0)
		size = SHM_RING_DEFAULT;
	if (size > SHM_RING_MAX)
		size = SHM_RING_MAX;
	if (!shmring_valid_sizes(size, 0)) {
		*why = "ring size must be a power of two from 4096";
		return (CHAN_EOPTION);
	}
	if ((rc = shm_ring_make(c, h, size, shm_poll_cb, &r, why)) != 0)
		return (rc);
	maxrec = shm_max_record(srv, size);
	shmring_init(r->map, size, maxrec);
	shmring_reader_init(&r->rd, r->map, size, maxrec);
	shmring_set_cons_wait(r->map, 1);
	/* The consumer reads the rings it has, and is offered them again. */
	shm_direct_regroup(srv, ch);
	shm_set_alone(ch, false);
	shmring_set_alone(r->map, ch->rings == NULL);
	r->ch_next = ch->rings;
	ch->rings = r;
	srv->nrings++;
	shm_grant(r);
	*token = r->token;
	return (0);
}

void
shm_stop(struct server *srv)
{
	if (srv->shm_spin_on)
		uv_close((uv_handle_t *)&srv->shm_spin_idle, NULL);
	srv->shm_spin_on = false;
	if (srv->shm_again_on)
		uv_close((uv_handle_t *)&srv->shm_again_idle, NULL);
	srv->shm_again_on = false;
	srv->shm_again = NULL;
}

static void
shm_again_cb(uv_idle_t *idle)
{
	struct server	*srv = idle->data;
	struct shm_ring	*r, *next;

	/*
	 * The rings asked for now; a look that asks again goes to the next
	 * turn. A ring that ends meanwhile is freed only once the loop
	 * closes its handle, after this callback, and is looked at no more
	 * (r->h is NULL).
	 */
	r = srv->shm_again;
	srv->shm_again = NULL;
	(void)uv_idle_stop(idle);
	for (; r != NULL; r = next) {
		next = r->again_next;
		r->again = false;
		r->again_next = NULL;
		shm_poll_cb(&r->poll, 0, UV_READABLE);
	}
}

void
shm_look_again(struct shm_ring *r)
{
	struct server	*srv = r->srv;

	if (r->again || r->h == NULL)
		return;
	if (!srv->shm_again_on) {
		if (uv_idle_init(srv->loop, &srv->shm_again_idle) != 0)
			return;
		srv->shm_again_idle.data = srv;
		srv->shm_again_on = true;
	}
	r->again = true;
	r->again_next = srv->shm_again;
	srv->shm_again = r;
	(void)uv_idle_start(&srv->shm_again_idle, shm_again_cb);
}

/*
 * r ends: off the rings to look at again. One in the list shm_again_cb
 * walks now stays there (its look finds it ended).
 */
static void
shm_again_unlink(struct shm_ring *r)
{
	struct shm_ring	**rp;

	if (!r->again)
		return;
	for (rp = &r->srv->shm_again; *rp != NULL; rp = &(*rp)->again_next) {
		if (*rp == r) {
			*rp = r->again_next;
			r->again = false;
			r->again_next = NULL;
			break;
		}
	}
}

int
shm_send_fds(struct conn *c, uint32_t rid, const int *fds, size_t nfds)
{
	struct proto_buf	 b;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		char		buf[CMSG_SPACE(SHM_FDS_MAX * sizeof(int))];
		struct cmsghdr	align;
	} u;
	int			 fd, rc = -1;
	ssize_t			 n;

	proto_buf_init(&b);
	if (nfds > SHM_FDS_MAX ||
	    uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    proto_enc_ok(&b, rid) != 0)
		goto out;
	memset(&mh, 0, sizeof(mh));
	memset(&u, 0, sizeof(u));
	iov.iov_base = b.data;
	iov.iov_len = b.len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	/* Nothing else was ever written on this socket: it has room. */
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)b.len)
		rc = 0;
out:
	proto_buf_fini(&b);
	return (rc);
}

void
shm_ring_fetch(struct conn *c, const struct proto_msg *m)
{
	struct server	*srv = c->srv;
	struct shm_ring	*r;
	int		 fds[4], rc;
	size_t		 n = 3;

	if (shm_direct_fetch(c, m))
		return;
	for (r = srv->rings; r != NULL; r = r->srv_next) {
		if (r->token == m->token && !r->fetched)
			break;
	}
	if (r == NULL || (r->h == NULL && r->conn == NULL) || r->uid != c->uid ||
	    uv_now(srv->loop) > r->token_until) {
		log_notice("RING_FETCH with no valid token (%s)", c->peer);
		dispatch_conn_error(c, CHAN_EPROTO, "no ring for that token");
		return;
	}
	r->fetched = true;
	fds[0] = r->fd;
	fds[1] = r->kick_w;
	fds[2] = r->prod_r;
	/* A producer that wakes a sleeping direct reader itself. */
	r->claims = (m->count & PROTO_FETCH_CLAIMS) != 0 && !r->consumer;
	if ((m->count & PROTO_FETCH_WAKE) && !r->consumer && r->wake_r < 0 &&
	    (fds[3] = shm_wake_ends(r)) >= 0)
		n = 4;
	rc = shm_send_fds(c, m->rid, fds, n);
	if (n == 4)
		close(fds[3]);
	if (rc != 0) {
		log_notice("cannot pass a ring's descriptors: %s (%s)",
		    strerror(errno), c->peer);
		dispatch_conn_error(c, CHAN_ENOMEM, "cannot pass the ring");
		return;
	}
	/* Fetched once: the end the producer reads is its alone now. */
	close(r->prod_r);
	r->prod_r = -1;
	conn_mark_close(c);
	r->cons_wake = n == 4;
	if (!r->consumer)
		shm_direct_offer(srv, r->ch);
}

void
shm_collect(struct server *srv, struct channel *ch)
{
	(void)srv;
	if (shm_take_now(ch) > 0)
		shm_answer_rings(ch);
}

void
shm_ring_refuse(struct server *srv, struct handle *h, int code)
{
	struct shm_ring	*r = h->ring;

	if (r->bad)
		return;
	shm_direct_end(srv, r->ch);
	shm_collect(srv, r->ch);
	if (r->bad)
		return;
	r->bad = true;
	shm_release(r);
	shmring_close(r->map, code);
	shm_wake_producer(r);
}

void
shm_ring_end(struct server *srv, struct handle *h)
{
	struct shm_ring	*r = h->ring, **rp;
	struct channel	*ch = r->ch;

	/* The rings left may be offered again at once; this one, never. */
	r->direct_done = true;
	/* Every record committed before now is the producer's to send. */
	shm_direct_regroup(srv, ch);
	if (shm_take_now(ch) > 0)
		pump_channel(srv, ch);
	/* What a clock gone wrong left behind, in the ring's order. */
	r->took = 0;
	shm_take_ring(r);
	if (r->took > 0)
		pump_channel(srv, ch);
	if (!r->bad)
		shmring_close(r->map, CHAN_ECONNLOST);
	shm_wake(r->efd_prod);
	shm_release(r);
	for (rp = (struct shm_ring **)&ch->rings; *rp != r;
	    rp = &(*rp)->ch_next)
		;
	*rp = r->ch_next;
	for (rp = &srv->rings; *rp != r; rp = &(*rp)->srv_next)
		;
	*rp = r->srv_next;
	srv->ring_bytes -= r->data_size;
	srv->nrings--;
	if (ch->rings != NULL && ((struct shm_ring *)ch->rings)->ch_next ==
	    NULL)
		shm_set_alone(ch, true);
	if (ch->rings == NULL && ch->shm_spinning)
		shm_spin_unlink(srv, ch);
	r->h = NULL;
	h->ring = NULL;
	shm_again_unlink(r);
	/* Its room is free again for the others. */
	shm_room(srv, ch);
	uv_close((uv_handle_t *)&r->poll, shm_free_cb);
}

/* SPDX-License-Identifier: MIT */
/*
 * rx_shm.c: a receiver's ring in shared memory (CHAN_SHM; docs/
 * protocol.md, "Consumer rings"). The daemon writes the receiver's
 * DELIVER and DISCONNECTED frames into the ring instead of the socket;
 * the library reads them from memory and dispatches them as if they had
 * come on the socket, before anything the socket brings after them.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "shmring.h"

/*
 * Frames of a bite (rx_shm_dispatch with a max) at most: fewer than a
 * thread keeps small message blocks for (msg.c), so that the messages of
 * one bite are made from the blocks the last one's gave back.
 */
#define RX_SHM_BITE_FRAMES	512

struct rx_shm {
	struct shmring_reader	 rd;
	void			*map;
	size_t			 maplen;
	int			 efd_daemon;	/* wakes a daemon waiting for
						   room */
};

/* Maps the ring whose descriptors fds are: 0 with *out set, or an error. */
static int
rx_shm_map(int fds[3], struct rx_shm **out)
{
	struct rx_shm	*s;
	struct stat	 st;

	close(fds[2]);		/* the daemon never sleeps on a reader */
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		close(fds[0]);
		close(fds[1]);
		return (CHAN_ENOMEM);
	}
	s->efd_daemon = fds[1];
	if (fstat(fds[0], &st) != 0 || st.st_size < SHMRING_HDR_SIZE ||
	    (s->map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fds[0], 0)) == MAP_FAILED) {
		close(fds[0]);
		close(s->efd_daemon);
		free(s);
		return (CHAN_ESYS);
	}
	close(fds[0]);
	s->maplen = (size_t)st.st_size;
	if (shmring_reader_attach(&s->rd, s->map, s->maplen) != 0) {
		munmap(s->map, s->maplen);
		close(s->efd_daemon);
		free(s);
		return (CHAN_EPROTO);
	}
	*out = s;
	return (0);
}

int
rx_shm_setup(struct chan_client *c, struct chan_rx *rx)
{
	struct conn_req	 r;
	int		 fds[4], rc;

	if (!(c->features & PROTO_FEAT_RXRING))
		return (0);		/* the socket path */
	conn_req_init(c, &r, PROTO_RING_TOKEN, rx->errmsg);
	if ((rc = proto_enc_ring(&c->wbuf, r.rid, rx->handle, 0)) != 0)
		return (rc);
	/*
	 * From the daemon's RING on, rx's frames go into the ring. None of
	 * them can be a delivery yet (rx has granted no credit), so none is
	 * read before a frame the daemon sent on the socket before.
	 */
	if ((rc = conn_call(c, &r, NULL)) != 0)
		/* A daemon whose messages need too big a ring, or out of
		   ring memory: rx stays on the socket. */
		return (rc == CHAN_EOPTION || rc == CHAN_ELIMIT ? 0 : rc);
	if (c->rx_ring != NULL)
		return (0);
	/* The connection's first: the ring is made, rx not yet in it. */
	pthread_mutex_unlock(&c->mu);
	rc = shm_fetch(c->path, r.token, fds, 0);
	pthread_mutex_lock(&c->mu);
	if (rc != 0)
		/* At the daemon's connection limit, say: the socket path. */
		return (rc == CHAN_ENOMEM ? rc : 0);
	if (c->rx_ring == NULL) {
		if ((rc = rx_shm_map(fds, &c->rx_ring)) != 0)
			return (rc);
		/* Read before the daemon writes: asks for a RING_WAKE. */
		shmring_set_cons_wait(c->rx_ring->map, 1);
	} else {
		/* Another thread's receiver fetched it meanwhile. */
		close(fds[0]);
		close(fds[1]);
		close(fds[2]);
	}
	/* Now held: rx's frames go into the ring from this RING on. */
	conn_req_init(c, &r, PROTO_RING_TOKEN, rx->errmsg);
	if ((rc = proto_enc_ring(&c->wbuf, r.rid, rx->handle, 0)) != 0)
		return (rc);
	return (conn_call(c, &r, NULL));
}

void
rx_shm_free(struct chan_client *c)
{
	struct rx_shm	*s = c->rx_ring;

	if (s == NULL)
		return;
	munmap(s->map, s->maplen);
	close(s->efd_daemon);
	free(s);
	c->rx_ring = NULL;
}

void
rx_shm_dispatch(struct chan_client *c, size_t max)
{
	struct rx_shm		*s = c->rx_ring;
	const unsigned char	*p;
	uint32_t		 len;
	size_t			 n = 0, bytes = 0, body;
	int			 rc = 0;

	/* Not from inside a frame's handler: see conn_dispatch. */
	if (s == NULL || c->dispatching)
		return;
	(void)rx_direct_pull_all(c);
	/*
	 * A blocking reader asks for a RING_WAKE only before it sleeps; in
	 * non-blocking mode the application's loop watches the socket, so
	 * the ring stays armed, and the daemon's RING_WAKE disarms it.
	 */
	if (!c->nonblock && shmring_cons_waits(s->map))
		shmring_set_cons_wait(s->map, 0);
	if (shmring_poll(&s->rd, s->map) != 0) {
		conn_fail(c, "the daemon's ring has an impossible head");
		return;
	}
	while (!c->dead && (max == 0 || (bytes < max &&
	    n < RX_SHM_BITE_FRAMES)) &&
	    (rc = shmring_next(&s->rd, &p, &len)) == 1) {
		/* A record is one whole frame, and nothing else. */
		if (proto_frame_check(p, len, proto_max_body(c->max_msg),
		    &body) != 1 || PROTO_HEADER_LEN + body != len) {
			conn_fail(c, "the daemon wrote a bad frame in a ring");
			return;
		}
		conn_dispatch(c, (const char *)p + PROTO_HEADER_LEN, body);
		n++;
		bytes += len;
	}
	if (rc < 0) {
		conn_fail(c, "the daemon wrote a bad record in a ring");
		return;
	}
	if (n == 0)
		return;
	shmring_release(&s->rd, s->map);
	/* The daemon waits for the room just freed. */
	if (shmring_producer_waits(s->map) && wake_send(s->efd_daemon) != 0)
		conn_fail(c, "cannot wake the daemon");
}

/*
 * Whether s holds frames not yet dispatched; or a head it cannot have,
 * which rx_shm_dispatch then finds.
 */
static int
rx_shm_has_frames(struct rx_shm *s)
{
	return (shmring_poll(&s->rd, s->map) != 0 || s->rd.head != s->rd.pos);
}

int
rx_shm_arm(struct chan_client *c)
{
	struct rx_shm	*s = c->rx_ring;

	if (s == NULL)
		return (0);
	if (rx_direct_arm(c))
		return (1);
	shmring_set_cons_wait(s->map, 1);
	return (rx_shm_has_frames(s));
}

int
rx_shm_woken(struct chan_client *c)
{
	struct rx_shm	*s = c->rx_ring;

	if (s == NULL)
		return (0);
	return (rx_direct_ready(c) || rx_shm_has_frames(s));
}

int
rx_shm_ready(struct chan_client *c, uint64_t *pos)
{
	struct rx_shm	*s = c->rx_ring;
	size_t		 i;

	if (rx_shm_has_frames(s))
		return (1);
	*pos = s->rd.pos;
	c->ndwatch = rx_direct_watch(c, c->dwatch, RX_DIRECT_WATCH);
	for (i = 0; i < c->ndwatch; i++)
		if (shmring_moved(c->dwatch[i].ring, c->dwatch[i].pos))
			return (1);
	return (0);
}

int
rx_shm_moved(struct chan_client *c, uint64_t pos, int arm)
{
	struct rx_shm	*s = c->rx_ring;

	size_t		 i;

	for (i = 0; i < c->ndwatch; i++)
		if (shmring_moved(c->dwatch[i].ring, c->dwatch[i].pos))
			return (1);
	if (arm)
		shmring_set_cons_wait(s->map, 1);
	return (shmring_moved(s->map, pos));
}

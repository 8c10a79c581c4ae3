/* SPDX-License-Identifier: MIT */
/*
 * rx_direct.c: a receiver that reads its channel's producer rings itself
 * (direct reading; docs/protocol.md, "Direct reading"). The daemon offers
 * it (DIRECT_OFFER) to a receiver on a ring while the channel has only
 * producer rings and nothing else; the library maps the rings read-only
 * and a page of claims (proto/shmdirect.h), and from then on takes the
 * producers' records from memory: it merges the rings by stamp (as the
 * daemon would), claims a bite, copies it into messages and hands them
 * out in order, with seqs following the last delivery. Acknowledgements
 * go into the page; a receiver about to sleep says so there and wakes
 * the daemon, which sends RING_WAKE when a ring moves. The daemon may
 * take the rings back at any moment: the next claim fails, and
 * DIRECT_OFF says up to which seq the receiver had read.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "shmdirect.h"
#include "shmring.h"

/*
 * Records and payload bytes of one bite at most (one claim): as a ring's
 * bite (rx_shm.c), under malloc's trim threshold, so that the messages
 * of one bite, freed together, do not make it give the heap back and
 * fault it in again for the next.
 */
#define RX_DIRECT_BITE_RECORDS	512
#define RX_DIRECT_BITE_BYTES	(64u << 10)

struct rx_direct {
	LIST_ENTRY(rx_direct)	 entry;		/* c->directs, or c->dead_dirs */
	struct chan_rx		*rx;
	uint32_t		 nrings;
	void			*ring[SHMDIRECT_MAX_RINGS];	/* read-only */
	size_t			 ringlen[SHMDIRECT_MAX_RINGS];
	struct shmring_reader	 rd[SHMDIRECT_MAX_RINGS];
	void			*page;
	int			 efd;		/* wakes the daemon */
	/* The wake descriptors of the rings whose producers wake it. */
	int			 wake_fd[SHMDIRECT_MAX_RINGS];
	uint32_t		 nwake;
	struct shmdirect_claimer cl;
	struct shmring_window	 win;		/* the bite's clock readings */
	uint64_t		 ack_base;	/* rx->ack_sent when mapped: what
						   the socket told the daemon */
	int			 armed;		/* the daemon is to RING_WAKE */
	uint32_t		 armed_how;	/* SHMDIRECT_WAIT_*: or the
						   producers, on wake_fd */
	int			 revoked;	/* a claim failed, or a frame
						   came: nothing more read */
	int			 log_asked;	/* woke the daemon to free log
						   entries */
};

/* One bite: what it read, in which order, and the cursors before it. */
struct rx_bite {
	struct shmring_rec	 rec[RX_DIRECT_BITE_RECORDS];
	uint64_t		 runs[RX_DIRECT_BITE_RECORDS];
	size_t			 nruns;
	struct shmdirect_claim	 next;
	struct shmring_reader	 saved[SHMDIRECT_MAX_RINGS];
};

static void
rx_direct_unmap(struct rx_direct *d)
{
	uint32_t	i;

	for (i = 0; i < d->nrings; i++) {
		if (d->ring[i] != NULL)
			munmap(d->ring[i], d->ringlen[i]);
	}
	if (d->page != NULL)
		munmap(d->page, SHMDIRECT_SIZE);
	if (d->efd >= 0)
		close(d->efd);
	shm_close_fds(d->wake_fd, (int)d->nwake);
	free(d);
}

/* Maps ring i of d from its descriptor fd: 0, or -1. */
static int
rx_direct_map_ring(struct rx_direct *d, uint32_t i, int fd)
{
	struct stat	st;

	if (fstat(fd, &st) != 0 || st.st_size < SHMRING_HDR_SIZE)
		return -1;
	d->ringlen[i] = (size_t)st.st_size;
	if ((d->ring[i] = mmap(NULL, d->ringlen[i], PROT_READ, MAP_SHARED,
	    fd, 0)) == MAP_FAILED) {
		d->ring[i] = NULL;
		return -1;
	}
	if (shmring_reader_attach(&d->rd[i], d->ring[i], d->ringlen[i]) != 0)
		return -1;
	d->rd[i].pos = d->rd[i].tail = d->cl.at.pos[i];
	d->rd[i].taken = d->cl.at.rec[i];
	return 0;
}

/*
 * Maps the descriptors of an offer (n: the page, the one that wakes the
 * daemon, the rings, then the wake descriptors of the rings whose
 * producers hold one, if the daemon passed them), which it closes: 0 with
 * *out, or -1.
 */
static int
rx_direct_map(int *fds, size_t n, struct rx_direct **out)
{
	struct rx_direct *d = NULL;
	uint32_t	 i;
	int		 rc = -1;

	if (n < 3 || (d = calloc(1, sizeof(*d))) == NULL)
		goto out;
	d->efd = fds[1];
	fds[1] = -1;
	if ((d->page = mmap(NULL, SHMDIRECT_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fds[0], 0)) == MAP_FAILED) {
		d->page = NULL;
		goto out;
	}
	if (shmdirect_claimer_attach(&d->cl, d->page, SHMDIRECT_SIZE) != 0 ||
	    n < 2 + (size_t)d->cl.nrings || n > 2 + 2 * (size_t)d->cl.nrings)
		goto out;
	for (i = 2 + d->cl.nrings; i < n; i++) {
		d->wake_fd[d->nwake++] = fds[i];
		fds[i] = -1;
	}
	for (i = 0; i < d->cl.nrings; i++) {
		d->nrings = i + 1;
		if (rx_direct_map_ring(d, i, fds[2 + i]) != 0)
			goto out;
	}
	*out = d;
	d = NULL;
	rc = 0;
out:
	shm_close_fds(fds, (int)n);
	if (d != NULL)
		rx_direct_unmap(d);
	return rc;
}

/*
 * Tells the daemon to take the rings back (DIRECT on), if it has not: on
 * 0 for good, 2 for this time (a later offer may do). It answers OFF.
 */
static void
rx_direct_give_up(struct chan_rx *rx, unsigned on)
{
	if (rx->direct != NULL)
		rx->direct->revoked = 1;
	if (rx->closing)
		return;
	/* Written now: a receive may be waiting for what the ring holds. */
	if (proto_enc_direct(&rx->c->wbuf, 0, rx->handle, on) != 0)
		conn_fail(rx->c, "out of memory");
	else if (rx->c->nonblock || rx->c->dispatching)
		(void)conn_write_nb(rx->c);
	else
		(void)conn_write(rx->c);
}

void
rx_direct_offer(struct chan_client *c, uint32_t handle, uint64_t token)
{
	struct chan_rx	*rx;
	struct rx_direct *d;
	int		 fds[SHM_FETCH_FDS_MAX], rc, refused;
	size_t		 n;

	if ((rx = rx_find(c, handle)) == NULL)
		return;
	/* A select waits on the daemon's frames alone. */
	if (rx->no_direct) {
		rx_direct_give_up(rx, 0);
		return;
	}
	if (rx->direct != NULL) {
		conn_fail(c, "daemon offered a ring to a receiver that has one");
		return;
	}
	/*
	 * The fetch is a short exchange on a second connection, made with
	 * the connection's lock held: no other thread sees the receiver
	 * half set up.
	 */
	if ((rc = shm_fetch_n(c->path, token, 0, fds, SHM_FETCH_FDS_MAX, &n,
	    &refused)) != 0) {
		/*
		 * ERROR(PROTO): the daemon has no offer for that token. It
		 * took it back before the fetch (a ring came or went, or the
		 * token ran out) and says so with DIRECT_OFF, behind which a
		 * newer offer may already be on its way: giving up now would
		 * refuse that one.
		 */
		if (!(refused && rc == CHAN_EPROTO))
			rx_direct_give_up(rx, 2);
		return;
	}
	if (rx_direct_map(fds, n, &d) != 0) {
		rx_direct_give_up(rx, 0);
		return;
	}
	d->rx = rx;
	d->ack_base = rx->ack_sent;
	rx->direct = d;
	LIST_INSERT_HEAD(&c->directs, d, entry);
}

/* Frees d now, or once the thread that reads stops watching it. */
static void
rx_direct_free(struct chan_client *c, struct rx_direct *d)
{
	LIST_REMOVE(d, entry);
	d->rx->direct = NULL;
	d->rx = NULL;
	if (c->reading)
		LIST_INSERT_HEAD(&c->dead_dirs, d, entry);
	else
		rx_direct_unmap(d);
}

void
rx_direct_reap(struct chan_client *c)
{
	struct rx_direct *d;

	while ((d = LIST_FIRST(&c->dead_dirs)) != NULL) {
		LIST_REMOVE(d, entry);
		rx_direct_unmap(d);
	}
}

/*
 * The daemon took the ring back: acknowledgements written into the page
 * since it was mapped may have come after its last look there, those of
 * messages delivered on the socket before it as much as of records read
 * from the ring. The next ACK carries them all again (an ACK of what is
 * acknowledged already changes nothing).
 */
static void
rx_direct_unread(struct chan_rx *rx)
{
	if (rx->ack_sent > rx->direct->ack_base)
		rx->ack_sent = rx->direct->ack_base;
}

void
rx_direct_off(struct chan_client *c, uint32_t handle, uint64_t seq)
{
	struct chan_rx	*rx;
	struct rx_direct *d;

	if ((rx = rx_find(c, handle)) == NULL || (d = rx->direct) == NULL)
		return;
	if (seq != d->cl.at.seq) {
		conn_fail(c, "daemon took back a ring at another seq than "
		    "was read");
		return;
	}
	rx_direct_unread(rx);
	rx_direct_free(c, d);
	if (rx->closing)
		return;
	/*
	 * Sent now: the daemon reports a disconnection to a waiting receive
	 * only once what is in flight is acknowledged. (Records read from
	 * the ring used no credit on either side.)
	 */
	if (rx->ack_want > rx->ack_sent) {
		rx_due(rx);
		if (rx_enc_due(c) != 0)
			conn_fail(c, "out of memory");
		else if (c->nonblock || c->dispatching)
			(void)conn_write_nb(c);
		else
			(void)conn_write(c);
	}
}

void
rx_direct_frame(struct chan_rx *rx)
{
	if (rx->direct != NULL)
		rx->direct->revoked = 1;
}

void
rx_direct_select(struct chan_rx *rx)
{
	/*
	 * Given up once, offered or not: a ring on offer to a receiver that
	 * refuses it would hold records back from a look at the set.
	 */
	rx->no_direct = 1;
	if (rx->direct_asked &&
	    (rx->direct == NULL || !rx->direct->revoked))
		rx_direct_give_up(rx, 0);
	rx->direct_asked = 0;
}

void
rx_direct_close(struct chan_rx *rx)
{
	if (rx->direct != NULL)
		rx_direct_free(rx->c, rx->direct);
}

void
rx_direct_woken(struct chan_client *c, uint32_t handle)
{
	struct chan_rx	*rx;

	if ((rx = rx_find(c, handle)) != NULL && rx->direct != NULL)
		rx->direct->armed = 0;
}

/* Writes rx's acknowledgement into the page; wakes the daemon if asked. */
void
rx_direct_ack(struct chan_rx *rx)
{
	struct rx_direct *d = rx->direct;

	if (d == NULL || d->revoked || rx->ack_want <= rx->ack_sent)
		return;
	rx->ack_sent = rx->ack_want;
	if (shmdirect_ack(&d->cl, rx->ack_want) && wake_send(d->efd) != 0)
		conn_fail(rx->c, "cannot wake the daemon");
}

void
rx_direct_ack_last(struct chan_rx *rx)
{
	struct rx_direct *d = rx->direct;

	if (d == NULL)
		return;
	rx_direct_ack(rx);
	/*
	 * Written, then looked at: a ring not yet taken back is read with
	 * this acknowledgement. One taken back may have been read before it,
	 * and no DIRECT_OFF reaches a receiver that goes (its handler sends
	 * the ACK again), so the socket's ACK carries it.
	 */
	if (!shmdirect_revoked(&d->cl))
		return;
	d->revoked = 1;
	rx_direct_unread(rx);
	rx_due(rx);
}

static void
rx_direct_free_msgs(struct chan_msg *head)
{
	struct chan_msg	*m;

	while ((m = head) != NULL) {
		head = m->next;
		chan_msg_free(m);
	}
}

/* Adds k messages of ring i to the bite's order and its claim's end. */
static void
rx_direct_ran(const struct rx_direct *d, struct rx_bite *b, uint32_t i,
    int64_t k)
{
	if (b->nruns > 0 && SHMDIRECT_RUN_RING(b->runs[b->nruns - 1]) == i)
		b->runs[b->nruns - 1] += (uint64_t)k;
	else
		b->runs[b->nruns++] = SHMDIRECT_RUN(i, (uint64_t)k);
	/* Taken now: a later look at the ring may move its cursor on. */
	b->next.pos[i] = d->rd[i].pos;
	b->next.rec[i] = d->rd[i].taken;
}

/*
 * The ring whose next record comes first by the daemon's rule (the
 * lowest stamp, at most the bite's t0), and the stamp the one after it
 * has (*limit, at most t0): the ring, -1 if there is none, or -2 if a
 * producer wrote a bad record.
 */
static int
rx_direct_first(struct rx_direct *d, uint64_t *limit)
{
	const unsigned char *p;
	uint64_t	 stamp, best = 0;
	uint32_t	 i, len;
	int		 rc, first = -1;

	*limit = d->win.t0;
	for (i = 0; i < d->nrings; i++) {
		if ((rc = shmring_peek(&d->rd[i], &p, &len, &stamp)) < 0)
			return -2;
		if (rc == 0 ||
		    (stamp = shmring_stamp_eff(&d->win, stamp)) > d->win.t0)
			continue;
		if (first < 0 || stamp < best) {
			if (first >= 0 && best < *limit)
				*limit = best;
			first = (int)i;
			best = stamp;
		} else if (stamp < *limit)
			*limit = stamp;
	}
	return first;
}

/*
 * Takes the next bite of records, up to max, from the rings, merged by
 * stamp, into b: how many (*bytes their payload), or -1 if a producer
 * wrote a bad record before any was taken.
 */
static int64_t
rx_direct_take(struct rx_direct *d, struct rx_bite *b, uint64_t max,
    size_t *bytes)
{
	size_t		 n = 0, got;
	int64_t		 k;
	int		 i;

	if (max > RX_DIRECT_BITE_RECORDS)
		max = RX_DIRECT_BITE_RECORDS;
	b->nruns = 0;
	b->next = d->cl.at;
	*bytes = 0;
	if (d->nrings == 1) {
		k = shmring_take_run_until(&d->rd[0], b->rec, (size_t)max,
		    RX_DIRECT_BITE_BYTES, NULL, bytes);
		if (k > 0)
			rx_direct_ran(d, b, 0, k);
		return k;
	}
	while (n < max && *bytes < RX_DIRECT_BITE_BYTES) {
		if ((i = rx_direct_first(d, &d->win.limit)) == -1)
			break;
		if (i < 0)
			return n > 0 ? (int64_t)n : -1;
		/* A bite ends before a bundle it cannot take whole. */
		if (n > 0 && !shmring_next_whole(&d->rd[i], max - n,
		    RX_DIRECT_BITE_BYTES - *bytes))
			break;
		k = shmring_take_run_until(&d->rd[i], b->rec + n, max - n,
		    RX_DIRECT_BITE_BYTES - *bytes, &d->win, &got);
		if (k <= 0)
			return n > 0 || k == 0 ? (int64_t)n : -1;
		*bytes += got;
		n += (size_t)k;
		rx_direct_ran(d, b, (uint32_t)i, k);
	}
	return (int64_t)n;
}

/*
 * Copies the next bite of records into messages (*head, n of them), not
 * yet claimed; the readers move past them. -1 if a producer wrote a bad
 * record or memory ran out (nothing is kept).
 */
static int
rx_direct_copy(struct rx_direct *d, struct rx_bite *b, uint32_t handle,
    uint64_t max, struct chan_msg **head, uint64_t *n)
{
	struct chan_msg	*m, **tailp = head;
	size_t		 bytes;
	int64_t		 k, i;

	*n = 0;
	*head = NULL;
	if ((k = rx_direct_take(d, b, max, &bytes)) < 0)
		return -1;
	for (i = 0; i < k; i++) {
		if ((m = msg_new(handle, 0, 0, b->rec[i].p,
		    b->rec[i].len)) == NULL) {
			rx_direct_free_msgs(*head);
			*head = NULL;
			return -1;
		}
		*tailp = m;
		tailp = &m->next;
	}
	*tailp = NULL;
	*n = (uint64_t)k;
	return 0;
}

/* The bite's readers go back to where they were before it. */
static void
rx_direct_rewind(struct rx_direct *d, const struct rx_bite *b)
{
	memcpy(d->rd, b->saved, sizeof(d->rd[0]) * d->nrings);
}

/*
 * Before a bite: acknowledges what rx handed out and looks at the rings
 * (between two readings of the clock, for the merge). 0 with b->saved
 * the cursors to go back to, or -1 if nothing may be read.
 */
static int
rx_direct_begin(struct chan_rx *rx, struct rx_bite *b)
{
	struct rx_direct *d = rx->direct;
	uint32_t	 i;

	if (d == NULL || d->revoked || rx->c->dead)
		return -1;
	rx_direct_ack(rx);
	if (d->nrings > 1)
		d->win.t0 = shm_clock_ns();
	for (i = 0; i < d->nrings; i++) {
		/* The daemon releases no further than this reader has read. */
		d->rd[i].tail = d->rd[i].pos;
		b->saved[i] = d->rd[i];
		if (shmring_poll(&d->rd[i], d->ring[i]) != 0) {
			rx_direct_rewind(d, b);
			rx_direct_give_up(rx, 2);
			return -1;
		}
	}
	if (d->nrings > 1)
		d->win.t1 = shm_clock_ns();
	return 0;
}

/*
 * Room in the page's log for the bite's order. With half the log in use
 * the daemon is woken to free what is acknowledged; a receiver that holds
 * the rest unacknowledged gives the rings up (-1).
 */
static int
rx_direct_log_room(struct chan_rx *rx, const struct rx_bite *b)
{
	struct rx_direct *d = rx->direct;
	uint64_t	 room = shmdirect_log_room(&d->cl);

	if (room >= SHMDIRECT_LOG_CAP / 2 + b->nruns)
		d->log_asked = 0;
	else if (!d->log_asked) {
		d->log_asked = 1;
		if (wake_send(d->efd) != 0)
			conn_fail(rx->c, "cannot wake the daemon");
	}
	return room >= b->nruns ? 0 : -1;
}

/*
 * Claims the n records read since rx_direct_begin: 0 with *seq the seq
 * before the first of them, or -1 if the daemon took the rings back first
 * (they are its to deliver, and the cursors go back to b->saved).
 */
static int
rx_direct_claim(struct chan_rx *rx, struct rx_bite *b, uint64_t n,
    uint64_t *seq)
{
	struct rx_direct *d = rx->direct;

	if (rx_direct_log_room(rx, b) != 0) {
		rx_direct_rewind(d, b);
		rx_direct_give_up(rx, 2);
		return -1;
	}
	b->next.seq = d->cl.at.seq + n;
	if (shmdirect_claim(&d->cl, &b->next, b->runs, b->nruns)) {
		*seq = d->cl.at.seq - n;
		return 0;
	}
	/*
	 * A control word moved without the revoked bit is a page written
	 * over in this process: the daemon is asked to take it back.
	 */
	rx_direct_rewind(d, b);
	if (!shmdirect_revoked(&d->cl))
		rx_direct_give_up(rx, 0);
	d->revoked = 1;
	return -1;
}

/* No more than its window: what it holds is what a crash marks. */
static uint64_t
rx_direct_bite(const struct chan_rx *rx)
{
	return rx->prefetch < RX_DIRECT_BITE_RECORDS ? rx->prefetch :
	    RX_DIRECT_BITE_RECORDS;
}

int
rx_direct_pull(struct chan_rx *rx)
{
	struct rx_direct *d = rx->direct;
	struct rx_bite	 b;
	struct chan_msg	*head, *m;
	uint64_t	 n, seq;

	if (rx_direct_begin(rx, &b) != 0)
		return 0;
	if (rx_direct_copy(d, &b, rx->handle, rx_direct_bite(rx),
	    &head, &n) != 0) {
		rx_direct_rewind(d, &b);
		rx_direct_give_up(rx, 2);
		return 0;
	}
	if (n == 0)
		return 0;
	if (rx_direct_claim(rx, &b, n, &seq) != 0) {
		rx_direct_free_msgs(head);
		return 0;
	}
	while ((m = head) != NULL) {
		head = m->next;
		m->seq = ++seq;
		rx_append(rx, m);
	}
	return (int)n;
}

/* Room for need bytes in rv's buffer: 0, or -1 if memory ran out. */
static int
rx_views_reserve(struct rx_views *rv, size_t need)
{
	size_t	 cap;
	char	*buf;

	if (need <= rv->cap)
		return 0;
	cap = rv->cap > 0 ? rv->cap : RX_DIRECT_BITE_BYTES;
	while (cap < need)
		cap *= 2;
	if ((buf = realloc(rv->buf, cap)) == NULL)
		return -1;
	rv->buf = buf;
	rv->cap = cap;
	return 0;
}

/*
 * Copies the next records, up to max (at most a bite), into rx's view
 * buffer from offset rv->len, and points v at them (the buffer is
 * reserved first, so it does not move under them). How many, or -1 if a
 * producer wrote a bad record or memory ran out.
 */
static int64_t
rx_direct_copy_views(struct rx_direct *d, struct rx_bite *b,
    struct rx_views *rv, chan_view *v, uint64_t max)
{
	size_t		 need, bytes;
	unsigned char	*p;
	int64_t		 n, i;

	if ((n = rx_direct_take(d, b, max, &bytes)) <= 0)
		return n;
	/* Each message with the NUL after it. */
	need = rv->len + bytes + (size_t)n;
	if (rx_views_reserve(rv, need) != 0)
		return -1;
	p = (unsigned char *)rv->buf + rv->len;
	for (i = 0; i < n; i++) {
		shmring_copy(p, b->rec[i].p, b->rec[i].len);
		p[b->rec[i].len] = '\0';
		v[i].data = p;
		v[i].len = b->rec[i].len;
		v[i].redelivered = 0;
		p += (size_t)b->rec[i].len + 1;
	}
	rv->len = need;
	return n;
}

size_t
rx_direct_view(struct chan_rx *rx, chan_view *v, size_t max)
{
	struct rx_direct *d = rx->direct;
	struct rx_views	*rv = &rx->views;
	struct rx_bite	 b;
	size_t		 len0 = rv->len;
	int64_t		 n;
	uint64_t	 seq;

	if (rx_direct_begin(rx, &b) != 0)
		return 0;
	/* The caller asked for max: a crash marks no more than a drain's. */
	if (max > RX_DIRECT_BITE_RECORDS)
		max = RX_DIRECT_BITE_RECORDS;
	if ((n = rx_direct_copy_views(d, &b, rv, v, max)) < 0) {
		rv->len = len0;
		rx_direct_rewind(d, &b);
		rx_direct_give_up(rx, 2);
		return 0;
	}
	if (n == 0 || rx_direct_claim(rx, &b, (uint64_t)n, &seq) != 0) {
		rv->len = len0;
		return 0;
	}
	rx->handed = seq + (uint64_t)n;
	rx->ack_want = rx->handed;
	rx_due(rx);
	return (size_t)n;
}

int
rx_direct_pull_all(struct chan_client *c)
{
	struct rx_direct *d, *next;
	int		 n = 0;

	for (d = LIST_FIRST(&c->directs); d != NULL; d = next) {
		next = LIST_NEXT(d, entry);
		/*
		 * A receiver holds one bite at a time, and takes one only for
		 * a receive that waits (one that returned leaves nothing
		 * claimed behind it), or for an event loop's next look.
		 */
		if (d->rx->head == NULL && (d->rx->receiving > 0 ||
		    c->nonblock))
			n += rx_direct_pull(d->rx);
	}
	return n;
}

/* Whether a ring of d has moved past what d claimed. */
static int
rx_direct_moved(const struct rx_direct *d)
{
	uint32_t	i;

	for (i = 0; i < d->nrings; i++) {
		if (shmring_moved(d->ring[i], d->cl.at.pos[i]))
			return 1;
	}
	return 0;
}

/* Whether d's receiver takes from its rings when they move. */
static int
rx_direct_looks(const struct rx_direct *d)
{
	/* An event loop's receives come after it looked: all armed. */
	return (!d->revoked && d->rx->head == NULL &&
	    (d->rx->receiving > 0 || d->rx->c->nonblock));
}

size_t
rx_direct_wake_fds(struct chan_client *c, int *fds, size_t max)
{
	struct rx_direct *d;
	size_t		 n = 0;

	uint32_t	 i;

	LIST_FOREACH(d, &c->directs, entry) {
		if (!d->armed || d->armed_how != SHMDIRECT_WAIT_WAKE)
			continue;
		for (i = 0; i < d->nwake && n < max; i++)
			fds[n++] = d->wake_fd[i];
	}
	return n;
}

void
rx_direct_wake_gone(struct chan_client *c, int fd)
{
	struct rx_direct *d;
	uint32_t	 i;

	LIST_FOREACH(d, &c->directs, entry) {
		for (i = 0; i < d->nwake; i++) {
			if (d->wake_fd[i] != fd)
				continue;
			close(fd);
			d->wake_fd[i] = d->wake_fd[--d->nwake];
			/* The next sleep asks again, with what is left. */
			d->armed = 0;
			return;
		}
	}
}

void
rx_direct_woken_all(struct chan_client *c)
{
	struct rx_direct *d;

	LIST_FOREACH(d, &c->directs, entry) {
		if (d->armed_how == SHMDIRECT_WAIT_WAKE)
			d->armed = 0;
	}
}

int
rx_direct_ready(struct chan_client *c)
{
	struct rx_direct *d;

	LIST_FOREACH(d, &c->directs, entry) {
		if (rx_direct_looks(d) && rx_direct_moved(d))
			return 1;
	}
	return 0;
}

/*
 * How d, about to sleep, is to be woken: by its producers on their wake
 * descriptors if it has them and the reader watches them all (a blocking
 * reader, while the descriptors watched stay within max), else by a
 * RING_WAKE on the socket. *nwake counts the descriptors watched.
 */
static uint32_t
rx_direct_wait_how(const struct rx_direct *d, size_t *nwake, size_t max)
{
	if (d->nwake == 0 || d->rx->c->nonblock || *nwake + d->nwake > max)
		return SHMDIRECT_WAIT_SOCKET;
	*nwake += d->nwake;
	return SHMDIRECT_WAIT_WAKE;
}

/*
 * Arms d, which looks at its rings (rx_direct_looks): 1 if a ring has
 * records (nothing asked), else asks the daemon to wake d's reader, how
 * rx_direct_wait_how says (*nwake counts the readers its producers wake).
 */
static int
rx_direct_arm_one(struct rx_direct *d, size_t *nwake)
{
	struct chan_client *c = d->rx->c;

	if (rx_direct_moved(d))
		return 1;
	/* An event loop watches no wake descriptor: it asks again. */
	if (d->armed && !(d->armed_how == SHMDIRECT_WAIT_WAKE &&
	    c->nonblock))
		return 0;
	rx_direct_ack(d->rx);
	d->armed_how = rx_direct_wait_how(d, nwake, RX_DIRECT_WATCH);
	shmdirect_set_wait(&d->cl, d->armed_how);
	if (wake_send(d->efd) != 0) {
		conn_fail(c, "cannot wake the daemon");
		return 0;
	}
	d->armed = 1;
	return 0;
}

int
rx_direct_arm(struct chan_client *c)
{
	struct rx_direct *d;
	size_t		 nwake = 0;

	LIST_FOREACH(d, &c->directs, entry) {
		if (d->armed && d->armed_how == SHMDIRECT_WAIT_WAKE)
			nwake += d->nwake;
	}
	LIST_FOREACH(d, &c->directs, entry) {
		if (rx_direct_looks(d) && rx_direct_arm_one(d, &nwake))
			return 1;
	}
	return 0;
}

void
rx_direct_rearm(struct chan_rx *rx)
{
	size_t	nwake = RX_DIRECT_WATCH;

	/* An event loop's reader: woken through the socket (nwake full). */
	while (!rx->c->dead && rx->direct != NULL && rx->head == NULL &&
	    rx_direct_looks(rx->direct) &&
	    rx_direct_arm_one(rx->direct, &nwake) && rx_direct_pull(rx) > 0)
		;
}

size_t
rx_direct_watch(struct chan_client *c, struct rx_direct_look *v, size_t max)
{
	struct rx_direct *d;
	size_t		 n = 0;
	uint32_t	 i;

	LIST_FOREACH(d, &c->directs, entry) {
		if (d->revoked || d->rx->head != NULL ||
		    d->rx->receiving == 0)
			continue;
		for (i = 0; i < d->nrings; i++) {
			if (n == max)
				return n;
			v[n].ring = d->ring[i];
			v[n].pos = d->cl.at.pos[i];
			n++;
		}
	}
	return n;
}

int
rx_direct_wanted(void)
{
	const char	*v = getenv("CHANCLIENT_DIRECT");

	return (v == NULL || strcmp(v, "0") != 0);
}

int
rx_direct_setup(struct chan_client *c, struct chan_rx *rx)
{
	struct conn_req	 r;
	int		 rc;

	if (c->rx_ring == NULL || !(c->features & PROTO_FEAT_DIRECT) ||
	    !rx_direct_wanted())
		return 0;
	conn_req_init(c, &r, PROTO_OK, rx->errmsg);
	/* 3: its producers may wake it themselves, on the wake descriptor. */
	if ((rc = proto_enc_direct(&c->wbuf, r.rid, rx->handle,
	    (c->features & PROTO_FEAT_WAKE) ? 3 : 1)) != 0)
		return rc;
	if ((rc = conn_call(c, &r, NULL)) == 0)
		rx->direct_asked = 1;
	return rc;
}

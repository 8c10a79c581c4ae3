/* SPDX-License-Identifier: MIT */
/*
 * shm.c: a transmitter's ring in shared memory (CHAN_SHM; docs/
 * protocol.md, "Shared-memory data path"). The daemon makes the ring
 * (RING), its descriptors come over a second connection (RING_FETCH), and
 * sends then write records into it: a send is confirmed when its record
 * is committed. A message longer than the ring's max_record goes as a
 * SEND, once every record before it has been taken, so that the
 * transmitter's messages stay in order.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "shmring.h"

#define SHM_FETCH_MS	10000	/* bound on RING_FETCH's answer */
/* A batch's records are committed every this many payload bytes. */
#define SHM_PUBLISH_BYTES	(64u << 10)

struct tx_shm {
	struct shmring_writer	 w;
	bool			 loop_waits;	/* prod_wait says: the socket */
	uint32_t		 held;		/* records written, not committed */
	uint64_t		 held_from;	/* the head before them */
	void			*map;
	size_t			 maplen;
	int			 efd_daemon;
	int			 efd_prod;
	int			 efd_wake;	/* its ring's wake end, or -1 */
};

static int64_t
shm_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * A record's stamp: read once the send has begun, so that a send which
 * follows another producer's (the other returned before this one began)
 * has a later stamp, and the daemon orders them so. While the ring is its
 * channel's only one the daemon reads no stamp: 0, and no clock.
 */
static uint64_t
shm_stamp(const struct tx_shm *s)
{
	if (!shmring_stamp_needed(&s->w))
		return (0);
	return (shm_clock_ns());
}

uint64_t
shm_clock_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

void
shm_close_fds(int *fds, int n)
{
	int	i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
}

int
shm_fetch_n(const char *path, uint64_t token, uint32_t flags, int *fds,
    size_t max, size_t *nfds, int *refused)
{
	struct sockaddr_un	 sun;
	struct proto_buf	 b;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		char		buf[CMSG_SPACE(SHM_FETCH_FDS_MAX * sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct pollfd		 pfd;
	char			 in[64];
	size_t			 have = 0, body;
	int64_t			 until = shm_now_ms() + SHM_FETCH_MS;
	ssize_t			 n;
	int			 fd, rc = CHAN_EPROTO, got = 0, k;
	size_t			 i;

	if (refused != NULL)
		*refused = 0;
	if (max > SHM_FETCH_FDS_MAX)
		max = SHM_FETCH_FDS_MAX;
	for (i = 0; i < max; i++)
		fds[i] = -1;
	*nfds = 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return (CHAN_EINVAL);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (CHAN_ESYS);
	proto_buf_init(&b);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		rc = CHAN_ESYS;
		goto out;
	}
	if ((flags != 0 ? proto_enc_ring_fetch_flags(&b, 1, token, flags) :
	    proto_enc_ring_fetch(&b, 1, token)) != 0) {
		rc = CHAN_ENOMEM;
		goto out;
	}
	if (send(fd, b.data, b.len, MSG_NOSIGNAL) != (ssize_t)b.len) {
		rc = CHAN_ECONNLOST;
		goto out;
	}
	/* The reply is small: read until one whole frame is here. */
	for (;;) {
		if (have >= PROTO_HEADER_LEN && proto_frame_check(in, have,
		    sizeof(in) - PROTO_HEADER_LEN, &body) == 1)
			break;
		if (have == sizeof(in))
			goto out;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(until - shm_now_ms() > 0 ?
		    until - shm_now_ms() : 0)) <= 0) {
			rc = CHAN_ETIMEDOUT;
			goto out;
		}
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = in + have;
		iov.iov_len = sizeof(in) - have;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		if ((n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) <= 0) {
			rc = CHAN_ECONNLOST;
			goto out;
		}
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (k > SHM_FETCH_FDS_MAX)
				k = SHM_FETCH_FDS_MAX;
			if (got == 0 && k >= 1 && (size_t)k <= max) {
				memcpy(fds, CMSG_DATA(cm), sizeof(int) *
				    (size_t)k);
				*nfds = (size_t)k;
				got = 1;
			} else {
				/* Not what was asked: close them. */
				int	extra[SHM_FETCH_FDS_MAX];

				memcpy(extra, CMSG_DATA(cm), sizeof(int) *
				    (size_t)k);
				shm_close_fds(extra, k);
			}
		}
		have += (size_t)n;
	}
	{
		struct proto_decoder	*dec = proto_decoder_new(0);
		struct proto_msg	 m;

		if (dec == NULL) {
			rc = CHAN_ENOMEM;
			goto out;
		}
		rc = proto_decode(dec, in + PROTO_HEADER_LEN, body, &m);
		proto_decoder_free(dec);
		if (rc == 0 && m.op == PROTO_ERROR) {
			rc = conn_wire_code(m.code);
			if (refused != NULL)
				*refused = 1;
		} else if (rc == 0 && (m.op != PROTO_OK || !got))
			rc = CHAN_EPROTO;
	}
out:
	if (rc != 0) {
		shm_close_fds(fds, (int)*nfds);
		for (i = 0; i < max; i++)
			fds[i] = -1;
		*nfds = 0;
	}
	proto_buf_fini(&b);
	close(fd);
	return (rc);
}

int
shm_fetch(const char *path, uint64_t token, int fds[4], uint32_t flags)
{
	size_t	n, most = (flags & PROTO_FETCH_WAKE) != 0 ? 4 : 3;
	int	rc;

	fds[3] = -1;
	if ((rc = shm_fetch_n(path, token, flags, fds, most, &n,
	    NULL)) != 0)
		return (rc);
	if (n != 3 && n != most) {
		shm_close_fds(fds, (int)n);
		fds[0] = fds[1] = fds[2] = fds[3] = -1;
		return (CHAN_EPROTO);
	}
	return (0);
}

int
tx_shm_setup(struct chan_client *c, struct chan_tx *tx)
{
	struct conn_req	 r;
	struct tx_shm	*s;
	struct stat	 st;
	uint32_t	 flags = 0;
	int		 fds[4], rc;

	if (!(c->features & PROTO_FEAT_SHM))
		return (0);		/* the socket path */
	conn_req_init(c, &r, PROTO_RING_TOKEN, tx->errmsg);
	/* conn_open_args checked that it fits. */
	if ((rc = proto_enc_ring(&c->wbuf, r.rid, tx->handle,
	    (uint32_t)tx->opts.ring_size)) != 0)
		return (rc);
	if ((rc = conn_call(c, &r, NULL)) != 0)
		/* Durable and rendezvous channels keep the socket path; so
		   does a transmitter when the daemon's rings use all the
		   memory it gives them. */
		return (rc == CHAN_EOPTION || rc == CHAN_ELIMIT ? 0 : rc);
	/* The descriptors come on a connection of their own. */
	pthread_mutex_unlock(&c->mu);
	if (c->features & PROTO_FEAT_WAKE)
		flags |= PROTO_FETCH_WAKE;
	if (c->features & PROTO_FEAT_CLAIMS)
		flags |= PROTO_FETCH_CLAIMS;
	rc = shm_fetch(c->path, r.token, fds, flags);
	pthread_mutex_lock(&c->mu);
	/*
	 * A daemon at its connection limits refuses the second connection:
	 * the transmitter keeps the socket path, as it would without rings.
	 */
	if (rc == CHAN_ELIMIT)
		return (0);
	if (rc != 0)
		return (rc);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		shm_close_fds(fds, 4);
		return (CHAN_ENOMEM);
	}
	s->efd_daemon = fds[1];
	s->efd_prod = fds[2];
	s->efd_wake = fds[3];
	if (fstat(fds[0], &st) != 0 || st.st_size < SHMRING_HDR_SIZE ||
	    (s->map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fds[0], 0)) == MAP_FAILED) {
		shm_close_fds(fds, 4);
		free(s);
		return (CHAN_ESYS);
	}
	close(fds[0]);
	s->maplen = (size_t)st.st_size;
	if (shmring_attach(&s->w, s->map, s->maplen) != 0) {
		munmap(s->map, s->maplen);
		shm_close_fds(fds + 1, 3);
		free(s);
		return (CHAN_EPROTO);
	}
	if (flags & PROTO_FETCH_CLAIMS)
		shmring_claim_grants(&s->w);
	tx->shm = s;
	return (0);
}

void
tx_shm_free(struct chan_tx *tx)
{
	struct tx_shm	*s = tx->shm;

	if (s == NULL)
		return;
	tx_shm_commit(tx);
	munmap(s->map, s->maplen);
	close(s->efd_daemon);
	close(s->efd_prod);
	if (s->efd_wake >= 0)
		close(s->efd_wake);
	free(s);
	tx->shm = NULL;
}

size_t
tx_shm_max(const struct chan_tx *tx)
{
	return (tx->shm != NULL ? tx->shm->w.max_record : 0);
}

/*
 * After a commit: the daemon sleeps on this ring, wake it; a direct reader
 * sleeps on the channel's wake descriptor, wake it.
 */
static void
shm_kick(struct tx_shm *s)
{
	/* A failure: the ring's closed word says why. */
	if (shmring_take_wake(&s->w))
		(void)wake_send(s->efd_daemon);
	if (s->efd_wake >= 0 && shmring_take_cons_sleeps(&s->w))
		(void)wake_send(s->efd_wake);
}

void
tx_shm_commit(struct chan_tx *tx)
{
	struct tx_shm	*s = tx->shm;
	uint32_t	 n;
	int		 code;

	if (tx->c->shm_held == tx)
		tx->c->shm_held = NULL;
	if (s == NULL || s->held == 0)
		return;
	n = s->held;
	s->held = 0;
	/*
	 * The daemon reads the ring no more (the consumer went, for a
	 * transmitter with rx_gone; the connection did): the held sends
	 * were not taken, as SENDs still in the socket's batch would not be.
	 */
	if ((code = shmring_closed(&s->w)) != 0) {
		pipeline_fail_held(tx, n, code);
		return;
	}
	shmring_stamp_bundle(&s->w, shm_stamp(s));
	shmring_publish(&s->w);
	shm_kick(s);
}

void
conn_commit_held(struct chan_client *c)
{
	if (c->shm_held != NULL)
		tx_shm_commit(c->shm_held);
}

int
tx_shm_hold(struct chan_tx *tx, const void *data, size_t len)
{
	struct chan_client	*c = tx->c;
	struct tx_shm		*s = tx->shm;
	int			 rc;

	/* An event loop's wait for room has its own exit (shm_send). */
	if (s->loop_waits)
		return (CHAN_EFULL);
	/* Another transmitter's sends came first: committed first. */
	if (c->shm_held != NULL && c->shm_held != tx)
		conn_commit_held(c);
	if (s->held == 0)
		s->held_from = s->w.head;
	/* A stamp once a bundle: the commit, or the next bundle, reads it. */
	if ((!shmring_stamp_needed(&s->w) || shmring_add_unstamped(&s->w,
	    data, (uint32_t)len) != 0) && (rc = shmring_add(&s->w, data,
	    (uint32_t)len, shm_stamp(s))) != 0)
		return (rc);
	s->held++;
	c->shm_held = tx;
	/* Within a quarter of a small ring, so that the reader has some. */
	if (s->held >= tx->window ||
	    s->w.head - s->held_from >= SHM_PUBLISH_BYTES ||
	    s->w.head - s->held_from >= s->w.data_size / 4)
		tx_shm_commit(tx);
	return (0);
}

/*
 * A producer that asks for something (a grant, the records taken) wakes
 * the daemon whether it sleeps on the ring or not: while a consumer reads
 * the ring directly, the daemon does not read it.
 */
static void
shm_kick_ask(struct tx_shm *s)
{
	(void)shmring_take_wake(&s->w);
	(void)wake_send(s->efd_daemon);	/* a failure: the closed word */
}

/*
 * After prod_wait is set: wakes the daemon to the wait, unless it has no
 * deadline (batch) and the daemon looks at such waits without a wake-up
 * (watched; docs/protocol.md, "How this daemon grants").
 */
static void
shm_tell_wait(struct tx_shm *s, bool batch)
{
	if (!batch || !shmring_watched(&s->w))
		shm_kick_ask(s);
}

/*
 * Waits, with c->mu released, for the daemon to wake the producer or the
 * deadline (until_ms, -1: none). CHAN_ECONNLOST if the daemon has gone.
 */
static int
shm_sleep(struct chan_client *c, struct tx_shm *s, int64_t until_ms)
{
	struct pollfd	pfd[2];
	int		ms = -1;

	if (until_ms >= 0) {
		ms = (int)(until_ms - shm_now_ms());
		if (ms < 0)
			ms = 0;
	}
	pfd[0].fd = s->efd_prod;
	pfd[0].events = POLLIN;
	pfd[1].fd = c->fd;
	pfd[1].events = POLLRDHUP;
	pthread_mutex_unlock(&c->mu);
	while (poll(pfd, 2, ms) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&c->mu);
	if (wake_drain(s->efd_prod) < 0)
		return (CHAN_ESYS);
	if (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
		return (CHAN_ECONNLOST);
	return (0);
}

/* The daemon's reason for closing the ring, as a send's result. */
static int
shm_closed_rc(struct chan_tx *tx)
{
	struct chan_client	*c = tx->c;
	int			 code = shmring_closed(&tx->shm->w);

	if (code == 0)
		code = CHAN_ECONNLOST;
	/*
	 * The handle went with its connection: as a write on the socket
	 * would, read what the daemon left there (its SHUTDOWN error), so
	 * that the client's error says why.
	 */
	if (code == CHAN_ECONNLOST)
		(void)conn_read_nb(c, SIZE_MAX);
	if (code == CHAN_ECONNLOST && c->dead)
		snprintf(tx->errmsg, sizeof(tx->errmsg), "%s", c->errmsg);
	else if (code == CHAN_EPROTO)
		snprintf(tx->errmsg, sizeof(tx->errmsg), "the daemon "
		    "found a malformed record in the ring");
	else
		snprintf(tx->errmsg, sizeof(tx->errmsg), "%s",
		    chan_strerror(code));
	return (code);
}

/*
 * A try found no room or grant: waits until the daemon has taken every
 * record and answered the request for a grant for len bytes, so that
 * the next put sees the channel's room.
 */
static int
shm_settle(struct chan_tx *tx, uint32_t len)
{
	struct chan_client	*c = tx->c;
	struct tx_shm		*s = tx->shm;
	uint32_t		 ask;
	int			 rc = 0;

	ask = shmring_ask(&s->w, len);
	shmring_set_prod_wait(&s->w, 1);
	shm_kick_ask(s);
	/* The daemon answers at once, after it took every record: a grant,
	   or none if the channel is full. */
	while (!shmring_answered(&s->w, ask)) {
		if (shmring_closed(&s->w) != 0) {
			rc = shm_closed_rc(tx);
			break;
		}
		if ((rc = shm_sleep(c, s, -1)) != 0)
			break;
	}
	shmring_set_prod_wait(&s->w, 0);
	return (rc);
}

/*
 * rc, or TX_SHM_SOCKET if the daemon closed the ring with LIMIT: a
 * daemon-wide queue limit refused a grant. It took every record first,
 * so the ring is let go and the send goes on the socket, where the
 * daemon answers it as any SEND (LIMIT with its facts, or room again).
 */
static int
shm_to_socket(struct chan_tx *tx, int rc)
{
	if (rc != CHAN_ELIMIT || tx->shm == NULL ||
	    shmring_closed(&tx->shm->w) != CHAN_ELIMIT)
		return (rc);
	tx_shm_free(tx);
	tx->errmsg[0] = '\0';
	return (TX_SHM_SOCKET);
}

/*
 * A send from an event loop that found no room: asks for a grant with a
 * RING_WAKE on the socket when it comes (prod_wait SHMRING_WAIT_SOCKET),
 * then looks once more. 0 if it went; CHAN_EAGAIN to try again once the
 * socket was readable; another error.
 */
static int
shm_loop_wait(struct tx_shm *s, const void *data, size_t len,
    uint64_t stamp)
{
	int	rc;

	(void)shmring_ask(&s->w, (uint32_t)len);
	shmring_set_prod_wait(&s->w, SHMRING_WAIT_SOCKET);
	s->loop_waits = true;
	shm_kick_ask(s);
	rc = shmring_put(&s->w, data, (uint32_t)len, stamp);
	return (rc == CHAN_EFULL ? CHAN_EAGAIN : rc);
}

static int
shm_send(struct chan_tx *tx, const void *data, size_t len, int wait_ms,
    int full_rc)
{
	struct chan_client	*c = tx->c;
	struct tx_shm		*s = tx->shm;
	int64_t			 until = wait_ms > 0 ? shm_now_ms() + wait_ms :
				    -1;
	uint64_t		 stamp;
	bool			 asked = false;
	int			 rc;

	/* Held pipelined sends come first, and the daemon must see them
	   before it answers a request (room, a limit, the records taken). */
	conn_commit_held(c);
	stamp = shm_stamp(s);
	for (;;) {
		rc = shmring_put(&s->w, data, (uint32_t)len, stamp);
		if (rc == CHAN_EFULL && wait_ms == TX_SHM_LOOP) {
			if ((rc = shm_loop_wait(s, data, len, stamp)) ==
			    CHAN_EAGAIN)
				return (rc);
			break;
		}
		if (rc == CHAN_EFULL && wait_ms != 0) {
			/* Ask once; the daemon grants when room appears. */
			if (!asked)
				(void)shmring_ask(&s->w, (uint32_t)len);
			asked = true;
			/*
			 * Say so, then look again before sleeping. With no
			 * deadline, room may come in batches: fewer wake-ups.
			 */
			shmring_set_prod_wait(&s->w, wait_ms < 0 ?
			    SHMRING_WAIT_BATCH : SHMRING_WAIT_EVENTFD);
			shm_tell_wait(s, wait_ms < 0);
			rc = shmring_put(&s->w, data, (uint32_t)len, stamp);
			if (rc == CHAN_EFULL) {
				if (until >= 0 && shm_now_ms() >= until) {
					shmring_set_prod_wait(&s->w, 0);
					break;	/* settled below */
				}
				rc = shm_sleep(c, s, until);
				shmring_set_prod_wait(&s->w, 0);
				if (rc != 0)
					return (rc);
				continue;
			}
			shmring_set_prod_wait(&s->w, 0);
		}
		break;
	}
	/*
	 * A try, or a timed send at its deadline: the grant may lag behind
	 * the room the daemon has not yet seen taken, or not have come yet
	 * for a channel that had room all along (a deadline shorter than the
	 * daemon's answer). Once it has taken every record and granted
	 * again, the answer is the channel's.
	 */
	if (rc == CHAN_EFULL && wait_ms >= 0 &&
	    (rc = shm_settle(tx, (uint32_t)len)) == 0)
		rc = shmring_put(&s->w, data, (uint32_t)len, stamp);
	if (rc == 0) {
		if (s->loop_waits) {
			shmring_set_prod_wait(&s->w, 0);
			s->loop_waits = false;
		}
		shm_kick(s);
		return (0);
	}
	if (rc == CHAN_EFULL)
		return (full_rc);
	if (rc == CHAN_ECONNLOST)
		return (shm_closed_rc(tx));
	return (rc);
}

int
tx_shm_send(struct chan_tx *tx, const void *data, size_t len, int wait_ms,
    int full_rc)
{
	return (shm_to_socket(tx, shm_send(tx, data, len, wait_ms,
	    full_rc)));
}

size_t
tx_shm_put_many(struct chan_tx *tx, const struct iovec *msgs, size_t n)
{
	struct tx_shm	*s = tx->shm;
	struct shmring_room room;
	uint64_t	 stamp;
	size_t		 i, k;
	bool		 fresh = true;
	int		 rc;

	/* An event loop's wait for room has its own exit (shm_send). */
	if (s->loop_waits || shmring_room(&s->w, &room) != 0)
		return (0);
	conn_commit_held(tx->c);
	/* One stamp: the sends of a batch begin together. */
	stamp = shm_stamp(s);
	for (i = 0; i < n;) {
		k = shmring_put_run_in(&s->w, &room, msgs + i, n - i,
		    tx->c->max_msg, SHM_PUBLISH_BYTES, stamp, &rc);
		if (k > 0) {
			/* The reader starts on a long batch's first part. */
			shmring_publish(&s->w);
			shm_kick(s);
			i += k;
			fresh = false;
		}
		if (rc == 0)
			continue;
		/* The room read before is used up: is there more now? */
		if (rc != CHAN_EFULL || fresh || shmring_room(&s->w,
		    &room) != 0)
			break;
		fresh = true;
	}
	return (i);
}

static int
shm_drain(struct chan_tx *tx)
{
	struct chan_client	*c = tx->c;
	struct tx_shm		*s = tx->shm;
	int			 rc;

	conn_commit_held(c);
	while (!shmring_drained(&s->w)) {
		if (shmring_closed(&s->w) != 0)
			return (shm_closed_rc(tx));
		shmring_set_want(&s->w, SHMRING_WANT_DRAIN);
		shmring_set_prod_wait(&s->w, 1);
		shm_kick_ask(s);
		if (shmring_drained(&s->w)) {
			shmring_set_prod_wait(&s->w, 0);
			break;
		}
		rc = shm_sleep(c, s, -1);
		shmring_set_prod_wait(&s->w, 0);
		if (rc != 0)
			return (rc);
	}
	return (0);
}

int
tx_shm_drain(struct chan_tx *tx)
{
	return (shm_to_socket(tx, shm_drain(tx)));
}

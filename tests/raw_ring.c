/* SPDX-License-Identifier: MIT */
/*
 * raw_ring.c: a producer on a ring that speaks the protocol by hand
 * (raw_ring.h).
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "e2e_util.h"
#include "proto.h"
#include "raw_ring.h"

/*
 * RING_FETCH token on a fresh connection: the OK and n fds (3, or 4 with
 * the channel's wake descriptor asked for).
 */
static void
raw_fetch_n(uint64_t token, int *fds, int n)
{
	struct proto_buf	 b;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		char		buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct pollfd		 pfd;
	char			 in[64];
	ssize_t			 got_len;
	int			 fd, got = 0;

	fd = raw_connect(&fixture);
	proto_buf_init(&b);
	ck_assert_int_eq(n == 3 ? proto_enc_ring_fetch(&b, 9, token) :
	    proto_enc_ring_fetch_flags(&b, 9, token, 1), 0);
	raw_write(fd, b.data, b.len);
	proto_buf_fini(&b);
	pfd.fd = fd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll_until(&pfd, 1, now_ms() + HARNESS_WAIT_MS), 1);
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = in;
	iov.iov_len = sizeof(in);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	got_len = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	ck_assert_msg(got_len >= PROTO_HEADER_LEN + 2, "RING_FETCH: %zd bytes",
	    got_len);
	ck_assert_uint_eq((unsigned char)in[PROTO_HEADER_LEN + 1], PROTO_OK);
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN((size_t)n * sizeof(int))) {
			memcpy(fds, CMSG_DATA(cm), (size_t)n * sizeof(int));
			got = 1;
		}
	}
	ck_assert_msg(got, "RING_FETCH: not %d descriptors", n);
	close(fd);
}

void
raw_fetch(uint64_t token, int fds[3])
{
	raw_fetch_n(token, fds, 3);
}

static void
raw_ring_open_n(struct raw_ring *r, const char *name, int nfds)
{
	struct proto_buf	b;
	struct proto_msg	m;
	struct stat		st;
	int			fds[4];

	raw_conn_open(&r->rc, &fixture, 1, 4096);
	r->handle = raw_open_end(&r->rc, PROTO_OPEN_TX, 1, name);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_ring(&b, 2, r->handle, RAW_RING_SIZE), 0);
	raw_send(&r->rc, &b);
	proto_buf_fini(&b);
	raw_expect(&r->rc, &m);
	ck_assert_msg(m.op == PROTO_RING_TOKEN && m.rid == 2, "RING: got %s",
	    proto_op_name((int)m.op));
	raw_fetch_n(m.token, fds, nfds);
	r->wake_w = nfds == 4 ? fds[3] : -1;
	ck_assert_int_eq(fstat(fds[0], &st), 0);
	r->maplen = (size_t)st.st_size;
	ck_assert_uint_eq(r->maplen, SHMRING_HDR_SIZE + RAW_RING_SIZE);
	r->map = mmap(NULL, r->maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fds[0], 0);
	ck_assert(r->map != MAP_FAILED);
	close(fds[0]);
	r->efd_daemon = fds[1];
	r->efd_prod = fds[2];
	ck_assert_int_eq(shmring_attach(&r->w, r->map, r->maplen), 0);
}

void
raw_ring_open(struct raw_ring *r, const char *name)
{
	raw_ring_open_n(r, name, 3);
}

void
raw_ring_open_wake(struct raw_ring *r, const char *name)
{
	raw_ring_open_n(r, name, 4);
}

void
raw_ring_kick(struct raw_ring *r)
{
	uint64_t	one = 1;

	ck_assert_int_eq(write(r->efd_daemon, &one, sizeof(one)), 8);
}

/* Commits s, asking the daemon for a grant first if it has none. */
void
raw_ring_put(struct raw_ring *r, const char *s)
{
	struct pollfd	pfd;
	uint32_t	ask, len = (uint32_t)strlen(s);
	uint64_t	v;
	int		rc;

	if ((rc = shmring_put(&r->w, s, len, 0)) == CHAN_EFULL) {
		ask = shmring_ask(&r->w, len);
		shmring_set_prod_wait(&r->w, 1);
		raw_ring_kick(r);
		pfd.fd = r->efd_prod;
		pfd.events = POLLIN;
		ck_assert_int_eq(poll_until(&pfd, 1, now_ms() +
		    HARNESS_WAIT_MS), 1);
		ck_assert_int_eq(read(r->efd_prod, &v, sizeof(v)), 8);
		ck_assert(shmring_answered(&r->w, ask));
		shmring_set_prod_wait(&r->w, 0);
		rc = shmring_put(&r->w, s, len, 0);
	}
	ck_assert_int_eq(rc, 0);
}

void
raw_ring_send(struct raw_ring *r, const char *s)
{
	raw_ring_put(r, s);
	if (shmring_take_wake(&r->w))
		raw_ring_kick(r);
}

/* Closes the connection, as the producer's death does, and unmaps. */
void
raw_ring_close(struct raw_ring *r)
{
	raw_conn_close(&r->rc);
	munmap(r->map, r->maplen);
	close(r->efd_daemon);
	close(r->efd_prod);
	if (r->wake_w >= 0)
		close(r->wake_w);
}

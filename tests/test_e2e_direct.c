/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_direct.c: receivers that read their channel's producer ring
 * themselves (direct reading), against a real chand:
 * messages of many sizes in order and the disconnection behind them, the
 * ring mapped read-only while it lasts; a send on the socket that takes
 * the ring back without reordering anything; a bounded channel's room
 * made by receives; a receiver killed with claimed, unacknowledged
 * messages, which come back marked; batches both ways, copied once into
 * the receiver's views; acknowledgements the page missed, and a daemon
 * gone between its offer and the receiver's fetch (through a go-between
 * that hangs up after the offer). With several producer rings: the
 * receiver merges them in the order of the sends, pipelined producers'
 * messages come once and in order, and a killed receiver's claims come
 * back in the order it read them. Receivers of one connection blocked in
 * two threads, one woken by its ring and one by the socket, get every
 * message. A sleeping receiver is woken by its producer alone, with the
 * daemon stopped, and by a producer of an older library (without the
 * wake descriptor) through the daemon; a receiver in an event loop is
 * woken through its socket.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"
#include "raw_ring.h"
#include "shmring.h"

/* This process's page of a direct reader (one only): its start. */
static unsigned char *
own_direct_page(void)
{
	char		 line[512];
	unsigned long	 lo, hi;
	FILE		*f = fopen("/proc/self/maps", "r");
	unsigned char	*p = NULL;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "chand-direct") == NULL)
			continue;
		ck_assert_int_eq(sscanf(line, "%lx-%lx", &lo, &hi), 2);
		ck_assert_ptr_null(p);
		p = (unsigned char *)lo;
	}
	fclose(f);
	ck_assert_ptr_nonnull(p);
	return (p);
}

static chan_rx *
ring_rx(chan_client *c, const char *name, unsigned prefetch, unsigned flags)
{
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_rx		*rx;

	o.flags = CHAN_SHM | flags;
	o.prefetch = prefetch;
	expect_rc(chan_rx_open_ex(c, name, strlen(name), &o, &rx), 0,
	    "rx open with CHAN_SHM");
	return (rx);
}

static chan_tx *
ring_tx(chan_client *c, const char *name, uint64_t capacity)
{
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;

	o.flags = CHAN_SHM;
	if (capacity != 0)
		o.capacity = capacity;
	return (tx_open_opts(c, name, &o));
}

/* Payload i: its bytes tell its number and its length. */
static size_t
fill(unsigned char *p, size_t len, unsigned i)
{
	size_t	k;

	for (k = 0; k < len; k++)
		p[k] = (unsigned char)(i * 31 + k);
	return (len);
}

/*
 * A go-between, in a child process, that stands for a daemon going away
 * between a DIRECT_OFFER and the receiver's fetch: it forwards every
 * connection made to its socket to the daemon, descriptors included,
 * until the first connection's first DIRECT_OFFER; it forwards that frame,
 * then hangs up every connection and takes no more, so the fetch fails.
 * It exits 0 once it has done so.
 */
#define PROXY_CONNS	16
#define PROXY_FDS	8
#define PROXY_BUF	(256u << 10)

struct proxy_conn {
	int	cl;		/* to the client */
	int	dm;		/* to the daemon */
};

/* Reads what from has, descriptors too: bytes (0 at the end), or -1. */
static ssize_t
proxy_read(int from, unsigned char *buf, size_t len, int *fds, int *nfds)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(PROXY_FDS * sizeof(int))];
	} u;
	struct iovec	 iov = { buf, len };
	struct msghdr	 mh = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr	*c;
	ssize_t		 n;

	*nfds = 0;
	if ((n = recvmsg(from, &mh, MSG_CMSG_CLOEXEC)) < 0)
		return (-1);
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		*nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(c), (size_t)*nfds * sizeof(int));
	}
	return (n);
}

/* Writes len bytes to to, the descriptors with the first: 0 or -1. */
static int
proxy_write(int to, const unsigned char *buf, size_t len, int *fds,
    int nfds)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(PROXY_FDS * sizeof(int))];
	} u;
	struct iovec	 iov;
	struct msghdr	 mh;
	ssize_t		 n;
	int		 i;

	while (len > 0 || nfds > 0) {
		iov = (struct iovec){ (void *)buf, len };
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
		if (nfds > 0) {
			memset(&u, 0, sizeof(u));
			mh.msg_control = u.b;
			mh.msg_controllen = CMSG_SPACE((size_t)nfds *
			    sizeof(int));
			CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
			CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
			CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN((size_t)nfds *
			    sizeof(int));
			memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), fds,
			    (size_t)nfds * sizeof(int));
		}
		if ((n = sendmsg(to, &mh, MSG_NOSIGNAL)) < 0)
			return (-1);
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		nfds = 0;
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * The first connection's frames from the daemon, buffered in buf (len
 * bytes): forwards the whole frames; 1 if one was a DIRECT_OFFER (the
 * frames after it are dropped), 0, or -1.
 */
static int
proxy_frames(int to, unsigned char *buf, size_t *len, int *fds, int nfds)
{
	size_t	 off = 0, flen;
	int	 offer = 0;

	while (!offer && *len - off >= 4) {
		flen = 4 + ((size_t)buf[off] << 24 | (size_t)buf[off + 1] << 16 |
		    (size_t)buf[off + 2] << 8 | buf[off + 3]);
		if (*len - off < flen)
			break;
		/* [83, handle, token]: a fixarray of 3 and positive fixint 83. */
		offer = flen > 6 && buf[off + 4] == 0x93 && buf[off + 5] == 83;
		off += flen;
	}
	if (proxy_write(to, buf, off, fds, nfds) != 0)
		return (-1);
	memmove(buf, buf + off, *len - off);
	*len -= off;
	return (offer);
}

/* The address of path: 0, or -1 if it is too long. */
static int
proxy_addr(struct sockaddr_un *sa, const char *path)
{
	size_t	len = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (len >= sizeof(sa->sun_path))
		return (-1);
	memcpy(sa->sun_path, path, len);
	return (0);
}

static int
proxy_connect(const char *path)
{
	struct sockaddr_un	sa;
	int			fd;

	if (proxy_addr(&sa, path) != 0 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* One turn of the forwarding: 1 once the offer went, 0, or -1. */
static int
proxy_turn(int lfd, const char *daemon_sock, struct proxy_conn *pc,
    int *npc, unsigned char *first, size_t *firstlen)
{
	static unsigned char	 buf[PROXY_BUF];
	struct pollfd		 pfd[1 + 2 * PROXY_CONNS];
	int			 fds[PROXY_FDS], nfds, i, n = 0, from, to;
	ssize_t			 got;

	pfd[n++] = (struct pollfd){ lfd, POLLIN, 0 };
	for (i = 0; i < *npc; i++) {
		pfd[n++] = (struct pollfd){ pc[i].cl, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ pc[i].dm, POLLIN, 0 };
	}
	if (poll(pfd, (nfds_t)n, HARNESS_WAIT_MS) <= 0)
		return (-1);
	if (pfd[0].revents & POLLIN) {
		if (*npc == PROXY_CONNS ||
		    (pc[*npc].cl = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0 ||
		    (pc[*npc].dm = proxy_connect(daemon_sock)) < 0)
			return (-1);
		(*npc)++;
	}
	for (i = 1; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		from = pfd[i].fd;
		to = i % 2 == 1 ? pc[(i - 1) / 2].dm : pc[(i - 1) / 2].cl;
		if (to == pc[0].cl && from == pc[0].dm) {
			if ((got = proxy_read(from, first + *firstlen,
			    PROXY_BUF - *firstlen, fds, &nfds)) <= 0)
				return (-1);
			*firstlen += (size_t)got;
			if (proxy_frames(to, first, firstlen, fds, nfds) != 0)
				return (1);
			continue;
		}
		if ((got = proxy_read(from, buf, sizeof(buf), fds, &nfds)) < 0)
			return (-1);
		if (got > 0 && proxy_write(to, buf, (size_t)got, fds,
		    nfds) == 0)
			continue;
		/* The first connection must last until the offer. */
		if ((i - 1) / 2 == 0)
			return (-1);
		/* A fetch's connection ends once answered. */
		close(pc[(i - 1) / 2].cl);
		close(pc[(i - 1) / 2].dm);
		pc[(i - 1) / 2] = pc[--(*npc)];
		return (0);
	}
	return (0);
}

/* Starts the go-between on path: its pid. */
static pid_t
proxy_start(const char *path, const char *daemon_sock)
{
	static unsigned char	 first[PROXY_BUF];
	struct sockaddr_un	 sa;
	struct proxy_conn	 pc[PROXY_CONNS];
	size_t			 firstlen = 0;
	int			 lfd, npc = 0, rc;
	pid_t			 pid;

	ck_assert_msg(proxy_addr(&sa, path) == 0 &&
	    strlen(daemon_sock) < sizeof(sa.sun_path), "socket paths too long");
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_msg(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    listen(lfd, 8) == 0, "proxy socket: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) != 0) {
		ck_assert_int_gt(pid, 0);
		close(lfd);
		return (pid);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGALRM, SIG_DFL);
	alarm((unsigned)(2 * HARNESS_WAIT_MS / 1000));
	/* The test's connections are not the proxy's to hold open. */
	if (lfd > 3)
		close_range(3, (unsigned)lfd - 1, 0);
	close_range((unsigned)lfd + 1, ~0u, 0);
	while ((rc = proxy_turn(lfd, daemon_sock, pc, &npc, first,
	    &firstlen)) == 0)
		;
	/* Closing the descriptors hangs up; the listener goes with them. */
	_exit(rc == 1 ? 0 : 1);
}

/*
 * a sends "a0" to "a9" and rx receives the first five: rx reads a's ring
 * itself from then on, with five records still in it.
 */
static void
direct_warm_up(chan_tx *a, chan_rx *rx)
{
	char	s[32];
	int	i;

	for (i = 0; i < 10; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		send_str(a, s);
	}
	for (i = 0; i < 5; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		expect_str(rx, s);
	}
	ck_assert_int_eq(own_direct_maps(), 1);
}

/*
 * Rounds of one send from each of tx[0 .. n) and their receipt, until rx
 * reads all n rings itself: rings taken back (a ring that came, a send on
 * the socket) are offered again, together, at once or after a wait of
 * some tens of milliseconds, once the queue is drained (bounded by
 * HARNESS_WAIT_MS).
 */
static void
direct_rings_wait(chan_tx **tx, int n, chan_rx *rx)
{
	long long	until = now_ms() + harness_wait_ms();
	int	i;

	while (own_direct_maps() != n) {
		ck_assert_msg(now_ms() < until, "rx reads %d rings of %d "
		    "itself", own_direct_maps(), n);
		for (i = 0; i < n; i++)
			send_str(tx[i], "w");
		for (i = 0; i < n; i++)
			expect_str(rx, "w");
	}
}

/*
 * 2000 messages of 0 to 4 KiB, sent after the receiver is there: they
 * come whole and in order through the read-only mapping, then the
 * disconnection, and the mapping goes with the ring.
 */
START_TEST(test_records_go_from_the_ring_to_the_receiver)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	unsigned char	 buf[4096], want[4096];
	chan_rx		*rx = ring_rx(cc, "d.order", 64, 0);
	chan_tx		*tx = ring_tx(pc, "d.order", 0);
	chan_msg	*m;
	unsigned	 i, k, n = 2000;
	int		 seen = 0;

	/* In bites the ring holds: a producer stalled on a receiver that
	   reads nothing gives the ring back to the daemon. */
	for (i = 0; i < n; i++) {
		expect_rc(chan_tx_send_async(tx, buf, fill(buf, i * 37 % 4097,
		    i)), 0, "send");
		if (i % 50 != 49)
			continue;
		expect_rc(chan_tx_flush(tx), 0, "flush");
		for (k = i - 49; k <= i; k++) {
			expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(),
			    &m), 0, "recv");
			ck_assert_uint_eq(chan_msg_len(m), k * 37 % 4097);
			ck_assert(memcmp(chan_msg_data(m), want, fill(want,
			    k * 37 % 4097, k)) == 0);
			ck_assert(!chan_msg_redelivered(m));
			chan_msg_free(m);
		}
		if (own_direct_maps() > 0)
			seen = 1;
	}
	ck_assert_msg(seen, "the receiver never mapped the producer's ring");
	expect_rc(chan_tx_close(tx), 0, "close the producer");
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	ck_assert_int_eq(own_direct_maps(), 0);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * One thread sends three times what the ring holds before it receives
 * any: the daemon takes the ring back once the producer has waited for
 * space the receiver does not free, and queues the records; nothing is
 * lost or reordered, and the receiver reads directly again afterwards.
 */
/*
 * Batches both ways (chan_tx_send_many, chan_rx_recv_many): each batch of
 * records is copied once from the mapping into the receiver's views,
 * whole and in order, and the disconnection comes after the last.
 */
START_TEST(test_batches_go_from_the_ring_into_views)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	static unsigned char bufs[50][600];
	unsigned char	 want[600];
	struct iovec	 iov[50];
	chan_rx		*rx = ring_rx(cc, "d.many", 64, 0);
	chan_tx		*tx = ring_tx(pc, "d.many", 0);
	chan_view	 v[64];
	unsigned	 i, k, got;
	size_t		 n, sent;
	int		 seen = 0;

	for (i = 0; i < 2000; i += 50) {
		for (k = 0; k < 50; k++) {
			iov[k].iov_base = bufs[k];
			iov[k].iov_len = fill(bufs[k], (i + k) * 13 % 600,
			    i + k);
		}
		expect_rc(chan_tx_send_many(tx, iov, 50, &sent), 0,
		    "send_many");
		ck_assert_uint_eq(sent, 50);
		for (got = 0; got < 50; got += n) {
			expect_rc(chan_rx_recv_many(rx, harness_wait_ms(), v,
			    50 - got, &n), 0, "recv_many");
			for (k = 0; k < n; k++) {
				ck_assert_uint_eq(v[k].len,
				    (i + got + k) * 13 % 600);
				ck_assert(memcmp(v[k].data, want, fill(want,
				    v[k].len, i + got + k)) == 0);
				ck_assert(!v[k].redelivered);
			}
		}
		if (own_direct_maps() > 0)
			seen = 1;
	}
	ck_assert_msg(seen, "the receiver never mapped the producer's ring");
	expect_rc(chan_tx_close(tx), 0, "close the producer");
	expect_rc(chan_rx_recv_many(rx, harness_wait_ms(), v, 64, &n),
	    CHAN_EDISCONNECTED, "after the last batch");
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * A receiver that closes after the daemon took its ring back, before the
 * DIRECT_OFF reached it: the acknowledgement of what it read from the
 * ring goes on the socket (the daemon no longer reads the page), so the
 * next receiver gets the next message, not that one again, marked.
 */
START_TEST(test_closing_after_a_take_back_acknowledges_on_the_socket)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture), *cc2;
	chan_rx		*rx = ring_rx(cc, "d.close", 1, 0), *rx2;
	chan_tx		*a = ring_tx(pc, "d.close", 0), *b;
	chan_msg	*m;
	char		 s[32];
	int		 i;

	direct_warm_up(a, rx);
	/* Claimed from the ring, handed out, not yet acknowledged. */
	expect_str(rx, "a5");
	/* Confirmed: the daemon took the ring back before queueing it. */
	b = tx_open(pc, "d.close");
	send_str(b, "b");
	expect_rc(chan_rx_close(rx), 0, "close");
	cc2 = test_connect(&fixture);
	rx2 = ring_rx(cc2, "d.close", 1, 0);
	/* a6 may have been buffered there, and comes marked then. */
	m = recv_msg(rx2);
	ck_assert_msg(strcmp(chan_msg_data(m), "a6") == 0,
	    "got \"%s\"%s, want \"a6\"", (const char *)chan_msg_data(m),
	    chan_msg_redelivered(m) ? " redelivered" : "");
	chan_msg_free(m);
	for (i = 7; i < 10; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		expect_str(rx2, s);
	}
	expect_str(rx2, "b");
	chan_disconnect(cc2);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * A message delivered on the socket, then the ring offered and taken back
 * before the receiver wrote that message's acknowledgement into the page:
 * the daemon never read it there, so closing sends it on the socket, and
 * the next receiver does not get the message again, marked.
 */
START_TEST(test_an_acknowledgement_the_page_missed_goes_on_the_socket)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture), *cc2;
	chan_rx		*rx = ring_rx(cc, "d.missed", 1, 0), *rx2;
	chan_tx		*s = tx_open(pc, "d.missed"), *a, *other;

	send_str(s, "s0");
	/* Handed out; its acknowledgement waits for the next call. */
	expect_str(rx, "s0");
	/* A lone ring and nothing queued: the daemon offers it. */
	a = ring_tx(pc, "d.missed", 0);
	/* A call on the receiver's connection takes the offer in. */
	other = tx_open(cc, "d.missed.other");
	ck_assert_int_eq(own_direct_maps(), 1);
	/* Confirmed: the daemon took the ring back before queueing it. */
	send_str(s, "s1");
	expect_rc(chan_rx_close(rx), 0, "close");
	cc2 = test_connect(&fixture);
	rx2 = ring_rx(cc2, "d.missed", 1, 0);
	expect_str(rx2, "s1");
	expect_rc(chan_tx_close(other), 0, "close other");
	expect_rc(chan_tx_close(a), 0, "close a");
	chan_disconnect(cc2);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * The daemon goes away between its DIRECT_OFFER and the receiver's fetch:
 * the fetch fails, and the DIRECT 0 the receiver writes meets a closed
 * socket, whose last words it reads. Those words must not be dispatched
 * from inside the offer's handler: the offer itself, still in the buffer,
 * was handled again, and again, until the stack ran out. Now the
 * receiver reports the lost connection.
 */
START_TEST(test_a_daemon_gone_between_offer_and_fetch)
{
	chan_client	*pc = test_connect(&fixture), *cc;
	chan_tx		*a = ring_tx(pc, "d.gone", 0);
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_rx		*rx;
	chan_msg	*m = NULL;
	char		 path[PATH_MAX];
	pid_t		 pid;
	int		 rc, st;

	path_join(path, sizeof(path), fixture.dir, "proxy.sock");
	pid = proxy_start(path, fixture.sock);
	expect_rc(chan_connect(path, &cc), 0, "connect through the proxy");
	o.flags = CHAN_SHM;
	o.prefetch = 1;
	rc = chan_rx_open_ex(cc, "d.gone", 6, &o, &rx);
	if (rc == 0)
		rc = chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m);
	ck_assert_msg(rc == CHAN_ECONNLOST, "got %s, want ECONNLOST",
	    chan_errname(rc));
	chan_disconnect(cc);
	/* It saw the offer go through, and hung up after it. */
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the proxy saw no DIRECT_OFFER (status %#x)", st);
	/* The daemon and the producer go on. */
	send_str(a, "after");
	chan_disconnect(pc);
}
END_TEST

/*
 * Two direct readers on one connection, both rings taken back by socket
 * sends; one closes while the DIRECT_OFFs are still on the way. Handling
 * the other's DIRECT_OFF writes the connection's owed acknowledgements
 * (ACKS): the closing receiver must not be among them, after its CLOSE,
 * or the daemon ends the connection (no such handle).
 */
START_TEST(test_a_closing_reader_is_in_no_later_acks)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*ra = ring_rx(cc, "d.ra", 1, 0);
	chan_rx		*rb = ring_rx(cc, "d.rb", 1, 0);
	chan_tx		*a = ring_tx(pc, "d.ra", 0), *b = ring_tx(pc, "d.rb", 0);
	chan_tx		*sa, *sb;
	char		 s[32];
	int		 i;

	for (i = 0; i < 10; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		send_str(a, s);
		snprintf(s, sizeof(s), "b%d", i);
		send_str(b, s);
	}
	for (i = 0; i < 5; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		expect_str(ra, s);
		snprintf(s, sizeof(s), "b%d", i);
		expect_str(rb, s);
	}
	ck_assert_int_eq(own_direct_maps(), 2);
	/* Confirmed: both rings are taken back, both DIRECT_OFFs sent. */
	sa = tx_open(pc, "d.ra");
	send_str(sa, "sa");
	sb = tx_open(pc, "d.rb");
	send_str(sb, "sb");
	expect_rc(chan_rx_close(ra), 0, "close ra");
	for (i = 5; i < 10; i++) {
		snprintf(s, sizeof(s), "b%d", i);
		expect_str(rb, s);
	}
	expect_str(rb, "sb");
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

START_TEST(test_a_producer_ahead_of_its_receiver_does_not_block)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	unsigned char	 buf[1024], want[1024];
	chan_rx		*rx = ring_rx(cc, "d.ahead", 64, 0);
	chan_tx		*tx = ring_tx(pc, "d.ahead", 0);
	chan_msg	*m;
	unsigned	 i, n = 3000;

	send_str(tx, "first");
	expect_str(rx, "first");
	ck_assert_int_eq(own_direct_maps(), 1);
	for (i = 0; i < n; i++)
		expect_rc(chan_tx_send_async(tx, buf, fill(buf, sizeof(buf),
		    i)), 0, "send");
	expect_rc(chan_tx_flush(tx), 0, "flush");
	for (i = 0; i < n; i++) {
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "recv");
		ck_assert(memcmp(chan_msg_data(m), want, fill(want,
		    sizeof(want), i)) == 0);
		chan_msg_free(m);
	}
	send_str(tx, "again");
	expect_str(rx, "again");
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * A: 100 on the ring, some read directly; then B sends on the socket,
 * after A's sends were confirmed: every A comes before B, once each. The
 * ring is the daemon's for a while, then offered again (within
 * HARNESS_WAIT_MS): a socket send does not end direct reading for good.
 */
START_TEST(test_a_socket_send_takes_the_ring_back_in_order)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = ring_rx(cc, "d.mixed", 8, 0);
	chan_tx		*a = ring_tx(pc, "d.mixed", 0), *b;
	char		 s[32];
	chan_msg	*m;
	int		 i;

	direct_warm_up(a, rx);
	for (i = 10; i < 100; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		send_str(a, s);
	}
	b = tx_open(pc, "d.mixed");
	send_str(b, "b");
	for (i = 5; i < 100; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		expect_str(rx, s);
	}
	expect_str(rx, "b");
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "nothing more");
	/* The ring is the daemon's again: sends go on. */
	send_str(a, "a-after");
	expect_str(rx, "a-after");
	direct_rings_wait(&a, 1, rx);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * Capacity 2: two sends fit, a third does not; a receive makes room for
 * one more, as on the socket path.
 */
START_TEST(test_receives_make_room_in_a_bounded_channel)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_tx		*tx = ring_tx(pc, "d.bounded", 2);
	chan_rx		*rx = ring_rx(cc, "d.bounded", 0, 0);
	chan_msg	*m;

	send_str(tx, "x");
	expect_str(rx, "x");
	ck_assert_int_eq(own_direct_maps(), 1);
	expect_rc(chan_tx_try_send(tx, "a", 1), 0, "first try_send");
	expect_rc(chan_tx_try_send(tx, "b", 1), 0, "second try_send");
	expect_rc(chan_tx_try_send(tx, "c", 1), CHAN_EFULL, "third try_send");
	expect_str(rx, "a");
	expect_rc(chan_tx_try_send(tx, "d", 1), 0, "after a receive");
	expect_str(rx, "b");
	expect_str(rx, "d");
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "c was dropped");
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * While its receiver reads directly and keeps claiming, a blocked send's
 * grant waits for room to gather (the ring's share: half the channel
 * here, 512 messages). A receiver that takes three messages (it claims at most its
 * prefetch of 4 at a time) and stops makes less room than that: the send
 * must still go, and every message arrive once, in order.
 */
START_TEST(test_a_blocked_send_goes_when_its_receiver_stops_short)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_tx		*tx = ring_tx(pc, "d.short", 1024);
	chan_rx		*rx = ring_rx(cc, "d.short", 4, 0);
	struct send_thread b;
	char		 s[32];
	int		 i;

	send_str(tx, "x");
	expect_str(rx, "x");
	ck_assert_int_eq(own_direct_maps(), 1);
	for (i = 0; i < 1024; i++) {
		snprintf(s, sizeof(s), "m%d", i);
		send_str(tx, s);
	}
	expect_rc(chan_tx_try_send(tx, "y", 1), CHAN_EFULL, "a full channel");
	send_thread_start(&b, tx, "last");
	for (i = 0; i < 3; i++) {
		snprintf(s, sizeof(s), "m%d", i);
		expect_str(rx, s);
	}
	ck_assert_msg(send_thread_wait(&b, harness_wait_ms()) == 1,
	    "the blocked send did not go");
	expect_rc(send_thread_join(&b), 0, "the blocked send");
	for (i = 3; i < 1024; i++) {
		snprintf(s, sizeof(s), "m%d", i);
		expect_str(rx, s);
	}
	expect_str(rx, "last");
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * Two ring producers on name (of capacity cap), a on pa and b on pb, and
 * a receiver on cc that reads both rings itself: *rx.
 */
static void
two_rings_read_directly(chan_client *pa, chan_client *pb, chan_client *cc,
    const char *name, uint64_t cap, chan_tx *tx[2], chan_rx **rx)
{
	tx[0] = ring_tx(pa, name, cap);
	tx[1] = ring_tx(pb, name, cap);
	*rx = ring_rx(cc, name, 4, 0);
	direct_rings_wait(tx, 2, *rx);
}

/* A thread's blocking sends of "b0", "b1", ... "b<n - 1>" on tx. */
struct filler {
	pthread_t	 t;
	chan_tx		*tx;
	unsigned	 n;
	unsigned	 sent;		/* atomic */
	int		 rc;
	int		 done;		/* atomic */
};

static void *
filler_main(void *arg)
{
	struct filler	*f = arg;
	char		 s[32];
	unsigned	 i;

	for (i = 0; i < f->n && f->rc == 0; i++) {
		snprintf(s, sizeof(s), "b%u", i);
		if ((f->rc = chan_tx_send(f->tx, s, strlen(s))) == 0)
			__atomic_store_n(&f->sent, i + 1, __ATOMIC_SEQ_CST);
	}
	__atomic_store_n(&f->done, 1, __ATOMIC_SEQ_CST);
	return (NULL);
}

/*
 * A receiver reading the rings itself stops; one producer sends on with
 * blocking sends while the other sits on its grant. Once the receiver
 * has claimed nothing for a while, what the idle producer has not
 * claimed goes to the one that waits: it fills the channel up to the
 * idle one's last part (SHMRING_CLAIM_MSGS), not just its own share.
 * Then every message arrives, in order.
 */
START_TEST(test_a_stopped_receiver_leaves_no_room_to_an_idle_ring)
{
	const unsigned	 cap = 8 * SHMRING_CLAIM_MSGS;
	chan_client	*pa = test_connect(&fixture);
	chan_client	*pb = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_tx		*tx[2];
	chan_rx		*rx;
	struct filler	 f = { .n = cap - SHMRING_CLAIM_MSGS };
	long long	 until;
	char		 s[32];
	unsigned	 i;

	two_rings_read_directly(pa, pb, cc, "d.idle", cap, tx, &rx);
	/* The idle producer holds a grant. */
	send_str(tx[0], "a0");
	expect_str(rx, "a0");
	f.tx = tx[1];
	ck_assert_int_eq(pthread_create(&f.t, NULL, filler_main, &f), 0);
	until = now_ms() + harness_wait_ms();
	while (!__atomic_load_n(&f.done, __ATOMIC_SEQ_CST)) {
		if (now_ms() > until) {
			/* Received from, the producer goes on: a bounded end. */
			ck_abort_msg("%u of %u sends went: the idle ring kept "
			    "the rest", __atomic_load_n(&f.sent,
			    __ATOMIC_SEQ_CST), f.n);
		}
		poll(NULL, 0, 5);
	}
	ck_assert_int_eq(pthread_join(f.t, NULL), 0);
	expect_rc(f.rc, 0, "the blocking sends");
	for (i = 0; i < f.n; i++) {
		snprintf(s, sizeof(s), "b%u", i);
		expect_str(rx, s);
	}
	send_str(tx[0], "a1");
	expect_str(rx, "a1");
	chan_disconnect(pa);
	chan_disconnect(pb);
	chan_disconnect(cc);
}
END_TEST

/*
 * Shares are wide only where a producer claims a part of its grant, not
 * the whole of it: on a small channel two rings, idle after a message
 * each, hold half the channel between them, as before claims, and a
 * send on the socket has the other half.
 */
START_TEST(test_idle_rings_of_a_small_channel_leave_half_of_it)
{
	const unsigned	 cap = 256;
	chan_client	*pc = test_connect(&fixture);
	chan_client	*sc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_tx		*tx[2], *stx;
	chan_rx		*rx;
	unsigned	 n;
	int		 rc;

	two_rings_read_directly(pc, pc, cc, "d.small", cap, tx, &rx);
	send_str(tx[0], "a");
	expect_str(rx, "a");
	send_str(tx[1], "b");
	expect_str(rx, "b");
	o.capacity = cap;
	stx = tx_open_opts(sc, "d.small", &o);
	for (n = 0; n <= cap; n++) {
		if ((rc = chan_tx_try_send(stx, "s", 1)) != 0)
			break;
	}
	expect_rc(rc, CHAN_EFULL, "the socket sends");
	ck_assert_uint_ge(n, cap / 2);
	chan_disconnect(pc);
	chan_disconnect(sc);
	chan_disconnect(cc);
}
END_TEST

/*
 * Checks that m is the next message of producer "a" or "b" (next[0],
 * next[1]: "a0", "a1", ...), the i-th received, and frees it.
 */
static void
expect_next_of_ab(chan_msg *m, int next[2], int i)
{
	const char	*prefix[2] = { "a", "b" };
	char		 s[32];
	int		 k = ((const char *)chan_msg_data(m))[0] == 'b';

	snprintf(s, sizeof(s), "%s%d", prefix[k], next[k]++);
	ck_assert_msg(chan_msg_len(m) == strlen(s) &&
	    memcmp(chan_msg_data(m), s, strlen(s)) == 0,
	    "message %d: expected %s", i, s);
	chan_msg_free(m);
}

/*
 * Two producers on rings of 4 KiB (128 records of these messages) and a
 * channel of 1024 messages (a share of 256 each): each runs out of its
 * ring's space before its grant, again and again, since the space of a
 * record comes back only once the receiver acknowledges it. Blocked with
 * no deadline, each waits for the space to gather (half its ring) while
 * the receiver reads on; every message arrives once, in each producer's
 * order.
 */
START_TEST(test_producers_out_of_ring_space_wait_for_it_to_gather)
{
	chan_client	*cc = test_connect(&fixture), *pc[2];
	chan_rx		*rx;
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_tx		*tx[2];
	chan_msg	*m;
	struct async_sender snd[2];
	const char	*prefix[2] = { "a", "b" };
	int		 i, next[2] = { 0, 0 };

	o.flags = CHAN_SHM;
	o.capacity = 1024;
	o.ring_size = 4096;
	for (i = 0; i < 2; i++) {
		pc[i] = test_connect(&fixture);
		tx[i] = tx_open_opts(pc[i], "d.space", &o);
	}
	rx = ring_rx(cc, "d.space", 256, 0);
	direct_rings_wait(tx, 2, rx);
	for (i = 0; i < 2; i++)
		async_sender_start(&snd[i], tx[i], prefix[i], 0, 3000);
	for (i = 0; i < 6000; i++) {
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "a message from a producer out of ring space");
		expect_next_of_ab(m, next, i);
	}
	for (i = 0; i < 2; i++) {
		expect_rc(async_sender_join(&snd[i]), 0, "the producer");
		chan_disconnect(pc[i]);
	}
	expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m),
	    CHAN_EDISCONNECTED, "after the producers went");
	chan_disconnect(cc);
}
END_TEST

/*
 * Producers blocked with no deadline while another waits do not wake the
 * daemon: it looks at every ring when the receiver's acknowledgement it
 * asked for comes (the rings' watched word). A send on the socket takes
 * the rings back meanwhile: from then on the daemon reads them and is
 * woken to each wait again, until it offers them anew. Every message
 * arrives once, in each producer's order.
 */
START_TEST(test_producers_waiting_unwoken_go_on_when_the_rings_go_back)
{
	chan_client	*cc = test_connect(&fixture), *pc[3];
	chan_rx		*rx;
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_tx		*tx[3];
	chan_msg	*m;
	struct async_sender snd[2];
	const char	*prefix[2] = { "a", "b" };
	int		 i, next[2] = { 0, 0 }, socket_seen = 0;

	o.flags = CHAN_SHM;
	o.capacity = 512;
	for (i = 0; i < 2; i++) {
		pc[i] = test_connect(&fixture);
		tx[i] = tx_open_opts(pc[i], "d.watched", &o);
	}
	pc[2] = test_connect(&fixture);
	tx[2] = tx_open(pc[2], "d.watched");
	rx = ring_rx(cc, "d.watched", 256, 0);
	direct_rings_wait(tx, 2, rx);
	for (i = 0; i < 2; i++)
		async_sender_start(&snd[i], tx[i], prefix[i], 0, 20000);
	for (i = 0; i < 40001; i++) {
		if (i == 2000)
			expect_rc(chan_tx_send(tx[2], "s", 1), 0,
			    "a send on the socket among the rings");
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "a message from producers that wait unwoken");
		if (chan_msg_len(m) == 1 &&
		    ((const char *)chan_msg_data(m))[0] == 's') {
			socket_seen++;
			chan_msg_free(m);
			continue;
		}
		expect_next_of_ab(m, next, i);
	}
	ck_assert_int_eq(socket_seen, 1);
	for (i = 0; i < 2; i++) {
		expect_rc(async_sender_join(&snd[i]), 0, "the producer");
		chan_disconnect(pc[i]);
	}
	chan_disconnect(pc[2]);
	expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m),
	    CHAN_EDISCONNECTED, "after the producers went");
	chan_disconnect(cc);
}
END_TEST

/*
 * A receiver killed after it read three messages directly and
 * acknowledged none: the next receiver gets them again, marked, then the
 * rest.
 */
struct killed {
	int		 fd;
	const char	*name;		/* the channel */
	int		 p[2];		/* the child's reports */
	int		 go[2];		/* the test tells the child */
	pid_t		 pid;
	chan_tx		*gone;		/* watches the receiver's connection */
	chan_tx		*other;		/* a barrier after it went */
};

/*
 * In the child: connects, opens the receiver of k's channel (on a ring,
 * acknowledging by hand, prefetch) and the watched one, and says so.
 * NULL if it cannot.
 */
static chan_rx *
killed_open(struct killed *k, unsigned prefetch)
{
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_client	*c;
	chan_rx		*rx, *watched;

	o.flags = CHAN_SHM | CHAN_MANUAL_ACK;
	o.prefetch = prefetch;
	if (chan_connect(fixture.sock, &c) != 0 ||
	    chan_rx_open_ex(c, k->name, strlen(k->name), &o, &rx) != 0)
		return (NULL);
	o.flags = CHAN_RX_GONE;
	if (chan_rx_open_ex(c, "d.watch", 7, &o, &watched) != 0 ||
	    write(k->fd, "O", 1) != 1)
		return (NULL);
	return (rx);
}

/*
 * In the child, with got messages read: reads the rest of three,
 * acknowledging none, says whether it reads at least rings rings itself
 * ('D', else 'S') and waits to be killed.
 */
static int
killed_hold(struct killed *k, chan_rx *rx, int got, int rings)
{
	chan_msg	*m;

	for (; got < 3; got++) {
		if (chan_rx_recv_timeout(rx, 10000, &m) != 0)
			return (2);
		chan_msg_free(m);
	}
	if (write(k->fd, own_direct_maps() >= rings ? "D" : "S", 1) != 1)
		return (3);
	for (;;)
		pause();
}

static int
killed_main(void *arg)
{
	struct killed	*k = arg;
	chan_rx		*rx;

	if ((rx = killed_open(k, 8)) == NULL)
		return (1);
	return (killed_hold(k, rx, 0, 1));
}

/* Starts receiver fn of name in a child; pc's producers watch it. */
static void
killed_start_fn(struct killed *k, chan_client *pc, const char *name,
    child_fn fn)
{
	chan_open_opts	o = CHAN_OPEN_OPTS_INIT;

	k->other = tx_open(pc, "d.other");
	o.flags = CHAN_RX_GONE;
	ck_assert_int_eq(pipe(k->p), 0);
	ck_assert_int_eq(pipe(k->go), 0);
	k->fd = k->p[1];
	k->name = name;
	k->pid = child_fork(fn, k);
	ck_assert_int_eq(pipe_read_byte(k->p[0]), 'O');
	k->gone = tx_open_opts(pc, "d.watch", &o);
}

/* killed_main's receiver. */
static void
killed_start(struct killed *k, chan_client *pc, const char *name)
{
	killed_start_fn(k, pc, name, killed_main);
}

/*
 * Once the receiver has read three messages directly: kills it, and
 * waits until the daemon has dropped it (its watch fails) and has read
 * everything sent before (the barrier).
 */
static void
killed_kill(struct killed *k)
{
	int	status, i, rc = 0;

	ck_assert_int_eq(pipe_read_byte(k->p[0]), 'D');
	ck_assert_int_eq(kill(k->pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(k->pid, &status, 0), k->pid);
	for (i = 0; i < 100000; i++)
		if ((rc = chan_tx_send(k->gone, "p", 1)) == CHAN_ERXGONE)
			break;
	expect_rc(rc, CHAN_ERXGONE, "send after the receiver went");
	send_str(k->other, "barrier");
	close(k->p[0]);
	close(k->p[1]);
	close(k->go[0]);
	close(k->go[1]);
}

/*
 * The next receiver gets want[0 .. n) in that order: the first marked of
 * them redelivered (a dead receiver held them), the rest not.
 */
static void
expect_back_marked(chan_rx *rx, const char *const *want, int n, int marked)
{
	chan_msg	*m;
	int		 i;

	for (i = 0; i < n; i++) {
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "recv again");
		ck_assert_str_eq(chan_msg_data(m), want[i]);
		ck_assert_msg(chan_msg_redelivered(m) == (i < marked),
		    "%s marked %d", want[i], chan_msg_redelivered(m));
		chan_msg_free(m);
	}
}

START_TEST(test_a_killed_receiver_s_claims_come_back_marked)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	const char	*want[] = { "one", "two", "three", "four" };
	struct killed	 k;
	chan_tx		*tx;
	chan_rx		*rx;
	int		 i;

	killed_start(&k, pc, "d.killed");
	tx = ring_tx(pc, "d.killed", 0);
	for (i = 0; i < 3; i++)
		send_str(tx, want[i]);
	killed_kill(&k);
	send_str(tx, want[3]);
	rx = ring_rx(cc, "d.killed", 8, 0);
	expect_back_marked(rx, want, 4, 3);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST


/*
 * The same with one bundle of twenty messages (chan_tx_send_many): the
 * receiver's claim of its window (8) ends within the bundle, and the
 * daemon takes the ring back there. The next receiver gets all twenty
 * once, in order: those the dead one held marked (the three it read
 * among them), then the rest, read on from within the bundle, unmarked.
 */
START_TEST(test_a_killed_receiver_s_claims_within_a_bundle_come_back)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	static char	 bufs[20][16];
	struct iovec	 iov[20];
	struct killed	 k;
	chan_tx		*tx;
	chan_rx		*rx;
	chan_msg	*m;
	size_t		 sent;
	int		 i, marked = 0;

	killed_start(&k, pc, "d.bundle");
	tx = ring_tx(pc, "d.bundle", 0);
	for (i = 0; i < 20; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "m%02d", i);
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = strlen(bufs[i]) + 1;
	}
	expect_rc(chan_tx_send_many(tx, iov, 20, &sent), 0, "send_many");
	ck_assert_uint_eq(sent, 20);
	killed_kill(&k);
	rx = ring_rx(cc, "d.bundle", 8, 0);
	for (i = 0; i < 20; i++) {
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "recv again");
		ck_assert_str_eq(chan_msg_data(m), bufs[i]);
		/* Marked ones come first: the dead receiver's window. */
		if (chan_msg_redelivered(m))
			ck_assert_int_eq(marked++, i);
		chan_msg_free(m);
	}
	ck_assert_msg(marked >= 3 && marked < 20, "%d marked", marked);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * A receiver that writes garbage over its page (claims and
 * acknowledgements that the ring does not hold, wake words), several
 * times, with sends in between: the daemon lives and serves the others,
 * and that receiver gets messages, errors or nothing, never a crash.
 */
START_TEST(test_a_scribbling_receiver_harms_only_itself)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_client	*oc = test_connect(&fixture);
	chan_rx		*rx = ring_rx(cc, "d.scribble", 8, 0), *orx;
	chan_tx		*tx = ring_tx(pc, "d.scribble", 0), *otx;
	unsigned char	*page;
	chan_msg	*m;
	size_t		 k;
	int		 i, rc;

	send_str(tx, "before");
	expect_str(rx, "before");
	ck_assert_int_eq(own_direct_maps(), 1);
	page = own_direct_page();
	for (i = 0; i < 4; i++) {
		/* Its words, its slots and its claims' log. */
		for (k = 64; k < 65536; k++)
			page[k] = (unsigned char)(k * 13 + i * 7 + 0x80);
		/* As a receiver that waits: the daemon reads the page. */
		rc = chan_tx_send_timeout(tx, "after", 5, 200);
		ck_assert_msg(rc == 0 || rc == CHAN_ETIMEDOUT ||
		    rc == CHAN_ECONNLOST, "send: %s", chan_strerror(rc));
		rc = chan_rx_recv_timeout(rx, 100, &m);
		if (rc == 0)
			chan_msg_free(m);
		else
			ck_assert_msg(rc == CHAN_ETIMEDOUT ||
			    rc == CHAN_ECONNLOST, "recv after scribbling: %s",
			    chan_strerror(rc));
	}
	assert_serves(&fixture);
	orx = ring_rx(oc, "d.other", 8, 0);
	otx = ring_tx(pc, "d.other", 0);
	send_str(otx, "fine");
	expect_str(orx, "fine");
	chan_disconnect(oc);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * Rings that could be offered wait, unread, for the queue to drain: a
 * producer that fills its ring meanwhile, while the receiver reads
 * nothing, does not block (the daemon reads the ring again), and every
 * message arrives once, in order.
 */
START_TEST(test_a_producer_does_not_block_while_the_queue_drains)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	unsigned char	 buf[1024], want[1024];
	chan_tx		*tx = ring_tx(pc, "d.drains", 0);
	chan_rx		*rx;
	chan_msg	*m;
	char		 s[16];
	unsigned	 i, n = 3000;

	/* Queued before the receiver comes: it takes them one at a time. */
	for (i = 0; i < 10; i++) {
		snprintf(s, sizeof(s), "q%u", i);
		send_str(tx, s);
	}
	rx = ring_rx(cc, "d.drains", 1, 0);
	expect_str(rx, "q0");
	/* Three times what the ring holds, the receiver reading nothing. */
	for (i = 0; i < n; i++)
		expect_rc(chan_tx_send_async(tx, buf, fill(buf, sizeof(buf),
		    i)), 0, "send");
	expect_rc(chan_tx_flush(tx), 0, "flush");
	for (i = 1; i < 10; i++) {
		snprintf(s, sizeof(s), "q%u", i);
		expect_str(rx, s);
	}
	for (i = 0; i < n; i++) {
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "recv");
		ck_assert(memcmp(chan_msg_data(m), want, fill(want,
		    sizeof(want), i)) == 0);
		chan_msg_free(m);
	}
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "nothing more");
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * Three producers on rings of their own connections, and a receiver that
 * reads all three rings itself: each send returns before the next, of
 * another producer, begins, so they are received in the order sent,
 * sent all before the receives or each received at once.
 */
START_TEST(test_several_rings_are_merged_in_the_order_of_the_sends)
{
	chan_client	*cc = test_connect(&fixture), *pc[3];
	chan_rx		*rx = ring_rx(cc, "d.merge", 64, 0);
	chan_tx		*tx[3];
	chan_msg	*m;
	char		 s[32];
	int		 i, j;

	for (i = 0; i < 3; i++) {
		pc[i] = test_connect(&fixture);
		tx[i] = ring_tx(pc[i], "d.merge", 0);
	}
	direct_rings_wait(tx, 3, rx);
	for (i = 0; i < 300; i++) {
		snprintf(s, sizeof(s), "p%d-%d", i % 3, i);
		send_str(tx[i % 3], s);
	}
	for (i = 0; i < 300; i++) {
		snprintf(s, sizeof(s), "p%d-%d", i % 3, i);
		expect_str(rx, s);
	}
	for (i = 0; i < 300; i++) {
		j = (i * 7) % 3;
		snprintf(s, sizeof(s), "q%d-%d", j, i);
		send_str(tx[j], s);
		expect_str(rx, s);
	}
	ck_assert_int_eq(own_direct_maps(), 3);
	for (i = 0; i < 3; i++)
		chan_disconnect(pc[i]);
	expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m),
	    CHAN_EDISCONNECTED, "after the last producer went");
	chan_disconnect(cc);
}
END_TEST

/*
 * Three rings that join one after another before anything is sent: each
 * join takes back an offer the receiver has read nothing from, and the
 * rings are offered again at once, not after a wait; the receiver's
 * fetches of the offers already taken back fail without refusing the
 * offer that stands. So the first message of each producer is read from
 * the rings themselves.
 */
START_TEST(test_rings_that_join_before_any_send_are_read_at_once)
{
	chan_client	*cc = test_connect(&fixture), *pc[3];
	chan_rx		*rx = ring_rx(cc, "d.join", 64, 0);
	chan_tx		*tx[3];
	char		 s[32];
	int		 i;

	for (i = 0; i < 3; i++) {
		pc[i] = test_connect(&fixture);
		tx[i] = ring_tx(pc[i], "d.join", 0);
	}
	for (i = 0; i < 3; i++) {
		snprintf(s, sizeof(s), "j%d", i);
		send_str(tx[i], s);
	}
	for (i = 0; i < 3; i++) {
		snprintf(s, sizeof(s), "j%d", i);
		expect_str(rx, s);
	}
	ck_assert_int_eq(own_direct_maps(), 3);
	for (i = 0; i < 3; i++)
		chan_disconnect(pc[i]);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(cc);
}
END_TEST

/*
 * Rust's looks on a receiver that reads two rings itself: a confirmed
 * send is there for the next try_recv, in the order sent across the
 * producers; nothing more is "empty" while a producer lives, and
 * "disconnected" once the last has gone (with the acknowledgements of
 * what was read still in the page).
 */
START_TEST(test_looks_at_two_rings_read_directly)
{
	chan_client	*cc = test_connect(&fixture), *pc[2];
	chan_rx		*rx = ring_rx(cc, "d.looks", 64, 0);
	chan_tx		*tx[2];
	chan_view	 v[4];
	char		 s[16];
	size_t		 n;
	int		 i;

	for (i = 0; i < 2; i++) {
		pc[i] = test_connect(&fixture);
		tx[i] = ring_tx(pc[i], "d.looks", 0);
	}
	direct_rings_wait(tx, 2, rx);
	for (i = 0; i < 20; i++) {
		snprintf(s, sizeof(s), "x%d", i);
		send_str(tx[i % 2], s);
		expect_try_str(rx, s);
	}
	send_str(tx[0], "a1");
	send_str(tx[1], "b1");
	send_str(tx[0], "a2");
	expect_try_str(rx, "a1");
	expect_try_str(rx, "b1");
	expect_try_str(rx, "a2");
	expect_try_rc(rx, CHAN_EEMPTY);
	send_str(tx[1], "b2");
	send_str(tx[0], "a3");
	expect_rc(chan_rx_recv_many(rx, 0, v, 4, &n), 0, "recv_many 0");
	ck_assert_uint_eq(n, 2);
	ck_assert(v[0].len == 2 && memcmp(v[0].data, "b2", 2) == 0);
	ck_assert(v[1].len == 2 && memcmp(v[1].data, "a3", 2) == 0);
	ck_assert_int_eq(own_direct_maps(), 2);
	chan_disconnect(pc[0]);
	expect_try_rc(rx, CHAN_EEMPTY);
	send_str(tx[1], "b3");
	expect_try_str(rx, "b3");
	/*
	 * Closed with the daemon's answer, as Rust's drop is done when it
	 * returns: a connection's end (chan_disconnect) may reach the daemon
	 * after the look that follows it.
	 */
	expect_rc(chan_tx_close(tx[1]), 0, "close the last producer");
	expect_try_rc(rx, CHAN_EDISCONNECTED);
	chan_disconnect(pc[1]);
	chan_disconnect(cc);
}
END_TEST

#define PIPE_MSGS	20000
#define PIPE_BATCH	100

struct piper {
	chan_tx	*tx;
	int	 id;
	int	 rc;
};

/* Sends PIPE_MSGS messages "id n" in batches (bundles in the ring). */
static void *
piper_main(void *arg)
{
	struct piper	*p = arg;
	static char	 buf[3][PIPE_BATCH][24];
	struct iovec	 iov[PIPE_BATCH];
	size_t		 sent;
	int		 i, k;

	for (i = 0; i < PIPE_MSGS && p->rc == 0; i += PIPE_BATCH) {
		for (k = 0; k < PIPE_BATCH; k++) {
			iov[k].iov_base = buf[p->id][k];
			iov[k].iov_len = (size_t)snprintf(buf[p->id][k], 24,
			    "%d %d", p->id, i + k) + 1;
		}
		p->rc = chan_tx_send_many(p->tx, iov, PIPE_BATCH, &sent);
	}
	if (p->rc == 0)
		p->rc = chan_tx_flush(p->tx);
	return (NULL);
}

/*
 * Three threads pipeline 20,000 messages each on their own rings while
 * the receiver reads the three rings itself: every message arrives once,
 * each producer's in order.
 */
START_TEST(test_pipelined_producers_on_several_rings_arrive_once_in_order)
{
	chan_client	*cc = test_connect(&fixture), *pc[3];
	chan_rx		*rx = ring_rx(cc, "d.pipes", 512, 0);
	chan_tx		*tx[3];
	struct piper	 p[3];
	pthread_t	 t[3];
	chan_msg	*m;
	int		 i, id, n, next[3] = { 0, 0, 0 };

	for (i = 0; i < 3; i++) {
		pc[i] = test_connect(&fixture);
		tx[i] = ring_tx(pc[i], "d.pipes", 0);
	}
	direct_rings_wait(tx, 3, rx);
	for (i = 0; i < 3; i++) {
		p[i] = (struct piper){ tx[i], i, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, piper_main,
		    &p[i]), 0);
	}
	for (i = 0; i < 3 * PIPE_MSGS; i++) {
		expect_rc(chan_rx_recv_timeout(rx, harness_wait_ms(), &m), 0,
		    "recv");
		ck_assert_int_eq(sscanf(chan_msg_data(m), "%d %d", &id, &n),
		    2);
		ck_assert_msg(id >= 0 && id < 3 && n == next[id],
		    "producer %d: %d, want %d", id, n, id >= 0 && id < 3 ?
		    next[id] : -1);
		next[id]++;
		chan_msg_free(m);
	}
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		expect_rc(p[i].rc, 0, "pipelined sends");
	}
	expect_rc(chan_rx_try_recv(rx, &m), CHAN_EEMPTY, "nothing more");
	for (i = 0; i < 3; i++)
		chan_disconnect(pc[i]);
	chan_disconnect(cc);
}
END_TEST

/*
 * The receiver of killed_start_fn, reading two rings: acknowledges the
 * warm-up ("w") it is sent and says whether it reads both rings itself
 * ('2', else 'n'); once it does, waits for the test's go ('G'), then
 * reads three messages, acknowledging none.
 */
static int
killed2_main(void *arg)
{
	struct killed	*k = arg;
	chan_rx		*rx;
	chan_msg	*m;
	char		 go;
	int		 i;

	if ((rx = killed_open(k, 16)) == NULL)
		return (1);
	for (;;) {
		for (i = 0; i < 2; i++) {
			if (chan_rx_recv_timeout(rx, 10000, &m) != 0)
				return (2);
			if (strcmp(chan_msg_data(m), "w") != 0)
				return (2);
			if (chan_rx_ack(rx, m) != 0)
				return (2);
			chan_msg_free(m);
		}
		if (write(k->fd, own_direct_maps() == 2 ? "2" : "n", 1) != 1)
			return (3);
		if (own_direct_maps() == 2)
			break;
	}
	/* The test has sent them all: one bite claims every one. */
	if (read(k->go[0], &go, 1) != 1 || go != 'G')
		return (3);
	if (chan_rx_recv_timeout(rx, 10000, &m) != 0)
		return (2);
	chan_msg_free(m);
	return (killed_hold(k, rx, 1, 2));
}

/*
 * A receiver that reads two rings itself is killed after it read three
 * of six messages sent in turn by the two producers, and acknowledged
 * none: it had claimed all six, in the order sent. The next receiver
 * gets the six again, marked and in that order, then the seventh.
 */
START_TEST(test_a_killed_receiver_s_claims_from_two_rings_come_back_in_order)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*qc = test_connect(&fixture);
	chan_client	*cc;
	const char	*want[] = { "a1", "b1", "a2", "b2", "a3", "b3", "a4" };
	struct killed	 k;
	chan_tx		*tx[2];
	chan_rx		*rx;
	long long	 until;
	char		 r;
	int		 i;

	killed_start_fn(&k, pc, "d.killed2", killed2_main);
	tx[0] = ring_tx(pc, "d.killed2", 0);
	tx[1] = ring_tx(qc, "d.killed2", 0);
	until = now_ms() + harness_wait_ms();
	do {
		ck_assert_msg(now_ms() < until, "the receiver reads both "
		    "rings itself");
		send_str(tx[0], "w");
		send_str(tx[1], "w");
	} while ((r = pipe_read_byte(k.p[0])) == 'n');
	ck_assert_int_eq(r, '2');
	for (i = 0; i < 6; i++)
		send_str(tx[i % 2], want[i]);
	ck_assert_int_eq(write(k.go[1], "G", 1), 1);
	killed_kill(&k);
	send_str(tx[0], want[6]);
	cc = test_connect(&fixture);
	rx = ring_rx(cc, "d.killed2", 8, 0);
	expect_back_marked(rx, want, 7, 6);
	chan_disconnect(cc);
	chan_disconnect(qc);
	chan_disconnect(pc);
}
END_TEST

/* One of lockstep's receivers, in a thread of its own. */
struct lockstep {
	pthread_t	 t;
	chan_rx		*rx;
	const char	*tag;
	int		 n;
	int		 p[2];		/* a byte for each message taken */
	int		 failed;	/* 0, or what went wrong */
};

static void *
lockstep_main(void *arg)
{
	struct lockstep	*l = arg;
	chan_msg	*m;
	char		 want[32];
	int		 i;

	for (i = 0; i < l->n && l->failed == 0; i++) {
		snprintf(want, sizeof(want), "%s%d", l->tag, i);
		if (chan_rx_recv_timeout(l->rx, harness_wait_ms(), &m) != 0) {
			l->failed = 1;
			break;
		}
		if (chan_msg_len(m) != strlen(want) ||
		    memcmp(chan_msg_data(m), want, strlen(want)) != 0)
			l->failed = 2;
		chan_msg_free(m);
		if (write(l->p[1], "m", 1) != 1)
			l->failed = 3;
	}
	close(l->p[1]);
	return (NULL);
}

static void
lockstep_start(struct lockstep *l, chan_rx *rx, const char *tag, int n)
{
	memset(l, 0, sizeof(*l));
	l->rx = rx;
	l->tag = tag;
	l->n = n;
	ck_assert_int_eq(pipe(l->p), 0);
	ck_assert_int_eq(pthread_create(&l->t, NULL, lockstep_main, l), 0);
}

/*
 * Two receivers of one connection, each blocked in a thread of its own:
 * rx1 reads its producer's ring itself, rx2 gets DELIVERs on the socket.
 * Each round sends one message to each once both took the last one, so
 * every receive sleeps, and the one woken by a ring's record takes it
 * before the RING_WAKE on the socket they share is read (the next reader,
 * in either thread, reads that frame). 300 rounds: every message comes
 * once, in order, and rx1 still reads its ring at the end.
 */
START_TEST(test_receivers_in_two_threads_woken_by_a_ring_and_the_socket)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx1 = ring_rx(cc, "d.lock1", 64, 0);
	chan_rx		*rx2 = rx_open(cc, "d.lock2", 64);
	chan_tx		*tx1 = ring_tx(pc, "d.lock1", 0);
	chan_tx		*tx2 = tx_open(pc, "d.lock2");
	struct lockstep	 l1, l2;
	char		 s[32];
	int		 i, n = 300;

	direct_rings_wait(&tx1, 1, rx1);
	lockstep_start(&l1, rx1, "r", n);
	lockstep_start(&l2, rx2, "s", n);
	for (i = 0; i < n; i++) {
		snprintf(s, sizeof(s), "r%d", i);
		send_str(tx1, s);
		snprintf(s, sizeof(s), "s%d", i);
		send_str(tx2, s);
		ck_assert_int_eq(pipe_read_byte(l1.p[0]), 'm');
		ck_assert_int_eq(pipe_read_byte(l2.p[0]), 'm');
	}
	ck_assert_int_eq(pthread_join(l1.t, NULL), 0);
	ck_assert_int_eq(pthread_join(l2.t, NULL), 0);
	ck_assert_int_eq(l1.failed, 0);
	ck_assert_int_eq(l2.failed, 0);
	close(l1.p[0]);
	close(l2.p[0]);
	ck_assert_int_eq(own_direct_maps(), 1);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/* This process's writable mapping of a producer ring of the default size. */
static unsigned char *
own_producer_ring(void)
{
	char		 line[512];
	unsigned long	 lo, hi;
	unsigned char	*map = NULL;
	FILE		*f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "chand-ring") == NULL ||
		    strstr(line, " rw-s ") == NULL)
			continue;
		ck_assert_int_eq(sscanf(line, "%lx-%lx", &lo, &hi), 2);
		if (hi - lo == SHMRING_HDR_SIZE + (1u << 20))
			map = (unsigned char *)lo;
	}
	fclose(f);
	ck_assert_msg(map != NULL, "no producer ring mapped");
	return (map);
}

static uint64_t
ring_word64(const unsigned char *map, size_t off)
{
	return (__atomic_load_n((const uint64_t *)(const void *)(map + off),
	    __ATOMIC_SEQ_CST));
}

/*
 * A receiver blocked on the ring it reads directly is woken by its
 * producer's commit alone: once the daemon has noted that it sleeps
 * (cons_sleeps in the producer's ring), the daemon is stopped, and a send
 * within the producer's grant still reaches the receiver. Then the daemon
 * goes on as if nothing happened.
 */
START_TEST(test_a_sleeping_reader_is_woken_by_its_producer_alone)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = ring_rx(cc, "d.wake", 64, 0);
	chan_tx		*tx = ring_tx(pc, "d.wake", 0);
	struct lockstep	 l;
	unsigned char	*map;
	long long	 until;
	int		 status;

	direct_rings_wait(&tx, 1, rx);
	map = own_producer_ring();
	ck_assert_msg(ring_word64(map, SHMRING_OFF_GRANT_MSGS) >
	    ring_word64(map, SHMRING_OFF_SENT), "the producer holds a grant");
	lockstep_start(&l, rx, "m", 2);
	until = now_ms() + harness_wait_ms();
	while (__atomic_load_n((const uint32_t *)(const void *)(map +
	    SHMRING_OFF_CONS_SLEEPS), __ATOMIC_SEQ_CST) != 1) {
		ck_assert_msg(now_ms() < until, "the receiver's sleep is "
		    "never noted in its producer's ring");
		sched_yield();
	}
	ck_assert_int_eq(kill(fixture.pid, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(fixture.pid, &status, WUNTRACED),
	    fixture.pid);
	ck_assert(WIFSTOPPED(status));
	send_str(tx, "m0");
	ck_assert_int_eq(pipe_read_byte(l.p[0]), 'm');
	ck_assert_int_eq(kill(fixture.pid, SIGCONT), 0);
	send_str(tx, "m1");
	ck_assert_int_eq(pipe_read_byte(l.p[0]), 'm');
	ck_assert_int_eq(pthread_join(l.t, NULL), 0);
	ck_assert_int_eq(l.failed, 0);
	close(l.p[0]);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * Rounds of one send from raw and one from tx, and their receipt, until
 * rx reads both rings itself (bounded by HARNESS_WAIT_MS).
 */
static void
direct_raw_and_tx_wait(struct raw_ring *raw, chan_tx *tx, chan_rx *rx)
{
	long long	until = now_ms() + harness_wait_ms();

	while (own_direct_maps() != 2) {
		ck_assert_msg(now_ms() < until, "rx reads %d rings of 2 "
		    "itself", own_direct_maps());
		raw_ring_send(raw, "w");
		send_str(tx, "w");
		expect_str(rx, "w");
		expect_str(rx, "w");
	}
}

/*
 * An event loop's turn for c: waits (bounded) for its socket to be
 * readable, processes it, and rx must then hold exactly s.
 */
static void
loop_expect_str(chan_client *c, chan_rx *rx, const char *s)
{
	struct pollfd	pfd = { .fd = chan_client_fd(c), .events = POLLIN };

	ck_assert_msg(poll_until(&pfd, 1, now_ms() + harness_wait_ms()) == 1,
	    "the socket never became readable");
	expect_rc(chan_client_process(c), 0, "chan_client_process");
	expect_try_str(rx, s);
}

static uint32_t
ring_word32(const unsigned char *map, size_t off)
{
	return (__atomic_load_n((const uint32_t *)(const void *)(map + off),
	    __ATOMIC_SEQ_CST));
}

/*
 * Waits until the daemon has noted the receiver's sleep in both rings, as
 * each ring's producer can act on it: cons_sleeps in the ring of a
 * producer that holds the wake descriptor (fresh), cons_wait alone in the
 * ring of one that does not (old).
 */
static void
sleep_noted_wait(const unsigned char *fresh, const unsigned char *old)
{
	long long	until = now_ms() + harness_wait_ms();

	while (ring_word32(fresh, SHMRING_OFF_CONS_SLEEPS) != 1 ||
	    ring_word32(old, SHMRING_OFF_CONS_WAIT) != 1) {
		ck_assert_msg(now_ms() < until, "the receiver's sleep is "
		    "never noted in both rings");
		sched_yield();
	}
	ck_assert_uint_eq(ring_word32(old, SHMRING_OFF_CONS_SLEEPS), 0);
}

/*
 * A producer of an older library (RING_FETCH without the wake descriptor,
 * spoken by hand) beside one of this library, on one channel whose
 * receiver reads both rings itself and sleeps: a message from either
 * wakes it, the old producer's through the daemon (it wakes the daemon,
 * which sends RING_WAKE), the new one's through the wake descriptor. The
 * receiver reads both rings itself throughout.
 */
START_TEST(test_old_and_new_producers_wake_a_sleeping_reader)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = ring_rx(cc, "d.mixed", 64, 0);
	chan_tx		*tx = ring_tx(pc, "d.mixed", 0);
	struct raw_ring	 old;
	struct lockstep	 l;
	unsigned char	*fresh;

	raw_ring_open(&old, "d.mixed");
	direct_raw_and_tx_wait(&old, tx, rx);
	fresh = own_producer_ring();
	lockstep_start(&l, rx, "m", 2);
	sleep_noted_wait(fresh, old.map);
	raw_ring_send(&old, "m0");
	ck_assert_int_eq(pipe_read_byte(l.p[0]), 'm');
	sleep_noted_wait(fresh, old.map);
	send_str(tx, "m1");
	ck_assert_int_eq(pipe_read_byte(l.p[0]), 'm');
	ck_assert_int_eq(pthread_join(l.t, NULL), 0);
	ck_assert_int_eq(l.failed, 0);
	close(l.p[0]);
	ck_assert_int_eq(own_direct_maps(), 2);
	raw_ring_close(&old);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * A receiver in an event loop reads its producer's ring itself and
 * watches only its socket, so it asks the daemon to wake it (wait 1):
 * the daemon notes the sleep in the ring as cons_wait, not cons_sleeps,
 * though the producer holds the wake descriptor, and the producer's send
 * makes the socket readable (RING_WAKE).
 */
START_TEST(test_an_event_loop_reader_is_woken_through_its_socket)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = ring_rx(cc, "d.loop", 64, 0);
	chan_tx		*tx = ring_tx(pc, "d.loop", 0);
	unsigned char	*map;
	long long	 until;
	int		 i;

	direct_rings_wait(&tx, 1, rx);
	map = own_producer_ring();
	expect_rc(chan_client_set_nonblock(cc, 1), 0, "set_nonblock");
	for (i = 0; i < 2; i++) {
		expect_try_rc(rx, CHAN_EEMPTY);
		until = now_ms() + harness_wait_ms();
		while (ring_word32(map, SHMRING_OFF_CONS_WAIT) != 1) {
			ck_assert_msg(now_ms() < until, "the event loop's "
			    "sleep is never noted in its producer's ring");
			sched_yield();
		}
		ck_assert_uint_eq(ring_word32(map, SHMRING_OFF_CONS_SLEEPS), 0);
		send_str(tx, i == 0 ? "m0" : "m1");
		loop_expect_str(cc, rx, i == 0 ? "m0" : "m1");
	}
	ck_assert_int_eq(own_direct_maps(), 1);
	expect_rc(chan_client_set_nonblock(cc, 0), 0, "set_nonblock 0");
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * A receiver that timed out while its producer was to wake it (wait 2)
 * goes into an event loop, which watches the socket alone: it must ask
 * the daemon again (wait 1), or its producer's next send would wake a
 * descriptor nobody watches.
 */
START_TEST(test_a_reader_moved_into_an_event_loop_asks_for_its_socket)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = ring_rx(cc, "d.moved", 64, 0);
	chan_tx		*tx = ring_tx(pc, "d.moved", 0);
	unsigned char	*map;
	chan_msg	*m = NULL;
	long long	 until;

	direct_rings_wait(&tx, 1, rx);
	map = own_producer_ring();
	until = now_ms() + harness_wait_ms();
	do {
		ck_assert_msg(now_ms() < until, "the blocking reader's sleep "
		    "is never noted in its producer's ring");
		expect_rc(chan_rx_recv_timeout(rx, 20, &m), CHAN_ETIMEDOUT,
		    "recv_timeout");
	} while (ring_word32(map, SHMRING_OFF_CONS_SLEEPS) != 1);
	expect_rc(chan_client_set_nonblock(cc, 1), 0, "set_nonblock");
	expect_try_rc(rx, CHAN_EEMPTY);
	send_str(tx, "m0");
	loop_expect_str(cc, rx, "m0");
	ck_assert_int_eq(own_direct_maps(), 1);
	expect_rc(chan_client_set_nonblock(cc, 0), 0, "set_nonblock 0");
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/*
 * Sends on a wake descriptor until told to stop, as fast as it can; full
 * once a send found it full (its reader cannot empty it faster).
 */
struct waker {
	pthread_t	 t;
	int		 fd;
	int		 stop;
	int		 full;
};

static void *
waker_main(void *arg)
{
	struct waker	*w = arg;
	uint64_t	 one = 1;

	while (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
		if (send(w->fd, &one, sizeof(one), MSG_DONTWAIT |
		    MSG_NOSIGNAL) < 0 && errno == EAGAIN)
			__atomic_store_n(&w->full, 1, __ATOMIC_SEQ_CST);
	}
	return (NULL);
}

/*
 * A producer may write the channel's wake descriptor at will (spoken by
 * hand here, without pause): the reader it wakes for nothing still reads
 * its socket, so a call of the same connection in another thread gets
 * its answer, and another receiver its message.
 */
START_TEST(test_wake_ups_written_at_will_keep_no_socket_unread)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx1 = ring_rx(cc, "d.spam", 64, 0);
	chan_rx		*rx2 = rx_open(cc, "d.spam.sock", 64);
	chan_tx		*tx1 = ring_tx(pc, "d.spam", 0);
	chan_tx		*tx2 = tx_open(pc, "d.spam.sock");
	struct raw_ring	 hostile;
	struct lockstep	 l;
	struct waker	 w;
	unsigned char	*map;
	void		*info;
	size_t		 info_len;
	long long	 until = now_ms() + harness_wait_ms();

	raw_ring_open_wake(&hostile, "d.spam");
	ck_assert_int_ge(hostile.wake_w, 0);
	direct_raw_and_tx_wait(&hostile, tx1, rx1);
	map = own_producer_ring();
	lockstep_start(&l, rx1, "r", 1);
	until = now_ms() + harness_wait_ms();
	while (ring_word32(map, SHMRING_OFF_CONS_SLEEPS) != 1) {
		ck_assert_msg(now_ms() < until, "rx1's sleep is never noted");
		sched_yield();
	}
	w.fd = hostile.wake_w;
	w.stop = w.full = 0;
	ck_assert_int_eq(pthread_create(&w.t, NULL, waker_main, &w), 0);
	until = now_ms() + harness_wait_ms();
	while (!__atomic_load_n(&w.full, __ATOMIC_SEQ_CST)) {
		ck_assert_msg(now_ms() < until, "the wake descriptor never "
		    "filled");
		sched_yield();
	}
	/* Its answer comes on the socket alone. */
	expect_rc(chan_client_info(cc, "daemon", NULL, 0, 0, &info,
	    &info_len), 0, "info");
	free(info);
	send_str(tx2, "s0");
	expect_str(rx2, "s0");
	__atomic_store_n(&w.stop, 1, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(pthread_join(w.t, NULL), 0);
	send_str(tx1, "r0");
	ck_assert_int_eq(pipe_read_byte(l.p[0]), 'm');
	ck_assert_int_eq(pthread_join(l.t, NULL), 0);
	ck_assert_int_eq(l.failed, 0);
	close(l.p[0]);
	raw_ring_close(&hostile);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

/* This process's open descriptors. */
static int
own_fd_count(void)
{
	DIR		*dir = opendir("/proc/self/fd");
	struct dirent	*e;
	int		 n = 0;

	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)) != NULL)
		n += e->d_name[0] != '.';
	closedir(dir);
	return (n - 1);		/* the directory's own */
}

/*
 * Descriptors of this process that are the same socket as another one
 * of them (the same inode: received twice, or duplicated).
 */
static int
own_shared_sockets(void)
{
	DIR		*dir = opendir("/proc/self/fd");
	struct dirent	*e;
	char		 path[300], link[64];
	unsigned long	 ino[256];
	ssize_t		 n;
	int		 nino = 0, twice = 0, i;

	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, "socket:[", 8) != 0)
			continue;
		ck_assert_int_lt(nino, 256);
		ino[nino] = strtoul(link + 8, NULL, 10);
		for (i = 0; i < nino; i++)
			twice += ino[i] == ino[nino];
		nino++;
	}
	closedir(dir);
	return (twice);
}

/*
 * A direct reader wakes the daemon by a pair of its own, not by the end
 * its first ring's producer holds: a producer may shut its end (and loses
 * its ring for it), a reader likewise, and neither can silence the
 * other. With the producer and the reader in this process, no socket is
 * held twice.
 */
START_TEST(test_a_reader_wakes_the_daemon_by_a_pair_of_its_own)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_tx		*tx = ring_tx(pc, "d.own", 0);
	chan_rx		*rx = ring_rx(cc, "d.own", 4, 0);

	direct_rings_wait(&tx, 1, rx);
	ck_assert_int_eq(own_shared_sockets(), 0);
	send_str(tx, "still");
	expect_str(rx, "still");
	chan_disconnect(pc);
	chan_disconnect(cc);
}
END_TEST

/*
 * Each producer wakes the reader through a wake descriptor of its own: a
 * producer that shuts its one down (spoken by hand) takes nothing from
 * another. The reader closes the hung-up end, and the other producer's
 * send still wakes it with the daemon stopped.
 */
START_TEST(test_a_producer_that_shuts_its_wake_descriptor_silences_no_other)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = ring_rx(cc, "d.shut", 64, 0);
	chan_tx		*tx = ring_tx(pc, "d.shut", 0);
	struct raw_ring	 hostile;
	struct lockstep	 l;
	unsigned char	*map;
	long long	 until;
	int		 before, status;

	raw_ring_open_wake(&hostile, "d.shut");
	direct_raw_and_tx_wait(&hostile, tx, rx);
	map = own_producer_ring();
	ck_assert_msg(ring_word64(map, SHMRING_OFF_GRANT_MSGS) >
	    ring_word64(map, SHMRING_OFF_SENT), "the producer holds a grant");
	lockstep_start(&l, rx, "m", 1);
	until = now_ms() + harness_wait_ms();
	while (ring_word32(map, SHMRING_OFF_CONS_SLEEPS) != 1 ||
	    ring_word32(hostile.map, SHMRING_OFF_CONS_SLEEPS) != 1) {
		ck_assert_msg(now_ms() < until, "the receiver's sleep is "
		    "never noted in both rings");
		sched_yield();
	}
	before = own_fd_count();
	ck_assert_int_eq(shutdown(hostile.wake_w, SHUT_RDWR), 0);
	/* Hung up: the reader closes its end of that one (and only). */
	until = now_ms() + harness_wait_ms();
	while (own_fd_count() != before - 1) {
		ck_assert_msg(now_ms() < until, "the reader still watches a "
		    "hung-up wake descriptor (%d descriptors, %d before)",
		    own_fd_count(), before);
		sched_yield();
	}
	ck_assert_int_eq(kill(fixture.pid, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(fixture.pid, &status, WUNTRACED),
	    fixture.pid);
	ck_assert(WIFSTOPPED(status));
	send_str(tx, "m0");
	ck_assert_int_eq(pipe_read_byte(l.p[0]), 'm');
	ck_assert_int_eq(kill(fixture.pid, SIGCONT), 0);
	ck_assert_int_eq(pthread_join(l.t, NULL), 0);
	ck_assert_int_eq(l.failed, 0);
	close(l.p[0]);
	raw_ring_close(&hostile);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST


/*
 * A producer that closes its wake descriptor leaves the reader's end hung
 * up: the reader, woken by that once, closes its end and watches it no
 * more (else every poll would return at once, and it would spin while it
 * sleeps), and the other producer still wakes it.
 */
START_TEST(test_a_closed_wake_descriptor_is_watched_no_more)
{
	chan_client	*pc = test_connect(&fixture);
	chan_client	*cc = test_connect(&fixture);
	chan_rx		*rx = ring_rx(cc, "d.closed", 64, 0);
	chan_tx		*tx = ring_tx(pc, "d.closed", 0);
	struct raw_ring	 hostile;
	struct lockstep	 l;
	unsigned char	*map;
	long long	 until;
	int		 before;

	raw_ring_open_wake(&hostile, "d.closed");
	direct_raw_and_tx_wait(&hostile, tx, rx);
	map = own_producer_ring();
	lockstep_start(&l, rx, "m", 1);
	until = now_ms() + harness_wait_ms();
	while (ring_word32(map, SHMRING_OFF_CONS_SLEEPS) != 1 ||
	    ring_word32(hostile.map, SHMRING_OFF_CONS_SLEEPS) != 1) {
		ck_assert_msg(now_ms() < until, "the receiver's sleep is "
		    "never noted in both rings");
		sched_yield();
	}
	before = own_fd_count();
	close(hostile.wake_w);
	hostile.wake_w = -1;
	until = now_ms() + harness_wait_ms();
	while (own_fd_count() != before - 2) {
		ck_assert_msg(now_ms() < until, "the reader still watches a "
		    "hung-up wake descriptor (%d descriptors, %d before)",
		    own_fd_count(), before);
		sched_yield();
	}
	send_str(tx, "m0");
	ck_assert_int_eq(pipe_read_byte(l.p[0]), 'm');
	ck_assert_int_eq(pthread_join(l.t, NULL), 0);
	ck_assert_int_eq(l.failed, 0);
	close(l.p[0]);
	raw_ring_close(&hostile);
	chan_disconnect(cc);
	chan_disconnect(pc);
}
END_TEST

static Suite *
direct_suite(void)
{
	Suite	*s = suite_create("e2e_direct");
	TCase	*tc = tcase_create("direct reading");

	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_records_go_from_the_ring_to_the_receiver);
	tcase_add_test(tc, test_batches_go_from_the_ring_into_views);
	tcase_add_test(tc,
	    test_closing_after_a_take_back_acknowledges_on_the_socket);
	tcase_add_test(tc,
	    test_an_acknowledgement_the_page_missed_goes_on_the_socket);
	tcase_add_test(tc, test_a_socket_send_takes_the_ring_back_in_order);
	tcase_add_test(tc, test_receives_make_room_in_a_bounded_channel);
	tcase_add_test(tc,
	    test_a_blocked_send_goes_when_its_receiver_stops_short);
	tcase_add_test(tc,
	    test_a_stopped_receiver_leaves_no_room_to_an_idle_ring);
	tcase_add_test(tc, test_idle_rings_of_a_small_channel_leave_half_of_it);
	tcase_add_test(tc,
	    test_producers_out_of_ring_space_wait_for_it_to_gather);
	tcase_add_test(tc,
	    test_producers_waiting_unwoken_go_on_when_the_rings_go_back);
	tcase_add_test(tc, test_a_killed_receiver_s_claims_come_back_marked);
	tcase_add_test(tc,
	    test_a_killed_receiver_s_claims_within_a_bundle_come_back);
	tcase_add_test(tc, test_a_scribbling_receiver_harms_only_itself);
	tcase_add_test(tc, test_a_producer_ahead_of_its_receiver_does_not_block);
	tcase_add_test(tc, test_a_daemon_gone_between_offer_and_fetch);
	tcase_add_test(tc, test_a_closing_reader_is_in_no_later_acks);
	tcase_add_test(tc, test_a_producer_does_not_block_while_the_queue_drains);
	tcase_add_test(tc,
	    test_several_rings_are_merged_in_the_order_of_the_sends);
	tcase_add_test(tc,
	    test_pipelined_producers_on_several_rings_arrive_once_in_order);
	tcase_add_test(tc, test_looks_at_two_rings_read_directly);
	tcase_add_test(tc,
	    test_rings_that_join_before_any_send_are_read_at_once);
	tcase_add_test(tc,
	    test_a_killed_receiver_s_claims_from_two_rings_come_back_in_order);
	tcase_add_test(tc,
	    test_receivers_in_two_threads_woken_by_a_ring_and_the_socket);
	tcase_add_test(tc, test_a_sleeping_reader_is_woken_by_its_producer_alone);
	tcase_add_test(tc, test_old_and_new_producers_wake_a_sleeping_reader);
	tcase_add_test(tc, test_an_event_loop_reader_is_woken_through_its_socket);
	tcase_add_test(tc,
	    test_a_reader_moved_into_an_event_loop_asks_for_its_socket);
	tcase_add_test(tc, test_wake_ups_written_at_will_keep_no_socket_unread);
	tcase_add_test(tc,
	    test_a_producer_that_shuts_its_wake_descriptor_silences_no_other);
	tcase_add_test(tc, test_a_reader_wakes_the_daemon_by_a_pair_of_its_own);
	tcase_add_test(tc, test_a_closed_wake_descriptor_is_watched_no_more);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	/* The default; set in case the environment turned it off. */
	setenv("CHANCLIENT_DIRECT", "1", 1);
	return (harness_main(direct_suite()));
}

/* SPDX-License-Identifier: MIT */
/*
 * ends_memfd.c: the producer and consumer ends of the memfd target, a
 * message passed by reference with no daemon. The producer writes each
 * message into a memfd of its own, seals it against writing, resizing
 * and further seals, and passes it over a Unix socket (SCM_RIGHTS); the
 * consumer checks the seals and the size, maps it read-only, checks the
 * message and reads every cache line of it in place, then unmaps and
 * closes it. The seals are what make reading in place safe: once sealed,
 * no one can change the message under its consumer. This is the by
 * reference design's ceiling: one copy (the producer's), and fresh pages
 * a message, allocated, mapped and freed.
 *
 * At most MEMFD_WINDOW messages are in flight: the consumer writes a byte
 * back for each it is done with, as a channel's capacity would hold the
 * producer back.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MEMFD_WINDOW	64
#define MEMFD_SEALS	(F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | \
			    F_SEAL_SEAL)

/* Waits up to BENCH_STALL_MS for fd to be readable: 0, or -1. */
static int
memfd_wait(int fd)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	int		n;

	while ((n = poll(&pfd, 1, BENCH_STALL_MS)) < 0 && errno == EINTR)
		;
	return (n == 1 ? 0 : -1);
}

/* One byte with fd attached: 0, or -1. */
static int
memfd_pass(int sock, int fd)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(sizeof(int))];
	}		 ctl;
	char		 one = 'm';
	struct iovec	 iov = { &one, 1 };
	struct msghdr	 mh;
	struct cmsghdr	*c;

	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return (sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : -1);
}

/* The fd passed with the next byte on sock: the fd, or -1 (errno). */
static int
memfd_take(int sock)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(sizeof(int))];
	}		 ctl;
	char		 one;
	struct iovec	 iov = { &one, 1 };
	struct msghdr	 mh;
	struct cmsghdr	*c;
	int		 fd;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	if (memfd_wait(sock) != 0 ||
	    recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		return (-1);
	c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int))) {
		errno = EPROTO;
		return (-1);
	}
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return (fd);
}

/* A sealed memfd holding the len bytes of p: the fd, or -1. */
static int
memfd_make(const char *p, size_t len)
{
	ssize_t	n;
	size_t	off = 0;
	int	fd;

	if ((fd = memfd_create("chan-bench", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0)
		return (-1);
	while (off < len) {
		if ((n = write(fd, p + off, len - off)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, MEMFD_SEALS) != 0)
		goto fail;
	return (fd);
fail:
	close(fd);
	return (-1);
}

void
memfd_producer(const struct bench_run *run, int index,
    const struct end_sync *sync, struct bench_report *rep)
{
	char	 credit[MEMFD_WINDOW], *buf;
	size_t	 inflight = 0;
	ssize_t	 n;
	int64_t	 cpu0;
	int	 sock, fd;

	if ((buf = calloc(1, run->size)) == NULL) {
		snprintf(rep->err, sizeof(rep->err), "out of memory");
		return;
	}
	if ((sock = raw_connect(run->sock)) < 0) {
		snprintf(rep->err, sizeof(rep->err), "connect %s: %s",
		    run->sock, strerror(errno));
		free(buf);
		return;
	}
	if (end_ready_and_wait(sync) != 0) {
		snprintf(rep->err, sizeof(rep->err), "never told to start");
		goto out;
	}
	cpu0 = cpu_self_ns();
	rep->t_first = now_ns();
	while (rep->msgs < run->count) {
		if (inflight == MEMFD_WINDOW) {
			if (memfd_wait(sock) != 0 || (n = read(sock, credit,
			    sizeof(credit))) <= 0) {
				snprintf(rep->err, sizeof(rep->err), "no room "
				    "after %llu messages",
				    (unsigned long long)rep->msgs);
				goto out;
			}
			inflight -= (size_t)n;
		}
		payload_fill(buf, run->size, (uint32_t)index,
		    (uint32_t)rep->msgs, 0);
		if ((fd = memfd_make(buf, run->size)) < 0 ||
		    memfd_pass(sock, fd) != 0) {
			snprintf(rep->err, sizeof(rep->err), "message %llu: "
			    "%s", (unsigned long long)rep->msgs,
			    strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
		inflight++;
		rep->msgs++;
	}
	rep->t_last = now_ns();
	rep->cpu_ns = cpu_self_ns() - cpu0;
	rep->ok = 1;
	end_wait_stop(sync);
out:
	close(sock);
	free(buf);
}

/* Maps the message in fd, checks it and reads it all: 0, or -1 (err). */
static int
memfd_consume(int fd, const struct bench_run *run, struct order_check *oc,
    char *err, size_t errlen)
{
	struct stat	 st;
	void		*p;
	int		 seals, rc;

	if (fstat(fd, &st) != 0 || (seals = fcntl(fd, F_GET_SEALS)) < 0) {
		snprintf(err, errlen, "a passed fd: %s", strerror(errno));
		return (-1);
	}
	if ((seals & MEMFD_SEALS) != MEMFD_SEALS ||
	    (uint64_t)st.st_size != run->size) {
		snprintf(err, errlen, "message %llu: %lld bytes, seals %#x",
		    (unsigned long long)oc->seen, (long long)st.st_size,
		    (unsigned)seals);
		return (-1);
	}
	p = mmap(NULL, run->size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd,
	    0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		return (-1);
	}
	if ((rc = order_check(oc, p, run->size, run->size, 0)) != 0)
		snprintf(err, errlen, "%s", oc->err);
	else
		payload_touch(p, run->size);
	munmap(p, run->size);
	return (rc);
}

void
memfd_consumer(const struct bench_run *run, const struct end_sync *sync,
    struct bench_report *rep)
{
	struct order_check	oc;
	int64_t			cpu0;
	int			lfd, sock = -1, fd;
	char			one = 'c';

	rep->consumer = 1;
	if (order_init(&oc, 1, 0, run->count / 100) != 0) {
		snprintf(rep->err, sizeof(rep->err), "out of memory");
		return;
	}
	if ((lfd = raw_listen(run->sock)) < 0) {
		snprintf(rep->err, sizeof(rep->err), "listen %s: %s",
		    run->sock, strerror(errno));
		order_fini(&oc);
		return;
	}
	if (end_ready_and_wait(sync) != 0 || memfd_wait(lfd) != 0 ||
	    (sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		snprintf(rep->err, sizeof(rep->err), "no producer");
		goto out;
	}
	cpu0 = cpu_self_ns();
	while (oc.seen < run->count) {
		if ((fd = memfd_take(sock)) < 0) {
			snprintf(rep->err, sizeof(rep->err), "nothing passed "
			    "after %llu messages: %s",
			    (unsigned long long)oc.seen, strerror(errno));
			break;
		}
		if (memfd_consume(fd, run, &oc, rep->err,
		    sizeof(rep->err)) != 0) {
			close(fd);
			break;
		}
		close(fd);
		if (write(sock, &one, 1) != 1) {
			snprintf(rep->err, sizeof(rep->err), "credit: %s",
			    strerror(errno));
			break;
		}
	}
	end_consumer_done(sync, &oc, run->count, cpu0, rep);
out:
	if (sock >= 0)
		close(sock);
	close(lfd);
	unlink(run->sock);
	order_fini(&oc);
}

/* SPDX-License-Identifier: MIT */
/*
 * ends_raw.c: the producer and consumer ends of the baselines. Both use
 * plain blocking sockets and the relay's framing: producers write batches
 * of whole frames (one frame per write when paced), the consumer reads big
 * and checks every frame. For the relay target both ends connect to it;
 * for the direct target the consumer listens on the run's socket and the
 * producers connect to it.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define RAW_MAX_CONNS	4096

struct raw_conn {
	int	 fd;
	bool	 named;		/* its "P" frame has been read */
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

static int
unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return (-1);
	strcpy(sa->sun_path, path);
	return (0);
}

int
raw_connect(const char *path)
{
	struct sockaddr_un	sa;
	int			fd;

	if (unix_addr(&sa, path) != 0 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

int
raw_listen(const char *path)
{
	struct sockaddr_un	sa;
	int			fd;

	if (unix_addr(&sa, path) != 0 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (-1);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, RAW_MAX_CONNS) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

static void
frame_hdr(char *p, size_t len)
{
	p[0] = (char)(len >> 24);
	p[1] = (char)(len >> 16);
	p[2] = (char)(len >> 8);
	p[3] = (char)len;
}

static int
send_name(int fd, char role)
{
	char	f[BENCH_FRAME_HDR + 1];

	frame_hdr(f, 1);
	f[BENCH_FRAME_HDR] = role;
	return (write_all(fd, f, sizeof(f)));
}

/* Sleeps until the CLOCK_MONOTONIC time t, in ns. */
static void
sleep_until(int64_t t)
{
	struct timespec	ts = { .tv_sec = t / 1000000000,
			    .tv_nsec = t % 1000000000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

static int
raw_send_all(const struct bench_run *run, int fd, uint32_t sender,
    struct bench_report *rep)
{
	size_t	 flen = BENCH_FRAME_HDR + run->size, cap, len = 0;
	int64_t	 interval = 0, t0;
	char	*buf;
	uint64_t i;

	cap = flen > BENCH_BATCH ? flen : BENCH_BATCH / flen * flen;
	if (run->mode == MODE_LATENCY) {
		cap = flen;
		interval = (int64_t)(1e9 * run->producers / run->rate);
	}
	if ((buf = calloc(1, cap)) == NULL)
		return (-1);
	t0 = rep->t_first = now_ns();
	for (i = 0; i < run->count; i++) {
		if (interval > 0)
			sleep_until(t0 + (int64_t)i * interval);
		frame_hdr(buf + len, run->size);
		payload_fill(buf + len + BENCH_FRAME_HDR, run->size, sender,
		    (uint32_t)i, interval > 0 ? now_ns() : 0);
		len += flen;
		if (len + flen > cap || i + 1 == run->count) {
			if (write_all(fd, buf, len) != 0) {
				free(buf);
				return (-1);
			}
			len = 0;
		}
		rep->msgs++;
	}
	rep->t_last = now_ns();
	free(buf);
	return (0);
}

void
raw_producer(const struct bench_run *run, int index,
    const struct end_sync *sync, struct bench_report *rep)
{
	int64_t	cpu0;
	int	fd;

	if ((fd = raw_connect(run->sock)) < 0 || send_name(fd, 'P') != 0) {
		snprintf(rep->err, sizeof(rep->err), "connect %s: %s",
		    run->sock, strerror(errno));
		return;
	}
	if (end_ready_and_wait(sync) != 0) {
		snprintf(rep->err, sizeof(rep->err), "never told to start");
		close(fd);
		return;
	}
	cpu0 = cpu_self_ns();
	if (raw_send_all(run, fd, (uint32_t)index, rep) != 0)
		snprintf(rep->err, sizeof(rep->err), "send: %s",
		    strerror(errno));
	else
		rep->ok = 1;
	rep->cpu_ns = cpu_self_ns() - cpu0;
	end_wait_stop(sync);
	close(fd);
}

/* Checks every whole frame in rc's buffer; -1 on a failed check. */
static int
raw_consume(struct raw_conn *rc, const struct bench_run *run,
    struct order_check *oc, int64_t now)
{
	size_t		 off = 0;
	uint32_t	 len;
	unsigned char	*u;

	while (rc->len - off >= BENCH_FRAME_HDR) {
		u = (unsigned char *)rc->buf + off;
		len = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
		    (uint32_t)u[2] << 8 | u[3];
		if (rc->len - off - BENCH_FRAME_HDR < len)
			break;
		off += BENCH_FRAME_HDR;
		if (!rc->named)
			rc->named = true;	/* direct: the "P" frame */
		else if (order_check(oc, rc->buf + off, len, run->size,
		    run->mode == MODE_LATENCY ? now : 0) != 0)
			return (-1);
		off += len;
	}
	memmove(rc->buf, rc->buf + off, rc->len - off);
	rc->len -= off;
	return (0);
}

/* Reads what rc has; 1 at EOF, -1 on error or a failed check. */
static int
raw_read(struct raw_conn *rc, const struct bench_run *run,
    struct order_check *oc)
{
	size_t	need = BENCH_FRAME_HDR + run->size;
	ssize_t	n;
	char	*nb;

	if (need < BENCH_BATCH)
		need = BENCH_BATCH;
	if (rc->cap < need) {
		if ((nb = realloc(rc->buf, need)) == NULL)
			return (-1);
		rc->buf = nb;
		rc->cap = need;
	}
	n = read(rc->fd, rc->buf + rc->len, rc->cap - rc->len);
	if (n < 0 && errno == EINTR)
		return (0);
	if (n <= 0)
		return (n == 0 ? 1 : -1);
	rc->len += (size_t)n;
	return (raw_consume(rc, run, oc, run->mode == MODE_LATENCY ?
	    now_ns() : 0));
}

struct raw_cons {
	struct pollfd	 pfd[RAW_MAX_CONNS + 1];
	struct raw_conn	 rc[RAW_MAX_CONNS + 1];
	nfds_t		 n;
	nfds_t		 closed;	/* peers that have gone */
	int		 lfd;		/* direct: listening, else -1 */
};

static int
raw_cons_add(struct raw_cons *rs, int fd, bool named)
{
	if (rs->n == RAW_MAX_CONNS + 1)
		return (-1);
	memset(&rs->rc[rs->n], 0, sizeof(rs->rc[0]));
	rs->rc[rs->n].fd = fd;
	rs->rc[rs->n].named = named;
	rs->pfd[rs->n].fd = fd;
	rs->pfd[rs->n].events = POLLIN;
	rs->n++;
	return (0);
}

/* One poll and what it found; -1 on failure (err set), 0 otherwise. */
static int
raw_cons_step(struct raw_cons *rs, const struct bench_run *run,
    struct order_check *oc, char *err, size_t errlen)
{
	nfds_t	i;
	int	n, fd, rc;

	if ((n = poll(rs->pfd, rs->n, BENCH_STALL_MS)) == 0) {
		snprintf(err, errlen, "nothing received for %d ms",
		    BENCH_STALL_MS);
		return (-1);
	}
	for (i = 0; n > 0 && i < rs->n; i++) {
		if (rs->pfd[i].fd < 0 || rs->pfd[i].revents == 0)
			continue;
		if (rs->pfd[i].fd == rs->lfd) {
			if ((fd = accept4(rs->lfd, NULL, NULL,
			    SOCK_CLOEXEC)) >= 0 && raw_cons_add(rs, fd,
			    false) != 0)
				close(fd);
			continue;
		}
		if ((rc = raw_read(&rs->rc[i], run, oc)) < 0) {
			snprintf(err, errlen, "%s", oc->err[0] != '\0' ?
			    oc->err : strerror(errno));
			return (-1);
		}
		if (rc == 1) {
			close(rs->pfd[i].fd);
			rs->pfd[i].fd = -1;
			rs->closed++;
		}
	}
	/* Every peer gone (the relay, or all producers) and not all here. */
	if (rs->closed == rs->n - (rs->lfd >= 0) &&
	    (rs->lfd < 0 || rs->closed == run->producers)) {
		snprintf(err, errlen, "connection closed after %llu messages",
		    (unsigned long long)oc->seen);
		return (-1);
	}
	return (0);
}

static void
raw_cons_free(struct raw_cons *rs)
{
	nfds_t	i;

	for (i = 0; i < rs->n; i++) {
		if (rs->pfd[i].fd >= 0)
			close(rs->pfd[i].fd);
		free(rs->rc[i].buf);
	}
	free(rs);
}

/* Connects (relay) or listens (direct); 0 or -1 with err set. */
static int
raw_cons_open(struct raw_cons *rs, const struct bench_run *run,
    struct bench_report *rep)
{
	int	fd;

	rs->lfd = -1;
	if (run->target == TARGET_DIRECT) {
		if ((fd = raw_listen(run->sock)) < 0)
			goto fail;
		rs->lfd = fd;
		return (raw_cons_add(rs, fd, true));
	}
	if ((fd = raw_connect(run->sock)) < 0)
		goto fail;
	if (send_name(fd, 'C') != 0) {
		close(fd);
		goto fail;
	}
	return (raw_cons_add(rs, fd, true));
fail:
	snprintf(rep->err, sizeof(rep->err), "%s %s: %s",
	    run->target == TARGET_DIRECT ? "listen" : "connect", run->sock,
	    strerror(errno));
	return (-1);
}

void
raw_consumer(const struct bench_run *run, const struct end_sync *sync,
    struct bench_report *rep)
{
	struct order_check	 oc;
	struct raw_cons		*rs;
	uint64_t		 total = run->count * run->producers;
	int64_t			 cpu0;

	rep->consumer = 1;
	if ((rs = calloc(1, sizeof(*rs))) == NULL || order_init(&oc,
	    run->producers, run->mode == MODE_LATENCY ? total : 0,
	    total / 100) != 0) {
		snprintf(rep->err, sizeof(rep->err), "out of memory");
		return;
	}
	if (raw_cons_open(rs, run, rep) != 0)
		goto out;
	if (end_ready_and_wait(sync) != 0) {
		snprintf(rep->err, sizeof(rep->err), "never told to start");
		goto out;
	}
	cpu0 = cpu_self_ns();
	while (oc.seen < total) {
		if (raw_cons_step(rs, run, &oc, rep->err,
		    sizeof(rep->err)) != 0)
			break;
	}
	rep->t_last = now_ns();
	rep->cpu_ns = cpu_self_ns() - cpu0;
	end_mark(sync);
	rep->msgs = oc.seen;
	rep->ok = oc.seen == total;
	order_latency(&oc, rep->lat_ns);
out:
	if (rs->lfd >= 0)
		unlink(run->sock);
	raw_cons_free(rs);
	order_fini(&oc);
}

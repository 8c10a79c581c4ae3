/* SPDX-License-Identifier: MIT */
/*
 * ends_packed.c: the producer and consumer ends of the packed target:
 * the ring target's ends (ends_ring.c), one producer and both ends
 * spinning with no daemon, through a ring of packed runs (packring.h)
 * instead of chand's records: one checked header a run, then the
 * messages framed as on the socket. The same payloads, batches and
 * checks as the ring target, so that the two differ by the layout alone.
 */
#include <sys/mman.h>
#include <sys/uio.h>

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "packring.h"

/* As the ring target: 512 messages a run, a commit per 64 KiB at most. */
#define PACKED_RUN	512
#define PACKED_PUBLISH	(64u << 10)
#define PACKED_MAP	(PACKRING_HDR_SIZE + BENCH_RING_DATA)

int
packed_map(struct bench_run *run)
{
	void	*m;

	m = mmap(NULL, PACKED_MAP, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return (-1);
	packring_init(m, BENCH_RING_DATA);
	run->ring = m;
	return (0);
}

void
packed_unmap(struct bench_run *run)
{
	if (run->ring != NULL)
		munmap(run->ring, PACKED_MAP);
	run->ring = NULL;
}

/*
 * Writes the n payloads of v as runs, spinning while the ring is full:
 * 0, or -1 if it stayed full for BENCH_STALL_MS (a consumer that gave
 * up) or a message is too big for it.
 */
static int
packed_put(struct packring_writer *w, const struct iovec *v, size_t n)
{
	int64_t		since = now_ns();
	size_t		k;
	int		rc;

	while (n > 0) {
		k = packring_put(w, v, n, PACKED_RUN, PACKED_PUBLISH, 0, &rc);
		if (rc != 0)
			return (-1);
		if (k > 0)
			since = now_ns();
		else if (now_ns() - since > BENCH_STALL_MS * 1000000LL)
			return (-1);
		v += k;
		n -= k;
	}
	return (0);
}

void
packed_producer(const struct bench_run *run, int index,
    const struct end_sync *sync, struct bench_report *rep)
{
	struct packring_writer	 w;
	struct iovec		 v[PACKED_RUN];
	char			*buf;
	uint64_t		 seq = 0;
	int64_t			 cpu0;
	size_t			 i, n;

	if (packring_attach(&w, run->ring, PACKED_MAP) != 0 ||
	    run->size > packring_max_msg(w.data_size) ||
	    (buf = malloc(PACKED_RUN * run->size)) == NULL) {
		snprintf(rep->err, sizeof(rep->err), "no packed ring for %zu "
		    "bytes", run->size);
		return;
	}
	if (end_ready_and_wait(sync) != 0) {
		snprintf(rep->err, sizeof(rep->err), "never told to start");
		free(buf);
		return;
	}
	cpu0 = cpu_self_ns();
	rep->t_first = now_ns();
	while (seq < run->count) {
		n = run->count - seq < PACKED_RUN ? run->count - seq :
		    PACKED_RUN;
		for (i = 0; i < n; i++) {
			v[i].iov_base = buf + i * run->size;
			v[i].iov_len = run->size;
			payload_fill(v[i].iov_base, run->size, (uint32_t)index,
			    (uint32_t)(seq + i), 0);
		}
		if (packed_put(&w, v, n) != 0)
			break;
		seq += n;
	}
	rep->t_last = now_ns();
	rep->msgs = seq;
	rep->cpu_ns = cpu_self_ns() - cpu0;
	if (seq < run->count)
		snprintf(rep->err, sizeof(rep->err), "the packed ring stayed "
		    "full for %d ms after %llu messages", BENCH_STALL_MS,
		    (unsigned long long)seq);
	else
		rep->ok = 1;
	end_wait_stop(sync);
	free(buf);
}

/* Checks every frame of a run: 0, or -1 with oc->err set. */
static int
packed_check(struct packring_run *pr, const struct bench_run *run,
    struct order_check *oc)
{
	const unsigned char	*p;
	uint32_t		 len;
	int			 rc;

	while ((rc = packring_frame(pr, &p, &len)) == 1)
		if (order_check(oc, p, len, run->size, 0) != 0)
			return (-1);
	if (rc < 0)
		snprintf(oc->err, sizeof(oc->err), "a run's frames do not "
		    "fill it after %llu messages", (unsigned long long)oc->seen);
	return (rc);
}

/* Reads and checks what the ring holds: 0, or -1 with err set. */
static int
packed_take(struct packring_reader *rd, const struct bench_run *run,
    struct order_check *oc, char *err, size_t errlen)
{
	struct packring_run	pr;
	int			rc;

	if (packring_poll(rd, run->ring) != 0) {
		snprintf(err, errlen, "the packed ring's head is impossible");
		return (-1);
	}
	while ((rc = packring_next(rd, &pr)) == 1) {
		if (packed_check(&pr, run, oc) != 0) {
			snprintf(err, errlen, "%s", oc->err);
			return (-1);
		}
		packring_release(rd, run->ring);
	}
	if (rc < 0) {
		snprintf(err, errlen, "a bad run header after %llu messages",
		    (unsigned long long)oc->seen);
		return (-1);
	}
	return (0);
}

void
packed_consumer(const struct bench_run *run, const struct end_sync *sync,
    struct bench_report *rep)
{
	struct packring_reader	 rd;
	struct order_check	 oc;
	uint64_t		 seen;
	int64_t			 cpu0, idle_since;

	rep->consumer = 1;
	if (packring_reader_attach(&rd, run->ring, PACKED_MAP) != 0 ||
	    order_init(&oc, 1, 0, run->count / 100) != 0) {
		snprintf(rep->err, sizeof(rep->err), "no packed ring");
		return;
	}
	if (end_ready_and_wait(sync) != 0) {
		snprintf(rep->err, sizeof(rep->err), "never told to start");
		order_fini(&oc);
		return;
	}
	cpu0 = cpu_self_ns();
	idle_since = now_ns();
	while (oc.seen < run->count) {
		seen = oc.seen;
		if (packed_take(&rd, run, &oc, rep->err,
		    sizeof(rep->err)) != 0)
			break;
		/* A producer that died must not leave it spinning. */
		if (oc.seen != seen)
			idle_since = now_ns();
		else if (now_ns() - idle_since > BENCH_STALL_MS * 1000000LL) {
			snprintf(rep->err, sizeof(rep->err), "nothing in %d ms "
			    "after %llu messages", BENCH_STALL_MS,
			    (unsigned long long)oc.seen);
			break;
		}
	}
	rep->t_last = now_ns();
	rep->cpu_ns = cpu_self_ns() - cpu0;
	end_mark(sync);
	rep->msgs = oc.seen;
	rep->ok = oc.seen == run->count;
	order_fini(&oc);
}

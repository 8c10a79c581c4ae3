/* SPDX-License-Identifier: MIT */
/*
 * ends_packed.c: the producer and consumer ends of the packed target:
 * the ring target's ends (ends_ring.c), one producer and both ends
 * spinning with no daemon, through a ring of packed runs (packring.h)
 * instead of chand's records: one checked header a run, then the
 * messages framed as on the socket. The same payloads, batches and
 * checks as the ring target, so that the two differ by the layout alone.
 *
 * Two variants of the producer, the consumer unchanged: packed-inline
 * copies each message into the ring with moves of fixed size in line
 * instead of a call of memcpy; packed-inplace builds each message in
 * the ring where it goes (packring_reserve, packring_commit), with no
 * buffer of its own and no copy: what a sender could do with an API
 * that lent it the ring's room.
 */
#include <sys/mman.h>
#include <sys/uio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "packring.h"
#include "shmring.h"

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
 * 0 while a writer that last got something into the ring at *since
 * (k messages this time) waits; -1 once it has waited BENCH_STALL_MS for
 * a consumer that gave up.
 */
static int
packed_stalled(int64_t *since, size_t k)
{
	if (k > 0)
		*since = now_ns();
	else if (now_ns() - *since > BENCH_STALL_MS * 1000000LL)
		return (-1);
	return (0);
}

/*
 * The longest body to fill in a run reserved with limit bytes of frames
 * of f bytes: as packring_put with PACKED_PUBLISH, the first frame
 * whatever the budget.
 */
static uint64_t
packed_budget(uint64_t limit, uint64_t f)
{
	uint64_t	budget = PACKED_PUBLISH > f ? PACKED_PUBLISH : f;

	return (limit < budget ? limit : budget);
}

/*
 * One run of the first messages of the n of v, as packring_put but
 * copying them with shmring_copy (chand's own copy into a ring: in
 * line up to 64 bytes): how many, 0 if the ring is full.
 */
static size_t
packed_put_inline(struct packring_writer *w, const struct iovec *v,
    size_t n)
{
	unsigned char	*b;
	uint64_t	 limit, used = 0, f;
	uint32_t	 len;
	size_t		 i;

	if ((b = packring_reserve(w, (uint32_t)v[0].iov_len, &limit)) == NULL)
		return (0);
	limit = packed_budget(limit, packring_frame_size((uint32_t)
	    v[0].iov_len));
	for (i = 0; i < n; i++) {
		len = (uint32_t)v[i].iov_len;
		if (used + (f = packring_frame_size(len)) > limit)
			break;
		packring_frame_start(b + used, len);
		shmring_copy(b + used + PACKRING_FRAME_HDR, v[i].iov_base, len);
		used += f;
	}
	packring_commit(w, used, (uint32_t)i, 0);
	return (i);
}

/*
 * Writes the n payloads of v as runs, spinning while the ring is full:
 * 0, or -1 if it stayed full for BENCH_STALL_MS (a consumer that gave
 * up) or a message is too big for it. With copy, by packed_put_inline.
 */
static int
packed_put(struct packring_writer *w, const struct iovec *v, size_t n,
    int copy)
{
	int64_t		since = now_ns();
	size_t		k;
	int		rc = 0;

	while (n > 0) {
		if (copy)
			k = packed_put_inline(w, v, n);
		else
			k = packring_put(w, v, n, PACKED_RUN, PACKED_PUBLISH,
			    0, &rc);
		if (rc != 0 || packed_stalled(&since, k) != 0)
			return (-1);
		v += k;
		n -= k;
	}
	return (0);
}

/*
 * The packed-inplace producer's messages seq to seq + n - 1 (n at most
 * PACKED_RUN), built in runs of the ring itself: no buffer of its own
 * and no copy. 0, or -1 as packed_put.
 */
static int
packed_put_inplace(struct packring_writer *w, const struct bench_run *run,
    int index, uint64_t seq, size_t n)
{
	unsigned char	*b;
	int64_t		 since = now_ns();
	uint64_t	 limit, used, f;
	uint32_t	 len = (uint32_t)run->size;
	size_t		 i;

	f = packring_frame_size(len);
	while (n > 0) {
		if ((b = packring_reserve(w, len, &limit)) == NULL) {
			if (packed_stalled(&since, 0) != 0)
				return (-1);
			continue;
		}
		limit = packed_budget(limit, f);
		for (i = 0, used = 0; i < n && used + f <= limit; i++) {
			packring_frame_start(b + used, len);
			payload_fill((char *)b + used + PACKRING_FRAME_HDR,
			    run->size, (uint32_t)index, (uint32_t)(seq + i), 0);
			used += f;
		}
		packring_commit(w, used, (uint32_t)i, 0);
		since = now_ns();
		seq += i;
		n -= i;
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
	size_t			 n;
	int			 rc;

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
		if (run->target == TARGET_PACKED_INPLACE)
			rc = packed_put_inplace(&w, run, index, seq, n);
		else {
			ring_batch_fill(run, index, seq, buf, v, n);
			rc = packed_put(&w, v, n,
			    run->target == TARGET_PACKED_INLINE);
		}
		if (rc != 0)
			break;
		seq += n;
	}
	ring_producer_done(run, rep, seq, cpu0, "packed ring");
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
	end_consumer_done(sync, &oc, run->count, cpu0, rep);
	order_fini(&oc);
}

/* SPDX-License-Identifier: MIT */
/*
 * ends_ring.c: the producer and consumer ends of the ring baseline: one
 * producer writes its messages into a shared-memory ring built with
 * chand's own ring code (proto/shmring.c: the records, their checks and
 * the batch calls of the shared-memory path), and the consumer reads and
 * checks them, both spinning, with no daemon and no channel: no grants,
 * acknowledgements, claims, wake-ups or sleeping. What chand's
 * shared-memory path costs beyond it is the price of its semantics; what
 * it costs itself is what the memory between two cores allows for that
 * record layout. The ring-copy variant adds the one copy chand's direct
 * reader cannot do without: a producer may write over what it committed,
 * so what the consumer hands out must be its own. The ring-read variant
 * reads every cache line of each message where it is, with no copy: what
 * a consumer handed a reference pays to look at its message.
 */
#include <sys/mman.h>
#include <sys/uio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "chanclient.h"
#include "shmring.h"

/* As the library's runs: 512 records, and a commit per 64 KiB at most. */
#define RING_RUN	512
#define RING_PUBLISH	(64u << 10)

/*
 * The ring's data area: BENCH_RING_DATA, or twice a record for messages
 * that do not fit in half of it, as chand's producers ask for.
 */
static uint32_t
ring_data(const struct bench_run *run)
{
	uint64_t	data = BENCH_RING_DATA;

	while (data / 2 < run->size + 16 && data < (1u << 30))
		data <<= 1;
	return ((uint32_t)data);
}

int
ring_map(struct bench_run *run)
{
	uint32_t data = ring_data(run);
	size_t	len = SHMRING_HDR_SIZE + data;
	void	*m;

	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (m == MAP_FAILED)
		return (-1);
	shmring_init(m, data, shmring_max_record(data));
	shmring_grant(m, UINT64_MAX, UINT64_MAX);
	run->ring = m;
	return (0);
}

void
ring_unmap(struct bench_run *run)
{
	if (run->ring != NULL)
		munmap(run->ring, SHMRING_HDR_SIZE + ring_data(run));
	run->ring = NULL;
}

/*
 * Writes the n payloads of v, spinning while the ring is full: 0, or -1
 * if it stayed full for BENCH_STALL_MS (a consumer that gave up).
 */
static int
ring_put(struct shmring_writer *w, const struct iovec *v, size_t n)
{
	struct shmring_room	room;
	int64_t			since = now_ns();
	size_t			k;
	int			rc;

	while (n > 0) {
		if (shmring_room(w, &room) != 0)
			return (-1);
		k = shmring_put_run_in(w, &room, v, n, SIZE_MAX, RING_PUBLISH, 0,
		    &rc);
		if (k > 0) {
			shmring_publish(w);
			since = now_ns();
		} else if (now_ns() - since > BENCH_STALL_MS * 1000000LL)
			return (-1);
		v += k;
		n -= k;
	}
	return (0);
}

void
ring_producer(const struct bench_run *run, int index,
    const struct end_sync *sync, struct bench_report *rep)
{
	struct shmring_writer	 w;
	struct iovec		 v[RING_RUN];
	char			*buf;
	uint64_t		 seq = 0;
	int64_t			 cpu0;
	size_t			 n, per = bench_batch_msgs(RING_RUN, run->size);

	if (shmring_attach(&w, run->ring, SHMRING_HDR_SIZE +
	    ring_data(run)) != 0 || run->size > w.max_record ||
	    (buf = malloc(per * run->size)) == NULL) {
		snprintf(rep->err, sizeof(rep->err), "no ring for %zu bytes",
		    run->size);
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
		n = run->count - seq < per ? run->count - seq : per;
		ring_batch_fill(run, index, seq, buf, v, n);
		if (ring_put(&w, v, n) != 0)
			break;
		seq += n;
	}
	ring_producer_done(run, rep, seq, cpu0, "ring");
	end_wait_stop(sync);
	free(buf);
}

void
ring_batch_fill(const struct bench_run *run, int index, uint64_t seq,
    char *buf, struct iovec *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		v[i].iov_base = buf + i * run->size;
		v[i].iov_len = run->size;
		payload_fill(v[i].iov_base, run->size, (uint32_t)index,
		    (uint32_t)(seq + i), 0);
	}
}

void
ring_producer_done(const struct bench_run *run, struct bench_report *rep,
    uint64_t seq, int64_t cpu0, const char *what)
{
	rep->t_last = now_ns();
	rep->msgs = seq;
	rep->cpu_ns = cpu_self_ns() - cpu0;
	if (seq < run->count)
		snprintf(rep->err, sizeof(rep->err), "the %s stayed full for "
		    "%d ms after %llu messages", what, BENCH_STALL_MS,
		    (unsigned long long)seq);
	else
		rep->ok = 1;
}

/*
 * ring-copy: the run's messages copied out, one after another, each with
 * a NUL after it, as chand's direct reader copies a bite into its views
 * (client/rx_direct.c); rec then points at the copies. 0, or -1 if
 * memory ran out.
 */
struct ring_out {
	unsigned char	*buf;
	size_t		 cap;
};

static int
ring_copy_out(struct shmring_rec *rec, int64_t k, struct ring_out *out)
{
	size_t		 need = 0, off = 0;
	unsigned char	*b;
	int64_t		 i;

	for (i = 0; i < k; i++)
		need += (size_t)rec[i].len + 1;
	if (need > out->cap) {
		if ((b = realloc(out->buf, need)) == NULL)
			return (-1);
		out->buf = b;
		out->cap = need;
	}
	for (i = 0; i < k; i++) {
		shmring_copy(out->buf + off, rec[i].p, rec[i].len);
		out->buf[off + rec[i].len] = '\0';
		rec[i].p = out->buf + off;
		off += (size_t)rec[i].len + 1;
	}
	return (0);
}

/* Reads and checks what the ring holds: 0, or -1 with err set. */
static int
ring_take(struct shmring_reader *rd, const struct bench_run *run,
    struct order_check *oc, struct ring_out *out, char *err, size_t errlen)
{
	struct shmring_rec	rec[RING_RUN];
	int64_t			k, i;

	if (shmring_poll(rd, run->ring) != 0) {
		snprintf(err, errlen, "the ring's head is impossible");
		return (-1);
	}
	while ((k = shmring_take_run(rd, rec, RING_RUN, SIZE_MAX)) > 0) {
		if (run->target == TARGET_RING_COPY &&
		    ring_copy_out(rec, k, out) != 0) {
			snprintf(err, errlen, "out of memory");
			return (-1);
		}
		for (i = 0; i < k; i++) {
			if (order_check(oc, rec[i].p, rec[i].len, run->size,
			    0) != 0) {
				snprintf(err, errlen, "%s", oc->err);
				return (-1);
			}
			if (run->target == TARGET_RING_READ)
				payload_touch(rec[i].p, rec[i].len);
		}
		shmring_release(rd, run->ring);
	}
	if (k < 0) {
		snprintf(err, errlen, "a bad record after %llu messages",
		    (unsigned long long)oc->seen);
		return (-1);
	}
	return (0);
}

void
ring_consumer(const struct bench_run *run, const struct end_sync *sync,
    struct bench_report *rep)
{
	struct shmring_reader	 rd;
	struct order_check	 oc;
	struct ring_out		 out = { NULL, 0 };
	uint64_t		 seen;
	int64_t			 cpu0, idle_since;

	rep->consumer = 1;
	if (shmring_reader_attach(&rd, run->ring, SHMRING_HDR_SIZE +
	    ring_data(run)) != 0 || order_init(&oc, 1, 0,
	    run->count / 100) != 0) {
		snprintf(rep->err, sizeof(rep->err), "no ring");
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
		if (ring_take(&rd, run, &oc, &out, rep->err,
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
	free(out.buf);
}

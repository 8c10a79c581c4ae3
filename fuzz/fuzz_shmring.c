/* SPDX-License-Identifier: MIT */
/*
 * fuzz_shmring.c: libFuzzer target for the daemon's reader of a
 * producer's shared-memory ring (proto/shmring.c), the memory a hostile
 * producer writes.
 *
 * Input: 8 bytes of the producer's head (little-endian), then the data
 * area of a FUZZ_DATA-byte ring (shorter input: the rest is zero). The
 * reader drains the ring as the daemon does, releasing now and then;
 * every record it returns must lie inside the data area, and the reader
 * must stop (a bad record, or nothing more) within the records the ring
 * can hold; a merge's reader (runs stopped at a stamp limit, then
 * resumed) finds the same records. The mapping is one allocation of
 * exactly the header and the data area, so ASan sees any read past it.
 *
 * With the first byte's high bit set the rest drives the writer instead:
 * message lengths (2 bytes each) are put into a fresh ring, in batches of
 * up to four through the run writer (bundles) or, with the first byte's
 * 0x40 bit, one by one, or, with its 0x20 bit, grown into bundles one
 * message at a time (shmring_add, as pipelined sends are; with its 0x10
 * bit too, each first without a stamp, shmring_add_unstamped, as on a
 * channel of several rings), and read back; the reader must return
 * exactly what was put, in order.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanclient.h"
#include "shmring.h"

#define FUZZ_DATA	4096u

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The records a run reader finds in mem (runs of up to 7, or 100 payload
 * bytes), each checked as the single reader's are.
 */
static uint64_t
reader_runs(unsigned char *mem)
{
	struct shmring_reader	 rd;
	struct shmring_rec	 rec[7];
	uint64_t		 got = 0;
	int64_t			 k, i;

	shmring_reader_init(&rd, mem, FUZZ_DATA,
	    shmring_max_record(FUZZ_DATA));
	if (shmring_poll(&rd, mem) != 0)
		return (0);
	while ((k = shmring_take_run(&rd, rec, 7, 100)) > 0) {
		CHECK(k <= 7);
		for (i = 0; i < k; i++, got++) {
			CHECK(rec[i].p >= mem + SHMRING_HDR_SIZE +
			    SHMRING_REC_HDR);
			CHECK(rec[i].p + rec[i].len <= mem + SHMRING_HDR_SIZE +
			    FUZZ_DATA);
		}
	}
	CHECK(rd.pos <= rd.head);
	return (got);
}

/*
 * The records a merge's reader finds in mem: runs stopped at a stamp
 * limit, then without one (shmring_take_run_until, as a consumer reading
 * several rings takes them); the same count as reader_runs.
 */
static uint64_t
reader_until(unsigned char *mem, uint64_t limit)
{
	struct shmring_reader	 rd;
	struct shmring_rec	 rec[7];
	struct shmring_window	 w = { limit, UINT64_MAX, limit };
	uint64_t		 got = 0;
	size_t			 bytes;
	int64_t			 k, i;
	int			 phase;

	shmring_reader_init(&rd, mem, FUZZ_DATA,
	    shmring_max_record(FUZZ_DATA));
	if (shmring_poll(&rd, mem) != 0)
		return (0);
	for (phase = 0; phase < 2; phase++) {
		while ((k = shmring_take_run_until(&rd, rec, 7, 100,
		    &w, &bytes)) > 0) {
			CHECK(k <= 7);
			for (i = 0; i < k; i++, got++) {
				CHECK(rec[i].p + rec[i].len <= mem +
				    SHMRING_HDR_SIZE + FUZZ_DATA);
				CHECK(bytes >= rec[i].len);
				bytes -= rec[i].len;
			}
			CHECK(bytes == 0);
		}
		w.t0 = w.limit = UINT64_MAX;
	}
	CHECK(rd.pos <= rd.head);
	return (got);
}

static void
reader(const uint8_t *in, size_t len)
{
	struct shmring_reader	 rd;
	const unsigned char	*p;
	unsigned char		*mem;
	uint32_t		 n;
	uint64_t		 head = 0, got = 0, runs;
	int			 rc;

	if ((mem = calloc(1, SHMRING_HDR_SIZE + FUZZ_DATA)) == NULL)
		return;
	shmring_init(mem, FUZZ_DATA, shmring_max_record(FUZZ_DATA));
	memcpy(&head, in, len < 8 ? len : 8);
	memcpy(mem + SHMRING_OFF_HEAD, &head, 8);
	if (len > 8)
		memcpy(mem + SHMRING_HDR_SIZE, in + 8, len - 8 > FUZZ_DATA ?
		    FUZZ_DATA : len - 8);
	/* Runs find the same records as single reads, with a limit too. */
	runs = reader_runs(mem);
	CHECK(reader_until(mem, head >> 3) == runs);
	shmring_reader_init(&rd, mem, FUZZ_DATA,
	    shmring_max_record(FUZZ_DATA));
	if (shmring_poll(&rd, mem) == 0) {
		while ((rc = shmring_next(&rd, &p, &n)) == 1) {
			CHECK(p >= mem + SHMRING_HDR_SIZE + SHMRING_REC_HDR);
			CHECK(p + n <= mem + SHMRING_HDR_SIZE + FUZZ_DATA);
			CHECK(n <= shmring_max_record(FUZZ_DATA));
			/* A message takes at least its length word. */
			CHECK(++got <= FUZZ_DATA / 4);
			if (got % 3 == 0)
				shmring_release(&rd, mem);
		}
		CHECK(rd.pos <= rd.head);
	}
	CHECK(runs == got);
	free(mem);
}

/* Reads every committed message: each must be the next one put. */
static void
writer_drain(struct shmring_reader *rd, unsigned char *mem, uint32_t *next,
    uint32_t seq)
{
	const unsigned char	*p;
	uint32_t		 n;
	int			 rc;

	CHECK(shmring_poll(rd, mem) == 0);
	while ((rc = shmring_next(rd, &p, &n)) == 1) {
		CHECK(n == 0 || (p[0] == (*next & 0xff) &&
		    p[n - 1] == (*next & 0xff)));
		(*next)++;
	}
	CHECK(rc == 0 && *next == seq);
	shmring_release(rd, mem);
}

/*
 * Puts the k messages of v (each filled with its number's low byte, from
 * *seq on) through the run writer, draining the ring whenever it is full.
 */
static void
writer_batch(struct shmring_writer *w, struct shmring_reader *rd,
    unsigned char *mem, struct iovec *v, size_t k, uint32_t *seq,
    uint32_t *next)
{
	struct shmring_room	 room;
	size_t			 done = 0, m;
	bool			 drained = false;
	int			 rc;

	while (done < k) {
		CHECK(shmring_room(w, &room) == 0);
		m = shmring_put_run_in(w, &room, v + done, k - done, SIZE_MAX,
		    SIZE_MAX, 0, &rc);
		done += m;
		*seq += (uint32_t)m;
		shmring_publish(w);
		if (rc == 0) {
			CHECK(done == k);
			break;
		}
		CHECK(rc == CHAN_EFULL);
		/* In an empty ring, the next message must fit. */
		CHECK(m > 0 || !drained);
		writer_drain(rd, mem, next, *seq);
		CHECK(shmring_drained(w));
		drained = true;
	}
}

/*
 * Grows the open bundle by one message (numbered *seq), committing it
 * when the ring is full, which must then take it, and after every
 * message whose length ends in three set bits.
 */
static void
writer_add(struct shmring_writer *w, struct shmring_reader *rd,
    unsigned char *mem, const void *p, uint32_t n, uint32_t *seq,
    uint32_t *next, bool unstamped)
{
	uint64_t	head = w->head, sent = w->sent;
	int		rc = 1;

	if (unstamped && (rc = shmring_add_unstamped(w, p, n)) == 1)
		CHECK(w->head == head && w->sent == sent);
	if (rc != 0 && (rc = shmring_add(w, p, n, *seq)) == CHAN_EFULL) {
		shmring_stamp_bundle(w, *seq);
		shmring_publish(w);
		writer_drain(rd, mem, next, *seq);
		CHECK(shmring_drained(w));
		rc = shmring_add(w, p, n, *seq);
	}
	CHECK(rc == 0);
	(*seq)++;
	if ((n & 7) == 7) {
		shmring_stamp_bundle(w, *seq);
		shmring_publish(w);
	}
}

static void
writer(const uint8_t *in, size_t len)
{
	struct shmring_writer	 w;
	struct shmring_reader	 rd;
	static unsigned char	 buf[4][FUZZ_DATA];
	struct iovec		 v[4];
	unsigned char		*mem;
	uint32_t		 want, seq = 0, next = 0;
	size_t			 i, k = 0;
	bool			 single = (in[0] & 0x40) != 0;
	bool			 grown = !single && (in[0] & 0x20) != 0;
	bool			 unstamped = grown && (in[0] & 0x10) != 0;
	int			 rc;

	if ((mem = calloc(1, SHMRING_HDR_SIZE + FUZZ_DATA)) == NULL)
		return;
	shmring_init(mem, FUZZ_DATA, shmring_max_record(FUZZ_DATA));
	CHECK(shmring_attach(&w, mem, SHMRING_HDR_SIZE + FUZZ_DATA) == 0);
	shmring_grant(mem, UINT64_MAX, UINT64_MAX);
	shmring_reader_init(&rd, mem, FUZZ_DATA,
	    shmring_max_record(FUZZ_DATA));
	for (i = 1; i + 2 <= len; i += 2) {
		want = ((uint32_t)in[i] << 8 | in[i + 1]) % (FUZZ_DATA / 2);
		if (want > shmring_max_record(FUZZ_DATA)) {
			CHECK(shmring_put(&w, buf[0], want, 0) ==
			    CHAN_ETOOBIG);
			continue;
		}
		if (grown) {
			memset(buf[0], (int)(seq & 0xff), want);
			writer_add(&w, &rd, mem, buf[0], want, &seq, &next,
			    unstamped);
			continue;
		}
		memset(buf[k], (int)((seq + k) & 0xff), want);
		v[k].iov_base = buf[k];
		v[k].iov_len = want;
		if (++k < (single ? 1 : 4) && i + 4 <= len)
			continue;
		if (single && (rc = shmring_put(&w, buf[0], want, 0)) == 0) {
			seq++;
			k = 0;
			continue;
		}
		writer_batch(&w, &rd, mem, v, k, &seq, &next);
		k = 0;
	}
	if (k > 0)
		writer_batch(&w, &rd, mem, v, k, &seq, &next);
	shmring_publish(&w);
	writer_drain(&rd, mem, &next, seq);
	free(mem);
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	if (len > 0 && (in[0] & 0x80) != 0)
		writer(in, len);
	else
		reader(in, len);
	return (0);
}

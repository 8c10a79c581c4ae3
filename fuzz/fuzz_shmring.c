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
 * can hold. The mapping is one allocation of exactly the header and the
 * data area, so ASan sees any read past it.
 *
 * With the first byte's high bit set the rest drives the writer instead:
 * record lengths (2 bytes each) are put into a fresh ring and read back;
 * the reader must return exactly what was put, in order.
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
	/* Runs find the same records as single reads. */
	runs = reader_runs(mem);
	shmring_reader_init(&rd, mem, FUZZ_DATA,
	    shmring_max_record(FUZZ_DATA));
	if (shmring_poll(&rd, mem) == 0) {
		while ((rc = shmring_next(&rd, &p, &n)) == 1) {
			CHECK(p >= mem + SHMRING_HDR_SIZE + SHMRING_REC_HDR);
			CHECK(p + n <= mem + SHMRING_HDR_SIZE + FUZZ_DATA);
			CHECK(n <= shmring_max_record(FUZZ_DATA));
			CHECK(++got <= FUZZ_DATA / SHMRING_REC_HDR);
			if (got % 3 == 0)
				shmring_release(&rd, mem);
		}
		CHECK(rd.pos <= rd.head);
	}
	CHECK(runs == got);
	free(mem);
}

static void
writer(const uint8_t *in, size_t len)
{
	struct shmring_writer	 w;
	struct shmring_reader	 rd;
	const unsigned char	*p;
	unsigned char		*mem, buf[FUZZ_DATA];
	uint32_t		 n, want, seq = 0, next = 0;
	size_t			 i;
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
		memset(buf, (int)(seq & 0xff), want);
		rc = shmring_put(&w, buf, want, 0);
		if (want > shmring_max_record(FUZZ_DATA)) {
			CHECK(rc == CHAN_ETOOBIG);
			continue;
		}
		if (rc == 0) {
			seq++;
			continue;
		}
		CHECK(rc == CHAN_EFULL);
		/* Drain everything, then the put must succeed. */
		CHECK(shmring_poll(&rd, mem) == 0);
		while ((rc = shmring_next(&rd, &p, &n)) == 1) {
			CHECK(n == 0 || (p[0] == (next & 0xff) &&
			    p[n - 1] == (next & 0xff)));
			next++;
		}
		CHECK(rc == 0 && next == seq);
		shmring_release(&rd, mem);
		CHECK(shmring_put(&w, buf, want, 0) == 0);
		seq++;
	}
	CHECK(shmring_poll(&rd, mem) == 0);
	while ((rc = shmring_next(&rd, &p, &n)) == 1)
		next++;
	CHECK(rc == 0 && next == seq);
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

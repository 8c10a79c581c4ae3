/* SPDX-License-Identifier: MIT */
/*
 * test_shmring.c: unit tests of the shared-memory ring of a producer
 * handle: the producer's writer against the daemon's reader, and the
 * reader against every way a producer can break a ring (a record cut
 * short by its producer's death, scribbled headers and cursors).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chanclient.h"
#include "shmdirect.h"
#include "shmring.h"

#define expect(c)	do {						\
	if (!(c))							\
		ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);	\
} while (0)

#define DATA	4096u

struct ring {
	unsigned char		*mem;
	struct shmring_writer	 w;
	struct shmring_reader	 rd;
};

static void
ring_new(struct ring *r, uint32_t data_size)
{
	r->mem = aligned_alloc(4096, SHMRING_HDR_SIZE + data_size);
	expect(r->mem != NULL);
	memset(r->mem, 0xa5, SHMRING_HDR_SIZE + data_size);
	shmring_init(r->mem, data_size, shmring_max_record(data_size));
	expect(shmring_attach(&r->w, r->mem, SHMRING_HDR_SIZE +
	    data_size) == 0);
	shmring_reader_init(&r->rd, r->mem, data_size,
	    shmring_max_record(data_size));
	shmring_grant(r->mem, UINT64_MAX, UINT64_MAX);
}

static void
ring_free(struct ring *r)
{
	free(r->mem);
}

static uint64_t
u64_at(const struct ring *r, size_t off)
{
	uint64_t	v;

	memcpy(&v, r->mem + off, 8);
	return (v);
}

static uint32_t
u32_at(const struct ring *r, size_t off)
{
	uint32_t	v;

	memcpy(&v, r->mem + off, 4);
	return (v);
}

static void
u64_set(struct ring *r, size_t off, uint64_t v)
{
	memcpy(r->mem + off, &v, 8);
}

static void
u32_set(struct ring *r, size_t off, uint32_t v)
{
	memcpy(r->mem + off, &v, 4);
}

/* One record from the reader: its length, or -1 bad, or -2 none. */
static long
read_one(struct ring *r, unsigned char *out, size_t cap)
{
	const unsigned char	*p;
	uint32_t		 len;
	int			 rc;

	if (shmring_poll(&r->rd, r->mem) != 0)
		return (-1);
	if ((rc = shmring_next(&r->rd, &p, &len)) < 0)
		return (-1);
	if (rc == 0)
		return (-2);
	expect(len <= cap);
	memcpy(out, p, len);
	return ((long)len);
}

/* One message through the batch writer: its *rc, 0 if it was written. */
static int
put_in(struct ring *r, const struct shmring_room *room, const void *p,
    size_t len)
{
	struct iovec	v = { (void *)(uintptr_t)p, len };
	size_t		n;
	int		rc;

	n = shmring_put_run_in(&r->w, room, &v, 1, SIZE_MAX, SIZE_MAX, 0, &rc);
	expect((n == 1) == (rc == 0));
	return (rc);
}

static void
fill(unsigned char *p, uint32_t len, uint32_t seq)
{
	uint32_t	i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seq * 31 + i);
}

START_TEST(test_header_is_checked_on_attach)
{
	struct ring		r;
	struct shmring_writer	w;

	ring_new(&r, DATA);
	expect(u64_at(&r, SHMRING_OFF_HEAD) == 0);
	expect(shmring_attach(&w, r.mem, SHMRING_HDR_SIZE + DATA * 2) == -1);
	expect(shmring_attach(&w, r.mem, SHMRING_HDR_SIZE - 1) == -1);
	u32_set(&r, SHMRING_OFF_MAX_RECORD, DATA);
	expect(shmring_attach(&w, r.mem, SHMRING_HDR_SIZE + DATA) == -1);
	u32_set(&r, SHMRING_OFF_MAX_RECORD, shmring_max_record(DATA));
	u32_set(&r, SHMRING_OFF_DATA_SIZE, DATA + 8);
	expect(shmring_attach(&w, r.mem, SHMRING_HDR_SIZE + DATA + 8) == -1);
	u32_set(&r, SHMRING_OFF_DATA_SIZE, DATA);
	u32_set(&r, SHMRING_OFF_MAGIC, 0);
	expect(shmring_attach(&w, r.mem, SHMRING_HDR_SIZE + DATA) == -1);
	expect(!shmring_valid_sizes(1024, 0));
	expect(shmring_valid_sizes(DATA, shmring_max_record(DATA)));
	ring_free(&r);
}
END_TEST

START_TEST(test_records_come_out_in_order_across_many_wraps)
{
	struct ring	 r;
	unsigned char	 in[2048], out[2048];
	uint32_t	 seq = 0, got = 0, len;
	long		 n;
	int		 i;

	ring_new(&r, DATA);
	srand(7);
	for (i = 0; i < 20000; i++) {
		len = (uint32_t)rand() % (i % 3 == 0 ? 2000u : 40u);
		fill(in, len, seq);
		if (shmring_put(&r.w, in, len, 0) == 0) {
			seq++;
			continue;
		}
		/* Full: the reader drains, checking each, and releases. */
		while ((n = read_one(&r, out, sizeof(out))) >= 0) {
			fill(in, (uint32_t)n, got);
			expect(memcmp(in, out, (size_t)n) == 0);
			got++;
		}
		expect(n == -2);
		shmring_release(&r.rd, r.mem);
		expect(shmring_drained(&r.w));
	}
	while ((n = read_one(&r, out, sizeof(out))) >= 0)
		got++;
	expect(n == -2);
	expect(got == seq && seq > 1000);
	expect(u64_at(&r, SHMRING_OFF_TAKEN) <= seq);
	ring_free(&r);
}
END_TEST

START_TEST(test_full_ring_and_grants_refuse_with_efull)
{
	struct ring	r;
	unsigned char	p[1000], out[2048];
	int		n = 0;

	ring_new(&r, DATA);
	memset(p, 1, sizeof(p));
	while (shmring_put(&r.w, p, sizeof(p), 0) == 0)
		n++;
	expect(n == 4);		/* 4 * 1016 bytes of 4096 */
	expect(shmring_put(&r.w, p, sizeof(p), 0) == CHAN_EFULL);
	expect(shmring_put(&r.w, p, 16, 0) == 0);	/* a small one still fits */
	expect(read_one(&r, out, sizeof(out)) == 1000);
	expect(shmring_put(&r.w, p, sizeof(p), 0) == CHAN_EFULL);
	shmring_release(&r.rd, r.mem);
	/* The small record ended the data area and the first 1016 bytes
	   are free: the record goes to the front, and then the ring is full
	   again. */
	expect(shmring_put(&r.w, p, sizeof(p), 0) == 0);
	expect(shmring_put(&r.w, p, 0, 0) == CHAN_EFULL);
	expect(read_one(&r, out, sizeof(out)) == 1000);
	expect(read_one(&r, out, sizeof(out)) == 1000);
	expect(read_one(&r, out, sizeof(out)) == 1000);
	expect(read_one(&r, out, sizeof(out)) == 16);
	expect(read_one(&r, out, sizeof(out)) == 1000);	/* wrapped */
	expect(read_one(&r, out, sizeof(out)) == -2);
	shmring_release(&r.rd, r.mem);
	expect(shmring_drained(&r.w));

	/* Grants: records and bytes, in all. */
	shmring_grant(r.mem, r.w.sent + 1, UINT64_MAX);
	expect(shmring_put(&r.w, p, 0, 0) == 0);
	expect(shmring_put(&r.w, p, 0, 0) == CHAN_EFULL);
	shmring_grant(r.mem, UINT64_MAX, r.w.sent_bytes + 10);
	expect(shmring_put(&r.w, p, 11, 0) == CHAN_EFULL);
	expect(shmring_put(&r.w, p, 10, 0) == 0);
	expect(shmring_put(&r.w, p, 1, 0) == CHAN_EFULL);
	expect(shmring_put(&r.w, p, shmring_max_record(DATA) + 1, 0) ==
	    CHAN_ETOOBIG);
	/* One wake-up per sleep of the daemon. */
	expect(!shmring_take_wake(&r.w));
	shmring_set_cons_wait(r.mem, 1);
	expect(shmring_take_wake(&r.w));
	expect(!shmring_take_wake(&r.w));
	shmring_close(r.mem, CHAN_EPROTO);
	expect(shmring_put(&r.w, p, 0, 0) == CHAN_ECONNLOST);
	expect(shmring_closed(&r.w) == CHAN_EPROTO);
	ring_free(&r);
}
END_TEST

/* Puts 16-byte records, reading each back, until one is refused: how many. */
static unsigned
put_until_full(struct ring *r)
{
	unsigned char	p[16] = { 0 }, out[16];
	unsigned	n = 0;

	while (shmring_put(&r->w, p, sizeof(p), 0) == 0) {
		expect(read_one(r, out, sizeof(out)) == 16);
		shmring_release(&r->rd, r->mem);
		n++;
	}
	return (n);
}

/*
 * A writer that claims commits only within its claims, and claims its
 * grant a part at a time; shmring_take_back lowers the grant to the
 * claims, never below the floor nor above the grant, whatever the
 * producer wrote in its claim words.
 */
START_TEST(test_claims_bound_the_writer_and_take_back_keeps_them)
{
	struct ring	r;
	uint64_t	msgs, bytes;

	ring_new(&r, DATA);
	shmring_grant(r.mem, 3000, 1u << 20);
	shmring_claim_grants(&r.w);
	expect(u64_at(&r, SHMRING_OFF_CLAIM_MSGS) == 0);
	expect(put_until_full(&r) == 3000);
	/* Claimed a part at a time: the last part is the grant's rest. */
	expect(u64_at(&r, SHMRING_OFF_CLAIM_MSGS) == 3000);
	shmring_grant(r.mem, 6000, 1u << 20);
	expect(shmring_fits(&r.w, 16) == 0);
	expect(u64_at(&r, SHMRING_OFF_CLAIM_MSGS) == 3000 +
	    SHMRING_CLAIM_MSGS);
	expect(u64_at(&r, SHMRING_OFF_CLAIM_BYTES) == 3000 * 16 +
	    SHMRING_CLAIM_BYTES);
	/* Taken back to the claims: the writer stops there. */
	msgs = 6000;
	bytes = 1u << 20;
	shmring_take_back(r.mem, &msgs, &bytes, 3000, 3000 * 16);
	expect(msgs == 3000 + SHMRING_CLAIM_MSGS);
	expect(bytes == 3000 * 16 + SHMRING_CLAIM_BYTES);
	expect(u64_at(&r, SHMRING_OFF_GRANT_MSGS) == msgs);
	expect(u64_at(&r, SHMRING_OFF_GRANT_BYTES) == bytes);
	expect(put_until_full(&r) == SHMRING_CLAIM_MSGS);
	/* Nothing left unclaimed: nothing to take back. */
	shmring_take_back(r.mem, &msgs, &bytes, 0, 0);
	expect(msgs == 3000 + SHMRING_CLAIM_MSGS);
	/* A producer's words bound nothing: the grant, then the floor. */
	u64_set(&r, SHMRING_OFF_CLAIM_MSGS, UINT64_MAX);
	u64_set(&r, SHMRING_OFF_CLAIM_BYTES, UINT64_MAX);
	msgs = 5000;
	bytes = 1u << 20;
	shmring_take_back(r.mem, &msgs, &bytes, 0, 0);
	expect(msgs == 5000 && bytes == 1u << 20);
	u64_set(&r, SHMRING_OFF_CLAIM_MSGS, 0);
	u64_set(&r, SHMRING_OFF_CLAIM_BYTES, 0);
	shmring_take_back(r.mem, &msgs, &bytes, 4000, 100);
	expect(msgs == 4000 && bytes == 100);
	expect(u64_at(&r, SHMRING_OFF_GRANT_MSGS) == 4000);
	ring_free(&r);
}
END_TEST

START_TEST(test_a_record_cut_short_is_never_read)
{
	struct ring	r;
	unsigned char	p[64], out[64];
	uint64_t	head;

	ring_new(&r, DATA);
	memset(p, 2, sizeof(p));
	expect(shmring_put(&r.w, p, 10, 0) == 0);
	/* A producer that dies after writing a record but before its head
	   moved: the header and payload are there, the head is not. */
	head = u64_at(&r, SHMRING_OFF_HEAD);
	expect(shmring_put(&r.w, p, 20, 0) == 0);
	u64_set(&r, SHMRING_OFF_HEAD, head);
	expect(read_one(&r, out, sizeof(out)) == 10);
	expect(read_one(&r, out, sizeof(out)) == -2);
	ring_free(&r);
}
END_TEST

/* A ring with three records and the reader past none of them. */
static void
three(struct ring *r)
{
	unsigned char	p[64];

	ring_new(r, DATA);
	memset(p, 3, sizeof(p));
	expect(shmring_put(&r->w, p, 16, 0) == 0);
	expect(shmring_put(&r->w, p, 64, 0) == 0);
	expect(shmring_put(&r->w, p, 0, 0) == 0);
}

START_TEST(test_scribbled_cursors_are_refused)
{
	struct ring	r;
	unsigned char	out[64];

	three(&r);
	u64_set(&r, SHMRING_OFF_HEAD, 12);		/* not aligned */
	expect(read_one(&r, out, sizeof(out)) == -1);
	ring_free(&r);

	three(&r);
	u64_set(&r, SHMRING_OFF_HEAD, DATA + 8);	/* past the ring */
	expect(read_one(&r, out, sizeof(out)) == -1);
	ring_free(&r);

	three(&r);
	expect(read_one(&r, out, sizeof(out)) == 16);
	u64_set(&r, SHMRING_OFF_HEAD, 0);		/* behind the reader */
	expect(read_one(&r, out, sizeof(out)) == -1);
	ring_free(&r);

	three(&r);
	u64_set(&r, SHMRING_OFF_HEAD, 16);	/* inside the first record */
	expect(read_one(&r, out, sizeof(out)) == -1);
	ring_free(&r);

	/* The daemon's own fields scribbled: it never reads them back. */
	three(&r);
	u64_set(&r, SHMRING_OFF_TAIL, 999999);
	u64_set(&r, SHMRING_OFF_TAKEN, 5);
	expect(read_one(&r, out, sizeof(out)) == 16);
	expect(read_one(&r, out, sizeof(out)) == 64);
	expect(read_one(&r, out, sizeof(out)) == 0);
	expect(read_one(&r, out, sizeof(out)) == -2);
	ring_free(&r);
}
END_TEST

/*
 * shmring_used: the space from the reader's tail to the head the writer
 * published, whether the reader has polled since or not; an impossible
 * head counts as a full ring.
 */
START_TEST(test_used_space_follows_the_writer_s_head)
{
	struct ring	r;
	unsigned char	out[64];

	three(&r);
	expect(shmring_used(&r.rd, r.mem) == 32 + 80 + 16);
	expect(read_one(&r, out, sizeof(out)) == 16);
	shmring_release(&r.rd, r.mem);
	expect(shmring_used(&r.rd, r.mem) == 80 + 16);
	expect(shmring_put(&r.w, out, 16, 0) == 0);
	expect(shmring_used(&r.rd, r.mem) == 80 + 16 + 32);
	u64_set(&r, SHMRING_OFF_HEAD, 16);		/* behind the tail */
	expect(shmring_used(&r.rd, r.mem) == DATA);
	u64_set(&r, SHMRING_OFF_HEAD, 32 + DATA + 8);	/* past the ring */
	expect(shmring_used(&r.rd, r.mem) == DATA);
	u64_set(&r, SHMRING_OFF_HEAD, 32 + 20);		/* not aligned */
	expect(shmring_used(&r.rd, r.mem) == DATA);
	expect(!shmring_writer_fits(&r.rd, r.mem, 0));
	ring_free(&r);
}
END_TEST

/*
 * The daemon's watched word reaches the writer as stored, and each wait
 * the writer begins is counted before prod_wait says it waits: the count
 * by which the daemon knows that a producer it woke has run since.
 */
START_TEST(test_waits_are_counted_and_watched_is_read)
{
	struct ring	r;
	uint32_t	w0;

	ring_new(&r, DATA);
	expect(!shmring_watched(&r.w));
	shmring_set_watched(r.mem, true);
	expect(shmring_watched(&r.w));
	shmring_set_watched(r.mem, false);
	expect(!shmring_watched(&r.w));
	w0 = shmring_waits_begun(r.mem);
	shmring_set_prod_wait(&r.w, SHMRING_WAIT_BATCH);
	expect(shmring_waits_begun(r.mem) == w0 + 1);
	expect(shmring_producer_wait_kind(r.mem) == SHMRING_WAIT_BATCH);
	shmring_set_prod_wait(&r.w, 0);		/* the end of a wait */
	expect(shmring_waits_begun(r.mem) == w0 + 1);
	expect(!shmring_producer_waits(r.mem));
	shmring_set_prod_wait(&r.w, SHMRING_WAIT_EVENTFD);
	expect(shmring_waits_begun(r.mem) == w0 + 2);
	ring_free(&r);
}
END_TEST

/*
 * shmring_writer_fits says what the writer's own put finds: a record
 * that fits in the free space but not before the data area's end needs
 * the padding up to it as well.
 */
START_TEST(test_writer_fits_counts_the_padding)
{
	static unsigned char	p[2032];
	struct ring		r;
	int			i;

	ring_new(&r, DATA);
	for (i = 0; i < 4; i++)		/* 4 x 1016: 32 bytes to the end */
		expect(shmring_put(&r.w, p, 1000, 0) == 0);
	expect(!shmring_writer_fits(&r.rd, r.mem, 1000));
	expect(shmring_fits(&r.w, 1000) == CHAN_EFULL);
	for (i = 0; i < 2; i++)
		expect(read_one(&r, p, sizeof(p)) == 1000);
	shmring_release(&r.rd, r.mem);
	/* 2064 bytes free: 32 of padding, then 2016 fit; 2048 do not. */
	expect(shmring_writer_fits(&r.rd, r.mem, 2000));
	expect(shmring_fits(&r.w, 2000) == 0);
	expect(!shmring_writer_fits(&r.rd, r.mem, 2032));
	expect(shmring_fits(&r.w, 2032) == CHAN_EFULL);
	ring_free(&r);
}
END_TEST

START_TEST(test_scribbled_records_are_refused)
{
	struct ring	r;
	unsigned char	out[64];
	unsigned char	*d;

	three(&r);
	d = r.mem + SHMRING_HDR_SIZE;
	u32_set(&r, SHMRING_HDR_SIZE + 4, 0);		/* commit word */
	expect(read_one(&r, out, sizeof(out)) == -1);
	ring_free(&r);

	three(&r);
	/* The second record's commit word is the first's. */
	u32_set(&r, SHMRING_HDR_SIZE + shmring_rec_size(16) + 4,
	    shmring_commit_word(0));
	expect(read_one(&r, out, sizeof(out)) == 16);
	expect(read_one(&r, out, sizeof(out)) == -1);
	ring_free(&r);

	three(&r);
	u32_set(&r, SHMRING_HDR_SIZE, 200);	/* runs past the head */
	expect(read_one(&r, out, sizeof(out)) == -1);
	ring_free(&r);

	three(&r);
	u32_set(&r, SHMRING_HDR_SIZE, shmring_max_record(DATA) + 1);
	u64_set(&r, SHMRING_OFF_HEAD, DATA);
	expect(read_one(&r, out, sizeof(out)) == -1);
	ring_free(&r);

	three(&r);
	u32_set(&r, SHMRING_HDR_SIZE, SHMRING_PAD);	/* padding too long */
	expect(read_one(&r, out, sizeof(out)) == -1);
	ring_free(&r);

	/* A record that would run off the end of the data area. */
	ring_new(&r, DATA);
	u64_set(&r, SHMRING_OFF_HEAD, DATA);
	u32_set(&r, SHMRING_HDR_SIZE, DATA - 16);
	u32_set(&r, SHMRING_HDR_SIZE + 4, shmring_commit_word(0));
	expect(read_one(&r, out, sizeof(out)) == -1);
	(void)d;
	ring_free(&r);
}
END_TEST

/* A peek shows the next record and its stamp without taking it. */
START_TEST(test_peek_shows_the_stamp_and_takes_nothing)
{
	struct ring		 r;
	const unsigned char	*p;
	uint32_t		 len;
	uint64_t		 stamp;

	ring_new(&r, DATA);
	expect(shmring_put(&r.w, "ab", 2, 5) == 0);
	expect(shmring_put(&r.w, "cde", 3, 7) == 0);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_peek(&r.rd, &p, &len, &stamp) == 1);
	expect(len == 2 && stamp == 5 && memcmp(p, "ab", 2) == 0);
	expect(shmring_peek(&r.rd, &p, &len, &stamp) == 1);
	expect(len == 2 && stamp == 5);
	shmring_skip(&r.rd);
	expect(shmring_peek(&r.rd, &p, &len, &stamp) == 1);
	expect(len == 3 && stamp == 7 && memcmp(p, "cde", 3) == 0);
	shmring_skip(&r.rd);
	expect(shmring_peek(&r.rd, &p, &len, &stamp) == 0);
	expect(r.rd.taken == 2);
	ring_free(&r);
}
END_TEST

START_TEST(test_a_lone_ring_needs_no_stamps)
{
	struct ring	r;

	ring_new(&r, DATA);
	/* A daemon that says nothing gets stamps. */
	expect(shmring_stamp_needed(&r.w));
	shmring_set_alone(r.mem, true);
	expect(u32_at(&r, SHMRING_OFF_ALONE) == 1);
	expect(!shmring_stamp_needed(&r.w));
	shmring_set_alone(r.mem, false);
	expect(shmring_stamp_needed(&r.w));
	/* cons_wait, as a reader that clears it first looks at it. */
	expect(!shmring_cons_waits(r.mem));
	shmring_set_cons_wait(r.mem, 1);
	expect(shmring_cons_waits(r.mem));
	shmring_set_cons_wait(r.mem, 0);
	expect(!shmring_cons_waits(r.mem));
	/* Only 1 means alone: a scribbled word asks for stamps. */
	u32_set(&r, SHMRING_OFF_ALONE, 7);
	expect(shmring_stamp_needed(&r.w));
	ring_free(&r);
}
END_TEST

/*
 * A direct reader's page: claims move the control word and the slot it
 * names, with every ring's end; after a revocation the daemon reads
 * exactly the last claim and every later claim fails; acknowledgements
 * and the wake words.
 */
START_TEST(test_direct_claims_and_revocation)
{
	static uint64_t		 page[SHMDIRECT_SIZE / 8];
	struct shmdirect_claimer cl;
	struct shmdirect_claim	 start = { 0 }, next, got;
	uint64_t		 run[2];

	start.seq = 10;
	start.pos[0] = 4096;
	start.rec[0] = 3;
	start.pos[1] = 64;
	start.rec[1] = 1;
	shmdirect_init(page, 2, &start);
	expect(shmdirect_claimer_attach(&cl, page, 100) == -1);
	expect(shmdirect_claimer_attach(&cl, page, sizeof(page)) == 0);
	expect(cl.nrings == 2 && cl.at.seq == 10 && cl.at.runs == 0);
	expect(cl.at.pos[0] == 4096 && cl.at.rec[0] == 3);
	expect(cl.at.pos[1] == 64 && cl.at.rec[1] == 1);
	expect(shmdirect_claimed(page, &got) == 0);
	expect(got.seq == 10 && got.runs == 0 && got.pos[1] == 64);
	expect(shmdirect_acked(page) == 0);
	expect(shmdirect_log_room(&cl) == SHMDIRECT_LOG_CAP);
	/* Two from ring 0, then one from ring 1. */
	next = cl.at;
	next.seq = 13;
	next.pos[0] = 4160;
	next.rec[0] = 5;
	next.pos[1] = 128;
	next.rec[1] = 2;
	run[0] = SHMDIRECT_RUN(0, 2);
	run[1] = SHMDIRECT_RUN(1, 1);
	expect(shmdirect_claim(&cl, &next, run, 2));
	expect(cl.at.runs == 2 && shmdirect_log_room(&cl) ==
	    SHMDIRECT_LOG_CAP - 2);
	next.seq = 15;
	next.pos[1] = 192;
	next.rec[1] = 4;
	run[0] = SHMDIRECT_RUN(1, 2);
	expect(shmdirect_claim(&cl, &next, run, 1));
	expect(shmdirect_claimed(page, &got) == 0);
	expect(got.seq == 15 && got.runs == 3 && got.pos[0] == 4160 &&
	    got.rec[0] == 5 && got.pos[1] == 192 && got.rec[1] == 4);
	expect(shmdirect_run(page, 0) == SHMDIRECT_RUN(0, 2));
	expect(SHMDIRECT_RUN_RING(shmdirect_run(page, 2)) == 1 &&
	    SHMDIRECT_RUN_COUNT(shmdirect_run(page, 2)) == 2);
	/* The daemon frees entries: the consumer may write them again. */
	shmdirect_set_freed(page, 2);
	expect(shmdirect_log_room(&cl) == SHMDIRECT_LOG_CAP - 1);
	/* Acknowledged: the daemon did not ask to be told. */
	expect(!shmdirect_ack(&cl, 12));
	expect(shmdirect_acked(page) == 12);
	shmdirect_want_ack(page, 0);
	expect(shmdirect_ack(&cl, 13));
	expect(!shmdirect_ack(&cl, 13));
	/* With a goal, only the acknowledgement that reaches it wakes. */
	shmdirect_want_ack(page, 15);
	expect(!shmdirect_ack(&cl, 14));
	expect(shmdirect_acked(page) == 14);
	expect(shmdirect_ack(&cl, 15));
	expect(!shmdirect_ack(&cl, 15));
	expect(!shmdirect_take_wait(page));
	shmdirect_set_wait(&cl, SHMDIRECT_WAIT_WAKE);
	expect(shmdirect_take_wait(page) == SHMDIRECT_WAIT_WAKE);
	expect(!shmdirect_take_wait(page));
	/* A claim the consumer begins writes the other slot: not read. */
	page[SHMDIRECT_OFF_SLOT1 / 8] = 9999;
	shmdirect_revoke(page, &got);
	expect(got.seq == 15 && got.runs == 3 && got.pos[1] == 192);
	expect(shmdirect_revoked(&cl));
	next.seq = 16;
	expect(!shmdirect_claim(&cl, &next, run, 1));
	expect(cl.at.seq == 15 && cl.at.runs == 3);
	shmdirect_revoke(page, &got);
	expect(got.seq == 15 && got.runs == 3);
	/* A page of another version, or of too many rings, is refused. */
	shmdirect_init(page, SHMDIRECT_MAX_RINGS + 1, &start);
	expect(shmdirect_claimer_attach(&cl, page, sizeof(page)) == -1);
}
END_TEST

/*
 * A merge's run stops before a message stamped after its limit, whether
 * a record or a bundle; a stamp after t1 counts as t0.
 */
START_TEST(test_take_run_until_stops_at_the_limit)
{
	struct ring		 r;
	struct shmring_rec	 rec[16];
	struct shmring_window	 w = { 100, 200, 25 };
	size_t			 bytes;

	ring_new(&r, 4096);
	expect(shmring_put(&r.w, "a", 1, 10) == 0);
	expect(shmring_put(&r.w, "b", 1, 20) == 0);
	expect(shmring_put(&r.w, "c", 1, 30) == 0);
	expect(shmring_add(&r.w, "d", 1, 40) == 0);
	expect(shmring_add(&r.w, "e", 1, 40) == 0);
	shmring_publish(&r.w);
	expect(shmring_put(&r.w, "f", 1, 999) == 0);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_take_run_until(&r.rd, rec, 16, SIZE_MAX, &w,
	    &bytes) == 2 && bytes == 2);
	expect(rec[0].p[0] == 'a' && rec[1].p[0] == 'b');
	w.limit = 35;
	expect(shmring_take_run_until(&r.rd, rec, 16, SIZE_MAX, &w,
	    &bytes) == 1 && bytes == 1);
	expect(rec[0].p[0] == 'c');
	/* The bundle's stamp is 40: after the limit, nothing. */
	expect(shmring_take_run_until(&r.rd, rec, 16, SIZE_MAX, &w,
	    &bytes) == 0 && bytes == 0);
	w.limit = 50;
	expect(shmring_take_run_until(&r.rd, rec, 16, SIZE_MAX, &w,
	    &bytes) == 2 && bytes == 2);
	expect(rec[0].p[0] == 'd' && rec[1].p[0] == 'e');
	/* 999 is after t1: it counts as t0 (100). */
	expect(shmring_take_run_until(&r.rd, rec, 16, SIZE_MAX, &w,
	    &bytes) == 0);
	w.limit = 100;
	expect(shmring_take_run_until(&r.rd, rec, 16, SIZE_MAX, &w,
	    &bytes) == 1 && bytes == 1);
	expect(rec[0].p[0] == 'f');
	ring_free(&r);
}
END_TEST

START_TEST(test_held_records_wait_for_publish)
{
	struct ring		 r;
	const unsigned char	*p;
	uint32_t		 len;

	ring_new(&r, DATA);
	expect(shmring_put2_held(&r.w, "ab", 2, "c", 1, 0) == 0);
	expect(shmring_put2_held(&r.w, "de", 2, NULL, 0, 0) == 0);
	/* Written, not committed: the reader sees nothing yet. */
	expect(u64_at(&r, SHMRING_OFF_HEAD) == 0);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_next(&r.rd, &p, &len) == 0);
	shmring_publish(&r.w);
	expect(u64_at(&r, SHMRING_OFF_SENT) == 2);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_next(&r.rd, &p, &len) == 1);
	expect(len == 3 && memcmp(p, "abc", 3) == 0);
	expect(shmring_next(&r.rd, &p, &len) == 1);
	expect(len == 2 && memcmp(p, "de", 2) == 0);
	/* A plain put commits what was held before it too. */
	expect(shmring_put2_held(&r.w, "f", 1, NULL, 0, 0) == 0);
	expect(shmring_put(&r.w, "g", 1, 0) == 0);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1 && *p == 'f');
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1 && *p == 'g');
	ring_free(&r);
}
END_TEST

/*
 * The batch writer and reader: runs across many wraps come out as they
 * went in; a run stops at its byte budget, at a message over the limit
 * or without its data, and where the room ends; a bad record ends a
 * reader's run after the good ones before it.
 */
START_TEST(test_runs_write_and_read_as_single_records_do)
{
	struct ring		 r;
	struct shmring_room	 room;
	struct shmring_rec	 rec[64];
	struct iovec		 v[64];
	unsigned char		 in[64][300], want[300];
	uint32_t		 seq = 0, got = 0;
	int64_t			 k, j;
	size_t			 i, n;
	int			 rc, lap;

	ring_new(&r, DATA);
	shmring_grant(r.mem, UINT64_MAX, UINT64_MAX);
	srand(11);
	for (lap = 0; lap < 2000; lap++) {
		for (i = 0; i < 64; i++) {
			v[i].iov_len = (size_t)rand() % 300;
			fill(in[i], (uint32_t)v[i].iov_len, seq + (uint32_t)i);
			v[i].iov_base = in[i];
		}
		expect(shmring_room(&r.w, &room) == 0);
		n = shmring_put_run_in(&r.w, &room, v, 64, SIZE_MAX, SIZE_MAX,
		    0, &rc);
		expect(n == 64 ? rc == 0 : rc == CHAN_EFULL);
		seq += (uint32_t)n;
		shmring_publish(&r.w);
		expect(shmring_poll(&r.rd, r.mem) == 0);
		while ((k = shmring_take_run(&r.rd, rec, 64, SIZE_MAX)) > 0)
			for (j = 0; j < k; j++, got++) {
				fill(want, rec[j].len, got);
				expect(memcmp(want, rec[j].p, rec[j].len) == 0);
			}
		expect(k == 0);
		shmring_release(&r.rd, r.mem);
	}
	expect(got == seq && seq > 20000);

	/* Stops: budget, limit, no data; the room's end is above. */
	expect(shmring_room(&r.w, &room) == 0);
	for (i = 0; i < 4; i++) {
		v[i].iov_base = in[i];
		v[i].iov_len = 100;
	}
	expect(shmring_put_run_in(&r.w, &room, v, 4, SIZE_MAX, 150, 0, &rc)
	    == 2 && rc == 0);
	v[1].iov_len = 101;
	expect(shmring_put_run_in(&r.w, &room, v, 4, 100, SIZE_MAX, 0, &rc)
	    == 1 && rc == CHAN_ETOOBIG);
	v[1].iov_base = NULL;
	expect(shmring_put_run_in(&r.w, &room, v, 4, SIZE_MAX, SIZE_MAX, 0,
	    &rc) == 1 && rc == CHAN_EINVAL);
	shmring_publish(&r.w);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	/* The reader's budget: a run ends once its payloads reach it. */
	expect(shmring_take_run(&r.rd, rec, 64, 150) == 2);
	expect(shmring_take_run(&r.rd, rec, 64, SIZE_MAX) == 2);
	ring_free(&r);

	/* A bad record: the good ones before it, then -1. */
	three(&r);
	u32_set(&r, SHMRING_HDR_SIZE + shmring_rec_size(16) + 4,
	    shmring_commit_word(0));
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_take_run(&r.rd, rec, 64, SIZE_MAX) == 1);
	expect(shmring_take_run(&r.rd, rec, 64, SIZE_MAX) == -1);
	ring_free(&r);
}
END_TEST

/*
 * A batch writer's room, read once: the grant and the ring's tail as they
 * were, so it is used up before the daemon's later grant or release is
 * seen; read again, they are. A closed ring has no room.
 */
START_TEST(test_room_read_once_bounds_a_batch)
{
	struct ring		 r;
	struct shmring_room	 room;
	unsigned char		 p[1000], out[2048];

	ring_new(&r, DATA);
	memset(p, 2, sizeof(p));
	shmring_grant(r.mem, 2, UINT64_MAX);
	expect(shmring_room(&r.w, &room) == 0);
	expect(put_in(&r, &room, p, 10) == 0);
	expect(put_in(&r, &room, p, 10) == 0);
	expect(put_in(&r, &room, p, 10) ==
	    CHAN_EFULL);
	/* A later grant is not in the room read before it. */
	shmring_grant(r.mem, UINT64_MAX, UINT64_MAX);
	expect(put_in(&r, &room, p, 10) ==
	    CHAN_EFULL);
	expect(shmring_room(&r.w, &room) == 0);
	/* 2 * 24 bytes used: three records of 1016 more fit, not four. */
	expect(put_in(&r, &room, p, sizeof(p))
	    == 0);
	expect(put_in(&r, &room, p, sizeof(p))
	    == 0);
	expect(put_in(&r, &room, p, sizeof(p))
	    == 0);
	expect(put_in(&r, &room, p, sizeof(p))
	    == CHAN_EFULL);
	expect(put_in(&r, &room, p, shmring_max_record(DATA) + 1) == CHAN_ETOOBIG);
	shmring_publish(&r.w);
	/* Space the reader releases is seen once the room is read again. */
	expect(read_one(&r, out, sizeof(out)) == 10);
	expect(read_one(&r, out, sizeof(out)) == 10);
	expect(read_one(&r, out, sizeof(out)) == 1000);
	shmring_release(&r.rd, r.mem);
	expect(put_in(&r, &room, p, sizeof(p))
	    == CHAN_EFULL);
	expect(shmring_room(&r.w, &room) == 0);
	expect(put_in(&r, &room, p, sizeof(p))
	    == 0);
	shmring_publish(&r.w);
	expect(read_one(&r, out, sizeof(out)) == 1000);
	expect(read_one(&r, out, sizeof(out)) == 1000);
	expect(read_one(&r, out, sizeof(out)) == 1000);
	expect(read_one(&r, out, sizeof(out)) == -2);
	shmring_close(r.mem, CHAN_ELIMIT);
	expect(shmring_room(&r.w, &room) == CHAN_ECONNLOST);
	ring_free(&r);
}
END_TEST


/*
 * Bundles. bundle3 puts "ab", "cde" and "" as one run stamped 42: one
 * bundle record at offset 0 of the data area, with a body of the count,
 * the bytes and three frames (8, 8 and 4 bytes): 28 bytes, 48 in all.
 */
#define B_REC		SHMRING_HDR_SIZE		/* the record */
#define B_BODY		(B_REC + SHMRING_REC_HDR)	/* count, bytes */
#define B_FRAME(i)	(B_BODY + SHMRING_BUNDLE_HDR + 8 * (i))

static void
bundle3(struct ring *r)
{
	struct shmring_room	 room;
	struct iovec		 v[3] = { { "ab", 2 }, { "cde", 3 }, { "", 0 } };
	int			 rc;

	ring_new(r, DATA);
	expect(shmring_room(&r->w, &room) == 0);
	expect(shmring_put_run_in(&r->w, &room, v, 3, SIZE_MAX, SIZE_MAX, 42,
	    &rc) == 3 && rc == 0);
	shmring_publish(&r->w);
}

/* Reads messages until none or a bad one: how many; *bad if bad. */
static int
read_all(struct ring *r, int *bad)
{
	unsigned char	out[64];
	long		n;
	int		k = 0;

	while ((n = read_one(r, out, sizeof(out))) >= 0)
		k++;
	*bad = n == -1;
	return (k);
}

START_TEST(test_a_run_goes_as_one_bundle)
{
	struct ring		 r;
	const unsigned char	*p;
	uint64_t		 stamp;
	uint32_t		 len;

	bundle3(&r);
	expect(u32_at(&r, SHMRING_OFF_FLAGS) == SHMRING_FLAG_BUNDLES);
	expect(u32_at(&r, B_REC) == (SHMRING_BUNDLE | 28));
	expect(u32_at(&r, B_REC + 4) == shmring_commit_word(0));
	expect(u64_at(&r, B_REC + 8) == 42);
	expect(u32_at(&r, B_BODY) == 3 && u32_at(&r, B_BODY + 4) == 5);
	expect(u32_at(&r, B_FRAME(0)) == 2 &&
	    memcmp(r.mem + B_FRAME(0) + 4, "ab", 2) == 0);
	expect(u32_at(&r, B_FRAME(1)) == 3 &&
	    memcmp(r.mem + B_FRAME(1) + 4, "cde", 3) == 0);
	expect(u32_at(&r, B_FRAME(2)) == 0);
	expect(u64_at(&r, SHMRING_OFF_HEAD) == 48);
	expect(u64_at(&r, SHMRING_OFF_SENT) == 3);
	expect(u64_at(&r, SHMRING_OFF_SENT_BYTES) == 5);

	/* Out one by one, each with the bundle's stamp. */
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_peek(&r.rd, &p, &len, &stamp) == 1 && len == 2 &&
	    memcmp(p, "ab", 2) == 0 && stamp == 42);
	expect(!shmring_at_record(&r.rd));
	shmring_skip(&r.rd);
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 3 &&
	    memcmp(p, "cde", 3) == 0);
	/* Released within it: the rest stays the reader's. */
	shmring_release(&r.rd, r.mem);
	expect(u64_at(&r, SHMRING_OFF_TAIL) < 48);
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 0);
	expect(shmring_at_record(&r.rd) && r.rd.pos == 48 && r.rd.taken == 3);
	expect(shmring_next(&r.rd, &p, &len) == 0);

	/* The next record's commit word counts messages, not records. */
	expect(shmring_put(&r.w, "f", 1, 0) == 0);
	expect(u32_at(&r, B_REC + 48 + 4) == shmring_commit_word(3));
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1 && *p == 'f');
	ring_free(&r);

	/* A reader that does not say it takes bundles gets records. */
	ring_new(&r, DATA);
	u32_set(&r, SHMRING_OFF_FLAGS, 0);
	expect(shmring_attach(&r.w, r.mem, SHMRING_HDR_SIZE + DATA) == 0);
	{
		struct shmring_room	room;
		struct iovec		v[2] = { { "ab", 2 }, { "c", 1 } };
		int			rc;

		expect(shmring_room(&r.w, &room) == 0);
		expect(shmring_put_run_in(&r.w, &room, v, 2, SIZE_MAX,
		    SIZE_MAX, 0, &rc) == 2 && rc == 0);
	}
	expect(u32_at(&r, B_REC) == 2);
	expect(u32_at(&r, B_REC + shmring_rec_size(2)) == 1);
	ring_free(&r);
}
END_TEST

/*
 * A bundle's header and frames are the producer's word: each lie is
 * refused, after the messages before it that were whole.
 */
START_TEST(test_scribbled_bundles_are_refused)
{
	struct ring	r;
	int		bad;

	/* The untouched bundle reads whole. */
	bundle3(&r);
	expect(read_all(&r, &bad) == 3 && !bad);
	ring_free(&r);

	bundle3(&r);
	u32_set(&r, B_BODY, 0);				/* no message */
	expect(read_all(&r, &bad) == 0 && bad);
	ring_free(&r);

	bundle3(&r);
	u32_set(&r, B_BODY, 6);				/* more than fit */
	expect(read_all(&r, &bad) == 0 && bad);
	ring_free(&r);

	bundle3(&r);
	u32_set(&r, B_BODY, 2);				/* fewer than there are */
	expect(read_all(&r, &bad) == 0 && bad);
	ring_free(&r);

	bundle3(&r);
	u32_set(&r, B_BODY + 4, 6);			/* a byte more */
	expect(read_all(&r, &bad) == 2 && bad);
	ring_free(&r);

	bundle3(&r);
	u32_set(&r, B_FRAME(1), 100);			/* past the body */
	expect(read_all(&r, &bad) == 1 && bad);
	ring_free(&r);

	bundle3(&r);
	u32_set(&r, B_FRAME(1), 4);			/* past the bytes */
	expect(read_all(&r, &bad) == 1 && bad);
	ring_free(&r);

	bundle3(&r);					/* past the head */
	u32_set(&r, B_REC, SHMRING_BUNDLE | 36);
	expect(read_all(&r, &bad) == 0 && bad);
	ring_free(&r);

	bundle3(&r);					/* over max_record */
	u32_set(&r, B_REC, SHMRING_BUNDLE | (shmring_max_record(DATA) + 8));
	expect(read_all(&r, &bad) == 0 && bad);
	ring_free(&r);

	bundle3(&r);					/* no room for its header */
	u32_set(&r, B_REC, SHMRING_BUNDLE | 4);
	expect(read_all(&r, &bad) == 0 && bad);
	ring_free(&r);

	bundle3(&r);
	u32_set(&r, B_REC + 4, shmring_commit_word(1));	/* commit word */
	expect(read_all(&r, &bad) == 0 && bad);
	ring_free(&r);
}
END_TEST

/*
 * Runs end where bundles do when they can: a run with messages stops
 * before a bundle it cannot take whole (by count or by budget); one that
 * starts on it takes it whole past its budget, and part of it past its
 * count. shmring_skip_bundle takes whole bundles from their headers.
 */
START_TEST(test_runs_and_skips_keep_to_bundles)
{
	struct ring		 r;
	struct shmring_room	 room;
	struct shmring_rec	 rec[8];
	struct iovec		 v[3] = { { "ab", 2 }, { "cde", 3 }, { "", 0 } };
	uint64_t		 msgs, bytes;
	int			 rc;

	bundle3(&r);
	expect(shmring_put(&r.w, "x", 1, 0) == 0);
	expect(shmring_room(&r.w, &room) == 0);
	expect(shmring_put_run_in(&r.w, &room, v, 3, SIZE_MAX, SIZE_MAX, 0,
	    &rc) == 3);
	shmring_publish(&r.w);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	/* 3 + 1 fit in 5; the next bundle of 3 does not: it waits. */
	expect(shmring_take_run(&r.rd, rec, 5, SIZE_MAX) == 4);
	expect(rec[3].len == 1 && rec[3].p[0] == 'x');
	/* Alone, it is taken in part. */
	expect(shmring_take_run(&r.rd, rec, 2, SIZE_MAX) == 2);
	expect(rec[1].len == 3 && memcmp(rec[1].p, "cde", 3) == 0);
	expect(shmring_take_run(&r.rd, rec, 8, SIZE_MAX) == 1);
	expect(shmring_at_record(&r.rd) && r.rd.taken == 7);

	/* By budget too: a run that starts on a bundle takes it whole. */
	shmring_reader_init(&r.rd, r.mem, DATA, shmring_max_record(DATA));
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(!shmring_next_whole(&r.rd, 2, SIZE_MAX));
	expect(!shmring_next_whole(&r.rd, 3, 4));
	expect(shmring_next_whole(&r.rd, 3, 5));
	expect(shmring_take_run(&r.rd, rec, 8, 3) == 3);
	expect(shmring_next_whole(&r.rd, 1, 0));	/* "x", a record */
	expect(shmring_at_record(&r.rd) && r.rd.taken == 3);
	/* "x" fits in 3; the bundle after it, of 5 bytes, waits. */
	expect(shmring_take_run(&r.rd, rec, 8, 3) == 1);
	expect(shmring_take_run(&r.rd, rec, 8, 3) == 3);
	expect(shmring_at_record(&r.rd) && r.rd.taken == 7);

	/* The same ring again, skipped from the headers. */
	shmring_reader_init(&r.rd, r.mem, DATA, shmring_max_record(DATA));
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_skip_bundle(&r.rd, 2, &msgs, &bytes) == 0);
	expect(shmring_skip_bundle(&r.rd, 3, &msgs, &bytes) == 1 &&
	    msgs == 3 && bytes == 5 && r.rd.taken == 3);
	expect(shmring_skip_bundle(&r.rd, 3, &msgs, &bytes) == 0);   /* "x" */
	expect(shmring_take_run(&r.rd, rec, 2, SIZE_MAX) == 1);	/* x */
	expect(shmring_take_run(&r.rd, rec, 1, SIZE_MAX) == 1);	/* ab */
	/* Within a bundle: the rest of it, if it is no more than max. */
	expect(shmring_skip_bundle(&r.rd, 1, &msgs, &bytes) == 0);
	expect(shmring_skip_bundle(&r.rd, 2, &msgs, &bytes) == 1 &&
	    msgs == 2 && bytes == 3);
	expect(shmring_at_record(&r.rd) && r.rd.taken == 7 &&
	    r.rd.pos == r.rd.head);
	expect(shmring_skip_bundle(&r.rd, 8, &msgs, &bytes) == 0);

	/* A bad header is refused. */
	u32_set(&r, B_BODY, 0);
	shmring_reader_init(&r.rd, r.mem, DATA, shmring_max_record(DATA));
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_skip_bundle(&r.rd, 8, &msgs, &bytes) == -1);
	ring_free(&r);
}
END_TEST

/* A bundle of the n messages of v, lengths as given, at the ring's start. */
static void
bundle_of(struct ring *r, const size_t *lens, size_t n)
{
	static const char	 bytes[] = "0123456789abcdefghijklmnopqrstuv";
	struct shmring_room	 room;
	struct iovec		 v[8];
	size_t			 i;
	int			 rc;

	ring_new(r, DATA);
	for (i = 0; i < n; i++) {
		v[i].iov_base = (void *)(uintptr_t)(bytes + i);
		v[i].iov_len = lens[i];
	}
	expect(shmring_room(&r->w, &room) == 0);
	expect(shmring_put_run_in(&r->w, &room, v, n, SIZE_MAX, SIZE_MAX, 0,
	    &rc) == n && rc == 0);
	shmring_publish(&r->w);
	expect(shmring_poll(&r->rd, r->mem) == 0);
}

/* Whether rec holds message i of bundle_of's, of len bytes. */
static bool
rec_is(const struct shmring_rec *rec, size_t i, size_t len)
{
	static const char	bytes[] = "0123456789abcdefghijklmnopqrstuv";

	return (rec->len == len && memcmp(rec->p, bytes + i, len) == 0);
}

/*
 * A bundle whose header says "all of one length" is read at a stride
 * (shmring_take_uniform), within max and budget as any run; one of mixed
 * lengths with the same figures is read frame by frame from the first
 * that differs, and a frame scribbled over still stops the run there.
 */
START_TEST(test_bundles_of_one_length_read_at_a_stride)
{
	static const size_t	 six[6] = { 16, 16, 16, 16, 16, 16 };
	static const size_t	 mixed[4] = { 15, 15, 14, 16 };
	struct shmring_rec	 rec[8];
	struct ring		 r;
	size_t			 i;
	int			 bad;

	bundle_of(&r, six, 6);
	expect(shmring_take_run(&r.rd, rec, 4, SIZE_MAX) == 4);
	for (i = 0; i < 4; i++)
		expect(rec_is(&rec[i], i, 16));
	/* A frame is taken while under budget, as frame by frame. */
	expect(shmring_take_run(&r.rd, rec, 8, 16) == 1);
	expect(rec_is(&rec[0], 4, 16));
	expect(shmring_take_run(&r.rd, rec, 8, 1) == 1);
	expect(rec_is(&rec[0], 5, 16));
	expect(shmring_at_record(&r.rd) && r.rd.taken == 6 &&
	    r.rd.pos == r.rd.head);
	ring_free(&r);

	/* 60 bytes in 4: 15 each, framed in 20 bytes, as 14 and 16 are. */
	bundle_of(&r, mixed, 4);
	expect(shmring_take_run(&r.rd, rec, 8, SIZE_MAX) == 4);
	for (i = 0; i < 4; i++)
		expect(rec_is(&rec[i], i, mixed[i]));
	expect(shmring_at_record(&r.rd) && r.rd.taken == 4);
	ring_free(&r);

	/*
	 * 15 for the third's 16: read on frame by frame, the bytes no
	 * longer add up at the last, and the run ends before it.
	 */
	bundle_of(&r, six, 6);
	u32_set(&r, B_BODY + SHMRING_BUNDLE_HDR + 20 * 2, 15);
	expect(shmring_take_run(&r.rd, rec, 8, SIZE_MAX) == 5);
	expect(rec_is(&rec[1], 1, 16) && rec_is(&rec[2], 2, 15) &&
	    rec_is(&rec[4], 4, 16));
	expect(shmring_take_run(&r.rd, rec, 8, SIZE_MAX) == -1);
	ring_free(&r);
	bundle_of(&r, six, 6);
	u32_set(&r, B_BODY + SHMRING_BUNDLE_HDR + 20 * 1, 100);
	expect(read_all(&r, &bad) == 1 && bad);
	ring_free(&r);
}
END_TEST

/*
 * Where a bundle of two does not fit before the data area's end but one
 * frame would, the run writer's first message goes as a record, over the
 * frame it wrote there; the next, with no room for a record, goes as one
 * after padding, and the rest as a bundle after it.
 */
START_TEST(test_a_run_at_the_end_goes_as_records_then_a_bundle)
{
	static const char	 m[4][17] = { "0123456789abcdef",
	    "ghijklmnopqrstuv", "wxyzABCDEFGHIJKL", "MNOPQRSTUVWXYZ01" };
	static const char	 big[984];
	struct shmring_room	 room;
	struct shmring_rec	 rec[8];
	struct iovec		 v[4];
	struct ring		 r;
	size_t			 i;
	int			 rc;

	ring_new(&r, DATA);
	/* Records to 4040: 56 bytes left, room for 32 but not 48. */
	for (i = 0; i < 4; i++)
		expect(shmring_put(&r.w, big, 984, 0) == 0);
	expect(shmring_put(&r.w, big, 24, 0) == 0);
	expect(u64_at(&r, SHMRING_OFF_HEAD) == 4040);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	while (shmring_take_run(&r.rd, rec, 8, SIZE_MAX) > 0)
		;
	shmring_release(&r.rd, r.mem);

	for (i = 0; i < 4; i++) {
		v[i].iov_base = (void *)(uintptr_t)m[i];
		v[i].iov_len = 16;
	}
	expect(shmring_room(&r.w, &room) == 0);
	expect(shmring_put_run_in(&r.w, &room, v, 4, SIZE_MAX, SIZE_MAX, 7,
	    &rc) == 4 && rc == 0);
	shmring_publish(&r.w);
	expect(u32_at(&r, SHMRING_HDR_SIZE + 4040) == 16);
	expect(u32_at(&r, SHMRING_HDR_SIZE + 4040 + 4) ==
	    shmring_commit_word(5));
	expect(u32_at(&r, SHMRING_HDR_SIZE + 4072) == SHMRING_PAD);
	expect(u32_at(&r, B_REC) == 16);
	expect(u32_at(&r, B_REC + 32) == (SHMRING_BUNDLE | 48));
	expect(u32_at(&r, B_REC + 32 + 4) == shmring_commit_word(7));
	expect(u64_at(&r, SHMRING_OFF_HEAD) == 4096 + 32 + 64);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_take_run(&r.rd, rec, 8, SIZE_MAX) == 4);
	for (i = 0; i < 4; i++)
		expect(rec[i].len == 16 && memcmp(rec[i].p, m[i], 16) == 0);
	ring_free(&r);
}
END_TEST

/*
 * Pipelined sends grow one bundle message by message (shmring_add): the
 * same bytes as the run writer's, stamped with the last message's stamp,
 * committed only by shmring_publish; any other write closes it first.
 */
START_TEST(test_added_messages_grow_one_bundle)
{
	struct ring		 r;
	const unsigned char	*p;
	uint32_t		 len;

	ring_new(&r, DATA);
	expect(shmring_add(&r.w, "ab", 2, 1) == 0);
	expect(shmring_add(&r.w, "cde", 3, 2) == 0);
	expect(shmring_add(&r.w, "", 0, 42) == 0);
	/* Written, not committed: the reader sees nothing. */
	expect(u64_at(&r, SHMRING_OFF_HEAD) == 0);
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_next(&r.rd, &p, &len) == 0);
	shmring_publish(&r.w);
	expect(u32_at(&r, B_REC) == (SHMRING_BUNDLE | 28));
	expect(u32_at(&r, B_REC + 4) == shmring_commit_word(0));
	expect(u64_at(&r, B_REC + 8) == 42);
	expect(u32_at(&r, B_BODY) == 3 && u32_at(&r, B_BODY + 4) == 5);
	expect(u32_at(&r, B_FRAME(1)) == 3 &&
	    memcmp(r.mem + B_FRAME(1) + 4, "cde", 3) == 0);
	expect(u64_at(&r, SHMRING_OFF_HEAD) == 48);
	expect(u64_at(&r, SHMRING_OFF_SENT) == 3);

	/* A record after an open bundle closes it first. */
	expect(shmring_add(&r.w, "x", 1, 7) == 0);
	expect(shmring_put(&r.w, "y", 1, 8) == 0);
	expect(u32_at(&r, B_REC + 48) == (SHMRING_BUNDLE | 16));
	expect(u32_at(&r, B_REC + 48 + 4) == shmring_commit_word(3));
	expect(u32_at(&r, B_REC + 80 + 4) == shmring_commit_word(4));
	expect(shmring_poll(&r.rd, r.mem) == 0);
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 2);
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 3);
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 0);
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1 && *p == 'x');
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1 && *p == 'y');
	expect(shmring_next(&r.rd, &p, &len) == 0);
	ring_free(&r);

	/* The latest stamp, whatever the order; a run closes it too. */
	ring_new(&r, DATA);
	expect(shmring_add(&r.w, "a", 1, 5) == 0);
	expect(shmring_add(&r.w, "b", 1, 3) == 0);
	expect(put_in(&r, &(struct shmring_room){ UINT64_MAX, UINT64_MAX, 0 },
	    "c", 1) == 0);
	shmring_publish(&r.w);
	expect(u32_at(&r, B_REC) == (SHMRING_BUNDLE | 24));
	expect(u64_at(&r, B_REC + 8) == 5);
	expect(u32_at(&r, B_REC + 40) == 1);
	expect(u32_at(&r, B_REC + 40 + 4) == shmring_commit_word(2));
	ring_free(&r);

	/* The grant bounds it as it bounds a record: messages and bytes. */
	ring_new(&r, DATA);
	shmring_grant(r.mem, 2, UINT64_MAX);
	expect(shmring_add(&r.w, "a", 1, 0) == 0);
	expect(shmring_add(&r.w, "b", 1, 0) == 0);
	expect(shmring_add(&r.w, "c", 1, 0) == CHAN_EFULL);
	shmring_publish(&r.w);
	expect(u64_at(&r, SHMRING_OFF_SENT) == 2);
	ring_free(&r);
	ring_new(&r, DATA);
	shmring_grant(r.mem, UINT64_MAX, 3);
	expect(shmring_add(&r.w, "ab", 2, 0) == 0);
	expect(shmring_add(&r.w, "cd", 2, 0) == CHAN_EFULL);
	expect(shmring_add(&r.w, "e", 1, 0) == 0);
	shmring_publish(&r.w);
	expect(u64_at(&r, SHMRING_OFF_SENT_BYTES) == 3);
	ring_free(&r);

	/* A reader that does not say it takes bundles gets records. */
	ring_new(&r, DATA);
	u32_set(&r, SHMRING_OFF_FLAGS, 0);
	expect(shmring_attach(&r.w, r.mem, SHMRING_HDR_SIZE + DATA) == 0);
	expect(shmring_add(&r.w, "ab", 2, 0) == 0);
	expect(shmring_add(&r.w, "c", 1, 0) == 0);
	shmring_publish(&r.w);
	expect(u32_at(&r, B_REC) == 2);
	expect(u32_at(&r, B_REC + shmring_rec_size(2)) == 1);
	ring_free(&r);
}
END_TEST

/*
 * Messages added without a stamp of their own (a writer of stamped rings
 * reads its clock once a bundle): the bundle takes the stamp of the write
 * that closes it, or of shmring_stamp_bundle, never an earlier one; a
 * message the open bundle cannot take is left to shmring_add.
 */
START_TEST(test_unstamped_messages_take_the_closing_stamp)
{
	struct ring	 r;
	unsigned char	 big[1000];
	const unsigned char *p;
	uint32_t	 len, b1, b2, rec;
	uint64_t	 head;
	int		 i;

	memset(big, 'm', sizeof(big));
	ring_new(&r, DATA);
	/* Nothing open: left to shmring_add. */
	expect(shmring_add_unstamped(&r.w, "a", 1) == 1);
	expect(r.w.head == 0 && r.w.sent == 0);
	expect(shmring_add(&r.w, big, 1000, 5) == 0);
	expect(shmring_add_unstamped(&r.w, big, 1000) == 0);
	/* A third would pass max_record: nothing written. */
	head = r.w.head;
	expect(shmring_add_unstamped(&r.w, big, 1000) == 1);
	expect(r.w.head == head && r.w.sent == 2);
	/* Its stamp, read later, closes the first bundle. */
	expect(shmring_add(&r.w, big, 1000, 20) == 0);
	expect(shmring_add_unstamped(&r.w, "x", 1) == 0);
	/* A record closes the second with its own stamp. */
	expect(shmring_put2_held(&r.w, "y", 1, NULL, 0, 30) == 0);
	expect(shmring_add(&r.w, "z", 1, 40) == 0);
	expect(shmring_add_unstamped(&r.w, "w", 1) == 0);
	shmring_stamp_bundle(&r.w, 50);
	shmring_stamp_bundle(&r.w, 45);		/* never lowered */
	shmring_publish(&r.w);

	b1 = SHMRING_BUNDLE_HDR + 2 * 1004;
	b2 = SHMRING_BUNDLE_HDR + 1004 + 8;
	expect(u32_at(&r, B_REC) == (SHMRING_BUNDLE | b1));
	expect(u64_at(&r, B_REC + 8) == 20);
	expect(u32_at(&r, B_REC + shmring_rec_size(b1)) ==
	    (SHMRING_BUNDLE | b2));
	expect(u64_at(&r, B_REC + shmring_rec_size(b1) + 8) == 30);
	rec = shmring_rec_size(b1) + shmring_rec_size(b2);
	expect(u32_at(&r, B_REC + rec) == 1);
	expect(u64_at(&r, B_REC + rec + 8) == 30);
	rec += shmring_rec_size(1);
	expect(u32_at(&r, B_REC + rec) == (SHMRING_BUNDLE | 24));
	expect(u64_at(&r, B_REC + rec + 8) == 50);
	expect(u64_at(&r, SHMRING_OFF_SENT) == 7);

	expect(shmring_poll(&r.rd, r.mem) == 0);
	for (i = 0; i < 3; i++)
		expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1000 &&
		    p[0] == 'm' && p[999] == 'm');
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1 && *p == 'x');
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1 && *p == 'y');
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1 && *p == 'z');
	expect(shmring_next(&r.rd, &p, &len) == 1 && len == 1 && *p == 'w');
	expect(shmring_next(&r.rd, &p, &len) == 0);
	ring_free(&r);

	/* Out of grant: left to shmring_add, which says so. */
	ring_new(&r, DATA);
	shmring_grant(r.mem, 2, UINT64_MAX);
	expect(shmring_add(&r.w, "a", 1, 1) == 0);
	expect(shmring_add_unstamped(&r.w, "b", 1) == 0);
	expect(shmring_add_unstamped(&r.w, "c", 1) == 1);
	expect(shmring_add(&r.w, "c", 1, 2) == CHAN_EFULL);
	ring_free(&r);

	/* A reader that takes no bundles: every message is stamped. */
	ring_new(&r, DATA);
	u32_set(&r, SHMRING_OFF_FLAGS, 0);
	expect(shmring_attach(&r.w, r.mem, SHMRING_HDR_SIZE + DATA) == 0);
	expect(shmring_add(&r.w, "a", 1, 1) == 0);
	expect(shmring_add_unstamped(&r.w, "b", 1) == 1);
	ring_free(&r);
}
END_TEST

/*
 * Bundles grown through many laps of a small ring: each ends where the
 * room or the data area's end does (then padding), and every message
 * comes out whole and in order.
 */
/* Message number seq of test_added_bundles_wrap_and_fill_the_ring. */
static uint32_t
wrap_msg(unsigned char *p, uint32_t seq)
{
	uint32_t	len = (seq * 7) % 300;

	fill(p, len, seq);
	return (len);
}

/* Reads every message committed, from number *got on, and releases. */
static void
wrap_read(struct ring *r, uint32_t *got)
{
	unsigned char	in[300], out[300];
	uint32_t	len;
	long		n;

	while ((n = read_one(r, out, sizeof(out))) >= 0) {
		len = wrap_msg(in, (*got)++);
		expect(n == (long)len && memcmp(in, out, len) == 0);
	}
	expect(n == -2);
	shmring_release(&r->rd, r->mem);
}

/* The bundles of a reader that took n messages: their counts, in order. */
static int
bundle_counts(struct ring *r, uint64_t *counts, int max)
{
	uint64_t	msgs, bytes;
	int		k = 0;

	expect(shmring_poll(&r->rd, r->mem) == 0);
	while (k < max && shmring_skip_bundle(&r->rd, UINT64_MAX, &msgs,
	    &bytes) == 1)
		counts[k++] = msgs;
	return (k);
}

/*
 * A bundle holds at most SHMRING_BUNDLE_MAX_MSGS messages, written as a
 * run or grown one send at a time: a direct reader's bite of that many
 * takes it whole.
 */
START_TEST(test_a_bundle_holds_at_most_512_messages)
{
	struct ring		 r;
	struct shmring_room	 room;
	struct iovec		 v[600];
	uint64_t		 counts[4];
	int			 i, rc;

	for (i = 0; i < 600; i++) {
		v[i].iov_base = "";
		v[i].iov_len = 0;
	}
	ring_new(&r, 2 * DATA);
	expect(shmring_room(&r.w, &room) == 0);
	expect(shmring_put_run_in(&r.w, &room, v, 600, SIZE_MAX, SIZE_MAX,
	    1, &rc) == 600 && rc == 0);
	shmring_publish(&r.w);
	expect(bundle_counts(&r, counts, 4) == 2);
	expect(counts[0] == SHMRING_BUNDLE_MAX_MSGS && counts[1] == 88);
	ring_free(&r);

	ring_new(&r, 2 * DATA);
	for (i = 0; i < 600; i++)
		expect(shmring_add(&r.w, "", 0, 1) == 0);
	shmring_publish(&r.w);
	expect(bundle_counts(&r, counts, 4) == 2);
	expect(counts[0] == SHMRING_BUNDLE_MAX_MSGS && counts[1] == 88);
	ring_free(&r);
}
END_TEST

START_TEST(test_added_bundles_wrap_and_fill_the_ring)
{
	struct ring	r;
	unsigned char	in[300];
	uint32_t	sent = 0, got = 0, len;
	int		rc;

	ring_new(&r, DATA);
	while (sent < 2000) {
		len = wrap_msg(in, sent);
		if ((rc = shmring_add(&r.w, in, len, sent)) == 0) {
			sent++;
			continue;
		}
		expect(rc == CHAN_EFULL);
		/* Full: commit, then read and release all of it. */
		shmring_publish(&r.w);
		wrap_read(&r, &got);
	}
	shmring_publish(&r.w);
	wrap_read(&r, &got);
	expect(got == 2000);
	ring_free(&r);
}
END_TEST

static Suite *
shmring_suite(void)
{
	Suite *s = suite_create("shmring");
	TCase *tc = tcase_create("ring");

	tcase_add_test(tc, test_header_is_checked_on_attach);
	tcase_add_test(tc, test_records_come_out_in_order_across_many_wraps);
	tcase_add_test(tc, test_full_ring_and_grants_refuse_with_efull);
	tcase_add_test(tc, test_claims_bound_the_writer_and_take_back_keeps_them);
	tcase_add_test(tc, test_a_record_cut_short_is_never_read);
	tcase_add_test(tc, test_scribbled_cursors_are_refused);
	tcase_add_test(tc, test_scribbled_records_are_refused);
	tcase_add_test(tc, test_used_space_follows_the_writer_s_head);
	tcase_add_test(tc, test_writer_fits_counts_the_padding);
	tcase_add_test(tc, test_peek_shows_the_stamp_and_takes_nothing);
	tcase_add_test(tc, test_a_lone_ring_needs_no_stamps);
	tcase_add_test(tc, test_held_records_wait_for_publish);
	tcase_add_test(tc, test_room_read_once_bounds_a_batch);
	tcase_add_test(tc, test_runs_write_and_read_as_single_records_do);
	tcase_add_test(tc, test_direct_claims_and_revocation);
	tcase_add_test(tc, test_take_run_until_stops_at_the_limit);
	tcase_add_test(tc, test_a_run_goes_as_one_bundle);
	tcase_add_test(tc, test_scribbled_bundles_are_refused);
	tcase_add_test(tc, test_runs_and_skips_keep_to_bundles);
	tcase_add_test(tc, test_bundles_of_one_length_read_at_a_stride);
	tcase_add_test(tc, test_a_run_at_the_end_goes_as_records_then_a_bundle);
	tcase_add_test(tc, test_added_messages_grow_one_bundle);
	tcase_add_test(tc, test_added_bundles_wrap_and_fill_the_ring);
	tcase_add_test(tc, test_a_bundle_holds_at_most_512_messages);
	tcase_add_test(tc, test_unstamped_messages_take_the_closing_stamp);
	tcase_add_test(tc, test_waits_are_counted_and_watched_is_read);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(shmring_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

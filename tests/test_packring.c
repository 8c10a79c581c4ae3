/* SPDX-License-Identifier: MIT */
/*
 * test_packring.c: unit tests of chan-bench's ring of packed runs
 * (bench/packring.h): the writer against the reader across many wraps,
 * and the reader against a writer that scribbles over run headers,
 * frame lengths and its head.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "packring.h"

#define expect(c)	do {						\
	if (!(c))							\
		ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);	\
} while (0)

#define DATA	4096u

struct ring {
	unsigned char		*mem;
	struct packring_writer	 w;
	struct packring_reader	 rd;
};

static void
ring_new(struct ring *r)
{
	r->mem = aligned_alloc(4096, PACKRING_HDR_SIZE + DATA);
	expect(r->mem != NULL);
	memset(r->mem, 0xa5, PACKRING_HDR_SIZE + DATA);
	packring_init(r->mem, DATA);
	expect(packring_attach(&r->w, r->mem, PACKRING_HDR_SIZE + DATA) == 0);
	expect(packring_reader_attach(&r->rd, r->mem, PACKRING_HDR_SIZE +
	    DATA) == 0);
}

/* Puts n messages of len bytes, byte i of message k being k + i. */
static size_t
put(struct ring *r, size_t n, size_t len, size_t budget)
{
	static char	 buf[64][DATA];
	struct iovec	 v[64];
	size_t		 i, j;
	int		 rc;

	for (i = 0; i < n; i++) {
		for (j = 0; j < len; j++)
			buf[i][j] = (char)(i + j);
		v[i].iov_base = buf[i];
		v[i].iov_len = len;
	}
	return (packring_put(&r->w, v, n, 64, budget, 7, &rc));
}

/* Byte off of a fresh ring's data area, where its first run is. */
static unsigned char *
at(struct ring *r, size_t off)
{
	return (r->mem + PACKRING_HDR_SIZE + off);
}

static void
u32_to(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

START_TEST(runs_read_back_whole_across_many_wraps)
{
	struct ring		 r;
	struct packring_run	 run;
	const unsigned char	*p;
	uint32_t		 len;
	size_t			 round, k, i, seen;

	ring_new(&r);
	for (round = 0; round < 500; round++) {
		/* Sizes that put run ends at every offset modulo 8. */
		k = put(&r, 1 + round % 13, round % 37, 1000);
		expect(k >= 1);
		expect(packring_poll(&r.rd, r.mem) == 0);
		expect(packring_next(&r.rd, &run) == 1);
		expect(run.count == k && run.stamp == 7);
		for (seen = 0; packring_frame(&run, &p, &len) == 1; seen++) {
			expect(len == round % 37);
			for (i = 0; i < len; i++)
				expect(p[i] == (unsigned char)(seen + i));
			expect(p >= r.rd.data && p + len <= r.rd.data + DATA);
		}
		expect(seen == k);
		expect(packring_frame(&run, &p, &len) == 0);
		expect(packring_next(&r.rd, &run) == 0);
		packring_release(&r.rd, r.mem);
	}
	expect(r.w.runs > 500);		/* some were padding */
	free(r.mem);
}
END_TEST

START_TEST(a_batch_past_the_budget_is_cut_but_a_first_message_is_not)
{
	struct ring	r;

	ring_new(&r);
	expect(put(&r, 10, 16, 60) == 3);	/* 20 bytes a frame */
	expect(put(&r, 2, 100, 50) == 1);
	free(r.mem);
}
END_TEST

START_TEST(a_full_ring_takes_nothing_until_released)
{
	struct ring		r;
	struct packring_run	run;
	size_t			n = 0;

	ring_new(&r);
	while (put(&r, 1, 1000, 2000) == 1)
		n++;
	expect(n == 3);			/* 24 + 1004, rounded: 1032 each */
	expect(packring_poll(&r.rd, r.mem) == 0);
	expect(packring_next(&r.rd, &run) == 1);
	packring_release(&r.rd, r.mem);
	expect(put(&r, 1, 1000, 2000) == 1);
	free(r.mem);
}
END_TEST

START_TEST(a_message_over_the_longest_is_refused)
{
	struct ring	r;
	struct iovec	v = { .iov_base = NULL,
			    .iov_len = packring_max_msg(DATA) + 1 };
	int		rc;

	ring_new(&r);
	expect(packring_put(&r.w, &v, 1, 1, 1 << 20, 0, &rc) == 0);
	expect(rc == -1);
	free(r.mem);
}
END_TEST

START_TEST(a_run_past_the_head_is_refused)
{
	struct ring		r;
	struct packring_run	run;

	ring_new(&r);
	put(&r, 4, 16, 1000);
	u32_to(at(&r, 0), 4 * 20 + 8);
	expect(packring_poll(&r.rd, r.mem) == 0);
	expect(packring_next(&r.rd, &run) == -1);
	free(r.mem);
}
END_TEST

START_TEST(a_wrong_commit_word_is_refused)
{
	struct ring		r;
	struct packring_run	run;

	ring_new(&r);
	put(&r, 4, 16, 1000);
	u32_to(at(&r, 4), packring_commit_word(1));
	expect(packring_poll(&r.rd, r.mem) == 0);
	expect(packring_next(&r.rd, &run) == -1);
	free(r.mem);
}
END_TEST

START_TEST(a_frame_length_past_the_run_is_refused)
{
	struct ring		 r;
	struct packring_run	 run;
	const unsigned char	*p;
	uint32_t		 len;

	ring_new(&r);
	put(&r, 4, 16, 1000);
	/* The third frame says it holds the rest of the ring. */
	u32_to(at(&r, PACKRING_RUN_HDR + 40), DATA - 100);
	expect(packring_poll(&r.rd, r.mem) == 0);
	expect(packring_next(&r.rd, &run) == 1);
	expect(packring_frame(&run, &p, &len) == 1);
	expect(packring_frame(&run, &p, &len) == 1);
	expect(packring_frame(&run, &p, &len) == -1);
	/* The last frame one byte longer: padded, 4 bytes past the run. */
	u32_to(at(&r, PACKRING_RUN_HDR + 40), 16);
	u32_to(at(&r, PACKRING_RUN_HDR + 60), 17);
	run.off = 0;
	run.left = run.count;
	while (packring_frame(&run, &p, &len) == 1)
		;
	expect(packring_frame(&run, &p, &len) == -1);
	free(r.mem);
}
END_TEST

START_TEST(a_count_that_does_not_match_the_frames_is_refused)
{
	struct ring		 r;
	struct packring_run	 run;
	const unsigned char	*p;
	uint32_t		 len;
	int			 rc;

	ring_new(&r);
	put(&r, 4, 16, 1000);
	u32_to(at(&r, 8), 5);		/* one more than there are */
	expect(packring_poll(&r.rd, r.mem) == 0);
	expect(packring_next(&r.rd, &run) == 1);
	while ((rc = packring_frame(&run, &p, &len)) == 1)
		;
	expect(rc == -1);
	run.off = 0;
	run.left = run.count = 3;	/* one fewer: bytes left over */
	while ((rc = packring_frame(&run, &p, &len)) == 1)
		;
	expect(rc == -1);
	free(r.mem);
}
END_TEST

START_TEST(an_impossible_head_is_refused)
{
	struct ring	r;
	uint64_t	head;

	ring_new(&r);
	put(&r, 4, 16, 1000);
	head = DATA + 8;		/* more than a ring ahead */
	memcpy(r.mem + PACKRING_OFF_HEAD, &head, 8);
	expect(packring_poll(&r.rd, r.mem) == -1);
	head = 12;			/* not aligned */
	memcpy(r.mem + PACKRING_OFF_HEAD, &head, 8);
	expect(packring_poll(&r.rd, r.mem) == -1);
	free(r.mem);
}
END_TEST

static Suite *
packring_suite(void)
{
	Suite	*s = suite_create("packring");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, runs_read_back_whole_across_many_wraps);
	tcase_add_test(tc,
	    a_batch_past_the_budget_is_cut_but_a_first_message_is_not);
	tcase_add_test(tc, a_full_ring_takes_nothing_until_released);
	tcase_add_test(tc, a_message_over_the_longest_is_refused);
	tcase_add_test(tc, a_run_past_the_head_is_refused);
	tcase_add_test(tc, a_wrong_commit_word_is_refused);
	tcase_add_test(tc, a_frame_length_past_the_run_is_refused);
	tcase_add_test(tc, a_count_that_does_not_match_the_frames_is_refused);
	tcase_add_test(tc, an_impossible_head_is_refused);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(packring_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

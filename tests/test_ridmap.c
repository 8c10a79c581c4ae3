/* SPDX-License-Identifier: MIT */
/*
 * test_ridmap.c: unit tests of the library's index from a pipelined
 * send's request id to its transmitter and ordinal, against a model.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "ridmap.h"

/* The index only stores transmitter pointers: any distinct addresses. */
static char	txs[16];

/*
 * Check's ck_assert_* record every passing assertion through a pipe, too
 * slow for millions of operations: this one only speaks on failure.
 */
#define expect(c)	do {						\
	if (!(c))							\
		ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);	\
} while (0)

#define TX(i)	((struct chan_tx *)(void *)&txs[(i)])

/* What the map should hold: rid -> (tx, slot), rid 0 for a free row. */
struct model {
	uint32_t	*rid;
	uint32_t	*slot;
	int		*tx;
	size_t		 n, cap;
};

static void
model_add(struct model *mo, uint32_t rid, int tx, uint32_t slot)
{
	if (mo->n == mo->cap) {
		mo->cap = mo->cap ? mo->cap * 2 : 1024;
		mo->rid = realloc(mo->rid, mo->cap * sizeof(*mo->rid));
		mo->slot = realloc(mo->slot, mo->cap * sizeof(*mo->slot));
		mo->tx = realloc(mo->tx, mo->cap * sizeof(*mo->tx));
		expect(mo->rid != NULL && mo->slot != NULL && mo->tx != NULL);
	}
	mo->rid[mo->n] = rid;
	mo->slot[mo->n] = slot;
	mo->tx[mo->n] = tx;
	mo->n++;
}

/* Takes model row i from the map and checks what it gives. */
static void
model_take(struct model *mo, struct ridmap *m, size_t i)
{
	struct chan_tx *tx = NULL;
	uint32_t slot = UINT32_MAX;

	expect(ridmap_take(m, mo->rid[i], &tx, &slot) == 0);
	expect(tx == TX(mo->tx[i]));
	expect(slot == mo->slot[i]);
	/* Gone: a second reply with the same rid finds nothing. */
	expect(ridmap_take(m, mo->rid[i], &tx, &slot) == -1);
	mo->n--;
	mo->rid[i] = mo->rid[mo->n];
	mo->slot[i] = mo->slot[mo->n];
	mo->tx[i] = mo->tx[mo->n];
}

static void
model_free(struct model *mo)
{
	free(mo->rid);
	free(mo->slot);
	free(mo->tx);
}

/*
 * At most half full, and no bigger than the most entries it has held
 * needed: it doubled only when an entry would pass half of it.
 */
static void
assert_bounded(const struct ridmap *m, size_t peak)
{
	expect(m->n <= m->cap / 2);
	if (m->cap > RIDMAP_MIN)
		expect(m->cap <= 4 * (peak + 1));
}

static uint32_t	next_rid(uint32_t *);

/*
 * Puts and takes one entry at a time, the table then under an eighth
 * full, until it has shrunk to the floor: true if it does within rounds.
 */
static int
shrinks_to_floor(struct ridmap *m, uint32_t *r, size_t rounds)
{
	struct chan_tx *tx;
	uint32_t rid, slot;

	while (rounds-- > 0 && m->cap > RIDMAP_MIN) {
		rid = next_rid(r);
		expect(ridmap_put(m, rid, TX(3), 1) == 0);
		expect(ridmap_take(m, rid, &tx, &slot) == 0);
		expect(tx == TX(3));
	}
	return m->cap == RIDMAP_MIN;
}

/* Request ids as the library allocates them: never 0, wrapping. */
static uint32_t
next_rid(uint32_t *r)
{
	uint32_t rid = (*r)++;

	if (*r == 0)
		*r = 1;
	return rid;
}

START_TEST(test_put_take_and_missing)
{
	struct ridmap m = { 0 };
	struct chan_tx *tx;
	uint32_t slot;

	expect(ridmap_take(&m, 7, &tx, &slot) == -1);
	expect(ridmap_put(&m, 7, TX(1), 3) == 0);
	expect(ridmap_put(&m, 8, TX(2), 0) == 0);
	expect(m.n == 2);
	expect(ridmap_take(&m, 0, &tx, &slot) == -1);
	expect(ridmap_take(&m, 9, &tx, &slot) == -1);
	expect(ridmap_take(&m, 8, &tx, &slot) == 0);
	expect(tx == TX(2));
	expect(slot == 0);
	expect(ridmap_take(&m, 7, &tx, &slot) == 0);
	expect(tx == TX(1));
	expect(slot == 3);
	expect(m.n == 0);
	ridmap_free(&m);
	expect(m.v == NULL);
	/* Usable again after free. */
	expect(ridmap_put(&m, 1, TX(0), 1) == 0);
	expect(ridmap_take(&m, 1, &tx, &slot) == 0);
	ridmap_free(&m);
}
END_TEST

/*
 * Many transmitters, replies in any order: random puts and takes of
 * rids allocated in order, checked row by row against the model, across
 * the wrap of the 32-bit rid, with the table growing and shrinking.
 */
START_TEST(test_random_order_matches_the_model)
{
	struct ridmap m = { 0 };
	struct model mo = { 0 };
	uint32_t r = UINT32_MAX - 50000;
	size_t i, want, peak = 0;
	int round;

	srandom(12345);
	for (round = 0; round < 40; round++) {
		/* Alternately fill towards a random size and drain to another. */
		want = (size_t)random() % (round % 2 ? 200 : 30000);
		while (mo.n < want) {
			uint32_t rid = next_rid(&r);
			int tx = (int)(random() % 16);
			uint32_t slot = (uint32_t)random() % 4096;

			expect(ridmap_put(&m, rid, TX(tx), slot) == 0);
			model_add(&mo, rid, tx, slot);
			expect(m.n == mo.n);
			if (mo.n > peak)
				peak = mo.n;
			assert_bounded(&m, peak);
		}
		while (mo.n > want) {
			model_take(&mo, &m, (size_t)random() % mo.n);
			expect(m.n == mo.n);
			assert_bounded(&m, peak);
		}
	}
	expect(r > 0);
	expect(r < UINT32_MAX - 50000);	/* it wrapped */
	for (i = mo.n; i > 0; i--)
		model_take(&mo, &m, i - 1);
	expect(m.n == 0);
	/* Once sends stay few, the table comes back down: a few times
	   its size in confirmations. */
	expect(shrinks_to_floor(&m, &r, 4 * (size_t)m.cap));
	model_free(&mo);
	ridmap_free(&m);
}
END_TEST

/*
 * A send held on a full channel stays while millions of later sends on
 * other channels are confirmed in order around it: the held ones are
 * still found, the others too, and the table does not grow with the
 * distance between the oldest rid and the newest.
 */
START_TEST(test_held_sends_survive_a_long_stream_of_later_ones)
{
	struct ridmap m = { 0 };
	struct model held = { 0 };
	struct chan_tx *tx;
	uint32_t win[512], r = 1, maxcap = 0, slot;
	size_t i, n = 3000000;

	for (i = 0; i < 4096; i++) {
		model_add(&held, next_rid(&r), 1, (uint32_t)i);
		expect(ridmap_put(&m, held.rid[i], TX(1), held.slot[i]) == 0);
	}
	/* A window of 512 sends confirmed in order, oldest first. */
	for (i = 0; i < n + 512; i++) {
		if (i >= 512) {
			expect(ridmap_take(&m, win[i % 512], &tx, &slot) == 0);
			expect(tx == TX(2));
			expect(slot == i % 512);
		}
		if (i < n) {
			win[i % 512] = next_rid(&r);
			expect(ridmap_put(&m, win[i % 512], TX(2),
			    (uint32_t)(i % 512)) == 0);
		}
		if (m.cap > maxcap)
			maxcap = m.cap;
	}
	expect(m.n == 4096);
	expect(maxcap <= 4 * (4096 + 512));
	for (i = held.n; i > 0; i--)
		model_take(&held, &m, i - 1);
	expect(m.n == 0);
	model_free(&held);
	ridmap_free(&m);
}
END_TEST

/*
 * A window of sends that fills and drains again and again: after the
 * first fill the table keeps its size instead of halving on every drain
 * and doubling on every fill (each resize moves every entry).
 */
START_TEST(test_a_refilled_window_does_not_resize_each_time)
{
	struct ridmap m = { 0 };
	struct chan_tx *tx;
	uint32_t win[4096], r = 1, slot, lastcap = 0;
	size_t i, cycle, resizes = 0, first = 0;

	for (cycle = 0; cycle < 50; cycle++) {
		for (i = 0; i < 4096; i++) {
			win[i] = next_rid(&r);
			expect(ridmap_put(&m, win[i], TX(1), (uint32_t)i) == 0);
			if (m.cap != lastcap) {
				resizes++;
				lastcap = m.cap;
			}
		}
		for (i = 0; i < 4096; i++) {
			expect(ridmap_take(&m, win[i], &tx, &slot) == 0);
			expect(slot == i);
			if (m.cap != lastcap) {
				resizes++;
				lastcap = m.cap;
			}
		}
		if (cycle == 0)
			first = resizes;
	}
	/* The first fill grew it from nothing to 64 and on to 8192 rows:
	   8 resizes. Later cycles keep that size (halving on every drain
	   and doubling on every fill would be 100 more). */
	expect(first == 8);
	expect(resizes == first);
	expect(shrinks_to_floor(&m, &r, 4 * (size_t)m.cap));
	ridmap_free(&m);
}
END_TEST

static Suite *
ridmap_suite(void)
{
	Suite *s = suite_create("ridmap");
	TCase *tc = tcase_create("index");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_put_take_and_missing);
	tcase_add_test(tc, test_random_order_matches_the_model);
	tcase_add_test(tc, test_held_sends_survive_a_long_stream_of_later_ones);
	tcase_add_test(tc, test_a_refilled_window_does_not_resize_each_time);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(ridmap_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

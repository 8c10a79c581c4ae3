/* SPDX-License-Identifier: MIT */
/*
 * ridmap.c: the index from a pipelined send's request id to its
 * transmitter and ordinal (see ridmap.h).
 */
#include <stdlib.h>

#include "chanclient.h"
#include "ridmap.h"

/*
 * Rids are given out in order and mostly confirmed in order, so runs of
 * 16 consecutive rids share a block of 16 consecutive slots (a few cache
 * lines, where one entry each would miss a line each at ten thousand
 * transmitters), and the blocks are spread by Fibonacci hashing: a long
 * run of unconfirmed sends on one channel does not form a cluster that
 * the next run, a table's length later, would have to probe across.
 */
#define RIDMAP_BLOCK_BITS	4

/* A table has RIDMAP_MIN entries or more: shift is at most 26. */
static uint32_t
ridmap_home(const struct ridmap *m, uint32_t rid)
{
	uint32_t block = (rid >> RIDMAP_BLOCK_BITS) * 2654435769u;

	return block >> (m->shift + RIDMAP_BLOCK_BITS) << RIDMAP_BLOCK_BITS |
	    (rid & ((1u << RIDMAP_BLOCK_BITS) - 1));
}

static void
ridmap_insert(struct ridmap *m, const struct ridmap_entry *e)
{
	uint32_t i = ridmap_home(m, e->rid);

	while (m->v[i].rid != 0)
		i = (i + 1) & (m->cap - 1);
	m->v[i] = *e;
}

/* Moves every entry into a table of cap entries: 0 or -1 (no memory). */
static int
ridmap_resize(struct ridmap *m, uint32_t cap)
{
	struct ridmap old = *m;
	uint32_t i, shift = 32;

	for (i = cap; i > 1; i >>= 1)
		shift--;
	if ((m->v = calloc(cap, sizeof(*m->v))) == NULL) {
		m->v = old.v;
		return -1;
	}
	m->cap = cap;
	m->shift = shift;
	m->low = 0;
	for (i = 0; i < old.cap; i++) {
		if (old.v[i].rid != 0)
			ridmap_insert(m, &old.v[i]);
	}
	free(old.v);
	return 0;
}

int
ridmap_put(struct ridmap *m, uint32_t rid, struct chan_tx *tx, uint32_t ord)
{
	struct ridmap_entry e = { .rid = rid, .ord = ord, .tx = tx };

	/* At most half full: probes stay short. */
	if (m->n + 1 > m->cap / 2 && (m->cap >= (1u << 31) ||
	    ridmap_resize(m, m->cap == 0 ? RIDMAP_MIN : m->cap * 2) != 0))
		return CHAN_ENOMEM;
	ridmap_insert(m, &e);
	if (++m->n >= m->cap / 8)
		m->low = 0;
	return 0;
}

/*
 * Empties slot i and moves later entries of its probe run back into the
 * hole where their home allows, so that lookups need no tombstones.
 */
static void
ridmap_delete_at(struct ridmap *m, uint32_t i)
{
	uint32_t j = i, k, mask = m->cap - 1;

	for (;;) {
		j = (j + 1) & mask;
		if (m->v[j].rid == 0)
			break;
		k = ridmap_home(m, m->v[j].rid);
		/* Entry j may move to i unless its home lies in (i, j]. */
		if (((j - k) & mask) >= ((j - i) & mask)) {
			m->v[i] = m->v[j];
			i = j;
		}
	}
	m->v[i].rid = 0;
	m->v[i].tx = NULL;
	m->n--;
}

int
ridmap_take(struct ridmap *m, uint32_t rid, struct chan_tx **tx,
    uint32_t *ord)
{
	uint32_t i;

	if (m->n == 0 || rid == 0)
		return -1;
	for (i = ridmap_home(m, rid); m->v[i].rid != rid;
	    i = (i + 1) & (m->cap - 1)) {
		if (m->v[i].rid == 0)
			return -1;
	}
	*tx = m->v[i].tx;
	*ord = m->v[i].ord;
	ridmap_delete_at(m, i);
	/* Memory follows the sends outstanding; failing to shrink is fine. */
	if (m->n >= m->cap / 8)
		return 0;
	if (++m->low >= m->cap && m->cap > RIDMAP_MIN)
		(void)ridmap_resize(m, m->cap / 2);
	return 0;
}

void
ridmap_free(struct ridmap *m)
{
	free(m->v);
	m->v = NULL;
	m->cap = 0;
	m->shift = 0;
	m->n = 0;
	m->low = 0;
}

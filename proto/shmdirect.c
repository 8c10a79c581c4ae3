/* SPDX-License-Identifier: MIT */
/*
 * shmdirect.c: a direct reader's page (shmdirect.h). Every access to the
 * page is an atomic access of an aligned word.
 */
#include <string.h>

#include "shmdirect.h"

static inline uint64_t *
w64(const void *page, size_t off)
{
	return ((uint64_t *)(void *)((unsigned char *)(uintptr_t)page + off));
}

static inline uint32_t *
w32(const void *page, size_t off)
{
	return ((uint32_t *)(void *)((unsigned char *)(uintptr_t)page + off));
}

static size_t
shmdirect_slot(uint64_t ctl)
{
	return ((ctl & 1) ? SHMDIRECT_OFF_SLOT1 : SHMDIRECT_OFF_SLOT0);
}

/* Writes cl into the slot at off (relaxed: the control word publishes). */
static void
shmdirect_put_slot(void *page, size_t off, const struct shmdirect_claim *cl,
    uint32_t nrings)
{
	uint32_t	i;

	__atomic_store_n(w64(page, off), cl->seq, __ATOMIC_RELAXED);
	__atomic_store_n(w64(page, off + 8), cl->runs, __ATOMIC_RELAXED);
	for (i = 0; i < nrings; i++) {
		off += i == 0 ? SHMDIRECT_SLOT_RINGS : 16;
		__atomic_store_n(w64(page, off), cl->pos[i], __ATOMIC_RELAXED);
		__atomic_store_n(w64(page, off + 8), cl->rec[i],
		    __ATOMIC_RELAXED);
	}
}

static void
shmdirect_get_slot(const void *page, size_t off, struct shmdirect_claim *cl)
{
	uint32_t	i;

	cl->seq = __atomic_load_n(w64(page, off), __ATOMIC_RELAXED);
	cl->runs = __atomic_load_n(w64(page, off + 8), __ATOMIC_RELAXED);
	for (i = 0; i < SHMDIRECT_MAX_RINGS; i++) {
		off += i == 0 ? SHMDIRECT_SLOT_RINGS : 16;
		cl->pos[i] = __atomic_load_n(w64(page, off), __ATOMIC_RELAXED);
		cl->rec[i] = __atomic_load_n(w64(page, off + 8),
		    __ATOMIC_RELAXED);
	}
}

void
shmdirect_init(void *page, uint32_t nrings,
    const struct shmdirect_claim *start)
{
	uint32_t	i;

	memset(page, 0, SHMDIRECT_OFF_LOG);
	__atomic_store_n(w32(page, SHMDIRECT_OFF_MAGIC), SHMDIRECT_MAGIC,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w32(page, SHMDIRECT_OFF_VERSION), SHMDIRECT_VERSION,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w32(page, SHMDIRECT_OFF_NRINGS), nrings,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w32(page, SHMDIRECT_OFF_LOG_CAP), SHMDIRECT_LOG_CAP,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w64(page, SHMDIRECT_OFF_START_SEQ), start->seq,
	    __ATOMIC_RELAXED);
	/* A page of more rings is written (for tests) but never attached. */
	if (nrings > SHMDIRECT_MAX_RINGS)
		nrings = SHMDIRECT_MAX_RINGS;
	for (i = 0; i < nrings; i++) {
		__atomic_store_n(w64(page, SHMDIRECT_OFF_START + 16 * i),
		    start->pos[i], __ATOMIC_RELAXED);
		__atomic_store_n(w64(page, SHMDIRECT_OFF_START + 16 * i + 8),
		    start->rec[i], __ATOMIC_RELAXED);
	}
	/* Slot 0 holds the start: no claim yet, no log entry. */
	shmdirect_put_slot(page, SHMDIRECT_OFF_SLOT0, start, nrings);
	__atomic_store_n(w64(page, SHMDIRECT_OFF_SLOT0 + 8), 0,
	    __ATOMIC_RELAXED);
	/* acked stays 0 until the consumer writes it: messages in flight
	   before the page are not acknowledged by it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

int
shmdirect_claimer_attach(struct shmdirect_claimer *cl, void *page,
    size_t len)
{
	uint32_t	i;

	if (len < SHMDIRECT_SIZE || __atomic_load_n(w32(page,
	    SHMDIRECT_OFF_MAGIC), __ATOMIC_ACQUIRE) != SHMDIRECT_MAGIC ||
	    __atomic_load_n(w32(page, SHMDIRECT_OFF_VERSION),
	    __ATOMIC_RELAXED) != SHMDIRECT_VERSION ||
	    __atomic_load_n(w32(page, SHMDIRECT_OFF_LOG_CAP),
	    __ATOMIC_RELAXED) != SHMDIRECT_LOG_CAP)
		return (-1);
	memset(cl, 0, sizeof(*cl));
	cl->page = page;
	cl->nrings = __atomic_load_n(w32(page, SHMDIRECT_OFF_NRINGS),
	    __ATOMIC_RELAXED);
	if (cl->nrings == 0 || cl->nrings > SHMDIRECT_MAX_RINGS)
		return (-1);
	cl->at.seq = __atomic_load_n(w64(page, SHMDIRECT_OFF_START_SEQ),
	    __ATOMIC_RELAXED);
	for (i = 0; i < cl->nrings; i++) {
		cl->at.pos[i] = __atomic_load_n(w64(page, SHMDIRECT_OFF_START +
		    16 * i), __ATOMIC_RELAXED);
		cl->at.rec[i] = __atomic_load_n(w64(page, SHMDIRECT_OFF_START +
		    16 * i + 8), __ATOMIC_RELAXED);
	}
	return (0);
}

uint64_t
shmdirect_log_room(const struct shmdirect_claimer *cl)
{
	uint64_t	freed;

	/* Acquire: the daemon read the entries it freed before saying so. */
	freed = __atomic_load_n(w64(cl->page, SHMDIRECT_OFF_FREED),
	    __ATOMIC_ACQUIRE);
	if (freed > cl->at.runs)
		return (0);	/* a page written over */
	return (SHMDIRECT_LOG_CAP - (cl->at.runs - freed));
}

bool
shmdirect_claim(struct shmdirect_claimer *cl, struct shmdirect_claim *next,
    const uint64_t *runs, size_t nruns)
{
	uint64_t	expect = cl->ctl;
	size_t		slot = shmdirect_slot(cl->ctl + 1), i;

	for (i = 0; i < nruns; i++)
		__atomic_store_n(w64(cl->page, SHMDIRECT_OFF_LOG + 8 *
		    ((cl->at.runs + i) % SHMDIRECT_LOG_CAP)), runs[i],
		    __ATOMIC_RELAXED);
	next->runs = cl->at.runs + nruns;
	/*
	 * The slot the daemon reads is the one the control word names, so
	 * the other one may be written freely; the exchange publishes it and
	 * the log entries.
	 */
	shmdirect_put_slot(cl->page, slot, next, cl->nrings);
	if (!__atomic_compare_exchange_n(w64(cl->page, SHMDIRECT_OFF_CONTROL),
	    &expect, cl->ctl + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return (false);
	cl->ctl++;
	cl->at = *next;
	return (true);
}

bool
shmdirect_revoked(const struct shmdirect_claimer *cl)
{
	return ((__atomic_load_n(w64(cl->page, SHMDIRECT_OFF_CONTROL),
	    __ATOMIC_SEQ_CST) & SHMDIRECT_REVOKED) != 0);
}

bool
shmdirect_ack(struct shmdirect_claimer *cl, uint64_t seq)
{
	uint32_t	one = 1;

	/* Sequentially consistent, against the daemon's want_ack. */
	__atomic_store_n(w64(cl->page, SHMDIRECT_OFF_ACKED), seq,
	    __ATOMIC_SEQ_CST);
	if (__atomic_load_n(w32(cl->page, SHMDIRECT_OFF_ACK_WAKE),
	    __ATOMIC_SEQ_CST) == 0 || seq < __atomic_load_n(w64(cl->page,
	    SHMDIRECT_OFF_ACK_GOAL), __ATOMIC_ACQUIRE))
		return (false);
	return (__atomic_compare_exchange_n(w32(cl->page,
	    SHMDIRECT_OFF_ACK_WAKE), &one, 0, false, __ATOMIC_SEQ_CST,
	    __ATOMIC_SEQ_CST));
}

void
shmdirect_set_wait(struct shmdirect_claimer *cl, uint32_t how)
{
	__atomic_store_n(w32(cl->page, SHMDIRECT_OFF_WAIT), how,
	    __ATOMIC_SEQ_CST);
}

void
shmdirect_revoke(void *page, struct shmdirect_claim *cl)
{
	uint64_t	ctl;

	/* Sequentially consistent, against the consumer's acknowledgement
	   and its look at this bit (shmdirect_ack, shmdirect_revoked). */
	ctl = __atomic_fetch_or(w64(page, SHMDIRECT_OFF_CONTROL),
	    SHMDIRECT_REVOKED, __ATOMIC_SEQ_CST);
	shmdirect_get_slot(page, shmdirect_slot(ctl), cl);
}

int
shmdirect_claimed(const void *page, struct shmdirect_claim *cl)
{
	uint64_t	ctl;

	ctl = __atomic_load_n(w64(page, SHMDIRECT_OFF_CONTROL),
	    __ATOMIC_ACQUIRE);
	shmdirect_get_slot(page, shmdirect_slot(ctl), cl);
	/* The consumer writes the other slot first: unchanged, it holds. */
	return (__atomic_load_n(w64(page, SHMDIRECT_OFF_CONTROL),
	    __ATOMIC_ACQUIRE) == ctl ? 0 : -1);
}

uint64_t
shmdirect_run(const void *page, uint64_t i)
{
	return (__atomic_load_n(w64(page, SHMDIRECT_OFF_LOG + 8 *
	    (i % SHMDIRECT_LOG_CAP)), __ATOMIC_RELAXED));
}

void
shmdirect_set_freed(void *page, uint64_t runs)
{
	__atomic_store_n(w64(page, SHMDIRECT_OFF_FREED), runs,
	    __ATOMIC_RELEASE);
}

uint64_t
shmdirect_acked(const void *page)
{
	return (__atomic_load_n(w64(page, SHMDIRECT_OFF_ACKED),
	    __ATOMIC_SEQ_CST));
}

uint32_t
shmdirect_take_wait(void *page)
{
	return (__atomic_exchange_n(w32(page, SHMDIRECT_OFF_WAIT), 0,
	    __ATOMIC_SEQ_CST));
}

void
shmdirect_want_ack(void *page, uint64_t goal)
{
	/* Before ack_wake: a consumer that sees ack_wake sees the goal. */
	__atomic_store_n(w64(page, SHMDIRECT_OFF_ACK_GOAL), goal,
	    __ATOMIC_RELEASE);
	__atomic_store_n(w32(page, SHMDIRECT_OFF_ACK_WAKE), 1,
	    __ATOMIC_SEQ_CST);
}

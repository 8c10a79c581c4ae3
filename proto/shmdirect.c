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

void
shmdirect_init(void *page, uint64_t pos, uint64_t seq, uint64_t rec)
{
	memset(page, 0, SHMDIRECT_SIZE);
	__atomic_store_n(w32(page, SHMDIRECT_OFF_MAGIC), SHMDIRECT_MAGIC,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w32(page, SHMDIRECT_OFF_VERSION), SHMDIRECT_VERSION,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w64(page, SHMDIRECT_OFF_START_POS), pos,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w64(page, SHMDIRECT_OFF_START_SEQ), seq,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w64(page, SHMDIRECT_OFF_START_REC), rec,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w64(page, SHMDIRECT_OFF_SLOT0), pos,
	    __ATOMIC_RELAXED);
	__atomic_store_n(w64(page, SHMDIRECT_OFF_SLOT0 + 8), seq,
	    __ATOMIC_RELAXED);
	/* acked stays 0 until the consumer writes it: messages in flight
	   before the page are not acknowledged by it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

int
shmdirect_claimer_attach(struct shmdirect_claimer *cl, void *page,
    size_t len)
{
	if (len < SHMDIRECT_SIZE || __atomic_load_n(w32(page,
	    SHMDIRECT_OFF_MAGIC), __ATOMIC_ACQUIRE) != SHMDIRECT_MAGIC ||
	    __atomic_load_n(w32(page, SHMDIRECT_OFF_VERSION),
	    __ATOMIC_RELAXED) != SHMDIRECT_VERSION)
		return (-1);
	cl->page = page;
	cl->ctl = 0;
	cl->pos = __atomic_load_n(w64(page, SHMDIRECT_OFF_START_POS),
	    __ATOMIC_RELAXED);
	cl->seq = __atomic_load_n(w64(page, SHMDIRECT_OFF_START_SEQ),
	    __ATOMIC_RELAXED);
	cl->rec = __atomic_load_n(w64(page, SHMDIRECT_OFF_START_REC),
	    __ATOMIC_RELAXED);
	return (0);
}

bool
shmdirect_claim(struct shmdirect_claimer *cl, uint64_t pos, uint64_t seq,
    uint64_t n)
{
	uint64_t	expect = cl->ctl;
	size_t		slot = shmdirect_slot(cl->ctl + 1);

	/*
	 * The slot the daemon reads is the one the control word names, so
	 * the other one may be written freely; the exchange publishes it.
	 */
	__atomic_store_n(w64(cl->page, slot), pos, __ATOMIC_RELAXED);
	__atomic_store_n(w64(cl->page, slot + 8), seq, __ATOMIC_RELAXED);
	if (!__atomic_compare_exchange_n(w64(cl->page, SHMDIRECT_OFF_CONTROL),
	    &expect, cl->ctl + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return (false);
	cl->ctl++;
	cl->pos = pos;
	cl->seq = seq;
	cl->rec += n;
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
	    __ATOMIC_SEQ_CST) == 0)
		return (false);
	return (__atomic_compare_exchange_n(w32(cl->page,
	    SHMDIRECT_OFF_ACK_WAKE), &one, 0, false, __ATOMIC_SEQ_CST,
	    __ATOMIC_SEQ_CST));
}

void
shmdirect_set_wait(struct shmdirect_claimer *cl)
{
	__atomic_store_n(w32(cl->page, SHMDIRECT_OFF_WAIT), 1,
	    __ATOMIC_SEQ_CST);
}

void
shmdirect_revoke(void *page, uint64_t *pos, uint64_t *seq)
{
	uint64_t	ctl;
	size_t		slot;

	/* Sequentially consistent, against the consumer's acknowledgement
	   and its look at this bit (shmdirect_ack, shmdirect_revoked). */
	ctl = __atomic_fetch_or(w64(page, SHMDIRECT_OFF_CONTROL),
	    SHMDIRECT_REVOKED, __ATOMIC_SEQ_CST);
	slot = shmdirect_slot(ctl);
	*pos = __atomic_load_n(w64(page, slot), __ATOMIC_RELAXED);
	*seq = __atomic_load_n(w64(page, slot + 8), __ATOMIC_RELAXED);
}

int
shmdirect_claimed(const void *page, uint64_t *pos, uint64_t *seq)
{
	uint64_t	ctl;
	size_t		slot;

	ctl = __atomic_load_n(w64(page, SHMDIRECT_OFF_CONTROL),
	    __ATOMIC_ACQUIRE);
	slot = shmdirect_slot(ctl);
	*pos = __atomic_load_n(w64(page, slot), __ATOMIC_RELAXED);
	*seq = __atomic_load_n(w64(page, slot + 8), __ATOMIC_RELAXED);
	/* The consumer writes the other slot first: unchanged, it holds. */
	return (__atomic_load_n(w64(page, SHMDIRECT_OFF_CONTROL),
	    __ATOMIC_ACQUIRE) == ctl ? 0 : -1);
}

uint64_t
shmdirect_acked(const void *page)
{
	return (__atomic_load_n(w64(page, SHMDIRECT_OFF_ACKED),
	    __ATOMIC_SEQ_CST));
}

bool
shmdirect_take_wait(void *page)
{
	return (__atomic_exchange_n(w32(page, SHMDIRECT_OFF_WAIT), 0,
	    __ATOMIC_SEQ_CST) != 0);
}

void
shmdirect_want_ack(void *page)
{
	__atomic_store_n(w32(page, SHMDIRECT_OFF_ACK_WAKE), 1,
	    __ATOMIC_SEQ_CST);
}

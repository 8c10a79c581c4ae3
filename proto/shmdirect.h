/* SPDX-License-Identifier: MIT */
/*
 * shmdirect.h: the page of a consumer that reads a producer's ring itself
 * (direct reading; docs/protocol.md, "Direct reading"). No I/O and no
 * system calls.
 *
 * The daemon hands a consumer handle a read-only mapping of the channel's
 * lone producer ring and this page, which both map read-write. The
 * consumer claims records before it hands them out: it writes where the
 * claim ends into one of two slots, then moves the control word with a
 * compare-and-swap. The daemon takes the ring back at any moment with one
 * atomic OR of the revoked bit: the value it gets back names the slot that
 * holds exactly what the consumer had claimed, and every later claim
 * fails. So the daemon never waits for the consumer, and a record is
 * either the consumer's or the daemon's, never both.
 *
 * The consumer may be hostile: the daemon checks every value it reads
 * here against the ring before using it.
 */
#ifndef CHAN_SHMDIRECT_H
#define CHAN_SHMDIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHMDIRECT_MAGIC		0x44524843u	/* "CHRD", little-endian */
#define SHMDIRECT_VERSION	1u
#define SHMDIRECT_SIZE		4096u
#define SHMDIRECT_REVOKED	((uint64_t)1 << 63)

/* Field offsets (bytes from the start of the page). */
#define SHMDIRECT_OFF_MAGIC	0	/* u32 */
#define SHMDIRECT_OFF_VERSION	4	/* u32 */
#define SHMDIRECT_OFF_START_POS	8	/* u64: ring position of the first
					   record the consumer reads */
#define SHMDIRECT_OFF_START_SEQ	16	/* u64: the delivery seq before it */
#define SHMDIRECT_OFF_START_REC	24	/* u64: its record number */
#define SHMDIRECT_OFF_CONTROL	64	/* u64: claims made; bit 63 revoked */
#define SHMDIRECT_OFF_SLOT0	128	/* u64 pos, u64 seq: after a claim */
#define SHMDIRECT_OFF_SLOT1	192
#define SHMDIRECT_OFF_ACKED	256	/* u64: the consumer's acknowledged
					   seq (all up to it) */
#define SHMDIRECT_OFF_WAIT	264	/* u32: 1: the consumer is about to
					   sleep and wants a RING_WAKE */
#define SHMDIRECT_OFF_ACK_WAKE	268	/* u32: 1: the daemon waits for an
					   acknowledgement */

/* The daemon: a fresh page whose first record is at pos, number rec. */
void	shmdirect_init(void *page, uint64_t pos, uint64_t seq, uint64_t rec);

/*
 * The consumer's claims. shmdirect_claimer_attach checks the page (0, or
 * -1 if it is not one) and reads where reading starts.
 */
struct shmdirect_claimer {
	unsigned char	*page;
	uint64_t	 ctl;		/* claims made */
	uint64_t	 pos;		/* ring position after the last claim */
	uint64_t	 seq;		/* seq of the last record claimed */
	uint64_t	 rec;		/* record number at pos */
};
int	shmdirect_claimer_attach(struct shmdirect_claimer *, void *page,
	    size_t len);
/*
 * Claims the records up to ring position pos, the last of them seq (n
 * records): true, or false if the daemon has revoked the page (nothing
 * was claimed, and nothing will be).
 */
bool	shmdirect_claim(struct shmdirect_claimer *, uint64_t pos,
	    uint64_t seq, uint64_t n);
/* Whether the daemon has revoked the page. */
bool	shmdirect_revoked(const struct shmdirect_claimer *);
/* Stores the acknowledged seq; true if the daemon asked to be told. */
bool	shmdirect_ack(struct shmdirect_claimer *, uint64_t seq);
/* Says the consumer is about to sleep: then wake the daemon. */
void	shmdirect_set_wait(struct shmdirect_claimer *);

/*
 * The daemon. shmdirect_revoke sets the revoked bit and returns what was
 * claimed (*pos, *seq; the consumer's word, to be checked).
 * shmdirect_claimed reads the same without revoking: -1 if the consumer
 * moved it meanwhile (or keeps moving it).
 */
void	shmdirect_revoke(void *page, uint64_t *pos, uint64_t *seq);
int	shmdirect_claimed(const void *page, uint64_t *pos, uint64_t *seq);
/* The consumer's acknowledged seq (its word, to be checked). */
uint64_t shmdirect_acked(const void *page);
/* Whether the consumer said it sleeps (the word is cleared). */
bool	shmdirect_take_wait(void *page);
/* Asks the consumer to wake the daemon after its next acknowledgement. */
void	shmdirect_want_ack(void *page);

#endif /* CHAN_SHMDIRECT_H */

/* SPDX-License-Identifier: MIT */
/*
 * shmdirect.h: the page of a consumer that reads its channel's producer
 * rings itself (direct reading; docs/protocol.md, "Direct reading"). No
 * I/O and no system calls.
 *
 * The daemon hands a consumer handle read-only mappings of the channel's
 * producer rings (one to SHMDIRECT_MAX_RINGS) and this page, which both
 * map read-write. The consumer merges the rings by stamp and claims
 * records before it hands them out: it appends the claim's order to the
 * page's log as runs (ring, count), writes where the claim ends in every
 * ring into one of two slots, then moves the control word with a
 * compare-and-swap. The daemon takes the rings back at any moment with
 * one atomic OR of the revoked bit: the value it gets back names the
 * slot that holds exactly what the consumer had claimed, and every later
 * claim fails. So the daemon never waits for the consumer, and a record
 * is either the consumer's or the daemon's, never both. The log tells
 * the daemon which ring each acknowledged or unacknowledged seq came
 * from; the consumer reuses a log entry only once the daemon says it has
 * released it (freed).
 *
 * The consumer may be hostile: the daemon checks every value it reads
 * here against the rings before using it.
 */
#ifndef CHAN_SHMDIRECT_H
#define CHAN_SHMDIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHMDIRECT_MAGIC		0x44524843u	/* "CHRD", little-endian */
#define SHMDIRECT_VERSION	2u
#define SHMDIRECT_SIZE		65536u
#define SHMDIRECT_MAX_RINGS	16u
#define SHMDIRECT_REVOKED	((uint64_t)1 << 63)

/* Field offsets (bytes from the start of the page). */
#define SHMDIRECT_OFF_MAGIC	0	/* u32 */
#define SHMDIRECT_OFF_VERSION	4	/* u32 */
#define SHMDIRECT_OFF_NRINGS	8	/* u32: rings, in the order of the
					   descriptors */
#define SHMDIRECT_OFF_LOG_CAP	12	/* u32: entries of the log */
#define SHMDIRECT_OFF_START_SEQ	16	/* u64: the delivery seq before the
					   first record the consumer reads */
#define SHMDIRECT_OFF_CONTROL	64	/* u64: claims made; bit 63 revoked */
#define SHMDIRECT_OFF_ACKED	128	/* u64: the consumer's acknowledged
					   seq (all up to it) */
#define SHMDIRECT_OFF_WAIT	136	/* u32: 1: the consumer is about to
					   sleep and wants a RING_WAKE */
#define SHMDIRECT_OFF_ACK_WAKE	140	/* u32: 1: the daemon waits for an
					   acknowledgement */
#define SHMDIRECT_OFF_ACK_GOAL	144	/* u64: the acknowledged seq that
					   ack_wake waits for (0: any) */
#define SHMDIRECT_OFF_FREED	192	/* u64: log entries the daemon has
					   released, in all */
#define SHMDIRECT_OFF_START	256	/* per ring: u64 pos, u64 rec of the
					   first record to read */
#define SHMDIRECT_OFF_SLOT0	512	/* u64 seq, u64 runs, then per ring
					   u64 pos, u64 rec: after a claim */
#define SHMDIRECT_OFF_SLOT1	832
#define SHMDIRECT_SLOT_RINGS	16	/* offset of the rings in a slot */
#define SHMDIRECT_OFF_LOG	4096	/* u64 entries: ring << 32 | count */
#define SHMDIRECT_LOG_CAP	((SHMDIRECT_SIZE - SHMDIRECT_OFF_LOG) / 8)

/* A log entry: count messages, in a row, from ring. */
#define SHMDIRECT_RUN(ring, count)	(((uint64_t)(ring) << 32) | (count))
#define SHMDIRECT_RUN_RING(e)		((uint32_t)((e) >> 32))
#define SHMDIRECT_RUN_COUNT(e)		((uint32_t)(e))

/*
 * Where claims end: seq, the last seq claimed; runs, the log entries
 * written, in all; per ring, the position after its last record claimed
 * and the number of the message there (the ring's commit-word count).
 */
struct shmdirect_claim {
	uint64_t	seq;
	uint64_t	runs;
	uint64_t	pos[SHMDIRECT_MAX_RINGS];
	uint64_t	rec[SHMDIRECT_MAX_RINGS];
};

/*
 * The daemon: a fresh page over nrings rings (at most
 * SHMDIRECT_MAX_RINGS), whose first records are at start->pos[i], numbered
 * start->rec[i], after delivery start->seq.
 */
void	shmdirect_init(void *page, uint32_t nrings,
	    const struct shmdirect_claim *start);

/*
 * The consumer's claims. shmdirect_claimer_attach checks the page (0, or
 * -1 if it is not one) and reads where reading starts (at).
 */
struct shmdirect_claimer {
	unsigned char	*page;
	uint32_t	 nrings;
	uint64_t	 ctl;		/* claims made */
	struct shmdirect_claim at;	/* after the last claim */
};
int	shmdirect_claimer_attach(struct shmdirect_claimer *, void *page,
	    size_t len);
/* How many log entries a claim may write now. */
uint64_t shmdirect_log_room(const struct shmdirect_claimer *);
/*
 * Claims up to next (next->seq, and next->pos and next->rec of every
 * ring), in the order of runs (nruns entries, at most
 * shmdirect_log_room): true, or false if the daemon has revoked the page
 * (nothing was claimed, and nothing will be). next->runs is set.
 */
bool	shmdirect_claim(struct shmdirect_claimer *,
	    struct shmdirect_claim *next, const uint64_t *runs, size_t nruns);
/* Whether the daemon has revoked the page. */
bool	shmdirect_revoked(const struct shmdirect_claimer *);
/*
 * Stores the acknowledged seq; true if the daemon asked to be told of it
 * (it reaches the daemon's goal).
 */
bool	shmdirect_ack(struct shmdirect_claimer *, uint64_t seq);
/*
 * Says the consumer is about to sleep (how: SHMDIRECT_WAIT_SOCKET, or
 * SHMDIRECT_WAIT_WAKE if it watches the channel's wake descriptor too):
 * then wake the daemon.
 */
#define SHMDIRECT_WAIT_SOCKET	1u
#define SHMDIRECT_WAIT_WAKE	2u
void	shmdirect_set_wait(struct shmdirect_claimer *, uint32_t how);

/*
 * The daemon. shmdirect_revoke sets the revoked bit and returns what was
 * claimed (the consumer's words, to be checked). shmdirect_claimed reads
 * the same without revoking: -1 if the consumer moved it meanwhile (or
 * keeps moving it).
 */
void	shmdirect_revoke(void *page, struct shmdirect_claim *);
int	shmdirect_claimed(const void *page, struct shmdirect_claim *);
/* Log entry number i (in all; the consumer's word, to be checked). */
uint64_t shmdirect_run(const void *page, uint64_t i);
/* Says the daemon has released log entries up to number runs. */
void	shmdirect_set_freed(void *page, uint64_t runs);
/* The consumer's acknowledged seq (its word, to be checked). */
uint64_t shmdirect_acked(const void *page);
/* How the consumer said it sleeps, 0 if it did not (the word is cleared). */
uint32_t shmdirect_take_wait(void *page);
/*
 * Asks the consumer to wake the daemon once it has acknowledged seq goal
 * (0: after its next acknowledgement).
 */
void	shmdirect_want_ack(void *page, uint64_t goal);

#endif /* CHAN_SHMDIRECT_H */

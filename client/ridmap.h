/* SPDX-License-Identifier: MIT */
/*
 * ridmap.h: a connection's index from the request id of a pipelined send
 * to the transmitter waiting for its confirmation and the send's ordinal
 * (which finds its slot in the transmitter's ring, however the ring has
 * grown since).
 *
 * While sends of more than one transmitter of the connection are
 * unconfirmed, every OK or ERROR that answers no blocking request is looked
 * up here, so that finding the send it confirms costs the same with two
 * transmitters or ten thousand (a lone transmitter's replies are found in
 * its own ring, pipeline.c). An open-addressing table (linear probing, multiplicative
 * hash of the rid, deletion by backward shift): the rids of one connection
 * grow by one, but a send held by the daemon on a full channel may stay
 * unconfirmed while millions of later ones come and go, so the table is
 * keyed by hash rather than by distance from the oldest rid. It holds one
 * entry per unconfirmed send and is at most half full. It halves once as
 * many confirmations in a row as it has rows have left it under an eighth
 * full: a window of sends that fills and drains over and over would
 * otherwise halve the table on every drain and double it on every fill,
 * and each resize moves every entry. So its size follows the number of
 * unconfirmed sends over time, at an amortised O(1) cost per send, never
 * below RIDMAP_MIN.
 *
 * No locking: the caller holds the connection's mutex.
 */
#ifndef CHANCLIENT_RIDMAP_H
#define CHANCLIENT_RIDMAP_H

#include <stdint.h>

#define RIDMAP_MIN	64		/* entries, a power of two */

struct chan_tx;

struct ridmap_entry {
	uint32_t	 rid;		/* 0: empty (rid 0 is never a request) */
	uint32_t	 ord;		/* low 32 bits of the send's ordinal */
	struct chan_tx	*tx;
};

struct ridmap {
	struct ridmap_entry	*v;	/* NULL until the first put */
	uint32_t		 cap;	/* a power of two, or 0 */
	uint32_t		 shift;	/* 32 - log2(cap) */
	uint32_t		 n;	/* entries in use */
	uint32_t		 low;	/* takes in a row that left it under an
					   eighth full */
};

/* Adds rid (not 0, not present): 0, or CHAN_ENOMEM with the map intact. */
int	ridmap_put(struct ridmap *, uint32_t rid, struct chan_tx *,
	    uint32_t ord);
/*
 * Removes rid and gives what it mapped to: 0, or -1 if rid is not there
 * (a reply to a request that gave up, or no request of ours).
 */
int	ridmap_take(struct ridmap *, uint32_t rid, struct chan_tx **,
	    uint32_t *ord);
/* Frees the table; the map is empty and usable again. */
void	ridmap_free(struct ridmap *);

#endif /* CHANCLIENT_RIDMAP_H */

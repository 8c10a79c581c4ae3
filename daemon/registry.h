/* SPDX-License-Identifier: MIT */
/*
 * registry.h: the daemon's channels by name.
 *
 * A chained hash table (FNV-1a) that doubles as it fills, so lookups stay
 * O(1) with any number of channels. Channels are created on first open and
 * forgotten once idle (channel_is_idle).
 */
#ifndef CHAND_REGISTRY_H
#define CHAND_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"

struct registry {
	struct channel	**buckets;
	size_t		  nbuckets;	/* 0 or a power of two */
	size_t		  count;
	struct channel_totals totals;	/* messages held, all channels */
	/* Counters of the channels already forgotten, for daemon totals. */
	uint64_t	  gone_msgs_in;
	uint64_t	  gone_msgs_out;
	uint64_t	  gone_redeliveries;
};

/* An empty registry; it allocates on the first registry_open. */
void	registry_init(struct registry *);
/* Frees every channel and the table. */
void	registry_fini(struct registry *);

/* The channel named by len bytes of name, or NULL. */
struct channel	*registry_find(struct registry *, const void *name, size_t len);
/*
 * Finds the channel or creates it. Returns 0 with *chp set, CHAN_EBADNAME
 * for an empty or too long name, or CHAN_ENOMEM.
 */
int	registry_open(struct registry *, const void *name, size_t len,
	    struct channel **chp);
/* Frees ch if it is idle and returns true; otherwise does nothing. */
bool	registry_release(struct registry *, struct channel *ch);

#endif /* CHAND_REGISTRY_H */

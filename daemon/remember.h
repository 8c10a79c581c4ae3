/* SPDX-License-Identifier: MIT */
/*
 * remember.h: names of channels that ended disconnected.
 *
 * A channel is forgotten once nothing keeps it (channel_is_idle); if it
 * had producers, its consumer would have seen it disconnected. So that a
 * consumer that opens the name a moment later sees the same, and the
 * outcome does not depend on who came first, the name is remembered for a
 * while: at most `max` names, none for longer than `ttl_ms`, the oldest
 * dropped first. An open that finds its name here creates the channel
 * already disconnected (docs/protocol.md, Disconnection).
 *
 * A hash table for the lookup and a list in age order for expiry; no
 * libuv here, the caller passes its clock.
 */
#ifndef CHAND_REMEMBER_H
#define CHAND_REMEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct remembered;

struct remember {
	struct remembered	**buckets;
	size_t			  nbuckets;	/* 0 or a power of two */
	size_t			  count;
	size_t			  max;		/* 0: remember nothing */
	uint64_t		  ttl_ms;
	struct remembered	 *oldest;	/* age list */
	struct remembered	 *newest;
};

/* Empty; max names at most, each for ttl_ms. */
void	remember_init(struct remember *, size_t max, uint64_t ttl_ms);
/* Frees every name. */
void	remember_fini(struct remember *);
/*
 * Remembers len bytes of name as ended at when (ms), dropping names
 * expired at now and, past max, the oldest. Out of memory, the name is
 * not remembered.
 */
void	remember_put(struct remember *, const void *name, size_t len,
	    uint64_t when, uint64_t now);
/*
 * True if name is remembered and fresh at now, with *when the time it
 * ended; it is forgotten either way.
 */
bool	remember_take(struct remember *, const void *name, size_t len,
	    uint64_t now, uint64_t *when);

#endif /* CHAND_REMEMBER_H */

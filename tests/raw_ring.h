/* SPDX-License-Identifier: MIT */
/*
 * raw_ring.h: a producer on a ring that speaks the protocol by hand, for
 * the end-to-end tests: hostile producers, and producers of an older
 * library (RING_FETCH without the wake descriptor). It opens a handle on
 * fixture's daemon, asks for a ring, fetches it and maps it writable, and
 * writes it with the ring's writer, or with anything at all through map.
 * Every step asserts success and every wait is bounded by HARNESS_WAIT_MS.
 */
#ifndef CHAND_TESTS_RAW_RING_H
#define CHAND_TESTS_RAW_RING_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "shmring.h"

/* The data area of a raw producer's ring. */
#define RAW_RING_SIZE	4096u

struct raw_ring {
	struct raw_conn		 rc;
	uint32_t		 handle;
	int			 efd_daemon;
	int			 efd_prod;
	int			 wake_w;	/* the channel's wake descriptor,
						   if asked for; else -1 */
	unsigned char		*map;
	size_t			 maplen;
	struct shmring_writer	 w;
};

/*
 * RING_FETCH of token (three elements, as before the wake descriptor) on
 * a fresh connection to fixture: asserts the OK and exactly three
 * descriptors, which fds receives and the caller closes.
 */
void	raw_fetch(uint64_t token, int fds[3]);
/* Opens a producer handle on name with a ring of RAW_RING_SIZE bytes. */
void	raw_ring_open(struct raw_ring *r, const char *name);
/* raw_ring_open, fetching the channel's wake descriptor too (wake_w). */
void	raw_ring_open_wake(struct raw_ring *r, const char *name);
/* Writes the daemon's eventfd, whether or not it asked for it. */
void	raw_ring_kick(struct raw_ring *r);
/*
 * Commits s, asking the daemon for a grant first if it has none; wakes
 * nobody after the commit.
 */
void	raw_ring_put(struct raw_ring *r, const char *s);
/*
 * raw_ring_put, then what a producer without the wake descriptor does
 * after a commit: wakes the daemon if the ring says it waits (cons_wait).
 */
void	raw_ring_send(struct raw_ring *r, const char *s);
/* Closes the connection, as the producer's death does, and unmaps. */
void	raw_ring_close(struct raw_ring *r);

#endif

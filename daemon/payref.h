/* SPDX-License-Identifier: MIT */
/*
 * payref.h: payloads written from their message nodes.
 *
 * A connection's output is a byte buffer plus a list of references: "after
 * byte off of the buffer comes the payload of node m". The buffer holds
 * every frame, and for a referenced payload its DELIVER header only, so a
 * big payload is copied once in the daemon (into its node, when it is
 * read) rather than twice. Writing the output is one writev of the pieces
 * in order. Each referenced node is pinned (msgpool.h) from when it is
 * added until the list is cleared, which the owner does once the write is
 * done or can no longer happen.
 */
#ifndef CHAND_PAYREF_H
#define CHAND_PAYREF_H

#include <stddef.h>

#include <uv.h>

struct message;

struct payref {
	size_t		 off;	/* buffer bytes that go before the payload */
	struct message	*m;
};

struct payrefs {
	struct payref	*v;	/* by increasing off */
	size_t		 n;
	size_t		 cap;
	size_t		 bytes;	/* payload bytes referenced */
};

/* Empty, with no memory. */
void	payrefs_init(struct payrefs *);
/* Unpins every node and frees the list's memory; r is left empty. */
void	payrefs_fini(struct payrefs *);
/* Unpins every node; keeps the memory. */
void	payrefs_clear(struct payrefs *);
/*
 * Pins m and adds it after buffer byte off (not below the last
 * reference's). 0; CHAN_ENOMEM; or CHAN_ELIMIT when m takes no more pins,
 * and the caller copies the payload instead. r is unchanged on error.
 */
int	payrefs_add(struct payrefs *, size_t off, struct message *m);
/*
 * The len bytes of data with r's payloads spliced in, as *n buffers in
 * (*iov)[0 .. *n), growing *iov (of *cap entries) as needed. The buffers
 * point into data and the nodes. 0 or CHAN_ENOMEM.
 */
int	payrefs_iov(const struct payrefs *, const char *data, size_t len,
	    uv_buf_t **iov, size_t *cap, unsigned *n);

#endif /* CHAND_PAYREF_H */

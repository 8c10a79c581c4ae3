/* SPDX-License-Identifier: MIT */
/*
 * msgpool.h: allocation of message nodes (struct message, channel.h).
 *
 * Every message is allocated when a SEND is queued and freed when its
 * ACK arrives, in the same order, at the rate of the traffic. malloc
 * handles that pattern badly: nodes of 1 KiB payloads and more fall in
 * its large bins, each of which is searched and split, and memory it gives
 * back to the system is faulted in again at the next burst. The pool
 * carves nodes of up to MSGPOOL_MAX_LEN payload bytes from slabs of
 * MSGPOOL_SLAB bytes, one size class (16 bytes wide) per slab, and keeps
 * a node put back on its class's free list for the next one: a node then
 * costs a list operation, and a page is faulted in once in the daemon's
 * life. The slabs come from mmap, apart from malloc's heap, and are kept:
 * at most MSGPOOL_SLABS bytes of them (64 MiB, a channel's default
 * capacity in bytes), never given back before msgpool_drain. Past that
 * bound, and for bigger payloads, nodes come from malloc and go back to
 * it. Single-threaded, like the daemon.
 */
#ifndef CHAND_MSGPOOL_H
#define CHAND_MSGPOOL_H

#include <stdbool.h>
#include <stddef.h>

#define MSGPOOL_MAX_LEN	(8u * 1024)
#define MSGPOOL_SLAB	(256u * 1024)
#define MSGPOOL_SLABS	(64u << 20)

struct message;

/*
 * A node for len payload bytes, or NULL: unpinned, the rest
 * uninitialised. Allocate every struct message here: a node put back is
 * handed out again for any payload of its size class.
 */
struct message	*msgpool_get(size_t len);
/*
 * Gives back a node from msgpool_get; NULL is allowed. A pinned node is
 * only marked: its last msgpool_unpin gives it back.
 */
void		 msgpool_put(struct message *);

/*
 * Pins: a write that sends a payload from its node (conn.c) pins the node
 * until the write is done or cancelled, because an ACK, a consumer that
 * detaches or a connection that closes may put the node back meanwhile.
 * A node may be in several writes at once (delivered again after its
 * consumer went). msgpool_pin returns false when the node takes no more
 * pins; the caller then copies the payload instead.
 */
bool		 msgpool_pin(struct message *);
void		 msgpool_unpin(struct message *);
/*
 * At exit, so that leak checkers see nothing: unmaps the slabs once every
 * node carved from them is back (else keeps them). The pool may be used
 * again afterwards.
 */
void		 msgpool_drain(void);

#endif /* CHAND_MSGPOOL_H */

/*
 * msgpool.h: allocation of message nodes (struct message, channel.h).
 *
 * Every message is allocated when a SEND is queued and freed when its
 * ACK arrives, in the same order, at the rate of the traffic. malloc
 * handles that pattern badly once many nodes are free (its large bins
 * start at 1 KiB payloads) and gives memory back to the system only to
 * fault it in again at the next burst. The pool keeps freed nodes of up
 * to MSGPOOL_MAX_LEN payload bytes on one free list per 16-byte size
 * class, up to MSGPOOL_CACHE bytes in all, and hands them out again
 * before asking malloc. Single-threaded, like the daemon.
 */
#ifndef CHAND_MSGPOOL_H
#define CHAND_MSGPOOL_H

#include <stdbool.h>
#include <stddef.h>

#define MSGPOOL_MAX_LEN	(8u * 1024)
#define MSGPOOL_CACHE	(16u << 20)

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
/* Frees every cached node (at exit, so leak checkers see none). */
void		 msgpool_drain(void);

#endif /* CHAND_MSGPOOL_H */

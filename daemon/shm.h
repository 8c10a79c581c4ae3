/* SPDX-License-Identifier: MIT */
/*
 * shm.h: producer rings in shared memory (docs/protocol.md, "Shared-memory
 * data path"). A producer handle that asks (RING) gets a ring: a sealed
 * memfd the daemon maps, and two wake-up socket pairs, one each way
 * (their ends used with per-call flags, so no holder blocks another),
 * handed over a
 * second connection (RING_FETCH). The daemon drains the records the
 * producer commits into the channel as if they came in SENDs, and grants
 * each ring part of the channel's room, so that a committed record is
 * never refused and the channel never holds more than its capacity.
 *
 * The producer may be hostile: every value read from the ring is checked
 * (proto/shmring.c), and a bad one closes the producer's connection as a
 * protocol error does.
 *
 * shm.c makes and ends rings, shm_grant.c grants them room, shm_take.c
 * reads producer rings and shm_rx.c writes consumer rings; shm_int.h is
 * what they share.
 */
#ifndef CHAND_SHM_H
#define CHAND_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct channel;
struct conn;
struct handle;
struct message;
struct proto_msg;
struct server;

/* Data area of a ring unless RING asks otherwise, and the most it may. */
#define SHM_RING_DEFAULT	(1u << 20)
#define SHM_RING_MAX		(64u << 20)
/* Data areas of all rings together, at most. */
#define SHM_TOTAL_MAX		((uint64_t)1 << 30)
/* Records a ring may have granted and not yet taken, at most. */
#define SHM_GRANT_MAX		65536u
/*
 * A ring is granted ahead of demand from the daemon-wide queue limits
 * only when its share of them (half of them split among all rings) is at
 * least this many messages, and payload bytes: under tighter limits a
 * ring holds no room it does not use at once, and every send meets the
 * limits as a SEND does.
 */
#define SHM_AHEAD_MIN_MSGS	256u
#define SHM_AHEAD_MIN_BYTES	(256u << 10)
/* Seconds a RING token may wait for its RING_FETCH. */
#define SHM_TOKEN_SECS		10

/*
 * RING on producer handle h: makes its ring; 0 with *token set, or a
 * CHAN_E* code with *why saying why.
 */
int	shm_ring_new(struct conn *c, struct handle *h, uint32_t size,
	    uint64_t *token, const char **why);
/*
 * RING_FETCH as the first frame of c: sends OK with the ring's
 * descriptors, or an ERROR, and closes c.
 */
void	shm_ring_fetch(struct conn *c, const struct proto_msg *m);
/*
 * h's producer is going: takes every record committed so far, then
 * frees the ring (the producer's mapping stays valid, closed).
 */
void	shm_ring_end(struct server *, struct handle *h);
/*
 * h may send no more (its channel's receiver is gone): takes the records
 * committed so far, then closes the ring with code.
 */
void	shm_ring_refuse(struct server *, struct handle *h, int code);
/*
 * Takes the records committed so far in every ring of ch: before a
 * RECALL answers, so that a receive after a confirmed send finds it.
 */
void	shm_collect(struct server *, struct channel *ch);
/*
 * A send of len bytes on the socket comes into ch: if ch lacks the room,
 * takes back what its rings hold granted beyond their producers' claims
 * (PROTO_FEAT_CLAIMS) and lets in the held sends that fit then. Unused
 * grants never keep a send on the socket waiting.
 */
void	shm_make_room(struct server *, struct channel *ch, size_t len);
/*
 * Takes back what every claiming ring of the daemon holds unclaimed: for
 * a send the daemon-wide or per-user queue limits would refuse. False if
 * that was nothing.
 */
bool	shm_take_back_all(struct server *);
/* Room appeared in ch: grants it to ch's rings. */
void	shm_room(struct server *, struct channel *ch);
/*
 * Direct reading (shm_direct.c): a consumer on a ring that asked (DIRECT)
 * reads its channel's producer rings itself while nothing else comes into
 * the channel. shm_direct_want: DIRECT on h (0: never, 1: yes, 2: not
 * this offer, a later one may do, 3: yes, with the channel's wake
 * descriptor). shm_direct_offer: offers it
 * when ch allows (cheap when it does not). shm_direct_end: takes the
 * rings back (before anything else enters ch, or either end goes): the
 * consumer's unacknowledged records go in flight, the daemon reads the
 * rest; they are not offered again. shm_direct_pause: the same before a
 * send on the socket; the rings may be offered again after a wait, once
 * the queue has drained. shm_direct_regroup: the same when a ring comes
 * or goes; the rings left may be offered again, at once if the consumer
 * read nothing from them. shm_direct_fetch: RING_FETCH of a direct
 * token (true if it was one, answered).
 */
void	shm_direct_want(struct server *, struct handle *h, int on);
void	shm_direct_offer(struct server *, struct channel *ch);
void	shm_direct_end(struct server *, struct channel *ch);
void	shm_direct_pause(struct server *, struct channel *ch);
void	shm_direct_regroup(struct server *, struct channel *ch);
/*
 * Rings that wait for the queue to drain to be offered (shm_direct.c):
 * shm_direct_unpend ends the wait (backoff: not offered again before a
 * while); shm_direct_pending_poll answers a wake-up meanwhile.
 */
void	shm_direct_unpend(struct channel *ch, bool backoff);
void	shm_direct_pending_poll(struct server *, struct channel *ch);
/*
 * Reads every direct reader's page now (its claims and acknowledgements),
 * as a wake-up would: for a view of the daemon that is up to date.
 */
void	shm_direct_sync(struct server *);
/* shm_direct_end, telling the consumer (DIRECT_OFF) only if tell. */
void	shm_direct_take_back(struct server *, struct channel *ch, bool tell);
bool	shm_direct_fetch(struct conn *c, const struct proto_msg *m);
/*
 * For the operator's view: how many producer rings ch has, and the
 * records committed in them that neither the daemon nor a direct reader
 * has taken yet: the producers' counts, read now, less what the daemon
 * had taken or seen claimed at its last look.
 */
void	shm_pending(const struct channel *ch, uint64_t *rings,
	    uint64_t *records);
/* The daemon stops: closes the handle that spins on rings (--spin-us). */
void	shm_stop(struct server *);

/*
 * A consumer handle with a ring (RING on it): its DELIVER and
 * DISCONNECTED frames go into its connection's ring, one for all the
 * connection's consumers, and a RING_WAKE on the socket tells a consumer
 * that sleeps.
 */
/*
 * Whether a DELIVER of len payload bytes fits in h's ring now; if not,
 * the consumer wakes the daemon once it has read (and pump_channel runs).
 */
bool	shm_rx_room(struct handle *h, size_t len);
/*
 * Writes m's DELIVER into h's ring, not yet committed (shm_rx_publish
 * commits them all at once): 0, or -1 if the consumer broke the ring.
 */
int	shm_rx_deliver(struct handle *h, const struct message *m);
/* Writes DISCONNECTED into h's ring: 0; 1 no room yet; -1 no memory. */
int	shm_rx_report(struct handle *h);
/*
 * After writing for h: c's ring is to be committed when c's output is
 * flushed (shm_rx_publish).
 */
void	shm_rx_wake(struct conn *c, struct handle *h);
/*
 * Commits the frames written into c's ring, then, if the consumer sleeps,
 * puts a RING_WAKE in c's output. Called as c's output is flushed, after
 * the log records of durable channels are written: a frame in the ring
 * is seen no sooner than it would have been sent on the socket, and
 * before anything put in the output after it.
 */
void	shm_rx_publish(struct conn *c);
/* Whether c's ring holds frames shm_rx_publish has yet to commit. */
bool	shm_rx_unpublished(const struct conn *c);
/* Consumer h goes: its frames no longer go into the ring. */
void	shm_rx_ring_end(struct server *, struct handle *h);
/* c goes: frees its consumers' ring. */
void	shm_rx_conn_end(struct server *, struct conn *c);

#endif /* CHAND_SHM_H */

/* SPDX-License-Identifier: MIT */
/*
 * shm_int.h: what shm.c (a ring's life), shm_grant.c (reservations and
 * grants), shm_take.c (reading producer rings) and shm_rx.c (consumer
 * rings) share: struct shm_ring, and the functions one of them lends the
 * others. Not for other modules; they use shm.h.
 */
#ifndef CHAND_SHM_INT_H
#define CHAND_SHM_INT_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "shm.h"
#include "shmdirect.h"
#include "shmring.h"

/*
 * A ring: a producer handle's (h->ring; on ch->rings and srv->rings), or
 * the one of a connection's consumers (consumer; c->rx_ring, and h->ring
 * of each consumer that fetched it; on srv->rings). The daemon owns it,
 * its mapping and its descriptors: shm_ring_end or shm_rx_conn_end
 * unlinks it, and shm_free_cb frees it once its poll handle is closed.
 */
struct shm_ring {
	struct server	*srv;
	struct handle	*h;		/* NULL once the producer is gone */
	struct channel	*ch;
	struct shm_ring	*ch_next;	/* ch->rings */
	struct shm_ring	*srv_next;	/* srv->rings */
	unsigned char	*map;
	size_t		 maplen;
	uint32_t	 data_size;
	int		 fd;		/* the memfd */
	/*
	 * Wake-ups go over socket pairs (shm_wake), used with per-call
	 * flags: nothing a client does to the ends it holds (their flags,
	 * filling them, reading them) makes the daemon block.
	 */
	int		 efd_daemon;	/* the producer wakes the daemon: the
					   end the daemon reads */
	int		 kick_w;	/* the end the producer writes,
					   passed on; kept, so that only a
					   shutdown(2) makes the pair end */
	int		 efd_prod;	/* the daemon wakes the producer: the
					   end the daemon writes */
	int		 prod_r;	/* the end the producer reads */
	int		 wake_r;	/* its wake descriptor's end a direct
					   reader receives on (the producer
					   sends on the other); or -1 */
	uv_poll_t	 poll;
	bool		 polling;
	bool		 again;		/* on srv->shm_again */
	struct shm_ring	*again_next;
	bool		 bad;
	struct shmring_reader rd;
	uint64_t	 taken_bytes;
	uint64_t	 grant_msgs;	/* published, in all */
	uint64_t	 grant_bytes;
	uint64_t	 resv_msgs;	/* granted, unused, counted in ch */
	uint64_t	 resv_bytes;	/* and in srv */
	uint64_t	 wait_msgs;	/* waited for, counted in srv */
	uint64_t	 wait_bytes;
	uint64_t	 token;
	uint64_t	 token_until;	/* uv_now */
	uid_t		 uid;
	bool		 fetched;
	/* Its producer claims its grant: what it has not claimed may be
	   taken back (PROTO_FETCH_CLAIMS). */
	bool		 claims;
	/* A consumer's ring: the daemon writes, the consumer reads. */
	bool		 consumer;
	struct conn	*conn;		/* NULL once it is gone */
	struct shmring_writer w;
	bool		 unpublished;	/* frames written, head not stored */
	uint32_t	 wake_handle;	/* a handle they were written for */
	/* Direct reading (shm_direct.c): its reader, or NULL; offered once. */
	struct shm_direct *direct;
	bool		 direct_done;
	/* After a stall, no new offer before direct_again (uv_now, ms). */
	uint64_t	 direct_again;
	uint32_t	 direct_backoff;	/* ms, doubling with each stall */
	/* Offers taken back, in a row, before the consumer read from them. */
	uint32_t	 direct_unused;
	/* One pass of shm_take_channel: */
	bool		 peeked;	/* pk_* hold the next record */
	const unsigned char *pk_data;
	uint32_t	 pk_len;
	uint64_t	 pk_stamp;
	size_t		 took;		/* records taken in the pass */
	size_t		 drained;	/* records taken since the wake-up */
	/*
	 * While the daemon answers a wake-up of the ring's channel
	 * (shm_poll_cb), the wake-ups its producer is owed are one, written
	 * at the end.
	 */
	bool		 wake_held;
	bool		 wake_due;
	/*
	 * Its producer, blocked with no deadline, ran out of its ring's
	 * space, and has not been woken since (shm_grant.c).
	 */
	bool		 space_wait;
	/*
	 * The daemon woke its producer, which has not woken the daemon
	 * since (shm_poll_cb) nor begun another wait (its waits word, once
	 * woken_waits): it has not yet run and looked again, so waking it
	 * once more would be a system call for nothing (shm_woken).
	 */
	bool		 woken;
	uint32_t	 woken_waits;
	/*
	 * Its producer fetched the channel's wake descriptor: it swaps
	 * cons_sleeps after a commit and wakes a direct reader itself.
	 */
	bool		 cons_wake;
};

/*
 * Rings whose share is at least this many messages get their grants in
 * batches while their consumer reads them directly (shm_grant.c).
 */
#define SHM_GRANT_BATCH_MIN	64u
/* Passes of one wake-up before the daemon turns to other work. */
#define SHM_DRAIN_PASSES	8
/* Passes that take what was committed before a collect, at most. */
#define SHM_COLLECT_PASSES	4

struct shm_direct;

/* shm.c: a ring's life. */
/*
 * A direct reader's page, its wake-up, its rings' descriptors and the
 * channel's wake descriptor.
 */
#define SHM_FDS_MAX	(2 + 2 * SHMDIRECT_MAX_RINGS)

/* Sends OK(rid) with n descriptors (at most SHM_FDS_MAX) on c: 0, or -1. */
int	shm_send_fds(struct conn *c, uint32_t rid, const int *fds, size_t n);
/*
 * Sends a wake-up on fd, an end of a wake-up socket pair, never blocking
 * whatever the end's flags (a client may share that end): a full one
 * wakes its reader already.
 */
void	shm_wake(int fd);
/*
 * Empties fd, the daemon's end of a wake-up socket pair, of up to 4 KiB
 * without blocking: what is left wakes the loop again. -1 if the pair
 * is shut (the daemon holds the other end too, so a client shut it:
 * shutdown(2) acts for every holder): the end stays readable for ever,
 * so the caller stops watching it.
 */
int	shm_drain_fd(int fd);
/* A wake-up socket pair, both ends non-blocking: 0, or -1 (errno). */
int	shm_wake_pair(int p[2]);
/*
 * The rings of ch may have moved (a producer or the direct reader woke
 * the daemon): the direct reader's page, or the rings, are looked at.
 */
void	shm_look(struct server *, struct channel *ch);

/*
 * Wakes r's waiting producer: its wake pipe, and a RING_WAKE on its socket
 * if it waits in an event loop and its connection still takes output.
 */
void	shm_wake_producer(struct shm_ring *r);
/* Whether r's producer was woken and has not run since (r->woken). */
bool	shm_woken(const struct shm_ring *r);
/*
 * The parts every ring has, for handle h on c: the memory (size data
 * bytes), the wake-up socket pairs, the token and the watch on the end
 * the daemon reads (poll_cb). The ring is on srv->rings and h->ring;
 * the caller sets up the rest (the header, ch->rings or c->rx_ring). 0
 * with *rp set, or a CHAN_E* code with *why.
 */
int	shm_ring_make(struct conn *c, struct handle *h, uint32_t size,
	    uv_poll_cb poll_cb, struct shm_ring **rp, const char **why);
/*
 * The close callback of a ring's poll handle: unmaps the ring, closes its
 * descriptors and frees it. The caller has unlinked it from every list.
 */
void	shm_free_cb(uv_handle_t *handle);

/* shm_grant.c: reservations and grants. */
/*
 * Grants r what its waiting producer asks, within its share of the room
 * and the daemon-wide limits; a request those limits refuse waits for
 * the producer's wake-up.
 */
void	shm_grant(struct shm_ring *r);
/*
 * After shm_drain took r's records (active if it took any): grants r as
 * shm_grant does, and tops an active ring up to its share; a request the
 * daemon-wide limits refuse closes the ring with LIMIT (shm_limit).
 */
void	shm_grant_as(struct shm_ring *r, bool active);
/*
 * r holds nothing granted or waited for any more: its reservations go
 * back to the channel and the daemon-wide limits.
 */
void	shm_release(struct shm_ring *r);
/*
 * What r's waiting producer is to have before it is woken, while its
 * channel's grants come in batches (shm_direct_batching): messages of
 * room before it is granted (room in bytes counted in messages of the
 * mean size it has sent, its word, so only a hint); or, with *space set,
 * records of its ring to be freed (their acknowledgement frees them)
 * before its ring has the space to gather. 0 if any room or space may be
 * what it waits for; SHM_SHORT_NONE if it waits for nothing (it does not
 * wait, or has been woken to what it asked for).
 */
#define SHM_SHORT_NONE	UINT64_MAX
uint64_t shm_grant_short(const struct shm_ring *r, bool *space);
/*
 * msgs records of bytes payload bytes in all were taken from r: what they
 * used of r's grant is no longer reserved (the channel counts them now).
 */
void	shm_unreserve(struct shm_ring *r, uint64_t msgs, uint64_t bytes);
/*
 * Takes back what the rings of ch hold granted beyond their producers'
 * claims (rings whose producer claims): false if that was nothing.
 */
bool	shm_take_back(struct channel *ch);

/* shm_take.c: reading producer rings. */
/*
 * The poll callback of the end a producer ring's wake-ups reach: takes
 * the records of all the rings of its channel into the channel
 * (shm_drain) and pumps it.
 */
void	shm_poll_cb(uv_poll_t *poll, int status, int events);
/*
 * Makes the daemon look at r on its next turn, as its producer's wake-up
 * would, through a handle of its own: not by writing the end its
 * producer holds, which the producer may have shut.
 */
void	shm_look_again(struct shm_ring *r);
/*
 * Takes every record committed in r into its channel, in r's order, as
 * if r were its channel's lone ring, adding them to r->took. The caller
 * pumps the channel.
 */
void	shm_take_ring(struct shm_ring *r);
/*
 * Takes what ch's rings committed before now (bounded passes) into ch;
 * returns how many. The caller pumps ch or answers its rings.
 */
size_t	shm_take_now(struct channel *ch);
/*
 * Takes r's next committed record out of the ring without queueing it,
 * as shm_take_ring would (its grant checked): true with *p and *len,
 * valid until the ring's space is released; false if there is none or r
 * went bad. The caller has polled the head and cleared r->peeked.
 */
bool	shm_take_next(struct shm_ring *r, const unsigned char **p,
	    uint32_t *len);
/*
 * Takes up to max messages as shm_take_next does, for a consumer that
 * read them itself (shm_direct.c), with one update of the reservations
 * for all of them: how many. A bundle it takes whole is taken from its
 * header, its frames unread (the consumer checked them).
 */
uint64_t shm_take_run(struct shm_ring *r, uint64_t max);
/* Tells ch's rings whether there is one (alone): it needs no stamps. */
void	shm_set_alone(struct channel *ch, bool alone);
/*
 * After a pass: each producer learns of the room its records freed or
 * the grant it asked for.
 */
void	shm_answer_rings(struct channel *ch);
/*
 * ch no longer spins (--spin-us): its rings went back to sleep, or its
 * last ring is gone. Safe while shm_spin_cb walks the list.
 */
void	shm_spin_unlink(struct server *srv, struct channel *ch);

/* shm_direct.c: consumers that read a producer's ring. */
/* A ring of ch, read by its consumer, woke the daemon. */
void	shm_direct_poll(struct server *srv, struct channel *ch);
/*
 * Whether ch's grants may wait for room to gather: its consumer reads the
 * rings directly and has claimed since it last stopped for a while.
 */
bool	shm_direct_batching(const struct channel *ch);

/* shm_rx.c: consumer rings. */
/*
 * RING on consumer handle h (shm_ring_new sends it here): makes c's ring
 * the first time, which c then owns (c->rx_ring); h's frames go into it
 * once the consumer has fetched it. 0 with *token set, or a CHAN_E* code
 * with *why.
 */
int	shm_rx_ring_new(struct conn *c, struct handle *h, uint32_t size,
	    uint64_t *token, const char **why);

#endif /* CHAND_SHM_INT_H */

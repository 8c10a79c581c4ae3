/* SPDX-License-Identifier: MIT */
/*
 * shmring.h: the shared-memory ring of one producer handle (the layout is
 * docs/protocol.md, "Shared-memory data path"). No I/O and no system
 * calls: the caller maps the memory and does the waking.
 *
 * One writer and one reader: a producer's ring is written by the producer
 * and read by the daemon; a consumer's ring is written by the daemon and
 * read by the consumer. Either side may be hostile: it can write anything
 * anywhere in the mapping at any time. So the reader keeps its own
 * cursors (struct shmring_reader) and never reads back a field it
 * writes; it reads the writer's head once, and each record header once,
 * and checks every value before it uses it: a bad record is a verdict on
 * the writer alone. The writer keeps its own head and counts likewise,
 * and what the reader can change only stops it or makes it overwrite
 * records that reader has not read.
 */
#ifndef CHAN_SHMRING_H
#define CHAN_SHMRING_H

#include <sys/uio.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHMRING_MAGIC		0x52534843u	/* "CHSR", little-endian */
#define SHMRING_VERSION		2u
#define SHMRING_HDR_SIZE	4096u		/* the data area's offset */
#define SHMRING_MIN_DATA	4096u
#define SHMRING_MAX_DATA	(1u << 30)
#define SHMRING_REC_HDR		16u		/* length, commit word, stamp */
#define SHMRING_ALIGN		8u
#define SHMRING_PAD		0xffffffffu	/* length of a padding record */
#define SHMRING_COMMIT		0x4c4e4843u	/* "CHNL": commit word base */
/*
 * A record whose length word has this bit is a bundle: its body holds
 * several messages (shmring_put_run_in writes them where the ring's flags
 * allow). The body is a count word, a bytes word, then each message as a
 * length word and its payload padded to 4 bytes.
 */
#define SHMRING_BUNDLE		0x80000000u
#define SHMRING_BUNDLE_HDR	8u		/* count, payload bytes */
/*
 * The most messages a writer puts in one bundle: a direct reader's bite
 * (the C library's: at most 512 messages) then takes bundles whole, and
 * the daemon follows its claims a bundle at a time, never frame by frame.
 */
#define SHMRING_BUNDLE_MAX_MSGS	512u
/*
 * The part of its grant a producer that claims (shmring_claim_grants)
 * claims at a time: messages, and payload bytes (or two of its largest
 * records, if more). It claims again when less than half is left.
 */
#define SHMRING_CLAIM_MSGS	1024u
#define SHMRING_CLAIM_BYTES	65536u

/* The payload bytes of a part, for a ring of records up to max_record. */
static inline uint64_t
shmring_claim_part_bytes(uint32_t max_record)
{
	uint64_t	two = 2 * (uint64_t)max_record;

	return (two > SHMRING_CLAIM_BYTES ? two : SHMRING_CLAIM_BYTES);
}

/* flags: what the ring's reader accepts, written by the daemon. */
#define SHMRING_FLAG_BUNDLES	1u	/* bundle records */

/* prod_wait: how a waiting producer is woken. */
#define SHMRING_WAIT_EVENTFD	1u	/* its eventfd */
#define SHMRING_WAIT_SOCKET	2u	/* also RING_WAKE on its socket: it
					   waits in an event loop */
#define SHMRING_WAIT_BATCH	3u	/* its eventfd; it waits with no
					   deadline, so the daemon may let
					   room gather before it grants */

/*
 * want of a producer that waits for the daemon to take every record (a
 * send on the socket must come after them): a consumer reading the ring
 * directly gives it back to the daemon.
 */
#define SHMRING_WANT_DRAIN	0xffffffffu

/* Header field offsets (bytes from the start of the mapping). */
#define SHMRING_OFF_MAGIC	0	/* u32 */
#define SHMRING_OFF_VERSION	4	/* u16 */
#define SHMRING_OFF_HDR_SIZE	6	/* u16 */
#define SHMRING_OFF_DATA_SIZE	8	/* u32 */
#define SHMRING_OFF_MAX_RECORD	12	/* u32 */
#define SHMRING_OFF_FLAGS	16	/* u32: SHMRING_FLAG_* */
/* The producer's line. */
#define SHMRING_OFF_HEAD	64	/* u64: bytes committed, in all */
#define SHMRING_OFF_SENT	72	/* u64: records committed, in all */
#define SHMRING_OFF_SENT_BYTES	80	/* u64: payload bytes committed */
#define SHMRING_OFF_PROD_WAIT	88	/* u32: while the producer waits, how
					   it is woken (SHMRING_WAIT_*) */
#define SHMRING_OFF_WANT	92	/* u32: payload bytes of the record it
					   waits to commit */
#define SHMRING_OFF_ASK		96	/* u32: requests for a grant, in all */
#define SHMRING_OFF_WAITS	100	/* u32: waits begun, in all */
#define SHMRING_OFF_CLAIM_MSGS	104	/* u64: records the producer may
					   commit, in all, within its grant
					   (PROTO_FEAT_CLAIMS) */
#define SHMRING_OFF_CLAIM_BYTES	112	/* u64: payload bytes, likewise */
/* The daemon's line. */
#define SHMRING_OFF_TAIL	128	/* u64: bytes released, in all */
#define SHMRING_OFF_TAKEN	136	/* u64: records taken, in all */
#define SHMRING_OFF_GRANT_MSGS	144	/* u64: records the producer may
					   have committed, in all */
#define SHMRING_OFF_GRANT_BYTES	152	/* u64: payload bytes, likewise */
#define SHMRING_OFF_CONS_WAIT	160	/* u32: 1 while the daemon sleeps */
#define SHMRING_OFF_CLOSED	164	/* u32: nonzero: the daemon reads no
					   more (a CHAN_E* code, negated) */
#define SHMRING_OFF_ANSWERED	168	/* u32: the last ask answered */
#define SHMRING_OFF_ALONE	172	/* u32: 1 while the ring is its
					   channel's only one: no stamps */
#define SHMRING_OFF_WATCHED	176	/* u32: 1 while the daemon looks at
					   a wait with no deadline unwoken */
#define SHMRING_OFF_CONS_SLEEPS	180	/* u32: 1 while a direct reader
					   sleeps on the channel's wake
					   descriptor (PROTO_FEAT_WAKE) */

/* The space a record of len payload bytes takes in the data area. */
static inline uint64_t
shmring_rec_size(uint32_t len)
{
	return (SHMRING_REC_HDR + (((uint64_t)len + SHMRING_ALIGN - 1) &
	    ~(uint64_t)(SHMRING_ALIGN - 1)));
}

/* The space a message of len payload bytes takes in a bundle's body. */
static inline uint64_t
shmring_frame_size(uint32_t len)
{
	return (4 + (((uint64_t)len + 3) & ~(uint64_t)3));
}

/*
 * Copies a payload into or out of a ring: a small one with moves of fixed
 * size, which the compiler makes loads and stores in line, not a call.
 */
static inline void
shmring_copy(unsigned char *d, const unsigned char *s, size_t len)
{
	uint64_t	w;

	if (len == 16) {
		__builtin_memcpy(d, s, 16);
		return;
	}
	if (len > 64) {
		__builtin_memcpy(d, s, len);
		return;
	}
	for (; len >= 8; d += 8, s += 8, len -= 8) {
		__builtin_memcpy(&w, s, 8);
		__builtin_memcpy(d, &w, 8);
	}
	while (len-- > 0)
		*d++ = *s++;
}

/*
 * The commit word of the record whose first message is number n (0 for
 * the first message the ring holds).
 */
static inline uint32_t
shmring_commit_word(uint64_t n)
{
	return (SHMRING_COMMIT ^ (uint32_t)n);
}

/* Whether data_size and max_record make a valid ring. */
bool	shmring_valid_sizes(uint32_t data_size, uint32_t max_record);
/*
 * The largest max_record for a data area of data_size bytes: a record
 * and the padding in front of it always fit in an empty ring.
 */
uint32_t shmring_max_record(uint32_t data_size);

/* Writes a fresh header into base (SHMRING_HDR_SIZE + data_size bytes). */
void	shmring_init(void *base, uint32_t data_size, uint32_t max_record);

/*
 * The writer: the producer's view of a mapping. shmring_attach checks
 * the header the daemon wrote: 0, or -1 if it is not a ring of map_size
 * bytes.
 */
struct shmring_writer {
	unsigned char	*base;
	unsigned char	*data;
	uint32_t	 data_size;
	uint32_t	 max_record;
	uint64_t	 head;		/* own copy of what it published */
	uint64_t	 sent;
	uint64_t	 sent_bytes;
	bool		 bundles;	/* the reader accepts bundles */
	bool		 prefetch;	/* the CPU prefetches for writing */
	/*
	 * Claims (shmring_claim_grants): what it commits within, published
	 * before it counts on them, so the daemon may take back the rest.
	 */
	bool		 claims;
	uint64_t	 claim_msgs;
	uint64_t	 claim_bytes;
	/* The bundle shmring_add writes into (ob_count > 0), not closed. */
	uint64_t	 ob_pos;	/* its record's ring position */
	uint64_t	 ob_first;	/* its first message's number */
	uint64_t	 ob_stamp;	/* its messages' latest stamp */
	uint32_t	 ob_count;
	uint32_t	 ob_bytes;	/* payload bytes */
	uint32_t	 ob_body;	/* its body's size so far */
};
int	shmring_attach(struct shmring_writer *, void *base, size_t map_size);
/*
 * From now on the writer commits only within what it has claimed, and
 * claims its grant a part at a time (SHMRING_CLAIM_MSGS, and bytes for a
 * few of its largest records): the daemon may take back any grant it has
 * not claimed (shmring_take_back), so a producer that stops sending holds
 * at most that part of its channel. For a producer that said so when it
 * fetched the ring (PROTO_FEAT_CLAIMS).
 */
void	shmring_claim_grants(struct shmring_writer *);
/*
 * Commits one record stamped stamp (CLOCK_MONOTONIC in nanoseconds, read
 * after the send began): 0; CHAN_EFULL if the ring lacks room or the
 * daemon's grant is used up; CHAN_ETOOBIG if len > max_record;
 * CHAN_ECONNLOST if the daemon closed the ring.
 */
int	shmring_put(struct shmring_writer *, const void *p, uint32_t len,
	    uint64_t stamp);
/* shmring_put of the alen bytes at a followed by the blen at b. */
int	shmring_put2(struct shmring_writer *, const void *a, uint32_t alen,
	    const void *b, uint32_t blen, uint64_t stamp);
/*
 * shmring_put2, but the record is not committed yet: a writer of many
 * records commits them together with shmring_publish (one sequentially
 * consistent store instead of one a record), or with the next put. The
 * reader sees none of them before.
 */
int	shmring_put2_held(struct shmring_writer *, const void *a,
	    uint32_t alen, const void *b, uint32_t blen, uint64_t stamp);
/*
 * Commits every record written so far (closing an open bundle, as
 * shmring_close_bundle): publishes the counts and head.
 */
void	shmring_publish(struct shmring_writer *);
/*
 * Appends a message of len bytes, stamped stamp, to the writer's open
 * bundle, which grows message by message (pipelined sends, each written
 * when its call comes): 0, or CHAN_EFULL (no room or grant now),
 * CHAN_ETOOBIG, CHAN_ECONNLOST. A bundle is opened at the head (after
 * padding if the data area's end is too near) when none is open or the
 * open one cannot take the message. Nothing is committed: the bundle is
 * closed by shmring_close_bundle, by any other write and by
 * shmring_publish, which then commits it. It carries its messages'
 * latest stamp, read after every message of it began. Where the ring's flags
 * do not allow bundles, the message is written as a record
 * (shmring_put2_held).
 */
int	shmring_add(struct shmring_writer *, const void *p, uint32_t len,
	    uint64_t stamp);
/*
 * Appends a message to the open bundle without a stamp of its own: 0; or
 * 1, having written nothing, if there is no open bundle or it cannot take
 * the message (or the room or grant says no), and shmring_add must write
 * it with a stamp. The bundle's stamp, read after its last message began,
 * is then given by that shmring_add (which closes it), by the stamp of any
 * other write that closes it, or by shmring_stamp_bundle before
 * shmring_publish: a writer of stamped rings reads its clock once a
 * bundle, not once a message.
 */
int	shmring_add_unstamped(struct shmring_writer *, const void *p,
	    uint32_t len);
/* Raises the open bundle's stamp to stamp, if it is later. */
void	shmring_stamp_bundle(struct shmring_writer *, uint64_t stamp);
/* Writes the open bundle's header (count, bytes, stamp, length): closed. */
void	shmring_close_bundle(struct shmring_writer *);
/*
 * The room a writer of a batch has: the daemon's grant and the ring's
 * tail, read once (shmring_room: 0, or CHAN_ECONNLOST if the daemon
 * closed the ring). shmring_put_run_in writes within it, reading no
 * word the daemon writes: CHAN_EFULL once it is used up (read it again:
 * the daemon may have released or granted more meanwhile).
 */
struct shmring_room {
	uint64_t	 msgs;
	uint64_t	 bytes;
	uint64_t	 tail;
};
int	shmring_room(struct shmring_writer *, struct shmring_room *);
/*
 * Writes the n messages of v as records stamped stamp within room, not
 * committed (as shmring_put2_held does), stopping after the message that
 * brings the bytes written to budget or more: how many. Where the ring's
 * flags allow, consecutive messages go as one bundle record. It stops before
 * a message over limit bytes or the ring's max_record (*rc CHAN_ETOOBIG),
 * one without its data (CHAN_EINVAL), or one the room does not take
 * (CHAN_EFULL); *rc is 0 if it did not stop.
 */
size_t	shmring_put_run_in(struct shmring_writer *,
	    const struct shmring_room *, const struct iovec *v, size_t n,
	    size_t limit, size_t budget, uint64_t stamp, int *rc);

/* What shmring_put of len bytes would return now, writing nothing. */
int	shmring_fits(struct shmring_writer *, uint32_t len);
/*
 * The producer sleeps (v, SHMRING_WAIT_*) or not (0): the daemon wakes it
 * on a change. Each wait is counted (waits) before prod_wait is set.
 */
void	shmring_set_prod_wait(struct shmring_writer *, uint32_t v);
/* The payload bytes of the record the producer is about to wait for. */
void	shmring_set_want(struct shmring_writer *, uint32_t len);
/*
 * Asks the daemon for a grant for len bytes (the caller sets prod_wait
 * and wakes the daemon): returns the ask's number, answered once
 * shmring_answered says so.
 */
uint32_t shmring_ask(struct shmring_writer *, uint32_t len);
bool	shmring_answered(const struct shmring_writer *, uint32_t ask);
/*
 * After a put: true if the daemon sleeps and this call is the one that
 * takes its wake-up (cons_wait swapped from 1 to 0): then write its
 * eventfd.
 */
bool	shmring_take_wake(struct shmring_writer *);
/*
 * After a put, for a producer that holds its channel's wake descriptor:
 * true if a direct reader sleeps on it and this call is the one that takes
 * its wake-up (cons_sleeps swapped from 1 to 0): then write that eventfd.
 */
bool	shmring_take_cons_sleeps(struct shmring_writer *);
/* Whether every committed record has been taken by the daemon. */
bool	shmring_drained(const struct shmring_writer *);
/* The daemon's close code (a CHAN_E* value) or 0. */
int	shmring_closed(const struct shmring_writer *);
/*
 * Whether a send beginning now needs a stamp: false while the ring is
 * its channel's only one (the daemon takes its records in their order
 * and reads no stamp), so the producer may write 0 and read no clock.
 * Read it as the send begins, before the clock.
 */
bool	shmring_stamp_needed(const struct shmring_writer *);
/*
 * Whether the daemon will look at a wait with no deadline
 * (SHMRING_WAIT_BATCH) without being woken: read after prod_wait is set;
 * then the producer sleeps without writing the daemon's eventfd (the
 * waits count set_prod_wait kept tells the daemon it began a new wait).
 */
bool	shmring_watched(const struct shmring_writer *);

/*
 * The reader: the daemon's private cursors, never read back from the
 * mapping.
 */
struct shmring_reader {
	const unsigned char *data;
	uint32_t	 data_size;
	uint32_t	 max_record;
	uint64_t	 pos;		/* next message's position, in all */
	uint64_t	 tail;		/* pos as last released */
	uint64_t	 taken;		/* messages returned */
	uint64_t	 head;		/* the producer's head, as last read */
	uint64_t	 peeked;	/* bytes of the message peeked at */
	/* Within a bundle (b_left > 0): what its header said, checked. */
	uint32_t	 b_left;	/* messages not yet returned */
	uint64_t	 b_bytes;	/* their payload bytes */
	uint64_t	 b_end;		/* where its body ends */
	uint64_t	 b_next;	/* where the next record starts */
	uint64_t	 b_stamp;
	uint32_t	 b_len;		/* payload bytes of the one peeked at */
};
void	shmring_reader_init(struct shmring_reader *, const void *base,
	    uint32_t data_size, uint32_t max_record);
/*
 * A reader of the ring a writer made, mapped at base (map_size bytes):
 * 0, or -1 if its header is not a valid ring's.
 */
int	shmring_reader_attach(struct shmring_reader *, const void *base,
	    size_t map_size);
/*
 * Reads the producer's head (acquire): the records before it may be
 * read. -1 if the head is impossible (behind the reader, more than the
 * ring ahead of it, or not aligned): the producer is bad.
 */
int	shmring_poll(struct shmring_reader *, const void *base);
/*
 * The next committed message before the head read by shmring_poll,
 * without taking it: 1 with *payload, *len and *stamp set (valid until
 * shmring_release), 0 if there is none, -1 if its record is bad (the
 * producer is bad). Padding records are skipped; a bundle's messages are
 * returned one by one, each checked as it comes (a bad one after good
 * ones of the same bundle is found when it comes). The record's bytes stay
 * in the ring, which the producer may still scribble over: copy them out
 * before use. The stamp is the producer's word: any value is possible.
 */
int	shmring_peek(struct shmring_reader *, const unsigned char **payload,
	    uint32_t *len, uint64_t *stamp);
/*
 * Whether the writer's head has moved from pos: a look for a reader that
 * spins without holding its cursors (nothing is checked; shmring_poll
 * does that). Sequentially consistent, like shmring_poll: after
 * shmring_set_cons_wait it sees a head the writer stored before it read
 * cons_wait.
 */
bool	shmring_moved(const void *base, uint64_t pos);
/*
 * The bytes of the data area the writer's records use, from the reader's
 * tail to the head the writer published now (read as shmring_poll does,
 * and nothing else checked): a reader that has not polled lately sees the
 * writer's space as the writer does. An impossible head counts as a full
 * ring.
 */
uint64_t shmring_used(const struct shmring_reader *, const void *base);
/*
 * Whether the writer, at the head it published now, has the space for a
 * record of len payload bytes (and the padding before it) before the
 * reader's tail; false for an impossible head.
 */
bool	shmring_writer_fits(const struct shmring_reader *, const void *base,
	    uint32_t len);
/* Takes the message the last shmring_peek returned. */
void	shmring_skip(struct shmring_reader *);
/* Whether the reader is between records (not within a bundle). */
bool	shmring_at_record(const struct shmring_reader *);
/*
 * For a reader that follows what another reader checked (the daemon
 * following a direct reader's claims): if the next record is a bundle of
 * at most max messages, takes it whole from its header alone (*msgs,
 * *bytes), without reading its frames: 1. Within a bundle, takes the
 * rest of it so if it is at most max messages. 0 if the next record is
 * not a bundle or holds more (take its messages one by one), or there
 * is none; -1 if its header is bad.
 */
int	shmring_skip_bundle(struct shmring_reader *, uint64_t max,
	    uint64_t *msgs, uint64_t *bytes);
/*
 * Takes a run of messages as shmring_peek and shmring_skip would, one
 * after the other: up to max of them, and no more once their payloads
 * reach budget bytes. out[i] says where each one's payload is and how
 * long (as shmring_peek's, valid until shmring_release). A run that has
 * messages ends before a bundle it cannot take whole (shmring_next_whole);
 * one that starts with a bundle of at most max messages takes it whole,
 * past budget: so runs end where bundles do. How many; -1 only
 * if the first is bad (a bad one after good ones ends the run, and the
 * next call says so).
 */
struct shmring_rec {
	const unsigned char	*p;
	uint32_t		 len;
};
/*
 * Whether a run of at most max messages and budget payload bytes would
 * take the next record whole: a record, or a bundle (the rest of one the
 * reader is within) of no more than both, as its header says; true if
 * there is none.
 */
bool	shmring_next_whole(struct shmring_reader *, size_t max,
	    size_t budget);
int64_t	shmring_take_run(struct shmring_reader *, struct shmring_rec *out,
	    size_t max, size_t budget);
/*
 * A merge of several rings takes their records in the order of their
 * stamps, by the daemon's rule (docs/protocol.md, "Layout of a ring"):
 * t0 read before the heads were polled, t1 after; a stamp after t1 counts
 * as t0 (a producer's clock cannot be ahead of the reader's). limit: a
 * run stops before a message that counts as stamped after it.
 */
struct shmring_window {
	uint64_t	t0;
	uint64_t	t1;
	uint64_t	limit;
};
static inline uint64_t
shmring_stamp_eff(const struct shmring_window *w, uint64_t stamp)
{
	return (stamp > w->t1 ? w->t0 : stamp);
}
/*
 * shmring_take_run, stopping before a message stamped after w->limit (no
 * limit if w is NULL), with *bytes the payload bytes of what it took.
 */
int64_t	shmring_take_run_until(struct shmring_reader *,
	    struct shmring_rec *out, size_t max, size_t budget,
	    const struct shmring_window *w, size_t *bytes);
/* shmring_peek, then shmring_skip if it found a record. */
int	shmring_next(struct shmring_reader *, const unsigned char **payload,
	    uint32_t *len);
/*
 * Gives the space of every message returned so far back to the producer:
 * publishes the tail (pos: within a bundle, what is not yet returned
 * stays the reader's) and the number taken (release).
 */
void	shmring_release(struct shmring_reader *, void *base);
/* Publishes the producer's grant: records and payload bytes, in all. */
void	shmring_grant(void *base, uint64_t msgs, uint64_t bytes);
/*
 * Takes back the grant (*msgs, *bytes, as published) of a producer that
 * claims (shmring_claim_grants) down to what it has claimed, never below
 * floor_msgs and floor_bytes (what the daemon has taken): lowers the
 * published grant, then reads the claims again, so that a claim made
 * meanwhile on the old grant keeps what it claimed. Sets *msgs and
 * *bytes to the grant that stands. A producer that claims less than it
 * commits finds its records beyond that grant.
 */
void	shmring_take_back(void *base, uint64_t *msgs, uint64_t *bytes,
	    uint64_t floor_msgs, uint64_t floor_bytes);
/* Closes the ring with code (a CHAN_E* value): the producer stops. */
void	shmring_close(void *base, int code);
/* What the producer says it has committed, in all (not trusted). */
void	shmring_sent(const void *base, uint64_t *msgs, uint64_t *bytes);
/* Whether the producer said it sleeps (then wake it after a change). */
bool	shmring_producer_waits(const void *base);
/* How the waiting producer asked to be woken: SHMRING_WAIT_*, or 0. */
uint32_t shmring_producer_wait_kind(const void *base);
/* What the waiting producer wants to commit, bytes (not trusted). */
uint32_t shmring_producer_want(const void *base);
/* Marks the producer's asks so far answered (after a grant or none). */
void	shmring_answer(void *base);
/* Whether every ask so far has been answered. */
bool	shmring_asked_answered(const void *base);
/* The daemon sleeps (1) or not (0): the producer wakes it after a put. */
void	shmring_set_cons_wait(void *base, uint32_t v);
/* A direct reader sleeps on the wake descriptor (1) or not (0). */
void	shmring_set_cons_sleeps(void *base, uint32_t v);
/*
 * Whether cons_wait is set: a reader that clears it looks first, so that
 * a word already 0 is not written (the writer reads that cache line).
 */
bool	shmring_cons_waits(const void *base);
/*
 * Says whether the ring is its channel's only one (alone). Clear it on
 * every ring before another ring of the channel is granted anything, so
 * that a send which follows one on the new ring is stamped.
 */
void	shmring_set_alone(void *base, bool alone);
/*
 * Says whether the daemon will look at the producer's waits with no
 * deadline without being woken (watched). Clear it before the last look
 * that would see such a wait: a producer that read 1 set prod_wait before
 * the clear, so that look sees it.
 */
void	shmring_set_watched(void *base, bool watched);
/* The waits the producer began, in all (its word: a count to compare). */
uint32_t shmring_waits_begun(const void *base);

#endif /* CHAN_SHMRING_H */

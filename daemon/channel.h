/* SPDX-License-Identifier: MIT */
/*
 * channel.h: one named channel: a FIFO of messages, its producers, its
 * consumer slot, credit and the messages in flight; its capacity and the
 * sends held while it is full.
 *
 * No I/O and no libuv here (like nng's lmq): callers change the state and
 * then ask what may be delivered or reported. Single-threaded.
 *
 * Held sends: a send that finds the channel full (channel_send) waits in
 * the channel's FIFO of held sends, holding its message, until room
 * appears (the consumer takes a message), its deadline passes or its
 * producer goes (channel_discard). Held sends leave the FIFO only from its
 * head when they are queued or delivered, so none overtakes another; an
 * expired or discarded one may leave from anywhere. Each held send that
 * has an outcome to report (queued, delivered, or expired) moves to the
 * daemon-wide done list, from which the caller takes it
 * (channel_done_next), answers its producer and frees it.
 */
#ifndef CHAND_CHANNEL_H
#define CHAND_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A capacity without limit, and a held send without deadline. */
#define CHANNEL_UNBOUNDED	UINT64_MAX
#define CHANNEL_NO_DEADLINE	UINT64_MAX

/*
 * One message: a single allocation, header then payload. Queued messages
 * and in-flight ones use the same node, so delivery never copies.
 */
struct message {
	struct message	*next;
	uint64_t	 seq;		/* in flight: delivery sequence number */
	uint64_t	 id;		/* the channel's number for it, in the
					   order accepted (durable.c logs it) */
	uint32_t	 len;		/* payload bytes */
	uint16_t	 flags;		/* PROTO_FLAG_REDELIVERED */
	uint8_t		 pins;		/* writes sending the payload from
					   here (msgpool.h) */
	uint8_t		 pool;		/* msgpool.c's: freed while pinned,
					   from a slab */
	uint32_t	 born;		/* channel_clock when it was sent */
	char		 data[];
};

struct channel;
struct dlog;

/*
 * The daemon's clock in seconds, as monitor.c's one-second timer last set
 * it (channel_clock_set); each message takes it when it is sent, for the
 * admin view's oldest message age, so no message reads a clock.
 */
extern uint32_t	channel_clock;
void		channel_clock_set(uint32_t now);

/*
 * Figures for the admin view: counters kept by channel.c, and their
 * samples, taken once a second by monitor.c for rates over the last
 * CHANNEL_RATE_SECS seconds. monitor.c allocates them at the first
 * sample that finds the channel used; channel_free frees them.
 */
#define CHANNEL_RATE_SECS	10
struct channel_stat {
	/* monitor.c: the channel's counters at the last sample, and one
	   second's increase of each at every slot of the rings. */
	uint64_t	 s_in, s_out, s_acked;
	uint32_t	 s_requests;
	uint32_t	 r_in[CHANNEL_RATE_SECS];
	uint32_t	 r_out[CHANNEL_RATE_SECS];
	uint32_t	 r_acked[CHANNEL_RATE_SECS];
	uint8_t		 slot;		/* next slot to write */
	uint8_t		 nslots;	/* slots written, up to RATE_SECS */
	const void	*s_consumer;	/* consumer at the last sample */
	uint32_t	 ack_at;	/* clock of the last ACK seen; 0 none */
	uint32_t	 active_at;	/* clock of the consumer's last ACK,
					   CREDIT or attach; 0: none */
};

/*
 * A SELECT: credit shared by consumers of several channels (one
 * connection's), so that a receive over all of them takes no more than
 * it asked for from any. Each member channel points at it; it is freed
 * when its last member leaves (a new SELECT, CREDIT, RECALL, the
 * consumer going).
 */
struct selgroup {
	uint32_t	 credit;
	uint32_t	 members;	/* channels still in it */
	struct channel	*chs[];		/* those channels, in no order;
					   each knows its place (group_idx) */
};

/*
 * A send waiting for room. While held it belongs to its channel's FIFO
 * (and, if timed, to the deadline heap); once done, to the done list.
 */
struct held {
	struct held	*prev;		/* channel FIFO */
	struct held	*next;		/* channel FIFO, then the done list */
	struct channel	*ch;		/* while held; NULL once done */
	struct message	*msg;		/* while held */
	void		*owner;		/* producer handle, opaque here */
	uint32_t	 rid;		/* of the request, for the answer */
	uint32_t	 len;		/* payload bytes */
	uint64_t	 id;		/* its message's id */
	int		 result;	/* done: 0 (queued or delivered) or
					   CHAN_EFULL (expired) */
	uint64_t	 deadline;	/* CHANNEL_NO_DEADLINE or a time on
					   the caller's clock */
	size_t		 heap_idx;	/* in the deadline heap, if timed */
};

/*
 * State shared by every channel of the daemon. The sums are for its
 * limits: messages are counted as well as bytes, since empty ones cost
 * memory too, and held sends count, since they hold their message. All
 * of it starts zeroed; channel_totals_fini frees what it holds.
 */
/*
 * What the channels of one creator hold together (quota.c): kept as they
 * change, so that checking a per-uid limit at a send costs the same
 * however many channels the uid has.
 */
struct channel_sum {
	uint64_t bytes;		/* payload bytes queued, in flight or held */
	uint64_t msgs;		/* messages queued, in flight or held */
};

struct channel_totals {
	size_t	 bytes;		/* payload bytes queued, in flight or held */
	size_t	 msgs;		/* messages queued, in flight or held */
	size_t	 held;		/* of which held sends */

	struct held *done;	/* held sends with an outcome, oldest first */
	struct held *done_tail;
	struct held **heap;	/* timed held sends, earliest deadline first */
	size_t	 nheap;
	size_t	 heap_cap;
};

/*
 * How the consumer learns of a disconnection (docs/protocol.md,
 * Disconnection): once per producer generation (protocol version 1), as a
 * state that every receive finds while it holds (version 2), or never
 * (a consumer that waits across generations).
 */
enum channel_rx_mode {
	CHANNEL_RX_ONCE = 0,
	CHANNEL_RX_STATE,
	CHANNEL_RX_FOREVER,
};

/*
 * The fields every message touches come first, in the fewest cache lines
 * they fit: with thousands of channels each line a message touches is a
 * miss of the caches, and a message visits its channel twice, at its SEND
 * (and delivery) and at its ACK. What an ACK and the pump after it read
 * is in the first two lines; a SEND and a delivery add the third; a
 * SEND reads the fourth only while it has shared-memory producers.
 * channel_new places the channel on a line; channel.c checks the offsets.
 */
struct channel {
	/* In flight, and what every ACK and pump reads. */
	struct message	*fhead;		/* in flight, lowest seq first */
	struct message	**ftailp;
	size_t		 ninflight;
	size_t		 bytes;		/* payload bytes queued + in flight */
	uint64_t	 last_seq;	/* last seq delivered to the consumer */
	struct channel_totals *totals;	/* daemon-wide sums, may be NULL */
	struct channel_sum *owner_sum;	/* the creator's sums (in its quota.c
					   use), or NULL */
	void		*consumer;	/* consumer handle, opaque here */

	struct selgroup	*group;		/* consumer's shared credit, or NULL:
					   its own (credit) */
	struct message	*qhead;		/* queued, oldest first */
	struct held	*hhead;		/* held sends, oldest first */
	/* Shared-memory producers (shm*.c): their rings. */
	void		*rings;
	/* Its consumer reads its rings itself (shm_direct.c), or NULL. */
	void		*direct;
	uint64_t	 acked;		/* messages acknowledged */
	uint32_t	 requests;	/* the consumer's ACKs and CREDITs
					   (monitor.c watches it change) */
	uint32_t	 credit;
	uint32_t	 producers;
	bool		 armed;		/* producer attached since last report */
	bool		 had_producer;	/* ever, or recovered, or remembered */
	bool		 durable;	/* its messages are logged (durable.c) */
	uint8_t		 rx_mode;	/* enum channel_rx_mode */

	/* Queued: every SEND and delivery. */
	struct message	**qtailp;
	size_t		 nqueued;
	size_t		 qbytes;	/* payload bytes queued */
	uint64_t	 cap_msgs;	/* queued messages, or UNBOUNDED */
	uint64_t	 cap_bytes;	/* queued payload bytes, or UNBOUNDED */
	/*
	 * Message ids: each message accepted (queued or held) takes
	 * next_id, so delivery order is id order.
	 */
	uint64_t	 next_id;
	uint64_t	 msgs_in;
	uint64_t	 msgs_out;

	/* Room granted to shared-memory producers and not yet used, which
	   counts as queued: a SEND's room check reads it while there are
	   rings. */
	uint64_t	 shm_resv_msgs;
	uint64_t	 shm_resv_bytes;
	/* Durable: the highest id an ACK has consumed (0: none), for the
	   log's ACK record. */
	uint64_t	 acked_id;
	uint64_t	 redeliveries;
	/* The admin view's samples (monitor.c), NULL until the channel has
	   had a message or a consumer: an idle channel keeps none. */
	struct channel_stat *stat;

	uint16_t	 name_len;
	bool		 rx_gone;	/* producers fail once the consumer
					   goes, and the queue is dropped */
	/* channel_new's offset from malloc's block to the channel's line. */
	uint8_t		 mem_off;
	uint32_t	 hash;		/* registry hash of the name */
	struct channel	*hnext;		/* registry bucket chain */
	uint64_t	 ended_ms;	/* remembered: when it ended (the
					   caller's clock); 0 once a producer
					   attaches */
	void		*gone_tx;	/* producer handles that fail when the
					   consumer goes: dispatch.c's list */
	uint32_t	 group_idx;	/* its place in group->chs */
	bool		 shm_spinning;	/* on srv's list (below) */
	bool		 shm_answering;	/* shm_answer_rings walks its rings:
					   shm_room keeps their order */
	/* Its rings are being taken back: no offer until that is done. */
	bool		 direct_hold;
	struct dlog	*log;		/* durable: its log, opaque here */

	struct held	*htail;
	size_t		 nheld;
	size_t		 held_bytes;	/* their payload bytes */
	/* Spinning on its rings (--spin-us): until when, and srv's list. */
	uint64_t	 shm_spin_until;	/* uv_hrtime */
	struct channel	*shm_spin_next;
	/* Its rings wait for the queue to drain to be offered to its
	   consumer (shm_direct.c), or NULL. */
	void		*direct_next;

	char		 name[];	/* name_len bytes, then a NUL */
};

/*
 * Creates an empty, unbounded channel named by len bytes of name (any
 * bytes; 1 to PROTO_NAME_MAX). totals, if not NULL, are the daemon's
 * shared state, kept up to date as messages come and go; timed and done
 * held sends need them. Returns NULL if out of memory or the name length
 * is invalid.
 */
struct channel	*channel_new(const void *name, size_t len,
		    struct channel_totals *totals);
/* Frees the channel, every message it holds and its held sends. */
void		 channel_free(struct channel *);
/* Frees the done list and the deadline heap; t may be reused zeroed. */
void		 channel_totals_fini(struct channel_totals *t);

/*
 * Sets the most messages (0: rendezvous) and payload bytes the channel
 * queues; CHANNEL_UNBOUNDED for no limit. The byte budget never refuses a
 * message at an empty queue, so one larger than it still goes alone.
 */
void		 channel_set_capacity(struct channel *, uint64_t msgs,
		    uint64_t bytes);

/*
 * Queues a copy of payload whatever the capacity (channel_send applies
 * it). 0, CHAN_ETOOBIG or CHAN_ENOMEM.
 */
int		 channel_push(struct channel *, const void *payload, size_t len);
/*
 * Direct reading (shm_direct.c): a message its consumer read from a ring
 * and has not acknowledged goes in flight with seq (the next after
 * last_seq), as if queued and delivered: 0, CHAN_ETOOBIG or CHAN_ENOMEM.
 * channel_consumed counts n it read and acknowledged.
 */
int		 channel_push_inflight(struct channel *, const void *payload,
		    size_t len, uint64_t seq);
void		 channel_consumed(struct channel *, uint64_t n);
/*
 * Queues a message recovered from a log with its id and flags, whatever
 * the capacity; ids must come in increasing order, and next_id moves past
 * them. 0, CHAN_ETOOBIG or CHAN_ENOMEM.
 */
int		 channel_restore(struct channel *, uint64_t id,
		    const void *payload, size_t len, uint32_t flags);

/* How a send that cannot be queued at once is to wait. */
struct channel_send {
	void		*owner;		/* producer handle */
	uint32_t	 rid;
	bool		 may_wait;	/* false: CHAN_EFULL unless the consumer
					   is waiting for this very message */
	uint64_t	 deadline;	/* CHANNEL_NO_DEADLINE, or when a held
					   send expires (needs totals) */
	uint16_t	 flags;		/* the message's first delivery's:
					   PROTO_FLAG_REDELIVERED (SEND_MARKED)
					   or 0 */
};

#define CHANNEL_QUEUED	0
#define CHANNEL_HELD	1

/*
 * Offers a copy of payload to the channel. It is queued if no send is
 * held and there is room: CHANNEL_QUEUED. Otherwise it is held behind the
 * sends already held: CHANNEL_HELD, with *hp the held send (owned by the
 * channel; it reaches the done list when queued, delivered or expired).
 * Either way the message takes the id next_id, which then grows by one.
 * With may_wait false a send that would wait gets CHAN_EFULL, except at a
 * rendezvous with a waiting consumer (queue empty, nothing held, credit):
 * it is held so that the caller can deliver it, then expire it at once if
 * the delivery could not happen. Errors: CHAN_EFULL, CHAN_ETOOBIG,
 * CHAN_ENOMEM; nothing is kept.
 */
int		 channel_send(struct channel *, const void *payload, size_t len,
		    const struct channel_send *, struct held **hp);
/*
 * A node for a message of len payload bytes that the caller fills in
 * (msgpool.h), for channel_send_msg; NULL if out of memory or too long.
 */
struct message	*channel_msg_new(size_t len);
/*
 * channel_send of a node from channel_msg_new holding the payload, which
 * the channel takes on success (CHANNEL_QUEUED or CHANNEL_HELD); on
 * error the caller keeps it. Saves a copy of a payload that was read
 * straight into its node.
 */
int		 channel_send_msg(struct channel *, struct message *,
		    const struct channel_send *, struct held **hp);
/*
 * Whether channel_send of len bytes would fail with CHAN_EFULL now: for
 * a caller with work to do before the send (a durable channel logs it).
 */
bool		 channel_refuses(const struct channel *, size_t len,
		    bool may_wait);

/*
 * Moves a message in flight with the next sequence number and takes one
 * credit: the head of the queue (held sends then fill the room it left),
 * or, if the queue is empty, the head held send, which is then done.
 * Returns the message (owned by the channel, valid until acknowledged or
 * the consumer detaches) or NULL if there is no consumer, no credit or
 * nothing queued or held.
 */
struct message	*channel_take(struct channel *);
/* The payload bytes of the message channel_take would return, or 0. */
size_t		 channel_next_len(const struct channel *);

/*
 * Expires the held send with the earliest deadline, if that is <= now:
 * it leaves its channel (the message is freed), goes to the done list
 * with CHAN_EFULL, and sends held behind it may be queued. Returns its
 * channel, which the caller may want to pump, or NULL if none is due.
 */
struct channel	*channel_expire(struct channel_totals *, uint64_t now);
/* Earliest deadline of a held send: true with *when set, or false. */
bool		 channel_next_deadline(const struct channel_totals *,
		    uint64_t *when);
/*
 * Drops every held send of owner, held or done, without an outcome (its
 * producer is gone). Returns their payload bytes; *n gets their count.
 */
size_t		 channel_discard(struct channel *, void *owner, size_t *n);
/* Takes the oldest done held send, or NULL; free it with channel_held_free. */
struct held	*channel_done_next(struct channel_totals *);
void		 channel_held_free(struct held *);

/*
 * Acknowledges every in-flight message with seq <= seq, moving acked_id
 * to the highest id among them. Returns 0, or CHAN_EPROTO if seq is
 * beyond the last delivered sequence number.
 */
int		 channel_ack(struct channel *, uint64_t seq);

/* Adds credit, capped at PROTO_CREDIT_MAX; the channel leaves its group. */
void		 channel_credit(struct channel *, uint32_t n);
/* Deliveries the consumer's credit (its own or its group's) allows. */
uint32_t	 channel_credit_left(const struct channel *);
/*
 * A group of n channels sharing credit (SELECT), each leaving the group it
 * was in and giving up its own credit; NULL if out of memory (nothing
 * changed).
 */
struct selgroup	*channel_group_new(struct channel *const *chs, size_t n,
		    uint32_t credit);
/* ch leaves its group, if any (the group is freed with its last member). */
void		 channel_group_leave(struct channel *);

/* Takes the consumer slot: 0, or CHAN_EBUSY if it is taken. */
int		 channel_consumer_attach(struct channel *, void *consumer);
/*
 * Frees the consumer slot: in-flight messages go back to the front of the
 * queue in order, marked redelivered; credit and sequence numbers reset.
 */
void		 channel_consumer_detach(struct channel *);

/* Counts one more producer and arms the next DISCONNECTED. */
void		 channel_producer_attach(struct channel *);
/* Counts one producer fewer (never below zero). */
void		 channel_producer_detach(struct channel *);

/* How the consumer attached last is told of disconnection. */
void		 channel_consumer_set_mode(struct channel *,
		    enum channel_rx_mode);
/*
 * True while the channel is disconnected: it has had a producer, none is
 * attached, and nothing is queued, in flight or held.
 */
bool		 channel_disconnected(const struct channel *);
/* True when DISCONNECTED is due (docs/protocol.md, Disconnection). */
bool		 channel_should_report(const struct channel *);
/*
 * Records that DISCONNECTED was sent: in RX_ONCE mode the next one needs
 * a new producer; in RX_STATE mode the report ends the consumer's credit.
 */
void		 channel_mark_reported(struct channel *);
/*
 * The room left for messages and payload bytes, granted room counted as
 * used; CHANNEL_UNBOUNDED for a dimension without limit. Held sends come
 * first: while any wait, there is none.
 */
void		 channel_room(const struct channel *, uint64_t *msgs,
		    uint64_t *bytes);
/* Whether a send of len bytes would be queued now, not held. */
bool		 channel_takes(const struct channel *, size_t len);
/* Queues held sends from the head of the FIFO while there is room. */
void		 channel_admit(struct channel *);
/* Takes back the consumer's unused credit (RECALL). */
void		 channel_recall(struct channel *);

/*
 * Ends every send of owner still held with result code (on the done list,
 * its message freed): a producer that may no longer send. Returns how
 * many.
 */
size_t		 channel_fail_held(struct channel *, void *owner, int code);
/*
 * Drops every queued message (none may be in flight: call after the
 * consumer detached). Returns how many.
 */
size_t		 channel_purge(struct channel *);

/*
 * The admin's purge: drops every queued message (not those in flight,
 * nor held sends, which then take the room as usual), calling fn, if not
 * NULL, with each one's id before it is freed. Returns how many; *bytes
 * gets their payload.
 */
size_t		 channel_drop_queued(struct channel *,
		    void (*fn)(struct channel *, uint64_t id, void *), void *arg,
		    uint64_t *bytes);

/* True when nothing keeps the channel alive and it can be forgotten. */
bool		 channel_is_idle(const struct channel *);

#endif /* CHAND_CHANNEL_H */

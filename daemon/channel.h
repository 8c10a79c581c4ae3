/*
 * channel.h: one named channel: a FIFO of messages, its producers, its
 * consumer slot, credit and the messages in flight.
 *
 * No I/O and no libuv here (like nng's lmq): callers change the state and
 * then ask what may be delivered or reported. Single-threaded.
 */
#ifndef CHAND_CHANNEL_H
#define CHAND_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One message: a single allocation, header then payload. Queued messages
 * and in-flight ones use the same node, so delivery never copies.
 */
struct message {
	struct message	*next;
	uint64_t	 seq;		/* in flight: delivery sequence number */
	uint32_t	 len;		/* payload bytes */
	uint32_t	 flags;		/* PROTO_FLAG_REDELIVERED */
	char		 data[];
};

/*
 * Sums over every channel of the daemon, for its limits. Messages are
 * counted as well as bytes: empty ones cost memory too.
 */
struct channel_totals {
	size_t	 bytes;		/* payload bytes queued or in flight */
	size_t	 msgs;		/* messages queued or in flight */
};

struct channel {
	struct channel	*hnext;		/* registry bucket chain */
	uint32_t	 hash;		/* registry hash of the name */
	uint16_t	 name_len;
	bool		 armed;		/* producer attached since last report */

	struct message	*qhead;		/* queued, oldest first */
	struct message	**qtailp;
	struct message	*fhead;		/* in flight, lowest seq first */
	struct message	**ftailp;
	size_t		 nqueued;
	size_t		 ninflight;

	size_t		 bytes;		/* payload bytes queued + in flight */
	struct channel_totals *totals;	/* daemon-wide sums, may be NULL */

	void		*consumer;	/* consumer handle, opaque here */
	uint64_t	 last_seq;	/* last seq delivered to the consumer */
	uint32_t	 credit;
	uint32_t	 producers;

	uint64_t	 msgs_in;
	uint64_t	 msgs_out;
	uint64_t	 redeliveries;

	char		 name[];	/* name_len bytes, then a NUL */
};

/*
 * Creates an empty channel named by len bytes of name (any bytes; 1 to
 * PROTO_NAME_MAX). totals, if not NULL, are sums that the channel keeps
 * up to date as messages come and go. Returns NULL if out of memory or
 * the name length is invalid.
 */
struct channel	*channel_new(const void *name, size_t len,
		    struct channel_totals *totals);
/* Frees the channel and every message it holds. */
void		 channel_free(struct channel *);

/* Queues a copy of payload. 0, CHAN_ETOOBIG or CHAN_ENOMEM. */
int		 channel_push(struct channel *, const void *payload, size_t len);

/*
 * Moves the head of the queue in flight with the next sequence number and
 * takes one credit. Returns the message (owned by the channel, valid until
 * acknowledged or the consumer detaches) or NULL if there is no consumer,
 * no credit or nothing queued.
 */
struct message	*channel_take(struct channel *);

/*
 * Acknowledges every in-flight message with seq <= seq. Returns 0, or
 * CHAN_EPROTO if seq is beyond the last delivered sequence number.
 */
int		 channel_ack(struct channel *, uint64_t seq);

/* Adds credit, capped at PROTO_CREDIT_MAX. */
void		 channel_credit(struct channel *, uint32_t n);

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

/* True when DISCONNECTED is due (docs/protocol.md, Disconnection). */
bool		 channel_should_report(const struct channel *);
/* Records that DISCONNECTED was sent: the next one needs a new producer. */
void		 channel_mark_reported(struct channel *);

/* True when nothing keeps the channel alive and it can be forgotten. */
bool		 channel_is_idle(const struct channel *);

#endif /* CHAND_CHANNEL_H */

/* SPDX-License-Identifier: MIT */
/*
 * conn.h: one client connection: its socket, buffers, handles and limits.
 *
 * Reading feeds frames to dispatch.c; replies and deliveries are appended
 * to the output buffer and written once per loop iteration (a uv_check
 * handle flushes every dirty connection). A connection is freed only in
 * its close callback; code deep in a call chain marks it with
 * conn_mark_close and the close happens at the next safe point.
 *
 * Closing is a linger: the daemon writes its last frames (an ERROR saying
 * why), shuts down its side and reads, discarding, until the peer closes
 * or CONN_LINGER_SECS pass. Closing at once would leave the peer's last
 * request unread, and the kernel would then fail the peer's writes
 * (EPIPE) or reset the connection before it read the ERROR. Daemon
 * shutdown is the exception (conn_close_all): it waits for no peer.
 */
#ifndef CHAND_CONN_H
#define CHAND_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <uv.h>

#include "log.h"
#include "payref.h"
#include "proto.h"

struct channel;
struct message;
struct server;
struct shm_ring;

/* Output beyond which a consumer gets no more deliveries. */
#define CONN_DELIVER_MARK	(4u << 20)
/* Output under which a paused connection reads again. */
#define CONN_LOW_WATER		(1u << 20)
/*
 * The same marks bound the payload of a connection's held sends: above
 * CONN_DELIVER_MARK plus the frame limit it is no longer read, below
 * CONN_LOW_WATER it is read again. A producer flooding a full channel
 * throttles itself; other connections and channels go on.
 */
/*
 * DELIVER payloads of this many bytes or more are written from their
 * message node (payref.h); smaller ones are copied into the output: at
 * 1 KiB the copy costs the daemon no more than a piece of a writev, at
 * 4 KiB and above it costs more (docs/performance.md).
 */
#define CONN_INPLACE_MIN	(4u * 1024)
/*
 * Frames one connection may have handled in one iteration of the loop;
 * then it waits for the next iteration, in which every other connection
 * has had its turn, so that a client pipelining thousands of requests
 * delays the others by one share, not by all of its requests. A share
 * holds about half a 64 KiB read of small SENDs: a pipelining producer
 * alone pays one more loop turn per read, not one per few frames (64
 * frames cost small messages twice the daemon's CPU in chan-bench).
 */
#define CONN_TURN_FRAMES	1024
/*
 * A STATS counts as this many frames (conn.c, conn_frame_cost): its
 * reply is built from the whole daemon's state, some hundred times the
 * work of a small SEND.
 */
#define CONN_TURN_STATS		256
/*
 * Most bytes of big SEND payloads announced but not yet arrived that
 * connections together may have reserved (conn.c, direct reading).
 */
#define CONN_DIRECT_RESERVE_MAX	(32u << 20)
/* Seconds a closing connection may take to write and see the peer go. */
#define CONN_LINGER_SECS	5
/*
 * A connection refused for the connection limit lingers this long, and
 * only while fewer than CONN_REFUSED_MAX refused ones do (conn.c).
 */
#define CONN_REFUSED_LINGER_MS	1000
#define CONN_REFUSED_MAX	16

/*
 * Kinds of client trouble logged only the first time on a connection (at
 * debug level after that): a broken or hostile client repeats itself.
 */
#define CONN_LOG_PROTO		0x1u	/* malformed or misplaced request */
#define CONN_LOG_LIMIT		0x2u	/* handle limit */
#define CONN_LOG_BUSY		0x4u	/* refused as a second consumer */
#define CONN_LOG_PERM		0x8u	/* denied by the access rules */
#define CONN_LOG_DISK		0x10u	/* a durable send refused */

/* One open end of a channel on a connection. */
struct handle {
	/* What every message reads first: one line of the cache, mostly. */
	uint32_t	 id;
	/* Flags of a bit each: a handle is part of what every idle channel
	   costs, and six bools took a word of padding more. */
	bool		 rx:1;		/* consumer; else producer */
	bool		 closing:1;	/* producer: CLOSE waits for held sends
					   and unconfirmed durable ones */
	bool		 stalled:1;	/* on conn->stalled */
	bool		 rx_dead:1;	/* producer: the consumer went; every
					   send fails RXGONE */
	bool		 rx_gone:1;	/* producer: fails once the consumer
					   goes (on its channel's gone_tx) */
	bool		 direct_want:1;	/* consumer: asked to read its
					   producer's ring (DIRECT) */
	bool		 direct_wake:1;	/* and to be passed the channel's
					   wake descriptor (DIRECT 3) */
	struct channel	*ch;
	struct conn	*conn;
	struct shm_ring	*ring;		/* producer: its shared-memory ring;
					   consumer: its connection's (shm*.c);
					   or NULL */
	uint32_t	 nheld;		/* producer: sends held, unanswered or
					   waiting for their log record */
	uint32_t	 close_rid;	/* that CLOSE's rid */
	struct handle	*gone_next;	/* channel's gone_tx list */
	struct handle	**gone_prevp;
	TAILQ_ENTRY(handle) stall_entry;
};

TAILQ_HEAD(handle_list, handle);

struct handle_slot {
	uint32_t	 id;
	struct handle	*h;		/* NULL: closed */
};

struct conn {
	uv_pipe_t	 pipe;
	uv_timer_t	 timer;		/* handshake, then linger on close */
	struct server	*srv;
	TAILQ_ENTRY(conn) entry;	/* srv->conns */
	TAILQ_ENTRY(conn) dirty_entry;	/* srv->dirty */
	TAILQ_ENTRY(conn) turn_entry;	/* srv->turns */
	uint64_t	 id;
	int		 nopen;		/* libuv handles not yet closed */
	struct shm_ring	*rx_ring;	/* its consumers' ring (shm*.c) */

	bool		 hello;		/* handshake done */
	uint32_t	 version;	/* protocol version chosen by HELLO */
	bool		 dirty;
	bool		 want_close;	/* close at the next safe point */
	bool		 shut;		/* closing: handles dropped */
	bool		 eof;		/* the peer has stopped sending */
	bool		 fin;		/* our side shut down for writing */
	bool		 closed;	/* uv_close called */
	bool		 paused;	/* reading stopped: output or held
					   sends too high */
	bool		 writing;	/* wbuf handed to uv_write */
	bool		 yielded;	/* share of the iteration used up,
					   frames left: on srv->turns */
	bool		 queued_turn;	/* on srv->turns */
	bool		 refused;	/* counted in srv->nrefused, not
					   srv->nconns */
	unsigned	 logged;	/* CONN_LOG_* kinds logged once */

	char		*rbuf;
	size_t		 roff;		/* first byte not yet handled */
	size_t		 rlen;		/* end of the bytes read */
	size_t		 rcap;
	/*
	 * A big SEND whose payload is read straight into its node (conn.c):
	 * the node, the payload bytes in it, the frame's fields; and whether
	 * the next read is a short one, for the next frame's fields.
	 */
	struct message	*rnode;		/* NULL: none */
	size_t		 rnode_have;
	uint32_t	 rnode_rid;
	uint32_t	 rnode_handle;
	bool		 rpeek;
	struct proto_buf out;		/* pending output */
	struct proto_buf wbuf;		/* being written, until write_cb */
	struct payrefs	 orefs;		/* payloads that go between out's
					   bytes */
	struct payrefs	 wrefs;		/* and between wbuf's */
	uv_buf_t	*iov;		/* a write's pieces, from payrefs_iov */
	size_t		 iov_cap;
	uv_write_t	 wreq;
	uv_shutdown_t	 sreq;

	pid_t		 pid;
	uid_t		 uid;
	gid_t		 gid;
	gid_t		*groups;	/* supplementary groups, for acl.c */
	size_t		 ngroups;
	char		 peer[LOG_PEER_MAX];	/* "pid=N uid=N" */

	/*
	 * Consumer handles whose deliveries stopped for want of output room:
	 * the write callback pumps these, not every handle of the connection.
	 */
	struct handle_list stalled;
	/*
	 * Handles by id: slots sorted by id, where a closed handle leaves a
	 * hole (h NULL) until holes outnumber handles, so that closing
	 * thousands of handles in any order stays linear.
	 */
	struct handle_slot *handles;
	size_t		 hlen;		/* slots in use, holes included */
	size_t		 nhandles;	/* open handles */
	size_t		 handles_cap;
	struct handle	*hlast;		/* the last one found: a producer's
					   frames name the same handle */
	uint32_t	 hlast_id;	/* its id */
	uint32_t	 next_handle;

	size_t		 held_bytes;	/* payload of its held sends */
	uint32_t	 select_turn;	/* SELECT: the member pumped first */

	/* The admin view's figures. */
	uint64_t	 opened;	/* uv_now() when accepted */
	uint64_t	 bytes_in;	/* read from the socket */
	uint64_t	 bytes_out;	/* written to it */
	uint8_t		 client_len;	/* HELLO's "client" option */
	char		 client[PROTO_CLIENT_NAME_MAX];
	void		*quota;		/* its uid's use (quota.c), or NULL */
	uint8_t		 privileged;	/* quota.c: 0 not known yet, 1 no,
					   2 yes */

	/*
	 * Out of memory: bytes of a frame that could not be buffered, read
	 * and dropped after its ERROR(NOMEM); and the ERROR(NOMEM) that
	 * tells a client why it is closed when not even that could be
	 * queued, written from here once the output is (conn_nomem).
	 */
	size_t		 rskip;
	size_t		 nomem_len;
	bool		 nomem_sent;
	char		 nomem[PROTO_ERRMSG_MAX + 128];
};

/*
 * A connection with no socket yet, counted in srv->conns; conn_accept
 * gives it one. NULL if out of memory. Alone, it is what tests and fuzzers
 * drive through conn_input and conn_gone.
 */
struct conn	*conn_new(struct server *);
/*
 * Takes len bytes as if read from c's socket and handles every whole frame
 * among them. Returns how many it took: fewer than len once c is closing
 * or its output is over the mark at which reading pauses.
 */
size_t	conn_input(struct conn *c, const void *buf, size_t len);
/*
 * The peer has gone (end of file or a read error): drops c's handles and
 * closes it once its output is written or cannot be.
 */
void	conn_gone(struct conn *c);
/* Connection callback of the listener: accepts one client. */
void	conn_accept(struct server *, uv_stream_t *listener);
/* Starts the per-iteration flush. 0 or a libuv error. */
int	conn_flush_init(struct server *);
/*
 * At shutdown: queues ERROR(rid 0, SHUTDOWN) on every connection not
 * already closing for another reason, writes what each socket takes at
 * once and closes it, without lingering; closes the flush handle too.
 * Connections accepted while stopping get the same.
 */
void	conn_close_all(struct server *);

/*
 * Answers done held sends, then writes every connection with output (what
 * the per-iteration flush does); for callbacks after which no flush runs
 * in the same iteration, such as timers.
 */
void	conn_flush_dirty(struct server *);
/*
 * len bytes of c's held sends were answered: reads again if that was all
 * that kept it paused.
 */
void	conn_held_release(struct conn *c, size_t len);

/*
 * Appends DELIVER(handle, m) to c's output: a payload of at least
 * CONN_INPLACE_MIN bytes (srv->inplace_min if set) is written from m,
 * pinned until then; a smaller one is copied. 0 or CHAN_ENOMEM.
 */
int	conn_deliver(struct conn *c, uint32_t handle, struct message *m);
/*
 * Out of memory for what (a few words) in answer to request rid: if fatal
 * (a reply is lost) or the ERROR cannot be queued, ERROR(rid, NOMEM) is
 * sent from memory c keeps for it and c is closed; otherwise the ERROR is
 * queued and c goes on.
 */
void	conn_nomem(struct conn *c, uint32_t rid, const char *what,
	    bool fatal);
/* Notes that c has output to write in this loop iteration. */
void	conn_dirty(struct conn *c);
/*
 * Writes c's output now rather than at the end of the iteration, if
 * nothing in it waits for the log or for c's ring to be committed: the
 * caller put only frames that need neither (a RING_WAKE) into an output
 * it found empty. A reader's wake-up then leaves before the rest of the
 * daemon's work in this callback.
 */
void	conn_flush_now(struct conn *c);
/* Closes c at the next safe point (after the current frame). */
void	conn_mark_close(struct conn *c);
/* Bytes of output not yet written. Inline: asked once per delivery. */
static inline size_t
conn_pending(const struct conn *c)
{
	return (c->out.len + c->wbuf.len + c->orefs.bytes + c->wrefs.bytes);
}

/* True if c may take deliveries: open and its output below the mark. */
static inline bool
conn_can_deliver(const struct conn *c)
{
	return (!c->want_close && conn_pending(c) < CONN_DELIVER_MARK);
}

/* Handle id of c (owned by c), or NULL if c has none by that id. */
struct handle	*conn_handle_find(struct conn *c, uint32_t id);
/* Adds a handle on ch. 0, CHAN_ELIMIT or CHAN_ENOMEM. */
int	conn_handle_add(struct conn *c, struct channel *ch, bool rx,
	    struct handle **hp);
/* Removes h from c and frees it. */
void	conn_handle_remove(struct conn *c, struct handle *h);

#endif /* CHAND_CONN_H */

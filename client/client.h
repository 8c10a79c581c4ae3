/* SPDX-License-Identifier: MIT */
/*
 * client.h: internals of libchanclient shared by its modules.
 *
 * Modules: conn.c (socket, handshake, requests, the reader), tx.c,
 * pipeline.c (pipelined sends), ridmap.c (their index by rid), rx.c,
 * select.c (several receivers), rxset.c (a standing set of them), loop.c
 * (the non-blocking event-loop API), msg.c, errors.c. Nothing here is exported from the shared library.
 *
 * Threading rules (the public contract is in chanclient.h):
 *
 *  - Each connection has one mutex, c->mu, that guards every field of the
 *    connection and of its handles except the read buffer (see below) and
 *    the per-object errmsg buffers, which only the thread using that object
 *    reads.
 *  - Writes happen with c->mu held: a frame is encoded into c->wbuf and
 *    sent whole before the mutex is released, so frames of different
 *    threads never interleave.
 *  - At most one thread reads the socket at a time: the one that set
 *    c->reading. It releases c->mu while it poll()s and read()s into
 *    c->rbuf (which only the reader touches), then re-locks, decodes and
 *    dispatches every complete frame, clears c->reading and broadcasts
 *    c->cv. Any other thread waiting for something sleeps on c->cv and,
 *    when it wakes and finds no reader, becomes the reader itself.
 *  - A blocking request is a struct conn_req on the caller's stack, linked
 *    into c->reqs until its reply (matched by rid) has been filled in by
 *    whichever thread is the reader.
 */
#ifndef CHANCLIENT_CLIENT_H
#define CHANCLIENT_CLIENT_H

#include <sys/queue.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "chanclient.h"
#include "proto.h"
#include "ridmap.h"

#define CONN_HANDSHAKE_MS	30000	/* bound on the WELCOME wait */
#define CONN_PING_MS		30000	/* bound on a try_recv round trip */
#define CONN_CLOSE_MS		10000	/* bound on the wait for CLOSE's OK */
#define CONN_LAST_LOOK_MS	50	/* bound on a timed receive's RECALL */
#define CONN_READ_CHUNK		65536
#define CONN_INFO_MS		30000	/* bound on a STATS round trip */
#define CONN_BATCH_BYTES	65536	/* pipelined sends written at this */
#define CONN_PROCESS_MAX	(1024 * 1024)	/* read per chan_client_process */
#define TX_WINDOW_DEFAULT	4096	/* unconfirmed pipelined sends */
#define TX_WINDOW_MAX		65536
#define TX_RING_MIN		16	/* first ring of a transmitter */
#define RX_DIRECT_WATCH		16	/* direct rings a spin watches */

/* One request waiting for its reply. */
struct conn_req {
	LIST_ENTRY(conn_req)	 entry;
	uint32_t		 rid;
	int			 done;
	int			 rc;		/* 0 or a negative CHAN_E* */
	enum proto_op		 reply;		/* op of the reply */
	uint32_t		 handle;	/* HANDLE */
	uint32_t		 version;	/* WELCOME */
	uint64_t		 max_msg;	/* WELCOME */
	uint32_t		 features;	/* WELCOME: PROTO_FEAT_* */
	uint64_t		 token;		/* RING_TOKEN */
	char			*errbuf;	/* ERROR text goes here, if set */
	struct proto_buf	*data;		/* INFO data is appended here */
};

struct chan_msg {
	struct chan_msg	*next;		/* rx FIFO link while buffered */
	uint64_t	 seq;		/* 0: a DISCONNECTED marker */
	uint32_t	 handle;	/* rx handle it was delivered on */
	int		 redelivered;
	size_t		 len;
	size_t		 mapped;	/* bytes mapped for it (msg.c), 1: a
					   small block, 0: from malloc */
	char		 data[];
};

/*
 * Pipelined sends of a transmitter not yet confirmed, in the order sent:
 * a ring that grows up to window slots. Replies may come out of order (an
 * error that the daemon gives at once overtakes an OK it holds), so a
 * confirmed slot is marked done and the ring's head moves past done slots
 * only. The connection's ridmap finds a reply's slot by its ordinal.
 */
struct tx_slot {
	uint32_t	 rid;
	int		 done;		/* confirmed */
	uint64_t	 ord;		/* 1 for the tx's first pipelined send */
};

struct chan_tx {
	LIST_ENTRY(chan_tx)	 entry;
	struct chan_client	*c;
	uint32_t		 handle;
	char			*name;		/* kept for chan_tx_clone */
	size_t			 name_len;
	struct chan_open_opts	 opts;		/* kept for chan_tx_clone */
	struct tx_slot		*ring;		/* ring_cap slots, or NULL */
	uint32_t		 ring_cap;	/* grows up to window */
	uint32_t		 window;
	uint32_t		 head;		/* oldest slot in use */
	uint32_t		 used;		/* slots from head, cleared or not */
	uint32_t		 unconfirmed;
	uint64_t		 next_ord;
	struct tx_shm		*shm;		/* CHAN_SHM: its ring (shm.c),
						   or NULL: the socket path */
	int			 async_rc;	/* first failure not reported */
	char			 async_errmsg[PROTO_ERRMSG_MAX + 1];
	char			 errmsg[PROTO_ERRMSG_MAX + 1];
};

/*
 * What the views of chan_rx_recv_many's last batch point into (rx_many.c),
 * kept until its next call or chan_rx_close: the messages it took from the
 * FIFO, and the records direct reading copied (each followed by a NUL).
 */
struct rx_views {
	struct chan_msg		*msgs;
	char			*buf;
	size_t			 len;
	size_t			 cap;
};

/*
 * What every delivery and receive touches comes first, in as few cache
 * lines as it fits: a consumer going round thousands of receivers finds
 * each of them out of the caches.
 */
struct chan_rx {
	/* Delivered messages and DISCONNECTED markers, in arrival order. */
	struct chan_msg		*head;
	struct chan_msg		*tail;
	struct chan_client	*c;
	uint32_t		 handle;
	unsigned		 flags;		/* CHAN_MANUAL_ACK */
	uint32_t		 prefetch;
	uint32_t		 credit;	/* granted, not yet delivered */
	uint64_t		 handed;	/* last seq given to the app */
	uint64_t		 ack_want;	/* highest seq to acknowledge */
	uint64_t		 ack_sent;	/* highest seq sent in an ACK */
	/* On c->due while it may owe the daemon an ACK or, for a wait,
	   grant credit: rx_enc_due writes what is owed. */
	TAILQ_ENTRY(chan_rx)	 due_entry;
	int			 due;
	uint32_t		 grant;		/* credit to grant, for a wait */
	int			 closing;	/* chan_rx_close is under way */
	struct rx_direct	*direct;	/* reading a producer's ring
						   (rx_direct.c), or NULL */
	/* On c->ready while the FIFO holds something, for chan_select. */
	TAILQ_ENTRY(chan_rx)	 ready_entry;
	/* The set it is a member of (rxset.c), or NULL; on the set's ready
	   list while its FIFO holds something. */
	struct chan_rxset	*set;
	TAILQ_ENTRY(chan_rx)	 set_ready_entry;

	/* Off the path of every message. */
	TAILQ_ENTRY(chan_rx)	 set_entry;	/* the set's members */
	LIST_ENTRY(chan_rx)	 entry;
	int			 receiving;	/* receives waiting on it now */
	int			 no_direct;	/* in a chan_select: never reads
						   a ring directly */
	int			 direct_asked;	/* DIRECT 1 answered, not yet
						   given up */
	unsigned		 sel_gen;	/* the chan_select call it is in */
	size_t			 sel_index;	/* its index in that call */
	struct rx_views		 views;		/* chan_rx_recv_many's last */
	char			 errmsg[PROTO_ERRMSG_MAX + 1];
};

struct chan_client {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;		/* CLOCK_MONOTONIC */
	int			 fd;
	int			 dead;		/* lost: every call fails */
	int			 reading;	/* a thread owns the socket */
	int			 ring_first;	/* the last wake-up was served
						   from the rings, its frame
						   left unread (conn_fill) */
	int			 dispatching;	/* a frame's handler runs: no
						   nested read or dispatch */
	int			 nonblock;	/* chan_client_set_nonblock */
	unsigned		 spin_us;	/* chan_client_set_spin */
	uint32_t		 unconfirmed;	/* pipelined sends, all txs */
	/*
	 * While every unconfirmed pipelined send belongs to one transmitter
	 * (a producer with one channel), replies are found in its ring and
	 * solo is that transmitter; once another transmitter sends too, its
	 * sends go to rids and solo is NULL until all are confirmed.
	 */
	struct chan_tx		*solo;
	struct ridmap		 rids;		/* their rids -> tx, ordinal */
	unsigned		 sel_gen;	/* chan_select calls so far */
	uint32_t		 next_rid;
	size_t			 max_msg;
	uint32_t		 features;	/* the daemon's PROTO_FEAT_* */
	uint32_t		 version;	/* protocol version in use */
	struct proto_decoder	*dec;
	struct proto_buf	 rbuf;		/* read, not yet dispatched */
	struct proto_buf	 wbuf;		/* frames not yet written */
	LIST_HEAD(, conn_req)	 reqs;
	LIST_HEAD(, chan_tx)	 txs;
	LIST_HEAD(, chan_rx)	 rxs;
	LIST_HEAD(, chan_rxset)	 sets;
	struct rx_shm		*rx_ring;	/* its receivers' ring, if any:
						   rx_shm.c */
	/* The transmitter whose ring holds pipelined sends written and not
	   yet committed (tx_shm_hold), if any. */
	struct chan_tx		*shm_held;
	/* Receivers that read a producer's ring (rx_direct.c), and those
	   freed while another thread's read may still look at them. */
	LIST_HEAD(, rx_direct)	 directs;
	LIST_HEAD(, rx_direct)	 dead_dirs;
	/* What a spinning reader watches of them (rx_shm_ready). */
	struct rx_direct_look {
		const void	*ring;
		uint64_t	 pos;
	}			 dwatch[RX_DIRECT_WATCH];
	size_t			 ndwatch;
	/* The receivers sorted by handle: the reader looks one up for every
	   DELIVER, and a consumer may have thousands of channels. */
	struct rx_slot {
		uint32_t	 handle;
		struct chan_rx	*rx;
	}			*rxv;
	struct chan_rx		*rx_last;	/* the last one found */
	uint32_t		 rx_last_handle; /* its handle */
	size_t			 nrxv;
	size_t			 rxv_cap;
	/* Receivers that may owe an ACK or credit: a consumer of many
	   channels sends them together (ACKS), not one frame per channel. */
	TAILQ_HEAD(, chan_rx)	 due;
	/* Receivers whose FIFO holds something, the longest waiting first:
	   chan_select looks at these, not at every receiver it is given. */
	TAILQ_HEAD(, chan_rx)	 ready;
	int			 refused;	/* code of an ERROR with rid 0 */
	char			 path[108];	/* the daemon's socket */
	char			 errmsg[PROTO_ERRMSG_MAX + 1];
};

/* Deadlines on CLOCK_MONOTONIC; NULL means none. */
void	conn_deadline(struct timespec *, int timeout_ms);

/*
 * With c->mu held. conn_req_init prepares a request with a fresh rid that
 * expects a reply of op reply; the caller encodes its frame into c->wbuf
 * with that rid, then conn_call sends it and waits (until deadline, NULL:
 * for ever) for the reply. conn_call returns the request's result; the
 * reply fields are in req.
 */
void	conn_req_init(struct chan_client *, struct conn_req *,
	    enum proto_op reply, char *errbuf);
/* A fresh request id (never 0), for a request that no caller waits on. */
uint32_t conn_next_rid(struct chan_client *);
int	conn_call(struct chan_client *, struct conn_req *,
	    const struct timespec *deadline);
/* OPEN_TX or OPEN_RX stating opts' capacity; *handle set on success. */
int	conn_open(struct chan_client *, enum proto_op, const void *name,
	    size_t name_len, const chan_open_opts *, char *errbuf,
	    uint32_t *handle);
/* CLOSE handle, after whatever frames c->wbuf already holds. */
int	conn_close_handle(struct chan_client *, uint32_t handle, char *errbuf);
/*
 * Checks the arguments of chan_tx_open_ex/chan_rx_open_ex and copies opts
 * (NULL: defaults) into a full struct: CHAN_EINVAL, CHAN_EOPTION (flags
 * outside allowed, prefetch, window or a capacity out of range) or
 * CHAN_EBADNAME.
 */
int	conn_open_args(const struct chan_client *, const void *name,
	    size_t name_len, const chan_open_opts *, unsigned allowed,
	    chan_open_opts *out);
/*
 * RECALL handle: the daemon delivers what the receiver's credit allows
 * now, reports a disconnection it is owed, takes the rest of the credit
 * back and answers; waits for the answer at most bound_ms. Afterwards
 * the receiver's FIFO holds all the daemon gave it.
 */
int	conn_recall(struct chan_client *, uint32_t handle, int bound_ms,
	    char *errbuf);
/*
 * Makes sure everything the daemon had for this connection when it read
 * our latest frames has been dispatched: a PING round trip (bounded by
 * bound_ms: CHAN_ETIMEDOUT). In non-blocking mode it only writes what the
 * socket takes: what has arrived is what chan_client_process has read.
 */
int	conn_barrier(struct chan_client *, int bound_ms, char *errbuf);
/*
 * Sends what is in c->wbuf (no reply expected), blocking until done; while
 * the socket is full it reads and dispatches replies, so that a daemon
 * waiting for us to read never waits on us in turn.
 */
int	conn_write(struct chan_client *);
/*
 * Sends what the socket takes now without blocking, keeping the rest in
 * c->wbuf: 0 or CHAN_ECONNLOST.
 */
int	conn_write_nb(struct chan_client *);
/*
 * Reads what the socket holds now without blocking (at most max bytes)
 * and dispatches it; only when no other thread is the reader. 0,
 * CHAN_ECONNLOST or CHAN_ENOMEM.
 */
int	conn_read_nb(struct chan_client *, size_t max);
/*
 * Waits until done(arg) holds (returns 0), the deadline passes
 * (CHAN_ETIMEDOUT) or the connection is lost (CHAN_ECONNLOST). Reads and
 * dispatches frames meanwhile, as the reader or behind it.
 */
/*
 * Takes c->mu at the start of a call on the connection: first commits
 * the pipelined ring sends it holds (tx_shm_hold). chan_tx_send_async
 * and the waits that take the mutex back take it themselves.
 */
void	conn_lock(struct chan_client *);
int	conn_wait(struct chan_client *, int (*done)(void *), void *arg,
	    const struct timespec *deadline);
/* Copies at most PROTO_ERRMSG_MAX bytes of text into buf. */
void	conn_set_errmsg(char *buf, const char *text, size_t len);
/* Negative CHAN_E* for a positive wire code; unknown ones: CHAN_EPROTO. */
int	conn_wire_code(uint32_t code);

/* rx.c, for the reader. */
struct chan_rx	*rx_find(struct chan_client *, uint32_t handle);
/* rx may owe the daemon an ACK or credit: puts it on c->due. */
void		 rx_due(struct chan_rx *);
void		 rx_push(struct chan_rx *, struct chan_msg *);
void		 rx_free(struct chan_rx *);	/* unlinks and frees */
int		 rx_flush_locked(struct chan_rx *);

/*
 * shm.c, with c->mu held. tx_shm_setup asks the daemon for tx's ring
 * (nothing if the daemon has none, or the channel keeps the socket path);
 * tx_shm_send commits one record of at most tx_shm_max bytes, waiting as
 * wait_ms says (-1: for room, 0: not, else that long; full_rc then;
 * TX_SHM_LOOP: through the application's event loop, CHAN_EAGAIN until
 * the daemon grants room and says so on the socket);
 * tx_shm_drain waits until the daemon has taken every record. Both
 * return TX_SHM_SOCKET once the daemon closed the ring at a daemon-wide
 * queue limit: the ring is gone, the send goes (and the transmitter goes
 * on) through the socket, which answers it as any SEND.
 */
#define TX_SHM_SOCKET	1
#define TX_SHM_LOOP	(-2)
struct tx_shm;
int	tx_shm_setup(struct chan_client *, struct chan_tx *);
void	tx_shm_free(struct chan_tx *);
size_t	tx_shm_max(const struct chan_tx *);
int	tx_shm_send(struct chan_tx *, const void *, size_t, int wait_ms,
	    int full_rc);
int	tx_shm_drain(struct chan_tx *);
/*
 * Commits as many of msgs[0 .. n) as the ring and the grant take now,
 * without waiting, together (one store of the head, one wake-up): how
 * many. It stops at the first it cannot take (over tx_shm_max or
 * max_msg, NULL data, no room); tx_shm_send then deals with that one.
 */
size_t	tx_shm_put_many(struct chan_tx *, const struct iovec *msgs, size_t n);
/*
 * Pipelined sends on a ring (chan_tx_send_async, blocking mode) are
 * written at once and committed together, as pipelined SENDs are written
 * to the socket together: a commit is a store other processes read, and
 * one a message made the producer wait for the reader's cache. tx_shm_hold
 * writes a record without committing it: 0, or why not (CHAN_EFULL: no
 * room or grant without asking); the caller then sends it as tx_shm_send
 * does, which commits what is held first. It commits by itself once
 * SHM_PUBLISH_BYTES or tx's window are held. Every other call on the
 * connection commits what is held before it does anything (conn_lock),
 * so held records wait only while the application calls nothing. One
 * transmitter of a connection holds at a time: tx_shm_hold commits
 * another's first. tx_shm_commit commits what tx holds (if the daemon
 * has closed the ring, they failed: pipeline_fail_held); conn_commit_held
 * what c holds.
 */
int	tx_shm_hold(struct chan_tx *, const void *, size_t);
void	tx_shm_commit(struct chan_tx *);
void	conn_commit_held(struct chan_client *);
/*
 * RING_FETCH of token, with flags (PROTO_FETCH_*), on a fresh connection
 * to path: 0 with fds set to the ring's memfd and the ends of its two
 * wake-up socket pairs (client/wake.c), or an error. With
 * PROTO_FETCH_WAKE, fds[3] is the ring's wake descriptor, or -1 if the
 * daemon passed none.
 */
int	shm_fetch(const char *path, uint64_t token, int fds[4],
	    uint32_t flags);
/*
 * The same for a fetch that passes 1 to max descriptors (at most
 * SHM_FETCH_FDS_MAX), with flags as RING_FETCH's (0: none sent): 0 with
 * fds[0 .. *nfds - 1] set, or an error; *refused (if not NULL) is 1 when
 * that error is the daemon's answer (ERROR), 0 when it is the fetch's own.
 */
#define SHM_FETCH_FDS_MAX	34	/* a direct reader's: page, daemon,
					   16 rings, their 16 wake ends */
/* Closes the descriptors of fds[0 .. n - 1] that are not -1. */
void	shm_close_fds(int *fds, int n);
int	shm_fetch_n(const char *path, uint64_t token, uint32_t flags, int *fds,
	    size_t max, size_t *nfds, int *refused);
/* CLOCK_MONOTONIC in nanoseconds: the clock ring stamps are read from. */
uint64_t shm_clock_ns(void);
/* CHANCLIENT_SHM=1 in the environment: every handle asks for a ring. */
int	shm_wanted(void);

/*
 * The receivers' ring (rx_shm.c), one per connection, with c->mu held.
 * rx_shm_setup asks the daemon to send rx's frames through c's ring,
 * fetching and mapping the ring the first time (if the daemon offers
 * rings; else rx stays on the socket); from then on rx's DELIVER and
 * DISCONNECTED frames come in the ring. rx_shm_dispatch dispatches the
 * frames the ring holds, all of them (max 0) before any frame read from
 * the socket, since the daemon wrote those first; else about max bytes
 * of them (and at most 512 frames), so that a consumer that is behind
 * does not buffer the whole ring. rx_shm_arm, before the caller waits for the
 * socket: asks the daemon for a RING_WAKE on the socket when it writes
 * next, and returns 1 if frames are there already (then dispatch rather
 * than wait). rx_shm_free unmaps c's ring.
 */
struct rx_shm;
int	rx_shm_setup(struct chan_client *, struct chan_rx *);
void	rx_shm_free(struct chan_client *);
void	rx_shm_dispatch(struct chan_client *, size_t max);
int	rx_shm_arm(struct chan_client *);
/*
 * For a reader that spins on the ring (chan_client_set_spin): with c->mu
 * held, rx_shm_ready is 1 if frames wait, else 0 with *pos where the
 * reader stands. Then, without c->mu, rx_shm_moved is nonzero once the
 * daemon wrote past pos; with arm, it first asks for a RING_WAKE, as
 * rx_shm_arm does, before the reader sleeps.
 */
int	rx_shm_ready(struct chan_client *, uint64_t *pos);
int	rx_shm_moved(struct chan_client *, uint64_t pos, int arm);
/*
 * With c->mu held, after a wake-up: 1 if the receivers' ring has frames or
 * a producer ring read directly has records a waiting receiver may take,
 * without asking for any RING_WAKE.
 */
int	rx_shm_woken(struct chan_client *);
/* Dispatches one frame body from the daemon (conn.c). */
void	conn_dispatch(struct chan_client *, const char *body, size_t len);
/* Marks c lost, for reason: every waiting and later call fails. */
void	conn_fail(struct chan_client *, const char *reason);
/* tx.c */
void		 tx_free(struct chan_tx *);	/* unlinks and frees */
/*
 * Checks a send's arguments and takes c->mu: 0 with it held, else an
 * error (an earlier pipelined failure among them) without it.
 */
int		 tx_send_begin(struct chan_tx *, const void *, size_t);

/* pipeline.c */
/* A reply matching no waiting request: 1 if it confirms a pipelined send. */
int		 pipeline_reply(struct chan_client *, const struct proto_msg *);
/*
 * Writes tx's batch and waits for every confirmation (in non-blocking mode
 * unless block: CHAN_EAGAIN while some are missing); returns the first
 * failure not yet reported.
 */
int		 pipeline_flush_locked(struct chan_tx *, int block);
/* The first failure not yet reported, which it clears: 0 if none. */
int		 pipeline_take_error(struct chan_tx *);
/*
 * The last n pipelined sends of tx failed with code, held in a ring the
 * daemon had closed (tx_shm_commit): kept as a refused SEND's failure is,
 * for the next call on tx to report.
 */
void		 pipeline_fail_held(struct chan_tx *, uint32_t n, int code);
/* Forgets tx's outstanding sends (tx is going away). */
void		 pipeline_fini(struct chan_tx *);

/*
 * rxset.c, for rx.c and conn.c: rx's FIFO became non-empty or empty
 * (rxset_rx_ready, rxset_rx_empty); rx leaves its set, as it goes
 * (rxset_leave); the connection goes (rxset_free_all, after its
 * receivers).
 */
void		 rxset_rx_ready(struct chan_rx *);
void		 rxset_rx_empty(struct chan_rx *);
void		 rxset_leave(struct chan_rx *);
void		 rxset_free_all(struct chan_client *);

/* rx.c, for select.c, rxset.c, loop.c and rx_many.c */
int		 rx_take(struct chan_rx *, struct chan_msg **);
int		 rx_enc_prepare(struct chan_rx *);
/* Before a wait on rx: the credit that refills its window, if due. */
void		 rx_want_credit(struct chan_rx *);
/*
 * Appends every ACK and credit the connection's receivers owe, several
 * to a frame (ACKS) when the daemon serves it; the frames go out with
 * the next conn_write or conn_call.
 */
int		 rx_enc_due(struct chan_client *);
int		 rx_try_locked(struct chan_rx *, int bound_ms,
		    struct chan_msg **);
/*
 * A look at what the daemon has for rx now (RECALL, waiting at most
 * bound_ms for the answer), reading directly from the ring where that
 * began or ended during it: what it found is in rx's FIFO or ring.
 */
int		 rx_look(struct chan_rx *, int bound_ms);
/* With the FIFO empty, waits until it holds something: 0, CHAN_ETIMEDOUT
   (nothing, credit taken back), or an error. */
int		 rx_wait_locked(struct chan_rx *, int timeout_ms);
/* RECALL for rx and a wait for its answer (a PING without RECALL). */
int		 rx_recall(struct chan_rx *, int bound_ms);
/*
 * Appends RECALL with rid 0 for rx if it has credit outstanding and the
 * daemon serves RECALL; rx's credit is then taken as gone. 0 or
 * CHAN_ENOMEM.
 */
int		 rx_enc_recall(struct chan_rx *);

/*
 * Direct reading (rx_direct.c), with c->mu held. rx_direct_offer maps the
 * ring of a DIRECT_OFFER (or gives it back); rx_direct_off ends it
 * (DIRECT_OFF); rx_direct_frame: a DELIVER or DISCONNECTED came for rx, so
 * the daemon has the ring back; rx_direct_woken: its RING_WAKE came;
 * rx_direct_close: rx goes. rx_direct_pull claims the next bite of rx's
 * ring into its FIFO (how many); rx_direct_pull_all does so for every
 * receiver of c with an empty FIFO. rx_direct_ack writes rx's
 * acknowledgement into the page (a socket ACK must not carry it).
 * rx_direct_arm, before the reader sleeps: 1 if a ring has records, else
 * asks for a RING_WAKE on each. rx_direct_watch fills v with what a
 * spinning reader watches without c->mu; rx_direct_reap frees the
 * receivers' mappings freed while it did.
 */
struct rx_direct;
/* After rx_shm_setup: asks the daemon to offer rx direct reading. */
int	rx_direct_setup(struct chan_client *, struct chan_rx *);
void	rx_direct_offer(struct chan_client *, uint32_t handle, uint64_t token);
void	rx_direct_off(struct chan_client *, uint32_t handle, uint64_t seq);
void	rx_direct_frame(struct chan_rx *);
void	rx_direct_woken(struct chan_client *, uint32_t handle);
void	rx_direct_close(struct chan_rx *);
/* rx is in a chan_select: it gives direct reading up for good. */
void	rx_direct_select(struct chan_rx *);
/* Appends m to rx's FIFO without taking credit (rx_push takes one). */
void	rx_append(struct chan_rx *, struct chan_msg *);
int	rx_direct_pull(struct chan_rx *);
/*
 * Copies rx's next records, up to max, into rx->views.buf from its len
 * and claims them, as handed out: v[0 .. n) point at them. How many.
 */
size_t	rx_direct_view(struct chan_rx *, chan_view *v, size_t max);
int	rx_direct_pull_all(struct chan_client *);
void	rx_direct_ack(struct chan_rx *);
/* rx goes (close, disconnect): its acknowledgement, on the socket too if
   the daemon has taken the ring back. */
void	rx_direct_ack_last(struct chan_rx *);
int	rx_direct_arm(struct chan_client *);
/*
 * rx_direct_arm for rx alone, whose FIFO is empty, in an event loop: what
 * its rings hold goes into its FIFO, and no other receiver's; if nothing,
 * rx asks for a RING_WAKE.
 */
void	rx_direct_rearm(struct chan_rx *);
/* 1 if a ring rx_direct_arm would look at has records: nothing asked. */
int	rx_direct_ready(struct chan_client *);
/*
 * The wake descriptors of the readers armed to be woken by their
 * producers (at most max, which rx_direct_arm never exceeds for
 * RX_DIRECT_WATCH): a blocking reader polls them with the socket. After
 * one was readable, rx_direct_woken_all disarms those readers: each asks
 * again before it sleeps again.
 */
size_t	rx_direct_wake_fds(struct chan_client *, int *fds, size_t max);
void	rx_direct_woken_all(struct chan_client *);
/*
 * The wake descriptor fd hung up (its producer closed or shut its end): the
 * reader that watched it closes it and watches it no more, rather than
 * being woken by it at every poll.
 */
void	rx_direct_wake_gone(struct chan_client *, int fd);
size_t	rx_direct_watch(struct chan_client *, struct rx_direct_look *,
	    size_t max);
void	rx_direct_reap(struct chan_client *);
/* CHANCLIENT_DIRECT=0 in the environment: receivers on rings never read
   their producer's ring directly (they do when the daemon offers it). */
int	rx_direct_wanted(void);

/*
 * wake.c: the wake-up descriptors shared with the daemon. wake_send wakes
 * fd's reader, never blocking: 0 (also when fd is full or its reader has
 * gone), or -1 with errno. wake_drain empties fd of up to 4 KiB without
 * blocking: 1 if it held something, 0 if not, -1 with errno.
 */
int	wake_send(int fd);
int	wake_drain(int fd);

/* rx_many.c: frees what the views of rx's last batch point into. */
void	rx_views_release(struct chan_rx *);

/* msg.c */
struct chan_msg	*msg_new(uint32_t handle, uint64_t seq, int redelivered,
		    const void *data, size_t len);

#endif /* CHANCLIENT_CLIENT_H */

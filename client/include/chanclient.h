/* SPDX-License-Identifier: MIT */
/*
 * chanclient.h: client library for chand, the local channel daemon.
 *
 * chand hosts named multiple-producer / single-consumer channels, the model
 * of Rust's std::sync::mpsc carried across processes. A program connects to
 * the daemon (chan_client), opens transmitters (chan_tx) and at most one
 * receiver per channel (chan_rx), and exchanges messages (chan_msg) of
 * opaque bytes.
 *
 * Errors: every function that can fail returns 0 on success and a
 * negative CHAN_E* code on failure (CHAN_EINVAL for a NULL argument that
 * must not be NULL); nothing prints, nothing exits. chan_strerror() names
 * a code. The daemon's explanation of the last failure (the channel, the
 * pid holding it) is kept with the object the call was made on:
 * chan_client_errmsg(), chan_tx_errmsg(), chan_rx_errmsg(). After
 * CHAN_ECONNLOST, chan_client_errmsg() says why the connection was lost.
 * For CHAN_ESYS, errno holds the system error.
 *
 * Ownership: functions named _open/_clone/_connect/_recv hand the caller a
 * new object that the caller releases with the matching _close/_disconnect/
 * _free. A chan_msg is the caller's until chan_msg_free().
 *
 * Thread safety: a chan_client and its handles may be used from several
 * threads at once, provided no single chan_tx or chan_rx is used by two
 * threads at the same time (as a Rust Sender clone is moved into one thread
 * each). A thread blocked in chan_rx_recv() does not stop other threads from
 * sending on the same connection. chan_disconnect() must not run while any
 * other call on that connection or its handles is in progress.
 * chan_client_errmsg() is shared by every thread that opens handles on the
 * connection: read it only while no other thread is opening one on c, or
 * it may hold, or be changing to, another call's explanation. The
 * per-handle messages have no such limit.
 * The library keeps no global state; it ignores SIGPIPE on its own sockets
 * (MSG_NOSIGNAL) rather than changing the process's signal dispositions.
 */
#ifndef CHANCLIENT_H
#define CHANCLIENT_H

#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CHAN_EXPORT __attribute__((visibility("default")))
#else
#define CHAN_EXPORT
#endif

#define CHAN_VERSION_STRING	"0.1.0"

/*
 * Error codes. Codes 1-31 travel on the wire as positive numbers (see
 * docs/protocol.md); codes from 32 are the library's own.
 */
#define CHAN_ERRNO_MAP(X)						\
	X(PROTO, 1, "protocol error")					\
	X(VERSION, 2, "unsupported protocol version")			\
	X(BADNAME, 3, "invalid channel name")				\
	X(TOOBIG, 4, "message too large")				\
	X(BUSY, 5, "channel already has a consumer")			\
	X(BADHANDLE, 6, "no such handle")				\
	X(WRONGEND, 7, "operation not valid on this end of the channel") \
	X(OPTION, 8, "invalid or unknown option")			\
	X(LIMIT, 9, "daemon limit reached")				\
	X(UNKNOWNOP, 10, "unknown operation")				\
	X(NOMEM, 11, "out of memory")					\
	X(SHUTDOWN, 12, "daemon shutting down")				\
	X(FULL, 13, "channel full")					\
	X(CAPACITY, 14, "channel exists with other settings")		\
	X(PERM, 15, "permission denied")				\
	X(DISK, 16, "message not written to the channel's log")	\
	X(RXGONE, 17, "the channel's receiver is gone")		\
	X(DISCONNECTED, 32, "channel disconnected: every sender is gone") \
	X(EMPTY, 33, "channel empty")					\
	X(TIMEDOUT, 34, "timed out")					\
	X(NODAEMON, 35, "no daemon running on socket")			\
	X(CONNLOST, 36, "connection to the daemon lost")		\
	X(SYS, 37, "system error")					\
	X(INVAL, 38, "invalid argument")				\
	X(AGAIN, 39, "operation would block")

typedef enum {
	CHAN_OK = 0,
#define CHAN_ERRNO_ENUM(name, num, msg) CHAN_E##name = -(num),
	CHAN_ERRNO_MAP(CHAN_ERRNO_ENUM)
#undef CHAN_ERRNO_ENUM
} chan_errno_t;

/* Short description of a CHAN_E* code; "unknown error" for others. */
CHAN_EXPORT const char *chan_strerror(int err);
/* "CHAN_EBUSY" style name of a code; "CHAN_E?" for others. */
CHAN_EXPORT const char *chan_errname(int err);

typedef struct chan_client chan_client;
typedef struct chan_tx chan_tx;
typedef struct chan_rx chan_rx;
typedef struct chan_msg chan_msg;
typedef struct chan_rxset chan_rxset;

/*
 * Options for opening either end. Initialise with CHAN_OPEN_OPTS_INIT and
 * set the fields you need: the struct may grow, and size tells the library
 * which fields the caller knows (later ones take their defaults).
 *
 * capacity and capacity_bytes (either end) state the channel's bounds: the
 * most messages it queues (0 to 2^32-1; 0 makes a rendezvous channel, on
 * which a send completes only once the consumer has taken the message)
 * and the most payload bytes it queues (1 to 2^63). They are fixed by the
 * open that creates the channel. CHAN_CAPACITY_DEFAULT states nothing:
 * a new channel takes the daemon's defaults, an existing one is accepted
 * as it is. CHAN_CAPACITY_UNBOUNDED asks for no bound. An open that states
 * a value other than the existing channel's fails with CHAN_ECAPACITY.
 */
#define CHAN_CAPACITY_DEFAULT	UINT64_MAX
#define CHAN_CAPACITY_UNBOUNDED	(UINT64_MAX - 1)

typedef struct chan_open_opts {
	size_t		size;		/* sizeof(chan_open_opts) */
	unsigned	flags;		/* CHAN_MANUAL_ACK, CHAN_FOREVER,
					   CHAN_RX_GONE, CHAN_SHM */
	unsigned	prefetch;	/* rx: messages the daemon may push ahead
					   of chan_rx_recv; 0 means 1 */
	uint64_t	capacity;	/* messages; or a CHAN_CAPACITY_ value */
	uint64_t	capacity_bytes;	/* bytes; or a CHAN_CAPACITY_ value */
	unsigned	window;		/* tx: pipelined sends that may await
					   confirmation (1 to 65536); 0 means
					   4096 */
	int		durable;	/* a CHAN_DURABLE_ value */
	uint64_t	ring_size;	/* tx with CHAN_SHM: bytes of the ring's
					   data area; 0 means the daemon's */
} chan_open_opts;

/*
 * ring_size (tx with CHAN_SHM): the ring the transmitter asks for, a
 * power of two from 4096 to 2^30 (else CHAN_EOPTION); the daemon gives at
 * most its own bound (64 MiB) and, for 0, its default (1 MiB). A message
 * goes through the ring if it is at most half the ring less 16 bytes (a
 * record's header), else over the socket (in order, with the socket's
 * costs): a producer of messages up to N bytes asks for the power of two
 * at or above 2 * (N + 16). The rings' memory is the daemon's, bounded
 * for all rings together (1 GiB); a transmitter the daemon can give no
 * ring sends over the socket. Receivers ignore it.
 */

/*
 * durable (either end): whether the channel keeps its messages in a log
 * on disk, so that they survive a restart of the daemon (docs/
 * durability.md). Fixed, like the capacity, by the open that creates the
 * channel. CHAN_DURABLE_DEFAULT states nothing: a new channel is durable
 * if the daemon's --durable patterns name it, an existing one is accepted
 * as it is. CHAN_DURABLE_YES and CHAN_DURABLE_NO state it: an open that
 * states otherwise than the existing channel fails with CHAN_ECAPACITY.
 * Creating a durable channel on a daemon without --data-dir, or whose log
 * cannot be created, fails with CHAN_EDISK.
 */
#define CHAN_DURABLE_DEFAULT	0
#define CHAN_DURABLE_YES	1
#define CHAN_DURABLE_NO		2

#define CHAN_OPEN_OPTS_INIT	{ sizeof(chan_open_opts), 0, 0,		\
	CHAN_CAPACITY_DEFAULT, CHAN_CAPACITY_DEFAULT, 0, CHAN_DURABLE_DEFAULT, \
	0 }

/*
 * CHAN_MANUAL_ACK (rx): a received message stays in flight in the daemon
 * until chan_rx_ack(); without it the library acknowledges each message as
 * it hands it to the application.
 *
 * When an automatic acknowledgement reaches the daemon: a message counts
 * as acknowledged the moment a receive (chan_rx_recv, _try_recv,
 * _recv_timeout, chan_rx_drain, chan_select) returns it, but the library
 * tells the daemon later and cumulatively: one ACK covering every message
 * handed out so far is written when the receiver's local buffer has run
 * empty and a receive asks the daemon for more (together with the CREDIT
 * that refills the prefetch window, before it waits), whenever a receive
 * or chan_select on another receiver of the same connection is about to
 * wait (the acknowledgements every receiver owes then go together, many
 * to a frame), and by chan_rx_flush, chan_rx_close and chan_disconnect.
 * Until then the daemon
 * holds those messages in flight. If the process dies or the connection
 * is lost in between, the daemon delivers them again, marked redelivered,
 * to the next consumer: delivery is at least once, and up to one prefetch
 * window of messages already handed out may come again after a crash. A
 * consumer that must not lose work to a crash acknowledges with
 * CHAN_MANUAL_ACK after processing each message (and may still see again
 * what it had processed but not acknowledged when it died).
 */
#define CHAN_MANUAL_ACK		0x1u
/*
 * CHAN_FOREVER (rx): the receiver is never told of a disconnection: it
 * waits across generations of producers (chan-recv --forever), and
 * chan_rx_recv returns only messages. CHAN_RX_GONE (either end): see
 * "Receiver gone" below. Both need a daemon that serves them
 * (CHAN_EOPTION otherwise).
 */
#define CHAN_FOREVER		0x2u
#define CHAN_RX_GONE		0x4u
/*
 * CHAN_SHM (tx): send through shared memory when the daemon offers it
 * (docs/protocol.md, "Shared-memory data path"): the daemon gives the
 * transmitter a ring, and a send is confirmed once its record is
 * committed in the ring, a memory write, with no round trip (a pipelined
 * send: with its batch, chan_tx_send_async). Every contract of the socket
 * path holds: per-transmitter order, the channel's capacity (a send waits,
 * fails CHAN_EFULL or times out as on the socket), the daemon's queue
 * limits (a send over them fails CHAN_ELIMIT, and the transmitter goes
 * on through the socket), disconnection after the last committed
 * message. Durable and rendezvous channels, a daemon without the
 * feature, and one at its connection limits keep the socket path: the
 * flag is then ignored. A message longer than the ring's record limit
 * goes over the socket, after the messages before it.
 *
 * CHAN_SHM (rx): receive through shared memory when the daemon offers it
 * (docs/protocol.md, "Consumer rings"): the daemon writes the receiver's
 * messages and disconnection reports into a ring, one for all the
 * receivers of the connection, which the library reads from memory.
 * Nothing else changes: order, credit, acknowledgements, redelivery after
 * a crash, select, and event loops (the ring wakes the connection's
 * descriptor). A daemon without the feature, or out of ring memory,
 * leaves the receiver on the socket. While its channel has one producer,
 * on a ring, and nothing else comes in, the receiver reads that
 * producer's ring itself, read-only (docs/protocol.md, "Direct
 * reading"): the daemon leaves the data path, and takes the ring back
 * before anything else enters the channel. Same contracts; a receiver
 * takes no more from the ring than its prefetch, and only while a
 * receive waits, so a crash redelivers what a socket receiver would have.
 *
 * CHANCLIENT_SHM=1 in the environment sets the flag on every transmitter
 * and receiver (to run a program's tests on both paths);
 * CHANCLIENT_DIRECT=0 keeps receivers from reading producers' rings.
 */
#define CHAN_SHM		0x8u

/*
 * Receiver gone (CHAN_RX_GONE): Rust's SendError. A transmitter opened
 * with it fails, CHAN_ERXGONE, once the channel's consumer has attached
 * and then gone (chan_rx_close, chan_disconnect, or its process ended):
 * every send of it waiting for room and every later send, for good. Its
 * messages already queued stay for a later consumer. The flag on the
 * open that creates the channel (either end) puts the channel itself in
 * that mode: every producer fails so when the consumer goes, and what
 * was queued is dropped, as Rust drops a Receiver's buffer. Not with a
 * durable channel (CHAN_EOPTION). Without the flag a consumer's absence
 * is not an error: messages wait for the next consumer.
 */

/*
 * Writes the default socket path to buf: $CHAND_SOCKET if set and not
 * empty, else /run/chand.sock for root, else $XDG_RUNTIME_DIR/chand.sock,
 * else /tmp/chand-$UID.sock. Returns 0 or CHAN_EINVAL if len is too small.
 */
CHAN_EXPORT int chan_default_socket(char *buf, size_t len);

/*
 * Connects to the daemon at path (NULL: chan_default_socket()) and
 * completes the handshake. On success *out is a new connection to release
 * with chan_disconnect(). Errors: CHAN_EINVAL (path empty or too long for
 * a Unix socket), CHAN_ENODAEMON (nothing listening: ENOENT or
 * ECONNREFUSED), CHAN_ESYS (other connect errors, errno set),
 * CHAN_EVERSION, CHAN_EPROTO (a bad WELCOME), CHAN_ETIMEDOUT (no WELCOME
 * within 30 seconds), CHAN_ECONNLOST, CHAN_ENOMEM, or the code with which
 * the daemon refused the connection (CHAN_ELIMIT when over its connection
 * limit, CHAN_ESHUTDOWN). No connection is left to hold the daemon's
 * explanation of a refusal.
 */
CHAN_EXPORT int chan_connect(const char *path, chan_client **out);

/*
 * Closes the connection and every handle still open on it (the handles
 * must not be used afterwards; their memory is released). Acknowledgements
 * already made are sent first, without waiting for an answer. Producers
 * drop, a consumer's unacknowledged messages return to the daemon's queue.
 * c may be NULL.
 */
CHAN_EXPORT void chan_disconnect(chan_client *c);

/* Daemon's explanation of the last failure on c, or "" if none. */
CHAN_EXPORT const char *chan_client_errmsg(const chan_client *c);
/* Largest payload the daemon accepts, from its handshake. */
CHAN_EXPORT size_t chan_client_max_msg(const chan_client *c);
/*
 * The bounded spin, for latency: a thread about to wait for the daemon
 * (a blocking receive, a confirmed send's answer) first polls the socket
 * without sleeping for up to usec microseconds (at most 1000000; 0, the
 * default, never spins), sparing the wake-up of a sleeping thread when
 * the answer comes soon. It costs that CPU time on every wait that ends
 * later or never: a consumer with little traffic burns usec per message.
 * CHANCLIENT_SPIN_US in the environment sets it for every connection.
 * Returns 0 or CHAN_EINVAL.
 */
CHAN_EXPORT int chan_client_set_spin(chan_client *c, unsigned usec);

/*
 * Transmitters.
 *
 * chan_tx_open attaches a new producer to channel name (1 to 255 bytes,
 * NUL-terminated); chan_tx_open_ex takes any bytes and opts (capacity,
 * capacity_bytes, window, durable; flags CHAN_RX_GONE or 0, prefetch 0).
 * Errors:
 * CHAN_EBADNAME, CHAN_EOPTION (an opts field out of range, or refused by
 * the daemon), CHAN_ECAPACITY (the channel exists with another capacity
 * or durability than opts states), CHAN_EDISK (a durable channel could
 * not be created), CHAN_EPERM, CHAN_ELIMIT, CHAN_ECONNLOST,
 * CHAN_ENOMEM; chan_client_errmsg() then gives the daemon's explanation
 * (for CHAN_ECAPACITY: the channel's actual settings).
 * chan_tx_clone opens another producer on the same channel and connection,
 * as Sender::clone, with the same opts; the same errors, explained by
 * chan_tx_errmsg(tx).
 */
CHAN_EXPORT int chan_tx_open(chan_client *c, const char *name, chan_tx **out);
CHAN_EXPORT int chan_tx_open_ex(chan_client *c, const void *name,
    size_t name_len, const chan_open_opts *opts, chan_tx **out);
CHAN_EXPORT int chan_tx_clone(chan_tx *tx, chan_tx **out);

/*
 * Confirmed sends. Each sends len bytes (any content, 0 to
 * chan_client_max_msg()) and returns 0 once the daemon has queued the
 * message (on a rendezvous channel: once the consumer has received it): a
 * process that exits right after a successful send has lost nothing. On a
 * durable channel the message is also in the channel's log by then, as
 * the daemon's --sync policy promises. The bytes are copied; the caller
 * keeps its buffer.
 *
 * chan_tx_send waits as long as the channel is full (the daemon holds the
 * message until there is room), as Rust's SyncSender::send.
 * chan_tx_try_send never waits for room: CHAN_EFULL if the channel is
 * full (on a rendezvous channel: unless the consumer is waiting in a
 * receive at that moment); the message is then dropped, not queued.
 * chan_tx_send_timeout waits at most timeout_ms milliseconds for room
 * (< 0: as chan_tx_send; 0: as chan_tx_try_send but CHAN_ETIMEDOUT):
 * CHAN_ETIMEDOUT, the message dropped. On a CHAN_SHM ring, at the
 * deadline it waits for the daemon's answer to its last request for a
 * grant, so that a channel with room is not reported full because the
 * grant came late.
 *
 * Errors of all three: CHAN_ETOOBIG (checked before sending; the
 * connection stays usable), CHAN_ERXGONE (CHAN_RX_GONE: the receiver is
 * gone), CHAN_ELIMIT (a daemon-wide queue limit),
 * CHAN_EDISK (durable channel: the message could not be written to its
 * log, disk full or I/O error; nothing was queued), CHAN_EPERM, CHAN_ECONNLOST, CHAN_ENOMEM, and the failure of an earlier
 * pipelined send on tx not yet reported (see below; the message is then
 * not sent). chan_tx_errmsg() explains a refusal.
 */
CHAN_EXPORT int chan_tx_send(chan_tx *tx, const void *data, size_t len);
CHAN_EXPORT int chan_tx_try_send(chan_tx *tx, const void *data, size_t len);
CHAN_EXPORT int chan_tx_send_timeout(chan_tx *tx, const void *data,
    size_t len, int timeout_ms);

/*
 * chan_tx_send_redelivered is chan_tx_send of a message marked
 * redelivered: its first delivery already has the mark
 * (chan_msg_redelivered() is 1), as if it had been delivered before.
 * For a program that forwards messages it may have forwarded once
 * already (chan-bridge, after a crash), so that the consumer learns
 * which ones may be duplicates. On a durable channel the mark survives a
 * restart of the daemon; so does a redelivered mark on the messages
 * queued before it (docs/durability.md). On a CHAN_SHM transmitter it
 * goes over the socket, after the ring's records. Errors: those of
 * chan_tx_send, and CHAN_EOPTION if the daemon cannot mark a message
 * (an older one, without SEND_MARKED; nothing is sent).
 */
CHAN_EXPORT int chan_tx_send_redelivered(chan_tx *tx, const void *data,
    size_t len);

/*
 * Pipelined sends, for throughput. chan_tx_send_async queues the message
 * and returns without waiting for the daemon's confirmation; up to the
 * window (chan_open_opts.window, default 4096) may be unconfirmed at once,
 * and a send finding the window full waits for a confirmation first (in
 * non-blocking mode: CHAN_EAGAIN, nothing queued). Messages of one
 * transmitter arrive in the order sent, behind its earlier confirmed
 * sends and before its later ones.
 *
 * Batching: queued messages are written together, when 64 KiB are
 * batched, when the library waits for the daemon for any call on the
 * connection, by chan_tx_flush and chan_tx_close, and in non-blocking
 * mode by chan_client_process. A program that stops sending and then
 * does something else for a while calls chan_tx_flush, or its messages
 * may wait in the batch. On a CHAN_SHM transmitter in blocking mode the
 * messages are written into the ring at once and committed (which
 * confirms them) together in the same way: when 64 KiB, a quarter of the
 * ring or the window are waiting, and by any other call on the
 * connection, which commits them before it does anything else (a call
 * another thread is already blocked in does not: it began before them).
 * Messages held when the daemon stops reading the ring (CHAN_RX_GONE
 * and the consumer went, the connection broke) were not sent: the next
 * call on tx reports it, as a refused pipelined send.
 *
 * A pipelined send that the daemon refuses (CHAN_ELIMIT, CHAN_ETOOBIG
 * from a smaller daemon limit, CHAN_EPERM, ...) is reported by the next
 * chan_tx_send*, chan_tx_flush or chan_tx_close on tx; the first such
 * failure only, once; chan_tx_errmsg() then says which pipelined send of
 * tx it was ("pipelined send N: ...", N counting from 1). Later messages
 * are not held back by an earlier failure.
 *
 * chan_tx_flush writes the batch and waits until every pipelined send of
 * tx is confirmed: 0, the first failure not yet reported, CHAN_ECONNLOST
 * (whatever was not confirmed may be lost), CHAN_ENOMEM. In non-blocking
 * mode it does not wait: CHAN_EAGAIN while confirmations are missing.
 * chan_tx_unconfirmed tells how many are (0 for NULL).
 *
 * chan_tx_send_async errors: those of chan_tx_send that can be known at
 * once (CHAN_ETOOBIG, CHAN_ECONNLOST, CHAN_ENOMEM, CHAN_EINVAL), an
 * earlier failure, CHAN_EAGAIN (non-blocking mode, window full).
 */
CHAN_EXPORT int chan_tx_send_async(chan_tx *tx, const void *data,
    size_t len);
CHAN_EXPORT int chan_tx_flush(chan_tx *tx);
CHAN_EXPORT unsigned chan_tx_unconfirmed(const chan_tx *tx);

/*
 * chan_tx_send_many sends msgs[0 .. n) in that order, as n calls of
 * chan_tx_send would, and returns 0 once all are confirmed; else the
 * error of the first one that failed (nothing after it is sent), with
 * *sent (which may be NULL) the number confirmed before it. The whole
 * call takes the connection's lock once, where a loop of chan_tx_send
 * takes it per message: on a CHAN_SHM transmitter the messages are
 * written into the ring as bundles (one record of up to 64 KiB of them,
 * each framed by its length: docs/protocol.md), committed (and so
 * confirmed) together, one store for each 64 KiB of them, reading the
 * daemon's grant and the ring's free space once per batch rather than
 * per message. Over the socket each is a confirmed send (a round trip);
 * chan_tx_send_async is the throughput call there.
 */
CHAN_EXPORT int chan_tx_send_many(chan_tx *tx, const struct iovec *msgs,
    size_t n, size_t *sent);

/*
 * Drops the producer and frees tx, whatever the result. First waits, with
 * no time limit, for every pipelined send (as chan_tx_flush, even in
 * non-blocking mode) and returns the first unreported failure; then waits
 * for the daemon's confirmation of the close at most 10 seconds:
 * CHAN_ETIMEDOUT then means the request was sent and the daemon will act
 * on it when it reads it. Other errors: CHAN_ECONNLOST, CHAN_ENOMEM.
 */
CHAN_EXPORT int chan_tx_close(chan_tx *tx);
CHAN_EXPORT const char *chan_tx_errmsg(const chan_tx *tx);

/*
 * Receivers.
 *
 * chan_rx_open attaches the channel's single consumer. CHAN_EBUSY if the
 * channel already has one: chan_client_errmsg() then names the channel and
 * the pid of the process holding it. Other errors as chan_tx_open;
 * chan_rx_open_ex gives CHAN_EOPTION for flags other than CHAN_MANUAL_ACK,
 * CHAN_FOREVER and CHAN_RX_GONE, a prefetch over 65535 or a window other than 0, and states capacity and
 * durability as chan_tx_open_ex does.
 */
CHAN_EXPORT int chan_rx_open(chan_client *c, const char *name, chan_rx **out);
CHAN_EXPORT int chan_rx_open_ex(chan_client *c, const void *name,
    size_t name_len, const chan_open_opts *opts, chan_rx **out);

/*
 * chan_rx_recv blocks until a message arrives (0, *out set) or the channel
 * is disconnected (CHAN_EDISCONNECTED: it has had producers, every one is
 * gone and the queue is drained). As in Rust, disconnected stays
 * disconnected: every later receive returns CHAN_EDISCONNECTED at once,
 * until a producer attaches to the channel again (a name is not a
 * Sender: new producers may come). A receiver opened with CHAN_FOREVER
 * is never told and waits for them. The channel need not have had its
 * producers while rx was open: a channel whose producers left before rx
 * opened (within the daemon's --remember-for), or one recovered after a
 * restart, is disconnected once drained. (With a daemon that speaks
 * only protocol version 1, the report comes once per generation of
 * producers, and a further recv waits.)
 *
 * The loop that mirrors Rust's `for msg in rx`:
 *
 *	chan_msg *m;
 *	while ((rc = chan_rx_recv(rx, &m)) == 0) {
 *		use(chan_msg_data(m), chan_msg_len(m));
 *		chan_msg_free(m);
 *	}
 *	if (rc != CHAN_EDISCONNECTED)
 *		fail(rc);
 *
 * chan_rx_try_recv never waits for a message: 0, CHAN_EEMPTY or
 * CHAN_EDISCONNECTED (which wins over empty). It does a round trip to the
 * daemon when nothing is buffered locally, and gives CHAN_ETIMEDOUT if the
 * daemon does not answer it within 30 seconds. It never reports empty
 * while the daemon holds a message it could deliver to rx, even when the
 * connection's output is backed up by other receivers.
 *
 * chan_rx_recv_timeout waits at most timeout_ms milliseconds (< 0: for
 * ever): 0, CHAN_EDISCONNECTED or CHAN_ETIMEDOUT. When the time is up it
 * takes its credit back from the daemon (a round trip: tens of
 * microseconds on an idle machine, at most 50 ms more if the daemon does
 * not answer), so that a message or a disconnection the daemon already
 * had wins over timing out. With 0 it does exactly what try_recv does and
 * calls "nothing now" CHAN_ETIMEDOUT, as Rust's recv_timeout(0) returns
 * Timeout where try_recv returns Empty.
 *
 * No credit is left behind: a receive that returns without a message
 * (try_recv, recv_timeout, chan_rx_drain, chan_select) leaves the daemon
 * as if it had not been called, so a rendezvous sender is released, and
 * a bounded channel makes room, only by a receive that returns the
 * message. A message the daemon sent just before it took the credit back
 * is the receive's result; none is taken, lost or doubled. With a
 * prefetch window over 1 (chan_open_opts.prefetch) the receiver asked
 * for up to that many messages ahead of the application: a blocking
 * receive leaves its window standing, and up to prefetch messages may
 * leave the queue before they are received. In non-blocking mode the
 * window stands too: the event loop is the receive in progress.
 *
 * Other errors: CHAN_ECONNLOST (the daemon went away), CHAN_ENOMEM.
 *
 * In non-blocking mode (chan_client_set_nonblock) chan_rx_try_recv makes
 * no round trip and does not read the socket: it returns what
 * chan_client_process (or a call that waited for the daemon) has read,
 * else CHAN_EEMPTY, after granting the credit that lets the daemon
 * deliver; call it until CHAN_EEMPTY after opening and after every
 * chan_client_process. (Were it to read, messages could reach a receiver
 * already drained in this pass while the socket, now empty, never wakes
 * the loop again.)
 *
 * chan_rx_drain takes every message available now, up to max, into
 * msgs[0 .. *n), the `try_iter()` of Rust: what is buffered, then what the
 * daemon has (a round trip per prefetch window, as chan_rx_try_recv;
 * none in non-blocking mode). It returns 0 with *n from 0 (nothing there)
 * to max, stopping before a disconnection when it took messages;
 * CHAN_EDISCONNECTED (with *n 0) when the disconnection comes first; or an
 * error of chan_rx_try_recv with *n 0. The caller frees each message.
 *
 *	chan_msg *batch[64];
 *	size_t i, n;
 *	if ((rc = chan_rx_drain(rx, batch, 64, &n)) == 0)
 *		for (i = 0; i < n; i++) {
 *			use(batch[i]);
 *			chan_msg_free(batch[i]);
 *		}
 *
 * The library sends acknowledgements and credit without waiting for an
 * answer. If the daemon ever refuses one (an ERROR without a request id),
 * the library and the daemon disagree about a receiver; the library then
 * closes the connection, so that no receive waits for ever: every call on
 * it returns CHAN_ECONNLOST and chan_client_errmsg() gives the daemon's
 * reason. Unacknowledged messages go back to the queue as usual.
 */
CHAN_EXPORT int chan_rx_recv(chan_rx *rx, chan_msg **out);
CHAN_EXPORT int chan_rx_try_recv(chan_rx *rx, chan_msg **out);
CHAN_EXPORT int chan_rx_recv_timeout(chan_rx *rx, int timeout_ms,
    chan_msg **out);
CHAN_EXPORT int chan_rx_drain(chan_rx *rx, chan_msg **msgs, size_t max,
    size_t *n);

/*
 * chan_rx_recv_many receives a batch without a chan_msg per message:
 * it waits as chan_rx_recv_timeout does for the first message, then
 * takes what else rx has now, without waiting and without a round trip,
 * up to max, into v[0 .. *n): what the library has buffered (up to the
 * prefetch window) or, on a receiver that reads its producer's ring
 * directly (CHAN_SHM), the ring's records, up to 512 at a time. Returns
 * 0 with *n from 1 to max, stopping before a disconnection once it took
 * messages (the next call reports it); CHAN_EDISCONNECTED,
 * CHAN_ETIMEDOUT or another error of chan_rx_recv_timeout with *n 0.
 *
 * The views point into memory rx keeps: they stay valid until the next
 * chan_rx_recv_many on rx or chan_rx_close(rx), and the caller frees
 * nothing. Each view's data is followed by a NUL byte, as a message's.
 * The messages count as received, and acknowledged, as those of any
 * receive (a crash may bring back up to max of them, marked). Not on a
 * CHAN_MANUAL_ACK receiver (CHAN_EINVAL): a view cannot be acknowledged.
 *
 *	chan_view v[256];
 *	size_t i, n;
 *	while ((rc = chan_rx_recv_many(rx, -1, v, 256, &n)) == 0)
 *		for (i = 0; i < n; i++)
 *			use(v[i].data, v[i].len);
 */
typedef struct chan_view {
	const void	*data;
	size_t		 len;
	int		 redelivered;	/* as chan_msg_redelivered() */
} chan_view;

CHAN_EXPORT int chan_rx_recv_many(chan_rx *rx, int timeout_ms, chan_view *v,
    size_t max, size_t *n);

/*
 * Select: receives from whichever of rxs[0 .. n) has something first, as
 * crossbeam's select! over receive operations. Every receiver must be on
 * the same connection (CHAN_EINVAL otherwise). When every receiver has a
 * prefetch of 1 (the default) and n is at most 1000, the call takes one
 * message from all of them together (the daemon's SELECT: one credit
 * shared by the set), so a select over rendezvous channels releases one
 * sender; otherwise each gets credit for its own prefetch while the call
 * waits. Either way no credit is left behind when the call returns. Waits as chan_rx_recv_timeout does
 * (timeout_ms < 0: for ever; 0: not at all) and sets *index to the
 * receiver the result is about:
 *   0                   *out is a message from rxs[*index];
 *   CHAN_EDISCONNECTED  rxs[*index] is disconnected (reported once, as
 *                       chan_rx_recv does; a caller that is done with that
 *                       channel leaves it out of later calls);
 *   CHAN_ETIMEDOUT      nothing within the time (*index 0);
 *   CHAN_ECONNLOST, CHAN_ENOMEM, CHAN_EINVAL.
 * Receivers are served in the order they got something, and one that
 * still holds more after a call goes behind the others, so a busy
 * channel does not starve them; the work of a call does not grow with
 * the receivers that have nothing, past one pass to mark them.
 *
 *	size_t i, left = n;
 *	while (left > 0) {
 *		rc = chan_select(rxs, left, -1, &i, &m);
 *		if (rc == CHAN_EDISCONNECTED) {
 *			rxs[i] = rxs[--left];	(drop it from the set)
 *			continue;
 *		}
 *		if (rc != 0)
 *			fail(rc);
 *		use(i, m);
 *		chan_msg_free(m);
 *	}
 */
CHAN_EXPORT int chan_select(chan_rx *const *rxs, size_t n, int timeout_ms,
    size_t *index, chan_msg **out);

/*
 * Receiver sets: a standing select, built once and received from many
 * times, for a consumer of many channels (an epoll set, or crossbeam's
 * Select kept across calls). chan_select does its work for every
 * receiver on every call; a set does it once, when a receiver joins, so
 * a receive costs the same with ten thousand members as with one.
 *
 * chan_rxset_new makes an empty set for the receivers of c: 0,
 * CHAN_EINVAL or CHAN_ENOMEM; the caller frees it with chan_rxset_free
 * (chan_disconnect frees c's sets as it does its receivers). As with a
 * receiver, one thread at a time receives from a set, and nobody frees
 * it, or closes a member, while a receive on it waits.
 *
 * chan_rxset_add makes rx a member: rx must be on the set's connection
 * and in no set (CHAN_EINVAL otherwise). A member asks for its prefetch
 * window (chan_open_opts.prefetch, 1 by default) and keeps it open for as
 * long as it is a member, as if a receive were always waiting on it: up
 * to that many of its messages may wait in this process before the set
 * hands them out. They count as received only when handed out (a crash
 * before that gets them redelivered, marked), but a rendezvous sender is
 * released once its message reaches this process: where that matters,
 * use chan_select, which takes one message and leaves no credit behind.
 * A member never reads a producer's ring directly (CHAN_SHM), and
 * is refused by chan_select (CHAN_EINVAL) while it is a member; the
 * chan_rx_* receives work on it as usual.
 *
 * chan_rxset_remove takes rx out (CHAN_EINVAL if it is not a member); a
 * member with a window of 1 gives its credit back, as a receive that
 * ends does. chan_rx_close on a member takes it out first.
 *
 * chan_rxset_recv receives from whichever member has something, waiting
 * as chan_rx_recv_timeout does (timeout_ms < 0: for ever; 0: what the
 * daemon has now, one round trip if nothing is here; in non-blocking
 * mode, only what chan_client_process has read), and sets *from:
 *   0                   *out is a message from *from;
 *   CHAN_EDISCONNECTED  *from is disconnected; as chan_rx_recv, it is
 *                       reported again whenever a receive reaches it,
 *                       until a producer attaches: remove or close it
 *                       when done with it;
 *   CHAN_ETIMEDOUT      nothing within the time (*from NULL);
 *   CHAN_EINVAL         no members, or a NULL argument;
 *   CHAN_ECONNLOST, CHAN_ENOMEM.
 * Members are served in the order they got something, and one that still
 * holds more goes behind the others, so a busy channel does not starve
 * them.
 *
 *	chan_rxset *set;
 *	chan_rxset_new(c, &set);
 *	for (i = 0; i < n; i++)
 *		chan_rxset_add(set, rxs[i]);
 *	while (chan_rxset_len(set) > 0) {
 *		rc = chan_rxset_recv(set, -1, &from, &m);
 *		if (rc == CHAN_EDISCONNECTED) {
 *			chan_rx_close(from);	(leaves the set too)
 *			continue;
 *		}
 *		if (rc != 0)
 *			fail(rc);
 *		use(from, m);
 *		chan_msg_free(m);
 *	}
 *	chan_rxset_free(set);
 */
CHAN_EXPORT int chan_rxset_new(chan_client *c, chan_rxset **out);
CHAN_EXPORT int chan_rxset_add(chan_rxset *set, chan_rx *rx);
CHAN_EXPORT int chan_rxset_remove(chan_rxset *set, chan_rx *rx);
/* Members of set (0 for NULL). */
CHAN_EXPORT size_t chan_rxset_len(const chan_rxset *set);
CHAN_EXPORT int chan_rxset_recv(chan_rxset *set, int timeout_ms,
    chan_rx **from, chan_msg **out);
CHAN_EXPORT void chan_rxset_free(chan_rxset *set);

/*
 * With CHAN_MANUAL_ACK: acknowledges m and every message received before
 * it on rx; m is only read, the caller still frees it. Returns 0, or
 * CHAN_EINVAL if rx has not handed m out. Acknowledgements are sent before
 * the library next waits on the daemon, or at once by chan_rx_flush()
 * (0, CHAN_ECONNLOST, CHAN_ENOMEM). Unacknowledged messages return to the
 * queue, marked redelivered, when rx closes or its process dies.
 */
CHAN_EXPORT int chan_rx_ack(chan_rx *rx, const chan_msg *m);
CHAN_EXPORT int chan_rx_flush(chan_rx *rx);

/*
 * Sends the acknowledgements made so far, releases the consumer slot and
 * frees rx, whatever the result. Messages buffered in rx and not received
 * go back to the daemon's queue. Waits for the daemon as chan_tx_close
 * does (CHAN_ETIMEDOUT, CHAN_ECONNLOST, CHAN_ENOMEM).
 */
CHAN_EXPORT int chan_rx_close(chan_rx *rx);
CHAN_EXPORT const char *chan_rx_errmsg(const chan_rx *rx);

/*
 * Event loops (libuv, epoll, ...). chan_client_set_nonblock(c, 1) puts the
 * connection in non-blocking mode; the application then watches
 * chan_client_fd(c) for readable, and for writable while
 * chan_client_want_write(c) is 1, and on either calls
 * chan_client_process(c): it reads what the socket holds (at most 1 MiB a
 * call), dispatches it to the receivers and pipelined sends, and writes
 * pending output as far as the socket takes it, never waiting. It returns
 * 0, CHAN_ECONNLOST (stop watching; every call on c now fails so) or
 * CHAN_ENOMEM. After it, drain each receiver with chan_rx_try_recv (or
 * chan_rx_drain) until CHAN_EEMPTY, or a receiver set with
 * chan_rxset_recv(set, 0, ...) until CHAN_ETIMEDOUT (one call for what
 * came, however many receivers), and check chan_client_want_write again.
 * chan_client_fd returns the descriptor (CHAN_EINVAL for NULL); do not read,
 * write or close it.
 *
 * In non-blocking mode these never block: chan_client_process,
 * chan_client_want_write, chan_tx_send_async (CHAN_EAGAIN when the window
 * is full, or, on a CHAN_SHM transmitter, when the channel has no room
 * for it yet: retry after chan_client_process), chan_tx_flush (CHAN_EAGAIN
 * while confirmations are missing), chan_tx_unconfirmed,
 * chan_rx_try_recv, chan_rx_drain, chan_select and chan_rxset_recv with
 * timeout 0 (no round trip), the other chan_rxset_* calls, chan_rx_ack,
 * chan_rx_flush (writes what the socket takes), and
 * the getters. These still wait for the daemon, exactly as in blocking
 * mode (reading and dispatching meanwhile, so look at the receivers
 * afterwards): chan_tx_open*, chan_rx_open*, chan_tx_clone, chan_tx_send,
 * chan_tx_try_send, chan_tx_send_timeout, chan_tx_send_many,
 * chan_tx_close, chan_rx_close, chan_rx_recv, chan_rx_recv_timeout,
 * chan_rx_recv_many, chan_select and chan_rxset_recv with a timeout
 * other than 0, and
 * chan_disconnect's write of pending acknowledgements.
 * chan_client_set_nonblock returns 0 or CHAN_EINVAL; it may be switched
 * either way at any time.
 */
CHAN_EXPORT int chan_client_fd(const chan_client *c);
CHAN_EXPORT int chan_client_set_nonblock(chan_client *c, int on);
CHAN_EXPORT int chan_client_process(chan_client *c);
CHAN_EXPORT int chan_client_want_write(chan_client *c);

/*
 * Messages. The data is followed by a NUL byte that chan_msg_len() does not
 * count, so a text payload can be used as a C string.
 */
CHAN_EXPORT const void *chan_msg_data(const chan_msg *m);
CHAN_EXPORT size_t chan_msg_len(const chan_msg *m);
/* Non-zero if an earlier consumer received m and did not acknowledge it. */
CHAN_EXPORT int chan_msg_redelivered(const chan_msg *m);
CHAN_EXPORT void chan_msg_free(chan_msg *m);

/*
 * Admin view (what chanctl shows). Asks the daemon for one view, what
 * being "daemon", "channels", "connections" or "config", and returns its
 * answer:
 * one msgpack map whose schema is in docs/protocol.md ("Admin view").
 * Lists come in pages: after (NULL: from the start; after_len bytes) is
 * the "next" cursor of the previous page, limit (0: as many as fit in a
 * frame) the most entries wanted. On success *data is a malloc'd buffer
 * of *len bytes that the caller releases with free(). Waits at most 30
 * seconds. Errors: CHAN_EINVAL, CHAN_EOPTION (unknown view, bad cursor;
 * chan_client_errmsg() says which), CHAN_EPERM (refused by the daemon's
 * access rules), CHAN_EUNKNOWNOP (a daemon without the admin view),
 * CHAN_ETIMEDOUT, CHAN_ECONNLOST, CHAN_ENOMEM.
 */
CHAN_EXPORT int chan_client_info(chan_client *c, const char *what,
    const void *after, size_t after_len, unsigned limit, void **data,
    size_t *len);

/*
 * Admin actions (what chanctl purge, disconnect, log-level and reload
 * do; docs/protocol.md, "Admin actions"). action is "purge" (arg: a
 * channel name), "disconnect" (arg: a connection id in decimal),
 * "log-level" (arg: debug, info, notice, warning or error) or "reload"
 * (no arg: arg_len 0); arg is arg_len bytes, at most 255. On success
 * *data is a malloc'd buffer of *len bytes holding one msgpack map, the
 * action's result, that the caller releases with free(). Waits at most
 * 30 seconds. Errors: CHAN_EINVAL, CHAN_EOPTION (unknown action, bad
 * argument, no such connection, or a configuration that the daemon
 * refused to reload; chan_client_errmsg() says which), CHAN_EPERM
 * (refused by the daemon's access rules), CHAN_EUNKNOWNOP (a daemon
 * without admin actions: its WELCOME lacks feature 16), CHAN_ETIMEDOUT,
 * CHAN_ECONNLOST, CHAN_ENOMEM.
 */
CHAN_EXPORT int chan_client_admin(chan_client *c, const char *action,
    const void *arg, size_t arg_len, void **data, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* CHANCLIENT_H */

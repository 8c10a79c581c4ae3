/* SPDX-License-Identifier: MIT */
/*
 * proto.h: the chand wire protocol, versions 1 and 2 (see docs/protocol.md).
 *
 * Shared by the daemon and the client library. Nothing here does I/O or
 * knows about libuv: callers feed bytes in and get bytes out.
 *
 * Errors are the negative CHAN_E* codes of the public header; on the wire
 * an error code is the positive value (-CHAN_EPROTO == 1, and so on).
 */
#ifndef CHAND_PROTO_H
#define CHAND_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "chanclient.h"

#define PROTO_MAGIC		"chand"
/* The versions this code speaks; HELLO states a range, WELCOME the one
   chosen (the highest both sides speak). */
#define PROTO_VERSION		2
#define PROTO_VERSION_MIN	1

#define PROTO_HEADER_LEN	4	/* uint32 big-endian body length */
#define PROTO_NAME_MAX		255	/* channel name, bytes */
#define PROTO_CLIENT_NAME_MAX	64	/* HELLO opts "client", bytes */
#define PROTO_DEFAULT_MAX_MSG	(1024 * 1024)
#define PROTO_FRAME_OVERHEAD	1024	/* body limit = max_msg + this */
#define PROTO_CREDIT_MAX	65535
#define PROTO_ERRMSG_MAX	512	/* longest ERROR message we send */
#define PROTO_STATS_WHAT_MAX	32	/* STATS what, bytes */
#define PROTO_CURSOR_MAX	255	/* STATS opts "after", bytes */
#define PROTO_CAPACITY_MAX	UINT32_MAX	/* OPEN opts "capacity" */
#define PROTO_CAPACITY_BYTES_MAX (UINT64_C(1) << 63) /* "capacity_bytes" */

/* ACKS: entries per frame at most (3 values each, within the 1024
   values a body may hold). */
#define PROTO_ACKS_MAX		256

/* WELCOME info "features": what a daemon serves beyond the first
   version 1 ops. */
#define PROTO_FEAT_ACKS		0x1u	/* op ACKS */
#define PROTO_FEAT_RECALL	0x2u	/* op RECALL */
#define PROTO_FEAT_RXGONE	0x4u	/* OPEN opts "rx_gone" */
#define PROTO_FEAT_FOREVER	0x8u	/* OPEN_RX opts "forever" */
#define PROTO_FEAT_ADMIN	0x10u	/* op ADMIN and STATS "config" */
#define PROTO_FEAT_SELECT	0x100u	/* op SELECT */
#define PROTO_FEAT_MARKED	0x200u	/* op SEND_MARKED */
#define PROTO_FEAT_SHM		0x1000u	/* ops RING, RING_FETCH: producer
					   rings in shared memory */
#define PROTO_FEAT_RXRING	0x2000u	/* RING on a consumer handle,
					   RING_WAKE */
#define PROTO_FEAT_DIRECT	0x8000u	/* op DIRECT: consumers that read
					   their producers' rings themselves
					   (page version 2; 0x4000 was the
					   lone ring's version 1) */
#define PROTO_FEAT_WAKE		0x10000u /* RING_FETCH's "wake", DIRECT 3:
					   producers wake a sleeping direct
					   reader themselves */
#define PROTO_FEAT_CLAIMS	0x20000u /* RING_FETCH flag PROTO_FETCH_CLAIMS:
					    grants beyond a producer's
					    claims may be taken back */
#define PROTO_FEATURES		(PROTO_FEAT_ACKS | PROTO_FEAT_RECALL | \
				 PROTO_FEAT_RXGONE | PROTO_FEAT_FOREVER | \
				 PROTO_FEAT_ADMIN | PROTO_FEAT_SELECT | \
				 PROTO_FEAT_MARKED | PROTO_FEAT_SHM | \
				 PROTO_FEAT_RXRING | PROTO_FEAT_DIRECT | \
				 PROTO_FEAT_WAKE | PROTO_FEAT_CLAIMS)

/* SELECT: consumer handles sharing one credit, at most (within the 1024
   values a body may hold). */
#define PROTO_SELECT_MAX	1000

/* ADMIN: action and argument, bytes. */
#define PROTO_ADMIN_ACTION_MAX	32
#define PROTO_ADMIN_ARG_MAX	255

/* DELIVER flags, and SEND_MARKED's (the only one it may set). */
#define PROTO_FLAG_REDELIVERED	0x1u
#define PROTO_SEND_FLAGS	PROTO_FLAG_REDELIVERED

/* Operation codes: requests 1-31, replies 64-79, events 80-95. */
enum proto_op {
	PROTO_HELLO = 1,
	PROTO_OPEN_TX = 2,
	PROTO_OPEN_RX = 3,
	PROTO_CLOSE = 4,
	PROTO_SEND = 5,
	PROTO_ACK = 6,
	PROTO_CREDIT = 7,
	PROTO_PING = 8,
	PROTO_SEND_TIMED = 9,
	PROTO_STATS = 10,
	PROTO_ACKS = 11,
	PROTO_RECALL = 12,
	PROTO_SELECT = 13,
	PROTO_SEND_MARKED = 14,
	PROTO_ADMIN = 20,
	PROTO_RING = 30,	/* [30, rid, handle, size] */
	PROTO_RING_FETCH = 31,	/* [31, rid, token]: a fresh connection's
				   first frame */
	PROTO_DIRECT = 32,	/* [32, rid, handle, on]: direct reading
				   wanted (1) or given up (0) */
	PROTO_RING_TOKEN = 69,	/* [69, rid, token]: RING's reply */

	PROTO_WELCOME = 64,
	PROTO_OK = 65,
	PROTO_HANDLE = 66,
	PROTO_ERROR = 67,
	PROTO_INFO = 68,

	PROTO_DELIVER = 80,
	PROTO_DISCONNECTED = 81,
	PROTO_RING_WAKE = 82,	/* [82, handle]: records wait in its ring */
	PROTO_DIRECT_OFFER = 83, /* [83, handle, token]: read the producer's
				   ring (fetch it with RING_FETCH) */
	PROTO_DIRECT_OFF = 84,	/* [84, handle, seq]: the daemon took the
				   ring back after seq */
};

/*
 * A capacity option of OPEN_TX / OPEN_RX: not given (the channel's or the
 * daemon's default applies), given as nil (unbounded), or a number.
 */
enum proto_cap_kind {
	PROTO_CAP_ABSENT = 0,
	PROTO_CAP_UNBOUNDED,
	PROTO_CAP_VALUE,
};

struct proto_cap {
	enum proto_cap_kind	kind;
	uint64_t		value;	/* PROTO_CAP_VALUE only */
};

/*
 * ACKS: acknowledgements and credit for many consumer handles in one
 * frame. An entry acknowledges up to seq (0: no acknowledgement) and
 * grants n credit (0: none) on handle; never both 0.
 */
struct proto_ack_entry {
	uint32_t	 handle;
	uint32_t	 n;
	uint64_t	 seq;
};

/*
 * One decoded frame. Which fields are meaningful depends on op (see the
 * table in docs/protocol.md). Byte strings (name, text, payload) point into
 * the frame buffer that was decoded: they live as long as that buffer and
 * the caller copies what it keeps.
 */
struct proto_msg {
	enum proto_op	 op;
	uint32_t	 rid;		/* requests and replies */
	uint32_t	 handle;	/* CLOSE SEND ACK CREDIT HANDLE DELIVER
					   DISCONNECTED */
	uint64_t	 seq;		/* ACK DELIVER DIRECT_OFF */
	uint32_t	 count;		/* CREDIT SELECT n; RING size; DIRECT
					   on; RING_FETCH wake */
	uint64_t	 token;		/* RING_FETCH RING_TOKEN
					   DIRECT_OFFER */
	uint32_t	 version;	/* HELLO (highest spoken) WELCOME
					   (chosen) */
	uint32_t	 min_version;	/* HELLO opts "min_version"; 0: not
					   given */
	uint32_t	 code;		/* ERROR: positive wire code */
	uint32_t	 flags;		/* DELIVER; SEND_MARKED (within
					   PROTO_SEND_FLAGS) */
	uint64_t	 max_msg;	/* WELCOME info "max_msg" */
	uint64_t	 pid;		/* WELCOME info "pid"; ERROR fields
					   "pid" (0: absent) */
	uint32_t	 wait_ms;	/* SEND_TIMED */
	uint32_t	 limit;		/* STATS opts "limit"; 0: not given */
	struct proto_cap capacity;	/* OPEN_TX OPEN_RX opts "capacity":
					   0 to PROTO_CAPACITY_MAX */
	struct proto_cap capacity_bytes; /* opts "capacity_bytes": 1 to
					   PROTO_CAPACITY_BYTES_MAX */
	int		 durable;	/* OPEN_TX OPEN_RX opts "durable":
					   -1 not given, 0 false, 1 true */
	int		 rx_gone;	/* opts "rx_gone": as durable */
	int		 forever;	/* opts "forever": as durable */
	uint32_t	 features;	/* WELCOME info: PROTO_FEAT_* */
	uint32_t	 nacks;		/* ACKS: entries, 1..PROTO_ACKS_MAX */
	const struct proto_ack_entry *acks; /* ACKS: in the decoder's
					   memory, valid until its next
					   frame */
	uint32_t	 nhandles;	/* SELECT: 1..PROTO_SELECT_MAX */
	const uint32_t	*handles;	/* SELECT: as acks */

	const char	*name;		/* OPEN_TX OPEN_RX: channel name;
					   ADMIN: its argument (0 to
					   PROTO_ADMIN_ARG_MAX bytes) */
	size_t		 name_len;
	const char	*text;		/* ERROR message, WELCOME "server",
					   HELLO "client" (may be NULL) */
	size_t		 text_len;
	const char	*payload;	/* SEND SEND_TIMED SEND_MARKED
					   DELIVER INFO */
	size_t		 payload_len;
	const char	*what;		/* STATS what, ADMIN action (str) */
	size_t		 what_len;
	const char	*after;		/* STATS opts "after" (NULL: not
					   given; str or bin) */
	size_t		 after_len;
};

/*
 * Framing.
 *
 * proto_frame_check looks at the start of a receive buffer. It returns 0
 * when more bytes are needed, CHAN_ETOOBIG when the header announces a body
 * longer than max_body (checked before any body byte is needed, so callers
 * never buffer an oversized frame), and otherwise 1 with *body_len set: the
 * body is buf[PROTO_HEADER_LEN .. PROTO_HEADER_LEN + *body_len). Whenever
 * at least PROTO_HEADER_LEN bytes are available, *body_len is set to the
 * announced length, even for 0 (so the caller can size its buffer for the
 * whole frame) and for CHAN_ETOOBIG (so it can say how big).
 */
int	proto_frame_check(const void *buf, size_t len, size_t max_body,
	    size_t *body_len);
/*
 * The op of the body of len bytes at body (a msgpack array whose first
 * element is the op), read from its first bytes without decoding the
 * rest: the op, or -1 if the body does not start so (proto_decode then
 * says what is wrong).
 */
int	proto_peek_op(const void *body, size_t len);

/* Largest body the daemon accepts for a given payload limit. */
static inline size_t
proto_max_body(size_t max_msg)
{
	return max_msg + PROTO_FRAME_OVERHEAD;
}

/*
 * Decoding. A proto_decoder owns scratch memory reused from frame to frame
 * (no allocation per frame once warm). Decoding is exhaustive: wrong types,
 * wrong element counts, negative or out-of-range integers, names outside
 * 1..PROTO_NAME_MAX bytes, unknown opts keys, trailing bytes are errors.
 * Opts keys given twice, and opts values of the wrong type or range
 * (capacity above PROTO_CAPACITY_MAX, capacity_bytes 0 or above
 * PROTO_CAPACITY_BYTES_MAX, an "after" cursor over PROTO_CURSOR_MAX bytes,
 * a "limit" of 0 or above UINT32_MAX) are CHAN_EOPTION, as is a STATS
 * what over PROTO_STATS_WHAT_MAX bytes; whether a what names anything is
 * the daemon's to judge. An OPEN "durable" that is not a bool is
 * CHAN_EOPTION too. SEND_TIMED's wait_ms must be below 2^32
 * (CHAN_EPROTO otherwise), and SEND_MARKED's flags within
 * PROTO_SEND_FLAGS (CHAN_EPROTO otherwise).
 *
 * proto_decode returns 0, or:
 *   CHAN_EPROTO      malformed (m->rid holds the request id if one could be
 *                    read, else 0)
 *   CHAN_EUNKNOWNOP  well-formed [op, rid, ...] but op unknown (m->rid set)
 *   CHAN_EBADNAME    name empty or too long (m->rid set)
 *   CHAN_EOPTION     unknown or invalid opts key (m->rid set)
 *   CHAN_EVERSION    HELLO with a magic string other than PROTO_MAGIC
 *                    (the version number is the caller's to check)
 *   CHAN_ETOOBIG     payload longer than max_msg (m->rid set); INFO
 *                    data is not held to max_msg (the frame limit bounds
 *                    it)
 *   CHAN_ENOMEM
 * On success m->op and m->rid are set, and so are the fields that op
 * carries (the comments of struct proto_msg); every other field is
 * unspecified, so callers read only the fields of m->op. (The frames sent
 * once per message, SEND, ACK, CREDIT, ACKS, OK and DELIVER, are decoded
 * without clearing the rest of m: at 16-byte payloads clearing it cost
 * more than decoding.) Frames of other ops leave every other field zero,
 * durable -1. On error, m->op is set when it could be read (0 otherwise),
 * m->rid as described above, and the rest is zero.
 */
struct proto_decoder;

/* A decoder refusing payloads over max_msg bytes; NULL if out of memory. */
struct proto_decoder	*proto_decoder_new(size_t max_msg);
/* Frees d and its scratch memory; NULL is allowed. */
void			 proto_decoder_free(struct proto_decoder *d);
int			 proto_decode(struct proto_decoder *, const void *body,
			    size_t body_len, struct proto_msg *m);
/*
 * The start of a SEND body, for a reader that puts a big payload straight
 * where it is kept instead of buffering the whole frame: body holds the
 * first len of the body's body_len bytes. Returns 1 when the body is a
 * SEND that proto_decode accepts whatever its payload bytes are: m is
 * cleared as proto_decode clears it and op, rid, handle and payload_len
 * are set (payload NULL), and the payload is the body's last payload_len
 * bytes, from *payload_off on. Returns 0 while len is too short to tell
 * (PROTO_SEND_HEAD_MAX bytes, or the whole body, always are), and -1 for
 * anything else: the caller buffers the whole body and decodes it as
 * usual, and so gives the same answers to any input.
 */
#define PROTO_SEND_HEAD_MAX	25
int			 proto_send_head(const struct proto_decoder *,
			    const void *body, size_t len, size_t body_len,
			    struct proto_msg *m, size_t *payload_off);

/*
 * Encoding. Each function appends one whole frame (header included) to a
 * proto_buf, growing it as needed, and returns 0 or CHAN_ENOMEM (the
 * buffer is then unchanged). proto_buf is a plain growable byte buffer:
 * the caller owns it, proto_buf_init/fini bracket its life, and the caller
 * may consume bytes from the front with proto_buf_consume.
 */
struct proto_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

/* Empty, with no memory; proto_buf_fini frees it and leaves it so. */
void	proto_buf_init(struct proto_buf *);
void	proto_buf_fini(struct proto_buf *);
/* Room for extra more bytes: 0, or CHAN_ENOMEM with b unchanged. */
int	proto_buf_reserve(struct proto_buf *, size_t extra);
/* Copies len bytes to the end: 0, or CHAN_ENOMEM with b unchanged. */
int	proto_buf_append(struct proto_buf *, const void *, size_t len);
/* Drops the first n bytes (all of them if n >= len); keeps the memory. */
void	proto_buf_consume(struct proto_buf *, size_t n);

/* Requests (client side). */
/* HELLO speaking PROTO_VERSION_MIN to PROTO_VERSION. */
int	proto_enc_hello(struct proto_buf *, uint32_t rid, const char *client);
/*
 * HELLO speaking min_version to version; min_version 0 or equal to
 * version leaves "min_version" out (what a version 1 daemon understands).
 */
int	proto_enc_hello_range(struct proto_buf *, uint32_t rid,
	    const char *client, uint32_t version, uint32_t min_version);
int	proto_enc_open(struct proto_buf *, enum proto_op op, uint32_t rid,
	    const void *name, size_t name_len);
/*
 * OPEN_TX / OPEN_RX with capacity opts: a NULL or PROTO_CAP_ABSENT cap
 * leaves its key out (proto_enc_open leaves both out). Values are written
 * as given, not range-checked: the daemon judges them.
 */
int	proto_enc_open_cap(struct proto_buf *, enum proto_op op, uint32_t rid,
	    const void *name, size_t name_len, const struct proto_cap *capacity,
	    const struct proto_cap *capacity_bytes);
/* The same with opts "durable": -1 leaves it out, 0 false, 1 true. */
int	proto_enc_open_opts(struct proto_buf *, enum proto_op op, uint32_t rid,
	    const void *name, size_t name_len, const struct proto_cap *capacity,
	    const struct proto_cap *capacity_bytes, int durable);
/* Every OPEN opt: a bool opt of -1 leaves its key out. */
struct proto_open_opts {
	struct proto_cap capacity;
	struct proto_cap capacity_bytes;
	int		 durable;
	int		 rx_gone;
	int		 forever;
};
int	proto_enc_open_all(struct proto_buf *, enum proto_op op, uint32_t rid,
	    const void *name, size_t name_len, const struct proto_open_opts *);
int	proto_enc_close(struct proto_buf *, uint32_t rid, uint32_t handle);
int	proto_enc_recall(struct proto_buf *, uint32_t rid, uint32_t handle);
/* RING (size 0: the daemon's choice), RING_FETCH, RING_TOKEN. */
int	proto_enc_ring(struct proto_buf *, uint32_t rid, uint32_t handle,
	    uint32_t size);
int	proto_enc_ring_fetch(struct proto_buf *, uint32_t rid, uint64_t token);
/*
 * RING_FETCH [31, rid, token, flags]: PROTO_FETCH_* bits, each sent only to
 * a daemon that has the feature. Decoded into count (0 without it).
 */
#define PROTO_FETCH_WAKE	0x1u	/* the ring's wake descriptor too
					   (PROTO_FEAT_WAKE) */
#define PROTO_FETCH_CLAIMS	0x2u	/* the producer claims its grant
					   (PROTO_FEAT_CLAIMS) */
int	proto_enc_ring_fetch_flags(struct proto_buf *, uint32_t rid,
	    uint64_t token, uint32_t flags);
int	proto_enc_ring_token(struct proto_buf *, uint32_t rid, uint64_t token);
/* DIRECT: on 1 asks for direct reading on consumer handle, 0 gives it up. */
int	proto_enc_direct(struct proto_buf *, uint32_t rid, uint32_t handle,
	    uint32_t on);
/* SELECT: n credit shared by handles[0 .. nh), 1 to PROTO_SELECT_MAX. */
int	proto_enc_select(struct proto_buf *, uint32_t rid, uint32_t n,
	    const uint32_t *handles, uint32_t nh);
int	proto_enc_send(struct proto_buf *, uint32_t rid, uint32_t handle,
	    const void *payload, size_t len);
int	proto_enc_send_timed(struct proto_buf *, uint32_t rid, uint32_t handle,
	    const void *payload, size_t len, uint32_t wait_ms);
/* SEND_MARKED: flags as given (PROTO_SEND_FLAGS; the daemon judges). */
int	proto_enc_send_marked(struct proto_buf *, uint32_t rid,
	    uint32_t handle, const void *payload, size_t len, uint32_t flags);
/*
 * STATS: what is a NUL-terminated str (at most PROTO_STATS_WHAT_MAX bytes
 * are written); after (NULL: none) is written as bin of after_len bytes;
 * limit 0 leaves the key out.
 */
int	proto_enc_stats(struct proto_buf *, uint32_t rid, const char *what,
	    const void *after, size_t after_len, uint32_t limit);
/*
 * ADMIN: action is a NUL-terminated str (at most PROTO_ADMIN_ACTION_MAX
 * bytes are written), arg a bin of arg_len bytes (at most
 * PROTO_ADMIN_ARG_MAX, else CHAN_EINVAL).
 */
int	proto_enc_admin(struct proto_buf *, uint32_t rid, const char *action,
	    const void *arg, size_t arg_len);
int	proto_enc_ack(struct proto_buf *, uint32_t rid, uint32_t handle,
	    uint64_t seq);
int	proto_enc_credit(struct proto_buf *, uint32_t rid, uint32_t handle,
	    uint32_t n);
int	proto_enc_ping(struct proto_buf *, uint32_t rid);

/* ACKS of n entries, 1 to PROTO_ACKS_MAX (else CHAN_EINVAL); values as
   given, the daemon judges them. */
int	proto_enc_acks(struct proto_buf *, uint32_t rid,
	    const struct proto_ack_entry *, uint32_t n);

/* Replies and events (daemon side). */
/* WELCOME with the version chosen; info "features": PROTO_FEATURES. */
int	proto_enc_welcome(struct proto_buf *, uint32_t rid, uint32_t version,
	    const char *server, uint64_t max_msg, uint64_t pid);
int	proto_enc_ok(struct proto_buf *, uint32_t rid);
int	proto_enc_handle(struct proto_buf *, uint32_t rid, uint32_t handle);
int	proto_enc_error(struct proto_buf *, uint32_t rid, int code,
	    const char *message);	/* code: negative CHAN_E* */
/*
 * A fact of a version 2 ERROR (its fifth element, a map): key, and a
 * value that is an unsigned integer, nil, a bool or a str.
 */
enum proto_field_type {
	PROTO_FIELD_UINT,
	PROTO_FIELD_NIL,
	PROTO_FIELD_BOOL,
	PROTO_FIELD_STR,
};
struct proto_field {
	const char		*key;
	enum proto_field_type	 type;
	uint64_t		 u;	/* UINT; BOOL: 0 or 1 */
	const char		*s;	/* STR, NUL-terminated */
};
#define PROTO_FIELDS_MAX	8
/* ERROR with a map of n facts (n may be 0: an empty map). */
int	proto_enc_error_fields(struct proto_buf *, uint32_t rid, int code,
	    const char *message, const struct proto_field *, size_t n);
int	proto_enc_deliver(struct proto_buf *, uint32_t handle, uint64_t seq,
	    uint32_t flags, const void *payload, size_t len);
int	proto_enc_disconnected(struct proto_buf *, uint32_t handle);
int	proto_enc_ring_wake(struct proto_buf *, uint32_t handle);
/* DIRECT_OFFER [83, handle, token] and DIRECT_OFF [84, handle, seq]. */
int	proto_enc_direct_offer(struct proto_buf *, uint32_t handle,
	    uint64_t token);
int	proto_enc_direct_off(struct proto_buf *, uint32_t handle,
	    uint64_t seq);
/* INFO: data is one msgpack value, sent as a bin of len bytes. */
int	proto_enc_info(struct proto_buf *, uint32_t rid, const void *data,
	    size_t len);

/*
 * Header of a DELIVER frame without its payload bytes, for writers that
 * send the payload from where it already is (writev). Writes at most
 * PROTO_DELIVER_HDR_MAX bytes to out and returns how many; the full frame
 * is those bytes followed by the len payload bytes.
 */
#define PROTO_DELIVER_HDR_MAX	40
size_t	proto_enc_deliver_hdr(char *out, uint32_t handle, uint64_t seq,
	    uint32_t flags, size_t len);

/* Names. */
int	proto_name_valid(const void *name, size_t len);	/* 1 or 0 */
const char *proto_op_name(int op);	/* "SEND", ...; "?" if unknown */

/*
 * Default socket path: $CHAND_SOCKET, else /run/chand.sock for root, else
 * $XDG_RUNTIME_DIR/chand.sock, else /tmp/chand-$UID.sock. Writes a
 * NUL-terminated path to buf and returns 0, or CHAN_EINVAL if it does not
 * fit in len bytes.
 */
int	proto_default_socket(char *buf, size_t len);

#endif /* CHAND_PROTO_H */

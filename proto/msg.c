/* SPDX-License-Identifier: MIT */
/*
 * msg.c: frame bodies to struct proto_msg and back.
 *
 * Decoding is strict: every element of every op is checked for type and
 * range, and anything the protocol does not allow is an error, so the
 * daemon never acts on half a request. Encoders write whole frames.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "proto.h"

struct proto_decoder {
	msgpack_zone	zone;		/* objects of the frame being decoded */
	size_t		max_msg;
	/* ACKS entries of the last frame: the zone is cleared after each. */
	struct proto_ack_entry acks[PROTO_ACKS_MAX];
	/* SELECT handles of the last frame, likewise. */
	uint32_t	handles[PROTO_SELECT_MAX];
};

/*
 * Raw msgpack scanning.
 *
 * msgpack-c allocates room for all the elements a container header
 * announces before it reads them (24 bytes each), so a 5-byte body could
 * make it ask for gigabytes, and a 1 MiB array of nils for 24 MiB. Bodies
 * are therefore walked once without building anything: the walk refuses
 * truncated values, counts that the remaining bytes cannot hold, nesting
 * and item counts no frame needs. The same reader picks op and rid out of
 * bodies that fail to parse.
 */
enum mp_kind {
	MP_BAD,
	MP_SCALAR,		/* nil, bool, float, fixext */
	MP_UINT,		/* any integer >= 0; value in *n */
	MP_INT,			/* negative integer */
	MP_BYTES,		/* str, bin, ext */
	MP_ARRAY,		/* element count in *n */
	MP_MAP,			/* pair count in *n */
};

/* Formats 0xc0-0xdf: lenbytes big-endian bytes of value or length, then
   skip more bytes (plus the length, for MP_BYTES). */
static const struct mp_fmt {
	unsigned char	kind;
	unsigned char	lenbytes;
	unsigned char	skip;
} mp_fmts[32] = {
	{ MP_SCALAR, 0, 0 }, { MP_BAD, 0, 0 },		/* nil, unused */
	{ MP_SCALAR, 0, 0 }, { MP_SCALAR, 0, 0 },	/* false, true */
	{ MP_BYTES, 1, 0 }, { MP_BYTES, 2, 0 }, { MP_BYTES, 4, 0 }, /* bin */
	{ MP_BYTES, 1, 1 }, { MP_BYTES, 2, 1 }, { MP_BYTES, 4, 1 }, /* ext */
	{ MP_SCALAR, 0, 4 }, { MP_SCALAR, 0, 8 },	/* float 32, 64 */
	{ MP_UINT, 1, 0 }, { MP_UINT, 2, 0 },		/* uint 8-64 */
	{ MP_UINT, 4, 0 }, { MP_UINT, 8, 0 },
	{ MP_INT, 1, 0 }, { MP_INT, 2, 0 },		/* int 8-64 */
	{ MP_INT, 4, 0 }, { MP_INT, 8, 0 },
	{ MP_SCALAR, 0, 2 }, { MP_SCALAR, 0, 3 },	/* fixext 1-16 */
	{ MP_SCALAR, 0, 5 }, { MP_SCALAR, 0, 9 },
	{ MP_SCALAR, 0, 17 },
	{ MP_BYTES, 1, 0 }, { MP_BYTES, 2, 0 }, { MP_BYTES, 4, 0 }, /* str */
	{ MP_ARRAY, 2, 0 }, { MP_ARRAY, 4, 0 },		/* array 16, 32 */
	{ MP_MAP, 2, 0 }, { MP_MAP, 4, 0 },		/* map 16, 32 */
};

/* Deeper than any frame needs, shallower than msgpack-c's own limit. */
#define MP_DEPTH_MAX	16
/* Items in one body; the largest version 1 frame has about 12. */
#define MP_ITEMS_MAX	1024

/*
 * Reads the item at *off. Scalars, integers and byte strings are stepped
 * over whole; for containers *off ends after the header.
 */
static int
mp_head(const unsigned char *p, size_t len, size_t *off, uint64_t *n)
{
	struct mp_fmt	f;
	uint64_t	skip;
	unsigned char	b;
	int		i;

	if (*off >= len)
		return MP_BAD;
	b = p[(*off)++];
	*n = 0;
	if (b <= 0x7f) {
		*n = b;
		return MP_UINT;
	}
	if (b >= 0xe0)
		return MP_INT;
	if (b <= 0x9f) {
		*n = b & 0x0f;
		return b <= 0x8f ? MP_MAP : MP_ARRAY;
	}
	if (b <= 0xbf) {
		f = (struct mp_fmt){ MP_BYTES, 0, 0 };
		*n = b & 0x1f;
	} else
		f = mp_fmts[b - 0xc0];

	if (f.kind == MP_BAD || f.lenbytes > len - *off)
		return MP_BAD;
	for (i = 0; i < f.lenbytes; i++)
		*n = *n << 8 | p[(*off)++];
	skip = f.skip + (f.kind == MP_BYTES ? *n : 0);
	if (skip > len - *off)
		return MP_BAD;
	*off += skip;

	/* Signed encodings of values >= 0 are plain integers (as in
	   msgpack-c, which makes them POSITIVE_INTEGER). */
	if (f.kind == MP_INT && (*n >> (8 * f.lenbytes - 1)) == 0)
		return MP_UINT;
	return f.kind;
}

/* Length of the msgpack value at the start of p, or 0 if malformed. */
static size_t
mp_scan(const unsigned char *p, size_t len)
{
	uint64_t	left[MP_DEPTH_MAX + 1], want = 1, total = 1, n;
	size_t		off = 0, depth = 0;
	int		kind;

	left[0] = 1;
	for (;;) {
		while (left[depth] == 0) {
			if (depth == 0)
				return off;
			depth--;
		}
		left[depth]--;
		want--;
		kind = mp_head(p, len, &off, &n);
		if (kind == MP_BAD)
			return 0;
		if (kind != MP_ARRAY && kind != MP_MAP)
			continue;
		if (kind == MP_MAP)
			n *= 2;
		/* Each item still wanted takes at least one byte. */
		if (n > len - off || want + n > len - off)
			return 0;
		if ((total += n) > MP_ITEMS_MAX)
			return 0;
		if (n == 0)
			continue;
		if (depth == MP_DEPTH_MAX)
			return 0;
		left[++depth] = n;
		want += n;
	}
}

/* Op and rid from the raw prefix [op, rid, ...], where readable. */
static void
mp_peek_prefix(const unsigned char *p, size_t len, struct proto_msg *m)
{
	uint64_t	n, op, rid;
	size_t		off = 0;
	int		kind;

	if (mp_head(p, len, &off, &n) != MP_ARRAY || n == 0)
		return;
	kind = mp_head(p, len, &off, &op);
	if (kind == MP_UINT && op <= INT_MAX)
		m->op = (enum proto_op)op;
	/* A container's items would have to be skipped to reach rid. */
	if (kind == MP_BAD || kind == MP_ARRAY || kind == MP_MAP || n < 2)
		return;
	if (mp_head(p, len, &off, &rid) == MP_UINT && rid <= UINT32_MAX)
		m->rid = (uint32_t)rid;
}

/*
 * Object accessors. Each returns 0 or CHAN_EPROTO.
 */
static int
obj_u64(const msgpack_object *o, uint64_t max, uint64_t *v)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
		return CHAN_EPROTO;
	*v = o->via.u64;
	return 0;
}

static int
obj_u32(const msgpack_object *o, uint32_t *v)
{
	uint64_t	x;

	if (obj_u64(o, UINT32_MAX, &x) != 0)
		return CHAN_EPROTO;
	*v = (uint32_t)x;
	return 0;
}

/*
 * msgpack-c may give an empty str or bin without a pointer, depending on
 * where it sits in the frame: a present string is never NULL here, so
 * NULL keeps meaning "absent" (HELLO's "client", ERROR's message).
 */
static const char *
obj_ptr(const char *p)
{
	return p != NULL ? p : "";
}

static int
obj_str(const msgpack_object *o, const char **p, size_t *len)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return CHAN_EPROTO;
	*p = obj_ptr(o->via.str.ptr);
	*len = o->via.str.size;
	return 0;
}

/* Names may be str or bin. */
static int
obj_bytes(const msgpack_object *o, const char **p, size_t *len)
{
	if (o->type == MSGPACK_OBJECT_BIN) {
		*p = obj_ptr(o->via.bin.ptr);
		*len = o->via.bin.size;
		return 0;
	}
	return obj_str(o, p, len);
}

static int
obj_is_key(const msgpack_object *o, const char *key)
{
	size_t	len = strlen(key);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == len &&
	    memcmp(o->via.str.ptr, key, len) == 0;
}

/*
 * Per-op decoders. They get the array's elements (count already checked)
 * and return CHAN_EPROTO for a malformed element. Errors in a well-formed
 * frame (bad name, option, size) go to *soft instead: the first one found
 * is returned once the whole frame is known to be well-formed.
 */
typedef int (*dec_fn)(const struct proto_decoder *, const msgpack_object *,
    struct proto_msg *, int *);

static void
dec_soft(int *soft, int rc)
{
	if (*soft == 0)
		*soft = rc;
}

static int
dec_name(const msgpack_object *o, struct proto_msg *m, int *soft)
{
	if (obj_bytes(o, &m->name, &m->name_len) != 0)
		return CHAN_EPROTO;
	if (!proto_name_valid(m->name, m->name_len))
		dec_soft(soft, CHAN_EBADNAME);
	return 0;
}

static int
dec_payload(const struct proto_decoder *d, const msgpack_object *o,
    struct proto_msg *m, int *soft)
{
	if (o->type != MSGPACK_OBJECT_BIN)
		return CHAN_EPROTO;
	m->payload = o->via.bin.ptr;
	m->payload_len = o->via.bin.size;
	if (m->payload_len > d->max_msg)
		dec_soft(soft, CHAN_ETOOBIG);
	return 0;
}

/* A capacity value: nil for unbounded, else a uint in min..max. */
static int
dec_cap(const msgpack_object *o, uint64_t min, uint64_t max,
    struct proto_cap *cap)
{
	if (cap->kind != PROTO_CAP_ABSENT)
		return CHAN_EOPTION;	/* given twice */
	if (o->type == MSGPACK_OBJECT_NIL) {
		cap->kind = PROTO_CAP_UNBOUNDED;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->via.u64 < min || o->via.u64 > max)
		return CHAN_EOPTION;
	cap->kind = PROTO_CAP_VALUE;
	cap->value = o->via.u64;
	return 0;
}

/* A bool opt, given at most once: *v is -1 until it is. */
static int
dec_bool_opt(const msgpack_object *o, int *v)
{
	if (*v != -1 || o->type != MSGPACK_OBJECT_BOOLEAN)
		return CHAN_EOPTION;
	*v = o->via.boolean ? 1 : 0;
	return 0;
}

/*
 * OPEN_TX and OPEN_RX opts: "capacity", "capacity_bytes", "durable",
 * "rx_gone", "forever" (whether "forever" suits the op is the daemon's to
 * judge).
 */
static int
dec_open_opts(const msgpack_object *o, struct proto_msg *m, int *soft)
{
	const msgpack_object_kv	*kv;
	uint32_t		 i;
	int			 rc;

	if (o->type != MSGPACK_OBJECT_MAP)
		return CHAN_EPROTO;
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		/* Negative values are malformed wherever they appear. */
		if (kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			return CHAN_EPROTO;
		if (obj_is_key(&kv->key, "capacity"))
			rc = dec_cap(&kv->val, 0, PROTO_CAPACITY_MAX,
			    &m->capacity);
		else if (obj_is_key(&kv->key, "capacity_bytes"))
			rc = dec_cap(&kv->val, 1, PROTO_CAPACITY_BYTES_MAX,
			    &m->capacity_bytes);
		else if (obj_is_key(&kv->key, "durable"))
			rc = dec_bool_opt(&kv->val, &m->durable);
		else if (obj_is_key(&kv->key, "rx_gone"))
			rc = dec_bool_opt(&kv->val, &m->rx_gone);
		else if (obj_is_key(&kv->key, "forever"))
			rc = dec_bool_opt(&kv->val, &m->forever);
		else
			rc = CHAN_EOPTION;
		if (rc != 0)
			dec_soft(soft, rc);
	}
	return 0;
}

static int
dec_hello_opts(const msgpack_object *o, struct proto_msg *m, int *soft)
{
	const msgpack_object_kv	*kv;
	const char		*s;
	size_t			 len;
	uint32_t		 i;

	if (o->type != MSGPACK_OBJECT_MAP)
		return CHAN_EPROTO;
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			return CHAN_EPROTO;
		if (obj_is_key(&kv->key, "min_version")) {
			if (m->min_version != 0 ||
			    obj_u32(&kv->val, &m->min_version) != 0 ||
			    m->min_version == 0)
				dec_soft(soft, CHAN_EOPTION);
			continue;
		}
		if (!obj_is_key(&kv->key, "client") || m->text != NULL ||
		    obj_str(&kv->val, &s, &len) != 0 ||
		    len > PROTO_CLIENT_NAME_MAX) {
			dec_soft(soft, CHAN_EOPTION);
			continue;
		}
		m->text = s;
		m->text_len = len;
	}
	return 0;
}

static int
dec_hello(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	const char	*magic;
	size_t		 len;

	if (obj_str(&el[2], &magic, &len) != 0)
		return CHAN_EPROTO;
	/* A well-formed HELLO from something that is not a chand client. */
	if (len != strlen(PROTO_MAGIC) || memcmp(magic, PROTO_MAGIC, len) != 0)
		dec_soft(soft, CHAN_EVERSION);
	if (obj_u32(&el[3], &m->version) != 0)
		return CHAN_EPROTO;
	return dec_hello_opts(&el[4], m, soft);
}

static int
dec_open(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (dec_name(&el[2], m, soft) != 0)
		return CHAN_EPROTO;
	return dec_open_opts(&el[3], m, soft);
}

/* CLOSE and HANDLE: [op, rid, handle]. */
static int
dec_handle(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	return obj_u32(&el[2], &m->handle);
}

static int
dec_send(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[2], &m->handle) != 0)
		return CHAN_EPROTO;
	return dec_payload(d, &el[3], m, soft);
}

static int
dec_send_timed(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[2], &m->handle) != 0 ||
	    obj_u32(&el[4], &m->wait_ms) != 0)
		return CHAN_EPROTO;
	return dec_payload(d, &el[3], m, soft);
}

/* SEND_MARKED: [14, rid, handle, payload, flags]. */
static int
dec_send_marked(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[2], &m->handle) != 0 ||
	    obj_u32(&el[4], &m->flags) != 0 ||
	    (m->flags & ~PROTO_SEND_FLAGS) != 0)
		return CHAN_EPROTO;
	return dec_payload(d, &el[3], m, soft);
}

/* STATS opts "after": a cursor, str or bin, given at most once. */
static int
dec_after(const msgpack_object *o, struct proto_msg *m)
{
	if (m->after != NULL || obj_bytes(o, &m->after, &m->after_len) != 0 ||
	    m->after_len > PROTO_CURSOR_MAX)
		return 0;
	/* An empty string may come without a pointer; given is given. */
	if (m->after == NULL)
		m->after = "";
	return 1;
}

/* STATS opts: "after" and "limit". */
static int
dec_stats_opts(const msgpack_object *o, struct proto_msg *m, int *soft)
{
	const msgpack_object_kv	*kv;
	uint32_t		 i;
	int			 ok;

	if (o->type != MSGPACK_OBJECT_MAP)
		return CHAN_EPROTO;
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			return CHAN_EPROTO;
		if (obj_is_key(&kv->key, "after"))
			ok = dec_after(&kv->val, m);
		else if (obj_is_key(&kv->key, "limit"))
			ok = m->limit == 0 && obj_u32(&kv->val,
			    &m->limit) == 0 && m->limit != 0;
		else
			ok = 0;
		if (!ok)
			dec_soft(soft, CHAN_EOPTION);
	}
	return 0;
}

static int
dec_stats(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_str(&el[2], &m->what, &m->what_len) != 0)
		return CHAN_EPROTO;
	if (m->what_len > PROTO_STATS_WHAT_MAX)
		dec_soft(soft, CHAN_EOPTION);
	return dec_stats_opts(&el[3], m, soft);
}

/* ADMIN: [20, rid, action, arg], arg a str or bin of 0 to 255 bytes. */
static int
dec_admin(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_str(&el[2], &m->what, &m->what_len) != 0 ||
	    obj_bytes(&el[3], &m->name, &m->name_len) != 0)
		return CHAN_EPROTO;
	if (m->what_len > PROTO_ADMIN_ACTION_MAX ||
	    m->name_len > PROTO_ADMIN_ARG_MAX)
		dec_soft(soft, CHAN_EOPTION);
	/* An empty argument may come without a pointer. */
	if (m->name == NULL)
		m->name = "";
	return 0;
}

static int
dec_ack(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[2], &m->handle) != 0)
		return CHAN_EPROTO;
	return obj_u64(&el[3], UINT64_MAX, &m->seq);
}

static int
dec_credit(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[2], &m->handle) != 0 ||
	    obj_u32(&el[3], &m->count) != 0)
		return CHAN_EPROTO;
	if (m->count < 1 || m->count > PROTO_CREDIT_MAX)
		return CHAN_EPROTO;
	return 0;
}

/*
 * ACKS: [11, rid, [handle, seq, n, ...]], triples flattened in one array:
 * handle a u32, seq a u64, n 0 to PROTO_CREDIT_MAX, seq and n not both 0.
 * Every entry is checked here, so that the daemon can take each one as
 * it comes and a bad one anywhere leaves the frame unapplied.
 */
static int
dec_acks(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	/* The entries are the decoder's scratch, written per frame. */
	struct proto_ack_entry	*e = ((struct proto_decoder *)d)->acks;
	const msgpack_object	*v;
	uint32_t		 i, n;

	if (el[2].type != MSGPACK_OBJECT_ARRAY)
		return CHAN_EPROTO;
	n = el[2].via.array.size;
	if (n == 0 || n % 3 != 0 || n / 3 > PROTO_ACKS_MAX)
		return CHAN_EPROTO;
	v = el[2].via.array.ptr;
	for (i = 0; i < n / 3; i++, v += 3) {
		if (obj_u32(&v[0], &e[i].handle) != 0 ||
		    obj_u64(&v[1], UINT64_MAX, &e[i].seq) != 0 ||
		    obj_u32(&v[2], &e[i].n) != 0 ||
		    e[i].n > PROTO_CREDIT_MAX || (e[i].seq == 0 && e[i].n == 0))
			return CHAN_EPROTO;
	}
	m->nacks = n / 3;
	m->acks = e;
	return 0;
}

/* SELECT: [13, rid, n, [handle, ...]]. */
static int
dec_select(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	uint32_t	*h = ((struct proto_decoder *)d)->handles;
	uint32_t	 i, n;

	if (obj_u32(&el[2], &m->count) != 0 || m->count == 0 ||
	    m->count > PROTO_CREDIT_MAX || el[3].type != MSGPACK_OBJECT_ARRAY)
		return CHAN_EPROTO;
	n = el[3].via.array.size;
	if (n == 0 || n > PROTO_SELECT_MAX)
		return CHAN_EPROTO;
	for (i = 0; i < n; i++) {
		if (obj_u32(&el[3].via.array.ptr[i], &h[i]) != 0)
			return CHAN_EPROTO;
	}
	m->nhandles = n;
	m->handles = h;
	return 0;
}

/* PING and OK: [op, rid]. */
static int
dec_none(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	return 0;
}

/* WELCOME info: later versions may add keys, which are skipped. */
static int
dec_info(const msgpack_object *o, struct proto_msg *m)
{
	const msgpack_object_kv	*kv;
	unsigned		 seen = 0;
	uint32_t		 i;
	int			 rc = 0;

	if (o->type != MSGPACK_OBJECT_MAP)
		return CHAN_EPROTO;
	for (i = 0; i < o->via.map.size && rc == 0; i++) {
		kv = &o->via.map.ptr[i];
		if (obj_is_key(&kv->key, "server")) {
			rc = obj_str(&kv->val, &m->text, &m->text_len);
			seen |= 1;
		} else if (obj_is_key(&kv->key, "max_msg")) {
			rc = obj_u64(&kv->val, UINT64_MAX, &m->max_msg);
			seen |= 2;
		} else if (obj_is_key(&kv->key, "pid")) {
			rc = obj_u64(&kv->val, UINT64_MAX, &m->pid);
			seen |= 4;
		} else if (obj_is_key(&kv->key, "features"))
			rc = obj_u32(&kv->val, &m->features);
	}
	if (rc != 0 || seen != 7)
		return CHAN_EPROTO;
	return 0;
}

static int
dec_welcome(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[2], &m->version) != 0)
		return CHAN_EPROTO;
	return dec_info(&el[3], m);
}

/*
 * Version 2 ERROR facts: a map with str keys; "pid" is read, keys not
 * known are skipped, values of other types too.
 */
static int
dec_error_fields(const msgpack_object *o, struct proto_msg *m)
{
	const msgpack_object_kv	*kv;
	uint32_t		 i;

	if (o->type != MSGPACK_OBJECT_MAP)
		return CHAN_EPROTO;
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR)
			return CHAN_EPROTO;
		if (obj_is_key(&kv->key, "pid") &&
		    kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			m->pid = kv->val.via.u64;
	}
	return 0;
}

/* ERROR: [67, rid, code, message] or, in version 2, with fields. */
static int
dec_error(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[2], &m->code) != 0 ||
	    obj_str(&el[3], &m->text, &m->text_len) != 0)
		return CHAN_EPROTO;
	return m->flags == 5 ? dec_error_fields(&el[4], m) : 0;
}

/* INFO data: one msgpack value in a bin, decoded by its reader. */
static int
dec_info_data(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (el[2].type != MSGPACK_OBJECT_BIN)
		return CHAN_EPROTO;
	m->payload = el[2].via.bin.ptr;
	m->payload_len = el[2].via.bin.size;
	return 0;
}

/* Events carry no rid: their second element is the handle. */
static int
dec_deliver(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[1], &m->handle) != 0 ||
	    obj_u64(&el[2], UINT64_MAX, &m->seq) != 0 ||
	    obj_u32(&el[3], &m->flags) != 0)
		return CHAN_EPROTO;
	return dec_payload(d, &el[4], m, soft);
}

static int
dec_disconnected(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	return obj_u32(&el[1], &m->handle);
}

static int
dec_ring(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[2], &m->handle) != 0)
		return CHAN_EPROTO;
	return obj_u32(&el[3], &m->count);
}

/* DIRECT_OFFER [83, handle, token], DIRECT_OFF [84, handle, seq]. */
static int
dec_direct_event(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	if (obj_u32(&el[1], &m->handle) != 0)
		return CHAN_EPROTO;
	if (m->op == PROTO_DIRECT_OFFER)
		return obj_u64(&el[2], UINT64_MAX, &m->token);
	return obj_u64(&el[2], UINT64_MAX, &m->seq);
}

static int
dec_token(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	return obj_u64(&el[2], UINT64_MAX, &m->token);
}

/* RING_FETCH [31, rid, token] or [31, rid, token, wake]. */
static int
dec_ring_fetch(const struct proto_decoder *d, const msgpack_object *el,
    struct proto_msg *m, int *soft)
{
	m->count = 0;
	if (obj_u64(&el[2], UINT64_MAX, &m->token) != 0)
		return CHAN_EPROTO;
	return m->flags == 4 ? obj_u32(&el[3], &m->count) : 0;
}

/* nelem_max: a longer form the op may take (ERROR of version 2). */
static const struct dec_op {
	enum proto_op	op;
	uint32_t	nelem;
	dec_fn		fn;
	uint32_t	nelem_max;
} dec_ops[] = {
	{ PROTO_HELLO, 5, dec_hello, 5 },
	{ PROTO_OPEN_TX, 4, dec_open, 4 },
	{ PROTO_OPEN_RX, 4, dec_open, 4 },
	{ PROTO_CLOSE, 3, dec_handle, 3 },
	{ PROTO_SEND, 4, dec_send, 4 },
	{ PROTO_ACK, 4, dec_ack, 4 },
	{ PROTO_CREDIT, 4, dec_credit, 4 },
	{ PROTO_PING, 2, dec_none, 2 },
	{ PROTO_SEND_TIMED, 5, dec_send_timed, 5 },
	{ PROTO_STATS, 4, dec_stats, 4 },
	{ PROTO_ACKS, 3, dec_acks, 3 },
	{ PROTO_RECALL, 3, dec_handle, 3 },
	{ PROTO_SELECT, 4, dec_select, 4 },
	{ PROTO_SEND_MARKED, 5, dec_send_marked, 5 },
	{ PROTO_ADMIN, 4, dec_admin, 4 },
	{ PROTO_RING, 4, dec_ring, 4 },
	{ PROTO_RING_FETCH, 3, dec_ring_fetch, 4 },
	{ PROTO_DIRECT, 4, dec_ring, 4 },
	{ PROTO_RING_TOKEN, 3, dec_token, 3 },
	{ PROTO_WELCOME, 4, dec_welcome, 4 },
	{ PROTO_OK, 2, dec_none, 2 },
	{ PROTO_HANDLE, 3, dec_handle, 3 },
	{ PROTO_ERROR, 4, dec_error, 5 },
	{ PROTO_INFO, 3, dec_info_data, 3 },
	{ PROTO_DELIVER, 5, dec_deliver, 5 },
	{ PROTO_DISCONNECTED, 2, dec_disconnected, 2 },
	{ PROTO_RING_WAKE, 2, dec_disconnected, 2 },
	{ PROTO_DIRECT_OFFER, 3, dec_direct_event, 3 },
	{ PROTO_DIRECT_OFF, 3, dec_direct_event, 3 },
};

static const struct dec_op *
dec_op_find(uint64_t op)
{
	size_t	i;

	for (i = 0; i < sizeof dec_ops / sizeof dec_ops[0]; i++) {
		if ((uint64_t)dec_ops[i].op == op)
			return &dec_ops[i];
	}
	return NULL;
}

/* The body as parsed: [op, rid-or-handle, ...]. */
static int
dec_array(const struct proto_decoder *d, const msgpack_object *o,
    struct proto_msg *m)
{
	const struct dec_op	*op;
	const msgpack_object	*el;
	int			 soft = 0, rc;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2)
		return CHAN_EPROTO;
	el = o->via.array.ptr;
	if (el[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    obj_u32(&el[1], &m->rid) != 0)
		return CHAN_EPROTO;
	if ((op = dec_op_find(el[0].via.u64)) == NULL)
		return CHAN_EUNKNOWNOP;
	m->op = op->op;
	if (o->via.array.size != op->nelem &&
	    o->via.array.size != op->nelem_max)
		return CHAN_EPROTO;
	/* ERROR and RING_FETCH learn their form here: flags is otherwise
	   unused by them. */
	if (m->op == PROTO_ERROR || m->op == PROTO_RING_FETCH)
		m->flags = o->via.array.size;
	if ((rc = op->fn(d, el, m, &soft)) != 0)
		return rc;
	return soft;
}

struct proto_decoder *
proto_decoder_new(size_t max_msg)
{
	struct proto_decoder	*d;

	if ((d = malloc(sizeof *d)) == NULL)
		return NULL;
	if (!msgpack_zone_init(&d->zone, MSGPACK_ZONE_CHUNK_SIZE)) {
		free(d);
		return NULL;
	}
	d->max_msg = max_msg;
	return d;
}

void
proto_decoder_free(struct proto_decoder *d)
{
	if (d == NULL)
		return;
	msgpack_zone_destroy(&d->zone);
	free(d);
}

/*
 * Fast path for the frames that carry the traffic: [SEND, rid, handle,
 * payload], [ACK, rid, handle, seq], [CREDIT, rid, handle, n] and [ACKS,
 * rid, entries] to the daemon, [OK, rid] and [DELIVER, handle, seq, flags,
 * payload] to the library, in the encodings every encoder uses (unsigned integers, a bin
 * payload). It decodes without msgpack-c and returns 1 with the fields of
 * the op filled in, or 0, having written nothing, to leave the body to the
 * full decoder, which gives the same result for every body this accepts;
 * anything unusual (another encoding, a soft error, trailing bytes) takes
 * the full path.
 */
static inline __attribute__((always_inline)) uint32_t
fast_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline __attribute__((always_inline)) int
fast_uint(const unsigned char *p, size_t len, size_t *off, uint64_t max,
    uint64_t *v)
{
	size_t		o = *off;
	unsigned char	b;

	if (o >= len)
		return 0;
	b = p[o];
	if (b <= 0x7f) {
		*v = b;
		*off = o + 1;
		return 1;
	}
	switch (b) {
	case 0xcc:
		if (len - o < 2)
			return 0;
		*v = p[o + 1];
		*off = o + 2;
		break;
	case 0xcd:
		if (len - o < 3)
			return 0;
		*v = (uint64_t)p[o + 1] << 8 | p[o + 2];
		*off = o + 3;
		break;
	case 0xce:
		if (len - o < 5)
			return 0;
		*v = fast_be32(p + o + 1);
		*off = o + 5;
		break;
	case 0xcf:
		if (len - o < 9)
			return 0;
		*v = (uint64_t)fast_be32(p + o + 1) << 32 | fast_be32(p + o + 5);
		*off = o + 9;
		break;
	default:
		return 0;
	}
	return *v <= max;
}

static inline __attribute__((always_inline)) int
fast_bin(const unsigned char *p, size_t len, size_t *off, size_t *n)
{
	size_t		o = *off;

	if (o >= len)
		return 0;
	switch (p[o]) {
	case 0xc4:
		if (len - o < 2)
			return 0;
		*n = p[o + 1];
		*off = o + 2;
		return 1;
	case 0xc5:
		if (len - o < 3)
			return 0;
		*n = (size_t)p[o + 1] << 8 | p[o + 2];
		*off = o + 3;
		return 1;
	case 0xc6:
		if (len - o < 5)
			return 0;
		*n = fast_be32(p + o + 1);
		*off = o + 5;
		return 1;
	default:
		return 0;
	}
}

static int
fast_ok(const unsigned char *p, size_t len, struct proto_msg *m)
{
	uint64_t	rid;
	size_t		off = 2;

	if (!fast_uint(p, len, &off, UINT32_MAX, &rid) || off != len)
		return 0;
	m->op = PROTO_OK;
	m->rid = (uint32_t)rid;
	return 1;
}

static int
fast_deliver(const struct proto_decoder *d, const unsigned char *p,
    size_t len, struct proto_msg *m)
{
	uint64_t	handle, seq, flags;
	size_t		off = 2, n;

	if (!fast_uint(p, len, &off, UINT32_MAX, &handle) ||
	    !fast_uint(p, len, &off, UINT64_MAX, &seq) ||
	    !fast_uint(p, len, &off, UINT32_MAX, &flags) ||
	    !fast_bin(p, len, &off, &n) || n != len - off || n > d->max_msg)
		return 0;
	m->op = PROTO_DELIVER;
	/* As the full decoder: rid is the second element whatever the op. */
	m->rid = (uint32_t)handle;
	m->handle = (uint32_t)handle;
	m->seq = seq;
	m->flags = (uint32_t)flags;
	m->payload = (const char *)p + off;
	m->payload_len = n;
	return 1;
}

/* The element count of an array header at *off: fixarray or array 16. */
static inline __attribute__((always_inline)) int
fast_array(const unsigned char *p, size_t len, size_t *off, size_t *n)
{
	size_t		o = *off;

	if (o >= len)
		return 0;
	if ((p[o] & 0xf0) == 0x90) {
		*n = p[o] & 0x0f;
		*off = o + 1;
		return 1;
	}
	if (p[o] != 0xdc || len - o < 3)
		return 0;
	*n = (size_t)p[o + 1] << 8 | p[o + 2];
	*off = o + 3;
	return 1;
}

/*
 * [ACKS, rid, [handle, seq, n, ...]]: a consumer of many channels sends
 * one entry per channel it took from, so at thousands of channels ACKS
 * come about once per message. The entries go to the decoder's scratch,
 * as dec_acks puts them; a frame declined here is decoded again there.
 */
static int
fast_acks(struct proto_decoder *d, const unsigned char *p, size_t len,
    struct proto_msg *m)
{
	struct proto_ack_entry *e = d->acks;
	uint64_t	rid, handle, seq, n;
	size_t		off = 2, items, i;

	if (!fast_uint(p, len, &off, UINT32_MAX, &rid) ||
	    !fast_array(p, len, &off, &items) || items == 0 ||
	    items % 3 != 0 || items / 3 > PROTO_ACKS_MAX)
		return 0;
	for (i = 0; i < items / 3; i++) {
		if (!fast_uint(p, len, &off, UINT32_MAX, &handle) ||
		    !fast_uint(p, len, &off, UINT64_MAX, &seq) ||
		    !fast_uint(p, len, &off, PROTO_CREDIT_MAX, &n) ||
		    (seq == 0 && n == 0))
			return 0;
		e[i].handle = (uint32_t)handle;
		e[i].seq = seq;
		e[i].n = (uint32_t)n;
	}
	if (off != len)
		return 0;
	m->op = PROTO_ACKS;
	m->rid = (uint32_t)rid;
	m->nacks = (uint32_t)(items / 3);
	m->acks = e;
	return 1;
}

static int
dec_fast(struct proto_decoder *d, const unsigned char *p, size_t len,
    struct proto_msg *m)
{
	uint64_t	rid, handle, v;
	size_t		off = 2, n;

	if (len >= 3 && p[0] == 0x92 && p[1] == PROTO_OK)
		return fast_ok(p, len, m);
	if (len >= 6 && p[0] == 0x95 && p[1] == PROTO_DELIVER)
		return fast_deliver(d, p, len, m);
	if (len >= 4 && p[0] == 0x93 && p[1] == PROTO_ACKS)
		return fast_acks(d, p, len, m);
	if (len < 4 || p[0] != 0x94 || p[1] < PROTO_SEND ||
	    p[1] > PROTO_CREDIT)
		return 0;
	if (!fast_uint(p, len, &off, UINT32_MAX, &rid) ||
	    !fast_uint(p, len, &off, UINT32_MAX, &handle))
		return 0;
	if (p[1] == PROTO_SEND) {
		if (!fast_bin(p, len, &off, &n) || n != len - off ||
		    n > d->max_msg)
			return 0;
		m->payload = (const char *)p + off;
		m->payload_len = n;
	} else {
		if (!fast_uint(p, len, &off, p[1] == PROTO_ACK ? UINT64_MAX :
		    PROTO_CREDIT_MAX, &v) || off != len)
			return 0;
		if (p[1] == PROTO_CREDIT && v == 0)
			return 0;
		if (p[1] == PROTO_ACK)
			m->seq = v;
		else
			m->count = (uint32_t)v;
	}
	m->op = (enum proto_op)p[1];
	m->rid = (uint32_t)rid;
	m->handle = (uint32_t)handle;
	return 1;
}

/* The SEND branch of dec_fast, on the first bytes of the body only. */
int
proto_send_head(const struct proto_decoder *d, const void *body, size_t len,
    size_t body_len, struct proto_msg *m, size_t *payload_off)
{
	const unsigned char	*p = body;
	uint64_t		 rid, handle;
	size_t			 off = 2, n;

	if (len > body_len)
		len = body_len;
	if (len < PROTO_SEND_HEAD_MAX && len < body_len)
		return 0;
	memset(m, 0, sizeof *m);
	m->durable = m->rx_gone = m->forever = -1;
	if (len < 4 || p[0] != 0x94 || p[1] != PROTO_SEND ||
	    !fast_uint(p, len, &off, UINT32_MAX, &rid) ||
	    !fast_uint(p, len, &off, UINT32_MAX, &handle) ||
	    !fast_bin(p, len, &off, &n) || n != body_len - off ||
	    n > d->max_msg)
		return -1;
	m->op = PROTO_SEND;
	m->rid = (uint32_t)rid;
	m->handle = (uint32_t)handle;
	m->payload_len = n;
	*payload_off = off;
	return 1;
}

/* Every other body, and those the fast path declined. */
static int __attribute__((noinline))
dec_full(struct proto_decoder *d, const void *body, size_t body_len,
    struct proto_msg *m)
{
	msgpack_object	obj;
	size_t		off = 0;
	int		rc;

	memset(m, 0, sizeof *m);
	m->durable = m->rx_gone = m->forever = -1;
	mp_peek_prefix(body, body_len, m);
	if (body_len == 0 || mp_scan(body, body_len) != body_len)
		return CHAN_EPROTO;

	switch (msgpack_unpack(body, body_len, &off, &d->zone, &obj)) {
	case MSGPACK_UNPACK_SUCCESS:
		rc = off == body_len ? dec_array(d, &obj, m) : CHAN_EPROTO;
		break;
	case MSGPACK_UNPACK_EXTRA_BYTES:
	case MSGPACK_UNPACK_CONTINUE:
		rc = CHAN_EPROTO;
		break;
	default:
		/* The scan accepted the syntax, so what is left is
		   msgpack-c failing to allocate. */
		rc = CHAN_ENOMEM;
		break;
	}
	/* Keeps the first chunk: no allocation per frame once warm. */
	msgpack_zone_clear(&d->zone);
	return rc;
}

int
proto_decode(struct proto_decoder *d, const void *body, size_t body_len,
    struct proto_msg *m)
{
	/* The fast path sets only its op's fields (proto.h). */
	if (dec_fast(d, body, body_len, m))
		return 0;
	return dec_full(d, body, body_len, m);
}

/*
 * Encoding. The packer appends to the proto_buf behind a 4-byte hole that
 * enc_end fills with the body length; any failure truncates the buffer
 * back to where the frame started.
 */
static int
enc_write(void *data, const char *buf, size_t len)
{
	return proto_buf_append(data, buf, len);
}

static int
enc_begin(struct proto_buf *b, msgpack_packer *pk, size_t *start,
    size_t hint)
{
	static const char	hole[PROTO_HEADER_LEN];

	*start = b->len;
	msgpack_packer_init(pk, b, enc_write);
	if (hint > SIZE_MAX - 64 || proto_buf_reserve(b, hint + 64) != 0)
		return CHAN_ENOMEM;
	return proto_buf_append(b, hole, sizeof hole);
}

static void
enc_be32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static int
enc_end(struct proto_buf *b, size_t start, int failed)
{
	size_t	body;

	if (failed) {
		b->len = start;
		return CHAN_ENOMEM;
	}
	body = b->len - start - PROTO_HEADER_LEN;
	if (body > UINT32_MAX) {
		b->len = start;
		return CHAN_ETOOBIG;
	}
	enc_be32(b->data + start, (uint32_t)body);
	return 0;
}

/* Length of s cut to max bytes, not inside a UTF-8 sequence. */
static size_t
enc_cut(const char *s, size_t max)
{
	size_t	n;

	if ((n = strnlen(s, max + 1)) <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static int
enc_prefix(msgpack_packer *pk, uint32_t nelem, enum proto_op op,
    uint32_t rid)
{
	return msgpack_pack_array(pk, nelem) ||
	    msgpack_pack_uint8(pk, (uint8_t)op) ||
	    msgpack_pack_uint32(pk, rid);
}

static int
enc_str(msgpack_packer *pk, const char *s, size_t len)
{
	return msgpack_pack_str_with_body(pk, s, len);
}

int
proto_enc_hello_range(struct proto_buf *b, uint32_t rid, const char *client,
    uint32_t version, uint32_t min_version)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed, range;

	range = min_version != 0 && min_version != version;
	if ((failed = enc_begin(b, &pk, &start, 0)) == 0)
		failed = enc_prefix(&pk, 5, PROTO_HELLO, rid) ||
		    enc_str(&pk, PROTO_MAGIC, strlen(PROTO_MAGIC)) ||
		    msgpack_pack_uint32(&pk, version) ||
		    msgpack_pack_map(&pk, (client != NULL) + range);
	if (!failed && range)
		failed = enc_str(&pk, "min_version", 11) ||
		    msgpack_pack_uint32(&pk, min_version);
	/* Cut, since the daemon refuses a longer name. */
	if (!failed && client != NULL)
		failed = enc_str(&pk, "client", 6) || enc_str(&pk, client,
		    enc_cut(client, PROTO_CLIENT_NAME_MAX));
	return enc_end(b, start, failed);
}

int
proto_enc_hello(struct proto_buf *b, uint32_t rid, const char *client)
{
	return proto_enc_hello_range(b, rid, client, PROTO_VERSION,
	    PROTO_VERSION_MIN);
}

static int
enc_cap_given(const struct proto_cap *cap)
{
	return cap != NULL && cap->kind != PROTO_CAP_ABSENT;
}

static int
enc_cap(msgpack_packer *pk, const char *key, const struct proto_cap *cap)
{
	if (!enc_cap_given(cap))
		return 0;
	if (enc_str(pk, key, strlen(key)) != 0)
		return -1;
	if (cap->kind == PROTO_CAP_UNBOUNDED)
		return msgpack_pack_nil(pk);
	return msgpack_pack_uint64(pk, cap->value);
}

/* A bool opt: -1 leaves it out. */
static int
enc_bool(msgpack_packer *pk, const char *key, int v)
{
	if (v < 0)
		return 0;
	if (enc_str(pk, key, strlen(key)) != 0)
		return -1;
	return v ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

int
proto_enc_open_all(struct proto_buf *b, enum proto_op op, uint32_t rid,
    const void *name, size_t name_len, const struct proto_open_opts *o)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if ((failed = enc_begin(b, &pk, &start, name_len + 100)) == 0)
		failed = enc_prefix(&pk, 4, op, rid) ||
		    enc_str(&pk, name, name_len) ||
		    msgpack_pack_map(&pk, enc_cap_given(&o->capacity) +
		    enc_cap_given(&o->capacity_bytes) + (o->durable >= 0) +
		    (o->rx_gone >= 0) + (o->forever >= 0)) ||
		    enc_cap(&pk, "capacity", &o->capacity) ||
		    enc_cap(&pk, "capacity_bytes", &o->capacity_bytes) ||
		    enc_bool(&pk, "durable", o->durable) ||
		    enc_bool(&pk, "rx_gone", o->rx_gone) ||
		    enc_bool(&pk, "forever", o->forever);
	return enc_end(b, start, failed);
}

int
proto_enc_open_opts(struct proto_buf *b, enum proto_op op, uint32_t rid,
    const void *name, size_t name_len, const struct proto_cap *capacity,
    const struct proto_cap *capacity_bytes, int durable)
{
	struct proto_open_opts	o = { .durable = durable, .rx_gone = -1,
				    .forever = -1 };

	if (capacity != NULL)
		o.capacity = *capacity;
	if (capacity_bytes != NULL)
		o.capacity_bytes = *capacity_bytes;
	return proto_enc_open_all(b, op, rid, name, name_len, &o);
}

int
proto_enc_open_cap(struct proto_buf *b, enum proto_op op, uint32_t rid,
    const void *name, size_t name_len, const struct proto_cap *capacity,
    const struct proto_cap *capacity_bytes)
{
	return proto_enc_open_opts(b, op, rid, name, name_len, capacity,
	    capacity_bytes, -1);
}

int
proto_enc_open(struct proto_buf *b, enum proto_op op, uint32_t rid,
    const void *name, size_t name_len)
{
	return proto_enc_open_cap(b, op, rid, name, name_len, NULL, NULL);
}

/*
 * The common shape [op, rid, uint]: msgpack-c packs every unsigned width
 * in its shortest form, so one writer serves 32 and 64 bits alike.
 */
static int
enc_uint_frame(struct proto_buf *b, enum proto_op op, uint32_t rid,
    uint64_t v)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if ((failed = enc_begin(b, &pk, &start, 0)) == 0)
		failed = enc_prefix(&pk, 3, op, rid) ||
		    msgpack_pack_uint64(&pk, v);
	return enc_end(b, start, failed);
}

int
proto_enc_close(struct proto_buf *b, uint32_t rid, uint32_t handle)
{
	return enc_uint_frame(b, PROTO_CLOSE, rid, handle);
}

int
proto_enc_recall(struct proto_buf *b, uint32_t rid, uint32_t handle)
{
	return enc_uint_frame(b, PROTO_RECALL, rid, handle);
}

int
proto_enc_ring(struct proto_buf *b, uint32_t rid, uint32_t handle,
    uint32_t size)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if ((failed = enc_begin(b, &pk, &start, 0)) == 0)
		failed = enc_prefix(&pk, 4, PROTO_RING, rid) ||
		    msgpack_pack_uint32(&pk, handle) ||
		    msgpack_pack_uint32(&pk, size);
	return enc_end(b, start, failed);
}

int
proto_enc_direct(struct proto_buf *b, uint32_t rid, uint32_t handle,
    uint32_t on)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if ((failed = enc_begin(b, &pk, &start, 0)) == 0)
		failed = enc_prefix(&pk, 4, PROTO_DIRECT, rid) ||
		    msgpack_pack_uint32(&pk, handle) ||
		    msgpack_pack_uint32(&pk, on);
	return enc_end(b, start, failed);
}

int
proto_enc_ring_fetch(struct proto_buf *b, uint32_t rid, uint64_t token)
{
	return enc_uint_frame(b, PROTO_RING_FETCH, rid, token);
}

int
proto_enc_ring_fetch_flags(struct proto_buf *b, uint32_t rid, uint64_t token,
    uint32_t flags)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if ((failed = enc_begin(b, &pk, &start, 0)) == 0)
		failed = enc_prefix(&pk, 4, PROTO_RING_FETCH, rid) ||
		    msgpack_pack_uint64(&pk, token) ||
		    msgpack_pack_uint32(&pk, flags);
	return enc_end(b, start, failed);
}

int
proto_enc_ring_token(struct proto_buf *b, uint32_t rid, uint64_t token)
{
	return enc_uint_frame(b, PROTO_RING_TOKEN, rid, token);
}

int
proto_enc_select(struct proto_buf *b, uint32_t rid, uint32_t n,
    const uint32_t *handles, uint32_t nh)
{
	msgpack_packer	pk;
	size_t		start;
	uint32_t	i;
	int		failed;

	if ((failed = enc_begin(b, &pk, &start, (size_t)nh * 5 + 16)) == 0)
		failed = enc_prefix(&pk, 4, PROTO_SELECT, rid) ||
		    msgpack_pack_uint32(&pk, n) ||
		    msgpack_pack_array(&pk, nh);
	for (i = 0; !failed && i < nh; i++)
		failed = msgpack_pack_uint32(&pk, handles[i]);
	return enc_end(b, start, failed);
}

int
proto_enc_send_timed(struct proto_buf *b, uint32_t rid, uint32_t handle,
    const void *payload, size_t len, uint32_t wait_ms)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if (len > UINT32_MAX)
		return CHAN_ETOOBIG;
	if ((failed = enc_begin(b, &pk, &start, len)) == 0)
		failed = enc_prefix(&pk, 5, PROTO_SEND_TIMED, rid) ||
		    msgpack_pack_uint32(&pk, handle) ||
		    msgpack_pack_bin_with_body(&pk, payload, len) ||
		    msgpack_pack_uint32(&pk, wait_ms);
	return enc_end(b, start, failed);
}

int
proto_enc_send_marked(struct proto_buf *b, uint32_t rid, uint32_t handle,
    const void *payload, size_t len, uint32_t flags)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if (len > UINT32_MAX)
		return CHAN_ETOOBIG;
	if ((failed = enc_begin(b, &pk, &start, len)) == 0)
		failed = enc_prefix(&pk, 5, PROTO_SEND_MARKED, rid) ||
		    msgpack_pack_uint32(&pk, handle) ||
		    msgpack_pack_bin_with_body(&pk, payload, len) ||
		    msgpack_pack_uint32(&pk, flags);
	return enc_end(b, start, failed);
}

int
proto_enc_stats(struct proto_buf *b, uint32_t rid, const char *what,
    const void *after, size_t after_len, uint32_t limit)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if (what == NULL)
		what = "";
	if (after_len > UINT32_MAX)
		return CHAN_ETOOBIG;
	if ((failed = enc_begin(b, &pk, &start, after_len + 64)) == 0)
		failed = enc_prefix(&pk, 4, PROTO_STATS, rid) ||
		    enc_str(&pk, what, strnlen(what, PROTO_STATS_WHAT_MAX)) ||
		    msgpack_pack_map(&pk, (after != NULL) + (limit != 0));
	if (!failed && after != NULL)
		failed = enc_str(&pk, "after", 5) ||
		    msgpack_pack_bin_with_body(&pk, after, after_len);
	if (!failed && limit != 0)
		failed = enc_str(&pk, "limit", 5) ||
		    msgpack_pack_uint32(&pk, limit);
	return enc_end(b, start, failed);
}

int
proto_enc_admin(struct proto_buf *b, uint32_t rid, const char *action,
    const void *arg, size_t arg_len)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if (action == NULL)
		action = "";
	if (arg_len > PROTO_ADMIN_ARG_MAX || (arg == NULL && arg_len != 0))
		return CHAN_EINVAL;
	if ((failed = enc_begin(b, &pk, &start, arg_len + 64)) == 0)
		failed = enc_prefix(&pk, 4, PROTO_ADMIN, rid) ||
		    enc_str(&pk, action, strnlen(action,
			PROTO_ADMIN_ACTION_MAX)) ||
		    msgpack_pack_bin_with_body(&pk, arg != NULL ? arg : "",
			arg_len);
	return enc_end(b, start, failed);
}

/*
 * The common shape [op, rid, handle, n]. msgpack-c packs every unsigned
 * integer in its shortest form, so a u32 n is the same bytes either way.
 */
static int
enc_handle_n_frame(struct proto_buf *b, enum proto_op op, uint32_t rid,
    uint32_t handle, uint64_t n)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if ((failed = enc_begin(b, &pk, &start, 0)) == 0)
		failed = enc_prefix(&pk, 4, op, rid) ||
		    msgpack_pack_uint32(&pk, handle) ||
		    msgpack_pack_uint64(&pk, n);
	return enc_end(b, start, failed);
}

int
proto_enc_ack(struct proto_buf *b, uint32_t rid, uint32_t handle,
    uint64_t seq)
{
	return enc_handle_n_frame(b, PROTO_ACK, rid, handle, seq);
}

int
proto_enc_credit(struct proto_buf *b, uint32_t rid, uint32_t handle,
    uint32_t n)
{
	return enc_handle_n_frame(b, PROTO_CREDIT, rid, handle, n);
}

/* The common shape [op, rid]. */
static int
enc_bare_frame(struct proto_buf *b, enum proto_op op, uint32_t rid)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if ((failed = enc_begin(b, &pk, &start, 0)) == 0)
		failed = enc_prefix(&pk, 2, op, rid);
	return enc_end(b, start, failed);
}

int
proto_enc_ping(struct proto_buf *b, uint32_t rid)
{
	return enc_bare_frame(b, PROTO_PING, rid);
}

int
proto_enc_welcome(struct proto_buf *b, uint32_t rid, uint32_t version,
    const char *server, uint64_t max_msg, uint64_t pid)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if (server == NULL)
		server = "";
	if ((failed = enc_begin(b, &pk, &start, strlen(server))) == 0)
		failed = enc_prefix(&pk, 4, PROTO_WELCOME, rid) ||
		    msgpack_pack_uint32(&pk, version) ||
		    msgpack_pack_map(&pk, 4) ||
		    enc_str(&pk, "server", 6) ||
		    enc_str(&pk, server, strlen(server)) ||
		    enc_str(&pk, "max_msg", 7) ||
		    msgpack_pack_uint64(&pk, max_msg) ||
		    enc_str(&pk, "pid", 3) ||
		    msgpack_pack_uint64(&pk, pid) ||
		    enc_str(&pk, "features", 8) ||
		    msgpack_pack_uint32(&pk, PROTO_FEATURES);
	return enc_end(b, start, failed);
}

/*
 * The frames sent once per message, SEND, OK and DELIVER, are written
 * without the packer, byte for byte as msgpack-c packs them: every
 * unsigned integer in its shortest form, the payload as bin 8, 16 or 32.
 * Their helpers are inlined: they run several times per message.
 */
static inline __attribute__((always_inline)) size_t
fast_put_uint(unsigned char *p, uint64_t v)
{
	if (v <= 0x7f) {
		p[0] = (unsigned char)v;
		return 1;
	}
	if (v <= UINT8_MAX) {
		p[0] = 0xcc;
		p[1] = (unsigned char)v;
		return 2;
	}
	if (v <= UINT16_MAX) {
		p[0] = 0xcd;
		p[1] = (unsigned char)(v >> 8);
		p[2] = (unsigned char)v;
		return 3;
	}
	if (v <= UINT32_MAX) {
		p[0] = 0xce;
		enc_be32((char *)p + 1, (uint32_t)v);
		return 5;
	}
	p[0] = 0xcf;
	enc_be32((char *)p + 1, (uint32_t)(v >> 32));
	enc_be32((char *)p + 5, (uint32_t)v);
	return 9;
}

/* proto_buf_reserve without a call when the room is there. */
static inline __attribute__((always_inline)) int
fast_reserve(struct proto_buf *b, size_t extra)
{
	return extra <= b->cap - b->len ? 0 : proto_buf_reserve(b, extra);
}

int
proto_enc_ok(struct proto_buf *b, uint32_t rid)
{
	unsigned char	*p;
	size_t		 n;

	if (fast_reserve(b, PROTO_HEADER_LEN + 7) != 0)
		return CHAN_ENOMEM;
	p = (unsigned char *)b->data + b->len;
	p[PROTO_HEADER_LEN] = 0x92;
	p[PROTO_HEADER_LEN + 1] = PROTO_OK;
	n = 2 + fast_put_uint(p + PROTO_HEADER_LEN + 2, rid);
	enc_be32((char *)p, (uint32_t)n);
	b->len += PROTO_HEADER_LEN + n;
	return 0;
}

int
proto_enc_handle(struct proto_buf *b, uint32_t rid, uint32_t handle)
{
	return enc_uint_frame(b, PROTO_HANDLE, rid, handle);
}

static int
enc_field(msgpack_packer *pk, const struct proto_field *f)
{
	if (enc_str(pk, f->key, strlen(f->key)) != 0)
		return -1;
	switch (f->type) {
	case PROTO_FIELD_UINT:
		return msgpack_pack_uint64(pk, f->u);
	case PROTO_FIELD_BOOL:
		return f->u ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	case PROTO_FIELD_STR:
		return enc_str(pk, f->s, enc_cut(f->s, PROTO_ERRMSG_MAX / 4));
	default:
		return msgpack_pack_nil(pk);
	}
}

/* ERROR with its facts (f not NULL: version 2) or without. */
static int
enc_error(struct proto_buf *b, uint32_t rid, int code, const char *message,
    const struct proto_field *f, size_t n)
{
	msgpack_packer	pk;
	size_t		start, i;
	uint32_t	wire;
	int		failed;

	/* A code that is not a CHAN_E* still has to say "failed". */
	wire = code < 0 ? (uint32_t)-(int64_t)code : (uint32_t)-CHAN_EPROTO;
	if (message == NULL)
		message = "";
	if (n > PROTO_FIELDS_MAX)
		n = PROTO_FIELDS_MAX;
	if ((failed = enc_begin(b, &pk, &start, PROTO_ERRMSG_MAX * 2)) == 0)
		failed = enc_prefix(&pk, f != NULL ? 5 : 4, PROTO_ERROR, rid) ||
		    msgpack_pack_uint32(&pk, wire) ||
		    enc_str(&pk, message, enc_cut(message, PROTO_ERRMSG_MAX));
	if (!failed && f != NULL)
		failed = msgpack_pack_map(&pk, (uint32_t)n);
	for (i = 0; !failed && f != NULL && i < n; i++)
		failed = enc_field(&pk, &f[i]);
	return enc_end(b, start, failed);
}

int
proto_enc_error(struct proto_buf *b, uint32_t rid, int code,
    const char *message)
{
	return enc_error(b, rid, code, message, NULL, 0);
}

int
proto_enc_error_fields(struct proto_buf *b, uint32_t rid, int code,
    const char *message, const struct proto_field *f, size_t n)
{
	static const struct proto_field none;

	return enc_error(b, rid, code, message, f != NULL ? f : &none,
	    f != NULL ? n : 0);
}

/* The head of a bin of len bytes (len < 2^32): at most 5 bytes. */
static inline __attribute__((always_inline)) size_t
fast_put_bin_head(unsigned char *p, size_t len)
{
	if (len <= UINT8_MAX) {
		p[0] = 0xc4;
		p[1] = (unsigned char)len;
		return 2;
	}
	if (len <= UINT16_MAX) {
		p[0] = 0xc5;
		p[1] = (unsigned char)(len >> 8);
		p[2] = (unsigned char)len;
		return 3;
	}
	p[0] = 0xc6;
	enc_be32((char *)p + 1, (uint32_t)len);
	return 5;
}

/* SEND up to the payload bytes: at most 17 bytes. */
#define ENC_SEND_HEAD_MAX	17

/* An ACKS entry at most: a uint32, a uint64 and a uint32. */
#define ENC_ACKS_ENTRY_MAX	19
/* ACKS up to its entries: fixarray, op, rid, array 16 head. */
#define ENC_ACKS_HEAD_MAX	10
_Static_assert(PROTO_ACKS_MAX * 3 <= UINT16_MAX,
    "the entries of an ACKS fit an array 16");

/*
 * Written byte by byte, as SEND is: a consumer going round thousands of
 * channels sends an entry a message, and msgpack-c's packer spent a call
 * and a buffer check on each of its three integers.
 */
int
proto_enc_acks(struct proto_buf *b, uint32_t rid,
    const struct proto_ack_entry *e, uint32_t n)
{
	unsigned char	*p;
	size_t		 k = 2;
	uint32_t	 i;

	if (n == 0 || n > PROTO_ACKS_MAX)
		return CHAN_EINVAL;
	if (fast_reserve(b, PROTO_HEADER_LEN + ENC_ACKS_HEAD_MAX +
	    (size_t)n * ENC_ACKS_ENTRY_MAX) != 0)
		return CHAN_ENOMEM;
	p = (unsigned char *)b->data + b->len + PROTO_HEADER_LEN;
	p[0] = 0x93;
	p[1] = PROTO_ACKS;
	k += fast_put_uint(p + k, rid);
	/* PROTO_ACKS_MAX entries take an array 16 at most. */
	if (n * 3 <= 15)
		p[k++] = (unsigned char)(0x90 | (n * 3));
	else {
		p[k++] = 0xdc;
		p[k++] = (unsigned char)((n * 3) >> 8);
		p[k++] = (unsigned char)(n * 3);
	}
	for (i = 0; i < n; i++) {
		k += fast_put_uint(p + k, e[i].handle);
		k += fast_put_uint(p + k, e[i].seq);
		k += fast_put_uint(p + k, e[i].n);
	}
	enc_be32(b->data + b->len, (uint32_t)k);
	b->len += PROTO_HEADER_LEN + k;
	return 0;
}

int
proto_enc_send(struct proto_buf *b, uint32_t rid, uint32_t handle,
    const void *payload, size_t len)
{
	unsigned char	*p;
	size_t		 n = 2;

	if (len > UINT32_MAX - ENC_SEND_HEAD_MAX)
		return CHAN_ETOOBIG;
	if (fast_reserve(b, PROTO_HEADER_LEN + ENC_SEND_HEAD_MAX + len) != 0)
		return CHAN_ENOMEM;
	p = (unsigned char *)b->data + b->len + PROTO_HEADER_LEN;
	p[0] = 0x94;
	p[1] = PROTO_SEND;
	n += fast_put_uint(p + n, rid);
	n += fast_put_uint(p + n, handle);
	n += fast_put_bin_head(p + n, len);
	if (len > 0)
		memcpy(p + n, payload, len);
	enc_be32(b->data + b->len, (uint32_t)(n + len));
	b->len += PROTO_HEADER_LEN + n + len;
	return 0;
}

/* DELIVER up to the payload bytes, at most 26 bytes: shared by both
   DELIVER encoders, so that their frames are the same bytes. */
#define ENC_DELIVER_HEAD_MAX	26

static inline __attribute__((always_inline)) size_t
enc_deliver_head(unsigned char *p, uint32_t handle, uint64_t seq,
    uint32_t flags, size_t len)
{
	size_t	n = 2;

	p[0] = 0x95;
	p[1] = PROTO_DELIVER;
	n += fast_put_uint(p + n, handle);
	n += fast_put_uint(p + n, seq);
	n += fast_put_uint(p + n, flags);
	return n + fast_put_bin_head(p + n, len);
}

int
proto_enc_deliver(struct proto_buf *b, uint32_t handle, uint64_t seq,
    uint32_t flags, const void *payload, size_t len)
{
	unsigned char	*p;
	size_t		 n;

	if (len > UINT32_MAX - ENC_DELIVER_HEAD_MAX)
		return CHAN_ETOOBIG;
	if (fast_reserve(b, PROTO_HEADER_LEN + ENC_DELIVER_HEAD_MAX +
	    len) != 0)
		return CHAN_ENOMEM;
	p = (unsigned char *)b->data + b->len;
	n = enc_deliver_head(p + PROTO_HEADER_LEN, handle, seq, flags, len);
	enc_be32((char *)p, (uint32_t)(n + len));
	if (len > 0)
		memcpy(p + PROTO_HEADER_LEN + n, payload, len);
	b->len += PROTO_HEADER_LEN + n + len;
	return 0;
}

int
proto_enc_disconnected(struct proto_buf *b, uint32_t handle)
{
	/* [81, handle]: the same shape as [op, rid]. */
	return enc_bare_frame(b, PROTO_DISCONNECTED, handle);
}

int
proto_enc_ring_wake(struct proto_buf *b, uint32_t handle)
{
	/* [82, handle], as DISCONNECTED. */
	return enc_bare_frame(b, PROTO_RING_WAKE, handle);
}

int
proto_enc_direct_offer(struct proto_buf *b, uint32_t handle, uint64_t token)
{
	/* [83, handle, token]: the shape of [op, rid, uint]. */
	return enc_uint_frame(b, PROTO_DIRECT_OFFER, handle, token);
}

int
proto_enc_direct_off(struct proto_buf *b, uint32_t handle, uint64_t seq)
{
	return enc_uint_frame(b, PROTO_DIRECT_OFF, handle, seq);
}

int
proto_enc_info(struct proto_buf *b, uint32_t rid, const void *data,
    size_t len)
{
	msgpack_packer	pk;
	size_t		start;
	int		failed;

	if (len > UINT32_MAX)
		return CHAN_ETOOBIG;
	if ((failed = enc_begin(b, &pk, &start, len)) == 0)
		failed = enc_prefix(&pk, 3, PROTO_INFO, rid) ||
		    msgpack_pack_bin_with_body(&pk, data, len);
	return enc_end(b, start, failed);
}

size_t
proto_enc_deliver_hdr(char *out, uint32_t handle, uint64_t seq,
    uint32_t flags, size_t len)
{
	size_t	n;

	/* Cannot happen below the frame limit: no such frame exists. */
	if (len > UINT32_MAX - ENC_DELIVER_HEAD_MAX)
		return 0;
	n = enc_deliver_head((unsigned char *)out + PROTO_HEADER_LEN, handle,
	    seq, flags, len);
	enc_be32(out, (uint32_t)(n + len));
	return PROTO_HEADER_LEN + n;
}

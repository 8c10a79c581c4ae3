/* SPDX-License-Identifier: MIT */
/*
 * test_fastpath.c: the codec's fast paths (the frames sent once per
 * message) give exactly the bytes and the results of the general code:
 * the SEND, OK, DELIVER and ACKS encoders against msgpack-c's packer, the
 * SEND/ACK/CREDIT/ACKS/OK/DELIVER decoder against the strict rules, in
 * every integer and bin width.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <msgpack.h>

#include "proto.h"

#define MAX_MSG		(1u << 20)

static const uint64_t	u32s[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
			    UINT32_MAX };
static const uint64_t	u64s[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
			    UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX };
static const size_t	lens[] = { 0, 1, 16, 255, 256, 65535, 65536, 70000 };

#define N(a)	(sizeof(a) / sizeof((a)[0]))

/* A frame: 4-byte length, then the body msgpack-c packed into sb. */
static void
frame_of(const msgpack_sbuffer *sb, struct proto_buf *out)
{
	unsigned char	h[4];

	h[0] = (unsigned char)(sb->size >> 24);
	h[1] = (unsigned char)(sb->size >> 16);
	h[2] = (unsigned char)(sb->size >> 8);
	h[3] = (unsigned char)sb->size;
	proto_buf_init(out);
	ck_assert_int_eq(proto_buf_append(out, h, 4), 0);
	ck_assert_int_eq(proto_buf_append(out, sb->data, sb->size), 0);
}

static void
assert_same(const struct proto_buf *a, const struct proto_buf *b)
{
	ck_assert_uint_eq(a->len, b->len);
	ck_assert_int_eq(memcmp(a->data, b->data, a->len), 0);
}

/* msgpack-c's reference body: an array of n elements, op first. */
static void
ref_begin(msgpack_sbuffer *sb, msgpack_packer *pk, size_t n, int op)
{
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(pk, n);
	msgpack_pack_uint8(pk, (uint8_t)op);
}

/*
 * The fast encoder's frame must be the reference's, to the byte. Frees
 * both (the reference's packer buffer too).
 */
static void
expect_ref(struct proto_buf *fast, msgpack_sbuffer *sb)
{
	struct proto_buf	ref;

	frame_of(sb, &ref);
	assert_same(fast, &ref);
	proto_buf_fini(fast);
	proto_buf_fini(&ref);
	msgpack_sbuffer_destroy(sb);
}

START_TEST(ok_is_the_packer_s_bytes)
{
	struct proto_buf	fast;
	msgpack_sbuffer		sb;
	msgpack_packer		pk;
	size_t			i;

	for (i = 0; i < N(u32s); i++) {
		ref_begin(&sb, &pk, 2, PROTO_OK);
		msgpack_pack_uint32(&pk, (uint32_t)u32s[i]);
		proto_buf_init(&fast);
		ck_assert_int_eq(proto_enc_ok(&fast, (uint32_t)u32s[i]), 0);
		expect_ref(&fast, &sb);
	}
}
END_TEST

/* DELIVER by msgpack-c, by proto_enc_deliver, by the header + payload. */
static void
check_deliver(uint32_t handle, uint64_t seq, uint32_t flags, size_t len)
{
	struct proto_buf	fast, ref, split;
	char			hdr[PROTO_DELIVER_HDR_MAX], *payload;
	msgpack_sbuffer		sb;
	msgpack_packer		pk;
	size_t			n, i;

	payload = malloc(len + 1);
	for (i = 0; i < len; i++)
		payload[i] = (char)(i * 7);
	ref_begin(&sb, &pk, 5, PROTO_DELIVER);
	msgpack_pack_uint32(&pk, handle);
	msgpack_pack_uint64(&pk, seq);
	msgpack_pack_uint32(&pk, flags);
	msgpack_pack_bin_with_body(&pk, payload, len);
	frame_of(&sb, &ref);

	proto_buf_init(&fast);
	ck_assert_int_eq(proto_enc_deliver(&fast, handle, seq, flags, payload,
	    len), 0);
	assert_same(&fast, &ref);

	n = proto_enc_deliver_hdr(hdr, handle, seq, flags, len);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_le(n, PROTO_DELIVER_HDR_MAX);
	proto_buf_init(&split);
	ck_assert_int_eq(proto_buf_append(&split, hdr, n), 0);
	ck_assert_int_eq(proto_buf_append(&split, payload, len), 0);
	assert_same(&split, &ref);

	proto_buf_fini(&fast);
	proto_buf_fini(&ref);
	proto_buf_fini(&split);
	msgpack_sbuffer_destroy(&sb);
	free(payload);
}

START_TEST(deliver_is_the_packer_s_bytes)
{
	size_t	i;

	for (i = 0; i < N(u32s); i++)
		check_deliver((uint32_t)u32s[i], 1, 0, 16);
	for (i = 0; i < N(u64s); i++)
		check_deliver(1, u64s[i], PROTO_FLAG_REDELIVERED, 3);
	for (i = 0; i < N(u32s); i++)
		check_deliver(7, 42, (uint32_t)u32s[i], 0);
	for (i = 0; i < N(lens); i++)
		check_deliver(2, 9, 0, lens[i]);
}
END_TEST

START_TEST(send_is_the_packer_s_bytes)
{
	struct proto_buf	 fast;
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	char			*payload;
	size_t			 i, j, len;

	for (i = 0; i < N(u32s) * N(lens); i++) {
		len = lens[i % N(lens)];
		payload = malloc(len + 1);
		for (j = 0; j < len; j++)
			payload[j] = (char)(j * 3);
		ref_begin(&sb, &pk, 4, PROTO_SEND);
		msgpack_pack_uint32(&pk, (uint32_t)u32s[i / N(lens)]);
		msgpack_pack_uint32(&pk, (uint32_t)u32s[i % N(u32s)]);
		msgpack_pack_bin_with_body(&pk, payload, len);
		proto_buf_init(&fast);
		ck_assert_int_eq(proto_enc_send(&fast, (uint32_t)u32s[i /
		    N(lens)], (uint32_t)u32s[i % N(u32s)], payload, len), 0);
		expect_ref(&fast, &sb);
		free(payload);
	}
}
END_TEST

/* ACKS of n entries by msgpack-c and by proto_enc_acks, to the byte. */
static void
check_acks(uint32_t rid, const struct proto_ack_entry *e, uint32_t n)
{
	struct proto_buf	fast;
	msgpack_sbuffer		sb;
	msgpack_packer		pk;
	uint32_t		i;

	ref_begin(&sb, &pk, 3, PROTO_ACKS);
	msgpack_pack_uint32(&pk, rid);
	msgpack_pack_array(&pk, n * 3);
	for (i = 0; i < n; i++) {
		msgpack_pack_uint32(&pk, e[i].handle);
		msgpack_pack_uint64(&pk, e[i].seq);
		msgpack_pack_uint32(&pk, e[i].n);
	}
	proto_buf_init(&fast);
	ck_assert_int_eq(proto_enc_acks(&fast, rid, e, n), 0);
	expect_ref(&fast, &sb);
}

START_TEST(acks_is_the_packer_s_bytes)
{
	static struct proto_ack_entry e[PROTO_ACKS_MAX];
	struct proto_buf	b;
	size_t			i;

	for (i = 0; i < PROTO_ACKS_MAX; i++) {
		e[i].handle = (uint32_t)u32s[i % N(u32s)];
		e[i].seq = u64s[i % N(u64s)];
		e[i].n = (uint32_t)u32s[(i + 3) % N(u32s)];
	}
	for (i = 0; i < N(u32s); i++)
		check_acks((uint32_t)u32s[i], e, 1);
	/* Every count: fixarray up to 5 entries, array 16 beyond. */
	for (i = 1; i <= PROTO_ACKS_MAX; i++)
		check_acks(7, e + PROTO_ACKS_MAX - i, (uint32_t)i);

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_acks(&b, 1, e, 0), CHAN_EINVAL);
	ck_assert_int_eq(proto_enc_acks(&b, 1, e, PROTO_ACKS_MAX + 1),
	    CHAN_EINVAL);
	ck_assert_uint_eq(b.len, 0);
	proto_buf_fini(&b);
}
END_TEST

/* Raw msgpack writers, for encodings msgpack-c never picks. */
static size_t
put_uint(unsigned char *p, int width, uint64_t v)
{
	static const unsigned char	tag[] = { 0, 0xcc, 0xcd, 0, 0xce,
					    0, 0, 0, 0xcf };
	int				i;

	if (width == 0) {
		p[0] = (unsigned char)v;
		return 1;
	}
	p[0] = tag[width];
	for (i = 0; i < width; i++)
		p[1 + i] = (unsigned char)(v >> (8 * (width - 1 - i)));
	return 1 + (size_t)width;
}

static size_t
put_bin(unsigned char *p, int width, const void *data, size_t len)
{
	static const unsigned char	tag[] = { 0, 0xc4, 0xc5, 0, 0xc6 };
	size_t				n = put_uint(p, width, len);

	p[0] = tag[width];
	memcpy(p + n, data, len);
	return n + len;
}

/*
 * One element of a hand-built body: an integer of a width (0: fixint),
 * a bin of a width (1, 2, 4) with its payload, or raw bytes for what is
 * not a well-formed element. A list of them ends at EL_END.
 */
enum el_kind { EL_END, EL_UINT, EL_BIN, EL_RAW };

struct el {
	enum el_kind	 kind;
	int		 width;
	uint64_t	 v;		/* the integer, or the length */
	const void	*data;
};

#define U(w, x)		{ EL_UINT, (w), (x), NULL }
#define BIN(w, d, n)	{ EL_BIN, (w), (n), (d) }
#define RAW(s)		{ EL_RAW, 0, sizeof(s) - 1, (s) }

/* Writes array header hdr (0x94: four elements), op, then els. */
static size_t
body_of(unsigned char *p, unsigned char hdr, int op, const struct el *els)
{
	size_t	n = 0;

	p[n++] = hdr;
	p[n++] = (unsigned char)op;
	for (; els->kind != EL_END; els++) {
		if (els->kind == EL_UINT)
			n += put_uint(p + n, els->width, els->v);
		else if (els->kind == EL_BIN)
			n += put_bin(p + n, els->width, els->data,
			    (size_t)els->v);
		else {
			memcpy(p + n, els->data, (size_t)els->v);
			n += (size_t)els->v;
		}
	}
	return n;
}

static int
decode(const unsigned char *body, size_t len, struct proto_msg *m)
{
	struct proto_decoder	*d = proto_decoder_new(MAX_MSG);
	int			 rc;

	ck_assert_ptr_nonnull(d);
	rc = proto_decode(d, body, len, m);
	proto_decoder_free(d);
	return rc;
}

/*
 * A body the decoder must answer with rc; rid >= 0: the rid it must
 * still report (an error's answer goes to that request).
 */
struct dcase {
	const char	*what;
	unsigned char	 hdr;
	int		 op;
	struct el	 els[8];
	int		 rc;
	long long	 rid;
};

static void
expect_cases(const struct dcase *c, size_t n)
{
	unsigned char		body[64];
	struct proto_msg	m;
	size_t			i, len;
	int			rc;

	for (i = 0; i < n; i++) {
		len = body_of(body, c[i].hdr, c[i].op, c[i].els);
		rc = decode(body, len, &m);
		ck_assert_msg(rc == c[i].rc, "%s: decode gave %d, want %d",
		    c[i].what, rc, c[i].rc);
		if (c[i].rid >= 0)
			ck_assert_msg(m.rid == (uint32_t)c[i].rid,
			    "%s: rid %u, want %lld", c[i].what, m.rid,
			    c[i].rid);
	}
}

/*
 * A payload one byte over the limit must be the full decoder's soft
 * error, TOOBIG, with the request's rid unless rid < 0; els come before
 * the payload.
 */
static void
expect_too_big(unsigned char hdr, int op, const struct el *els,
    long long rid)
{
	struct proto_msg	 m;
	unsigned char		*body = malloc(MAX_MSG + 64), *pl;
	size_t			 n;

	pl = calloc(1, MAX_MSG + 1);
	ck_assert_ptr_nonnull(body);
	ck_assert_ptr_nonnull(pl);
	n = body_of(body, hdr, op, els);
	n += put_bin(body + n, 4, pl, MAX_MSG + 1);
	ck_assert_int_eq(decode(body, n, &m), CHAN_ETOOBIG);
	if (rid >= 0)
		ck_assert_uint_eq(m.rid, (uint32_t)rid);
	free(pl);
	free(body);
}

START_TEST(send_decodes_in_every_width)
{
	static const int	 widths[] = { 1, 2, 4, 8 };
	unsigned char		 body[128];
	struct proto_msg	 m;
	size_t			 n, w, b;
	const char		 pl[] = "payload";

	for (w = 0; w < N(widths); w++) {
		for (b = 1; b <= 4; b *= 2) {
			if (b == 3)
				continue;
			n = body_of(body, 0x94, PROTO_SEND,
			    (const struct el[]){ U(widths[w], 250),
			    U(widths[w], 5), BIN((int)b, pl, 7), { 0 } });
			ck_assert_int_eq(decode(body, n, &m), 0);
			ck_assert_int_eq(m.op, PROTO_SEND);
			ck_assert_uint_eq(m.rid, 250);
			ck_assert_uint_eq(m.handle, 5);
			ck_assert_uint_eq(m.payload_len, 7);
			ck_assert_int_eq(memcmp(m.payload, pl, 7), 0);
		}
	}
}
END_TEST

START_TEST(send_out_of_rules_is_refused)
{
	static const struct dcase cases[] = {
		{ "rid over 32 bits", 0x94, PROTO_SEND,
		    { U(8, (uint64_t)UINT32_MAX + 1), U(0, 1),
		    BIN(1, "x", 1) }, CHAN_EPROTO, -1 },
		{ "a trailing byte after the payload", 0x94, PROTO_SEND,
		    { U(0, 9), U(0, 1), BIN(1, "x", 1), RAW("\xc0") },
		    CHAN_EPROTO, -1 },
		{ "a str payload", 0x94, PROTO_SEND,
		    { U(0, 9), U(0, 1), RAW("\xa1x") }, CHAN_EPROTO, 9 },
		{ "a bin announcing more than the body holds", 0x94,
		    PROTO_SEND, { U(0, 9), U(0, 1), RAW("\xc4\x05x") },
		    CHAN_EPROTO, -1 },
	};

	expect_cases(cases, N(cases));
}
END_TEST

START_TEST(send_over_the_limit_is_too_big_with_its_rid)
{
	expect_too_big(0x94, PROTO_SEND, (const struct el[]){ U(0, 77),
	    U(0, 1), { 0 } }, 77);
}
END_TEST

START_TEST(ack_and_credit_decode_and_check_ranges)
{
	static const struct dcase refused[] = {
		{ "credit over the most", 0x94, PROTO_CREDIT,
		    { U(0, 0), U(0, 3), U(4, PROTO_CREDIT_MAX + 1u) },
		    CHAN_EPROTO, -1 },
		{ "credit of none", 0x94, PROTO_CREDIT,
		    { U(0, 0), U(0, 3), U(0, 0) }, CHAN_EPROTO, -1 },
	};
	unsigned char		body[64];
	struct proto_msg	m;
	size_t			n;

	n = body_of(body, 0x94, PROTO_ACK, (const struct el[]){ U(0, 0),
	    U(1, 200), U(8, UINT64_MAX), { 0 } });
	ck_assert_int_eq(decode(body, n, &m), 0);
	ck_assert_int_eq(m.op, PROTO_ACK);
	ck_assert_uint_eq(m.handle, 200);
	ck_assert(m.seq == UINT64_MAX);

	n = body_of(body, 0x94, PROTO_CREDIT, (const struct el[]){ U(0, 0),
	    U(0, 3), U(2, PROTO_CREDIT_MAX), { 0 } });
	ck_assert_int_eq(decode(body, n, &m), 0);
	ck_assert_int_eq(m.op, PROTO_CREDIT);
	ck_assert_uint_eq(m.count, PROTO_CREDIT_MAX);

	expect_cases(refused, N(refused));
}
END_TEST

START_TEST(acks_decode_in_every_width)
{
	static const int	 widths[] = { 0, 1, 2, 4, 8 };
	/* The entries live in the decoder: it must outlive the checks. */
	struct proto_decoder	*d = proto_decoder_new(MAX_MSG);
	unsigned char		 body[128];
	struct proto_msg	 m;
	size_t			 n, w;

	ck_assert_ptr_nonnull(d);

	for (w = 0; w < N(widths); w++) {
		/* Fixint only where the values fit one. */
		n = body_of(body, 0x93, PROTO_ACKS, (const struct el[]){
		    U(widths[w], 100), RAW("\x96"), U(widths[w], 7),
		    U(widths[w], 5), U(widths[w], 1), U(widths[w], 9),
		    U(widths[w], 0), U(widths[w], 2), { 0 } });
		ck_assert_int_eq(proto_decode(d, body, n, &m), 0);
		ck_assert_int_eq(m.op, PROTO_ACKS);
		ck_assert_uint_eq(m.rid, 100);
		ck_assert_uint_eq(m.nacks, 2);
		ck_assert_uint_eq(m.acks[0].handle, 7);
		ck_assert_uint_eq(m.acks[0].seq, 5);
		ck_assert_uint_eq(m.acks[0].n, 1);
		ck_assert_uint_eq(m.acks[1].handle, 9);
		ck_assert_uint_eq(m.acks[1].seq, 0);
		ck_assert_uint_eq(m.acks[1].n, 2);
	}
	/* What the fast path leaves to the full decoder gives the same. */
	n = body_of(body, 0x93, PROTO_ACKS, (const struct el[]){ U(0, 100),
	    RAW("\xdd\x00\x00\x00\x03"), RAW("\xd2\x00\x00\x00\x07"),
	    RAW("\xd0\x05"), U(0, 1), { 0 } });
	ck_assert_int_eq(proto_decode(d, body, n, &m), 0);
	ck_assert_int_eq(m.op, PROTO_ACKS);
	ck_assert_uint_eq(m.nacks, 1);
	ck_assert_uint_eq(m.acks[0].handle, 7);
	ck_assert_uint_eq(m.acks[0].seq, 5);
	ck_assert_uint_eq(m.acks[0].n, 1);
	proto_decoder_free(d);
}
END_TEST

START_TEST(acks_out_of_rules_are_refused)
{
	static const struct dcase cases[] = {
		{ "an entry with neither seq nor credit", 0x93, PROTO_ACKS,
		    { U(0, 4), RAW("\x93"), U(0, 7), U(0, 0), U(0, 0) },
		    CHAN_EPROTO, 4 },
		{ "credit over the most", 0x93, PROTO_ACKS,
		    { U(0, 4), RAW("\x93"), U(0, 7), U(0, 0),
		    U(4, PROTO_CREDIT_MAX + 1u) }, CHAN_EPROTO, 4 },
		{ "a handle over 32 bits", 0x93, PROTO_ACKS,
		    { U(0, 4), RAW("\x93"), U(8, (uint64_t)UINT32_MAX + 1),
		    U(0, 1), U(0, 0) }, CHAN_EPROTO, 4 },
		{ "a list not in threes", 0x93, PROTO_ACKS,
		    { U(0, 4), RAW("\x92"), U(0, 7), U(0, 1) },
		    CHAN_EPROTO, 4 },
		{ "an empty list", 0x93, PROTO_ACKS,
		    { U(0, 4), RAW("\x90") }, CHAN_EPROTO, 4 },
		{ "a list shorter than announced", 0x93, PROTO_ACKS,
		    { U(0, 4), RAW("\x96"), U(0, 7), U(0, 1), U(0, 0) },
		    CHAN_EPROTO, -1 },
		{ "a trailing byte", 0x93, PROTO_ACKS,
		    { U(0, 4), RAW("\x93"), U(0, 7), U(0, 1), U(0, 0),
		    RAW("\xc0") }, CHAN_EPROTO, -1 },
	};

	expect_cases(cases, N(cases));
}
END_TEST

START_TEST(deliver_decodes_in_every_width)
{
	static const int	 widths[] = { 1, 2, 4, 8 };
	unsigned char		 body[128];
	struct proto_msg	 m;
	size_t			 n, w, b;
	const char		 pl[] = "payload";

	for (w = 0; w < N(widths); w++) {
		for (b = 1; b <= 4; b *= 2) {
			if (b == 3)
				continue;
			n = body_of(body, 0x95, PROTO_DELIVER,
			    (const struct el[]){ U(widths[w], 7),
			    U(widths[w], 250), U(widths[w], 1),
			    BIN((int)b, pl, 7), { 0 } });
			ck_assert_int_eq(decode(body, n, &m), 0);
			ck_assert_int_eq(m.op, PROTO_DELIVER);
			ck_assert_uint_eq(m.rid, 7);
			ck_assert_uint_eq(m.handle, 7);
			ck_assert_uint_eq(m.seq, 250);
			ck_assert_uint_eq(m.flags, 1);
			ck_assert_uint_eq(m.payload_len, 7);
			ck_assert_int_eq(memcmp(m.payload, pl, 7), 0);
		}
	}
	/* The largest sequence number, an empty payload. */
	n = body_of(body, 0x95, PROTO_DELIVER, (const struct el[]){ U(0, 1),
	    U(8, UINT64_MAX), U(0, 0), BIN(1, "", 0), { 0 } });
	ck_assert_int_eq(decode(body, n, &m), 0);
	ck_assert(m.seq == UINT64_MAX);
	ck_assert_uint_eq(m.payload_len, 0);
}
END_TEST

START_TEST(deliver_out_of_rules_is_refused)
{
	static const struct dcase cases[] = {
		{ "flags over 32 bits", 0x95, PROTO_DELIVER,
		    { U(0, 1), U(0, 1), U(8, (uint64_t)UINT32_MAX + 1),
		    BIN(1, "x", 1) }, CHAN_EPROTO, -1 },
		{ "a trailing byte after the payload", 0x95, PROTO_DELIVER,
		    { U(0, 1), U(0, 1), U(0, 0), BIN(1, "x", 1),
		    RAW("\xc0") }, CHAN_EPROTO, -1 },
		{ "a str payload", 0x95, PROTO_DELIVER,
		    { U(0, 1), U(0, 1), U(0, 0), RAW("\xa1x") },
		    CHAN_EPROTO, -1 },
	};

	expect_cases(cases, N(cases));
	/* Over the payload limit: the full decoder's soft error. */
	expect_too_big(0x95, PROTO_DELIVER, (const struct el[]){ U(0, 1),
	    U(0, 1), U(0, 0), { 0 } }, -1);
}
END_TEST

START_TEST(ok_decodes_in_every_width_and_nothing_more)
{
	static const struct dcase refused[] = {
		{ "rid over 32 bits", 0x92, PROTO_OK,
		    { U(8, (uint64_t)UINT32_MAX + 1) }, CHAN_EPROTO, -1 },
		{ "a trailing byte", 0x92, PROTO_OK,
		    { U(0, 3), RAW("\xc0") }, CHAN_EPROTO, -1 },
	};
	static const int	 widths[] = { 0, 1, 2, 4, 8 };
	static const uint64_t	 rids[] = { 99, 200, 65000, UINT32_MAX,
				    UINT32_MAX };
	unsigned char		 body[16];
	struct proto_msg	 m;
	size_t			 n, w;

	for (w = 0; w < N(widths); w++) {
		n = body_of(body, 0x92, PROTO_OK, (const struct el[]){
		    U(widths[w], rids[w]), { 0 } });
		ck_assert_int_eq(decode(body, n, &m), 0);
		ck_assert_int_eq(m.op, PROTO_OK);
		ck_assert_uint_eq(m.rid, rids[w]);
	}
	expect_cases(refused, N(refused));
}
END_TEST

static Suite *
fastpath_suite(void)
{
	Suite	*s = suite_create("fastpath");
	TCase	*tc = tcase_create("codec");

	tcase_add_test(tc, ok_is_the_packer_s_bytes);
	tcase_add_test(tc, deliver_is_the_packer_s_bytes);
	tcase_add_test(tc, send_is_the_packer_s_bytes);
	tcase_add_test(tc, acks_is_the_packer_s_bytes);
	tcase_add_test(tc, send_decodes_in_every_width);
	tcase_add_test(tc, send_out_of_rules_is_refused);
	tcase_add_test(tc, send_over_the_limit_is_too_big_with_its_rid);
	tcase_add_test(tc, ack_and_credit_decode_and_check_ranges);
	tcase_add_test(tc, acks_decode_in_every_width);
	tcase_add_test(tc, acks_out_of_rules_are_refused);
	tcase_add_test(tc, deliver_decodes_in_every_width);
	tcase_add_test(tc, deliver_out_of_rules_is_refused);
	tcase_add_test(tc, ok_decodes_in_every_width_and_nothing_more);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(fastpath_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

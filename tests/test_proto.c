/* SPDX-License-Identifier: MIT */
/*
 * test_proto.c: the wire codec (proto/): framing, every op both ways,
 * malformed bodies, the buffer and the default socket path.
 */
#include <sys/prctl.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>

#include "proto.h"

#define TEST_MAX_MSG	4096
#define TEST_TIMEOUT	60

static struct proto_decoder	*dec;
static struct proto_buf		 out;
static struct proto_msg		 m;
static msgpack_sbuffer		 sb;
static msgpack_packer		 pk;

static void
setup(void)
{
	dec = proto_decoder_new(TEST_MAX_MSG);
	ck_assert_ptr_nonnull(dec);
	proto_buf_init(&out);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
}

static void
teardown(void)
{
	proto_decoder_free(dec);
	proto_buf_fini(&out);
	msgpack_sbuffer_destroy(&sb);
}

/* Checks that out holds exactly one frame and decodes its body. */
static int
decode_out(void)
{
	size_t	body = SIZE_MAX;

	ck_assert_int_eq(proto_frame_check(out.data, out.len,
	    proto_max_body(TEST_MAX_MSG), &body), 1);
	ck_assert_uint_eq(PROTO_HEADER_LEN + body, out.len);
	return proto_decode(dec, out.data + PROTO_HEADER_LEN, body, &m);
}

/* Decodes the hand-built body in sb. */
static int
decode_sb(void)
{
	return proto_decode(dec, sb.data, sb.size, &m);
}

static void
sb_reset(void)
{
	msgpack_sbuffer_clear(&sb);
}

static void
pk_str(const char *s)
{
	msgpack_pack_str_with_body(&pk, s, strlen(s));
}

static void
pk_bin(const void *p, size_t len)
{
	msgpack_pack_bin_with_body(&pk, p, len);
}

static void
pk_raw(const void *p, size_t len)
{
	msgpack_sbuffer_write(&sb, p, len);
}

/* Asserts that [ptr, ptr+len) lies inside [base, base+size). */
static void
assert_inside(const void *ptr, size_t len, const void *base, size_t size)
{
	const char	*p = ptr, *b = base;

	ck_assert_ptr_nonnull(p);
	ck_assert(p >= b && len <= size && (size_t)(p - b) <= size - len);
}

/*
 * Round trips: encode, frame, decode, same fields.
 */
/* DIRECT, DIRECT_OFFER and DIRECT_OFF (direct reading). */
START_TEST(direct_frames_round_trip)
{
	ck_assert_int_eq(proto_enc_direct(&out, 9, 4, 1), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_DIRECT);
	ck_assert_uint_eq(m.rid, 9);
	ck_assert_uint_eq(m.handle, 4);
	ck_assert_uint_eq(m.count, 1);
	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_direct_offer(&out, 5, UINT64_MAX - 3), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_DIRECT_OFFER);
	ck_assert_uint_eq(m.handle, 5);
	ck_assert(m.token == UINT64_MAX - 3);
	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_direct_off(&out, 6, 1234567), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_DIRECT_OFF);
	ck_assert_uint_eq(m.handle, 6);
	ck_assert(m.seq == 1234567);
	ck_assert_str_eq(proto_op_name(PROTO_DIRECT), "DIRECT");
	ck_assert_str_eq(proto_op_name(PROTO_DIRECT_OFFER), "DIRECT_OFFER");
	ck_assert_str_eq(proto_op_name(PROTO_DIRECT_OFF), "DIRECT_OFF");
	/* A handle that is not a uint32 is refused. */
	sb_reset();
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint32(&pk, PROTO_DIRECT_OFF);
	msgpack_pack_int32(&pk, -1);
	msgpack_pack_uint32(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
}
END_TEST

/* proto_peek_op reads the op of what the encoders write, and of no more. */
START_TEST(peek_op_reads_the_first_element)
{
	static const unsigned char a16[] = { 0xdc, 0x00, 0x02, 0x52, 0x01 };
	static const unsigned char a32[] = { 0xdd, 0, 0, 0, 2, 0xcc, 0xc8 };
	static const unsigned char bad[][3] = {
		{ 0x90, 0x52, 0x00 },	/* empty array */
		{ 0x81, 0x52, 0x00 },	/* a map */
		{ 0x92, 0xff, 0x00 },	/* negative fixint */
		{ 0x92, 0xcd, 0x00 },	/* uint 16 */
	};
	size_t	body = 0, i;

	ck_assert_int_eq(proto_enc_ring_wake(&out, 7), 0);
	ck_assert_int_eq(proto_frame_check(out.data, out.len,
	    proto_max_body(TEST_MAX_MSG), &body), 1);
	ck_assert_int_eq(proto_peek_op(out.data + PROTO_HEADER_LEN, body),
	    PROTO_RING_WAKE);
	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_ok(&out, 3), 0);
	ck_assert_int_eq(proto_frame_check(out.data, out.len,
	    proto_max_body(TEST_MAX_MSG), &body), 1);
	ck_assert_int_eq(proto_peek_op(out.data + PROTO_HEADER_LEN, body),
	    PROTO_OK);
	ck_assert_int_eq(proto_peek_op(a16, sizeof(a16)), 0x52);
	ck_assert_int_eq(proto_peek_op(a32, sizeof(a32)), 0xc8);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(proto_peek_op(bad[i], sizeof(bad[i])), -1);
	/* Cut short: nothing past len is read. */
	ck_assert_int_eq(proto_peek_op(a16, 3), -1);
	ck_assert_int_eq(proto_peek_op(a32, 6), -1);
	ck_assert_int_eq(proto_peek_op(a16, 0), -1);
}
END_TEST

START_TEST(hello_round_trips_with_client_name)
{
	ck_assert_int_eq(proto_enc_hello(&out, 7, "chan-send"), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_HELLO);
	ck_assert_uint_eq(m.rid, 7);
	ck_assert_uint_eq(m.version, PROTO_VERSION);
	ck_assert_uint_eq(m.text_len, 9);
	ck_assert_mem_eq(m.text, "chan-send", 9);
	assert_inside(m.text, m.text_len, out.data, out.len);
}
END_TEST

START_TEST(hello_round_trips_without_client_name)
{
	ck_assert_int_eq(proto_enc_hello(&out, UINT32_MAX, NULL), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_HELLO);
	ck_assert_uint_eq(m.rid, UINT32_MAX);
	ck_assert_ptr_null(m.text);
}
END_TEST

START_TEST(hello_encoder_cuts_long_client_name_to_limit)
{
	char	name[200];

	memset(name, 'c', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	ck_assert_int_eq(proto_enc_hello(&out, 1, name), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_uint_eq(m.text_len, PROTO_CLIENT_NAME_MAX);
}
END_TEST

START_TEST(open_round_trips_names_with_nul_bytes)
{
	static const char	name[] = "a\0b\0";
	int			op;

	for (op = PROTO_OPEN_TX; op <= PROTO_OPEN_RX; op++) {
		proto_buf_consume(&out, out.len);
		ck_assert_int_eq(proto_enc_open(&out, op, 3, name,
		    sizeof name - 1), 0);
		ck_assert_int_eq(decode_out(), 0);
		ck_assert_int_eq(m.op, op);
		ck_assert_uint_eq(m.rid, 3);
		ck_assert_uint_eq(m.name_len, 4);
		ck_assert_mem_eq(m.name, name, 4);
		assert_inside(m.name, m.name_len, out.data, out.len);
	}
}
END_TEST

START_TEST(close_round_trips)
{
	ck_assert_int_eq(proto_enc_close(&out, 4, UINT32_MAX), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_CLOSE);
	ck_assert_uint_eq(m.rid, 4);
	ck_assert_uint_eq(m.handle, UINT32_MAX);
}
END_TEST

START_TEST(send_round_trips_payload_with_nul_bytes)
{
	static const char	payload[] = "\0x\0\0y\0";

	ck_assert_int_eq(proto_enc_send(&out, 5, 9, payload,
	    sizeof payload), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_SEND);
	ck_assert_uint_eq(m.rid, 5);
	ck_assert_uint_eq(m.handle, 9);
	ck_assert_uint_eq(m.payload_len, sizeof payload);
	ck_assert_mem_eq(m.payload, payload, sizeof payload);
	assert_inside(m.payload, m.payload_len, out.data, out.len);
}
END_TEST

START_TEST(send_round_trips_empty_payload)
{
	ck_assert_int_eq(proto_enc_send(&out, 5, 1, NULL, 0), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_SEND);
	ck_assert_uint_eq(m.payload_len, 0);
}
END_TEST

START_TEST(ack_round_trips_largest_seq)
{
	ck_assert_int_eq(proto_enc_ack(&out, 0, 2, UINT64_MAX), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_ACK);
	ck_assert_uint_eq(m.rid, 0);
	ck_assert_uint_eq(m.handle, 2);
	ck_assert(m.seq == UINT64_MAX);
}
END_TEST

START_TEST(credit_round_trips_both_ends_of_range)
{
	ck_assert_int_eq(proto_enc_credit(&out, 0, 3, 1), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_CREDIT);
	ck_assert_uint_eq(m.handle, 3);
	ck_assert_uint_eq(m.count, 1);

	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_credit(&out, 0, 3, PROTO_CREDIT_MAX), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_uint_eq(m.count, PROTO_CREDIT_MAX);
}
END_TEST

START_TEST(ping_and_ok_round_trip)
{
	ck_assert_int_eq(proto_enc_ping(&out, 8), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_PING);
	ck_assert_uint_eq(m.rid, 8);

	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_ok(&out, 65536), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_OK);
	ck_assert_uint_eq(m.rid, 65536);
}
END_TEST

START_TEST(welcome_round_trips)
{
	ck_assert_int_eq(proto_enc_welcome(&out, 1, PROTO_VERSION, "chand 0.1.0",
	    PROTO_DEFAULT_MAX_MSG, 812), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_WELCOME);
	ck_assert_uint_eq(m.rid, 1);
	ck_assert_uint_eq(m.version, PROTO_VERSION);
	ck_assert_uint_eq(m.max_msg, PROTO_DEFAULT_MAX_MSG);
	ck_assert_uint_eq(m.pid, 812);
	ck_assert_uint_eq(m.text_len, 11);
	ck_assert_mem_eq(m.text, "chand 0.1.0", 11);
	ck_assert_uint_eq(m.features, PROTO_FEATURES);
}
END_TEST

START_TEST(acks_round_trip_up_to_the_most_entries)
{
	struct proto_ack_entry e[PROTO_ACKS_MAX];
	uint32_t i;

	for (i = 0; i < PROTO_ACKS_MAX; i++) {
		e[i].handle = i == 0 ? UINT32_MAX : i + 1;
		e[i].seq = i % 3 == 1 ? 0 : i == 0 ? UINT64_MAX : 1000 + i;
		e[i].n = i % 3 == 2 ? 0 : i == 0 ? PROTO_CREDIT_MAX : i;
	}
	ck_assert_int_eq(proto_enc_acks(&out, 0, e, 1), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_ACKS);
	ck_assert_uint_eq(m.rid, 0);
	ck_assert_uint_eq(m.nacks, 1);
	ck_assert_uint_eq(m.acks[0].handle, UINT32_MAX);
	ck_assert_uint_eq(m.acks[0].seq, UINT64_MAX);
	ck_assert_uint_eq(m.acks[0].n, PROTO_CREDIT_MAX);

	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_acks(&out, 9, e, PROTO_ACKS_MAX), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_ACKS);
	ck_assert_uint_eq(m.rid, 9);
	ck_assert_uint_eq(m.nacks, PROTO_ACKS_MAX);
	for (i = 0; i < PROTO_ACKS_MAX; i++) {
		ck_assert_uint_eq(m.acks[i].handle, e[i].handle);
		ck_assert_uint_eq(m.acks[i].seq, e[i].seq);
		ck_assert_uint_eq(m.acks[i].n, e[i].n);
	}
}
END_TEST

/* [11, 0, [v[0], ..., v[n - 1]]] */
static void
pack_acks(const uint64_t *v, size_t n)
{
	size_t i;

	sb_reset();
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, PROTO_ACKS);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_array(&pk, n);
	for (i = 0; i < n; i++)
		msgpack_pack_uint64(&pk, v[i]);
}

START_TEST(acks_with_a_bad_entry_or_list_is_proto_error)
{
	static uint64_t v[3 * (PROTO_ACKS_MAX + 1)];
	static const uint64_t one[] = { 1, 5, 0 }, neither[] = { 1, 0, 0 },
	    over[] = { 1, 5, PROTO_CREDIT_MAX + 1 },
	    big_handle[] = { (uint64_t)1 << 32, 5, 1 },
	    short_list[] = { 1, 5, 1, 2 };
	size_t i;

	pack_acks(one, 3);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_uint_eq(m.nacks, 1);
	pack_acks(one, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	pack_acks(neither, 3);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	pack_acks(over, 3);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	pack_acks(big_handle, 3);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	pack_acks(short_list, 4);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	for (i = 0; i < 3 * (PROTO_ACKS_MAX + 1); i++)
		v[i] = i % 3 == 0 ? i / 3 + 1 : 1;
	pack_acks(v, 3 * PROTO_ACKS_MAX);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_uint_eq(m.nacks, PROTO_ACKS_MAX);
	pack_acks(v, 3 * (PROTO_ACKS_MAX + 1));
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);

	/* A negative value, and a list that is not an array. */
	sb_reset();
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, PROTO_ACKS);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_int8(&pk, -1);
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	sb_reset();
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, PROTO_ACKS);
	msgpack_pack_uint8(&pk, 4);
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 4);
}
END_TEST

START_TEST(handle_round_trips)
{
	ck_assert_int_eq(proto_enc_handle(&out, 2, 77), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_HANDLE);
	ck_assert_uint_eq(m.rid, 2);
	ck_assert_uint_eq(m.handle, 77);
}
END_TEST

START_TEST(error_round_trips_with_positive_wire_code)
{
	ck_assert_int_eq(proto_enc_error(&out, 6, CHAN_EBUSY,
	    "channel jobs busy: consumer pid 99"), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_ERROR);
	ck_assert_uint_eq(m.rid, 6);
	ck_assert_uint_eq(m.code, 5);
	ck_assert_uint_eq(m.text_len, 34);
	ck_assert_mem_eq(m.text, "channel jobs busy: consumer pid 99", 34);
	/* The byte after the array header, op and rid is the code. */
	ck_assert_int_eq((unsigned char)out.data[PROTO_HEADER_LEN + 3], 5);
}
END_TEST

/*
 * An empty string is present, not absent: msgpack-c gives some empty
 * strs no pointer (a fuzzer found the ERROR below decoding to NULL).
 */
START_TEST(empty_error_text_decodes_present_and_empty)
{
	static const char	with_fields[] = "\x95\xce\x00\x00\x00\x43"
				    "\x00\x26\xa0\x80";
	static const char	without[] = "\x94\x43\x00\x26\xa0";

	pk_raw(with_fields, sizeof(with_fields) - 1);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_int_eq(m.op, PROTO_ERROR);
	ck_assert_ptr_nonnull(m.text);
	ck_assert_uint_eq(m.text_len, 0);
	sb_reset();
	pk_raw(without, sizeof(without) - 1);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_ptr_nonnull(m.text);
	ck_assert_uint_eq(m.text_len, 0);
}
END_TEST

START_TEST(error_message_is_cut_to_limit)
{
	char	msg[PROTO_ERRMSG_MAX + 100];

	memset(msg, 'e', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	ck_assert_int_eq(proto_enc_error(&out, 1, CHAN_ELIMIT, msg), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_uint_eq(m.code, 9);
	ck_assert_uint_eq(m.text_len, PROTO_ERRMSG_MAX);
}
END_TEST

START_TEST(error_message_cut_keeps_utf8_sequences_whole)
{
	char	msg[PROTO_ERRMSG_MAX + 8];

	/* 'e' * 511, then "é" (2 bytes) straddling the limit. */
	memset(msg, 'e', PROTO_ERRMSG_MAX - 1);
	strcpy(msg + PROTO_ERRMSG_MAX - 1, "\xc3\xa9xyz");
	ck_assert_int_eq(proto_enc_error(&out, 1, CHAN_EPROTO, msg), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_uint_eq(m.text_len, PROTO_ERRMSG_MAX - 1);
}
END_TEST

START_TEST(deliver_round_trips)
{
	static const char	payload[] = "hello\0world";

	ck_assert_int_eq(proto_enc_deliver(&out, 4, (uint64_t)1 << 40,
	    PROTO_FLAG_REDELIVERED, payload, sizeof payload), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_DELIVER);
	ck_assert_uint_eq(m.handle, 4);
	ck_assert(m.seq == (uint64_t)1 << 40);
	ck_assert_uint_eq(m.flags, PROTO_FLAG_REDELIVERED);
	ck_assert_uint_eq(m.payload_len, sizeof payload);
	ck_assert_mem_eq(m.payload, payload, sizeof payload);
	assert_inside(m.payload, m.payload_len, out.data, out.len);
}
END_TEST

START_TEST(disconnected_round_trips)
{
	ck_assert_int_eq(proto_enc_disconnected(&out, 12), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_DISCONNECTED);
	ck_assert_uint_eq(m.handle, 12);
}
END_TEST

START_TEST(frames_back_to_back_decode_in_order)
{
	size_t	body;
	int	i;

	for (i = 1; i <= 50; i++)
		ck_assert_int_eq(proto_enc_send(&out, i, i, "x", 1), 0);
	for (i = 1; i <= 50; i++) {
		ck_assert_int_eq(proto_frame_check(out.data, out.len,
		    proto_max_body(TEST_MAX_MSG), &body), 1);
		ck_assert_int_eq(proto_decode(dec, out.data + PROTO_HEADER_LEN,
		    body, &m), 0);
		ck_assert_uint_eq(m.rid, i);
		proto_buf_consume(&out, PROTO_HEADER_LEN + body);
	}
	ck_assert_uint_eq(out.len, 0);
}
END_TEST

/*
 * Payload limits.
 */
START_TEST(payload_of_max_msg_is_accepted)
{
	char	*p = calloc(1, TEST_MAX_MSG);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(proto_enc_send(&out, 3, 1, p, TEST_MAX_MSG), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_uint_eq(m.payload_len, TEST_MAX_MSG);
	free(p);
}
END_TEST

START_TEST(payload_over_max_msg_is_toobig_with_rid)
{
	char	*p = calloc(1, TEST_MAX_MSG + 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(proto_enc_send(&out, 3, 1, p, TEST_MAX_MSG + 1), 0);
	ck_assert_int_eq(decode_out(), CHAN_ETOOBIG);
	ck_assert_int_eq(m.op, PROTO_SEND);
	ck_assert_uint_eq(m.rid, 3);

	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_deliver(&out, 1, 1, 0, p,
	    TEST_MAX_MSG + 1), 0);
	ck_assert_int_eq(decode_out(), CHAN_ETOOBIG);
	ck_assert_int_eq(m.op, PROTO_DELIVER);
	free(p);
}
END_TEST

START_TEST(default_limit_payload_fits_default_frame_limit)
{
	struct proto_decoder	*d = proto_decoder_new(PROTO_DEFAULT_MAX_MSG);
	char			*p = malloc(PROTO_DEFAULT_MAX_MSG + 1);
	size_t			 body;

	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_nonnull(p);
	memset(p, 0xab, PROTO_DEFAULT_MAX_MSG + 1);
	ck_assert_int_eq(proto_enc_send(&out, UINT32_MAX, UINT32_MAX, p,
	    PROTO_DEFAULT_MAX_MSG), 0);
	ck_assert_int_eq(proto_frame_check(out.data, out.len,
	    proto_max_body(PROTO_DEFAULT_MAX_MSG), &body), 1);
	ck_assert_int_eq(proto_decode(d, out.data + PROTO_HEADER_LEN, body,
	    &m), 0);
	ck_assert_uint_eq(m.payload_len, PROTO_DEFAULT_MAX_MSG);

	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_send(&out, 1, 1, p,
	    PROTO_DEFAULT_MAX_MSG + 1), 0);
	ck_assert_int_eq(proto_frame_check(out.data, out.len,
	    proto_max_body(PROTO_DEFAULT_MAX_MSG), &body), 1);
	ck_assert_int_eq(proto_decode(d, out.data + PROTO_HEADER_LEN, body,
	    &m), CHAN_ETOOBIG);
	proto_decoder_free(d);
	free(p);
}
END_TEST

START_TEST(encoder_refuses_payload_beyond_32_bits)
{
	static const char	byte = 0;
	char			hdr[PROTO_DELIVER_HDR_MAX];

	if (SIZE_MAX <= UINT32_MAX)
		return;
	/* The length is refused before the payload is read. */
	ck_assert_int_eq(proto_enc_send(&out, 1, 1, &byte,
	    (size_t)UINT32_MAX + 1), CHAN_ETOOBIG);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_uint_eq(proto_enc_deliver_hdr(hdr, 1, 1, 0,
	    (size_t)UINT32_MAX + 1), 0);
}
END_TEST

/*
 * Framing.
 */
static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

START_TEST(frame_check_needs_whole_header)
{
	unsigned char	hdr[4] = { 0, 0, 0, 1 };
	size_t		body = 12345, n;

	for (n = 0; n < PROTO_HEADER_LEN; n++) {
		ck_assert_int_eq(proto_frame_check(hdr, n, 100, &body), 0);
		ck_assert_uint_eq(body, 12345);
	}
}
END_TEST

START_TEST(frame_check_reports_length_of_incomplete_body)
{
	unsigned char	buf[4 + 10];
	size_t		body = 0;

	put_be32(buf, 10);
	ck_assert_int_eq(proto_frame_check(buf, 4, 100, &body), 0);
	ck_assert_uint_eq(body, 10);
	ck_assert_int_eq(proto_frame_check(buf, 13, 100, &body), 0);
	ck_assert_uint_eq(body, 10);
	ck_assert_int_eq(proto_frame_check(buf, 14, 100, &body), 1);
	ck_assert_uint_eq(body, 10);
}
END_TEST

START_TEST(frame_check_accepts_body_of_exact_limit)
{
	static unsigned char	buf[4 + 1000];
	size_t			body = 0;

	put_be32(buf, 1000);
	ck_assert_int_eq(proto_frame_check(buf, 4, 1000, &body), 0);
	ck_assert_uint_eq(body, 1000);
	ck_assert_int_eq(proto_frame_check(buf, sizeof buf, 1000, &body), 1);
}
END_TEST

START_TEST(frame_check_refuses_limit_plus_one_from_header_alone)
{
	unsigned char	hdr[4];
	size_t		body;

	put_be32(hdr, 1001);
	ck_assert_int_eq(proto_frame_check(hdr, 4, 1000, &body),
	    CHAN_ETOOBIG);
	put_be32(hdr, UINT32_MAX);
	ck_assert_int_eq(proto_frame_check(hdr, 4,
	    proto_max_body(PROTO_DEFAULT_MAX_MSG), &body), CHAN_ETOOBIG);
}
END_TEST

START_TEST(frame_with_empty_body_is_proto_error)
{
	unsigned char	hdr[4] = { 0, 0, 0, 0 };
	size_t		body = 99;

	ck_assert_int_eq(proto_frame_check(hdr, 4, 100, &body), 1);
	ck_assert_uint_eq(body, 0);
	ck_assert_int_eq(proto_decode(dec, hdr + 4, 0, &m), CHAN_EPROTO);
	ck_assert_int_eq(m.op, 0);
	ck_assert_uint_eq(m.rid, 0);
}
END_TEST

/*
 * Malformed bodies.
 */
START_TEST(body_not_msgpack_is_proto_error)
{
	static const unsigned char	bad[] = { 0xc1, 0x92, 0x08, 0x01 };

	ck_assert_int_eq(proto_decode(dec, bad, sizeof bad, &m), CHAN_EPROTO);
	ck_assert_int_eq(m.op, 0);
	ck_assert_uint_eq(m.rid, 0);
}
END_TEST

START_TEST(truncated_body_is_proto_error_with_rid)
{
	size_t	body, cut;

	ck_assert_int_eq(proto_enc_send(&out, 42, 1, "abcdef", 6), 0);
	body = out.len - PROTO_HEADER_LEN;
	for (cut = 0; cut < body; cut++) {
		ck_assert_int_eq(proto_decode(dec, out.data + PROTO_HEADER_LEN,
		    cut, &m), CHAN_EPROTO);
		/* [, op, rid: three bytes in, both can be read. */
		ck_assert_uint_eq(m.rid, cut >= 3 ? 42 : 0);
		ck_assert_int_eq(m.op, cut >= 2 ? PROTO_SEND : 0);
	}
}
END_TEST

START_TEST(body_that_is_not_an_array_is_proto_error)
{
	msgpack_pack_map(&pk, 1);
	msgpack_pack_uint8(&pk, 8);
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);

	sb_reset();
	msgpack_pack_uint8(&pk, 8);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);

	sb_reset();
	pk_str("PING");
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
}
END_TEST

START_TEST(empty_array_is_proto_error)
{
	msgpack_pack_array(&pk, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_int_eq(m.op, 0);
}
END_TEST

START_TEST(array_with_op_only_is_proto_error)
{
	msgpack_pack_array(&pk, 1);
	msgpack_pack_uint8(&pk, PROTO_PING);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_int_eq(m.op, PROTO_PING);
}
END_TEST

START_TEST(op_that_is_not_an_integer_is_proto_error_with_rid)
{
	msgpack_pack_array(&pk, 2);
	pk_str("PING");
	msgpack_pack_uint8(&pk, 9);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_int_eq(m.op, 0);
	ck_assert_uint_eq(m.rid, 9);
}
END_TEST

START_TEST(negative_op_and_rid_are_proto_errors)
{
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int8(&pk, -8);
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_int_eq(m.op, 0);

	sb_reset();
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, PROTO_PING);
	msgpack_pack_int64(&pk, -1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_int_eq(m.op, PROTO_PING);
	ck_assert_uint_eq(m.rid, 0);
}
END_TEST

START_TEST(rid_above_uint32_is_proto_error)
{
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, PROTO_PING);
	msgpack_pack_uint64(&pk, (uint64_t)UINT32_MAX + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 0);

	sb_reset();
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, PROTO_PING);
	msgpack_pack_uint64(&pk, UINT32_MAX);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_uint_eq(m.rid, UINT32_MAX);
}
END_TEST

START_TEST(signed_encodings_of_non_negative_ints_are_accepted)
{
	/* [int8 8, int16 7]: PING rid 7. */
	static const unsigned char	b[] = { 0x92, 0xd0, 0x08, 0xd1, 0x00,
					    0x07 };

	ck_assert_int_eq(proto_decode(dec, b, sizeof b, &m), 0);
	ck_assert_int_eq(m.op, PROTO_PING);
	ck_assert_uint_eq(m.rid, 7);
}
END_TEST

/* Every op, its element count in a valid frame. */
static const struct {
	int		op;
	unsigned	nelem;
} all_ops[] = {
	{ PROTO_HELLO, 5 }, { PROTO_OPEN_TX, 4 }, { PROTO_OPEN_RX, 4 },
	{ PROTO_CLOSE, 3 }, { PROTO_SEND, 4 }, { PROTO_ACK, 4 },
	{ PROTO_CREDIT, 4 }, { PROTO_PING, 2 }, { PROTO_WELCOME, 4 },
	{ PROTO_OK, 2 }, { PROTO_HANDLE, 3 }, { PROTO_ERROR, 4 },
	{ PROTO_DELIVER, 5 }, { PROTO_DISCONNECTED, 2 },
	{ PROTO_SEND_TIMED, 5 }, { PROTO_STATS, 4 }, { PROTO_INFO, 3 },
	{ PROTO_SEND_MARKED, 5 },
};
#define N_OPS	(sizeof all_ops / sizeof all_ops[0])

/* Element i of a valid frame for op (nil past its end). */
static void
pack_valid_elem(int op, unsigned nelem, unsigned i)
{
	if (i >= nelem) {
		msgpack_pack_nil(&pk);
		return;
	}
	if (i == 0 || i == 1) {
		msgpack_pack_uint32(&pk, i == 0 ? (uint32_t)op : 1);
		return;
	}
	switch (op) {
	case PROTO_HELLO:
		if (i == 2)
			pk_str(PROTO_MAGIC);
		else if (i == 3)
			msgpack_pack_uint8(&pk, PROTO_VERSION);
		else
			msgpack_pack_map(&pk, 0);
		break;
	case PROTO_OPEN_TX:
	case PROTO_OPEN_RX:
		if (i == 2)
			pk_str("q");
		else
			msgpack_pack_map(&pk, 0);
		break;
	case PROTO_SEND:
	case PROTO_DELIVER:
		if (i == nelem - 1)
			pk_bin("x", 1);
		else
			msgpack_pack_uint8(&pk, 1);
		break;
	case PROTO_SEND_TIMED:
	case PROTO_SEND_MARKED:
		if (i == 3)
			pk_bin("x", 1);
		else
			msgpack_pack_uint8(&pk, 1);
		break;
	case PROTO_STATS:
		if (i == 2)
			pk_str("daemon");
		else
			msgpack_pack_map(&pk, 0);
		break;
	case PROTO_INFO:
		pk_bin("\x80", 1);
		break;
	case PROTO_WELCOME:
		if (i == 2) {
			msgpack_pack_uint8(&pk, 1);
			break;
		}
		msgpack_pack_map(&pk, 3);
		pk_str("server");
		pk_str("s");
		pk_str("max_msg");
		msgpack_pack_uint8(&pk, 1);
		pk_str("pid");
		msgpack_pack_uint8(&pk, 1);
		break;
	case PROTO_ERROR:
		if (i == 2)
			msgpack_pack_uint8(&pk, 1);
		else
			pk_str("msg");
		break;
	default:
		msgpack_pack_uint8(&pk, 1);
		break;
	}
}

static void
pack_frame(int op, unsigned nelem, unsigned count)
{
	unsigned	i;

	sb_reset();
	msgpack_pack_array(&pk, count);
	for (i = 0; i < count; i++)
		pack_valid_elem(op, nelem, i);
}

START_TEST(every_op_decodes_with_exact_element_count)
{
	size_t	i;

	for (i = 0; i < N_OPS; i++) {
		pack_frame(all_ops[i].op, all_ops[i].nelem, all_ops[i].nelem);
		ck_assert_msg(decode_sb() == 0, "op %d", all_ops[i].op);
		ck_assert_int_eq(m.op, all_ops[i].op);
		ck_assert_uint_eq(m.rid, 1);
	}
}
END_TEST

START_TEST(every_op_with_too_few_or_too_many_elements_is_proto_error)
{
	size_t	i;

	for (i = 0; i < N_OPS; i++) {
		pack_frame(all_ops[i].op, all_ops[i].nelem,
		    all_ops[i].nelem - 1);
		ck_assert_msg(decode_sb() == CHAN_EPROTO, "op %d short",
		    all_ops[i].op);
		ck_assert_int_eq(m.op, all_ops[i].op);
		ck_assert_uint_eq(m.rid, all_ops[i].nelem > 2 ? 1 : 0);

		pack_frame(all_ops[i].op, all_ops[i].nelem,
		    all_ops[i].nelem + 1);
		ck_assert_msg(decode_sb() == CHAN_EPROTO, "op %d long",
		    all_ops[i].op);
		ck_assert_uint_eq(m.rid, 1);
	}
}
END_TEST

/* Packs a value of a type that no element of any op accepts. */
static void
pack_wrong(unsigned kind)
{
	switch (kind) {
	case 0:
		msgpack_pack_nil(&pk);
		break;
	case 1:
		msgpack_pack_int8(&pk, -1);
		break;
	case 2:
		msgpack_pack_double(&pk, 1.5);
		break;
	case 3:
		msgpack_pack_true(&pk);
		break;
	default:
		msgpack_pack_array(&pk, 0);
		break;
	}
}

START_TEST(every_element_of_every_op_is_type_checked)
{
	unsigned	i, j, kind, n;
	int		op;

	for (i = 0; i < N_OPS; i++) {
		op = all_ops[i].op;
		n = all_ops[i].nelem;
		for (j = 0; j < n; j++) {
			for (kind = 0; kind < 5; kind++) {
				unsigned	e;

				sb_reset();
				msgpack_pack_array(&pk, n);
				for (e = 0; e < n; e++) {
					if (e == j)
						pack_wrong(kind);
					else
						pack_valid_elem(op, n, e);
				}
				ck_assert_msg(decode_sb() == CHAN_EPROTO,
				    "op %d elem %u kind %u", op, j, kind);
				ck_assert_uint_eq(m.rid, j == 1 ||
				    (j == 0 && kind == 4) ? 0 : 1);
				ck_assert_int_eq(m.op, j == 0 ? 0 : op);
			}
		}
	}
}
END_TEST

START_TEST(payload_as_str_is_proto_error)
{
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_SEND);
	msgpack_pack_uint8(&pk, 3);
	msgpack_pack_uint8(&pk, 1);
	pk_str("hello");
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 3);
}
END_TEST

START_TEST(trailing_bytes_are_proto_error)
{
	ck_assert_int_eq(proto_enc_ping(&out, 5), 0);
	pk_raw(out.data + PROTO_HEADER_LEN, out.len - PROTO_HEADER_LEN);
	ck_assert_int_eq(decode_sb(), 0);
	msgpack_pack_nil(&pk);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 5);

	/* Two whole values. */
	sb_reset();
	pk_raw(out.data + PROTO_HEADER_LEN, out.len - PROTO_HEADER_LEN);
	pk_raw(out.data + PROTO_HEADER_LEN, out.len - PROTO_HEADER_LEN);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
}
END_TEST

static void
pack_open(const void *name, size_t len, int as_bin)
{
	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_OPEN_TX);
	msgpack_pack_uint8(&pk, 11);
	if (as_bin)
		pk_bin(name, len);
	else
		msgpack_pack_str_with_body(&pk, name, len);
	msgpack_pack_map(&pk, 0);
}

START_TEST(name_length_limits_for_str_and_bin)
{
	char	name[PROTO_NAME_MAX + 1];
	int	as_bin;

	memset(name, 0xff, sizeof name);
	for (as_bin = 0; as_bin <= 1; as_bin++) {
		pack_open(name, 0, as_bin);
		ck_assert_int_eq(decode_sb(), CHAN_EBADNAME);
		ck_assert_uint_eq(m.rid, 11);
		ck_assert_int_eq(m.op, PROTO_OPEN_TX);

		pack_open(name, 1, as_bin);
		ck_assert_int_eq(decode_sb(), 0);

		pack_open(name, PROTO_NAME_MAX, as_bin);
		ck_assert_int_eq(decode_sb(), 0);
		ck_assert_uint_eq(m.name_len, PROTO_NAME_MAX);

		pack_open(name, PROTO_NAME_MAX + 1, as_bin);
		ck_assert_int_eq(decode_sb(), CHAN_EBADNAME);
		ck_assert_uint_eq(m.rid, 11);
	}
}
END_TEST

START_TEST(bad_name_in_otherwise_malformed_frame_is_proto_error)
{
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_OPEN_RX);
	msgpack_pack_uint8(&pk, 2);
	pk_str("");
	msgpack_pack_nil(&pk);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
}
END_TEST

START_TEST(any_open_option_is_option_error)
{
	int	op;

	for (op = PROTO_OPEN_TX; op <= PROTO_OPEN_RX; op++) {
		sb_reset();
		msgpack_pack_array(&pk, 4);
		msgpack_pack_uint8(&pk, op);
		msgpack_pack_uint8(&pk, 13);
		pk_str("jobs");
		msgpack_pack_map(&pk, 1);
		pk_str("bounded");
		msgpack_pack_uint8(&pk, 10);
		ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
		ck_assert_uint_eq(m.rid, 13);
		ck_assert_int_eq(m.op, op);
	}
}
END_TEST

static void
pack_hello_opts(unsigned npairs)
{
	sb_reset();
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint8(&pk, PROTO_HELLO);
	msgpack_pack_uint8(&pk, 1);
	pk_str(PROTO_MAGIC);
	msgpack_pack_uint8(&pk, PROTO_VERSION);
	msgpack_pack_map(&pk, npairs);
}

START_TEST(hello_client_option_limits)
{
	char	name[PROTO_CLIENT_NAME_MAX + 1];

	memset(name, 'n', sizeof name);
	pack_hello_opts(1);
	pk_str("client");
	msgpack_pack_str_with_body(&pk, name, PROTO_CLIENT_NAME_MAX);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_uint_eq(m.text_len, PROTO_CLIENT_NAME_MAX);

	pack_hello_opts(1);
	pk_str("client");
	msgpack_pack_str_with_body(&pk, name, PROTO_CLIENT_NAME_MAX + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
	ck_assert_uint_eq(m.rid, 1);

	pack_hello_opts(1);
	pk_str("client");
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
}
END_TEST

START_TEST(hello_unknown_or_repeated_option_is_option_error)
{
	pack_hello_opts(1);
	pk_str("compress");
	msgpack_pack_true(&pk);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	pack_hello_opts(1);
	msgpack_pack_uint8(&pk, 1);
	pk_str("client");
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	pack_hello_opts(2);
	pk_str("client");
	pk_str("a");
	pk_str("client");
	pk_str("b");
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
}
END_TEST

START_TEST(hello_wrong_magic_is_version_error_huge_version_is_proto_error)
{
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint8(&pk, PROTO_HELLO);
	msgpack_pack_uint8(&pk, 1);
	pk_str("chanD");
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_map(&pk, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EVERSION);
	ck_assert_uint_eq(m.rid, 1);

	sb_reset();
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint8(&pk, PROTO_HELLO);
	msgpack_pack_uint8(&pk, 1);
	pk_str(PROTO_MAGIC);
	msgpack_pack_uint64(&pk, (uint64_t)UINT32_MAX + 1);
	msgpack_pack_map(&pk, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);

	/* A version the daemon does not speak still decodes. */
	sb_reset();
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint8(&pk, PROTO_HELLO);
	msgpack_pack_uint8(&pk, 1);
	pk_str(PROTO_MAGIC);
	msgpack_pack_uint8(&pk, 2);
	msgpack_pack_map(&pk, 0);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_uint_eq(m.version, 2);
}
END_TEST

static void
pack_credit(uint64_t n)
{
	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_CREDIT);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint64(&pk, n);
}

START_TEST(credit_outside_range_is_proto_error)
{
	pack_credit(0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	pack_credit(PROTO_CREDIT_MAX + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	pack_credit((uint64_t)1 << 33);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	pack_credit(1);
	ck_assert_int_eq(decode_sb(), 0);
	pack_credit(PROTO_CREDIT_MAX);
	ck_assert_int_eq(decode_sb(), 0);
}
END_TEST

START_TEST(unknown_op_is_unknownop_with_rid)
{
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, 29);
	msgpack_pack_uint32(&pk, 77);
	pk_str("whatever");
	ck_assert_int_eq(decode_sb(), CHAN_EUNKNOWNOP);
	ck_assert_int_eq(m.op, 29);
	ck_assert_uint_eq(m.rid, 77);

	sb_reset();
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint32(&pk, 78);
	ck_assert_int_eq(decode_sb(), CHAN_EUNKNOWNOP);
	ck_assert_uint_eq(m.rid, 78);

	sb_reset();
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_uint32(&pk, 79);
	ck_assert_int_eq(decode_sb(), CHAN_EUNKNOWNOP);
	ck_assert_uint_eq(m.rid, 79);
}
END_TEST

START_TEST(welcome_ignores_unknown_info_keys)
{
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_WELCOME);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_map(&pk, 5);
	pk_str("future");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 0);
	pk_str("pid");
	msgpack_pack_uint32(&pk, 4242);
	msgpack_pack_uint8(&pk, 7);
	msgpack_pack_int8(&pk, -7);
	pk_str("max_msg");
	msgpack_pack_uint32(&pk, 100);
	pk_str("server");
	pk_str("chand 9");
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_uint_eq(m.pid, 4242);
	ck_assert_uint_eq(m.max_msg, 100);
	ck_assert_uint_eq(m.text_len, 7);
}
END_TEST

START_TEST(welcome_without_required_info_is_proto_error)
{
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_WELCOME);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_map(&pk, 2);
	pk_str("server");
	pk_str("s");
	pk_str("max_msg");
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);

	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_WELCOME);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_map(&pk, 3);
	pk_str("server");
	pk_str("s");
	pk_str("max_msg");
	msgpack_pack_int8(&pk, -1);
	pk_str("pid");
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
}
END_TEST

START_TEST(huge_container_counts_are_refused_without_allocating)
{
	/* array 32 of 4G elements; map 32 of 4G pairs in opts position. */
	static const unsigned char	arr[] = { 0xdd, 0xff, 0xff, 0xff, 0xff,
					    0x08 };
	static const unsigned char	map[] = { 0x94, 0x02, 0x05, 0xa1, 'q',
					    0xdf, 0xff, 0xff, 0xff, 0xff };

	ck_assert_int_eq(proto_decode(dec, arr, sizeof arr, &m), CHAN_EPROTO);
	ck_assert_int_eq(proto_decode(dec, map, sizeof map, &m), CHAN_EPROTO);
	ck_assert_int_eq(m.op, PROTO_OPEN_TX);
	ck_assert_uint_eq(m.rid, 5);
}
END_TEST

static void
pack_welcome_with_big_key(unsigned nitems)
{
	unsigned	i;

	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_WELCOME);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_map(&pk, 4);
	pk_str("server");
	pk_str("s");
	pk_str("max_msg");
	msgpack_pack_uint8(&pk, 1);
	pk_str("pid");
	msgpack_pack_uint8(&pk, 1);
	pk_str("future");
	msgpack_pack_array(&pk, nitems);
	for (i = 0; i < nitems; i++)
		msgpack_pack_nil(&pk);
}

START_TEST(bodies_of_more_than_1024_items_are_proto_error)
{
	/* The array, its 4 elements, 4 keys and 4 values: 13 items. */
	pack_welcome_with_big_key(1024 - 13);
	ck_assert_int_eq(decode_sb(), 0);
	pack_welcome_with_big_key(1024 - 13 + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 1);
}
END_TEST

START_TEST(deep_nesting_is_proto_error)
{
	int	i;

	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, PROTO_CLOSE);
	msgpack_pack_uint8(&pk, 4);
	for (i = 0; i < 10000; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_nil(&pk);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 4);
}
END_TEST

START_TEST(decoder_is_reusable_after_errors)
{
	static const unsigned char	bad[] = { 0x93, 0x04, 0x01 };
	int				i;

	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(proto_decode(dec, bad, sizeof bad, &m),
		    CHAN_EPROTO);
		proto_buf_consume(&out, out.len);
		ck_assert_int_eq(proto_enc_close(&out, i, i), 0);
		ck_assert_int_eq(decode_out(), 0);
		ck_assert_uint_eq(m.handle, i);
	}
}
END_TEST

/*
 * DELIVER header for writev.
 */
START_TEST(deliver_hdr_plus_payload_equals_deliver_frame)
{
	static const size_t	lens[] = { 0, 1, 31, 32, 255, 256, 65535,
				    65536, 1 << 20 };
	static const uint64_t	seqs[] = { 0, 1, 127, 128, UINT32_MAX,
				    UINT64_MAX };
	char			hdr[PROTO_DELIVER_HDR_MAX];
	char			*payload = malloc(1 << 20);
	size_t			i, j, n;

	ck_assert_ptr_nonnull(payload);
	for (i = 0; i < (1 << 20); i++)
		payload[i] = (char)(i * 7);
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		for (j = 0; j < sizeof seqs / sizeof seqs[0]; j++) {
			proto_buf_consume(&out, out.len);
			ck_assert_int_eq(proto_enc_deliver(&out,
			    (uint32_t)seqs[j], seqs[j], (uint32_t)j, payload,
			    lens[i]), 0);
			n = proto_enc_deliver_hdr(hdr, (uint32_t)seqs[j],
			    seqs[j], (uint32_t)j, lens[i]);
			ck_assert_uint_gt(n, PROTO_HEADER_LEN);
			ck_assert_uint_le(n, PROTO_DELIVER_HDR_MAX);
			ck_assert_uint_eq(n + lens[i], out.len);
			ck_assert_mem_eq(hdr, out.data, n);
			ck_assert(memcmp(payload, out.data + n,
			    lens[i]) == 0);
		}
	}
	free(payload);
}
END_TEST

/*
 * The buffer.
 */
START_TEST(buffer_appends_and_consumes_from_front)
{
	char	big[1000];
	size_t	i;

	for (i = 0; i < sizeof big; i++)
		big[i] = (char)i;
	ck_assert_int_eq(proto_buf_append(&out, big, sizeof big), 0);
	ck_assert_uint_eq(out.len, sizeof big);
	ck_assert_uint_ge(out.cap, out.len);
	proto_buf_consume(&out, 10);
	ck_assert_uint_eq(out.len, sizeof big - 10);
	ck_assert_mem_eq(out.data, big + 10, out.len);
	proto_buf_consume(&out, out.len + 5);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(proto_buf_append(&out, "ab", 2), 0);
	ck_assert_mem_eq(out.data, "ab", 2);
}
END_TEST

START_TEST(buffer_reserve_that_cannot_fit_fails_and_keeps_contents)
{
	ck_assert_int_eq(proto_buf_append(&out, "keep", 4), 0);
	ck_assert_int_eq(proto_buf_reserve(&out, SIZE_MAX), CHAN_ENOMEM);
	ck_assert_int_eq(proto_buf_reserve(&out, SIZE_MAX - 2), CHAN_ENOMEM);
	ck_assert_uint_eq(out.len, 4);
	ck_assert_mem_eq(out.data, "keep", 4);
	ck_assert_int_eq(proto_buf_reserve(&out, 100), 0);
	ck_assert_uint_ge(out.cap - out.len, 100);
}
END_TEST

START_TEST(encoders_append_after_existing_bytes)
{
	size_t	body;

	ck_assert_int_eq(proto_buf_append(&out, "xyz", 3), 0);
	ck_assert_int_eq(proto_enc_ok(&out, 1), 0);
	ck_assert_mem_eq(out.data, "xyz", 3);
	ck_assert_int_eq(proto_frame_check(out.data + 3, out.len - 3, 100,
	    &body), 1);
	ck_assert_int_eq(proto_decode(dec, out.data + 3 + PROTO_HEADER_LEN,
	    body, &m), 0);
	ck_assert_int_eq(m.op, PROTO_OK);
}
END_TEST

/*
 * Names.
 */
START_TEST(name_valid_checks_length)
{
	ck_assert_int_eq(proto_name_valid("", 0), 0);
	ck_assert_int_eq(proto_name_valid("a", 1), 1);
	ck_assert_int_eq(proto_name_valid(NULL, 1), 0);
	ck_assert_int_eq(proto_name_valid(&out, PROTO_NAME_MAX), 1);
	ck_assert_int_eq(proto_name_valid(&out, PROTO_NAME_MAX + 1), 0);
}
END_TEST

START_TEST(op_names)
{
	ck_assert_str_eq(proto_op_name(PROTO_HELLO), "HELLO");
	ck_assert_str_eq(proto_op_name(PROTO_SEND), "SEND");
	ck_assert_str_eq(proto_op_name(PROTO_DISCONNECTED), "DISCONNECTED");
	ck_assert_str_eq(proto_op_name(PROTO_SEND_TIMED), "SEND_TIMED");
	ck_assert_str_eq(proto_op_name(PROTO_STATS), "STATS");
	ck_assert_str_eq(proto_op_name(PROTO_INFO), "INFO");
	ck_assert_str_eq(proto_op_name(0), "?");
	ck_assert_str_eq(proto_op_name(PROTO_ACKS), "ACKS");
	ck_assert_str_eq(proto_op_name(PROTO_RECALL), "RECALL");
	ck_assert_str_eq(proto_op_name(PROTO_SELECT), "SELECT");
	ck_assert_str_eq(proto_op_name(PROTO_SEND_MARKED), "SEND_MARKED");
	ck_assert_str_eq(proto_op_name(15), "?");
	ck_assert_str_eq(proto_op_name(PROTO_RING_TOKEN), "RING_TOKEN");
	ck_assert_str_eq(proto_op_name(70), "?");
	ck_assert_str_eq(proto_op_name(-1), "?");
}
END_TEST

/*
 * Default socket path. Each test runs in its own forked process, so the
 * environment and effective uid it changes die with it.
 */
static int
forked(void)
{
	const char	*s = getenv("CK_FORK");

	return s == NULL || strcmp(s, "no") != 0;
}

START_TEST(default_socket_env_override_wins)
{
	char	buf[64];

	setenv("CHAND_SOCKET", "/x/y.sock", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);
	ck_assert_int_eq(proto_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "/x/y.sock");
	ck_assert_int_eq(proto_default_socket(buf, 10), 0);
	ck_assert_int_eq(proto_default_socket(buf, 9), CHAN_EINVAL);
	ck_assert_int_eq(proto_default_socket(NULL, 0), CHAN_EINVAL);
}
END_TEST

START_TEST(default_socket_for_root)
{
	char	buf[64];

	if (geteuid() != 0)
		return;		/* covered by default_socket_for_users */
	setenv("CHAND_SOCKET", "", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/0", 1);
	ck_assert_int_eq(proto_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "/run/chand.sock");
}
END_TEST

START_TEST(default_socket_for_users)
{
	char	buf[64], want[64];
	int	was_root = geteuid() == 0;

	if (!forked())
		return;
	if (was_root)
		ck_assert_int_eq(seteuid(65534), 0);
	snprintf(want, sizeof want, "/tmp/chand-%lu.sock",
	    (unsigned long)geteuid());

	unsetenv("CHAND_SOCKET");
	setenv("XDG_RUNTIME_DIR", "/run/user/65534", 1);
	ck_assert_int_eq(proto_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "/run/user/65534/chand.sock");
	ck_assert_int_eq(proto_default_socket(buf, 26), CHAN_EINVAL);

	setenv("XDG_RUNTIME_DIR", "", 1);
	ck_assert_int_eq(proto_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, want);

	unsetenv("XDG_RUNTIME_DIR");
	ck_assert_int_eq(proto_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, want);

	/* LeakSanitizer's exit scan needs the process dumpable again. */
	if (was_root) {
		ck_assert_int_eq(seteuid(0), 0);
		prctl(PR_SET_DUMPABLE, 1);
	}
}
END_TEST

/*
 * Random and mutated bodies: no crash, only the documented codes, and
 * whatever decodes points into the body.
 */
static uint64_t	rng_state;

static uint32_t
rng(void)
{
	/* xorshift64*: deterministic across libcs. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static void
check_decode(const unsigned char *b, size_t len)
{
	int	rc = proto_decode(dec, b, len, &m);

	ck_assert_msg(rc == 0 || rc == CHAN_EPROTO || rc == CHAN_EUNKNOWNOP ||
	    rc == CHAN_EBADNAME || rc == CHAN_EOPTION || rc == CHAN_ETOOBIG ||
	    rc == CHAN_EVERSION,
	    "unexpected %d", rc);
	if (rc != 0)
		return;
	if (m.name != NULL)
		assert_inside(m.name, m.name_len, b, len);
	if (m.text != NULL)
		assert_inside(m.text, m.text_len, b, len);
	if (m.payload != NULL)
		assert_inside(m.payload, m.payload_len, b, len);
	if (m.what != NULL)
		assert_inside(m.what, m.what_len, b, len);
	if (m.after != NULL && m.after_len > 0)
		assert_inside(m.after, m.after_len, b, len);
}

/* A valid body of a random op, encoded into out. */
static void
random_valid_frame(void)
{
	proto_buf_consume(&out, out.len);
	switch (rng() % 13) {
	case 0:
		proto_enc_hello(&out, rng(), rng() % 2 ? "client" : NULL);
		break;
	case 1:
		proto_enc_open(&out, PROTO_OPEN_TX + rng() % 2, rng(), "name",
		    1 + rng() % 4);
		break;
	case 2:
		proto_enc_send(&out, rng(), rng(), "payload", rng() % 8);
		break;
	case 3:
		proto_enc_credit(&out, 0, rng(), rng() % 70000);
		break;
	case 4:
		proto_enc_welcome(&out, rng(), (uint32_t)rng(), "chand", rng(),
		    rng());
		break;
	case 5:
		proto_enc_error(&out, rng(), -(int)(rng() % 13), "oops");
		break;
	case 6:
		proto_enc_deliver(&out, rng(), rng(), rng(), "abc", 3);
		break;
	case 7:
		proto_enc_send_timed(&out, rng(), rng(), "pay", rng() % 4,
		    rng());
		break;
	case 8:
		proto_enc_stats(&out, rng(), "channels", rng() % 2 ? "cur" :
		    NULL, rng() % 4, rng() % 3);
		break;
	case 9:
		proto_enc_info(&out, rng(), "\x81\xa1k\x01", rng() % 5);
		break;
	case 10: {
		struct proto_cap	c = { rng() % 3, rng() % 3 },
					b = { rng() % 3, (uint64_t)rng() << 32 };

		proto_enc_open_cap(&out, PROTO_OPEN_TX + rng() % 2, rng(),
		    "name", 1 + rng() % 4, &c, &b);
		break;
	}
	case 11:
		proto_enc_send_marked(&out, rng(), rng(), "pay", rng() % 4,
		    rng() % 3);
		break;
	default:
		proto_enc_ack(&out, 0, rng(), (uint64_t)rng() << 32 | rng());
		break;
	}
}

START_TEST(random_and_mutated_bodies_give_known_codes)
{
	unsigned char	b[96];
	size_t		len, i, k;
	long		iter;

	rng_state = 0x9e3779b97f4a7c15ULL;
	for (iter = 0; iter < 200000; iter++) {
		random_valid_frame();
		len = out.len - PROTO_HEADER_LEN;
		ck_assert_uint_le(len, sizeof b);
		memcpy(b, out.data + PROTO_HEADER_LEN, len);
		for (k = rng() % 4; k > 0; k--) {
			i = rng() % len;
			switch (rng() % 3) {
			case 0:
				b[i] ^= (unsigned char)(1u << (rng() % 8));
				break;
			case 1:
				b[i] = (unsigned char)rng();
				break;
			default:
				len = i + 1;	/* truncate */
				break;
			}
		}
		check_decode(b, len);

		/* Pure noise, biased towards format bytes. */
		len = 1 + rng() % 32;
		for (i = 0; i < len; i++)
			b[i] = rng() % 3 == 0 ? (unsigned char)(0xc0 +
			    rng() % 32) : (unsigned char)rng();
		check_decode(b, len);
	}
}
END_TEST

/*
 * Bounded channels, timed sends and the admin view: SEND_TIMED, STATS,
 * INFO and the OPEN capacity opts.
 */
START_TEST(send_timed_round_trips_both_ends_of_wait)
{
	static const char	payload[] = "a\0b";
	uint32_t		waits[] = { 0, 1, UINT32_MAX };
	size_t			i;

	for (i = 0; i < 3; i++) {
		proto_buf_consume(&out, out.len);
		ck_assert_int_eq(proto_enc_send_timed(&out, 6, 8, payload,
		    sizeof payload, waits[i]), 0);
		ck_assert_int_eq(decode_out(), 0);
		ck_assert_int_eq(m.op, PROTO_SEND_TIMED);
		ck_assert_uint_eq(m.rid, 6);
		ck_assert_uint_eq(m.handle, 8);
		ck_assert_uint_eq(m.wait_ms, waits[i]);
		ck_assert_uint_eq(m.payload_len, sizeof payload);
		ck_assert_mem_eq(m.payload, payload, sizeof payload);
		assert_inside(m.payload, m.payload_len, out.data, out.len);
	}
}
END_TEST

START_TEST(send_marked_round_trips_with_and_without_the_mark)
{
	static const char	payload[] = "a\0b";
	uint32_t		flags[] = { PROTO_FLAG_REDELIVERED, 0 };
	size_t			i;

	for (i = 0; i < 2; i++) {
		proto_buf_consume(&out, out.len);
		ck_assert_int_eq(proto_enc_send_marked(&out, 6, 8, payload,
		    sizeof payload, flags[i]), 0);
		ck_assert_int_eq(decode_out(), 0);
		ck_assert_int_eq(m.op, PROTO_SEND_MARKED);
		ck_assert_uint_eq(m.rid, 6);
		ck_assert_uint_eq(m.handle, 8);
		ck_assert_uint_eq(m.flags, flags[i]);
		ck_assert_uint_eq(m.payload_len, sizeof payload);
		ck_assert_mem_eq(m.payload, payload, sizeof payload);
		assert_inside(m.payload, m.payload_len, out.data, out.len);
	}
	/* An empty payload. */
	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_send_marked(&out, 1, 2, NULL, 0,
	    PROTO_FLAG_REDELIVERED), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_uint_eq(m.payload_len, 0);
}
END_TEST

static void
pack_send_marked(uint64_t flags, size_t len)
{
	static const char	zeros[TEST_MAX_MSG + 1];

	sb_reset();
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint8(&pk, PROTO_SEND_MARKED);
	msgpack_pack_uint8(&pk, 18);
	msgpack_pack_uint8(&pk, 1);
	pk_bin(zeros, len);
	msgpack_pack_uint64(&pk, flags);
}

START_TEST(send_marked_flags_and_payload_limits)
{
	pack_send_marked(1, 0);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_uint_eq(m.flags, PROTO_FLAG_REDELIVERED);
	/* Any bit but the mark is malformed, whatever its place. */
	pack_send_marked(2, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 18);
	pack_send_marked(3, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	pack_send_marked(0x80000001u, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	pack_send_marked((uint64_t)UINT32_MAX + 2, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);

	pack_send_marked(1, TEST_MAX_MSG);
	ck_assert_int_eq(decode_sb(), 0);
	pack_send_marked(1, TEST_MAX_MSG + 1);
	ck_assert_int_eq(decode_sb(), CHAN_ETOOBIG);
	ck_assert_int_eq(m.op, PROTO_SEND_MARKED);
	ck_assert_uint_eq(m.rid, 18);
	/* Malformed beats too big. */
	pack_send_marked(4, TEST_MAX_MSG + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
}
END_TEST

static void
pack_send_timed(uint64_t wait, size_t len)
{
	static const char	zeros[TEST_MAX_MSG + 1];

	sb_reset();
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint8(&pk, PROTO_SEND_TIMED);
	msgpack_pack_uint8(&pk, 17);
	msgpack_pack_uint8(&pk, 1);
	pk_bin(zeros, len);
	msgpack_pack_uint64(&pk, wait);
}

START_TEST(send_timed_wait_and_payload_limits)
{
	pack_send_timed(UINT32_MAX, 0);
	ck_assert_int_eq(decode_sb(), 0);
	pack_send_timed((uint64_t)UINT32_MAX + 1, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 17);

	pack_send_timed(5, TEST_MAX_MSG);
	ck_assert_int_eq(decode_sb(), 0);
	pack_send_timed(5, TEST_MAX_MSG + 1);
	ck_assert_int_eq(decode_sb(), CHAN_ETOOBIG);
	ck_assert_uint_eq(m.rid, 17);
	ck_assert_int_eq(m.op, PROTO_SEND_TIMED);
	/* Malformed beats too big. */
	sb_reset();
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint8(&pk, PROTO_SEND_TIMED);
	msgpack_pack_uint8(&pk, 17);
	msgpack_pack_uint8(&pk, 1);
	pk_bin(&out, 0);
	pk_str("5");
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
}
END_TEST

START_TEST(open_capacity_round_trips_absent_unbounded_and_values)
{
	const struct proto_cap	absent = { PROTO_CAP_ABSENT, 7 },
				unb = { PROTO_CAP_UNBOUNDED, 7 },
				zero = { PROTO_CAP_VALUE, 0 },
				big = { PROTO_CAP_VALUE, PROTO_CAPACITY_MAX },
				one = { PROTO_CAP_VALUE, 1 },
				huge = { PROTO_CAP_VALUE,
					 PROTO_CAPACITY_BYTES_MAX };
	const struct {
		const struct proto_cap	*c, *b;
	} cases[] = {
		{ NULL, NULL }, { &absent, &absent }, { &unb, &unb },
		{ &zero, NULL }, { NULL, &one }, { &big, &huge },
		{ &unb, &one }, { &zero, &unb },
	};
	size_t			i;
	int			op;

	for (op = PROTO_OPEN_TX; op <= PROTO_OPEN_RX; op++) {
		for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			const struct proto_cap	*c = cases[i].c,
						*b = cases[i].b;

			proto_buf_consume(&out, out.len);
			ck_assert_int_eq(proto_enc_open_cap(&out, op, 9, "q",
			    1, c, b), 0);
			ck_assert_msg(decode_out() == 0, "case %zu", i);
			ck_assert_int_eq(m.op, op);
			ck_assert_uint_eq(m.rid, 9);
			ck_assert_mem_eq(m.name, "q", 1);
			ck_assert_int_eq(m.capacity.kind,
			    c == NULL ? PROTO_CAP_ABSENT : c->kind);
			ck_assert_int_eq(m.capacity_bytes.kind,
			    b == NULL ? PROTO_CAP_ABSENT : b->kind);
			if (c != NULL && c->kind == PROTO_CAP_VALUE)
				ck_assert(m.capacity.value == c->value);
			if (b != NULL && b->kind == PROTO_CAP_VALUE)
				ck_assert(m.capacity_bytes.value == b->value);
		}
	}
	/* The plain encoder states neither. */
	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_open(&out, PROTO_OPEN_TX, 1, "q", 1), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.capacity.kind, PROTO_CAP_ABSENT);
	ck_assert_int_eq(m.capacity_bytes.kind, PROTO_CAP_ABSENT);
}
END_TEST

/* OPEN_RX rid 12 "q" with one opts pair: key, then a value packed by
   the caller. */
static void
pack_open_opt(const char *key)
{
	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_OPEN_RX);
	msgpack_pack_uint8(&pk, 12);
	pk_str("q");
	msgpack_pack_map(&pk, 1);
	pk_str(key);
}

START_TEST(open_capacity_ranges_just_inside_pass_just_outside_are_option)
{
	pack_open_opt("capacity");
	msgpack_pack_uint64(&pk, PROTO_CAPACITY_MAX);
	ck_assert_int_eq(decode_sb(), 0);
	pack_open_opt("capacity");
	msgpack_pack_uint64(&pk, (uint64_t)PROTO_CAPACITY_MAX + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
	ck_assert_uint_eq(m.rid, 12);
	ck_assert_int_eq(m.op, PROTO_OPEN_RX);

	pack_open_opt("capacity_bytes");
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert(m.capacity_bytes.value == 1);
	pack_open_opt("capacity_bytes");
	msgpack_pack_uint8(&pk, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
	pack_open_opt("capacity_bytes");
	msgpack_pack_uint64(&pk, PROTO_CAPACITY_BYTES_MAX);
	ck_assert_int_eq(decode_sb(), 0);
	pack_open_opt("capacity_bytes");
	msgpack_pack_uint64(&pk, PROTO_CAPACITY_BYTES_MAX + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
	pack_open_opt("capacity_bytes");
	msgpack_pack_uint64(&pk, UINT64_MAX);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
}
END_TEST

START_TEST(open_capacity_of_wrong_type_is_option_negative_proto)
{
	const char	*keys[] = { "capacity", "capacity_bytes" };
	unsigned	 k, kind;

	for (k = 0; k < 2; k++) {
		for (kind = 0; kind < 5; kind++) {
			pack_open_opt(keys[k]);
			switch (kind) {
			case 0:
				msgpack_pack_int8(&pk, -1);
				break;
			case 1:
				pk_str("10");
				break;
			case 2:
				msgpack_pack_double(&pk, 10.0);
				break;
			case 3:
				msgpack_pack_true(&pk);
				break;
			default:
				msgpack_pack_array(&pk, 0);
				break;
			}
			/* Negative values are malformed, not bad options. */
			ck_assert_msg(decode_sb() == (kind == 0 ? CHAN_EPROTO :
			    CHAN_EOPTION), "%s kind %u", keys[k], kind);
			ck_assert_uint_eq(m.rid, 12);
		}
	}
}
END_TEST

START_TEST(open_capacity_given_twice_or_beside_unknown_key_is_option)
{
	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_OPEN_TX);
	msgpack_pack_uint8(&pk, 3);
	pk_str("q");
	msgpack_pack_map(&pk, 2);
	pk_str("capacity");
	msgpack_pack_uint8(&pk, 1);
	pk_str("capacity");
	msgpack_pack_nil(&pk);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_OPEN_TX);
	msgpack_pack_uint8(&pk, 3);
	pk_str("q");
	msgpack_pack_map(&pk, 2);
	pk_str("capacity");
	msgpack_pack_uint8(&pk, 1);
	pk_str("Capacity");
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	/* Opts that are not a map are malformed, not an option error. */
	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_OPEN_TX);
	msgpack_pack_uint8(&pk, 3);
	pk_str("q");
	msgpack_pack_array(&pk, 2);
	pk_str("capacity");
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
}
END_TEST

START_TEST(open_durable_round_trips_absent_true_and_false)
{
	const struct proto_cap	cap = { PROTO_CAP_VALUE, 5 };
	int			d, op;

	for (op = PROTO_OPEN_TX; op <= PROTO_OPEN_RX; op++) {
		for (d = -1; d <= 1; d++) {
			proto_buf_consume(&out, out.len);
			ck_assert_int_eq(proto_enc_open_opts(&out, op, 4, "d",
			    1, &cap, NULL, d), 0);
			ck_assert_int_eq(decode_out(), 0);
			ck_assert_int_eq(m.op, op);
			ck_assert_int_eq(m.durable, d);
			ck_assert_int_eq(m.capacity.kind, PROTO_CAP_VALUE);
			ck_assert(m.capacity.value == 5);
			ck_assert_int_eq(m.capacity_bytes.kind,
			    PROTO_CAP_ABSENT);
		}
	}
	/* The older encoders leave it out. */
	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_open_cap(&out, PROTO_OPEN_TX, 1, "q", 1,
	    &cap, NULL), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.durable, -1);
	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_open(&out, PROTO_OPEN_RX, 1, "q", 1), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.durable, -1);
}
END_TEST

START_TEST(open_durable_of_wrong_type_or_given_twice_is_option)
{
	unsigned	kind;

	for (kind = 0; kind < 5; kind++) {
		pack_open_opt("durable");
		switch (kind) {
		case 0:
			msgpack_pack_uint8(&pk, 1);
			break;
		case 1:
			pk_str("true");
			break;
		case 2:
			msgpack_pack_nil(&pk);
			break;
		case 3:
			msgpack_pack_int8(&pk, 0);
			break;
		default:
			msgpack_pack_map(&pk, 0);
			break;
		}
		ck_assert_msg(decode_sb() == CHAN_EOPTION, "kind %u", kind);
		ck_assert_uint_eq(m.rid, 12);
		ck_assert_int_eq(m.op, PROTO_OPEN_RX);
	}
	pack_open_opt("durable");
	msgpack_pack_false(&pk);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_int_eq(m.durable, 0);

	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_OPEN_TX);
	msgpack_pack_uint8(&pk, 3);
	pk_str("q");
	msgpack_pack_map(&pk, 2);
	pk_str("durable");
	msgpack_pack_true(&pk);
	pk_str("durable");
	msgpack_pack_true(&pk);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
}
END_TEST

START_TEST(stats_round_trips_with_and_without_opts)
{
	static const char	cursor[] = "chan\0nel";

	ck_assert_int_eq(proto_enc_stats(&out, 21, "channels", cursor,
	    sizeof cursor - 1, 50), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_STATS);
	ck_assert_uint_eq(m.rid, 21);
	ck_assert_uint_eq(m.what_len, 8);
	ck_assert_mem_eq(m.what, "channels", 8);
	assert_inside(m.what, m.what_len, out.data, out.len);
	ck_assert_uint_eq(m.after_len, sizeof cursor - 1);
	ck_assert_mem_eq(m.after, cursor, sizeof cursor - 1);
	assert_inside(m.after, m.after_len, out.data, out.len);
	ck_assert_uint_eq(m.limit, 50);

	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_stats(&out, 22, "daemon", NULL, 0, 0), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_mem_eq(m.what, "daemon", 6);
	ck_assert_ptr_null(m.after);
	ck_assert_uint_eq(m.limit, 0);

	/* An empty cursor is given, not absent. */
	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_stats(&out, 23, "connections", "", 0,
	    UINT32_MAX), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_ptr_nonnull(m.after);
	ck_assert_uint_eq(m.after_len, 0);
	ck_assert_uint_eq(m.limit, UINT32_MAX);
}
END_TEST

START_TEST(stats_encoder_cuts_what_to_limit)
{
	char	what[PROTO_STATS_WHAT_MAX + 10];

	memset(what, 'w', sizeof what - 1);
	what[sizeof what - 1] = '\0';
	ck_assert_int_eq(proto_enc_stats(&out, 1, what, NULL, 0, 0), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_uint_eq(m.what_len, PROTO_STATS_WHAT_MAX);
}
END_TEST

START_TEST(admin_round_trips_with_and_without_an_argument)
{
	static const char	name[] = "jo\0bs";

	ck_assert_int_eq(proto_enc_admin(&out, 31, "purge", name,
	    sizeof name - 1), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_ADMIN);
	ck_assert_uint_eq(m.rid, 31);
	ck_assert_uint_eq(m.what_len, 5);
	ck_assert_mem_eq(m.what, "purge", 5);
	ck_assert_uint_eq(m.name_len, sizeof name - 1);
	ck_assert_mem_eq(m.name, name, sizeof name - 1);
	assert_inside(m.name, m.name_len, out.data, out.len);

	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_admin(&out, 32, "reload", NULL, 0), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_mem_eq(m.what, "reload", 6);
	ck_assert_ptr_nonnull(m.name);
	ck_assert_uint_eq(m.name_len, 0);
}
END_TEST

/* ADMIN rid 5 with an action and an argument of these lengths. */
static void
pack_admin(size_t action_len, size_t arg_len)
{
	char	buf[PROTO_ADMIN_ARG_MAX + 1];

	memset(buf, 'a', sizeof buf);
	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_ADMIN);
	msgpack_pack_uint8(&pk, 5);
	msgpack_pack_str_with_body(&pk, buf, action_len);
	msgpack_pack_bin_with_body(&pk, buf, arg_len);
}

START_TEST(admin_action_and_argument_limits)
{
	char	arg[PROTO_ADMIN_ARG_MAX + 1];

	pack_admin(PROTO_ADMIN_ACTION_MAX, PROTO_ADMIN_ARG_MAX);
	ck_assert_int_eq(decode_sb(), 0);
	pack_admin(PROTO_ADMIN_ACTION_MAX + 1, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
	ck_assert_uint_eq(m.rid, 5);
	pack_admin(1, PROTO_ADMIN_ARG_MAX + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
	/* The encoder refuses what the daemon would. */
	memset(arg, 'a', sizeof arg);
	ck_assert_int_eq(proto_enc_admin(&out, 1, "purge", arg, sizeof arg),
	    CHAN_EINVAL);
	/* A wrong type is malformed, not an option. */
	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_ADMIN);
	msgpack_pack_uint8(&pk, 5);
	msgpack_pack_str_with_body(&pk, "purge", 5);
	msgpack_pack_uint8(&pk, 7);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
}
END_TEST

/* STATS rid 4 with what of len bytes and npairs opts to follow. */
static void
pack_stats(size_t what_len, unsigned npairs)
{
	char	what[PROTO_STATS_WHAT_MAX + 1];

	memset(what, 'w', sizeof what);
	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_STATS);
	msgpack_pack_uint8(&pk, 4);
	msgpack_pack_str_with_body(&pk, what, what_len);
	msgpack_pack_map(&pk, npairs);
}

START_TEST(stats_what_and_opts_limits)
{
	char	cursor[PROTO_CURSOR_MAX + 1];

	memset(cursor, 'c', sizeof cursor);
	pack_stats(PROTO_STATS_WHAT_MAX, 0);
	ck_assert_int_eq(decode_sb(), 0);
	pack_stats(PROTO_STATS_WHAT_MAX + 1, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
	ck_assert_uint_eq(m.rid, 4);
	ck_assert_int_eq(m.op, PROTO_STATS);

	pack_stats(3, 1);
	pk_str("after");
	msgpack_pack_str_with_body(&pk, cursor, PROTO_CURSOR_MAX);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_uint_eq(m.after_len, PROTO_CURSOR_MAX);
	pack_stats(3, 1);
	pk_str("after");
	pk_bin(cursor, PROTO_CURSOR_MAX + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	pack_stats(3, 1);
	pk_str("limit");
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), 0);
	ck_assert_uint_eq(m.limit, 1);
	pack_stats(3, 1);
	pk_str("limit");
	msgpack_pack_uint8(&pk, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
	pack_stats(3, 1);
	pk_str("limit");
	msgpack_pack_uint64(&pk, (uint64_t)UINT32_MAX + 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
}
END_TEST

START_TEST(stats_unknown_repeated_or_mistyped_opts_are_option)
{
	pack_stats(3, 1);
	pk_str("offset");
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	pack_stats(3, 2);
	pk_str("limit");
	msgpack_pack_uint8(&pk, 1);
	pk_str("limit");
	msgpack_pack_uint8(&pk, 2);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	pack_stats(3, 2);
	pk_str("after");
	pk_str("a");
	pk_str("after");
	pk_str("b");
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	pack_stats(3, 1);
	pk_str("after");
	msgpack_pack_uint8(&pk, 1);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	pack_stats(3, 1);
	pk_str("limit");
	pk_str("10");
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);

	pack_stats(3, 1);
	pk_str("limit");
	msgpack_pack_nil(&pk);
	ck_assert_int_eq(decode_sb(), CHAN_EOPTION);
}
END_TEST

START_TEST(stats_what_as_bin_is_proto_error)
{
	sb_reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, PROTO_STATS);
	msgpack_pack_uint8(&pk, 4);
	pk_bin("daemon", 6);
	msgpack_pack_map(&pk, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 4);
}
END_TEST

START_TEST(info_round_trips_data_beyond_max_msg)
{
	static char	data[TEST_MAX_MSG + 100];

	memset(data, 0x80, sizeof data);	/* an empty fixmap, many */
	ck_assert_int_eq(proto_enc_info(&out, 30, data, sizeof data), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_int_eq(m.op, PROTO_INFO);
	ck_assert_uint_eq(m.rid, 30);
	ck_assert_uint_eq(m.payload_len, sizeof data);
	ck_assert_mem_eq(m.payload, data, sizeof data);
	assert_inside(m.payload, m.payload_len, out.data, out.len);

	proto_buf_consume(&out, out.len);
	ck_assert_int_eq(proto_enc_info(&out, 31, NULL, 0), 0);
	ck_assert_int_eq(decode_out(), 0);
	ck_assert_uint_eq(m.payload_len, 0);
}
END_TEST

START_TEST(info_data_as_map_is_proto_error)
{
	sb_reset();
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, PROTO_INFO);
	msgpack_pack_uint8(&pk, 30);
	msgpack_pack_map(&pk, 0);
	ck_assert_int_eq(decode_sb(), CHAN_EPROTO);
	ck_assert_uint_eq(m.rid, 30);
}
END_TEST

START_TEST(new_error_codes_round_trip_and_have_names)
{
	static const int	codes[] = { CHAN_EFULL, CHAN_ECAPACITY,
				    CHAN_EPERM, CHAN_EDISK };
	size_t			i;

	ck_assert_int_eq(CHAN_EFULL, -13);
	ck_assert_int_eq(CHAN_ECAPACITY, -14);
	ck_assert_int_eq(CHAN_EPERM, -15);
	ck_assert_int_eq(CHAN_EDISK, -16);
	ck_assert_int_eq(CHAN_EAGAIN, -39);
	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		proto_buf_consume(&out, out.len);
		ck_assert_int_eq(proto_enc_error(&out, 2, codes[i], "x"), 0);
		ck_assert_int_eq(decode_out(), 0);
		ck_assert_uint_eq(m.code, (uint32_t)-codes[i]);
	}
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite	*s = suite_create("proto");
	TCase	*tc;

	tc = tcase_create("round_trip");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, peek_op_reads_the_first_element);
	tcase_add_test(tc, direct_frames_round_trip);
	tcase_add_test(tc, hello_round_trips_with_client_name);
	tcase_add_test(tc, hello_round_trips_without_client_name);
	tcase_add_test(tc, hello_encoder_cuts_long_client_name_to_limit);
	tcase_add_test(tc, open_round_trips_names_with_nul_bytes);
	tcase_add_test(tc, close_round_trips);
	tcase_add_test(tc, send_round_trips_payload_with_nul_bytes);
	tcase_add_test(tc, send_round_trips_empty_payload);
	tcase_add_test(tc, ack_round_trips_largest_seq);
	tcase_add_test(tc, credit_round_trips_both_ends_of_range);
	tcase_add_test(tc, ping_and_ok_round_trip);
	tcase_add_test(tc, welcome_round_trips);
	tcase_add_test(tc, acks_round_trip_up_to_the_most_entries);
	tcase_add_test(tc, acks_with_a_bad_entry_or_list_is_proto_error);
	tcase_add_test(tc, handle_round_trips);
	tcase_add_test(tc, error_round_trips_with_positive_wire_code);
	tcase_add_test(tc, empty_error_text_decodes_present_and_empty);
	tcase_add_test(tc, error_message_is_cut_to_limit);
	tcase_add_test(tc, error_message_cut_keeps_utf8_sequences_whole);
	tcase_add_test(tc, deliver_round_trips);
	tcase_add_test(tc, disconnected_round_trips);
	tcase_add_test(tc, frames_back_to_back_decode_in_order);
	tcase_add_test(tc, deliver_hdr_plus_payload_equals_deliver_frame);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounded_and_admin");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, send_timed_round_trips_both_ends_of_wait);
	tcase_add_test(tc, send_timed_wait_and_payload_limits);
	tcase_add_test(tc, send_marked_round_trips_with_and_without_the_mark);
	tcase_add_test(tc, send_marked_flags_and_payload_limits);
	tcase_add_test(tc,
	    open_capacity_round_trips_absent_unbounded_and_values);
	tcase_add_test(tc,
	    open_capacity_ranges_just_inside_pass_just_outside_are_option);
	tcase_add_test(tc, open_capacity_of_wrong_type_is_option_negative_proto);
	tcase_add_test(tc,
	    open_capacity_given_twice_or_beside_unknown_key_is_option);
	tcase_add_test(tc, open_durable_round_trips_absent_true_and_false);
	tcase_add_test(tc, open_durable_of_wrong_type_or_given_twice_is_option);
	tcase_add_test(tc, stats_round_trips_with_and_without_opts);
	tcase_add_test(tc, stats_encoder_cuts_what_to_limit);
	tcase_add_test(tc, admin_round_trips_with_and_without_an_argument);
	tcase_add_test(tc, admin_action_and_argument_limits);
	tcase_add_test(tc, stats_what_and_opts_limits);
	tcase_add_test(tc, stats_unknown_repeated_or_mistyped_opts_are_option);
	tcase_add_test(tc, stats_what_as_bin_is_proto_error);
	tcase_add_test(tc, info_round_trips_data_beyond_max_msg);
	tcase_add_test(tc, info_data_as_map_is_proto_error);
	tcase_add_test(tc, new_error_codes_round_trip_and_have_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, payload_of_max_msg_is_accepted);
	tcase_add_test(tc, payload_over_max_msg_is_toobig_with_rid);
	tcase_add_test(tc, default_limit_payload_fits_default_frame_limit);
	tcase_add_test(tc, encoder_refuses_payload_beyond_32_bits);
	tcase_add_test(tc, frame_check_needs_whole_header);
	tcase_add_test(tc, frame_check_reports_length_of_incomplete_body);
	tcase_add_test(tc, frame_check_accepts_body_of_exact_limit);
	tcase_add_test(tc, frame_check_refuses_limit_plus_one_from_header_alone);
	tcase_add_test(tc, frame_with_empty_body_is_proto_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, body_not_msgpack_is_proto_error);
	tcase_add_test(tc, truncated_body_is_proto_error_with_rid);
	tcase_add_test(tc, body_that_is_not_an_array_is_proto_error);
	tcase_add_test(tc, empty_array_is_proto_error);
	tcase_add_test(tc, array_with_op_only_is_proto_error);
	tcase_add_test(tc, op_that_is_not_an_integer_is_proto_error_with_rid);
	tcase_add_test(tc, negative_op_and_rid_are_proto_errors);
	tcase_add_test(tc, rid_above_uint32_is_proto_error);
	tcase_add_test(tc, signed_encodings_of_non_negative_ints_are_accepted);
	tcase_add_test(tc, every_op_decodes_with_exact_element_count);
	tcase_add_test(tc,
	    every_op_with_too_few_or_too_many_elements_is_proto_error);
	tcase_add_test(tc, every_element_of_every_op_is_type_checked);
	tcase_add_test(tc, payload_as_str_is_proto_error);
	tcase_add_test(tc, trailing_bytes_are_proto_error);
	tcase_add_test(tc, name_length_limits_for_str_and_bin);
	tcase_add_test(tc, bad_name_in_otherwise_malformed_frame_is_proto_error);
	tcase_add_test(tc, any_open_option_is_option_error);
	tcase_add_test(tc, hello_client_option_limits);
	tcase_add_test(tc, hello_unknown_or_repeated_option_is_option_error);
	tcase_add_test(tc, hello_wrong_magic_is_version_error_huge_version_is_proto_error);
	tcase_add_test(tc, credit_outside_range_is_proto_error);
	tcase_add_test(tc, unknown_op_is_unknownop_with_rid);
	tcase_add_test(tc, welcome_ignores_unknown_info_keys);
	tcase_add_test(tc, welcome_without_required_info_is_proto_error);
	tcase_add_test(tc, huge_container_counts_are_refused_without_allocating);
	tcase_add_test(tc, bodies_of_more_than_1024_items_are_proto_error);
	tcase_add_test(tc, deep_nesting_is_proto_error);
	tcase_add_test(tc, decoder_is_reusable_after_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("buffer_and_names");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, buffer_appends_and_consumes_from_front);
	tcase_add_test(tc,
	    buffer_reserve_that_cannot_fit_fails_and_keeps_contents);
	tcase_add_test(tc, encoders_append_after_existing_bytes);
	tcase_add_test(tc, name_valid_checks_length);
	tcase_add_test(tc, op_names);
	tcase_add_test(tc, default_socket_env_override_wins);
	tcase_add_test(tc, default_socket_for_root);
	tcase_add_test(tc, default_socket_for_users);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, random_and_mutated_bodies_give_known_codes);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(proto_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

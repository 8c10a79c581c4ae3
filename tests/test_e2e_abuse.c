/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_abuse.c: hostile and broken clients against a real chand.
 *
 * Each test speaks raw frames that the library would never send (garbage,
 * huge lengths, cut frames, wrong types, out-of-place requests, floods,
 * a producer killed inside a frame) and checks the exact ERROR the
 * protocol promises, whether the connection survives, and that a healthy
 * library client is still served afterwards.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>

#include "chanclient.h"
#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

#define BODY_CAP	(2 * 1024 * 1024)

static void
peer_send_msg(struct raw_conn *p, uint32_t rid, uint32_t h, const void *data,
    size_t len)
{
	struct proto_buf b;

	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_send(&b, rid, h, data, len), 0);
	raw_send(p, &b);
	proto_buf_fini(&b);
}

/* Hand-built bodies, for what the encoder cannot express. */
struct body {
	msgpack_sbuffer	sb;
	msgpack_packer	pk;
};

static msgpack_packer *
body_begin(struct body *b, size_t n)
{
	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
	msgpack_pack_array(&b->pk, n);
	return &b->pk;
}

static void
body_send(struct raw_conn *p, struct body *b)
{
	raw_write_frame(p->fd, b->sb.data, b->sb.size);
	msgpack_sbuffer_destroy(&b->sb);
}

static void
pack_str(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

static void
pack_bin(msgpack_packer *pk, const void *data, size_t len)
{
	msgpack_pack_bin(pk, len);
	msgpack_pack_bin_body(pk, data, len);
}

/* [op, rid, name, {}] with a name of len bytes of 'n'. */
static void
send_open_len(struct raw_conn *p, enum proto_op op, uint32_t rid, size_t len)
{
	char name[512];
	struct body b;
	msgpack_packer *pk = body_begin(&b, 4);

	memset(name, 'n', sizeof name);
	msgpack_pack_uint32(pk, op);
	msgpack_pack_uint32(pk, rid);
	pack_str(pk, name, len);
	msgpack_pack_map(pk, 0);
	body_send(p, &b);
}

/* Tests. */

START_TEST(test_garbage_body_gets_proto_error_and_the_connection_survives)
{
	static const char garbage[] = "\xc1\xc1\xc1\xc1garbage";
	static const char not_array[] = "\xa3" "abc";
	static const char trailing[] = "\x92\x08\x05\x00";	/* [8, 5] 0 */
	struct daemon d;
	struct raw_conn p;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);
	raw_write_frame(p.fd, garbage, sizeof garbage - 1);
	raw_expect_error(&p, 0, -CHAN_EPROTO);
	raw_ping(&p, 7);
	raw_write_frame(p.fd, not_array, sizeof not_array - 1);
	raw_expect_error(&p, 0, -CHAN_EPROTO);
	raw_write_frame(p.fd, trailing, sizeof trailing - 1);
	raw_expect_error(&p, 5, -CHAN_EPROTO);
	raw_ping(&p, 8);
	assert_serves(&d);
	raw_conn_close(&p);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_length_prefix_over_the_limit_gets_toobig_and_a_close)
{
	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0xff };
	unsigned char over[PROTO_HEADER_LEN];
	size_t len = proto_max_body(PROTO_DEFAULT_MAX_MSG) + 1;
	struct daemon d;
	struct raw_conn p;

	daemon_start(&d, NULL);

	/* Only the header: the answer proves the body was never awaited. */
	raw_conn_open(&p, &d, 1, BODY_CAP);
	raw_write(p.fd, huge, sizeof huge);
	raw_expect_error(&p, 0, -CHAN_ETOOBIG);
	raw_expect_closed(&p);
	raw_conn_close(&p);

	over[0] = (unsigned char)(len >> 24);
	over[1] = (unsigned char)(len >> 16);
	over[2] = (unsigned char)(len >> 8);
	over[3] = (unsigned char)len;
	raw_conn_open(&p, &d, 1, BODY_CAP);
	raw_write(p.fd, over, sizeof over);
	raw_expect_error(&p, 0, -CHAN_ETOOBIG);
	raw_expect_closed(&p);
	raw_conn_close(&p);

	/* Before the handshake too. */
	raw_conn_open(&p, &d, 0, BODY_CAP);
	raw_write(p.fd, huge, sizeof huge);
	raw_expect_error(&p, 0, -CHAN_ETOOBIG);
	raw_expect_closed(&p);
	raw_conn_close(&p);

	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_frame_of_exactly_the_limit_is_read_and_judged)
{
	const char *args[] = { "--max-msg-size", "1000", NULL };
	size_t limit = proto_max_body(1000);
	struct body b;
	struct daemon d;
	struct raw_conn p;
	msgpack_packer *pk;
	char *pad;

	daemon_start(&d, args);
	raw_conn_open(&p, &d, 1, BODY_CAP);

	/* [8, 9, bin16 pad]: 1 + 1 + 1 + 3 header bytes, then the pad. */
	pad = calloc(1, limit);
	ck_assert_ptr_nonnull(pad);
	pk = body_begin(&b, 3);
	msgpack_pack_uint32(pk, PROTO_PING);
	msgpack_pack_uint32(pk, 9);
	pack_bin(pk, pad, limit - 6);
	ck_assert_uint_eq(b.sb.size, limit);
	body_send(&p, &b);
	free(pad);

	/* Not too big: a malformed PING, and the connection goes on. */
	raw_expect_error(&p, 9, -CHAN_EPROTO);
	raw_ping(&p, 10);
	assert_serves(&d);
	raw_conn_close(&p);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_payload_over_max_msg_size_is_refused_and_not_queued)
{
	const char *args[] = { "--max-msg-size", "1000", NULL };
	char payload[1001];
	struct daemon d;
	struct raw_conn p;
	struct proto_buf b;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	uint32_t h;

	daemon_start(&d, args);
	c = test_connect(&d);
	ck_assert_uint_eq(chan_client_max_msg(c), 1000);
	ck_assert_int_eq(chan_rx_open(c, "big", &rx), 0);

	memset(payload, 'p', sizeof payload);
	raw_conn_open(&p, &d, 1, BODY_CAP);
	h = raw_open_end(&p, PROTO_OPEN_TX, 2, "big");
	peer_send_msg(&p, 3, h, payload, 1000);
	raw_expect_ok(&p, 3);
	peer_send_msg(&p, 4, h, payload, 1001);
	raw_expect_error(&p, 4, -CHAN_ETOOBIG);
	peer_send_msg(&p, 5, h, "tail", 4);
	raw_expect_ok(&p, 5);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_close(&b, 6, h), 0);
	raw_send(&p, &b);
	proto_buf_fini(&b);
	raw_expect_ok(&p, 6);

	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0);
	ck_assert_uint_eq(chan_msg_len(m), 1000);
	chan_msg_free(m);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0);
	ck_assert_uint_eq(chan_msg_len(m), 4);
	ck_assert_int_eq(memcmp(chan_msg_data(m), "tail", 4), 0);
	chan_msg_free(m);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m),
	    CHAN_EDISCONNECTED);

	chan_rx_close(rx);
	chan_disconnect(c);
	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_frames_cut_short_by_a_close_leave_the_daemon_unaffected)
{
	static const unsigned char half_hdr[] = { 0x00, 0x00 };
	static const unsigned char hdr100[] = { 0x00, 0x00, 0x00, 100 };
	char half_body[50];
	struct daemon d;
	struct raw_conn p;

	daemon_start(&d, NULL);
	memset(half_body, 0x92, sizeof half_body);

	raw_conn_open(&p, &d, 1, BODY_CAP);
	raw_write(p.fd, half_hdr, sizeof half_hdr);
	raw_conn_close(&p);

	raw_conn_open(&p, &d, 1, BODY_CAP);
	raw_write(p.fd, hdr100, sizeof hdr100);
	raw_write(p.fd, half_body, sizeof half_body);
	raw_conn_close(&p);

	raw_conn_open(&p, &d, 0, BODY_CAP);
	raw_write(p.fd, hdr100, sizeof hdr100);
	raw_write(p.fd, half_body, sizeof half_body);
	raw_conn_close(&p);

	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_wrong_element_types_get_proto_errors_and_change_nothing)
{
	struct daemon d;
	struct raw_conn p;
	struct body b;
	struct proto_buf pb;
	msgpack_packer *pk;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	uint32_t h;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);
	h = raw_open_end(&p, PROTO_OPEN_TX, 2, "typed");

	/* SEND with a str payload. */
	pk = body_begin(&b, 4);
	msgpack_pack_uint32(pk, PROTO_SEND);
	msgpack_pack_uint32(pk, 3);
	msgpack_pack_uint32(pk, h);
	pack_str(pk, "text", 4);
	body_send(&p, &b);
	raw_expect_error(&p, 3, -CHAN_EPROTO);

	/* Negative rid: none can be read. */
	pk = body_begin(&b, 2);
	msgpack_pack_uint32(pk, PROTO_PING);
	msgpack_pack_int32(pk, -1);
	body_send(&p, &b);
	raw_expect_error(&p, 0, -CHAN_EPROTO);

	/* rid of 2^32. */
	pk = body_begin(&b, 2);
	msgpack_pack_uint32(pk, PROTO_PING);
	msgpack_pack_uint64(pk, UINT64_C(1) << 32);
	body_send(&p, &b);
	raw_expect_error(&p, 0, -CHAN_EPROTO);

	/* Name as an int. */
	pk = body_begin(&b, 4);
	msgpack_pack_uint32(pk, PROTO_OPEN_TX);
	msgpack_pack_uint32(pk, 4);
	msgpack_pack_uint32(pk, 42);
	msgpack_pack_map(pk, 0);
	body_send(&p, &b);
	raw_expect_error(&p, 4, -CHAN_EPROTO);

	/* Handle as a str. */
	pk = body_begin(&b, 4);
	msgpack_pack_uint32(pk, PROTO_SEND);
	msgpack_pack_uint32(pk, 5);
	pack_str(pk, "1", 1);
	pack_bin(pk, "x", 1);
	body_send(&p, &b);
	raw_expect_error(&p, 5, -CHAN_EPROTO);

	/* OPEN_TX without its opts. */
	pk = body_begin(&b, 3);
	msgpack_pack_uint32(pk, PROTO_OPEN_TX);
	msgpack_pack_uint32(pk, 6);
	pack_str(pk, "typed", 5);
	body_send(&p, &b);
	raw_expect_error(&p, 6, -CHAN_EPROTO);

	/* SEND with one element too many. */
	pk = body_begin(&b, 5);
	msgpack_pack_uint32(pk, PROTO_SEND);
	msgpack_pack_uint32(pk, 7);
	msgpack_pack_uint32(pk, h);
	pack_bin(pk, "x", 1);
	pack_bin(pk, "y", 1);
	body_send(&p, &b);
	raw_expect_error(&p, 7, -CHAN_EPROTO);

	raw_ping(&p, 8);

	/* Nothing was queued: the channel is empty once the producer goes. */
	c = test_connect(&d);
	ck_assert_int_eq(chan_rx_open(c, "typed", &rx), 0);
	proto_buf_init(&pb);
	ck_assert_int_eq(proto_enc_close(&pb, 9, h), 0);
	raw_send(&p, &pb);
	proto_buf_fini(&pb);
	raw_expect_ok(&p, 9);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m),
	    CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);

	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_unknown_op_gets_unknownop_with_the_rid)
{
	struct daemon d;
	struct raw_conn p;
	struct body b;
	msgpack_packer *pk;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);

	pk = body_begin(&b, 2);
	msgpack_pack_uint32(pk, 29);
	msgpack_pack_uint32(pk, 11);
	body_send(&p, &b);
	raw_expect_error(&p, 11, -CHAN_EUNKNOWNOP);

	pk = body_begin(&b, 4);
	msgpack_pack_uint32(pk, 200);
	msgpack_pack_uint32(pk, 12);
	pack_str(pk, "x", 1);
	msgpack_pack_nil(pk);
	body_send(&p, &b);
	raw_expect_error(&p, 12, -CHAN_EUNKNOWNOP);

	raw_ping(&p, 13);
	assert_serves(&d);
	raw_conn_close(&p);
	daemon_stop(&d);
}
END_TEST

/* [op, rid, name, {key: "x"}]: an OPEN with one option. */
static void
send_open_with_option(struct raw_conn *p, enum proto_op op, uint32_t rid,
    const char *name, const char *key)
{
	struct body b;
	msgpack_packer *pk = body_begin(&b, 4);

	msgpack_pack_uint32(pk, op);
	msgpack_pack_uint32(pk, rid);
	pack_str(pk, name, strlen(name));
	msgpack_pack_map(pk, 1);
	pack_str(pk, key, strlen(key));
	pack_str(pk, "x", 1);
	body_send(p, &b);
}

START_TEST(test_open_with_an_unknown_option_gets_option_and_opens_nothing)
{
	struct proto_buf pb;
	struct daemon d;
	struct raw_conn p;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	uint32_t h;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);

	send_open_with_option(&p, PROTO_OPEN_TX, 21, "opts", "no-such-key");
	raw_expect_error(&p, 21, -CHAN_EOPTION);
	send_open_with_option(&p, PROTO_OPEN_RX, 22, "opts", "no-such-key");
	raw_expect_error(&p, 22, -CHAN_EOPTION);
	/* "client" is HELLO's option: OPEN_TX and OPEN_RX take none. */
	send_open_with_option(&p, PROTO_OPEN_TX, 23, "opts", "client");
	raw_expect_error(&p, 23, -CHAN_EOPTION);
	send_open_with_option(&p, PROTO_OPEN_RX, 24, "opts", "client");
	raw_expect_error(&p, 24, -CHAN_EOPTION);
	raw_ping(&p, 25);

	/* No refused OPEN_RX holds the consumer slot. */
	c = test_connect(&d);
	expect_rc(chan_rx_open(c, "opts", &rx), 0, "rx after refused opens");
	/*
	 * The connection still opens and sends; and no refused OPEN_TX made
	 * a producer: once this one closes, the channel is disconnected.
	 */
	h = raw_open_end(&p, PROTO_OPEN_TX, 26, "opts");
	peer_send_msg(&p, 27, h, "m", 1);
	raw_expect_ok(&p, 27);
	proto_buf_init(&pb);
	ck_assert_int_eq(proto_enc_close(&pb, 28, h), 0);
	raw_send(&p, &pb);
	proto_buf_fini(&pb);
	raw_expect_ok(&p, 28);
	m = recv_msg(rx);
	ck_assert_uint_eq(chan_msg_len(m), 1);
	ck_assert_int_eq(memcmp(chan_msg_data(m), "m", 1), 0);
	chan_msg_free(m);
	expect_recv_rc(rx, CHAN_EDISCONNECTED);
	chan_rx_close(rx);
	chan_disconnect(c);

	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_names_outside_1_to_255_bytes_get_badname)
{
	struct daemon d;
	struct raw_conn p;
	struct proto_msg m;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);

	send_open_len(&p, PROTO_OPEN_TX, 2, 256);
	raw_expect_error(&p, 2, -CHAN_EBADNAME);
	send_open_len(&p, PROTO_OPEN_RX, 3, 256);
	raw_expect_error(&p, 3, -CHAN_EBADNAME);
	send_open_len(&p, PROTO_OPEN_TX, 4, 0);
	raw_expect_error(&p, 4, -CHAN_EBADNAME);

	send_open_len(&p, PROTO_OPEN_TX, 5, 255);
	raw_expect(&p, &m);
	ck_assert_msg(m.op == PROTO_HANDLE && m.rid == 5,
	    "255-byte name: got %s code %u", proto_op_name((int)m.op), m.code);

	raw_ping(&p, 6);
	assert_serves(&d);
	raw_conn_close(&p);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_first_frame_other_than_hello_gets_error_and_a_close)
{
	struct daemon d;
	struct raw_conn p;
	struct proto_buf b;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 0, BODY_CAP);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_ping(&b, 1), 0);
	raw_send(&p, &b);
	proto_buf_fini(&b);
	raw_expect_error(&p, 1, -CHAN_EPROTO);
	raw_expect_closed(&p);
	raw_conn_close(&p);

	raw_conn_open(&p, &d, 0, BODY_CAP);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_open(&b, PROTO_OPEN_TX, 2, "early", 5), 0);
	raw_send(&p, &b);
	proto_buf_fini(&b);
	raw_expect_error(&p, 2, -CHAN_EPROTO);
	raw_expect_closed(&p);
	raw_conn_close(&p);

	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

static void
send_hello(struct raw_conn *p, const char *magic, uint32_t version)
{
	struct body b;
	msgpack_packer *pk = body_begin(&b, 5);

	msgpack_pack_uint32(pk, PROTO_HELLO);
	msgpack_pack_uint32(pk, 1);
	pack_str(pk, magic, strlen(magic));
	msgpack_pack_uint32(pk, version);
	msgpack_pack_map(pk, 0);
	body_send(p, &b);
}

START_TEST(test_hello_with_an_unknown_version_gets_version_and_a_close)
{
	struct daemon d;
	struct raw_conn p;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 0, BODY_CAP);
	send_hello(&p, PROTO_MAGIC, 99);
	raw_expect_error(&p, 1, -CHAN_EVERSION);
	raw_expect_closed(&p);
	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_hello_with_a_wrong_magic_gets_version_and_a_close)
{
	struct daemon d;
	struct raw_conn p;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 0, BODY_CAP);
	send_hello(&p, "chanx", PROTO_VERSION);
	raw_expect_error(&p, 1, -CHAN_EVERSION);
	raw_expect_closed(&p);
	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_ack_beyond_the_last_delivery_is_refused)
{
	struct daemon d;
	struct raw_conn p;
	struct proto_buf b;
	struct proto_msg m;
	chan_client *c;
	chan_tx *tx;
	uint32_t h;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);
	h = raw_open_end(&p, PROTO_OPEN_RX, 2, "acks");

	raw_ack(&p, 3, h, 1);		/* nothing delivered yet */
	raw_expect_error(&p, 3, -CHAN_EPROTO);

	c = test_connect(&d);
	ck_assert_int_eq(chan_tx_open(c, "acks", &tx), 0);
	ck_assert_int_eq(chan_tx_send(tx, "m", 1), 0);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_credit(&b, 0, h, 1), 0);
	raw_send(&p, &b);
	proto_buf_fini(&b);
	raw_expect(&p, &m);
	ck_assert_int_eq(m.op, PROTO_DELIVER);
	ck_assert_uint_eq(m.handle, h);
	ck_assert_uint_eq(m.seq, 1);

	raw_ack(&p, 4, h, 2);
	raw_expect_error(&p, 4, -CHAN_EPROTO);
	raw_ack(&p, 5, h, 1);
	raw_expect_ok(&p, 5);

	chan_tx_close(tx);
	chan_disconnect(c);
	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_operations_on_the_wrong_end_get_wrongend)
{
	struct daemon d;
	struct raw_conn p;
	struct proto_buf b;
	uint32_t rxh, txh;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);
	rxh = raw_open_end(&p, PROTO_OPEN_RX, 2, "ends");
	txh = raw_open_end(&p, PROTO_OPEN_TX, 3, "ends");

	peer_send_msg(&p, 4, rxh, "x", 1);
	raw_expect_error(&p, 4, -CHAN_EWRONGEND);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_credit(&b, 5, txh, 1), 0);
	ck_assert_int_eq(proto_enc_ack(&b, 6, txh, 1), 0);
	raw_send(&p, &b);
	proto_buf_fini(&b);
	raw_expect_error(&p, 5, -CHAN_EWRONGEND);
	raw_expect_error(&p, 6, -CHAN_EWRONGEND);

	raw_ping(&p, 7);
	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_handles_that_do_not_exist_get_badhandle)
{
	struct daemon d;
	struct raw_conn p;
	struct proto_buf b;
	uint32_t h;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);

	peer_send_msg(&p, 2, 999, "x", 1);
	raw_expect_error(&p, 2, -CHAN_EBADHANDLE);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_close(&b, 3, 999), 0);
	ck_assert_int_eq(proto_enc_credit(&b, 4, 999, 1), 0);
	ck_assert_int_eq(proto_enc_ack(&b, 5, 999, 1), 0);
	raw_send(&p, &b);
	proto_buf_fini(&b);
	raw_expect_error(&p, 3, -CHAN_EBADHANDLE);
	raw_expect_error(&p, 4, -CHAN_EBADHANDLE);
	raw_expect_error(&p, 5, -CHAN_EBADHANDLE);

	/* A closed handle is gone for good. */
	h = raw_open_end(&p, PROTO_OPEN_TX, 6, "closed");
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_close(&b, 7, h), 0);
	raw_send(&p, &b);
	proto_buf_fini(&b);
	raw_expect_ok(&p, 7);
	peer_send_msg(&p, 8, h, "x", 1);
	raw_expect_error(&p, 8, -CHAN_EBADHANDLE);

	raw_ping(&p, 9);
	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_silent_client_is_closed_after_the_handshake_timeout)
{
	const char *args[] = { "--handshake-timeout", "1", NULL };
	struct daemon d;
	struct raw_conn early, idle;
	struct proto_msg m;
	long long t0, elapsed;

	daemon_start(&d, args);
	raw_conn_open(&early, &d, 1, BODY_CAP);	/* handshaken first: never timed out */
	t0 = now_ms();
	raw_conn_open(&idle, &d, 0, BODY_CAP);

	assert_serves(&d);		/* served while idle waits */

	/* The protocol allows an ERROR before the close; nothing else. */
	if (raw_recv(&idle, &m, 5000) == 0) {
		ck_assert_msg(m.op == PROTO_ERROR, "idle client got %s",
		    proto_op_name((int)m.op));
		raw_expect_closed(&idle);
	}
	elapsed = now_ms() - t0;
	ck_assert_msg(elapsed >= 900, "closed after %lld ms, before the "
	    "1 s handshake timeout", elapsed);

	raw_ping(&early, 2);
	assert_serves(&d);
	raw_conn_close(&idle);
	raw_conn_close(&early);
	daemon_stop(&d);
}
END_TEST

#define FLOOD_BYTES	(50L * 1024 * 1024)
#define FLOOD_CHUNK	9362		/* PING frames per write: < 64 KiB */
#define PING_FRAME_LEN	7

/*
 * Writes PING frames without reading any reply, as far as the daemon and
 * the kernel take them: stops at FLOOD_BYTES, when the socket has stayed
 * full for 500 ms, or when the daemon closes the connection. Returns the
 * bytes written.
 */
static long
flood_pings(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	struct proto_buf b;
	long total = 0;
	size_t off = 0;
	ssize_t n;
	int i;

	proto_buf_init(&b);
	for (i = 0; i < FLOOD_CHUNK; i++)
		ck_assert_int_eq(proto_enc_ping(&b, 1), 0);
	ck_assert_uint_eq(b.len, (size_t)FLOOD_CHUNK * PING_FRAME_LEN);
	while (total < FLOOD_BYTES) {
		n = send(fd, b.data + off, b.len - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			total += n;
			off = (off + (size_t)n) % b.len;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			break;		/* the daemon dropped us: allowed */
		if (poll(&pfd, 1, 500) == 0)
			break;		/* the daemon stopped reading us */
	}
	proto_buf_fini(&b);
	return total;
}

START_TEST(test_client_that_never_reads_does_not_hold_up_others)
{
	struct daemon d;
	struct raw_conn p;
	long long t0, elapsed;
	long rss;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);
	flood_pings(p.fd);

	t0 = now_ms();
	assert_serves(&d);
	elapsed = now_ms() - t0;
	ck_assert_msg(elapsed < 2000, "a healthy client waited %lld ms",
	    elapsed);
	rss = daemon_rss_kib(&d);
	ck_assert_msg(rss < 200 * 1024, "daemon RSS %ld KiB after the flood",
	    rss);

	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_producer_killed_mid_frame_delivers_only_whole_messages)
{
	struct daemon d;
	struct raw_conn p;
	struct proto_buf b;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	int sync[2], status;
	uint32_t h;
	pid_t pid;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	ck_assert_int_eq(chan_rx_open(c, "cut", &rx), 0);

	raw_conn_open(&p, &d, 1, BODY_CAP);
	h = raw_open_end(&p, PROTO_OPEN_TX, 2, "cut");
	peer_send_msg(&p, 3, h, "one", 3);
	raw_expect_ok(&p, 3);
	peer_send_msg(&p, 4, h, "two", 3);
	raw_expect_ok(&p, 4);

	/* The child owns the connection alone and dies inside a frame. */
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_send(&b, 5, h, "three-never", 11), 0);
	ck_assert_int_eq(pipe(sync), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sync[0]);
		if (write(p.fd, b.data, b.len / 2) != (ssize_t)(b.len / 2) ||
		    write(sync[1], "k", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(sync[1]);
	close(p.fd);
	p.fd = -1;
	proto_buf_fini(&b);
	ck_assert_int_eq(pipe_read_byte(sync[0]), 'k');	/* bounded */
	close(sync[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	/* Bounded too: the child has been sent SIGKILL. */
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0);
	ck_assert_uint_eq(chan_msg_len(m), 3);
	ck_assert_int_eq(memcmp(chan_msg_data(m), "one", 3), 0);
	chan_msg_free(m);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m), 0);
	ck_assert_uint_eq(chan_msg_len(m), 3);
	ck_assert_int_eq(memcmp(chan_msg_data(m), "two", 3), 0);
	chan_msg_free(m);
	ck_assert_int_eq(chan_rx_recv_timeout(rx, HARNESS_WAIT_MS, &m),
	    CHAN_EDISCONNECTED);

	chan_rx_close(rx);
	chan_disconnect(c);
	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

/* One short-lived connection of kind i % 4, each ending differently. */
static void
churn_one(const struct daemon *d, int i)
{
	static const unsigned char half_hdr[] = { 0x00, 0x00 };
	struct raw_conn p;
	chan_client *c;

	switch (i % 4) {
	case 0:
		c = test_connect(d);
		chan_disconnect(c);
		return;
	case 1:
		raw_conn_open(&p, d, 0, BODY_CAP);
		break;
	case 2:
		raw_conn_open(&p, d, 1, BODY_CAP);
		(void)raw_open_end(&p, PROTO_OPEN_TX, 2, "churn");
		break;
	default:
		raw_conn_open(&p, d, 1, BODY_CAP);
		raw_write(p.fd, half_hdr, sizeof half_hdr);
		break;
	}
	raw_conn_close(&p);
}

START_TEST(test_connections_opened_and_closed_leave_no_fds_behind)
{
	long long deadline;
	struct daemon d;
	struct raw_conn probe;
	int baseline, count, i;
	uint32_t rid = 1;

	daemon_start(&d, NULL);
	raw_conn_open(&probe, &d, 1, BODY_CAP);
	raw_ping(&probe, rid++);
	baseline = daemon_fd_count(&d);

	for (i = 0; i < 200; i++)
		churn_one(&d, i);

	/*
	 * The daemon sees each close on its own schedule, and tells nobody
	 * when it has: round trips on the probe give it turns until the count
	 * is back, within a bound. The loop cannot spin hot: each pass blocks
	 * on a PING's OK from the daemon before it reads the count in /proc.
	 */
	deadline = now_ms() + HARNESS_WAIT_MS;
	do {
		raw_ping(&probe, rid++);
		count = daemon_fd_count(&d);
	} while (count != baseline && now_ms() < deadline);
	ck_assert_msg(count == baseline, "daemon has %d fds, %d before the "
	    "200 connections", count, baseline);

	assert_serves(&d);
	raw_conn_close(&probe);
	daemon_stop(&d);
}
END_TEST

/* Daemon review: bounds, accounting, pause and resume, shutdown. */

/*
 * Reads frames in bulk from p until OK(rid) arrives, counting each op;
 * fails the test after timeout_ms. counts[] is indexed by op (0-127).
 */
static void
bulk_read_until_ok(struct raw_conn *p, uint32_t rid, unsigned long *counts,
    int timeout_ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	long long deadline = now_ms() + timeout_ms;
	size_t len = 0, off, flen;
	struct proto_msg m;
	ssize_t n;
	int done = 0, rc;

	while (!done) {
		ck_assert_msg(now_ms() < deadline, "no OK(%u) within %d ms",
		    rid, timeout_ms);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(p->fd, p->body + len, BODY_CAP - len);
		ck_assert_msg(n > 0, "daemon closed the connection");
		len += (size_t)n;
		for (off = 0; !done && len - off >= PROTO_HEADER_LEN;
		    off += flen) {
			rc = proto_frame_check(p->body + off, len - off,
			    BODY_CAP / 2, &flen);
			ck_assert_int_ge(rc, 0);
			if (rc != 1)
				break;
			ck_assert_int_eq(proto_decode(p->dec, p->body + off +
			    PROTO_HEADER_LEN, flen, &m), 0);
			flen += PROTO_HEADER_LEN;
			counts[m.op & 127]++;
			done = m.op == PROTO_OK && m.rid == rid;
		}
		memmove(p->body, p->body + off, len - off);
		len -= off;
	}
}

#define EVENT_CYCLES	1200000
#define EVENT_BATCH	10000
#define EVENT_FRAME_LEN	7	/* [81, handle < 128] with its header */
#define DELIVER_MARK	(4L * 1024 * 1024)	/* docs/protocol.md, Limits */

START_TEST(test_consumer_that_never_reads_gets_bounded_output_of_events)
{
	struct daemon d;
	struct raw_conn rx, tx;
	struct proto_buf b;
	unsigned long counts[128] = { 0 };
	uint32_t rxh, h = 1;
	int i, j;

	daemon_start(&d, NULL);
	raw_conn_open(&rx, &d, 1, BODY_CAP);
	rxh = raw_open_end(&rx, PROTO_OPEN_RX, 2, "ev");
	raw_credit(&rx, 0, rxh, 1);
	raw_ping(&rx, 3);

	/*
	 * Every attach and drop of a producer makes a DISCONNECTED due; the
	 * consumer reads none of them. rid 0 makes the producer's requests
	 * silent, so only the consumer's output can grow.
	 */
	raw_conn_open(&tx, &d, 1, BODY_CAP);
	proto_buf_init(&b);
	for (i = 0; i < EVENT_CYCLES / EVENT_BATCH; i++) {
		b.len = 0;
		for (j = 0; j < EVENT_BATCH; j++, h++) {
			ck_assert_int_eq(proto_enc_open(&b, PROTO_OPEN_TX, 0,
			    "ev", 2), 0);
			ck_assert_int_eq(proto_enc_close(&b, 0, h), 0);
		}
		raw_send(&tx, &b);
	}
	proto_buf_fini(&b);
	raw_ping(&tx, 4);

	raw_send_ping(&rx, 5);
	bulk_read_until_ok(&rx, 5, counts, 60000);
	ck_assert_msg(counts[PROTO_DISCONNECTED] * EVENT_FRAME_LEN <
	    DELIVER_MARK + 2 * 1024 * 1024, "%lu DISCONNECTED events were "
	    "buffered for a consumer that did not read",
	    counts[PROTO_DISCONNECTED]);
	ck_assert_uint_ge(counts[PROTO_DISCONNECTED], 1);

	raw_conn_close(&tx);
	raw_conn_close(&rx);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

/*
 * Sends len-byte messages on h until the daemon refuses one with LIMIT
 * (asserting that it does within max sends); returns how many it took.
 */
static unsigned long
fill_until_limit(struct raw_conn *p, uint32_t h, size_t len, unsigned long max)
{
	static char payload[4096];
	unsigned long ok = 0, sent = 0;
	struct proto_buf b;
	struct proto_msg m;
	int limited = 0, i;

	proto_buf_init(&b);
	while (!limited && sent < max) {
		b.len = 0;
		for (i = 0; i < 1000; i++)
			ck_assert_int_eq(proto_enc_send(&b, 1, h, payload,
			    len), 0);
		raw_send(p, &b);
		sent += 1000;
		for (i = 0; i < 1000; i++) {
			raw_expect(p, &m);
			if (m.op == PROTO_OK && !limited) {
				ok++;
				continue;
			}
			ck_assert_msg(m.op == PROTO_ERROR &&
			    m.code == (uint32_t)-CHAN_ELIMIT, "send got %s "
			    "code %u", proto_op_name((int)m.op), m.code);
			limited = 1;
		}
	}
	proto_buf_fini(&b);
	ck_assert_msg(limited, "%lu messages of %zu bytes queued without "
	    "reaching the limit", sent, len);
	return ok;
}

/* Consumer: takes n messages, checks their flags, acknowledges them. */
static void
drain_and_ack(struct raw_conn *p, uint32_t h, unsigned long n, uint32_t flags)
{
	struct proto_msg m;
	unsigned long i;

	raw_credit(p, 0, h, (uint32_t)n);
	for (i = 1; i <= n; i++) {
		raw_expect(p, &m);
		ck_assert_int_eq(m.op, PROTO_DELIVER);
		ck_assert_uint_eq(m.seq, i);
		ck_assert_uint_eq(m.flags, flags);
	}
	raw_ack(p, 7, h, n);
	raw_expect_ok(p, 7);
}

START_TEST(test_empty_messages_are_bounded_by_max_queued_messages)
{
	const char *args[] = { "--max-queued-messages", "2500", NULL };
	struct daemon d;
	struct raw_conn tx, rx;
	uint32_t txh, rxh;

	daemon_start(&d, args);
	raw_conn_open(&tx, &d, 1, BODY_CAP);
	txh = raw_open_end(&tx, PROTO_OPEN_TX, 2, "empty");
	/* They hold no payload bytes, but each costs memory. */
	ck_assert_uint_eq(fill_until_limit(&tx, txh, 0, 100000), 2500);

	/* Acknowledged, they free exactly what they took. */
	raw_conn_open(&rx, &d, 1, BODY_CAP);
	rxh = raw_open_end(&rx, PROTO_OPEN_RX, 2, "empty");
	drain_and_ack(&rx, rxh, 2500, 0);
	ck_assert_uint_eq(fill_until_limit(&tx, txh, 0, 100000), 2500);

	raw_conn_close(&rx);
	raw_conn_close(&tx);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_queued_bytes_return_to_zero_after_requeue_and_acks)
{
	const char *args[] = { "--max-queued-bytes", "65536", NULL };
	static char payload[1000];
	struct daemon d;
	struct raw_conn tx, rx;
	struct proto_buf b;
	struct proto_msg m;
	unsigned long n, i;
	uint32_t txh, rxh;

	daemon_start(&d, args);
	raw_conn_open(&tx, &d, 1, BODY_CAP);
	txh = raw_open_end(&tx, PROTO_OPEN_TX, 2, "full");
	n = fill_until_limit(&tx, txh, 1000, 100000);
	ck_assert_uint_eq(n, 65536 / 1000);

	/* Taken in flight and given back unacknowledged: still held. */
	raw_conn_open(&rx, &d, 1, BODY_CAP);
	rxh = raw_open_end(&rx, PROTO_OPEN_RX, 2, "full");
	raw_credit(&rx, 0, rxh, (uint32_t)n);
	for (i = 0; i < n; i++) {
		raw_expect(&rx, &m);
		ck_assert_int_eq(m.op, PROTO_DELIVER);
	}
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_close(&b, 3, rxh), 0);
	raw_send(&rx, &b);
	proto_buf_fini(&b);
	raw_expect_ok(&rx, 3);
	peer_send_msg(&tx, 4, txh, payload, sizeof payload);
	raw_expect_error(&tx, 4, -CHAN_ELIMIT);

	/* Redelivered and acknowledged: the same room again. */
	rxh = raw_open_end(&rx, PROTO_OPEN_RX, 5, "full");
	drain_and_ack(&rx, rxh, n, PROTO_FLAG_REDELIVERED);
	ck_assert_uint_eq(fill_until_limit(&tx, txh, 1000, 100000), n);

	raw_conn_close(&rx);
	raw_conn_close(&tx);
	daemon_stop(&d);
}
END_TEST

/* Lines of the daemon's log that contain what. */
static int
log_count(const struct daemon *d, const char *what)
{
	char *text = daemon_log(d), *s;
	int n = 0;

	for (s = text; (s = strstr(s, what)) != NULL; s += strlen(what))
		n++;
	free(text);
	return n;
}

START_TEST(test_repeated_bad_requests_are_logged_once_per_connection)
{
	const char *args[] = { "--max-handles", "1", NULL };
	static const char garbage[] = "\xc1";
	struct daemon d;
	struct raw_conn p;
	int i;

	daemon_start(&d, args);
	raw_conn_open(&p, &d, 1, BODY_CAP);
	(void)raw_open_end(&p, PROTO_OPEN_TX, 2, "mine");
	for (i = 0; i < 20; i++) {
		send_open_len(&p, PROTO_OPEN_TX, 3, 10);
		raw_expect_error(&p, 3, -CHAN_ELIMIT);
		raw_write_frame(p.fd, garbage, 1);
		raw_expect_error(&p, 0, -CHAN_EPROTO);
		peer_send_msg(&p, 4, 999, "x", 1);
		raw_expect_error(&p, 4, -CHAN_EBADHANDLE);
	}
	raw_conn_close(&p);

	/* Another connection gets its own first line. */
	raw_conn_open(&p, &d, 1, BODY_CAP);
	for (i = 0; i < 20; i++) {
		send_open_len(&p, PROTO_OPEN_RX, 5, 0);
		raw_expect_error(&p, 5, -CHAN_EBADNAME);
	}
	raw_ping(&p, 6);

	ck_assert_int_eq(log_count(&d, "handle limit"), 1);
	ck_assert_int_eq(log_count(&d, "protocol error"), 2);

	raw_conn_close(&p);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_busy_refusals_are_logged_once_per_connection)
{
	struct daemon d;
	struct raw_conn holder, p;
	struct proto_buf b;
	int i;

	daemon_start(&d, NULL);
	raw_conn_open(&holder, &d, 1, BODY_CAP);
	(void)raw_open_end(&holder, PROTO_OPEN_RX, 2, "held");
	raw_conn_open(&p, &d, 1, BODY_CAP);
	for (i = 0; i < 20; i++) {
		proto_buf_init(&b);
		ck_assert_int_eq(proto_enc_open(&b, PROTO_OPEN_RX, 3, "held",
		    4), 0);
		raw_send(&p, &b);
		proto_buf_fini(&b);
		raw_expect_error(&p, 3, -CHAN_EBUSY);
	}
	raw_ping(&p, 4);
	ck_assert_int_eq(log_count(&d, "busy"), 1);

	raw_conn_close(&p);
	raw_conn_close(&holder);
	daemon_stop(&d);
}
END_TEST

#define RESUME_MSGS	6000
#define RESUME_PINGS	1500

START_TEST(test_paused_connection_answers_frames_it_had_already_read)
{
	const char *args[] = { "--max-msg-size", "2048", NULL };
	static char payload[1000];
	unsigned long counts[128] = { 0 };
	struct daemon d;
	struct raw_conn tx, rx;
	struct proto_buf b;
	uint32_t txh, rxh;
	int i;

	daemon_start(&d, args);
	raw_conn_open(&tx, &d, 1, BODY_CAP);
	txh = raw_open_end(&tx, PROTO_OPEN_TX, 2, "backlog");
	for (i = 0; i < RESUME_MSGS; i++)
		peer_send_msg(&tx, 0, txh, payload, sizeof payload);
	raw_ping(&tx, 3);

	/*
	 * One write, read at once by the daemon: the credit fills the output
	 * to the delivery mark and the PINGs push it over the read limit, so
	 * reading stops with PINGs still buffered and nothing more to come.
	 */
	raw_conn_open(&rx, &d, 1, BODY_CAP);
	rxh = raw_open_end(&rx, PROTO_OPEN_RX, 2, "backlog");
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_credit(&b, 0, rxh, PROTO_CREDIT_MAX), 0);
	for (i = 1; i <= RESUME_PINGS; i++)
		ck_assert_int_eq(proto_enc_ping(&b, (uint32_t)i), 0);
	ck_assert_uint_lt(b.len, 16 * 1024);
	raw_send(&rx, &b);
	proto_buf_fini(&b);

	bulk_read_until_ok(&rx, RESUME_PINGS, counts, 60000);
	ck_assert_uint_eq(counts[PROTO_OK], RESUME_PINGS);
	ck_assert_uint_le(counts[PROTO_DELIVER], RESUME_MSGS);

	raw_conn_close(&tx);
	raw_conn_close(&rx);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_consumer_closed_mid_pipeline_gets_its_messages_back_first)
{
	struct daemon d;
	struct raw_conn p;
	struct proto_buf b;
	struct proto_msg m;
	uint32_t rxh, txh, rxh2;
	char want[2] = "a";
	int i;

	daemon_start(&d, NULL);
	raw_conn_open(&p, &d, 1, BODY_CAP);
	rxh = raw_open_end(&p, PROTO_OPEN_RX, 2, "same");
	txh = raw_open_end(&p, PROTO_OPEN_TX, 3, "same");

	/* One pipeline: deliver a b c, close the consumer, reopen it. */
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_credit(&b, 0, rxh, 3), 0);
	ck_assert_int_eq(proto_enc_send(&b, 0, txh, "a", 1), 0);
	ck_assert_int_eq(proto_enc_send(&b, 0, txh, "b", 1), 0);
	ck_assert_int_eq(proto_enc_send(&b, 0, txh, "c", 1), 0);
	ck_assert_int_eq(proto_enc_ack(&b, 0, rxh, 1), 0);
	ck_assert_int_eq(proto_enc_close(&b, 10, rxh), 0);
	ck_assert_int_eq(proto_enc_ack(&b, 11, rxh, 3), 0);
	ck_assert_int_eq(proto_enc_send(&b, 0, txh, "d", 1), 0);
	ck_assert_int_eq(proto_enc_open(&b, PROTO_OPEN_RX, 12, "same", 4),
	    0);
	raw_send(&p, &b);
	proto_buf_fini(&b);

	for (i = 0; i < 3; i++, want[0]++) {
		raw_expect(&p, &m);
		ck_assert_int_eq(m.op, PROTO_DELIVER);
		ck_assert_uint_eq(m.handle, rxh);
		ck_assert_mem_eq(m.payload, want, 1);
	}
	raw_expect_ok(&p, 10);
	raw_expect_error(&p, 11, -CHAN_EBADHANDLE);
	raw_expect(&p, &m);
	ck_assert_int_eq(m.op, PROTO_HANDLE);
	rxh2 = m.handle;
	ck_assert_uint_ne(rxh2, rxh);

	/* b and c come back first, marked, then d. */
	raw_credit(&p, 0, rxh2, 10);
	for (want[0] = 'b', i = 1; i <= 3; i++, want[0]++) {
		raw_expect(&p, &m);
		ck_assert_int_eq(m.op, PROTO_DELIVER);
		ck_assert_uint_eq(m.handle, rxh2);
		ck_assert_uint_eq(m.seq, (uint64_t)i);
		ck_assert_mem_eq(m.payload, want, 1);
		ck_assert_uint_eq(m.flags, i < 3 ? PROTO_FLAG_REDELIVERED : 0);
	}
	raw_ping(&p, 13);
	raw_conn_close(&p);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_handshake_timer_stops_after_hello)
{
	const char *args[] = { "--handshake-timeout", "1", NULL };
	struct pollfd pfd;
	struct daemon d;
	struct raw_conn p;
	long long until;

	daemon_start(&d, args);
	raw_conn_open(&p, &d, 1, BODY_CAP);
	/*
	 * Past the timeout, nothing arrives and the connection still works.
	 * One bounded wait: poll_until never passes poll a negative
	 * (endless) timeout, even if the deadline has gone by.
	 */
	pfd.fd = p.fd;
	pfd.events = POLLIN;
	until = now_ms() + 1600;
	ck_assert_int_eq(poll_until(&pfd, 1, until), 0);
	ck_assert_msg(now_ms() >= until, "poll returned early");
	raw_ping(&p, 2);
	raw_conn_close(&p);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_sigterm_with_clients_in_every_state_exits_cleanly)
{
	static const unsigned char half_hdr[] = { 0x00, 0x00 };
	static const unsigned char hdr100[] = { 0x00, 0x00, 0x00, 100 };
	static char payload[1000];
	struct daemon d;
	struct raw_conn silent, cut, flood, slow, inflight, tx;
	struct proto_msg m;
	uint32_t txh, h;
	int i;

	daemon_start(&d, NULL);
	raw_conn_open(&silent, &d, 0, BODY_CAP);
	raw_write(silent.fd, half_hdr, sizeof half_hdr);
	raw_conn_open(&cut, &d, 1, BODY_CAP);
	raw_write(cut.fd, hdr100, sizeof hdr100);

	raw_conn_open(&tx, &d, 1, BODY_CAP);
	txh = raw_open_end(&tx, PROTO_OPEN_TX, 2, "busy");
	for (i = 0; i < 8000; i++)
		peer_send_msg(&tx, 0, txh, payload, sizeof payload);
	raw_ping(&tx, 3);
	h = raw_open_end(&tx, PROTO_OPEN_TX, 4, "inflight");
	peer_send_msg(&tx, 5, h, "m", 1);
	raw_expect_ok(&tx, 5);

	/* A consumer over the delivery mark that never reads. */
	raw_conn_open(&slow, &d, 1, BODY_CAP);
	h = raw_open_end(&slow, PROTO_OPEN_RX, 2, "busy");
	raw_credit(&slow, 0, h, PROTO_CREDIT_MAX);
	/* One holding a message unacknowledged. */
	raw_conn_open(&inflight, &d, 1, BODY_CAP);
	h = raw_open_end(&inflight, PROTO_OPEN_RX, 2, "inflight");
	raw_credit(&inflight, 0, h, 1);
	raw_expect(&inflight, &m);
	ck_assert_int_eq(m.op, PROTO_DELIVER);
	/* One paused for not reading its replies. */
	raw_conn_open(&flood, &d, 1, BODY_CAP);
	flood_pings(flood.fd);

	daemon_stop(&d);	/* exit status 0, and no leak under ASan */
	raw_conn_close(&silent);
	raw_conn_close(&cut);
	raw_conn_close(&tx);
	raw_conn_close(&slow);
	raw_conn_close(&inflight);
	raw_conn_close(&flood);
}
END_TEST

START_TEST(test_refused_connection_can_write_its_hello_and_read_why)
{
	const char *args[] = { "--max-connections", "1", NULL };
	struct pollfd pfd;
	struct daemon d;
	struct raw_conn in, over;
	struct proto_buf b;
	ssize_t n;

	daemon_start(&d, args);
	raw_conn_open(&in, &d, 1, BODY_CAP);
	raw_conn_open(&over, &d, 0, BODY_CAP);

	/*
	 * The ERROR is sent at once; the client's HELLO comes after it. The
	 * daemon must still take it: closing first would fail the write
	 * (EPIPE) or reset the connection before the client reads why.
	 */
	pfd.fd = over.fd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, HARNESS_WAIT_MS), 1);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_hello(&b, 1, "late"), 0);
	n = send(over.fd, b.data, b.len, MSG_NOSIGNAL);
	ck_assert_msg(n == (ssize_t)b.len, "HELLO not written: %s",
	    n < 0 ? strerror(errno) : "short write");
	proto_buf_fini(&b);
	raw_expect_error(&over, 0, -CHAN_ELIMIT);
	raw_expect_closed(&over);

	raw_conn_close(&over);
	raw_ping(&in, 2);
	raw_conn_close(&in);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_connections_up_to_the_limit_fit_a_low_descriptor_limit)
{
	const char *args[] = { "--max-connections", "300", NULL };
	struct rlimit saved, low;
	struct daemon d;
	struct raw_conn p[300], over;
	long long deadline;
	chan_client *c;
	int i, rc;

	/* The daemon inherits a soft limit far below what it needs. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	ck_assert_uint_ge(saved.rlim_max, 1024);
	low = saved;
	low.rlim_cur = 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	daemon_start(&d, args);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);

	for (i = 0; i < 300; i++)
		raw_conn_open(&p[i], &d, 1, BODY_CAP);
	raw_conn_open(&over, &d, 0, BODY_CAP);
	raw_expect_error(&over, 0, -CHAN_ELIMIT);
	raw_conn_close(&over);
	for (i = 0; i < 300; i++)
		raw_conn_close(&p[i]);
	/*
	 * The daemon counts the closes as its loop reads them: each refused
	 * attempt is a round trip that lets the loop go round.
	 */
	deadline = now_ms() + HARNESS_WAIT_MS;
	while ((rc = chan_connect(d.sock, &c)) == CHAN_ELIMIT &&
	    now_ms() < deadline)
		continue;
	expect_rc(rc, 0, "connect once the 300 have gone");
	chan_disconnect(c);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

static Suite *
abuse_suite(void)
{
	Suite *s = suite_create("e2e_abuse");
	TCase *tc;

	tc = tcase_create("framing");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_garbage_body_gets_proto_error_and_the_connection_survives);
	tcase_add_test(tc,
	    test_length_prefix_over_the_limit_gets_toobig_and_a_close);
	tcase_add_test(tc, test_frame_of_exactly_the_limit_is_read_and_judged);
	tcase_add_test(tc,
	    test_payload_over_max_msg_size_is_refused_and_not_queued);
	tcase_add_test(tc,
	    test_frames_cut_short_by_a_close_leave_the_daemon_unaffected);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_wrong_element_types_get_proto_errors_and_change_nothing);
	tcase_add_test(tc, test_unknown_op_gets_unknownop_with_the_rid);
	tcase_add_test(tc,
	    test_open_with_an_unknown_option_gets_option_and_opens_nothing);
	tcase_add_test(tc, test_names_outside_1_to_255_bytes_get_badname);
	tcase_add_test(tc,
	    test_first_frame_other_than_hello_gets_error_and_a_close);
	tcase_add_test(tc,
	    test_hello_with_an_unknown_version_gets_version_and_a_close);
	tcase_add_test(tc,
	    test_hello_with_a_wrong_magic_gets_version_and_a_close);
	tcase_add_test(tc, test_ack_beyond_the_last_delivery_is_refused);
	tcase_add_test(tc, test_operations_on_the_wrong_end_get_wrongend);
	tcase_add_test(tc, test_handles_that_do_not_exist_get_badhandle);
	suite_add_tcase(s, tc);

	tc = tcase_create("resources");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_silent_client_is_closed_after_the_handshake_timeout);
	tcase_add_test(tc,
	    test_client_that_never_reads_does_not_hold_up_others);
	tcase_add_test(tc,
	    test_producer_killed_mid_frame_delivers_only_whole_messages);
	tcase_add_test(tc,
	    test_connections_opened_and_closed_leave_no_fds_behind);
	suite_add_tcase(s, tc);

	tc = tcase_create("daemon");
	/*
	 * The bounded-output test alone runs 30 to 60 s under ASan on two
	 * cores with another suite beside it: keep twice that and more.
	 */
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc,
	    test_consumer_that_never_reads_gets_bounded_output_of_events);
	tcase_add_test(tc,
	    test_empty_messages_are_bounded_by_max_queued_messages);
	tcase_add_test(tc,
	    test_queued_bytes_return_to_zero_after_requeue_and_acks);
	tcase_add_test(tc,
	    test_repeated_bad_requests_are_logged_once_per_connection);
	tcase_add_test(tc, test_busy_refusals_are_logged_once_per_connection);
	tcase_add_test(tc,
	    test_paused_connection_answers_frames_it_had_already_read);
	tcase_add_test(tc,
	    test_consumer_closed_mid_pipeline_gets_its_messages_back_first);
	tcase_add_test(tc, test_handshake_timer_stops_after_hello);
	tcase_add_test(tc,
	    test_sigterm_with_clients_in_every_state_exits_cleanly);
	tcase_add_test(tc,
	    test_refused_connection_can_write_its_hello_and_read_why);
	/* Valgrind fixes the hard limit at the soft one it starts with. */
	if (!harness_under_valgrind())
		tcase_add_test(tc,
		    test_connections_up_to_the_limit_fit_a_low_descriptor_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(abuse_suite());
}

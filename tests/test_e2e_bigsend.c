/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_bigsend.c: big SEND frames, whose payload the daemon reads
 * straight into the message node once the frame's fields are in rather
 * than into its read buffer.
 *
 * Producers here are raw connections, so that a frame can be cut
 * anywhere: in the header, in the fields, in the payload, with the next
 * frame in the same write, or never finished. Consumers use the library.
 * Every payload is a pattern of its number, checked byte by byte.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

#define BIG		(256 * 1024)	/* read into its node */
#define BODY_CAP	4096		/* replies */
/* Wire codes of the errors expected. */
#define WIRE(e)		((uint32_t)-(e))

static struct daemon	d;

/* Byte j of message i. */
static unsigned char
pattern(uint32_t i, size_t j)
{
	return (unsigned char)(i * 131u + j * 7u + (j >> 9));
}

static char *
payload_new(uint32_t i, size_t len)
{
	char	*p = malloc(len > 0 ? len : 1);
	size_t	 j;

	ck_assert_ptr_nonnull(p);
	for (j = 0; j < len; j++)
		p[j] = (char)pattern(i, j);
	return p;
}

/* Appends SEND(rid, h, message i of len bytes) to b. */
static void
enc_send(struct proto_buf *b, uint32_t rid, uint32_t h, uint32_t i,
    size_t len)
{
	char	*p = payload_new(i, len);

	ck_assert_int_eq(proto_enc_send(b, rid, h, p, len), 0);
	free(p);
}

/* A raw producer: its connection and its handle. */
struct prod {
	struct raw_conn	 rc;
	uint32_t	 h;
};

static void
prod_open(struct prod *p, const struct daemon *dm, const char *name)
{
	raw_conn_open(&p->rc, dm, 1, BODY_CAP);
	p->h = raw_open_end(&p->rc, PROTO_OPEN_TX, 2, name);
}

static chan_rx *
rx_open_cap(chan_client *c, const char *name, uint64_t capacity)
{
	chan_open_opts	 o = CHAN_OPEN_OPTS_INIT;
	chan_rx		*rx;

	o.prefetch = 4;
	o.capacity = capacity;
	expect_rc(chan_rx_open_ex(c, name, strlen(name), &o, &rx), 0,
	    "rx_open");
	return rx;
}

/* The next message must be message i of len bytes, whole. */
static void
expect_message(chan_rx *rx, uint32_t i, size_t len)
{
	chan_msg		*m = recv_msg(rx);
	const unsigned char	*p = chan_msg_data(m);
	size_t			 j;

	ck_assert_uint_eq(chan_msg_len(m), len);
	for (j = 0; j < len; j++)
		if (p[j] != pattern(i, j))
			ck_abort_msg("message %u: byte %zu differs", i, j);
	chan_msg_free(m);
}

static void
setup(void)
{
	daemon_start(&d, NULL);
}

static void
teardown(void)
{
	daemon_stop(&d);
}

/*
 * One big SEND written a few bytes at a time through its header and
 * fields, then in odd pieces: whole at the consumer.
 */
START_TEST(test_a_big_send_in_many_small_writes_arrives_whole)
{
	chan_client		*c = test_connect(&d);
	chan_rx			*rx = rx_open_cap(c, "big.split",
				    CHAN_CAPACITY_DEFAULT);
	struct proto_buf	 b;
	struct prod		 p;
	size_t			 off = 0, n = 1;

	prod_open(&p, &d, "big.split");
	proto_buf_init(&b);
	enc_send(&b, 5, p.h, 1, BIG);
	while (off < b.len) {
		if (n > b.len - off)
			n = b.len - off;
		raw_write(p.rc.fd, b.data + off, n);
		off += n;
		/* Byte by byte through the fields, then growing pieces. */
		n = off < 32 ? 1 : n * 3 + 7;
	}
	proto_buf_fini(&b);
	raw_expect_ok(&p.rc, 5);
	expect_message(rx, 1, BIG);
	raw_conn_close(&p.rc);
	chan_disconnect(c);
}
END_TEST

/*
 * Writes that end inside one big payload and carry the next frames: a
 * big SEND, a small one, another big one. All three queued in order.
 */
START_TEST(test_frames_after_a_big_payload_in_the_same_write)
{
	chan_client		*c = test_connect(&d);
	chan_rx			*rx = rx_open_cap(c, "big.mixed",
				    CHAN_CAPACITY_DEFAULT);
	struct proto_buf	 b;
	struct prod		 p;
	size_t			 cut1, cut2, first;

	prod_open(&p, &d, "big.mixed");
	proto_buf_init(&b);
	enc_send(&b, 6, p.h, 2, BIG);
	first = b.len;
	enc_send(&b, 7, p.h, 3, 100);
	enc_send(&b, 8, p.h, 4, BIG);
	/* Inside the first payload, then inside the third frame's fields. */
	cut1 = first / 2;
	cut2 = b.len - BIG - 2;
	raw_write(p.rc.fd, b.data, cut1);
	raw_write(p.rc.fd, b.data + cut1, cut2 - cut1);
	raw_write(p.rc.fd, b.data + cut2, b.len - cut2);
	proto_buf_fini(&b);
	raw_expect_ok(&p.rc, 6);
	raw_expect_ok(&p.rc, 7);
	raw_expect_ok(&p.rc, 8);
	expect_message(rx, 2, BIG);
	expect_message(rx, 3, 100);
	expect_message(rx, 4, BIG);
	raw_conn_close(&p.rc);
	chan_disconnect(c);
}
END_TEST

/*
 * Producers that die in the middle of a big payload, at several points:
 * nothing of theirs is queued, the daemon goes on (and, in the ASan
 * build, frees every half-read node: a leak fails daemon_stop).
 */
START_TEST(test_a_producer_dying_mid_payload_queues_nothing)
{
	chan_client		*c = test_connect(&d);
	chan_rx			*rx = rx_open_cap(c, "big.dies",
				    CHAN_CAPACITY_DEFAULT);
	struct proto_buf	 b;
	struct prod		 p, q;
	size_t			 cut;
	int			 k;

	for (k = 1; k <= 4; k++) {
		prod_open(&p, &d, "big.dies");
		proto_buf_init(&b);
		enc_send(&b, 9, p.h, 5, BIG);
		/* In the fields, early, halfway and one byte short. */
		cut = k == 1 ? 8 : k == 4 ? b.len - 1 : b.len * (k - 1) / 3;
		raw_write(p.rc.fd, b.data, cut);
		proto_buf_fini(&b);
		raw_conn_close(&p.rc);
	}
	/* A whole one after them is the first and only message. */
	prod_open(&q, &d, "big.dies");
	proto_buf_init(&b);
	enc_send(&b, 10, q.h, 6, BIG);
	raw_write(q.rc.fd, b.data, b.len);
	proto_buf_fini(&b);
	raw_expect_ok(&q.rc, 10);
	expect_message(rx, 6, BIG);
	expect_try_rc(rx, CHAN_EEMPTY);
	raw_conn_close(&q.rc);
	chan_disconnect(c);
	assert_serves(&d);
}
END_TEST

/*
 * Payloads of exactly the daemon's max_msg go through; one byte more is
 * refused TOOBIG with the request's rid, as any frame that size is; a
 * big send on a handle that is not there is refused BADHANDLE once read.
 */
START_TEST(test_max_size_payloads_and_bad_big_sends)
{
	chan_client		*c = test_connect(&d);
	chan_rx			*rx = rx_open_cap(c, "big.max",
				    CHAN_CAPACITY_DEFAULT);
	struct proto_buf	 b;
	struct prod		 p;

	prod_open(&p, &d, "big.max");
	proto_buf_init(&b);
	enc_send(&b, 11, p.h, 7, PROTO_DEFAULT_MAX_MSG);
	enc_send(&b, 12, p.h + 100, 8, BIG);
	enc_send(&b, 13, p.h, 9, PROTO_DEFAULT_MAX_MSG);
	raw_write(p.rc.fd, b.data, b.len);
	proto_buf_fini(&b);
	raw_expect_ok(&p.rc, 11);
	raw_expect_error(&p.rc, 12, WIRE(CHAN_EBADHANDLE));
	raw_expect_ok(&p.rc, 13);
	expect_message(rx, 7, PROTO_DEFAULT_MAX_MSG);
	expect_message(rx, 9, PROTO_DEFAULT_MAX_MSG);
	proto_buf_init(&b);
	enc_send(&b, 14, p.h, 10, PROTO_DEFAULT_MAX_MSG + 1);
	raw_write(p.rc.fd, b.data, b.len);
	proto_buf_fini(&b);
	raw_expect_error(&p.rc, 14, WIRE(CHAN_ETOOBIG));
	expect_try_rc(rx, CHAN_EEMPTY);
	raw_conn_close(&p.rc);
	chan_disconnect(c);
}
END_TEST

/*
 * Big sends into a channel of capacity 1 are held, and answered and
 * delivered in order as the consumer takes them.
 */
START_TEST(test_big_sends_held_by_a_full_channel)
{
	chan_client		*c = test_connect(&d);
	chan_rx			*rx = rx_open_cap(c, "big.held", 1);
	struct proto_buf	 b;
	struct prod		 p;
	uint32_t		 i;

	prod_open(&p, &d, "big.held");
	proto_buf_init(&b);
	for (i = 0; i < 8; i++)
		enc_send(&b, 20 + i, p.h, 20 + i, BIG);
	raw_write(p.rc.fd, b.data, b.len);
	proto_buf_fini(&b);
	for (i = 0; i < 8; i++)
		expect_message(rx, 20 + i, BIG);
	for (i = 0; i < 8; i++)
		raw_expect_ok(&p.rc, 20 + i);
	raw_conn_close(&p.rc);
	chan_disconnect(c);
}
END_TEST

/* Big sends to a durable channel are in its log: back after a restart. */
START_TEST(test_big_sends_to_a_durable_channel_survive_a_restart)
{
	const char *const	 args[] = { "--data-dir", NULL, "--durable",
				    "dur.*", NULL };
	struct daemon		 dd;
	struct proto_buf	 b;
	struct prod		 p;
	chan_client		*c;
	chan_rx			*rx;
	char			 dir[PATH_MAX];
	uint32_t		 i;
	const char		*a[5];

	make_dir(dir, sizeof(dir));
	memcpy(a, args, sizeof(a));
	a[1] = dir;
	daemon_start(&dd, a);
	prod_open(&p, &dd, "dur.big");
	proto_buf_init(&b);
	for (i = 0; i < 3; i++)
		enc_send(&b, 30 + i, p.h, 30 + i, BIG);
	raw_write(p.rc.fd, b.data, b.len);
	proto_buf_fini(&b);
	for (i = 0; i < 3; i++)
		raw_expect_ok(&p.rc, 30 + i);
	raw_conn_close(&p.rc);
	daemon_stop(&dd);
	daemon_start(&dd, a);
	c = test_connect(&dd);
	rx = rx_open_cap(c, "dur.big", CHAN_CAPACITY_DEFAULT);
	for (i = 0; i < 3; i++)
		expect_message(rx, 30 + i, BIG);
	chan_disconnect(c);
	daemon_stop(&dd);
	remove_tree(dir);
}
END_TEST

static Suite *
bigsend_suite(void)
{
	Suite	*s = suite_create("bigsend");
	TCase	*tc = tcase_create("bigsend");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_a_big_send_in_many_small_writes_arrives_whole);
	tcase_add_test(tc, test_frames_after_a_big_payload_in_the_same_write);
	tcase_add_test(tc, test_a_producer_dying_mid_payload_queues_nothing);
	tcase_add_test(tc, test_max_size_payloads_and_bad_big_sends);
	tcase_add_test(tc, test_big_sends_held_by_a_full_channel);
	tcase_add_test(tc, test_big_sends_to_a_durable_channel_survive_a_restart);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(bigsend_suite());
}

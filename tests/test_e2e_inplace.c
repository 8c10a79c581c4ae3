/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_inplace.c: big payloads, which the daemon writes to a consumer
 * straight from the queued message rather than from a copy, stay whole
 * when the message is acknowledged, goes back to the queue or is
 * delivered again while a write of it has not finished.
 *
 * The consumers here are raw connections that stop reading, so that the
 * daemon's writes to them stay outstanding (the socket buffer holds far
 * less than one payload); producers use the library. Every payload is a
 * pattern of its number, checked byte by byte wherever it arrives. A
 * message freed under a write would be sent from reused memory (more big
 * sends follow, which reuse it) or read after free (ASan build).
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

#define BIG		(256 * 1024)	/* over the daemon's copy threshold */
#define NMSG		24		/* 6 MiB: more than any output mark */
/*
 * Messages surely delivered (in the consumer's output) once every send is
 * confirmed: 1 MiB, under the output mark below which the daemon always
 * delivers to a consumer with credit.
 */
#define SURE		4
#define BODY_CAP	(BIG + 1024)

static struct daemon	d;

/* Negative CHAN_E* of a wire code (the codes of chanclient.h). */
static int
conn_code(uint32_t code)
{
	return -(int)code;
}

/* Byte j of message i. */
static unsigned char
pattern(uint32_t i, size_t j)
{
	return (unsigned char)(i * 131u + j * 7u + (j >> 9));
}

static void
fill(char *buf, uint32_t i)
{
	size_t	j;

	for (j = 0; j < BIG; j++)
		buf[j] = (char)pattern(i, j);
}

/* Whether data is message i, whole. */
static bool
is_message(const void *data, size_t len, uint32_t i)
{
	const unsigned char	*p = data;
	size_t			 j;

	if (len != BIG)
		return false;
	for (j = 0; j < len; j++)
		if (p[j] != pattern(i, j))
			return false;
	return true;
}

/* Sends messages first .. first + n - 1 and waits for their OKs. */
static void
send_big(chan_tx *tx, uint32_t first, uint32_t n)
{
	char		*buf = malloc(BIG);
	uint32_t	 i;

	ck_assert_ptr_nonnull(buf);
	for (i = first; i < first + n; i++) {
		fill(buf, i);
		expect_rc(chan_tx_send_async(tx, buf, BIG), 0, "send_async");
	}
	expect_rc(chan_tx_flush(tx), 0, "flush");
	free(buf);
}

/* A raw consumer and its handle. */
struct consumer {
	struct raw_conn	c;
	uint32_t	h;
};

/*
 * Attaches as consumer of name with credit for NMSG messages. A previous
 * consumer's CLOSE, on another connection, may not have been handled yet:
 * BUSY, and only BUSY, is retried, each try a round trip (bounded).
 */
static void
consumer_open(struct consumer *p, const char *name)
{
	long long		deadline = now_ms() + HARNESS_WAIT_MS;
	struct proto_buf	b;
	struct proto_msg	m;

	raw_conn_open(&p->c, &d, 1, BODY_CAP);
	do {
		proto_buf_init(&b);
		ck_assert_int_eq(proto_enc_open(&b, PROTO_OPEN_RX, 2, name,
		    strlen(name)), 0);
		raw_send(&p->c, &b);
		proto_buf_fini(&b);
		raw_expect(&p->c, &m);
	} while (m.op == PROTO_ERROR && conn_code(m.code) == CHAN_EBUSY &&
	    now_ms() < deadline);
	ck_assert_msg(m.op == PROTO_HANDLE, "OPEN_RX answered with %s",
	    proto_op_name((int)m.op));
	p->h = m.handle;
	raw_credit(&p->c, 0, p->h, NMSG);
}

/*
 * Reads DELIVERs, each of which must be the next message (numbers from
 * first, sequence numbers from 1) and whole, until max of them or a frame
 * other than DELIVER, which goes to *m. Returns how many it read.
 */
static uint32_t
expect_deliveries(struct consumer *p, uint32_t first, uint32_t max,
    struct proto_msg *m)
{
	uint32_t	n = 0;

	while (n < max) {
		raw_expect(&p->c, m);
		if (m->op != PROTO_DELIVER)
			return n;
		ck_assert_uint_eq(m->seq, n + 1);
		ck_assert_msg(is_message(m->payload, m->payload_len, first + n),
		    "delivery %u is not message %u, whole", n + 1, first + n);
		n++;
	}
	return n;
}

/* Receives messages first .. first + n - 1 through the library. */
static void
recv_big(chan_rx *rx, uint32_t first, uint32_t n, int redelivered)
{
	chan_msg	*m;
	uint32_t	 i;

	for (i = first; i < first + n; i++) {
		m = recv_msg(rx);
		ck_assert_msg(is_message(chan_msg_data(m), chan_msg_len(m), i),
		    "message %u not whole", i);
		if (redelivered >= 0)
			ck_assert_int_eq(!!chan_msg_redelivered(m),
			    redelivered);
		chan_msg_free(m);
	}
}

START_TEST(test_an_ack_during_the_write_leaves_the_payloads_whole)
{
	struct consumer	 p;
	struct proto_msg	 m;
	chan_client		*c;
	chan_tx			*tx;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "big");
	consumer_open(&p, "big");
	send_big(tx, 0, NMSG);
	/* Frees the first SURE while their writes are outstanding... */
	raw_ack(&p.c, 0, p.h, SURE);
	/* ... and these big sends may get that memory. */
	send_big(tx, 1000, 8);
	/* Credit for NMSG: those, whole, and nothing else. */
	ck_assert_uint_eq(expect_deliveries(&p, 0, NMSG, &m), NMSG);
	raw_ping(&p.c, 7);
	raw_conn_close(&p.c);
	expect_rc(chan_tx_close(tx), 0, "tx_close");
	chan_disconnect(c);
	daemon_stop(&d);
}
END_TEST

/*
 * The first consumer detaches with its deliveries unread; the second gets
 * them again while the first's writes are still outstanding, so the same
 * messages are in two writes at once; the second acknowledges some and
 * the first connection goes away unread. Every payload stays whole.
 */
START_TEST(test_a_message_in_two_writes_at_once_stays_whole)
{
	struct consumer	 a, b2;
	struct proto_msg	 m;
	struct proto_buf	 b;
	chan_client		*c;
	chan_tx			*tx;
	chan_rx			*rx;
	uint32_t		 n;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "big");
	consumer_open(&a, "big");
	send_big(tx, 0, NMSG);
	proto_buf_init(&b);
	ck_assert_int_eq(proto_enc_close(&b, 5, a.h), 0);
	raw_send(&a.c, &b);
	proto_buf_fini(&b);
	/* b2 gets a's deliveries again, with a's writes outstanding. */
	consumer_open(&b2, "big");
	raw_ack(&b2.c, 0, b2.h, SURE);
	send_big(tx, 1000, 8);
	/* a gets what it had before its CLOSE, whole, then the OK. */
	n = expect_deliveries(&a, 0, NMSG, &m);
	ck_assert_uint_ge(n, SURE);
	ck_assert_uint_lt(n, NMSG);
	ck_assert_msg(m.op == PROTO_OK && m.rid == 5, "got %s",
	    proto_op_name((int)m.op));
	raw_conn_close(&a.c);
	ck_assert_uint_eq(expect_deliveries(&b2, 0, NMSG, &m), NMSG);
	raw_ping(&b2.c, 8);
	/* b2 goes unacknowledged beyond SURE: the rest comes back. */
	raw_conn_close(&b2.c);
	rx = rx_open(c, "big", 4);
	recv_big(rx, SURE, NMSG - SURE, 1);
	recv_big(rx, 1000, 8, 0);
	expect_rc(chan_rx_close(rx), 0, "rx_close");
	expect_rc(chan_tx_close(tx), 0, "tx_close");
	chan_disconnect(c);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

/*
 * A consumer whose connection closes with big writes outstanding: the
 * writes fail, every message comes back whole for the next consumer.
 */
START_TEST(test_a_consumer_that_leaves_mid_write_loses_nothing)
{
	struct consumer	 p;
	struct proto_msg	 m;
	chan_client		*c;
	chan_tx			*tx;
	chan_rx			*rx;
	int			 round;

	daemon_start(&d, NULL);
	c = test_connect(&d);
	tx = tx_open(c, "big");
	send_big(tx, 0, NMSG);
	for (round = 0; round < 3; round++) {
		/* Deliveries under way: the first has come; the rest wait. */
		consumer_open(&p, "big");
		ck_assert_uint_eq(expect_deliveries(&p, 0, 1, &m), 1);
		raw_conn_close(&p.c);
		/* The next round's sends may get freed memory. */
		send_big(tx, 1000 + (uint32_t)round * 10, 2);
	}
	/* Those that waited behind the output mark were never delivered. */
	rx = rx_open(c, "big", 4);
	recv_big(rx, 0, 1, 1);
	recv_big(rx, 1, NMSG - 1, -1);
	for (round = 0; round < 3; round++)
		recv_big(rx, 1000 + (uint32_t)round * 10, 2, -1);
	expect_rc(chan_rx_close(rx), 0, "rx_close");
	expect_rc(chan_tx_close(tx), 0, "tx_close");
	chan_disconnect(c);
	assert_serves(&d);
	daemon_stop(&d);
}
END_TEST

static Suite *
inplace_suite(void)
{
	Suite	*s = suite_create("e2e_inplace");
	TCase	*tc = tcase_create("inplace");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_an_ack_during_the_write_leaves_the_payloads_whole);
	tcase_add_test(tc, test_a_message_in_two_writes_at_once_stays_whole);
	tcase_add_test(tc,
	    test_a_consumer_that_leaves_mid_write_loses_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(inplace_suite()) == EXIT_SUCCESS ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * test_e2e_flow.c: bounded channels in a real chand, spoken to in raw
 * frames: held sends and their late OK, SEND_TIMED, rendezvous, deferred
 * CLOSE, connections that leave with held sends, CAPACITY errors, and
 * the daemon's memory while a fast producer floods a slow consumer.
 *
 * Whether a reply has not come yet is checked with PING, never with a
 * timeout: the daemon answers a PING after everything earlier requests
 * completed at once, so an OK that is still held comes after the PING's.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "chanclient.h"
#include "e2e_util.h"
#include "harness.h"
#include "proto.h"

#define BODY_CAP	(2 * 1024 * 1024)

/* A raw connection; m's strings point into body until the next read. */
struct peer {
	int			 fd;
	struct proto_decoder	*dec;
	char			*body;
	struct proto_buf	 out;
};

static void
peer_open(struct peer *p, const struct daemon *d)
{
	p->fd = raw_connect(d);
	raw_hello(p->fd);
	p->dec = proto_decoder_new(PROTO_DEFAULT_MAX_MSG);
	p->body = malloc(BODY_CAP);
	ck_assert_ptr_nonnull(p->dec);
	ck_assert_ptr_nonnull(p->body);
	proto_buf_init(&p->out);
}

static void
peer_close(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	proto_decoder_free(p->dec);
	free(p->body);
	proto_buf_fini(&p->out);
}

/* Writes what the encoders put in p->out. */
static void
peer_flush(struct peer *p)
{
	raw_write(p->fd, p->out.data, p->out.len);
	proto_buf_consume(&p->out, p->out.len);
}

/* The next frame; false if the daemon closed the connection. */
static bool
peer_read(struct peer *p, struct proto_msg *m)
{
	ssize_t	n;
	int	rc;

	n = raw_read_frame(p->fd, p->body, BODY_CAP, HARNESS_WAIT_MS);
	if (n < 0)
		return false;
	/* Failure messages print fields the frame's op may not set. */
	memset(m, 0, sizeof(*m));
	rc = proto_decode(p->dec, p->body, (size_t)n, m);
	ck_assert_msg(rc == 0, "daemon frame does not decode: %s",
	    chan_errname(rc));
	return true;
}

static void
peer_expect(struct peer *p, struct proto_msg *m)
{
	ck_assert_msg(peer_read(p, m), "daemon closed the connection");
}

static const char *
text_of(const struct proto_msg *m)
{
	static char	buf[PROTO_ERRMSG_MAX + 1];
	size_t		len = m->text_len < PROTO_ERRMSG_MAX ? m->text_len :
			    PROTO_ERRMSG_MAX;

	if (m->text != NULL)
		memcpy(buf, m->text, len);
	buf[m->text != NULL ? len : 0] = '\0';
	return buf;
}

static void
peer_expect_ok(struct peer *p, uint32_t rid)
{
	struct proto_msg	m;

	peer_expect(p, &m);
	ck_assert_msg(m.op == PROTO_OK && m.rid == rid,
	    "got %s rid %u code %u \"%s\", wanted OK rid %u",
	    proto_op_name((int)m.op), m.rid, m.code, text_of(&m), rid);
}

/* The next frame must be ERROR(rid, code); returns its message. */
static const char *
peer_expect_error(struct peer *p, uint32_t rid, int code)
{
	struct proto_msg	m;

	peer_expect(p, &m);
	ck_assert_msg(m.op == PROTO_ERROR && m.rid == rid &&
	    m.code == (uint32_t)-code,
	    "got %s rid %u code %u \"%s\", wanted ERROR(rid %u, %s)",
	    proto_op_name((int)m.op), m.rid, m.code, text_of(&m), rid,
	    chan_errname(code));
	return text_of(&m);
}

/* PING, and its OK must be the very next frame: nothing else pending. */
static void
peer_barrier(struct peer *p, uint32_t rid)
{
	ck_assert_int_eq(proto_enc_ping(&p->out, rid), 0);
	peer_flush(p);
	peer_expect_ok(p, rid);
}

/* OPEN_TX or OPEN_RX of name with an optional message capacity. */
static void
peer_open_req(struct peer *p, enum proto_op op, uint32_t rid,
    const char *name, const struct proto_cap *cap)
{
	ck_assert_int_eq(proto_enc_open_cap(&p->out, op, rid, name,
	    strlen(name), cap, NULL), 0);
	peer_flush(p);
}

/* Opens an end and returns its handle. cap NULL: no capacity stated. */
static uint32_t
peer_open_end(struct peer *p, enum proto_op op, uint32_t rid,
    const char *name, const struct proto_cap *cap)
{
	struct proto_msg	m;

	peer_open_req(p, op, rid, name, cap);
	peer_expect(p, &m);
	ck_assert_msg(m.op == PROTO_HANDLE && m.rid == rid,
	    "OPEN of '%s' answered with %s \"%s\"", name,
	    proto_op_name((int)m.op), text_of(&m));
	return m.handle;
}

static const struct proto_cap *
cap_of(uint64_t n)
{
	static struct proto_cap	c;

	c.kind = PROTO_CAP_VALUE;
	c.value = n;
	return &c;
}

static void
peer_send(struct peer *p, uint32_t rid, uint32_t h, const char *s)
{
	ck_assert_int_eq(proto_enc_send(&p->out, rid, h, s, strlen(s)), 0);
	peer_flush(p);
}

static void
peer_send_timed(struct peer *p, uint32_t rid, uint32_t h, const char *s,
    uint32_t wait_ms)
{
	ck_assert_int_eq(proto_enc_send_timed(&p->out, rid, h, s, strlen(s),
	    wait_ms), 0);
	peer_flush(p);
}

static void
peer_credit(struct peer *p, uint32_t h, uint32_t n)
{
	ck_assert_int_eq(proto_enc_credit(&p->out, 0, h, n), 0);
	peer_flush(p);
}

/* The next frame must be DELIVER of s on h; it is acknowledged. */
static void
peer_expect_deliver(struct peer *p, uint32_t h, const char *s)
{
	struct proto_msg	m;

	peer_expect(p, &m);
	ck_assert_msg(m.op == PROTO_DELIVER, "got %s \"%s\", wanted DELIVER "
	    "of \"%s\"", proto_op_name((int)m.op), text_of(&m), s);
	ck_assert_uint_eq(m.handle, h);
	ck_assert_msg(m.payload_len == strlen(s) &&
	    memcmp(m.payload, s, m.payload_len) == 0,
	    "delivered \"%.*s\", wanted \"%s\"", (int)m.payload_len,
	    m.payload, s);
	ck_assert_int_eq(proto_enc_ack(&p->out, 0, h, m.seq), 0);
	peer_flush(p);
}

static void
peer_expect_disconnected(struct peer *p, uint32_t h)
{
	struct proto_msg	m;

	peer_expect(p, &m);
	ck_assert_msg(m.op == PROTO_DISCONNECTED && m.handle == h,
	    "got %s, wanted DISCONNECTED on %u", proto_op_name((int)m.op), h);
}

/*
 * The daemon has read the end of p's stream and dropped its handles
 * once it closes its own side: shut down ours and read to the end.
 */
static void
peer_leave(struct peer *p)
{
	struct proto_msg	m;

	ck_assert_int_eq(shutdown(p->fd, SHUT_WR), 0);
	while (peer_read(p, &m))
		;
	peer_close(p);
}

START_TEST(test_send_to_a_full_channel_is_answered_once_the_consumer_takes)
{
	struct daemon	d;
	struct peer	tx, rx;
	uint32_t	th, rh;

	daemon_start(&d, NULL);
	peer_open(&tx, &d);
	peer_open(&rx, &d);
	th = peer_open_end(&tx, PROTO_OPEN_TX, 2, "full", cap_of(1));
	peer_send(&tx, 10, th, "one");
	peer_expect_ok(&tx, 10);
	peer_send(&tx, 11, th, "two");
	peer_barrier(&tx, 12);		/* 11 is held */

	rh = peer_open_end(&rx, PROTO_OPEN_RX, 2, "full", NULL);
	peer_barrier(&rx, 3);		/* no credit, no delivery */
	peer_barrier(&tx, 13);		/* still held */
	peer_credit(&rx, rh, 1);
	peer_expect_deliver(&rx, rh, "one");
	peer_expect_ok(&tx, 11);
	peer_credit(&rx, rh, 1);
	peer_expect_deliver(&rx, rh, "two");
	peer_barrier(&rx, 4);

	peer_close(&tx);
	peer_close(&rx);
	daemon_stop(&d);
}
END_TEST

/* The next frame must be DELIVER of s with flags; it is acknowledged. */
static void
peer_expect_deliver_flags(struct peer *p, uint32_t h, const char *s,
    uint32_t flags)
{
	struct proto_msg	m;

	peer_expect(p, &m);
	ck_assert_msg(m.op == PROTO_DELIVER && m.handle == h &&
	    m.payload_len == strlen(s) &&
	    memcmp(m.payload, s, m.payload_len) == 0, "got %s \"%.*s\", "
	    "wanted DELIVER of \"%s\"", proto_op_name((int)m.op),
	    (int)m.payload_len, m.payload != NULL ? m.payload : "", s);
	ck_assert_msg(m.flags == flags, "\"%s\" delivered with flags %u, "
	    "wanted %u", s, m.flags, flags);
	ck_assert_int_eq(proto_enc_ack(&p->out, 0, h, m.seq), 0);
	peer_flush(p);
}

/*
 * SEND_MARKED: a send like SEND (held by a full channel, OK once
 * queued) whose message's first delivery carries the REDELIVERED flag;
 * flags other than that one are malformed, and the frame is refused
 * whole.
 */
START_TEST(test_send_marked_is_held_like_send_and_delivered_marked)
{
	struct daemon	d;
	struct peer	tx, rx;
	uint32_t	th, rh;

	daemon_start(&d, NULL);
	peer_open(&tx, &d);
	peer_open(&rx, &d);
	th = peer_open_end(&tx, PROTO_OPEN_TX, 2, "mark", cap_of(1));
	ck_assert_int_eq(proto_enc_send_marked(&tx.out, 10, th, "one", 3,
	    PROTO_FLAG_REDELIVERED), 0);
	peer_flush(&tx);
	peer_expect_ok(&tx, 10);
	ck_assert_int_eq(proto_enc_send_marked(&tx.out, 11, th, "two", 3,
	    PROTO_FLAG_REDELIVERED), 0);
	peer_flush(&tx);
	peer_barrier(&tx, 12);		/* 11 is held */
	/* Unmarked (flags 0), and a bad flag: PROTO, nothing queued. */
	ck_assert_int_eq(proto_enc_send_marked(&tx.out, 13, th, "three", 5,
	    0), 0);
	ck_assert_int_eq(proto_enc_send_marked(&tx.out, 14, th, "bad", 3,
	    0x2), 0);
	peer_flush(&tx);
	peer_expect_error(&tx, 14, CHAN_EPROTO);
	peer_send(&tx, 15, th, "four");

	rh = peer_open_end(&rx, PROTO_OPEN_RX, 2, "mark", NULL);
	peer_credit(&rx, rh, 1);
	peer_expect_deliver_flags(&rx, rh, "one", PROTO_FLAG_REDELIVERED);
	peer_expect_ok(&tx, 11);
	peer_credit(&rx, rh, 1);
	peer_expect_deliver_flags(&rx, rh, "two", PROTO_FLAG_REDELIVERED);
	peer_expect_ok(&tx, 13);
	peer_credit(&rx, rh, 1);
	peer_expect_deliver_flags(&rx, rh, "three", 0);
	peer_expect_ok(&tx, 15);
	peer_credit(&rx, rh, 1);
	peer_expect_deliver_flags(&rx, rh, "four", 0);
	peer_barrier(&rx, 3);
	peer_barrier(&tx, 16);

	peer_close(&tx);
	peer_close(&rx);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_send_timed_zero_on_a_full_channel_is_full_at_once)
{
	struct daemon	d;
	struct peer	tx, rx;
	uint32_t	th, rh;
	const char	*why;

	daemon_start(&d, NULL);
	peer_open(&tx, &d);
	th = peer_open_end(&tx, PROTO_OPEN_TX, 2, "tiny", cap_of(1));
	peer_send_timed(&tx, 20, th, "kept", 0);
	peer_expect_ok(&tx, 20);
	peer_send_timed(&tx, 21, th, "dropped", 0);
	why = peer_expect_error(&tx, 21, CHAN_EFULL);
	ck_assert_msg(strstr(why, "'tiny'") != NULL, "FULL says \"%s\"", why);
	peer_barrier(&tx, 22);

	/* The refused message was not queued. */
	peer_open(&rx, &d);
	rh = peer_open_end(&rx, PROTO_OPEN_RX, 2, "tiny", NULL);
	peer_credit(&rx, rh, 5);
	peer_expect_deliver(&rx, rh, "kept");
	peer_barrier(&rx, 3);

	peer_close(&tx);
	peer_close(&rx);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_send_timed_on_a_full_channel_is_full_after_its_wait)
{
	struct daemon	d;
	struct peer	tx, rx;
	uint32_t	th, rh;

	daemon_start(&d, NULL);
	peer_open(&tx, &d);
	th = peer_open_end(&tx, PROTO_OPEN_TX, 2, "slow", cap_of(1));
	peer_send(&tx, 30, th, "kept");
	peer_expect_ok(&tx, 30);
	peer_send_timed(&tx, 31, th, "late", 50);
	/* Only that the answer comes: how long it took is not asserted. */
	peer_expect_error(&tx, 31, CHAN_EFULL);
	/* The channel is still full: a send that may wait is held. */
	peer_send_timed(&tx, 32, th, "next", 60000);
	peer_barrier(&tx, 33);

	peer_open(&rx, &d);
	rh = peer_open_end(&rx, PROTO_OPEN_RX, 2, "slow", NULL);
	peer_credit(&rx, rh, 5);
	peer_expect_deliver(&rx, rh, "kept");
	peer_expect_deliver(&rx, rh, "next");
	peer_expect_ok(&tx, 32);
	peer_barrier(&rx, 3);

	peer_close(&tx);
	peer_close(&rx);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_rendezvous_send_is_answered_only_after_its_delivery)
{
	struct daemon	d;
	struct peer	tx, rx;
	uint32_t	th, rh;

	daemon_start(&d, NULL);
	peer_open(&tx, &d);
	peer_open(&rx, &d);
	th = peer_open_end(&tx, PROTO_OPEN_TX, 2, "meet", cap_of(0));
	rh = peer_open_end(&rx, PROTO_OPEN_RX, 2, "meet", NULL);
	peer_send(&tx, 40, th, "hand over");
	peer_barrier(&tx, 41);		/* nobody has taken it */
	peer_credit(&rx, rh, 1);
	peer_expect_deliver(&rx, rh, "hand over");
	peer_expect_ok(&tx, 40);

	/* try_send: refused while the consumer is not waiting... */
	peer_send_timed(&tx, 42, th, "try", 0);
	peer_expect_error(&tx, 42, CHAN_EFULL);
	/* ...taken while it is. */
	peer_credit(&rx, rh, 1);
	peer_barrier(&rx, 3);
	peer_send_timed(&tx, 43, th, "try again", 0);
	peer_expect_ok(&tx, 43);
	peer_expect_deliver(&rx, rh, "try again");
	peer_barrier(&rx, 4);

	peer_close(&tx);
	peer_close(&rx);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_a_full_channel_delays_no_other_channel_or_connection)
{
	struct daemon	d;
	struct peer	a, b;
	uint32_t	afull, aother, bfull, bother, bfree;

	daemon_start(&d, NULL);
	peer_open(&a, &d);
	peer_open(&b, &d);
	afull = peer_open_end(&a, PROTO_OPEN_TX, 2, "jam", cap_of(1));
	aother = peer_open_end(&a, PROTO_OPEN_TX, 3, "free", NULL);
	bfull = peer_open_end(&b, PROTO_OPEN_TX, 2, "jam", NULL);
	bother = peer_open_end(&b, PROTO_OPEN_TX, 3, "free too", NULL);
	bfree = peer_open_end(&b, PROTO_OPEN_TX, 4, "free", NULL);

	peer_send(&a, 10, afull, "fills it");
	peer_expect_ok(&a, 10);
	peer_send(&a, 11, afull, "held");
	peer_send(&b, 20, bfull, "held too");
	/* The same connection, another channel. */
	peer_send(&a, 12, aother, "goes");
	peer_expect_ok(&a, 12);
	/* Another connection, another channel, and the first one's. */
	peer_send(&b, 21, bother, "goes");
	peer_expect_ok(&b, 21);
	peer_send(&b, 22, bfree, "goes");
	peer_expect_ok(&b, 22);
	peer_barrier(&a, 13);
	peer_barrier(&b, 23);

	peer_close(&a);
	peer_close(&b);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_close_of_a_producer_waits_for_its_held_sends)
{
	struct daemon	d;
	struct peer	tx, rx;
	uint32_t	th, rh;

	daemon_start(&d, NULL);
	peer_open(&tx, &d);
	peer_open(&rx, &d);
	th = peer_open_end(&tx, PROTO_OPEN_TX, 2, "drain", cap_of(1));
	rh = peer_open_end(&rx, PROTO_OPEN_RX, 2, "drain", NULL);
	peer_send(&tx, 10, th, "first");
	peer_expect_ok(&tx, 10);
	peer_send(&tx, 11, th, "second");
	ck_assert_int_eq(proto_enc_close(&tx.out, 12, th), 0);
	peer_flush(&tx);
	peer_barrier(&tx, 13);		/* neither the send nor the close */
	/* A closing handle takes no more requests. */
	peer_send(&tx, 14, th, "after");
	peer_expect_error(&tx, 14, CHAN_EBADHANDLE);

	peer_credit(&rx, rh, 1);
	peer_expect_deliver(&rx, rh, "first");
	peer_expect_ok(&tx, 11);
	peer_expect_ok(&tx, 12);
	/* The producer was attached until then: its message comes first. */
	peer_credit(&rx, rh, 1);
	peer_expect_deliver(&rx, rh, "second");
	peer_credit(&rx, rh, 1);
	peer_expect_disconnected(&rx, rh);

	peer_close(&tx);
	peer_close(&rx);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_held_sends_of_a_connection_that_leaves_are_never_delivered)
{
	struct daemon	d;
	struct peer	gone, stays, rx;
	uint32_t	gh, sh, rh;

	daemon_start(&d, NULL);
	peer_open(&gone, &d);
	peer_open(&stays, &d);
	peer_open(&rx, &d);
	gh = peer_open_end(&gone, PROTO_OPEN_TX, 2, "left", cap_of(1));
	sh = peer_open_end(&stays, PROTO_OPEN_TX, 2, "left", NULL);
	peer_send(&gone, 10, gh, "queued");
	peer_expect_ok(&gone, 10);
	peer_send(&gone, 11, gh, "held, then lost");
	peer_send(&gone, 12, gh, "held, then lost too");
	peer_barrier(&gone, 13);
	peer_send(&stays, 20, sh, "held behind them");
	peer_barrier(&stays, 21);
	peer_leave(&gone);

	rh = peer_open_end(&rx, PROTO_OPEN_RX, 2, "left", NULL);
	peer_credit(&rx, rh, 10);
	peer_expect_deliver(&rx, rh, "queued");
	peer_expect_deliver(&rx, rh, "held behind them");
	peer_expect_ok(&stays, 20);
	peer_barrier(&rx, 3);

	peer_close(&stays);
	peer_close(&rx);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_open_with_another_capacity_is_refused_naming_the_channel)
{
	struct daemon		 d;
	struct peer		 p;
	const struct proto_cap	 unb = { PROTO_CAP_UNBOUNDED, 0 };
	const char		*why;

	daemon_start(&d, NULL);
	peer_open(&p, &d);
	peer_open_end(&p, PROTO_OPEN_TX, 2, "sized", cap_of(5));
	peer_open_req(&p, PROTO_OPEN_RX, 3, "sized", cap_of(6));
	why = peer_expect_error(&p, 3, CHAN_ECAPACITY);
	ck_assert_msg(strstr(why, "'sized'") != NULL &&
	    strstr(why, "capacity 5 messages") != NULL, "CAPACITY says \"%s\"",
	    why);
	peer_open_req(&p, PROTO_OPEN_TX, 4, "sized", &unb);
	peer_expect_error(&p, 4, CHAN_ECAPACITY);
	/* The same capacity, or none stated, is accepted. */
	peer_open_end(&p, PROTO_OPEN_RX, 5, "sized", cap_of(5));
	peer_open_end(&p, PROTO_OPEN_TX, 6, "sized", NULL);

	/* An unbounded channel refuses a bound, by bytes too. */
	peer_open_end(&p, PROTO_OPEN_TX, 7, "open", &unb);
	peer_open_req(&p, PROTO_OPEN_TX, 8, "open", cap_of(65536));
	peer_expect_error(&p, 8, CHAN_ECAPACITY);
	ck_assert_int_eq(proto_enc_open_cap(&p.out, PROTO_OPEN_TX, 9, "open",
	    4, NULL, cap_of(100)), 0);
	peer_flush(&p);
	why = peer_expect_error(&p, 9, CHAN_ECAPACITY);
	ck_assert_msg(strstr(why, "'open'") != NULL, "CAPACITY says \"%s\"",
	    why);
	peer_barrier(&p, 10);

	peer_close(&p);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_held_sends_count_toward_the_daemon_limit)
{
	const char	*args[] = { "--max-queued-messages", "3", NULL };
	struct daemon	 d;
	struct peer	 tx;
	uint32_t	 th;

	daemon_start(&d, args);
	peer_open(&tx, &d);
	th = peer_open_end(&tx, PROTO_OPEN_TX, 2, "capped", cap_of(1));
	peer_send(&tx, 10, th, "queued");
	peer_expect_ok(&tx, 10);
	peer_send(&tx, 11, th, "held");
	peer_send(&tx, 12, th, "held");
	/* Over the limit: refused at once, not held. */
	peer_send(&tx, 13, th, "refused");
	peer_expect_error(&tx, 13, CHAN_ELIMIT);
	peer_barrier(&tx, 14);

	peer_close(&tx);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_the_daemon_default_capacity_applies_to_new_channels)
{
	const char	*args[] = { "--default-capacity", "1",
			    "--default-capacity-bytes", "unbounded", NULL };
	const char	*bad[] = { CHAND_BIN, "--default-capacity",
			    "4294967296", NULL };
	const struct proto_cap unb = { PROTO_CAP_UNBOUNDED, 0 };
	struct cmd_result r;
	struct proto_msg m;
	struct daemon	 d;
	struct peer	 p;
	uint32_t	 h;

	run_cmd(bad, NULL, 0, HARNESS_WAIT_MS, &r);
	ck_assert_msg(r.code == 2 && strstr(r.err, "--default-capacity") !=
	    NULL, "exit %d, stderr: %s", r.code, r.err);
	cmd_result_fini(&r);

	daemon_start(&d, args);
	peer_open(&p, &d);
	h = peer_open_end(&p, PROTO_OPEN_TX, 2, "dflt", NULL);
	peer_send(&p, 10, h, "queued");
	peer_expect_ok(&p, 10);
	peer_send(&p, 11, h, "held");
	peer_barrier(&p, 12);
	/* What the defaults made is the channel's capacity. */
	peer_open_end(&p, PROTO_OPEN_RX, 3, "dflt", cap_of(1));
	ck_assert_int_eq(proto_enc_open_cap(&p.out, PROTO_OPEN_TX, 4, "dflt",
	    4, NULL, &unb), 0);
	peer_flush(&p);
	peer_expect(&p, &m);
	ck_assert_msg(m.op == PROTO_HANDLE && m.rid == 4, "got %s \"%s\"",
	    proto_op_name((int)m.op), text_of(&m));
	peer_open_req(&p, PROTO_OPEN_TX, 5, "dflt", cap_of(2));
	peer_expect_error(&p, 5, CHAN_ECAPACITY);
	peer_barrier(&p, 6);

	peer_close(&p);
	daemon_stop(&d);
}
END_TEST

/* Kilobytes of VmHWM (peak) or VmRSS of pid, from /proc. */
static long
proc_status_kib(pid_t pid, const char *field)
{
	char	path[64], line[256], fmt[32];
	long	kib = -1;
	FILE	*f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	snprintf(fmt, sizeof fmt, "%s: %%ld kB", field);
	if ((f = fopen(path, "r")) == NULL)
		ck_abort_msg("open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, fmt, &kib) == 1)
			break;
	}
	fclose(f);
	ck_assert_msg(kib >= 0, "no %s in %s", field, path);
	return kib;
}

#define FLOOD_MSG	(64 * 1024)
#define FLOOD_COUNT	4096		/* 256 MiB in all */
#define FLOOD_CAP	16

struct flood {
	int		fd;
	uint32_t	handle;
};

/* The producer: every SEND at once, rid 0, never reading a reply. */
static int
flood_child(void *arg)
{
	const struct flood	*f = arg;
	struct proto_buf	 b;
	static char		 payload[FLOOD_MSG];
	size_t			 off;
	ssize_t			 n;
	int			 i;

	memset(payload, 'f', sizeof payload);
	proto_buf_init(&b);
	for (i = 0; i < FLOOD_COUNT; i++) {
		proto_buf_consume(&b, b.len);
		if (proto_enc_send(&b, 0, f->handle, payload,
		    sizeof payload) != 0)
			return 2;
		for (off = 0; off < b.len; off += (size_t)n) {
			n = write(f->fd, b.data + off, b.len - off);
			if (n < 0 && errno == EINTR)
				n = 0;
			else if (n <= 0)
				return 3;
		}
	}
	proto_buf_fini(&b);
	return 0;
}

START_TEST(test_memory_stays_bounded_while_a_fast_producer_floods)
{
	struct daemon	d;
	struct peer	tx, rx, other;
	struct proto_msg m;
	struct flood	f;
	uint32_t	rh, oh;
	long		start, peak;
	pid_t		child;
	int		got;
	char		*env, opts[512];

#ifdef __SANITIZE_ADDRESS__
	/* ASan's quarantine holds freed memory back: turn it off. */
	env = getenv("ASAN_OPTIONS");
	snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0:"
	    "thread_local_quarantine_size_kb=0", env != NULL ? env : "",
	    env != NULL && *env != '\0' ? ":" : "");
	ck_assert_int_eq(setenv("ASAN_OPTIONS", opts, 1), 0);
#else
	(void)env;
	(void)opts;
#endif
	daemon_start(&d, NULL);
	peer_open(&tx, &d);
	peer_open(&rx, &d);
	peer_open(&other, &d);
	f.fd = tx.fd;
	f.handle = peer_open_end(&tx, PROTO_OPEN_TX, 2, "flood",
	    cap_of(FLOOD_CAP));
	rh = peer_open_end(&rx, PROTO_OPEN_RX, 2, "flood", NULL);
	oh = peer_open_end(&other, PROTO_OPEN_TX, 2, "bystander", NULL);
	start = proc_status_kib(d.pid, "VmRSS");

	child = child_fork(flood_child, &f);
	/* The consumer takes one message per round trip: slow. */
	for (got = 0; got < FLOOD_COUNT; got++) {
		peer_credit(&rx, rh, 1);
		peer_expect(&rx, &m);
		ck_assert_msg(m.op == PROTO_DELIVER, "got %s",
		    proto_op_name((int)m.op));
		ck_assert_uint_eq(m.payload_len, FLOOD_MSG);
		ck_assert_int_eq(proto_enc_ack(&rx.out, 0, rh, m.seq), 0);
		peer_flush(&rx);
		/* Midway, a bystander is served while the flood waits. */
		if (got == FLOOD_COUNT / 4) {
			peer_send(&other, 10, oh, "not delayed");
			peer_expect_ok(&other, 10);
		}
	}
	child_wait_ok(child);
	peer_barrier(&rx, 3);
	peak = proc_status_kib(d.pid, "VmHWM");
	printf("flood: %d x %d bytes through capacity %d: daemon VmRSS at "
	    "start %ld KiB, VmHWM after %ld KiB\n", FLOOD_COUNT, FLOOD_MSG,
	    FLOOD_CAP, start, peak);
	ck_assert_msg(peak - start < 64 * 1024, "daemon peak RSS %ld KiB, "
	    "%ld KiB at start", peak, start);

	peer_close(&tx);
	peer_close(&rx);
	peer_close(&other);
	daemon_stop(&d);
}
END_TEST

static Suite *
flow_suite(void)
{
	Suite	*s = suite_create("e2e_flow");
	TCase	*tc;

	tc = tcase_create("held");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_send_to_a_full_channel_is_answered_once_the_consumer_takes);
	tcase_add_test(tc,
	    test_send_marked_is_held_like_send_and_delivered_marked);
	tcase_add_test(tc, test_send_timed_zero_on_a_full_channel_is_full_at_once);
	tcase_add_test(tc,
	    test_send_timed_on_a_full_channel_is_full_after_its_wait);
	tcase_add_test(tc,
	    test_rendezvous_send_is_answered_only_after_its_delivery);
	tcase_add_test(tc,
	    test_a_full_channel_delays_no_other_channel_or_connection);
	tcase_add_test(tc, test_close_of_a_producer_waits_for_its_held_sends);
	tcase_add_test(tc,
	    test_held_sends_of_a_connection_that_leaves_are_never_delivered);
	tcase_add_test(tc,
	    test_open_with_another_capacity_is_refused_naming_the_channel);
	tcase_add_test(tc, test_held_sends_count_toward_the_daemon_limit);
	tcase_add_test(tc,
	    test_the_daemon_default_capacity_applies_to_new_channels);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_set_timeout(tc, 280);
	tcase_add_test(tc,
	    test_memory_stays_bounded_while_a_fast_producer_floods);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_main(flow_suite());
}

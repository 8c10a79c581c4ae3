/* SPDX-License-Identifier: MIT */
/*
 * mkcorpus.c: writes the seed corpus of the fuzz targets with the real
 * encoders, so that the seeds are valid frames of every op.
 *
 *	fuzz-mkcorpus DIR
 *
 * writes DIR/proto/<name> (one frame each, and one stream of every
 * request), DIR/conn/<name> (conversations in fuzz_conn.c's record
 * format over two connections) and DIR/shmring/<name> (rings written by
 * the real writer, in fuzz_shmring.c's input format).
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "shmring.h"

#define CTL_CONN1	0x01
#define CTL_DRAIN	0x02
#define CTL_GONE	0x04

static const char	*top;

static void
put(const char *target, const char *name, const struct proto_buf *b)
{
	char	 path[4096];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", top, target);
	if (mkdir(path, 0755) != 0 && access(path, F_OK) != 0)
		err(1, "%s", path);
	snprintf(path, sizeof(path), "%s/%s/%s", top, target, name);
	if ((f = fopen(path, "wb")) == NULL)
		err(1, "%s", path);
	if (b->len > 0 && fwrite(b->data, 1, b->len, f) != b->len)
		err(1, "%s", path);
	if (fclose(f) != 0)
		err(1, "%s", path);
}

static void
ok(int rc)
{
	if (rc != 0)
		errx(1, "encoder failed: %d", rc);
}

/* Every frame of the protocol, one per file, and the requests in a row. */
static void
proto_seeds(void)
{
	struct proto_buf	b, all;
	struct proto_cap	cap = { PROTO_CAP_VALUE, 16 };
	struct proto_cap	capb = { PROTO_CAP_VALUE, 1 << 20 };
	struct proto_cap	unb = { PROTO_CAP_UNBOUNDED, 0 };
	struct proto_ack_entry	acks[2] = {
		{ .handle = 1, .seq = 40 },
		{ .handle = 2, .seq = 17, .n = 16 },
	};

	proto_buf_init(&all);
#define ONE(name, call) do {						\
	proto_buf_init(&b);						\
	ok(call);							\
	put("proto", name, &b);						\
	if (strcmp(name, "welcome") != 0 && strcmp(name, "ok") != 0 &&	\
	    strcmp(name, "info") != 0)					\
		ok(proto_buf_append(&all, b.data, b.len));		\
	proto_buf_fini(&b);						\
} while (0)
	ONE("hello", proto_enc_hello(&b, 1, "seed"));
	ONE("hello-anon", proto_enc_hello(&b, 0, NULL));
	ONE("open-tx", proto_enc_open(&b, PROTO_OPEN_TX, 2, "jobs", 4));
	ONE("open-rx", proto_enc_open(&b, PROTO_OPEN_RX, 3, "jobs", 4));
	ONE("open-tx-cap", proto_enc_open_cap(&b, PROTO_OPEN_TX, 2, "jobs", 4,
	    &cap, &capb));
	ONE("open-rx-unbounded", proto_enc_open_cap(&b, PROTO_OPEN_RX, 3,
	    "jobs", 4, &unb, &unb));
	ONE("close", proto_enc_close(&b, 4, 1));
	ONE("send-timed", proto_enc_send_timed(&b, 5, 1, "hello", 5, 250));
	ONE("send-marked", proto_enc_send_marked(&b, 5, 1, "hello", 5,
	    PROTO_FLAG_REDELIVERED));
	ONE("stats-daemon", proto_enc_stats(&b, 10, "daemon", NULL, 0, 0));
	ONE("stats-channels", proto_enc_stats(&b, 11, "channels", "jobs", 4,
	    50));
	ONE("admin-purge", proto_enc_admin(&b, 12, "purge", "jobs", 4));
	ONE("admin-reload", proto_enc_admin(&b, 13, "reload", NULL, 0));
	ONE("info", proto_enc_info(&b, 10, "\x81\xa1k\x01", 4));
	ONE("send", proto_enc_send(&b, 5, 1, "hello", 5));
	ONE("send-empty", proto_enc_send(&b, 6, 1, "", 0));
	ONE("ack", proto_enc_ack(&b, 7, 2, 12345678901ull));
	ONE("credit", proto_enc_credit(&b, 8, 2, 100));
	ONE("acks", proto_enc_acks(&b, 0, acks, 2));
	ONE("ping", proto_enc_ping(&b, 9));
	ONE("welcome", proto_enc_welcome(&b, 1, PROTO_VERSION, "chand 0.1.0",
	    1 << 20, 4242));
	ONE("ok", proto_enc_ok(&b, 9));
	ONE("handle", proto_enc_handle(&b, 2, 1));
	ONE("error", proto_enc_error(&b, 3, CHAN_EBUSY, "channel 'jobs' "
	    "already has a consumer"));
	ONE("deliver", proto_enc_deliver(&b, 2, 1, PROTO_FLAG_REDELIVERED,
	    "hello", 5));
	ONE("disconnected", proto_enc_disconnected(&b, 2));
#undef ONE
	put("proto", "all-requests", &all);
	proto_buf_fini(&all);
}

/* One fuzz_conn record: ctl, 16-bit length, then the frames in f. */
static void
rec(struct proto_buf *out, unsigned ctl, struct proto_buf *f)
{
	unsigned char	hdr[3];

	if (f->len > 0xffff)
		errx(1, "record too long");
	hdr[0] = (unsigned char)ctl;
	hdr[1] = (unsigned char)(f->len >> 8);
	hdr[2] = (unsigned char)f->len;
	ok(proto_buf_append(out, hdr, sizeof(hdr)));
	ok(proto_buf_append(out, f->data, f->len));
	f->len = 0;
}

static void
conn_seeds(void)
{
	struct proto_buf	s, f;
	int			i;

	proto_buf_init(&s);
	proto_buf_init(&f);

	/* A producer and a consumer on one channel, with acks and closes. */
	ok(proto_enc_hello(&f, 1, "tx"));
	ok(proto_enc_open(&f, PROTO_OPEN_TX, 2, "jobs", 4));
	for (i = 0; i < 3; i++)
		ok(proto_enc_send(&f, (uint32_t)(3 + i), 1, "payload", 7));
	ok(proto_enc_ping(&f, 6));
	rec(&s, CTL_DRAIN, &f);
	ok(proto_enc_hello(&f, 1, "rx"));
	ok(proto_enc_open(&f, PROTO_OPEN_RX, 2, "jobs", 4));
	ok(proto_enc_credit(&f, 3, 1, 2));
	rec(&s, CTL_CONN1 | CTL_DRAIN, &f);
	ok(proto_enc_ack(&f, 4, 1, 2));
	ok(proto_enc_credit(&f, 5, 1, 10));
	rec(&s, CTL_CONN1 | CTL_DRAIN, &f);
	ok(proto_enc_close(&f, 7, 1));
	rec(&s, CTL_DRAIN, &f);
	ok(proto_enc_ack(&f, 6, 1, 3));
	ok(proto_enc_close(&f, 7, 1));
	rec(&s, CTL_CONN1 | CTL_DRAIN, &f);
	put("conn", "produce-consume", &s);
	s.len = 0;

	/* A consumer that goes away with messages in flight. */
	ok(proto_enc_hello(&f, 0, NULL));
	ok(proto_enc_open(&f, PROTO_OPEN_RX, 1, "q", 1));
	ok(proto_enc_credit(&f, 0, 1, 5));
	rec(&s, CTL_CONN1, &f);
	ok(proto_enc_hello(&f, 1, "tx"));
	ok(proto_enc_open(&f, PROTO_OPEN_TX, 2, "q", 1));
	ok(proto_enc_send(&f, 3, 1, "a", 1));
	ok(proto_enc_send(&f, 4, 1, "b", 1));
	rec(&s, CTL_DRAIN | CTL_GONE, &f);
	ok(proto_enc_ping(&f, 9));
	rec(&s, CTL_CONN1 | CTL_GONE, &f);
	ok(proto_enc_hello(&f, 1, "rx2"));
	ok(proto_enc_open(&f, PROTO_OPEN_RX, 2, "q", 1));
	ok(proto_enc_credit(&f, 3, 1, 5));
	rec(&s, CTL_CONN1 | CTL_DRAIN, &f);
	put("conn", "redeliver", &s);
	s.len = 0;

	/* Two consumers for one channel (BUSY), a wrong end, a bad handle. */
	ok(proto_enc_hello(&f, 1, NULL));
	ok(proto_enc_open(&f, PROTO_OPEN_RX, 2, "one", 3));
	ok(proto_enc_send(&f, 3, 1, "x", 1));
	ok(proto_enc_ack(&f, 4, 9, 1));
	rec(&s, CTL_DRAIN, &f);
	ok(proto_enc_hello(&f, 1, NULL));
	ok(proto_enc_open(&f, PROTO_OPEN_RX, 2, "one", 3));
	rec(&s, CTL_CONN1 | CTL_DRAIN, &f);
	put("conn", "errors", &s);
	s.len = 0;

	/* Bad handshakes: a request before HELLO, and HELLO twice. */
	ok(proto_enc_ping(&f, 1));
	rec(&s, 0, &f);
	ok(proto_enc_hello(&f, 1, NULL));
	ok(proto_enc_hello(&f, 2, NULL));
	rec(&s, CTL_CONN1 | CTL_DRAIN, &f);
	put("conn", "handshake", &s);
	s.len = 0;

	/* Bounded channels, timed sends and the admin view. */
	{
		struct proto_cap	one = { PROTO_CAP_VALUE, 1 };
		struct proto_cap	zero = { PROTO_CAP_VALUE, 0 };

		ok(proto_enc_hello(&f, 1, "bounded"));
		ok(proto_enc_open_cap(&f, PROTO_OPEN_TX, 2, "b", 1, &one,
		    NULL));
		ok(proto_enc_send(&f, 3, 1, "x", 1));
		ok(proto_enc_send_timed(&f, 4, 1, "y", 1, 0));
		ok(proto_enc_send(&f, 5, 1, "z", 1));
		ok(proto_enc_open_cap(&f, PROTO_OPEN_TX, 6, "r", 1, &zero,
		    NULL));
		ok(proto_enc_send_timed(&f, 7, 2, "w", 1, 10));
		ok(proto_enc_stats(&f, 8, "daemon", NULL, 0, 0));
		rec(&s, CTL_DRAIN, &f);
		ok(proto_enc_hello(&f, 1, "rx"));
		ok(proto_enc_open(&f, PROTO_OPEN_RX, 2, "b", 1));
		ok(proto_enc_credit(&f, 3, 1, 3));
		ok(proto_enc_stats(&f, 4, "channels", NULL, 0, 1));
		ok(proto_enc_stats(&f, 5, "connections", "a", 1, 0));
		ok(proto_enc_stats(&f, 6, "config", NULL, 0, 0));
		ok(proto_enc_admin(&f, 7, "purge", "b", 1));
		ok(proto_enc_admin(&f, 8, "disconnect", "1", 1));
		rec(&s, CTL_CONN1 | CTL_DRAIN, &f);
		ok(proto_enc_close(&f, 9, 1));
		rec(&s, CTL_DRAIN, &f);
		put("conn", "bounded-stats", &s);
		s.len = 0;
	}

	/* A consumer of two channels acknowledges and credits both at once. */
	{
		struct proto_ack_entry	both[2] = {
			{ .handle = 1, .seq = 1, .n = 4 },
			{ .handle = 2, .seq = 1, .n = 4 },
		};

		ok(proto_enc_hello(&f, 1, "rx"));
		ok(proto_enc_open(&f, PROTO_OPEN_RX, 2, "a", 1));
		ok(proto_enc_open(&f, PROTO_OPEN_RX, 3, "b", 1));
		ok(proto_enc_credit(&f, 0, 1, 2));
		ok(proto_enc_credit(&f, 0, 2, 2));
		rec(&s, CTL_DRAIN, &f);
		ok(proto_enc_hello(&f, 1, "tx"));
		ok(proto_enc_open(&f, PROTO_OPEN_TX, 2, "a", 1));
		ok(proto_enc_open(&f, PROTO_OPEN_TX, 3, "b", 1));
		ok(proto_enc_send(&f, 4, 1, "x", 1));
		ok(proto_enc_send(&f, 5, 2, "y", 1));
		rec(&s, CTL_CONN1 | CTL_DRAIN, &f);
		ok(proto_enc_acks(&f, 0, both, 2));
		rec(&s, CTL_DRAIN, &f);
		put("conn", "acks", &s);
		s.len = 0;
	}

	/* One frame cut across records, then more in a single record. */
	ok(proto_enc_hello(&f, 1, "split"));
	ok(proto_enc_open(&f, PROTO_OPEN_TX, 2, "split", 5));
	ok(proto_enc_send(&f, 3, 1, "0123456789", 10));
	{
		struct proto_buf	half;
		size_t			n = f.len - 7;

		proto_buf_init(&half);
		ok(proto_buf_append(&half, f.data, n));
		rec(&s, 0, &half);
		ok(proto_buf_append(&half, f.data + n, f.len - n));
		rec(&s, CTL_DRAIN, &half);
		proto_buf_fini(&half);
		f.len = 0;
	}
	put("conn", "split", &s);
	s.len = 0;

	proto_buf_fini(&f);
	proto_buf_fini(&s);
}

/*
 * fuzz_shmring's reader input: the head, then the data area of a 4096-byte
 * ring into which the writer put records of the given lengths (without a
 * reader: the seeds keep to what fits), one by one or, with batch, as one
 * run (bundles).
 */
static void
ring_seed(const char *name, const uint32_t *lens, size_t n, int batch)
{
	static unsigned char	 mem[SHMRING_HDR_SIZE + 4096];
	struct shmring_writer	 w;
	struct proto_buf	 b = { 0 };
	static unsigned char	 pay[8][2048];
	struct shmring_room	 room;
	struct iovec		 v[8];
	size_t			 i;
	int			 rc;

	memset(mem, 0, sizeof(mem));
	shmring_init(mem, 4096, shmring_max_record(4096));
	if (shmring_attach(&w, mem, sizeof(mem)) != 0)
		errx(1, "shmring_attach");
	shmring_grant(mem, UINT64_MAX, UINT64_MAX);
	if (n > 8)
		errx(1, "ring_seed: too many records");
	for (i = 0; i < n; i++) {
		memset(pay[i], (int)i, sizeof(pay[i]));
		v[i].iov_base = pay[i];
		v[i].iov_len = lens[i];
		if (!batch && shmring_put(&w, pay[i], lens[i], 0) != 0)
			errx(1, "shmring_put");
	}
	if (batch && (shmring_room(&w, &room) != 0 ||
	    shmring_put_run_in(&w, &room, v, n, SIZE_MAX, SIZE_MAX, 0,
	    &rc) != n))
		errx(1, "shmring_put_run_in");
	shmring_publish(&w);
	ok(proto_buf_append(&b, mem + SHMRING_OFF_HEAD, 8));
	ok(proto_buf_append(&b, mem + SHMRING_HDR_SIZE, 4096));
	put("shmring", name, &b);
	proto_buf_fini(&b);
}

static void
shmring_seeds(void)
{
	static const uint32_t	small[] = { 16, 16, 0, 1, 7, 8, 9, 100 };
	static const uint32_t	wrap[] = { 1000, 1000, 1000, 1000, 16 };
	static const unsigned char writer[] = { 0x80, 0x00, 0x10, 0x03,
	    0xe8, 0x03, 0xe8, 0x03, 0xe8, 0x03, 0xe8, 0x00, 0x00, 0x07,
	    0xf8, 0x10, 0x00 };
	struct proto_buf	b = { 0 };

	ring_seed("records", small, sizeof(small) / sizeof(small[0]), 0);
	ring_seed("full", wrap, sizeof(wrap) / sizeof(wrap[0]), 0);
	ring_seed("bundle", small, sizeof(small) / sizeof(small[0]), 1);
	ring_seed("bundles", wrap, sizeof(wrap) / sizeof(wrap[0]), 1);
	ok(proto_buf_append(&b, writer, sizeof(writer)));
	put("shmring", "writer", &b);
	/* The same lengths grown into bundles one at a time (0x20). */
	b.data[0] = 0xa0;
	put("shmring", "grown", &b);
	/* And without a stamp each, first (0x10). */
	b.data[0] = 0xb0;
	put("shmring", "unstamped", &b);
	proto_buf_fini(&b);
}

int
main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz-mkcorpus DIR\n");
		return (2);
	}
	top = argv[1];
	if (mkdir(top, 0755) != 0 && access(top, F_OK) != 0)
		err(1, "%s", top);
	proto_seeds();
	conn_seeds();
	shmring_seeds();
	return (0);
}

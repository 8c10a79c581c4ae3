/* SPDX-License-Identifier: MIT */
/*
 * fuzz_conn.c: libFuzzer target for the daemon's connection state machine.
 *
 * Drives the real connection, dispatch, channel, registry and pump code
 * with no sockets: two connections of one daemon (struct server) take
 * bytes through conn_input, the path of the read callback. The input is a
 * list of records:
 *
 *	ctl:u8  len:u16be  bytes[len]
 *
 * ctl bit 0 picks the connection, bit 1 then drains its output as a peer
 * that reads everything would (the write and flush path is not run: it
 * needs a socket), bit 2 then makes its peer go away (conn_gone, then a
 * fresh connection takes its place), and bits 3-4 pick the peer uid of
 * that fresh connection: root, the daemon's own, or one of two others
 * that the access rules (FUZZ_RULES) restrict.
 *
 * Checks: every frame the daemon writes decodes; once every connection is
 * gone, no channel has a consumer, a producer or a message in flight, and
 * the daemon-wide totals equal the sums over the channels.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "acl.h"
#include "admin.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "flow.h"
#include "log.h"
#include "proto.h"
#include "pump.h"
#include "registry.h"
#include "server.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define CTL_CONN	0x01u
#define CTL_DRAIN	0x02u
#define CTL_GONE	0x04u
#define CTL_UID_SHIFT	3
#define CTL_UID_MASK	0x03u	/* 0 root, 1 owner, 2 uid 4243, 3 uid 4244 */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* The daemon's own uid, as acl_load is told. */
#define FUZZ_OWNER	1000
#define FUZZ_RULES							\
	"allow uid:4243 send,recv a*\n"					\
	"allow uid:4244 send *\n"					\
	"allow gid:4242 recv,admin b\n"					\
	"allow * recv pub.*\n"

static uv_loop_t		 loop;
static struct acl		*rules;
static struct config		 cfg;
static struct proto_decoder	*peer_dec;	/* decodes the daemon's output */

/* The rules go through a file, as the daemon reads them. */
static void
rules_load(void)
{
	char	 path[] = "/tmp/fuzz-conn-rules-XXXXXX", err[ACL_ERR_MAX];
	FILE	*f;
	int	 fd;

	CHECK((fd = mkstemp(path)) >= 0);
	CHECK((f = fdopen(fd, "w")) != NULL);
	CHECK(fputs(FUZZ_RULES, f) >= 0);
	CHECK(fclose(f) == 0);
	rules = acl_load(path, FUZZ_OWNER, err, sizeof(err));
	if (rules == NULL)
		fprintf(stderr, "%s\n", err);
	CHECK(rules != NULL);
	unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	err[CONFIG_ERR_MAX];

	log_set_level(getenv("FUZZ_LOG") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERROR);
	CHECK(uv_loop_init(&loop) == 0);
	CHECK(config_init(&cfg, err, sizeof(err)) == 0);
	/* Small limits, reached by short inputs. */
	CHECK(config_set(&cfg, "max-msg-size", "4096", err, sizeof(err)) == 0);
	CHECK(config_set(&cfg, "max-handles", "8", err, sizeof(err)) == 0);
	CHECK(config_set(&cfg, "max-queued-bytes", "65536", err,
	    sizeof(err)) == 0);
	CHECK(config_set(&cfg, "max-queued-messages", "256", err,
	    sizeof(err)) == 0);
	CHECK((peer_dec = proto_decoder_new(SIZE_MAX / 2)) != NULL);
	rules_load();
	admin_set_filter(&(struct admin_filter){ acl_sees_channel,
	    acl_sees_conn });
	return (0);
}

/* Every byte the daemon wrote is whole, decodable frames. */
static void
check_output(const struct proto_buf *out)
{
	struct proto_msg	m;
	size_t			off = 0, body_len;

	while (off < out->len) {
		CHECK(proto_frame_check(out->data + off, out->len - off,
		    SIZE_MAX, &body_len) == 1);
		CHECK(proto_decode(peer_dec, out->data + off + PROTO_HEADER_LEN,
		    body_len, &m) == 0);
		CHECK(m.op >= PROTO_WELCOME);
		off += PROTO_HEADER_LEN + body_len;
	}
}

/* c's output as the peer reads it: payloads written in place spliced in. */
static void
check_conn_output(struct conn *c)
{
	struct proto_buf	all;
	uv_buf_t		*iov = NULL;
	size_t			 cap = 0;
	unsigned		 i, n;

	proto_buf_init(&all);
	CHECK(payrefs_iov(&c->orefs, c->out.data, c->out.len, &iov, &cap,
	    &n) == 0);
	for (i = 0; i < n; i++)
		CHECK(proto_buf_append(&all, iov[i].base, iov[i].len) == 0);
	check_output(&all);
	proto_buf_fini(&all);
	free(iov);
}

/* What a peer reading everything and the write callback would do. */
static void
drain(struct conn *c)
{
	if (c->closed)
		return;
	/* The per-iteration flush answers held sends first. */
	flow_answer(c->srv);
	check_conn_output(c);
	c->out.len = 0;
	payrefs_clear(&c->orefs);
	if (c->dirty) {
		TAILQ_REMOVE(&c->srv->dirty, c, dirty_entry);
		c->dirty = false;
	}
	pump_conn(c);
}

static struct conn *
fresh(struct server *srv, unsigned uidsel)
{
	struct conn	*c;

	CHECK((c = conn_new(srv)) != NULL);
	c->pid = 4242;
	c->gid = 4242;
	c->uid = uidsel == 0 ? 0 : uidsel == 1 ? FUZZ_OWNER : 4241 + uidsel;
	return (c);
}

/*
 * The peer leaves. The loop does not run until the input is done: its
 * timers (held sends' deadlines) would write to connections, which fails
 * without a socket and closes them behind the fuzzer's back.
 */
static void
gone(struct conn *c)
{
	if (c->closed)
		return;
	check_conn_output(c);
	conn_gone(c);
}

static void
check_registry(const struct registry *reg)
{
	const struct channel	*ch;
	size_t			 i, n = 0, bytes = 0, msgs = 0;

	for (i = 0; i < reg->nbuckets; i++) {
		for (ch = reg->buckets[i]; ch != NULL; ch = ch->hnext) {
			CHECK(ch->consumer == NULL);
			CHECK(ch->producers == 0);
			CHECK(ch->ninflight == 0);
			CHECK(ch->nqueued > 0);
			bytes += ch->bytes;
			msgs += ch->nqueued;
			n++;
		}
	}
	CHECK(n == reg->count);
	CHECK(bytes == reg->totals.bytes);
	CHECK(msgs == reg->totals.msgs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server	 srv;
	struct conn	*conns[2];
	size_t		 off = 0, len;
	unsigned	 ctl, i;

	memset(&srv, 0, sizeof(srv));
	srv.loop = &loop;
	srv.cfg = &cfg;
	srv.acl = rules;
	/* Payloads written in place at sizes the inputs reach. */
	srv.inplace_min = 64;
	registry_init(&srv.reg);
	TAILQ_INIT(&srv.conns);
	TAILQ_INIT(&srv.dirty);
	CHECK((srv.dec = proto_decoder_new(cfg.max_msg_size)) != NULL);
	conns[0] = fresh(&srv, 2);
	conns[1] = fresh(&srv, 2);

	while (size - off >= 3) {
		ctl = data[off];
		len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		i = ctl & CTL_CONN;
		(void)conn_input(conns[i], data + off, len);
		off += len;
		if (conns[i]->want_close || conns[i]->shut)
			ctl |= CTL_GONE;
		if (ctl & CTL_DRAIN)
			drain(conns[i]);
		if (ctl & CTL_GONE) {
			gone(conns[i]);
			conns[i] = fresh(&srv,
			    (ctl >> CTL_UID_SHIFT) & CTL_UID_MASK);
		}
	}
	/* srv, and its timer for held sends, lives on this stack. */
	flow_stop(&srv);
	gone(conns[0]);
	gone(conns[1]);
	/* Runs the close callbacks, which free the connections. */
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK(TAILQ_EMPTY(&srv.conns) && srv.nconns == 0);
	CHECK(TAILQ_EMPTY(&srv.dirty));
	check_registry(&srv.reg);
	registry_fini(&srv.reg);
	remember_fini(&srv.remember);
	proto_decoder_free(srv.dec);
	return (0);
}

/* SPDX-License-Identifier: MIT */
/*
 * fuzz_proto.c: libFuzzer target for the wire codec.
 *
 * The input is tried two ways: whole, as one frame body handed to
 * proto_decode; and as a byte stream cut into frames by
 * proto_frame_check, each body decoded. Every frame that decodes is
 * encoded again with the matching proto_enc_* function and decoded once
 * more: the fields must survive, and the re-encoded bytes must be a fixed
 * point (encode(decode(x)) == x for anything the encoders produced).
 * Crashes, sanitizer reports and failed checks (abort) are findings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Small, so that the size limits are reached by short inputs. */
#define FUZZ_MAX_MSG	4096

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct proto_decoder	*dec;

/* Equal byte strings; NULL and empty are the same when both are empty. */
static int
same(const char *a, size_t alen, const char *b, size_t blen)
{
	return (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0));
}

/* A NUL-terminated copy of a decoded string, or NULL if it holds a NUL. */
static char *
cstr(const char *s, size_t len)
{
	char	*p;

	if (s == NULL || memchr(s, '\0', len) != NULL)
		return (NULL);
	CHECK((p = malloc(len + 1)) != NULL);
	memcpy(p, s, len);
	p[len] = '\0';
	return (p);
}

/*
 * Encodes m again into b. Returns 1 if it did, 0 if m holds something the
 * encoders cannot say (a text with a NUL, a HELLO of another version).
 */
static int
reencode(struct proto_buf *b, const struct proto_msg *m)
{
	char	*s = NULL;
	int	 rc = 0;

	switch (m->op) {
	case PROTO_HELLO:
		/* A range of one version is written as that version alone. */
		if (m->min_version == m->version)
			return (0);
		if (m->text != NULL &&
		    (s = cstr(m->text, m->text_len)) == NULL)
			return (0);
		rc = proto_enc_hello_range(b, m->rid, s, m->version,
		    m->min_version);
		break;
	case PROTO_OPEN_TX:
	case PROTO_OPEN_RX:
		rc = proto_enc_open_all(b, m->op, m->rid, m->name, m->name_len,
		    &(struct proto_open_opts){ m->capacity, m->capacity_bytes,
		    m->durable, m->rx_gone, m->forever });
		break;
	case PROTO_RECALL:
		rc = proto_enc_recall(b, m->rid, m->handle);
		break;
	case PROTO_SELECT:
		rc = proto_enc_select(b, m->rid, m->count, m->handles,
		    m->nhandles);
		break;
	case PROTO_CLOSE:
		rc = proto_enc_close(b, m->rid, m->handle);
		break;
	case PROTO_SEND:
		rc = proto_enc_send(b, m->rid, m->handle, m->payload,
		    m->payload_len);
		break;
	case PROTO_SEND_TIMED:
		rc = proto_enc_send_timed(b, m->rid, m->handle, m->payload,
		    m->payload_len, m->wait_ms);
		break;
	case PROTO_SEND_MARKED:
		rc = proto_enc_send_marked(b, m->rid, m->handle, m->payload,
		    m->payload_len, m->flags);
		break;
	case PROTO_STATS:
		if ((s = cstr(m->what, m->what_len)) == NULL)
			return (0);
		rc = proto_enc_stats(b, m->rid, s, m->after, m->after_len,
		    m->limit);
		break;
	case PROTO_ADMIN:
		if ((s = cstr(m->what, m->what_len)) == NULL)
			return (0);
		rc = proto_enc_admin(b, m->rid, s, m->name, m->name_len);
		break;
	case PROTO_INFO:
		rc = proto_enc_info(b, m->rid, m->payload, m->payload_len);
		break;
	case PROTO_ACK:
		rc = proto_enc_ack(b, m->rid, m->handle, m->seq);
		break;
	case PROTO_CREDIT:
		rc = proto_enc_credit(b, m->rid, m->handle, m->count);
		break;
	case PROTO_PING:
		rc = proto_enc_ping(b, m->rid);
		break;
	case PROTO_ACKS:
		rc = proto_enc_acks(b, m->rid, m->acks, m->nacks);
		break;
	case PROTO_WELCOME:
		if (m->features != PROTO_FEATURES ||
		    (s = cstr(m->text, m->text_len)) == NULL)
			return (0);
		rc = proto_enc_welcome(b, m->rid, m->version, s, m->max_msg,
		    m->pid);
		break;
	case PROTO_OK:
		rc = proto_enc_ok(b, m->rid);
		break;
	case PROTO_HANDLE:
		rc = proto_enc_handle(b, m->rid, m->handle);
		break;
	case PROTO_ERROR:
		/* The encoder takes a negative int and cuts long text. */
		if (m->code == 0 || m->code > INT32_MAX ||
		    m->text_len > PROTO_ERRMSG_MAX ||
		    (s = cstr(m->text, m->text_len)) == NULL)
			return (0);
		if (m->flags == 4)
			rc = proto_enc_error(b, m->rid, -(int)m->code, s);
		else
			rc = proto_enc_error_fields(b, m->rid, -(int)m->code,
			    s, &(struct proto_field){ "pid", PROTO_FIELD_UINT,
			    m->pid, NULL }, m->pid != 0);
		break;
	case PROTO_DELIVER:
		rc = proto_enc_deliver(b, m->handle, m->seq, m->flags,
		    m->payload, m->payload_len);
		break;
	case PROTO_DISCONNECTED:
		rc = proto_enc_disconnected(b, m->handle);
		break;
	default:
		return (0);
	}
	free(s);
	CHECK(rc == 0);
	return (1);
}

static void
check_same(const struct proto_msg *a, const struct proto_msg *b)
{
	CHECK(a->op == b->op);
	CHECK(a->rid == b->rid);
	CHECK(a->handle == b->handle);
	CHECK(a->seq == b->seq);
	CHECK(a->count == b->count);
	CHECK(a->version == b->version);
	CHECK(a->code == b->code);
	CHECK(a->flags == b->flags);
	CHECK(a->max_msg == b->max_msg);
	CHECK(a->pid == b->pid);
	CHECK(a->wait_ms == b->wait_ms);
	CHECK(a->limit == b->limit);
	CHECK(a->capacity.kind == b->capacity.kind);
	CHECK(a->capacity.value == b->capacity.value);
	CHECK(a->capacity_bytes.kind == b->capacity_bytes.kind);
	CHECK(a->capacity_bytes.value == b->capacity_bytes.value);
	CHECK(same(a->what, a->what_len, b->what, b->what_len));
	CHECK((a->after == NULL) == (b->after == NULL));
	CHECK(same(a->after, a->after_len, b->after, b->after_len));
	CHECK(same(a->name, a->name_len, b->name, b->name_len));
	CHECK((a->text == NULL) == (b->text == NULL));
	CHECK(same(a->text, a->text_len, b->text, b->text_len));
	CHECK(same(a->payload, a->payload_len, b->payload, b->payload_len));
	CHECK(a->nacks == b->nacks);
	CHECK(a->nhandles == b->nhandles);
	/* Fields of some ops only: the fast paths leave the rest alone. */
	if (a->op == PROTO_HELLO)
		CHECK(a->min_version == b->min_version);
	if (a->op == PROTO_OPEN_TX || a->op == PROTO_OPEN_RX) {
		CHECK(a->durable == b->durable);
		CHECK(a->rx_gone == b->rx_gone);
		CHECK(a->forever == b->forever);
	}
	if (a->op == PROTO_WELCOME)
		CHECK(a->features == b->features);
}

/* ACKS entries live in the decoder, which the next decode reuses. */
static void
check_acks(const struct proto_ack_entry *e, const struct proto_msg *m)
{
	CHECK(m->nacks == 0 || memcmp(e, m->acks, m->nacks * sizeof(*e)) == 0);
}

/* The DELIVER header encoder agrees with the whole-frame encoder. */
static void
check_deliver_hdr(const struct proto_msg *m, const struct proto_buf *b)
{
	char	hdr[PROTO_DELIVER_HDR_MAX];
	size_t	n;

	n = proto_enc_deliver_hdr(hdr, m->handle, m->seq, m->flags,
	    m->payload_len);
	CHECK(n > 0 && n + m->payload_len == b->len);
	CHECK(memcmp(hdr, b->data, n) == 0);
}

/* Decodes one body; if it decodes, checks the round trip. */
static void
fuzz_body(const char *body, size_t len)
{
	struct proto_ack_entry	acks[PROTO_ACKS_MAX];
	struct proto_msg	m, m2, m3;
	struct proto_buf	b, b2;
	size_t			blen;
	int			rc;

	/*
	 * The decoder sets only the fields of the op it found (proto.h):
	 * the others must compare equal from one decode to the next.
	 */
	memset(&m, 0, sizeof(m));
	memset(&m2, 0, sizeof(m2));
	memset(&m3, 0, sizeof(m3));
	rc = proto_decode(dec, body, len, &m);
	if (rc != 0) {
		CHECK(rc < 0);
		return;
	}
	proto_buf_init(&b);
	if (!reencode(&b, &m)) {
		proto_buf_fini(&b);
		return;
	}
	if (m.op == PROTO_ACKS)
		memcpy(acks, m.acks, m.nacks * sizeof(acks[0]));
	CHECK(proto_frame_check(b.data, b.len, SIZE_MAX, &blen) == 1);
	CHECK(blen + PROTO_HEADER_LEN == b.len);
	CHECK(proto_decode(dec, b.data + PROTO_HEADER_LEN, blen, &m2) == 0);
	check_same(&m, &m2);
	if (m.op == PROTO_ACKS)
		check_acks(acks, &m2);
	if (m.op == PROTO_DELIVER)
		check_deliver_hdr(&m, &b);

	/* What the encoders wrote, they write the same way again. */
	proto_buf_init(&b2);
	CHECK(reencode(&b2, &m2) == 1);
	CHECK(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0);
	CHECK(proto_decode(dec, b2.data + PROTO_HEADER_LEN, blen, &m3) == 0);
	check_same(&m, &m3);
	if (m.op == PROTO_ACKS)
		check_acks(acks, &m3);
	proto_buf_fini(&b2);
	proto_buf_fini(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data;
	size_t		 off = 0, body_len;
	int		 rc;

	if (dec == NULL)
		CHECK((dec = proto_decoder_new(FUZZ_MAX_MSG)) != NULL);

	fuzz_body(p, size);

	for (;;) {
		rc = proto_frame_check(p + off, size - off,
		    proto_max_body(FUZZ_MAX_MSG), &body_len);
		if (rc != 1) {
			CHECK(rc == 0 || rc == CHAN_ETOOBIG);
			CHECK(rc == 0 || body_len > proto_max_body(FUZZ_MAX_MSG));
			break;
		}
		CHECK(body_len <= size - off - PROTO_HEADER_LEN);
		fuzz_body(p + off + PROTO_HEADER_LEN, body_len);
		off += PROTO_HEADER_LEN + body_len;
	}
	return (0);
}

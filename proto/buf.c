/* SPDX-License-Identifier: MIT */
/*
 * buf.c: the growable byte buffer that frames are encoded into and read
 * from.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define BUF_MIN_CAP	256

void
proto_buf_init(struct proto_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
proto_buf_fini(struct proto_buf *b)
{
	free(b->data);
	proto_buf_init(b);
}

int
proto_buf_reserve(struct proto_buf *b, size_t extra)
{
	size_t	 need, cap;
	char	*p;

	if (extra <= b->cap - b->len)
		return 0;
	if (extra > SIZE_MAX - b->len)
		return CHAN_ENOMEM;
	need = b->len + extra;

	/* Doubling keeps appends amortized O(1). */
	cap = b->cap != 0 ? b->cap : BUF_MIN_CAP;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}

	if ((p = realloc(b->data, cap)) == NULL)
		return CHAN_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
proto_buf_append(struct proto_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (proto_buf_reserve(b, len) != 0)
		return CHAN_ENOMEM;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void
proto_buf_consume(struct proto_buf *b, size_t n)
{
	/* Consuming everything, the common case, moves nothing. */
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

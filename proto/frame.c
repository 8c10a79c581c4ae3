/* SPDX-License-Identifier: MIT */
/*
 * frame.c: the length prefix in front of every body, and the op at the
 * start of it.
 */
#include "proto.h"

int
proto_frame_check(const void *buf, size_t len, size_t max_body,
    size_t *body_len)
{
	const unsigned char	*p = buf;
	uint32_t		 n;

	if (len < PROTO_HEADER_LEN)
		return 0;
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
	*body_len = n;

	/* Refuse before the body is buffered: it may be gigabytes. */
	if (n > max_body)
		return CHAN_ETOOBIG;
	if (len - PROTO_HEADER_LEN < n)
		return 0;
	return 1;
}

int
proto_peek_op(const void *body, size_t len)
{
	const unsigned char	*p = body;
	size_t			 i;

	/* fixarray, array 16 or array 32, of at least one element. */
	if (len >= 1 && p[0] >= 0x91 && p[0] <= 0x9f)
		i = 1;
	else if (len >= 3 && p[0] == 0xdc && (p[1] | p[2]) != 0)
		i = 3;
	else if (len >= 5 && p[0] == 0xdd && (p[1] | p[2] | p[3] | p[4]) != 0)
		i = 5;
	else
		return -1;
	/* A positive fixint, or a uint 8. */
	if (len > i && p[i] <= 0x7f)
		return p[i];
	if (len > i + 1 && p[i] == 0xcc)
		return p[i + 1];
	return -1;
}

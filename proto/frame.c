/* SPDX-License-Identifier: MIT */
/*
 * frame.c: the length prefix in front of every body.
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

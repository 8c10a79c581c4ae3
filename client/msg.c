/* SPDX-License-Identifier: MIT */
/*
 * msg.c: received messages. One allocation holds the header and the bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"

struct chan_msg *
msg_new(uint32_t handle, uint64_t seq, int redelivered, const void *data,
    size_t len)
{
	struct chan_msg *m;

	if (len > SIZE_MAX - sizeof(*m) - 1)
		return NULL;
	/* One spare byte: a text payload can be used as a C string. */
	if ((m = malloc(sizeof(*m) + len + 1)) == NULL)
		return NULL;
	m->next = NULL;
	m->seq = seq;
	m->handle = handle;
	m->redelivered = redelivered;
	m->len = len;
	if (len > 0)
		memcpy(m->data, data, len);
	m->data[len] = '\0';
	return m;
}

const void *
chan_msg_data(const chan_msg *m)
{
	return m != NULL ? m->data : NULL;
}

size_t
chan_msg_len(const chan_msg *m)
{
	return m != NULL ? m->len : 0;
}

int
chan_msg_redelivered(const chan_msg *m)
{
	return m != NULL && m->redelivered;
}

void
chan_msg_free(chan_msg *m)
{
	free(m);
}

/* SPDX-License-Identifier: MIT */
/*
 * payref.c: payloads written from their message nodes. See payref.h.
 */
#include <stdint.h>
#include <stdlib.h>

#include "channel.h"
#include "msgpool.h"
#include "payref.h"
#include "proto.h"

void
payrefs_init(struct payrefs *r)
{
	r->v = NULL;
	r->n = r->cap = r->bytes = 0;
}

void
payrefs_clear(struct payrefs *r)
{
	size_t	i;

	for (i = 0; i < r->n; i++)
		msgpool_unpin(r->v[i].m);
	r->n = r->bytes = 0;
}

void
payrefs_fini(struct payrefs *r)
{
	payrefs_clear(r);
	free(r->v);
	payrefs_init(r);
}

int
payrefs_add(struct payrefs *r, size_t off, struct message *m)
{
	struct payref	*v;
	size_t		 cap;

	if (r->n == r->cap) {
		cap = r->cap == 0 ? 16 : r->cap * 2;
		if ((v = reallocarray(r->v, cap, sizeof(*v))) == NULL)
			return (CHAN_ENOMEM);
		r->v = v;
		r->cap = cap;
	}
	if (!msgpool_pin(m))
		return (CHAN_ELIMIT);
	r->v[r->n].off = off;
	r->v[r->n].m = m;
	r->n++;
	r->bytes += m->len;
	return (0);
}

int
payrefs_iov(const struct payrefs *r, const char *data, size_t len,
    uv_buf_t **iov, size_t *cap, unsigned *n)
{
	uv_buf_t	*v;
	size_t		 i, k = 0, prev = 0, need = 2 * r->n + 1;

	if (need > *cap) {
		if ((v = reallocarray(*iov, need, sizeof(*v))) == NULL)
			return (CHAN_ENOMEM);
		*iov = v;
		*cap = need;
	}
	v = *iov;
	for (i = 0; i < r->n; i++) {
		if (r->v[i].off > prev)
			v[k++] = uv_buf_init((char *)data + prev,
			    (unsigned int)(r->v[i].off - prev));
		v[k++] = uv_buf_init(r->v[i].m->data, r->v[i].m->len);
		prev = r->v[i].off;
	}
	if (len > prev)
		v[k++] = uv_buf_init((char *)data + prev,
		    (unsigned int)(len - prev));
	*n = (unsigned int)k;
	return (0);
}

/* SPDX-License-Identifier: MIT */
/*
 * remember.c: names of channels that ended disconnected. See remember.h.
 */
#include <stdlib.h>
#include <string.h>

#include "fnv.h"
#include "remember.h"

#define REMEMBER_MIN_BUCKETS	64

struct remembered {
	struct remembered	*hnext;		/* bucket chain */
	struct remembered	*older;		/* age list */
	struct remembered	*newer;
	uint64_t		 when;		/* ms, the caller's clock */
	uint32_t		 hash;
	uint16_t		 len;
	unsigned char		 name[];
};

static uint32_t
remember_hash(const void *name, size_t len)
{
	return (fnv1a32(name, len));
}

void
remember_init(struct remember *r, size_t max, uint64_t ttl_ms)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
	r->ttl_ms = ttl_ms;
}

void
remember_fini(struct remember *r)
{
	struct remembered	*e, *next;

	for (e = r->oldest; e != NULL; e = next) {
		next = e->newer;
		free(e);
	}
	free(r->buckets);
	remember_init(r, r->max, r->ttl_ms);
}

/* The bucket link that points at e. */
static struct remembered **
remember_link(struct remember *r, const struct remembered *e)
{
	struct remembered	**pp;

	pp = &r->buckets[e->hash & (r->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	return (pp);
}

static void
remember_drop(struct remember *r, struct remembered *e)
{
	struct remembered	**pp = remember_link(r, e);

	*pp = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		r->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		r->newest = e->older;
	r->count--;
	free(e);
}

/* Drops names older than the ttl, and the oldest while over room. */
static void
remember_trim(struct remember *r, uint64_t now, size_t room)
{
	while (r->oldest != NULL && (r->count > room ||
	    now - r->oldest->when >= r->ttl_ms))
		remember_drop(r, r->oldest);
}

/* Doubles the table when it holds as many names as buckets. */
static int
remember_grow(struct remember *r)
{
	struct remembered	**nb, *e, *next;
	size_t			  n, i;

	if (r->count < r->nbuckets)
		return (0);
	n = r->nbuckets == 0 ? REMEMBER_MIN_BUCKETS : r->nbuckets * 2;
	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return (-1);
	for (i = 0; i < r->nbuckets; i++) {
		for (e = r->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(r->buckets);
	r->buckets = nb;
	r->nbuckets = n;
	return (0);
}

static struct remembered *
remember_find(const struct remember *r, const void *name, size_t len,
    uint32_t hash)
{
	struct remembered	*e;

	if (r->nbuckets == 0)
		return (NULL);
	for (e = r->buckets[hash & (r->nbuckets - 1)]; e != NULL;
	    e = e->hnext) {
		if (e->hash == hash && e->len == len &&
		    memcmp(e->name, name, len) == 0)
			return (e);
	}
	return (NULL);
}

void
remember_put(struct remember *r, const void *name, size_t len, uint64_t when,
    uint64_t now)
{
	struct remembered	*e;
	uint32_t		 hash = remember_hash(name, len);

	if (r->max == 0 || len == 0 || len > UINT16_MAX ||
	    now - when >= r->ttl_ms)
		return;
	if ((e = remember_find(r, name, len, hash)) != NULL)
		remember_drop(r, e);
	remember_trim(r, now, r->max - 1);
	if (remember_grow(r) != 0 ||
	    (e = malloc(sizeof(*e) + len)) == NULL)
		return;
	e->hash = hash;
	e->len = (uint16_t)len;
	e->when = when;
	memcpy(e->name, name, len);
	e->hnext = r->buckets[hash & (r->nbuckets - 1)];
	r->buckets[hash & (r->nbuckets - 1)] = e;
	e->newer = NULL;
	e->older = r->newest;
	if (r->newest != NULL)
		r->newest->newer = e;
	else
		r->oldest = e;
	r->newest = e;
	r->count++;
}

bool
remember_take(struct remember *r, const void *name, size_t len,
    uint64_t now, uint64_t *when)
{
	struct remembered	*e;
	bool			 fresh;

	remember_trim(r, now, r->max);
	if ((e = remember_find(r, name, len, remember_hash(name, len))) ==
	    NULL)
		return (false);
	fresh = now - e->when < r->ttl_ms;
	if (fresh)
		*when = e->when;
	remember_drop(r, e);
	return (fresh);
}

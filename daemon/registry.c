/* SPDX-License-Identifier: MIT */
/*
 * registry.c: name -> channel table. See registry.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "proto.h"
#include "msgpool.h"
#include "fnv.h"
#include "registry.h"

#define REGISTRY_MIN_BUCKETS	64

static uint32_t
registry_hash(const void *name, size_t len)
{
	return (fnv1a32(name, len));
}

void
registry_init(struct registry *reg)
{
	memset(reg, 0, sizeof(*reg));
}

void
registry_fini(struct registry *reg)
{
	struct channel	*ch, *next;
	size_t		 i;

	for (i = 0; i < reg->nbuckets; i++) {
		for (ch = reg->buckets[i]; ch != NULL; ch = next) {
			next = ch->hnext;
			channel_free(ch);
		}
	}
	free(reg->buckets);
	channel_totals_fini(&reg->totals);
	memset(reg, 0, sizeof(*reg));
	/* The channels' freed message nodes wait in the pool: free them. */
	msgpool_drain();
}

static struct channel **
registry_slot(struct registry *reg, const void *name, size_t len,
    uint32_t hash)
{
	struct channel	**pp;

	pp = &reg->buckets[hash & (reg->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if ((*pp)->hash == hash && (*pp)->name_len == len &&
		    memcmp((*pp)->name, name, len) == 0)
			break;
	}
	return (pp);
}

struct channel *
registry_find(struct registry *reg, const void *name, size_t len)
{
	if (reg->nbuckets == 0)
		return (NULL);
	return (*registry_slot(reg, name, len, registry_hash(name, len)));
}

/* Doubles the table (or creates it); on failure the old one stays. */
static int
registry_grow(struct registry *reg)
{
	struct channel	**nb, *ch, *next;
	size_t		  n, i, slot;

	n = reg->nbuckets == 0 ? REGISTRY_MIN_BUCKETS : reg->nbuckets * 2;
	nb = calloc(n, sizeof(*nb));
	if (nb == NULL)
		return (CHAN_ENOMEM);
	for (i = 0; i < reg->nbuckets; i++) {
		for (ch = reg->buckets[i]; ch != NULL; ch = next) {
			next = ch->hnext;
			slot = ch->hash & (n - 1);
			ch->hnext = nb[slot];
			nb[slot] = ch;
		}
	}
	free(reg->buckets);
	reg->buckets = nb;
	reg->nbuckets = n;
	return (0);
}

int
registry_open(struct registry *reg, const void *name, size_t len,
    struct channel **chp)
{
	struct channel	**pp, *ch;
	uint32_t	  hash;

	if (!proto_name_valid(name, len))
		return (CHAN_EBADNAME);
	if ((ch = registry_find(reg, name, len)) != NULL) {
		*chp = ch;
		return (0);
	}
	/* Grow first: a failure then leaves nothing half done. */
	if (reg->count >= reg->nbuckets && registry_grow(reg) != 0)
		return (CHAN_ENOMEM);
	ch = channel_new(name, len, &reg->totals);
	if (ch == NULL)
		return (CHAN_ENOMEM);
	hash = registry_hash(name, len);
	ch->hash = hash;
	pp = &reg->buckets[hash & (reg->nbuckets - 1)];
	ch->hnext = *pp;
	*pp = ch;
	reg->count++;
	*chp = ch;
	return (0);
}

bool
registry_release(struct registry *reg, struct channel *ch)
{
	struct channel	**pp;

	if (!channel_is_idle(ch))
		return (false);
	pp = registry_slot(reg, ch->name, ch->name_len, ch->hash);
	if (*pp == ch) {
		*pp = ch->hnext;
		reg->count--;
	}
	reg->gone_msgs_in += ch->msgs_in;
	reg->gone_msgs_out += ch->msgs_out;
	reg->gone_redeliveries += ch->redeliveries;
	channel_free(ch);
	return (true);
}

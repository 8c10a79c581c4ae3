/* SPDX-License-Identifier: MIT */
/*
 * msgpool.c: message nodes. See msgpool.h.
 */
#include <sys/mman.h>

#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "msgpool.h"

/* Under ASan a node on a free list is poisoned: touching it is reported. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n)	ASAN_POISON_MEMORY_REGION(p, n)
#define POOL_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POOL_POISON(p, n)	((void)(p), (void)(n))
#define POOL_UNPOISON(p, n)	((void)(p), (void)(n))
#endif

#define MSGPOOL_GRAIN	16u
#define MSGPOOL_CLASSES	((sizeof(struct message) + MSGPOOL_MAX_LEN) / \
			    MSGPOOL_GRAIN + 1)
#define MSGPOOL_NSLABS	(MSGPOOL_SLABS / MSGPOOL_SLAB)

/* struct message's pool bits. */
#define POOL_FREED	0x1u	/* put back while pinned */
#define POOL_SLAB	0x2u	/* carved from a slab, else from malloc */

/*
 * malloc's defaults give memory back to the system as soon as 128 KiB are
 * free at the top of the heap, and serve every block over 128 KiB (an
 * output buffer, a big message) with its own mmap: each burst of traffic
 * then faults every page in again, which cost more than the traffic. The
 * daemon keeps up to MSGPOOL_TRIM free at the top of its heap and takes
 * blocks up to MSGPOOL_MMAP from the heap. MSGPOOL_TRIM is twice a
 * channel's default capacity (64 MiB): a full channel of big payloads
 * (from malloc, above MSGPOOL_MAX_LEN) that drains leaves its nodes, and
 * a little more, free at the top, which must stay below it.
 */
#define MSGPOOL_TRIM	(128u << 20)
#define MSGPOOL_MMAP	(32u << 20)

/* One size class: its free nodes, and the unused end of its last slab. */
struct pool_class {
	struct message	*free;
	char		*next;
	char		*end;
};

static struct pool_class pool[MSGPOOL_CLASSES];
static void		*pool_slabs[MSGPOOL_NSLABS];
static size_t		 pool_nslabs;
static size_t		 pool_live;	/* slab nodes handed out */
static bool		 pool_tuned;

/* The size class of a node for len payload bytes, and its size. */
static size_t
pool_class(size_t len, size_t *size)
{
	size_t	c = (sizeof(struct message) + len + MSGPOOL_GRAIN - 1) /
		    MSGPOOL_GRAIN;

	*size = c * MSGPOOL_GRAIN;
	return (c);
}

/* A new node of class c from its slab, or a new slab; NULL if none. */
static struct message *
pool_carve(struct pool_class *pc, size_t size)
{
	void	*slab;

	if (pc->next == NULL || (size_t)(pc->end - pc->next) < size) {
		if (pool_nslabs == MSGPOOL_NSLABS)
			return (NULL);
		slab = mmap(NULL, MSGPOOL_SLAB, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (slab == MAP_FAILED)
			return (NULL);
		pool_slabs[pool_nslabs++] = slab;
		/* The tail of the last slab, under one node, is lost. */
		pc->next = slab;
		pc->end = pc->next + MSGPOOL_SLAB;
	}
	pc->next += size;
	return ((struct message *)(void *)(pc->next - size));
}

struct message *
msgpool_get(size_t len)
{
	struct pool_class	*pc;
	struct message		*m = NULL;
	size_t			 size;

	if (!pool_tuned) {
		pool_tuned = true;
		(void)mallopt(M_TRIM_THRESHOLD, MSGPOOL_TRIM);
		(void)mallopt(M_MMAP_THRESHOLD, MSGPOOL_MMAP);
	}
	if (len <= MSGPOOL_MAX_LEN) {
		pc = &pool[pool_class(len, &size)];
		if ((m = pc->free) != NULL) {
			POOL_UNPOISON(m, size);
			pc->free = m->next;
		} else
			m = pool_carve(pc, size);
	}
	if (m != NULL) {
		pool_live++;
		m->pins = 0;
		m->pool = POOL_SLAB;
		return (m);
	}
	if ((m = malloc(sizeof(*m) + len)) != NULL)
		m->pins = m->pool = 0;
	return (m);
}

void
msgpool_put(struct message *m)
{
	struct pool_class	*pc;
	size_t			 size;

	if (m == NULL)
		return;
	if (m->pins > 0) {
		m->pool |= POOL_FREED;
		return;
	}
	if (!(m->pool & POOL_SLAB)) {
		free(m);
		return;
	}
	pc = &pool[pool_class(m->len, &size)];
	m->next = pc->free;
	pc->free = m;
	pool_live--;
	POOL_POISON((char *)m + sizeof(m->next), size - sizeof(m->next));
}

bool
msgpool_pin(struct message *m)
{
	if (m->pins == UINT8_MAX)
		return (false);
	m->pins++;
	return (true);
}

void
msgpool_unpin(struct message *m)
{
	if (--m->pins == 0 && (m->pool & POOL_FREED))
		msgpool_put(m);
}

void
msgpool_drain(void)
{
	size_t	i;

	if (pool_live > 0)
		return;
	for (i = 0; i < pool_nslabs; i++) {
		POOL_UNPOISON(pool_slabs[i], MSGPOOL_SLAB);
		(void)munmap(pool_slabs[i], MSGPOOL_SLAB);
	}
	pool_nslabs = 0;
	memset(pool, 0, sizeof(pool));
}

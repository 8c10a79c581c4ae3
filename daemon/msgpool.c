/*
 * msgpool.c: message nodes. See msgpool.h.
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>

#include "channel.h"
#include "msgpool.h"

#define MSGPOOL_GRAIN	16u
#define MSGPOOL_CLASSES	((sizeof(struct message) + MSGPOOL_MAX_LEN) / \
			    MSGPOOL_GRAIN + 1)
/*
 * malloc's defaults give memory back to the system as soon as 128 KiB are
 * free at the top of the heap, and serve every block over 128 KiB (an
 * output buffer, a big message) with its own mmap: each burst of traffic
 * then faults every page in again, which cost more than the traffic. The
 * daemon keeps up to MSGPOOL_TRIM free at the top of its heap and takes
 * blocks up to MSGPOOL_MMAP from the heap. MSGPOOL_TRIM is twice a
 * channel's default capacity (64 MiB): a full channel that drains leaves
 * its nodes, and a little more, free at the top, which must stay below
 * it (big payloads are not copied into output buffers, which used to sit
 * above them and keep them by chance).
 */
#define MSGPOOL_TRIM	(128u << 20)
#define MSGPOOL_MMAP	(32u << 20)

static struct message	*pool_free[MSGPOOL_CLASSES];
static size_t		 pool_bytes;
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

struct message *
msgpool_get(size_t len)
{
	struct message	*m;
	size_t		 c, size;

	if (!pool_tuned) {
		pool_tuned = true;
		(void)mallopt(M_TRIM_THRESHOLD, MSGPOOL_TRIM);
		(void)mallopt(M_MMAP_THRESHOLD, MSGPOOL_MMAP);
	}
	c = pool_class(len, &size);
	if (len > MSGPOOL_MAX_LEN)
		m = malloc(sizeof(*m) + len);
	else if ((m = pool_free[c]) == NULL)
		m = malloc(size);
	else {
		pool_free[c] = m->next;
		pool_bytes -= size;
	}
	if (m != NULL)
		m->pins = m->freed = 0;
	return (m);
}

void
msgpool_put(struct message *m)
{
	size_t	c, size;

	if (m == NULL)
		return;
	if (m->pins > 0) {
		m->freed = 1;
		return;
	}
	if (m->len > MSGPOOL_MAX_LEN) {
		free(m);
		return;
	}
	c = pool_class(m->len, &size);
	/* A node from plain malloc may be too small for its class. */
	if (pool_bytes + size > MSGPOOL_CACHE ||
	    malloc_usable_size(m) < size) {
		free(m);
		return;
	}
	m->next = pool_free[c];
	pool_free[c] = m;
	pool_bytes += size;
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
	if (--m->pins == 0 && m->freed)
		msgpool_put(m);
}

void
msgpool_drain(void)
{
	struct message	*m;
	size_t		 c;

	for (c = 0; c < MSGPOOL_CLASSES; c++) {
		while ((m = pool_free[c]) != NULL) {
			pool_free[c] = m->next;
			free(m);
		}
	}
	pool_bytes = 0;
}

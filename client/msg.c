/* SPDX-License-Identifier: MIT */
/*
 * msg.c: received messages. One allocation holds the header and the bytes.
 *
 * A large message's memory is mapped, and kept for the next large message
 * when it is freed: by default malloc serves blocks this large with a
 * mapping of their own, or trims its heap when they are freed, so a
 * consumer of large messages would fault their pages in and clear them
 * again for each (about two thirds of its time per 1 MiB message). The
 * kept blocks are few and bounded, shared by the process's threads, and
 * unmapped at exit.
 *
 * Small messages come and go by the thousand (a receiver takes a ring's
 * worth at a time, then frees them one by one), more than malloc's
 * per-thread cache holds: each thread keeps up to MSG_SMALL_KEEP freed
 * small blocks of its own for the next ones, given back when it exits.
 * Not under ASan: there malloc's quarantine is what reports a message
 * used after chan_msg_free.
 */
#include <sys/mman.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#if defined(__SANITIZE_ADDRESS__)
#define MSG_SMALL_CACHE		0
#else
#define MSG_SMALL_CACHE		1
#endif

/*
 * From this many payload bytes a message's memory is mapped, and kept:
 * malloc's default threshold for a mapping of its own.
 */
#define MSG_BIG_MIN		(128u * 1024)
/* Freed blocks kept, at most: how many, and their bytes together. */
#define MSG_BIG_KEEP		4
#define MSG_BIG_KEEP_BYTES	((size_t)32 << 20)

/* Payload bytes a small block holds, and how many a thread keeps. */
#define MSG_SMALL_LEN		64u
#define MSG_SMALL_KEEP		1024u
/* chan_msg.mapped of a small block (from malloc, MSG_SMALL_SIZE bytes). */
#define MSG_SMALL		1u
#define MSG_SMALL_SIZE		(sizeof(struct chan_msg) + MSG_SMALL_LEN + 1)

/* A thread's freed small blocks, linked through next. */
struct msg_small_cache {
	struct chan_msg	*free;
	unsigned	 n;
	int		 registered;	/* with msg_small_key */
};

static __thread struct msg_small_cache msg_small;
static pthread_key_t	 msg_small_key;
static pthread_once_t	 msg_small_once = PTHREAD_ONCE_INIT;
static int		 msg_small_keyed;	/* msg_small_key made */

static void		 msg_small_drain(struct msg_small_cache *);

static pthread_mutex_t	 msg_big_mu = PTHREAD_MUTEX_INITIALIZER;
static struct chan_msg	*msg_big_kept[MSG_BIG_KEEP];
static size_t		 msg_big_bytes;

/*
 * A block of at least size bytes: a kept one no more than twice as big
 * (the smallest such), else a new mapping. NULL if out of memory.
 */
static struct chan_msg *
msg_big_get(size_t size)
{
	struct chan_msg	*m = NULL;
	size_t		 page = (size_t)sysconf(_SC_PAGESIZE), i, best = 0;
	void		*p;

	pthread_mutex_lock(&msg_big_mu);
	for (i = 0; i < MSG_BIG_KEEP; i++) {
		if (msg_big_kept[i] == NULL || msg_big_kept[i]->mapped < size ||
		    msg_big_kept[i]->mapped / 2 > size)
			continue;
		if (m == NULL || msg_big_kept[i]->mapped < m->mapped) {
			m = msg_big_kept[i];
			best = i;
		}
	}
	if (m != NULL) {
		msg_big_kept[best] = NULL;
		msg_big_bytes -= m->mapped;
	}
	pthread_mutex_unlock(&msg_big_mu);
	if (m != NULL)
		return m;
	size = (size + page - 1) / page * page;
	if ((p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		return NULL;
	m = p;
	m->mapped = size;
	return m;
}

/* Keeps m's block for the next large message, or unmaps it. */
static void
msg_big_put(struct chan_msg *m)
{
	size_t	i;

	pthread_mutex_lock(&msg_big_mu);
	if (msg_big_bytes + m->mapped <= MSG_BIG_KEEP_BYTES) {
		for (i = 0; i < MSG_BIG_KEEP; i++) {
			if (msg_big_kept[i] == NULL) {
				msg_big_kept[i] = m;
				msg_big_bytes += m->mapped;
				m = NULL;
				break;
			}
		}
	}
	pthread_mutex_unlock(&msg_big_mu);
	if (m != NULL)
		munmap(m, m->mapped);
}

/*
 * At exit (or when the library is unloaded): the kept blocks go, the
 * large ones and the small ones of the calling thread; and the key, so
 * that no thread's exit calls into an unloaded library (the blocks other
 * threads kept are then left to the process).
 */
__attribute__((destructor)) static void
msg_big_drain(void)
{
	size_t	i;

	pthread_mutex_lock(&msg_big_mu);
	for (i = 0; i < MSG_BIG_KEEP; i++) {
		if (msg_big_kept[i] != NULL)
			munmap(msg_big_kept[i], msg_big_kept[i]->mapped);
		msg_big_kept[i] = NULL;
	}
	msg_big_bytes = 0;
	pthread_mutex_unlock(&msg_big_mu);
	msg_small_drain(&msg_small);
	if (msg_small_keyed) {
		(void)pthread_key_delete(msg_small_key);
		msg_small_keyed = 0;
	}
}

/* Gives back the blocks cache keeps. */
static void
msg_small_drain(struct msg_small_cache *cache)
{
	struct chan_msg	*m;

	while ((m = cache->free) != NULL) {
		cache->free = m->next;
		free(m);
	}
	cache->n = 0;
}

/* A thread that kept blocks exits: they go (arg is its cache). */
static void
msg_small_exit(void *arg)
{
	struct msg_small_cache	*cache = arg;

	msg_small_drain(cache);
	/* A later destructor's free registers the thread again. */
	cache->registered = 0;
}

static void
msg_small_key_make(void)
{
	msg_small_keyed = pthread_key_create(&msg_small_key,
	    msg_small_exit) == 0;
}

/* A small block: one this thread kept, else a new one. */
static struct chan_msg *
msg_small_get(void)
{
	struct chan_msg	*m;

	if ((m = msg_small.free) != NULL) {
		msg_small.free = m->next;
		msg_small.n--;
		return m;
	}
	if ((m = malloc(MSG_SMALL_SIZE)) != NULL)
		m->mapped = MSG_SMALL;
	return m;
}

/* Keeps small block m for this thread's next message, or frees it. */
static void
msg_small_put(struct chan_msg *m)
{
	if (!MSG_SMALL_CACHE || msg_small.n == MSG_SMALL_KEEP) {
		free(m);
		return;
	}
	/* The first block the thread keeps: its exit gives them back. */
	if (!msg_small.registered) {
		(void)pthread_once(&msg_small_once, msg_small_key_make);
		if (!msg_small_keyed || pthread_setspecific(msg_small_key,
		    &msg_small) != 0) {
			free(m);
			return;
		}
		msg_small.registered = 1;
	}
	m->next = msg_small.free;
	msg_small.free = m;
	msg_small.n++;
}

struct chan_msg *
msg_new(uint32_t handle, uint64_t seq, int redelivered, const void *data,
    size_t len)
{
	struct chan_msg *m;
	size_t size;

	if (len > SIZE_MAX - sizeof(*m) - 1)
		return NULL;
	/* One spare byte: a text payload can be used as a C string. */
	size = sizeof(*m) + len + 1;
	if (len >= MSG_BIG_MIN)
		m = msg_big_get(size);
	else if (len <= MSG_SMALL_LEN)
		m = msg_small_get();
	else if ((m = malloc(size)) != NULL)
		m->mapped = 0;
	if (m == NULL)
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
	if (m != NULL && m->mapped == MSG_SMALL)
		msg_small_put(m);
	else if (m != NULL && m->mapped != 0)
		msg_big_put(m);
	else
		free(m);
}

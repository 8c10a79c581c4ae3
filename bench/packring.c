/* SPDX-License-Identifier: MIT */
/*
 * packring.c: the ring of packed runs (packring.h): its header, the
 * writer and the reader. As in proto/shmring.c, every word the reader
 * checks is an atomic load into a local, so that a writer scribbling
 * over the mapping can show it garbage but not make it use a value
 * other than the one it checked.
 */
#include <string.h>

#include "packring.h"

static inline uint64_t
ld64(const void *p, size_t off, int order)
{
	return (__atomic_load_n((const uint64_t *)(const void *)
	    ((const unsigned char *)p + off), order));
}

static inline uint32_t
ld32(const void *p, size_t off, int order)
{
	return (__atomic_load_n((const uint32_t *)(const void *)
	    ((const unsigned char *)p + off), order));
}

static inline void
st64(void *p, size_t off, uint64_t v, int order)
{
	__atomic_store_n((uint64_t *)(void *)((unsigned char *)p + off), v,
	    order);
}

static inline void
st32(void *p, size_t off, uint32_t v, int order)
{
	__atomic_store_n((uint32_t *)(void *)((unsigned char *)p + off), v,
	    order);
}

void
packring_init(void *base, uint32_t data_size)
{
	memset(base, 0, PACKRING_HDR_SIZE);
	st32(base, PACKRING_OFF_MAGIC, PACKRING_MAGIC, __ATOMIC_RELAXED);
	st32(base, PACKRING_OFF_DATA_SIZE, data_size, __ATOMIC_RELAXED);
}

/* The data size of the ring at base (map_size bytes), or 0 if invalid. */
static uint32_t
packring_check(const void *base, size_t map_size)
{
	uint32_t	size;

	if (map_size < PACKRING_HDR_SIZE ||
	    ld32(base, PACKRING_OFF_MAGIC, __ATOMIC_RELAXED) != PACKRING_MAGIC)
		return (0);
	size = ld32(base, PACKRING_OFF_DATA_SIZE, __ATOMIC_RELAXED);
	if (size < 4096 || size > (1u << 30) || (size & (size - 1)) != 0 ||
	    map_size - PACKRING_HDR_SIZE != size)
		return (0);
	return (size);
}

int
packring_attach(struct packring_writer *w, void *base, size_t map_size)
{
	memset(w, 0, sizeof(*w));
	if ((w->data_size = packring_check(base, map_size)) == 0)
		return (-1);
	w->base = base;
	w->data = (unsigned char *)base + PACKRING_HDR_SIZE;
	w->head = ld64(base, PACKRING_OFF_HEAD, __ATOMIC_RELAXED);
	return (0);
}

/*
 * Where a run of need bytes goes: 0 with *off, after writing a padding
 * run to the end of the area if need does not fit before it (*room, the
 * free bytes, shrinks by it); -1 if the ring lacks room.
 */
static int
packring_place(struct packring_writer *w, uint64_t *room, uint64_t need,
    uint64_t *off)
{
	uint64_t	to_end;

	*off = w->head & (w->data_size - 1);
	to_end = w->data_size - *off;
	if (to_end >= need)
		return (*room >= need ? 0 : -1);
	if (*room < to_end + need)
		return (-1);
	st32(w->data + *off, 0, PACKRING_PAD, __ATOMIC_RELAXED);
	st32(w->data + *off, 4, packring_commit_word(w->runs),
	    __ATOMIC_RELAXED);
	w->head += to_end;
	w->runs++;
	*room -= to_end;
	*off = 0;
	return (0);
}

/* Copies frames of v into body, up to limit bytes: how many bytes. */
static uint64_t
packring_fill(unsigned char *body, const struct iovec *v, size_t n,
    uint64_t limit, size_t budget, uint32_t max_msg, size_t *taken)
{
	uint64_t	used = 0, f;
	uint32_t	len;
	size_t		i;

	for (i = 0; i < n; i++) {
		if (v[i].iov_len > max_msg)
			break;
		len = (uint32_t)v[i].iov_len;
		f = packring_frame_size(len);
		/* The first frame was placed: it fits whatever the budget. */
		if (used + f > limit || (i > 0 && used + f > budget))
			break;
		memcpy(body + used, &len, PACKRING_FRAME_HDR);
		memcpy(body + used + PACKRING_FRAME_HDR, v[i].iov_base, len);
		used += f;
	}
	*taken = i;
	return (used);
}

unsigned char *
packring_reserve(struct packring_writer *w, uint32_t len, uint64_t *limit)
{
	uint64_t	 room, off;

	room = w->data_size - (w->head - ld64(w->base, PACKRING_OFF_TAIL,
	    __ATOMIC_ACQUIRE));
	if (packring_place(w, &room, packring_run_size(packring_frame_size(
	    len)), &off) != 0)
		return (NULL);
	*limit = w->data_size - off < room ? w->data_size - off : room;
	*limit -= PACKRING_RUN_HDR;
	if (*limit > packring_max_body(w->data_size))
		*limit = packring_max_body(w->data_size);
	w->run = w->data + off;
	return (w->run + PACKRING_RUN_HDR);
}

void
packring_commit(struct packring_writer *w, uint64_t body, uint32_t count,
    uint64_t stamp)
{
	unsigned char	*r = w->run;

	st64(r, 16, stamp, __ATOMIC_RELAXED);
	st32(r, 8, count, __ATOMIC_RELAXED);
	st32(r, 12, 0, __ATOMIC_RELAXED);
	st32(r, 0, (uint32_t)body, __ATOMIC_RELAXED);
	st32(r, 4, packring_commit_word(w->runs), __ATOMIC_RELAXED);
	w->head += packring_run_size(body);
	w->runs++;
	w->run = NULL;
	/* Sequentially consistent, as shmring_publish: the same cost. */
	st64(w->base, PACKRING_OFF_HEAD, w->head, __ATOMIC_SEQ_CST);
}

size_t
packring_put(struct packring_writer *w, const struct iovec *v, size_t n,
    size_t max, size_t budget, uint64_t stamp, int *rc)
{
	uint32_t	 max_msg = packring_max_msg(w->data_size);
	uint64_t	 body, limit;
	unsigned char	*b;
	size_t		 taken;

	*rc = 0;
	if (n == 0 || max == 0)
		return (0);
	if (v[0].iov_len > max_msg) {
		*rc = -1;
		return (0);
	}
	if ((b = packring_reserve(w, (uint32_t)v[0].iov_len, &limit)) == NULL)
		return (0);
	body = packring_fill(b, v, n < max ? n : max, limit, budget, max_msg,
	    &taken);
	packring_commit(w, body, (uint32_t)taken, stamp);
	return (taken);
}

int
packring_reader_attach(struct packring_reader *rd, const void *base,
    size_t map_size)
{
	memset(rd, 0, sizeof(*rd));
	if ((rd->data_size = packring_check(base, map_size)) == 0)
		return (-1);
	rd->data = (const unsigned char *)base + PACKRING_HDR_SIZE;
	return (0);
}

int
packring_poll(struct packring_reader *rd, const void *base)
{
	uint64_t	head = ld64(base, PACKRING_OFF_HEAD, __ATOMIC_SEQ_CST);

	if ((head & 7) != 0 || head < rd->pos ||
	    head - rd->tail > rd->data_size)
		return (-1);
	rd->head = head;
	return (0);
}

/* The checked header of a run of len body bytes at r into run. */
static int
packring_open(const unsigned char *r, uint32_t len, struct packring_run *run)
{
	uint32_t	count = ld32(r, 8, __ATOMIC_RELAXED);

	if (count == 0)
		return (-1);
	run->body = r + PACKRING_RUN_HDR;
	run->len = len;
	run->count = run->left = count;
	run->stamp = ld64(r, 16, __ATOMIC_RELAXED);
	run->off = 0;
	return (0);
}

int
packring_next(struct packring_reader *rd, struct packring_run *run)
{
	const unsigned char	*r;
	uint64_t		 avail, off, need;
	uint32_t		 len;

	while (rd->pos != rd->head) {
		avail = rd->head - rd->pos;
		off = rd->pos & (rd->data_size - 1);
		r = rd->data + off;
		len = ld32(r, 0, __ATOMIC_RELAXED);
		if (ld32(r, 4, __ATOMIC_RELAXED) !=
		    packring_commit_word(rd->runs))
			return (-1);
		/* Padding runs to the end of the data area. */
		need = len == PACKRING_PAD ? rd->data_size - off :
		    packring_run_size(len);
		if (need > avail || need > rd->data_size - off)
			return (-1);
		if (len != PACKRING_PAD && (len > packring_max_body(
		    rd->data_size) || packring_open(r, len, run) != 0))
			return (-1);
		rd->pos += need;
		rd->runs++;
		if (len != PACKRING_PAD)
			return (1);
	}
	return (0);
}

void
packring_release(struct packring_reader *rd, void *base)
{
	rd->tail = rd->pos;
	st64(base, PACKRING_OFF_TAIL, rd->pos, __ATOMIC_SEQ_CST);
}

/* SPDX-License-Identifier: MIT */
/*
 * shmring.c: the shared-memory ring of one producer handle: its header,
 * the producer's writer and the daemon's reader (docs/protocol.md,
 * "Shared-memory data path").
 *
 * Every access to the mapping is an atomic load or store of an aligned
 * word, and each word the reader checks is read once into a local, so
 * that a producer writing the mapping concurrently can make the reader
 * see garbage but never make it use a value other than the one it
 * checked.
 */
#include <string.h>

#include "chanclient.h"
#include "shmring.h"

static inline uint64_t
ld64(const void *base, size_t off, int order)
{
	return (__atomic_load_n((const uint64_t *)(const void *)
	    ((const unsigned char *)base + off), order));
}

static inline uint32_t
ld32(const void *base, size_t off, int order)
{
	return (__atomic_load_n((const uint32_t *)(const void *)
	    ((const unsigned char *)base + off), order));
}

static inline void
st64(void *base, size_t off, uint64_t v, int order)
{
	__atomic_store_n((uint64_t *)(void *)((unsigned char *)base + off), v,
	    order);
}

static inline void
st32(void *base, size_t off, uint32_t v, int order)
{
	__atomic_store_n((uint32_t *)(void *)((unsigned char *)base + off), v,
	    order);
}

bool
shmring_valid_sizes(uint32_t data_size, uint32_t max_record)
{
	if (data_size < SHMRING_MIN_DATA || data_size > SHMRING_MAX_DATA ||
	    (data_size & (data_size - 1)) != 0)
		return (false);
	return (max_record <= shmring_max_record(data_size));
}

uint32_t
shmring_max_record(uint32_t data_size)
{
	/* A record and the padding before it (less than a record) fit. */
	return (data_size / 2 - SHMRING_REC_HDR);
}

void
shmring_init(void *base, uint32_t data_size, uint32_t max_record)
{
	unsigned char	*b = base;

	memset(b, 0, SHMRING_HDR_SIZE);
	st32(b, SHMRING_OFF_MAGIC, SHMRING_MAGIC, __ATOMIC_RELAXED);
	memcpy(b + SHMRING_OFF_VERSION, &(uint16_t){ SHMRING_VERSION }, 2);
	memcpy(b + SHMRING_OFF_HDR_SIZE, &(uint16_t){ SHMRING_HDR_SIZE }, 2);
	st32(b, SHMRING_OFF_DATA_SIZE, data_size, __ATOMIC_RELAXED);
	st32(b, SHMRING_OFF_MAX_RECORD, max_record, __ATOMIC_RELAXED);
}

/* The header of a ring mapped at base (map_size bytes): 0 if valid. */
static int
shmring_check(const void *base, size_t map_size, uint32_t *size,
    uint32_t *maxrec)
{
	const unsigned char	*b = base;
	uint16_t		 version, hdr;

	if (map_size < SHMRING_HDR_SIZE)
		return (-1);
	memcpy(&version, b + SHMRING_OFF_VERSION, 2);
	memcpy(&hdr, b + SHMRING_OFF_HDR_SIZE, 2);
	*size = ld32(b, SHMRING_OFF_DATA_SIZE, __ATOMIC_RELAXED);
	*maxrec = ld32(b, SHMRING_OFF_MAX_RECORD, __ATOMIC_RELAXED);
	if (ld32(b, SHMRING_OFF_MAGIC, __ATOMIC_RELAXED) != SHMRING_MAGIC ||
	    version != SHMRING_VERSION || hdr != SHMRING_HDR_SIZE ||
	    !shmring_valid_sizes(*size, *maxrec) ||
	    map_size - SHMRING_HDR_SIZE != *size)
		return (-1);
	return (0);
}

int
shmring_reader_attach(struct shmring_reader *rd, const void *base,
    size_t map_size)
{
	uint32_t	size, maxrec;

	if (shmring_check(base, map_size, &size, &maxrec) != 0)
		return (-1);
	shmring_reader_init(rd, base, size, maxrec);
	return (0);
}

int
shmring_attach(struct shmring_writer *w, void *base, size_t map_size)
{
	unsigned char	*b = base;
	uint32_t	 size, maxrec;

	if (shmring_check(base, map_size, &size, &maxrec) != 0)
		return (-1);
	memset(w, 0, sizeof(*w));
	w->base = b;
	w->data = b + SHMRING_HDR_SIZE;
	w->data_size = size;
	w->max_record = maxrec;
	w->head = ld64(b, SHMRING_OFF_HEAD, __ATOMIC_RELAXED);
	w->sent = ld64(b, SHMRING_OFF_SENT, __ATOMIC_RELAXED);
	w->sent_bytes = ld64(b, SHMRING_OFF_SENT_BYTES, __ATOMIC_RELAXED);
	return (0);
}

int
shmring_room(const struct shmring_writer *w, struct shmring_room *room)
{
	if (ld32(w->base, SHMRING_OFF_CLOSED, __ATOMIC_ACQUIRE) != 0)
		return (CHAN_ECONNLOST);
	room->msgs = ld64(w->base, SHMRING_OFF_GRANT_MSGS, __ATOMIC_ACQUIRE);
	room->bytes = ld64(w->base, SHMRING_OFF_GRANT_BYTES,
	    __ATOMIC_ACQUIRE);
	room->tail = ld64(w->base, SHMRING_OFF_TAIL, __ATOMIC_ACQUIRE);
	return (0);
}

/*
 * Where a record of len payload bytes would go within room: 0 with *off
 * (its offset in the data area) and *pad (padding bytes before it, at the
 * old head), CHAN_EFULL or CHAN_ETOOBIG.
 */
static int
shmring_place_in(const struct shmring_writer *w,
    const struct shmring_room *room, uint32_t len, uint64_t *off,
    uint64_t *pad)
{
	uint64_t	 need, to_end;

	if (len > w->max_record)
		return (CHAN_ETOOBIG);
	if (w->sent >= room->msgs || w->sent_bytes + len > room->bytes)
		return (CHAN_EFULL);
	need = shmring_rec_size(len);
	*off = w->head & (w->data_size - 1);
	to_end = w->data_size - *off;
	*pad = to_end < need ? to_end : 0;
	if (w->data_size - (w->head - room->tail) < *pad + need)
		return (CHAN_EFULL);
	return (0);
}

/* shmring_place_in of the room there is now, or CHAN_ECONNLOST. */
static int
shmring_place(const struct shmring_writer *w, uint32_t len, uint64_t *off,
    uint64_t *pad)
{
	struct shmring_room room;
	int		 rc;

	if ((rc = shmring_room(w, &room)) != 0)
		return (rc);
	return (shmring_place_in(w, &room, len, off, pad));
}

int
shmring_fits(const struct shmring_writer *w, uint32_t len)
{
	uint64_t	off, pad;

	return (shmring_place(w, len, &off, &pad));
}

int
shmring_put(struct shmring_writer *w, const void *p, uint32_t len,
    uint64_t stamp)
{
	return (shmring_put2(w, p, len, NULL, 0, stamp));
}

int
shmring_put2(struct shmring_writer *w, const void *a, uint32_t alen,
    const void *b, uint32_t blen, uint64_t stamp)
{
	int	rc;

	if ((rc = shmring_put2_held(w, a, alen, b, blen, stamp)) == 0)
		shmring_publish(w);
	return (rc);
}

void
shmring_publish(struct shmring_writer *w)
{
	st64(w->base, SHMRING_OFF_SENT, w->sent, __ATOMIC_RELAXED);
	st64(w->base, SHMRING_OFF_SENT_BYTES, w->sent_bytes, __ATOMIC_RELAXED);
	/* The records are committed: the head covers them. */
	st64(w->base, SHMRING_OFF_HEAD, w->head, __ATOMIC_SEQ_CST);
}

/* Writes a record at off, after pad bytes of padding: not committed. */
static void
shmring_write(struct shmring_writer *w, uint64_t off, uint64_t pad,
    const void *a, uint32_t alen, const void *b, uint32_t blen,
    uint64_t stamp)
{
	unsigned char	*r;
	uint32_t	 len = alen + blen;

	if (pad > 0) {
		r = w->data + off;
		st32(r, 0, SHMRING_PAD, __ATOMIC_RELAXED);
		st32(r, 4, shmring_commit_word(w->sent), __ATOMIC_RELAXED);
		w->head += pad;
		off = 0;
	}
	r = w->data + off;
	if (alen > 0)
		memcpy(r + SHMRING_REC_HDR, a, alen);
	if (blen > 0)
		memcpy(r + SHMRING_REC_HDR + alen, b, blen);
	st64(r, 8, stamp, __ATOMIC_RELAXED);
	st32(r, 0, len, __ATOMIC_RELAXED);
	st32(r, 4, shmring_commit_word(w->sent), __ATOMIC_RELAXED);
	w->head += shmring_rec_size(len);
	w->sent++;
	w->sent_bytes += len;
}

int
shmring_put2_held(struct shmring_writer *w, const void *a, uint32_t alen,
    const void *b, uint32_t blen, uint64_t stamp)
{
	uint64_t	 off, pad;
	int		 rc;

	if (alen > UINT32_MAX - blen)
		return (CHAN_ETOOBIG);
	if ((rc = shmring_place(w, alen + blen, &off, &pad)) != 0)
		return (rc);
	shmring_write(w, off, pad, a, alen, b, blen, stamp);
	return (0);
}

/*
 * shmring_place_in and shmring_write for a run, with the writer's cursors
 * in locals: a batch of small records costs their stores and little else.
 */
size_t
shmring_put_run_in(struct shmring_writer *w, const struct shmring_room *room,
    const struct iovec *v, size_t n, size_t limit, size_t budget,
    uint64_t stamp, int *rc)
{
	uint64_t	 head = w->head, sent = w->sent, bytes = w->sent_bytes;
	uint64_t	 room_left = w->data_size - (head - room->tail);
	uint64_t	 need, off, pad;
	size_t		 i, len, written = 0;
	unsigned char	*r;

	if (limit > w->max_record)
		limit = w->max_record;
	*rc = 0;
	for (i = 0; i < n && written < budget; i++) {
		len = v[i].iov_len;
		if (len > limit || (v[i].iov_base == NULL && len > 0)) {
			*rc = len > limit ? CHAN_ETOOBIG : CHAN_EINVAL;
			break;
		}
		need = shmring_rec_size((uint32_t)len);
		off = head & (w->data_size - 1);
		pad = w->data_size - off < need ? w->data_size - off : 0;
		if (sent >= room->msgs || bytes + len > room->bytes ||
		    room_left < pad + need) {
			*rc = CHAN_EFULL;
			break;
		}
		if (pad > 0) {
			r = w->data + off;
			st32(r, 0, SHMRING_PAD, __ATOMIC_RELAXED);
			st32(r, 4, shmring_commit_word(sent), __ATOMIC_RELAXED);
			head += pad;
			room_left -= pad;
			off = 0;
		}
		r = w->data + off;
		if (len > 0)
			memcpy(r + SHMRING_REC_HDR, v[i].iov_base, len);
		st64(r, 8, stamp, __ATOMIC_RELAXED);
		st32(r, 0, (uint32_t)len, __ATOMIC_RELAXED);
		st32(r, 4, shmring_commit_word(sent), __ATOMIC_RELAXED);
		head += need;
		room_left -= need;
		sent++;
		bytes += len;
		written += len;
	}
	w->head = head;
	w->sent = sent;
	w->sent_bytes = bytes;
	return (i);
}

void
shmring_set_prod_wait(struct shmring_writer *w, uint32_t v)
{
	st32(w->base, SHMRING_OFF_PROD_WAIT, v, __ATOMIC_SEQ_CST);
}

void
shmring_set_want(struct shmring_writer *w, uint32_t len)
{
	st32(w->base, SHMRING_OFF_WANT, len, __ATOMIC_RELAXED);
}

uint32_t
shmring_producer_want(const void *base)
{
	return (ld32(base, SHMRING_OFF_WANT, __ATOMIC_RELAXED));
}

uint32_t
shmring_ask(struct shmring_writer *w, uint32_t len)
{
	uint32_t	n = ld32(w->base, SHMRING_OFF_ASK, __ATOMIC_RELAXED) + 1;

	st32(w->base, SHMRING_OFF_WANT, len, __ATOMIC_RELAXED);
	st32(w->base, SHMRING_OFF_ASK, n, __ATOMIC_SEQ_CST);
	return (n);
}

bool
shmring_answered(const struct shmring_writer *w, uint32_t ask)
{
	return (ld32(w->base, SHMRING_OFF_ANSWERED, __ATOMIC_SEQ_CST) ==
	    ask);
}

bool
shmring_asked_answered(const void *base)
{
	return (ld32(base, SHMRING_OFF_ANSWERED, __ATOMIC_SEQ_CST) ==
	    ld32(base, SHMRING_OFF_ASK, __ATOMIC_SEQ_CST));
}

void
shmring_answer(void *base)
{
	st32(base, SHMRING_OFF_ANSWERED, ld32(base, SHMRING_OFF_ASK,
	    __ATOMIC_SEQ_CST), __ATOMIC_SEQ_CST);
}

bool
shmring_take_wake(struct shmring_writer *w)
{
	uint32_t	*p = (uint32_t *)(void *)(w->base + SHMRING_OFF_CONS_WAIT);
	uint32_t	 one = 1;

	if (__atomic_load_n(p, __ATOMIC_SEQ_CST) == 0)
		return (false);
	return (__atomic_compare_exchange_n(p, &one, 0, false,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
}

bool
shmring_drained(const struct shmring_writer *w)
{
	return (ld64(w->base, SHMRING_OFF_TAIL, __ATOMIC_ACQUIRE) ==
	    w->head);
}

int
shmring_closed(const struct shmring_writer *w)
{
	return ((int)ld32(w->base, SHMRING_OFF_CLOSED, __ATOMIC_ACQUIRE));
}

bool
shmring_stamp_needed(const struct shmring_writer *w)
{
	return (ld32(w->base, SHMRING_OFF_ALONE, __ATOMIC_SEQ_CST) != 1);
}

void
shmring_reader_init(struct shmring_reader *rd, const void *base,
    uint32_t data_size, uint32_t max_record)
{
	memset(rd, 0, sizeof(*rd));
	rd->data = (const unsigned char *)base + SHMRING_HDR_SIZE;
	rd->data_size = data_size;
	rd->max_record = max_record;
}

int
shmring_poll(struct shmring_reader *rd, const void *base)
{
	uint64_t	head = ld64(base, SHMRING_OFF_HEAD, __ATOMIC_SEQ_CST);

	if ((head & (SHMRING_ALIGN - 1)) != 0 || head < rd->pos ||
	    head - rd->tail > rd->data_size)
		return (-1);
	rd->head = head;
	return (0);
}

bool
shmring_moved(const void *base, uint64_t pos)
{
	/* Sequentially consistent: after the reader's store to cons_wait,
	   this load must not move before it (the writer's side is so). */
	return (ld64(base, SHMRING_OFF_HEAD, __ATOMIC_SEQ_CST) != pos);
}

int
shmring_peek(struct shmring_reader *rd, const unsigned char **payload,
    uint32_t *len, uint64_t *stamp)
{
	const unsigned char	*r;
	uint64_t		 avail, off, need;
	uint32_t		 n, commit;

	while (rd->pos != rd->head) {
		avail = rd->head - rd->pos;
		off = rd->pos & (rd->data_size - 1);
		r = rd->data + off;
		n = ld32(r, 0, __ATOMIC_RELAXED);
		commit = ld32(r, 4, __ATOMIC_RELAXED);
		if (commit != shmring_commit_word(rd->taken))
			return (-1);
		if (n == SHMRING_PAD) {
			/* Padding runs to the end of the data area. */
			need = rd->data_size - off;
			if (need > avail)
				return (-1);
			rd->pos += need;
			continue;
		}
		if (n > rd->max_record)
			return (-1);
		need = shmring_rec_size(n);
		if (need > avail || need > rd->data_size - off)
			return (-1);
		*payload = r + SHMRING_REC_HDR;
		*len = n;
		*stamp = ld64(r, 8, __ATOMIC_RELAXED);
		rd->peeked = need;
		return (1);
	}
	return (0);
}

void
shmring_skip(struct shmring_reader *rd)
{
	rd->pos += rd->peeked;
	rd->peeked = 0;
	rd->taken++;
}

int64_t
shmring_take_run(struct shmring_reader *rd, struct shmring_rec *out,
    size_t max, size_t budget)
{
	uint64_t	stamp;
	size_t		n = 0, bytes = 0;
	int		rc = 0;

	while (n < max && bytes < budget && (rc = shmring_peek(rd, &out[n].p,
	    &out[n].len, &stamp)) == 1) {
		shmring_skip(rd);
		bytes += out[n].len;
		n++;
	}
	return (rc < 0 && n == 0 ? -1 : (int64_t)n);
}

int
shmring_next(struct shmring_reader *rd, const unsigned char **payload,
    uint32_t *len)
{
	uint64_t	stamp;
	int		rc;

	if ((rc = shmring_peek(rd, payload, len, &stamp)) == 1)
		shmring_skip(rd);
	return (rc);
}

void
shmring_release(struct shmring_reader *rd, void *base)
{
	rd->tail = rd->pos;
	st64(base, SHMRING_OFF_TAKEN, rd->taken, __ATOMIC_RELAXED);
	st64(base, SHMRING_OFF_TAIL, rd->pos, __ATOMIC_SEQ_CST);
}

void
shmring_grant(void *base, uint64_t msgs, uint64_t bytes)
{
	st64(base, SHMRING_OFF_GRANT_BYTES, bytes, __ATOMIC_RELAXED);
	st64(base, SHMRING_OFF_GRANT_MSGS, msgs, __ATOMIC_SEQ_CST);
}

void
shmring_close(void *base, int code)
{
	st32(base, SHMRING_OFF_CLOSED, (uint32_t)(code != 0 ? code :
	    CHAN_ECONNLOST), __ATOMIC_SEQ_CST);
}

bool
shmring_producer_waits(const void *base)
{
	return (ld32(base, SHMRING_OFF_PROD_WAIT, __ATOMIC_SEQ_CST) != 0);
}

uint32_t
shmring_producer_wait_kind(const void *base)
{
	return (ld32(base, SHMRING_OFF_PROD_WAIT, __ATOMIC_SEQ_CST));
}

void
shmring_set_cons_wait(void *base, uint32_t v)
{
	st32(base, SHMRING_OFF_CONS_WAIT, v, __ATOMIC_SEQ_CST);
}

void
shmring_sent(const void *base, uint64_t *msgs, uint64_t *bytes)
{
	*msgs = ld64(base, SHMRING_OFF_SENT, __ATOMIC_ACQUIRE);
	*bytes = ld64(base, SHMRING_OFF_SENT_BYTES, __ATOMIC_ACQUIRE);
}

bool
shmring_cons_waits(const void *base)
{
	return (ld32(base, SHMRING_OFF_CONS_WAIT, __ATOMIC_RELAXED) != 0);
}

void
shmring_set_alone(void *base, bool alone)
{
	st32(base, SHMRING_OFF_ALONE, alone ? 1 : 0, __ATOMIC_SEQ_CST);
}

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
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "chanclient.h"
#include "shmring.h"

/*
 * How far ahead of its stores a writer asks for the ring's lines
 * (shmring_prefetch_w): a few lines, so that they come while it writes
 * the ones before.
 */
#define SHMRING_PREFETCH_AHEAD	256u

static void	shmring_end_bundle(struct shmring_writer *, uint64_t);

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
	st32(b, SHMRING_OFF_FLAGS, SHMRING_FLAG_BUNDLES, __ATOMIC_RELAXED);
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

/* Whether the CPU can prefetch a line for writing (x86: PREFETCHW). */
static bool
shmring_cpu_prefetch_w(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int	a, b, c, d;

	return (__get_cpuid(0x80000001, &a, &b, &c, &d) != 0 &&
	    (c & bit_PRFCHW) != 0);
#else
	return (true);
#endif
}

/*
 * Asks for the line at ring position pos, ahead of the writer's stores,
 * for writing, if it is free space (before end). The consumer read that
 * line last, on another CPU, and a store that waits for it stalls the
 * writer: at 16 bytes a message, a third of a send. The compiler emits
 * PREFETCHW only for some -march settings, hence the instruction itself
 * on x86, where shmring_attach checked the CPU has it.
 */
static inline void
shmring_prefetch_w(const struct shmring_writer *w, uint64_t pos,
    uint64_t end)
{
	const unsigned char	*p;

	if (!w->prefetch || pos >= end)
		return;
	p = w->data + (pos & (w->data_size - 1));
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("prefetchw %0" : : "m" (*p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
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
	w->bundles = (ld32(b, SHMRING_OFF_FLAGS, __ATOMIC_RELAXED) &
	    SHMRING_FLAG_BUNDLES) != 0;
	w->prefetch = shmring_cpu_prefetch_w();
	return (0);
}

void
shmring_claim_grants(struct shmring_writer *w)
{
	w->claims = true;
	w->claim_msgs = w->sent;
	w->claim_bytes = w->sent_bytes;
	st64(w->base, SHMRING_OFF_CLAIM_BYTES, w->claim_bytes,
	    __ATOMIC_SEQ_CST);
	st64(w->base, SHMRING_OFF_CLAIM_MSGS, w->claim_msgs, __ATOMIC_SEQ_CST);
}

/* The smaller of a and b. */
static inline uint64_t
shmring_min(uint64_t a, uint64_t b)
{
	return (a < b ? a : b);
}

/*
 * Claims the next part of the grant (msgs, bytes, as read) once less than
 * half a part is left. The claims are stored before the grant is read
 * again, all sequentially consistent, while the daemon lowers the grant
 * before it reads the claims (shmring_take_back): so either the daemon
 * sees these claims and keeps them granted, or this read sees the lowered
 * grant and the claims come down to it.
 */
static void
shmring_claim(struct shmring_writer *w, uint64_t msgs, uint64_t bytes)
{
	uint64_t	part = shmring_claim_part_bytes(w->max_record), cm, cb;

	if (!((msgs > w->claim_msgs && w->claim_msgs - w->sent <
	    SHMRING_CLAIM_MSGS / 2) || (bytes > w->claim_bytes &&
	    w->claim_bytes - w->sent_bytes < part / 2)))
		return;
	cm = shmring_min(msgs, w->sent + SHMRING_CLAIM_MSGS);
	cb = shmring_min(bytes, w->sent_bytes + part);
	if (cm < w->claim_msgs)
		cm = w->claim_msgs;
	if (cb < w->claim_bytes)
		cb = w->claim_bytes;
	st64(w->base, SHMRING_OFF_CLAIM_BYTES, cb, __ATOMIC_SEQ_CST);
	st64(w->base, SHMRING_OFF_CLAIM_MSGS, cm, __ATOMIC_SEQ_CST);
	msgs = ld64(w->base, SHMRING_OFF_GRANT_MSGS, __ATOMIC_SEQ_CST);
	bytes = ld64(w->base, SHMRING_OFF_GRANT_BYTES, __ATOMIC_SEQ_CST);
	if (msgs < cm || bytes < cb) {
		/* Taken back meanwhile: never below what it committed. */
		cm = msgs < cm ? (msgs > w->sent ? msgs : w->sent) : cm;
		cb = bytes < cb ? (bytes > w->sent_bytes ? bytes :
		    w->sent_bytes) : cb;
		st64(w->base, SHMRING_OFF_CLAIM_BYTES, cb, __ATOMIC_RELEASE);
		st64(w->base, SHMRING_OFF_CLAIM_MSGS, cm, __ATOMIC_RELEASE);
	}
	w->claim_msgs = cm;
	w->claim_bytes = cb;
}

int
shmring_room(struct shmring_writer *w, struct shmring_room *room)
{
	if (ld32(w->base, SHMRING_OFF_CLOSED, __ATOMIC_ACQUIRE) != 0)
		return (CHAN_ECONNLOST);
	room->msgs = ld64(w->base, SHMRING_OFF_GRANT_MSGS, __ATOMIC_ACQUIRE);
	room->bytes = ld64(w->base, SHMRING_OFF_GRANT_BYTES,
	    __ATOMIC_ACQUIRE);
	room->tail = ld64(w->base, SHMRING_OFF_TAIL, __ATOMIC_ACQUIRE);
	if (w->claims) {
		shmring_claim(w, room->msgs, room->bytes);
		room->msgs = w->claim_msgs;
		room->bytes = w->claim_bytes;
	}
	return (0);
}

/*
 * Where a record of len payload bytes would go within room: 0 with *off
 * (its offset in the data area) and *pad (padding bytes before it, at the
 * old head), CHAN_EFULL or CHAN_ETOOBIG.
 */
/*
 * Whether a data area of size bytes, its records from tail to head, has
 * space for a record of len payload bytes at head: *pad, the padding
 * before it (up to the area's end if it does not fit there).
 */
static bool
shmring_space_at(uint32_t size, uint64_t head, uint64_t tail, uint32_t len,
    uint64_t *pad)
{
	uint64_t	need = shmring_rec_size(len);
	uint64_t	to_end = size - (head & (size - 1));

	*pad = to_end < need ? to_end : 0;
	return (size - (head - tail) >= *pad + need);
}

static int
shmring_place_in(const struct shmring_writer *w,
    const struct shmring_room *room, uint32_t len, uint64_t *off,
    uint64_t *pad)
{
	if (len > w->max_record)
		return (CHAN_ETOOBIG);
	if (w->sent >= room->msgs || w->sent_bytes + len > room->bytes)
		return (CHAN_EFULL);
	*off = w->head & (w->data_size - 1);
	if (!shmring_space_at(w->data_size, w->head, room->tail, len, pad))
		return (CHAN_EFULL);
	return (0);
}

/* shmring_place_in of the room there is now, or CHAN_ECONNLOST. */
static int
shmring_place(struct shmring_writer *w, uint32_t len, uint64_t *off,
    uint64_t *pad)
{
	struct shmring_room room;
	int		 rc;

	if ((rc = shmring_room(w, &room)) != 0)
		return (rc);
	return (shmring_place_in(w, &room, len, off, pad));
}

int
shmring_fits(struct shmring_writer *w, uint32_t len)
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
	shmring_close_bundle(w);
	st64(w->base, SHMRING_OFF_SENT, w->sent, __ATOMIC_RELAXED);
	st64(w->base, SHMRING_OFF_SENT_BYTES, w->sent_bytes, __ATOMIC_RELAXED);
	/* The records are committed: the head covers them. */
	st64(w->base, SHMRING_OFF_HEAD, w->head, __ATOMIC_SEQ_CST);
}

/*
 * Writes a padding record at off, up to the data area's end: the next
 * message is number n.
 */
static void
shmring_write_pad(const struct shmring_writer *w, uint64_t off, uint64_t n)
{
	unsigned char	*r = w->data + off;

	st32(r, 0, SHMRING_PAD, __ATOMIC_RELAXED);
	st32(r, 4, shmring_commit_word(n), __ATOMIC_RELAXED);
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
		shmring_write_pad(w, off, w->sent);
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

	shmring_end_bundle(w, stamp);
	if (alen > UINT32_MAX - blen)
		return (CHAN_ETOOBIG);
	if ((rc = shmring_place(w, alen + blen, &off, &pad)) != 0)
		return (rc);
	shmring_write(w, off, pad, a, alen, b, blen, stamp);
	return (0);
}

void
shmring_close_bundle(struct shmring_writer *w)
{
	unsigned char	*r;

	if (w->ob_count == 0)
		return;
	r = w->data + (w->ob_pos & (w->data_size - 1));
	st32(r, SHMRING_REC_HDR, w->ob_count, __ATOMIC_RELAXED);
	st32(r, SHMRING_REC_HDR + 4, w->ob_bytes, __ATOMIC_RELAXED);
	st64(r, 8, w->ob_stamp, __ATOMIC_RELAXED);
	st32(r, 0, SHMRING_BUNDLE | w->ob_body, __ATOMIC_RELAXED);
	st32(r, 4, shmring_commit_word(w->ob_first), __ATOMIC_RELAXED);
	w->ob_count = 0;
}

/*
 * Closes the open bundle with a stamp read for a later message, which
 * began after every message of the bundle did, so it may stand for them.
 */
static void
shmring_end_bundle(struct shmring_writer *w, uint64_t stamp)
{
	shmring_stamp_bundle(w, stamp);
	shmring_close_bundle(w);
}

void
shmring_stamp_bundle(struct shmring_writer *w, uint64_t stamp)
{
	if (w->ob_count > 0 && stamp > w->ob_stamp)
		w->ob_stamp = stamp;
}

/* Writes a frame of the open bundle at its body's offset ob_body. */
static void
shmring_add_frame(struct shmring_writer *w, const void *p, uint32_t len,
    uint64_t stamp)
{
	unsigned char	*f = w->data + (w->ob_pos & (w->data_size - 1)) +
			    SHMRING_REC_HDR + w->ob_body;

	st32(f, 0, len, __ATOMIC_RELAXED);
	shmring_copy(f + 4, p, len);
	w->ob_body += (uint32_t)shmring_frame_size(len);
	w->ob_count++;
	w->ob_bytes += len;
	if (stamp > w->ob_stamp)
		w->ob_stamp = stamp;
	w->head = w->ob_pos + shmring_rec_size(w->ob_body);
	w->sent++;
	w->sent_bytes += len;
}

/* Whether the open bundle can take a frame of fsz bytes within room. */
static bool
shmring_add_fits(const struct shmring_writer *w,
    const struct shmring_room *room, uint64_t fsz)
{
	uint64_t	body = w->ob_body + fsz, need;

	if (body > w->max_record || w->ob_count >= SHMRING_BUNDLE_MAX_MSGS)
		return (false);
	need = shmring_rec_size((uint32_t)body);
	return ((w->ob_pos & (w->data_size - 1)) + need <= w->data_size &&
	    w->ob_pos + need - room->tail <= w->data_size);
}

int
shmring_add_unstamped(struct shmring_writer *w, const void *p,
    uint32_t len)
{
	struct shmring_room room;

	if (!w->bundles || w->ob_count == 0 ||
	    SHMRING_BUNDLE_HDR + shmring_frame_size(len) > w->max_record ||
	    shmring_room(w, &room) != 0 || w->sent >= room.msgs ||
	    w->sent_bytes + len > room.bytes ||
	    !shmring_add_fits(w, &room, shmring_frame_size(len)))
		return (1);
	shmring_add_frame(w, p, len, 0);
	return (0);
}

int
shmring_add(struct shmring_writer *w, const void *p, uint32_t len,
    uint64_t stamp)
{
	struct shmring_room room;
	uint64_t	 fsz = shmring_frame_size(len), need, off, pad;
	int		 rc;

	if (!w->bundles || SHMRING_BUNDLE_HDR + fsz > w->max_record)
		return (shmring_put2_held(w, p, len, NULL, 0, stamp));
	if ((rc = shmring_room(w, &room)) != 0)
		return (rc);
	if (w->sent >= room.msgs || w->sent_bytes + len > room.bytes)
		return (CHAN_EFULL);
	if (w->ob_count > 0 && shmring_add_fits(w, &room, fsz)) {
		shmring_prefetch_w(w, w->ob_pos + SHMRING_REC_HDR + w->ob_body +
		    SHMRING_PREFETCH_AHEAD, room.tail + w->data_size);
		shmring_add_frame(w, p, len, stamp);
		return (0);
	}
	shmring_end_bundle(w, stamp);
	need = shmring_rec_size((uint32_t)(SHMRING_BUNDLE_HDR + fsz));
	off = w->head & (w->data_size - 1);
	pad = w->data_size - off < need ? w->data_size - off : 0;
	if (w->data_size - (w->head - room.tail) < pad + need)
		return (CHAN_EFULL);
	if (pad > 0) {
		shmring_write_pad(w, off, w->sent);
		w->head += pad;
	}
	w->ob_pos = w->head;
	w->ob_first = w->sent;
	w->ob_body = SHMRING_BUNDLE_HDR;
	w->ob_bytes = 0;
	w->ob_stamp = 0;
	shmring_add_frame(w, p, len, stamp);
	return (0);
}

/* A writer's cursors while it writes a run (shmring_put_run_in). */
struct shmring_run {
	uint64_t	 head;
	uint64_t	 sent;
	uint64_t	 bytes;
	uint64_t	 room_left;	/* free bytes of the data area */
	size_t		 written;	/* payload bytes of this run */
};

static inline uint64_t
shmring_align8(uint64_t n)
{
	return ((n + SHMRING_ALIGN - 1) & ~(uint64_t)(SHMRING_ALIGN - 1));
}

/*
 * Writes as many of the n messages of v as one bundle at the run's head
 * holds, as frames, then its header: how many, at least two, or 0 if
 * fewer fit (the first goes as a record, over what was written here:
 * nothing past the head counts before its header's commit word). A
 * bundle stops where the room, the grant, the data area's end,
 * max_record, limit or budget would be passed, after
 * SHMRING_BUNDLE_MAX_MSGS, or before a message without its data. One
 * pass: each message is checked as it is written.
 */
static size_t
shmring_write_bundle(struct shmring_writer *w,
    const struct shmring_room *room, struct shmring_run *run,
    const struct iovec *v, size_t n, size_t limit, size_t budget,
    uint64_t stamp)
{
	uint64_t	 off = run->head & (w->data_size - 1);
	uint64_t	 space = w->data_size - off, body = SHMRING_BUNDLE_HDR;
	uint64_t	 sum = 0, fsz, need;
	unsigned char	*r = w->data + off;
	unsigned char	*f = r + SHMRING_REC_HDR + SHMRING_BUNDLE_HDR;
	size_t		 k, len, written = run->written;

	if (space > run->room_left)
		space = run->room_left;
	if (space < SHMRING_REC_HDR)
		return (0);
	space -= SHMRING_REC_HDR;
	if (space > w->max_record)
		space = w->max_record;
	if (n > SHMRING_BUNDLE_MAX_MSGS)
		n = SHMRING_BUNDLE_MAX_MSGS;
	for (k = 0; k < n && written < budget; k++) {
		len = v[k].iov_len;
		if (len > limit || (v[k].iov_base == NULL && len > 0))
			break;
		fsz = shmring_frame_size((uint32_t)len);
		if (run->sent + k >= room->msgs ||
		    run->bytes + sum + len > room->bytes ||
		    shmring_align8(body + fsz) > space)
			break;
		shmring_prefetch_w(w, run->head + (uint64_t)(f - r) +
		    SHMRING_PREFETCH_AHEAD, run->head + run->room_left);
		st32(f, 0, (uint32_t)len, __ATOMIC_RELAXED);
		shmring_copy(f + 4, v[k].iov_base, len);
		f += fsz;
		body += fsz;
		sum += len;
		written += len;
	}
	if (k < 2)
		return (0);
	need = shmring_rec_size((uint32_t)body);
	st32(r, SHMRING_REC_HDR, (uint32_t)k, __ATOMIC_RELAXED);
	st32(r, SHMRING_REC_HDR + 4, (uint32_t)sum, __ATOMIC_RELAXED);
	st64(r, 8, stamp, __ATOMIC_RELAXED);
	st32(r, 0, SHMRING_BUNDLE | (uint32_t)body, __ATOMIC_RELAXED);
	st32(r, 4, shmring_commit_word(run->sent), __ATOMIC_RELAXED);
	run->head += need;
	run->room_left -= need;
	run->sent += k;
	run->bytes += sum;
	run->written += sum;
	return (k);
}

/*
 * Writes v[0] as a record at the run's head (after padding if it does
 * not fit before the end): 0, or why not (CHAN_ETOOBIG, CHAN_EINVAL,
 * CHAN_EFULL).
 */
static int
shmring_write_one(struct shmring_writer *w, const struct shmring_room *room,
    struct shmring_run *run, const struct iovec *v, size_t limit,
    uint64_t stamp)
{
	uint64_t	 need, off, pad;
	size_t		 len = v->iov_len;
	unsigned char	*r;

	if (len > limit)
		return (CHAN_ETOOBIG);
	if (v->iov_base == NULL && len > 0)
		return (CHAN_EINVAL);
	need = shmring_rec_size((uint32_t)len);
	off = run->head & (w->data_size - 1);
	pad = w->data_size - off < need ? w->data_size - off : 0;
	if (run->sent >= room->msgs || run->bytes + len > room->bytes ||
	    run->room_left < pad + need)
		return (CHAN_EFULL);
	if (pad > 0) {
		shmring_write_pad(w, off, run->sent);
		run->head += pad;
		run->room_left -= pad;
		off = 0;
	}
	r = w->data + off;
	if (len > 0)
		memcpy(r + SHMRING_REC_HDR, v->iov_base, len);
	st64(r, 8, stamp, __ATOMIC_RELAXED);
	st32(r, 0, (uint32_t)len, __ATOMIC_RELAXED);
	st32(r, 4, shmring_commit_word(run->sent), __ATOMIC_RELAXED);
	run->head += need;
	run->room_left -= need;
	run->sent++;
	run->bytes += len;
	run->written += len;
	return (0);
}

/*
 * Bundles and records for a run, with the writer's cursors in locals: a
 * batch of small messages costs their stores and little else.
 */
size_t
shmring_put_run_in(struct shmring_writer *w, const struct shmring_room *room,
    const struct iovec *v, size_t n, size_t limit, size_t budget,
    uint64_t stamp, int *rc)
{
	struct shmring_run run;
	size_t		 i = 0, k;

	shmring_end_bundle(w, stamp);
	run.head = w->head;
	run.sent = w->sent;
	run.bytes = w->sent_bytes;
	run.room_left = w->data_size - (w->head - room->tail);
	run.written = 0;
	if (limit > w->max_record)
		limit = w->max_record;
	*rc = 0;
	while (i < n && run.written < budget) {
		k = w->bundles ? shmring_write_bundle(w, room, &run, v + i,
		    n - i, limit, budget, stamp) : 0;
		if (k == 0) {
			if ((*rc = shmring_write_one(w, room, &run, v + i,
			    limit, stamp)) != 0)
				break;
			k = 1;
		}
		i += k;
	}
	w->head = run.head;
	w->sent = run.sent;
	w->sent_bytes = run.bytes;
	return (i);
}

void
shmring_set_prod_wait(struct shmring_writer *w, uint32_t v)
{
	/* A new wait: the daemon's note that it woke the last one ends. */
	if (v != 0)
		st32(w->base, SHMRING_OFF_WAITS, ld32(w->base,
		    SHMRING_OFF_WAITS, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
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
shmring_take_cons_sleeps(struct shmring_writer *w)
{
	uint32_t	*p = (uint32_t *)(void *)(w->base +
			    SHMRING_OFF_CONS_SLEEPS);
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

bool
shmring_watched(const struct shmring_writer *w)
{
	return (ld32(w->base, SHMRING_OFF_WATCHED, __ATOMIC_SEQ_CST) == 1);
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

/* The head the writer published, or false if it is impossible. */
static bool
shmring_writer_head(const struct shmring_reader *rd, const void *base,
    uint64_t *head)
{
	*head = ld64(base, SHMRING_OFF_HEAD, __ATOMIC_ACQUIRE);
	return ((*head & (SHMRING_ALIGN - 1)) == 0 && *head >= rd->tail &&
	    *head - rd->tail <= rd->data_size);
}

uint64_t
shmring_used(const struct shmring_reader *rd, const void *base)
{
	uint64_t	head;

	if (!shmring_writer_head(rd, base, &head))
		return (rd->data_size);
	return (head - rd->tail);
}

bool
shmring_writer_fits(const struct shmring_reader *rd, const void *base,
    uint32_t len)
{
	uint64_t	head, pad;

	return (shmring_writer_head(rd, base, &head) &&
	    shmring_space_at(rd->data_size, head, rd->tail, len, &pad));
}

bool
shmring_moved(const void *base, uint64_t pos)
{
	/* Sequentially consistent: after the reader's store to cons_wait,
	   this load must not move before it (the writer's side is so). */
	return (ld64(base, SHMRING_OFF_HEAD, __ATOMIC_SEQ_CST) != pos);
}

/*
 * The next record's header, past padding: 1 with *r, *n (its length
 * word) and *avail (committed bytes from it), 0 if there is none, -1 if
 * its commit word or the padding is bad.
 */
static int
shmring_next_record(struct shmring_reader *rd, const unsigned char **r,
    uint32_t *n, uint64_t *avail)
{
	uint64_t	 off, need;

	while (rd->pos != rd->head) {
		*avail = rd->head - rd->pos;
		off = rd->pos & (rd->data_size - 1);
		*r = rd->data + off;
		*n = ld32(*r, 0, __ATOMIC_RELAXED);
		if (ld32(*r, 4, __ATOMIC_RELAXED) !=
		    shmring_commit_word(rd->taken))
			return (-1);
		if (*n != SHMRING_PAD)
			return (1);
		/* Padding runs to the end of the data area. */
		need = rd->data_size - off;
		if (need > *avail)
			return (-1);
		rd->pos += need;
	}
	return (0);
}

/*
 * Whether a bundle's header can describe a body of body bytes: count
 * messages (at least one) of bytes payload bytes in all, each framed by
 * a length word and padded by at most 3 bytes.
 */
static bool
shmring_bundle_sane(uint64_t body, uint64_t count, uint64_t bytes)
{
	uint64_t	frames = body - SHMRING_BUNDLE_HDR;

	return (count >= 1 && bytes + 4 * count <= frames &&
	    frames - bytes - 4 * count <= 3 * count);
}

/*
 * Checks the bundle of length word n at r (avail committed bytes from
 * it) and its header: 0 with *count, *bytes and *need (its space), or -1.
 */
static int
shmring_bundle_check(const struct shmring_reader *rd, const unsigned char *r,
    uint32_t n, uint64_t avail, uint64_t *count, uint64_t *bytes,
    uint64_t *need)
{
	uint64_t	body = n & ~SHMRING_BUNDLE;

	*need = shmring_rec_size((uint32_t)body);
	if (body > rd->max_record || body < SHMRING_BUNDLE_HDR ||
	    *need > avail ||
	    *need > rd->data_size - (rd->pos & (rd->data_size - 1)))
		return (-1);
	*count = ld32(r, SHMRING_REC_HDR, __ATOMIC_RELAXED);
	*bytes = ld32(r, SHMRING_REC_HDR + 4, __ATOMIC_RELAXED);
	return (shmring_bundle_sane(body, *count, *bytes) ? 0 : -1);
}

/* Enters the bundle of length word n at r: 0, or -1 if it is bad. */
static int
shmring_bundle_enter(struct shmring_reader *rd, const unsigned char *r,
    uint32_t n, uint64_t avail)
{
	uint64_t	count, bytes, need;

	if (shmring_bundle_check(rd, r, n, avail, &count, &bytes, &need) != 0)
		return (-1);
	rd->b_left = (uint32_t)count;
	rd->b_bytes = bytes;
	rd->b_end = rd->pos + SHMRING_REC_HDR + (n & ~SHMRING_BUNDLE);
	rd->b_next = rd->pos + need;
	rd->b_stamp = ld64(r, 8, __ATOMIC_RELAXED);
	rd->pos += SHMRING_REC_HDR + SHMRING_BUNDLE_HDR;
	return (0);
}

/*
 * Reads the length of the frame at f, with left bytes of the body and
 * bytes of the header's payload total not yet returned, last if it is
 * the bundle's last message: true with *n and *fsz (its space) if it
 * fits them (the last one must end both exactly).
 */
static inline bool
shmring_frame_fits(const unsigned char *f, uint64_t left, uint64_t bytes,
    bool last, uint32_t *n, uint64_t *fsz)
{
	if (left < 4)
		return (false);
	*n = ld32(f, 0, __ATOMIC_RELAXED);
	if (*n > bytes || (*fsz = shmring_frame_size(*n)) > left)
		return (false);
	return (!last || (*fsz == left && *n == bytes));
}

/* The bundle's next message: 1, or -1 if its frame does not fit. */
static int
shmring_peek_frame(struct shmring_reader *rd, const unsigned char **payload,
    uint32_t *len, uint64_t *stamp)
{
	const unsigned char *f = rd->data + (rd->pos & (rd->data_size - 1));
	uint64_t	 fsz;
	uint32_t	 n;

	if (!shmring_frame_fits(f, rd->b_end - rd->pos, rd->b_bytes,
	    rd->b_left == 1, &n, &fsz))
		return (-1);
	*payload = f + 4;
	*len = n;
	*stamp = rd->b_stamp;
	rd->peeked = fsz;
	rd->b_len = n;
	return (1);
}

int
shmring_peek(struct shmring_reader *rd, const unsigned char **payload,
    uint32_t *len, uint64_t *stamp)
{
	const unsigned char	*r;
	uint64_t		 avail, need;
	uint32_t		 n;
	int			 rc;

	if (rd->b_left > 0)
		return (shmring_peek_frame(rd, payload, len, stamp));
	if ((rc = shmring_next_record(rd, &r, &n, &avail)) <= 0)
		return (rc);
	if ((n & SHMRING_BUNDLE) != 0) {
		if (shmring_bundle_enter(rd, r, n, avail) != 0)
			return (-1);
		return (shmring_peek_frame(rd, payload, len, stamp));
	}
	if (n > rd->max_record)
		return (-1);
	need = shmring_rec_size(n);
	if (need > avail ||
	    need > rd->data_size - (rd->pos & (rd->data_size - 1)))
		return (-1);
	*payload = r + SHMRING_REC_HDR;
	*len = n;
	*stamp = ld64(r, 8, __ATOMIC_RELAXED);
	rd->peeked = need;
	return (1);
}

void
shmring_skip(struct shmring_reader *rd)
{
	rd->pos += rd->peeked;
	rd->peeked = 0;
	rd->taken++;
	if (rd->b_left > 0) {
		rd->b_bytes -= rd->b_len;
		if (--rd->b_left == 0)
			rd->pos = rd->b_next;
	}
}

bool
shmring_at_record(const struct shmring_reader *rd)
{
	return (rd->b_left == 0);
}

int
shmring_skip_bundle(struct shmring_reader *rd, uint64_t max, uint64_t *msgs,
    uint64_t *bytes)
{
	const unsigned char	*r;
	uint64_t		 avail, need;
	uint32_t		 n;
	int			 rc;

	if (rd->b_left > 0) {
		/* The rest of a bundle it entered: the header's figures. */
		if (rd->b_left > max)
			return (0);
		*msgs = rd->b_left;
		*bytes = rd->b_bytes;
		rd->taken += rd->b_left;
		rd->b_left = 0;
		rd->pos = rd->b_next;
		return (1);
	}
	if ((rc = shmring_next_record(rd, &r, &n, &avail)) <= 0)
		return (rc);
	if ((n & SHMRING_BUNDLE) == 0)
		return (0);
	if (shmring_bundle_check(rd, r, n, avail, msgs, bytes, &need) != 0)
		return (-1);
	if (*msgs > max)
		return (0);
	rd->pos += need;
	rd->taken += *msgs;
	return (1);
}

/*
 * The frames of a bundle's rest whose header figures say "all of one
 * length" (its messages' bytes divide evenly, and the body left is that
 * many frames of that length): the next of them, up to max and until
 * budget bytes, that have the length, at a fixed stride. Their addresses
 * do not depend on the lengths read, so the loads overlap instead of
 * following each other through memory another core wrote; a frame of
 * another length stops it, and shmring_take_frames reads on one by one
 * from there (a bundle of mixed lengths can have these figures too).
 * How many; the cursors move past them.
 */
static size_t
shmring_take_uniform(struct shmring_reader *rd, struct shmring_rec *out,
    size_t max, size_t budget)
{
	const unsigned char *f;
	uint64_t	 len, fsz, k, n, under;

	if (rd->b_left == 0 || budget == 0 || rd->b_bytes % rd->b_left != 0)
		return (0);
	len = rd->b_bytes / rd->b_left;
	fsz = shmring_frame_size((uint32_t)len);
	if (rd->b_end - rd->pos != fsz * rd->b_left)
		return (0);
	n = rd->b_left < max ? rd->b_left : max;
	/* As frame by frame: a frame is taken while under budget. */
	under = len > 0 ? budget / len + (budget % len != 0) : n;
	if (n > under)
		n = under;
	f = rd->data + (rd->pos & (rd->data_size - 1));
	for (k = 0; k < n; k++, f += fsz) {
		if (ld32(f, 0, __ATOMIC_RELAXED) != len)
			break;
		out[k].p = f + 4;
		out[k].len = (uint32_t)len;
	}
	if (k == 0)
		return (0);
	rd->taken += k;
	rd->b_left -= (uint32_t)k;
	rd->b_bytes -= k * len;
	rd->pos = rd->b_left == 0 ? rd->b_next : rd->pos + k * fsz;
	rd->peeked = 0;
	return ((size_t)k);
}

/*
 * shmring_take_run within a bundle: its next messages, up to max and
 * until budget bytes, each checked by shmring_frame_fits, with the
 * cursors in locals. How many (*bytes their payload), or -1 if the first
 * is bad (a bad one after good ones ends the run).
 */
static int64_t
shmring_take_frames(struct shmring_reader *rd, struct shmring_rec *out,
    size_t max, size_t budget, size_t *bytes)
{
	const unsigned char *f;
	uint64_t	 pos, left, fsz;
	uint64_t	 b_bytes;
	uint32_t	 b_left, n;
	size_t		 k0, k, got;

	k0 = shmring_take_uniform(rd, out, max, budget);
	got = k0 > 0 ? k0 * out[0].len : 0;
	if (rd->b_left == 0) {
		*bytes = got;
		return ((int64_t)k0);
	}
	k = k0;
	pos = rd->pos;
	left = rd->b_end - pos;
	b_bytes = rd->b_bytes;
	b_left = rd->b_left;
	while (k < max && got < budget && b_left > 0) {
		f = rd->data + (pos & (rd->data_size - 1));
		if (!shmring_frame_fits(f, left, b_bytes, b_left == 1, &n,
		    &fsz))
			break;
		out[k].p = f + 4;
		out[k].len = n;
		pos += fsz;
		left -= fsz;
		b_bytes -= n;
		b_left--;
		got += n;
		k++;
	}
	if (k == 0)
		return (b_left > 0 && max > 0 && budget > 0 ? -1 : 0);
	rd->taken += k - k0;
	rd->b_bytes = b_bytes;
	rd->b_left = b_left;
	rd->pos = b_left == 0 ? rd->b_next : pos;
	rd->peeked = 0;
	*bytes = got;
	return ((int64_t)k);
}

bool
shmring_next_whole(struct shmring_reader *rd, size_t max, size_t budget)
{
	const unsigned char	*r;
	uint64_t		 avail;
	uint32_t		 n;

	if (rd->b_left > 0)
		return (rd->b_left <= max && rd->b_bytes <= budget);
	/* The header's word, not checked: a bad one fails as it is read. */
	if (shmring_next_record(rd, &r, &n, &avail) <= 0 ||
	    (n & SHMRING_BUNDLE) == 0 ||
	    (n & ~SHMRING_BUNDLE) < SHMRING_BUNDLE_HDR ||
	    SHMRING_REC_HDR + SHMRING_BUNDLE_HDR > avail)
		return (true);
	return (ld32(r, SHMRING_REC_HDR, __ATOMIC_RELAXED) <= max &&
	    ld32(r, SHMRING_REC_HDR + 4, __ATOMIC_RELAXED) <= budget);
}

int64_t
shmring_take_run(struct shmring_reader *rd, struct shmring_rec *out,
    size_t max, size_t budget)
{
	size_t	bytes;

	return (shmring_take_run_until(rd, out, max, budget, NULL, &bytes));
}

int64_t
shmring_take_run_until(struct shmring_reader *rd, struct shmring_rec *out,
    size_t max, size_t budget, const struct shmring_window *w,
    size_t *taken_bytes)
{
	uint64_t	stamp;
	size_t		n = 0, bytes = 0, b, fbudget = 0;
	int64_t		k;
	int		rc = 0;
	bool		whole;

	while (n < max && bytes < budget) {
		if (rd->b_left > 0) {
			if (w != NULL &&
			    shmring_stamp_eff(w, rd->b_stamp) > w->limit)
				break;
			/* A bundle the run took whole may pass budget. */
			if (fbudget == 0)
				fbudget = budget - bytes;
			if ((k = shmring_take_frames(rd, out + n, max - n,
			    fbudget, &b)) <= 0) {
				rc = (int)k;
				break;
			}
			n += (size_t)k;
			bytes += b;
			fbudget = 0;
			continue;
		}
		/*
		 * A run ends before a bundle it cannot take whole, by count
		 * or by budget, unless it would be empty: then the next run
		 * starts with it, and runs end where bundles do.
		 */
		whole = shmring_next_whole(rd, max - n, n > 0 ? budget - bytes :
		    SIZE_MAX);
		if (n > 0 && !whole)
			break;
		fbudget = whole ? SIZE_MAX : 0;
		if ((rc = shmring_peek(rd, &out[n].p, &out[n].len,
		    &stamp)) != 1)
			break;
		/* Within a bundle it entered, the test above is made. */
		if (rd->b_left == 0 && w != NULL &&
		    shmring_stamp_eff(w, stamp) > w->limit)
			break;
		if (rd->b_left > 0)
			continue;
		shmring_skip(rd);
		bytes += out[n].len;
		n++;
	}
	*taken_bytes = bytes;
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
shmring_take_back(void *base, uint64_t *msgs, uint64_t *bytes,
    uint64_t floor_msgs, uint64_t floor_bytes)
{
	uint64_t	cm, cb, om = *msgs, ob = *bytes;

	/* The producer's words: bounded by the grant and the floor. */
	cm = ld64(base, SHMRING_OFF_CLAIM_MSGS, __ATOMIC_RELAXED);
	cb = ld64(base, SHMRING_OFF_CLAIM_BYTES, __ATOMIC_RELAXED);
	cm = cm < floor_msgs ? floor_msgs : cm < om ? cm : om;
	cb = cb < floor_bytes ? floor_bytes : cb < ob ? cb : ob;
	if (cm == om && cb == ob)
		return;
	st64(base, SHMRING_OFF_GRANT_BYTES, cb, __ATOMIC_SEQ_CST);
	st64(base, SHMRING_OFF_GRANT_MSGS, cm, __ATOMIC_SEQ_CST);
	/* A claim stored before the lowered grant was seen stands. */
	*msgs = ld64(base, SHMRING_OFF_CLAIM_MSGS, __ATOMIC_SEQ_CST);
	*bytes = ld64(base, SHMRING_OFF_CLAIM_BYTES, __ATOMIC_SEQ_CST);
	*msgs = *msgs > om ? om : *msgs < cm ? cm : *msgs;
	*bytes = *bytes > ob ? ob : *bytes < cb ? cb : *bytes;
	if (*msgs != cm || *bytes != cb)
		shmring_grant(base, *msgs, *bytes);
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
shmring_set_cons_sleeps(void *base, uint32_t v)
{
	st32(base, SHMRING_OFF_CONS_SLEEPS, v, __ATOMIC_SEQ_CST);
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

void
shmring_set_watched(void *base, bool watched)
{
	st32(base, SHMRING_OFF_WATCHED, watched ? 1 : 0, __ATOMIC_SEQ_CST);
}

uint32_t
shmring_waits_begun(const void *base)
{
	return (ld32(base, SHMRING_OFF_WAITS, __ATOMIC_SEQ_CST));
}

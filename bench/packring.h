/* SPDX-License-Identifier: MIT */
/*
 * packring.h: a ring of packed runs, for the packed target of chan-bench
 * only: the layout chand's ring (proto/shmring.h) would have if it
 * checked one header a batch instead of one a record.
 *
 * The mapping: a header page (PACKRING_HDR_SIZE bytes), then a data area
 * of a power of two bytes. In the header page, the writer's head (bytes
 * committed, in all) at PACKRING_OFF_HEAD and the reader's tail (bytes
 * released) at PACKRING_OFF_TAIL, each on its own cache line.
 *
 * The data area holds runs, each at an offset that is a multiple of 8:
 *
 *	0	u32	body bytes (the frames), or PACKRING_PAD
 *	4	u32	commit word: PACKRING_COMMIT ^ the run's number
 *	8	u32	messages in the run, at least 1
 *	12	u32	0
 *	16	u64	stamp of the whole run (the writer's word)
 *	24		the frames: each a u32 length, then the payload,
 *			then 0 to 3 bytes to the next multiple of 4
 *
 * and the run takes 24 + body bytes rounded up to 8. Words are in the
 * host's order: both ends are on one machine. A frame is the socket's
 * frame (a 4-byte length and the payload), and padding to 4 keeps every
 * length word aligned while a 16-byte message still takes 20 bytes, as
 * on the socket; padding to 8 would make it 24. A run never wraps: a
 * writer that has too little room before the end of the area for a run
 * of one message writes a padding run (length PACKRING_PAD, the commit
 * word of the run that follows it at offset 0) to the end, and a batch
 * that reaches the end is split into two runs.
 *
 * One writer and one reader, and the writer may be hostile: the reader
 * keeps its own cursors, reads the head, each run header and each frame
 * length once, and checks them before use: the head within one ring of
 * the tail, the commit word, the run within what the head covers and
 * within the data area, and every frame within the run, with as many
 * frames as the header says and nothing left over. The payload bytes
 * themselves may change under it; only their bounds are its concern.
 */
#ifndef CHAN_BENCH_PACKRING_H
#define CHAN_BENCH_PACKRING_H

#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>

#define PACKRING_MAGIC		0x4b504843u	/* "CHPK", little-endian */
#define PACKRING_HDR_SIZE	4096u
#define PACKRING_OFF_MAGIC	0		/* u32 */
#define PACKRING_OFF_DATA_SIZE	4		/* u32 */
#define PACKRING_OFF_HEAD	64		/* u64 */
#define PACKRING_OFF_TAIL	128		/* u64 */

#define PACKRING_RUN_HDR	24u
#define PACKRING_FRAME_HDR	4u
#define PACKRING_PAD		0xffffffffu
#define PACKRING_COMMIT		0x4e555243u	/* "CRUN" */

static inline uint32_t
packring_commit_word(uint64_t run)
{
	return (PACKRING_COMMIT ^ (uint32_t)run);
}

/* The bytes a frame of len payload bytes takes in a run's body. */
static inline uint64_t
packring_frame_size(uint32_t len)
{
	return (PACKRING_FRAME_HDR + (((uint64_t)len + 3) & ~(uint64_t)3));
}

/* The bytes a run of body bytes of frames takes in the data area. */
static inline uint64_t
packring_run_size(uint64_t body)
{
	return ((PACKRING_RUN_HDR + body + 7) & ~(uint64_t)7);
}

/*
 * The longest run body for a data area of data_size bytes: a run and
 * the padding before it (less than a run) fit in an empty ring.
 */
static inline uint32_t
packring_max_body(uint32_t data_size)
{
	return (data_size / 2 - PACKRING_RUN_HDR);
}

/* The longest message: one frame fills the longest body. */
static inline uint32_t
packring_max_msg(uint32_t data_size)
{
	return (packring_max_body(data_size) - PACKRING_FRAME_HDR);
}

/* Writes a fresh header into base (PACKRING_HDR_SIZE + data_size). */
void	packring_init(void *base, uint32_t data_size);

struct packring_writer {
	unsigned char	*base;
	unsigned char	*data;
	uint32_t	 data_size;
	uint64_t	 head;		/* own copy of what it committed */
	uint64_t	 runs;		/* runs written, padding included */
	unsigned char	*run;		/* the run reserved, or NULL */
};
/* 0, or -1 if base is not a ring of map_size bytes. */
int	packring_attach(struct packring_writer *, void *base,
	    size_t map_size);
/*
 * Writes the first messages of the n of v as one run stamped stamp, and
 * commits it: how many, at most max. The run stops before a frame that
 * would take its body past budget bytes (a first frame alone excepted)
 * or past the room there is. 0 with *rc set if not one fits: -1 for a
 * message over packring_max_msg, 0 for a full ring (try again once the
 * reader has released some).
 */
size_t	packring_put(struct packring_writer *, const struct iovec *v,
	    size_t n, size_t max, size_t budget, uint64_t stamp, int *rc);

/*
 * The writer's two halves of packring_put, for a caller that builds its
 * frames in place: packring_reserve places a run whose first frame has
 * len payload bytes (at most packring_max_msg) and returns its body, to
 * be filled with frames from its start, *limit bytes at most (that
 * first frame's at least); NULL if the ring is full. packring_commit
 * then writes the header of that run, of body bytes of count frames
 * (count at least 1), and publishes it.
 */
unsigned char	*packring_reserve(struct packring_writer *, uint32_t len,
		    uint64_t *limit);
void		 packring_commit(struct packring_writer *, uint64_t body,
		    uint32_t count, uint64_t stamp);

/*
 * Starts a frame of len payload bytes at p in a reserved body: writes
 * its length word. The payload goes at p + PACKRING_FRAME_HDR; the
 * bytes the frame takes.
 */
static inline uint64_t
packring_frame_start(unsigned char *p, uint32_t len)
{
	__builtin_memcpy(p, &len, PACKRING_FRAME_HDR);
	return (packring_frame_size(len));
}

struct packring_reader {
	const unsigned char *data;
	uint32_t	 data_size;
	uint64_t	 pos;		/* next run, in all */
	uint64_t	 tail;		/* pos as last released */
	uint64_t	 head;		/* the writer's head, as last read */
	uint64_t	 runs;		/* runs read, padding included */
};
int	packring_reader_attach(struct packring_reader *, const void *base,
	    size_t map_size);
/* Reads the writer's head: 0, or -1 if it is impossible. */
int	packring_poll(struct packring_reader *, const void *base);

/*
 * One run as the reader sees it: its header's values, checked, and a
 * cursor over its frames for packring_frame.
 */
struct packring_run {
	const unsigned char *body;
	uint32_t	 len;		/* body bytes */
	uint32_t	 count;		/* frames it says it holds */
	uint64_t	 stamp;
	uint32_t	 off;		/* the next frame, from body */
	uint32_t	 left;		/* frames not yet returned */
};
/*
 * Takes the next run before the head read by packring_poll, skipping
 * padding: 1 with *run set (its bytes are the reader's until
 * packring_release), 0 if there is none, -1 if its header is bad.
 */
int	packring_next(struct packring_reader *, struct packring_run *);
/* Gives the space of every run taken so far back to the writer. */
void	packring_release(struct packring_reader *, void *base);

/*
 * The next frame of run: 1 with *p and *len (inside the run's body), 0
 * after the last one, -1 if the frames do not fill the body exactly as
 * many as the header says: the writer is bad. Inline: it runs once a
 * message.
 */
static inline int
packring_frame(struct packring_run *run, const unsigned char **p,
    uint32_t *len)
{
	uint32_t	room = run->len - run->off, n;
	uint64_t	f;

	if (run->left == 0)
		return (room == 0 ? 0 : -1);
	if (room < PACKRING_FRAME_HDR)
		return (-1);
	n = __atomic_load_n((const uint32_t *)(const void *)(run->body +
	    run->off), __ATOMIC_RELAXED);
	f = packring_frame_size(n);
	if (f > room)
		return (-1);
	*p = run->body + run->off + PACKRING_FRAME_HDR;
	*len = n;
	run->off += (uint32_t)f;
	run->left--;
	return (1);
}

#endif /* CHAN_BENCH_PACKRING_H */

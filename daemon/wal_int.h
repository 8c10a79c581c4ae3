/* SPDX-License-Identifier: MIT */
/*
 * wal_int.h: what wal.c (the live log), wal_recover.c (reading logs at
 * startup) and wal_file.c (helpers of both) share: the on-disk layout and struct wal. Not for other
 * modules; they use wal.h.
 *
 * Segment header, little-endian:
 *	magic "chandwal" (8) | version (4) | header length (4) |
 *	segment seq (8) | prev id (8) | cap msgs (8) | cap bytes (8) |
 *	name length (4) | name | crc32c of all the above (4)
 * prev id is the highest message id appended before the segment began.
 *
 * Record, little-endian:
 *	crc32c (4) | payload length (4) | type (4) | id (8) | payload
 * The crc covers everything after it. Only MSG has a payload. An all-zero
 * record header is the end of the records (the reserved tail).
 */
#ifndef CHAND_WAL_INT_H
#define CHAND_WAL_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "wal.h"

#define WAL_MAGIC		"chandwal"
#define WAL_VERSION		1
#define WAL_HDR_FIXED		52	/* header bytes before the name */
#define WAL_HDR_MAX		(WAL_HDR_FIXED + PROTO_NAME_MAX + 4)
#define WAL_REC_HDR		20
#define WAL_DIR_PREFIX		"chan-"
#define WAL_SEG_SUFFIX		".wal"
#define WAL_SEG_NAME_LEN	(16 + 4)	/* hex digits + suffix */
/*
 * Reservation grows per log from WAL_CHUNK_MIN to WAL_CHUNK_MAX, so that
 * an idle log holds 64 KiB and a busy one calls fallocate rarely.
 */
#define WAL_CHUNK_MIN		(64u * 1024)
#define WAL_CHUNK_MAX		(4u * 1024 * 1024)

enum wal_rec_type {
	WAL_REC_MSG = 1,
	WAL_REC_ACK = 2,
	WAL_REC_CANCEL = 3,
	WAL_REC_DELIVERED = 4,
};

/* A segment file of the log; the last one in wal.segs is the active one. */
struct wal_seg {
	uint64_t	 seq;
	uint64_t	 last_id;	/* no message id in it is above */
	uint64_t	 bytes;		/* file size (active: see struct wal) */
};

struct wal {
	char		*dir;		/* the log's directory */
	char		*data_dir;
	struct wal_settings set;
	unsigned char	 name[PROTO_NAME_MAX];
	size_t		 name_len;
	uint64_t	 cap_msgs, cap_bytes;

	struct wal_seg	*segs;		/* oldest first */
	size_t		 nsegs, segcap;
	uint64_t	 old_bytes;	/* bytes of the non-active segments */

	int		 fd;		/* active segment, or -1 */
	uint64_t	 wend;		/* its end, buffered records included */
	uint64_t	 woff;		/* its end on disk (written) */
	uint64_t	 reserved;	/* its file size (reserved room) */
	uint64_t	 chunk;		/* next reservation step */

	unsigned char	*buf;		/* records not yet written, or NULL */
	size_t		 blen, bcap;
	size_t		 bhint;		/* size of the last buffer */

	uint64_t	 lsn;		/* appended */
	uint64_t	 written_lsn;
	uint64_t	 synced_lsn;
	uint64_t	 last_id;	/* highest message id appended */
	uint64_t	 acked, delivered;
	int		 failed;	/* -errno once failed, else 0 */
};

static inline void
wal_put32(unsigned char *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static inline void
wal_put64(unsigned char *p, uint64_t v)
{
	wal_put32(p, (uint32_t)v);
	wal_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t
wal_get32(const unsigned char *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
	    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static inline uint64_t
wal_get64(const unsigned char *p)
{
	return ((uint64_t)wal_get32(p) | (uint64_t)wal_get32(p + 4) << 32);
}

/* Bytes of the segment header of a log whose name has len bytes. */
static inline size_t
wal_hdr_size(size_t name_len)
{
	return (WAL_HDR_FIXED + name_len + 4);
}

/* A new struct wal for directory dir (copied), with no segment yet. */
struct wal	*wal_alloc(const char *data_dir, const char *dir,
		    const struct wal_meta *, const struct wal_settings *);
/* Frees w and what it holds; closes nothing. */
void	 wal_free(struct wal *);
/* Adds segment seq as the newest one. 0 or -ENOMEM. */
int	 wal_seg_push(struct wal *, uint64_t seq, uint64_t bytes);
/* Writes "<dir>/<seq as 16 hex digits>.wal" to out. -ENAMETOOLONG. */
int	 wal_seg_path(char *out, size_t outlen, const char *dir,
	    uint64_t seq);
/* Parses a segment file name: true with *seq set if it is one. */
bool	 wal_seg_name_parse(const char *name, uint64_t *seq);
/* fsyncs directory path. 0 or -errno. */
int	 wal_fsync_dir(const char *path);
/* Encodes the segment header of w for seq and prev_id; returns length. */
size_t	 wal_hdr_encode(const struct wal *, unsigned char *out, uint64_t seq,
	    uint64_t prev_id);
/*
 * Removes the segment files in dir and dir itself, then fsyncs parent.
 * Other files are left, and so is dir then. Failures are logged.
 */
void	 wal_remove_dir(const char *dir, const char *parent);

#endif /* CHAND_WAL_INT_H */

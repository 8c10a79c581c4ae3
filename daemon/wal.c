/* SPDX-License-Identifier: MIT */
/*
 * wal.c: the live write-ahead log: create, append, flush, sync, roll,
 * close. See wal.h; wal_recover.c reads logs back.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "wal.h"
#include "wal_int.h"

/* Buffered records are written once they pass this. */
#define WAL_FLUSH_AT	(256u * 1024)

static size_t
wal_hdr_len(const struct wal *w)
{
	return (wal_hdr_size(w->name_len));
}

/* Writes all len bytes at off, over short writes and EINTR. */
static int
wal_pwrite_all(int fd, const void *p, size_t len, uint64_t off)
{
	const unsigned char	*s = p;
	ssize_t			 n;

	while (len > 0) {
		n = pwrite(fd, s, len, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-errno);
		if (n == 0)
			return (-EIO);
		s += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return (0);
}

/* Extends the file at fd from *size by len bytes of reserved room. */
static int
wal_fallocate(int fd, uint64_t *size, uint64_t len)
{
	struct stat	st;
	int		rc;

	if (fallocate(fd, 0, (off_t)*size, (off_t)len) == 0)
		rc = 0;
	else if (errno == EOPNOTSUPP)
		rc = -posix_fallocate(fd, (off_t)*size, (off_t)len);
	else
		rc = -errno;
	if (rc == 0) {
		*size += len;
		return (0);
	}
	/* A failed attempt may have extended the file part of the way. */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > *size)
		*size = (uint64_t)st.st_size;
	return (rc);
}

/*
 * Makes the file at fd (size *size) at least need bytes long: a chunk at
 * a time, never past the segment size unless one record needs it, and
 * exactly what is needed if a whole chunk does not fit.
 */
static int
wal_reserve(struct wal *w, int fd, uint64_t *size, uint64_t need)
{
	uint64_t	len, room;
	int		rc;

	if (need <= *size)
		return (0);
	len = w->chunk;
	room = w->set.segment_size > *size ? w->set.segment_size - *size : 0;
	if (len > room)
		len = room;
	if (len < need - *size)
		len = need - *size;
	if ((rc = wal_fallocate(fd, size, len)) == 0) {
		if (w->chunk < WAL_CHUNK_MAX)
			w->chunk *= 2;
		return (0);
	}
	if (need <= *size)
		return (0);
	if (len > need - *size)
		rc = wal_fallocate(fd, size, need - *size);
	return (rc);
}

/*
 * Creates segment seq with its header written and room for need more
 * bytes, and fsyncs the directory. *fdp and *sizep get the descriptor and
 * the file size. On error nothing is left.
 */
static int
wal_seg_create(struct wal *w, uint64_t seq, uint64_t need, int *fdp,
    uint64_t *sizep)
{
	unsigned char	 hdr[WAL_HDR_MAX];
	char		 path[PATH_MAX];
	uint64_t	 size = 0;
	size_t		 hlen;
	int		 fd, rc;

	if ((rc = wal_seg_path(path, sizeof(path), w->dir, seq)) != 0)
		return (rc);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		return (-errno);
	hlen = wal_hdr_encode(w, hdr, seq, w->last_id);
	if ((rc = wal_reserve(w, fd, &size, hlen + need)) != 0 ||
	    (rc = wal_pwrite_all(fd, hdr, hlen, 0)) != 0 ||
	    (rc = wal_fsync_dir(w->dir)) != 0) {
		close(fd);
		unlink(path);
		return (rc);
	}
	*fdp = fd;
	*sizep = size;
	return (0);
}

static void
wal_fail(struct wal *w, const char *what, int rc)
{
	char	name[LOG_NAME_MAX];

	if (w->failed != 0)
		return;
	w->failed = rc;
	log_error("durable log of \"%s\" (%s) failed: %s: %s",
	    log_escape(name, w->name, w->name_len), w->dir, what,
	    strerror(-rc));
}

int
wal_flush(struct wal *w)
{
	int	rc;

	if (w->failed != 0)
		return (w->failed);
	if (w->blen == 0)
		return (0);
	if ((rc = wal_pwrite_all(w->fd, w->buf, w->blen, w->woff)) != 0) {
		wal_fail(w, "write", rc);
		return (rc);
	}
	w->woff += w->blen;
	w->written_lsn = w->lsn;
	/*
	 * Idle logs hold no buffer (the daemon may have thousands); the next
	 * one starts at the size this one needed, capped, to grow less.
	 */
	w->bhint = w->blen < 2 * WAL_FLUSH_AT ? w->blen : 2 * WAL_FLUSH_AT;
	free(w->buf);
	w->buf = NULL;
	w->blen = w->bcap = 0;
	return (0);
}

/*
 * Closes the active segment for good: written, its reserved tail given
 * back, synced if the settings say so.
 */
static int
wal_seg_finish(struct wal *w)
{
	char	name[LOG_NAME_MAX];
	int	rc;

	if ((rc = wal_flush(w)) != 0)
		return (rc);
	if (ftruncate(w->fd, (off_t)w->woff) == 0)
		w->reserved = w->woff;
	else
		log_warning("durable log of \"%s\": ftruncate: %s",
		    log_escape(name, w->name, w->name_len), strerror(errno));
	if (w->set.sync_on_roll && fdatasync(w->fd) == -1) {
		rc = -errno;
		wal_fail(w, "fdatasync", rc);
		return (rc);
	}
	close(w->fd);
	w->fd = -1;
	return (0);
}

/* Starts a new segment with room for a record of n bytes. */
static int
wal_roll(struct wal *w, uint64_t n)
{
	struct wal_seg	*cur;
	char		 path[PATH_MAX];
	uint64_t	 size, seq;
	int		 fd, rc;

	/* Room in segs first: no failure once the new file exists. */
	seq = w->segs[w->nsegs - 1].seq + 1;
	if ((rc = wal_seg_push(w, seq, 0)) != 0)
		return (rc);
	w->nsegs--;
	if ((rc = wal_seg_create(w, seq, n, &fd, &size)) != 0)
		return (rc);
	if ((rc = wal_seg_finish(w)) != 0) {
		close(fd);
		if (wal_seg_path(path, sizeof(path), w->dir, seq) == 0)
			unlink(path);
		return (rc);
	}
	cur = &w->segs[w->nsegs - 1];
	cur->last_id = w->last_id;
	cur->bytes = w->reserved;
	w->old_bytes += w->reserved;
	/* Without sync_on_roll the caller does not want those synced. */
	w->synced_lsn = w->lsn;
	(void)wal_seg_push(w, seq, 0);
	w->fd = fd;
	w->reserved = size;
	w->woff = w->wend = wal_hdr_len(w);
	w->lsn += w->wend;
	w->written_lsn = w->lsn;
	return (0);
}

/* Makes room in the buffer for n more bytes. */
static int
wal_buf_grow(struct wal *w, size_t n)
{
	unsigned char	*p;
	size_t		 cap;

	if (w->bcap - w->blen >= n)
		return (0);
	cap = w->bcap ? w->bcap : w->bhint > 4096 ? w->bhint : 4096;
	while (cap - w->blen < n)
		cap *= 2;
	if ((p = realloc(w->buf, cap)) == NULL)
		return (-ENOMEM);
	w->buf = p;
	w->bcap = cap;
	return (0);
}

/* Rolls, reserves and buffers room for a record of n bytes. */
static int
wal_make_room(struct wal *w, uint64_t n)
{
	bool	has_records = w->wend > wal_hdr_len(w);
	int	rc;

	if (has_records && w->wend + n > w->set.segment_size) {
		if ((rc = wal_roll(w, n)) != 0)
			return (rc);
		has_records = false;
	}
	rc = wal_reserve(w, w->fd, &w->reserved, w->wend + n);
	if (rc != 0 && has_records)
		rc = wal_roll(w, n);
	if (rc != 0)
		return (rc);
	if (w->blen > 0 && w->blen + n > WAL_FLUSH_AT &&
	    (rc = wal_flush(w)) != 0)
		return (rc);
	return (wal_buf_grow(w, n));
}

static int
wal_append(struct wal *w, enum wal_rec_type type, uint64_t id,
    const void *payload, uint32_t len, uint64_t *end_lsn)
{
	unsigned char	*p;
	uint64_t	 n = WAL_REC_HDR + (uint64_t)len;
	int		 rc;

	if (w->failed != 0)
		return (w->failed);
	if (n > SIZE_MAX / 2)
		return (-EFBIG);
	if ((rc = wal_make_room(w, n)) != 0)
		return (rc);
	p = w->buf + w->blen;
	wal_put32(p + 4, len);
	wal_put32(p + 8, type);
	wal_put64(p + 12, id);
	if (len > 0)
		memcpy(p + WAL_REC_HDR, payload, len);
	wal_put32(p, crc32c(0, p + 4, (size_t)n - 4));
	w->blen += (size_t)n;
	w->wend += n;
	w->lsn += n;
	if (end_lsn != NULL)
		*end_lsn = w->lsn;
	return (0);
}

int
wal_create(const char *data_dir, const struct wal_meta *meta,
    const struct wal_settings *set, struct wal **out, char *err,
    size_t errlen)
{
	char		 dir[PATH_MAX], path[PATH_MAX];
	struct wal	*w;
	uint64_t	 size;
	int		 n, rc;

	n = snprintf(dir, sizeof(dir), "%s/" WAL_DIR_PREFIX "XXXXXX",
	    data_dir);
	if (n < 0 || (size_t)n + WAL_SEG_NAME_LEN + 2 > sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", data_dir);
		return (-ENAMETOOLONG);
	}
	if (mkdtemp(dir) == NULL) {
		rc = -errno;
		snprintf(err, errlen, "mkdir in %s: %s", data_dir,
		    strerror(-rc));
		return (rc);
	}
	if ((w = wal_alloc(data_dir, dir, meta, set)) == NULL ||
	    wal_seg_push(w, 1, 0) != 0) {
		rc = meta->name_len == 0 || meta->name_len > PROTO_NAME_MAX ?
		    -EINVAL : -ENOMEM;
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		goto fail;
	}
	if ((rc = wal_seg_create(w, 1, 0, &w->fd, &size)) != 0 ||
	    (rc = wal_fsync_dir(data_dir)) != 0) {
		snprintf(err, errlen, "segment in %s: %s", dir,
		    strerror(-rc));
		goto fail;
	}
	w->reserved = size;
	w->woff = w->wend = wal_hdr_len(w);
	w->lsn = w->written_lsn = w->synced_lsn = 0;
	*out = w;
	return (0);
fail:
	if (w != NULL && w->fd != -1) {
		close(w->fd);
		if (wal_seg_path(path, sizeof(path), dir, 1) == 0)
			unlink(path);
	}
	if (w != NULL)
		wal_free(w);
	rmdir(dir);
	return (rc);
}

int
wal_append_msg(struct wal *w, uint64_t id, const void *payload,
    uint32_t len, uint64_t *end_lsn)
{
	int	rc;

	if (w->failed != 0)
		return (w->failed);
	if (id <= w->last_id)
		return (-EINVAL);
	if ((rc = wal_append(w, WAL_REC_MSG, id, payload, len,
	    end_lsn)) != 0)
		return (rc);
	w->last_id = id;
	w->segs[w->nsegs - 1].last_id = id;
	return (0);
}

/* Unlinks the oldest segments whose messages are all acknowledged. */
static void
wal_drop_acked(struct wal *w)
{
	char	path[PATH_MAX];
	size_t	i;
	int	rc;

	for (i = 0; i + 1 < w->nsegs && w->segs[i].last_id <= w->acked;
	    i++) {
		if (wal_seg_path(path, sizeof(path), w->dir,
		    w->segs[i].seq) != 0 ||
		    (unlink(path) == -1 && errno != ENOENT)) {
			log_warning("durable log %s: unlink %s: %s", w->dir,
			    path, strerror(errno));
			break;
		}
		w->old_bytes -= w->segs[i].bytes;
	}
	if (i == 0)
		return;
	memmove(w->segs, w->segs + i, (w->nsegs - i) * sizeof(*w->segs));
	w->nsegs -= i;
	if ((rc = wal_fsync_dir(w->dir)) != 0)
		log_warning("durable log %s: fsync: %s", w->dir,
		    strerror(-rc));
}

int
wal_append_ack(struct wal *w, uint64_t upto_id)
{
	int	rc;

	if (upto_id > w->acked)
		w->acked = upto_id;
	rc = wal_append(w, WAL_REC_ACK, w->acked, NULL, 0, NULL);
	/* Safe even if the record was not written: those are consumed. */
	wal_drop_acked(w);
	return (rc);
}

int
wal_append_cancel(struct wal *w, uint64_t id)
{
	return (wal_append(w, WAL_REC_CANCEL, id, NULL, 0, NULL));
}

int
wal_append_delivered(struct wal *w, uint64_t upto_id)
{
	if (upto_id > w->delivered)
		w->delivered = upto_id;
	return (wal_append(w, WAL_REC_DELIVERED, w->delivered, NULL, 0,
	    NULL));
}

bool
wal_pending(const struct wal *w)
{
	return (w->blen > 0);
}

bool
wal_failed(const struct wal *w)
{
	return (w->failed != 0);
}

uint64_t
wal_written_lsn(const struct wal *w)
{
	return (w->written_lsn);
}

uint64_t
wal_synced_lsn(const struct wal *w)
{
	return (w->synced_lsn);
}

int
wal_sync_begin(struct wal *w, int *fd, uint64_t *target_lsn)
{
	int	d;

	if (w->failed != 0)
		return (w->failed);
	if ((d = fcntl(w->fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return (-errno);
	*fd = d;
	*target_lsn = w->written_lsn;
	return (0);
}

void
wal_sync_done(struct wal *w, uint64_t target_lsn, int result)
{
	if (result != 0) {
		wal_fail(w, "fdatasync", result);
		return;
	}
	if (target_lsn > w->synced_lsn)
		w->synced_lsn = target_lsn;
}

int
wal_sync_now(struct wal *w)
{
	int	rc;

	if ((rc = wal_flush(w)) != 0)
		return (rc);
	if (fdatasync(w->fd) == -1) {
		rc = -errno;
		wal_fail(w, "fdatasync", rc);
		return (rc);
	}
	w->synced_lsn = w->written_lsn;
	return (0);
}

uint64_t
wal_disk_bytes(const struct wal *w)
{
	return (w->old_bytes + w->reserved);
}

const char *
wal_dir(const struct wal *w)
{
	return (w->dir);
}

void
wal_close(struct wal *w)
{
	if (w == NULL)
		return;
	if (w->fd != -1) {
		/*
		 * The reserved tail is zeros, read as the end: cutting it is
		 * optional, and a failure leaves a log that reads the same.
		 */
		if (wal_flush(w) == 0 &&
		    ftruncate(w->fd, (off_t)w->woff) != 0)
			log_debug("%s: tail kept: %s", w->dir, strerror(errno));
		close(w->fd);
	}
	wal_free(w);
}

void
wal_destroy(struct wal *w)
{
	if (w == NULL)
		return;
	if (w->fd != -1)
		close(w->fd);
	wal_remove_dir(w->dir, w->data_dir);
	wal_free(w);
}


/* SPDX-License-Identifier: MIT */
/*
 * wal_recover.c: reading the logs back at startup. See wal.h.
 *
 * Each channel directory is read in two passes over its segments, mapped
 * read-only: the first checks every record and gathers the highest ACK,
 * the highest DELIVERED and the CANCELs; the second hands out the live
 * messages, which only the first pass can tell apart. A segment's header
 * is checked before its records; the last segment with a good header is
 * where appending continues.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "wal.h"
#include "wal_int.h"

/* One segment file being read. */
struct rseg {
	uint64_t	 seq;
	char		 path[PATH_MAX];
	unsigned char	*map;		/* NULL if empty */
	size_t		 size;		/* of the map */
	size_t		 fsize;		/* of the file (cut: smaller) */
	bool		 hdr_ok;
	size_t		 hdr_len;
	uint64_t	 prev_id;	/* from the header */
	size_t		 end;		/* end of the good records */
	const char	*bad;		/* why the record at end is bad */
	uint64_t	 last_id;	/* highest message id up to its end */
};

/* One channel directory being read. */
struct rdir {
	const char	*data_dir;
	char		 path[PATH_MAX];
	const struct wal_settings *set;
	struct rseg	*segs;
	size_t		 nsegs;
	bool		 have_meta;
	struct wal_meta	 meta;
	unsigned char	 name[PROTO_NAME_MAX];
	char		 ename[LOG_NAME_MAX];	/* name, escaped for logs */
	uint64_t	 last_id, acked, delivered;
	uint64_t	*cancels;
	size_t		 ncancels, cancap;
};

/* A record as read: its type, id, payload and whole length. */
struct rrec {
	uint32_t	 type;
	uint64_t	 id;
	const unsigned char *payload;
	uint32_t	 len;
	size_t		 size;
};

static bool
all_zero(const unsigned char *p, size_t len)
{
	while (len > 0 && *p == 0) {
		p++;
		len--;
	}
	return (len == 0);
}

/*
 * Checks the segment header: the magic, the version, the checksum, the
 * sequence number its file name gives, the same channel as the others.
 */
static bool
hdr_check(struct rdir *rd, struct rseg *s)
{
	const unsigned char	*p = s->map;
	uint32_t		 hlen, nlen;

	if (s->size < WAL_HDR_FIXED || memcmp(p, WAL_MAGIC, 8) != 0 ||
	    wal_get32(p + 8) != WAL_VERSION)
		return (false);
	hlen = wal_get32(p + 12);
	nlen = wal_get32(p + 48);
	if (nlen == 0 || nlen > PROTO_NAME_MAX ||
	    hlen != wal_hdr_size(nlen) || hlen > s->size ||
	    crc32c(0, p, hlen - 4) != wal_get32(p + hlen - 4) ||
	    wal_get64(p + 16) != s->seq)
		return (false);
	if (rd->have_meta && (nlen != rd->meta.name_len ||
	    memcmp(p + WAL_HDR_FIXED, rd->name, nlen) != 0 ||
	    wal_get64(p + 32) != rd->meta.cap_msgs ||
	    wal_get64(p + 40) != rd->meta.cap_bytes))
		return (false);
	if (!rd->have_meta) {
		memcpy(rd->name, p + WAL_HDR_FIXED, nlen);
		rd->meta.name = rd->name;
		rd->meta.name_len = nlen;
		rd->meta.cap_msgs = wal_get64(p + 32);
		rd->meta.cap_bytes = wal_get64(p + 40);
		log_escape(rd->ename, rd->name, nlen);
		rd->have_meta = true;
	}
	s->hdr_len = hlen;
	s->prev_id = wal_get64(p + 24);
	return (true);
}

/* Decodes the record header at p, unchecked. */
static void
rec_parse(const unsigned char *p, struct rrec *r)
{
	r->len = wal_get32(p + 4);
	r->type = wal_get32(p + 8);
	r->id = wal_get64(p + 12);
	r->payload = p + WAL_REC_HDR;
	r->size = WAL_REC_HDR + (size_t)r->len;
}

/*
 * Reads the record at p (avail bytes to the end of the file): 1 with *r
 * filled, 0 at the end of the records (nothing but zeros left), or -1 with
 * *why set if it is bad. Message ids must be above last_id.
 */
static int
rec_read(const unsigned char *p, size_t avail, uint64_t last_id,
    struct rrec *r, const char **why)
{
	if (all_zero(p, avail < WAL_REC_HDR ? avail : WAL_REC_HDR)) {
		if (all_zero(p, avail))
			return (0);
		*why = "data after a zero record header";
		return (-1);
	}
	if (avail < WAL_REC_HDR) {
		*why = "truncated record header";
		return (-1);
	}
	rec_parse(p, r);
	if (r->len > avail - WAL_REC_HDR)
		*why = "truncated record";
	else if (crc32c(0, p + 4, r->size - 4) != wal_get32(p))
		*why = "checksum mismatch";
	else if (r->type < WAL_REC_MSG || r->type > WAL_REC_DELIVERED)
		*why = "unknown record type";
	else if (r->type != WAL_REC_MSG && r->len != 0)
		*why = "payload on a record that has none";
	else if (r->type == WAL_REC_MSG && r->id <= last_id)
		*why = "message id not above the previous one";
	else
		return (1);
	return (-1);
}

static int
cancel_add(struct rdir *rd, uint64_t id)
{
	uint64_t	*p;
	size_t		 cap;

	if (rd->ncancels == rd->cancap) {
		cap = rd->cancap ? rd->cancap * 2 : 16;
		if ((p = reallocarray(rd->cancels, cap, sizeof(*p))) == NULL)
			return (-ENOMEM);
		rd->cancels = p;
		rd->cancap = cap;
	}
	rd->cancels[rd->ncancels++] = id;
	return (0);
}

/* First pass over one segment: checks records, gathers the state. */
static int
seg_scan(struct rdir *rd, struct rseg *s)
{
	struct rrec	r;
	size_t		off = s->hdr_len;
	int		rc;

	if (s->prev_id > rd->last_id)
		rd->last_id = s->prev_id;
	while ((rc = rec_read(s->map + off, s->size - off, rd->last_id, &r,
	    &s->bad)) == 1) {
		if (r.type == WAL_REC_MSG)
			rd->last_id = r.id;
		else if (r.type == WAL_REC_ACK && r.id > rd->acked)
			rd->acked = r.id;
		else if (r.type == WAL_REC_DELIVERED && r.id > rd->delivered)
			rd->delivered = r.id;
		else if (r.type == WAL_REC_CANCEL && cancel_add(rd, r.id) != 0)
			return (-ENOMEM);
		off += r.size;
	}
	if (rc == 0)
		s->bad = NULL;
	s->end = off;
	s->last_id = rd->last_id;
	return (0);
}

static void
rseg_close(struct rseg *s)
{
	if (s->map != NULL)
		munmap(s->map, s->size);
	s->map = NULL;
}

static void
rdir_free(struct rdir *rd)
{
	size_t	i;

	for (i = 0; i < rd->nsegs; i++)
		rseg_close(&rd->segs[i]);
	free(rd->segs);
	free(rd->cancels);
}

static int
rseg_cmp(const void *a, const void *b)
{
	const struct rseg	*x = a, *y = b;

	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static int
u64_cmp(const void *a, const void *b)
{
	const uint64_t	*x = a, *y = b;

	return (*x < *y ? -1 : *x > *y);
}

/*
 * Maps one segment file. The descriptor is closed at once (the map
 * stays): a long log must not run the daemon out of descriptors.
 */
static int
rseg_open(struct rdir *rd, struct rseg *s)
{
	struct stat	st;
	int		fd, rc = 0;

	if ((rc = wal_seg_path(s->path, sizeof(s->path), rd->path,
	    s->seq)) != 0)
		return (rc);
	fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &st) == -1)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if (st.st_uid != geteuid())
		rc = -EPERM;
	else if ((s->size = s->fsize = (size_t)st.st_size) > 0) {
		s->map = mmap(NULL, s->size, PROT_READ, MAP_SHARED, fd, 0);
		if (s->map == MAP_FAILED) {
			s->map = NULL;
			rc = -errno;
		}
	}
	if (fd != -1)
		close(fd);
	return (rc);
}

/* Lists, opens and maps the segments of the directory, in order. */
static int
rdir_open(struct rdir *rd)
{
	struct dirent	*de;
	struct rseg	*s;
	DIR		*d;
	uint64_t	 seq;
	size_t		 cap = 0;
	int		 rc = 0;

	if ((d = opendir(rd->path)) == NULL)
		return (-errno);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!wal_seg_name_parse(de->d_name, &seq))
			continue;
		if (rd->nsegs == cap) {
			cap = cap ? cap * 2 : 4;
			s = reallocarray(rd->segs, cap, sizeof(*s));
			if (s == NULL) {
				rc = -ENOMEM;
				break;
			}
			rd->segs = s;
		}
		s = &rd->segs[rd->nsegs++];
		memset(s, 0, sizeof(*s));
		s->seq = seq;
		rc = rseg_open(rd, s);
	}
	closedir(d);
	if (rc == 0 && rd->nsegs > 0)
		qsort(rd->segs, rd->nsegs, sizeof(*rd->segs), rseg_cmp);
	return (rc);
}

/* Logs what a bad record in a segment before the last one lost. */
static void
report_lost(struct rdir *rd, size_t i)
{
	struct rseg	*s = &rd->segs[i];
	uint64_t	 next = s->last_id;
	size_t		 j;

	for (j = i + 1; j < rd->nsegs; j++) {
		if (rd->segs[j].hdr_ok) {
			next = rd->segs[j].prev_id;
			break;
		}
	}
	if (next > s->last_id)
		log_error("durable log of \"%s\": %s: %s at offset %zu: "
		    "message ids %" PRIu64 " to %" PRIu64 " lost", rd->ename,
		    s->path,
		    s->hdr_ok ? s->bad : "bad segment header", s->end,
		    s->last_id + 1, next);
	else
		log_error("durable log of \"%s\": %s: %s at offset %zu: "
		    "records after it ignored, no message lost", rd->ename,
		    s->path,
		    s->hdr_ok ? s->bad : "bad segment header", s->end);
}

/* Cuts the last good segment at its first bad record. */
static void
cut_tail(struct rdir *rd, struct rseg *s)
{
	log_warning("durable log of \"%s\": %s: %s at offset %zu: cut %zu "
	    "bytes", rd->ename, s->path, s->bad, s->end, s->size - s->end);
	if (truncate(s->path, (off_t)s->end) == -1) {
		log_warning("durable log %s: ftruncate: %s", rd->path,
		    strerror(errno));
		return;
	}
	/* The map stays for the second pass, which reads up to end. */
	s->fsize = s->end;
}

/* Unlinks a segment after the last good one (a header never written). */
static void
drop_seg(struct rdir *rd, struct rseg *s)
{
	if (s->size > 0 && !all_zero(s->map, s->size))
		log_warning("durable log of \"%s\": %s: bad segment header: "
		    "cut %zu bytes (file removed)",
		    rd->have_meta ? rd->ename : "?", s->path, s->size);
	rseg_close(s);
	if (unlink(s->path) == -1)
		log_warning("durable log %s: unlink: %s", s->path,
		    strerror(errno));
}

/* True if every segment is empty or zeros (never written). */
static bool
rdir_all_zero(const struct rdir *rd)
{
	size_t	i;

	for (i = 0; i < rd->nsegs; i++)
		if (rd->segs[i].size > 0 &&
		    !all_zero(rd->segs[i].map, rd->segs[i].size))
			return (false);
	return (true);
}

/*
 * First pass: headers, records, damage. Returns the index of the segment
 * to append to, or -1 if none has a good header (the segments are then
 * removed if they were never written, else kept).
 */
static ssize_t
rdir_scan(struct rdir *rd)
{
	ssize_t	last = -1;
	size_t	i;
	int	rc;

	for (i = 0; i < rd->nsegs; i++)
		if ((rd->segs[i].hdr_ok = hdr_check(rd, &rd->segs[i])))
			last = (ssize_t)i;
	if (last < 0 && !rdir_all_zero(rd)) {
		log_error("durable log %s: no segment with a good header; "
		    "skipped, files kept", rd->path);
		return (-1);
	}
	for (i = 0; (ssize_t)i <= last; i++) {
		if (!rd->segs[i].hdr_ok) {
			rd->segs[i].last_id = rd->last_id;
			rd->segs[i].end = 0;
			continue;
		}
		if ((rc = seg_scan(rd, &rd->segs[i])) != 0)
			return (rc);
	}
	for (i = 0; (ssize_t)i < last; i++)
		if (!rd->segs[i].hdr_ok || rd->segs[i].bad != NULL)
			report_lost(rd, i);
	if (last >= 0 && rd->segs[last].bad != NULL)
		cut_tail(rd, &rd->segs[last]);
	for (i = (size_t)(last + 1); i < rd->nsegs; i++)
		drop_seg(rd, &rd->segs[i]);
	if (last + 1 < (ssize_t)rd->nsegs) {
		rd->nsegs = (size_t)(last + 1);
		(void)wal_fsync_dir(rd->path);
	}
	return (last);
}

/*
 * Unlinks the oldest segments, other than the last, whose messages are
 * all acknowledged: a crash can leave those that were active at their
 * ACK, which would otherwise stay until the next one. Damaged segments
 * stop it, kept for inspection as an ACK at run time would keep them
 * only until it covers them.
 */
static void
rdir_drop_acked(struct rdir *rd)
{
	struct rseg	*s;
	size_t		 i;
	int		 rc;

	for (i = 0; i + 1 < rd->nsegs; i++) {
		s = &rd->segs[i];
		if (!s->hdr_ok || s->bad != NULL || s->last_id > rd->acked)
			break;
		if (unlink(s->path) == -1 && errno != ENOENT) {
			log_warning("durable log %s: unlink %s: %s", rd->path,
			    s->path, strerror(errno));
			break;
		}
		rseg_close(s);
	}
	if (i == 0)
		return;
	log_info("durable log of \"%s\": %zu acknowledged segment%s removed",
	    rd->ename, i, i == 1 ? "" : "s");
	memmove(rd->segs, rd->segs + i, (rd->nsegs - i) * sizeof(*rd->segs));
	rd->nsegs -= i;
	if ((rc = wal_fsync_dir(rd->path)) != 0)
		log_warning("durable log %s: fsync: %s", rd->path,
		    strerror(-rc));
}

static bool
is_live(const struct rdir *rd, uint64_t id)
{
	return (id > rd->acked && (rd->ncancels == 0 || bsearch(&id,
	    rd->cancels, rd->ncancels, sizeof(id), u64_cmp) == NULL));
}

/* The log, open for appending at the end of the last good segment. */
static int
rdir_wal(struct rdir *rd, struct wal **out)
{
	struct wal	*w;
	struct rseg	*act = &rd->segs[rd->nsegs - 1];
	size_t		 i;
	int		 rc;

	if ((w = wal_alloc(rd->data_dir, rd->path, &rd->meta, rd->set)) ==
	    NULL)
		return (-ENOMEM);
	for (i = 0; i < rd->nsegs; i++) {
		w->last_id = rd->segs[i].last_id;
		if ((rc = wal_seg_push(w, rd->segs[i].seq,
		    rd->segs[i].fsize)) != 0) {
			wal_free(w);
			return (rc);
		}
		if (i + 1 < rd->nsegs)
			w->old_bytes += rd->segs[i].fsize;
	}
	if ((w->fd = open(act->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) ==
	    -1) {
		rc = -errno;
		wal_free(w);
		return (rc);
	}
	w->woff = w->wend = act->end;
	w->reserved = act->fsize;
	w->last_id = rd->last_id;
	w->acked = rd->acked;
	w->delivered = rd->delivered;
	*out = w;
	return (0);
}

/*
 * Second pass: the channel, then its live messages. 1 if none. Records up
 * to each segment's end were checked by the first pass.
 */
static int
rdir_emit(struct rdir *rd, wal_chan_fn chan_fn, wal_msg_fn msg_fn,
    void *arg)
{
	struct wal	*w = NULL;
	struct rseg	*s;
	struct rrec	 r;
	size_t		 i, off;
	int		 rc = 0;

	for (i = 0; i < rd->nsegs && rc == 0; i++) {
		s = &rd->segs[i];
		for (off = s->hdr_len; s->hdr_ok && off < s->end &&
		    rc == 0; off += r.size) {
			rec_parse(s->map + off, &r);
			if (r.type != WAL_REC_MSG || !is_live(rd, r.id))
				continue;
			if (w == NULL) {
				if ((rc = rdir_wal(rd, &w)) != 0)
					return (rc);
				rc = chan_fn(arg, w, &rd->meta, rd->last_id +
				    1);
			}
			if (rc == 0)
				rc = msg_fn(arg, w, r.id, r.payload, r.len,
				    r.id <= rd->delivered);
		}
	}
	if (w == NULL)
		return (1);
	if (rc != 0) {
		log_error("durable log of \"%s\" (%s): recovery stopped by "
		    "the daemon (%d); files kept", rd->ename, rd->path, rc);
		wal_close(w);
	}
	return (0);
}

/* Recovers one channel directory; everything wrong is logged. */
static void
recover_dir(const char *data_dir, const char *dname,
    const struct wal_settings *set, wal_chan_fn chan_fn, wal_msg_fn msg_fn,
    void *arg)
{
	struct rdir	rd;
	ssize_t		last;
	int		rc, n;

	memset(&rd, 0, sizeof(rd));
	rd.data_dir = data_dir;
	rd.set = set;
	n = snprintf(rd.path, sizeof(rd.path), "%s/%s", data_dir, dname);
	if (n < 0 || (size_t)n + WAL_SEG_NAME_LEN + 2 > sizeof(rd.path)) {
		log_error("durable log %s/%s: path too long; skipped",
		    data_dir, dname);
		return;
	}
	if ((rc = rdir_open(&rd)) != 0) {
		log_error("durable log %s: %s; skipped", rd.path,
		    strerror(-rc));
		goto out;
	}
	if ((last = rdir_scan(&rd)) < 0) {
		if (rd.nsegs == 0)
			wal_remove_dir(rd.path, data_dir);
		goto out;
	}
	if (rd.ncancels > 0)
		qsort(rd.cancels, rd.ncancels, sizeof(*rd.cancels), u64_cmp);
	/* New ids must stay above every id an ACK or DELIVERED covers. */
	if (rd.acked > rd.last_id)
		rd.last_id = rd.acked;
	if (rd.delivered > rd.last_id)
		rd.last_id = rd.delivered;
	rdir_drop_acked(&rd);
	if ((rc = rdir_emit(&rd, chan_fn, msg_fn, arg)) < 0)
		log_error("durable log of \"%s\" (%s): %s; skipped",
		    rd.ename, rd.path, strerror(-rc));
	else if (rc == 1) {
		rdir_free(&rd);
		wal_remove_dir(rd.path, data_dir);
		return;
	}
out:
	rdir_free(&rd);
}

/*
 * A directory (not a link to one) named like a log's, owned by the
 * daemon's user and writable by no one else: a log another user could
 * have planted or changed is not trusted (logged, left alone).
 */
static bool
is_chan_dir(const char *data_dir, const char *name)
{
	struct stat	st;
	char		path[PATH_MAX];
	int		n;

	n = snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    lstat(path, &st) == -1 || !S_ISDIR(st.st_mode))
		return (false);
	if (st.st_uid != geteuid()) {
		log_warning("durable log %s is owned by uid %lu, not the "
		    "daemon's user (uid %lu): not trusted, left alone", path,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		return (false);
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_warning("durable log %s is writable by others (mode "
		    "%03o): not trusted, left alone", path,
		    (unsigned)(st.st_mode & 0777));
		return (false);
	}
	return (true);
}

/*
 * The data directory must be the daemon's user's and writable by no one
 * else, or anyone could plant logs in it or remove them (as OpenSSH
 * judges its keys): another owner is refused; write access for group or
 * others is taken away, with a log line.
 */
static int
data_dir_check(const char *data_dir, char *err, size_t errlen)
{
	struct stat	st;
	mode_t		mode;

	if (stat(data_dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", data_dir, strerror(errno));
		return (-errno);
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", data_dir);
		return (-ENOTDIR);
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s is owned by uid %lu, not the "
		    "daemon's user (uid %lu): refused, as another user could "
		    "plant or remove logs in it", data_dir,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		return (-EPERM);
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return (0);
	mode = st.st_mode & 07777 & ~(mode_t)(S_IWGRP | S_IWOTH);
	if (chmod(data_dir, mode) == -1) {
		snprintf(err, errlen, "%s is writable by others (mode %03o) "
		    "and cannot be made private: %s", data_dir,
		    (unsigned)(st.st_mode & 0777), strerror(errno));
		return (-errno);
	}
	log_warning("--data-dir %s was writable by others (mode %03o): mode "
	    "set to %03o", data_dir, (unsigned)(st.st_mode & 0777),
	    (unsigned)(mode & 0777));
	return (0);
}

static int
chan_dir_filter(const struct dirent *de)
{
	return (strncmp(de->d_name, WAL_DIR_PREFIX,
	    strlen(WAL_DIR_PREFIX)) == 0);
}

int
wal_recover(const char *data_dir, const struct wal_settings *set,
    wal_chan_fn chan_fn, wal_msg_fn msg_fn, void *arg, char *err,
    size_t errlen)
{
	struct dirent	**names;
	int		  i, n, rc;

	if (mkdir(data_dir, 0700) == -1 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "mkdir %s: %s", data_dir, strerror(-rc));
		return (rc);
	}
	if ((rc = data_dir_check(data_dir, err, errlen)) != 0)
		return (rc);
	if ((n = scandir(data_dir, &names, chan_dir_filter, alphasort)) ==
	    -1) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", data_dir, strerror(-rc));
		return (rc);
	}
	for (i = 0; i < n; i++) {
		if (is_chan_dir(data_dir, names[i]->d_name))
			recover_dir(data_dir, names[i]->d_name, set, chan_fn,
			    msg_fn, arg);
		free(names[i]);
	}
	free(names);
	return (0);
}

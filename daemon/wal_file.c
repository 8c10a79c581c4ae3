/* SPDX-License-Identifier: MIT */
/*
 * wal_file.c: what the live log (wal.c) and recovery (wal_recover.c)
 * share: struct wal's allocation, segment names and headers, removal of a
 * log's directory. See wal_int.h.
 */
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

struct wal *
wal_alloc(const char *data_dir, const char *dir, const struct wal_meta *meta,
    const struct wal_settings *set)
{
	struct wal	*w;

	if (meta->name_len == 0 || meta->name_len > PROTO_NAME_MAX)
		return (NULL);
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return (NULL);
	w->dir = strdup(dir);
	w->data_dir = strdup(data_dir);
	if (w->dir == NULL || w->data_dir == NULL) {
		wal_free(w);
		return (NULL);
	}
	w->set = *set;
	memcpy(w->name, meta->name, meta->name_len);
	w->name_len = meta->name_len;
	w->cap_msgs = meta->cap_msgs;
	w->cap_bytes = meta->cap_bytes;
	w->fd = -1;
	w->chunk = WAL_CHUNK_MIN;
	return (w);
}

void
wal_free(struct wal *w)
{
	free(w->dir);
	free(w->data_dir);
	free(w->segs);
	free(w->buf);
	free(w);
}

int
wal_seg_push(struct wal *w, uint64_t seq, uint64_t bytes)
{
	struct wal_seg	*s;
	size_t		 cap;

	if (w->nsegs == w->segcap) {
		cap = w->segcap ? w->segcap * 2 : 4;
		if ((s = reallocarray(w->segs, cap, sizeof(*s))) == NULL)
			return (-ENOMEM);
		w->segs = s;
		w->segcap = cap;
	}
	s = &w->segs[w->nsegs++];
	s->seq = seq;
	s->last_id = w->last_id;
	s->bytes = bytes;
	return (0);
}

int
wal_seg_path(char *out, size_t outlen, const char *dir, uint64_t seq)
{
	int	n;

	n = snprintf(out, outlen, "%s/%016" PRIx64 WAL_SEG_SUFFIX, dir, seq);
	if (n < 0 || (size_t)n >= outlen)
		return (-ENAMETOOLONG);
	return (0);
}

bool
wal_seg_name_parse(const char *name, uint64_t *seq)
{
	uint64_t	v = 0;
	int		i, c;

	if (strlen(name) != WAL_SEG_NAME_LEN ||
	    strcmp(name + 16, WAL_SEG_SUFFIX) != 0)
		return (false);
	for (i = 0; i < 16; i++) {
		c = name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return (false);
	}
	*seq = v;
	return (true);
}

int
wal_fsync_dir(const char *path)
{
	int	fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-errno);
	if (fsync(fd) == -1)
		rc = -errno;
	close(fd);
	return (rc);
}

size_t
wal_hdr_encode(const struct wal *w, unsigned char *out, uint64_t seq,
    uint64_t prev_id)
{
	size_t	n = WAL_HDR_FIXED + w->name_len;

	memcpy(out, WAL_MAGIC, 8);
	wal_put32(out + 8, WAL_VERSION);
	wal_put32(out + 12, (uint32_t)(n + 4));
	wal_put64(out + 16, seq);
	wal_put64(out + 24, prev_id);
	wal_put64(out + 32, w->cap_msgs);
	wal_put64(out + 40, w->cap_bytes);
	wal_put32(out + 48, (uint32_t)w->name_len);
	memcpy(out + WAL_HDR_FIXED, w->name, w->name_len);
	wal_put32(out + n, crc32c(0, out, n));
	return (n + 4);
}

void
wal_remove_dir(const char *dir, const char *parent)
{
	struct dirent	*de;
	DIR		*d;
	uint64_t	 seq;
	int		 rc;

	if ((d = opendir(dir)) == NULL) {
		log_warning("durable log %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!wal_seg_name_parse(de->d_name, &seq))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == -1)
			log_warning("durable log %s: unlink %s: %s", dir,
			    de->d_name, strerror(errno));
	}
	closedir(d);
	if (rmdir(dir) == -1) {
		log_warning("durable log %s: rmdir: %s (left in place)", dir,
		    strerror(errno));
		return;
	}
	if ((rc = wal_fsync_dir(parent)) != 0)
		log_warning("durable log %s: fsync %s: %s", dir, parent,
		    strerror(-rc));
}

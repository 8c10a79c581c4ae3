/* SPDX-License-Identifier: MIT */
/*
 * test_wal.c: unit tests of the write-ahead log (daemon/wal.c,
 * wal_recover.c) and its checksum (daemon/crc32c.c), on files in private
 * directories under /tmp, removed after each test.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "crc32c.h"
#include "wal.h"

#define MAXMSGS		4096

static char	tdir[PATH_MAX];		/* the test's private directory */
static char	data_dir[PATH_MAX];	/* tdir/data */
static char	errbuf[256];

static const struct wal_settings big_segs = { 16u << 20, true };
static const struct wal_settings small_segs = { 64u * 1024, true };
static const struct wal_settings nosync_segs = { 64u * 1024, false };

/* What a recovery reported. */
struct got_msg {
	uint64_t	 id;
	uint32_t	 len;
	bool		 delivered;
	unsigned char	*data;
};

struct got_chan {
	char		 name[256];
	uint64_t	 cap_msgs, cap_bytes, next_id;
	struct wal	*wal;
	size_t		 first, n;	/* its messages in got.msgs */
};

struct got {
	struct got_chan	 chans[16];
	size_t		 nchans;
	struct got_msg	 msgs[MAXMSGS];
	size_t		 nmsgs;
	const char	*refuse;	/* chan_fn fails for this name */
};

static struct got	got;

/* snprintf into a PATH_MAX buffer, which must hold it all. */
static void	pathf(char *out, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

static void
pathf(char *out, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && n < PATH_MAX);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return (remove(path) == -1 ? -1 : 0);
}

static void
setup(void)
{
	pathf(tdir, "/tmp/test_wal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	pathf(data_dir, "%s/data", tdir);
	ck_assert_int_eq(mkdir(data_dir, 0700), 0);
	memset(&got, 0, sizeof(got));
}

static void
teardown(void)
{
	size_t	i;

	for (i = 0; i < got.nmsgs; i++)
		free(got.msgs[i].data);
	nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
on_chan(void *arg, struct wal *w, const struct wal_meta *meta,
    uint64_t next_id)
{
	struct got	*g = arg;
	struct got_chan	*c;

	ck_assert_uint_lt(g->nchans, 16);
	ck_assert_uint_lt(meta->name_len, sizeof(c->name));
	if (g->refuse != NULL && meta->name_len == strlen(g->refuse) &&
	    memcmp(meta->name, g->refuse, meta->name_len) == 0)
		return (-1);
	c = &g->chans[g->nchans++];
	memcpy(c->name, meta->name, meta->name_len);
	c->name[meta->name_len] = '\0';
	c->cap_msgs = meta->cap_msgs;
	c->cap_bytes = meta->cap_bytes;
	c->next_id = next_id;
	c->wal = w;
	c->first = g->nmsgs;
	return (0);
}

static int
on_msg(void *arg, struct wal *w, uint64_t id, const void *payload,
    uint32_t len, bool delivered)
{
	struct got	*g = arg;
	struct got_msg	*m;

	ck_assert_uint_gt(g->nchans, 0);
	ck_assert_ptr_eq(g->chans[g->nchans - 1].wal, w);
	ck_assert_uint_lt(g->nmsgs, MAXMSGS);
	m = &g->msgs[g->nmsgs++];
	m->id = id;
	m->len = len;
	m->delivered = delivered;
	m->data = malloc(len + 1);
	ck_assert_ptr_nonnull(m->data);
	memcpy(m->data, payload, len);
	g->chans[g->nchans - 1].n++;
	return (0);
}

/* Recovers data_dir into got (cleared first, earlier logs closed). */
static void
recover(const struct wal_settings *set)
{
	size_t	i;

	for (i = 0; i < got.nchans; i++)
		wal_close(got.chans[i].wal);
	for (i = 0; i < got.nmsgs; i++)
		free(got.msgs[i].data);
	got.nchans = got.nmsgs = 0;
	ck_assert_int_eq(wal_recover(data_dir, set, on_chan, on_msg, &got,
	    errbuf, sizeof(errbuf)), 0);
}

static void
close_recovered(void)
{
	size_t	i;

	for (i = 0; i < got.nchans; i++)
		wal_close(got.chans[i].wal);
	got.nchans = 0;
}

static struct wal *
create(const char *name, const struct wal_settings *set)
{
	struct wal_meta	 meta = { name, strlen(name), 100, 1 << 20 };
	struct wal	*w = NULL;

	ck_assert_int_eq(wal_create(data_dir, &meta, set, &w, errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_ptr_nonnull(w);
	return (w);
}

/* Payload of message id: len bytes derived from id. */
static unsigned char *
payload(uint64_t id, uint32_t len)
{
	unsigned char	*p = malloc(len + 1);
	uint32_t	 i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(id * 31 + i * 7);
	return (p);
}

static void
append(struct wal *w, uint64_t id, uint32_t len)
{
	unsigned char	*p = payload(id, len);

	ck_assert_int_eq(wal_append_msg(w, id, p, len, NULL), 0);
	free(p);
}

/* Checks recovered message i: its id, length, payload, flag. */
static void
expect_msg(size_t i, uint64_t id, uint32_t len, bool delivered)
{
	unsigned char	*p;

	ck_assert_uint_lt(i, got.nmsgs);
	ck_assert_uint_eq(got.msgs[i].id, id);
	ck_assert_uint_eq(got.msgs[i].len, len);
	ck_assert(got.msgs[i].delivered == delivered);
	p = payload(id, len);
	ck_assert(memcmp(got.msgs[i].data, p, len) == 0);
	free(p);
}

/*
 * A table of messages: appended by append_msgs, expected back by
 * expect_msgs, delivered being the flag recovery must give.
 */
struct tmsg {
	uint64_t	id;
	uint32_t	len;
	bool		delivered;
};

#define NTMSGS(t)	(sizeof(t) / sizeof((t)[0]))

static void
append_msgs(struct wal *w, const struct tmsg *t, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		append(w, t[i].id, t[i].len);
}

/* Recovered messages at, at + 1, ... are t[0..n), and the last ones. */
static void
expect_msgs(size_t at, const struct tmsg *t, size_t n)
{
	size_t	i;

	ck_assert_uint_eq(got.nmsgs, at + n);
	for (i = 0; i < n; i++)
		expect_msg(at + i, t[i].id, t[i].len, t[i].delivered);
}

/* Appends messages first .. last of len bytes each. */
static void
append_ids(struct wal *w, uint64_t first, uint64_t last, uint32_t len)
{
	uint64_t	id;

	for (id = first; id <= last; id++)
		append(w, id, len);
}

/*
 * Recovered messages at, at + 1, ... are first .. last of len bytes each,
 * those up to id delivered flagged delivered.
 */
static void
expect_ids(size_t at, uint64_t first, uint64_t last, uint32_t len,
    uint64_t delivered)
{
	uint64_t	id;

	for (id = first; id <= last; id++)
		expect_msg(at + (id - first), id, len, id <= delivered);
}

/* Counts the entries of dir other than . and .. (-1 if missing). */
static int
count_entries(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return (n);
}

/* Path of segment seq of the log in dir. */
static void
seg_path(char *out, const char *dir, uint64_t seq)
{
	char	tmp[PATH_MAX];

	pathf(tmp, "%s/%016llx.wal", dir, (unsigned long long)seq);
	memcpy(out, tmp, PATH_MAX);
}

static off_t
file_size(const char *path)
{
	struct stat	st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (st.st_size);
}

/* Sum of the sizes of the files in dir. */
static uint64_t
dir_bytes(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[PATH_MAX];
	uint64_t	 n = 0;

	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		pathf(path, "%s/%s", dir, de->d_name);
		n += (uint64_t)file_size(path);
	}
	closedir(d);
	return (n);
}

static void
flip_byte(const char *path, off_t off)
{
	unsigned char	c;
	int		fd;

	ck_assert_int_ge(fd = open(path, O_RDWR), 0);
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/*
 * Sends stderr (where the log goes) to a file until log_end, which
 * returns what was written there (caller frees).
 */
static int	saved_stderr = -1;
static char	log_path[PATH_MAX];

static void
log_begin(void)
{
	int	fd;

	pathf(log_path, "%s/stderr", tdir);
	ck_assert_int_ge(fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC,
	    0600), 0);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static char *
log_end(void)
{
	char	*s;
	FILE	*f;
	long	 n;

	dup2(saved_stderr, 2);
	close(saved_stderr);
	ck_assert_ptr_nonnull(f = fopen(log_path, "r"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return (s);
}

/*
 * recover() with the log captured: each of the strings after set, up to
 * a NULL, must be in it.
 */
static void
recover_logged(const struct wal_settings *set, ...)
{
	const char	*want;
	char		*log;
	va_list		 ap;

	log_begin();
	recover(set);
	log = log_end();
	va_start(ap, set);
	while ((want = va_arg(ap, const char *)) != NULL)
		ck_assert_msg(strstr(log, want) != NULL,
		    "no \"%s\" in the log:\n%s", want, log);
	va_end(ap);
	free(log);
}

/* CRC-32C. */

START_TEST(test_crc32c_matches_known_vectors)
{
	unsigned char	buf[32];
	const char	*s = "123456789";

	ck_assert_uint_eq(crc32c(0, s, 9), 0xe3069283u);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
	/* RFC 3720 (iSCSI) B.4 vectors. */
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x46dd794eu);
}
END_TEST

START_TEST(test_crc32c_extends_over_pieces_at_any_alignment)
{
	unsigned char	buf[100];
	uint32_t	whole;
	size_t		cut;

	for (cut = 0; cut < sizeof(buf); cut++)
		buf[cut] = (unsigned char)(cut * 13 + 1);
	whole = crc32c(0, buf, sizeof(buf));
	for (cut = 0; cut <= sizeof(buf); cut++)
		ck_assert_uint_eq(crc32c(crc32c(0, buf, cut), buf + cut,
		    sizeof(buf) - cut), whole);
}
END_TEST

/* Append, close, recover. */

START_TEST(test_messages_come_back_in_order_with_their_payloads)
{
	static const struct tmsg t[] = { { 1, 0, false }, { 2, 1, false },
	    { 3, 65536, false } };
	struct wal	*w = create("jobs", &big_segs);
	char		 dir[PATH_MAX];

	pathf(dir, "%s", wal_dir(w));
	ck_assert_int_eq(strncmp(dir, data_dir, strlen(data_dir)), 0);
	append_msgs(w, t, NTMSGS(t));
	ck_assert(wal_pending(w));
	wal_close(w);
	recover(&big_segs);
	ck_assert_uint_eq(got.nchans, 1);
	ck_assert_str_eq(got.chans[0].name, "jobs");
	ck_assert_uint_eq(got.chans[0].cap_msgs, 100);
	ck_assert_uint_eq(got.chans[0].cap_bytes, 1 << 20);
	ck_assert_uint_eq(got.chans[0].next_id, 4);
	ck_assert_str_eq(wal_dir(got.chans[0].wal), dir);
	expect_msgs(0, t, NTMSGS(t));
	close_recovered();
}
END_TEST

START_TEST(test_recovered_log_takes_appends_with_higher_ids_only)
{
	static const struct tmsg t[] = { { 5, 10, false }, { 6, 20, false },
	    { 9, 30, false } };
	struct wal	*w = create("jobs", &big_segs);

	append_msgs(w, t, 1);
	ck_assert_int_eq(wal_append_msg(w, 5, "x", 1, NULL), -EINVAL);
	ck_assert_int_eq(wal_append_msg(w, 4, "x", 1, NULL), -EINVAL);
	wal_close(w);
	recover(&big_segs);
	ck_assert_uint_eq(got.chans[0].next_id, 6);
	w = got.chans[0].wal;
	ck_assert_int_eq(wal_append_msg(w, 5, "x", 1, NULL), -EINVAL);
	append_msgs(w, t + 1, 2);
	recover(&big_segs);
	expect_msgs(0, t, NTMSGS(t));
	ck_assert_uint_eq(got.chans[0].next_id, 10);
	close_recovered();
}
END_TEST

START_TEST(test_ack_cancel_and_delivered_decide_what_comes_back)
{
	static const struct tmsg t[] = { { 1, 1, false }, { 2, 2, false },
	    { 3, 3, true }, { 4, 4, false }, { 5, 5, true }, { 6, 6, false } };
	static const struct tmsg live[] = { { 3, 3, true }, { 5, 5, true },
	    { 6, 6, false } };
	struct wal	*w = create("jobs", &big_segs);

	append_msgs(w, t, NTMSGS(t));
	ck_assert_int_eq(wal_append_delivered(w, 5), 0);
	ck_assert_int_eq(wal_append_ack(w, 2), 0);
	ck_assert_int_eq(wal_append_cancel(w, 4), 0);
	/* Lower values than earlier ones change nothing. */
	ck_assert_int_eq(wal_append_ack(w, 1), 0);
	ck_assert_int_eq(wal_append_delivered(w, 3), 0);
	wal_close(w);
	recover(&big_segs);
	expect_msgs(0, live, NTMSGS(live));
	ck_assert_uint_eq(got.chans[0].next_id, 7);
	close_recovered();
}
END_TEST

START_TEST(test_log_with_nothing_live_is_removed_at_recovery)
{
	struct wal	*w = create("done", &big_segs);
	struct wal	*v = create("cancelled", &big_segs);

	append(w, 1, 10);
	append(w, 2, 10);
	ck_assert_int_eq(wal_append_ack(w, 2), 0);
	wal_close(w);
	append(v, 1, 10);
	ck_assert_int_eq(wal_append_cancel(v, 1), 0);
	wal_close(v);
	ck_assert_int_eq(count_entries(data_dir), 2);
	recover(&big_segs);
	ck_assert_uint_eq(got.nchans, 0);
	ck_assert_int_eq(count_entries(data_dir), 0);
}
END_TEST

START_TEST(test_destroy_removes_the_directory)
{
	struct wal	*w = create("jobs", &big_segs);
	char		 dir[PATH_MAX];
	struct stat	 st;

	pathf(dir, "%s", wal_dir(w));
	append(w, 1, 100);
	ck_assert_int_eq(wal_flush(w), 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	wal_destroy(w);
	ck_assert_int_eq(stat(dir, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(count_entries(data_dir), 0);
}
END_TEST

START_TEST(test_create_reports_errors_and_leaves_nothing)
{
	struct wal_meta	 meta = { "jobs", 4, 1, 1 };
	struct wal	*w = NULL;
	char		 missing[PATH_MAX];

	pathf(missing, "%s/nope", tdir);
	errbuf[0] = '\0';
	ck_assert_int_eq(wal_create(missing, &meta, &big_segs, &w, errbuf,
	    sizeof(errbuf)), -ENOENT);
	ck_assert_ptr_null(w);
	ck_assert_ptr_nonnull(strstr(errbuf, missing));
	meta.name_len = 0;
	ck_assert_int_eq(wal_create(data_dir, &meta, &big_segs, &w, errbuf,
	    sizeof(errbuf)), -EINVAL);
	meta.name_len = 256;
	meta.name = calloc(1, 256);
	ck_assert_int_eq(wal_create(data_dir, &meta, &big_segs, &w, errbuf,
	    sizeof(errbuf)), -EINVAL);
	free((void *)meta.name);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(count_entries(data_dir), 0);
}
END_TEST

START_TEST(test_recover_creates_a_missing_data_dir_private)
{
	struct stat	st;

	ck_assert_int_eq(rmdir(data_dir), 0);
	recover(&big_segs);
	ck_assert_int_eq(stat(data_dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	ck_assert_uint_eq(got.nchans, 0);
	/* A data_dir that cannot be made is the one error. */
	pathf(data_dir, "%s/no/such/dir", tdir);
	ck_assert_int_eq(wal_recover(data_dir, &big_segs, on_chan, on_msg,
	    &got, errbuf, sizeof(errbuf)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(errbuf, data_dir));
}
END_TEST

START_TEST(test_names_are_bytes_and_headers_are_authoritative)
{
	struct wal_meta	 meta = { "a\0b\xff", 4, 7, 9 };
	struct wal	*w;

	ck_assert_int_eq(wal_create(data_dir, &meta, &big_segs, &w, errbuf,
	    sizeof(errbuf)), 0);
	append(w, 1, 3);
	wal_close(w);
	recover(&big_segs);
	ck_assert_uint_eq(got.nchans, 1);
	ck_assert_mem_eq(got.chans[0].name, "a\0b\xff", 4);
	ck_assert_uint_eq(got.chans[0].cap_msgs, 7);
	ck_assert_uint_eq(got.chans[0].cap_bytes, 9);
	close_recovered();
}
END_TEST

/* Segments. */

START_TEST(test_segments_roll_and_acked_ones_are_unlinked)
{
	struct wal	*w = create("jobs", &small_segs);
	char		 dir[PATH_MAX];
	int		 nfiles;

	pathf(dir, "%s", wal_dir(w));
	/* Three 20000-byte messages fill a 64 KiB segment. */
	append_ids(w, 1, 10, 20000);
	ck_assert_int_eq(wal_flush(w), 0);
	nfiles = count_entries(dir);
	ck_assert_int_eq(nfiles, 4);
	ck_assert_uint_eq(wal_disk_bytes(w), dir_bytes(dir));
	/* Segment 1 holds 1..3: acking 2 keeps it, acking 3 drops it. */
	ck_assert_int_eq(wal_append_ack(w, 2), 0);
	ck_assert_int_eq(count_entries(dir), 4);
	ck_assert_int_eq(wal_append_ack(w, 3), 0);
	ck_assert_int_eq(count_entries(dir), 3);
	ck_assert_int_eq(wal_append_ack(w, 8), 0);
	ck_assert_int_eq(count_entries(dir), 2);
	ck_assert_int_eq(wal_flush(w), 0);
	ck_assert_uint_eq(wal_disk_bytes(w), dir_bytes(dir));
	/* The active segment stays even when all is acked. */
	ck_assert_int_eq(wal_append_ack(w, 10), 0);
	ck_assert_int_eq(count_entries(dir), 1);
	wal_close(w);
	recover(&small_segs);
	ck_assert_uint_eq(got.nchans, 0);
	ck_assert_int_eq(count_entries(data_dir), 0);
}
END_TEST

/*
 * A segment acknowledged while active stays at run time (the ACK drops
 * only earlier ones) and goes at the next recovery; the live messages
 * after it come back.
 */
START_TEST(test_segment_acked_while_active_goes_at_recovery)
{
	static const struct tmsg t[] = { { 4, 20000, false },
	    { 5, 10, false } };
	struct wal	*w = create("jobs", &small_segs);
	char		 dir[PATH_MAX], first[PATH_MAX];

	pathf(dir, "%s", wal_dir(w));
	seg_path(first, dir, 1);
	append_ids(w, 1, 3, 20000);
	ck_assert_int_eq(wal_append_ack(w, 3), 0);
	ck_assert_int_eq(count_entries(dir), 1);
	/* The fourth does not fit: segment 2. */
	append_msgs(w, t, NTMSGS(t));
	ck_assert_int_eq(count_entries(dir), 2);
	wal_close(w);
	recover(&small_segs);
	ck_assert_int_eq(access(first, F_OK), -1);
	ck_assert_int_eq(count_entries(dir), 1);
	ck_assert_uint_eq(got.nchans, 1);
	ck_assert_uint_eq(got.chans[0].next_id, 6);
	expect_msgs(0, t, NTMSGS(t));
	ck_assert_uint_eq(wal_disk_bytes(got.chans[0].wal), dir_bytes(dir));
	/* And the log goes on as before. */
	append(got.chans[0].wal, 6, 1);
	recover(&small_segs);
	ck_assert_uint_eq(got.nmsgs, 3);
	expect_ids(2, 6, 6, 1, 0);
	close_recovered();
}
END_TEST

START_TEST(test_rolled_log_recovers_across_segments)
{
	static const struct tmsg tail[] = { { 11, 100000, false },
	    { 12, 5, false } };
	struct wal	*w = create("jobs", &small_segs);

	append_ids(w, 1, 10, 20000);
	/* Bigger than a segment: a segment of its own. */
	append_msgs(w, tail, NTMSGS(tail));
	ck_assert_int_eq(wal_append_ack(w, 4), 0);
	ck_assert_int_eq(wal_append_delivered(w, 6), 0);
	wal_close(w);
	recover(&small_segs);
	expect_ids(0, 5, 10, 20000, 6);
	expect_msgs(6, tail, NTMSGS(tail));
	close_recovered();
}
END_TEST

START_TEST(test_long_log_recovers_with_few_descriptors)
{
	struct wal	*w = create("jobs", &nosync_segs);
	struct rlimit	 rl = { 24, 24 };
	pid_t		 pid;
	int		 status;

	/* 60 segments: more than the descriptors the child may open. */
	append_ids(w, 1, 180, 20000);
	wal_close(w);
	if ((pid = fork()) == 0) {
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(10);
		recover(&nosync_segs);
		_exit(got.nmsgs == 180 && got.msgs[179].id == 180 ? 0 : 11);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(test_disk_bytes_follow_the_files)
{
	struct wal	*w = create("jobs", &big_segs);

	ck_assert_uint_gt(wal_disk_bytes(w), 0);
	ck_assert_uint_eq(wal_disk_bytes(w), dir_bytes(wal_dir(w)));
	/* An idle log reserves one small chunk, not a whole segment. */
	ck_assert_uint_le(wal_disk_bytes(w), 64 * 1024);
	append_ids(w, 1, 100, 4000);
	ck_assert_int_eq(wal_flush(w), 0);
	ck_assert_uint_ge(wal_disk_bytes(w), 400000);
	ck_assert_uint_eq(wal_disk_bytes(w), dir_bytes(wal_dir(w)));
	wal_close(w);
}
END_TEST

/* Damage. */

START_TEST(test_torn_tail_is_cut_and_earlier_records_kept)
{
	static const struct tmsg t[] = { { 1, 100, false }, { 2, 200, false },
	    { 3, 7, false } };
	struct wal	*w = create("jobs", &big_segs);
	char		 path[PATH_MAX];
	off_t		 good;

	append_msgs(w, t, 2);
	ck_assert_int_eq(wal_flush(w), 0);
	seg_path(path, wal_dir(w), 1);
	append(w, 3, 300);
	wal_close(w);
	/* The closed file ends at record 3; record 2 ends 320 before. */
	good = file_size(path) - 320;
	ck_assert_int_eq(truncate(path, good + 150), 0);
	recover_logged(&big_segs, "warning", "cut 150 bytes", path, NULL);
	ck_assert_int_eq(file_size(path), good);
	expect_msgs(0, t, 2);
	/* The log goes on from the cut. */
	ck_assert_uint_eq(got.chans[0].next_id, 3);
	append_msgs(got.chans[0].wal, t + 2, 1);
	recover(&big_segs);
	expect_msgs(0, t, NTMSGS(t));
	close_recovered();
}
END_TEST

START_TEST(test_flipped_byte_in_last_segment_cuts_there)
{
	struct wal	*w = create("jobs", &big_segs);
	char		 path[PATH_MAX];
	off_t		 end;

	seg_path(path, wal_dir(w), 1);
	append_ids(w, 1, 3, 100);
	wal_close(w);
	end = file_size(path);
	/* A payload byte of record 2. */
	flip_byte(path, end - 120 - 60);
	recover_logged(&big_segs, "checksum mismatch", "cut 240 bytes", NULL);
	ck_assert_uint_eq(got.nmsgs, 1);
	expect_ids(0, 1, 1, 100, 0);
	ck_assert_int_eq(file_size(path), end - 240);
	close_recovered();
}
END_TEST

START_TEST(test_flipped_byte_in_earlier_segment_loses_only_its_rest)
{
	struct wal	*w = create("jobs", &small_segs);
	char		 path[PATH_MAX], last[PATH_MAX];
	off_t		 size;

	/* Segment 1: 1..3, segment 2: 4..6, segment 3: 7. */
	append_ids(w, 1, 7, 20000);
	seg_path(path, wal_dir(w), 1);
	seg_path(last, wal_dir(w), 3);
	wal_close(w);
	size = file_size(path);
	flip_byte(path, size - 20020 - 5000);
	recover_logged(&small_segs, "error", "message ids 2 to 3 lost", NULL);
	ck_assert_uint_eq(got.nmsgs, 5);
	expect_ids(0, 1, 1, 20000, 0);
	expect_ids(1, 4, 7, 20000, 0);
	/* An earlier segment is not cut: the bytes stay for inspection. */
	ck_assert_int_eq(file_size(path), size);
	close_recovered();
}
END_TEST

/* Appends a record with a good checksum to the file at path. */
static void
raw_record(const char *path, uint32_t type, uint64_t id, const char *data)
{
	unsigned char	rec[64];
	uint32_t	len = (uint32_t)strlen(data), crc;
	int		fd, i;

	for (i = 0; i < 4; i++) {
		rec[4 + i] = (unsigned char)(len >> (8 * i));
		rec[8 + i] = (unsigned char)(type >> (8 * i));
	}
	for (i = 0; i < 8; i++)
		rec[12 + i] = (unsigned char)(id >> (8 * i));
	memcpy(rec + 20, data, len);
	crc = crc32c(0, rec + 4, 16 + len);
	for (i = 0; i < 4; i++)
		rec[i] = (unsigned char)(crc >> (8 * i));
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_APPEND), 0);
	ck_assert_int_eq(write(fd, rec, 20 + len), 20 + len);
	close(fd);
}

START_TEST(test_record_with_a_repeated_id_or_unknown_type_is_bad)
{
	struct wal	*w = create("jobs", &big_segs);
	char		 path[PATH_MAX];
	off_t		 good;

	seg_path(path, wal_dir(w), 1);
	append_ids(w, 1, 2, 3);
	wal_close(w);
	good = file_size(path);
	/* Well formed, checksummed, but id 2 again. */
	raw_record(path, 1, 2, "dup");
	raw_record(path, 1, 3, "three");
	recover_logged(&big_segs, "message id not above", "cut 48 bytes", NULL);
	ck_assert_uint_eq(got.nmsgs, 2);
	ck_assert_int_eq(file_size(path), good);
	close_recovered();
	raw_record(path, 9, 3, "");
	recover_logged(&big_segs, "unknown record type", NULL);
	ck_assert_uint_eq(got.nmsgs, 2);
	ck_assert_int_eq(file_size(path), good);
	/* A payload on an ACK is bad too. */
	close_recovered();
	raw_record(path, 2, 2, "x");
	recover(&big_segs);
	ck_assert_uint_eq(got.nmsgs, 2);
	ck_assert_int_eq(file_size(path), good);
	close_recovered();
}
END_TEST

START_TEST(test_last_segment_with_bad_header_is_removed)
{
	struct wal	*w = create("jobs", &small_segs);
	char		 path[PATH_MAX];

	append_ids(w, 1, 4, 20000);
	seg_path(path, wal_dir(w), 2);
	wal_close(w);
	flip_byte(path, 3);
	recover_logged(&small_segs, "bad segment header", "file removed", NULL);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_uint_eq(got.nmsgs, 3);
	ck_assert_uint_eq(got.chans[0].next_id, 4);
	/* Segment 1 goes on, and rolls to a new segment 2. */
	append(got.chans[0].wal, 4, 20000);
	ck_assert_int_eq(access(path, F_OK), 0);
	recover(&small_segs);
	ck_assert_uint_eq(got.nmsgs, 4);
	expect_ids(0, 1, 4, 20000, 0);
	close_recovered();
}
END_TEST

START_TEST(test_zeroed_tail_of_a_crashed_log_is_the_silent_end)
{
	static const struct tmsg t[] = { { 1, 10, false }, { 2, 20, false },
	    { 3, 30, false } };
	char	*log;
	pid_t	 pid;
	int	 status;

	/* A child that dies without closing leaves the reserved tail. */
	if ((pid = fork()) == 0) {
		struct wal	*w = create("jobs", &big_segs);

		append_msgs(w, t, 2);
		_exit(wal_flush(w) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	log_begin();
	recover(&big_segs);
	log = log_end();
	ck_assert_str_eq(log, "");
	free(log);
	expect_msgs(0, t, 2);
	/* Appends go after the last record, over the zeros. */
	append_msgs(got.chans[0].wal, t + 2, 1);
	recover(&big_segs);
	expect_msgs(0, t, NTMSGS(t));
	close_recovered();
}
END_TEST

START_TEST(test_foreign_and_garbage_entries_are_left_alone)
{
	struct wal	*w = create("jobs", &big_segs);
	char		 path[PATH_MAX];
	int		 fd;

	append(w, 1, 10);
	wal_close(w);
	/* A file named like a log, an empty file, a foreign directory. */
	pathf(path, "%s/chan-file", data_dir);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	ck_assert_int_eq(write(fd, "garbage", 7), 7);
	close(fd);
	pathf(path, "%s/empty", data_dir);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	close(fd);
	pathf(path, "%s/other", data_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	pathf(path, "%s/other/0000000000000001.wal",
	    data_dir);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	close(fd);
	/* A link to a directory, named like a log. */
	pathf(path, "%s/chan-link", data_dir);
	ck_assert_int_eq(symlink("other", path), 0);
	/* A log directory with a stranger's file and no segment. */
	pathf(path, "%s/chan-notes", data_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	pathf(path, "%s/chan-notes/README", data_dir);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	close(fd);
	/* Segments of zero length and of garbage. */
	pathf(path, "%s/chan-zero", data_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	seg_path(path, path, 1);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	close(fd);
	pathf(path, "%s/chan-junk", data_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	seg_path(path, path, 1);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	ck_assert_int_eq(write(fd, "not a log at all", 16), 16);
	close(fd);
	recover(&big_segs);
	ck_assert_uint_eq(got.nchans, 1);
	ck_assert_str_eq(got.chans[0].name, "jobs");
	expect_msg(0, 1, 10, false);
	close_recovered();
	/* The never-written log went; the rest is as it was. */
	pathf(path, "%s/chan-zero", data_dir);
	ck_assert_int_eq(access(path, F_OK), -1);
	pathf(path, "%s/chan-junk/0000000000000001.wal",
	    data_dir);
	ck_assert_int_eq(file_size(path), 16);
	pathf(path, "%s/chan-notes/README", data_dir);
	ck_assert_int_eq(access(path, F_OK), 0);
	pathf(path, "%s/other/0000000000000001.wal",
	    data_dir);
	ck_assert_int_eq(access(path, F_OK), 0);
	pathf(path, "%s/chan-file", data_dir);
	ck_assert_int_eq(file_size(path), 7);
	ck_assert_int_eq(count_entries(data_dir), 7);
}
END_TEST

START_TEST(test_refused_channel_keeps_its_files_and_others_recover)
{
	struct wal	*w = create("first", &big_segs);
	struct wal	*v = create("second", &big_segs);

	append(w, 1, 10);
	append(v, 1, 20);
	wal_close(w);
	wal_close(v);
	got.refuse = "first";
	recover(&big_segs);
	ck_assert_uint_eq(got.nchans, 1);
	ck_assert_str_eq(got.chans[0].name, "second");
	close_recovered();
	got.refuse = NULL;
	recover(&big_segs);
	ck_assert_uint_eq(got.nchans, 2);
	ck_assert_uint_eq(got.nmsgs, 2);
	close_recovered();
}
END_TEST

/* Errors while appending. */

/* Child of the file-size test: exit 0 if every step went as expected. */
static int
fsize_child(void)
{
	struct rlimit	 rl = { 200 * 1024, 200 * 1024 };
	struct wal	*w;
	unsigned char	*big = calloc(1, 300 * 1024);
	char		 path[PATH_MAX];

	signal(SIGXFSZ, SIG_IGN);
	if (big == NULL || setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return (10);
	w = create("jobs", &big_segs);
	if (wal_append_msg(w, 1, big, 10, NULL) != 0)
		return (11);
	/* Over the limit everywhere: refused, nothing appended. */
	if (wal_append_msg(w, 2, big, 300 * 1024, NULL) != -EFBIG)
		return (12);
	seg_path(path, wal_dir(w), 2);
	if (access(path, F_OK) == 0)
		return (13);
	if (wal_failed(w) || wal_append_msg(w, 2, big, 20, NULL) != 0 ||
	    wal_flush(w) != 0)
		return (14);
	/* Over the limit in this segment only: a new segment takes it. */
	if (wal_append_msg(w, 3, big, 150 * 1024, NULL) != 0 ||
	    wal_append_msg(w, 4, big, 100 * 1024, NULL) != 0 ||
	    wal_flush(w) != 0 || access(path, F_OK) != 0)
		return (15);
	wal_close(w);
	return (0);
}

START_TEST(test_file_size_limit_refuses_the_record_and_log_goes_on)
{
	pid_t	pid;
	int	status;

	if ((pid = fork()) == 0)
		_exit(fsize_child());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	recover(&big_segs);
	ck_assert_uint_eq(got.nmsgs, 4);
	ck_assert_uint_eq(got.msgs[0].id, 1);
	ck_assert_uint_eq(got.msgs[1].id, 2);
	ck_assert_uint_eq(got.msgs[1].len, 20);
	ck_assert_uint_eq(got.msgs[2].len, 150 * 1024);
	ck_assert_uint_eq(got.msgs[3].len, 100 * 1024);
	close_recovered();
}
END_TEST

/*
 * Replaces the log's descriptor for the file at path by a read-only one
 * on the same file, found through /proc/self/fd: the next write() fails
 * (EBADF) as a write to a failing disk would, without a hook in wal.c.
 */
static void
make_fd_read_only(const char *path)
{
	struct dirent	*de;
	DIR		*d;
	char		 link[PATH_MAX], target[PATH_MAX];
	ssize_t		 n;
	int		 fd, ro, found = 0;

	ck_assert_ptr_nonnull(d = opendir("/proc/self/fd"));
	while ((de = readdir(d)) != NULL) {
		pathf(link, "/proc/self/fd/%s", de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) != 0)
			continue;
		fd = atoi(de->d_name);
		ck_assert_int_ge(ro = open(path, O_RDONLY), 0);
		ck_assert_int_eq(dup2(ro, fd), fd);
		close(ro);
		found++;
	}
	closedir(d);
	ck_assert_int_eq(found, 1);
}

START_TEST(test_write_error_fails_the_log_for_good)
{
	struct wal	*w = create("jobs", &big_segs);
	char		 path[PATH_MAX], real[PATH_MAX];
	uint64_t	 lsn;
	int		 fd;

	append(w, 1, 10);
	ck_assert_int_eq(wal_flush(w), 0);
	seg_path(path, wal_dir(w), 1);
	ck_assert_ptr_nonnull(realpath(path, real));
	make_fd_read_only(real);
	ck_assert_int_eq(wal_append_msg(w, 2, "x", 1, &lsn), 0);
	ck_assert(!wal_failed(w));
	ck_assert_int_eq(wal_flush(w), -EBADF);
	ck_assert(wal_failed(w));
	ck_assert_uint_lt(wal_written_lsn(w), lsn);
	ck_assert_int_eq(wal_append_msg(w, 3, "y", 1, NULL), -EBADF);
	ck_assert_int_eq(wal_append_ack(w, 1), -EBADF);
	ck_assert_int_eq(wal_flush(w), -EBADF);
	ck_assert_int_eq(wal_sync_begin(w, &fd, &lsn), -EBADF);
	ck_assert_int_eq(wal_sync_now(w), -EBADF);
	wal_close(w);
	/* What was written before the failure is still there. */
	recover(&big_segs);
	ck_assert_uint_eq(got.nmsgs, 1);
	expect_ids(0, 1, 1, 10, 0);
	close_recovered();
}
END_TEST

/* Positions and sync. */

START_TEST(test_positions_move_with_flush_and_sync)
{
	struct wal	*w = create("jobs", &big_segs);
	uint64_t	 a, b, target;
	int		 fd;

	ck_assert_uint_eq(wal_written_lsn(w), 0);
	ck_assert_uint_eq(wal_synced_lsn(w), 0);
	ck_assert(!wal_pending(w));
	ck_assert_int_eq(wal_append_msg(w, 1, "abc", 3, &a), 0);
	ck_assert_int_eq(wal_append_msg(w, 2, "de", 2, &b), 0);
	ck_assert_uint_eq(a, 23);
	ck_assert_uint_eq(b, a + 22);
	ck_assert(wal_pending(w));
	ck_assert_uint_eq(wal_written_lsn(w), 0);
	ck_assert_int_eq(wal_flush(w), 0);
	ck_assert(!wal_pending(w));
	ck_assert_uint_eq(wal_written_lsn(w), b);
	ck_assert_uint_eq(wal_synced_lsn(w), 0);
	ck_assert_int_eq(wal_sync_begin(w, &fd, &target), 0);
	ck_assert_uint_eq(target, b);
	/* Appends while the sync runs are not covered by it. */
	ck_assert_int_eq(wal_append_ack(w, 1), 0);
	ck_assert_int_eq(wal_flush(w), 0);
	ck_assert_int_eq(fdatasync(fd), 0);
	close(fd);
	wal_sync_done(w, target, 0);
	ck_assert_uint_eq(wal_synced_lsn(w), b);
	ck_assert_uint_gt(wal_written_lsn(w), b);
	ck_assert_int_eq(wal_sync_now(w), 0);
	ck_assert_uint_eq(wal_synced_lsn(w), wal_written_lsn(w));
	/* A late, older result moves nothing back. */
	wal_sync_done(w, a, 0);
	ck_assert_uint_eq(wal_synced_lsn(w), wal_written_lsn(w));
	ck_assert(!wal_failed(w));
	/* A failed fdatasync fails the log. */
	ck_assert_int_eq(wal_sync_begin(w, &fd, &target), 0);
	close(fd);
	wal_sync_done(w, target, -EIO);
	ck_assert(wal_failed(w));
	ck_assert_int_eq(wal_append_msg(w, 3, "f", 1, NULL), -EIO);
	wal_close(w);
}
END_TEST

START_TEST(test_roll_syncs_the_old_segment)
{
	struct wal	*w = create("jobs", &small_segs);
	unsigned char	*p = payload(4, 20000);
	uint64_t	 lsn;

	/* Three records of 20020 bytes after a 60-byte header. */
	append_ids(w, 1, 3, 20000);
	ck_assert_uint_eq(wal_synced_lsn(w), 0);
	/* The fourth does not fit: segment 2, with its own header. */
	ck_assert_int_eq(wal_append_msg(w, 4, p, 20000, &lsn), 0);
	free(p);
	ck_assert_uint_eq(lsn, 60060 + 60 + 20020);
	ck_assert_uint_eq(wal_synced_lsn(w), 60060);
	ck_assert_int_eq(count_entries(wal_dir(w)), 2);
	wal_close(w);
}
END_TEST

START_TEST(test_buffer_is_written_once_it_grows_large)
{
	struct wal	*w = create("jobs", &big_segs);

	append_ids(w, 1, 20, 20000);
	/* Past 256 KiB the buffer was written without a flush. */
	ck_assert_uint_gt(wal_written_lsn(w), 200000);
	ck_assert(wal_pending(w));
	wal_close(w);
	recover(&big_segs);
	ck_assert_uint_eq(got.nmsgs, 20);
	close_recovered();
}
END_TEST

/* Fuzz-ish: damage at random never crashes and keeps a prefix. */

static uint64_t	rng_state;

static uint32_t
rng(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return ((uint32_t)(rng_state >> 33));
}

START_TEST(test_random_tail_after_records_is_cut)
{
	static const struct tmsg t[] = { { 1, 50, false }, { 2, 60, false } };
	struct wal	*w;
	char		 path[PATH_MAX];
	unsigned char	 junk[3000];
	off_t		 size;
	int		 iter, fd;
	size_t		 i, n;

	for (iter = 0; iter < 50; iter++) {
		rng_state = (uint64_t)iter + 1;
		w = create("jobs", &big_segs);
		append_msgs(w, t, NTMSGS(t));
		seg_path(path, wal_dir(w), 1);
		wal_close(w);
		size = file_size(path);
		n = 1 + rng() % sizeof(junk);
		for (i = 0; i < n; i++)
			junk[i] = (unsigned char)rng();
		junk[0] |= 1;	/* not a zero header */
		ck_assert_int_ge(fd = open(path, O_WRONLY | O_APPEND), 0);
		ck_assert_int_eq(write(fd, junk, n), (ssize_t)n);
		close(fd);
		recover_logged(&big_segs, NULL);
		expect_msgs(0, t, NTMSGS(t));
		ck_assert_int_eq(file_size(path), size);
		wal_destroy(got.chans[0].wal);
		got.nchans = 0;
	}
}
END_TEST

START_TEST(test_random_segment_does_not_crash_recovery)
{
	char		 dir[PATH_MAX], path[PATH_MAX];
	unsigned char	 junk[70000];
	int		 iter, fd;
	size_t		 i, n;

	for (iter = 0; iter < 50; iter++) {
		rng_state = (uint64_t)iter + 1000;
		pathf(dir, "%s/chan-rand%d", data_dir, iter);
		ck_assert_int_eq(mkdir(dir, 0700), 0);
		seg_path(path, dir, 1);
		n = rng() % sizeof(junk);
		for (i = 0; i < n; i++)
			junk[i] = (unsigned char)rng();
		/* Half of them start with a real magic and version. */
		if (iter % 2 == 0 && n >= 12)
			memcpy(junk, "chandwal\1\0\0\0", 12);
		ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
		ck_assert_int_eq(write(fd, junk, n), (ssize_t)n);
		close(fd);
	}
	recover_logged(&big_segs, NULL);
	ck_assert_uint_eq(got.nchans, 0);
}
END_TEST

START_TEST(test_random_damage_keeps_a_prefix_of_the_messages)
{
	struct wal	*w;
	char		 path[PATH_MAX];
	off_t		 size, off;
	uint64_t	 id;
	int		 iter, k;
	size_t		 i;

	for (iter = 0; iter < 100; iter++) {
		rng_state = (uint64_t)iter + 5000;
		w = create("jobs", &big_segs);
		for (id = 1; id <= 20; id++)
			append(w, id, rng() % 300);
		seg_path(path, wal_dir(w), 1);
		wal_close(w);
		size = file_size(path);
		for (k = 1 + rng() % 4; k > 0; k--) {
			off = (off_t)(rng() % (uint32_t)size);
			flip_byte(path, off);
		}
		recover_logged(&big_segs, NULL);
		ck_assert_uint_le(got.nmsgs, 20);
		for (i = 0; i < got.nmsgs; i++)
			ck_assert_uint_eq(got.msgs[i].id, i + 1);
		if (got.nchans == 1) {
			ck_assert_uint_eq(got.chans[0].next_id,
			    got.nmsgs + 1);
			wal_destroy(got.chans[0].wal);
			got.nchans = 0;
		}
		/* A bad header leaves the files: clear them for the next. */
		nftw(data_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		ck_assert_int_eq(mkdir(data_dir, 0700), 0);
	}
}
END_TEST

static Suite *
wal_suite(void)
{
	Suite	*s = suite_create("wal");
	TCase	*tc;

	tc = tcase_create("crc32c");
	tcase_add_test(tc, test_crc32c_matches_known_vectors);
	tcase_add_test(tc, test_crc32c_extends_over_pieces_at_any_alignment);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_messages_come_back_in_order_with_their_payloads);
	tcase_add_test(tc, test_recovered_log_takes_appends_with_higher_ids_only);
	tcase_add_test(tc, test_ack_cancel_and_delivered_decide_what_comes_back);
	tcase_add_test(tc, test_log_with_nothing_live_is_removed_at_recovery);
	tcase_add_test(tc, test_destroy_removes_the_directory);
	tcase_add_test(tc, test_create_reports_errors_and_leaves_nothing);
	tcase_add_test(tc, test_recover_creates_a_missing_data_dir_private);
	tcase_add_test(tc, test_names_are_bytes_and_headers_are_authoritative);
	tcase_add_test(tc, test_segments_roll_and_acked_ones_are_unlinked);
	tcase_add_test(tc, test_segment_acked_while_active_goes_at_recovery);
	tcase_add_test(tc, test_rolled_log_recovers_across_segments);
	tcase_add_test(tc, test_long_log_recovers_with_few_descriptors);
	tcase_add_test(tc, test_disk_bytes_follow_the_files);
	tcase_add_test(tc, test_torn_tail_is_cut_and_earlier_records_kept);
	tcase_add_test(tc, test_flipped_byte_in_last_segment_cuts_there);
	tcase_add_test(tc,
	    test_flipped_byte_in_earlier_segment_loses_only_its_rest);
	tcase_add_test(tc,
	    test_record_with_a_repeated_id_or_unknown_type_is_bad);
	tcase_add_test(tc, test_last_segment_with_bad_header_is_removed);
	tcase_add_test(tc, test_zeroed_tail_of_a_crashed_log_is_the_silent_end);
	tcase_add_test(tc, test_foreign_and_garbage_entries_are_left_alone);
	tcase_add_test(tc,
	    test_refused_channel_keeps_its_files_and_others_recover);
	tcase_add_test(tc,
	    test_file_size_limit_refuses_the_record_and_log_goes_on);
	tcase_add_test(tc, test_write_error_fails_the_log_for_good);
	tcase_add_test(tc, test_positions_move_with_flush_and_sync);
	tcase_add_test(tc, test_roll_syncs_the_old_segment);
	tcase_add_test(tc, test_buffer_is_written_once_it_grows_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_random_tail_after_records_is_cut);
	tcase_add_test(tc, test_random_segment_does_not_crash_recovery);
	tcase_add_test(tc, test_random_damage_keeps_a_prefix_of_the_messages);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(wal_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

/* SPDX-License-Identifier: MIT */
/*
 * wal.h: one durable channel's write-ahead log.
 *
 * A log is a directory under the daemon's data directory holding segment
 * files "<16 hex digits>.wal", numbered in order; each starts with a header
 * naming the channel and its capacities, then records: MSG (a message), ACK
 * (every id <= upto consumed), CANCEL (one message withdrawn), DELIVERED
 * (every id <= upto handed to a consumer once). docs/durability.md
 * describes the bytes and what recovery makes of them.
 *
 * POSIX file I/O only, no libuv. Every function runs on the caller's
 * thread and may block on the disk (appends reserve space, rolls create
 * files and fsync the directory); only the fdatasync of group commit is
 * meant for another thread (wal_sync_begin). A struct wal is not
 * thread-safe: one thread calls its functions.
 *
 * Errors are 0 or a negative errno value. Functions that take err/errlen
 * write a one-line reason there (NUL-terminated, cut to errlen) on error.
 *
 * Log positions (lsn) count every byte appended to this struct wal since
 * it was created or recovered, segment headers included; they start at 0
 * and only grow. They compare positions within one process, nothing more.
 */
#ifndef CHAND_WAL_H
#define CHAND_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wal;				/* one channel's log, opaque */

struct wal_settings {
	uint64_t	 segment_size;	/* roll a segment past this many
					   bytes (a bigger record gets a
					   segment of its own) */
	bool		 sync_on_roll;	/* fdatasync a segment before
					   closing it at a roll */
};

/* What every segment header records about the channel. */
struct wal_meta {
	const void	*name;		/* channel name, 1..255 bytes */
	size_t		 name_len;
	uint64_t	 cap_msgs;	/* capacities, as the channel's */
	uint64_t	 cap_bytes;
};

/*
 * Creates a new, empty log for a channel: a fresh directory under data_dir
 * (mode 0700) and its first segment, both fsync'ed into place. *out owns
 * the log until wal_close or wal_destroy. 0, or -errno with err set
 * (nothing is left behind).
 */
int	wal_create(const char *data_dir, const struct wal_meta *,
	    const struct wal_settings *, struct wal **out, char *err,
	    size_t errlen);

/*
 * Recovery callbacks. chan_fn gets the log, open for appending, and its
 * channel: meta (valid during the call only) and next_id, one more than
 * the highest message id the log ever held. From then on the callee owns
 * the log, unless a callback returns non-zero: recovery then stops for
 * that channel, closes the log (its files stay) and logs it, so the
 * callee must drop the pointer before returning non-zero.
 *
 * msg_fn gets each live message in id order: payload is valid during the
 * call only; delivered means the message was handed to a consumer before
 * (it comes back redelivered).
 *
 * The callbacks may append to the log, but must not close or destroy it
 * (return non-zero instead).
 */
typedef int	(*wal_chan_fn)(void *arg, struct wal *,
		    const struct wal_meta *, uint64_t next_id);
typedef int	(*wal_msg_fn)(void *arg, struct wal *, uint64_t id,
		    const void *payload, uint32_t len, bool delivered);

/*
 * Reads every log under data_dir (created, mode 0700, if missing), in
 * directory-name order. For each log with live messages (id above the
 * highest ACK, not CANCELled) calls chan_fn once and then msg_fn for each
 * live message. A log without a live message is removed and not
 * reported; in one with live messages, the oldest segments (not the
 * last, not a damaged one) whose messages are all acknowledged are
 * removed first, rather than at the next ACK. Damaged logs are cut or
 * skipped and logged (log.h), never an error: the first bad record of
 * the last segment cuts the file there (ftruncate, a warning); a bad
 * record in an earlier segment ends that segment (an error naming the
 * message ids lost). Entries of data_dir
 * that are not log directories are left alone.
 *
 * Returns 0, or -errno with err set when data_dir itself is unusable
 * (cannot be created or read).
 */
int	wal_recover(const char *data_dir, const struct wal_settings *,
	    wal_chan_fn, wal_msg_fn, void *arg, char *err, size_t errlen);

/*
 * Appends a MSG record (buffered: wal_flush writes it). Ids must increase:
 * id at or below the highest id appended (or recovered) is -EINVAL.
 *
 * Room for the record is reserved in the segment file first (fallocate in
 * chunks growing from 64 KiB to 4 MiB, posix_fallocate where fallocate is
 * not supported), so that the later write() cannot run out of space. If
 * that fails and the active segment holds records, the log rolls to a new
 * segment once and tries there. Errors: -ENOSPC, -EFBIG (RLIMIT_FSIZE:
 * the caller ignores SIGXFSZ), -EIO, -ENOMEM, -EINVAL, or the log's error
 * once failed; on error nothing was appended and the log stays usable
 * (unless failed). On success *end_lsn (may be NULL) is the position just
 * after the record: once wal_written_lsn (wal_synced_lsn) reaches it, the
 * record is written (synced).
 */
int	wal_append_msg(struct wal *, uint64_t id, const void *payload,
	    uint32_t len, uint64_t *end_lsn);
/*
 * Appends an ACK record: every id <= upto_id is consumed. A value below
 * an earlier one changes nothing (the record carries the highest). Then
 * unlinks the oldest segments, other than the active one, whose messages
 * all have ids <= that value (and fsyncs the directory). Errors as for
 * wal_append_msg; a failed unlink is logged, not returned.
 */
int	wal_append_ack(struct wal *, uint64_t upto_id);
/* Appends a CANCEL record: message id will not be delivered. */
int	wal_append_cancel(struct wal *, uint64_t id);
/* Appends a DELIVERED record: every id <= upto_id was handed out once. */
int	wal_append_delivered(struct wal *, uint64_t upto_id);

/* True if records are buffered and not yet written. */
bool	wal_pending(const struct wal *);
/*
 * Writes the buffered records with write()s (looping over short writes
 * and EINTR) and frees the buffer: an idle log holds no memory but its
 * struct. Appends also write the buffer once it passes 256 KiB. 0, or -errno: the log is then failed for good: wal_failed()
 * is true and every later append, flush and sync returns that error.
 */
int	wal_flush(struct wal *);
bool	wal_failed(const struct wal *);
/* Position up to which records are written to the kernel / synced. */
uint64_t	wal_written_lsn(const struct wal *);
uint64_t	wal_synced_lsn(const struct wal *);

/*
 * Group commit. wal_sync_begin gives a dup() of the active segment's
 * descriptor and *target_lsn, the written position it covers (flush
 * first). The caller fdatasyncs fd on any thread, closes it, and then,
 * on the log's thread, calls wal_sync_done with that target and the
 * result (0 or -errno): 0 moves wal_synced_lsn up to target_lsn; an error
 * fails the log (the kernel may have dropped the pages). Segments rolled
 * earlier were synced at the roll when sync_on_roll; without it,
 * synced_lsn covers them anyway (that policy does not sync).
 * wal_sync_begin returns 0, -errno if dup fails, or the log's error.
 * Any number may be in flight; the log may be closed before done is
 * called only if done is then not called.
 */
int	wal_sync_begin(struct wal *, int *fd, uint64_t *target_lsn);
void	wal_sync_done(struct wal *, uint64_t target_lsn, int result);
/* wal_flush, then fdatasync on this thread. 0 or -errno (then failed). */
int	wal_sync_now(struct wal *);

/*
 * Bytes of the log's segment files: the apparent sizes, which for the
 * active segment include the reserved, not yet written tail.
 */
uint64_t	wal_disk_bytes(const struct wal *);
/* The log's directory (valid until wal_close or wal_destroy). */
const char	*wal_dir(const struct wal *);

/*
 * Flushes (an error is logged), gives back the reserved tail of the active
 * segment (ftruncate), closes and frees. The files stay for the next
 * start. No fsync: call wal_sync_now first for that. NULL is a no-op.
 */
void	wal_close(struct wal *);
/*
 * Removes every segment file and the directory (the channel is fully
 * consumed and forgotten), fsyncs data_dir, frees. Buffered records are
 * dropped. Failures are logged. NULL is a no-op.
 */
void	wal_destroy(struct wal *);

#endif /* CHAND_WAL_H */

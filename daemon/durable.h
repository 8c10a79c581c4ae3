/* SPDX-License-Identifier: MIT */
/*
 * durable.h: durable channels, between the channels and their logs.
 *
 * A durable channel keeps every message it accepts in a write-ahead log
 * (wal.c) as well as in memory, so that what was confirmed comes back
 * after a restart (docs/durability.md). This module gives new durable
 * channels their log, appends the records that dispatch.c and pump.c ask
 * for, writes every log once per loop iteration before the connections'
 * output leaves (durable_flush, from the per-iteration flush), fdatasyncs
 * on libuv's threadpool as --sync says (one sync in flight per log; each
 * covers every record written before it started), answers the sends
 * whose records are safe, runs the periodic sync, recovers the logs at
 * startup and syncs them at shutdown.
 *
 * A send's OK waits in its log's FIFO of confirmations until the record
 * is written (--sync periodic, os) or synced (always). Each waiting
 * confirmation counts in its handle's nheld, so that a producer's CLOSE
 * waits for it as for a held send.
 */
#ifndef CHAND_DURABLE_H
#define CHAND_DURABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct channel;
struct handle;
struct proto_msg;
struct server;

/*
 * Startup, before the socket is served: with --data-dir, recovers every
 * log in it into channels of srv's registry (durable, unarmed, messages
 * queued in id order) and starts the periodic sync. 0, or -1 with the
 * error logged (the data directory is unusable).
 */
int	durable_init(struct server *);
/* Shutdown, first step: stops the timer (the loop may then end). */
void	durable_stop(struct server *);
/*
 * Shutdown, once the loop has run out: every log flushed, fdatasync'ed
 * and closed, whatever --sync says; its files stay for the next start.
 */
void	durable_fini(struct server *);

/*
 * Whether a channel created by OPEN m is durable: its "durable" opt, else
 * the --durable patterns.
 */
bool	durable_wanted(const struct server *, const struct proto_msg *m);
/*
 * Makes the new channel ch durable: creates its log. 0, or CHAN_EDISK
 * with err saying why (no --data-dir, the log cannot be created); the
 * channel is then left as it was.
 */
int	durable_open(struct server *, struct channel *ch, char *err,
	    size_t errlen);
/*
 * ch, durable, is being forgotten (channel_is_idle): its log is removed.
 * Call before registry_release frees it.
 */
void	durable_forget(struct server *, struct channel *ch);

/*
 * Appends the MSG record of the message that ch is about to accept (id
 * ch->next_id). 0 with *lsn set (for durable_confirm), or CHAN_EDISK with
 * err saying why (disk full, file too large, I/O error): nothing is
 * logged, and nothing may be queued.
 */
int	durable_append(struct server *, struct channel *ch, const void *payload,
	    size_t len, uint64_t *lsn, char *err, size_t errlen);
/*
 * The message id, logged, was not accepted after all (or a held send
 * expired or was dropped): a CANCEL record.
 */
void	durable_cancel(struct server *, struct channel *ch, uint64_t id);
/*
 * The send rid of producer h is done (queued): its OK goes out once the
 * log holds the record ending at lsn (0: every record appended so far) as
 * --sync promises, or its ERROR(DISK) if the log fails first. Counts in
 * h->nheld until then.
 */
void	durable_confirm(struct server *, struct handle *h, uint32_t rid,
	    uint64_t lsn);
/* Producer h is going without answers: forgets its confirmations. */
void	durable_drop_handle(struct server *, struct handle *h);
/* Consumer ACK: every id <= ch->acked_id is consumed. */
void	durable_acked(struct server *, struct channel *ch);
/* Deliveries: every id <= id was handed to a consumer. */
void	durable_delivered(struct server *, struct channel *ch, uint64_t id);

/*
 * Writes the records buffered in this iteration and answers the sends
 * they confirm; starts syncs. Runs before the connections' output is
 * written, so that no OK or DELIVER leaves before its record.
 */
void	durable_flush(struct server *);

/* Bytes of ch's log on disk; 0 if it is not durable. */
uint64_t durable_log_bytes(const struct channel *ch);
/* The directory of ch's log files; NULL if it is not durable. */
const char	*durable_log_dir(const struct channel *ch);

#endif /* CHAND_DURABLE_H */

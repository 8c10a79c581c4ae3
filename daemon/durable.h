/*
 * durable.h: durable channels, between the channels and their logs.
 *
 * A durable channel keeps every message it accepts in a write-ahead log
 * (wal.c) as well as in memory, so that what was confirmed comes back
 * after a restart (docs/durability.md). This module decides which
 * channels are durable, appends their records, writes each log once per
 * loop iteration before the connections' output leaves, syncs on the
 * threadpool as --sync says, defers the OK of a durable send until its
 * record is written or synced, and recovers the logs at startup.
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
/* Bytes of ch's log on disk; 0 if it is not durable. */
uint64_t durable_log_bytes(const struct channel *ch);

#endif /* CHAND_DURABLE_H */

/* SPDX-License-Identifier: MIT */
/*
 * shutdown.h: what a stop leaves behind, said in the log.
 *
 * Messages of in-memory channels live only in the daemon: those still
 * queued (or delivered and not yet acknowledged) when it stops are lost.
 * Durable channels keep theirs in their logs and have them back after a
 * restart. The stop names both, so that no loss is silent.
 */
#ifndef CHAND_SHUTDOWN_H
#define CHAND_SHUTDOWN_H

#include "registry.h"

/* At most this many dropped channels are named, the fullest first. */
#define SHUTDOWN_NAMED_MAX	10

/*
 * Logs the messages the registry's in-memory channels hold (dropped by
 * the stop: a warning, with up to SHUTDOWN_NAMED_MAX channels named and
 * how many more) and those its durable channels keep (info). Call once
 * every connection is closed, before the registry is freed.
 */
void	shutdown_report(const struct registry *);

#endif /* CHAND_SHUTDOWN_H */

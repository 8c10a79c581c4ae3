/* SPDX-License-Identifier: MIT */
/*
 * flow.h: held sends between the channels and the connections.
 *
 * channel.c holds a send that finds its channel full and reports, on the
 * daemon-wide done list, each held send that was queued, delivered or
 * expired. This module does the rest: it counts each held send against its
 * producer handle (a CLOSE waits for them) and its connection (whose
 * reading pauses while they hold too many bytes), keeps one timer for the
 * daemon armed at the earliest deadline, and answers done sends. Answers
 * go out from the per-iteration flush and the timer callback, where no
 * caller is in the middle of a channel or a connection.
 */
#ifndef CHAND_FLOW_H
#define CHAND_FLOW_H

struct handle;
struct held;
struct server;

/* Counts hd, just held by channel_send for producer h; arms the timer. */
void	flow_held(struct server *, struct handle *h, struct held *hd);
/* Answers every done held send (OK or FULL); completes deferred CLOSEs. */
void	flow_answer(struct server *);
/* Expires every held send whose deadline has come, pumping its channel. */
void	flow_expire(struct server *);
/* Drops the held sends of producer h, unanswered: its connection left. */
void	flow_discard(struct server *, struct handle *h);
/* Closes the timer (daemon shutdown). */
void	flow_stop(struct server *);

#endif /* CHAND_FLOW_H */

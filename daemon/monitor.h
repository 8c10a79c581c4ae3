/* SPDX-License-Identifier: MIT */
/*
 * monitor.h: the daemon's one-second timer, for what an operator watches.
 *
 * Each second it sets channel_clock, samples every channel's counters
 * into its rings (channel.h, struct channel_stat) so that the admin view
 * shows rates over the last seconds without reading a clock per message,
 * and tells systemd the daemon's figures (STATUS=, when they changed)
 * and that it is alive (WATCHDOG=1, when the unit sets WatchdogSec=).
 */
#ifndef CHAND_MONITOR_H
#define CHAND_MONITOR_H

#include <stdint.h>

struct channel;
struct server;

/* Starts the timer; it never keeps the loop alive. 0 or a libuv error. */
int	monitor_start(struct server *);
/* Closes the timer (at shutdown); safe if it never started. */
void	monitor_stop(struct server *);

/*
 * Figures of ch for the admin view: the window the rates cover, in
 * seconds (0 before the first sample), and the messages sent, delivered
 * and acknowledged in it.
 */
struct monitor_rates {
	uint32_t	secs;
	uint64_t	in, out, acked;
};
void	monitor_rates(const struct channel *ch, struct monitor_rates *r);

/*
 * Seconds since the oldest message of ch that is queued or in flight was
 * sent: 0 with *age set, or -1 if there is none.
 */
int	monitor_oldest_age(const struct channel *ch, uint32_t *age);
/* Seconds since ch's consumer last acknowledged, or -1 if never. */
int64_t	monitor_last_ack_age(const struct channel *ch);
/*
 * Seconds since ch's consumer last sent ACK or CREDIT, or attached
 * (0 if that happened since the last sample); -1 without a consumer.
 */
int64_t	monitor_consumer_idle(const struct channel *ch);

#endif /* CHAND_MONITOR_H */

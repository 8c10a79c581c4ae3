/* SPDX-License-Identifier: MIT */
/*
 * server.h: the daemon's shared state, one per process. main.c owns it;
 * the modules reach it through their connection or listener.
 */
#ifndef CHAND_SERVER_H
#define CHAND_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <time.h>

#include <uv.h>

#include "registry.h"
#include "remember.h"

struct acl;
struct config;
struct conn;
struct durable;
struct listener;
struct proto_decoder;
struct quota;
struct shm_ring;

TAILQ_HEAD(conn_list, conn);

struct server {
	uv_loop_t		*loop;
	const struct config	*cfg;
	struct registry		 reg;
	/* Channels that ended disconnected, for a while (remember.h). */
	struct remember		 remember;
	/* Shared by all connections: frames are decoded one at a time. */
	struct proto_decoder	*dec;
	struct listener		*listener;

	struct conn_list	 conns;
	size_t			 nconns;
	size_t			 nrefused;	/* refused, still closing */
	bool			 fd_limit_logged;
	bool			 conn_limit_logged;
	uint64_t		 next_conn_id;
	/* Connections with output to write, flushed once per iteration. */
	struct conn_list	 dirty;
	uv_check_t		 flush;
	/*
	 * Active while connections are dirty, so that the loop does not
	 * sleep in poll before the check runs: write callbacks of writes
	 * that completed at once run in the next iteration's pending phase.
	 */
	uv_idle_t		 flush_idle;
	bool			 flush_on;	/* flush and flush_idle initialised */
	/*
	 * Connections that used up their share of a loop iteration with
	 * whole frames left to handle (conn.c): turn_idle, active while
	 * any wait, keeps the loop from sleeping and hands each its next
	 * share, after every other connection has had its read.
	 */
	struct conn_list	 turns;
	size_t			 nturns;
	uv_idle_t		 turn_idle;
	/* Payload bytes big SENDs' nodes wait for (conn.c). */
	size_t			 direct_reserved;

	uint64_t		 start_ns;	/* uv_hrtime() at start */
	time_t			 start_time;	/* wall clock at start */

	/* Access rules (--access-file); NULL: everyone may do everything. */
	struct acl		*acl;
	/* What each uid uses (quota.c); NULL until a connection. */
	struct quota		*quota;

	/* conn_deliver's threshold; 0: CONN_INPLACE_MIN (tests lower it). */
	size_t			 inplace_min;

	bool			 stopping;
	bool			 queue_limit_logged;
	bool			 channel_limit_logged;

	/* Held sends (flow.c): one timer at the earliest deadline. */
	uv_timer_t		 flow_timer;
	uint64_t		 flow_due;	/* when the timer fires */
	bool			 flow_timer_on;	/* flow_timer initialised */
	bool			 flow_armed;	/* flow_timer started */
	bool			 flow_answering;

	/* Producer rings in shared memory (shm*.c), and their data bytes. */
	struct shm_ring		*rings;
	uint64_t		 ring_bytes;
	unsigned		 nrings;
	/*
	 * What all rings hold granted and not yet used: counted against the
	 * daemon-wide queue limits as if queued (quota.c).
	 */
	uint64_t		 shm_resv_msgs;
	uint64_t		 shm_resv_bytes;
	/*
	 * Channels whose rings the daemon spins on (--spin-us), the next
	 * one a pass over them visits, and the idle handle that keeps the
	 * loop polling without sleeping while there are any.
	 */
	struct channel		*shm_spin;
	struct channel		*shm_spin_visit;
	uv_idle_t		 shm_spin_idle;
	bool			 shm_spin_on;	/* shm_spin_idle initialised */
	/*
	 * Rings the daemon looks at again on its next turn (shm_look_again),
	 * and the idle handle that brings that turn without a wait.
	 */
	struct shm_ring		*shm_again;
	uv_idle_t		 shm_again_idle;
	bool			 shm_again_on;	/* shm_again_idle initialised */

	/* Durable channels' logs (durable.c); NULL before durable_init. */
	struct durable		*durable;

	/* The one-second timer of monitor.c: rates, STATUS=, WATCHDOG=1. */
	uv_timer_t		 mon_timer;
	bool			 mon_on;	/* mon_timer initialised */
	uint64_t		 mon_watchdog;	/* ms between WATCHDOG=1; 0 */
	uint64_t		 mon_pinged;
	/* The highest queued bytes and connections since the last trim. */
	size_t			 mon_peak_bytes;
	size_t			 mon_peak_conns;	/* uv_now() of the last one */
	char			 mon_status[128]; /* the last STATUS= sent */

	/*
	 * Reads the configuration again and applies it (main.c), for the
	 * ADMIN reload: 0 with *changed set, or -1 with err saying why
	 * nothing was applied. NULL: the daemon cannot reload.
	 */
	int			(*reload)(struct server *, int *changed,
				    char *err, size_t errlen);
};

#endif /* CHAND_SERVER_H */

/* SPDX-License-Identifier: MIT */
/*
 * monitor.c: the one-second timer of the admin figures and of systemd's
 * STATUS= and WATCHDOG=1. See monitor.h.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "channel.h"
#include "monitor.h"
#include "registry.h"
#include "server.h"
#include "svc.h"

#define MONITOR_TICK_MS	1000
/* Backlogs and crowds below these are not worth a trim. */
#define MONITOR_TRIM_BYTES	(32u << 20)
#define MONITOR_TRIM_CONNS	256

/* The clock of this run: seconds since the start, from 1 (0: never). */
static uint32_t
monitor_now(const struct server *srv)
{
	return ((uint32_t)((uv_hrtime() - srv->start_ns) / 1000000000) + 1);
}

static uint32_t
monitor_delta(uint64_t now, uint64_t then)
{
	uint64_t	d = now - then;

	return (d > UINT32_MAX ? UINT32_MAX : (uint32_t)d);
}

/*
 * ch's samples, made at the first sample that finds it used; NULL while
 * it is idle (a hundred thousand idle channels keep no rings of zeros),
 * or if out of memory, when the next second tries again: its counters
 * start at 0, so the first samples taken still count from the start.
 */
static struct channel_stat *
monitor_stat(struct channel *ch)
{
	if (ch->stat == NULL && (ch->msgs_in != 0 || ch->msgs_out != 0 ||
	    ch->acked != 0 || ch->requests != 0 || ch->consumer != NULL))
		ch->stat = calloc(1, sizeof(*ch->stat));
	return (ch->stat);
}

/* One second of ch's counters into its rings. */
static void
monitor_sample(struct channel *ch, uint32_t now)
{
	struct channel_stat	*s;
	uint8_t			 i;

	if ((s = monitor_stat(ch)) == NULL)
		return;
	i = s->slot;

	s->r_in[i] = monitor_delta(ch->msgs_in, s->s_in);
	s->r_out[i] = monitor_delta(ch->msgs_out, s->s_out);
	s->r_acked[i] = monitor_delta(ch->acked, s->s_acked);
	if (ch->acked != s->s_acked)
		s->ack_at = now;
	if (ch->requests != s->s_requests || ch->consumer != s->s_consumer)
		s->active_at = now;
	s->s_in = ch->msgs_in;
	s->s_out = ch->msgs_out;
	s->s_acked = ch->acked;
	s->s_requests = ch->requests;
	s->s_consumer = ch->consumer;
	s->slot = (uint8_t)((i + 1) % CHANNEL_RATE_SECS);
	if (s->nslots < CHANNEL_RATE_SECS)
		s->nslots++;
}

/* STATUS= when the figures changed since the last one sent. */
static void
monitor_status(struct server *srv)
{
	char	line[sizeof(srv->mon_status)];

	snprintf(line, sizeof(line), "STATUS=%zu connections, %zu channels, "
	    "%zu messages queued", srv->nconns, srv->reg.count,
	    srv->reg.totals.msgs);
	if (strcmp(line, srv->mon_status) == 0)
		return;
	memcpy(srv->mon_status, line, sizeof(line));
	svc_notify(line);
}

/*
 * Memory that a drained backlog or a crowd of connections leaves behind
 * goes back to the system: malloc keeps freed heap otherwise, and the
 * daemon's RSS would stay at its busiest moment. Trimmed once the queued
 * bytes, or the connections, fell to half their peak since the last
 * trim, when that peak was worth it.
 */
static void
monitor_trim(struct server *srv)
{
	size_t	bytes = srv->reg.totals.bytes, conns = srv->nconns;

	if (bytes > srv->mon_peak_bytes)
		srv->mon_peak_bytes = bytes;
	if (conns > srv->mon_peak_conns)
		srv->mon_peak_conns = conns;
	if ((srv->mon_peak_bytes >= MONITOR_TRIM_BYTES &&
	    bytes <= srv->mon_peak_bytes / 2) ||
	    (srv->mon_peak_conns >= MONITOR_TRIM_CONNS &&
	    conns <= srv->mon_peak_conns / 2)) {
		malloc_trim(0);
		srv->mon_peak_bytes = bytes;
		srv->mon_peak_conns = conns;
	}
}

static void
monitor_tick(uv_timer_t *t)
{
	struct server	*srv = t->data;
	struct registry	*reg = &srv->reg;
	struct channel	*ch;
	uint32_t	 now = monitor_now(srv);
	size_t		 i;

	channel_clock_set(now);
	for (i = 0; i < reg->nbuckets; i++) {
		for (ch = reg->buckets[i]; ch != NULL; ch = ch->hnext)
			monitor_sample(ch, now);
	}
	if (srv->stopping)
		return;
	monitor_status(srv);
	monitor_trim(srv);
	if (srv->mon_watchdog != 0 &&
	    uv_now(srv->loop) - srv->mon_pinged >= srv->mon_watchdog) {
		svc_notify("WATCHDOG=1");
		srv->mon_pinged = uv_now(srv->loop);
	}
}

int
monitor_start(struct server *srv)
{
	uint64_t	usec = svc_watchdog_usec();
	int		rc;

	if ((rc = uv_timer_init(srv->loop, &srv->mon_timer)) != 0)
		return (rc);
	srv->mon_on = true;
	srv->mon_timer.data = srv;
	/* Half the watchdog's period, as sd_watchdog_enabled(3) advises. */
	srv->mon_watchdog = usec / 2000;
	srv->mon_pinged = uv_now(srv->loop);
	channel_clock_set(monitor_now(srv));
	uv_unref((uv_handle_t *)&srv->mon_timer);
	return (uv_timer_start(&srv->mon_timer, monitor_tick,
	    MONITOR_TICK_MS, MONITOR_TICK_MS));
}

void
monitor_stop(struct server *srv)
{
	if (!srv->mon_on)
		return;
	srv->mon_on = false;
	uv_close((uv_handle_t *)&srv->mon_timer, NULL);
}

void
monitor_rates(const struct channel *ch, struct monitor_rates *r)
{
	const struct channel_stat	*s = ch->stat;
	unsigned			 i;

	memset(r, 0, sizeof(*r));
	if (s == NULL)
		return;
	r->secs = s->nslots;
	for (i = 0; i < s->nslots; i++) {
		r->in += s->r_in[i];
		r->out += s->r_out[i];
		r->acked += s->r_acked[i];
	}
}

int
monitor_oldest_age(const struct channel *ch, uint32_t *age)
{
	const struct message	*m = ch->fhead;

	/* In flight or queued first, whichever was sent first. */
	if (m == NULL || (ch->qhead != NULL && ch->qhead->born < m->born))
		m = ch->qhead;
	if (m == NULL)
		return (-1);
	*age = channel_clock > m->born ? channel_clock - m->born : 0;
	return (0);
}

int64_t
monitor_last_ack_age(const struct channel *ch)
{
	const struct channel_stat	*s = ch->stat;

	if (ch->acked != (s != NULL ? s->s_acked : 0))
		return (0);
	if (s == NULL || s->ack_at == 0)
		return (-1);
	return (channel_clock - s->ack_at);
}

int64_t
monitor_consumer_idle(const struct channel *ch)
{
	const struct channel_stat	*s = ch->stat;

	if (ch->consumer == NULL)
		return (-1);
	/* Not sampled since it came: it is as active as it gets. */
	if (s == NULL || ch->requests != s->s_requests ||
	    ch->consumer != s->s_consumer || s->active_at == 0)
		return (0);
	return (channel_clock - s->active_at);
}

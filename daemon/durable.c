/* SPDX-License-Identifier: MIT */
/*
 * durable.c: durable channels. See durable.h and docs/durability.md.
 *
 * One struct dlog per durable channel: its struct wal, the FIFO of sends
 * waiting for their record to be written or synced, and the state of its
 * one sync in flight. Logs with records to write or confirmations to
 * check are on the server-wide dirty list, which durable_flush empties
 * once per loop iteration.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <uv.h>

#include "channel.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "durable.h"
#include "log.h"
#include "proto.h"
#include "registry.h"
#include "server.h"
#include "wal.h"

/* A send whose OK waits for its record. h NULL: its producer has gone. */
struct dconfirm {
	struct handle	*h;
	uint32_t	 rid;
	uint64_t	 lsn;
};

struct dlog {
	struct wal	*wal;
	struct channel	*ch;		/* NULL once forgotten */
	struct durable	*dur;
	TAILQ_ENTRY(dlog) entry;	/* dur->logs */
	TAILQ_ENTRY(dlog) dirty_entry;	/* dur->dirty */
	bool		 dirty;

	struct dconfirm	*q;		/* confirmations, oldest at qhead */
	size_t		 qhead;
	size_t		 qlen;		/* end of the used part */
	size_t		 qcap;

	uint64_t	 last_lsn;	/* end of the last MSG appended */
	uint64_t	 delivered;	/* highest DELIVERED id appended */
	uint64_t	 acked;		/* highest ACK id appended */

	uv_fs_t		 sreq;		/* the sync in flight */
	int		 sync_fd;
	uint64_t	 sync_target;
	bool		 syncing;
	bool		 busy;		/* answering: do not free */
	bool		 gone;		/* forgotten while syncing or busy */
	bool		 failed_logged;
};

TAILQ_HEAD(dlog_list, dlog);

struct durable {
	struct server	*srv;
	struct dlog_list logs;
	struct dlog_list dirty;
	size_t		 nlogs;
	uv_timer_t	 timer;		/* --sync periodic */
	bool		 timer_on;
};

static void	dlog_sync_start(struct dlog *);

/* Settings for a log created or recovered now. */
static struct wal_settings
durable_settings(const struct server *srv)
{
	return ((struct wal_settings){ srv->cfg->segment_size,
	    srv->cfg->sync != CONFIG_SYNC_OS });
}

static const char *
dlog_name(char buf[LOG_NAME_MAX], const struct dlog *dl)
{
	if (dl->ch == NULL)
		return (wal_dir(dl->wal));
	return (log_escape(buf, dl->ch->name, dl->ch->name_len));
}

static void
dlog_dirty(struct dlog *dl)
{
	if (dl->dirty)
		return;
	dl->dirty = true;
	TAILQ_INSERT_TAIL(&dl->dur->dirty, dl, dirty_entry);
}

static struct dlog *
dlog_new(struct durable *dur, struct wal *w, struct channel *ch)
{
	struct dlog	*dl;

	if ((dl = calloc(1, sizeof(*dl))) == NULL)
		return (NULL);
	dl->wal = w;
	dl->ch = ch;
	dl->dur = dur;
	dl->sync_fd = -1;
	TAILQ_INSERT_TAIL(&dur->logs, dl, entry);
	dur->nlogs++;
	ch->durable = true;
	ch->log = dl;
	return (dl);
}

/* Frees dl; its wal is already closed or destroyed. */
static void
dlog_free(struct dlog *dl)
{
	struct durable	*dur = dl->dur;

	if (dl->dirty)
		TAILQ_REMOVE(&dur->dirty, dl, dirty_entry);
	TAILQ_REMOVE(&dur->logs, dl, entry);
	dur->nlogs--;
	free(dl->q);
	free(dl);
}

/* Removes the log of a forgotten channel, unless something still runs. */
static void
dlog_reap(struct dlog *dl)
{
	if (!dl->gone || dl->syncing || dl->busy)
		return;
	wal_destroy(dl->wal);
	dlog_free(dl);
}

/* Confirmations. */

static int
dlog_push(struct dlog *dl, struct handle *h, uint32_t rid, uint64_t lsn)
{
	struct dconfirm	*nq;
	size_t		 n = dl->qlen - dl->qhead, ncap;

	if (dl->qlen == dl->qcap && dl->qhead > 0) {
		memmove(dl->q, dl->q + dl->qhead, n * sizeof(*dl->q));
		dl->qhead = 0;
		dl->qlen = n;
	}
	if (dl->qlen == dl->qcap) {
		ncap = dl->qcap == 0 ? 16 : dl->qcap * 2;
		if ((nq = reallocarray(dl->q, ncap, sizeof(*nq))) == NULL)
			return (-1);
		dl->q = nq;
		dl->qcap = ncap;
	}
	dl->q[dl->qlen++] = (struct dconfirm){ h, rid, lsn };
	return (0);
}

static bool
dlog_waiting(const struct dlog *dl)
{
	return (dl->qhead < dl->qlen);
}

/*
 * Answers, oldest first, each confirmation whose record ends at or below
 * upto: OK if rc is 0, else ERROR(DISK) with why. Answering may complete
 * a CLOSE and forget the channel: dl stays until the end (busy).
 */
static void
dlog_answer(struct dlog *dl, uint64_t upto, int rc, const char *why)
{
	struct dconfirm	 e;

	dl->busy = true;
	while (dlog_waiting(dl) && dl->q[dl->qhead].lsn <= upto) {
		e = dl->q[dl->qhead++];
		if (e.h != NULL)
			dispatch_send_confirmed(e.h->conn, e.h, e.rid, rc, why);
	}
	if (!dlog_waiting(dl))
		dl->qhead = dl->qlen = 0;
	dl->busy = false;
}

/* The log failed: every waiting send gets DISK, saying why, once logged. */
static void
dlog_fail(struct dlog *dl, int err)
{
	char	name[LOG_NAME_MAX], why[PROTO_ERRMSG_MAX / 2];

	snprintf(why, sizeof(why), "cannot write the channel's log: %s",
	    strerror(-err));
	if (!dl->failed_logged)
		log_error("durable channel '%s': %s; its sends fail with "
		    "DISK from now on", dlog_name(name, dl), why);
	dl->failed_logged = true;
	dlog_answer(dl, UINT64_MAX, CHAN_EDISK, why);
}

/* What a send's record must reach before its OK, under --sync. */
static uint64_t
dlog_safe_lsn(const struct dlog *dl)
{
	if (dl->dur->srv->cfg->sync == CONFIG_SYNC_ALWAYS)
		return (wal_synced_lsn(dl->wal));
	return (wal_written_lsn(dl->wal));
}

/* Writes dl's records, answers what they make safe, starts a sync. */
static void
dlog_flush(struct dlog *dl)
{
	int	rc = 0;

	if (!wal_failed(dl->wal) && wal_pending(dl->wal))
		rc = wal_flush(dl->wal);
	if (wal_failed(dl->wal)) {
		dlog_fail(dl, rc != 0 ? rc : -EIO);
		return;
	}
	dlog_answer(dl, dlog_safe_lsn(dl), 0, NULL);
	if (dlog_waiting(dl) && !dl->syncing)
		dlog_sync_start(dl);
}

/* Group commit: fdatasync on the threadpool. */

static void
dlog_sync_cb(uv_fs_t *req)
{
	struct dlog	*dl = req->data;
	int		 result = (int)req->result;

	uv_fs_req_cleanup(req);
	close(dl->sync_fd);
	dl->sync_fd = -1;
	dl->syncing = false;
	if (dl->gone) {
		dlog_reap(dl);
		return;
	}
	wal_sync_done(dl->wal, dl->sync_target, result < 0 ? result : 0);
	/* Answers go out from the flush that follows in this iteration. */
	dlog_dirty(dl);
}

static void
dlog_sync_start(struct dlog *dl)
{
	uv_loop_t	*loop = dl->dur->srv->loop;
	int		 rc;

	if (dl->syncing || dl->dur->srv->stopping)
		return;
	if (wal_synced_lsn(dl->wal) >= wal_written_lsn(dl->wal))
		return;
	if ((rc = wal_sync_begin(dl->wal, &dl->sync_fd,
	    &dl->sync_target)) != 0) {
		dlog_fail(dl, rc);
		return;
	}
	dl->sreq.data = dl;
	if ((rc = uv_fs_fdatasync(loop, &dl->sreq, dl->sync_fd,
	    dlog_sync_cb)) != 0) {
		close(dl->sync_fd);
		dl->sync_fd = -1;
		wal_sync_done(dl->wal, dl->sync_target, rc);
		dlog_fail(dl, rc);
		return;
	}
	dl->syncing = true;
}

void
durable_flush(struct server *srv)
{
	struct durable	*dur = srv->durable;
	struct dlog	*dl;
	unsigned	 pass;

	if (dur == NULL)
		return;
	/*
	 * Answering may close a producer and pump its channel, appending
	 * records: a second pass writes those before the output leaves.
	 */
	for (pass = 0; pass < 4 && !TAILQ_EMPTY(&dur->dirty); pass++) {
		while ((dl = TAILQ_FIRST(&dur->dirty)) != NULL) {
			TAILQ_REMOVE(&dur->dirty, dl, dirty_entry);
			dl->dirty = false;
			if (dl->gone)
				continue;
			dlog_flush(dl);
			dlog_reap(dl);
		}
	}
}

/* --sync periodic: every log with unsynced records, each interval. */
static void
durable_timer_cb(uv_timer_t *t)
{
	struct durable	*dur = t->data;
	const struct config *cfg = dur->srv->cfg;
	struct dlog	*dl, *next;

	if (uv_timer_get_repeat(t) != cfg->sync_interval)
		uv_timer_set_repeat(t, cfg->sync_interval);
	if (cfg->sync != CONFIG_SYNC_PERIODIC)
		return;
	for (dl = TAILQ_FIRST(&dur->logs); dl != NULL; dl = next) {
		next = TAILQ_NEXT(dl, entry);
		if (!dl->gone && !wal_failed(dl->wal))
			dlog_sync_start(dl);
		dlog_reap(dl);
	}
	/* A failed sync answered sends: nothing else flushes after timers. */
	conn_flush_dirty(dur->srv);
}

/* Appending. */

static struct dlog *
durable_log(const struct channel *ch)
{
	return (ch->durable ? ch->log : NULL);
}

/* Appends one non-MSG record; a failure fails the log's later sends. */
static void
dlog_record(struct dlog *dl, int rc)
{
	char	name[LOG_NAME_MAX];

	if (rc == 0) {
		dlog_dirty(dl);
		return;
	}
	if (!dl->failed_logged && !wal_failed(dl->wal))
		log_warning("durable channel '%s': cannot log an "
		    "acknowledgement or delivery: %s", dlog_name(name, dl),
		    strerror(-rc));
}

int
durable_append(struct server *srv, struct channel *ch, const void *payload,
    size_t len, uint64_t *lsn, char *err, size_t errlen)
{
	struct dlog	*dl = durable_log(ch);
	int		 rc;

	(void)srv;
	if (dl == NULL)
		return (0);
	rc = wal_append_msg(dl->wal, ch->next_id, payload, (uint32_t)len,
	    &dl->last_lsn);
	if (rc != 0) {
		/* strerror's words, which is what an operator searches for. */
		snprintf(err, errlen, "%s%s", strerror(-rc), rc == -EFBIG ?
		    " (the log file would pass the daemon's file size limit)" :
		    "");
		return (CHAN_EDISK);
	}
	*lsn = dl->last_lsn;
	dlog_dirty(dl);
	return (0);
}

void
durable_cancel(struct server *srv, struct channel *ch, uint64_t id)
{
	struct dlog	*dl = durable_log(ch);

	(void)srv;
	if (dl != NULL && !wal_failed(dl->wal))
		dlog_record(dl, wal_append_cancel(dl->wal, id));
}

void
durable_acked(struct server *srv, struct channel *ch)
{
	struct dlog	*dl = durable_log(ch);

	(void)srv;
	if (dl == NULL || ch->acked_id <= dl->acked || wal_failed(dl->wal))
		return;
	dl->acked = ch->acked_id;
	dlog_record(dl, wal_append_ack(dl->wal, ch->acked_id));
}

void
durable_delivered(struct server *srv, struct channel *ch, uint64_t id)
{
	struct dlog	*dl = durable_log(ch);

	(void)srv;
	if (dl == NULL || id <= dl->delivered || wal_failed(dl->wal))
		return;
	dl->delivered = id;
	dlog_record(dl, wal_append_delivered(dl->wal, id));
}

void
durable_confirm(struct server *srv, struct handle *h, uint32_t rid,
    uint64_t lsn)
{
	struct dlog	*dl = durable_log(h->ch);

	(void)srv;
	if (dl == NULL) {
		dispatch_send_confirmed(h->conn, h, rid, 0, NULL);
		return;
	}
	h->nheld++;
	if (dlog_push(dl, h, rid, lsn == 0 ? dl->last_lsn : lsn) != 0) {
		log_warning("out of memory for a confirmation, closing (%s)",
		    h->conn->peer);
		h->nheld--;
		conn_mark_close(h->conn);
		return;
	}
	dlog_dirty(dl);
}

void
durable_drop_handle(struct server *srv, struct handle *h)
{
	struct dlog	*dl = durable_log(h->ch);
	size_t		 i;

	(void)srv;
	if (dl == NULL || h->rx)
		return;
	for (i = dl->qhead; i < dl->qlen; i++) {
		if (dl->q[i].h == h) {
			dl->q[i].h = NULL;
			h->nheld--;
		}
	}
}

/* Channels. */

bool
durable_wanted(const struct server *srv, const struct proto_msg *m)
{
	if (m->durable >= 0)
		return (m->durable == 1);
	return (config_durable_match(srv->cfg, m->name, m->name_len));
}

int
durable_open(struct server *srv, struct channel *ch, char *err,
    size_t errlen)
{
	struct wal_settings	 set = durable_settings(srv);
	struct wal_meta		 meta = { ch->name, ch->name_len, ch->cap_msgs,
				    ch->cap_bytes };
	struct wal		*w;
	char			 why[256];

	if (srv->cfg->data_dir == NULL || srv->durable == NULL) {
		snprintf(err, errlen, "the daemon keeps no logs (no "
		    "--data-dir)");
		return (CHAN_EDISK);
	}
	if (wal_create(srv->cfg->data_dir, &meta, &set, &w, why,
	    sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot create its log: %s", why);
		return (CHAN_EDISK);
	}
	if (dlog_new(srv->durable, w, ch) == NULL) {
		wal_destroy(w);
		snprintf(err, errlen, "out of memory");
		return (CHAN_EDISK);
	}
	return (0);
}

void
durable_forget(struct server *srv, struct channel *ch)
{
	struct dlog	*dl = durable_log(ch);

	(void)srv;
	if (dl == NULL)
		return;
	ch->log = NULL;
	dl->ch = NULL;
	dl->gone = true;
	dlog_reap(dl);
}

uint64_t
durable_log_bytes(const struct channel *ch)
{
	const struct dlog	*dl = durable_log(ch);

	return (dl == NULL ? 0 : wal_disk_bytes(dl->wal));
}

const char *
durable_log_dir(const struct channel *ch)
{
	const struct dlog	*dl = durable_log(ch);

	return (dl == NULL ? NULL : wal_dir(dl->wal));
}

/* Recovery. */

struct durable_rec {
	struct durable	*dur;
	struct channel	*ch;		/* the log being read */
	size_t		 nchannels;
	size_t		 nmsgs;
	size_t		 naside;	/* set aside: over --max-msg-size */
};

/* Directory under --data-dir of the messages set aside. */
#define DURABLE_ASIDE_DIR	"set-aside"

/* Writes len bytes of p to path, a new file of mode 0600, synced. */
static int
durable_write_file(const char *path, const void *p, size_t len)
{
	const char	*b = p;
	ssize_t		 n;
	int		 fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return (-errno);
	while (len > 0 && rc == 0) {
		if ((n = write(fd, b, len)) == -1) {
			if (errno != EINTR)
				rc = -errno;
			continue;
		}
		b += n;
		len -= (size_t)n;
	}
	if (rc == 0 && fsync(fd) == -1)
		rc = -errno;
	if (close(fd) == -1 && rc == 0)
		rc = -errno;
	if (rc != 0)
		(void)unlink(path);
	return (rc);
}

/*
 * A recovered message over today's --max-msg-size would reach no client
 * (each refuses a frame over the limit), come back to the head of its
 * channel and hold every later message behind it. It is set aside
 * instead: its payload goes to DATA_DIR/set-aside/LOGDIR-ID, the log
 * gets its CANCEL, and a warning says where it is (docs/durability.md).
 * 0, or -errno if it could not be set aside (it is then queued as ever).
 */
static int
durable_set_aside(struct durable_rec *r, struct wal *w, uint64_t id,
    const void *payload, uint32_t len)
{
	const struct config	*cfg = r->dur->srv->cfg;
	struct channel		*ch = r->ch;
	const char		*base;
	char			 dir[PATH_MAX], path[PATH_MAX];
	char			 name[LOG_NAME_MAX];
	int			 n, rc;

	log_escape(name, ch->name, ch->name_len);
	base = strrchr(wal_dir(w), '/');
	base = base == NULL ? wal_dir(w) : base + 1;
	n = snprintf(dir, sizeof(dir), "%s/" DURABLE_ASIDE_DIR, cfg->data_dir);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return (-ENAMETOOLONG);
	n = snprintf(path, sizeof(path), "%s/%s-%llu", dir, base,
	    (unsigned long long)id);
	if (n < 0 || (size_t)n >= sizeof(path))
		return (-ENAMETOOLONG);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		rc = -errno;
	else
		rc = durable_write_file(path, payload, len);
	if (rc == 0)
		rc = wal_append_cancel(w, id);
	if (rc != 0) {
		log_error("durable channel '%s': message %llu of %lu bytes is "
		    "over --max-msg-size %llu and cannot be set aside in %s: "
		    "%s; queued, but no client can take it", name,
		    (unsigned long long)id, (unsigned long)len,
		    (unsigned long long)cfg->max_msg_size, dir, strerror(-rc));
		return (rc);
	}
	log_warning("durable channel '%s': message %llu of %lu bytes is over "
	    "--max-msg-size %llu: set aside in %s, not delivered", name,
	    (unsigned long long)id, (unsigned long)len,
	    (unsigned long long)cfg->max_msg_size, path);
	r->naside++;
	return (0);
}

static int
durable_rec_chan(void *arg, struct wal *w, const struct wal_meta *meta,
    uint64_t next_id)
{
	struct durable_rec	*r = arg;
	struct registry		*reg = &r->dur->srv->reg;
	struct channel		*ch;
	char			 name[LOG_NAME_MAX];

	r->ch = NULL;
	log_escape(name, meta->name, meta->name_len);
	if (registry_find(reg, meta->name, meta->name_len) != NULL) {
		log_error("%s: a second log for channel '%s', left alone",
		    wal_dir(w), name);
		return (-1);
	}
	if (registry_open(reg, meta->name, meta->name_len, &ch) != 0)
		return (-1);
	channel_set_capacity(ch, meta->cap_msgs, meta->cap_bytes);
	/* Its producers went with the daemon that wrote the log. */
	ch->had_producer = true;
	if (dlog_new(r->dur, w, ch) == NULL) {
		registry_release(reg, ch);
		return (-1);
	}
	ch->next_id = next_id;
	r->ch = ch;
	r->nchannels++;
	return (0);
}

static int
durable_rec_msg(void *arg, struct wal *w, uint64_t id, const void *payload,
    uint32_t len, bool delivered)
{
	struct durable_rec	*r = arg;
	struct channel		*ch = r->ch;
	uint64_t		 next;

	if (ch == NULL)
		return (-1);
	if (len > r->dur->srv->cfg->max_msg_size &&
	    durable_set_aside(r, w, id, payload, len) == 0)
		return (0);
	next = ch->next_id;
	if (channel_restore(ch, id, payload, len,
	    delivered ? PROTO_FLAG_REDELIVERED : 0) != 0) {
		/* The log is closed on return: the channel keeps what it
		   has, in memory only. */
		log_error("out of memory recovering channel '%.*s': it is "
		    "no longer durable", (int)ch->name_len, ch->name);
		dlog_free(ch->log);
		ch->log = NULL;
		ch->durable = false;
		r->ch = NULL;
		return (-1);
	}
	/* The log's next id is past every id it held, live or not. */
	if (ch->next_id < next)
		ch->next_id = next;
	r->nmsgs++;
	return (0);
}

/* Recovered messages are outside the daemon-wide limits: say so. */
static void
durable_rec_limits(const struct server *srv)
{
	const struct channel_totals	*t = &srv->reg.totals;
	const struct config		*cfg = srv->cfg;

	if (t->msgs > cfg->max_queued_msgs || t->bytes > cfg->max_queued_bytes)
		log_warning("recovered messages pass the daemon's limits "
		    "(%zu messages, %zu bytes; --max-queued-messages %llu, "
		    "--max-queued-bytes %llu): sends are refused until "
		    "consumers take them", t->msgs, t->bytes,
		    (unsigned long long)cfg->max_queued_msgs,
		    (unsigned long long)cfg->max_queued_bytes);
	if (srv->reg.count > cfg->max_channels)
		log_warning("recovered %zu channels, over --max-channels %llu",
		    srv->reg.count, (unsigned long long)cfg->max_channels);
}

static int
durable_recover(struct durable *dur)
{
	struct server		*srv = dur->srv;
	struct wal_settings	 set = durable_settings(srv);
	struct durable_rec	 r = { .dur = dur };
	char			 err[512];

	if (wal_recover(srv->cfg->data_dir, &set, durable_rec_chan,
	    durable_rec_msg, &r, err, sizeof(err)) != 0) {
		log_error("--data-dir %s: %s", srv->cfg->data_dir, err);
		return (-1);
	}
	log_info("durable channels: %zu recovered with %zu messages from %s "
	    "(sync %s)", r.nchannels, r.nmsgs, srv->cfg->data_dir,
	    config_sync_name(srv->cfg->sync));
	if (r.naside > 0)
		log_warning("durable channels: %zu messages over --max-msg-size "
		    "set aside in %s/" DURABLE_ASIDE_DIR, r.naside,
		    srv->cfg->data_dir);
	durable_rec_limits(srv);
	return (0);
}

/* Life. */

int
durable_init(struct server *srv)
{
	struct durable	*dur;
	int		 rc;

	if (srv->cfg->data_dir == NULL)
		return (0);
	if ((dur = calloc(1, sizeof(*dur))) == NULL) {
		log_error("out of memory");
		return (-1);
	}
	dur->srv = srv;
	TAILQ_INIT(&dur->logs);
	TAILQ_INIT(&dur->dirty);
	srv->durable = dur;
	if (durable_recover(dur) != 0)
		return (-1);
	if ((rc = uv_timer_init(srv->loop, &dur->timer)) != 0 ||
	    (rc = uv_timer_start(&dur->timer, durable_timer_cb,
	    srv->cfg->sync_interval, srv->cfg->sync_interval)) != 0) {
		log_error("cannot start the sync timer: %s", uv_strerror(rc));
		return (-1);
	}
	dur->timer_on = true;
	dur->timer.data = dur;
	/* The listener and the connections keep the loop alive, not this. */
	uv_unref((uv_handle_t *)&dur->timer);
	return (0);
}

void
durable_stop(struct server *srv)
{
	struct durable	*dur = srv->durable;

	if (dur == NULL || !dur->timer_on)
		return;
	uv_close((uv_handle_t *)&dur->timer, NULL);
	dur->timer_on = false;
}

void
durable_fini(struct server *srv)
{
	struct durable	*dur = srv->durable;
	struct dlog	*dl;
	char		 name[LOG_NAME_MAX];
	size_t		 n = 0;
	int		 rc;

	if (dur == NULL)
		return;
	/* The loop has run out: no sync is in flight any more. */
	while ((dl = TAILQ_FIRST(&dur->logs)) != NULL) {
		if (dl->gone)
			wal_destroy(dl->wal);
		else {
			if (!wal_failed(dl->wal) &&
			    (rc = wal_sync_now(dl->wal)) != 0)
				log_error("durable channel '%s': cannot sync "
				    "its log at shutdown: %s",
				    dlog_name(name, dl), strerror(-rc));
			dl->ch->log = NULL;
			wal_close(dl->wal);
			n++;
		}
		dlog_free(dl);
	}
	if (n > 0)
		log_info("durable channels: %zu logs synced and closed", n);
	free(dur);
	srv->durable = NULL;
}

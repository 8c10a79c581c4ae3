/* SPDX-License-Identifier: MIT */
/*
 * tx.c: transmitters, the producer ends of channels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/*
 * CHANCLIENT_SHM=1 in the environment: every transmitter and receiver
 * asks for a ring, as if opened with CHAN_SHM (so that a program's tests
 * run on both paths).
 */
int
shm_wanted(void)
{
	const char *v = getenv("CHANCLIENT_SHM");

	return v != NULL && strcmp(v, "1") == 0;
}

/* Opens a producer on c for name; with c->mu held. */
static int
tx_open(struct chan_client *c, const void *name, size_t name_len,
    const chan_open_opts *opts, char *errbuf, struct chan_tx **out)
{
	struct chan_tx *tx;
	int rc;

	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return CHAN_ENOMEM;
	tx->window = opts->window > 0 ? opts->window : TX_WINDOW_DEFAULT;
	tx->opts = *opts;
	if ((tx->name = malloc(name_len)) == NULL) {
		free(tx);
		return CHAN_ENOMEM;
	}
	memcpy(tx->name, name, name_len);
	tx->name_len = name_len;
	tx->c = c;
	rc = conn_open(c, PROTO_OPEN_TX, name, name_len, opts, errbuf,
	    &tx->handle);
	if (rc != 0) {
		free(tx->name);
		free(tx);
		return rc;
	}
	LIST_INSERT_HEAD(&c->txs, tx, entry);
	if ((opts->flags & CHAN_SHM || shm_wanted()) &&
	    (rc = tx_shm_setup(c, tx)) != 0) {
		(void)conn_close_handle(c, tx->handle, NULL);
		tx_free(tx);
		return rc;
	}
	*out = tx;
	return 0;
}

int
chan_tx_open(chan_client *c, const char *name, chan_tx **out)
{
	if (name == NULL)
		return CHAN_EINVAL;
	return chan_tx_open_ex(c, name, strlen(name), NULL, out);
}

int
chan_tx_open_ex(chan_client *c, const void *name, size_t name_len,
    const chan_open_opts *opts, chan_tx **out)
{
	chan_open_opts o;
	int rc;

	if (out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	if ((rc = conn_open_args(c, name, name_len, opts, CHAN_RX_GONE |
	    CHAN_SHM, &o)) != 0)
		return rc;
	if (o.prefetch != 0)
		return CHAN_EOPTION;	/* a receiver's option */
	conn_lock(c);
	rc = tx_open(c, name, name_len, &o, c->errmsg, out);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int
chan_tx_clone(chan_tx *tx, chan_tx **out)
{
	struct chan_client *c;
	int rc;

	if (tx == NULL || out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	c = tx->c;
	conn_lock(c);
	rc = tx_open(c, tx->name, tx->name_len, &tx->opts, tx->errmsg, out);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/*
 * Checks a send's arguments and takes c->mu. Returns 0 with the mutex held,
 * or an error without it: CHAN_EINVAL, CHAN_ETOOBIG, CHAN_ECONNLOST, or an
 * earlier pipelined send's failure.
 */
int
tx_send_begin(struct chan_tx *tx, const void *data, size_t len)
{
	struct chan_client *c;
	int rc;

	if (tx == NULL || (data == NULL && len > 0))
		return CHAN_EINVAL;
	c = tx->c;
	if (len > c->max_msg) {
		snprintf(tx->errmsg, sizeof(tx->errmsg), "message of %zu bytes "
		    "is over the daemon's limit of %zu bytes", len, c->max_msg);
		return CHAN_ETOOBIG;
	}
	pthread_mutex_lock(&c->mu);
	tx->errmsg[0] = '\0';
	rc = c->dead ? CHAN_ECONNLOST : pipeline_take_error(tx);
	if (rc != 0)
		pthread_mutex_unlock(&c->mu);
	return rc;
}

/*
 * A confirmed send with c->mu held, tx_send_begin passed: SEND, or
 * SEND_TIMED when wait_ms >= 0, whose FULL becomes full_rc; SEND_MARKED
 * when flags is not 0.
 */
static int
tx_send_locked(struct chan_tx *tx, const void *data, size_t len,
    int wait_ms, int full_rc, uint32_t flags)
{
	struct chan_client *c = tx->c;
	struct conn_req r;
	int rc;

	/* Pipelined ring sends held on the connection came first. */
	conn_commit_held(c);
	if (flags != 0 && !(c->features & PROTO_FEAT_MARKED)) {
		snprintf(tx->errmsg, sizeof(tx->errmsg), "the daemon cannot "
		    "mark a message redelivered (no SEND_MARKED)");
		return CHAN_EOPTION;
	}
	/* A ring record has no mark: a marked send takes the socket. */
	if (tx->shm != NULL && flags == 0 && len <= tx_shm_max(tx)) {
		/* Behind the SENDs of longer messages before it. */
		if (tx->unconfirmed > 0 &&
		    (rc = pipeline_flush_locked(tx, 1)) != 0)
			return rc;
		rc = tx_shm_send(tx, data, len, wait_ms, full_rc);
		if (rc != TX_SHM_SOCKET)
			return rc;
	}
	/* Over the socket, behind the records before it. */
	if (tx->shm != NULL && (rc = tx_shm_drain(tx)) != 0 &&
	    rc != TX_SHM_SOCKET)
		return rc;
	conn_req_init(c, &r, PROTO_OK, tx->errmsg);
	if (flags != 0)
		rc = proto_enc_send_marked(&c->wbuf, r.rid, tx->handle, data,
		    len, flags);
	else if (wait_ms < 0)
		rc = proto_enc_send(&c->wbuf, r.rid, tx->handle, data, len);
	else
		rc = proto_enc_send_timed(&c->wbuf, r.rid, tx->handle, data,
		    len, (uint32_t)wait_ms);
	if (rc == 0)
		rc = conn_call(c, &r, NULL);
	return rc == CHAN_EFULL ? full_rc : rc;
}

static int
tx_send_confirmed(struct chan_tx *tx, const void *data, size_t len,
    int wait_ms, int full_rc, uint32_t flags)
{
	int rc;

	if ((rc = tx_send_begin(tx, data, len)) != 0)
		return rc;
	rc = tx_send_locked(tx, data, len, wait_ms, full_rc, flags);
	pthread_mutex_unlock(&tx->c->mu);
	return rc;
}

int
chan_tx_send(chan_tx *tx, const void *data, size_t len)
{
	return tx_send_confirmed(tx, data, len, -1, 0, 0);
}

int
chan_tx_send_redelivered(chan_tx *tx, const void *data, size_t len)
{
	return tx_send_confirmed(tx, data, len, -1, 0,
	    PROTO_FLAG_REDELIVERED);
}

/* msgs[i] by chan_tx_send's rules, c->mu held. */
static int
tx_send_one_of(struct chan_tx *tx, const struct iovec *msgs, size_t i,
    size_t n)
{
	if (msgs[i].iov_base == NULL && msgs[i].iov_len > 0)
		return CHAN_EINVAL;
	if (msgs[i].iov_len > tx->c->max_msg) {
		snprintf(tx->errmsg, sizeof(tx->errmsg), "message %zu of %zu "
		    "(%zu bytes) is over the daemon's limit of %zu bytes",
		    i + 1, n, msgs[i].iov_len, tx->c->max_msg);
		return CHAN_ETOOBIG;
	}
	return tx_send_locked(tx, msgs[i].iov_base, msgs[i].iov_len, -1, 0,
	    0);
}

int
chan_tx_send_many(chan_tx *tx, const struct iovec *msgs, size_t n,
    size_t *sent)
{
	size_t i = 0, k;
	int rc;

	if (sent != NULL)
		*sent = 0;
	if (tx == NULL || (msgs == NULL && n > 0))
		return CHAN_EINVAL;
	if ((rc = tx_send_begin(tx, NULL, 0)) != 0)
		return rc;
	conn_commit_held(tx->c);
	while (i < n && rc == 0) {
		/* Behind the SENDs of longer messages before it. */
		if (tx->shm != NULL && tx->unconfirmed > 0 &&
		    (rc = pipeline_flush_locked(tx, 1)) != 0)
			break;
		/* What the ring takes now goes in one commit. */
		if (tx->shm != NULL &&
		    (k = tx_shm_put_many(tx, msgs + i, n - i)) > 0)
			i += k;
		else if ((rc = tx_send_one_of(tx, msgs, i, n)) == 0)
			i++;
		if (sent != NULL)
			*sent = i;
		/* An earlier pipelined send's failure stops it, as it would
		   the next chan_tx_send. */
		if (rc == 0 && i < n)
			rc = pipeline_take_error(tx);
	}
	pthread_mutex_unlock(&tx->c->mu);
	return rc;
}

int
chan_tx_try_send(chan_tx *tx, const void *data, size_t len)
{
	return tx_send_confirmed(tx, data, len, 0, CHAN_EFULL, 0);
}

int
chan_tx_send_timeout(chan_tx *tx, const void *data, size_t len,
    int timeout_ms)
{
	if (timeout_ms < 0)
		return chan_tx_send(tx, data, len);
	return tx_send_confirmed(tx, data, len, timeout_ms, CHAN_ETIMEDOUT,
	    0);
}

void
tx_free(struct chan_tx *tx)
{
	tx_shm_free(tx);
	pipeline_fini(tx);
	LIST_REMOVE(tx, entry);
	free(tx->name);
	free(tx);
}

/*
 * Waits for the pipelined sends first, so that their failures are reported
 * here and the daemon, which answers CLOSE only once the producer's held
 * sends are queued, gets the CLOSE after them.
 */
int
chan_tx_close(chan_tx *tx)
{
	struct chan_client *c;
	int rc, crc;

	if (tx == NULL)
		return CHAN_EINVAL;
	c = tx->c;
	conn_lock(c);
	rc = pipeline_flush_locked(tx, 1);
	crc = conn_close_handle(c, tx->handle, NULL);
	if (rc == 0)
		rc = crc;
	tx_free(tx);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

const char *
chan_tx_errmsg(const chan_tx *tx)
{
	return tx != NULL ? tx->errmsg : "";
}

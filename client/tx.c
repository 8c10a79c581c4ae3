/*
 * tx.c: transmitters, the producer ends of channels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* Opens a producer on c for name; with c->mu held. */
static int
tx_open(struct chan_client *c, const void *name, size_t name_len,
    char *errbuf, struct chan_tx **out)
{
	struct chan_tx *tx;
	int rc;

	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return CHAN_ENOMEM;
	if ((tx->name = malloc(name_len)) == NULL) {
		free(tx);
		return CHAN_ENOMEM;
	}
	memcpy(tx->name, name, name_len);
	tx->name_len = name_len;
	tx->c = c;
	rc = conn_open(c, PROTO_OPEN_TX, name, name_len, errbuf, &tx->handle);
	if (rc != 0) {
		free(tx->name);
		free(tx);
		return rc;
	}
	LIST_INSERT_HEAD(&c->txs, tx, entry);
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
	unsigned flags, prefetch;
	int rc;

	if (out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	rc = conn_open_args(c, name, name_len, opts, 0, &flags, &prefetch);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&c->mu);
	rc = tx_open(c, name, name_len, c->errmsg, out);
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
	pthread_mutex_lock(&c->mu);
	rc = tx_open(c, tx->name, tx->name_len, tx->errmsg, out);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int
chan_tx_send(chan_tx *tx, const void *data, size_t len)
{
	struct chan_client *c;
	struct conn_req r;
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
	if (c->dead) {
		rc = CHAN_ECONNLOST;
		goto out;
	}
	conn_req_init(c, &r, PROTO_OK, tx->errmsg);
	if ((rc = proto_enc_send(&c->wbuf, r.rid, tx->handle, data, len)) != 0)
		goto out;
	rc = conn_call(c, &r, NULL);
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void
tx_free(struct chan_tx *tx)
{
	LIST_REMOVE(tx, entry);
	free(tx->name);
	free(tx);
}

int
chan_tx_close(chan_tx *tx)
{
	struct chan_client *c;
	int rc;

	if (tx == NULL)
		return CHAN_EINVAL;
	c = tx->c;
	pthread_mutex_lock(&c->mu);
	rc = conn_close_handle(c, tx->handle, NULL);
	tx_free(tx);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

const char *
chan_tx_errmsg(const chan_tx *tx)
{
	return tx != NULL ? tx->errmsg : "";
}

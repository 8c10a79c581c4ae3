/* SPDX-License-Identifier: MIT */
/*
 * info.c: the admin view, STATS -> INFO (see chan_client_info), and the
 * admin actions, ADMIN -> INFO (chan_client_admin).
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"

int
chan_client_info(chan_client *c, const char *what, const void *after,
    size_t after_len, unsigned limit, void **data, size_t *len)
{
	struct conn_req r;
	struct proto_buf buf;
	struct timespec deadline;
	int rc;

	if (c == NULL || what == NULL || data == NULL || len == NULL ||
	    (after == NULL && after_len != 0) || after_len > PROTO_CURSOR_MAX ||
	    strlen(what) > PROTO_STATS_WHAT_MAX)
		return CHAN_EINVAL;
	*data = NULL;
	*len = 0;
	proto_buf_init(&buf);
	pthread_mutex_lock(&c->mu);
	if (c->dead) {
		rc = CHAN_ECONNLOST;
		goto out;
	}
	conn_req_init(c, &r, PROTO_INFO, c->errmsg);
	r.data = &buf;
	rc = proto_enc_stats(&c->wbuf, r.rid, what, after, after_len,
	    (uint32_t)limit);
	if (rc != 0)
		goto out;
	conn_deadline(&deadline, CONN_INFO_MS);
	rc = conn_call(c, &r, &deadline);
out:
	pthread_mutex_unlock(&c->mu);
	if (rc != 0) {
		proto_buf_fini(&buf);
		return rc;
	}
	/* The buffer's memory passes to the caller. */
	*data = buf.data;
	*len = buf.len;
	return 0;
}

int
chan_client_admin(chan_client *c, const char *action, const void *arg,
    size_t arg_len, void **data, size_t *len)
{
	struct conn_req r;
	struct proto_buf buf;
	struct timespec deadline;
	int rc;

	if (c == NULL || action == NULL || data == NULL || len == NULL ||
	    (arg == NULL && arg_len != 0) || arg_len > PROTO_ADMIN_ARG_MAX ||
	    strlen(action) > PROTO_ADMIN_ACTION_MAX)
		return CHAN_EINVAL;
	*data = NULL;
	*len = 0;
	proto_buf_init(&buf);
	pthread_mutex_lock(&c->mu);
	if (c->dead) {
		rc = CHAN_ECONNLOST;
		goto out;
	}
	conn_req_init(c, &r, PROTO_INFO, c->errmsg);
	r.data = &buf;
	rc = proto_enc_admin(&c->wbuf, r.rid, action, arg, arg_len);
	if (rc != 0)
		goto out;
	conn_deadline(&deadline, CONN_INFO_MS);
	rc = conn_call(c, &r, &deadline);
out:
	pthread_mutex_unlock(&c->mu);
	if (rc != 0) {
		proto_buf_fini(&buf);
		return rc;
	}
	*data = buf.data;
	*len = buf.len;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * info.c: the admin view, STATS -> INFO (see chan_client_info), and the
 * admin actions, ADMIN -> INFO (chan_client_admin).
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* What a request answered by INFO writes: STATS or ADMIN. */
struct info_ask {
	const char	*word;		/* STATS what, ADMIN action */
	const void	*arg;		/* STATS after, ADMIN argument */
	size_t		 arg_len;
	unsigned	 limit;		/* STATS */
	int		 admin;
};

/*
 * Sends the request and waits for its INFO: on success *data is the
 * malloc'd map of *len bytes, the caller's to free.
 */
static int
info_call(chan_client *c, const struct info_ask *ask, void **data,
    size_t *len)
{
	struct conn_req r;
	struct proto_buf buf;
	struct timespec deadline;
	int rc;

	*data = NULL;
	*len = 0;
	proto_buf_init(&buf);
	conn_lock(c);
	if (c->dead) {
		rc = CHAN_ECONNLOST;
		goto out;
	}
	conn_req_init(c, &r, PROTO_INFO, c->errmsg);
	r.data = &buf;
	if (ask->admin)
		rc = proto_enc_admin(&c->wbuf, r.rid, ask->word, ask->arg,
		    ask->arg_len);
	else
		rc = proto_enc_stats(&c->wbuf, r.rid, ask->word, ask->arg,
		    ask->arg_len, (uint32_t)ask->limit);
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
chan_client_info(chan_client *c, const char *what, const void *after,
    size_t after_len, unsigned limit, void **data, size_t *len)
{
	if (c == NULL || what == NULL || data == NULL || len == NULL ||
	    (after == NULL && after_len != 0) || after_len > PROTO_CURSOR_MAX ||
	    strlen(what) > PROTO_STATS_WHAT_MAX)
		return CHAN_EINVAL;
	return info_call(c, &(struct info_ask){ what, after, after_len, limit,
	    0 }, data, len);
}

int
chan_client_admin(chan_client *c, const char *action, const void *arg,
    size_t arg_len, void **data, size_t *len)
{
	if (c == NULL || action == NULL || data == NULL || len == NULL ||
	    (arg == NULL && arg_len != 0) || arg_len > PROTO_ADMIN_ARG_MAX ||
	    strlen(action) > PROTO_ADMIN_ACTION_MAX)
		return CHAN_EINVAL;
	return info_call(c, &(struct info_ask){ action, arg, arg_len, 0, 1 },
	    data, len);
}

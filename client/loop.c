/* SPDX-License-Identifier: MIT */
/*
 * loop.c: the non-blocking API for event loops. The application polls the
 * connection's socket itself (readable always; writable while
 * chan_client_want_write) and calls chan_client_process when it is ready.
 * The socket stays a blocking descriptor: the non-blocking calls use
 * MSG_DONTWAIT, so the calls that still block (opening, closing,
 * confirmed sends) work unchanged in either mode.
 */
#include "client.h"

int
chan_client_fd(const chan_client *c)
{
	return c != NULL ? c->fd : CHAN_EINVAL;
}

int
chan_client_set_nonblock(chan_client *c, int on)
{
	if (c == NULL)
		return CHAN_EINVAL;
	conn_lock(c);
	c->nonblock = on != 0;
	/* The loop will watch the socket: the ring armed, and empty. */
	while (c->nonblock && !c->dead && rx_shm_arm(c))
		rx_shm_dispatch(c, 0);
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int
chan_client_process(chan_client *c)
{
	int rc;

	if (c == NULL)
		return CHAN_EINVAL;
	conn_lock(c);
	rc = conn_read_nb(c, CONN_PROCESS_MAX);
	if (rc == 0)
		rc = conn_write_nb(c);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int
chan_client_want_write(chan_client *c)
{
	int want;

	if (c == NULL)
		return 0;
	conn_lock(c);
	want = !c->dead && c->wbuf.len > 0;
	pthread_mutex_unlock(&c->mu);
	return want;
}

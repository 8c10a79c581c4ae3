/* SPDX-License-Identifier: MIT */
/*
 * uv_consumer.c: libchanclient inside a libuv event loop.
 *
 *	uv_consumer [--socket PATH] [--forward OUT] NAME...
 *
 * Consumes every channel NAME on one connection in non-blocking mode,
 * printing "NAME<TAB>MESSAGE" per message, and with --forward also
 * passes each message on to channel OUT with pipelined sends. It prints
 * "ready" once every receiver is open, and exits 0 once every channel is
 * disconnected and every forwarded message is confirmed.
 *
 * The loop: one uv_poll on chan_client_fd(), readable always, writable
 * while chan_client_want_write(). On either, chan_client_process() reads
 * and writes what is ready, then the receivers are drained with
 * chan_rx_try_recv(), which never waits. A forwarded send that finds the
 * window full (CHAN_EAGAIN) is kept, and no more messages are taken until
 * it has gone: backpressure from OUT reaches NAME's producers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "chanclient.h"

#define UVC_MAX		16
#define UVC_PREFETCH	16

struct uvc {
	chan_client	*c;
	uv_poll_t	 poll;
	int		 events;	/* what poll watches now */
	size_t		 n;
	const char	*names[UVC_MAX];
	chan_rx		*rxs[UVC_MAX];	/* NULL once disconnected */
	size_t		 live;
	chan_tx		*out;		/* --forward, or NULL */
	chan_msg	*held;		/* a forward that met a full window */
	int		 status;	/* exit status */
	int		 closed;	/* poll handle closing */
};

static void	uvc_on_poll(uv_poll_t *, int status, int events);

/* Stops watching: uv_run returns once the handle is closed. */
static void
uvc_stop(struct uvc *u)
{
	if (u->closed)
		return;
	u->closed = 1;
	uv_poll_stop(&u->poll);
	uv_close((uv_handle_t *)&u->poll, NULL);
}

static void
uvc_fail(struct uvc *u, const char *what, int rc)
{
	fprintf(stderr, "uv_consumer: %s: %s\n", what, chan_strerror(rc));
	u->status = 1;
	uvc_stop(u);
}

/* Forwards m (or keeps it for later): 0, 1 if held, or an error. */
static int
uvc_forward(struct uvc *u, chan_msg *m)
{
	int rc;

	rc = chan_tx_send_async(u->out, chan_msg_data(m), chan_msg_len(m));
	if (rc == CHAN_EAGAIN) {
		u->held = m;
		return 1;
	}
	chan_msg_free(m);
	return rc;
}

/* Prints and forwards one message: 0, 1 if it is held, or an error. */
static int
uvc_handle(struct uvc *u, size_t i, chan_msg *m)
{
	printf("%s\t%.*s\n", u->names[i], (int)chan_msg_len(m),
	    (const char *)chan_msg_data(m));
	if (u->out == NULL) {
		chan_msg_free(m);
		return 0;
	}
	return uvc_forward(u, m);
}

/* Takes what receiver i has: 0, 1 if a forward is held, or an error. */
static int
uvc_drain_one(struct uvc *u, size_t i)
{
	chan_msg *m;
	int rc;

	while ((rc = chan_rx_try_recv(u->rxs[i], &m)) == 0) {
		if ((rc = uvc_handle(u, i, m)) != 0)
			return rc;
	}
	if (rc == CHAN_EDISCONNECTED) {
		chan_rx_close(u->rxs[i]);
		u->rxs[i] = NULL;
		u->live--;
		return 0;
	}
	return rc == CHAN_EEMPTY ? 0 : rc;
}

static int
uvc_drain(struct uvc *u)
{
	size_t i, live;
	int rc;

	if (u->held != NULL) {
		chan_msg *m = u->held;

		u->held = NULL;
		if ((rc = uvc_forward(u, m)) != 0)
			return rc;
	}
	/*
	 * Closing a receiver waits for the daemon and takes in what arrives
	 * meanwhile, maybe for receivers this pass has already drained:
	 * after a close, look at all of them again.
	 */
	do {
		live = u->live;
		for (i = 0; i < u->n; i++) {
			if (u->rxs[i] != NULL &&
			    (rc = uvc_drain_one(u, i)) != 0)
				return rc;
		}
	} while (u->live != live);
	fflush(stdout);
	return 0;
}

/* Every channel gone and every forward confirmed: 1 when done. */
static int
uvc_finished(struct uvc *u)
{
	int rc;

	if (u->live > 0 || u->held != NULL)
		return 0;
	if (u->out == NULL)
		return 1;
	rc = chan_tx_flush(u->out);
	if (rc == CHAN_EAGAIN)
		return 0;
	if (rc != 0) {
		uvc_fail(u, "forward", rc);
		return 1;
	}
	return 1;
}

/* Watches for writable only while output waits. */
static void
uvc_rearm(struct uvc *u)
{
	int want = UV_READABLE;

	if (chan_client_want_write(u->c))
		want |= UV_WRITABLE;
	if (want != u->events) {
		u->events = want;
		uv_poll_start(&u->poll, want, uvc_on_poll);
	}
}

static void
uvc_on_poll(uv_poll_t *h, int status, int events)
{
	struct uvc *u = h->data;
	int rc;

	(void)events;
	if (status < 0) {
		uvc_fail(u, "poll", CHAN_ESYS);
		return;
	}
	if ((rc = chan_client_process(u->c)) != 0 ||
	    (rc = uvc_drain(u)) < 0) {
		uvc_fail(u, "receive", rc);
		return;
	}
	if (uvc_finished(u)) {
		uvc_stop(u);
		return;
	}
	uvc_rearm(u);
}

static int
uvc_open(struct uvc *u, const char *sock, const char *forward)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	size_t i;
	int rc;

	if ((rc = chan_connect(sock, &u->c)) != 0)
		return rc;
	o.prefetch = UVC_PREFETCH;
	for (i = 0; i < u->n; i++) {
		rc = chan_rx_open_ex(u->c, u->names[i], strlen(u->names[i]),
		    &o, &u->rxs[i]);
		if (rc != 0)
			return rc;
	}
	u->live = u->n;
	if (forward != NULL && (rc = chan_tx_open(u->c, forward, &u->out)) != 0)
		return rc;
	return chan_client_set_nonblock(u->c, 1);
}

static int
uvc_args(struct uvc *u, int argc, char *argv[], const char **sock,
    const char **forward)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			*sock = argv[++i];
		else if (strcmp(argv[i], "--forward") == 0 && i + 1 < argc)
			*forward = argv[++i];
		else if (argv[i][0] == '-' || u->n == UVC_MAX)
			return -1;
		else
			u->names[u->n++] = argv[i];
	}
	return u->n > 0 ? 0 : -1;
}

int
main(int argc, char *argv[])
{
	struct uvc u;
	const char *sock = NULL, *forward = NULL;
	int rc;

	memset(&u, 0, sizeof(u));
	if (uvc_args(&u, argc, argv, &sock, &forward) != 0) {
		fprintf(stderr, "usage: uv_consumer [--socket PATH] "
		    "[--forward OUT] NAME...\n");
		return 2;
	}
	if ((rc = uvc_open(&u, sock, forward)) != 0) {
		fprintf(stderr, "uv_consumer: open: %s (%s)\n",
		    chan_strerror(rc), chan_client_errmsg(u.c));
		chan_disconnect(u.c);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	uv_poll_init(uv_default_loop(), &u.poll, chan_client_fd(u.c));
	u.poll.data = &u;
	/* Grants the receivers' first credit, which is output to write. */
	if ((rc = uvc_drain(&u)) < 0) {
		fprintf(stderr, "uv_consumer: %s\n", chan_strerror(rc));
		return 1;
	}
	uvc_rearm(&u);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	uv_loop_close(uv_default_loop());

	if (u.out != NULL && chan_tx_close(u.out) != 0 && u.status == 0)
		u.status = 1;
	chan_disconnect(u.c);
	return u.status;
}

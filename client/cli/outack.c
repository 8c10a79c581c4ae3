/* SPDX-License-Identifier: MIT */
/*
 * outack.c: acknowledging what chan-recv wrote once its reader has it.
 * See outack.h.
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "outack.h"

struct outack_item {
	uint64_t	 end;		/* o->written after its last byte */
	chan_rx		*rx;
	chan_msg	*m;
};

void
outack_init(struct outack *o, int fd)
{
	struct stat st;

	o->fd = fd;
	o->pipe = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
	o->written = 0;
	o->items = NULL;
	o->head = o->n = o->cap = 0;
}

/* Acknowledges and frees the oldest waiting message. */
static int
outack_pop(struct outack *o)
{
	struct outack_item *it = &o->items[o->head];
	int rc;

	rc = chan_rx_ack(it->rx, it->m);
	chan_msg_free(it->m);
	o->head = (o->head + 1) % o->cap;
	o->n--;
	return rc;
}

void
outack_fini(struct outack *o)
{
	for (; o->n > 0; o->n--) {
		chan_msg_free(o->items[o->head].m);
		o->head = (o->head + 1) % o->cap;
	}
	free(o->items);
	o->items = NULL;
	o->cap = 0;
}

/* Room for one more waiting message. */
static int
outack_grow(struct outack *o)
{
	struct outack_item *v;
	size_t cap, i;

	if (o->n < o->cap)
		return 0;
	cap = o->cap == 0 ? 64 : o->cap * 2;
	if ((v = malloc(cap * sizeof(*v))) == NULL)
		return CHAN_ENOMEM;
	for (i = 0; i < o->n; i++)
		v[i] = o->items[(o->head + i) % o->cap];
	free(o->items);
	o->items = v;
	o->head = 0;
	o->cap = cap;
	return 0;
}

int
outack_written(struct outack *o, chan_rx *rx, chan_msg *m, size_t len)
{
	int rc;

	o->written += len;
	if (!o->pipe) {
		rc = chan_rx_ack(rx, m);
		chan_msg_free(m);
		return rc;
	}
	if ((rc = outack_grow(o)) != 0) {
		chan_msg_free(m);
		return rc;
	}
	o->items[(o->head + o->n) % o->cap] = (struct outack_item){
	    o->written, rx, m };
	o->n++;
	return outack_settle(o);
}

int
outack_settle(struct outack *o)
{
	uint64_t read_so_far;
	int unread, rc;

	if (o->n == 0)
		return 0;
	if (ioctl(o->fd, FIONREAD, &unread) != 0 || unread < 0)
		unread = 0;	/* nothing to go by: as written */
	read_so_far = o->written - (uint64_t)unread;
	while (o->n > 0 && o->items[o->head].end <= read_so_far) {
		if ((rc = outack_pop(o)) != 0)
			return rc;
	}
	return 0;
}

size_t
outack_waiting(const struct outack *o)
{
	return o->n;
}

int
outack_reader_gone(const struct outack *o)
{
	struct pollfd pfd = { o->fd, 0, 0 };

	return o->pipe && poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & (POLLERR | POLLHUP)) != 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * wake.c: the wake-up descriptors a client shares with the daemon, and
 * with the other producers of a channel (docs/protocol.md, "Wake-up
 * descriptors"). Each is an end of a socket pair, used with per-call
 * flags, so that nothing another holder of the same end does to it (its
 * flags, filling it) makes a send or a receive here block, and a peer
 * that went raises no SIGPIPE.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "client.h"

int
wake_send(int fd)
{
	static const uint64_t one = 1;
	ssize_t	n;

	do
		n = send(fd, &one, sizeof(one), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	/* Not a socket: an eventfd of a daemon before socket pairs. */
	if (n < 0 && errno == ENOTSOCK)
		n = write(fd, &one, sizeof(one));
	/* Full: the reader is woken already. Gone: the daemon says why. */
	if (n < 0 && errno != EAGAIN && errno != EPIPE &&
	    errno != ECONNRESET)
		return -1;
	return 0;
}

int
wake_drain(int fd)
{
	char	buf[4096];
	ssize_t	n;

	do
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == ENOTSOCK)
		n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	return n > 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * listener.h: the daemon's listening Unix socket.
 */
#ifndef CHAND_LISTENER_H
#define CHAND_LISTENER_H

struct server;

struct listener;

/*
 * Binds path with file mode mode and listens; each client goes to
 * conn_accept. A stale socket file (nothing answers on it) is replaced; a
 * live daemon's is never touched. Returns the listener, or NULL after
 * logging one line saying why.
 */
struct listener	*listener_open(struct server *, const char *path,
		    unsigned mode);
/*
 * Listens on fd, a bound socket passed by the service manager (socket
 * activation). The daemon neither sets its mode nor removes its file: the
 * service manager owns both. Returns the listener, or NULL after logging.
 */
struct listener	*listener_adopt(struct server *, int fd);
/* The socket's path, for messages. */
const char	*listener_path(const struct listener *l);
/* Nonzero if the socket came from the service manager. */
int		 listener_inherited(const struct listener *l);
/*
 * Stops listening, removes the socket file (unless inherited) and frees l
 * (asynchronously).
 * When the server is stopping, clients still waiting to be accepted are
 * first told so: ERROR(rid 0, SHUTDOWN).
 */
void		 listener_close(struct listener *l);

#endif /* CHAND_LISTENER_H */

/* SPDX-License-Identifier: MIT */
/*
 * listener.c: bind, stale-socket probe, accept. See listener.h.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "conn.h"
#include "listener.h"
#include "log.h"
#include "proto.h"
#include "server.h"

#define LISTENER_BACKLOG	128

struct listener {
	uv_pipe_t	 pipe;
	struct server	*srv;
	char		*path;
	int		 bound;		/* the socket file is ours */
	int		 inherited;	/* passed by the service manager */
};

static void
listener_close_cb(uv_handle_t *handle)
{
	struct listener	*l = handle->data;

	free(l->path);
	free(l);
}

/*
 * At shutdown, clients that connected but were not accepted yet would be
 * reset when the listener closes, without a word. Each is accepted, sent
 * ERROR(rid 0, SHUTDOWN) if its socket takes it at once, and closed. The
 * socket file is gone by now; the bound covers connectors that were
 * blocked on a full backlog and enter as it drains.
 */
static void
listener_refuse_backlog(struct listener *l)
{
	struct proto_buf	b;
	uv_os_fd_t		fd;
	int			cfd, i, n = 0;

	if (uv_fileno((uv_handle_t *)&l->pipe, &fd) != 0)
		return;
	proto_buf_init(&b);
	if (proto_enc_error(&b, 0, CHAN_ESHUTDOWN, "daemon shutting down")
	    != 0)
		goto out;
	for (i = 0; i < 4 * LISTENER_BACKLOG; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (cfd == -1)
			break;
		(void)send(cfd, b.data, b.len, MSG_NOSIGNAL);
		close(cfd);
		n++;
	}
	if (n > 0)
		log_debug("%d connection(s) not yet accepted told the daemon "
		    "is shutting down", n);
out:
	proto_buf_fini(&b);
}

void
listener_close(struct listener *l)
{
	if (l->bound && unlink(l->path) != 0 && errno != ENOENT)
		log_warning("cannot remove %s: %s", l->path, strerror(errno));
	/*
	 * An inherited socket outlives the daemon: the service manager keeps
	 * it and starts the daemon again for whoever waits in its backlog.
	 */
	if (l->srv->stopping && !l->inherited)
		listener_refuse_backlog(l);
	l->bound = 0;
	uv_close((uv_handle_t *)&l->pipe, listener_close_cb);
}

static void
listener_connection_cb(uv_stream_t *stream, int status)
{
	struct listener	*l = stream->data;

	if (status < 0) {
		log_warning("accept on %s failed: %s", l->path,
		    uv_strerror(status));
		return;
	}
	conn_accept(l->srv, stream);
}

/*
 * Something holds path: 1 if it is a socket nobody answers on (a dead
 * daemon's), 0 if a daemon answers or it is not a socket (logged), -1 on
 * error (logged).
 */
static int
listener_probe(const char *path)
{
	struct sockaddr_un	sun;
	struct stat		st;
	int			fd, rc, err;

	if (lstat(path, &st) != 0) {
		log_error("cannot examine %s: %s", path, strerror(errno));
		return (-1);
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket", path);
		return (0);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_error("socket: %s", strerror(errno));
		return (-1);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	err = errno;
	close(fd);
	if (rc == 0) {
		log_error("another daemon is already listening on %s", path);
		return (0);
	}
	if (err == ECONNREFUSED)
		return (1);
	log_error("cannot probe existing socket %s: %s", path, strerror(err));
	return (-1);
}

static int
listener_bind(struct listener *l, unsigned mode)
{
	mode_t	old;
	int	rc;

	/* The file is never reachable with a wider mode than asked for. */
	old = umask(~mode & 0777);
	rc = uv_pipe_bind(&l->pipe, l->path);
	umask(old);
	return (rc);
}

/* libuv 1.44 reports a missing directory as EACCES: say which it is. */
static void
listener_bind_error(const char *path, int rc)
{
	struct stat	 st;
	char		*dir, *slash;

	if (rc == UV_EACCES && (dir = strdup(path)) != NULL) {
		slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir) {
			*slash = '\0';
			if (stat(dir, &st) != 0 && errno == ENOENT) {
				log_error("cannot bind %s: directory %s does "
				    "not exist", path, dir);
				free(dir);
				return;
			}
		}
		free(dir);
	}
	log_error("cannot bind %s: %s", path, uv_strerror(rc));
}

static int
listener_listen(struct listener *l)
{
	int	rc;

	rc = uv_listen((uv_stream_t *)&l->pipe, LISTENER_BACKLOG,
	    listener_connection_cb);
	if (rc != 0) {
		log_error("cannot listen on %s: %s", l->path, uv_strerror(rc));
		return (-1);
	}
	return (0);
}

static int
listener_start(struct listener *l, unsigned mode)
{
	int	rc;

	rc = listener_bind(l, mode);
	if (rc == UV_EADDRINUSE) {
		if (listener_probe(l->path) != 1)
			return (-1);
		log_notice("removing stale socket %s", l->path);
		if (unlink(l->path) != 0 && errno != ENOENT) {
			log_error("cannot remove stale socket %s: %s", l->path,
			    strerror(errno));
			return (-1);
		}
		rc = listener_bind(l, mode);
	}
	if (rc != 0) {
		listener_bind_error(l->path, rc);
		return (-1);
	}
	l->bound = 1;
	if (chmod(l->path, mode) != 0) {
		log_error("cannot set mode %03o on %s: %s", mode, l->path,
		    strerror(errno));
		return (-1);
	}
	return (listener_listen(l));
}

static struct listener *
listener_new(struct server *srv, const char *path)
{
	struct listener	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->path = strdup(path)) == NULL) {
		free(l);
		log_error("out of memory");
		return (NULL);
	}
	l->srv = srv;
	uv_pipe_init(srv->loop, &l->pipe, 0);
	l->pipe.data = l;
	return (l);
}

struct listener *
listener_open(struct server *srv, const char *path, unsigned mode)
{
	struct listener	*l;
	size_t		 max = sizeof(((struct sockaddr_un *)NULL)->sun_path);

	/* libuv 1.44 would silently truncate the path: refuse it here. */
	if (strlen(path) >= max) {
		log_error("socket path %s is too long (%zu bytes, the limit "
		    "is %zu)", path, strlen(path), max - 1);
		return (NULL);
	}
	if ((l = listener_new(srv, path)) == NULL)
		return (NULL);
	if (listener_start(l, mode) != 0) {
		listener_close(l);
		return (NULL);
	}
	return (l);
}

struct listener *
listener_adopt(struct server *srv, int fd)
{
	struct sockaddr_un	 sun;
	socklen_t		 len = sizeof(sun);
	struct listener		*l;
	const char		*path = "(inherited socket)";
	int			 rc;

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0 &&
	    len > offsetof(struct sockaddr_un, sun_path) &&
	    sun.sun_path[0] != '\0') {
		sun.sun_path[sizeof(sun.sun_path) - 1] = '\0';
		path = sun.sun_path;
	}
	if ((l = listener_new(srv, path)) == NULL)
		return (NULL);
	l->inherited = 1;
	if ((rc = uv_pipe_open(&l->pipe, fd)) != 0) {
		log_error("cannot use the inherited socket %s: %s", path,
		    uv_strerror(rc));
		listener_close(l);
		return (NULL);
	}
	if (listener_listen(l) != 0) {
		listener_close(l);
		return (NULL);
	}
	return (l);
}

const char *
listener_path(const struct listener *l)
{
	return (l->path);
}

int
listener_inherited(const struct listener *l)
{
	return (l->inherited);
}

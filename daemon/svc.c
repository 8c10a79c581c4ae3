/* SPDX-License-Identifier: MIT */
/*
 * svc.c: socket activation and readiness notification. See svc.h.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "svc.h"

#define SVC_LISTEN_FDS_START	3	/* SD_LISTEN_FDS_START */

/* A listening AF_UNIX stream socket: 1, else 0 (logged). */
static int
svc_fd_usable(int fd)
{
	struct sockaddr_un	sun;
	socklen_t		len = sizeof(sun);
	int			type, listening;
	socklen_t		olen = sizeof(int);

	if (getsockname(fd, (struct sockaddr *)&sun, &len) != 0 ||
	    sun.sun_family != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) != 0 ||
	    type != SOCK_STREAM) {
		log_error("descriptor %d passed by the service manager is not "
		    "a Unix stream socket", fd);
		return (0);
	}
	olen = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	    &olen) != 0 || !listening) {
		log_error("socket %d passed by the service manager is not "
		    "listening", fd);
		return (0);
	}
	return (1);
}

#ifdef HAVE_LIBSYSTEMD

const char *
svc_backend(void)
{
	return ("libsystemd");
}

static int
svc_listen_count(void)
{
	int	n;

	if ((n = sd_listen_fds(1)) < 0) {
		log_error("socket activation: %s", strerror(-n));
		return (-1);
	}
	return (n);
}

uint64_t
svc_watchdog_usec(void)
{
	uint64_t	usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return (0);
	return (usec);
}

void
svc_notify(const char *state)
{
	int	rc;

	if ((rc = sd_notify(0, state)) < 0)
		log_debug("sd_notify %s: %s", state, strerror(-rc));
}

#else /* !HAVE_LIBSYSTEMD */

const char *
svc_backend(void)
{
	return ("built-in");
}

/* sd_listen_fds(1): the count passed to this process, env cleared. */
static int
svc_listen_count(void)
{
	const char	*pid, *fds;
	char		*end;
	long		 n = 0;
	int		 fd;

	pid = getenv("LISTEN_PID");
	fds = getenv("LISTEN_FDS");
	if (pid != NULL && fds != NULL &&
	    strtol(pid, &end, 10) == (long)getpid() && *end == '\0') {
		n = strtol(fds, &end, 10);
		if (*end != '\0' || n < 0 || n > 1024) {
			log_error("socket activation: bad LISTEN_FDS '%s'",
			    fds);
			n = -1;
		}
	}
	for (fd = SVC_LISTEN_FDS_START; fd < SVC_LISTEN_FDS_START + n; fd++)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return ((int)n);
}

/* sd_watchdog_enabled(0, &usec). */
uint64_t
svc_watchdog_usec(void)
{
	const char		*usec, *pid;
	char			*end;
	unsigned long long	 n;

	if ((usec = getenv("WATCHDOG_USEC")) == NULL)
		return (0);
	pid = getenv("WATCHDOG_PID");
	if (pid != NULL && (strtol(pid, &end, 10) != (long)getpid() ||
	    *end != '\0'))
		return (0);
	n = strtoull(usec, &end, 10);
	if (*end != '\0' || *usec < '0' || *usec > '9')
		return (0);
	return ((uint64_t)n);
}

/* sd_notify(0, state): one datagram to $NOTIFY_SOCKET. */
void
svc_notify(const char *state)
{
	struct sockaddr_un	 sun;
	const char		*path;
	socklen_t		 len;
	size_t			 plen;
	int			 fd;

	if ((path = getenv("NOTIFY_SOCKET")) == NULL || *path == '\0')
		return;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    plen >= sizeof(sun.sun_path)) {
		log_debug("NOTIFY_SOCKET '%s' is not usable", path);
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
	    (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_debug("notify socket: %s", strerror(errno));
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_debug("notify %s: %s", path, strerror(errno));
	close(fd);
}

#endif /* HAVE_LIBSYSTEMD */

int
svc_listen_fd(void)
{
	int	n;

	if ((n = svc_listen_count()) == 0)
		return (-1);
	if (n < 0)
		return (-2);
	if (n != 1) {
		log_error("socket activation passed %d descriptors; chand "
		    "listens on exactly one socket", n);
		return (-2);
	}
	if (!svc_fd_usable(SVC_LISTEN_FDS_START))
		return (-2);
	return (SVC_LISTEN_FDS_START);
}

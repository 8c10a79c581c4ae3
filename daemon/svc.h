/* SPDX-License-Identifier: MIT */
/*
 * svc.h: the daemon's side of the service manager (systemd) protocols:
 * socket activation and readiness notification.
 *
 * Built on libsystemd's sd_listen_fds(3) and sd_notify(3) when the build
 * found it (HAVE_LIBSYSTEMD), and on a small implementation of the same
 * two documented protocols otherwise, so that both builds behave alike.
 * Outside systemd (no LISTEN_FDS, no NOTIFY_SOCKET) every call is a no-op.
 */
#ifndef CHAND_SVC_H
#define CHAND_SVC_H

#include <stdint.h>

/*
 * The listening socket passed by the service manager, if LISTEN_PID is
 * this process and LISTEN_FDS is 1. Returns the descriptor (3, now
 * close-on-exec), -1 if none was passed, or -2 after logging why the
 * passed descriptors are unusable (not exactly one, or not a listening
 * Unix stream socket). Clears LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
 * so that children do not take them for theirs.
 */
int	svc_listen_fd(void);

/*
 * Sends state ("READY=1", "STOPPING=1", "RELOADING=1", "STATUS=...") to
 * $NOTIFY_SOCKET if it is set. Failures are logged at debug level only:
 * the daemon serves whether or not anyone listens.
 */
void	svc_notify(const char *state);

/*
 * The watchdog period systemd asks for (WATCHDOG_USEC, for this process
 * if WATCHDOG_PID is set), in microseconds; 0: no watchdog.
 */
uint64_t	svc_watchdog_usec(void);

/* Which implementation was built: "libsystemd" or "built-in". */
const char	*svc_backend(void);

#endif /* CHAND_SVC_H */

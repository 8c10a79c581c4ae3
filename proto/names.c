/* SPDX-License-Identifier: MIT */
/*
 * names.c: channel names, op names and the default socket path.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto.h"

static const struct {
	int		 op;
	const char	*name;
} op_names[] = {
	{ PROTO_HELLO, "HELLO" },
	{ PROTO_OPEN_TX, "OPEN_TX" },
	{ PROTO_OPEN_RX, "OPEN_RX" },
	{ PROTO_CLOSE, "CLOSE" },
	{ PROTO_SEND, "SEND" },
	{ PROTO_ACK, "ACK" },
	{ PROTO_CREDIT, "CREDIT" },
	{ PROTO_PING, "PING" },
	{ PROTO_SEND_TIMED, "SEND_TIMED" },
	{ PROTO_STATS, "STATS" },
	{ PROTO_ACKS, "ACKS" },
	{ PROTO_RECALL, "RECALL" },
	{ PROTO_SELECT, "SELECT" },
	{ PROTO_SEND_MARKED, "SEND_MARKED" },
	{ PROTO_ADMIN, "ADMIN" },
	{ PROTO_RING, "RING" },
	{ PROTO_RING_FETCH, "RING_FETCH" },
	{ PROTO_DIRECT, "DIRECT" },
	{ PROTO_WELCOME, "WELCOME" },
	{ PROTO_OK, "OK" },
	{ PROTO_HANDLE, "HANDLE" },
	{ PROTO_ERROR, "ERROR" },
	{ PROTO_INFO, "INFO" },
	{ PROTO_RING_TOKEN, "RING_TOKEN" },
	{ PROTO_DELIVER, "DELIVER" },
	{ PROTO_DISCONNECTED, "DISCONNECTED" },
	{ PROTO_RING_WAKE, "RING_WAKE" },
	{ PROTO_DIRECT_OFFER, "DIRECT_OFFER" },
	{ PROTO_DIRECT_OFF, "DIRECT_OFF" },
};

int
proto_name_valid(const void *name, size_t len)
{
	return name != NULL && len >= 1 && len <= PROTO_NAME_MAX;
}

const char *
proto_op_name(int op)
{
	size_t	i;

	for (i = 0; i < sizeof op_names / sizeof op_names[0]; i++) {
		if (op_names[i].op == op)
			return op_names[i].name;
	}
	return "?";
}

static int __attribute__((format(printf, 3, 4)))
names_put(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			buf[0] = '\0';
		return CHAN_EINVAL;
	}
	return 0;
}

int
proto_default_socket(char *buf, size_t len)
{
	const char	*s;

	/* An empty variable is treated as unset: "" is no path. */
	if ((s = getenv("CHAND_SOCKET")) != NULL && *s != '\0')
		return names_put(buf, len, "%s", s);
	if (geteuid() == 0)
		return names_put(buf, len, "/run/chand.sock");
	if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && *s != '\0')
		return names_put(buf, len, "%s/chand.sock", s);
	return names_put(buf, len, "/tmp/chand-%lu.sock",
	    (unsigned long)geteuid());
}

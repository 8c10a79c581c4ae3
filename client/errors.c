/* SPDX-License-Identifier: MIT */
/*
 * errors.c: names of error codes, and the default socket path.
 */
#include "client.h"

const char *
chan_strerror(int err)
{
	switch (err) {
	case CHAN_OK:
		return "success";
#define ERRORS_MSG(name, num, msg)					\
	case CHAN_E##name:						\
		return msg;
	CHAN_ERRNO_MAP(ERRORS_MSG)
#undef ERRORS_MSG
	default:
		return "unknown error";
	}
}

const char *
chan_errname(int err)
{
	switch (err) {
	case CHAN_OK:
		return "CHAN_OK";
#define ERRORS_NAME(name, num, msg)					\
	case CHAN_E##name:						\
		return "CHAN_E" #name;
	CHAN_ERRNO_MAP(ERRORS_NAME)
#undef ERRORS_NAME
	default:
		return "CHAN_E?";
	}
}

int
chan_default_socket(char *buf, size_t len)
{
	if (buf == NULL)
		return CHAN_EINVAL;
	return proto_default_socket(buf, len);
}

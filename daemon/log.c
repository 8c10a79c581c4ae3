/*
 * log.c: levels and formatting of the daemon's log. See log.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static enum log_level	 log_level = LOG_LEVEL_INFO;

static const char	*log_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_ERROR] = "error",
};

void
log_set_level(enum log_level level)
{
	log_level = level;
}

int
log_enabled(enum log_level level)
{
	return (level >= log_level);
}

int
log_level_parse(const char *s, enum log_level *level)
{
	size_t	i;

	for (i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*level = (enum log_level)i;
			return (0);
		}
	}
	return (-1);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char	line[2048];
	va_list	ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so that lines from one event stay whole. */
	fprintf(stderr, "chand: %s: %s\n", log_names[level], line);
}

const char *
log_escape(char *out, const void *name, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = name;
	char			*o = out;

	if (len > 255)
		len = 255;
	while (len-- > 0) {
		if (*p >= 0x20 && *p <= 0x7e && *p != '\'' && *p != '\\') {
			*o++ = (char)*p++;
			continue;
		}
		*o++ = '\\';
		*o++ = 'x';
		*o++ = hex[*p >> 4];
		*o++ = hex[*p & 0xf];
		p++;
	}
	*o = '\0';
	return (out);
}

const char *
log_peer(char *out, pid_t pid, uid_t uid)
{
	snprintf(out, LOG_PEER_MAX, "pid=%ld uid=%lu", (long)pid,
	    (unsigned long)uid);
	return (out);
}

/* SPDX-License-Identifier: MIT */
/*
 * log.c: levels and formatting of the daemon's log. See log.h.
 */
#include <sys/stat.h>
#include <sys/uio.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "log.h"

static enum log_level	 log_level = LOG_LEVEL_INFO;
static int		 log_journal;	/* stderr is the systemd journal */

/* The context of the lines logged now, for the journal's fields. */
static struct {
	int		 peer;		/* pid and uid set */
	pid_t		 pid;
	uid_t		 uid;
	int		 channel;	/* name set */
	char		 name[LOG_NAME_MAX];
} log_ctx;

/* syslog(3) priorities, which journald reads from a "<N>" line prefix. */
static const int	 log_prio[] = {
	[LOG_LEVEL_DEBUG] = 7,
	[LOG_LEVEL_INFO] = 6,
	[LOG_LEVEL_NOTICE] = 5,
	[LOG_LEVEL_WARNING] = 4,
	[LOG_LEVEL_ERROR] = 3,
};

static const char	*log_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_ERROR] = "error",
};

/*
 * systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connects to
 * stdout and stderr. The variable alone is not enough (a child of the
 * service may have redirected stderr elsewhere): the inode must match.
 */
void
log_init(void)
{
	struct stat		 st;
	const char		*v;
	unsigned long long	 dev, ino;

	log_journal = 0;
	if ((v = getenv("JOURNAL_STREAM")) == NULL ||
	    sscanf(v, "%llu:%llu", &dev, &ino) != 2)
		return;
	if (fstat(fileno(stderr), &st) != 0)
		return;
	log_journal = (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

int
log_to_journal(void)
{
	return (log_journal);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return (log_level);
}

const char *
log_level_name(enum log_level level)
{
	return (log_names[level]);
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

int
log_fields_on(void)
{
#ifdef HAVE_LIBSYSTEMD
	return (log_journal);
#else
	return (0);
#endif
}

void
log_ctx_peer(pid_t pid, uid_t uid)
{
	log_ctx.peer = 1;
	log_ctx.pid = pid;
	log_ctx.uid = uid;
}

void
log_ctx_channel(const void *name, size_t len)
{
	log_ctx.channel = 1;
	log_escape(log_ctx.name, name, len);
}

void
log_ctx_clear(void)
{
	log_ctx.peer = log_ctx.channel = 0;
}

#ifdef HAVE_LIBSYSTEMD
/* line with its context's fields, to the journal: 0, or -1 if not sent. */
static int
log_journal_send(enum log_level level, const char *line)
{
	char		 msg[2100], prio[16], pid[32], uid[32];
	char		 chan[sizeof(log_ctx.name) + 8];
	struct iovec	 iov[6];
	int		 n = 0;

	snprintf(msg, sizeof(msg), "MESSAGE=%s: %s", log_names[level], line);
	snprintf(prio, sizeof(prio), "PRIORITY=%d", log_prio[level]);
	iov[n++] = (struct iovec){ msg, strlen(msg) };
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	iov[n++] = (struct iovec){ "SYSLOG_IDENTIFIER=chand", 23 };
	if (log_ctx.peer) {
		snprintf(pid, sizeof(pid), "PEER_PID=%ld", (long)log_ctx.pid);
		snprintf(uid, sizeof(uid), "PEER_UID=%lu",
		    (unsigned long)log_ctx.uid);
		iov[n++] = (struct iovec){ pid, strlen(pid) };
		iov[n++] = (struct iovec){ uid, strlen(uid) };
	}
	if (log_ctx.channel) {
		snprintf(chan, sizeof(chan), "CHANNEL=%s", log_ctx.name);
		iov[n++] = (struct iovec){ chan, strlen(chan) };
	}
	return (sd_journal_sendv(iov, n) < 0 ? -1 : 0);
}
#endif

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
#ifdef HAVE_LIBSYSTEMD
	/* With fields, straight to the journal; on failure, as usual. */
	if (log_journal && (log_ctx.peer || log_ctx.channel) &&
	    log_journal_send(level, line) == 0)
		return;
#endif
	/*
	 * One fprintf per line so that lines from one event stay whole. The
	 * journal records the program and the priority itself.
	 */
	if (log_journal)
		fprintf(stderr, "<%d>%s: %s\n", log_prio[level],
		    log_names[level], line);
	else
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

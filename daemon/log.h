/* SPDX-License-Identifier: MIT */
/*
 * log.h: one line per event on stderr, "chand: <level>: message".
 *
 * When stderr is the systemd journal (log_init), each line starts with a
 * syslog priority instead, "<6>info: message", so that journald records
 * the level. Lines carry no terminal escapes: they go to files and the
 * journal as they are.
 */
#ifndef CHAND_LOG_H
#define CHAND_LOG_H

#include <stddef.h>
#include <sys/types.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_ERROR,
};

/* Longest escaped channel name, NUL included (every byte as \xNN). */
#define LOG_NAME_MAX	(255 * 4 + 1)
/* Longest "pid=N uid=N" string, NUL included. */
#define LOG_PEER_MAX	48

/* Looks whether stderr is the journal (JOURNAL_STREAM); call at start. */
void	log_init(void);
/* Nonzero if log_init found that stderr is the journal. */
int	log_to_journal(void);
/* Messages less severe than level are dropped from now on. */
void	log_set_level(enum log_level level);
/* The level set last. */
enum log_level	log_get_level(void);
/* Nonzero if a message at level would be written. */
int	log_enabled(enum log_level level);
/* "debug", "info", ... */
const char	*log_level_name(enum log_level level);
/* Parses "debug", "info", ...: 0 with *level set, or -1. */
int	log_level_parse(const char *, enum log_level *level);

/* One line "chand: <level>: <fmt...>" on stderr, cut at 2047 bytes. */
void	log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_debug(...)		log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)		log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_notice(...)		log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_warning(...)	log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...)		log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

/*
 * Structured journal fields. When the daemon is built with libsystemd
 * and stderr is the journal, a line logged while a context is set goes to
 * the journal directly (sd_journal_send) with the fields PEER_PID= and
 * PEER_UID= (log_ctx_peer) and CHANNEL= (log_ctx_channel, the name
 * escaped as by log_escape); other lines, and every line otherwise, are
 * written as usual. log_ctx_clear ends the context.
 */
/* Nonzero if lines may carry journal fields: set a context only then. */
int	log_fields_on(void);
void	log_ctx_peer(pid_t pid, uid_t uid);
void	log_ctx_channel(const void *name, size_t len);
void	log_ctx_clear(void);

/*
 * Writes len bytes of name to out (size LOG_NAME_MAX) as printable ASCII:
 * bytes outside 0x20-0x7e, the quote and the backslash become \xNN.
 * Returns out.
 */
const char	*log_escape(char *out, const void *name, size_t len);
/* Writes "pid=N uid=N" to out (size LOG_PEER_MAX) and returns out. */
const char	*log_peer(char *out, pid_t pid, uid_t uid);

#endif /* CHAND_LOG_H */

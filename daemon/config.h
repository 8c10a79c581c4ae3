/* SPDX-License-Identifier: MIT */
/*
 * config.h: the daemon's settings, one table entry per option (name, range,
 * default, parser, help text), kept apart from the command line so that a
 * config file or a reload can set options by name the same way.
 */
#ifndef CHAND_CONFIG_H
#define CHAND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CONFIG_ERR_MAX	256

/* --sync: when the OK to a send to a durable channel goes out. */
enum config_sync {
	CONFIG_SYNC_ALWAYS = 0,	/* once the record is fdatasync'ed */
	CONFIG_SYNC_PERIODIC,	/* once written; fdatasync every interval */
	CONFIG_SYNC_OS,		/* once written; the kernel writes back */
};

struct config {
	char		*socket;	/* malloc'd; NULL until set */
	unsigned	 socket_mode;
	int		 socket_mode_set;
	uint64_t	 max_msg_size;
	uint64_t	 max_connections;
	uint64_t	 max_handles;
	uint64_t	 max_queued_bytes;
	uint64_t	 max_queued_msgs;
	uint64_t	 default_capacity;	/* UINT64_MAX: unbounded */
	uint64_t	 default_capacity_bytes; /* UINT64_MAX: unbounded */
	uint64_t	 handshake_timeout;	/* seconds */
	uint64_t	 max_channels;
	uint64_t	 idle_timeout;		/* seconds; 0: none */
	uint64_t	 spin_us;		/* rings: spin before sleeping */
	uint64_t	 remember_for;		/* seconds; 0: none */
	uint64_t	 remember_max;		/* names */
	enum log_level	 log_level;
	int		 ready_fd;		/* -1: none */
	char		*config_path;	/* --config; malloc'd, NULL: none */
	char		*access_file;	/* malloc'd, NULL: no rules */
	/* Durable channels (docs/durability.md). */
	char		*data_dir;	/* malloc'd, NULL: none */
	char		*durable;	/* patterns, malloc'd; NULL: none */
	enum config_sync sync;
	uint64_t	 sync_interval;	/* milliseconds */
	uint64_t	 segment_size;	/* bytes */
};

/* Option i's name as given to config_set ("max-msg-size"), NULL past the
   last: the command line is built from the table. */
const char	*config_name(size_t i);

/* Option i's value as usage shows it ("BYTES"), NULL past the last. */
const char	*config_arg(size_t i);
/*
 * Writes option i's --help text to buf: what it sets, then its default
 * and, for numbers, its range ("... (default: 1M; range 1 to 64M)").
 * Returns what snprintf returns, or -1 past the last option.
 */
int	config_describe(size_t i, char *buf, size_t len);

/*
 * Option i's value in c as text, as the command line would give it
 * ("1M", "unbounded", "none"). 0, or -1 past the last option.
 */
int	config_value_text(const struct config *c, size_t i, char *buf,
	    size_t len);

/* Fills c with every option's default. 0, or -1 with err set. */
int	config_init(struct config *c, char *err, size_t errlen);
/* Frees what c owns (the socket path); c may be passed to it again. */
void	config_fini(struct config *c);
/*
 * Sets option name ("max-msg-size") from its text value. Returns 0, or -1
 * with a message in err ("--max-msg-size: 0 is below the minimum of 1").
 */
int	config_set(struct config *c, const char *name, const char *value,
	    char *err, size_t errlen);
/*
 * Fills in what depends on other options (the default socket path and
 * mode). 0, or -1 with err set.
 */
int	config_finish(struct config *c, char *err, size_t errlen);

/* "always", "periodic" or "os". */
const char	*config_sync_name(enum config_sync);
/*
 * Whether the --durable patterns of c name the channel of len bytes: a
 * pattern is a whole name, a prefix ending in '*', or '*' alone.
 */
bool	config_durable_match(const struct config *c, const void *name,
	    size_t len);

/*
 * Config file: one "name = value" per line, name an option's long name
 * without the dashes; blank lines and lines whose first non-blank is '#'
 * are ignored; spaces around name and value do not count.
 *
 * config_load sets every option the file at path names. Returns 0, or -1
 * with err saying where and why ("/etc/chand.conf:3: unknown option
 * 'max-handle'"); c may then be partly set.
 */
int	config_load(struct config *c, const char *path, char *err,
	    size_t errlen);
/*
 * config_load that goes on after an error: calls report with each
 * problem ("/etc/chand.conf:3: unknown option 'max-handle'") and returns
 * how many there were (an unreadable file is one).
 */
int	config_check_file(struct config *c, const char *path,
	    void (*report)(void *, const char *), void *arg);
/*
 * Reload: compares next (a complete configuration, read again) with cur,
 * option by option. An option that can change while the daemon runs
 * (limits, log level, defaults for new channels) is copied into cur; one
 * that cannot (the socket, its mode, the message size limit) is left as
 * it is. Each difference is logged, saying which of the two it was.
 * Returns the number of options changed in cur.
 */
int	config_reload(struct config *cur, const struct config *next);

#endif /* CHAND_CONFIG_H */

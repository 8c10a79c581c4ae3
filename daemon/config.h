/*
 * config.h: the daemon's settings, one table entry per option (name, range,
 * default, parser, help text), kept apart from the command line so that a
 * config file or a reload can set options by name the same way.
 */
#ifndef CHAND_CONFIG_H
#define CHAND_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CONFIG_ERR_MAX	256

struct config {
	char		*socket;	/* malloc'd; NULL until set */
	unsigned	 socket_mode;
	int		 socket_mode_set;
	uint64_t	 max_msg_size;
	uint64_t	 max_connections;
	uint64_t	 max_handles;
	uint64_t	 max_queued_bytes;
	uint64_t	 max_queued_msgs;
	uint64_t	 handshake_timeout;	/* seconds */
	enum log_level	 log_level;
	int		 ready_fd;		/* -1: none */
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

#endif /* CHAND_CONFIG_H */

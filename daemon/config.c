/* SPDX-License-Identifier: MIT */
/*
 * config.c: option table and parsers. See config.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "proto.h"

struct config_option;

typedef int	(*config_parse_fn)(const struct config_option *, struct config *,
		    const char *, char *, size_t);

struct config_option {
	const char	*name;
	uint64_t	 min;
	uint64_t	 max;
	const char	*dflt;		/* NULL: computed by config_finish */
	config_parse_fn	 parse;
	size_t		 offset;	/* of a uint64_t field, for numbers */
	const char	*arg;		/* its value in usage: "BYTES" */
	const char	*help;		/* what it sets, for --help */
	const char	*dflt_doc;	/* default for --help; NULL: dflt */
};

static int	config_parse_path(const struct config_option *, struct config *,
		    const char *, char *, size_t);
static int	config_parse_access(const struct config_option *,
		    struct config *, const char *, char *, size_t);
static int	config_parse_mode(const struct config_option *, struct config *,
		    const char *, char *, size_t);
static int	config_parse_uint(const struct config_option *, struct config *,
		    const char *, char *, size_t);
static int	config_parse_bytes(const struct config_option *,
		    struct config *, const char *, char *, size_t);
static int	config_parse_level(const struct config_option *,
		    struct config *, const char *, char *, size_t);
static int	config_parse_fd(const struct config_option *, struct config *,
		    const char *, char *, size_t);
static int	config_parse_cap(const struct config_option *, struct config *,
		    const char *, char *, size_t);
static int	config_parse_cap_bytes(const struct config_option *,
		    struct config *, const char *, char *, size_t);
static int	config_parse_config(const struct config_option *,
		    struct config *, const char *, char *, size_t);
static int	config_parse_data_dir(const struct config_option *,
		    struct config *, const char *, char *, size_t);
static int	config_parse_durable(const struct config_option *,
		    struct config *, const char *, char *, size_t);
static int	config_parse_sync(const struct config_option *,
		    struct config *, const char *, char *, size_t);

#define MIB	(UINT64_C(1) << 20)
#define OFF(f)	offsetof(struct config, f)

/*
 * One entry per option: the command line, --help and the defaults all come
 * from here, so a new option documents itself. config_describe adds the
 * default and, for numbers, the range to the help text.
 */
static const struct config_option config_table[] = {
	{ "socket", 0, 0, NULL, config_parse_path, 0, "PATH",
	    "Unix socket to listen on; a stale socket file is replaced, a "
	    "live daemon's never",
	    "$CHAND_SOCKET, else /run/chand.sock for root, else "
	    "$XDG_RUNTIME_DIR/chand.sock, else /tmp/chand-$UID.sock" },
	{ "socket-mode", 0, 0777, NULL, config_parse_mode, 0, "MODE",
	    "file mode of the socket, in octal",
	    "0660 for root with a socket under /run/, else 0600" },
	{ "max-msg-size", 1, 64 * MIB, "1048576", config_parse_bytes,
	    OFF(max_msg_size), "BYTES",
	    "largest message payload accepted, in bytes; a K, M or G suffix "
	    "multiplies by 1024, 1024^2 or 1024^3", NULL },
	{ "max-connections", 1, 1000000, "1024", config_parse_uint,
	    OFF(max_connections), "N",
	    "client connections at once; one more is refused with a LIMIT "
	    "error", NULL },
	{ "max-handles", 1, UINT32_MAX, "1024", config_parse_uint,
	    OFF(max_handles), "N",
	    "channel ends (senders and receivers) open on one connection",
	    NULL },
	{ "max-queued-bytes", 1, UINT64_C(1) << 50, "1073741824",
	    config_parse_bytes, OFF(max_queued_bytes), "BYTES",
	    "payload bytes queued or in flight in all channels together, "
	    "suffixes as for --max-msg-size; a send over it fails with "
	    "LIMIT",
	    NULL },
	{ "max-queued-messages", 1, UINT64_C(1) << 40, "16777216",
	    config_parse_uint, OFF(max_queued_msgs), "N",
	    "messages queued or in flight in all channels together; a send "
	    "over it fails with LIMIT", NULL },
	{ "default-capacity", 0, UINT32_MAX, "65536", config_parse_cap,
	    OFF(default_capacity), "N|unbounded",
	    "messages a channel queues unless its first open says otherwise; "
	    "a send to a full channel waits, 0 makes channels rendezvous",
	    NULL },
	{ "default-capacity-bytes", 1, UINT64_C(1) << 63, "64M",
	    config_parse_cap_bytes, OFF(default_capacity_bytes),
	    "BYTES|unbounded",
	    "payload bytes a channel queues unless its first open says "
	    "otherwise, suffixes as for --max-msg-size; a message larger "
	    "than this still goes through an empty queue, alone", NULL },
	{ "handshake-timeout", 1, 86400, "10", config_parse_uint,
	    OFF(handshake_timeout), "SECONDS",
	    "seconds a new connection has to send its HELLO before it is "
	    "closed", NULL },
	{ "log-level", 0, 0, "info", config_parse_level, 0, "LEVEL",
	    "least severe messages logged to standard error: debug, info, "
	    "notice, warning or error", NULL },
	{ "ready-fd", 0, INT_MAX, NULL, config_parse_fd, 0, "FD",
	    "once the socket accepts connections, write the line READY to "
	    "descriptor FD and close it", "none" },
	/* Config file (see config_load); the command line overrides it. */
	{ "config", 0, 0, NULL, config_parse_config, 0, "PATH",
	    "read options from PATH first, one 'name = value' per line, "
	    "name an option's long name without dashes, '#' starting a "
	    "comment line; options on the command line override the file; "
	    "SIGHUP reads it again", "none" },
	/* Access control and limits (docs/security.md). */
	{ "access-file", 0, 0, NULL, config_parse_access, 0, "PATH",
	    "access rules: which users and groups may send, receive, "
	    "create or administer which channels, one 'allow WHO RIGHTS "
	    "CHANNEL' per line, and 'limit WHO KEY VALUE ...' lines bounding "
	    "what each uid uses; with rules, root and the daemon's user may "
	    "do everything, others only what a rule allows, within a 16th "
	    "of each daemon-wide limit kept for administrators; SIGHUP reads "
	    "it again",
	    "none: everyone who can open the socket may do everything" },
	{ "max-channels", 1, UINT64_C(1) << 32, "65536", config_parse_uint,
	    OFF(max_channels), "N",
	    "channels at once (open or holding messages); an open that "
	    "would create one more fails with LIMIT", NULL },
	{ "remember-for", 0, 86400, "10", config_parse_uint,
	    OFF(remember_for), "SECONDS",
	    "seconds a channel that ended disconnected (its producers gone, "
	    "nothing queued) is remembered after it is forgotten, so that "
	    "a consumer opening it then finds it disconnected; 0: not at "
	    "all", NULL },
	{ "remember-max", 0, 1000000, "4096", config_parse_uint,
	    OFF(remember_max), "N",
	    "channels remembered so at most, the oldest forgotten first",
	    NULL },
	{ "idle-timeout", 0, 86400, "0", config_parse_uint,
	    OFF(idle_timeout), "SECONDS",
	    "close a connection that sends nothing for this long while it "
	    "has no channel open or has sent only part of a frame, with a "
	    "LIMIT error; 0: never", NULL },
	{ "spin-us", 0, 1000000, "0", config_parse_uint, OFF(spin_us),
	    "MICROSECONDS",
	    "after a channel's shared-memory rings run dry, keep reading "
	    "them for this long before sleeping, serving other clients "
	    "meanwhile: a record is then taken within a turn of the event "
	    "loop instead of after a wake-up, and the producer "
	    "makes no system call; costs one CPU busy while any channel "
	    "spins; 0: sleep at once", NULL },
	/* Durable channels (docs/durability.md). */
	{ "data-dir", 0, 0, NULL, config_parse_data_dir, 0, "PATH",
	    "directory where durable channels keep their logs, created if "
	    "missing; without it a durable channel is refused with DISK; "
	    "read at startup, when messages of durable channels come back",
	    "none" },
	{ "durable", 0, 0, NULL, config_parse_durable, 0, "PATTERNS",
	    "space-separated channel names, prefixes ending in * or * "
	    "alone: channels they name are durable when created without a "
	    "durable option", "none" },
	{ "sync", 0, 0, "always", config_parse_sync, 0,
	    "always|periodic|os",
	    "when a send to a durable channel is confirmed: always once its "
	    "record is on disk (fdatasync; survives a power loss), periodic "
	    "once written, with an fdatasync every --sync-interval, os once "
	    "written, the kernel writing back when it wants; each survives "
	    "a crash of the daemon", NULL },
	{ "sync-interval", 1, 60000, "1000", config_parse_uint,
	    OFF(sync_interval), "MS",
	    "milliseconds between the fdatasyncs of --sync periodic", NULL },
	{ "segment-size", 64 * 1024, 1024 * MIB, "16M", config_parse_bytes,
	    OFF(segment_size), "BYTES",
	    "size after which a durable channel's log goes on in a new file, "
	    "suffixes as for --max-msg-size; fully acknowledged files are "
	    "removed", NULL },
};

#define CONFIG_NOPTS	(sizeof(config_table) / sizeof(config_table[0]))

const char *
config_name(size_t i)
{
	return (i < CONFIG_NOPTS ? config_table[i].name : NULL);
}

static int
config_error(char *err, size_t errlen, const struct config_option *o,
    const char *fmt, const char *value)
{
	int	n;

	n = snprintf(err, errlen, "--%s: ", o->name);
	if (n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, fmt, value);
	return (-1);
}

/* Replaces *dst with a copy of the path v, which must not be empty. */
static int
config_set_path(const struct config_option *o, char **dst, const char *v,
    char *err, size_t errlen)
{
	char	*copy;

	if (*v == '\0')
		return (config_error(err, errlen, o, "empty path%s", ""));
	if ((copy = strdup(v)) == NULL)
		return (config_error(err, errlen, o, "out of memory%s", ""));
	free(*dst);
	*dst = copy;
	return (0);
}

static int
config_parse_path(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	return (config_set_path(o, &c->socket, v, err, errlen));
}

/* Parses an unsigned decimal (or octal if base is 8) number, whole. */
static int
config_number(const char *v, int base, uint64_t *out, char **end)
{
	unsigned long long	n;

	if (*v < '0' || *v > '9')
		return (-1);
	errno = 0;
	n = strtoull(v, end, base);
	if (errno != 0)
		return (-1);
	*out = n;
	return (0);
}

static int
config_range(const struct config_option *o, uint64_t n, const char *v,
    char *err, size_t errlen)
{
	char	fmt[128];

	if (n >= o->min && n <= o->max)
		return (0);
	snprintf(fmt, sizeof(fmt), "%%s is out of range (%" PRIu64 " to %"
	    PRIu64 ")", o->min, o->max);
	return (config_error(err, errlen, o, fmt, v));
}

static int
config_parse_mode(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	uint64_t	 n;
	char		*end;

	if (config_number(v, 8, &n, &end) != 0 || *end != '\0')
		return (config_error(err, errlen, o,
		    "'%s' is not an octal mode", v));
	if (config_range(o, n, v, err, errlen) != 0)
		return (-1);
	c->socket_mode = (unsigned)n;
	c->socket_mode_set = 1;
	return (0);
}

static int
config_parse_uint(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	uint64_t	 n;
	char		*end;

	if (config_number(v, 10, &n, &end) != 0 || *end != '\0')
		return (config_error(err, errlen, o,
		    "'%s' is not a number", v));
	if (config_range(o, n, v, err, errlen) != 0)
		return (-1);
	*(uint64_t *)((char *)c + o->offset) = n;
	return (0);
}

/* A number of bytes, with an optional K, M or G (binary) suffix. */
static int
config_parse_bytes(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	uint64_t	 n, mult = 1;
	char		*end;

	if (config_number(v, 10, &n, &end) != 0)
		return (config_error(err, errlen, o,
		    "'%s' is not a size in bytes", v));
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		mult = 1024;
		break;
	case 'm': case 'M':
		mult = MIB;
		break;
	case 'g': case 'G':
		mult = 1024 * MIB;
		break;
	default:
		return (config_error(err, errlen, o,
		    "'%s' is not a size in bytes", v));
	}
	if (*end != '\0' && end[1] != '\0')
		return (config_error(err, errlen, o,
		    "'%s' is not a size in bytes", v));
	if (n > UINT64_MAX / mult)
		return (config_error(err, errlen, o, "%s is too large", v));
	n *= mult;
	if (config_range(o, n, v, err, errlen) != 0)
		return (-1);
	*(uint64_t *)((char *)c + o->offset) = n;
	return (0);
}

static int
config_parse_level(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	if (log_level_parse(v, &c->log_level) != 0)
		return (config_error(err, errlen, o, "'%s' is not one of "
		    "debug, info, notice, warning, error", v));
	return (0);
}

static int
config_parse_fd(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	uint64_t	 n;
	char		*end;

	if (config_number(v, 10, &n, &end) != 0 || *end != '\0')
		return (config_error(err, errlen, o,
		    "'%s' is not a file descriptor", v));
	if (config_range(o, n, v, err, errlen) != 0)
		return (-1);
	c->ready_fd = (int)n;
	return (0);
}

static int
config_parse_config(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	return (config_set_path(o, &c->config_path, v, err, errlen));
}

/* "unbounded", or a number as the plain parser reads it. */
static int
config_parse_cap(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "unbounded") == 0) {
		*(uint64_t *)((char *)c + o->offset) = UINT64_MAX;
		return (0);
	}
	return (config_parse_uint(o, c, v, err, errlen));
}

static int
config_parse_cap_bytes(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "unbounded") == 0) {
		*(uint64_t *)((char *)c + o->offset) = UINT64_MAX;
		return (0);
	}
	return (config_parse_bytes(o, c, v, err, errlen));
}

static int
config_parse_access(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	return (config_set_path(o, &c->access_file, v, err, errlen));
}

static int
config_parse_data_dir(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	return (config_set_path(o, &c->data_dir, v, err, errlen));
}

/* The next space-separated word of *s, of *len bytes; NULL at the end. */
static const char *
config_word(const char **s, size_t *len)
{
	const char	*w;

	w = *s + strspn(*s, " \t");
	if (*w == '\0')
		return (NULL);
	*len = strcspn(w, " \t");
	*s = w + *len;
	return (w);
}

static int
config_parse_durable(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	const char	*s = v, *w;
	char		*copy;
	size_t		 len, n = 0;

	while ((w = config_word(&s, &len)) != NULL) {
		if (len - (w[len - 1] == '*') > PROTO_NAME_MAX)
			return (config_error(err, errlen, o, "pattern longer "
			    "than a channel name in '%s'", v));
		n++;
	}
	/* "none" (or nothing) names no channel: the default. */
	if (n == 0 || strcmp(v, "none") == 0) {
		free(c->durable);
		c->durable = NULL;
		return (0);
	}
	if ((copy = strdup(v)) == NULL)
		return (config_error(err, errlen, o, "out of memory%s", ""));
	free(c->durable);
	c->durable = copy;
	return (0);
}

static const char *const config_sync_names[] = {
	[CONFIG_SYNC_ALWAYS] = "always",
	[CONFIG_SYNC_PERIODIC] = "periodic",
	[CONFIG_SYNC_OS] = "os",
};

const char *
config_sync_name(enum config_sync s)
{
	if ((size_t)s >= sizeof(config_sync_names) /
	    sizeof(config_sync_names[0]))
		return ("?");
	return (config_sync_names[s]);
}

static int
config_parse_sync(const struct config_option *o, struct config *c,
    const char *v, char *err, size_t errlen)
{
	size_t	i;

	for (i = 0; i < sizeof(config_sync_names) /
	    sizeof(config_sync_names[0]); i++) {
		if (strcmp(v, config_sync_names[i]) == 0) {
			c->sync = (enum config_sync)i;
			return (0);
		}
	}
	return (config_error(err, errlen, o, "'%s' is not one of always, "
	    "periodic, os", v));
}

bool
config_durable_match(const struct config *c, const void *name, size_t len)
{
	const char	*s = c->durable, *w;
	size_t		 wlen;

	if (s == NULL)
		return (false);
	while ((w = config_word(&s, &wlen)) != NULL) {
		if (w[wlen - 1] == '*') {
			if (len >= wlen - 1 && memcmp(name, w, wlen - 1) == 0)
				return (true);
		} else if (len == wlen && memcmp(name, w, len) == 0)
			return (true);
	}
	return (false);
}

static const struct config_option *
config_find(const char *name)
{
	size_t	i;

	for (i = 0; i < CONFIG_NOPTS; i++) {
		if (strcmp(config_table[i].name, name) == 0)
			return (&config_table[i]);
	}
	return (NULL);
}

int
config_set(struct config *c, const char *name, const char *value, char *err,
    size_t errlen)
{
	const struct config_option	*o;

	if ((o = config_find(name)) == NULL) {
		snprintf(err, errlen, "unknown option '%s'", name);
		return (-1);
	}
	return (o->parse(o, c, value, err, errlen));
}

const char *
config_arg(size_t i)
{
	return (i < CONFIG_NOPTS ? config_table[i].arg : NULL);
}

static bool
config_is_number(const struct config_option *o)
{
	return (o->parse == config_parse_uint ||
	    o->parse == config_parse_bytes || o->parse == config_parse_mode ||
	    o->parse == config_parse_cap || o->parse == config_parse_cap_bytes);
}

/* n as o's parser reads it: octal, or bytes with the largest suffix. */
static void
config_format(const struct config_option *o, uint64_t n, char *buf,
    size_t len)
{
	static const char	 suffix[] = "GMK";
	uint64_t		 unit = 1024 * MIB;
	size_t			 i;

	if (o->parse == config_parse_mode) {
		snprintf(buf, len, "%#" PRIo64, n);
		return;
	}
	if ((o->parse == config_parse_cap ||
	    o->parse == config_parse_cap_bytes) && n == UINT64_MAX) {
		snprintf(buf, len, "unbounded");
		return;
	}
	for (i = 0; (o->parse == config_parse_bytes ||
	    o->parse == config_parse_cap_bytes) && n != 0 && i < 3; i++) {
		if (n % unit == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", n / unit,
			    suffix[i]);
			return;
		}
		unit /= 1024;
	}
	snprintf(buf, len, "%" PRIu64, n);
}

/* The default as --help shows it: 1048576 bytes becomes 1M. */
static void
config_format_default(const struct config_option *o, char *buf, size_t len)
{
	uint64_t	 n;
	char		*end;

	if (o->dflt_doc != NULL)
		snprintf(buf, len, "%s", o->dflt_doc);
	else if (config_is_number(o) && config_number(o->dflt, 10, &n,
	    &end) == 0 && *end == '\0')
		config_format(o, n, buf, len);
	else
		snprintf(buf, len, "%s", o->dflt);
}

int
config_describe(size_t i, char *buf, size_t len)
{
	const struct config_option	*o;
	char				 dflt[256], min[32], max[32];

	if (i >= CONFIG_NOPTS)
		return (-1);
	o = &config_table[i];
	config_format_default(o, dflt, sizeof(dflt));
	if (!config_is_number(o))
		return (snprintf(buf, len, "%s (default: %s)", o->help, dflt));
	config_format(o, o->min, min, sizeof(min));
	config_format(o, o->max, max, sizeof(max));
	return (snprintf(buf, len, "%s (default: %s; range %s to %s)",
	    o->help, dflt, min, max));
}

int
config_init(struct config *c, char *err, size_t errlen)
{
	size_t	i;

	memset(c, 0, sizeof(*c));
	c->ready_fd = -1;
	for (i = 0; i < CONFIG_NOPTS; i++) {
		if (config_table[i].dflt == NULL)
			continue;
		if (config_table[i].parse(&config_table[i], c,
		    config_table[i].dflt, err, errlen) != 0)
			return (-1);
	}
	return (0);
}

void
config_fini(struct config *c)
{
	free(c->socket);
	c->socket = NULL;
	free(c->config_path);
	c->config_path = NULL;
	free(c->access_file);
	c->access_file = NULL;
	free(c->data_dir);
	c->data_dir = NULL;
	free(c->durable);
	c->durable = NULL;
}

int
config_finish(struct config *c, char *err, size_t errlen)
{
	char	path[PATH_MAX];

	if (c->socket == NULL) {
		if (proto_default_socket(path, sizeof(path)) != 0) {
			snprintf(err, errlen, "default socket path too long");
			return (-1);
		}
		if ((c->socket = strdup(path)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return (-1);
		}
	}
	if (!c->socket_mode_set) {
		/* A system daemon serves a group; a user's daemon only them. */
		if (geteuid() == 0 && strncmp(c->socket, "/run/", 5) == 0)
			c->socket_mode = 0660;
		else
			c->socket_mode = 0600;
	}
	return (0);
}

/*
 * Config file and reload.
 */

#define CONFIG_LINE_MAX	4096

/* Options a reload leaves alone: they name this run, not a setting. */
static const char *const config_not_reloaded[] = { "config", "ready-fd" };
/* Options that only a restart can change (the socket, the decoder). */
static const char *const config_restart_only[] = {
	"socket", "socket-mode", "max-msg-size", "data-dir",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static bool
config_listed(const char *name, const char *const *list, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i], name) == 0)
			return (true);
	}
	return (false);
}

static char *
config_trim(char *s)
{
	char	*e;

	s += strspn(s, " \t");
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]) != NULL)
		*--e = '\0';
	return (s);
}

/* One line of a config file; msg gets the error. */
static int
config_line(struct config *c, char *line, char *msg, size_t msglen)
{
	char	*eq, *name, *value;

	line = config_trim(line);
	if (*line == '\0' || *line == '#')
		return (0);
	if ((eq = strchr(line, '=')) == NULL) {
		snprintf(msg, msglen, "expected 'name = value'");
		return (-1);
	}
	*eq = '\0';
	name = config_trim(line);
	value = config_trim(eq + 1);
	if (*name == '\0') {
		snprintf(msg, msglen, "no option name before '='");
		return (-1);
	}
	if (strcmp(name, "config") == 0) {
		snprintf(msg, msglen, "'config' cannot be set in a config "
		    "file");
		return (-1);
	}
	if (*value == '\0') {
		snprintf(msg, msglen, "no value for '%s'", name);
		return (-1);
	}
	return (config_set(c, name, value, msg, msglen));
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE		*f;
	char		 line[CONFIG_LINE_MAX + 2], msg[CONFIG_ERR_MAX];
	unsigned	 lineno = 0;
	int		 rc = 0;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "cannot read config file %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(msg, sizeof(msg), "line longer than %d bytes",
			    CONFIG_LINE_MAX);
			rc = -1;
		} else
			rc = config_line(c, line, msg, sizeof(msg));
		if (rc != 0)
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "cannot read config file %s: %s", path,
		    strerror(errno));
		rc = -1;
	}
	fclose(f);
	return (rc);
}

int
config_check_file(struct config *c, const char *path,
    void (*report)(void *, const char *), void *arg)
{
	FILE		*f;
	char		 line[CONFIG_LINE_MAX + 2], msg[CONFIG_ERR_MAX];
	char		 err[CONFIG_ERR_MAX + PATH_MAX + 32];
	unsigned	 lineno = 0;
	int		 n = 0, c2;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, sizeof(err), "cannot read config file %s: %s",
		    path, strerror(errno));
		report(arg, err);
		return (1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(msg, sizeof(msg), "line longer than %d bytes",
			    CONFIG_LINE_MAX);
			/* The rest of the long line is not another line. */
			while ((c2 = getc(f)) != EOF && c2 != '\n')
				;
		} else if (config_line(c, line, msg, sizeof(msg)) == 0)
			continue;
		snprintf(err, sizeof(err), "%s:%u: %s", path, lineno, msg);
		report(arg, err);
		n++;
	}
	if (ferror(f)) {
		snprintf(err, sizeof(err), "cannot read config file %s: %s",
		    path, strerror(errno));
		report(arg, err);
		n++;
	}
	fclose(f);
	return (n);
}

/*
 * Option o's value in c as text, -1 if this code cannot tell: numbers
 * held at an offset are read generically, the others one by one. An
 * option added with a field of its own needs a case here to be reloaded.
 */
static int
config_value(const struct config_option *o, const struct config *c,
    char *buf, size_t len)
{
	if (o->offset != 0) {
		config_format(o, *(const uint64_t *)((const char *)c +
		    o->offset), buf, len);
		return (0);
	}
	if (strcmp(o->name, "socket") == 0)
		snprintf(buf, len, "%s", c->socket != NULL ? c->socket : "");
	else if (strcmp(o->name, "socket-mode") == 0)
		config_format(o, c->socket_mode, buf, len);
	else if (strcmp(o->name, "log-level") == 0)
		snprintf(buf, len, "%s", log_level_name(c->log_level));
	else if (strcmp(o->name, "access-file") == 0)
		snprintf(buf, len, "%s", c->access_file != NULL ?
		    c->access_file : "none");
	else if (strcmp(o->name, "data-dir") == 0)
		snprintf(buf, len, "%s", c->data_dir != NULL ?
		    c->data_dir : "none");
	else if (strcmp(o->name, "durable") == 0)
		snprintf(buf, len, "%s", c->durable != NULL ?
		    c->durable : "none");
	else if (strcmp(o->name, "sync") == 0)
		snprintf(buf, len, "%s", config_sync_name(c->sync));
	else
		return (-1);
	return (0);
}

int
config_value_text(const struct config *c, size_t i, char *buf, size_t len)
{
	const struct config_option	*o;

	if (i >= CONFIG_NOPTS)
		return (-1);
	o = &config_table[i];
	if (strcmp(o->name, "config") == 0)
		snprintf(buf, len, "%s", c->config_path != NULL ?
		    c->config_path : "none");
	else if (strcmp(o->name, "ready-fd") == 0) {
		if (c->ready_fd < 0)
			snprintf(buf, len, "none");
		else
			snprintf(buf, len, "%d", c->ready_fd);
	} else
		return (config_value(o, c, buf, len));
	return (0);
}

/* Replaces *dst by a copy of src; out of memory, leaves it. */
static void
config_copy_str(char **dst, const char *src)
{
	char	*copy = NULL;

	if (src != NULL && (copy = strdup(src)) == NULL) {
		log_error("reload: out of memory");
		return;
	}
	free(*dst);
	*dst = copy;
}

/* Copies live option o from src to dst. */
static void
config_copy(const struct config_option *o, struct config *dst,
    const struct config *src)
{
	if (o->offset != 0)
		memcpy((char *)dst + o->offset, (const char *)src + o->offset,
		    sizeof(uint64_t));
	else if (strcmp(o->name, "log-level") == 0)
		dst->log_level = src->log_level;
	else if (strcmp(o->name, "access-file") == 0)
		config_copy_str(&dst->access_file, src->access_file);
	else if (strcmp(o->name, "durable") == 0)
		config_copy_str(&dst->durable, src->durable);
	else if (strcmp(o->name, "sync") == 0)
		dst->sync = src->sync;
}

int
config_reload(struct config *cur, const struct config *next)
{
	const struct config_option	*o;
	/* A --durable list may be as long as a config file line. */
	char				 was[CONFIG_LINE_MAX + 1];
	char				 now[CONFIG_LINE_MAX + 1];
	size_t				 i;
	int				 n = 0;

	for (i = 0; i < CONFIG_NOPTS; i++) {
		o = &config_table[i];
		if (config_listed(o->name, config_not_reloaded,
		    NELEM(config_not_reloaded)))
			continue;
		if (config_value(o, cur, was, sizeof(was)) != 0 ||
		    config_value(o, next, now, sizeof(now)) != 0) {
			log_debug("reload: %s is not reloaded", o->name);
			continue;
		}
		if (strcmp(was, now) == 0)
			continue;
		if (config_listed(o->name, config_restart_only,
		    NELEM(config_restart_only))) {
			log_warning("reload: %s changed from %s to %s; it "
			    "takes effect only after a restart (still %s)",
			    o->name, was, now, was);
			continue;
		}
		config_copy(o, cur, next);
		log_notice("reload: %s changed from %s to %s", o->name, was,
		    now);
		n++;
	}
	return (n);
}

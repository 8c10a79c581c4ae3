/* SPDX-License-Identifier: MIT */
/*
 * chanctl: the daemon's admin view: its figures, its channels, their
 * producers and logs, its connections, its configuration, as a table or
 * as JSON; and the admin actions: purge, disconnect, log-level, reload.
 *
 * Each view comes from chan_client_info (STATS -> INFO), each action's
 * result from chan_client_admin (ADMIN -> INFO): a msgpack map whose
 * schema is in docs/protocol.md. Lists arrive in pages; chanctl follows
 * the "next" cursors until the last page and prints the whole list at
 * once, so that table columns line up.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "cli.h"

#define CTL_PROG	"chanctl"
#define CTL_MAX_PAGES	100000	/* a daemon that pages for ever: stop */

struct ctl_opts {
	bool		 json;
	unsigned	 limit;		/* entries per page, 0: daemon's choice */
	const char	*cmd;		/* the command as given */
	const char	*view;		/* STATS what; NULL for an action */
	const char	*action;	/* ADMIN action; NULL for a view */
	const char	*arg;		/* its argument ("" if none) */
};

/* Commands: the view or action each one is, and its argument. */
static const struct ctl_cmd {
	const char	*name;
	const char	*view;
	const char	*action;
	const char	*argname;	/* NULL: takes none */
} ctl_cmds[] = {
	{ "status", "daemon", NULL, NULL },
	{ "channels", "channels", NULL, NULL },
	{ "producers", "channels", NULL, NULL },
	{ "logs", "channels", NULL, NULL },
	{ "connections", "connections", NULL, NULL },
	{ "config", "config", NULL, NULL },
	{ "purge", NULL, "purge", "CHANNEL" },
	{ "disconnect", NULL, "disconnect", "ID" },
	{ "log-level", NULL, "log-level", "LEVEL" },
	{ "reload", NULL, "reload", NULL },
};

/* The pages of one view, each kept unpacked until printed. */
struct ctl_pages {
	msgpack_unpacked	*v;
	void			**raw;
	size_t			 n;
};

static void __attribute__((noreturn))
ctl_usage(void)
{
	printf(
"NAME\n"
"     chanctl - show and administer a chand daemon\n"
"\n"
"SYNOPSIS\n"
"     chanctl [-hjV] [--limit N] [--socket PATH] [status | channels |\n"
"             producers | logs | connections | config]\n"
"     chanctl [-jV] [--socket PATH] purge CHANNEL | disconnect ID |\n"
"             log-level LEVEL | reload\n"
"\n"
"DESCRIPTION\n"
"     Asks the daemon for its admin view and prints it as a table, or as\n"
"     JSON with --json. status (the default): version, pid, uptime,\n"
"     memory, connections, channels, messages queued and totals, log\n"
"     level. channels: one line per channel: queued messages and bytes,\n"
"     messages in flight, sends held while it is full, producers, the\n"
"     consumer's pid and uid, messages in and out, redeliveries,\n"
"     capacity in messages and bytes, whether it is durable, the bytes\n"
"     of its log, the age of its oldest message, messages sent,\n"
"     delivered and acknowledged per second over the last seconds, the\n"
"     time since the last acknowledgement and since the consumer last\n"
"     acknowledged or asked for more, the producers' rings in shared\n"
"     memory and the messages waiting in them, and how the consumer\n"
"     receives (socket, ring or direct). producers: one line per connection\n"
"     sending to a channel: pid, uid, handles, client name. logs: the\n"
"     log directory of each durable channel. connections: one line per\n"
"     client connection: id, pid, uid, open handles, output not yet\n"
"     written, age, bytes read and written, client name. config: the\n"
"     configuration in force, one 'name = value' line per option.\n"
"\n"
"     Admin actions (the admin right of the daemon's access rules):\n"
"     purge drops the messages queued on CHANNEL (not those in flight;\n"
"     held sends then take the room); disconnect closes connection ID;\n"
"     log-level sets the daemon's log level until the next reload;\n"
"     reload reads the configuration again and fails, changing nothing,\n"
"     if it has an error. JSON: names that are UTF-8 are JSON strings,\n"
"     others {\"hex\": \"...\"} objects of their bytes.\n"
"\n"
"OPTIONS\n"
"     -j, --json         print JSON: an object for status, an array of\n"
"                        objects for channels and connections\n"
"         --limit N      fetch lists N entries per request (default: as\n"
"                        many as fit in one reply)\n"
CLI_COMMON_OPTIONS_HELP
"\n"
"EXIT STATUS\n"
"     0  success\n"
"     1  other failure (the daemon refused or sent a malformed view)\n"
"     2  usage error\n"
"     7  no daemon running on the socket\n"
"     8  connection to the daemon lost\n"
"    11  a daemon limit refused the request\n"
"    12  the daemon's access rules refused the view or the action\n");
	cli_exit_stdout();
}

static void
ctl_parse(struct cli *cli, struct ctl_opts *o, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'L' },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	unsigned long n;
	size_t i;
	char *end;
	int ch;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":jhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			o->json = true;
			break;
		case 'L':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (*optarg < '1' || *optarg > '9' || *end != '\0' ||
			    errno != 0 || n > UINT32_MAX)
				cli_usage_error(cli, "--limit: '%s' is not a "
				    "number from 1 to %" PRIu32, optarg,
				    UINT32_MAX);
			o->limit = (unsigned)n;
			break;
		default:
			cli_common_option(cli, ch, argv, ctl_usage);
			break;
		}
	}
	o->cmd = "status";
	if (optind < argc)
		o->cmd = argv[optind++];
	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		if (strcmp(o->cmd, ctl_cmds[i].name) == 0)
			break;
	}
	if (i == sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))
		cli_usage_error(cli, "unknown command '%s' (status, channels, "
		    "producers, logs, connections, config, purge, disconnect, "
		    "log-level or reload)", o->cmd);
	o->view = ctl_cmds[i].view;
	o->action = ctl_cmds[i].action;
	o->arg = "";
	if (ctl_cmds[i].argname != NULL) {
		if (optind >= argc)
			cli_usage_error(cli, "%s: missing %s", o->cmd,
			    ctl_cmds[i].argname);
		o->arg = argv[optind++];
		if (strlen(o->arg) > 255)
			cli_usage_error(cli, "%s: %s longer than 255 bytes",
			    o->cmd, ctl_cmds[i].argname);
	}
	if (optind < argc)
		cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
}

/* msgpack access. */

static const msgpack_object *
ctl_get(const msgpack_object *map, const char *key)
{
	const msgpack_object_kv *kv;
	size_t len = strlen(key);
	uint32_t i;

	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR &&
		    kv->key.via.str.size == len &&
		    memcmp(kv->key.via.str.ptr, key, len) == 0)
			return &kv->val;
	}
	return NULL;
}

static uint64_t
ctl_u64(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = ctl_get(map, key);

	return o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ?
	    o->via.u64 : 0;
}

/* Fetching. */

static void
ctl_fail(const struct cli *cli, int rc)
{
	const char *why = chan_client_errmsg(cli->c);

	cli_die(cli, cli_exit_code(rc), "%s: %s%s%s", cli->socket,
	    chan_strerror(rc), *why != '\0' ? ": " : "", why);
}

/* Fetches one page into pages; returns its "next" cursor object. */
static const msgpack_object *
ctl_fetch_page(struct cli *cli, const struct ctl_opts *o,
    struct ctl_pages *pages, const void *after, size_t after_len)
{
	msgpack_unpacked *u;
	size_t len, off = 0;
	void *data;
	int rc;

	rc = chan_client_info(cli->c, o->view, after, after_len, o->limit,
	    &data, &len);
	if (rc != 0)
		ctl_fail(cli, rc);
	pages->v = realloc(pages->v, (pages->n + 1) * sizeof(*pages->v));
	pages->raw = realloc(pages->raw, (pages->n + 1) * sizeof(*pages->raw));
	if (pages->v == NULL || pages->raw == NULL)
		cli_die(cli, CLI_EXIT_FAIL, "out of memory");
	u = &pages->v[pages->n];
	pages->raw[pages->n++] = data;
	msgpack_unpacked_init(u);
	if (msgpack_unpack_next(u, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len || u->data.type != MSGPACK_OBJECT_MAP)
		cli_die(cli, CLI_EXIT_FAIL, "%s: the daemon sent a malformed "
		    "%s view", cli->socket, o->view);
	return ctl_get(&u->data, "next");
}

static void
ctl_fetch(struct cli *cli, const struct ctl_opts *o, struct ctl_pages *pages)
{
	const msgpack_object *next;

	next = ctl_fetch_page(cli, o, pages, NULL, 0);
	while (next != NULL && next->type == MSGPACK_OBJECT_BIN) {
		if (pages->n >= CTL_MAX_PAGES)
			cli_die(cli, CLI_EXIT_FAIL, "%s: more than %d pages of "
			    "%s", cli->socket, CTL_MAX_PAGES, o->view);
		next = ctl_fetch_page(cli, o, pages, next->via.bin.ptr,
		    next->via.bin.size);
	}
}

static void
ctl_pages_free(struct ctl_pages *pages)
{
	size_t i;

	for (i = 0; i < pages->n; i++) {
		msgpack_unpacked_destroy(&pages->v[i]);
		free(pages->raw[i]);
	}
	free(pages->v);
	free(pages->raw);
}

/* JSON. */

/*
 * Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none:
 * no overlong forms, no surrogates, nothing above U+10FFFF.
 */
static size_t
ctl_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	return len;
}

static bool
ctl_utf8_valid(const unsigned char *p, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		if ((n = ctl_utf8_len(p + i, len - i)) == 0)
			return false;
		i += n;
	}
	return true;
}

/*
 * A name or text as JSON. Valid UTF-8 is a JSON string of exactly those
 * characters (quote, backslash and control characters escaped as JSON
 * does); anything else is {"hex":"..."}, its bytes in lower-case hex,
 * so that no two byte strings print the same.
 */
static void
ctl_json_str(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (!ctl_utf8_valid(p, len)) {
		fputs("{\"hex\":\"", stdout);
		for (i = 0; i < len; i++)
			printf("%02x", p[i]);
		fputs("\"}", stdout);
		return;
	}
	putchar('"');
	for (i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			printf("\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			printf("\\u%04x", p[i]);
		else
			putchar(p[i]);
	}
	putchar('"');
}

static void
ctl_json(const msgpack_object *o)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		fputs("null", stdout);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		fputs(o->via.boolean ? "true" : "false", stdout);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		printf("%" PRIu64, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		printf("%" PRId64, o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		printf("%.17g", o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		ctl_json_str(o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		ctl_json_str(o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		putchar('[');
		for (i = 0; i < o->via.array.size; i++) {
			if (i > 0)
				putchar(',');
			ctl_json(&o->via.array.ptr[i]);
		}
		putchar(']');
		break;
	case MSGPACK_OBJECT_MAP:
		putchar('{');
		for (i = 0; i < o->via.map.size; i++) {
			if (i > 0)
				putchar(',');
			ctl_json(&o->via.map.ptr[i].key);
			putchar(':');
			ctl_json(&o->via.map.ptr[i].val);
		}
		putchar('}');
		break;
	default:
		fputs("null", stdout);
		break;
	}
}

/* The entries of every page's list under key, as one JSON array. */
static void
ctl_json_list(const struct ctl_pages *pages, const char *key)
{
	const msgpack_object *list;
	size_t i, k = 0;
	uint32_t j;

	printf("[");
	for (i = 0; i < pages->n; i++) {
		list = ctl_get(&pages->v[i].data, key);
		if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY)
			continue;
		for (j = 0; j < list->via.array.size; j++) {
			printf(k++ > 0 ? ",\n " : "");
			ctl_json(&list->via.array.ptr[j]);
		}
	}
	printf("]\n");
}

/* Tables. */

#define CTL_COLS_MAX	24
#define CTL_CELL_MAX	1100	/* an escaped name: 255 * 4, and more */

/* Rows of cells, kept until every column's width is known. */
struct ctl_table {
	size_t		  ncols;
	const char	 *head[CTL_COLS_MAX];
	bool		  left[CTL_COLS_MAX];	/* else right-aligned */
	char		**cells;		/* nrows * ncols */
	size_t		  nrows;
	int		  width[CTL_COLS_MAX];
};

static void
ctl_table_add(struct ctl_table *t, char cells[][CTL_CELL_MAX])
{
	size_t c;
	int w;

	t->cells = realloc(t->cells, (t->nrows + 1) * t->ncols *
	    sizeof(*t->cells));
	if (t->cells == NULL) {
		fprintf(stderr, "%s: out of memory\n", CTL_PROG);
		exit(CLI_EXIT_FAIL);
	}
	for (c = 0; c < t->ncols; c++) {
		if ((t->cells[t->nrows * t->ncols + c] = strdup(cells[c])) ==
		    NULL) {
			fprintf(stderr, "%s: out of memory\n", CTL_PROG);
			exit(CLI_EXIT_FAIL);
		}
		w = (int)strlen(cells[c]);
		if (w > t->width[c])
			t->width[c] = w;
	}
	t->nrows++;
}

static void
ctl_table_row(const struct ctl_table *t, const char *const *cells)
{
	size_t c;

	for (c = 0; c < t->ncols; c++) {
		if (c + 1 == t->ncols && t->left[c])
			printf("%s", cells[c]);
		else
			printf(t->left[c] ? "%-*s" : "%*s", t->width[c],
			    cells[c]);
		printf(c + 1 < t->ncols ? "  " : "\n");
	}
}

static void
ctl_table_print(struct ctl_table *t)
{
	size_t c, r;

	for (c = 0; c < t->ncols; c++) {
		if ((int)strlen(t->head[c]) > t->width[c])
			t->width[c] = (int)strlen(t->head[c]);
	}
	ctl_table_row(t, t->head);
	for (r = 0; r < t->nrows; r++) {
		ctl_table_row(t, (const char *const *)&t->cells[r * t->ncols]);
		for (c = 0; c < t->ncols; c++)
			free(t->cells[r * t->ncols + c]);
	}
	free(t->cells);
}

/* A name for a table: printable ASCII as is, other bytes as \xNN. */
static void
ctl_escape(char *out, const msgpack_object *o)
{
	const unsigned char *p;
	size_t i, n;

	if (o == NULL || (o->type != MSGPACK_OBJECT_BIN &&
	    o->type != MSGPACK_OBJECT_STR)) {
		strcpy(out, "?");
		return;
	}
	p = (const unsigned char *)(o->type == MSGPACK_OBJECT_BIN ?
	    o->via.bin.ptr : o->via.str.ptr);
	n = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.size : o->via.str.size;
	for (i = 0; i < n && i < 255; i++) {
		if (p[i] > 0x20 && p[i] < 0x7f && p[i] != '\\')
			*out++ = (char)p[i];
		else
			out += sprintf(out, "\\x%02x", p[i]);
	}
	*out = '\0';
}

static void
ctl_num(char *cell, const msgpack_object *map, const char *key)
{
	snprintf(cell, CTL_CELL_MAX, "%" PRIu64, ctl_u64(map, key));
}

/* A capacity: its number, or "unbounded" for nil. */
static void
ctl_cap(char *cell, const msgpack_object *map, const char *key)
{
	const msgpack_object *o = ctl_get(map, key);

	if (o != NULL && o->type == MSGPACK_OBJECT_NIL)
		snprintf(cell, CTL_CELL_MAX, "unbounded");
	else
		ctl_num(cell, map, key);
}

/* A bool: "yes", "no", or "?" when missing. */
static void
ctl_bool(char *cell, const msgpack_object *map, const char *key)
{
	const msgpack_object *o = ctl_get(map, key);

	snprintf(cell, CTL_CELL_MAX, "%s", o == NULL ||
	    o->type != MSGPACK_OBJECT_BOOLEAN ? "?" :
	    o->via.boolean ? "yes" : "no");
}

/* An age in seconds: "12s", "3m04s", "2h05m"; "-" for nil or missing. */
static void
ctl_age(char *cell, const msgpack_object *map, const char *key)
{
	const msgpack_object *o = ctl_get(map, key);
	uint64_t s;

	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		strcpy(cell, "-");
		return;
	}
	s = o->via.u64;
	if (s >= 3600)
		snprintf(cell, CTL_CELL_MAX, "%" PRIu64 "h%02" PRIu64 "m",
		    s / 3600, s / 60 % 60);
	else if (s >= 60)
		snprintf(cell, CTL_CELL_MAX, "%" PRIu64 "m%02" PRIu64 "s",
		    s / 60, s % 60);
	else
		snprintf(cell, CTL_CELL_MAX, "%" PRIu64 "s", s);
}

/* Per second over the recent window: "12.5"; "-" before a sample. */
static void
ctl_rate(char *cell, const msgpack_object *map, const char *key)
{
	uint64_t secs = ctl_u64(map, "recent_s"), n = ctl_u64(map, key);

	if (secs == 0)
		strcpy(cell, "-");
	else
		snprintf(cell, CTL_CELL_MAX, "%" PRIu64 ".%" PRIu64, n / secs,
		    n * 10 / secs % 10);
}

static void
ctl_channel_row(struct ctl_table *t, const msgpack_object *ch)
{
	char cells[CTL_COLS_MAX][CTL_CELL_MAX];
	const msgpack_object *cons = ctl_get(ch, "consumer");

	ctl_escape(cells[0], ctl_get(ch, "name"));
	ctl_num(cells[1], ch, "queued");
	ctl_num(cells[2], ch, "queued_bytes");
	ctl_num(cells[3], ch, "in_flight");
	ctl_num(cells[4], ch, "held");
	ctl_num(cells[5], ch, "producers");
	if (cons != NULL && cons->type == MSGPACK_OBJECT_MAP) {
		ctl_num(cells[6], cons, "pid");
		ctl_num(cells[7], cons, "uid");
	} else {
		strcpy(cells[6], "-");
		strcpy(cells[7], "-");
	}
	ctl_num(cells[8], ch, "msgs_in");
	ctl_num(cells[9], ch, "msgs_out");
	ctl_num(cells[10], ch, "redeliveries");
	ctl_cap(cells[11], ch, "capacity");
	ctl_cap(cells[12], ch, "capacity_bytes");
	ctl_bool(cells[13], ch, "durable");
	ctl_num(cells[14], ch, "log_bytes");
	ctl_age(cells[15], ch, "oldest_age_s");
	ctl_rate(cells[16], ch, "recent_in");
	ctl_rate(cells[17], ch, "recent_out");
	ctl_rate(cells[18], ch, "recent_acked");
	ctl_age(cells[19], ch, "last_ack_age_s");
	ctl_num(cells[21], ch, "rings");
	ctl_num(cells[22], ch, "in_rings");
	if (cons != NULL && cons->type == MSGPACK_OBJECT_MAP) {
		ctl_age(cells[20], cons, "idle_s");
		ctl_escape(cells[23], ctl_get(cons, "path"));
	} else {
		strcpy(cells[20], "-");
		strcpy(cells[23], "-");
	}
	ctl_table_add(t, cells);
}

static void
ctl_conn_row(struct ctl_table *t, const msgpack_object *o)
{
	char cells[CTL_COLS_MAX][CTL_CELL_MAX];
	const msgpack_object *closing = ctl_get(o, "closing");

	ctl_num(cells[0], o, "id");
	ctl_num(cells[1], o, "pid");
	ctl_num(cells[2], o, "uid");
	ctl_num(cells[3], o, "producers");
	ctl_num(cells[4], o, "consumers");
	ctl_num(cells[5], o, "pending_output");
	snprintf(cells[6], CTL_CELL_MAX, "%s", closing != NULL &&
	    closing->type == MSGPACK_OBJECT_BOOLEAN && closing->via.boolean ?
	    "closing" : "open");
	snprintf(cells[7], CTL_CELL_MAX, "%" PRIu64 "s",
	    ctl_u64(o, "age_ms") / 1000);
	ctl_num(cells[8], o, "bytes_in");
	ctl_num(cells[9], o, "bytes_out");
	ctl_escape(cells[10], ctl_get(o, "client"));
	ctl_table_add(t, cells);
}

/* Every entry of every page's list under key, through row. */
static void
ctl_table_list(const struct ctl_pages *pages, const char *key,
    struct ctl_table *t, void (*row)(struct ctl_table *,
    const msgpack_object *))
{
	const msgpack_object *list;
	size_t i;
	uint32_t j;

	for (i = 0; i < pages->n; i++) {
		list = ctl_get(&pages->v[i].data, key);
		if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY)
			continue;
		for (j = 0; j < list->via.array.size; j++)
			row(t, &list->via.array.ptr[j]);
	}
	ctl_table_print(t);
}

static void
ctl_print_channels(const struct ctl_pages *pages)
{
	struct ctl_table t = { .ncols = 24, .head = { "NAME", "QUEUED",
	    "BYTES", "INFLIGHT", "HELD", "PRODUCERS", "CONSUMER_PID",
	    "CONSUMER_UID", "IN", "OUT", "REDELIVERED", "CAPACITY",
	    "CAP_BYTES", "DURABLE", "LOG_BYTES", "OLDEST", "IN/S", "OUT/S",
	    "ACK/S", "LAST_ACK", "IDLE", "RINGS", "IN_RINGS", "PATH" },
	    .left = { true, [23] = true } };

	ctl_table_list(pages, "channels", &t, ctl_channel_row);
}

static void
ctl_print_connections(const struct ctl_pages *pages)
{
	struct ctl_table t = { .ncols = 11, .head = { "ID", "PID", "UID",
	    "PRODUCERS", "CONSUMERS", "PENDING", "STATE", "AGE", "BYTES_IN",
	    "BYTES_OUT", "CLIENT" }, .left = { [6] = true, [10] = true } };

	ctl_table_list(pages, "connections", &t, ctl_conn_row);
}

/* One row per producer connection of one channel. */
static void
ctl_producer_rows(struct ctl_table *t, const msgpack_object *ch)
{
	char cells[CTL_COLS_MAX][CTL_CELL_MAX];
	const msgpack_object *list = ctl_get(ch, "producer_conns"), *p;
	uint32_t i;

	if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (i = 0; i < list->via.array.size; i++) {
		p = &list->via.array.ptr[i];
		ctl_escape(cells[0], ctl_get(ch, "name"));
		ctl_num(cells[1], p, "conn");
		ctl_num(cells[2], p, "pid");
		ctl_num(cells[3], p, "uid");
		ctl_num(cells[4], p, "handles");
		ctl_escape(cells[5], ctl_get(p, "client"));
		ctl_table_add(t, cells);
	}
}

static void
ctl_print_producers(const struct ctl_pages *pages)
{
	struct ctl_table t = { .ncols = 6, .head = { "CHANNEL", "CONN", "PID",
	    "UID", "HANDLES", "CLIENT" }, .left = { true, [5] = true } };

	ctl_table_list(pages, "channels", &t, ctl_producer_rows);
}

/* The log directory of a durable channel. */
static void
ctl_log_row(struct ctl_table *t, const msgpack_object *ch)
{
	char cells[CTL_COLS_MAX][CTL_CELL_MAX];
	const msgpack_object *dir = ctl_get(ch, "log_dir");

	if (dir == NULL || dir->type != MSGPACK_OBJECT_STR)
		return;
	ctl_escape(cells[0], ctl_get(ch, "name"));
	ctl_num(cells[1], ch, "log_bytes");
	ctl_escape(cells[2], dir);
	ctl_table_add(t, cells);
}

static void
ctl_print_logs(const struct ctl_pages *pages)
{
	struct ctl_table t = { .ncols = 3, .head = { "CHANNEL", "LOG_BYTES",
	    "DIRECTORY" }, .left = { true, [2] = true } };

	ctl_table_list(pages, "channels", &t, ctl_log_row);
}

/* The configuration as a config file would say it: "name = value". */
static void
ctl_print_config(const msgpack_object *cfg)
{
	const msgpack_object_kv *kv;
	uint32_t i;

	for (i = 0; i < cfg->via.map.size; i++) {
		kv = &cfg->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    kv->val.type != MSGPACK_OBJECT_STR)
			continue;
		printf("%.*s = %.*s\n", (int)kv->key.via.str.size,
		    kv->key.via.str.ptr, (int)kv->val.via.str.size,
		    kv->val.via.str.ptr);
	}
}

/* "1h02m03s" */
static void
ctl_duration(char *buf, size_t len, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s >= 3600)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s",
		    s / 3600, s / 60 % 60, s % 60);
	else if (s >= 60)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60,
		    s % 60);
	else
		snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 "s", s, ms % 1000);
}

/* "durability   logs in PATH, sync always", or "none (no --data-dir)". */
static void
ctl_print_durability(const msgpack_object *d)
{
	const msgpack_object *dir = ctl_get(d, "data_dir");
	const msgpack_object *sync = ctl_get(d, "sync");
	char path[CTL_CELL_MAX], mode[64] = "?";

	if (sync != NULL && sync->type == MSGPACK_OBJECT_STR)
		snprintf(mode, sizeof(mode), "%.*s", (int)sync->via.str.size,
		    sync->via.str.ptr);
	if (dir == NULL || dir->type != MSGPACK_OBJECT_STR) {
		printf("durability   none (no --data-dir)\n");
		return;
	}
	ctl_escape(path, dir);
	printf("durability   logs in %s, sync %s\n", path, mode);
}

/* A str value into buf, "?" if missing. */
static void
ctl_str(char *buf, size_t len, const msgpack_object *o)
{
	if (o != NULL && o->type == MSGPACK_OBJECT_STR)
		snprintf(buf, len, "%.*s", (int)o->via.str.size,
		    o->via.str.ptr);
	else
		snprintf(buf, len, "?");
}

static void
ctl_print_status(const msgpack_object *d)
{
	const msgpack_object *v = ctl_get(d, "version");
	const msgpack_object *sock = ctl_get(d, "socket");
	char up[64], started[64] = "?", ver[64] = "?", path[CTL_CELL_MAX];
	time_t t = (time_t)ctl_u64(d, "started");
	struct tm tm;

	if (v != NULL && v->type == MSGPACK_OBJECT_STR)
		snprintf(ver, sizeof(ver), "%.*s", (int)v->via.str.size,
		    v->via.str.ptr);
	ctl_escape(path, sock);
	ctl_duration(up, sizeof(up), ctl_u64(d, "uptime_ms"));
	if (gmtime_r(&t, &tm) != NULL)
		strftime(started, sizeof(started), "%Y-%m-%d %H:%M:%S UTC",
		    &tm);
	printf("daemon       chand %s, pid %" PRIu64 "\n", ver,
	    ctl_u64(d, "pid"));
	printf("socket       %s\n", path);
	printf("uptime       %s (since %s)\n", up, started);
	printf("memory       %" PRIu64 " bytes resident\n",
	    ctl_u64(d, "rss_bytes"));
	printf("connections  %" PRIu64 " (limit %" PRIu64 ")\n",
	    ctl_u64(d, "connections"), ctl_u64(d, "max_connections"));
	printf("channels     %" PRIu64 "\n", ctl_u64(d, "channels"));
	printf("queued       %" PRIu64 " messages, %" PRIu64 " bytes "
	    "(limits %" PRIu64 ", %" PRIu64 "), %" PRIu64 " sends held\n",
	    ctl_u64(d, "queued"), ctl_u64(d, "queued_bytes"),
	    ctl_u64(d, "max_queued"), ctl_u64(d, "max_queued_bytes"),
	    ctl_u64(d, "held"));
	printf("messages     %" PRIu64 " in, %" PRIu64 " out, %" PRIu64
	    " redelivered\n", ctl_u64(d, "msgs_in"), ctl_u64(d, "msgs_out"),
	    ctl_u64(d, "redeliveries"));
	ctl_print_durability(d);
	ctl_str(ver, sizeof(ver), ctl_get(d, "log_level"));
	printf("log level    %s\n", ver);
	ctl_escape(path, ctl_get(d, "config"));
	printf("config       %s\n", strcmp(path, "?") == 0 ? "none" : path);
	ctl_escape(path, ctl_get(d, "access_file"));
	printf("access rules %s\n", strcmp(path, "?") == 0 ? "none" : path);
}

/* One line saying what an admin action did. */
static void
ctl_print_action(const struct ctl_opts *o, const msgpack_object *r)
{
	char name[CTL_CELL_MAX], a[64], b[64];

	if (strcmp(o->action, "purge") == 0) {
		ctl_escape(name, ctl_get(r, "channel"));
		printf("channel %s: %" PRIu64 " queued message(s) of %" PRIu64
		    " bytes purged; %" PRIu64 " in flight, %" PRIu64
		    " queued now\n", name, ctl_u64(r, "purged"),
		    ctl_u64(r, "purged_bytes"), ctl_u64(r, "in_flight"),
		    ctl_u64(r, "queued"));
	} else if (strcmp(o->action, "disconnect") == 0)
		printf("connection %" PRIu64 " (pid %" PRIu64 ", uid %" PRIu64
		    ") disconnected\n", ctl_u64(r, "conn"), ctl_u64(r, "pid"),
		    ctl_u64(r, "uid"));
	else if (strcmp(o->action, "log-level") == 0) {
		ctl_str(a, sizeof(a), ctl_get(r, "was"));
		ctl_str(b, sizeof(b), ctl_get(r, "level"));
		printf("log level %s (was %s)\n", b, a);
	} else
		printf("reloaded: %" PRIu64 " option(s) changed\n",
		    ctl_u64(r, "changed"));
}

/* Runs the action and prints its result; exits on failure. */
static void
ctl_action(struct cli *cli, const struct ctl_opts *o)
{
	msgpack_unpacked u;
	size_t len, off = 0;
	void *data;
	int rc;

	rc = chan_client_admin(cli->c, o->action, o->arg, strlen(o->arg),
	    &data, &len);
	if (rc != 0)
		ctl_fail(cli, rc);
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len || u.data.type != MSGPACK_OBJECT_MAP)
		cli_die(cli, CLI_EXIT_FAIL, "%s: the daemon sent a malformed "
		    "result of %s", cli->socket, o->action);
	if (o->json) {
		ctl_json(&u.data);
		putchar('\n');
	} else
		ctl_print_action(o, &u.data);
	msgpack_unpacked_destroy(&u);
	free(data);
}

int
main(int argc, char *argv[])
{
	struct ctl_pages pages = { 0 };
	struct ctl_opts o;
	struct cli cli;
	const char *list;

	cli_init(&cli, CTL_PROG);
	ctl_parse(&cli, &o, argc, argv);
	cli.name = "";
	cli_connect(&cli);
	if (o.action != NULL) {
		ctl_action(&cli, &o);
		chan_disconnect(cli.c);
		cli_exit_stdout();
	}
	ctl_fetch(&cli, &o, &pages);
	chan_disconnect(cli.c);

	list = strcmp(o.view, "connections") == 0 ? "connections" :
	    "channels";
	if (strcmp(o.view, "daemon") == 0 || strcmp(o.view, "config") == 0) {
		if (o.json) {
			ctl_json(&pages.v[0].data);
			putchar('\n');
		} else if (strcmp(o.view, "config") == 0)
			ctl_print_config(&pages.v[0].data);
		else
			ctl_print_status(&pages.v[0].data);
	} else if (o.json)
		ctl_json_list(&pages, list);
	else if (strcmp(o.cmd, "producers") == 0)
		ctl_print_producers(&pages);
	else if (strcmp(o.cmd, "logs") == 0)
		ctl_print_logs(&pages);
	else if (strcmp(o.view, "channels") == 0)
		ctl_print_channels(&pages);
	else
		ctl_print_connections(&pages);
	ctl_pages_free(&pages);
	cli_exit_stdout();
}

/* SPDX-License-Identifier: MIT */
/*
 * config.c: chan-bridge's options, from the command line and from a
 * configuration file of `name = value` lines, as chand's.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

void
config_defaults(struct bridge_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->url, sizeof(cfg->url), "nats://127.0.0.1:4222");
	snprintf(cfg->bucket, sizeof(cfg->bucket), "chan-bridge");
	cfg->lease_ms = 10000;
	cfg->ack_wait_ms = 30000;
	cfg->max_msgs = 65536;
	cfg->batch = 256;
	cfg->capacity = CHAN_CAPACITY_DEFAULT;
	cfg->ready_fd = -1;
}

static int
parse_uint(const char *where, const char *name, const char *val,
    uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno != 0 || end == val || *end != '\0' || val[0] == '-' ||
	    v < min || v > max) {
		fprintf(stderr, "chan-bridge: %s%s: '%s' is not a number from "
		    "%" PRIu64 " to %" PRIu64 "\n", where, name, val, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int
copy_str(const char *where, const char *name, const char *val, char *dst,
    size_t len)
{
	if (val[0] == '\0' || strlen(val) >= len) {
		fprintf(stderr, "chan-bridge: %s%s: empty or longer than %zu "
		    "bytes\n", where, name, len - 1);
		return -1;
	}
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

/* A pattern: "prefix*", where prefix may be empty. */
static int
add_pattern(struct bridge_config *cfg, const char *where, enum map_dir dir,
    const char *val)
{
	struct pattern *p;
	size_t len = strlen(val) - 1;
	int i;

	for (i = 0; i < cfg->npatterns; i++)
		if (cfg->patterns[i].dir == dir &&
		    cfg->patterns[i].len == len &&
		    memcmp(cfg->patterns[i].prefix, val, len) == 0)
			return 0;
	if (cfg->npatterns == BRIDGE_MAX_PATTERNS) {
		fprintf(stderr, "chan-bridge: %sat most %d patterns\n", where,
		    BRIDGE_MAX_PATTERNS);
		return -1;
	}
	p = &cfg->patterns[cfg->npatterns++];
	p->dir = dir;
	memcpy(p->prefix, val, len);
	p->prefix[len] = '\0';
	p->len = len;
	return 0;
}

/* Whether pattern p of direction dir chooses the channel name. */
bool
pattern_match(const struct pattern *p, enum map_dir dir, const char *name,
    size_t len)
{
	return p->dir == dir && len >= p->len &&
	    memcmp(name, p->prefix, p->len) == 0;
}

/*
 * Whether the channel name is chosen for the other direction than dir,
 * by name or pattern: a channel is exported or imported, never both.
 */
bool
config_conflict(const struct bridge_config *cfg, enum map_dir dir,
    const char *name, size_t len)
{
	enum map_dir other = dir == MAP_EXPORT ? MAP_IMPORT : MAP_EXPORT;
	int i;

	for (i = 0; i < cfg->npatterns; i++)
		if (pattern_match(&cfg->patterns[i], other, name, len))
			return true;
	for (i = 0; i < cfg->nmaps; i++)
		if (cfg->maps[i].dir == other &&
		    strlen(cfg->maps[i].channel) == len &&
		    memcmp(cfg->maps[i].channel, name, len) == 0)
			return true;
	return false;
}

static int
add_map(struct bridge_config *cfg, const char *where, enum map_dir dir,
    const char *val)
{
	struct map *m;
	int i;

	if (val[0] == '\0' || strlen(val) > BRIDGE_NAME_MAX) {
		fprintf(stderr, "chan-bridge: %s%s: a channel name is 1 to %d "
		    "bytes\n", where, dir == MAP_EXPORT ? "export" : "import",
		    BRIDGE_NAME_MAX);
		return -1;
	}
	if (val[strlen(val) - 1] == '*')
		return add_pattern(cfg, where, dir, val);
	for (i = 0; i < cfg->nmaps; i++)
		if (cfg->maps[i].dir == dir &&
		    strcmp(cfg->maps[i].channel, val) == 0)
			return 0;
	if (cfg->nmaps == BRIDGE_MAX_MAPS) {
		fprintf(stderr, "chan-bridge: %sat most %d channels\n", where,
		    BRIDGE_MAX_MAPS);
		return -1;
	}
	m = &cfg->maps[cfg->nmaps++];
	memset(m, 0, sizeof(*m));
	m->dir = dir;
	memcpy(m->channel, val, strlen(val) + 1);
	map_names(m);
	return 0;
}

/*
 * Applies one option; where is "" for the command line or "FILE:LINE: "
 * for the configuration file. Returns 0 or -1 (and says why).
 */
int
config_option(struct bridge_config *cfg, const char *where, const char *name,
    const char *val, int from_file)
{
	uint64_t v;

	if (strcmp(name, "url") == 0)
		return copy_str(where, name, val, cfg->url, sizeof(cfg->url));
	if (strcmp(name, "socket") == 0)
		return copy_str(where, name, val, cfg->socket,
		    sizeof(cfg->socket));
	if (strcmp(name, "bucket") == 0)
		return copy_str(where, name, val, cfg->bucket,
		    sizeof(cfg->bucket));
	if (strcmp(name, "host") == 0)
		return copy_str(where, name, val, cfg->host,
		    sizeof(cfg->host));
	if (strcmp(name, "export") == 0)
		return add_map(cfg, where, MAP_EXPORT, val);
	if (strcmp(name, "import") == 0)
		return add_map(cfg, where, MAP_IMPORT, val);
	if (strcmp(name, "lease") == 0) {
		if (parse_uint(where, name, val, 1, 86400, &v) != 0)
			return -1;
		cfg->lease_ms = v * 1000;
		return 0;
	}
	if (strcmp(name, "ack-wait") == 0) {
		if (parse_uint(where, name, val, 1, 86400, &v) != 0)
			return -1;
		cfg->ack_wait_ms = v * 1000;
		return 0;
	}
	if (strcmp(name, "max-msgs") == 0)
		return parse_uint(where, name, val, 1, INT64_MAX,
		    &cfg->max_msgs);
	if (strcmp(name, "batch") == 0)
		return parse_uint(where, name, val, 1, 4096, &cfg->batch);
	if (strcmp(name, "capacity") == 0) {
		if (strcmp(val, "unbounded") == 0) {
			cfg->capacity = CHAN_CAPACITY_UNBOUNDED;
			return 0;
		}
		return parse_uint(where, name, val, 0, UINT32_MAX,
		    &cfg->capacity);
	}
	if (strcmp(name, "ready-fd") == 0 && !from_file) {
		if (parse_uint(where, name, val, 0, 1024, &v) != 0)
			return -1;
		cfg->ready_fd = (int)v;
		return 0;
	}
	fprintf(stderr, "chan-bridge: %sunknown option '%s'\n", where, name);
	return -1;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Reads `name = value` lines; '#' starts a comment. */
int
config_file(struct bridge_config *cfg, const char *path)
{
	FILE *f;
	char line[2048], where[1100], *p, *eq;
	int lineno = 0, rc = 0;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "chan-bridge: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%d: ", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "chan-bridge: %sline too long\n", where);
			rc = -1;
			break;
		}
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = trim(line);
		if (*p == '\0')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			fprintf(stderr, "chan-bridge: %sexpected 'name = "
			    "value'\n", where);
			rc = -1;
			break;
		}
		*eq = '\0';
		rc = config_option(cfg, where, trim(p), trim(eq + 1), 1);
	}
	fclose(f);
	return rc;
}

int
config_finish(struct bridge_config *cfg)
{
	int i, j;

	if (cfg->nmaps == 0 && cfg->npatterns == 0) {
		fprintf(stderr, "chan-bridge: nothing to do: give at least one "
		    "--export or --import channel\n");
		return -1;
	}
	for (i = 0; i < cfg->nmaps; i++)
		if (config_conflict(cfg, cfg->maps[i].dir,
		    cfg->maps[i].channel, strlen(cfg->maps[i].channel))) {
			fprintf(stderr, "chan-bridge: channel '%s' is both "
			    "exported and imported\n", cfg->maps[i].channel);
			return -1;
		}
	/* Two patterns of both directions that one name could match. */
	for (i = 0; i < cfg->npatterns; i++)
		for (j = 0; j < cfg->npatterns; j++) {
			const struct pattern *p = &cfg->patterns[i],
			    *q = &cfg->patterns[j];

			if (p->dir == MAP_EXPORT && q->dir == MAP_IMPORT &&
			    memcmp(p->prefix, q->prefix, p->len < q->len ?
			    p->len : q->len) == 0) {
				fprintf(stderr, "chan-bridge: patterns '%s*' "
				    "and '%s*' both choose some channels for "
				    "export and import\n", p->prefix,
				    q->prefix);
				return -1;
			}
		}
	if (cfg->host[0] == '\0' &&
	    gethostname(cfg->host, sizeof(cfg->host) - 1) != 0)
		snprintf(cfg->host, sizeof(cfg->host), "localhost");
	if (cfg->socket[0] == '\0' &&
	    chan_default_socket(cfg->socket, sizeof(cfg->socket)) != 0) {
		fprintf(stderr, "chan-bridge: default socket path too long\n");
		return -1;
	}
	if (cfg->ack_wait_ms < 1000)
		cfg->ack_wait_ms = 1000;
	return 0;
}

/*
 * Stream and subject of a channel: letters, digits and '-' stay, every
 * other byte becomes '_' and two hex digits, so that distinct channels
 * get distinct names that JetStream accepts.
 */
void
map_names(struct map *m)
{
	char enc[BRIDGE_NAME_MAX + 1];
	const unsigned char *s;
	size_t n = 0;

	for (s = (const unsigned char *)m->channel; *s != '\0' &&
	    n + 4 < sizeof(enc); s++) {
		if (isalnum(*s) || *s == '-')
			enc[n++] = (char)*s;
		else
			n += (size_t)snprintf(enc + n, sizeof(enc) - n,
			    "_%02X", *s);
	}
	enc[n] = '\0';
	snprintf(m->stream, sizeof(m->stream), "CHAN_%s", enc);
	snprintf(m->subject, sizeof(m->subject), "chan.%s", enc);
}

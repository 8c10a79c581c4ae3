/* SPDX-License-Identifier: MIT */
/*
 * acl.c: access rules. See acl.h.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "acl.h"
#include "channel.h"
#include "conn.h"
#include "log.h"
#include "proto.h"
#include "server.h"

#define ACL_LINE_MAX	4096
/* A peer in more groups than this is matched on its primary gid only. */
#define ACL_GROUPS_MAX	1024

enum acl_who {
	ACL_WHO_ANY,
	ACL_WHO_UID,
	ACL_WHO_GID,
};

struct acl_rule {
	enum acl_who	 who;
	unsigned long	 id;		/* uid or gid */
	unsigned	 rights;
	bool		 prefix;	/* name is a prefix ("*" is prefix "") */
	size_t		 len;
	char		 name[PROTO_NAME_MAX + 1];
};

/* A limit line: its WHO, and a value or ACL_LIM_NONE per key. */
struct acl_limit_rule {
	enum acl_who	 who;
	unsigned long	 id;
	struct acl_limits lim;
};

struct acl {
	uid_t		 owner;
	struct acl_rule	*rules;
	size_t		 n;
	size_t		 cap;
	bool		 create_named;	/* a rule names the create right */
	struct acl_limit_rule *limits;
	size_t		 nlimits;
	size_t		 limits_cap;
};

static const char *const acl_limit_names[ACL_LIM_N] = {
	[ACL_LIM_CONNECTIONS] = "connections",
	[ACL_LIM_HANDLES] = "handles",
	[ACL_LIM_CHANNELS] = "channels",
	[ACL_LIM_QUEUED_BYTES] = "queued-bytes",
	[ACL_LIM_QUEUED_MSGS] = "queued-messages",
	[ACL_LIM_CAPACITY] = "capacity",
	[ACL_LIM_CAPACITY_BYTES] = "capacity-bytes",
};

const char *
acl_limit_name(enum acl_limit_key k)
{
	return ((unsigned)k < ACL_LIM_N ? acl_limit_names[k] : "?");
}

const char *
acl_right_name(unsigned right)
{
	switch (right) {
	case ACL_SEND:
		return ("send");
	case ACL_RECV:
		return ("recv");
	case ACL_ADMIN:
		return ("admin");
	case ACL_CREATE:
		return ("create");
	default:
		return ("?");
	}
}

size_t
acl_count(const struct acl *a)
{
	return (a == NULL ? 0 : a->n);
}

void
acl_free(struct acl *a)
{
	if (a == NULL)
		return;
	free(a->rules);
	free(a->limits);
	free(a);
}

/* A whole decimal number no larger than max. */
static int
acl_number(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long	 n;
	char		*end;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return (-1);
	*out = n;
	return (0);
}

static int
acl_parse_who(struct acl_rule *r, const char *s, char *msg, size_t len)
{
	struct passwd	*pw;
	struct group	*gr;

	if (strcmp(s, "*") == 0) {
		r->who = ACL_WHO_ANY;
		return (0);
	}
	if (strncmp(s, "uid:", 4) == 0) {
		r->who = ACL_WHO_UID;
		if (acl_number(s + 4, (uid_t)-2, &r->id) == 0)
			return (0);
	} else if (strncmp(s, "gid:", 4) == 0) {
		r->who = ACL_WHO_GID;
		if (acl_number(s + 4, (gid_t)-2, &r->id) == 0)
			return (0);
	} else if (strncmp(s, "user:", 5) == 0) {
		r->who = ACL_WHO_UID;
		if ((pw = getpwnam(s + 5)) != NULL) {
			r->id = pw->pw_uid;
			return (0);
		}
		snprintf(msg, len, "no such user '%s'", s + 5);
		return (-1);
	} else if (strncmp(s, "group:", 6) == 0) {
		r->who = ACL_WHO_GID;
		if ((gr = getgrnam(s + 6)) != NULL) {
			r->id = gr->gr_gid;
			return (0);
		}
		snprintf(msg, len, "no such group '%s'", s + 6);
		return (-1);
	}
	snprintf(msg, len, "'%s' is not user:NAME, uid:N, group:NAME, gid:N "
	    "or *", s);
	return (-1);
}

static int
acl_parse_rights(struct acl *a, struct acl_rule *r, char *s, char *msg,
    size_t len)
{
	char	*word, *save = NULL;

	r->rights = 0;
	for (word = strtok_r(s, ",", &save); word != NULL;
	    word = strtok_r(NULL, ",", &save)) {
		if (strcmp(word, "send") == 0)
			r->rights |= ACL_SEND;
		else if (strcmp(word, "recv") == 0)
			r->rights |= ACL_RECV;
		else if (strcmp(word, "admin") == 0)
			r->rights |= ACL_ADMIN;
		else if (strcmp(word, "create") == 0) {
			r->rights |= ACL_CREATE;
			a->create_named = true;
		} else if (strcmp(word, "all") == 0)
			r->rights |= ACL_ALL;
		else {
			snprintf(msg, len, "'%s' is not send, recv, admin, "
			    "create or all", word);
			return (-1);
		}
	}
	if (r->rights == 0) {
		snprintf(msg, len, "no rights given");
		return (-1);
	}
	return (0);
}

static int
acl_parse_channel(struct acl_rule *r, const char *s, char *msg, size_t len)
{
	size_t	n = strlen(s);

	r->prefix = n > 0 && s[n - 1] == '*';
	if (r->prefix)
		n--;
	if ((!r->prefix && n == 0) || n > PROTO_NAME_MAX) {
		snprintf(msg, len, "channel '%s' is not a name of 1 to %d "
		    "bytes, a prefix ending in * or *", s, PROTO_NAME_MAX);
		return (-1);
	}
	memcpy(r->name, s, n);
	r->name[n] = '\0';
	r->len = n;
	return (0);
}

static int
acl_add(struct acl *a, const struct acl_rule *r)
{
	struct acl_rule	*nr;
	size_t		 ncap;

	if (a->n == a->cap) {
		ncap = a->cap == 0 ? 16 : a->cap * 2;
		if ((nr = reallocarray(a->rules, ncap, sizeof(*nr))) == NULL)
			return (-1);
		a->rules = nr;
		a->cap = ncap;
	}
	a->rules[a->n++] = *r;
	return (0);
}

/* "limit WHO KEY VALUE [KEY VALUE ...]", split into n words w. */
static int
acl_limit_line(struct acl *a, char **w, int n, char *msg, size_t len)
{
	struct acl_limit_rule	 lr;
	struct acl_rule		 who;
	struct acl_limit_rule	*nl;
	unsigned long		 v;
	size_t			 ncap;
	int			 i, k;

	if (n < 4 || n % 2 != 0) {
		snprintf(msg, len, "expected 'limit WHO KEY VALUE [KEY VALUE "
		    "...]'");
		return (-1);
	}
	memset(&who, 0, sizeof(who));
	if (acl_parse_who(&who, w[1], msg, len) != 0)
		return (-1);
	lr.who = who.who;
	lr.id = who.id;
	for (k = 0; k < ACL_LIM_N; k++)
		lr.lim.v[k] = ACL_LIM_NONE;
	for (i = 2; i < n; i += 2) {
		for (k = 0; k < ACL_LIM_N; k++)
			if (strcmp(w[i], acl_limit_names[k]) == 0)
				break;
		if (k == ACL_LIM_N) {
			snprintf(msg, len, "'%s' is not connections, handles, "
			    "channels, queued-bytes, queued-messages, "
			    "capacity or capacity-bytes", w[i]);
			return (-1);
		}
		if (acl_number(w[i + 1], ULONG_MAX - 1, &v) != 0) {
			snprintf(msg, len, "%s: '%s' is not a number",
			    w[i], w[i + 1]);
			return (-1);
		}
		lr.lim.v[k] = v;
	}
	if (a->nlimits == a->limits_cap) {
		ncap = a->limits_cap == 0 ? 4 : a->limits_cap * 2;
		if ((nl = reallocarray(a->limits, ncap, sizeof(*nl))) ==
		    NULL) {
			snprintf(msg, len, "out of memory");
			return (-1);
		}
		a->limits = nl;
		a->limits_cap = ncap;
	}
	a->limits[a->nlimits++] = lr;
	return (0);
}

#define ACL_WORDS_MAX	(2 + 2 * ACL_LIM_N + 1)

/*
 * One line: "allow WHO RIGHTS CHANNEL", "limit WHO KEY VALUE ...", blank
 * or a # comment.
 */
static int
acl_line(struct acl *a, char *line, char *msg, size_t len)
{
	struct acl_rule	 r;
	char		*w[ACL_WORDS_MAX], *save = NULL;
	int		 n;

	if ((w[0] = strchr(line, '#')) != NULL)
		*w[0] = '\0';
	for (n = 0; n < ACL_WORDS_MAX; n++) {
		w[n] = strtok_r(n == 0 ? line : NULL, " \t\r\n", &save);
		if (w[n] == NULL)
			break;
	}
	if (n == 0)
		return (0);
	if (strcmp(w[0], "limit") == 0)
		return (acl_limit_line(a, w, n, msg, len));
	if (n != 4 || strcmp(w[0], "allow") != 0) {
		snprintf(msg, len, "expected 'allow WHO RIGHTS CHANNEL' or "
		    "'limit WHO KEY VALUE ...'");
		return (-1);
	}
	memset(&r, 0, sizeof(r));
	if (acl_parse_who(&r, w[1], msg, len) != 0 ||
	    acl_parse_rights(a, &r, w[2], msg, len) != 0 ||
	    acl_parse_channel(&r, w[3], msg, len) != 0)
		return (-1);
	if (acl_add(a, &r) != 0) {
		snprintf(msg, len, "out of memory");
		return (-1);
	}
	return (0);
}

/* Warns about a rules file that others may rewrite. */
static void
acl_check_mode(FILE *f, const char *path)
{
	struct stat	st;

	if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IWOTH))
		log_warning("access file %s is writable by everyone: anyone "
		    "may grant themselves any right", path);
}

struct acl *
acl_load(const char *path, uid_t owner, char *err, size_t errlen)
{
	struct acl	*a;
	FILE		*f;
	char		 line[ACL_LINE_MAX + 2], msg[ACL_ERR_MAX];
	unsigned	 lineno = 0;
	int		 rc = 0;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	a->owner = owner;
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "cannot read access file %s: %s", path,
		    strerror(errno));
		acl_free(a);
		return (NULL);
	}
	acl_check_mode(f, path);
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(msg, sizeof(msg), "line longer than %d bytes",
			    ACL_LINE_MAX);
			rc = -1;
		} else
			rc = acl_line(a, line, msg, sizeof(msg));
		if (rc != 0)
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "cannot read access file %s: %s", path,
		    strerror(errno));
		rc = -1;
	}
	fclose(f);
	if (rc != 0) {
		acl_free(a);
		return (NULL);
	}
	return (a);
}

static bool
acl_in_group(const struct acl_peer *p, unsigned long gid)
{
	size_t	i;

	if (p->gid == gid)
		return (true);
	for (i = 0; i < p->ngroups; i++) {
		if (p->groups[i] == gid)
			return (true);
	}
	return (false);
}

static bool
acl_who_matches(const struct acl_rule *r, const struct acl_peer *p)
{
	switch (r->who) {
	case ACL_WHO_ANY:
		return (true);
	case ACL_WHO_UID:
		return (p->uid == r->id);
	case ACL_WHO_GID:
		return (acl_in_group(p, r->id));
	}
	return (false);
}

static bool
acl_name_matches(const struct acl_rule *r, const void *name, size_t len)
{
	if (r->prefix)
		return (len >= r->len && memcmp(name, r->name, r->len) == 0);
	return (len == r->len && memcmp(name, r->name, len) == 0);
}

static bool
acl_superuser(const struct acl *a, const struct acl_peer *p)
{
	return (p->uid == 0 || p->uid == a->owner);
}

unsigned
acl_rights(const struct acl *a, const struct acl_peer *p, const void *name,
    size_t len)
{
	unsigned	rights = 0;
	size_t		i;

	if (a == NULL || acl_superuser(a, p))
		return (ACL_ALL);
	for (i = 0; i < a->n && rights != ACL_ALL; i++) {
		if (acl_who_matches(&a->rules[i], p) &&
		    acl_name_matches(&a->rules[i], name, len))
			rights |= a->rules[i].rights;
	}
	return (rights);
}

unsigned
acl_rights_some(const struct acl *a, const struct acl_peer *p)
{
	unsigned	rights = 0;
	size_t		i;

	if (a == NULL || acl_superuser(a, p))
		return (ACL_ALL);
	for (i = 0; i < a->n; i++) {
		if (acl_who_matches(&a->rules[i], p))
			rights |= a->rules[i].rights;
	}
	return (rights);
}

bool
acl_all(const struct acl *a, const struct acl_peer *p, unsigned right)
{
	size_t	i;

	if (a == NULL || acl_superuser(a, p))
		return (true);
	for (i = 0; i < a->n; i++) {
		if (a->rules[i].prefix && a->rules[i].len == 0 &&
		    (a->rules[i].rights & right) == right &&
		    acl_who_matches(&a->rules[i], p))
			return (true);
	}
	return (false);
}

void
acl_limits(const struct acl *a, const struct acl_peer *p,
    struct acl_limits *out)
{
	const struct acl_limit_rule	*lr;
	struct acl_rule			 who;
	size_t				 i;
	int				 k;

	for (k = 0; k < ACL_LIM_N; k++)
		out->v[k] = ACL_LIM_NONE;
	if (a == NULL || acl_superuser(a, p))
		return;
	memset(&who, 0, sizeof(who));
	for (i = 0; i < a->nlimits; i++) {
		lr = &a->limits[i];
		who.who = lr->who;
		who.id = lr->id;
		if (!acl_who_matches(&who, p))
			continue;
		for (k = 0; k < ACL_LIM_N; k++)
			if (out->v[k] == ACL_LIM_NONE)
				out->v[k] = lr->lim.v[k];
	}
}

bool
acl_may_create(const struct acl *a, const struct acl_peer *p,
    const void *name, size_t len)
{
	unsigned	r;

	if (a == NULL || acl_superuser(a, p))
		return (true);
	r = acl_rights(a, p, name, len);
	if (!a->create_named)
		return ((r & (ACL_SEND | ACL_RECV)) != 0);
	return ((r & ACL_CREATE) != 0);
}

bool
acl_privileged(const struct acl *a, const struct acl_peer *p)
{
	return ((acl_rights_some(a, p) & ACL_ADMIN) != 0);
}

/* Connections. */

static void
acl_conn_peer(const struct conn *c, struct acl_peer *p)
{
	p->uid = c->uid;
	p->gid = c->gid;
	p->groups = c->groups;
	p->ngroups = c->ngroups;
}

unsigned
acl_conn_rights(const struct conn *c, const void *name, size_t len)
{
	struct acl_peer	p;

	acl_conn_peer(c, &p);
	return (acl_rights(c->srv->acl, &p, name, len));
}

unsigned
acl_conn_some(const struct conn *c)
{
	struct acl_peer	p;

	acl_conn_peer(c, &p);
	return (acl_rights_some(c->srv->acl, &p));
}

void
acl_conn_limits(const struct conn *c, struct acl_limits *out)
{
	struct acl_peer	p;

	acl_conn_peer(c, &p);
	acl_limits(c->srv->acl, &p, out);
}

bool
acl_conn_may_create(const struct conn *c, const void *name, size_t len)
{
	struct acl_peer	p;

	acl_conn_peer(c, &p);
	return (acl_may_create(c->srv->acl, &p, name, len));
}

bool
acl_conn_privileged(const struct conn *c)
{
	struct acl_peer	p;

	acl_conn_peer(c, &p);
	return (acl_privileged(c->srv->acl, &p));
}

bool
acl_conn_all(const struct conn *c, unsigned right)
{
	struct acl_peer	p;

	acl_conn_peer(c, &p);
	return (acl_all(c->srv->acl, &p, right));
}

bool
acl_sees_channel(const struct conn *viewer, const struct channel *ch)
{
	return ((acl_conn_rights(viewer, ch->name, ch->name_len) &
	    ACL_ADMIN) != 0);
}

bool
acl_sees_conn(const struct conn *viewer, const struct conn *other)
{
	struct acl_peer	p;

	if (viewer->uid == other->uid)
		return (true);
	acl_conn_peer(viewer, &p);
	return (acl_all(viewer->srv->acl, &p, ACL_ADMIN));
}

int
acl_peer_groups(int fd, gid_t **groups, size_t *n)
{
	socklen_t	 len;
	gid_t		*g;

	*groups = NULL;
	*n = 0;
#ifdef SO_PEERGROUPS
	len = 16 * sizeof(gid_t);
	for (;;) {
		if ((g = malloc(len)) == NULL)
			return (-1);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0)
			break;
		free(g);
		/* ERANGE: len now holds the size needed. */
		if (errno != ERANGE ||
		    len > ACL_GROUPS_MAX * sizeof(gid_t))
			return (-1);
	}
	*groups = g;
	*n = len / sizeof(gid_t);
	return (0);
#else
	(void)len;
	(void)g;
	return (-1);
#endif
}

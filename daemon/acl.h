/* SPDX-License-Identifier: MIT */
/*
 * acl.h: access rules from peer credentials (docs/security.md).
 *
 * Every connection carries its peer's uid, gid and supplementary groups,
 * as the kernel reported them when it connected (SO_PEERCRED and
 * SO_PEERGROUPS). The rules file (--access-file) grants rights on
 * channels to users and groups:
 *
 *	# allow WHO RIGHTS CHANNEL
 *	allow user:alice   send        jobs
 *	allow group:backup recv,admin  backup.*
 *	allow uid:1001     all         *
 *	allow *            recv        public.*
 *
 * WHO is user:NAME, uid:N, group:NAME, gid:N or * (anyone). RIGHTS is a
 * comma-separated list of send (OPEN_TX), recv (OPEN_RX), admin (the
 * STATS view) and create (the open that creates a channel), or all.
 * CHANNEL is a name, a prefix ending in *, or * for every channel. Rules
 * only grant: a peer's rights on a channel are the union of every rule
 * that matches it, and root and the daemon's own user hold every right.
 * Until some rule names the create right, send and recv imply it. Without
 * a rules file there are no rules to apply and anyone who can open the
 * socket may do everything.
 *
 * Limits per uid (docs/security.md):
 *
 *	# limit WHO KEY VALUE [KEY VALUE ...]
 *	limit uid:65534 connections 4 handles 64 channels 8
 *	limit *         queued-bytes 16777216 capacity 1000
 *
 * For each key the first line that matches the peer and names the key
 * gives its value; root and the daemon's own user have none.
 */
#ifndef CHAND_ACL_H
#define CHAND_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ACL_SEND	0x1u
#define ACL_RECV	0x2u
#define ACL_ADMIN	0x4u
#define ACL_CREATE	0x8u
#define ACL_ALL		(ACL_SEND | ACL_RECV | ACL_ADMIN | ACL_CREATE)

/* Keys of limit lines: indexes into struct acl_limits. */
enum acl_limit_key {
	ACL_LIM_CONNECTIONS,	/* connections of the uid at once */
	ACL_LIM_HANDLES,	/* open handles, all its connections */
	ACL_LIM_CHANNELS,	/* channels it created that exist */
	ACL_LIM_QUEUED_BYTES,	/* payload queued in channels it created */
	ACL_LIM_QUEUED_MSGS,	/* messages queued in channels it created */
	ACL_LIM_CAPACITY,	/* most capacity of a channel it creates */
	ACL_LIM_CAPACITY_BYTES,	/* most capacity_bytes of one */
	ACL_LIM_N
};

/* No limit. */
#define ACL_LIM_NONE	UINT64_MAX

struct acl_limits {
	uint64_t	 v[ACL_LIM_N];	/* ACL_LIM_NONE: no limit */
};

#define ACL_ERR_MAX	512

/* Who is asking: the credentials of a connection's peer. */
struct acl_peer {
	uid_t		 uid;
	gid_t		 gid;
	const gid_t	*groups;	/* supplementary groups */
	size_t		 ngroups;
};

struct acl;

/*
 * Reads the rules in path; names of users and groups are looked up now.
 * owner is the daemon's own uid, which holds every right like root.
 * Returns the rules, or NULL with a message naming the file and line in
 * err.
 */
struct acl	*acl_load(const char *path, uid_t owner, char *err,
		    size_t errlen);
/* Frees the rules; NULL is allowed. */
void		 acl_free(struct acl *);
/* Number of rules loaded. */
size_t		 acl_count(const struct acl *);

/*
 * The ACL_* rights of p on the channel named by len bytes of name. A NULL
 * acl (no rules file) grants everything.
 */
unsigned	 acl_rights(const struct acl *, const struct acl_peer *p,
		    const void *name, size_t len);
/*
 * The rights p holds on at least one channel: right is in the result if
 * some rule, for some channel, grants it to p.
 */
unsigned	 acl_rights_some(const struct acl *, const struct acl_peer *p);
/* True if p holds every right on every channel (root, owner, rule on *). */
bool		 acl_all(const struct acl *, const struct acl_peer *p,
		    unsigned right);

/* p's limits, from the limit lines (all ACL_LIM_NONE for a NULL acl). */
void		 acl_limits(const struct acl *, const struct acl_peer *p,
		    struct acl_limits *out);
/* The name of a limit key, as the access file writes it. */
const char	*acl_limit_name(enum acl_limit_key);
/*
 * True if p may create the channel named by len bytes of name: the
 * create right, or, while no rule names that right, send or recv.
 */
bool		 acl_may_create(const struct acl *, const struct acl_peer *p,
		    const void *name, size_t len);
/*
 * True if p may use the daemon-wide limits' reserve: root, the daemon's
 * user, a holder of the admin right on some channel, or anyone without
 * a rules file.
 */
bool		 acl_privileged(const struct acl *, const struct acl_peer *p);

/* "send", "recv", "admin", "create" for one ACL_* right. */
const char	*acl_right_name(unsigned right);

struct conn;

struct channel;

/* acl_limits, acl_may_create and acl_privileged for c's peer. */
void		 acl_conn_limits(const struct conn *c, struct acl_limits *out);
bool		 acl_conn_may_create(const struct conn *c, const void *name,
		    size_t len);
bool		 acl_conn_privileged(const struct conn *c);

/* The ACL_* rights of connection c's peer on a channel, by the daemon's
   current rules. */
unsigned	 acl_conn_rights(const struct conn *c, const void *name,
		    size_t len);
/* True if c's peer holds right on every channel (acl_all). */
bool		 acl_conn_all(const struct conn *c, unsigned right);
/* The rights c's peer holds on at least one channel (acl_rights_some). */
unsigned	 acl_conn_some(const struct conn *c);
/*
 * The admin view's filters (admin_set_filter): a viewer sees the channels
 * it holds the admin right on, and its own uid's connections, or all of
 * them with the admin right on every channel.
 */
bool		 acl_sees_channel(const struct conn *viewer,
		    const struct channel *ch);
bool		 acl_sees_conn(const struct conn *viewer,
		    const struct conn *other);

/*
 * The supplementary groups of the peer of the connected Unix socket fd
 * (SO_PEERGROUPS), malloc'd into *groups. 0, or -1 if the kernel cannot
 * tell (then *groups is NULL and *n 0: only the primary gid counts).
 */
int		 acl_peer_groups(int fd, gid_t **groups, size_t *n);

#endif /* CHAND_ACL_H */

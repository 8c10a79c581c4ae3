/* SPDX-License-Identifier: MIT */
/*
 * admin.h: the admin view (STATS request, INFO reply; docs/protocol.md,
 * "Admin view"). Builds one msgpack map per request: the daemon's
 * figures, a page of its channels or a page of its connections.
 *
 * What a caller may see can be narrowed (access rules): admin_set_filter
 * installs predicates consulted for every channel and connection listed.
 */
#ifndef CHAND_ADMIN_H
#define CHAND_ADMIN_H

#include <stdbool.h>

struct channel;
struct conn;
struct proto_msg;

/*
 * Visibility predicates: true if viewer may see ch (or other). A NULL
 * member lets everything of its kind through. Hidden channels and
 * connections are left out of pages and of the daemon's counts of them;
 * the daemon-wide message totals are not filtered.
 */
struct admin_filter {
	bool	(*channel)(const struct conn *viewer, const struct channel *ch);
	bool	(*conn)(const struct conn *viewer, const struct conn *other);
};

/* Installs f (copied); NULL removes any filter. */
void	admin_set_filter(const struct admin_filter *f);

/* Dispatch handler of STATS: replies INFO, or ERROR(OPTION). */
void	admin_stats(struct conn *c, const struct proto_msg *m);

/*
 * Dispatch handler of ADMIN (purge, disconnect, log-level, reload):
 * checks the caller's admin right, acts, logs who did it and replies
 * INFO with the result, or ERROR (PERM, OPTION, NOMEM).
 */
void	admin_action(struct conn *c, const struct proto_msg *m);

/* HELLO: keeps the client's name for the connections view. */
void	admin_hello(struct conn *c, const struct proto_msg *m);

#endif /* CHAND_ADMIN_H */

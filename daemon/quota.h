/* SPDX-License-Identifier: MIT */
/*
 * quota.h: what each uid uses of the daemon, against the limit lines of
 * the access file and the reserve of the daemon-wide limits
 * (docs/security.md, "Shares per user").
 *
 * Per uid: its connections, its open handles, the channels it created
 * that exist, and what those channels hold (queued, in flight and held
 * messages and their payload bytes). A peer that is not privileged
 * (acl_privileged: root, the daemon's user, a holder of the admin right)
 * may use the daemon-wide limits (--max-connections, --max-channels,
 * --max-queued-bytes, --max-queued-messages) only up to all but their
 * QUOTA_RESERVE_DIV-th part, which stays for the privileged.
 *
 * Each check returns 0, or CHAN_ELIMIT (CHAN_EPERM for creation) with
 * the refusal in *r: the reason, naming the limit, and for LIMIT the
 * facts of a version 2 ERROR (docs/protocol.md): the limit's name (a
 * key of the access file, or the daemon's option) and its value.
 */
#ifndef CHAND_QUOTA_H
#define CHAND_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct channel;
struct conn;
struct proto_cap;
struct server;

/* The privileged keep 1/16 of each daemon-wide limit. */
#define QUOTA_RESERVE_DIV	16

struct quota_refusal {
	char		 text[160];
	const char	*limit;		/* NULL: no facts (PERM) */
	uint64_t	 value;
};

/* c was accepted: counts it for its uid, or says why it is refused. */
int	quota_conn_open(struct conn *c, struct quota_refusal *r);
/* c is gone (or refused after quota_conn_open). */
void	quota_conn_close(struct conn *c);

/* Whether c's uid may open one more handle. */
int	quota_handle_check(struct conn *c, struct quota_refusal *r);
void	quota_handle_add(struct conn *c);
void	quota_handle_remove(struct conn *c);

/*
 * Whether c may create the channel named by len bytes of name: the
 * create right, its uid's channels, the reserve of --max-channels.
 */
int	quota_channel_check(struct conn *c, const void *name, size_t len,
	    struct quota_refusal *r);
/*
 * The capacities a channel c creates gets: asked (absent: dflt), bounded
 * by c's capacity limits. An explicit ask over a bound (unbounded
 * included) is CHAN_ELIMIT; a default over it is lowered to it.
 */
int	quota_capacity(struct conn *c, uint64_t *msgs, bool msgs_asked,
	    uint64_t *bytes, bool bytes_asked, struct quota_refusal *r);
/* ch was created by c: it counts for c's uid until quota_channel_gone. */
void	quota_channel_created(struct conn *c, struct channel *ch);
void	quota_channel_gone(struct server *, struct channel *ch);

/*
 * Whether c may queue one more message of len bytes on ch: the reserve
 * of the daemon-wide queue limits, the limits of ch's creator.
 */
int	quota_queue_check(struct conn *c, const struct channel *ch,
	    size_t len, struct quota_refusal *r);

/*
 * The room the queue limits leave c's sends to ch: the daemon-wide ones
 * (their share, unless c's peer is privileged) and those of ch's
 * creator; messages and payload bytes, counting what is queued, in
 * flight and held and what producer rings hold granted. The smallest
 * limits it is under go to *lim_msgs and *lim_bytes.
 */
void	quota_queue_room(struct conn *c, const struct channel *ch,
	    uint64_t *msgs, uint64_t *bytes, uint64_t *lim_msgs,
	    uint64_t *lim_bytes);

/*
 * Counts msgs records and bytes payload bytes more (add) or fewer as
 * granted to rings of ch and unused, in its creator's use.
 */
void	quota_resv(struct channel *ch, uint64_t msgs, uint64_t bytes,
	    bool add);

/* Frees the table at exit. */
void	quota_fini(struct server *);

#endif /* CHAND_QUOTA_H */

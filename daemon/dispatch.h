/* SPDX-License-Identifier: MIT */
/*
 * dispatch.h: handling of client requests, one handler per op.
 *
 * Every handler validates the connection's state and the handle, changes
 * the channel, replies (OK, HANDLE or ERROR with the request's rid; rid 0
 * means no reply on success) and runs the delivery pump.
 */
#ifndef CHAND_DISPATCH_H
#define CHAND_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct handle;
struct message;
struct proto_msg;

/* Decodes and handles one frame body. */
void	dispatch_frame(struct conn *c, const char *body, size_t len);
/*
 * Handles SEND m, whose payload was read straight into node
 * (proto_send_head, channel_msg_new) instead of decoded from a body: as
 * dispatch_frame would handle the whole frame, without copying the
 * payload. Takes node: it is queued, held or freed.
 */
void	dispatch_send_node(struct conn *c, const struct proto_msg *m,
	    struct message *node);
/* A frame header announced len bytes, over max: reply and close. */
void	dispatch_too_big(struct conn *c, size_t len, size_t max);
/*
 * Closes handle h of c: a producer's drop, or a consumer's departure
 * (in-flight messages requeued). Frees h and forgets an idle channel.
 */
void	dispatch_handle_drop(struct conn *c, struct handle *h);
/*
 * A held send of producer h was queued or delivered (result 0: OK) or
 * expired (CHAN_EFULL): answers request rid.
 */
void	dispatch_send_done(struct conn *c, struct handle *h, uint32_t rid,
	    int result);
/*
 * A durable send of producer h, waiting for its record (durable.c), is
 * safe (rc 0: OK) or lost (CHAN_EDISK: ERROR saying why): answers request
 * rid, counts it out of h->nheld and completes a waiting CLOSE.
 */
void	dispatch_send_confirmed(struct conn *c, struct handle *h, uint32_t rid,
	    int rc, const char *why);
/* ERROR(rid 0, code, msg) on c, which then closes. */
void	dispatch_conn_error(struct conn *c, int code, const char *msg);
/* The last held send of closing producer h is answered: closes it. */
void	dispatch_close_done(struct conn *c, struct handle *h);

#endif /* CHAND_DISPATCH_H */

/* SPDX-License-Identifier: MIT */
/*
 * pump.h: moves messages from channels to their consumers.
 *
 * Called synchronously after every state change that could allow a
 * delivery (SEND, CREDIT, ACK, consumer open, producer close, output
 * drained), before the next request is handled, so that a PING reply
 * always follows the deliveries and events that earlier requests caused.
 */
#ifndef CHAND_PUMP_H
#define CHAND_PUMP_H

struct channel;
struct conn;
struct server;

/*
 * Delivers from ch while its consumer has credit and room for output,
 * then sends DISCONNECTED if it is due.
 */
void	pump_channel(struct server *, struct channel *ch);
/*
 * RECALL: delivers what the consumer's credit allows, past the output
 * mark (the credit bounds it), reports a disconnection the consumer is
 * owed, then takes the unused credit back.
 */
void	pump_recall(struct server *, struct channel *ch);
/*
 * A SELECT's RECALL, for a member other than the handle it names: takes
 * what the channel's rings committed, delivers what the shared credit
 * allows, past the output mark, and reports a disconnection it is owed.
 */
void	pump_force(struct server *, struct channel *ch);
/* pump_channel for every consumer handle on c stalled for output room. */
void	pump_conn(struct conn *c);

#endif /* CHAND_PUMP_H */

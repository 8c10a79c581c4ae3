/* SPDX-License-Identifier: MIT */
/*
 * test_channel.c: unit tests of the daemon's channel and registry, without
 * sockets or a loop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "channel.h"
#include "proto.h"
#include "registry.h"

/* A consumer handle is opaque to the channel: any non-NULL pointer. */
static int	consumer_a, consumer_b;

static struct channel *
new_channel(struct channel_totals *totals)
{
	struct channel	*ch = channel_new("jobs", 4, totals);

	ck_assert_ptr_nonnull(ch);
	return (ch);
}

static void
push_str(struct channel *ch, const char *s)
{
	ck_assert_int_eq(channel_push(ch, s, strlen(s)), 0);
}

/* Takes one delivery and checks its payload, seq and flags. */
static void
take_expect(struct channel *ch, const char *s, uint64_t seq, uint32_t flags)
{
	struct message	*m = channel_take(ch);

	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->len, strlen(s));
	ck_assert_mem_eq(m->data, s, m->len);
	ck_assert_uint_eq(m->seq, seq);
	ck_assert_uint_eq(m->flags, flags);
}

/* FIFO, ack, credit. */

START_TEST(test_messages_are_delivered_in_fifo_order)
{
	struct channel	*ch = new_channel(NULL);

	push_str(ch, "one");
	push_str(ch, "two");
	push_str(ch, "three");
	ck_assert_int_eq(channel_consumer_attach(ch, &consumer_a), 0);
	channel_credit(ch, 10);
	take_expect(ch, "one", 1, 0);
	take_expect(ch, "two", 2, 0);
	take_expect(ch, "three", 3, 0);
	ck_assert_ptr_null(channel_take(ch));
	ck_assert_uint_eq(ch->nqueued, 0);
	ck_assert_uint_eq(ch->ninflight, 3);
	channel_free(ch);
}
END_TEST

START_TEST(test_empty_payload_is_a_message)
{
	struct channel	*ch = new_channel(NULL);

	ck_assert_int_eq(channel_push(ch, NULL, 0), 0);
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	take_expect(ch, "", 1, 0);
	channel_free(ch);
}
END_TEST

START_TEST(test_ack_is_cumulative)
{
	struct channel	*ch = new_channel(NULL);

	push_str(ch, "a");
	push_str(ch, "b");
	push_str(ch, "c");
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 3);
	take_expect(ch, "a", 1, 0);
	take_expect(ch, "b", 2, 0);
	take_expect(ch, "c", 3, 0);
	ck_assert_int_eq(channel_ack(ch, 2), 0);
	ck_assert_uint_eq(ch->ninflight, 1);
	ck_assert_uint_eq(ch->fhead->seq, 3);
	/* Acking again below what is left changes nothing. */
	ck_assert_int_eq(channel_ack(ch, 1), 0);
	ck_assert_uint_eq(ch->ninflight, 1);
	ck_assert_int_eq(channel_ack(ch, 3), 0);
	ck_assert_uint_eq(ch->ninflight, 0);
	ck_assert_ptr_null(ch->fhead);
	channel_free(ch);
}
END_TEST

/*
 * Seqs in flight run without a gap but after a direct reader gave its
 * ring back (channel_push_inflight): an ACK takes exactly those up to its
 * seq either way.
 */
START_TEST(test_ack_takes_up_to_its_seq_across_a_gap)
{
	struct channel	*ch = new_channel(NULL);

	push_str(ch, "a");
	push_str(ch, "b");
	push_str(ch, "c");
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 3);
	take_expect(ch, "a", 1, 0);
	take_expect(ch, "b", 2, 0);
	take_expect(ch, "c", 3, 0);
	ck_assert_int_eq(channel_ack(ch, 1), 0);
	ck_assert_uint_eq(ch->ninflight, 2);
	ck_assert_uint_eq(ch->fhead->seq, 2);
	ck_assert_int_eq(channel_push_inflight(ch, "d", 1, 7), 0);
	ck_assert_int_eq(channel_push_inflight(ch, "e", 1, 8), 0);
	ck_assert_uint_eq(ch->last_seq, 8);
	ck_assert_int_eq(channel_ack(ch, 5), 0);
	ck_assert_uint_eq(ch->ninflight, 2);
	ck_assert_uint_eq(ch->fhead->seq, 7);
	ck_assert_uint_eq(ch->bytes, 2);
	ck_assert_int_eq(channel_ack(ch, 7), 0);
	ck_assert_uint_eq(ch->ninflight, 1);
	ck_assert_uint_eq(ch->fhead->seq, 8);
	ck_assert_int_eq(channel_ack(ch, 8), 0);
	ck_assert_uint_eq(ch->ninflight, 0);
	ck_assert_ptr_null(ch->fhead);
	ck_assert_uint_eq(ch->bytes, 0);
	ck_assert_uint_eq(ch->acked, 5);
	channel_free(ch);
}
END_TEST

START_TEST(test_ack_beyond_last_delivered_is_rejected)
{
	struct channel	*ch = new_channel(NULL);

	push_str(ch, "a");
	push_str(ch, "b");
	channel_consumer_attach(ch, &consumer_a);
	ck_assert_int_eq(channel_ack(ch, 1), CHAN_EPROTO);
	channel_credit(ch, 1);
	take_expect(ch, "a", 1, 0);
	ck_assert_int_eq(channel_ack(ch, 2), CHAN_EPROTO);
	ck_assert_uint_eq(ch->ninflight, 1);
	ck_assert_int_eq(channel_ack(ch, 1), 0);
	ck_assert_uint_eq(ch->ninflight, 0);
	channel_free(ch);
}
END_TEST

START_TEST(test_delivery_needs_a_consumer_and_credit)
{
	struct channel	*ch = new_channel(NULL);

	push_str(ch, "a");
	push_str(ch, "b");
	push_str(ch, "c");
	channel_credit(ch, 5);		/* no consumer: ignored on attach */
	ck_assert_ptr_null(channel_take(ch));
	channel_consumer_attach(ch, &consumer_a);
	ck_assert_uint_eq(ch->credit, 0);
	ck_assert_ptr_null(channel_take(ch));
	channel_credit(ch, 2);
	take_expect(ch, "a", 1, 0);
	ck_assert_uint_eq(ch->credit, 1);
	take_expect(ch, "b", 2, 0);
	ck_assert_uint_eq(ch->credit, 0);
	ck_assert_ptr_null(channel_take(ch));
	ck_assert_uint_eq(ch->nqueued, 1);
	channel_free(ch);
}
END_TEST

START_TEST(test_credit_accumulates_capped_at_65535)
{
	struct channel	*ch = new_channel(NULL);

	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 3);
	channel_credit(ch, 4);
	ck_assert_uint_eq(ch->credit, 7);
	channel_credit(ch, 65535);
	ck_assert_uint_eq(ch->credit, PROTO_CREDIT_MAX);
	channel_credit(ch, 1);
	ck_assert_uint_eq(ch->credit, 65535);
	channel_free(ch);
}
END_TEST

/*
 * A SELECT group: a member that leaves from the middle is replaced by the
 * last, the others keep sharing the credit, and a channel named twice is
 * in it once; the group goes with its last member (ASan: no leak, no
 * use after free).
 */
START_TEST(test_group_members_leave_in_any_order)
{
	struct channel	*ch[3], *chs[4];
	struct selgroup	*g;
	int		 i;

	for (i = 0; i < 3; i++) {
		ch[i] = new_channel(NULL);
		ck_assert_int_eq(channel_consumer_attach(ch[i], &consumer_a),
		    0);
		push_str(ch[i], "m");
	}
	chs[0] = ch[0];
	chs[1] = ch[1];
	chs[2] = ch[2];
	chs[3] = ch[1];
	ck_assert_ptr_nonnull(g = channel_group_new(chs, 4, 2));
	ck_assert_uint_eq(g->members, 3);
	channel_credit(ch[1], 1);	/* leaves the group: its own credit */
	ck_assert_ptr_null(ch[1]->group);
	ck_assert_uint_eq(g->members, 2);
	ck_assert_ptr_eq(ch[0]->group, g);
	ck_assert_ptr_eq(ch[2]->group, g);
	ck_assert_ptr_eq(g->chs[ch[2]->group_idx], ch[2]);
	ck_assert_ptr_eq(g->chs[ch[0]->group_idx], ch[0]);
	take_expect(ch[2], "m", 1, 0);
	ck_assert_uint_eq(channel_credit_left(ch[0]), 1);
	take_expect(ch[1], "m", 1, 0);
	channel_group_leave(ch[2]);
	ck_assert_ptr_eq(g->chs[ch[0]->group_idx], ch[0]);
	take_expect(ch[0], "m", 1, 0);
	ck_assert_uint_eq(channel_credit_left(ch[0]), 0);
	for (i = 0; i < 3; i++)
		channel_free(ch[i]);	/* ch[0] takes the group with it */
}
END_TEST

START_TEST(test_second_consumer_is_busy)
{
	struct channel	*ch = new_channel(NULL);

	ck_assert_int_eq(channel_consumer_attach(ch, &consumer_a), 0);
	ck_assert_int_eq(channel_consumer_attach(ch, &consumer_b), CHAN_EBUSY);
	ck_assert_ptr_eq(ch->consumer, &consumer_a);
	channel_consumer_detach(ch);
	ck_assert_int_eq(channel_consumer_attach(ch, &consumer_b), 0);
	channel_free(ch);
}
END_TEST

START_TEST(test_consumer_detach_requeues_in_flight_at_front_in_order)
{
	struct channel	*ch = new_channel(NULL);

	push_str(ch, "a");
	push_str(ch, "b");
	push_str(ch, "c");
	push_str(ch, "d");
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 3);
	take_expect(ch, "a", 1, 0);
	take_expect(ch, "b", 2, 0);
	take_expect(ch, "c", 3, 0);
	ck_assert_int_eq(channel_ack(ch, 1), 0);

	channel_consumer_detach(ch);
	ck_assert_ptr_null(ch->consumer);
	ck_assert_uint_eq(ch->credit, 0);
	ck_assert_uint_eq(ch->ninflight, 0);
	ck_assert_uint_eq(ch->nqueued, 3);

	/* The next consumer starts again at seq 1, b and c redelivered. */
	channel_consumer_attach(ch, &consumer_b);
	channel_credit(ch, 10);
	take_expect(ch, "b", 1, PROTO_FLAG_REDELIVERED);
	take_expect(ch, "c", 2, PROTO_FLAG_REDELIVERED);
	take_expect(ch, "d", 3, 0);
	ck_assert_uint_eq(ch->redeliveries, 2);
	ck_assert_uint_eq(ch->msgs_in, 4);
	ck_assert_uint_eq(ch->msgs_out, 6);
	channel_free(ch);
}
END_TEST

START_TEST(test_detach_with_empty_queue_keeps_tail_usable)
{
	struct channel	*ch = new_channel(NULL);

	push_str(ch, "a");
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	take_expect(ch, "a", 1, 0);
	channel_consumer_detach(ch);
	/* The queue was empty: a push must land after the requeued one. */
	push_str(ch, "b");
	channel_consumer_attach(ch, &consumer_b);
	channel_credit(ch, 2);
	take_expect(ch, "a", 1, PROTO_FLAG_REDELIVERED);
	take_expect(ch, "b", 2, 0);
	channel_free(ch);
}
END_TEST

START_TEST(test_bytes_are_accounted_channel_and_total)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = new_channel(&t);

	push_str(ch, "12345");
	push_str(ch, "123");
	ck_assert_uint_eq(ch->bytes, 8);
	ck_assert_uint_eq(t.bytes, 8);
	ck_assert_uint_eq(t.msgs, 2);
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	take_expect(ch, "12345", 1, 0);
	ck_assert_uint_eq(t.bytes, 8);		/* in flight still counts */
	ck_assert_uint_eq(t.msgs, 2);
	ck_assert_int_eq(channel_ack(ch, 1), 0);
	ck_assert_uint_eq(t.bytes, 3);
	ck_assert_uint_eq(t.msgs, 1);
	channel_free(ch);
	ck_assert_uint_eq(t.bytes, 0);
	ck_assert_uint_eq(t.msgs, 0);
}
END_TEST

START_TEST(test_empty_messages_are_counted)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = new_channel(&t);

	ck_assert_int_eq(channel_push(ch, "", 0), 0);
	ck_assert_int_eq(channel_push(ch, "", 0), 0);
	ck_assert_uint_eq(t.bytes, 0);
	ck_assert_uint_eq(t.msgs, 2);
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	ck_assert_ptr_nonnull(channel_take(ch));
	channel_consumer_detach(ch);		/* requeued: still held */
	ck_assert_uint_eq(t.msgs, 2);
	channel_free(ch);
	ck_assert_uint_eq(t.msgs, 0);
}
END_TEST

/* Disconnection: a channel with every condition met, then one broken. */

static struct channel *
reportable_channel(void)
{
	struct channel	*ch = new_channel(NULL);

	channel_producer_attach(ch);
	channel_producer_detach(ch);
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	ck_assert(channel_should_report(ch));
	return (ch);
}

START_TEST(test_report_when_all_conditions_hold)
{
	struct channel	*ch = reportable_channel();

	channel_free(ch);
}
END_TEST

START_TEST(test_no_report_while_queue_not_empty)
{
	struct channel	*ch = reportable_channel();

	push_str(ch, "a");
	ck_assert(!channel_should_report(ch));
	/* Delivered but unacknowledged: still not. */
	channel_credit(ch, 1);
	take_expect(ch, "a", 1, 0);
	channel_credit(ch, 1);
	ck_assert(!channel_should_report(ch));
	ck_assert_int_eq(channel_ack(ch, 1), 0);
	ck_assert(channel_should_report(ch));
	channel_free(ch);
}
END_TEST

START_TEST(test_no_report_while_in_flight)
{
	struct channel	*ch = reportable_channel();

	push_str(ch, "a");
	take_expect(ch, "a", 1, 0);
	channel_credit(ch, 1);
	ck_assert_uint_eq(ch->nqueued, 0);
	ck_assert(!channel_should_report(ch));
	channel_free(ch);
}
END_TEST

START_TEST(test_no_report_while_a_producer_is_open)
{
	struct channel	*ch = reportable_channel();

	channel_producer_attach(ch);
	ck_assert(!channel_should_report(ch));
	channel_producer_attach(ch);
	channel_producer_detach(ch);
	ck_assert(!channel_should_report(ch));
	channel_producer_detach(ch);
	ck_assert(channel_should_report(ch));
	channel_free(ch);
}
END_TEST

START_TEST(test_no_report_without_a_producer_ever)
{
	struct channel	*ch = new_channel(NULL);

	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	ck_assert(!ch->armed);
	ck_assert(!channel_should_report(ch));
	channel_free(ch);
}
END_TEST

START_TEST(test_no_report_without_consumer_or_credit)
{
	struct channel	*ch = reportable_channel();

	channel_consumer_detach(ch);
	ck_assert(!channel_should_report(ch));
	channel_consumer_attach(ch, &consumer_b);
	ck_assert_uint_eq(ch->credit, 0);
	ck_assert(!channel_should_report(ch));
	channel_credit(ch, 1);
	ck_assert(channel_should_report(ch));
	channel_free(ch);
}
END_TEST

START_TEST(test_report_clears_armed_and_a_new_producer_sets_it)
{
	struct channel	*ch = reportable_channel();

	channel_mark_reported(ch);
	ck_assert(!ch->armed);
	ck_assert(!channel_should_report(ch));
	channel_producer_attach(ch);
	ck_assert(ch->armed);
	ck_assert(!channel_should_report(ch));
	channel_producer_detach(ch);
	ck_assert(channel_should_report(ch));
	channel_free(ch);
}
END_TEST

START_TEST(test_idle_only_with_nothing_attached_or_held)
{
	struct channel	*ch = new_channel(NULL);

	ck_assert(channel_is_idle(ch));
	channel_producer_attach(ch);
	ck_assert(!channel_is_idle(ch));
	channel_producer_detach(ch);
	ck_assert(channel_is_idle(ch));

	channel_consumer_attach(ch, &consumer_a);
	ck_assert(!channel_is_idle(ch));
	channel_consumer_detach(ch);
	ck_assert(channel_is_idle(ch));

	push_str(ch, "a");
	ck_assert(!channel_is_idle(ch));
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	take_expect(ch, "a", 1, 0);
	channel_consumer_detach(ch);		/* requeued: not idle */
	ck_assert(!channel_is_idle(ch));
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	take_expect(ch, "a", 1, PROTO_FLAG_REDELIVERED);
	ck_assert_int_eq(channel_ack(ch, 1), 0);
	channel_consumer_detach(ch);
	ck_assert(channel_is_idle(ch));
	channel_free(ch);
}
END_TEST

START_TEST(test_name_of_invalid_length_is_refused)
{
	char	name[PROTO_NAME_MAX + 1];

	memset(name, 'x', sizeof(name));
	ck_assert_ptr_null(channel_new(name, 0, NULL));
	ck_assert_ptr_null(channel_new(name, PROTO_NAME_MAX + 1, NULL));
}
END_TEST

/* Registry. */

START_TEST(test_registry_creates_finds_and_forgets)
{
	struct registry	 reg;
	struct channel	*a, *b;

	registry_init(&reg);
	ck_assert_ptr_null(registry_find(&reg, "jobs", 4));
	ck_assert_int_eq(registry_open(&reg, "jobs", 4, &a), 0);
	ck_assert_int_eq(registry_open(&reg, "jobs", 4, &b), 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_eq(registry_find(&reg, "jobs", 4), a);
	ck_assert_ptr_null(registry_find(&reg, "job", 3));
	ck_assert_ptr_null(registry_find(&reg, "jobs2", 5));
	ck_assert_uint_eq(reg.count, 1);

	channel_producer_attach(a);
	ck_assert(!registry_release(&reg, a));
	ck_assert_ptr_eq(registry_find(&reg, "jobs", 4), a);
	channel_producer_detach(a);
	ck_assert(registry_release(&reg, a));
	ck_assert_ptr_null(registry_find(&reg, "jobs", 4));
	ck_assert_uint_eq(reg.count, 0);
	registry_fini(&reg);
}
END_TEST

START_TEST(test_registry_refuses_bad_names)
{
	struct registry	 reg;
	struct channel	*ch = NULL;
	char		 name[PROTO_NAME_MAX + 1];

	memset(name, 'n', sizeof(name));
	registry_init(&reg);
	ck_assert_int_eq(registry_open(&reg, name, 0, &ch), CHAN_EBADNAME);
	ck_assert_int_eq(registry_open(&reg, name, sizeof(name), &ch),
	    CHAN_EBADNAME);
	ck_assert_uint_eq(reg.count, 0);
	ck_assert_int_eq(registry_open(&reg, name, PROTO_NAME_MAX, &ch), 0);
	ck_assert_uint_eq(ch->name_len, PROTO_NAME_MAX);
	ck_assert_mem_eq(ch->name, name, PROTO_NAME_MAX);
	registry_fini(&reg);
}
END_TEST

START_TEST(test_registry_names_are_bytes_with_nul)
{
	struct registry	 reg;
	struct channel	*a, *b, *c;

	registry_init(&reg);
	ck_assert_int_eq(registry_open(&reg, "a\0b", 3, &a), 0);
	ck_assert_int_eq(registry_open(&reg, "a\0c", 3, &b), 0);
	ck_assert_int_eq(registry_open(&reg, "a", 1, &c), 0);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_ne(a, c);
	ck_assert_ptr_eq(registry_find(&reg, "a\0b", 3), a);
	ck_assert_ptr_eq(registry_find(&reg, "a\0c", 3), b);
	ck_assert_ptr_eq(registry_find(&reg, "a", 1), c);
	ck_assert_uint_eq(reg.count, 3);
	registry_fini(&reg);
}
END_TEST

#define MANY	100000

static size_t
many_name(char *buf, unsigned i)
{
	return ((size_t)snprintf(buf, 32, "channel-%u", i));
}

START_TEST(test_registry_holds_many_channels_and_grows)
{
	struct registry	 reg;
	struct channel	*ch;
	char		 name[32];
	size_t		 len;
	unsigned	 i;

	registry_init(&reg);
	for (i = 0; i < MANY; i++) {
		len = many_name(name, i);
		ck_assert_int_eq(registry_open(&reg, name, len, &ch), 0);
		channel_producer_attach(ch);
	}
	ck_assert_uint_eq(reg.count, MANY);
	ck_assert_uint_ge(reg.nbuckets, MANY);
	for (i = 0; i < MANY; i++) {
		len = many_name(name, i);
		ch = registry_find(&reg, name, len);
		ck_assert_ptr_nonnull(ch);
		ck_assert_uint_eq(ch->name_len, len);
		ck_assert_mem_eq(ch->name, name, len);
	}
	/* Forget the even ones; the odd ones stay findable. */
	for (i = 0; i < MANY; i += 2) {
		len = many_name(name, i);
		ch = registry_find(&reg, name, len);
		channel_producer_detach(ch);
		ck_assert(registry_release(&reg, ch));
	}
	ck_assert_uint_eq(reg.count, MANY / 2);
	for (i = 0; i < MANY; i++) {
		len = many_name(name, i);
		ch = registry_find(&reg, name, len);
		if (i % 2 == 0)
			ck_assert_ptr_null(ch);
		else
			ck_assert_ptr_nonnull(ch);
	}
	registry_fini(&reg);
}
END_TEST

START_TEST(test_registry_counts_bytes_of_all_channels)
{
	struct registry	 reg;
	struct channel	*a, *b;

	registry_init(&reg);
	ck_assert_int_eq(registry_open(&reg, "a", 1, &a), 0);
	ck_assert_int_eq(registry_open(&reg, "b", 1, &b), 0);
	ck_assert_int_eq(channel_push(a, "xyz", 3), 0);
	ck_assert_int_eq(channel_push(b, "12", 2), 0);
	ck_assert_uint_eq(reg.totals.bytes, 5);
	ck_assert_uint_eq(reg.totals.msgs, 2);
	/* Not idle while a message is queued. */
	ck_assert(!registry_release(&reg, a));
	registry_fini(&reg);
}
END_TEST

/*
 * Capacity and held sends. Producers are opaque to the channel too; the
 * done list and the deadline heap live in the shared totals.
 */
static int	producer_a, producer_b;

/* A channel of the given capacity sharing t. */
static struct channel *
bounded(struct channel_totals *t, uint64_t msgs, uint64_t bytes)
{
	struct channel	*ch = new_channel(t);

	channel_set_capacity(ch, msgs, bytes);
	return (ch);
}

/* channel_send of s by owner with rid; returns what channel_send does. */
static int
send_as(struct channel *ch, const char *s, void *owner, uint32_t rid,
    bool may_wait, uint64_t deadline, struct held **hp)
{
	struct channel_send	a = { owner, rid, may_wait, deadline, 0 };
	struct held		*dummy;

	return (channel_send(ch, s, strlen(s), &a, hp != NULL ? hp : &dummy));
}

static int
send_wait(struct channel *ch, const char *s, uint32_t rid)
{
	return (send_as(ch, s, &producer_a, rid, true, CHANNEL_NO_DEADLINE,
	    NULL));
}

/* The next done held send is rid with result; it is freed. */
static void
done_expect(struct channel_totals *t, uint32_t rid, int result)
{
	struct held	*h = channel_done_next(t);

	ck_assert_msg(h != NULL, "no done send, wanted rid %u", rid);
	ck_assert_uint_eq(h->rid, rid);
	ck_assert_int_eq(h->result, result);
	ck_assert_ptr_null(h->ch);
	channel_held_free(h);
}

START_TEST(test_sends_beyond_capacity_are_held_and_admitted_in_order)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 2, CHANNEL_UNBOUNDED);

	ck_assert_int_eq(send_wait(ch, "a", 1), CHANNEL_QUEUED);
	ck_assert_int_eq(send_wait(ch, "b", 2), CHANNEL_QUEUED);
	ck_assert_int_eq(send_wait(ch, "c", 3), CHANNEL_HELD);
	ck_assert_int_eq(send_wait(ch, "d", 4), CHANNEL_HELD);
	ck_assert_uint_eq(ch->nqueued, 2);
	ck_assert_uint_eq(ch->nheld, 2);
	ck_assert_ptr_null(channel_done_next(&t));

	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	take_expect(ch, "a", 1, 0);
	/* Room for one: the first held send, not the second. */
	done_expect(&t, 3, 0);
	ck_assert_ptr_null(channel_done_next(&t));
	ck_assert_uint_eq(ch->nqueued, 2);
	ck_assert_uint_eq(ch->nheld, 1);

	/* Acknowledging makes no room: capacity counts the queue only. */
	ck_assert_int_eq(channel_ack(ch, 1), 0);
	ck_assert_ptr_null(channel_done_next(&t));

	channel_credit(ch, 3);
	take_expect(ch, "b", 2, 0);
	done_expect(&t, 4, 0);
	take_expect(ch, "c", 3, 0);
	take_expect(ch, "d", 4, 0);
	ck_assert_ptr_null(channel_take(ch));
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_a_send_never_overtakes_a_held_one)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 1, CHANNEL_UNBOUNDED);

	ck_assert_int_eq(send_wait(ch, "a", 1), CHANNEL_QUEUED);
	ck_assert_int_eq(send_wait(ch, "b", 2), CHANNEL_HELD);
	/* The queue is full; even with room a later send would wait. */
	channel_set_capacity(ch, 5, CHANNEL_UNBOUNDED);
	ck_assert_int_eq(send_wait(ch, "c", 3), CHANNEL_HELD);
	ck_assert_int_eq(send_as(ch, "d", &producer_b, 4, false, 0, NULL),
	    CHAN_EFULL);
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 10);
	take_expect(ch, "a", 1, 0);
	done_expect(&t, 2, 0);
	done_expect(&t, 3, 0);
	take_expect(ch, "b", 2, 0);
	take_expect(ch, "c", 3, 0);
	ck_assert_ptr_null(channel_take(ch));
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_byte_budget_holds_but_never_blocks_an_empty_queue)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, CHANNEL_UNBOUNDED, 4);

	/* Larger than the whole budget, at an empty queue: queued. */
	ck_assert_int_eq(send_wait(ch, "0123456789", 1), CHANNEL_QUEUED);
	ck_assert_int_eq(send_wait(ch, "x", 2), CHANNEL_HELD);
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	take_expect(ch, "0123456789", 1, 0);
	done_expect(&t, 2, 0);
	/* Just inside the budget, then just over it. */
	ck_assert_int_eq(send_wait(ch, "abc", 3), CHANNEL_QUEUED);
	ck_assert_uint_eq(ch->qbytes, 4);
	ck_assert_int_eq(send_wait(ch, "y", 4), CHANNEL_HELD);
	ck_assert_int_eq(send_as(ch, "", &producer_b, 5, false, 0, NULL),
	    CHAN_EFULL);
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_rendezvous_delivers_the_held_send_directly)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 0, CHANNEL_UNBOUNDED);

	ck_assert_int_eq(send_wait(ch, "r1", 1), CHANNEL_HELD);
	ck_assert_int_eq(send_wait(ch, "r2", 2), CHANNEL_HELD);
	ck_assert_uint_eq(ch->nqueued, 0);
	/* No consumer, then no credit: nothing moves. */
	ck_assert_ptr_null(channel_take(ch));
	channel_consumer_attach(ch, &consumer_a);
	ck_assert_ptr_null(channel_take(ch));
	ck_assert_ptr_null(channel_done_next(&t));

	channel_credit(ch, 1);
	take_expect(ch, "r1", 1, 0);
	done_expect(&t, 1, 0);
	ck_assert_ptr_null(channel_done_next(&t));
	ck_assert_ptr_null(channel_take(ch));
	ck_assert_uint_eq(ch->ninflight, 1);
	ck_assert_uint_eq(ch->nheld, 1);
	ck_assert_uint_eq(ch->msgs_in, 1);
	channel_credit(ch, 1);
	take_expect(ch, "r2", 2, 0);
	done_expect(&t, 2, 0);
	ck_assert_uint_eq(ch->bytes, 4);
	channel_free(ch);
	ck_assert_uint_eq(t.bytes, 0);
	ck_assert_uint_eq(t.msgs, 0);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_try_send_at_rendezvous_needs_a_waiting_consumer)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 0, CHANNEL_UNBOUNDED);
	struct held		*h;

	ck_assert_int_eq(send_as(ch, "x", &producer_a, 1, false, 0, NULL),
	    CHAN_EFULL);
	channel_consumer_attach(ch, &consumer_a);
	ck_assert_int_eq(send_as(ch, "x", &producer_a, 2, false, 0, NULL),
	    CHAN_EFULL);
	channel_credit(ch, 1);
	ck_assert_int_eq(send_as(ch, "x", &producer_a, 3, false, 0, &h),
	    CHANNEL_HELD);
	ck_assert_ptr_eq(h->ch, ch);
	/* Held for the consumer: a second one would wait, so it fails. */
	ck_assert_int_eq(send_as(ch, "y", &producer_a, 4, false, 0, NULL),
	    CHAN_EFULL);
	take_expect(ch, "x", 1, 0);
	done_expect(&t, 3, 0);
	ck_assert_ptr_null(channel_expire(&t, 0));
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_timed_sends_expire_by_deadline_and_free_their_message)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 0, CHANNEL_UNBOUNDED);
	uint64_t		 when;

	ck_assert(!channel_next_deadline(&t, &when));
	ck_assert_int_eq(send_as(ch, "aa", &producer_a, 1, true, 30, NULL),
	    CHANNEL_HELD);
	ck_assert_int_eq(send_as(ch, "bbb", &producer_a, 2, true, 10, NULL),
	    CHANNEL_HELD);
	ck_assert_int_eq(send_wait(ch, "c", 3), CHANNEL_HELD);
	ck_assert_int_eq(send_as(ch, "dddd", &producer_b, 4, true, 20, NULL),
	    CHANNEL_HELD);
	ck_assert_uint_eq(t.msgs, 4);
	ck_assert_uint_eq(t.held, 4);
	ck_assert_uint_eq(t.bytes, 10);
	ck_assert(channel_next_deadline(&t, &when));
	ck_assert(when == 10);

	ck_assert_ptr_null(channel_expire(&t, 9));
	ck_assert_ptr_eq(channel_expire(&t, 15), ch);
	ck_assert_ptr_null(channel_expire(&t, 15));
	done_expect(&t, 2, CHAN_EFULL);
	ck_assert_uint_eq(t.bytes, 7);
	ck_assert_uint_eq(t.msgs, 3);
	ck_assert_uint_eq(ch->nheld, 3);
	ck_assert_uint_eq(ch->held_bytes, 7);

	ck_assert_ptr_eq(channel_expire(&t, 100), ch);
	ck_assert_ptr_eq(channel_expire(&t, 100), ch);
	ck_assert_ptr_null(channel_expire(&t, UINT64_MAX - 1));
	done_expect(&t, 4, CHAN_EFULL);
	done_expect(&t, 1, CHAN_EFULL);
	ck_assert(!channel_next_deadline(&t, &when));
	/* The untimed one is still held, and is delivered. */
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 5);
	take_expect(ch, "c", 1, 0);
	done_expect(&t, 3, 0);
	ck_assert_ptr_null(channel_take(ch));
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_expiry_of_the_head_lets_the_next_held_send_in)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, CHANNEL_UNBOUNDED, 6);

	ck_assert_int_eq(send_wait(ch, "12345", 1), CHANNEL_QUEUED);
	ck_assert_int_eq(send_as(ch, "too big", &producer_a, 2, true, 5,
	    NULL), CHANNEL_HELD);
	ck_assert_int_eq(send_wait(ch, "z", 3), CHANNEL_HELD);
	/* "z" would fit, but waits behind the head. */
	ck_assert_ptr_eq(channel_expire(&t, 5), ch);
	done_expect(&t, 2, CHAN_EFULL);
	done_expect(&t, 3, 0);
	ck_assert_uint_eq(ch->nqueued, 2);
	ck_assert_uint_eq(ch->nheld, 0);
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_an_admitted_timed_send_leaves_the_deadline_heap)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 1, CHANNEL_UNBOUNDED);
	uint64_t		 when;

	ck_assert_int_eq(send_wait(ch, "a", 1), CHANNEL_QUEUED);
	ck_assert_int_eq(send_as(ch, "b", &producer_a, 2, true, 50, NULL),
	    CHANNEL_HELD);
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	take_expect(ch, "a", 1, 0);
	done_expect(&t, 2, 0);
	ck_assert(!channel_next_deadline(&t, &when));
	ck_assert_ptr_null(channel_expire(&t, 1000));
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_discard_drops_held_and_done_sends_of_one_producer)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 1, CHANNEL_UNBOUNDED);
	size_t			 n;

	ck_assert_int_eq(send_as(ch, "a", &producer_a, 1, true,
	    CHANNEL_NO_DEADLINE, NULL), CHANNEL_QUEUED);
	ck_assert_int_eq(send_as(ch, "bb", &producer_b, 2, true, 40, NULL),
	    CHANNEL_HELD);
	ck_assert_int_eq(send_as(ch, "ccc", &producer_a, 3, true,
	    CHANNEL_NO_DEADLINE, NULL), CHANNEL_HELD);
	ck_assert_int_eq(send_as(ch, "dddd", &producer_b, 4, true,
	    CHANNEL_NO_DEADLINE, NULL), CHANNEL_HELD);
	/* b's first send is admitted but not yet answered. */
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 1);
	take_expect(ch, "a", 1, 0);
	ck_assert_uint_eq(t.held, 2);

	ck_assert_uint_eq(channel_discard(ch, &producer_b, &n), 2 + 4);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_null(channel_done_next(&t));
	ck_assert_uint_eq(ch->nheld, 1);
	ck_assert_uint_eq(t.held, 1);
	/* "bb" stays queued: admitted before its producer left. */
	ck_assert_uint_eq(ch->nqueued, 1);
	ck_assert_uint_eq(t.bytes, 1 + 2 + 3);
	ck_assert_uint_eq(channel_discard(ch, &producer_b, &n), 0);
	ck_assert_uint_eq(n, 0);

	channel_credit(ch, 2);
	take_expect(ch, "bb", 2, 0);
	done_expect(&t, 3, 0);
	take_expect(ch, "ccc", 3, 0);
	channel_free(ch);
	ck_assert_uint_eq(t.bytes, 0);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_held_sends_keep_a_channel_alive_and_delay_the_report)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 0, CHANNEL_UNBOUNDED);
	size_t			 n;

	channel_producer_attach(ch);
	ck_assert_int_eq(send_wait(ch, "x", 1), CHANNEL_HELD);
	/* As if the count fell first: the held send still counts. */
	channel_producer_detach(ch);
	ck_assert(!channel_is_idle(ch));
	channel_consumer_attach(ch, &consumer_a);
	ck_assert(!channel_should_report(ch));
	channel_credit(ch, 1);
	ck_assert(!channel_should_report(ch));
	ck_assert_uint_eq(channel_discard(ch, &producer_a, &n), 1);
	ck_assert(channel_should_report(ch));
	channel_consumer_detach(ch);
	ck_assert(channel_is_idle(ch));
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_freeing_a_channel_frees_its_held_sends)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 0, CHANNEL_UNBOUNDED);
	struct channel		*other = bounded(&t, 0, CHANNEL_UNBOUNDED);
	uint64_t		 when;

	ck_assert_int_eq(send_as(ch, "a", &producer_a, 1, true, 5, NULL),
	    CHANNEL_HELD);
	ck_assert_int_eq(send_wait(ch, "b", 2), CHANNEL_HELD);
	ck_assert_int_eq(send_as(other, "c", &producer_b, 3, true, 7, NULL),
	    CHANNEL_HELD);
	channel_free(ch);
	ck_assert_uint_eq(t.msgs, 1);
	ck_assert_uint_eq(t.held, 1);
	ck_assert(channel_next_deadline(&t, &when));
	ck_assert(when == 7);
	ck_assert_ptr_eq(channel_expire(&t, 7), other);
	channel_free(other);
	/* What is on the done list goes with the totals. */
	channel_totals_fini(&t);
	ck_assert_ptr_null(channel_done_next(&t));
}
END_TEST

START_TEST(test_requeued_messages_may_exceed_capacity_and_hold_new_sends)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 2, CHANNEL_UNBOUNDED);

	ck_assert_int_eq(send_wait(ch, "a", 1), CHANNEL_QUEUED);
	ck_assert_int_eq(send_wait(ch, "b", 2), CHANNEL_QUEUED);
	channel_consumer_attach(ch, &consumer_a);
	channel_credit(ch, 2);
	take_expect(ch, "a", 1, 0);
	take_expect(ch, "b", 2, 0);
	ck_assert_int_eq(send_wait(ch, "c", 3), CHANNEL_QUEUED);
	ck_assert_int_eq(send_wait(ch, "d", 4), CHANNEL_QUEUED);
	channel_consumer_detach(ch);
	ck_assert_uint_eq(ch->nqueued, 4);
	ck_assert_uint_eq(ch->qbytes, 4);
	ck_assert_int_eq(send_wait(ch, "e", 5), CHANNEL_HELD);

	channel_consumer_attach(ch, &consumer_b);
	channel_credit(ch, 2);
	take_expect(ch, "a", 1, PROTO_FLAG_REDELIVERED);
	take_expect(ch, "b", 2, PROTO_FLAG_REDELIVERED);
	ck_assert_ptr_null(channel_done_next(&t));
	channel_credit(ch, 1);
	take_expect(ch, "c", 3, 0);
	done_expect(&t, 5, 0);
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_deadline_heap_expires_in_order_after_random_removals)
{
	enum { N = 2000 };
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 0, CHANNEL_UNBOUNDED);
	uint64_t		 last = 0, now;
	uint32_t		 x = 12345, i;
	struct held		*h;
	size_t			 expired = 0, delivered = 0;

	for (i = 0; i < N; i++) {
		x = x * 1103515245 + 12345;
		ck_assert_int_eq(send_as(ch, "m", &producer_a, i + 1, true,
		    1 + (x >> 8) % 100000, NULL), CHANNEL_HELD);
	}
	/* Deliveries take held sends from the head, out of heap order. */
	channel_consumer_attach(ch, &consumer_a);
	for (i = 0; i < N / 4; i++) {
		channel_credit(ch, 1);
		ck_assert_ptr_nonnull(channel_take(ch));
		ck_assert_int_eq(channel_ack(ch, ch->last_seq), 0);
	}
	for (now = 0; now <= 100000 + 997; now += 997) {
		while (channel_expire(&t, now) != NULL)
			;
	}
	while ((h = channel_done_next(&t)) != NULL) {
		if (h->result == 0) {
			delivered++;
		} else {
			ck_assert(h->deadline >= last);
			last = h->deadline;
			expired++;
		}
		channel_held_free(h);
	}
	ck_assert_uint_eq(delivered, N / 4);
	ck_assert_uint_eq(expired, N - N / 4);
	ck_assert_uint_eq(t.nheap, 0);
	ck_assert_uint_eq(t.msgs, 0);
	channel_free(ch);
	channel_totals_fini(&t);
}
END_TEST

START_TEST(test_sends_without_totals_are_never_held)
{
	struct channel	*ch = new_channel(NULL);

	channel_set_capacity(ch, 1, CHANNEL_UNBOUNDED);
	ck_assert_int_eq(send_wait(ch, "a", 1), CHANNEL_QUEUED);
	ck_assert_int_eq(send_wait(ch, "b", 2), CHAN_EFULL);
	ck_assert_uint_eq(ch->nheld, 0);
	channel_free(ch);
}
END_TEST

/* Message ids: accepted order, held sends included; acked_id; restore. */
START_TEST(test_message_ids_follow_acceptance_and_ack_reports_the_highest)
{
	struct channel_totals	 t = { 0 };
	struct channel		*ch = bounded(&t, 1, CHANNEL_UNBOUNDED);
	struct held		*h;
	struct message		*m;

	ck_assert_uint_eq(ch->next_id, 1);
	ck_assert_int_eq(send_wait(ch, "a", 1), CHANNEL_QUEUED);
	ck_assert_int_eq(send_as(ch, "b", &producer_a, 2, true,
	    CHANNEL_NO_DEADLINE, &h), CHANNEL_HELD);
	ck_assert_uint_eq(h->id, 2);
	/* Refused, as channel_refuses foretold: no id taken. */
	ck_assert(channel_refuses(ch, 1, false));
	ck_assert(!channel_refuses(ch, 1, true));
	ck_assert_int_eq(send_as(ch, "c", &producer_a, 3, false,
	    CHANNEL_NO_DEADLINE, NULL), CHAN_EFULL);
	ck_assert_uint_eq(ch->next_id, 3);

	ck_assert_int_eq(channel_consumer_attach(ch, &consumer_a), 0);
	channel_credit(ch, 2);
	m = channel_take(ch);
	ck_assert_uint_eq(m->id, 1);
	m = channel_take(ch);
	ck_assert_uint_eq(m->id, 2);
	/* Only a durable channel's log reads acked_id, so only it keeps it. */
	ch->durable = true;
	ck_assert_uint_eq(ch->acked_id, 0);
	ck_assert_int_eq(channel_ack(ch, 1), 0);
	ck_assert_uint_eq(ch->acked_id, 1);
	ck_assert_int_eq(channel_ack(ch, 2), 0);
	ck_assert_uint_eq(ch->acked_id, 2);
	channel_free(ch);
	channel_totals_fini(&t);

	/* Recovered messages keep their ids; new ones follow them. */
	ch = new_channel(NULL);
	ck_assert_int_eq(channel_restore(ch, 7, "r", 1,
	    PROTO_FLAG_REDELIVERED), 0);
	ck_assert_int_eq(channel_restore(ch, 9, "s", 1, 0), 0);
	push_str(ch, "new");
	ck_assert_int_eq(channel_consumer_attach(ch, &consumer_a), 0);
	channel_credit(ch, 3);
	m = channel_take(ch);
	ck_assert_uint_eq(m->id, 7);
	ck_assert_uint_eq(m->flags, PROTO_FLAG_REDELIVERED);
	ck_assert_uint_eq(channel_take(ch)->id, 9);
	ck_assert_uint_eq(channel_take(ch)->id, 10);
	channel_free(ch);
}
END_TEST

static Suite *
channel_suite(void)
{
	Suite	*s = suite_create("channel");
	TCase	*tc;

	tc = tcase_create("queue");
	tcase_add_test(tc, test_messages_are_delivered_in_fifo_order);
	tcase_add_test(tc, test_empty_payload_is_a_message);
	tcase_add_test(tc, test_ack_is_cumulative);
	tcase_add_test(tc, test_ack_takes_up_to_its_seq_across_a_gap);
	tcase_add_test(tc, test_ack_beyond_last_delivered_is_rejected);
	tcase_add_test(tc, test_delivery_needs_a_consumer_and_credit);
	tcase_add_test(tc, test_credit_accumulates_capped_at_65535);
	tcase_add_test(tc, test_second_consumer_is_busy);
	tcase_add_test(tc, test_group_members_leave_in_any_order);
	tcase_add_test(tc,
	    test_consumer_detach_requeues_in_flight_at_front_in_order);
	tcase_add_test(tc, test_detach_with_empty_queue_keeps_tail_usable);
	tcase_add_test(tc, test_bytes_are_accounted_channel_and_total);
	tcase_add_test(tc, test_empty_messages_are_counted);
	tcase_add_test(tc, test_name_of_invalid_length_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("disconnect");
	tcase_add_test(tc, test_report_when_all_conditions_hold);
	tcase_add_test(tc, test_no_report_while_queue_not_empty);
	tcase_add_test(tc, test_no_report_while_in_flight);
	tcase_add_test(tc, test_no_report_while_a_producer_is_open);
	tcase_add_test(tc, test_no_report_without_a_producer_ever);
	tcase_add_test(tc, test_no_report_without_consumer_or_credit);
	tcase_add_test(tc, test_report_clears_armed_and_a_new_producer_sets_it);
	tcase_add_test(tc, test_idle_only_with_nothing_attached_or_held);
	suite_add_tcase(s, tc);

	tc = tcase_create("capacity");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc,
	    test_sends_beyond_capacity_are_held_and_admitted_in_order);
	tcase_add_test(tc, test_a_send_never_overtakes_a_held_one);
	tcase_add_test(tc,
	    test_message_ids_follow_acceptance_and_ack_reports_the_highest);
	tcase_add_test(tc,
	    test_byte_budget_holds_but_never_blocks_an_empty_queue);
	tcase_add_test(tc, test_rendezvous_delivers_the_held_send_directly);
	tcase_add_test(tc,
	    test_try_send_at_rendezvous_needs_a_waiting_consumer);
	tcase_add_test(tc,
	    test_timed_sends_expire_by_deadline_and_free_their_message);
	tcase_add_test(tc, test_expiry_of_the_head_lets_the_next_held_send_in);
	tcase_add_test(tc, test_an_admitted_timed_send_leaves_the_deadline_heap);
	tcase_add_test(tc,
	    test_discard_drops_held_and_done_sends_of_one_producer);
	tcase_add_test(tc,
	    test_held_sends_keep_a_channel_alive_and_delay_the_report);
	tcase_add_test(tc, test_freeing_a_channel_frees_its_held_sends);
	tcase_add_test(tc,
	    test_requeued_messages_may_exceed_capacity_and_hold_new_sends);
	tcase_add_test(tc,
	    test_deadline_heap_expires_in_order_after_random_removals);
	tcase_add_test(tc, test_sends_without_totals_are_never_held);
	suite_add_tcase(s, tc);
	return (s);
}

static Suite *
registry_suite(void)
{
	Suite	*s = suite_create("registry");
	TCase	*tc;

	tc = tcase_create("registry");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_registry_creates_finds_and_forgets);
	tcase_add_test(tc, test_registry_refuses_bad_names);
	tcase_add_test(tc, test_registry_names_are_bytes_with_nul);
	tcase_add_test(tc, test_registry_holds_many_channels_and_grows);
	tcase_add_test(tc, test_registry_counts_bytes_of_all_channels);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(channel_suite());
	srunner_add_suite(sr, registry_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

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

static Suite *
channel_suite(void)
{
	Suite	*s = suite_create("channel");
	TCase	*tc;

	tc = tcase_create("queue");
	tcase_add_test(tc, test_messages_are_delivered_in_fifo_order);
	tcase_add_test(tc, test_empty_payload_is_a_message);
	tcase_add_test(tc, test_ack_is_cumulative);
	tcase_add_test(tc, test_ack_beyond_last_delivered_is_rejected);
	tcase_add_test(tc, test_delivery_needs_a_consumer_and_credit);
	tcase_add_test(tc, test_credit_accumulates_capped_at_65535);
	tcase_add_test(tc, test_second_consumer_is_busy);
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

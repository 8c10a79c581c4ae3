/* SPDX-License-Identifier: MIT */
/*
 * test_remember.c: the daemon's memory of channels that ended
 * disconnected (daemon/remember.c): lookups, expiry by age, the bound on
 * how many, and growth past the first table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "remember.h"

#define TTL	1000

static int
take(struct remember *r, const char *name, uint64_t now, uint64_t *when)
{
	return remember_take(r, name, strlen(name), now, when);
}

static void
put(struct remember *r, const char *name, uint64_t when, uint64_t now)
{
	remember_put(r, name, strlen(name), when, now);
}

START_TEST(test_a_name_is_taken_once_with_its_time)
{
	struct remember r;
	uint64_t when = 0;

	remember_init(&r, 16, TTL);
	put(&r, "jobs", 5000, 5000);
	ck_assert_int_eq(take(&r, "job", 5001, &when), 0);
	ck_assert_int_eq(take(&r, "jobs", 5001, &when), 1);
	ck_assert_uint_eq(when, 5000);
	ck_assert_int_eq(take(&r, "jobs", 5002, &when), 0);
	ck_assert_uint_eq(r.count, 0);
	remember_fini(&r);
}
END_TEST

START_TEST(test_names_expire_with_age)
{
	struct remember r;
	uint64_t when;

	remember_init(&r, 16, TTL);
	put(&r, "old", 1000, 1000);
	put(&r, "new", 1500, 1500);
	ck_assert_int_eq(take(&r, "old", 1000 + TTL, &when), 0);
	ck_assert_int_eq(take(&r, "new", 1000 + TTL, &when), 1);
	/* A name that ended longer ago than the ttl is not taken in. */
	put(&r, "stale", 100, 100 + TTL);
	ck_assert_uint_eq(r.count, 0);
	/* Re-remembered with its first time, it keeps its age. */
	put(&r, "again", 2000, 2900);
	ck_assert_int_eq(take(&r, "again", 2000 + TTL, &when), 0);
	remember_fini(&r);
}
END_TEST

START_TEST(test_the_oldest_go_past_the_bound)
{
	struct remember r;
	char name[32];
	uint64_t when;
	int i;

	remember_init(&r, 100, TTL);
	for (i = 0; i < 250; i++) {
		snprintf(name, sizeof name, "ch%d", i);
		put(&r, name, 10, 10);
	}
	ck_assert_uint_eq(r.count, 100);
	ck_assert_int_eq(take(&r, "ch149", 11, &when), 0);
	for (i = 150; i < 250; i++) {
		snprintf(name, sizeof name, "ch%d", i);
		ck_assert_msg(take(&r, name, 11, &when) == 1, "%s", name);
	}
	ck_assert_uint_eq(r.count, 0);
	remember_fini(&r);
}
END_TEST

START_TEST(test_nothing_is_remembered_without_room_or_time)
{
	struct remember r;
	uint64_t when;

	remember_init(&r, 0, TTL);
	put(&r, "x", 1, 1);
	ck_assert_int_eq(take(&r, "x", 1, &when), 0);
	remember_fini(&r);
	remember_init(&r, 10, 0);
	put(&r, "x", 1, 1);
	ck_assert_int_eq(take(&r, "x", 1, &when), 0);
	remember_fini(&r);
}
END_TEST

START_TEST(test_many_names_and_binary_bytes)
{
	struct remember r;
	char name[64];
	uint64_t when;
	int i;

	remember_init(&r, 100000, TTL);
	for (i = 0; i < 20000; i++) {
		memset(name, 0, sizeof name);
		snprintf(name + 1, sizeof name - 1, "%d", i);
		remember_put(&r, name, 1 + strlen(name + 1), 7, 7);
	}
	for (i = 19999; i >= 0; i -= 7) {
		memset(name, 0, sizeof name);
		snprintf(name + 1, sizeof name - 1, "%d", i);
		ck_assert(remember_take(&r, name, 1 + strlen(name + 1), 8,
		    &when));
	}
	remember_fini(&r);
}
END_TEST

static Suite *
remember_suite(void)
{
	Suite *s = suite_create("remember");
	TCase *tc = tcase_create("names");

	tcase_add_test(tc, test_a_name_is_taken_once_with_its_time);
	tcase_add_test(tc, test_names_expire_with_age);
	tcase_add_test(tc, test_the_oldest_go_past_the_bound);
	tcase_add_test(tc, test_nothing_is_remembered_without_room_or_time);
	tcase_add_test(tc, test_many_names_and_binary_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(remember_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

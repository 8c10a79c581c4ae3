/* SPDX-License-Identifier: MIT */
/*
 * payload.c: the payload layout (bench.h) and the consumer's check that
 * every message arrived whole and in per-sender order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void
payload_fill(char *p, size_t size, uint32_t sender, uint32_t seq, int64_t ts)
{
	memcpy(p, &sender, 4);
	memcpy(p + 4, &seq, 4);
	memcpy(p + 8, &ts, 8);
	if (size > BENCH_HDR)
		p[size - 1] = (char)(seq & 0xff);
}

void
payload_stamp(char *p, int64_t ts)
{
	memcpy(p + 8, &ts, 8);
}

void
payload_touch(const void *p, size_t len)
{
	const volatile unsigned char	*b = p;
	size_t				 i;

	/* volatile: each read happens, though its value is not used. */
	for (i = 0; i < len; i += 64)
		(void)b[i];
}

int
order_init(struct order_check *oc, uint32_t nsenders, uint64_t lat_cap,
    uint64_t skip)
{
	memset(oc, 0, sizeof(*oc));
	oc->nsenders = nsenders;
	oc->skip = skip;
	if ((oc->next = calloc(nsenders, sizeof(*oc->next))) == NULL)
		return (-1);
	if (lat_cap > 0 && (oc->lat = calloc(lat_cap, sizeof(*oc->lat))) ==
	    NULL)
		return (-1);
	oc->lat_cap = lat_cap;
	return (0);
}

int
order_check(struct order_check *oc, const void *p, size_t len,
    size_t want_len, int64_t now)
{
	const char	*b = p;
	uint32_t	 sender, seq;
	int64_t		 ts;

	if (len != want_len) {
		snprintf(oc->err, sizeof(oc->err), "message %llu: %zu bytes, "
		    "expected %zu", (unsigned long long)oc->seen, len,
		    want_len);
		return (-1);
	}
	memcpy(&sender, b, 4);
	memcpy(&seq, b + 4, 4);
	memcpy(&ts, b + 8, 8);
	if (sender >= oc->nsenders) {
		snprintf(oc->err, sizeof(oc->err), "message %llu: sender %u "
		    "out of range (%u senders)", (unsigned long long)oc->seen,
		    sender, oc->nsenders);
		return (-1);
	}
	if (seq != oc->next[sender]) {
		snprintf(oc->err, sizeof(oc->err), "sender %u: got seq %u, "
		    "expected %u (lost, duplicated or reordered)", sender, seq,
		    oc->next[sender]);
		return (-1);
	}
	if (len > BENCH_HDR && b[len - 1] != (char)(seq & 0xff)) {
		snprintf(oc->err, sizeof(oc->err), "sender %u seq %u: last "
		    "payload byte corrupted", sender, seq);
		return (-1);
	}
	oc->next[sender]++;
	if (oc->seen++ >= oc->skip && oc->nlat < oc->lat_cap)
		oc->lat[oc->nlat++] = now - ts;
	return (0);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return ((x > y) - (x < y));
}

/* The sample below which a fraction q of the samples lie (nearest rank). */
static int64_t
order_quantile(const struct order_check *oc, double q)
{
	uint64_t	i = (uint64_t)(q * (double)oc->nlat);

	if (i >= oc->nlat)
		i = oc->nlat - 1;
	return (oc->lat[i]);
}

void
order_latency(struct order_check *oc, int64_t out[3])
{
	out[0] = out[1] = out[2] = 0;
	if (oc->nlat == 0)
		return;
	qsort(oc->lat, oc->nlat, sizeof(*oc->lat), cmp_i64);
	out[0] = order_quantile(oc, 0.50);
	out[1] = order_quantile(oc, 0.99);
	out[2] = order_quantile(oc, 0.999);
}

void
order_fini(struct order_check *oc)
{
	free(oc->next);
	free(oc->lat);
	memset(oc, 0, sizeof(*oc));
}

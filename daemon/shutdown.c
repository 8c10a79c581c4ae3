/* SPDX-License-Identifier: MIT */
/*
 * shutdown.c: the stop's account of queued messages. See shutdown.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "log.h"
#include "registry.h"
#include "shutdown.h"

struct shutdown_sum {
	size_t		 channels;
	uint64_t	 msgs;
	uint64_t	 bytes;
};

/* Messages the channel holds: queued, and delivered but not acknowledged. */
static uint64_t
shutdown_held(const struct channel *ch)
{
	return ((uint64_t)ch->nqueued + ch->ninflight + ch->nheld);
}

/*
 * Keeps in top[] (sorted, fullest first, *ntop of SHUTDOWN_NAMED_MAX) the
 * channels holding the most messages.
 */
static void
shutdown_rank(const struct channel **top, size_t *ntop,
    const struct channel *ch)
{
	size_t	i;

	i = *ntop;
	if (i == SHUTDOWN_NAMED_MAX) {
		if (shutdown_held(top[i - 1]) >= shutdown_held(ch))
			return;
		i--;
	} else
		(*ntop)++;
	for (; i > 0 && shutdown_held(top[i - 1]) < shutdown_held(ch); i--)
		top[i] = top[i - 1];
	top[i] = ch;
}

void
shutdown_report(const struct registry *reg)
{
	const struct channel	*top[SHUTDOWN_NAMED_MAX];
	const struct channel	*ch;
	struct shutdown_sum	 lost = { 0, 0, 0 }, kept = { 0, 0, 0 };
	struct shutdown_sum	 rest;
	char			 name[LOG_NAME_MAX];
	size_t			 i, ntop = 0;
	uint64_t		 n;

	for (i = 0; i < reg->nbuckets; i++) {
		for (ch = reg->buckets[i]; ch != NULL; ch = ch->hnext) {
			if ((n = shutdown_held(ch)) == 0)
				continue;
			if (ch->durable) {
				kept.channels++;
				kept.msgs += n;
				kept.bytes += ch->bytes + ch->held_bytes;
				continue;
			}
			lost.channels++;
			lost.msgs += n;
			lost.bytes += ch->bytes + ch->held_bytes;
			shutdown_rank(top, &ntop, ch);
		}
	}

	if (kept.channels > 0)
		log_info("stop: %ju message(s) (%ju bytes) kept in the logs "
		    "of %zu durable channel(s)", (uintmax_t)kept.msgs,
		    (uintmax_t)kept.bytes, kept.channels);
	if (lost.channels == 0) {
		log_info("stop: no message dropped: no in-memory channel "
		    "holds one");
		return;
	}
	log_warning("stop: dropped %ju message(s) (%ju bytes) queued in "
	    "%zu in-memory channel(s)", (uintmax_t)lost.msgs,
	    (uintmax_t)lost.bytes, lost.channels);
	rest = lost;
	for (i = 0; i < ntop; i++) {
		n = shutdown_held(top[i]);
		log_warning("stop: dropped %ju message(s) of channel '%s'",
		    (uintmax_t)n, log_escape(name, top[i]->name,
		    top[i]->name_len));
		rest.channels--;
		rest.msgs -= n;
	}
	if (rest.channels > 0)
		log_warning("stop: dropped %ju message(s) of %zu more "
		    "channel(s)", (uintmax_t)rest.msgs, rest.channels);
}

/*
 * durable.c: durable channels. See durable.h.
 */
#include <stdio.h>

#include "channel.h"
#include "config.h"
#include "durable.h"
#include "proto.h"
#include "server.h"

bool
durable_wanted(const struct server *srv, const struct proto_msg *m)
{
	if (m->durable >= 0)
		return (m->durable == 1);
	return (config_durable_match(srv->cfg, m->name, m->name_len));
}

int
durable_open(struct server *srv, struct channel *ch, char *err,
    size_t errlen)
{
	(void)ch;
	if (srv->cfg->data_dir == NULL)
		snprintf(err, errlen, "the daemon keeps no logs (no "
		    "--data-dir)");
	else
		snprintf(err, errlen, "durable channels are not built yet");
	return (CHAN_EDISK);
}

uint64_t
durable_log_bytes(const struct channel *ch)
{
	(void)ch;
	return (0);
}

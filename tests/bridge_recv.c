/* SPDX-License-Identifier: MIT */
/*
 * bridge_recv.c: the final consumer of tests/test_bridge.sh, as
 * `chan-recv -f` (or with -F, `chan-recv -F`: until killed) but printing
 * each message's redelivered mark: one line "MESSAGE MARK" per message
 * (MARK 1: marked redelivered), until the channel is disconnected
 * (exit 0).
 *
 * usage: bridge_recv [-F] SOCKET NAME
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanclient.h"

int
main(int argc, char **argv)
{
	chan_open_opts o = CHAN_OPEN_OPTS_INIT;
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	int rc;

	if (argc == 4 && strcmp(argv[1], "-F") == 0) {
		o.flags = CHAN_FOREVER;
		argc--;
		argv++;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: bridge_recv [-F] SOCKET NAME\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((rc = chan_connect(argv[1], &c)) != 0 ||
	    (rc = chan_rx_open_ex(c, argv[2], strlen(argv[2]), &o,
	    &rx)) != 0) {
		fprintf(stderr, "bridge_recv: %s: %s\n", argv[2],
		    chan_strerror(rc));
		return 1;
	}
	while ((rc = chan_rx_recv(rx, &m)) == 0) {
		printf("%.*s %d\n", (int)chan_msg_len(m),
		    (const char *)chan_msg_data(m), chan_msg_redelivered(m));
		chan_msg_free(m);
	}
	if (rc != CHAN_EDISCONNECTED) {
		fprintf(stderr, "bridge_recv: %s: %s\n", argv[2],
		    chan_strerror(rc));
		return 1;
	}
	chan_rx_close(rx);
	chan_disconnect(c);
	return 0;
}

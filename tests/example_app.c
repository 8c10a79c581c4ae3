/* SPDX-License-Identifier: MIT */
#include <chanclient.h>
#include <stdio.h>

int
main(void)
{
	chan_client *c;
	chan_rx *rx;
	chan_msg *m;
	int rc;

	if ((rc = chan_connect(NULL, &c)) != 0) {
		fprintf(stderr, "connect: %s\n", chan_strerror(rc));
		return 1;
	}
	if ((rc = chan_rx_open(c, "nums", &rx)) != 0) {
		fprintf(stderr, "nums: %s\n", chan_client_errmsg(c));
		return 1;
	}
	while ((rc = chan_rx_recv(rx, &m)) == 0) {	/* for i in rx */
		printf("%.*s\n", (int)chan_msg_len(m),
		    (const char *)chan_msg_data(m));
		chan_msg_free(m);
	}
	chan_rx_close(rx);
	chan_disconnect(c);
	return rc == CHAN_EDISCONNECTED ? 0 : 1;
}

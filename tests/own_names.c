/* SPDX-License-Identifier: MIT */
/*
 * own_names.c: a program that links libchanclient (static or shared) and
 * defines functions and a variable under names the library uses inside
 * (conn_open, msg_new, rx_take, proto_decode, ridmap_put, tx_free). Only
 * the chan_* API leaves the library, so this links, each call reaches
 * the program's own definition, and the library still works (its error
 * strings, a failed connect). Prints "ok" and exits 0.
 */
#include <stdio.h>
#include <string.h>

#include <chanclient.h>

int	conn_open(int);
int	msg_new(int);
int	rx_take(int);
int	proto_decode(int);
int	ridmap_put(int);
int	tx_free(int);

int	conn_wire_code = 7;

int
conn_open(int x)
{
	return (x + 1);
}

int
msg_new(int x)
{
	return (x + 2);
}

int
rx_take(int x)
{
	return (x + 3);
}

int
proto_decode(int x)
{
	return (x + 4);
}

int
ridmap_put(int x)
{
	return (x + 5);
}

int
tx_free(int x)
{
	return (x + 6);
}

int
main(void)
{
	chan_client	*c = NULL;
	int		 rc;

	if (conn_open(0) + msg_new(0) + rx_take(0) + proto_decode(0) +
	    ridmap_put(0) + tx_free(0) + conn_wire_code != 28) {
		fprintf(stderr, "own_names: a call reached the library\n");
		return (1);
	}
	/* The library is whole: a socket path that cannot exist fails. */
	rc = chan_connect("/nonexistent/chand-own-names.sock", &c);
	if (rc != CHAN_ENODAEMON || c != NULL) {
		fprintf(stderr, "own_names: chan_connect gave %d (%s)\n", rc,
		    chan_strerror(rc));
		return (1);
	}
	if (strlen(chan_strerror(CHAN_EFULL)) == 0)
		return (1);
	printf("ok\n");
	return (0);
}

/* SPDX-License-Identifier: MIT */
/*
 * outack.h: acknowledging what chan-recv wrote once its reader has it.
 *
 * chan-recv acknowledges a message only after writing it. When standard
 * output is a pipe, written is not yet read: a reader that exits (head -1)
 * would leave what it never read in the pipe, acknowledged and lost. So
 * for a pipe the acknowledgement waits until the reader has taken the
 * message's last byte out of the pipe (FIONREAD tells how many bytes it
 * has not); a reader that goes first leaves the rest unacknowledged, and
 * the daemon gives it to the next consumer. What the reader took and did
 * not use (a block read by head) is the reader's: that is the limit.
 * Anything else (a file, a terminal) is acknowledged when written.
 */
#ifndef CHAN_OUTACK_H
#define CHAN_OUTACK_H

#include <stddef.h>
#include <stdint.h>

#include "chanclient.h"

struct outack_item;

struct outack {
	int			 fd;
	int			 pipe;		/* fd is a pipe or FIFO */
	uint64_t		 written;	/* bytes, since the start */
	struct outack_item	*items;		/* ring of waiting messages */
	size_t			 head;
	size_t			 n;
	size_t			 cap;
};

/* For output descriptor fd. */
void	outack_init(struct outack *, int fd);
/*
 * Frees what still waits, unacknowledged: the daemon gives it to the next
 * consumer once the receiver closes.
 */
void	outack_fini(struct outack *);
/*
 * Message m of rx was written, len bytes of output: acknowledged at once
 * unless fd is a pipe, else once read. Takes m (frees it). 0 or the
 * CHAN_E* of the acknowledgement, or CHAN_ENOMEM.
 */
int	outack_written(struct outack *, chan_rx *rx, chan_msg *m, size_t len);
/* Acknowledges what the reader has read: 0 or a CHAN_E*. */
int	outack_settle(struct outack *);
/* Messages written and not yet read. */
size_t	outack_waiting(const struct outack *);
/* True once the pipe's reader has gone (its unread bytes are lost). */
int	outack_reader_gone(const struct outack *);

#endif /* CHAN_OUTACK_H */

/* SPDX-License-Identifier: MIT */
/*
 * bridge.h: chan-bridge, chand channels carried by NATS JetStream.
 *
 * One process per host. Each exported channel has a thread that is the
 * local channel's consumer and publishes to the channel's stream; each
 * imported channel has a thread that is the stream's consumer and a
 * producer into the local channel. docs/bridge.md has the design.
 */
#ifndef BRIDGE_H
#define BRIDGE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <nats/nats.h>

#include "chanclient.h"

#define BRIDGE_MAX_MAPS		64	/* channels bridged, at most */
#define BRIDGE_MAX_PATTERNS	64
#define BRIDGE_NAME_MAX		255
#define BRIDGE_SCAN_MS		1000	/* patterns: looks for new channels */

/* Headers of the messages the bridge publishes. */
#define HDR_PRODUCER	"Chan-Producer"	/* producer generation id */
#define HDR_SEQ		"Chan-Seq"	/* 0: begin, 1..: data, last: end */
#define HDR_EVENT	"Chan-Event"	/* "begin" or "end"; none: data */
#define HDR_REDELIVERED	"Chan-Redelivered"	/* "1": chand redelivered it */

/* Exit codes, as chan-send and chan-recv use them. */
#define EXIT_BUSY	6
#define EXIT_NODAEMON	7
#define EXIT_USAGE	2

enum map_dir { MAP_EXPORT, MAP_IMPORT };

struct bridge;

struct map {
	enum map_dir	 dir;
	char		 channel[BRIDGE_NAME_MAX + 1];
	char		 stream[BRIDGE_NAME_MAX + 16];	/* JetStream names */
	char		 subject[BRIDGE_NAME_MAX + 16];
	struct bridge	*b;
	pthread_t	 thread;
	bool		 started;
	int		 status;	/* exit status of the thread */
	volatile bool	 ready;
	/*
	 * Kept alive by the main thread (heartbeat.c), under the bridge's
	 * lock, so that a thread blocked on chand or NATS does not let them
	 * expire: an export's lease, an import's lock.
	 */
	char		 hb_key[512];
	char		 hb_val[512];
	bool		 hb_on;
	bool		 hb_lock;	/* a lock: updated by revision */
	uint64_t	 hb_rev;
	uint64_t	 hb_at;		/* last written */
	volatile bool	 lock_lost;
	bool		 from_pattern;	/* found by scan.c */
	bool		 skipped;	/* from_pattern, refused: left alone */
};

/*
 * A name pattern: "prefix*" (or "*" alone) chooses every channel whose
 * name starts with prefix, local ones for export, streams for import.
 */
struct pattern {
	enum map_dir	 dir;
	char		 prefix[BRIDGE_NAME_MAX + 1];
	size_t		 len;
};

struct bridge_config {
	char		 url[1024];
	char		 socket[108];
	char		 bucket[64];
	char		 host[64];
	uint64_t	 lease_ms;	/* producer lease and lock time */
	uint64_t	 ack_wait_ms;
	uint64_t	 max_msgs;	/* stream limit, discard new */
	uint64_t	 batch;		/* messages per publish / fetch */
	uint64_t	 capacity;	/* imported channel's capacity, or
					   CHAN_CAPACITY_DEFAULT */
	int		 ready_fd;
	int		 verbose;
	struct map	 maps[BRIDGE_MAX_MAPS];
	int		 nmaps;		/* grows under the bridge's lock */
	struct pattern	 patterns[BRIDGE_MAX_PATTERNS];
	int		 npatterns;
};

struct bridge {
	struct bridge_config	 cfg;
	natsConnection		*nc;
	jsCtx			*js;	/* for setup and the KV bucket */
	kvStore			*kv;
	kvStore			*kvpos;	/* import positions, BUCKET-pos */
	/* Set by any thread, read by all without the lock. */
	atomic_int		 stop;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 nready;
	int			 nskipped;	/* pattern maps refused */
	bool			 scanned;	/* patterns: first scan done */
	int			 failed;	/* first failing thread's status */
	time_t			 started;	/* in producer ids */
};

/* config.c */
void	config_defaults(struct bridge_config *);
int	config_option(struct bridge_config *, const char *, const char *,
	    const char *, int);
int	config_file(struct bridge_config *, const char *);
int	config_finish(struct bridge_config *);
void	map_names(struct map *);
bool	pattern_match(const struct pattern *, enum map_dir, const char *,
	    size_t);
bool	config_conflict(const struct bridge_config *, enum map_dir,
	    const char *, size_t);

/* log.c */
void	blog(const char *, ...) __attribute__((format(printf, 1, 2)));
void	bdebug(const struct bridge *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* js.c */
int	js_setup(struct bridge *);
int	js_stream(struct bridge *, const struct map *);
void	js_teardown(struct bridge *);
const char *js_err(natsStatus, jsErrCode);
void	lease_key(char *, size_t, const struct map *, const char *);
void	lock_key(char *, size_t, const struct map *);
void	pos_key(char *, size_t, const struct map *, const char *);
void	ms_sleep(uint64_t);
uint64_t now_ms(void);

/* heartbeat.c */
void	heartbeat(struct bridge *);
void	hb_set(struct map *, const char *, const char *, bool, uint64_t);
void	hb_clear(struct map *);

/* scan.c: the thread that finds the channels of patterns. */
void	*scan_main(void *);
int	map_start(struct bridge *, struct map *);

/* export.c, import.c: thread bodies; arg is the struct map. */
void	*export_main(void *);
void	*import_main(void *);

void	map_ready(struct map *);
void	map_done(struct map *, int);

#endif /* BRIDGE_H */

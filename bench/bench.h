/* SPDX-License-Identifier: MIT */
/*
 * bench.h: chan-bench, the benchmark of chand against the socket path
 * itself.
 *
 * One run moves messages from P producer processes to one consumer
 * process through a target: chand, a minimal two-hop relay (producer ->
 * relay -> consumer, same libuv and 4-byte framing, no channel logic) or
 * a direct socket (producer -> consumer). The parent process forks the
 * ends, starts them together, collects one report from each and turns
 * them into figures.
 *
 * Modules: main.c (options, the list of runs, output), run.c (one run:
 * processes, pipes, figures), ends_chand.c (ends speaking to chand
 * through libchanclient), ends_raw.c (ends for the relay and the direct
 * socket), relay.c (the relay), proc.c (processes, daemon, /proc),
 * payload.c (the payload layout and the order check), memory.c (daemon
 * memory per idle channel, idle connection, queued message),
 * ends_ring.c and ends_packed.c (the ring targets), packring.c (the
 * packed target's layout).
 */
#ifndef CHAN_BENCH_H
#define CHAN_BENCH_H

#include <sys/resource.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Every payload starts with this header, so it is also the smallest
 * payload: the sender (one producer handle), its sequence number from 0,
 * and the CLOCK_MONOTONIC time it was sent, in ns. The payload's last
 * byte is the low byte of the sequence number, so a truncated or shifted
 * payload does not pass the check.
 */
#define BENCH_HDR		16
#define BENCH_MAX_SIZE		(64u << 20)

/* Pipelined sends: the library's default window, and the most that the
   transmitters of one connection may have unconfirmed together. */
#define BENCH_WINDOW		4096
#define BENCH_CONN_UNCONFIRMED	65536

/*
 * Capacity of the chand channels of a run, as the library takes it: a
 * number, or one of these. chan-bench states capacity_bytes
 * BENCH_CAP_BYTES unless told otherwise: the relay stops reading its
 * producers while that much waits for the consumer, so both targets then
 * buffer as much (docs/performance.md, Method).
 */
#define BENCH_CAP_DEFAULT	UINT64_MAX		/* the daemon's */
#define BENCH_CAP_UNBOUNDED	(UINT64_MAX - 1)
#define BENCH_CAP_BYTES		(4ull << 20)

/* How long an end waits for its peer before it reports failure. */
#define BENCH_STALL_MS		30000

/* Relay and direct framing: the body length, 4 bytes big-endian. */
#define BENCH_FRAME_HDR		4
/* Producers of the relay and direct targets write batches this big. */
#define BENCH_BATCH		(64u * 1024)

enum bench_target {
	TARGET_CHAND,
	TARGET_RELAY,
	TARGET_DIRECT,
	TARGET_RING,		/* chand's ring code alone, both ends spinning */
	TARGET_PACKED,		/* a ring of packed runs, likewise */
	TARGET_PACKED_INLINE,	/* the same, copying in line */
	TARGET_PACKED_INPLACE,	/* the same, messages built in the ring */
	TARGET_RING_COPY,	/* the ring, its consumer copying out */
	TARGET_RING_READ,	/* the ring, its consumer reading in place */
	TARGET_MEMFD,		/* each message a sealed memfd, by reference */
};
#define BENCH_NTARGETS	10
/* The targets run unless -t says otherwise: the variants are not. */
#define BENCH_NDEFAULT	5

/* The targets of chand's ring code alone: ends_ring.c. */
static inline int
target_is_ring(enum bench_target t)
{
	return (t == TARGET_RING || t == TARGET_RING_COPY ||
	    t == TARGET_RING_READ);
}

static inline int
target_is_packed(enum bench_target t)
{
	return (t == TARGET_PACKED || t == TARGET_PACKED_INLINE ||
	    t == TARGET_PACKED_INPLACE);
}
/*
 * A producer's batch (chan_tx_send_many, the ring targets' runs) holds at
 * most this much payload, as an application's would: 512 messages of
 * 1 MiB would be half a GiB to fill before the first send.
 */
#define BENCH_BATCH_BYTES	(4u << 20)

/* Messages a producer's batch of size-byte messages holds, up to max. */
static inline size_t
bench_batch_msgs(size_t max, size_t size)
{
	size_t	k = size > 0 ? BENCH_BATCH_BYTES / size : max;

	if (k < 1)
		k = 1;
	return (k < max ? k : max);
}

/* The ring targets' data area: a producer ring's default size. */
#define BENCH_RING_DATA	(512u << 10)

/* chand runs: in-memory channels, or durable ones under a sync policy. */
enum bench_sync {
	SYNC_NONE,		/* in memory */
	SYNC_ALWAYS,
	SYNC_PERIODIC,
	SYNC_OS,
};
#define BENCH_NSYNC	4

/* chand scale runs over K channels: how the consumer receives. */
enum bench_recv {
	RECV_EACH,		/* channel by channel, as the producer sends */
	RECV_SET,		/* from a receiver set (chan_rxset_recv) */
	RECV_SELECT,		/* chan_select over every channel */
};
#define BENCH_NRECV	3
extern const char *const recv_names[BENCH_NRECV];

enum bench_mode {
	MODE_THROUGHPUT,	/* as fast as it goes */
	MODE_LATENCY,		/* paced at rate messages/s in all */
};

/* What one run does. */
struct bench_run {
	enum bench_target target;
	enum bench_mode	 mode;
	unsigned	 producers;
	size_t		 size;		/* payload bytes */
	uint64_t	 count;		/* messages per producer */
	unsigned	 channels;	/* chand: traffic spread over channels */
	unsigned	 conns;		/* chand: producer connections in all */
	double		 rate;		/* latency: messages/s in all */
	unsigned	 prefetch;	/* chand consumer window per channel */
	unsigned	 window;	/* chand producer: pipelined sends
					   awaiting confirmation; 0: default */
	uint64_t	 capacity;	/* chand: messages, BENCH_CAP_* */
	uint64_t	 capacity_bytes; /* chand: bytes, BENCH_CAP_* */
	enum bench_sync	 sync;		/* chand: durable channels, how */
	const char	*data_dir;	/* chand, durable: its --data-dir */
	const char	*sock;		/* where the ends connect */
	pid_t		 server;	/* daemon or relay, for its figures */
	bool		 private_srv;	/* server started for this run alone */
	bool		 scale;		/* a --channels or --conns run */
	bool		 shm;		/* chand: producers use CHAN_SHM */
	bool		 confirmed;	/* chand throughput: chan_tx_send */
	unsigned	 spin_us;	/* chand consumer: chan_client_set_spin */
	unsigned	 batch;		/* chand: chan_tx_send_many and
					   chan_rx_recv_many, up to this many */
	enum bench_recv	 recv;		/* chand, K channels: the consumer */
	unsigned	 serial;	/* runs so far: names its channels */
	void		*ring;		/* ring: the shared mapping */
};

/* What one end writes to the parent when it is done. */
struct bench_report {
	int		 consumer;	/* else producer */
	int		 index;
	int		 ok;
	uint64_t	 msgs;		/* sent or received and checked */
	int64_t		 t_first;	/* first send, ns */
	int64_t		 t_last;	/* last send or receive, ns */
	int64_t		 cpu_ns;	/* user + system while working */
	int64_t		 lat_ns[3];	/* consumer, latency: p50 p99 p99.9 */
	int64_t		 conf_ns[3];	/* chand producer, latency: send to
					   confirmation, p50 p99 p99.9 */
	char		 err[256];
};

/* The figures of one run. */
struct bench_result {
	struct bench_run run;
	bool		 ok;
	char		 err[300];
	uint64_t	 msgs;
	double		 secs;		/* first send to last receive */
	double		 msgs_s;
	double		 mb_s;		/* payload bytes, 10^6 */
	double		 lat_us[3];	/* p50 p99 p99.9 */
	double		 conf_us[3];	/* chand: send to confirmation */
	int64_t		 log_written;	/* durable: bytes the daemon wrote
					   to storage; -1 if unknown */
	int64_t		 log_left;	/* durable: disk bytes of the data
					   directory at the end; -1 */
	double		 cpu_prod_ns;	/* per message, per producer process */
	double		 cpu_cons_ns;	/* per message */
	double		 cpu_srv_ns;	/* per message, over the traffic
					   (go to the last receive); < 0 if
					   none */
	unsigned	 units;		/* scale runs: channels or
					   connections, else 0 */
	double		 srv_setup_ns;	/* per unit: connecting, opening and
					   first credit; < 0 if unknown */
	double		 srv_teardown_ns; /* per unit: disconnections and
					   forgetting; < 0 if unknown */
	long		 srv_hwm_kib;	/* peak RSS of the server; < 0 if none */
};

/* run.c */
int	run_one(const struct bench_run *, struct bench_result *);

/* The ends, each in its own process; report is filled in on return. */
struct end_sync {
	int		 ready_fd;	/* write one byte when set up */
	int		 go_fd;		/* read returns 0 when all may start */
	int		 mark_fd;	/* consumer: one byte after its last
					   receive (end_mark) */
	int		 stop_fd;	/* producers: read returns 0 once the
					   consumer has received everything
					   (end_wait_stop) */
};
void	chand_producer(const struct bench_run *, int index,
	    const struct end_sync *, struct bench_report *);
void	chand_consumer(const struct bench_run *, const struct end_sync *,
	    struct bench_report *);
void	raw_producer(const struct bench_run *, int index,
	    const struct end_sync *, struct bench_report *);
void	raw_consumer(const struct bench_run *, const struct end_sync *,
	    struct bench_report *);
/* A connected or listening Unix stream socket at path, or -1. */
int	raw_connect(const char *path);
int	raw_listen(const char *path);
/*
 * ends_memfd.c: the memfd target. The consumer listens on run's socket
 * as the direct target's does; the producer connects to it.
 */
void	memfd_producer(const struct bench_run *, int index,
	    const struct end_sync *, struct bench_report *);
void	memfd_consumer(const struct bench_run *, const struct end_sync *,
	    struct bench_report *);

/*
 * ends_ring.c: the ring target. ring_map makes run's shared ring before
 * the ends are forked (they inherit it); ring_unmap undoes it.
 */
int	ring_map(struct bench_run *);
void	ring_unmap(struct bench_run *);
void	ring_producer(const struct bench_run *, int index,
	    const struct end_sync *, struct bench_report *);
void	ring_consumer(const struct bench_run *, const struct end_sync *,
	    struct bench_report *);
/*
 * For the ring ends and their kin: the n payloads of the next batch of
 * producer index, from message seq on, built in buf and pointed at by v;
 * and the producer's report once its loop ended at seq (what: the ring
 * that stayed full, if it did not send them all).
 */
void	ring_batch_fill(const struct bench_run *, int index, uint64_t seq,
	    char *buf, struct iovec *v, size_t n);
void	ring_producer_done(const struct bench_run *, struct bench_report *,
	    uint64_t seq, int64_t cpu0, const char *what);

/*
 * ends_packed.c: the packed target, as the ring target but through a
 * ring of packed runs (packring.h).
 */
int	packed_map(struct bench_run *);
void	packed_unmap(struct bench_run *);
void	packed_producer(const struct bench_run *, int index,
	    const struct end_sync *, struct bench_report *);
void	packed_consumer(const struct bench_run *, const struct end_sync *,
	    struct bench_report *);

/* relay.c: serves the relay on path until killed; writes READY to fd. */
int	relay_main(const char *path, int ready_fd);

/* payload.c */
struct order_check {
	uint32_t	*next;		/* per sender: next sequence number */
	uint32_t	 nsenders;
	uint64_t	 seen;
	int64_t		*lat;		/* latency samples, ns, or NULL */
	uint64_t	 nlat;
	uint64_t	 lat_cap;
	uint64_t	 skip;		/* warm-up messages not sampled */
	char		 err[256];
};
void	payload_fill(char *p, size_t size, uint32_t sender, uint32_t seq,
	    int64_t ts);
void	payload_stamp(char *p, int64_t ts);
/*
 * Reads one byte of every cache line of p, as a consumer that looks at
 * all of a message must: the lines come to its core.
 */
void	payload_touch(const void *p, size_t len);
int	order_init(struct order_check *, uint32_t nsenders, uint64_t lat_cap,
	    uint64_t skip);
/* Checks one received payload at time now: 0, or -1 with err set. */
int	order_check(struct order_check *, const void *p, size_t len,
	    size_t want_len, int64_t now);
/* Sorts the samples and writes p50, p99, p99.9 in ns. */
void	order_latency(struct order_check *, int64_t out[3]);
void	order_fini(struct order_check *);

/* proc.c */
int64_t	now_ns(void);
int64_t	cpu_self_ns(void);
/* user + system time of pid from /proc, ns; -1 if unreadable. */
int64_t	proc_cpu_ns(pid_t);
/* A "VmHWM:" style field of /proc/pid/status, KiB; -1 if unreadable. */
long	proc_status_kib(pid_t, const char *field);
/*
 * Raises the descriptor limit to need (it is inherited by the private
 * daemon and the ends): the soft limit up to the hard one, past it when
 * privileged, else as far as the hard limit allows.
 */
void	fd_limit_raise(rlim_t need);
/* Writes one byte to fd and closes it; waits for EOF on go_fd. */
int	end_ready_and_wait(const struct end_sync *);
/* The consumer's last receive: one byte to mark_fd, which it closes. */
void	end_mark(const struct end_sync *);
/*
 * A spinning or polling consumer's end, count messages expected: its
 * last receive's time, its CPU since cpu0 and what oc saw go into rep
 * (ok if all came), and it marks (end_mark).
 */
void	end_consumer_done(const struct end_sync *, const struct order_check *,
	    uint64_t count, int64_t cpu0, struct bench_report *);
/*
 * A producer done sending waits for the consumer's last receive before
 * it disconnects, so that its disconnection is tear-down, not traffic.
 */
void	end_wait_stop(const struct end_sync *);
/* Descriptors pid holds open; -1 if unreadable. */
long	proc_fd_count(pid_t);

struct daemon {
	pid_t	 pid;
	char	 dir[64];
	char	 sock[128];
	char	 log[128];
};
/* Starts chand (binary path) on a private socket with extra args. */
int	daemon_start(struct daemon *, const char *bin, const char *const *args);
void	daemon_stop(struct daemon *);
/* Only a private directory and socket path, for the direct target. */
int	daemon_start_dir(struct daemon *);
/* Starts the relay in a child process on a private socket. */
int	relay_start(struct daemon *);
/* The pid of the process serving a Unix socket path, or -1. */
pid_t	socket_peer_pid(const char *path);
/* Finds chand next to chan-bench (build tree, install) or on PATH. */
const char *daemon_find(const char *given);

/* durable.c: durable runs' data directories and figures. */
extern const char *const sync_names[BENCH_NSYNC];
/* The base directory: given (created if need be) or a private one. */
int	durable_dir_init(const char *given);
/* Removes the base directory if it is a private one. */
void	durable_dir_fini(void);
/* A new empty directory under the base for one run, into out. */
int	durable_run_dir(char *out, size_t len);
void	durable_run_dir_fini(const char *dir);
/* Disk space of the files under dir, bytes; -1 if unreadable. */
int64_t	dir_disk_bytes(const char *dir);
/* write_bytes of /proc/pid/io; -1 if unreadable. */
int64_t	proc_write_bytes(pid_t);
/* A durable run's disk figures, after it: w0 was write_bytes before. */
void	durable_figures(const struct bench_run *, int64_t w0,
	    struct bench_result *);
/* The durable tables, after the others; nothing without durable runs. */
void	durable_print(const struct bench_result *, size_t);
/* The durable fields of one run's JSON object, each followed by ','. */
void	durable_json(const struct bench_result *,
	    const struct bench_result *, size_t);

/* memory.c: daemon RSS per idle channel, connection, queued message. */
struct mem_result {
	unsigned	 channels, conns, queued;
	size_t		 queued_size;
	double		 per_channel, per_conn, per_queued;	/* bytes */
	bool		 ok;
	char		 err[256];
};
int	memory_measure(const char *chand, unsigned channels, unsigned conns,
	    unsigned queued, size_t queued_size, struct mem_result *);

#endif /* CHAN_BENCH_H */

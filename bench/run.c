/* SPDX-License-Identifier: MIT */
/*
 * run.c: one run. The parent forks the consumer, then the producers; each
 * end sets up (connects, opens its handles), writes one byte to its ready
 * pipe and blocks reading the go pipe, which the parent closes once all
 * are ready, so every end starts at once. Each end then writes one
 * bench_report to the results pipe and exits. Throughput counts from the
 * first producer's first send to the consumer's last receive.
 *
 * The server's CPU is sampled at four points: before the ends start, at
 * the go (every end connected and opened its handles), at the consumer's
 * last receive (a byte on the mark pipe) and, for a server of the run's
 * own, once every connection of the ends is gone (its descriptor count is
 * back to what it was before). The middle span, the traffic, gives the
 * figure per message; the first and last, set-up and tear-down, are
 * one-time work per channel or connection and are reported apart, so that
 * a run with many channels and few messages each still shows what a
 * message costs.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct run_procs {
	pid_t		*pid;		/* consumer, then producers */
	unsigned	 n;
	int		 go[2];
	int		 results[2];
	int		 mark[2];
	int		 stop[2];	/* closed at the mark: producers may go */
};

/* How long the tear-down may take before its figure is given up. */
#define RUN_TEARDOWN_MS	60000

/* The body of one end's process. */
static void
run_end(const struct bench_run *run, struct run_procs *rp, int index,
    int ready_fd)
{
	struct end_sync		sync = { .ready_fd = ready_fd,
				    .go_fd = rp->go[0], .mark_fd = -1,
				    .stop_fd = -1 };
	struct bench_report	rep;

	close(rp->go[1]);
	close(rp->results[0]);
	close(rp->mark[0]);
	close(rp->stop[1]);
	if (index < 0) {
		sync.mark_fd = rp->mark[1];
		close(rp->stop[0]);
	} else {
		close(rp->mark[1]);
		sync.stop_fd = rp->stop[0];
	}
	memset(&rep, 0, sizeof(rep));
	rep.index = index;
	signal(SIGPIPE, SIG_IGN);
	if (run->target == TARGET_CHAND && index < 0)
		chand_consumer(run, &sync, &rep);
	else if (run->target == TARGET_CHAND)
		chand_producer(run, index, &sync, &rep);
	else if (target_is_ring(run->target) && index < 0)
		ring_consumer(run, &sync, &rep);
	else if (target_is_ring(run->target))
		ring_producer(run, index, &sync, &rep);
	else if (target_is_packed(run->target) && index < 0)
		packed_consumer(run, &sync, &rep);
	else if (target_is_packed(run->target))
		packed_producer(run, index, &sync, &rep);
	else if (run->target == TARGET_MEMFD && index < 0)
		memfd_consumer(run, &sync, &rep);
	else if (run->target == TARGET_MEMFD)
		memfd_producer(run, index, &sync, &rep);
	else if (index < 0)
		raw_consumer(run, &sync, &rep);
	else
		raw_producer(run, index, &sync, &rep);
	if (write(rp->results[1], &rep, sizeof(rep)) != sizeof(rep))
		_exit(2);
	_exit(rep.ok ? 0 : 1);
}

/*
 * Forks count ends from first (-1: the consumer) and waits until each is
 * ready: 0, or -1 if one exited first (its report says why).
 */
static int
run_fork(const struct bench_run *run, struct run_procs *rp, int first,
    unsigned count)
{
	unsigned	i;
	int		ready[2];
	char		c;

	if (pipe(ready) != 0)
		return (-1);
	for (i = 0; i < count; i++) {
		fflush(NULL);
		if ((rp->pid[rp->n] = fork()) < 0)
			break;
		if (rp->pid[rp->n] == 0) {
			close(ready[0]);
			run_end(run, rp, first + (int)i, ready[1]);
		}
		rp->n++;
	}
	close(ready[1]);
	for (i = 0; i < count; i++) {
		ssize_t n;

		while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR)
			;
		if (n != 1)
			break;
	}
	close(ready[0]);
	return (i == count ? 0 : -1);
}

static void
run_wait(struct run_procs *rp)
{
	unsigned	i;
	int		status;

	for (i = 0; i < rp->n; i++)
		while (waitpid(rp->pid[i], &status, 0) < 0 && errno == EINTR)
			;
}

/* Reads every report; returns how many arrived. */
static unsigned
run_collect(struct run_procs *rp, struct bench_report *reps)
{
	unsigned	got = 0;
	ssize_t		n;

	while (got < rp->n) {
		n = read(rp->results[0], &reps[got], sizeof(reps[got]));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(reps[got]))
			break;
		got++;
	}
	return (got);
}

/* Waits for the consumer's mark: its last receive, or its exit. */
static void
run_wait_mark(struct run_procs *rp)
{
	char	c;

	while (read(rp->mark[0], &c, 1) < 0 && errno == EINTR)
		;
}

/*
 * Waits until the server holds no more descriptors than before the run:
 * every connection of the ends closed, their handles dropped. 0, or -1
 * if that did not happen in time.
 */
static int
run_wait_teardown(pid_t srv, long fds0)
{
	struct timespec	ts = { 0, 1000000 };
	int64_t		deadline = now_ns() + (int64_t)RUN_TEARDOWN_MS *
			    1000000;
	long		n;

	while ((n = proc_fd_count(srv)) > fds0 && now_ns() < deadline)
		nanosleep(&ts, NULL);
	return (n >= 0 && n <= fds0 ? 0 : -1);
}

/* Channels or connections of a scale run, 0 for another run. */
static unsigned
run_units(const struct bench_run *run)
{
	if (!run->scale)
		return (0);
	if (run->channels > 1)
		return (run->channels);
	if (run->conns > run->producers)
		return (run->conns);
	return (1);
}

/* CPU of the server at the four points, -1 where unknown. */
struct run_cpu {
	int64_t		start, go, mark, end;
};

static double
run_span(int64_t a, int64_t b, double per)
{
	return (a >= 0 && b >= a && per > 0 ? (double)(b - a) / per : -1);
}

static void
run_server_figures(const struct bench_run *run, const struct run_cpu *cpu,
    struct bench_result *res)
{
	res->units = run_units(run);
	res->cpu_srv_ns = run_span(cpu->go, cpu->mark, (double)res->msgs);
	res->srv_setup_ns = run_span(cpu->start, cpu->go,
	    (double)res->units);
	res->srv_teardown_ns = run_span(cpu->mark, cpu->end,
	    (double)res->units);
}

static void
run_figures(const struct bench_run *run, const struct bench_report *reps,
    unsigned n, struct bench_result *res)
{
	const struct bench_report *cons = NULL;
	int64_t		 first = INT64_MAX, pcpu = 0;
	uint64_t	 pmsgs = 0;
	unsigned	 i, q;

	res->ok = true;
	for (i = 0; i < n; i++) {
		if (!reps[i].ok && res->ok) {
			res->ok = false;
			snprintf(res->err, sizeof(res->err), "%s %d: %s",
			    reps[i].consumer ? "consumer" : "producer",
			    reps[i].consumer ? 0 : reps[i].index, reps[i].err);
		}
		if (reps[i].consumer) {
			cons = &reps[i];
			continue;
		}
		if (reps[i].t_first < first)
			first = reps[i].t_first;
		pcpu += reps[i].cpu_ns;
		pmsgs += reps[i].msgs;
	}
	if (cons == NULL || n != run->producers + 1u) {
		res->ok = false;
		if (res->err[0] == '\0')
			snprintf(res->err, sizeof(res->err), "%u of %u ends "
			    "reported", n, run->producers + 1);
		return;
	}
	res->msgs = cons->msgs;
	res->secs = (double)(cons->t_last - first) / 1e9;
	if (res->secs > 0) {
		res->msgs_s = (double)res->msgs / res->secs;
		res->mb_s = res->msgs_s * (double)run->size / 1e6;
	}
	for (i = 0; i < 3; i++)
		res->lat_us[i] = (double)cons->lat_ns[i] / 1e3;
	/* Latency runs have one producer: its confirmations. */
	for (i = 0; i < n; i++)
		if (!reps[i].consumer && reps[i].index == 0)
			break;
	for (q = 0; i < n && q < 3; q++)
		res->conf_us[q] = (double)reps[i].conf_ns[q] / 1e3;
	res->cpu_prod_ns = pmsgs ? (double)pcpu / (double)pmsgs : 0;
	res->cpu_cons_ns = res->msgs ? (double)cons->cpu_ns /
	    (double)res->msgs : 0;
}

int
run_one(const struct bench_run *run, struct bench_result *res)
{
	struct bench_report	*reps;
	struct run_procs	 rp = { 0 };
	struct run_cpu		 cpu = { -1, -1, -1, -1 };
	unsigned		 got = 0, i;
	long			 fds0 = -1;
	bool			 set_up;

	memset(res, 0, sizeof(*res));
	res->run = *run;
	res->cpu_srv_ns = res->srv_setup_ns = res->srv_teardown_ns = -1;
	res->srv_hwm_kib = -1;
	res->log_written = res->log_left = -1;
	rp.pid = calloc(run->producers + 1u, sizeof(*rp.pid));
	reps = calloc(run->producers + 1u, sizeof(*reps));
	if (rp.pid == NULL || reps == NULL || pipe(rp.go) != 0 ||
	    pipe(rp.results) != 0 || pipe(rp.mark) != 0 ||
	    pipe(rp.stop) != 0) {
		snprintf(res->err, sizeof(res->err), "setup: %s",
		    strerror(errno));
		free(rp.pid);
		free(reps);
		return (-1);
	}
	if (run->server > 0) {
		fds0 = proc_fd_count(run->server);
		cpu.start = proc_cpu_ns(run->server);
	}
	/* The consumer first: the direct target's producers connect to it. */
	set_up = run_fork(run, &rp, -1, 1) == 0 &&
	    run_fork(run, &rp, 0, run->producers) == 0;
	/* An end that failed to set up has reported why; stop the rest. */
	for (i = 0; !set_up && i < rp.n; i++)
		kill(rp.pid[i], SIGKILL);
	close(rp.mark[1]);
	close(rp.stop[0]);
	if (run->server > 0)
		cpu.go = proc_cpu_ns(run->server);
	close(rp.go[0]);
	close(rp.go[1]);		/* go */
	close(rp.results[1]);
	run_wait_mark(&rp);
	if (run->server > 0)
		cpu.mark = proc_cpu_ns(run->server);
	close(rp.stop[1]);		/* the producers may disconnect */
	got = run_collect(&rp, reps);
	if (run->server > 0 && run->private_srv && fds0 >= 0 &&
	    run_wait_teardown(run->server, fds0) == 0)
		cpu.end = proc_cpu_ns(run->server);
	if (run->server > 0)
		res->srv_hwm_kib = proc_status_kib(run->server, "VmHWM:");
	close(rp.results[0]);
	close(rp.mark[0]);
	run_wait(&rp);
	run_figures(run, reps, got, res);
	run_server_figures(run, &cpu, res);
	free(rp.pid);
	free(reps);
	return (res->ok ? 0 : -1);
}

/*
 * run.c: one run. The parent forks the consumer, then the producers; each
 * end sets up (connects, opens its handles), writes one byte to its ready
 * pipe and blocks reading the go pipe, which the parent closes once all
 * are ready, so every end starts at once. Each end then writes one
 * bench_report to the results pipe and exits. Throughput counts from the
 * first producer's first send to the consumer's last receive.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

struct run_procs {
	pid_t		*pid;		/* consumer, then producers */
	unsigned	 n;
	int		 go[2];
	int		 results[2];
};

/* The body of one end's process. */
static void
run_end(const struct bench_run *run, struct run_procs *rp, int index,
    int ready_fd)
{
	struct end_sync		sync = { .ready_fd = ready_fd,
				    .go_fd = rp->go[0] };
	struct bench_report	rep;

	close(rp->go[1]);
	close(rp->results[0]);
	memset(&rep, 0, sizeof(rep));
	rep.index = index;
	signal(SIGPIPE, SIG_IGN);
	if (run->target == TARGET_CHAND && index < 0)
		chand_consumer(run, &sync, &rep);
	else if (run->target == TARGET_CHAND)
		chand_producer(run, index, &sync, &rep);
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

static void
run_figures(const struct bench_run *run, const struct bench_report *reps,
    unsigned n, int64_t srv_cpu, struct bench_result *res)
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
	res->cpu_srv_ns = srv_cpu >= 0 && res->msgs ? (double)srv_cpu /
	    (double)res->msgs : -1;
}

int
run_one(const struct bench_run *run, struct bench_result *res)
{
	struct bench_report	*reps;
	struct run_procs	 rp = { 0 };
	int64_t			 cpu0 = -1, cpu1;
	unsigned		 got = 0, i;
	bool			 set_up;

	memset(res, 0, sizeof(*res));
	res->run = *run;
	res->cpu_srv_ns = -1;
	res->srv_hwm_kib = -1;
	res->log_written = res->log_left = -1;
	rp.pid = calloc(run->producers + 1u, sizeof(*rp.pid));
	reps = calloc(run->producers + 1u, sizeof(*reps));
	if (rp.pid == NULL || reps == NULL || pipe(rp.go) != 0 ||
	    pipe(rp.results) != 0) {
		snprintf(res->err, sizeof(res->err), "setup: %s",
		    strerror(errno));
		free(rp.pid);
		free(reps);
		return (-1);
	}
	/* The consumer first: the direct target's producers connect to it. */
	set_up = run_fork(run, &rp, -1, 1) == 0 &&
	    run_fork(run, &rp, 0, run->producers) == 0;
	/* An end that failed to set up has reported why; stop the rest. */
	for (i = 0; !set_up && i < rp.n; i++)
		kill(rp.pid[i], SIGKILL);
	if (run->server > 0)
		cpu0 = proc_cpu_ns(run->server);
	close(rp.go[0]);
	close(rp.go[1]);		/* go */
	close(rp.results[1]);
	got = run_collect(&rp, reps);
	cpu1 = run->server > 0 ? proc_cpu_ns(run->server) : -1;
	if (run->server > 0)
		res->srv_hwm_kib = proc_status_kib(run->server, "VmHWM:");
	close(rp.results[0]);
	run_wait(&rp);
	run_figures(run, reps, got, cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1,
	    res);
	free(rp.pid);
	free(reps);
	return (res->ok ? 0 : -1);
}

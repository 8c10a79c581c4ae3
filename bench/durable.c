/* SPDX-License-Identifier: MIT */
/*
 * durable.c: chan-bench's durable runs: where their logs live, the log's
 * disk figures, and the table that sets each sync policy beside the
 * in-memory run of the same workload.
 *
 * Each durable run gets a fresh directory under the base (--data-dir, or
 * a private one under $TMPDIR), passed to its chand as --data-dir with
 * --durable "bench.*", and removed once the run is over, so runs never
 * see each other's logs. The figures: bytes the daemon caused to be
 * written to storage during the run (/proc/pid/io write_bytes, counted
 * when pages are dirtied, so the "os" policy's later writeback is
 * included), and the disk space its data directory holds at the end.
 */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

const char *const sync_names[] = { "memory", "always", "periodic", "os" };

static char	base[256];
static bool	base_private;
static unsigned	nruns;

int
durable_dir_init(const char *given)
{
	const char	*tmp = getenv("TMPDIR");

	if (given != NULL) {
		if (mkdir(given, 0700) != 0 && errno != EEXIST)
			return (-1);
		snprintf(base, sizeof(base), "%s", given);
		return (0);
	}
	snprintf(base, sizeof(base), "%s/chan-bench-data-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(base) == NULL)
		return (-1);
	base_private = true;
	return (0);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return (0);
}

static void
rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
durable_dir_fini(void)
{
	if (base_private)
		rm_tree(base);
	base[0] = '\0';
}

int
durable_run_dir(char *out, size_t len)
{
	snprintf(out, len, "%s/run-%u-%ld", base, nruns++, (long)getpid());
	return (mkdir(out, 0700));
}

void
durable_run_dir_fini(const char *dir)
{
	rm_tree(dir);
}

static int64_t	du_sum;

static int
du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		du_sum += (int64_t)st->st_blocks * 512;
	return (0);
}

int64_t
dir_disk_bytes(const char *dir)
{
	du_sum = 0;
	if (nftw(dir, du_one, 16, FTW_PHYS) != 0)
		return (-1);
	return (du_sum);
}

int64_t
proc_write_bytes(pid_t pid)
{
	char		 path[64], line[128];
	long long	 v = -1;
	FILE		*f;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "write_bytes: %lld", &v) == 1)
			break;
	fclose(f);
	return (v);
}

void
durable_figures(const struct bench_run *run, int64_t w0,
    struct bench_result *res)
{
	int64_t	w1;

	if (run->sync == SYNC_NONE)
		return;
	w1 = proc_write_bytes(run->server);
	res->log_written = w0 >= 0 && w1 >= w0 ? w1 - w0 : -1;
	res->log_left = dir_disk_bytes(run->data_dir);
}

/* The in-memory chand run with the same workload as r, or NULL. */
static const struct bench_result *
memory_of(const struct bench_result *r, const struct bench_result *all,
    size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		const struct bench_run *b = &all[i].run;

		if (b->target == TARGET_CHAND && b->sync == SYNC_NONE &&
		    all[i].ok && b->channels == r->run.channels &&
		    b->conns == r->run.conns && b->mode == r->run.mode &&
		    b->size == r->run.size && b->producers == r->run.producers)
			return (&all[i]);
	}
	return (NULL);
}

static double
ratio(double a, double b)
{
	return (b > 0 ? a / b : 0);
}

/* Whether r belongs in the durable tables: a memory or durable chand run
   that has durable runs of the same workload beside it. */
static bool
in_table(const struct bench_result *r, const struct bench_result *all,
    size_t n, enum bench_mode mode)
{
	size_t	i;

	if (r->run.mode != mode || r->run.target != TARGET_CHAND)
		return (false);
	if (r->run.sync != SYNC_NONE)
		return (true);
	for (i = 0; i < n; i++)
		if (all[i].run.sync != SYNC_NONE &&
		    memory_of(&all[i], all, n) == r)
			return (true);
	return (false);
}

static void
fmt_bytes(char *buf, size_t len, int64_t v)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%lld", (long long)v);
}

static void
print_durable_throughput(const struct bench_result *all, size_t n)
{
	const struct bench_result	*r, *mem;
	char				 rel[16], per[16], left[24];
	size_t				 i;

	printf("\nDurable channels: throughput (x memory: the in-memory chand "
	    "run of the same workload)\n");
	printf("%-9s %2s %6s %9s %11s %9s %8s %8s %9s %9s %s\n", "sync", "P",
	    "size", "msgs", "msgs/s", "MB/s", "x memory", "srv ns", "disk B/msg",
	    "disk end", "check");
	for (i = 0; i < n; i++) {
		r = &all[i];
		if (!in_table(r, all, n, MODE_THROUGHPUT))
			continue;
		mem = memory_of(r, all, n);
		snprintf(rel, sizeof(rel), "%.3f", mem != NULL ?
		    ratio(r->msgs_s, mem->msgs_s) : 0);
		snprintf(per, sizeof(per), "%.1f", r->msgs > 0 &&
		    r->log_written >= 0 ? (double)r->log_written /
		    (double)r->msgs : 0);
		fmt_bytes(left, sizeof(left), r->log_left);
		printf("%-9s %2u %6zu %9llu %11.0f %9.1f %8s %8.0f %10s %9s "
		    "%s\n", sync_names[r->run.sync], r->run.producers,
		    r->run.size, (unsigned long long)r->msgs, r->msgs_s,
		    r->mb_s, mem == NULL ? "-" : rel, r->cpu_srv_ns,
		    r->run.sync == SYNC_NONE ? "-" : per,
		    r->run.sync == SYNC_NONE ? "-" : left,
		    r->ok ? "ok" : "FAILED");
	}
}

static void
print_durable_latency(const struct bench_result *all, size_t n)
{
	const struct bench_result	*r, *mem;
	size_t				 i;

	for (i = 0; i < n; i++)
		if (in_table(&all[i], all, n, MODE_LATENCY))
			break;
	if (i == n)
		return;
	printf("\nDurable channels: latency, microseconds (one way: send to "
	    "receive; confirm: send to the daemon's OK)\n");
	printf("%-9s %6s %7s %7s %8s %8s %6s %6s %8s %8s %6s %6s %s\n",
	    "sync", "size", "rate", "got/s", "p50", "p99", "x mem", "x mem",
	    "conf p50", "conf p99", "x mem", "x mem", "check");
	for (i = 0; i < n; i++) {
		r = &all[i];
		if (!in_table(r, all, n, MODE_LATENCY))
			continue;
		mem = memory_of(r, all, n);
		printf("%-9s %6zu %7.0f %7.0f %8.1f %8.1f %6.2f %6.2f %8.1f "
		    "%8.1f %6.2f %6.2f %s\n", sync_names[r->run.sync],
		    r->run.size, r->run.rate, r->msgs_s, r->lat_us[0],
		    r->lat_us[1], mem ? ratio(r->lat_us[0], mem->lat_us[0]) : 0,
		    mem ? ratio(r->lat_us[1], mem->lat_us[1]) : 0,
		    r->conf_us[0], r->conf_us[1],
		    mem ? ratio(r->conf_us[0], mem->conf_us[0]) : 0,
		    mem ? ratio(r->conf_us[1], mem->conf_us[1]) : 0,
		    r->ok ? "ok" : "FAILED");
	}
}

void
durable_print(const struct bench_result *all, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (all[i].run.sync != SYNC_NONE)
			break;
	if (i == n)
		return;
	print_durable_throughput(all, n);
	print_durable_latency(all, n);
	printf("\ndisk B/msg: bytes the daemon wrote to storage per message "
	    "(log records, segment headers); disk end: disk space of the data "
	    "directory once the run was consumed\n");
}

void
durable_json(const struct bench_result *r, const struct bench_result *all,
    size_t n)
{
	const struct bench_result	*mem;

	printf("\"sync\":\"%s\",", sync_names[r->run.sync]);
	if (r->run.mode == MODE_LATENCY && r->run.target == TARGET_CHAND)
		printf("\"confirm_p50_us\":%.2f,\"confirm_p99_us\":%.2f,"
		    "\"confirm_p999_us\":%.2f,", r->conf_us[0], r->conf_us[1],
		    r->conf_us[2]);
	if (r->run.sync == SYNC_NONE)
		return;
	printf("\"log_written_bytes\":%lld,\"log_left_bytes\":%lld,",
	    (long long)r->log_written, (long long)r->log_left);
	if ((mem = memory_of(r, all, n)) != NULL)
		printf("\"vs_memory\":{\"msgs_per_s\":%.4f,\"p50\":%.4f,"
		    "\"p99\":%.4f,\"confirm_p50\":%.4f,\"confirm_p99\":%.4f},",
		    ratio(r->msgs_s, mem->msgs_s),
		    ratio(r->lat_us[0], mem->lat_us[0]),
		    ratio(r->lat_us[1], mem->lat_us[1]),
		    ratio(r->conf_us[0], mem->conf_us[0]),
		    ratio(r->conf_us[1], mem->conf_us[1]));
}

/* SPDX-License-Identifier: MIT */
/*
 * proc.c: clocks, /proc figures, and the server processes a run talks
 * to (chand, or the relay).
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* How long a server has to say READY, and to exit once told to. */
#define PROC_START_MS	10000
#define PROC_STOP_MS	10000

int64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

static int64_t
tv_ns(const struct timeval *tv)
{
	return ((int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000);
}

int64_t
cpu_self_ns(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (tv_ns(&ru.ru_utime) + tv_ns(&ru.ru_stime));
}

/* CPU time of pid from /proc/pid/stat, in clock ticks: coarse. */
static int64_t
proc_stat_cpu_ns(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 ut, st;
	ssize_t			 n;
	int			 fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return (-1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	/* The command name may hold spaces: fields count from its ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
	    "%llu", &ut, &st) != 2)
		return (-1);
	return ((int64_t)(ut + st) * (1000000000 / sysconf(_SC_CLK_TCK)));
}

/*
 * CPU time of pid in ns, summed over its threads from their schedstat
 * (ns resolution, where stat counts 10 ms ticks); -1 if unreadable.
 */
int64_t
proc_cpu_ns(pid_t pid)
{
	char			 path[PATH_MAX];
	unsigned long long	 ns;
	struct dirent		*de;
	int64_t			 sum = 0;
	DIR			*dp;
	FILE			*f;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dp = opendir(path)) == NULL)
		return (proc_stat_cpu_ns(pid));
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat",
		    (int)pid, de->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		if (fscanf(f, "%llu", &ns) == 1)
			sum += (int64_t)ns;
		fclose(f);
	}
	closedir(dp);
	return (sum > 0 ? sum : proc_stat_cpu_ns(pid));
}

long
proc_status_kib(pid_t pid, const char *field)
{
	char	 path[64], line[256];
	size_t	 flen = strlen(field);
	long	 kib = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0) {
			kib = strtol(line + flen, NULL, 10);
			break;
		}
	}
	fclose(f);
	return (kib);
}

void
fd_limit_raise(rlim_t need)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	/* Past the hard limit only with privilege (root in CI): try it. */
	if (rl.rlim_max < need && rl.rlim_max != RLIM_INFINITY) {
		struct rlimit	up = { .rlim_cur = need, .rlim_max = need };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

int
end_ready_and_wait(const struct end_sync *s)
{
	char	c = 1;
	ssize_t	n;

	if (write(s->ready_fd, &c, 1) != 1)
		return (-1);
	close(s->ready_fd);
	while ((n = read(s->go_fd, &c, 1)) < 0 && errno == EINTR)
		;
	close(s->go_fd);
	return (n == 0 ? 0 : -1);
}

void
end_mark(const struct end_sync *s)
{
	char	c = 1;

	if (s->mark_fd < 0)
		return;
	/* A parent gone or not listening must not fail the run. */
	(void)!write(s->mark_fd, &c, 1);
	close(s->mark_fd);
}

void
end_consumer_done(const struct end_sync *s, const struct order_check *oc,
    uint64_t count, int64_t cpu0, struct bench_report *rep)
{
	rep->t_last = now_ns();
	rep->cpu_ns = cpu_self_ns() - cpu0;
	end_mark(s);
	rep->msgs = oc->seen;
	rep->ok = oc->seen == count;
}

void
end_wait_stop(const struct end_sync *s)
{
	char	c;

	if (s->stop_fd < 0)
		return;
	while (read(s->stop_fd, &c, 1) < 0 && errno == EINTR)
		;
	close(s->stop_fd);
}

long
proc_fd_count(pid_t pid)
{
	struct dirent	*de;
	char		 path[64];
	long		 n = 0;
	DIR		*dp;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dp = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dp);
	return (n);
}

/* Waits at most ms for "READY\n" on fd: 0, or -1. */
static int
wait_ready(int fd, int ms)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	int64_t		deadline = now_ns() + (int64_t)ms * 1000000;
	char		buf[16];
	size_t		len = 0;
	ssize_t		n;

	while (len < 6) {
		int left = (int)((deadline - now_ns()) / 1000000);

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return (-1);
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		len += (size_t)n;
	}
	return (memcmp(buf, "READY\n", 6) == 0 ? 0 : -1);
}

static int
private_dir(struct daemon *d)
{
	char	dir[] = "/tmp/chan-bench-XXXXXX";

	memset(d, 0, sizeof(*d));
	d->pid = -1;
	if (mkdtemp(dir) == NULL)
		return (-1);
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	snprintf(d->sock, sizeof(d->sock), "%s/s", dir);
	snprintf(d->log, sizeof(d->log), "%s/log", dir);
	return (0);
}

int
daemon_start_dir(struct daemon *d)
{
	return (private_dir(d));
}

/* Waits at most ms for pid to exit; 0 if it did. */
static int
wait_exit(pid_t pid, int ms)
{
	int64_t	deadline = now_ns() + (int64_t)ms * 1000000;
	int	status;

	while (now_ns() < deadline) {
		pid_t	r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return (0);
		usleep(1000);	/* polling a child's exit; no fd to wait on */
	}
	return (-1);
}

int
daemon_start(struct daemon *d, const char *bin, const char *const *args)
{
	const char	*argv[32];
	char		 fdbuf[16];
	int		 pfd[2], lfd;
	size_t		 n = 0;

	if (private_dir(d) != 0 || pipe(pfd) != 0)
		return (-1);
	snprintf(fdbuf, sizeof(fdbuf), "%d", pfd[1]);
	argv[n++] = bin;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--ready-fd";
	argv[n++] = fdbuf;
	argv[n++] = "--log-level";
	argv[n++] = "warning";
	while (args != NULL && *args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	fflush(NULL);
	if ((d->pid = fork()) < 0)
		return (-1);
	if (d->pid == 0) {
		close(pfd[0]);
		lfd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (lfd >= 0) {
			dup2(lfd, 2);
			close(lfd);
		}
		execvp(bin, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	if (wait_ready(pfd[0], PROC_START_MS) != 0) {
		close(pfd[0]);
		fprintf(stderr, "chan-bench: %s did not start; its log:\n",
		    bin);
		daemon_stop(d);
		return (-1);
	}
	close(pfd[0]);
	return (0);
}

static void
print_log(const char *path)
{
	char	 buf[4096];
	size_t	 n;
	FILE	*f;

	if ((f = fopen(path, "re")) == NULL)
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

void
daemon_stop(struct daemon *d)
{
	struct stat	st;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		if (wait_exit(d->pid, PROC_STOP_MS) != 0) {
			kill(d->pid, SIGKILL);
			(void)wait_exit(d->pid, PROC_STOP_MS);
		}
		d->pid = -1;
	}
	if (d->log[0] != '\0' && stat(d->log, &st) == 0 && st.st_size > 0)
		print_log(d->log);
	if (d->dir[0] != '\0') {
		unlink(d->sock);
		unlink(d->log);
		rmdir(d->dir);
	}
	memset(d, 0, sizeof(*d));
}

int
relay_start(struct daemon *d)
{
	int	pfd[2];

	if (private_dir(d) != 0 || pipe(pfd) != 0)
		return (-1);
	fflush(NULL);
	if ((d->pid = fork()) < 0)
		return (-1);
	if (d->pid == 0) {
		close(pfd[0]);
		_exit(relay_main(d->sock, pfd[1]) == 0 ? 0 : 1);
	}
	close(pfd[1]);
	if (wait_ready(pfd[0], PROC_START_MS) != 0) {
		close(pfd[0]);
		fprintf(stderr, "chan-bench: the relay did not start\n");
		daemon_stop(d);
		return (-1);
	}
	close(pfd[0]);
	return (0);
}

pid_t
socket_peer_pid(const char *path)
{
	struct sockaddr_un	sa = { .sun_family = AF_UNIX };
	struct ucred		cred;
	socklen_t		len = sizeof(cred);
	pid_t			pid = -1;
	int			fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return (-1);
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(fd);
	return (pid);
}

const char *
daemon_find(const char *given)
{
	static char	 path[PATH_MAX + 32];
	static const char *const rel[] = { "../daemon/chand", "../sbin/chand" };
	char		 self[PATH_MAX], *slash;
	ssize_t		 n;
	size_t		 i;

	if (given != NULL)
		return (given);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", self, rel[i]);
			if (access(path, X_OK) == 0)
				return (path);
		}
	}
	return ("chand");	/* execvp searches PATH */
}

/* pipetest in C: the same ring, token, priming lap, segments and turn
   hand-off as epollbench's pipetest, with no Go runtime between the loop
   and the kernel, so that a fall of passes/s with N can be told apart: the
   machine's (both fall alike) or Go's (only Go falls).

   usage: pipetest N segment round_ns warm_ns rounds mech...
   mech is direct, epoll (edge-triggered) or epoll-lt. A ring of more than
   segment pipes is cut into segments, each made by a thread that first
   unshares its descriptor table; the epoll instances (one per round and
   mechanism, since a second instance over the same pipes would add its
   callback to every write) are made before, so every table holds them.
   It prints one line per mechanism: its name, then passes/s in each round. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/epoll.h>

enum { CMD_MAKE, CMD_ADD, CMD_CLOSE, CMD_PLAY, CMD_EXIT };

struct worker {
	pthread_t th;
	sem_t go;
	int lo, hi, cmd, fd;
	unsigned events;
};

static int n, nw, at, cur_ep = -1;
static int *rfd, *wfd, *owner;
static struct worker *ws;
static sem_t done;
static long long passes, limit, deadline;
static struct epoll_event evs[64];

static long long now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what, int i) {
	fprintf(stderr, "%s (pipe %d): %s\n", what, i, strerror(errno));
	exit(1);
}

/* pass moves the token from pipe i into pipe i+1; a pipe found empty (a
   stale report) passes nothing. */
static void pass(int i) {
	char buf[64];
	ssize_t k = read(rfd[i], buf, sizeof buf);
	if (k < 0 && errno == EAGAIN)
		return;
	if (k != 1)
		die("read", i);
	int j = i + 1 == n ? 0 : i + 1;
	if (write(wfd[j], buf, 1) != 1)
		die("write", j);
	at = j;
	passes++;
}

static void step(void) {
	if (cur_ep < 0) {
		pass(at);
		return;
	}
	int k = epoll_wait(cur_ep, evs, 64, -1);
	if (k < 0 && errno != EINTR)
		die("epoll_wait", -1);
	for (int e = 0; e < k; e++)
		pass((int)evs[e].data.u32);
}

/* play moves the token while it is in w's segment, then hands the turn to
   the segment it entered, or ends the turn when time or passes are up. */
static void play(struct worker *w) {
	for (;;) {
		step();
		int late = now_ns() >= deadline || (limit > 0 && passes >= limit);
		if (at < w->lo || at >= w->hi) {
			if (late) {
				sem_post(&done);
				return;
			}
			struct worker *nx = &ws[owner[at]];
			nx->cmd = CMD_PLAY;
			sem_post(&nx->go);
			return;
		}
		if (late) {
			sem_post(&done);
			return;
		}
	}
}

static void *worker_main(void *p) {
	struct worker *w = p;
	for (;;) {
		sem_wait(&w->go);
		switch (w->cmd) {
		case CMD_MAKE:
			if (nw > 1 && unshare(CLONE_FILES) != 0)
				die("unshare(CLONE_FILES)", w->lo);
			for (int i = w->lo + 1; i < w->hi; i++) {
				int p2[2];
				if (pipe2(p2, O_NONBLOCK | O_CLOEXEC) != 0)
					die("pipe2", i);
				rfd[i] = p2[0];
				wfd[i] = p2[1];
			}
			break;
		case CMD_ADD:
			for (int i = w->lo; i < w->hi; i++) {
				struct epoll_event ev = { .events = w->events, .data.u32 = (unsigned)i };
				if (epoll_ctl(w->fd, EPOLL_CTL_ADD, rfd[i], &ev) != 0)
					die("epoll_ctl", i);
			}
			break;
		case CMD_CLOSE:
			if (nw > 1)
				close(w->fd);
			break;
		case CMD_PLAY:
			play(w);
			continue;
		case CMD_EXIT:
			sem_post(&done);
			return NULL;
		}
		sem_post(&done);
	}
}

static void command(struct worker *w, int cmd) {
	w->cmd = cmd;
	sem_post(&w->go);
	sem_wait(&done);
}

/* run plays for d ns (or limit passes) from the token's holder. */
static double run(long long d, long long lim) {
	passes = 0;
	limit = lim;
	long long t0 = now_ns();
	deadline = t0 + d;
	command(&ws[owner[at]], CMD_PLAY);
	return (double)passes / ((double)(now_ns() - t0) / 1e9);
}

int main(int argc, char **argv) {
	if (argc < 7) {
		fprintf(stderr, "usage: %s N segment round_ns warm_ns rounds mech...\n", argv[0]);
		return 2;
	}
	n = atoi(argv[1]);
	int seg = atoi(argv[2]);
	long long round_ns = atoll(argv[3]), warm_ns = atoll(argv[4]);
	int rounds = atoi(argv[5]);
	int nm = argc - 6;
	char **mechs = argv + 6;
	if (n < 1 || seg < 1 || round_ns <= 0 || warm_ns < 0 || rounds < 1) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	nw = (n + seg - 1) / seg;
	rfd = calloc(n, sizeof *rfd);
	wfd = calloc(n, sizeof *wfd);
	owner = calloc(n, sizeof *owner);
	ws = calloc(nw, sizeof *ws);
	int *eps = calloc((size_t)rounds * nm, sizeof *eps);
	double *rates = calloc((size_t)rounds * nm, sizeof *rates);
	sem_init(&done, 0, 0);
	/* Before any thread unshares: the cross pipes and every instance. */
	for (int k = 0; k < nw; k++) {
		struct worker *w = &ws[k];
		w->lo = k * seg;
		w->hi = w->lo + seg < n ? w->lo + seg : n;
		int p2[2];
		if (pipe2(p2, O_NONBLOCK | O_CLOEXEC) != 0)
			die("pipe2", w->lo);
		rfd[w->lo] = p2[0];
		wfd[w->lo] = p2[1];
		for (int i = w->lo; i < w->hi; i++)
			owner[i] = k;
	}
	for (int r = 0; r < rounds; r++)
		for (int m = 0; m < nm; m++) {
			eps[r * nm + m] = -1;
			if (strcmp(mechs[m], "direct") != 0) {
				eps[r * nm + m] = epoll_create1(EPOLL_CLOEXEC);
				if (eps[r * nm + m] < 0)
					die("epoll_create1", -1);
			}
		}
	for (int k = 0; k < nw; k++) {
		sem_init(&ws[k].go, 0, 0);
		if (pthread_create(&ws[k].th, NULL, worker_main, &ws[k]) != 0)
			die("pthread_create", -1);
		command(&ws[k], CMD_MAKE);
	}
	if (write(wfd[0], "t", 1) != 1)
		die("write token", 0);
	at = 0;
	cur_ep = -1;
	run(3600000000000LL, n); /* the priming lap: every pipe gets its page */
	for (int r = 0; r < rounds; r++)
		for (int m = 0; m < nm; m++) {
			int ep = eps[r * nm + m];
			unsigned events = EPOLLIN;
			if (strcmp(mechs[m], "epoll") == 0)
				events |= EPOLLET;
			else if (strcmp(mechs[m], "epoll-lt") != 0 && strcmp(mechs[m], "direct") != 0) {
				fprintf(stderr, "unknown mechanism %s\n", mechs[m]);
				return 2;
			}
			if (ep >= 0)
				for (int k = 0; k < nw; k++) {
					ws[k].fd = ep;
					ws[k].events = events;
					command(&ws[k], CMD_ADD);
				}
			cur_ep = ep;
			run(warm_ns, 0);
			rates[r * nm + m] = run(round_ns, 0);
			cur_ep = -1;
			if (ep >= 0) {
				for (int k = 0; k < nw; k++) {
					ws[k].fd = ep;
					command(&ws[k], CMD_CLOSE);
				}
				close(ep);
			}
		}
	for (int k = 0; k < nw; k++) {
		command(&ws[k], CMD_EXIT);
		pthread_join(ws[k].th, NULL);
	}
	for (int m = 0; m < nm; m++) {
		printf("%s", mechs[m]);
		for (int r = 0; r < rounds; r++)
			printf(" %.0f", rates[r * nm + m]);
		printf("\n");
	}
	return 0;
}

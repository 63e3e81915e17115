/* epoll_pwait2 called directly, with no Go runtime between the program
   and the kernel: the reference of epollbench's timeout experiment.

   usage: pwait2 slack_ns request_ns samples [request_ns samples]...
   slack_ns is the timer slack to set (0 leaves it). It prints one line per
   request: the request, then each sample's overshoot (elapsed minus
   requested) in ns. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static long long now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc < 4 || argc % 2 != 0) {
		fprintf(stderr, "usage: %s slack_ns request_ns samples [request_ns samples]...\n", argv[0]);
		return 2;
	}
	long slack = atol(argv[1]);
	if (slack > 0 && prctl(PR_SET_TIMERSLACK, slack, 0, 0, 0) != 0) {
		perror("prctl(PR_SET_TIMERSLACK)");
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("epoll_create1");
		return 1;
	}
	struct epoll_event evs[8];
	for (int a = 2; a + 1 < argc; a += 2) {
		long long req = atoll(argv[a]);
		int samples = atoi(argv[a + 1]);
		printf("%lld", req);
		for (int i = 0; i < samples; i++) {
			struct timespec ts = { req / 1000000000LL, req % 1000000000LL };
			long long t0 = now_ns();
			long r = syscall(SYS_epoll_pwait2, ep, evs, 8, &ts, NULL, 0);
			long long t1 = now_ns();
			if (r < 0) {
				perror("epoll_pwait2");
				return 1;
			}
			printf(" %lld", t1 - t0 - req);
		}
		printf("\n");
	}
	return 0;
}

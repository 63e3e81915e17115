/*
 * The physical reference: the echo and HTTP plaintext servers of package
 * peers written on raw epoll, as a C server that wants the most of the
 * kernel would be. One thread per loop, each with its own SO_REUSEPORT
 * listener and its own epoll instance, edge-triggered, non-blocking sockets,
 * TCP_NODELAY as Go sets it. A connection holds no buffer while idle: reads
 * go to the thread's scratch buffer, and only bytes that cannot be answered
 * or sent at once are kept on the connection.
 *
 *   epoll_server -app echo|http -addr 127.0.0.1:PORT -loops N
 *
 * It speaks package proc's control protocol: "ready ADDR" on stdout once
 * listening; "mem" on stdin is answered "mem" (no Go runtime to report; the
 * driver reads RSS from /proc); "stop" or the end of stdin exits.
 */
#include "common.h"

#include <pthread.h>
#include <sys/epoll.h>

enum { SCRATCH = 64 << 10, MAX_EVENTS = 256 };

static int app_http;

struct conn {
	int fd;
	int paused; /* reading stopped while too much waits to be sent */
	struct buf in;  /* an incomplete request (http) */
	struct buf out; /* bytes the socket did not take */
};

struct loop {
	int lfd, ep;
	char scratch[SCRATCH];
	char resp[SCRATCH + 512];
	struct date date;
};

static void conn_close(struct conn *c) {
	close(c->fd); /* closing removes it from the epoll set */
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/* flush writes what is queued; -1 on a dead connection. */
static int flush(struct conn *c) {
	while (c->out.off < c->out.len) {
		ssize_t n = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		c->out.off += n;
	}
	buf_free(&c->out); /* idle connections hold no buffer */
	return 0;
}

/* send writes p directly when nothing is queued, and queues the rest. */
static int send_bytes(struct conn *c, const char *p, size_t n) {
	if (c->out.len == c->out.off) {
		while (n > 0) {
			ssize_t w = write(c->fd, p, n);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					break;
				return -1;
			}
			p += w;
			n -= w;
		}
	}
	if (n > 0 && buf_append(&c->out, p, n) < 0)
		return -1;
	return 0;
}

/* answer answers every complete request in p[0:n], returning the bytes
 * consumed or -1 for a malformed request. */
static ssize_t answer(struct loop *l, struct conn *c, const char *p, size_t n) {
	size_t used = 0, len;
	char *o = l->resp;
	while (used < n) {
		int found = next_request(p + used, n - used, &len);
		if (found == REQ_INCOMPLETE)
			break;
		if (found < 0)
			return -1;
		o = append_response(&l->date, o, found);
		used += len;
		if (o - l->resp > (ssize_t)sizeof l->resp - 256) {
			if (send_bytes(c, l->resp, o - l->resp) < 0)
				return -1;
			o = l->resp;
		}
	}
	if (o > l->resp && send_bytes(c, l->resp, o - l->resp) < 0)
		return -1;
	return used;
}

/* on_bytes serves what was read; -1 closes the connection. */
static int on_bytes(struct loop *l, struct conn *c, const char *p, size_t n) {
	if (!app_http)
		return send_bytes(c, p, n);
	if (c->in.len == 0) {
		ssize_t used = answer(l, c, p, n);
		if (used < 0)
			return -1;
		return used < (ssize_t)n ? buf_append(&c->in, p + used, n - used) : 0;
	}
	if (buf_append(&c->in, p, n) < 0)
		return -1;
	ssize_t used = answer(l, c, c->in.p, c->in.len);
	if (used < 0)
		return -1;
	if ((size_t)used == c->in.len)
		buf_free(&c->in);
	else if (used > 0) {
		memmove(c->in.p, c->in.p + used, c->in.len - used);
		c->in.len -= used;
	}
	return 0;
}

/* on_readable reads until EAGAIN (edge-triggered: the kernel reports the
 * socket again only after it was drained), or until too much is queued for
 * a peer that does not read, when reading waits for the queue to drain. */
static int on_readable(struct loop *l, struct conn *c) {
	for (;;) {
		c->paused = c->out.len - c->out.off > MAX_OUT;
		if (c->paused)
			return 0;
		ssize_t n = read(c->fd, l->scratch, sizeof l->scratch);
		if (n > 0) {
			if (on_bytes(l, c, l->scratch, n) < 0)
				return -1;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : -1;
	}
}

static void on_accept(struct loop *l) {
	for (;;) {
		int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN; on EMFILE the rest wait in the backlog for the next edge */
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			conn_close(c);
	}
}

static void *run(void *arg) {
	struct loop *l = arg;
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(l->ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				on_accept(l);
				continue;
			}
			uint32_t e = evs[i].events;
			int dead = (e & EPOLLERR) != 0;
			if (!dead && (e & EPOLLOUT))
				dead = flush(c) < 0;
			/* Reading that paused for a full queue resumes after the
			 * flush: no new edge will come for bytes already there. */
			if (!dead && ((e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) || c->paused))
				dead = on_readable(l, c) < 0;
			if (dead)
				conn_close(c);
		}
	}
	return NULL;
}

int main(int argc, char **argv) {
	struct args a;
	parse_args("epoll_server", argc, argv, &a);
	app_http = a.app_http;
	raise_nofile();
	pthread_t tid;
	for (int i = 0; i < a.loops; i++) {
		struct loop *l = calloc(1, sizeof *l);
		l->lfd = listener(&a.sa);
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		if (l->ep < 0)
			die("epoll_create1");
		struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL};
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->lfd, &ev) < 0)
			die("epoll_ctl");
		if (pthread_create(&tid, NULL, run, l) != 0)
			die("pthread_create");
	}
	serve_control(&a.sa, NULL);
	return 0;
}

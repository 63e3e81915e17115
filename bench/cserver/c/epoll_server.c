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
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { SCRATCH = 64 << 10, MAX_HEAD = 8 << 10, MAX_EVENTS = 256 };
/* A peer that does not read its replies gets no more than this buffered; past
 * it the connection stops reading until the backlog is sent. */
enum { MAX_OUT = 4 << 20 };

static int app_http;

struct buf {
	char *p;
	size_t len, cap, off;
};

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
	char date[40];
	time_t date_sec;
};

static void die(const char *what) {
	perror(what);
	exit(1);
}

static int buf_append(struct buf *b, const char *p, size_t n) {
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void buf_free(struct buf *b) {
	free(b->p);
	memset(b, 0, sizeof *b);
}

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

static const char *date_now(struct loop *l) {
	time_t now = time(NULL);
	if (now != l->date_sec) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(l->date, sizeof l->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		l->date_sec = now;
	}
	return l->date;
}

static char *put(char *o, const char *s, size_t n) {
	memcpy(o, s, n);
	return o + n;
}

#define PUT(o, lit) put(o, lit, sizeof lit - 1)

static char *append_response(struct loop *l, char *o, int found) {
	o = found ? PUT(o, "HTTP/1.1 200 OK\r\nServer: bench\r\nDate: ")
		  : PUT(o, "HTTP/1.1 404 Not Found\r\nServer: bench\r\nDate: ");
	o = put(o, date_now(l), 29);
	return found ? PUT(o, "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
		     : PUT(o, "\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found");
}

static int has_body(const char *line, size_t n) {
	static const char te[] = "transfer-encoding:", cl[] = "content-length:";
	if (n > sizeof te - 1 && strncasecmp(line, te, sizeof te - 1) == 0)
		return 1;
	if (n > sizeof cl - 1 && strncasecmp(line, cl, sizeof cl - 1) == 0) {
		const char *v = line + sizeof cl - 1;
		while (*v == ' ')
			v++;
		return !(v[0] == '0' && (v[1] == '\r' || v[1] == ' '));
	}
	return 0;
}

/* parse_head checks one request head ending in "\r\n\r\n": 1 for
 * /plaintext, 0 for another path, -1 for a malformed request. */
static int parse_head(const char *h, size_t n) {
	const char *eol = memmem(h, n, "\r\n", 2);
	const char *sp1 = memchr(h, ' ', eol - h);
	if (!sp1 || sp1 == h)
		return -1;
	const char *path = sp1 + 1;
	const char *sp2 = memchr(path, ' ', eol - path);
	if (!sp2 || sp2 == path || eol - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.1", 8) != 0)
		return -1;
	for (const char *p = eol + 2; p < h + n - 2;) {
		const char *e = memmem(p, h + n - p, "\r\n", 2);
		if (has_body(p, e - p))
			return -1;
		p = e + 2;
	}
	return sp2 - path == 10 && memcmp(path, "/plaintext", 10) == 0;
}

/* answer answers every complete request in p[0:n], returning the bytes
 * consumed or -1 for a malformed request. */
static ssize_t answer(struct loop *l, struct conn *c, const char *p, size_t n) {
	size_t used = 0;
	char *o = l->resp;
	while (used < n) {
		/* Looking no further than MAX_HEAD bytes makes the limit the same
		 * however the stream was cut into reads (plaintext.go's rule). */
		size_t window = n - used < MAX_HEAD ? n - used : MAX_HEAD;
		const char *end = memmem(p + used, window, "\r\n\r\n", 4);
		if (!end) {
			if (n - used >= MAX_HEAD)
				return -1;
			break;
		}
		size_t len = end + 4 - (p + used);
		int found = parse_head(p + used, len);
		if (found < 0)
			return -1;
		o = append_response(l, o, found);
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

static int listener(struct sockaddr_in *sa) {
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)sa, sizeof *sa) < 0)
		die("bind");
	if (listen(fd, 4096) < 0)
		die("listen");
	socklen_t len = sizeof *sa;
	getsockname(fd, (struct sockaddr *)sa, &len); /* the port, when it was 0 */
	return fd;
}

int main(int argc, char **argv) {
	const char *app = "echo", *addr = "127.0.0.1:0";
	int loops = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-app"))
			app = argv[i + 1];
		else if (!strcmp(argv[i], "-addr"))
			addr = argv[i + 1];
		else if (!strcmp(argv[i], "-loops"))
			loops = atoi(argv[i + 1]);
	}
	if (strcmp(app, "echo") && strcmp(app, "http")) {
		fprintf(stderr, "epoll_server: no app %s\n", app);
		return 2;
	}
	app_http = !strcmp(app, "http");
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (!colon || colon - addr >= (long)sizeof host || loops < 1) {
		fprintf(stderr, "epoll_server: bad -addr %s or -loops %d\n", addr, loops);
		return 2;
	}
	memcpy(host, addr, colon - addr);
	host[colon - addr] = 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "epoll_server: bad host %s\n", host);
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pthread_t tid;
	for (int i = 0; i < loops; i++) {
		struct loop *l = calloc(1, sizeof *l);
		l->lfd = listener(&sa);
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		if (l->ep < 0)
			die("epoll_create1");
		struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL};
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->lfd, &ev) < 0)
			die("epoll_ctl");
		if (pthread_create(&tid, NULL, run, l) != 0)
			die("pthread_create");
	}
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
	printf("ready %s:%d\n", ip, ntohs(sa.sin_port));
	fflush(stdout);
	char line[64];
	while (fgets(line, sizeof line, stdin)) {
		if (!strncmp(line, "mem", 3)) {
			printf("mem\n");
			fflush(stdout);
		} else if (!strncmp(line, "stop", 4))
			break;
	}
	return 0;
}

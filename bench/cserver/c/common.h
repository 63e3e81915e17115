/*
 * What the C servers share: the byte buffer, the HTTP plaintext rules
 * (package plaintext's, the same for every implementation), the flags, the
 * listener and package proc's control protocol. Each server includes it
 * once; everything here is static.
 */
#ifndef CSERVER_COMMON_H
#define CSERVER_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_HEAD = 8 << 10 };
/* A peer that does not read its replies gets no more than this buffered; past
 * it the connection stops reading until the backlog is sent. */
enum { MAX_OUT = 4 << 20 };
/* The longest response append_response writes. */
enum { MAX_RESPONSE = 160 };

static void die(const char *what) {
	perror(what);
	exit(1);
}

struct buf {
	char *p;
	size_t len, cap, off;
};

/* buf_reserve makes room for n more bytes after len; -1 when out of memory. */
static int buf_reserve(struct buf *b, size_t n) {
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	char *np = realloc(b->p, cap);
	if (!np)
		return -1;
	b->p = np;
	b->cap = cap;
	return 0;
}

static int buf_append(struct buf *b, const char *p, size_t n) {
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void buf_free(struct buf *b) {
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* The Date header's value, formatted once a second per loop. */
struct date {
	char s[40];
	time_t sec;
};

static const char *date_now(struct date *d) {
	time_t now = time(NULL);
	if (now != d->sec) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(d->s, sizeof d->s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		d->sec = now;
	}
	return d->s;
}

static char *put(char *o, const char *s, size_t n) {
	memcpy(o, s, n);
	return o + n;
}

#define PUT(o, lit) put(o, lit, sizeof lit - 1)

/* append_response writes one response at o (at most MAX_RESPONSE bytes) and
 * returns its end: 200 with "Hello, World!" when found, else 404. */
static char *append_response(struct date *d, char *o, int found) {
	o = found ? PUT(o, "HTTP/1.1 200 OK\r\nServer: bench\r\nDate: ")
		  : PUT(o, "HTTP/1.1 404 Not Found\r\nServer: bench\r\nDate: ");
	o = put(o, date_now(d), 29);
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

enum { REQ_MALFORMED = -1, REQ_INCOMPLETE = -2 };

/* next_request looks at the request starting at p (n bytes buffered):
 * REQ_INCOMPLETE when its head has not all arrived, REQ_MALFORMED for a
 * request the rules refuse, else 1 (/plaintext) or 0 (another path) with
 * the head's length in *len. */
static int next_request(const char *p, size_t n, size_t *len) {
	/* Looking no further than MAX_HEAD bytes makes the limit the same
	 * however the stream was cut into reads (plaintext.go's rule). */
	size_t window = n < MAX_HEAD ? n : MAX_HEAD;
	const char *end = memmem(p, window, "\r\n\r\n", 4);
	if (!end)
		return n >= MAX_HEAD ? REQ_MALFORMED : REQ_INCOMPLETE;
	*len = end + 4 - p;
	return parse_head(p, *len);
}

/* The flags every server takes: -app echo|http -addr HOST:PORT -loops N.
 * Others, each followed by a value, are left to the server. */
struct args {
	int app_http, loops;
	struct sockaddr_in sa;
};

static void parse_args(const char *prog, int argc, char **argv, struct args *a) {
	const char *app = "echo", *addr = "127.0.0.1:0";
	a->loops = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-app"))
			app = argv[i + 1];
		else if (!strcmp(argv[i], "-addr"))
			addr = argv[i + 1];
		else if (!strcmp(argv[i], "-loops"))
			a->loops = atoi(argv[i + 1]);
	}
	if (strcmp(app, "echo") && strcmp(app, "http")) {
		fprintf(stderr, "%s: no app %s\n", prog, app);
		exit(2);
	}
	a->app_http = !strcmp(app, "http");
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (!colon || colon - addr >= (long)sizeof host || a->loops < 1) {
		fprintf(stderr, "%s: bad -addr %s or -loops %d\n", prog, addr, a->loops);
		exit(2);
	}
	memcpy(host, addr, colon - addr);
	host[colon - addr] = 0;
	memset(&a->sa, 0, sizeof a->sa);
	a->sa.sin_family = AF_INET;
	a->sa.sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, host, &a->sa.sin_addr) != 1) {
		fprintf(stderr, "%s: bad host %s\n", prog, host);
		exit(2);
	}
}

/* listener opens one SO_REUSEPORT listener on sa, filling in the port when
 * it was 0, so that the next loop's listener joins the same group. */
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

static void raise_nofile(void) {
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* serve_control speaks package proc's control protocol once the loops run:
 * "ready ADDR"; "mem" is answered "mem" (no Go runtime to report; the
 * driver reads RSS from /proc); other lines go to on_line, which may answer;
 * "stop" or the end of stdin returns. */
static void serve_control(const struct sockaddr_in *sa, void (*on_line)(const char *line)) {
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip);
	printf("ready %s:%d\n", ip, ntohs(sa->sin_port));
	fflush(stdout);
	char line[64];
	while (fgets(line, sizeof line, stdin)) {
		if (!strncmp(line, "mem", 3)) {
			printf("mem\n");
			fflush(stdout);
		} else if (!strncmp(line, "stop", 4))
			break;
		else if (on_line)
			on_line(line);
	}
}

#endif

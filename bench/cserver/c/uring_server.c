/*
 * The echo and HTTP plaintext servers of epoll_server.c, with the reads and
 * writes themselves done by io_uring: what a C server that wants the fewest
 * system calls per message would be on Linux 6.x, without a second CPU for
 * a polling thread (no SQPOLL).
 *
 *   uring_server -app echo|http -addr 127.0.0.1:PORT -loops N
 *                [-bufs N] [-bufsize N] [-taskrun defer|coop] [-batch N:USEC]
 *   uring_server -probe
 *
 * One thread per loop, each with its own SO_REUSEPORT listener and its own
 * ring, set up IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (the
 * kernel's completion work runs only when the loop asks for completions,
 * in its own thread, never as an interrupt) and without the submission
 * index array where the kernel allows (Linux 6.6). The listener has one
 * multishot accept; each connection one multishot recv (Linux 6.0) that
 * takes its buffers from a ring of provided buffers (Linux 5.19) and stays
 * armed for the connection's life. A loop iteration is one io_uring_enter:
 * it submits every send and re-arm the last pass queued, runs the kernel's
 * deferred receive work, and returns with the completions; the pass over
 * them queues the next sends. TCP_NODELAY as Go sets it. With -batch N:USEC
 * the wait returns once N completions are there, or after USEC
 * microseconds with at least one (min_wait_usec, Linux 6.12): fewer
 * wake-ups for some latency; without it, at the first completion.
 *
 * The provided buffers are 1024 of 16 KiB per loop (-bufs, -bufsize), all
 * faulted in at start: 16 MiB of resident memory a loop, none per
 * connection.
 *
 * Echo sends straight from the provided buffer the bytes arrived in, and
 * gives the buffer back when the send completes; bytes that arrive while a
 * send is in flight are copied to the connection and sent next, in order:
 * a connection has at most one send in flight, since two could complete
 * out of order. HTTP answers into a per-connection buffer, taken from a
 * per-loop cache while a send is in flight and given back when the
 * connection is idle. Sends carry MSG_WAITALL, so the kernel finishes a
 * send the socket cannot take at once instead of completing it short.
 * A peer that does not read its replies gets no more than about twice
 * MAX_OUT queued (the send in flight and the backlog behind it) before the
 * connection's recv is cancelled until the backlog is in flight.
 *
 * A connection is freed when no request names it: on EOF or an error its
 * requests are cancelled (IORING_ASYNC_CANCEL_FD), and the close is one more
 * request.
 *
 * -probe sets up a ring as the loops do and runs a multishot accept and a
 * multishot recv with a provided buffer over loopback; it prints "ok", or
 * what the kernel refused, and exits 0 or 1.
 *
 * It speaks package proc's control protocol: "ready ADDR" on stdout once
 * listening; "mem" on stdin is answered "mem"; "stats" is answered with the
 * loops' counters (io_uring_enter calls, completions, data completions,
 * sends, recvs that found no buffer); "stop" or the end of stdin exits.
 */
#include "common.h"

#if !__has_include(<linux/io_uring.h>)
#error "linux/io_uring.h not found: the kernel's user-space headers (Debian: linux-libc-dev) are not installed"
#endif
#include <linux/io_uring.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* What older headers lack; the kernel's values. */
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif
#ifndef IORING_ACCEPT_MULTISHOT
#define IORING_ACCEPT_MULTISHOT (1U << 0)
#endif
#ifndef IORING_ASYNC_CANCEL_ALL
#define IORING_ASYNC_CANCEL_ALL (1U << 0)
#define IORING_ASYNC_CANCEL_FD (1U << 1)
#endif
#ifndef IORING_ENTER_REGISTERED_RING
#define IORING_ENTER_REGISTERED_RING (1U << 4)
#endif
#define REGISTER_RING_FDS 20 /* IORING_REGISTER_RING_FDS, Linux 5.18 */
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

/* io_uring_getevents_arg as of Linux 6.12, where min_wait_usec took the
 * place of a pad. */
struct getevents_arg {
	__u64 sigmask;
	__u32 sigmask_sz;
	__u32 min_wait_usec;
	__u64 ts;
};

enum { SQ_ENTRIES = 1024, CQ_ENTRIES = 16384, OUT_CACHE = 64 };

static int app_http;
static unsigned nbufs = 1024, bufsize = 16384; /* the provided buffers, per loop */
static int coop_taskrun;                        /* -taskrun coop: COOP_TASKRUN, not DEFER_TASKRUN */
static unsigned batch_n = 1, batch_usec;       /* -batch N:USEC */

/* user_data: a connection's address with the request's kind in the low
 * bits; requests whose success posts no completion carry 0. */
enum { OP_RECV = 0, OP_SEND = 1, OP_ACCEPT = 3, OP_MASK = 3 };

struct ring {
	int fd;               /* the ring's descriptor, for io_uring_register */
	int enter_fd;         /* what io_uring_enter takes: fd, or its registered index */
	unsigned enter_flags; /* IORING_ENTER_REGISTERED_RING when enter_fd is the index */
	unsigned *sq_head, *sq_tail, sq_mask, sq_entries, tail;
	struct io_uring_sqe *sqes;
	unsigned *cq_head, *cq_tail, cq_mask;
	struct io_uring_cqe *cqes;
};

struct conn {
	int fd;
	unsigned refs;  /* requests in flight naming it, and the starved list */
	unsigned char recv_armed, sending, dead, paused, starved;
	int send_bid;   /* the provided buffer the send in flight sends from, or -1 */
	const char *send_p;
	size_t send_len;
	struct buf in;      /* an incomplete request (http) */
	struct buf out;     /* replies waiting behind the send in flight */
	struct buf inflight; /* what the send in flight sends from, when not a provided buffer */
	struct conn *next_starved;
};

struct stats {
	unsigned long enters, cqes, recvs, sends, nobufs;
};

struct loop {
	int lfd;
	struct ring r;
	struct io_uring_buf_ring *br;
	char *bufs;
	unsigned short br_tail;
	unsigned held;       /* provided buffers held by sends in flight */
	int accept_stopped;  /* the accept ended on EMFILE and the like: re-armed at the next close */
	struct conn *starved; /* recvs that found no buffer, re-armed when buffers come back */
	char *cache[OUT_CACHE]; /* spare 4 KiB reply buffers */
	int ncache;
	struct date date;
	struct stats st;
	sem_t ready;
	char err[160];
};

static struct loop **loops;
static int nloops;

static void count(unsigned long *c, unsigned long n) { __atomic_store_n(c, *c + n, __ATOMIC_RELAXED); }

/* ---- the ring ---- */

static int sys_setup(unsigned entries, struct io_uring_params *p) {
	return syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned min, unsigned flags) {
	return syscall(__NR_io_uring_enter, fd, submit, min, flags, NULL, 0);
}

static int sys_register(int fd, unsigned op, void *arg, unsigned n) {
	return syscall(__NR_io_uring_register, fd, op, arg, n);
}

/* ring_init sets the ring up in the calling thread (SINGLE_ISSUER makes it
 * the only one that may submit); on failure err says what was refused. */
static int ring_init(struct ring *r, char *err, size_t errlen) {
	struct io_uring_params p;
	unsigned base = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	base |= coop_taskrun ? IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG : IORING_SETUP_DEFER_TASKRUN;
	int fd = -1;
	for (int noarray = 1; noarray >= 0 && fd < 0; noarray--) {
		memset(&p, 0, sizeof p);
		p.flags = base | (noarray ? IORING_SETUP_NO_SQARRAY : 0);
		p.cq_entries = CQ_ENTRIES;
		fd = sys_setup(SQ_ENTRIES, &p);
		if (fd < 0 && errno != EINVAL)
			break;
	}
	if (fd < 0) {
		snprintf(err, errlen, "io_uring_setup: %s%s", strerror(errno),
			 errno == EINVAL ? " (SINGLE_ISSUER and DEFER_TASKRUN need Linux 6.1)"
			 : errno == EPERM ? " (kernel.io_uring_disabled, or a seccomp filter)" : "");
		return -1;
	}
	if (batch_usec && !(p.features & IORING_FEAT_MIN_TIMEOUT)) {
		snprintf(err, errlen, "-batch: the kernel lacks IORING_FEAT_MIN_TIMEOUT (Linux 6.12)");
		close(fd);
		return -1;
	}
	if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_NODROP)) {
		snprintf(err, errlen, "io_uring: the kernel lacks IORING_FEAT_SINGLE_MMAP or NODROP (Linux 5.5)");
		close(fd);
		return -1;
	}
	size_t sqsz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	size_t sz = sqsz > cqsz ? sqsz : cqsz;
	char *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (m == MAP_FAILED || sqes == MAP_FAILED) {
		snprintf(err, errlen, "io_uring mmap: %s", strerror(errno));
		close(fd);
		return -1;
	}
	memset(r, 0, sizeof *r);
	r->fd = r->enter_fd = fd;
	r->sq_head = (unsigned *)(m + p.sq_off.head);
	r->sq_tail = (unsigned *)(m + p.sq_off.tail);
	r->sq_mask = *(unsigned *)(m + p.sq_off.ring_mask);
	r->sq_entries = p.sq_entries;
	r->tail = *r->sq_tail;
	r->sqes = sqes;
	r->cq_head = (unsigned *)(m + p.cq_off.head);
	r->cq_tail = (unsigned *)(m + p.cq_off.tail);
	r->cq_mask = *(unsigned *)(m + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(m + p.cq_off.cqes);
	if (!(p.flags & IORING_SETUP_NO_SQARRAY)) {
		/* Slot i always holds SQE i: the array is filled once. */
		unsigned *array = (unsigned *)(m + p.sq_off.array);
		for (unsigned i = 0; i < p.sq_entries; i++)
			array[i] = i;
	}
	/* A registered ring fd spares io_uring_enter the file lookup (5.18). */
	struct io_uring_rsrc_update up = {.offset = -1U, .data = fd};
	if (sys_register(fd, REGISTER_RING_FDS, &up, 1) == 1) {
		r->enter_fd = up.offset;
		r->enter_flags = IORING_ENTER_REGISTERED_RING;
	}
	return 0;
}

/* ring_enter publishes the queued SQEs and enters once: submitting them,
 * and with min > 0 waiting for that many completions (for -batch, that
 * many or at least one after batch_usec). */
static int ring_enter(struct ring *r, unsigned min, unsigned flags) {
	unsigned submit = r->tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	__atomic_store_n(r->sq_tail, r->tail, __ATOMIC_RELEASE);
	int n;
	if (min > 0 && batch_usec) {
		struct getevents_arg arg = {.min_wait_usec = batch_usec};
		n = syscall(__NR_io_uring_enter, r->enter_fd, submit, batch_n,
			    flags | r->enter_flags | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
	} else
		n = sys_enter(r->enter_fd, submit, min, flags | r->enter_flags);
	return n < 0 ? -errno : n;
}

/* sqe returns the next free SQE, zeroed; when the queue is full it submits
 * what is queued first (a second io_uring_enter in the iteration). */
static struct io_uring_sqe *sqe(struct loop *l) {
	struct ring *r = &l->r;
	while (r->tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) >= r->sq_entries) {
		int n = ring_enter(r, 0, 0);
		count(&l->st.enters, 1);
		if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY) {
			errno = -n;
			die("io_uring_enter");
		}
	}
	struct io_uring_sqe *s = &r->sqes[r->tail & r->sq_mask];
	memset(s, 0, sizeof *s);
	r->tail++;
	return s;
}

/* ---- provided buffers ---- */

static int bufs_init(struct loop *l, char *err, size_t errlen) {
	size_t ringsz = nbufs * sizeof(struct io_uring_buf);
	l->br = mmap(NULL, ringsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Faulted in now: the kernel takes buffers in ring order, so the first
	 * small read of each of the first nbufs connections would otherwise
	 * fault in a page of a buffer of its own, and a loop's fixed pool
	 * would read as memory per connection. */
	l->bufs = mmap(NULL, (size_t)nbufs * bufsize, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (l->br == MAP_FAILED || l->bufs == MAP_FAILED) {
		snprintf(err, errlen, "mmap buffers: %s", strerror(errno));
		return -1;
	}
	struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)l->br, .ring_entries = nbufs, .bgid = 0};
	if (sys_register(l->r.fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
		snprintf(err, errlen, "IORING_REGISTER_PBUF_RING: %s (provided buffer rings need Linux 5.19)", strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < nbufs; i++) {
		struct io_uring_buf *b = &l->br->bufs[i];
		b->addr = (unsigned long)(l->bufs + (size_t)i * bufsize);
		b->len = bufsize;
		b->bid = i;
	}
	l->br_tail = nbufs;
	__atomic_store_n(&l->br->tail, l->br_tail, __ATOMIC_RELEASE);
	return 0;
}

/* recycle gives a buffer back; the kernel sees it at publish_bufs. */
static void recycle(struct loop *l, unsigned bid) {
	struct io_uring_buf *b = &l->br->bufs[l->br_tail & (nbufs - 1)];
	b->addr = (unsigned long)(l->bufs + (size_t)bid * bufsize);
	b->len = bufsize;
	b->bid = bid;
	l->br_tail++;
}

static void publish_bufs(struct loop *l) { __atomic_store_n(&l->br->tail, l->br_tail, __ATOMIC_RELEASE); }

/* ---- reply buffers ---- */

static void out_reserve_cached(struct loop *l, struct buf *b) {
	if (b->cap == 0 && l->ncache > 0) {
		b->p = l->cache[--l->ncache];
		b->cap = 4096;
	}
}

/* out_release frees a buffer, keeping 4 KiB ones for the next reply. */
static void out_release(struct loop *l, struct buf *b) {
	if (b->cap == 4096 && l->ncache < OUT_CACHE) {
		l->cache[l->ncache++] = b->p;
		memset(b, 0, sizeof *b);
		return;
	}
	buf_free(b);
}

/* ---- requests ---- */

static void arm_accept(struct loop *l) {
	struct io_uring_sqe *s = sqe(l);
	s->opcode = IORING_OP_ACCEPT;
	s->fd = l->lfd;
	s->ioprio = IORING_ACCEPT_MULTISHOT;
	s->accept_flags = SOCK_CLOEXEC;
	s->user_data = OP_ACCEPT;
}

static void arm_recv(struct loop *l, struct conn *c) {
	struct io_uring_sqe *s = sqe(l);
	s->opcode = IORING_OP_RECV;
	s->fd = c->fd;
	s->ioprio = IORING_RECV_MULTISHOT;
	s->flags = IOSQE_BUFFER_SELECT;
	s->buf_group = 0;
	s->user_data = (unsigned long)c | OP_RECV;
	c->recv_armed = 1;
	c->refs++;
}

static void start_send(struct loop *l, struct conn *c, const char *p, size_t n, int bid) {
	struct io_uring_sqe *s = sqe(l);
	s->opcode = IORING_OP_SEND;
	s->fd = c->fd;
	s->addr = (unsigned long)p;
	s->len = n;
	s->msg_flags = MSG_WAITALL | MSG_NOSIGNAL;
	s->user_data = (unsigned long)c | OP_SEND;
	c->sending = 1;
	c->send_p = p;
	c->send_len = n;
	c->send_bid = bid;
	c->refs++;
}

/* cancel ends the connection's requests: all of them, or only its recv
 * (by user_data). Its success posts nothing; the requests complete
 * with -ECANCELED. */
static void cancel(struct loop *l, struct conn *c, int all) {
	struct io_uring_sqe *s = sqe(l);
	s->opcode = IORING_OP_ASYNC_CANCEL;
	if (all) {
		s->fd = c->fd;
		s->cancel_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
	} else
		s->addr = (unsigned long)c | OP_RECV;
	s->flags = IOSQE_CQE_SKIP_SUCCESS;
}

/* flush_out sends the backlog when no send is in flight. */
static void flush_out(struct loop *l, struct conn *c) {
	if (c->sending || c->out.len == c->out.off)
		return;
	struct buf t = c->inflight;
	c->inflight = c->out;
	c->out = t;
	c->out.len = c->out.off = 0;
	start_send(l, c, c->inflight.p + c->inflight.off, c->inflight.len - c->inflight.off, -1);
}

/* pause_if_full stops reading from a peer with too much waiting for it. */
static void pause_if_full(struct loop *l, struct conn *c) {
	if (c->paused || c->out.len - c->out.off <= MAX_OUT)
		return;
	c->paused = 1;
	if (c->recv_armed)
		cancel(l, c, 0);
}

static void kill_conn(struct loop *l, struct conn *c) {
	if (c->dead)
		return;
	c->dead = 1;
	if (c->recv_armed || c->sending)
		cancel(l, c, 1);
}

/* release frees a dead connection once nothing names it. */
static void release(struct loop *l, struct conn *c) {
	if (!c->dead || c->refs > 0)
		return;
	struct io_uring_sqe *s = sqe(l);
	s->opcode = IORING_OP_CLOSE;
	s->fd = c->fd;
	s->flags = IOSQE_CQE_SKIP_SUCCESS;
	buf_free(&c->in);
	out_release(l, &c->out);
	out_release(l, &c->inflight);
	free(c);
	if (l->accept_stopped) {
		l->accept_stopped = 0;
		arm_accept(l);
	}
}

/* ---- serving ---- */

/* answer answers every complete request in p[0:n] into the connection's
 * backlog, returning the bytes consumed or -1 for a malformed request. */
static ssize_t answer(struct loop *l, struct conn *c, const char *p, size_t n) {
	size_t used = 0, len;
	while (used < n) {
		int found = next_request(p + used, n - used, &len);
		if (found == REQ_INCOMPLETE)
			break;
		if (found < 0)
			return -1;
		out_reserve_cached(l, &c->out);
		if (buf_reserve(&c->out, MAX_RESPONSE) < 0)
			return -1;
		c->out.len = append_response(&l->date, c->out.p + c->out.len, found) - c->out.p;
		used += len;
	}
	return used;
}

static int on_http(struct loop *l, struct conn *c, const char *p, size_t n) {
	if (c->in.len == 0) {
		ssize_t used = answer(l, c, p, n);
		if (used < 0)
			return -1;
		if (used < (ssize_t)n && buf_append(&c->in, p + used, n - used) < 0)
			return -1;
	} else {
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
	}
	flush_out(l, c);
	pause_if_full(l, c);
	return 0;
}

/* on_echo sends the bytes from the buffer they arrived in when the
 * connection has no send in flight, keeping the buffer until the send
 * completes (*kept); else they queue behind it. Past half the buffers held,
 * it copies, so that receives always find buffers. */
static int on_echo(struct loop *l, struct conn *c, const char *p, size_t n, unsigned bid, int *kept) {
	if (!c->sending && l->held < nbufs / 2) {
		start_send(l, c, p, n, bid);
		l->held++;
		*kept = 1;
		return 0;
	}
	if (buf_append(&c->out, p, n) < 0)
		return -1;
	flush_out(l, c);
	pause_if_full(l, c);
	return 0;
}

static void on_recv(struct loop *l, struct conn *c, int res, unsigned flags) {
	if (!(flags & IORING_CQE_F_MORE)) {
		c->recv_armed = 0;
		c->refs--;
	}
	if (res > 0) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		const char *p = l->bufs + (size_t)bid * bufsize;
		int kept = 0;
		count(&l->st.recvs, 1);
		if (!c->dead) {
			int bad = app_http ? on_http(l, c, p, res) : on_echo(l, c, p, res, bid, &kept);
			if (bad < 0)
				kill_conn(l, c);
		}
		if (!kept)
			recycle(l, bid);
		/* The kernel may end a multishot recv on its own (a full
		 * completion queue); a fresh one picks up what is there. */
		if (!c->dead && !c->recv_armed && !c->paused)
			arm_recv(l, c);
	} else if (res == -ENOBUFS && !c->dead) {
		count(&l->st.nobufs, 1);
		if (!c->starved) {
			c->starved = 1;
			c->refs++;
			c->next_starved = l->starved;
			l->starved = c;
		}
	} else if (!(res == -ECANCELED && c->paused))
		kill_conn(l, c); /* 0: the peer closed; or an error */
	release(l, c);
}

static void on_send(struct loop *l, struct conn *c, int res) {
	c->sending = 0;
	c->refs--;
	count(&l->st.sends, 1);
	if (!c->dead && res > 0 && (size_t)res < c->send_len) {
		/* A send cut short (a signal): the rest, from where it stopped. */
		start_send(l, c, c->send_p + res, c->send_len - res, c->send_bid);
		return;
	}
	if (c->send_bid >= 0) {
		recycle(l, c->send_bid);
		l->held--;
		c->send_bid = -1;
	}
	c->inflight.len = c->inflight.off = 0;
	if (res < 0)
		kill_conn(l, c);
	else if (!c->dead) {
		if (c->out.len > c->out.off)
			flush_out(l, c);
		else {
			out_release(l, &c->inflight); /* an idle connection holds no buffer */
			out_release(l, &c->out);
		}
		if (c->paused && c->out.len - c->out.off <= MAX_OUT) {
			c->paused = 0;
			if (!c->recv_armed)
				arm_recv(l, c);
		}
	}
	release(l, c);
}

static void on_accept(struct loop *l, int res, unsigned flags) {
	if (res >= 0) {
		int one = 1;
		setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = calloc(1, sizeof *c);
		if (!c)
			close(res);
		else {
			c->fd = res;
			c->send_bid = -1;
			arm_recv(l, c);
		}
	}
	if (!(flags & IORING_CQE_F_MORE)) {
		/* Out of descriptors or memory, the rest wait in the backlog
		 * until a connection closes; otherwise accept again now. */
		if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS)
			l->accept_stopped = 1;
		else
			arm_accept(l);
	}
}

static void rearm_starved(struct loop *l) {
	struct conn *c = l->starved;
	l->starved = NULL;
	while (c) {
		struct conn *next = c->next_starved;
		c->starved = 0;
		c->refs--;
		if (!c->dead && !c->paused && !c->recv_armed)
			arm_recv(l, c);
		release(l, c);
		c = next;
	}
}

static void *run(void *arg) {
	struct loop *l = arg;
	if (ring_init(&l->r, l->err, sizeof l->err) < 0 || bufs_init(l, l->err, sizeof l->err) < 0) {
		sem_post(&l->ready);
		return NULL;
	}
	arm_accept(l);
	sem_post(&l->ready);
	struct ring *r = &l->r;
	for (;;) {
		publish_bufs(l);
		if (l->starved)
			rearm_starved(l);
		int n = ring_enter(r, 1, IORING_ENTER_GETEVENTS);
		count(&l->st.enters, 1);
		/* -ETIME: a -batch wait that ended on its timer. */
		if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY && n != -ETIME) {
			errno = -n;
			die("io_uring_enter");
		}
		unsigned head = *r->cq_head, seen = 0;
		while (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
			struct io_uring_cqe cqe = r->cqes[head & r->cq_mask];
			__atomic_store_n(r->cq_head, ++head, __ATOMIC_RELEASE);
			seen++;
			unsigned long ud = cqe.user_data;
			struct conn *c = (struct conn *)(ud & ~(unsigned long)OP_MASK);
			if (ud == OP_ACCEPT)
				on_accept(l, cqe.res, cqe.flags);
			else if (!c)
				continue; /* a cancel or close that failed: nothing to do */
			else if ((ud & OP_MASK) == OP_SEND)
				on_send(l, c, cqe.res);
			else
				on_recv(l, c, cqe.res, cqe.flags);
		}
		count(&l->st.cqes, seen);
	}
	return NULL;
}

/* ---- probe ---- */

/* probe runs what the loops rely on once, over loopback. */
static int probe(void) {
	struct loop *l = calloc(1, sizeof *l);
	nbufs = 8;
	if (ring_init(&l->r, l->err, sizeof l->err) < 0 || bufs_init(l, l->err, sizeof l->err) < 0) {
		printf("%s\n", l->err);
		return 1;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	l->lfd = listener(&sa);
	int cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cl < 0 || connect(cl, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("probe: connect");
	arm_accept(l);
	struct io_uring_cqe cqe;
	const char *steps[] = {"multishot accept", "multishot recv with a provided buffer"};
	for (int step = 0; step < 2; step++) {
		if (step == 1) {
			struct io_uring_sqe *s = sqe(l);
			s->opcode = IORING_OP_RECV;
			s->fd = cqe.res;
			s->ioprio = IORING_RECV_MULTISHOT;
			s->flags = IOSQE_BUFFER_SELECT;
			s->user_data = 7;
			if (write(cl, "x", 1) != 1)
				die("probe: write");
		}
		int n = ring_enter(&l->r, 1, IORING_ENTER_GETEVENTS);
		if (n < 0) {
			printf("io_uring_enter: %s\n", strerror(-n));
			return 1;
		}
		unsigned head = *l->r.cq_head;
		if (head == __atomic_load_n(l->r.cq_tail, __ATOMIC_ACQUIRE)) {
			printf("%s: no completion\n", steps[step]);
			return 1;
		}
		cqe = l->r.cqes[head & l->r.cq_mask];
		__atomic_store_n(l->r.cq_head, head + 1, __ATOMIC_RELEASE);
		int want = step == 0 ? IORING_CQE_F_MORE : IORING_CQE_F_MORE | IORING_CQE_F_BUFFER;
		if (cqe.res < 0 || (step == 1 && cqe.res != 1) || (cqe.flags & want) != (unsigned)want) {
			printf("%s: %s (res %d, flags %#x; multishot recv needs Linux 6.0)\n", steps[step],
			       cqe.res < 0 ? strerror(-cqe.res) : "not multishot", cqe.res, cqe.flags);
			return 1;
		}
	}
	printf("ok\n");
	return 0;
}

/* ---- control ---- */

static void on_line(const char *line) {
	if (strncmp(line, "stats", 5))
		return;
	struct stats t = {0};
	for (int i = 0; i < nloops; i++) {
		struct stats *s = &loops[i]->st;
		t.enters += __atomic_load_n(&s->enters, __ATOMIC_RELAXED);
		t.cqes += __atomic_load_n(&s->cqes, __ATOMIC_RELAXED);
		t.recvs += __atomic_load_n(&s->recvs, __ATOMIC_RELAXED);
		t.sends += __atomic_load_n(&s->sends, __ATOMIC_RELAXED);
		t.nobufs += __atomic_load_n(&s->nobufs, __ATOMIC_RELAXED);
	}
	printf("stats enters=%lu cqes=%lu recvs=%lu sends=%lu nobufs=%lu\n", t.enters, t.cqes, t.recvs, t.sends, t.nobufs);
	fflush(stdout);
}

int main(int argc, char **argv) {
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-probe"))
			return probe();
		if (i + 1 >= argc)
			break;
		if (!strcmp(argv[i], "-bufs"))
			nbufs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-bufsize"))
			bufsize = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-taskrun"))
			coop_taskrun = !strcmp(argv[i + 1], "coop");
		else if (!strcmp(argv[i], "-batch") && sscanf(argv[i + 1], "%u:%u", &batch_n, &batch_usec) != 2) {
			fprintf(stderr, "uring_server: -batch takes N:USEC\n");
			return 2;
		}
	}
	if (nbufs < 2 || nbufs > 32768 || (nbufs & (nbufs - 1)) || bufsize < 64) {
		fprintf(stderr, "uring_server: -bufs must be a power of 2 up to 32768, -bufsize at least 64\n");
		return 2;
	}
	struct args a;
	parse_args("uring_server", argc, argv, &a);
	app_http = a.app_http;
	raise_nofile();
	nloops = a.loops;
	loops = calloc(nloops, sizeof *loops);
	pthread_t tid;
	for (int i = 0; i < nloops; i++) {
		struct loop *l = loops[i] = calloc(1, sizeof *l);
		l->lfd = listener(&a.sa);
		sem_init(&l->ready, 0, 0);
		if (pthread_create(&tid, NULL, run, l) != 0)
			die("pthread_create");
		sem_wait(&l->ready);
		if (l->err[0]) {
			fprintf(stderr, "uring_server: %s\n", l->err);
			return 1;
		}
	}
	serve_control(&a.sa, on_line);
	return 0;
}

/*
 * loadgen.c - a closed-loop HTTP load generator for batond's intake.
 *
 * N keep-alive connections to HOST:PORT each send POST PATH with a distinct
 * JSON event (id RUN-i) signed with X-Baton-Signature, wait for the whole
 * response, record its latency and send the next one.  Every request is
 * built before the clock starts, so the generator's own work (JSON, HMAC)
 * stays out of the figures.  The run ends after -d seconds or -n requests,
 * whichever comes first; answers still outstanding then get a grace period
 * of 5 s.  One thread, epoll, plain non-blocking sockets.
 *
 * Output: a human line and a machine line
 *   RESULT requests=N rps=R p50_ms=A p99_ms=B max_ms=C errors=E non2xx=F
 * Exit status 0 when at least one request was answered, else 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define RESP_MAX 16384                  /* headers + body of one answer */

struct conn {
	int fd;
	size_t req;                     /* index of the request in flight */
	bool busy;                      /* a request is in flight */
	size_t sent;                    /* bytes of it written */
	char resp[RESP_MAX];
	size_t got;                     /* bytes of the answer read */
	uint64_t started_ns;
};

struct opts {
	const char *host;
	int port;
	const char *path;
	const char *secret;
	const char *run;                /* event id prefix */
	int conns;
	double seconds;
	size_t count;                   /* request cap (also the pool size) */
};

static char *pool;                      /* every request, back to back */
static size_t *pool_off;                /* count + 1 offsets */
static uint32_t *lat_us;                /* latency of each answer */
static size_t nanswered, nerrors, nnon2xx, nnext;
static unsigned long status_count[600];
static volatile sig_atomic_t interrupted;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen -p PORT [-H HOST] [-P PATH] [-c CONNS] "
	    "[-d SECONDS]\n"
	    "               [-n MAXREQ] [-s SECRET] [-r RUNID]\n"
	    "  defaults: -H 127.0.0.1 -P /hooks/bench -c 64 -d 5 -n 200000\n"
	    "            -s bench-secret -r <time>-<pid>\n");
	exit(2);
}

/* ---- Requests ---------------------------------------------------------- */

static int
build_pool(const struct opts *o)
{
	char body[512], sig[2 * EVP_MAX_MD_SIZE + 1], head[512];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	size_t cap, len = 0, i;
	long now = (long)time(NULL);

	cap = o->count * 400 + 1;
	if ((pool = malloc(cap)) == NULL ||
	    (pool_off = calloc(o->count + 1, sizeof(*pool_off))) == NULL ||
	    (lat_us = calloc(o->count, sizeof(*lat_us))) == NULL)
		return -1;
	for (i = 0; i < o->count; i++) {
		int blen, hlen;
		unsigned int k;

		blen = snprintf(body, sizeof(body),
		    "{\"id\":\"%s-%zu\",\"kind\":\"page_view\",\"ts\":%ld,"
		    "\"contact\":{\"email\":\"bench%zu@example.com\"},"
		    "\"page\":{\"url\":\"https://example.com/p/%zu\"}}",
		    o->run, i, now, i % 1000, i % 97);
		if (HMAC(EVP_sha256(), o->secret, (int)strlen(o->secret),
		    (const unsigned char *)body, (size_t)blen, md,
		    &mdlen) == NULL)
			return -1;
		for (k = 0; k < mdlen; k++)
			snprintf(sig + 2 * k, 3, "%02x", md[k]);
		hlen = snprintf(head, sizeof(head),
		    "POST %s HTTP/1.1\r\n"
		    "Host: %s:%d\r\n"
		    "Content-Type: application/json\r\n"
		    "X-Baton-Signature: sha256=%s\r\n"
		    "Content-Length: %d\r\n\r\n",
		    o->path, o->host, o->port, sig, blen);
		if (len + (size_t)hlen + (size_t)blen > cap)
			return -1;
		pool_off[i] = len;
		memcpy(pool + len, head, (size_t)hlen);
		memcpy(pool + len + hlen, body, (size_t)blen);
		len += (size_t)hlen + (size_t)blen;
	}
	pool_off[o->count] = len;
	return 0;
}

/* ---- Connections ------------------------------------------------------- */

static int
conn_open(struct conn *c, const struct opts *o, int ep)
{
	struct sockaddr_in sin;
	struct epoll_event ee;
	int one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)o->port);
	if (inet_pton(AF_INET, o->host, &sin.sin_addr) != 1) {
		fprintf(stderr, "loadgen: %s: not an IPv4 address\n", o->host);
		return -1;
	}
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN;
	ee.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ee) == -1) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->busy = false;
	c->got = 0;
	return 0;
}

static void
conn_close(struct conn *c, int ep)
{
	if (c->fd != -1) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->busy = false;
}

static void
conn_want(struct conn *c, int ep, uint32_t events)
{
	struct epoll_event ee;

	memset(&ee, 0, sizeof(ee));
	ee.events = events;
	ee.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ee);
}

/* Starts the next request on c; false when there is none left. */
static bool
conn_start(struct conn *c, const struct opts *o, int ep, bool sending)
{
	if (!sending || nnext >= o->count)
		return false;
	c->req = nnext++;
	c->busy = true;
	c->sent = 0;
	c->got = 0;
	c->started_ns = now_ns();
	conn_want(c, ep, EPOLLIN | EPOLLOUT);
	return true;
}

/*
 * Looks for one complete answer in c->resp.  Returns its total length and
 * sets *status and *close_after, 0 when more bytes are needed, -1 when
 * it is not HTTP/1.x or uses a framing this tool does not read.
 */
static long
parse_answer(const struct conn *c, int *status, bool *close_after)
{
	const char *end, *p, *line;
	size_t hlen;
	long clen = 0;

	end = memmem(c->resp, c->got, "\r\n\r\n", 4);
	if (end == NULL)
		return c->got >= RESP_MAX ? -1 : 0;
	hlen = (size_t)(end - c->resp) + 4;
	if (c->got < 12 || strncmp(c->resp, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(c->resp + 9);
	*close_after = strncmp(c->resp, "HTTP/1.0", 8) == 0;
	for (line = c->resp; line < end; line = p + 2) {
		p = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
		if (p == NULL)
			break;
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtol(line + 15, NULL, 10);
		else if (strncasecmp(line, "Connection:", 11) == 0)
			*close_after = memmem(line, (size_t)(p - line),
			    "close", 5) != NULL;
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
			return -1;
	}
	if (clen < 0 || hlen + (size_t)clen > RESP_MAX)
		return -1;
	if (c->got < hlen + (size_t)clen)
		return 0;
	return (long)(hlen + (size_t)clen);
}

/* Handles readiness on c: writes the request, reads and records the
 * answer, starts the next one; a failed connection is reopened. */
static void
conn_event(struct conn *c, uint32_t events, const struct opts *o, int ep,
    bool sending)
{
	if (c->busy && (events & EPOLLOUT)) {
		size_t len = pool_off[c->req + 1] - pool_off[c->req];

		while (c->sent < len) {
			ssize_t n = write(c->fd, pool + pool_off[c->req] +
			    c->sent, len - c->sent);
			if (n > 0) {
				c->sent += (size_t)n;
				continue;
			}
			if (n == -1 && errno == EAGAIN)
				return;
			goto fail;
		}
		conn_want(c, ep, EPOLLIN);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n;
			long alen;
			int status = 0;
			bool close_after = false;

			n = read(c->fd, c->resp + c->got, RESP_MAX - c->got);
			if (n == -1 && errno == EAGAIN)
				return;
			if (n <= 0 || !c->busy)
				goto fail;
			c->got += (size_t)n;
			alen = parse_answer(c, &status, &close_after);
			if (alen == 0)
				continue;
			if (alen < 0 || (size_t)alen != c->got)
				goto fail;
			lat_us[nanswered++] = (uint32_t)((now_ns() -
			    c->started_ns) / 1000);
			if (status >= 100 && status < 600)
				status_count[status]++;
			if (status < 200 || status > 299)
				nnon2xx++;
			c->busy = false;
			if (close_after) {
				conn_close(c, ep);
				if (sending && conn_open(c, o, ep) == -1)
					nerrors++;
				else if (sending)
					conn_start(c, o, ep, sending);
				return;
			}
			if (!conn_start(c, o, ep, sending))
				conn_want(c, ep, EPOLLIN);
			return;
		}
	}
	return;
fail:
	if (c->busy)
		nerrors++;
	conn_close(c, ep);
	if (sending && conn_open(c, o, ep) == 0)
		conn_start(c, o, ep, sending);
}

/* ---- Figures ----------------------------------------------------------- */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double
percentile_ms(double q)
{
	size_t i;

	if (nanswered == 0)
		return 0;
	i = (size_t)(q * (double)(nanswered - 1) + 0.5);
	return lat_us[i] / 1000.0;
}

int
main(int argc, char **argv)
{
	struct opts o = {
		.host = "127.0.0.1", .port = 0, .path = "/hooks/bench",
		.secret = "bench-secret", .run = NULL, .conns = 64,
		.seconds = 5, .count = 200000,
	};
	char runbuf[64];
	struct conn *conns;
	struct epoll_event evs[256];
	uint64_t t0, t1, deadline, grace = 0;
	bool sending = true;
	int ep, ch, i, busy;

	while ((ch = getopt(argc, argv, "H:p:P:c:d:n:s:r:")) != -1) {
		switch (ch) {
		case 'H': o.host = optarg; break;
		case 'p': o.port = atoi(optarg); break;
		case 'P': o.path = optarg; break;
		case 'c': o.conns = atoi(optarg); break;
		case 'd': o.seconds = atof(optarg); break;
		case 'n': o.count = (size_t)strtoull(optarg, NULL, 10); break;
		case 's': o.secret = optarg; break;
		case 'r': o.run = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || o.port <= 0 || o.port > 65535 || o.conns < 1 ||
	    o.conns > 10000 || o.seconds <= 0 || o.seconds > 3600 ||
	    o.count < 1 || o.count > 10000000)
		usage();
	if (o.run == NULL) {
		snprintf(runbuf, sizeof(runbuf), "%ld-%ld", (long)time(NULL),
		    (long)getpid());
		o.run = runbuf;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (build_pool(&o) == -1) {
		fprintf(stderr, "loadgen: out of memory building %zu requests\n",
		    o.count);
		return 1;
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (conns = calloc((size_t)o.conns, sizeof(*conns))) == NULL) {
		perror("loadgen");
		return 1;
	}
	t0 = now_ns();
	deadline = t0 + (uint64_t)(o.seconds * 1e9);
	for (i = 0; i < o.conns; i++) {
		conns[i].fd = -1;
		if (conn_open(&conns[i], &o, ep) == -1) {
			fprintf(stderr, "loadgen: connect %s:%d: %s\n", o.host,
			    o.port, strerror(errno));
			return 1;
		}
		conn_start(&conns[i], &o, ep, true);
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 256, 100);
		uint64_t now;

		if (n == -1 && errno != EINTR) {
			perror("loadgen: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events, &o, ep,
			    sending);
		now = now_ns();
		if (sending && (now >= deadline || nnext >= o.count ||
		    interrupted)) {
			sending = false;
			grace = now + 5000000000ull;
		}
		busy = 0;
		for (i = 0; i < o.conns; i++) {
			if (conns[i].fd == -1 && sending) {
				/* Reconnect a connection that failed to. */
				if (conn_open(&conns[i], &o, ep) == 0)
					conn_start(&conns[i], &o, ep, sending);
			}
			if (conns[i].busy)
				busy++;
		}
		if (!sending && (busy == 0 || now >= grace))
			break;
	}
	t1 = now_ns();
	for (i = 0; i < o.conns; i++) {
		if (conns[i].busy)
			nerrors++;              /* unanswered at the end */
		conn_close(&conns[i], ep);
	}
	close(ep);

	qsort(lat_us, nanswered, sizeof(*lat_us), cmp_u32);
	{
		double secs = (double)(t1 - t0) / 1e9;
		double rps = nanswered / secs;
		int s;

		printf("loadgen: %s:%d%s %d connections %.2fs: %zu answered, "
		    "%.0f req/s, p50 %.3f ms, p99 %.3f ms, max %.3f ms, "
		    "%zu errors, %zu non-2xx\n", o.host, o.port, o.path,
		    o.conns, secs, nanswered, rps, percentile_ms(0.50),
		    percentile_ms(0.99), percentile_ms(1.0), nerrors, nnon2xx);
		if (nnon2xx > 0) {
			printf("loadgen: statuses:");
			for (s = 100; s < 600; s++)
				if (status_count[s] > 0)
					printf(" %d=%lu", s, status_count[s]);
			printf("\n");
		}
		printf("RESULT requests=%zu rps=%.1f p50_ms=%.3f p99_ms=%.3f "
		    "max_ms=%.3f errors=%zu non2xx=%zu\n", nanswered, rps,
		    percentile_ms(0.50), percentile_ms(0.99),
		    percentile_ms(1.0), nerrors, nnon2xx);
	}
	free(conns);
	free(pool);
	free(pool_off);
	free(lat_us);
	return nanswered > 0 ? 0 : 1;
}

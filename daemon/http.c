/*
 * http.c - the HTTP listener: evhttp bound to a TCP address or a unix
 * socket, routing to the intake, /healthz and /metrics, the JSON error
 * replies every route shares, and the guard that keeps hostile clients
 * from holding the daemon.
 *
 * libevent 2.1's evhttp has one inactivity timeout per connection (reset
 * by every byte, so a client trickling a byte a second never meets it),
 * answers its own limits with HTML pages, and offers no hook between
 * accepting a connection and handing a complete request to us.  So each
 * connection gets a guard:
 *
 *   - the bufferevent evhttp reads from is ours (evhttp_set_bevcb), and a
 *     callback on its input buffer sees every byte before evhttp parses
 *     it.  A small scanner follows the request's framing (request line,
 *     header fields, Content-Length or chunked body) and refuses, with a
 *     JSON error, what is too large or malformed: 414/431 over
 *     max_header_size, 431 over max_headers, 413 over max_body (from
 *     Content-Length before the body is read, or from the chunk sizes),
 *     400/501/505/417 for framing evhttp would answer with HTML.
 *   - a timer per connection: the request line and headers must arrive
 *     within header_timeout of the request's start (the connection's
 *     accept, or the end of the previous reply on a kept-alive one), the
 *     body within body_timeout of the headers' end.  Past it the client
 *     gets 408, or, when it sent nothing at all, a plain close.
 *   - max_connections: a connection accepted at the limit closes the one
 *     that has waited longest without a complete request; when every
 *     connection is busy with a request the new one is answered 503.
 *
 * To refuse, the guard takes the connection over from evhttp (clears its
 * bufferevent callbacks), writes the reply itself, shuts down its side and
 * discards what the client still sends for a moment, then frees the
 * connection through evhttp.  Once evhttp has handed a request to a route
 * the guard stands aside until the reply has been written.
 *
 * The limits come from the runtime's current config: a reload applies them
 * to the requests that start after it.  Every method evhttp knows reaches
 * the routes, which answer 405 (in JSON) to those they do not take.
 */
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>

#include <baton/log.h>

#include "config.h"
#include "intake.h"
#include "metrics.h"
#include "runtime.h"

#define HOOKS_PREFIX "/hooks/"
#define HTTP_BACKLOG 1024       /* the kernel caps it at somaxconn */
#define CONNECTOR_NAME_MAX 64

#define SCAN_PREFIX 64          /* bytes of each line kept for checks */
#define SCAN_TAIL 16            /* last bytes of the request line kept */
#define REFUSE_LINGER_MS 2000   /* a refused client's time to read */
#define REFUSE_SLACK 64         /* refusals in progress past the limit */
#define HTTP_FD_RESERVE 64      /* descriptors kept for Redis, curl, ... */
#define HTTP_RETRY_AFTER 5      /* seconds, on a 503 for too many */
#define ACCEPT_PAUSE_MS 100     /* after accept() ran out of descriptors */
#define GUARD_LOG_BURST 10      /* guard lines per second, then counted */
#define HTTP_HEADERS_BACKSTOP ((1 << 20) + 4096) /* over max max_header_size */

/* The guard's limits for one request (from [daemon]). */
struct http_limits {
	uint64_t max_body;
	uint64_t max_header_size;
	long long max_headers;
	long long max_connections;
	int64_t header_timeout_ms;
	int64_t body_timeout_ms;
};

/* ---- Request framing scanner --------------------------------------------
 *
 * Fed the bytes of one connection in order, in pieces of any size; needs
 * O(1) memory and time per byte.  It accepts a subset of what evhttp
 * accepts, so that a request it lets through is framed the same way by
 * evhttp, and answers the rest itself.
 */

enum scan_state {
	SCAN_LINE,              /* the request line */
	SCAN_HEADER,            /* header field lines */
	SCAN_BODY,              /* a Content-Length body */
	SCAN_CHUNK_SIZE,        /* a chunk-size line (empty lines skipped) */
	SCAN_CHUNK_DATA,        /* a chunk's bytes */
	SCAN_TRAILER,           /* after the last chunk: only an empty line */
	SCAN_DONE,              /* complete; later bytes wait for the next */
	SCAN_REFUSED,           /* status and why say what to answer */
};

struct http_scan {
	enum scan_state state;
	uint64_t max_body, max_header_size;
	long long max_headers;
	uint64_t bytes;         /* bytes of this request seen */
	uint64_t head_bytes;    /* request line and header lines, with EOLs */
	long long nfields;      /* header fields */
	size_t len;             /* the current line so far, without EOL */
	size_t name_len;        /* header line: bytes before the ':' */
	bool cr;                /* the previous byte was '\r' */
	bool colon;             /* the current line has had its ':' */
	bool name_bad;          /* a byte before the ':' is not a tchar */
	char pre[SCAN_PREFIX];  /* the first bytes of the current line */
	char tail[SCAN_TAIL];   /* ring: the last bytes of the current line */
	const char *method;     /* static name, once the request line is in */
	bool body_allowed;      /* evhttp reads a body for this method */
	int ncl, nte;           /* Content-Length, Transfer-Encoding fields */
	uint64_t content_length;
	bool chunked;
	uint64_t left;          /* body or chunk bytes still to come */
	uint64_t total;         /* chunked: payload bytes announced */
	int status;             /* when refused */
	char why[192];
};

static void
scan_reset(struct http_scan *sc, const struct http_limits *lim)
{
	memset(sc, 0, sizeof(*sc));
	sc->state = SCAN_LINE;
	sc->max_body = lim->max_body;
	sc->max_header_size = lim->max_header_size;
	sc->max_headers = lim->max_headers;
}

static int scan_refuse(struct http_scan *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the refusal; returns its status. */
static int
scan_refuse(struct http_scan *sc, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sc->why, sizeof(sc->why), fmt, ap);
	va_end(ap);
	sc->status = status;
	sc->state = SCAN_REFUSED;
	return status;
}

/* RFC 9110 tchar: what a field name is made of. */
static bool
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copies s[0..n) to out, printable ASCII only (others become '?'). */
static void
printable(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; i < n && i + 1 < outlen; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

/*
 * The value of the current header line, trimmed, into out (printable).
 * Returns 0, or -1 when the line is longer than the kept prefix.
 */
static int
scan_value(const struct http_scan *sc, char *out, size_t outlen)
{
	size_t a = sc->name_len + 1, b = sc->len;

	if (sc->len > SCAN_PREFIX)
		return -1;
	while (a < b && (sc->pre[a] == ' ' || sc->pre[a] == '\t'))
		a++;
	while (b > a && (sc->pre[b - 1] == ' ' || sc->pre[b - 1] == '\t'))
		b--;
	printable(sc->pre + a, b - a, out, outlen);
	return 0;
}

static bool
name_is(const struct http_scan *sc, const char *name)
{
	size_t n = strlen(name);

	return sc->name_len == n && strncasecmp(sc->pre, name, n) == 0;
}

/* "METHOD SP target SP HTTP/1.x", as evhttp will parse it. */
static int
scan_request_line(struct http_scan *sc)
{
	static const struct { const char *name; bool body; } methods[] = {
		{ "GET", true }, { "HEAD", false }, { "POST", true },
		{ "PUT", true }, { "DELETE", true }, { "OPTIONS", true },
		{ "TRACE", false }, { "CONNECT", true }, { "PATCH", true },
	};
	static const char usage[] = "malformed request line (expected "
	    "METHOD /path HTTP/1.1)";
	size_t len = sc->len, m, i;
	char version[10], name[SCAN_PREFIX + 1];
	const char *sp;

	/* evhttp ignores trailing spaces; the ring holds 7 more. */
	while (len > 0 && sc->len - len < SCAN_TAIL - 9 &&
	    sc->tail[(len - 1) % SCAN_TAIL] == ' ')
		len--;
	if (len < sizeof("GET / HTTP/1.0") - 1)
		return scan_refuse(sc, 400, "%s", usage);
	for (i = 0; i < 9; i++)
		version[i] = sc->tail[(len - 9 + i) % SCAN_TAIL];
	version[9] = '\0';
	sp = memchr(sc->pre, ' ', len < SCAN_PREFIX ? len : SCAN_PREFIX);
	if (sp == NULL || sp == sc->pre)
		return scan_refuse(sc, 400, "%s", usage);
	m = (size_t)(sp - sc->pre);
	/* A target between the spaces ("GET  / HTTP/1.1" has none). */
	if (m + 1 >= len - 9 || (m + 1 < SCAN_PREFIX && sc->pre[m + 1] == ' '))
		return scan_refuse(sc, 400, "%s", usage);
	if (strncmp(version, " HTTP/", 6) != 0)
		return scan_refuse(sc, 400, "%s", usage);
	if (strcmp(version, " HTTP/1.1") != 0 &&
	    strcmp(version, " HTTP/1.0") != 0) {
		printable(version + 1, 8, name, sizeof(name));
		return scan_refuse(sc, 505, "%s is not supported (HTTP/1.0 "
		    "and HTTP/1.1 are)", name);
	}
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == m &&
		    memcmp(methods[i].name, sc->pre, m) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0])) {
		printable(sc->pre, m, name, sizeof(name));
		return scan_refuse(sc, 501, "unknown method '%s'", name);
	}
	sc->method = methods[i].name;
	sc->body_allowed = methods[i].body;
	sc->state = SCAN_HEADER;
	return 0;
}

/* The shape every field line must have, and the field count. */
static int
scan_field_shape(struct http_scan *sc)
{
	if (sc->pre[0] == ' ' || sc->pre[0] == '\t')
		return scan_refuse(sc, 400, "obsolete line folding in a "
		    "request header field");
	if (!sc->colon || sc->name_len == 0 || sc->name_bad)
		return scan_refuse(sc, 400, "malformed request header field "
		    "(expected Name: value)");
	if (++sc->nfields > sc->max_headers)
		return scan_refuse(sc, 431, "more than max_headers (%lld) "
		    "request header fields", sc->max_headers);
	return 0;
}

/* One header field line; looks at the fields that frame the body. */
static int
scan_header(struct http_scan *sc)
{
	char v[SCAN_PREFIX + 1];
	uint64_t n;

	if (scan_field_shape(sc) != 0)
		return sc->status;
	if (name_is(sc, "Content-Length")) {
		if (++sc->ncl > 1)
			return scan_refuse(sc, 400, "Content-Length given "
			    "more than once");
		if (scan_value(sc, v, sizeof(v)) == -1 || v[0] == '\0' ||
		    strspn(v, "0123456789") != strlen(v))
			return scan_refuse(sc, 400, "invalid Content-Length "
			    "(expected a number of bytes)");
		n = 0;
		for (const char *d = v; *d != '\0'; d++)
			n = n > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
			    n * 10 + (uint64_t)(*d - '0');
		sc->content_length = n;
	} else if (name_is(sc, "Transfer-Encoding")) {
		if (++sc->nte > 1)
			return scan_refuse(sc, 400, "Transfer-Encoding given "
			    "more than once");
		if (scan_value(sc, v, sizeof(v)) == -1 ||
		    strcasecmp(v, "chunked") != 0)
			return scan_refuse(sc, 501, "Transfer-Encoding '%.40s' "
			    "is not supported (only chunked)",
			    sc->len > SCAN_PREFIX ? "(too long)" : v);
		sc->chunked = true;
	} else if (name_is(sc, "Expect")) {
		if (scan_value(sc, v, sizeof(v)) == -1 ||
		    strcasecmp(v, "100-continue") != 0)
			return scan_refuse(sc, 417, "Expect '%.40s' is not "
			    "supported (only 100-continue)",
			    sc->len > SCAN_PREFIX ? "(too long)" : v);
	}
	return 0;
}

/* The empty line after the headers: what body follows. */
static int
scan_headers_end(struct http_scan *sc)
{
	if (sc->ncl > 0 && sc->nte > 0)
		return scan_refuse(sc, 400, "both Content-Length and "
		    "Transfer-Encoding given");
	if ((sc->chunked || sc->content_length > 0) && !sc->body_allowed)
		return scan_refuse(sc, 400, "a %s request takes no body",
		    sc->method);
	if (sc->chunked) {
		sc->state = SCAN_CHUNK_SIZE;
		return 0;
	}
	if (sc->content_length > sc->max_body)
		return scan_refuse(sc, 413, "body over max_body (%llu bytes)",
		    (unsigned long long)sc->max_body);
	sc->left = sc->content_length;
	sc->state = sc->left > 0 ? SCAN_BODY : SCAN_DONE;
	return 0;
}

/* "HEX[ SP...]": no extensions (evhttp refuses them too). */
static int
scan_chunk_size(struct http_scan *sc)
{
	uint64_t v = 0;
	size_t i = 0;
	int h;

	while (i < sc->len && (h = hex_value((unsigned char)sc->pre[i])) >= 0) {
		v = v > (UINT64_MAX >> 4) ? UINT64_MAX : v * 16 + (uint64_t)h;
		i++;
	}
	if (i == 0)
		return scan_refuse(sc, 400, "malformed chunk size");
	while (i < sc->len && sc->pre[i] == ' ')
		i++;
	if (i != sc->len)
		return scan_refuse(sc, 400, "malformed chunk size (chunk "
		    "extensions are not supported)");
	if (v > sc->max_body - sc->total)
		return scan_refuse(sc, 413, "body over max_body (%llu bytes)",
		    (unsigned long long)sc->max_body);
	sc->total += v;
	sc->left = v;
	sc->state = v > 0 ? SCAN_CHUNK_DATA : SCAN_TRAILER;
	return 0;
}

/* A complete line (without its EOL) in a line state. */
static int
scan_line(struct http_scan *sc)
{
	int rc = 0;

	switch (sc->state) {
	case SCAN_LINE:
		rc = sc->len == 0 ? scan_refuse(sc, 400, "empty request "
		    "line") : scan_request_line(sc);
		break;
	case SCAN_HEADER:
		rc = sc->len == 0 ? scan_headers_end(sc) : scan_header(sc);
		break;
	case SCAN_CHUNK_SIZE:
		if (sc->len > 0)
			rc = scan_chunk_size(sc);
		break;
	case SCAN_TRAILER:
		if (sc->len > 0)
			rc = scan_refuse(sc, 400, "trailer fields after a "
			    "chunked body are not accepted");
		else
			sc->state = SCAN_DONE;
		break;
	default:
		break;
	}
	sc->len = sc->name_len = 0;
	sc->cr = sc->colon = sc->name_bad = false;
	return rc;
}

/* One byte in a line state. */
static int
scan_byte(struct http_scan *sc, unsigned char c)
{
	sc->bytes++;
	if (sc->state != SCAN_CHUNK_SIZE &&
	    ++sc->head_bytes > sc->max_header_size) {
		if (sc->state == SCAN_LINE)
			return scan_refuse(sc, 414, "request line over "
			    "max_header_size (%llu bytes)",
			    (unsigned long long)sc->max_header_size);
		return scan_refuse(sc, 431, "request header section over "
		    "max_header_size (%llu bytes)",
		    (unsigned long long)sc->max_header_size);
	}
	if (c == '\n')
		return scan_line(sc);
	if (sc->cr)
		return scan_refuse(sc, 400, "bare CR in the request header");
	if (c == '\r') {
		sc->cr = true;
		return 0;
	}
	if (c == '\0')
		return scan_refuse(sc, 400, "NUL byte in the request header");
	if (sc->state == SCAN_CHUNK_SIZE && sc->len >= SCAN_PREFIX)
		return scan_refuse(sc, 400, "malformed chunk size (line too "
		    "long)");
	if (sc->len < SCAN_PREFIX)
		sc->pre[sc->len] = (char)c;
	sc->tail[sc->len % SCAN_TAIL] = (char)c;
	sc->len++;
	if (!sc->colon && (sc->state == SCAN_HEADER ||
	    sc->state == SCAN_TRAILER)) {
		if (c == ':') {
			sc->colon = true;
			sc->name_len = sc->len - 1;
		} else if (!is_tchar(c))
			sc->name_bad = true;
	}
	return 0;
}

/*
 * Feeds n more bytes of the connection.  Returns 0 (more expected, or the
 * request is complete: state SCAN_DONE, later bytes ignored), or the
 * status to refuse with (state SCAN_REFUSED, message in why).
 */
static int
scan_feed(struct http_scan *sc, const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		switch (sc->state) {
		case SCAN_DONE:
			return 0;
		case SCAN_REFUSED:
			return sc->status;
		case SCAN_BODY:
		case SCAN_CHUNK_DATA: {
			uint64_t k = n - i < sc->left ? n - i : sc->left;

			i += (size_t)k;
			sc->left -= k;
			sc->bytes += k;
			if (sc->left == 0)
				sc->state = sc->state == SCAN_BODY ?
				    SCAN_DONE : SCAN_CHUNK_SIZE;
			break;
		}
		default:
			if (scan_byte(sc, p[i++]) != 0)
				return sc->status;
		}
	}
	return sc->state == SCAN_REFUSED ? sc->status : 0;
}

static bool
scan_in_head(const struct http_scan *sc)
{
	return sc->state == SCAN_LINE || sc->state == SCAN_HEADER;
}

/* ---- Server state -------------------------------------------------------- */

enum conn_phase {
	CONN_READING,           /* a request is being received */
	CONN_HANDLED,           /* a route has the request; reply pending */
	CONN_REFUSE_PENDING,    /* taken from evhttp; the reply comes next */
	CONN_REFUSING,          /* the refusal is written, then close */
};

struct http_conn {
	struct http_server *s;
	struct bufferevent *bev;        /* ours; evhttp's connection uses it */
	struct evhttp_connection *evcon; /* NULL until attached */
	struct evbuffer_cb_entry *in_cb; /* on bev's input */
	struct event *ev;               /* attach, refusal, deadlines */
	evutil_socket_t fd;
	bool attached;
	bool refuse_new;                /* accepted past max_connections */
	enum conn_phase phase;
	struct http_limits lim;         /* for the current request */
	struct http_scan scan;
	TAILQ_ENTRY(http_conn) link;    /* s->conns, by request start */
};

TAILQ_HEAD(http_conn_list, http_conn);

struct http_server {
	struct runtime *rt;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	char *listen;
	char *unix_path;                /* unlinked on free */
	uint64_t max_body;              /* from http_server_set_limits */
	struct http_conn_list conns;    /* oldest request first */
	size_t nconns;
	struct http_conn **byfd;        /* connections by descriptor */
	size_t nbyfd;
	long long fd_budget;            /* max_connections the fd limit fits */
	struct event *ev_resume;        /* re-enables accepting */
	struct http_server *next;       /* every live server */
};

static struct http_server *servers;
static size_t open_conns;               /* over every server */

/* ---- Metrics and log ----------------------------------------------------- */

static void
count_route(const char *route, int status)
{
	static struct metric *m;
	char code[8];

	if (m == NULL)
		m = metric_counter("baton_http_requests_total",
		    "HTTP requests other than webhooks, by route and status.",
		    "route,status");
	snprintf(code, sizeof(code), "%d", status);
	metric_inc(metric_series(m, route, code));
}

/* Counts a connection the guard closed or refused, by reason. */
static void
count_guard(const char *reason)
{
	static struct metric *m;

	if (m == NULL)
		m = metric_counter("baton_http_guard_total",
		    "Connections the HTTP guard refused or closed, by reason.",
		    "reason");
	metric_inc(metric_series(m, reason));
}

static void
gauge_conns(void)
{
	static struct metric_series *g;

	if (g == NULL)
		g = metric_series(metric_gauge("baton_http_connections",
		    "Open client connections.", NULL));
	metric_set(g, (double)open_conns);
}

static void guard_log(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* log_info, at most GUARD_LOG_BURST lines a second (a flood must not
 * become a log flood); the lines left out are counted in the next. */
static void
guard_log(const char *fmt, ...)
{
	static time_t window;
	static unsigned logged, dropped;
	time_t now = time(NULL);
	char line[384];
	va_list ap;

	if (now != window) {
		window = now;
		logged = 0;
	}
	if (logged >= GUARD_LOG_BURST) {
		dropped++;
		return;
	}
	logged++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (dropped > 0)
		log_info("%s (%u more not logged)", line, dropped);
	else
		log_info("%s", line);
	dropped = 0;
}

/* "addr:port" of the client, for the log. */
static const char *
conn_peer(const struct http_conn *c, char *buf, size_t len)
{
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (c->evcon == NULL)
		return "?";
	evhttp_connection_get_peer(c->evcon, &addr, &port);
	if (addr == NULL || *addr == '\0' || port == 0)
		snprintf(buf, len, "%s", addr != NULL && *addr != '\0' ?
		    addr : "unix");
	else
		snprintf(buf, len, "%s:%u", addr, (unsigned)port);
	return buf;
}

/* ---- Replies ------------------------------------------------------------- */

static const char *
status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}

/* {"error": message} as compact JSON text; the caller frees it. */
static char *
error_json(const char *message)
{
	json_t *obj = json_pack("{s:s}", "error", message ? message : "");
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	return text;
}

void
http_reply_json(struct evhttp_request *req, int status, const char *json)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *body;

	if (json == NULL || status == 204) {
		evhttp_send_reply(req, status, status_reason(status), NULL);
		return;
	}
	evhttp_add_header(out, "Content-Type", "application/json");
	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_reply(req, status, status_reason(status), NULL);
		return;
	}
	evbuffer_add(body, json, strlen(json));
	evbuffer_add(body, "\n", 1);
	evhttp_send_reply(req, status, status_reason(status), body);
	evbuffer_free(body);
}

void
http_reply_error(struct evhttp_request *req, int status, int retry_after,
    const char *message)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	char *text;

	if (status == 503 && retry_after > 0) {
		char v[16];

		snprintf(v, sizeof(v), "%d", retry_after);
		evhttp_add_header(out, "Retry-After", v);
	}
	text = error_json(message);
	http_reply_json(req, status, text ? text : "{\"error\":\"\"}");
	free(text);
}

/* ---- Connections --------------------------------------------------------- */

static void conn_fire(evutil_socket_t, short, void *);
static void conn_input(struct evbuffer *, const struct evbuffer_cb_info *,
    void *);

/* The limits in force now: the running config's, else the defaults. */
static void
limits_load(const struct http_server *s, struct http_limits *lim)
{
	const struct config *conf = s->rt != NULL ? s->rt->conf : NULL;

	if (conf == NULL) {
		lim->max_body = s->max_body;
		lim->max_header_size = 16 * 1024;
		lim->max_headers = 100;
		lim->max_connections = 1024;
		lim->header_timeout_ms = 10000;
		lim->body_timeout_ms = 30000;
		return;
	}
	lim->max_body = conf->daemon.max_body;
	lim->max_header_size = conf->daemon.max_header_size;
	lim->max_headers = conf->daemon.max_headers;
	lim->max_connections = conf->daemon.max_connections;
	lim->header_timeout_ms = conf->daemon.header_timeout_ms;
	lim->body_timeout_ms = conf->daemon.body_timeout_ms;
}

/*
 * Makes sure the process may open max_connections descriptors and some:
 * raises the soft RLIMIT_NOFILE up to the hard one, or says what to do.
 */
static void
fd_budget(struct http_server *s, long long max_connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_connections + HTTP_FD_RESERVE, was;

	s->fd_budget = max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return;
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ?
	    rl.rlim_max : want;
	if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("open file limit raised from %llu to %llu for "
		    "max_connections = %lld", (unsigned long long)was,
		    (unsigned long long)rl.rlim_cur, max_connections);
	else
		rl.rlim_cur = was;
	if (rl.rlim_cur < want)
		log_warnx("max_connections = %lld needs about %llu open "
		    "files, but the limit is %llu: raise LimitNOFILE= "
		    "(systemd) or ulimit -n, or lower max_connections",
		    max_connections, (unsigned long long)want,
		    (unsigned long long)rl.rlim_cur);
}

/* The connection evhttp serves on evcon, or NULL. */
static struct http_conn *
conn_of(struct http_server *s, struct evhttp_connection *evcon)
{
	struct bufferevent *bev;
	evutil_socket_t fd;
	struct http_conn *c;

	if (evcon == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL)
		return NULL;
	fd = bufferevent_getfd(bev);
	if (fd < 0 || (size_t)fd >= s->nbyfd)
		return NULL;
	c = s->byfd[fd];
	return c != NULL && c->evcon == evcon ? c : NULL;
}

/* Forgets c (the connection itself is evhttp's to free). */
static void
conn_destroy(struct http_conn *c)
{
	struct http_server *s = c->s;

	if (c->in_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev),
		    c->in_cb);
	if (c->fd >= 0 && (size_t)c->fd < s->nbyfd && s->byfd[c->fd] == c)
		s->byfd[c->fd] = NULL;
	if (c->ev != NULL)
		event_free(c->ev);
	TAILQ_REMOVE(&s->conns, c, link);
	s->nconns--;
	open_conns--;
	gauge_conns();
	free(c);
}

/* evhttp frees the connection (client gone, reply done, server freed). */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_destroy(arg);
}

/* Closes c now, without a word. */
static void
conn_close(struct http_conn *c)
{
	struct evhttp_connection *evcon = c->evcon;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_destroy(c);
	evhttp_connection_free(evcon);
}

static void
timer_ms(struct event *ev, int64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* A new request starts on c: fresh limits, scanner and header deadline. */
static void
conn_begin(struct http_conn *c)
{
	struct http_server *s = c->s;

	limits_load(s, &c->lim);
	scan_reset(&c->scan, &c->lim);
	evhttp_connection_set_max_body_size(c->evcon,
	    (ev_ssize_t)c->lim.max_body);
	c->phase = CONN_READING;
	TAILQ_REMOVE(&s->conns, c, link);
	TAILQ_INSERT_TAIL(&s->conns, c, link);
	timer_ms(c->ev, c->lim.header_timeout_ms);
}

/*
 * Takes c from evhttp so it parses nothing more, and schedules the
 * refusal in c->scan (written from the loop, outside evhttp's calls).
 */
static void
conn_freeze(struct http_conn *c)
{
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	c->phase = CONN_REFUSE_PENDING;
	event_del(c->ev);
	event_active(c->ev, EV_TIMEOUT, 0);
}

/* Discards what a refused client still sends.  arg is not used: evhttp's
 * deferred read may call this with its own argument. */
static void
refuse_linger(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/* The refusal is written: the client reads it and sees the end. */
static void
refuse_written(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	(void)bev;
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_WR);
}

static void
refuse_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_close(arg);
}

static const char *
guard_reason(int status)
{
	switch (status) {
	case 413: return "body_too_large";
	case 414:
	case 431: return "header_too_large";
	case 503: return "max_connections";
	default: return "bad_request";
	}
}

/* Writes the refusal in c->scan, then lingers (see the top). */
static void
conn_refuse(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int status = c->scan.status;
	char *text = error_json(c->scan.why), peer[80];
	const char *body = text != NULL ? text : "{\"error\":\"\"}";

	guard_log("http: %s refused (%d): %s", conn_peer(c, peer,
	    sizeof(peer)), status, c->scan.why);
	if (status != 408)              /* counted by conn_deadline */
		count_guard(guard_reason(status));
	c->phase = CONN_REFUSING;
	evbuffer_drain(in, evbuffer_get_length(in));
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n", status, status_reason(status),
	    strlen(body) + 1);
	if (status == 503)
		evbuffer_add_printf(out, "Retry-After: %d\r\n",
		    HTTP_RETRY_AFTER);
	evbuffer_add_printf(out, "\r\n%s\n", body);
	free(text);
	bufferevent_setcb(c->bev, refuse_linger, refuse_written, refuse_event,
	    c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	timer_ms(c->ev, REFUSE_LINGER_MS);
}

/* The request's deadline passed while it was being received. */
static void
conn_deadline(struct http_conn *c)
{
	if (c->scan.bytes == 0) {
		/* Nothing sent: an idle connection, closed quietly. */
		count_guard("idle");
		conn_close(c);
		return;
	}
	if (scan_in_head(&c->scan)) {
		count_guard("header_timeout");
		snprintf(c->scan.why, sizeof(c->scan.why), "request headers "
		    "not received within header_timeout (%lld ms)",
		    (long long)c->lim.header_timeout_ms);
	} else {
		count_guard("body_timeout");
		snprintf(c->scan.why, sizeof(c->scan.why), "request body not "
		    "received within body_timeout (%lld ms)",
		    (long long)c->lim.body_timeout_ms);
	}
	c->scan.status = 408;
	c->scan.state = SCAN_REFUSED;
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	conn_refuse(c);
}

/*
 * Feeds the scanner n bytes of the input buffer from offset off.  Arms the
 * body deadline when the headers end; freezes c on a refusal.
 */
static void
conn_scan(struct http_conn *c, struct evbuffer *buf, size_t off, size_t n)
{
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr p;
	bool in_head = scan_in_head(&c->scan);
	int k, rc = 0;

	while (n > 0 && rc == 0 && c->scan.state != SCAN_DONE) {
		if (evbuffer_ptr_set(buf, &p, off, EVBUFFER_PTR_SET) == -1)
			break;
		k = evbuffer_peek(buf, (ev_ssize_t)n, &p, v, 8);
		if (k > 8)
			k = 8;
		for (int i = 0; i < k && n > 0 && rc == 0; i++) {
			size_t m = v[i].iov_len < n ? v[i].iov_len : n;

			rc = scan_feed(&c->scan, v[i].iov_base, m);
			off += m;
			n -= m;
		}
		if (k <= 0)
			break;
	}
	if (rc != 0) {
		conn_freeze(c);
		return;
	}
	if (in_head && !scan_in_head(&c->scan))
		timer_ms(c->ev, c->lim.body_timeout_ms);
}

/* Bytes were added to (or drained from) c's input buffer. */
static void
conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct http_conn *c = arg;
	size_t len;

	if (info->n_added == 0 || c->phase != CONN_READING)
		return;
	len = evbuffer_get_length(buf);
	if (info->n_added > len)
		return;
	conn_scan(c, buf, len - info->n_added, info->n_added);
}

/* The reply to c's request is written; a kept-alive connection waits for
 * the next request, which may already be buffered. */
static void
conn_request_done(struct evhttp_request *req, void *arg)
{
	struct http_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(c->bev);

	(void)req;
	conn_begin(c);
	if (evbuffer_get_length(in) > 0)
		conn_scan(c, in, 0, evbuffer_get_length(in));
}

/* The connection evhttp built around our bufferevent: watch it. */
static void
conn_attach(struct http_conn *c)
{
	struct http_server *s = c->s;
	bufferevent_event_cb errcb = NULL;
	void *arg = NULL;
	evutil_socket_t fd;
	char peer[80];

	bufferevent_getcb(c->bev, NULL, NULL, &errcb, &arg);
	fd = bufferevent_getfd(c->bev);
	if (errcb == NULL || arg == NULL || fd < 0) {
		/* evhttp gave up on it already (out of memory). */
		bufferevent_decref(c->bev);
		conn_destroy(c);
		return;
	}
	c->evcon = arg;
	c->attached = true;
	evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	bufferevent_decref(c->bev);
	if ((size_t)fd >= s->nbyfd) {
		size_t n = s->nbyfd > 0 ? s->nbyfd : 64;
		struct http_conn **v;

		while (n <= (size_t)fd)
			n *= 2;
		if ((v = realloc(s->byfd, n * sizeof(*v))) == NULL) {
			conn_close(c);
			return;
		}
		memset(v + s->nbyfd, 0, (n - s->nbyfd) * sizeof(*v));
		s->byfd = v;
		s->nbyfd = n;
	}
	c->fd = fd;
	s->byfd[fd] = c;
	if (c->refuse_new) {
		if (s->nconns > (size_t)c->lim.max_connections + REFUSE_SLACK) {
			count_guard("max_connections");
			conn_close(c);
			return;
		}
		guard_log("http: %s refused: max_connections (%lld) reached "
		    "and every connection is busy", conn_peer(c, peer,
		    sizeof(peer)), c->lim.max_connections);
		snprintf(c->scan.why, sizeof(c->scan.why), "too many "
		    "connections; retry later");
		c->scan.status = 503;
		c->scan.state = SCAN_REFUSED;
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		conn_refuse(c);
		return;
	}
	c->in_cb = evbuffer_add_cb(bufferevent_get_input(c->bev), conn_input,
	    c);
	if (c->in_cb == NULL) {
		conn_close(c);
		return;
	}
	conn_begin(c);
}

static void
conn_fire(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	if (!c->attached)
		conn_attach(c);
	else if (c->phase == CONN_REFUSE_PENDING)
		conn_refuse(c);
	else if (c->phase == CONN_REFUSING)
		conn_close(c);          /* the linger is over */
	else if (c->phase == CONN_READING)
		conn_deadline(c);
}

/*
 * Makes room at max_connections: closes the connection that has waited
 * longest for its request's headers, else the one longest on its body.
 * Returns false when every connection is busy with a request.
 */
static bool
conn_evict(struct http_server *s)
{
	struct http_conn *c, *body = NULL;
	char peer[80];

	TAILQ_FOREACH(c, &s->conns, link) {
		if (!c->attached || c->phase != CONN_READING)
			continue;
		if (scan_in_head(&c->scan))
			break;
		if (body == NULL)
			body = c;
	}
	if (c == NULL)
		c = body;
	if (c == NULL)
		return false;
	guard_log("http: %s closed to make room (max_connections = %lld)",
	    conn_peer(c, peer, sizeof(peer)), c->lim.max_connections);
	count_guard("evicted");
	conn_close(c);
	return true;
}

/*
 * evhttp accepted a connection and asks for its bufferevent: ours, so the
 * guard sees its bytes.  The connection object evhttp builds around it is
 * attached from the loop right after this accept (conn_attach); a
 * reference keeps the bufferevent alive until then whatever happens.
 */
static struct bufferevent *
conn_new_bev(struct event_base *base, void *arg)
{
	struct http_server *s = arg;
	struct bufferevent *bev;
	struct http_conn *c;

	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return bev;             /* served, unguarded: out of memory */
	if ((c->ev = event_new(base, -1, 0, conn_fire, c)) == NULL) {
		free(c);
		return bev;
	}
	c->s = s;
	c->bev = bev;
	c->fd = -1;
	limits_load(s, &c->lim);
	if (s->fd_budget != c->lim.max_connections)
		fd_budget(s, c->lim.max_connections);
	if (s->nconns >= (size_t)c->lim.max_connections && !conn_evict(s))
		c->refuse_new = true;
	bufferevent_incref(bev);
	TAILQ_INSERT_TAIL(&s->conns, c, link);
	s->nconns++;
	open_conns++;
	gauge_conns();
	event_active(c->ev, EV_TIMEOUT, 0);
	return bev;
}

/* ---- Routes -------------------------------------------------------------- */

static void
route_healthz(struct runtime *rt, struct evhttp_request *req)
{
	const char *why = NULL;
	char body[256];

	if (runtime_healthy(rt, &why)) {
		http_reply_json(req, 200, "{\"status\":\"ok\"}");
		count_route("/healthz", 200);
		return;
	}
	snprintf(body, sizeof(body), "{\"status\":\"unhealthy\","
	    "\"reason\":\"%s\"}", why ? why : "unknown");
	http_reply_json(req, 503, body);
	count_route("/healthz", 503);
}

static void
route_metrics(struct evhttp_request *req)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL) {
		http_reply_error(req, 500, 0, "out of memory");
		return;
	}
	count_route("/metrics", 200);
	metrics_render(body);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

/* Copies the connector name from "/hooks/NAME[?query]"; 0 or -1. */
static int
hooks_name(const char *uri, char *name, size_t len)
{
	const char *p = uri + strlen(HOOKS_PREFIX);
	size_t n = strcspn(p, "?#");

	if (n == 0 || n >= len || n > CONNECTOR_NAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -1;
	}
	memcpy(name, p, n);
	name[n] = '\0';
	return 0;
}

static void
http_route(struct evhttp_request *req, void *arg)
{
	struct http_server *s = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char name[CONNECTOR_NAME_MAX + 1];
	struct http_conn *c;

	/* The request is complete: the guard waits for the reply. */
	if ((c = conn_of(s, evhttp_request_get_connection(req))) != NULL) {
		c->phase = CONN_HANDLED;
		event_del(c->ev);
		evhttp_request_set_on_complete_cb(req, conn_request_done, c);
	}
	if (strncmp(uri, HOOKS_PREFIX, strlen(HOOKS_PREFIX)) == 0) {
		if (hooks_name(uri, name, sizeof(name)) == -1) {
			http_reply_error(req, 404, 0,
			    "no such connector: names are [A-Za-z0-9_-]");
			count_route("/hooks/", 404);
			return;
		}
		intake_handle(req, s->rt, name);
		return;
	}
	if (strcmp(uri, "/healthz") == 0 || strcmp(uri, "/metrics") == 0) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "Allow", "GET, HEAD");
			http_reply_error(req, 405, 0, "use GET");
			count_route(uri, 405);
			return;
		}
		if (uri[1] == 'h')
			route_healthz(s->rt, req);
		else
			route_metrics(req);
		return;
	}
	http_reply_error(req, 404, 0, "not found");
	count_route("other", 404);
}

/* ---- Listening ------------------------------------------------------------ */

/* Opens a listening unix socket at path (a stale socket is replaced). */
static evutil_socket_t
listen_unix(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	evutil_socket_t fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("listen unix:%s: path too long", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("listen unix:%s: exists and is not a socket",
			    path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("listen unix:%s: socket", path);
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, HTTP_BACKLOG) == -1) {
		log_warn("listen unix:%s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Opens a listening TCP socket on host:port (the first address host
 * resolves to) with a backlog of HTTP_BACKLOG: evhttp's own bind asks for
 * 128, which a burst of connections overflows (a dropped SYN costs the
 * client a second).
 */
static evutil_socket_t
listen_tcp(const char *host, int port)
{
	struct evutil_addrinfo hints, *ai = NULL;
	evutil_socket_t fd;
	char serv[8];
	int on = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((rc = evutil_getaddrinfo(*host != '\0' ? host : NULL, serv, &hints,
	    &ai)) != 0) {
		log_warnx("listen %s:%d: %s", host, port,
		    evutil_gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_warn("listen %s:%d: socket", host, port);
		evutil_freeaddrinfo(ai);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, ai->ai_addr, (socklen_t)ai->ai_addrlen) == -1 ||
	    listen(fd, HTTP_BACKLOG) == -1) {
		log_warn("listen %s:%d", host, port);
		close(fd);
		evutil_freeaddrinfo(ai);
		return -1;
	}
	evutil_freeaddrinfo(ai);
	return fd;
}

/* Splits "host:port" / "[v6]:port" into host and port; 0 or -1. */
static int
split_host_port(const char *listen, char *host, size_t hostlen, int *port)
{
	const char *colon;
	char *end;
	long p;

	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		if ((size_t)(close - listen - 1) >= hostlen)
			return -1;
		memcpy(host, listen + 1, close - listen - 1);
		host[close - listen - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || (size_t)(colon - listen) >= hostlen)
			return -1;
		memcpy(host, listen, colon - listen);
		host[colon - listen] = '\0';
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *s = arg;

	(void)fd;
	(void)what;
	if (s->bound != NULL)
		evconnlistener_enable(evhttp_bound_socket_get_listener(
		    s->bound));
}

/*
 * accept() failed for a reason other than a retriable one; with no
 * descriptors left the listening socket stays readable, so accepting
 * pauses a moment instead of spinning.  ctx is evhttp's own (the evhttp).
 */
static void
accept_error(struct evconnlistener *lev, void *ctx)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct http_server *s;

	for (s = servers; s != NULL && (void *)s->http != ctx; s = s->next)
		;
	guard_log("http: accept: %s; pausing %d ms",
	    evutil_socket_error_to_string(err), ACCEPT_PAUSE_MS);
	count_guard("accept_error");
	if (s == NULL || s->ev_resume == NULL)
		return;
	evconnlistener_disable(lev);
	timer_ms(s->ev_resume, ACCEPT_PAUSE_MS);
}

void
http_server_set_limits(struct http_server *s, uint64_t max_body,
    int64_t timeout_ms)
{
	int secs = (int)((timeout_ms + 999) / 1000);

	s->max_body = max_body;
	/* evhttp's own limits are backstops the guard meets first (each
	 * request sets its connection's, see conn_begin). */
	evhttp_set_max_body_size(s->http, (ev_ssize_t)max_body);
	evhttp_set_max_headers_size(s->http, HTTP_HEADERS_BACKSTOP);
	evhttp_set_timeout(s->http, secs > 0 ? secs : 1);
}

struct http_server *
http_server_new(struct runtime *rt, const char *listen, uint64_t max_body,
    int64_t timeout_ms)
{
	struct http_server *s;
	evutil_socket_t fd;
	char host[256];
	int port;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->rt = rt;
	TAILQ_INIT(&s->conns);
	s->next = servers;
	servers = s;
	if ((s->listen = strdup(listen)) == NULL ||
	    (s->http = evhttp_new(rt->base)) == NULL ||
	    (s->ev_resume = evtimer_new(rt->base, accept_resume, s)) == NULL)
		goto fail;
	/* Every method reaches the routes, which answer 405 in JSON. */
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(s->http, http_route, s);
	evhttp_set_bevcb(s->http, conn_new_bev, s);
	http_server_set_limits(s, max_body, timeout_ms);
	if (strncmp(listen, "unix:", 5) == 0) {
		if ((fd = listen_unix(listen + 5)) == -1)
			goto fail;
		s->unix_path = strdup(listen + 5);
	} else {
		if (split_host_port(listen, host, sizeof(host), &port) == -1) {
			log_warnx("listen %s: not host:port", listen);
			goto fail;
		}
		if ((fd = listen_tcp(host, port)) == -1)
			goto fail;
	}
	if ((s->bound = evhttp_accept_socket_with_handle(s->http, fd)) ==
	    NULL) {
		log_warnx("listen %s: cannot serve the socket", listen);
		close(fd);
		goto fail;
	}
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s->bound),
	    accept_error);
	if (rt->conf != NULL)
		fd_budget(s, rt->conf->daemon.max_connections);
	gauge_conns();
	log_info("listening on %s", listen);
	return s;
fail:
	http_server_free(s);
	return NULL;
}

const char *
http_server_listen(const struct http_server *s)
{
	return s->listen;
}

void
http_server_stop_accepting(struct http_server *s)
{
	if (s == NULL || s->bound == NULL)
		return;
	evhttp_del_accept_socket(s->http, s->bound);
	s->bound = NULL;
}

void
http_server_free(struct http_server *s)
{
	struct http_server **pp;
	struct http_conn *c;

	if (s == NULL)
		return;
	/* evhttp frees its connections: the attached ones leave through
	 * conn_closed; those not attached yet are let go here. */
	if (s->http != NULL)
		evhttp_free(s->http);
	while ((c = TAILQ_FIRST(&s->conns)) != NULL) {
		if (!c->attached)
			bufferevent_decref(c->bev);
		c->in_cb = NULL;        /* the bufferevent is gone */
		conn_destroy(c);
	}
	if (s->ev_resume != NULL)
		event_free(s->ev_resume);
	for (pp = &servers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	if (s->unix_path != NULL) {
		unlink(s->unix_path);
		free(s->unix_path);
	}
	free(s->byfd);
	free(s->listen);
	free(s);
}

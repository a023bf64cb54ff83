/*
 * http.c - the HTTP listener: evhttp bound to a TCP address or a unix
 * socket, routing to the intake, /healthz and /metrics, and the JSON error
 * replies every route shares.
 *
 * Limits that protect the daemon (body size, header size, read timeout)
 * are set here once and updated on reload.  Only GET, HEAD and POST reach
 * the routes; evhttp answers other methods itself.
 */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <jansson.h>

#include <baton/log.h>

#include "config.h"
#include "intake.h"
#include "metrics.h"
#include "runtime.h"

#define HTTP_MAX_HEADERS_SIZE (64 * 1024)
#define HOOKS_PREFIX "/hooks/"
#define CONNECTOR_NAME_MAX 64

struct http_server {
	struct runtime *rt;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	char *listen;
	char *unix_path;                /* unlinked on free */
};

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
	case 413: return "Payload Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
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
	json_t *obj;
	char *text;

	if (status == 503 && retry_after > 0) {
		char v[16];

		snprintf(v, sizeof(v), "%d", retry_after);
		evhttp_add_header(out, "Retry-After", v);
	}
	obj = json_pack("{s:s}", "error", message ? message : "");
	text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	http_reply_json(req, status, text ? text : "{\"error\":\"\"}");
	free(text);
	json_decref(obj);
}

/* ---- Routes -------------------------------------------------------------- */

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
	    listen(fd, 1024) == -1) {
		log_warn("listen unix:%s", path);
		close(fd);
		return -1;
	}
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

void
http_server_set_limits(struct http_server *s, uint64_t max_body,
    int64_t timeout_ms)
{
	int secs = (int)((timeout_ms + 999) / 1000);

	/* evhttp answers 413 itself when a body goes past this. */
	evhttp_set_max_body_size(s->http, (ev_ssize_t)max_body);
	evhttp_set_max_headers_size(s->http, HTTP_MAX_HEADERS_SIZE);
	evhttp_set_timeout(s->http, secs > 0 ? secs : 1);
}

struct http_server *
http_server_new(struct runtime *rt, const char *listen, uint64_t max_body,
    int64_t timeout_ms)
{
	struct http_server *s;
	char host[256];
	int port;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->rt = rt;
	if ((s->listen = strdup(listen)) == NULL ||
	    (s->http = evhttp_new(rt->base)) == NULL)
		goto fail;
	evhttp_set_allowed_methods(s->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_gencb(s->http, http_route, s);
	http_server_set_limits(s, max_body, timeout_ms);
	if (strncmp(listen, "unix:", 5) == 0) {
		evutil_socket_t fd = listen_unix(listen + 5);

		if (fd == -1)
			goto fail;
		s->bound = evhttp_accept_socket_with_handle(s->http, fd);
		if (s->bound == NULL) {
			close(fd);
			goto fail;
		}
		s->unix_path = strdup(listen + 5);
	} else {
		if (split_host_port(listen, host, sizeof(host), &port) == -1) {
			log_warnx("listen %s: not host:port", listen);
			goto fail;
		}
		s->bound = evhttp_bind_socket_with_handle(s->http, host,
		    (ev_uint16_t)port);
		if (s->bound == NULL) {
			log_warn("listen %s", listen);
			goto fail;
		}
	}
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
	if (s == NULL)
		return;
	if (s->http != NULL)
		evhttp_free(s->http);
	if (s->unix_path != NULL) {
		unlink(s->unix_path);
		free(s->unix_path);
	}
	free(s->listen);
	free(s);
}

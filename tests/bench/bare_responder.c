/*
 * bare_responder.c - the benchmark's baseline: libevent's evhttp, the HTTP
 * stack batond uses, answering every request with 200 and a small JSON
 * body, and doing nothing else.  loadgen against it measures what HTTP
 * alone costs on this machine, so batond's figures can be read as a ratio.
 *
 * usage: bare_responder [-H HOST] [-p PORT] [-L]   (port 0: any free port;
 *        -L: libevent's default loop, without batond's epoll change list)
 * Prints "listening on HOST:PORT" once bound; exits 0 on SIGINT/SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

static void
answer(struct evhttp_request *req, void *arg)
{
	static const char body[] = "{\"events\":1,\"duplicates\":0}";
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add(out, body, sizeof(body) - 1);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 0, ch, plain = 0;
	struct event_base *base;
	struct event_config *cfg;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *ev_int, *ev_term;
	struct sockaddr_storage ss;
	ev_socklen_t sslen = sizeof(ss);
	char addr[64];

	while ((ch = getopt(argc, argv, "H:p:L")) != -1) {
		switch (ch) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'L': plain = 1; break;
		default:
			fprintf(stderr, "usage: bare_responder [-H HOST] "
			    "[-p PORT] [-L]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	/* The same loop settings as batond (daemon/runtime.c), so that the
	 * ratio measures batond's work and not a different loop; -L gives
	 * the plain evhttp server most comparisons quote. */
	if ((cfg = event_config_new()) == NULL)
		return 1;
	if (!plain)
		event_config_set_flag(cfg,
		    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL ||
	    (http = evhttp_new(base)) == NULL) {
		fprintf(stderr, "bare_responder: out of memory\n");
		return 1;
	}
	evhttp_set_max_body_size(http, 1024 * 1024);
	evhttp_set_gencb(http, answer, NULL);
	bound = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
	if (bound == NULL) {
		fprintf(stderr, "bare_responder: cannot bind %s:%d\n", host,
		    port);
		return 1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&ss, &sslen) == 0 && ss.ss_family == AF_INET)
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
	    addr, sizeof(addr));
	printf("listening on %s:%d\n", addr, port);
	fflush(stdout);

	ev_int = evsignal_new(base, SIGINT, on_signal, base);
	ev_term = evsignal_new(base, SIGTERM, on_signal, base);
	if (ev_int == NULL || ev_term == NULL || event_add(ev_int, NULL) ||
	    event_add(ev_term, NULL)) {
		fprintf(stderr, "bare_responder: cannot watch signals\n");
		return 1;
	}
	event_base_dispatch(base);

	event_free(ev_int);
	event_free(ev_term);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}

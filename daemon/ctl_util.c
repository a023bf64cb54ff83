/*
 * ctl_util.c - what batonctl's verbs share: a session (configuration,
 * libevent loop, one redis.c connection, signals, the connect timeout),
 * parsing stream entries, and formatting numbers, durations and JSON for
 * people.
 *
 * A verb opens a session, sends its commands when the connection comes up
 * (its state callback), and finishes the session from a reply callback;
 * nothing here blocks the loop.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include <baton/conf.h>
#include <baton/log.h>

#include "ctl.h"
#include "redis.h"

/* ---- the session ------------------------------------------------------ */

static void
session_state(bool up, void *arg)
{
	struct ctl_session *s = arg;

	if (up)
		s->ever_up = true;
	if (!s->done && s->state_cb != NULL)
		s->state_cb(up, s->arg);
}

static void
session_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_session *s = arg;

	(void)fd;
	(void)what;
	if (s->ever_up)
		return;
	ctl_session_fail(s, "cannot reach Redis at %s within %lld ms",
	    s->where, (long long)s->connect_timeout_ms);
}

static void
session_signal(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_session *s = arg;

	(void)fd;
	(void)what;
	ctl_session_finish(s, s->signal_rc);
}

int
ctl_session_open(struct ctl_session *s, const char *config_path,
    const char *verb, void (*state_cb)(bool up, void *arg), void *arg)
{
	struct redis_conf rc;
	struct redis_opts o;
	struct timeval tv;
	char err[256];
	int ret = -1;

	memset(s, 0, sizeof(*s));
	memset(&o, 0, sizeof(o));
	s->verb = verb;
	s->state_cb = state_cb;
	s->arg = arg;
	s->rc = 1;
	s->signal_rc = 130;
	if (ctl_redis_conf(config_path, &rc) == -1)
		return -1;
	if (redis_opts_from_conf(&rc, &o, err, sizeof(err)) == -1) {
		fprintf(stderr, "batonctl: %s: %s\n", config_path, err);
		goto out;
	}
	if ((s->prefix = strdup(rc.prefix != NULL ? rc.prefix : "baton")) ==
	    NULL) {
		fprintf(stderr, "batonctl: out of memory\n");
		goto out;
	}
	s->connect_timeout_ms = o.connect_timeout_ms;
	s->command_timeout_ms = o.command_timeout_ms;
	if (o.unix_path != NULL)
		snprintf(s->where, sizeof(s->where), "%s", o.unix_path);
	else if (strchr(o.host, ':') != NULL)
		snprintf(s->where, sizeof(s->where), "[%s]:%d", o.host, o.port);
	else
		snprintf(s->where, sizeof(s->where), "%s:%d", o.host, o.port);
	if ((s->base = event_base_new()) == NULL) {
		fprintf(stderr, "batonctl: cannot create the event loop\n");
		goto out;
	}
	s->sigint = evsignal_new(s->base, SIGINT, session_signal, s);
	s->sigterm = evsignal_new(s->base, SIGTERM, session_signal, s);
	s->cto = evtimer_new(s->base, session_connect_timeout, s);
	if (s->sigint == NULL || s->sigterm == NULL || s->cto == NULL) {
		fprintf(stderr, "batonctl: cannot create events\n");
		goto out;
	}
	evsignal_add(s->sigint, NULL);
	evsignal_add(s->sigterm, NULL);
	tv.tv_sec = s->connect_timeout_ms / 1000;
	tv.tv_usec = (s->connect_timeout_ms % 1000) * 1000;
	evtimer_add(s->cto, &tv);
	if ((s->r = redis_new(s->base, &o, verb, session_state, s)) == NULL) {
		fprintf(stderr, "batonctl: out of memory\n");
		goto out;
	}
	ret = 0;
out:
	redis_opts_clear(&o);
	ctl_redis_conf_release(&rc);
	return ret;
}

int
ctl_session_run(struct ctl_session *s)
{
	if (!s->done)
		event_base_loop(s->base, 0);
	return s->rc;
}

void
ctl_session_finish(struct ctl_session *s, int rc)
{
	if (s->done)
		return;
	s->done = true;
	s->rc = rc;
	if (s->base != NULL)
		event_base_loopbreak(s->base);
}

void
ctl_session_vfail(struct ctl_session *s, const char *fmt, va_list ap)
{
	if (s->done)
		return;
	fprintf(stderr, "batonctl %s: ", s->verb);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	ctl_session_finish(s, 1);
}

void
ctl_session_fail(struct ctl_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_session_vfail(s, fmt, ap);
	va_end(ap);
}

void
ctl_session_close(struct ctl_session *s)
{
	s->done = true;         /* callbacks run by redis_free: quiet */
	redis_free(s->r);
	s->r = NULL;
	if (s->sigint != NULL)
		event_free(s->sigint);
	if (s->sigterm != NULL)
		event_free(s->sigterm);
	if (s->cto != NULL)
		event_free(s->cto);
	s->sigint = s->sigterm = s->cto = NULL;
	if (s->base != NULL)
		event_base_free(s->base);
	s->base = NULL;
	free(s->prefix);
	s->prefix = NULL;
}

/* ---- stream entries --------------------------------------------------- */

int
ctl_parse_id(const char *s, uint64_t *ms, uint64_t *seq)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*ms = strtoull(s, &end, 10);
	if (errno != 0 || *end != '-' || !isdigit((unsigned char)end[1]))
		return -1;
	*seq = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

json_t *
ctl_entry_fields(const struct redisReply *flat)
{
	json_t *o;

	if ((o = json_object()) == NULL)
		return NULL;
	for (size_t i = 0; i + 1 < flat->elements; i += 2) {
		const redisReply *k = flat->element[i];
		const redisReply *v = flat->element[i + 1];
		json_t *js;

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		js = json_stringn(v->str, v->len);
		if (js == NULL)         /* not UTF-8: keep the bytes */
			js = json_stringn_nocheck(v->str, v->len);
		if (js == NULL || json_object_set_new(o, k->str, js) == -1) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

const char *
ctl_field(const json_t *fields, const char *name)
{
	const char *v = json_string_value(json_object_get(fields, name));

	return v != NULL && *v != '\0' ? v : NULL;
}

int
ctl_since_ms(const char *dur, int64_t now_ms, int64_t *from_ms)
{
	int64_t d;

	if (conf_parse_duration(dur, &d) == -1 || d < 0)
		return -1;
	*from_ms = now_ms > d ? now_ms - d : 0;
	return 0;
}

/* ---- formatting ------------------------------------------------------- */

void
ctl_format_number(double v, char *out, size_t outlen)
{
	size_t n;

	if (!isfinite(v)) {
		snprintf(out, outlen, "%g", v);
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(out, outlen, "%.0f", v == 0 ? 0.0 : v);
		return;
	}
	snprintf(out, outlen, "%.2f", v);
	/* Trailing zeros of the fraction, then a bare point. */
	n = strlen(out);
	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
	if (strcmp(out, "-0") == 0)
		snprintf(out, outlen, "0");
}

void
ctl_format_duration(int64_t ms, char *out, size_t outlen)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 },
		{ "s", 1000 },
	};
	const char *sign = "";
	uint64_t u = (uint64_t)ms;

	if (ms < 0) {
		sign = "-";
		u = 0 - (uint64_t)ms;
	}
	if (u < 1000) {
		snprintf(out, outlen, "%s%" PRIu64 "ms", sign, u);
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t big = (uint64_t)units[i].ms, rest;

		if (u < big)
			continue;
		rest = u % big;
		if (i + 1 < sizeof(units) / sizeof(units[0]) &&
		    rest / (uint64_t)units[i + 1].ms > 0)
			snprintf(out, outlen, "%s%" PRIu64 "%s %" PRIu64 "%s",
			    sign, u / big, units[i].unit,
			    rest / (uint64_t)units[i + 1].ms,
			    units[i + 1].unit);
		else
			snprintf(out, outlen, "%s%" PRIu64 "%s", sign,
			    u / big, units[i].unit);
		return;
	}
}

int
ctl_print_json(const json_t *v)
{
	char *text;

	if ((text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY)) == NULL)
		return -1;
	fputs(text, stdout);
	fputc('\n', stdout);
	free(text);
	return 0;
}

int
ctl_flush(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	if (errno == 0)
		errno = EIO;
	return -1;
}

/*
 * ctl_dlq.c - `batonctl dlq`: look at, replay and drop the entries that
 * deliveries gave up on (PREFIX:dlq, laid out as daemon/dlq.h says).
 *
 *   batonctl dlq list [--connector NAME] [-n N] [--json]
 *   batonctl dlq replay [--connector NAME] [ID...]
 *   batonctl dlq drop ID...
 *
 * list prints the entries oldest first (every one, or the first N), one
 * block each:
 *
 *   1763900000000-0  failed 2025-11-23T12:13:20.000Z
 *     connector  salesforce
 *     lead       ada@example.com
 *     type       handoff.mql
 *     attempts   8
 *     error      HTTP 400: REQUIRED_FIELD_MISSING ...
 *     from       handoffs 1763899990000-0
 *
 * with a blank line between blocks (a missing field prints "-"), or with
 * --json one object per line: "dlq_id" and every field as a string, data
 * parsed as JSON.  An empty list says so on stdout ("no entries in
 * baton:dlq"; nothing with --json).
 *
 * replay runs DLQ_REPLAY_SCRIPT: each entry moves, in one step, to
 * PREFIX:replay:<its connector>, which only that connector's delivery
 * reads.  Named IDs are replayed one script call each so that a missing
 * one can be named; without IDs every entry (or every one of --connector
 * NAME) is replayed, a page at a time.  drop XDELs the named entries.
 * Both end with "replayed|dropped N entries, M missing".
 *
 * Exit status: 0; 1 when a named ID is not in the DLQ (each is named on
 * stderr) or on a Redis or configuration failure; 2 for bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include <baton/timestamp.h>

#include "ctl.h"
#include "dlq.h"
#include "redis.h"
#include "stream.h"

#define DLQ_PAGE        500             /* entries per XRANGE */
#define DLQ_MAX_N       100000000L
#define DLQ_ID_MAX      48              /* "(" + 20 digits + "-" + 20 */

enum dlq_cmd {
	DLQ_LIST,
	DLQ_REPLAY,
	DLQ_DROP,
};

struct dlq {
	struct ctl_session sess;
	enum dlq_cmd cmd;
	const char *connector;          /* --connector, or NULL */
	bool json;
	long limit;                     /* -n; 0: every entry */
	char **ids;                     /* named IDs (argv, borrowed) */
	size_t nids;
	char *key;                      /* PREFIX:dlq */
	char *kprefix;                  /* "PREFIX:" */
	bool sent;                      /* the first command is out */
	/* paging: list, and replay without IDs */
	char cursor[DLQ_ID_MAX];        /* XRANGE start */
	long shown;                     /* entries printed */
	const char **page;              /* IDs to replay from one page */
	size_t npage;
	/* replay and drop */
	size_t pending;                 /* replies to come */
	long long done, missing;
};

/* ---- output ----------------------------------------------------------- */

static const char *
or_dash(const json_t *fields, const char *name)
{
	const char *v = ctl_field(fields, name);

	return v != NULL ? v : "-";
}

static int
print_json(const char *id, json_t *fields)
{
	const char *raw = ctl_field(fields, "data");
	json_t *data;
	int rc;

	if (json_object_set_new(fields, "dlq_id", json_string(id)) == -1)
		return -1;
	if (raw != NULL && (data = json_loads(raw, JSON_DECODE_ANY, NULL)) !=
	    NULL && json_object_set_new(fields, "data", data) == -1)
		return -1;
	rc = ctl_print_json(fields);
	return rc;
}

static void
print_block(const struct dlq *q, const char *id, const json_t *fields)
{
	const char *at = ctl_field(fields, DLQ_F_FAILED_AT);
	char when[40], *end;
	long long ms;

	if (at != NULL) {
		errno = 0;
		ms = strtoll(at, &end, 10);
		if (errno == 0 && *end == '\0' && ms >= 0 &&
		    ms < 253402300800000LL) {
			timestamp_format(ms, when, sizeof(when));
			at = when;
		}
	}
	printf("%s%s  failed %s\n", q->shown > 0 ? "\n" : "", id,
	    at != NULL ? at : "-");
	printf("  connector  %s\n", or_dash(fields, DLQ_F_CONNECTOR));
	printf("  lead       %s\n", or_dash(fields, "lead"));
	printf("  type       %s\n", or_dash(fields, "type"));
	printf("  attempts   %s\n", or_dash(fields, DLQ_F_ATTEMPTS));
	printf("  error      %s\n", or_dash(fields, DLQ_F_ERROR));
	printf("  from       %s %s\n", or_dash(fields, DLQ_F_STREAM),
	    or_dash(fields, DLQ_F_ENTRY));
}

/* Flushes stdout and ends with rc; a reader that went away is not an
 * error. */
static void
dlq_finish(struct dlq *q, int rc)
{
	if (ctl_flush() == -1 && errno != EPIPE) {
		ctl_session_fail(&q->sess, "writing to stdout: %s",
		    strerror(errno));
		return;
	}
	ctl_session_finish(&q->sess, rc);
}

static const char *
entries(long long n)
{
	return n == 1 ? "entry" : "entries";
}

static void
summary(struct dlq *q)
{
	printf("%s %lld %s, %lld missing\n", q->cmd == DLQ_DROP ? "dropped" :
	    "replayed", q->done, entries(q->done), q->missing);
	dlq_finish(q, q->nids > 0 && q->missing > 0 ? 1 : 0);
}

/* A reply that is not what was asked for fails the session (true). */
static bool
bad_reply(struct dlq *q, const redisReply *reply, const char *what)
{
	if (reply == NULL) {
		ctl_session_fail(&q->sess, "lost the connection to Redis at %s",
		    q->sess.where);
		return true;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		ctl_session_fail(&q->sess, "%s: %s", what, reply->str);
		return true;
	}
	return false;
}

/* ---- list, and replay of every entry: XRANGE pages --------------------- */

static void fetch_page(struct dlq *q);

/* {replayed, missing} of DLQ_REPLAY_SCRIPT, added up; false when the
 * reply is malformed (the session has failed). */
static bool
add_counts(struct dlq *q, const redisReply *reply)
{
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER ||
	    reply->element[1]->type != REDIS_REPLY_INTEGER) {
		ctl_session_fail(&q->sess, "replay script: unexpected reply");
		return false;
	}
	q->done += reply->element[0]->integer;
	q->missing += reply->element[1]->integer;
	return true;
}

static void
page_replayed(struct redisReply *reply, void *arg)
{
	struct dlq *q = arg;
	bool last = q->cursor[0] == '\0';

	if (q->sess.done || bad_reply(q, reply, "replaying") ||
	    !add_counts(q, reply))
		return;
	if (last)
		summary(q);
	else
		fetch_page(q);
}

/* Replays the IDs collected from a page (at most DLQ_PAGE), in one
 * script call.  Goes on paging when there is nothing to replay. */
static void
replay_page(struct dlq *q)
{
	const char *argv[5 + DLQ_PAGE];
	int argc = 0;

	if (q->npage == 0) {
		if (q->cursor[0] == '\0')
			summary(q);
		else
			fetch_page(q);
		return;
	}
	argv[argc++] = "EVAL";
	argv[argc++] = DLQ_REPLAY_SCRIPT;
	argv[argc++] = "2";
	argv[argc++] = q->key;
	argv[argc++] = q->kprefix;
	for (size_t i = 0; i < q->npage; i++)
		argv[argc++] = q->page[i];
	if (redis_command_argv(q->sess.r, 0, page_replayed, q, argc, argv,
	    NULL) == -1)
		ctl_session_fail(&q->sess, "lost the connection to Redis at %s",
		    q->sess.where);
}

static void
free_page(struct dlq *q)
{
	for (size_t i = 0; i < q->npage; i++)
		free((char *)q->page[i]);
	q->npage = 0;
}

static void
page_reply(struct redisReply *reply, void *arg)
{
	struct dlq *q = arg;
	const redisReply *last = NULL;

	if (q->sess.done || bad_reply(q, reply, "reading the DLQ"))
		return;
	if (reply->type != REDIS_REPLY_ARRAY) {
		ctl_session_fail(&q->sess, "reading %s: unexpected reply",
		    q->key);
		return;
	}
	free_page(q);
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *er = reply->element[i];
		const char *conn;
		json_t *fields;
		char *id;

		if (er->type != REDIS_REPLY_ARRAY || er->elements != 2 ||
		    er->element[0]->type != REDIS_REPLY_STRING ||
		    er->element[1]->type != REDIS_REPLY_ARRAY) {
			ctl_session_fail(&q->sess, "reading %s: malformed "
			    "entry", q->key);
			return;
		}
		last = er;
		if ((fields = ctl_entry_fields(er->element[1])) == NULL) {
			ctl_session_fail(&q->sess, "out of memory");
			return;
		}
		conn = ctl_field(fields, DLQ_F_CONNECTOR);
		if (q->connector != NULL && (conn == NULL ||
		    strcmp(conn, q->connector) != 0)) {
			json_decref(fields);
			continue;
		}
		if (q->cmd == DLQ_REPLAY) {
			json_decref(fields);
			if ((id = strdup(er->element[0]->str)) == NULL) {
				ctl_session_fail(&q->sess, "out of memory");
				return;
			}
			q->page[q->npage++] = id;
			continue;
		}
		if (q->json) {
			if (print_json(er->element[0]->str, fields) == -1) {
				json_decref(fields);
				ctl_session_fail(&q->sess, "out of memory");
				return;
			}
		} else
			print_block(q, er->element[0]->str, fields);
		json_decref(fields);
		if (++q->shown == q->limit)
			break;
	}
	/* The next page starts after the last entry seen; none: done. */
	if (reply->elements < DLQ_PAGE || last == NULL ||
	    (q->cmd == DLQ_LIST && q->shown == q->limit) ||
	    last->element[0]->len + 2 > sizeof(q->cursor))
		q->cursor[0] = '\0';
	else
		snprintf(q->cursor, sizeof(q->cursor), "(%s",
		    last->element[0]->str);
	if (q->cmd == DLQ_REPLAY) {
		replay_page(q);
		return;
	}
	if (q->cursor[0] != '\0') {
		fetch_page(q);
		return;
	}
	if (q->shown == 0 && !q->json) {
		if (q->connector != NULL)
			printf("no entries for connector %s in %s\n",
			    q->connector, q->key);
		else
			printf("no entries in %s\n", q->key);
	}
	dlq_finish(q, 0);
}

static void
fetch_page(struct dlq *q)
{
	char count[16];
	const char *argv[] = { "XRANGE", q->key, q->cursor, "+", "COUNT",
	    count };

	snprintf(count, sizeof(count), "%d", DLQ_PAGE);
	if (redis_command_argv(q->sess.r, 0, page_reply, q, 6, argv, NULL) ==
	    -1)
		ctl_session_fail(&q->sess, "lost the connection to Redis at %s",
		    q->sess.where);
}

/* ---- named IDs: replay and drop ---------------------------------------- */

/* The reply for q->ids[i]: the ID's index travels in a small box. */
struct id_arg {
	struct dlq *q;
	size_t i;
};

static void
id_reply(struct redisReply *reply, void *arg)
{
	struct id_arg *a = arg;
	struct dlq *q = a->q;
	const char *id = q->ids[a->i];
	long long before = q->done;

	free(a);
	q->pending--;
	if (q->sess.done || bad_reply(q, reply, q->cmd == DLQ_DROP ?
	    "XDEL" : "replaying"))
		return;
	if (q->cmd == DLQ_DROP) {
		if (reply->type != REDIS_REPLY_INTEGER) {
			ctl_session_fail(&q->sess, "XDEL: unexpected reply");
			return;
		}
		q->done += reply->integer;
		q->missing += reply->integer == 0;
	} else if (!add_counts(q, reply))
		return;
	if (q->done == before)
		fprintf(stderr, "batonctl dlq %s: no entry %s in %s\n",
		    q->cmd == DLQ_DROP ? "drop" : "replay", id, q->key);
	if (q->pending == 0)
		summary(q);
}

static void
send_ids(struct dlq *q)
{
	for (size_t i = 0; i < q->nids; i++) {
		const char *replay[] = { "EVAL", DLQ_REPLAY_SCRIPT, "2",
		    q->key, q->kprefix, q->ids[i] };
		const char *xdel[] = { "XDEL", q->key, q->ids[i] };
		struct id_arg *a = malloc(sizeof(*a));
		int rc;

		if (a == NULL) {
			ctl_session_fail(&q->sess, "out of memory");
			return;
		}
		a->q = q;
		a->i = i;
		if (q->cmd == DLQ_DROP)
			rc = redis_command_argv(q->sess.r, 0, id_reply, a, 3,
			    xdel, NULL);
		else
			rc = redis_command_argv(q->sess.r, 0, id_reply, a, 6,
			    replay, NULL);
		if (rc == -1) {
			free(a);
			ctl_session_fail(&q->sess, "lost the connection to "
			    "Redis at %s", q->sess.where);
			return;
		}
		q->pending++;
	}
}

/* ---- the session ------------------------------------------------------ */

static void
dlq_state(bool up, void *arg)
{
	struct dlq *q = arg;

	if (!up) {
		if (q->sent)
			ctl_session_fail(&q->sess, "lost the connection to "
			    "Redis at %s", q->sess.where);
		return;
	}
	if (q->sent)
		return;
	q->sent = true;
	if (q->nids > 0) {
		send_ids(q);
		return;
	}
	snprintf(q->cursor, sizeof(q->cursor), "-");
	fetch_page(q);
}

/* ---- arguments -------------------------------------------------------- */

static void
dlq_usage(FILE *fp)
{
	fprintf(fp, "usage: batonctl dlq list [--connector NAME] [-n N] "
	    "[--json] [-c FILE]\n"
	    "       batonctl dlq replay [--connector NAME] [ID...] "
	    "[-c FILE]\n"
	    "       batonctl dlq drop ID... [-c FILE]\n"
	    "  list              the entries deliveries gave up on, oldest "
	    "first\n"
	    "  replay            send entries again, each to the connector "
	    "that failed\n"
	    "                    (every entry when no ID is given)\n"
	    "  drop              delete entries for good\n"
	    "  --connector NAME  only the entries of connector NAME\n"
	    "  -n N              list: at most N entries\n"
	    "  --json            list: one JSON object per entry\n");
}

static int
usage_error(const char *sub, const char *fmt, ...) BATON_PRINTF(2, 3);

/* Prints "batonctl dlq [SUB]: message" and the usage; returns 2. */
static int
usage_error(const char *sub, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "batonctl dlq%s%s: ", sub != NULL ? " " : "",
	    sub != NULL ? sub : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	dlq_usage(stderr);
	return 2;
}

/* Parses the subcommand's arguments into q.  Returns -1 to go on, else
 * the exit status. */
static int
dlq_args(struct dlq *q, const char **path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connector", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub;
	char *end;
	uint64_t ms, seq;
	int ch;

	if (argc < 2)
		return usage_error(NULL, "missing command (list, replay or "
		    "drop)");
	sub = argv[1];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
		dlq_usage(stdout);
		return 0;
	}
	if (strcmp(sub, "list") == 0)
		q->cmd = DLQ_LIST;
	else if (strcmp(sub, "replay") == 0)
		q->cmd = DLQ_REPLAY;
	else if (strcmp(sub, "drop") == 0)
		q->cmd = DLQ_DROP;
	else
		return usage_error(NULL, "unknown command '%s' (expected "
		    "list, replay or drop)", sub);
	argc--;
	argv++;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "n:c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			if (q->cmd == DLQ_DROP)
				return usage_error(sub, "--connector does not "
				    "apply to drop: name the IDs");
			if (*optarg == '\0')
				return usage_error(sub, "--connector: empty "
				    "name");
			q->connector = optarg;
			break;
		case 'j':
			if (q->cmd != DLQ_LIST)
				return usage_error(sub, "--json applies to list "
				    "only");
			q->json = true;
			break;
		case 'n':
			if (q->cmd != DLQ_LIST)
				return usage_error(sub, "-n applies to list "
				    "only");
			errno = 0;
			q->limit = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    q->limit < 1 || q->limit > DLQ_MAX_N)
				return usage_error(sub, "-n: '%s' is not a "
				    "number from 1 to 100000000", optarg);
			break;
		case 'c':
			*path = optarg;
			break;
		case 'h':
			dlq_usage(stdout);
			return 0;
		default:
			dlq_usage(stderr);
			return 2;
		}
	}
	q->ids = argv + optind;
	q->nids = (size_t)(argc - optind);
	if (q->cmd == DLQ_LIST && q->nids > 0)
		return usage_error(sub, "unexpected argument '%s'", q->ids[0]);
	if (q->cmd == DLQ_DROP && q->nids == 0)
		return usage_error(sub, "name the entries to drop (IDs from "
		    "`batonctl dlq list`)");
	if (q->connector != NULL && q->nids > 0)
		return usage_error(sub, "give IDs or --connector, not "
		    "both");
	for (size_t i = 0; i < q->nids; i++)
		if (ctl_parse_id(q->ids[i], &ms, &seq) == -1 ||
		    strlen(q->ids[i]) + 2 > DLQ_ID_MAX)
			return usage_error(sub, "'%s' is not an entry ID "
			    "(1700000000000-0)", q->ids[i]);
	return -1;
}

/* ---- the verb --------------------------------------------------------- */

int
ctl_dlq(const char *config_path, int argc, char **argv)
{
	struct dlq q;
	int status;

	memset(&q, 0, sizeof(q));
	if ((status = dlq_args(&q, &config_path, argc, argv)) != -1)
		return status;
	status = 1;
	if (ctl_session_open(&q.sess, config_path, "dlq", dlq_state, &q) ==
	    -1)
		goto out;
	if (asprintf(&q.kprefix, "%s:", q.sess.prefix) < 0)
		q.kprefix = NULL;
	if ((q.key = stream_key(q.sess.prefix, DLQ_STREAM)) == NULL ||
	    q.kprefix == NULL ||
	    (q.page = calloc(DLQ_PAGE, sizeof(*q.page))) == NULL) {
		fprintf(stderr, "batonctl: out of memory\n");
		goto out;
	}
	status = ctl_session_run(&q.sess);
out:
	ctl_session_close(&q.sess);
	if (q.page != NULL)
		free_page(&q);
	free(q.page);
	free(q.key);
	free(q.kprefix);
	return status;
}

/*
 * event.c - the canonical lead event of event.h (baton_event_*, since
 * libevent owns event_new): building and freeing one, the lead key (a
 * normalized email address), the intake types, and the checks every event
 * passes before it is written to PREFIX:events.
 *
 * Validation is deliberately about shape only (required fields present, of
 * the right JSON kind, within the closed vocabularies SPEC fixes); it
 * never rewrites an event.  Its messages name the field ("data.status:
 * ...") so that a webhook's 400 can tell the sender what to fix.
 */
#include <baton/error.h>
#include <baton/event.h>
#include <baton/log.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Building ---------------------------------------------------------- */

/*
 * Builds an event from copies of the strings, stealing data (NULL: an
 * empty object).  Returns NULL only when out of memory, data released.
 */
struct baton_event *
baton_event_new(const char *type, const char *lead, const char *id,
    int64_t at_ms, json_t *data)
{
	struct baton_event *ev;

	if (data == NULL && (data = json_object()) == NULL)
		return NULL;
	if ((ev = calloc(1, sizeof(*ev))) == NULL) {
		json_decref(data);
		return NULL;
	}
	ev->data = data;
	ev->at_ms = at_ms;
	if ((type != NULL && (ev->type = strdup(type)) == NULL) ||
	    (lead != NULL && (ev->lead = strdup(lead)) == NULL) ||
	    (id != NULL && (ev->id = strdup(id)) == NULL)) {
		baton_event_free(ev);
		return NULL;
	}
	return ev;
}

/* Frees ev and all it owns; NULL and half-built events are fine. */
void
baton_event_free(struct baton_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->type);
	free(ev->lead);
	free(ev->source);
	free(ev->id);
	json_decref(ev->data);
	free(ev);
}

/* Replaces ev->source with a copy of source.  Returns 0 or -1 (memory). */
int
baton_event_set_source(struct baton_event *ev, const char *source)
{
	char *s = NULL;

	if (source != NULL && (s = strdup(source)) == NULL)
		return -1;
	free(ev->source);
	ev->source = s;
	return 0;
}

/* ---- Lead keys --------------------------------------------------------- */

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

/*
 * Trims white space around email and lower-cases its ASCII letters into
 * out.  Returns 0, or -1 with the reason in err: "empty", "longer than 254
 * bytes", "no '@'", "more than one '@'", "nothing before '@'", "no domain
 * after '@'", "domain has no '.'" (a dot that is neither first nor last),
 * "contains white space or a control character", or "output buffer too
 * small".  Bytes >= 0x80 (UTF-8) are kept as they are.
 */
int
baton_event_lead_key(const char *email, char *out, size_t outlen,
    char *err, size_t errlen)
{
	const char *start, *end, *at = NULL, *dot;
	size_t len, nat = 0;

	if (email == NULL) {
		error_set(err, errlen, "empty");
		return -1;
	}
	start = email;
	while (is_space((unsigned char)*start))
		start++;
	end = start + strlen(start);
	while (end > start && is_space((unsigned char)end[-1]))
		end--;
	len = (size_t)(end - start);
	if (len == 0) {
		error_set(err, errlen, "empty");
		return -1;
	}
	if (len > EVENT_LEAD_MAX) {
		error_set(err, errlen, "longer than %d bytes", EVENT_LEAD_MAX);
		return -1;
	}
	for (const char *p = start; p < end; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c == 0x7f) {
			error_set(err, errlen,
			    "contains white space or a control character");
			return -1;
		}
		if (c == '@') {
			nat++;
			at = p;
		}
	}
	if (nat == 0) {
		error_set(err, errlen, "no '@'");
		return -1;
	}
	if (nat > 1) {
		error_set(err, errlen, "more than one '@'");
		return -1;
	}
	if (at == start) {
		error_set(err, errlen, "nothing before '@'");
		return -1;
	}
	if (at + 1 == end) {
		error_set(err, errlen, "no domain after '@'");
		return -1;
	}
	dot = memchr(at + 1, '.', (size_t)(end - at - 1));
	if (dot == NULL || dot == at + 1 || end[-1] == '.') {
		error_set(err, errlen, "domain has no '.'");
		return -1;
	}
	if (outlen < len + 1) {
		error_set(err, errlen, "output buffer too small");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)start[i];

		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[len] = '\0';
	return 0;
}

/* ---- Types and validation ---------------------------------------------- */

static const char *const event_types[] = {
	EVENT_LEAD_UPSERTED, EVENT_LEAD_ACTIVITY, EVENT_LEAD_STATUS,
	EVENT_DEAL_STAGE, EVENT_LEAD_MERGED, EVENT_LEAD_FORGET, NULL,
};

static const char *const lead_statuses[] = {
	"open", "working", "qualified", "unqualified", "converted", NULL,
};

static const char *const deal_outcomes[] = { "open", "won", "lost", NULL };

/* 1 when type is one of the intake types. */
int
baton_event_type_known(const char *type)
{
	if (type == NULL)
		return 0;
	for (size_t i = 0; event_types[i] != NULL; i++)
		if (strcmp(type, event_types[i]) == 0)
			return 1;
	return 0;
}

static int
in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/*
 * An activity name is a token: 1 to 64 bytes of [a-z0-9_.-], starting
 * with a letter or digit ("form_submit", "webinar_attended", a configured
 * "trial.started").  Lower case only, so that rules match it exactly.
 */
static int
is_token(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return 0;
	}
	return 1;
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* The string member `name` of data, or NULL having filled err. */
static const char *
need_string(const json_t *data, const char *name, const char *type,
    char *err, size_t errlen)
{
	json_t *v = json_object_get(data, name);

	if (v == NULL) {
		error_set(err, errlen, "data.%s: missing (%s needs it)", name,
		    type);
		return NULL;
	}
	if (!json_is_string(v)) {
		error_set(err, errlen, "data.%s: expected a string, got %s",
		    name, json_kind(v));
		return NULL;
	}
	return json_string_value(v);
}

const char *
baton_event_lead_ref(const char *lead)
{
	size_t n;

	if (lead == NULL || strncmp(lead, EVENT_LEAD_REF,
	    sizeof(EVENT_LEAD_REF) - 1) != 0)
		return NULL;
	lead += sizeof(EVENT_LEAD_REF) - 1;
	n = strlen(lead);
	if (n == 0 || n > EVENT_REF_MAX || strspn(lead, "ABCDEFGHIJKLMNOPQRSTU"
	    "VWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
		return NULL;
	return lead;
}

/*
 * Checks a complete event: known type, a lead that is its own lead key
 * (or a well-formed "ref:<id>"), a
 * non-empty id of at most EVENT_ID_MAX bytes, a time from 1970 to 9999,
 * data an object (data.custom, when present, an object too), and the
 * type's own fields as event.h lists them.  Returns 0, or -1 with a
 * message naming the field in err.
 */
int
baton_event_validate(const struct baton_event *ev, char *err, size_t errlen)
{
	char key[EVENT_LEAD_MAX + 1], why[128];
	const char *s;
	json_t *v;

	if (ev->type == NULL || !baton_event_type_known(ev->type)) {
		error_set(err, errlen, "type: unknown event type \"%.64s\"",
		    ev->type ? ev->type : "");
		return -1;
	}
	if (baton_event_lead_ref(ev->lead) != NULL) {
		/* Resolved by the intake (stream.c). */
	} else if (ev->lead == NULL || baton_event_lead_key(ev->lead, key,
	    sizeof(key), why, sizeof(why)) == -1) {
		error_set(err, errlen, "lead: not an email address: %s",
		    ev->lead ? why : "missing");
		return -1;
	} else if (strcmp(key, ev->lead) != 0) {
		error_set(err, errlen, "lead: not normalized (expected \"%s\")",
		    key);
		return -1;
	}
	if (ev->id == NULL || ev->id[0] == '\0') {
		error_set(err, errlen, "id: missing");
		return -1;
	}
	if (strlen(ev->id) > EVENT_ID_MAX) {
		error_set(err, errlen, "id: longer than %d bytes", EVENT_ID_MAX);
		return -1;
	}
	/* 253402300800000 is 10000-01-01T00:00:00Z. */
	if (ev->at_ms < 0 || ev->at_ms >= INT64_C(253402300800000)) {
		error_set(err, errlen, "at: %lld is not between 1970 and 9999",
		    (long long)ev->at_ms);
		return -1;
	}
	if (ev->data == NULL || !json_is_object(ev->data)) {
		error_set(err, errlen, "data: expected an object, got %s",
		    ev->data ? json_kind(ev->data) : "nothing");
		return -1;
	}
	if ((v = json_object_get(ev->data, "custom")) != NULL &&
	    !json_is_object(v)) {
		error_set(err, errlen, "data.custom: expected an object, got %s",
		    json_kind(v));
		return -1;
	}

	if (strcmp(ev->type, EVENT_LEAD_ACTIVITY) == 0) {
		if ((s = need_string(ev->data, "activity", ev->type, err,
		    errlen)) == NULL)
			return -1;
		if (!is_token(s)) {
			error_set(err, errlen, "data.activity: \"%.64s\" is not "
			    "a name of 1 to 64 characters a-z 0-9 _ . -", s);
			return -1;
		}
	} else if (strcmp(ev->type, EVENT_LEAD_STATUS) == 0) {
		if ((s = need_string(ev->data, "status", ev->type, err,
		    errlen)) == NULL)
			return -1;
		if (!in_list(s, lead_statuses)) {
			error_set(err, errlen, "data.status: \"%.64s\" is not "
			    "one of open working qualified unqualified "
			    "converted", s);
			return -1;
		}
	} else if (strcmp(ev->type, EVENT_LEAD_MERGED) == 0) {
		char from[EVENT_LEAD_MAX + 1];

		if ((s = need_string(ev->data, "from", ev->type, err,
		    errlen)) == NULL)
			return -1;
		if (baton_event_lead_key(s, from, sizeof(from), why,
		    sizeof(why)) == -1) {
			error_set(err, errlen, "data.from: not an email "
			    "address: %s", why);
			return -1;
		}
		if (strcmp(from, s) != 0) {
			error_set(err, errlen, "data.from: not normalized "
			    "(expected \"%s\")", from);
			return -1;
		}
		if (strcmp(from, ev->lead) == 0) {
			error_set(err, errlen, "data.from: the lead itself");
			return -1;
		}
	} else if (strcmp(ev->type, EVENT_DEAL_STAGE) == 0) {
		if ((s = need_string(ev->data, "stage", ev->type, err,
		    errlen)) == NULL)
			return -1;
		if (s[0] == '\0') {
			error_set(err, errlen, "data.stage: empty");
			return -1;
		}
		v = json_object_get(ev->data, "outcome");
		if (v != NULL && (!json_is_string(v) ||
		    !in_list(json_string_value(v), deal_outcomes))) {
			if (json_is_string(v))
				error_set(err, errlen, "data.outcome: \"%.64s\" "
				    "is not one of open won lost",
				    json_string_value(v));
			else
				error_set(err, errlen, "data.outcome: expected "
				    "a string, got %s", json_kind(v));
			return -1;
		}
		v = json_object_get(ev->data, "amount");
		if (v != NULL && !json_is_number(v)) {
			error_set(err, errlen, "data.amount: expected a number, "
			    "got %s", json_kind(v));
			return -1;
		}
	}
	return 0;
}

/*
 * data as compact JSON with sorted keys.  Returns a malloc'd string the
 * caller frees, or NULL (no data, or out of memory).
 */
char *
baton_event_data_json(const struct baton_event *ev)
{
	if (ev == NULL || ev->data == NULL)
		return NULL;
	return json_dumps(ev->data, JSON_COMPACT | JSON_SORT_KEYS);
}

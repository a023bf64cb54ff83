/*
 * webhook_proto.c - the generic webhook's payload mapping: from a signed
 * JSON body to canonical events, following the `items`, `event` and
 * `map.*` keys of a [connector NAME] section with type = webhook.
 *
 * A mapping is compiled once at load (every path through jsonpath_compile,
 * so a typo is a configuration error with its line) and then applied to
 * each request.  The rules, in the order a request meets them:
 *
 *   - the signature (webhook.c decides whether to check it);
 *   - the body must be JSON: an object, or with `items` anything in which
 *     the items path yields an array of objects;
 *   - per event: its type (fixed, or map.type naming an intake type), its
 *     lead (map.email, normalized), its id (map.id, a string or an
 *     integer; without map.id the hex SHA-256 of the event object as
 *     compact JSON with sorted keys, so a redelivery of the same event
 *     dedupes whatever its key order), its time (map.at, any form
 *     timestamp_from_json takes; absent or null: the time of receipt), and
 *     its data (each mapped attribute copied with its JSON type, custom
 *     ones under data.custom, data.email the lead key);
 *   - each event must pass baton_event_validate().
 * Any failure refuses the whole request with a message naming the event's
 * index and the key or path at fault.
 */
#include "webhook_proto.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <baton/digest.h>
#include <baton/jsonpath.h>
#include <baton/timestamp.h>

struct webhook_field {
	char *name;             /* "first_name", "custom.plan" (owned) */
	const char *custom;     /* in name: after "custom.", or NULL */
	struct jsonpath *path;  /* owned */
};

struct webhook_map {
	char *event;                    /* fixed type, or NULL */
	bool has_items;                 /* `items` is set */
	struct jsonpath *items;         /* NULL with has_items: the body */
	struct jsonpath *type;          /* map.type, or NULL */
	struct jsonpath *email;         /* map.email */
	struct jsonpath *id;            /* map.id, or NULL: hash */
	struct jsonpath *at;            /* map.at, or NULL: receipt */
	struct webhook_field *fields;   /* data attributes, in config order */
	size_t nfields;
};

/* Attributes a map.<field> may name, besides type email id at custom.*. */
static const char *const canonical_fields[] = {
	/* lead.upserted */
	"first_name", "last_name", "title", "company", "company_size",
	"industry", "country", "phone",
	/* lead.activity */
	"activity", "form", "url",
	/* lead.status */
	"status", "reason", "owner",
	/* deal.stage */
	"stage", "amount", "currency", "outcome",
	/* lead.merged: the merged-away address */
	"from",
	NULL,
};

#define KNOWN_FIELDS "type email id at first_name last_name title company " \
	"company_size industry country phone activity form url status " \
	"reason owner stage amount currency outcome from, or custom.<name>"

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
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* ---- Signature --------------------------------------------------------- */

/*
 * Verifies "sha256=<hex>" against HMAC-SHA256(key, body).  The digits
 * are decoded and compared in constant time; only their count and the
 * scheme, which are not secret, are examined beforehand.
 */
int
webhook_signature_check(const struct digest_hmac *key,
    const unsigned char *body, size_t len, const char *header, char *err,
    size_t errlen)
{
	unsigned char want[DIGEST_SHA256_LEN], got[DIGEST_SHA256_LEN];
	const char *hex;
	size_t hexlen;

	if (header == NULL) {
		snprintf(err, errlen, "no %s header", WEBHOOK_SIGNATURE_HEADER);
		return -1;
	}
	if (strncasecmp(header, "sha256=", 7) != 0) {
		const char *eq = strchr(header, '=');

		if (eq != NULL && eq != header && eq - header <= 16)
			snprintf(err, errlen, "%s: scheme \"%.*s\" is not "
			    "supported (expected sha256=<hex>)",
			    WEBHOOK_SIGNATURE_HEADER, (int)(eq - header),
			    header);
		else
			snprintf(err, errlen, "%s: expected sha256=<hex>",
			    WEBHOOK_SIGNATURE_HEADER);
		return -1;
	}
	hex = header + 7;
	hexlen = strlen(hex);
	if (hexlen != 2 * DIGEST_SHA256_LEN) {
		snprintf(err, errlen, "%s: expected %d hex digits after "
		    "sha256=, got %zu characters", WEBHOOK_SIGNATURE_HEADER,
		    2 * DIGEST_SHA256_LEN, hexlen);
		return -1;
	}
	if (digest_unhex(hex, hexlen, got, sizeof(got)) == -1) {
		snprintf(err, errlen, "%s: not hexadecimal",
		    WEBHOOK_SIGNATURE_HEADER);
		return -1;
	}
	if (digest_hmac_compute(key, body, len, want) == -1) {
		snprintf(err, errlen, "HMAC-SHA256 failed (libcrypto)");
		return -1;
	}
	if (!digest_equal(want, got, sizeof(want))) {
		snprintf(err, errlen, "%s does not match the body (another "
		    "secret, or the body was changed)",
		    WEBHOOK_SIGNATURE_HEADER);
		return -1;
	}
	return 0;
}

/* ---- Building a mapping ------------------------------------------------ */

struct webhook_map *
webhook_map_new(void)
{
	return calloc(1, sizeof(struct webhook_map));
}

void
webhook_map_free(struct webhook_map *m)
{
	if (m == NULL)
		return;
	free(m->event);
	jsonpath_free(m->items);
	jsonpath_free(m->type);
	jsonpath_free(m->email);
	jsonpath_free(m->id);
	jsonpath_free(m->at);
	for (size_t i = 0; i < m->nfields; i++) {
		free(m->fields[i].name);
		jsonpath_free(m->fields[i].path);
	}
	free(m->fields);
	free(m);
}

int
webhook_map_set_event(struct webhook_map *m, const char *type, char *err,
    size_t errlen)
{
	char *s;

	if (!baton_event_type_known(type)) {
		snprintf(err, errlen, "unknown event type \"%s\" (one of "
		    "lead.upserted lead.activity lead.status deal.stage "
		    "lead.merged lead.forget)", type);
		return -1;
	}
	if ((s = strdup(type)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(m->event);
	m->event = s;
	return 0;
}

/* Compiles path, or fills err with "bad path "...": column N: ...". */
static struct jsonpath *
compile(const char *path, char *err, size_t errlen)
{
	char why[128];
	struct jsonpath *p;

	if ((p = jsonpath_compile(path, why, sizeof(why))) == NULL)
		snprintf(err, errlen, "bad path \"%s\": %s", path, why);
	return p;
}

int
webhook_map_set_items(struct webhook_map *m, const char *path, char *err,
    size_t errlen)
{
	struct jsonpath *p = NULL;

	if (strcmp(path, ".") != 0 && (p = compile(path, err, errlen)) == NULL)
		return -1;
	jsonpath_free(m->items);
	m->items = p;
	m->has_items = true;
	return 0;
}

static int
is_custom_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static int
is_canonical(const char *field)
{
	for (size_t i = 0; canonical_fields[i] != NULL; i++)
		if (strcmp(field, canonical_fields[i]) == 0)
			return 1;
	return 0;
}

static const struct webhook_field *
find_field(const struct webhook_map *m, const char *name)
{
	for (size_t i = 0; i < m->nfields; i++)
		if (strcmp(m->fields[i].name, name) == 0)
			return &m->fields[i];
	return NULL;
}

int
webhook_map_add(struct webhook_map *m, const char *field, const char *path,
    char *err, size_t errlen)
{
	struct jsonpath **special = NULL, *p;
	struct webhook_field *f;

	if (strcmp(field, "type") == 0)
		special = &m->type;
	else if (strcmp(field, "email") == 0)
		special = &m->email;
	else if (strcmp(field, "id") == 0)
		special = &m->id;
	else if (strcmp(field, "at") == 0)
		special = &m->at;
	else if (strcmp(field, "custom") == 0 ||
	    strncmp(field, "custom.", 7) == 0) {
		if (field[6] == '\0' || !is_custom_name(field + 7)) {
			snprintf(err, errlen, "a custom attribute is "
			    "map.custom.<name>, the name made of letters, "
			    "digits, '_' and '-'");
			return -1;
		}
	} else if (!is_canonical(field)) {
		snprintf(err, errlen, "unknown field \"%s\" (known: "
		    KNOWN_FIELDS ")", field);
		return -1;
	}
	if ((special != NULL && *special != NULL) ||
	    (special == NULL && find_field(m, field) != NULL)) {
		snprintf(err, errlen, "map.%s is set twice", field);
		return -1;
	}
	if ((p = compile(path, err, errlen)) == NULL)
		return -1;
	if (special != NULL) {
		*special = p;
		return 0;
	}
	f = realloc(m->fields, (m->nfields + 1) * sizeof(*f));
	if (f == NULL)
		goto nomem;
	m->fields = f;
	f = &m->fields[m->nfields];
	if ((f->name = strdup(field)) == NULL)
		goto nomem;
	f->custom = strncmp(f->name, "custom.", 7) == 0 ? f->name + 7 : NULL;
	f->path = p;
	m->nfields++;
	return 0;
nomem:
	jsonpath_free(p);
	snprintf(err, errlen, "out of memory");
	return -1;
}

int
webhook_map_check(const struct webhook_map *m, const char **key, char *err,
    size_t errlen)
{
	static const struct { const char *type, *field; } needs[] = {
		{ EVENT_LEAD_ACTIVITY, "activity" },
		{ EVENT_LEAD_STATUS, "status" },
		{ EVENT_DEAL_STAGE, "stage" },
		{ EVENT_LEAD_MERGED, "from" },
	};

	*key = NULL;
	if (m->event == NULL && m->type == NULL) {
		snprintf(err, errlen, "no event type: set event = <type> "
		    "(lead.upserted lead.activity lead.status deal.stage "
		    "lead.merged lead.forget) or "
		    "map.type = <path>");
		return -1;
	}
	if (m->event != NULL && m->type != NULL) {
		*key = "map.type";
		snprintf(err, errlen, "set either event or map.type, not "
		    "both");
		return -1;
	}
	if (m->email == NULL) {
		snprintf(err, errlen, "missing required key 'map.email' (the "
		    "path of the lead's email address in an event)");
		return -1;
	}
	for (size_t i = 0; m->event != NULL && i < 3; i++)
		if (strcmp(m->event, needs[i].type) == 0 &&
		    find_field(m, needs[i].field) == NULL) {
			*key = "event";
			snprintf(err, errlen, "%s events need map.%s",
			    needs[i].type, needs[i].field);
			return -1;
		}
	return 0;
}

/* ---- Mapping ----------------------------------------------------------- */

/* Fills err with "event N: map.KEY (PATH): " and the formatted rest. */
static void
field_err(char *err, size_t errlen, size_t index, const char *key,
    const struct jsonpath *p, const char *what)
{
	snprintf(err, errlen, "event %zu: map.%s (%s): %s", index, key,
	    jsonpath_text(p), what);
}

/* The event's id from map.id into buf, or the hash of item. */
static int
event_id(const struct webhook_map *m, json_t *item, size_t index, char *buf,
    size_t buflen, char *err, size_t errlen)
{
	unsigned char d[DIGEST_SHA256_LEN];
	char what[96];
	json_t *v;
	char *s;
	int rc;

	if (m->id == NULL) {
		if ((s = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS |
		    JSON_ENCODE_ANY)) == NULL) {
			snprintf(err, errlen, "event %zu: out of memory",
			    index);
			return -1;
		}
		rc = digest_sha256(s, strlen(s), d);
		free(s);
		if (rc == -1) {
			snprintf(err, errlen, "event %zu: SHA-256 failed",
			    index);
			return -1;
		}
		digest_hex(d, sizeof(d), buf);
		return 0;
	}
	v = jsonpath_get(m->id, item);
	if (v == NULL || json_is_null(v)) {
		field_err(err, errlen, index, "id", m->id, "missing");
		return -1;
	}
	if (json_is_integer(v)) {
		snprintf(buf, buflen, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(what, sizeof(what), "expected a string or an "
		    "integer, got %s", json_kind(v));
		field_err(err, errlen, index, "id", m->id, what);
		return -1;
	}
	if (json_string_length(v) == 0) {
		field_err(err, errlen, index, "id", m->id, "empty");
		return -1;
	}
	if (json_string_length(v) > EVENT_ID_MAX) {
		snprintf(what, sizeof(what), "longer than %d bytes",
		    EVENT_ID_MAX);
		field_err(err, errlen, index, "id", m->id, what);
		return -1;
	}
	snprintf(buf, buflen, "%s", json_string_value(v));
	return 0;
}

/* Copies the mapped attributes of item into data. */
static int
event_data(const struct webhook_map *m, json_t *item, size_t index,
    json_t *data, char *err, size_t errlen)
{
	json_t *custom = NULL;
	char what[96];

	for (size_t i = 0; i < m->nfields; i++) {
		const struct webhook_field *f = &m->fields[i];
		json_t *v = jsonpath_get(f->path, item);
		int rc;

		if (v == NULL)
			continue;       /* absent: not part of this event */
		if (f->custom == NULL &&
		    (json_is_object(v) || json_is_array(v))) {
			snprintf(what, sizeof(what), "expected a string, "
			    "number or boolean, got %s", json_kind(v));
			field_err(err, errlen, index, f->name, f->path, what);
			return -1;
		}
		if (f->custom == NULL && strcmp(f->name, "from") == 0) {
			char key[EVENT_LEAD_MAX + 1], why[128];

			/* An address, normalized like the lead's own. */
			if (!json_is_string(v) || baton_event_lead_key(
			    json_string_value(v), key, sizeof(key), why,
			    sizeof(why)) == -1) {
				snprintf(what, sizeof(what), "not an email "
				    "address: %.60s", json_is_string(v) ? why :
				    "not a string");
				field_err(err, errlen, index, f->name, f->path,
				    what);
				return -1;
			}
			v = json_string(key);
		} else if (json_is_object(v) || json_is_array(v))
			v = json_deep_copy(v);
		else
			v = json_incref(v);
		if (f->custom == NULL) {
			rc = json_object_set_new(data, f->name, v);
		} else {
			if (custom == NULL) {
				custom = json_object();
				if (json_object_set_new(data, "custom",
				    custom) == -1)
					custom = NULL;
			}
			rc = json_object_set_new(custom, f->custom, v);
		}
		if (rc == -1) {
			snprintf(err, errlen, "event %zu: out of memory",
			    index);
			return -1;
		}
	}
	return 0;
}

/*
 * Rewrites a validation message "data.FIELD: rest" as "map.FIELD (PATH):
 * rest" when FIELD is mapped, so the sender sees the path to fix.
 */
static void
validation_err(const struct webhook_map *m, size_t index, const char *why,
    char *err, size_t errlen)
{
	const struct webhook_field *f;
	const char *colon;
	char name[64];
	size_t n;

	if (strncmp(why, "data.", 5) == 0 &&
	    (colon = strstr(why, ": ")) != NULL &&
	    (n = (size_t)(colon - why - 5)) < sizeof(name)) {
		memcpy(name, why + 5, n);
		name[n] = '\0';
		if ((f = find_field(m, name)) != NULL) {
			field_err(err, errlen, index, f->name, f->path,
			    colon + 2);
			return;
		}
	}
	snprintf(err, errlen, "event %zu: %s", index, why);
}

struct baton_event *
webhook_map_event(const struct webhook_map *m, json_t *item, size_t index,
    int64_t received_ms, char *err, size_t errlen)
{
	char lead[EVENT_LEAD_MAX + 1], id[EVENT_ID_MAX + 1], why[256];
	char reason[96];
	struct baton_event *ev;
	const char *type;
	int64_t at_ms = received_ms;
	json_t *v, *data;

	if (!json_is_object(item)) {
		snprintf(err, errlen, "event %zu: expected an object, got %s",
		    index, item ? json_kind(item) : "nothing");
		return NULL;
	}

	type = m->event;
	if (type == NULL) {
		v = jsonpath_get(m->type, item);
		if (v == NULL || json_is_null(v)) {
			field_err(err, errlen, index, "type", m->type,
			    "missing");
			return NULL;
		}
		if (!json_is_string(v)) {
			snprintf(why, sizeof(why), "expected a string, got %s",
			    json_kind(v));
			field_err(err, errlen, index, "type", m->type, why);
			return NULL;
		}
		type = json_string_value(v);
		if (!baton_event_type_known(type)) {
			snprintf(why, sizeof(why), "unknown event type "
			    "\"%.64s\" (one of lead.upserted lead.activity "
			    "lead.status deal.stage lead.merged lead.forget)",
			    type);
			field_err(err, errlen, index, "type", m->type, why);
			return NULL;
		}
	}

	v = jsonpath_get(m->email, item);
	if (v == NULL || json_is_null(v)) {
		field_err(err, errlen, index, "email", m->email, "missing");
		return NULL;
	}
	if (!json_is_string(v)) {
		snprintf(why, sizeof(why), "expected a string, got %s",
		    json_kind(v));
		field_err(err, errlen, index, "email", m->email, why);
		return NULL;
	}
	if (baton_event_lead_key(json_string_value(v), lead, sizeof(lead),
	    reason, sizeof(reason)) == -1) {
		snprintf(why, sizeof(why), "not an email address: %s", reason);
		field_err(err, errlen, index, "email", m->email, why);
		return NULL;
	}

	if (event_id(m, item, index, id, sizeof(id), err, errlen) == -1)
		return NULL;

	if (m->at != NULL && (v = jsonpath_get(m->at, item)) != NULL &&
	    !json_is_null(v) &&
	    timestamp_from_json(v, &at_ms, why, sizeof(why)) == -1) {
		field_err(err, errlen, index, "at", m->at, why);
		return NULL;
	}

	if ((data = json_object()) == NULL) {
		snprintf(err, errlen, "event %zu: out of memory", index);
		return NULL;
	}
	if (event_data(m, item, index, data, err, errlen) == -1) {
		json_decref(data);
		return NULL;
	}
	if (json_object_set_new(data, "email", json_string(lead)) == -1) {
		json_decref(data);
		snprintf(err, errlen, "event %zu: out of memory", index);
		return NULL;
	}
	/* data passes to the event, even when that fails */
	if ((ev = baton_event_new(type, lead, id, at_ms, data)) == NULL) {
		snprintf(err, errlen, "event %zu: out of memory", index);
		return NULL;
	}
	if (baton_event_validate(ev, why, sizeof(why)) == -1) {
		validation_err(m, index, why, err, errlen);
		baton_event_free(ev);
		return NULL;
	}
	return ev;
}

int
webhook_map_json(const struct webhook_map *m, json_t *root,
    int64_t received_ms, webhook_emit_fn emit, void *arg, char *err,
    size_t errlen)
{
	struct baton_event *ev;
	json_t *items;
	size_t n;

	if (!m->has_items) {
		if (!json_is_object(root)) {
			snprintf(err, errlen, "expected a JSON object, got %s",
			    json_kind(root));
			return WEBHOOK_MAP_BAD;
		}
		if ((ev = webhook_map_event(m, root, 0, received_ms, err,
		    errlen)) == NULL)
			return WEBHOOK_MAP_BAD;
		return emit(arg, ev) == 0 ? WEBHOOK_MAP_OK : WEBHOOK_MAP_EMIT;
	}

	items = m->items != NULL ? jsonpath_get(m->items, root) : root;
	if (items == NULL) {
		snprintf(err, errlen, "items (%s): missing",
		    jsonpath_text(m->items));
		return WEBHOOK_MAP_BAD;
	}
	if (!json_is_array(items)) {
		snprintf(err, errlen, "items (%s): expected an array, got %s",
		    m->items != NULL ? jsonpath_text(m->items) : ".",
		    json_kind(items));
		return WEBHOOK_MAP_BAD;
	}
	n = json_array_size(items);
	for (size_t i = 0; i < n; i++) {
		ev = webhook_map_event(m, json_array_get(items, i), i,
		    received_ms, err, errlen);
		if (ev == NULL)
			return WEBHOOK_MAP_BAD;
		if (emit(arg, ev) != 0)
			return WEBHOOK_MAP_EMIT;
	}
	return WEBHOOK_MAP_OK;
}

int
webhook_map_body(const struct webhook_map *m, const unsigned char *body,
    size_t len, int64_t received_ms, webhook_emit_fn emit, void *arg,
    char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;
	int rc;

	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		snprintf(err, errlen, "invalid JSON at line %d, column %d: %s",
		    je.line, je.column, je.text);
		return WEBHOOK_MAP_BAD;
	}
	rc = webhook_map_json(m, root, received_ms, emit, arg, err, errlen);
	json_decref(root);
	return rc;
}

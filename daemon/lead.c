/*
 * lead.c - a lead's state as it lives in its Redis hash: stage names,
 * reading the hash strictly into a struct lead, writing it back as sorted
 * fields, the slot values the rules evaluate, and freeing effects.
 *
 * What an event does to the state is lead_apply.c.  Everything here is
 * pure: no clock, no Redis, no I/O.  Every value this file writes reads
 * back through lead_from_fields() into the same struct lead (numbers are
 * printed in their shortest exact form, JSON with sorted keys).
 */
#include <baton/error.h>
#include "lead.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stage names beyond the ladder of rules.h. */
static const char *const extra_stage_names[] = {
	"recycled", "disqualified",
};

/* The canonical attributes of lead.upserted (SPEC). */
static const char *const attr_names[] = {
	"email", "first_name", "last_name", "title", "company",
	"company_size", "industry", "country", "phone", NULL,
};

static const char *const sales_names[] = { "status", "reason", "owner",
    NULL };
static const char *const deal_names[] = { "stage", "amount", "currency",
    "outcome", NULL };

static bool
in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* ---- Stages ------------------------------------------------------------- */

/* "subscriber" … "customer", "recycled", "disqualified"; else NULL. */
const char *
lead_stage_name(int stage)
{
	if (stage >= 0 && stage < RULES_NSTAGES)
		return rules_stage_name(stage);
	if (stage >= RULES_NSTAGES && stage < LEAD_NSTAGES)
		return extra_stage_names[stage - RULES_NSTAGES];
	return NULL;
}

/* The stage named exactly name, or -1. */
int
lead_stage_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < LEAD_NSTAGES; i++)
		if (strcmp(name, lead_stage_name(i)) == 0)
			return i;
	return -1;
}

/* ---- Numbers ------------------------------------------------------------ */

/*
 * The shortest text that strtod() reads back as exactly x: whole numbers
 * below 1e15 without a fraction, others with 15 to 17 significant digits.
 */
static void
format_double(double x, char *buf, size_t size)
{
	if (x == 0) {
		snprintf(buf, size, "0");
		return;
	}
	if (x == floor(x) && fabs(x) < 1e15) {
		snprintf(buf, size, "%.0f", x);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			return;
	}
}

/* Whether s is -?digits[.digits][(e|E)[+-]digits], the form read back. */
static bool
number_syntax(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

/* A finite number of magnitude at most max, or -1. */
static int
parse_double(const char *s, double max, double *out)
{
	double v;

	if (!number_syntax(s))
		return -1;
	errno = 0;
	v = strtod(s, NULL);
	if (errno != 0 || !isfinite(v) || fabs(v) > max)
		return -1;
	*out = v == 0 ? 0 : v;
	return 0;
}

/* A whole number -?digits in [min, max], or -1. */
static int
parse_ll(const char *s, long long min, long long max, long long *out)
{
	const char *p = s;
	char *end;
	long long v;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* x as a JSON integer when whole and within 2^53, else a real. */
json_t *
lead_json_number(double x)
{
	if (x == 0)
		return json_integer(0);
	if (x == floor(x) && fabs(x) <= 9007199254740992.0)
		return json_integer((json_int_t)x);
	return json_real(x);
}

/* The text of a JSON scalar as the hash stores it (malloc'd). */
char *
lead_scalar_text(const json_t *v)
{
	char buf[64];

	switch (v != NULL ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		return strndup(json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)json_integer_value(v));
		return strdup(buf);
	case JSON_REAL:
		format_double(json_real_value(v), buf, sizeof(buf));
		return strdup(buf);
	case JSON_TRUE:
		return strdup("true");
	case JSON_FALSE:
		return strdup("false");
	default:
		return NULL;
	}
}

/* ---- Attributes --------------------------------------------------------- */

bool
lead_attr_field(const char *name)
{
	if (in_list(name, attr_names))
		return true;
	return strncmp(name, "custom.", 7) == 0 && name[7] != '\0';
}

/* company_size is numeric in the canonical schema; the rest are text. */
json_t *
lead_attr_value(const char *field, const char *text)
{
	double x;

	if (strcmp(field, "company_size") == 0 &&
	    rules_parse_number(text, strlen(text), &x) == 0 &&
	    isfinite(x)) {
		json_t *n = lead_json_number(x);
		char *back;
		double y;
		bool same;

		if (n == NULL)
			return NULL;
		/* Only a number whose stored text reads back the same. */
		back = lead_scalar_text(n);
		same = back != NULL && rules_parse_number(back, strlen(back),
		    &y) == 0 && y == x;
		free(back);
		if (same)
			return n;
		json_decref(n);
	}
	return json_string(text);
}

/* ---- Life of a struct lead ---------------------------------------------- */

/* A lead not seen before (stage -1) with empty objects; 0 or -1. */
int
lead_init(struct lead *l, const char *key)
{
	memset(l, 0, sizeof(*l));
	l->stage = -1;
	if (key == NULL || strlen(key) > EVENT_LEAD_MAX)
		return -1;
	memcpy(l->key, key, strlen(key) + 1);
	l->attrs = json_object();
	l->ids = json_object();
	l->sales = json_object();
	l->deal = json_object();
	l->caps = json_object();
	l->contribs = json_array();
	if (l->attrs == NULL || l->ids == NULL || l->sales == NULL ||
	    l->deal == NULL || l->caps == NULL || l->contribs == NULL) {
		lead_clear(l);
		return -1;
	}
	return 0;
}

/* Frees what l owns and zeroes it; a cleared lead may be cleared again. */
void
lead_clear(struct lead *l)
{
	if (l == NULL)
		return;
	json_decref(l->attrs);
	json_decref(l->ids);
	json_decref(l->sales);
	json_decref(l->deal);
	json_decref(l->caps);
	json_decref(l->contribs);
	free(l->stage_reason);
	memset(l, 0, sizeof(*l));
	l->stage = -1;
}

/* ---- Reading the hash --------------------------------------------------- */

/* caps: {"<index>": [[at, points], ...]} with whole at and numeric points. */
static int
check_caps(const json_t *caps, char *why, size_t size)
{
	const char *k;
	json_t *v;

	if (!json_is_object(caps)) {
		snprintf(why, size, "expected a JSON object");
		return -1;
	}
	json_object_foreach((json_t *)caps, k, v) {
		size_t i;
		json_t *aw;

		if (k[0] == '\0' || strspn(k, "0123456789") != strlen(k)) {
			snprintf(why, size, "key \"%.40s\" is not a rule "
			    "number", k);
			return -1;
		}
		if (!json_is_array(v)) {
			snprintf(why, size, "\"%.40s\": expected an array", k);
			return -1;
		}
		json_array_foreach(v, i, aw) {
			if (!json_is_array(aw) || json_array_size(aw) != 2 ||
			    !json_is_integer(json_array_get(aw, 0)) ||
			    !json_is_number(json_array_get(aw, 1))) {
				snprintf(why, size, "\"%.40s\"[%zu]: expected "
				    "[at_ms, points]", k, i);
				return -1;
			}
		}
	}
	return 0;
}

/* contribs: [{"kind": "fit"|"engagement", "rule", "file", "line",
 * "points", ...}, ...]. */
static int
check_contribs(const json_t *a, char *why, size_t size)
{
	size_t i;
	json_t *c;

	if (!json_is_array(a)) {
		snprintf(why, size, "expected a JSON array");
		return -1;
	}
	json_array_foreach(a, i, c) {
		const char *kind = json_string_value(json_object_get(c,
		    "kind"));

		if (!json_is_object(c) || kind == NULL ||
		    (strcmp(kind, "fit") != 0 &&
		    strcmp(kind, "engagement") != 0) ||
		    !json_is_string(json_object_get(c, "rule")) ||
		    !json_is_string(json_object_get(c, "file")) ||
		    !json_is_integer(json_object_get(c, "line")) ||
		    !json_is_number(json_object_get(c, "points"))) {
			snprintf(why, size, "[%zu]: expected {\"kind\": "
			    "\"fit\"|\"engagement\", \"rule\", \"file\", "
			    "\"line\", \"points\"}", i);
			return -1;
		}
	}
	return 0;
}

/* Sets obj[key] to the string value; -1 when not UTF-8 (or memory). */
static int
set_string(json_t *obj, const char *key, const char *value)
{
	json_t *s = json_string(value);

	if (s == NULL)
		return -1;
	return json_object_set_new(obj, key, s);
}

/* One field of the hash into l; 0, or -1 with a message in why. */
static int
read_field(struct lead *l, const char *f, const char *v, char *why,
    size_t size)
{
	long long n;
	double d;
	int64_t *t = NULL;

	if (strcmp(f, "seq") == 0 || strcmp(f, "ver") == 0) {
		if (parse_ll(v, 0, INT64_MAX, &n) == -1) {
			snprintf(why, size, "not a whole number >= 0");
			return -1;
		}
		*(f[0] == 's' ? &l->seq : &l->ver) = n;
		return 0;
	}
	if (strcmp(f, "mql_episode") == 0) {
		if (parse_ll(v, 0, (long long)LEAD_POINTS_MAX, &n) == -1) {
			snprintf(why, size, "not a whole number from 0 to "
			    "%.0f", LEAD_POINTS_MAX);
			return -1;
		}
		l->mql_episode = n;
		return 0;
	}
	if (strcmp(f, "fit") == 0 || strcmp(f, "engagement") == 0) {
		if (parse_double(v, LEAD_POINTS_MAX, &d) == -1) {
			snprintf(why, size, "not a number from -%.0f to %.0f",
			    LEAD_POINTS_MAX, LEAD_POINTS_MAX);
			return -1;
		}
		*(f[0] == 'f' ? &l->fit : &l->engagement) = d;
		return 0;
	}
	if (strcmp(f, "engagement_at") == 0)
		t = &l->engagement_at;
	else if (strcmp(f, "stage_at") == 0)
		t = &l->stage_at;
	else if (strcmp(f, "created_at") == 0)
		t = &l->created_at;
	else if (strcmp(f, "upserted_at") == 0)
		t = &l->upserted_at;
	else if (strcmp(f, "handoff_at") == 0)
		t = &l->handoff_at;
	else if (strcmp(f, "accepted_at") == 0)
		t = &l->accepted_at;
	if (t != NULL) {
		if (parse_ll(v, 0, LEAD_TIME_END - 1, &n) == -1) {
			snprintf(why, size, "not a time in ms between 1970 "
			    "and 9999");
			return -1;
		}
		*t = n;
		return 0;
	}
	if (strcmp(f, "stage") == 0) {
		if ((l->stage = lead_stage_parse(v)) < 0) {
			snprintf(why, size, "\"%.40s\" is no stage", v);
			return -1;
		}
		return 0;
	}
	if (strcmp(f, "stage_reason") == 0) {
		char *s;

		if ((s = strdup(v)) == NULL) {
			snprintf(why, size, "out of memory");
			return -1;
		}
		free(l->stage_reason);
		l->stage_reason = s;
		return 0;
	}
	if (strcmp(f, "caps") == 0 || strcmp(f, "contribs") == 0) {
		json_error_t je;
		json_t *j = json_loads(v, 0, &je);
		bool caps = f[1] == 'a';

		if (j == NULL) {
			snprintf(why, size, "not JSON: %.100s (column %d)",
			    je.text, je.column);
			return -1;
		}
		if ((caps ? check_caps(j, why, size) :
		    check_contribs(j, why, size)) == -1) {
			json_decref(j);
			return -1;
		}
		if (caps) {
			json_decref(l->caps);
			l->caps = j;
		} else {
			json_decref(l->contribs);
			l->contribs = j;
		}
		return 0;
	}
	if (lead_attr_field(f)) {
		json_t *a = lead_attr_value(f, v);

		if (a == NULL || json_object_set_new(l->attrs, f, a) == -1) {
			snprintf(why, size, "not valid UTF-8");
			return -1;
		}
		return 0;
	}
	if (strncmp(f, "ids.", 4) == 0 && f[4] != '\0') {
		if (set_string(l->ids, f + 4, v) == -1) {
			snprintf(why, size, "not valid UTF-8");
			return -1;
		}
		return 0;
	}
	if (strncmp(f, "sales.", 6) == 0 && in_list(f + 6, sales_names)) {
		if (set_string(l->sales, f + 6, v) == -1) {
			snprintf(why, size, "not valid UTF-8");
			return -1;
		}
		return 0;
	}
	if (strncmp(f, "deal.", 5) == 0 && in_list(f + 5, deal_names)) {
		if (strcmp(f + 5, "amount") == 0) {
			json_t *x;

			if (parse_double(v, 1e300, &d) == -1) {
				snprintf(why, size, "not a number");
				return -1;
			}
			if ((x = lead_json_number(d)) == NULL ||
			    json_object_set_new(l->deal, "amount", x) == -1) {
				snprintf(why, size, "out of memory");
				return -1;
			}
			return 0;
		}
		if (set_string(l->deal, f + 5, v) == -1) {
			snprintf(why, size, "not valid UTF-8");
			return -1;
		}
		return 0;
	}
	return 0;       /* unknown (score, seq_in, ...): not ours */
}

/* Fills l from HGETALL's pairs; -1 with the offending field named. */
int
lead_from_fields(struct lead *l, const char *key,
    const char *const *fields, const char *const *values, size_t n,
    char *err, size_t errlen)
{
	char why[160];

	if (lead_init(l, key) == -1) {
		if (key == NULL || strlen(key) > EVENT_LEAD_MAX)
			error_set(err, errlen, "lead key: missing or longer "
			    "than %d bytes", EVENT_LEAD_MAX);
		else
			error_set(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (fields[i] == NULL || values[i] == NULL)
			continue;
		why[0] = '\0';
		if (read_field(l, fields[i], values[i], why,
		    sizeof(why)) == -1) {
			error_set(err, errlen, "lead %s: field %.64s: %s",
			    l->key, fields[i], why);
			lead_clear(l);
			return -1;
		}
	}
	return 0;
}

/* ---- Writing the hash --------------------------------------------------- */

struct fbuild {
	struct lead_fields *f;
	size_t cap;
	int failed;
};

/* Appends field = value, taking value (malloc'd; NULL means failure). */
static void
fb_take(struct fbuild *b, const char *prefix, const char *name, char *value)
{
	char *field = NULL;

	if (value == NULL || b->failed ||
	    asprintf(&field, "%s%s", prefix, name) == -1) {
		free(value);
		b->failed = 1;
		return;
	}
	if (b->f->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		char **nf = realloc(b->f->fields, cap * sizeof(*nf));
		char **nv;

		if (nf != NULL)
			b->f->fields = nf;
		nv = nf == NULL ? NULL :
		    realloc(b->f->values, cap * sizeof(*nv));
		if (nv == NULL) {
			free(field);
			free(value);
			b->failed = 1;
			return;
		}
		b->f->values = nv;
		b->cap = cap;
	}
	b->f->fields[b->f->n] = field;
	b->f->values[b->f->n] = value;
	b->f->n++;
}

static void
fb_num(struct fbuild *b, const char *name, double x)
{
	char buf[64];

	format_double(x, buf, sizeof(buf));
	fb_take(b, "", name, strdup(buf));
}

/* A time or count, left out when 0 (absent reads back as 0). */
static void
fb_int(struct fbuild *b, const char *name, long long x)
{
	char buf[32];

	if (x == 0)
		return;
	snprintf(buf, sizeof(buf), "%lld", x);
	fb_take(b, "", name, strdup(buf));
}

static void
fb_object(struct fbuild *b, const char *prefix, const json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v) {
		char *text = lead_scalar_text(v);

		if (text != NULL)
			fb_take(b, prefix, k, text);
	}
}

static int
cmp_index(const void *a, const void *b, void *arg)
{
	const struct lead_fields *f = arg;

	return strcmp(f->fields[*(const size_t *)a],
	    f->fields[*(const size_t *)b]);
}

/* Every hash field of l, sorted by name. */
int
lead_to_fields(const struct lead *l, struct lead_fields *out)
{
	return lead_fields_build(l, out, true);
}

/* The same, caps and contribs left out unless with_json. */
int
lead_fields_build(const struct lead *l, struct lead_fields *out,
    bool with_json)
{
	struct fbuild b = { out, 0, 0 };
	size_t *order = NULL;
	char **nf = NULL, **nv = NULL;

	memset(out, 0, sizeof(*out));
	if (l->attrs != NULL)
		fb_object(&b, "", l->attrs);
	if (l->ids != NULL)
		fb_object(&b, "ids.", l->ids);
	if (l->sales != NULL)
		fb_object(&b, "sales.", l->sales);
	if (l->deal != NULL)
		fb_object(&b, "deal.", l->deal);
	if (l->stage >= 0) {
		fb_num(&b, "fit", l->fit);
		fb_num(&b, "engagement", l->engagement);
		fb_num(&b, "score", l->fit + l->engagement);
		fb_take(&b, "", "stage", strdup(lead_stage_name(l->stage) ?
		    lead_stage_name(l->stage) : "subscriber"));
	} else {
		if (l->fit != 0)
			fb_num(&b, "fit", l->fit);
		if (l->engagement != 0)
			fb_num(&b, "engagement", l->engagement);
	}
	fb_int(&b, "engagement_at", l->engagement_at);
	fb_int(&b, "stage_at", l->stage_at);
	if (l->stage_reason != NULL)
		fb_take(&b, "", "stage_reason", strdup(l->stage_reason));
	fb_int(&b, "mql_episode", l->mql_episode);
	fb_int(&b, "created_at", l->created_at);
	fb_int(&b, "upserted_at", l->upserted_at);
	fb_int(&b, "handoff_at", l->handoff_at);
	fb_int(&b, "accepted_at", l->accepted_at);
	if (with_json && l->caps != NULL && json_object_size(l->caps) > 0)
		fb_take(&b, "", "caps", json_dumps(l->caps,
		    JSON_SORT_KEYS | JSON_COMPACT));
	if (with_json && l->contribs != NULL &&
	    json_array_size(l->contribs) > 0)
		fb_take(&b, "", "contribs", json_dumps(l->contribs,
		    JSON_SORT_KEYS | JSON_COMPACT));
	if (b.failed)
		goto fail;

	/* Sort (field names are unique: each comes from one place). */
	if (out->n > 0) {
		if ((order = malloc(out->n * sizeof(*order))) == NULL ||
		    (nf = malloc(out->n * sizeof(*nf))) == NULL ||
		    (nv = malloc(out->n * sizeof(*nv))) == NULL)
			goto fail;
		for (size_t i = 0; i < out->n; i++)
			order[i] = i;
		qsort_r(order, out->n, sizeof(*order), cmp_index, out);
		for (size_t i = 0; i < out->n; i++) {
			nf[i] = out->fields[order[i]];
			nv[i] = out->values[order[i]];
		}
		free(out->fields);
		free(out->values);
		out->fields = nf;
		out->values = nv;
		free(order);
	}
	return 0;
fail:
	free(order);
	free(nf);
	free(nv);
	lead_fields_clear(out);
	return -1;
}

void
lead_fields_clear(struct lead_fields *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->fields[i]);
		free(f->values[i]);
	}
	free(f->fields);
	free(f->values);
	memset(f, 0, sizeof(*f));
}

/* ---- Slot values -------------------------------------------------------- */

static struct rules_value
json_value(const json_t *v)
{
	switch (v != NULL ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		return rules_string(json_string_value(v),
		    json_string_length(v));
	case JSON_INTEGER:
		return rules_number((double)json_integer_value(v));
	case JSON_REAL:
		return rules_number(json_real_value(v));
	case JSON_TRUE:
		return rules_string("true", 4);
	case JSON_FALSE:
		return rules_string("false", 5);
	default: {
		struct rules_value m = { RULES_MISSING, 0, NULL, 0 };
		return m;
	}
	}
}

/* An activity attribute: data[name], else the dotted path (custom.x). */
static const json_t *
activity_get(const json_t *data, const char *name)
{
	const json_t *v = json_object_get(data, name);
	const char *dot;
	char part[128];

	while (v == NULL && (dot = strchr(name, '.')) != NULL &&
	    (size_t)(dot - name) < sizeof(part)) {
		memcpy(part, name, dot - name);
		part[dot - name] = '\0';
		if ((data = json_object_get(data, part)) == NULL ||
		    !json_is_object(data))
			return NULL;
		name = dot + 1;
		v = json_object_get(data, name);
	}
	return v;
}

/*
 * Every slot's value: the lead's fields (engagement as stored: the caller
 * decays it to the evaluation time first; score = fit + engagement) and
 * the activity's attributes.  Strings are borrowed from l and activity.
 */
void
lead_slot_values(const struct rules *r, const struct lead *l,
    const json_t *activity, struct rules_value *vals)
{
	for (size_t i = 0; i < r->nslots; i++) {
		const struct rules_slot *s = &r->slots[i];
		struct rules_value *v = &vals[i];
		const char *name;

		memset(v, 0, sizeof(*v));
		if (s->ns == RULES_NS_ACTIVITY) {
			if (activity != NULL && json_is_object(activity))
				*v = json_value(activity_get(activity,
				    s->name));
			continue;
		}
		switch (i) {
		case RULES_SLOT_FIT:
			*v = rules_number(l->fit);
			continue;
		case RULES_SLOT_ENGAGEMENT:
			*v = rules_number(l->engagement);
			continue;
		case RULES_SLOT_SCORE:
			*v = rules_number(l->fit + l->engagement);
			continue;
		case RULES_SLOT_STAGE:
			if ((name = lead_stage_name(l->stage)) != NULL)
				*v = rules_string(name, strlen(name));
			continue;
		}
		name = s->name;
		if (strncmp(name, "sales.", 6) == 0)
			*v = json_value(json_object_get(l->sales, name + 6));
		else if (strncmp(name, "deal.", 5) == 0)
			*v = json_value(json_object_get(l->deal, name + 5));
		else {
			*v = json_value(json_object_get(l->attrs, name));
			if (v->kind == RULES_MISSING &&
			    strcmp(name, "email") == 0 && l->key[0] != '\0')
				*v = rules_string(l->key, strlen(l->key));
		}
	}
}

/* ---- Effects ------------------------------------------------------------ */

static void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Frees everything fx holds and zeroes it. */
void
lead_effects_clear(struct lead_effects *fx)
{
	if (fx == NULL)
		return;
	free_strv(fx->set_fields, fx->nset);
	free_strv(fx->set_values, fx->nset);
	free_strv(fx->del_fields, fx->ndel);
	for (size_t i = 0; i < fx->nentries; i++) {
		free(fx->entries[i].type);
		free(fx->entries[i].id);
		json_decref(fx->entries[i].data);
		free(fx->entries[i].data_text);
		free(fx->entries[i].lead);
	}
	free(fx->entries);
	free_strv(fx->history, fx->nhistory);
	free_strv(fx->sla_add, fx->nsla_add);
	free(fx->sla_add_at);
	free_strv(fx->sla_del, fx->nsla_del);
	free(fx->alias_from);
	memset(fx, 0, sizeof(*fx));
}

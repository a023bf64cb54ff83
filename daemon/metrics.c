/*
 * metrics.c - the registry behind metrics.h and its rendering in the
 * Prometheus text exposition format, version 0.0.4.
 *
 * Families live in one list kept sorted by name, so rendering walks it in
 * order; each family keeps its series in creation order.  A family without
 * labels gets its one series at registration, so it renders (as 0) before
 * its first update; a labelled family renders nothing until its first
 * series exists.  Numbers are written the way Prometheus parses them:
 * integers without an exponent, other values in the shortest form that
 * reads back to the same double, and "+Inf", "-Inf", "NaN".
 *
 * Misuse (a name registered twice with a different kind, labels or
 * buckets, a bad name, an update of the wrong kind) is a programming
 * error: it is logged, and the call returns NULL or does nothing.
 * Everything runs on the one loop, so nothing here locks.
 */
#include "metrics.h"

#include <baton/log.h>

#include <event2/buffer.h>

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_kind {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
	METRIC_GAUGE_FN,
};

struct metric_series {
	struct metric_series *next;     /* creation order */
	struct metric *family;          /* not owned */
	char **values;                  /* family->nlabels owned copies */
	double value;                   /* counter, gauge */
	double sum;                     /* histogram: sum of observations */
	uint64_t count;                 /* histogram: number of observations */
	uint64_t *buckets;              /* histogram: nbounds + 1 counts, not
	                                 * cumulative; the last is +Inf */
};

struct metric {
	struct metric *next;            /* registry, sorted by name */
	char *name;
	char *help;                     /* NULL: no HELP line */
	enum metric_kind kind;
	char **labels;                  /* nlabels owned label names */
	size_t nlabels;
	double *bounds;                 /* histogram upper bounds, ascending,
	                                 * finite; +Inf is implicit */
	size_t nbounds;
	double (*fn)(void *);           /* METRIC_GAUGE_FN */
	void *arg;
	struct metric_series *series;   /* creation order */
	struct metric_series *last;     /* tail of series */
	int warned;                     /* misuse already logged once */
};

static struct metric *registry;         /* sorted by name */

static const double default_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

static const char *const kind_types[] = {
	[METRIC_COUNTER] = "counter", [METRIC_GAUGE] = "gauge",
	[METRIC_HISTOGRAM] = "histogram", [METRIC_GAUGE_FN] = "gauge",
};

static const char *const kind_words[] = {
	[METRIC_COUNTER] = "a counter", [METRIC_GAUGE] = "a gauge",
	[METRIC_HISTOGRAM] = "a histogram",
	[METRIC_GAUGE_FN] = "a computed gauge",
};

/* ---- names and labels ---------------------------------------------- */

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static int
valid_metric_name(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (const char *p = s; *p != '\0'; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || c == ':' || (p != s && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

/* Label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting "__" (reserved). */
static int
valid_label_name(const char *s)
{
	if (*s == '\0' || strncmp(s, "__", 2) == 0)
		return 0;
	for (const char *p = s; *p != '\0'; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (p != s && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

static void
strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Splits "a, b,c" into owned, trimmed names.  NULL or "" is no labels.
 * Returns 0, or -1 after logging a bad or repeated name (or no memory).
 */
static int
labels_parse(const char *metric, const char *spec, enum metric_kind kind,
    char ***out, size_t *nout)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = spec;

	*out = NULL;
	*nout = 0;
	if (spec == NULL || *spec == '\0')
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char **nv;
		char *name;

		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL ||
		    (name = strndup(p, len)) == NULL) {
			if (nv != NULL)
				v = nv;
			log_warn("metrics: %s", metric);
			goto fail;
		}
		v = nv;
		v[n++] = name;
		if (!valid_label_name(name)) {
			log_errx("metrics: %s: invalid label name \"%s\" in "
			    "\"%s\"", metric, name, spec);
			goto fail;
		}
		if (kind == METRIC_HISTOGRAM && strcmp(name, "le") == 0) {
			log_errx("metrics: %s: label \"le\" is reserved for "
			    "histogram buckets", metric);
			goto fail;
		}
		for (size_t i = 0; i + 1 < n; i++)
			if (strcmp(v[i], name) == 0) {
				log_errx("metrics: %s: label \"%s\" given "
				    "twice", metric, name);
				goto fail;
			}
		if (end == NULL)
			break;
		p = end + 1;
	}
	*out = v;
	*nout = n;
	return 0;
fail:
	strv_free(v, n);
	return -1;
}

static int
labels_equal(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

/*
 * Checks histogram bounds: finite, strictly ascending; a last +Inf is
 * dropped since the +Inf bucket is always there.  Returns how many bounds
 * to keep, or -1 after logging.
 */
static long
bounds_check(const char *metric, const double *b, size_t n)
{
	if (n > 0 && isinf(b[n - 1]) && b[n - 1] > 0)
		n--;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(b[i])) {
			log_errx("metrics: %s: bucket bound %zu is not a "
			    "finite number", metric, i + 1);
			return -1;
		}
		if (i > 0 && !(b[i] > b[i - 1])) {
			log_errx("metrics: %s: bucket bounds must ascend "
			    "(bound %zu: %g after %g)", metric, i + 1, b[i],
			    b[i - 1]);
			return -1;
		}
	}
	return (long)n;
}

/* ---- families and series ------------------------------------------- */

static void
series_free(struct metric_series *s)
{
	if (s == NULL)
		return;
	if (s->family != NULL)
		strv_free(s->values, s->family->nlabels);
	free(s->buckets);
	free(s);
}

static void
family_free(struct metric *m)
{
	struct metric_series *s, *next;

	if (m == NULL)
		return;
	for (s = m->series; s != NULL; s = next) {
		next = s->next;
		series_free(s);
	}
	free(m->name);
	free(m->help);
	strv_free(m->labels, m->nlabels);
	free(m->bounds);
	free(m);
}

/*
 * A new series of m with copies of the values (NULL reads as ""),
 * appended to m's list.  Returns NULL when out of memory.
 */
static struct metric_series *
series_new(struct metric *m, const char **values)
{
	struct metric_series *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto fail;
	s->family = m;
	if (m->nlabels > 0 &&
	    (s->values = calloc(m->nlabels, sizeof(*s->values))) == NULL)
		goto fail;
	for (size_t i = 0; i < m->nlabels; i++)
		if ((s->values[i] = strdup(values[i] ? values[i] : ""))
		    == NULL)
			goto fail;
	if (m->kind == METRIC_HISTOGRAM &&
	    (s->buckets = calloc(m->nbounds + 1, sizeof(*s->buckets)))
	    == NULL)
		goto fail;
	if (m->last != NULL)
		m->last->next = s;
	else
		m->series = s;
	m->last = s;
	return s;
fail:
	log_warn("metrics: %s: new series", m->name);
	series_free(s);
	return NULL;
}

static struct metric *
family_find(const char *name)
{
	for (struct metric *m = registry; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static void
family_insert(struct metric *m)
{
	struct metric **pp = &registry;

	while (*pp != NULL && strcmp((*pp)->name, m->name) < 0)
		pp = &(*pp)->next;
	m->next = *pp;
	*pp = m;
}

/*
 * Registers (or finds) a family.  A second registration must match the
 * first in kind, labels and buckets; help text is kept from the first.
 * Returns the family, or NULL after logging.
 */
static struct metric *
family_register(enum metric_kind kind, const char *name, const char *help,
    const char *labelspec, const double *bounds, size_t nbounds)
{
	struct metric *m = NULL, *old;
	char **labels = NULL;
	size_t nlabels = 0;
	long nb = 0;

	if (!valid_metric_name(name)) {
		log_errx("metrics: invalid metric name \"%s\"",
		    name ? name : "(null)");
		return NULL;
	}
	if (labels_parse(name, labelspec, kind, &labels, &nlabels) == -1)
		return NULL;
	if (kind == METRIC_HISTOGRAM) {
		if (bounds == NULL) {
			bounds = default_bounds;
			nbounds = sizeof(default_bounds) /
			    sizeof(default_bounds[0]);
		}
		if ((nb = bounds_check(name, bounds, nbounds)) == -1)
			goto fail;
	}

	if ((old = family_find(name)) != NULL) {
		if (old->kind != kind) {
			log_errx("metrics: %s registered as %s, it is %s",
			    name, kind_words[kind], kind_words[old->kind]);
			goto fail;
		}
		if (!labels_equal(old->labels, old->nlabels, labels, nlabels)) {
			log_errx("metrics: %s registered again with labels "
			    "\"%s\", they differ from the first",
			    name, labelspec ? labelspec : "");
			goto fail;
		}
		if (kind == METRIC_HISTOGRAM && ((size_t)nb != old->nbounds ||
		    (nb > 0 && memcmp(bounds, old->bounds,
		    nb * sizeof(*bounds)) != 0))) {
			log_errx("metrics: %s registered again with other "
			    "buckets", name);
			goto fail;
		}
		strv_free(labels, nlabels);
		return old;
	}

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->name = strdup(name)) == NULL ||
	    (help != NULL && (m->help = strdup(help)) == NULL))
		goto nomem;
	m->kind = kind;
	m->labels = labels;
	m->nlabels = nlabels;
	labels = NULL;
	if (nb > 0) {
		if ((m->bounds = malloc(nb * sizeof(*m->bounds))) == NULL)
			goto nomem;
		memcpy(m->bounds, bounds, nb * sizeof(*m->bounds));
	}
	m->nbounds = (size_t)nb;
	/* A family without labels has exactly one series, from the start. */
	if (kind != METRIC_GAUGE_FN && nlabels == 0 &&
	    series_new(m, NULL) == NULL)
		goto fail;
	family_insert(m);
	return m;
nomem:
	log_warn("metrics: %s", name);
fail:
	strv_free(labels, nlabels);
	family_free(m);
	return NULL;
}

/* Logs a wrong-kind update once per family. */
static void
misuse(struct metric *m, const char *what)
{
	if (m->warned)
		return;
	m->warned = 1;
	log_errx("metrics: %s: %s on %s is ignored", m->name, what,
	    kind_words[m->kind]);
}

/* ---- the public interface ------------------------------------------ */

/*
 * Registers a counter (or returns the one already registered under name
 * with the same labels).  labels: comma-separated names, or NULL.
 * Returns NULL after logging when the name or labels are invalid or clash
 * with an earlier registration.  The registry owns the family.
 */
struct metric *
metric_counter(const char *name, const char *help, const char *labels)
{
	return family_register(METRIC_COUNTER, name, help, labels, NULL, 0);
}

/* As metric_counter, for a gauge. */
struct metric *
metric_gauge(const char *name, const char *help, const char *labels)
{
	return family_register(METRIC_GAUGE, name, help, labels, NULL, 0);
}

/*
 * As metric_counter, for a histogram with these finite, ascending upper
 * bounds (copied; a trailing +Inf is allowed and implied anyway), or the
 * default latency buckets when bounds is NULL.  Registering it again
 * needs the same buckets.  The label "le" is reserved.
 */
struct metric *
metric_histogram(const char *name, const char *help, const char *labels,
    const double *bounds, size_t nbounds)
{
	return family_register(METRIC_HISTOGRAM, name, help, labels, bounds,
	    nbounds);
}

/*
 * Registers a gauge without labels whose value is fn(arg) at each render.
 * Registering the name again as a computed gauge replaces fn and arg;
 * arg is not owned.  A NULL fn or a clash is logged and ignored.
 */
void
metric_gauge_fn(const char *name, const char *help, double (*fn)(void *arg),
    void *arg)
{
	struct metric *m;

	if (fn == NULL) {
		log_errx("metrics: %s: computed gauge without a function",
		    name ? name : "(null)");
		return;
	}
	if ((m = family_register(METRIC_GAUGE_FN, name, help, NULL, NULL, 0))
	    == NULL)
		return;
	m->fn = fn;
	m->arg = arg;
}

/*
 * The series of m for these label values (exactly m's number of labels,
 * each a const char *; NULL reads as ""), created on first use; the
 * registry owns it until metrics_free_all.  Returns NULL when m is NULL
 * or a computed gauge, or when out of memory.
 */
struct metric_series *
metric_series(struct metric *m, ...)
{
	struct metric_series *s;
	const char *stackv[8], **values = stackv;
	va_list ap;

	if (m == NULL)
		return NULL;
	if (m->kind == METRIC_GAUGE_FN) {
		misuse(m, "metric_series");
		return NULL;
	}
	if (m->nlabels > sizeof(stackv) / sizeof(stackv[0]) &&
	    (values = calloc(m->nlabels, sizeof(*values))) == NULL) {
		log_warn("metrics: %s: series", m->name);
		return NULL;
	}
	va_start(ap, m);
	for (size_t i = 0; i < m->nlabels; i++) {
		values[i] = va_arg(ap, const char *);
		if (values[i] == NULL)
			values[i] = "";
	}
	va_end(ap);

	for (s = m->series; s != NULL; s = s->next) {
		size_t i;

		for (i = 0; i < m->nlabels; i++)
			if (strcmp(s->values[i], values[i]) != 0)
				break;
		if (i == m->nlabels)
			break;
	}
	if (s == NULL)
		s = series_new(m, values);
	if (values != stackv)
		free(values);
	return s;
}

/* Adds 1 to a counter or gauge; NULL does nothing. */
void
metric_inc(struct metric_series *s)
{
	metric_add(s, 1);
}

/*
 * Adds v to a counter or gauge; NULL does nothing.  A counter only goes
 * up: a negative or NaN v is logged (once) and ignored.
 */
void
metric_add(struct metric_series *s, double v)
{
	if (s == NULL)
		return;
	switch (s->family->kind) {
	case METRIC_COUNTER:
		if (!(v >= 0)) {
			misuse(s->family, "a negative or NaN add");
			return;
		}
		/* FALLTHROUGH */
	case METRIC_GAUGE:
		s->value += v;
		break;
	default:
		misuse(s->family, "metric_add");
		break;
	}
}

/*
 * Sets a gauge, or a counter that mirrors a total kept elsewhere; NULL
 * does nothing.
 */
void
metric_set(struct metric_series *s, double v)
{
	if (s == NULL)
		return;
	if (s->family->kind == METRIC_COUNTER ||
	    s->family->kind == METRIC_GAUGE)
		s->value = v;
	else
		misuse(s->family, "metric_set");
}

/*
 * Records one observation in a histogram: the first bucket whose bound
 * is >= v (else +Inf), the sum and the count.  NULL does nothing.
 */
void
metric_observe(struct metric_series *s, double v)
{
	struct metric *m;
	size_t i;

	if (s == NULL)
		return;
	m = s->family;
	if (m->kind != METRIC_HISTOGRAM) {
		misuse(m, "metric_observe");
		return;
	}
	for (i = 0; i < m->nbounds; i++)
		if (v <= m->bounds[i])
			break;
	s->buckets[i]++;
	s->sum += v;
	s->count++;
}

/*
 * The value of a counter or gauge, or the count of a histogram; 0 for
 * NULL.
 */
double
metric_value(const struct metric_series *s)
{
	if (s == NULL)
		return 0;
	if (s->family->kind == METRIC_HISTOGRAM)
		return (double)s->count;
	return s->value;
}

/* ---- rendering ----------------------------------------------------- */

/*
 * Writes v into buf as Prometheus reads it: "+Inf", "-Inf", "NaN";
 * integers up to 2^53 in plain digits; anything else in the shortest
 * %g form (at most 17 digits) that reads back to the same double.
 */
static void
fmt_number(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "NaN");
	else if (isinf(v))
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
	else if (v == 0)
		snprintf(buf, len, "0");        /* also -0 */
	else if (v == floor(v) && fabs(v) <= 9007199254740992.0)
		snprintf(buf, len, "%.0f", v);
	else
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(buf, len, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
}

static void
add_number(struct evbuffer *out, double v)
{
	char buf[40];

	fmt_number(buf, sizeof(buf), v);
	evbuffer_add(out, buf, strlen(buf));
}

/* Appends s with backslash and newline escaped, and '"' too if quote. */
static void
add_escaped(struct evbuffer *out, const char *s, int quote)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *esc = NULL;

		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && quote)
			esc = "\\\"";
		if (esc == NULL)
			continue;
		evbuffer_add(out, run, s - run);
		evbuffer_add(out, esc, 2);
		run = s + 1;
	}
	evbuffer_add(out, run, s - run);
}

/*
 * Writes "name[suffix]{l1="v1",...[,le="bound"]} value\n"; the braces are
 * left out when there is no label at all.
 */
static void
add_sample(struct evbuffer *out, const struct metric *m, const char *suffix,
    const struct metric_series *s, const char *le, double v)
{
	size_t n = s != NULL ? m->nlabels : 0;

	evbuffer_add_printf(out, "%s%s", m->name, suffix);
	if (n > 0 || le != NULL) {
		evbuffer_add(out, "{", 1);
		for (size_t i = 0; i < n; i++) {
			evbuffer_add_printf(out, "%s%s=\"", i ? "," : "",
			    m->labels[i]);
			add_escaped(out, s->values[i], 1);
			evbuffer_add(out, "\"", 1);
		}
		if (le != NULL)
			evbuffer_add_printf(out, "%sle=\"%s\"", n ? "," : "",
			    le);
		evbuffer_add(out, "}", 1);
	}
	evbuffer_add(out, " ", 1);
	add_number(out, v);
	evbuffer_add(out, "\n", 1);
}

static void
render_histogram(struct evbuffer *out, const struct metric *m,
    const struct metric_series *s)
{
	char le[40];
	uint64_t cum = 0;

	for (size_t i = 0; i < m->nbounds; i++) {
		cum += s->buckets[i];
		fmt_number(le, sizeof(le), m->bounds[i]);
		add_sample(out, m, "_bucket", s, le, (double)cum);
	}
	cum += s->buckets[m->nbounds];
	add_sample(out, m, "_bucket", s, "+Inf", (double)cum);
	add_sample(out, m, "_sum", s, NULL, s->sum);
	add_sample(out, m, "_count", s, NULL, (double)s->count);
}

/*
 * Appends every family that has a series (or a function), sorted by name,
 * each as "# HELP" (when it has help text), "# TYPE" and its samples with
 * series in creation order.  Computed gauges call their function here.
 */
void
metrics_render(struct evbuffer *out)
{
	for (const struct metric *m = registry; m != NULL; m = m->next) {
		if (m->kind != METRIC_GAUGE_FN && m->series == NULL)
			continue;
		if (m->help != NULL) {
			evbuffer_add_printf(out, "# HELP %s ", m->name);
			add_escaped(out, m->help, 0);
			evbuffer_add(out, "\n", 1);
		}
		evbuffer_add_printf(out, "# TYPE %s %s\n", m->name,
		    kind_types[m->kind]);
		if (m->kind == METRIC_GAUGE_FN) {
			add_sample(out, m, "", NULL, NULL, m->fn(m->arg));
			continue;
		}
		for (const struct metric_series *s = m->series; s != NULL;
		    s = s->next) {
			if (m->kind == METRIC_HISTOGRAM)
				render_histogram(out, m, s);
			else
				add_sample(out, m, "", s, NULL, s->value);
		}
	}
}

/*
 * Frees every family and series; pointers held by callers are invalid
 * afterwards, and registering again starts from an empty registry.
 */
void
metrics_free_all(void)
{
	struct metric *m, *next;

	for (m = registry; m != NULL; m = next) {
		next = m->next;
		family_free(m);
	}
	registry = NULL;
}

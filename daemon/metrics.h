/*
 * metrics.h - counters, gauges and histograms rendered at GET /metrics in
 * the Prometheus text format (version 0.0.4).
 *
 * A metric family is registered once by name (registering the same name
 * again returns the same family) with its label names; a series is one
 * combination of label values, created on first use and kept until exit.
 * Callers cache series pointers on hot paths.  Everything runs on the one
 * loop, so nothing here locks.
 */
#ifndef BATON_METRICS_H
#define BATON_METRICS_H

#include <stddef.h>

struct evbuffer;
struct metric;
struct metric_series;

/* labels: comma-separated names ("connector,status"), or NULL. */
struct metric *metric_counter(const char *name, const char *help,
    const char *labels);
struct metric *metric_gauge(const char *name, const char *help,
    const char *labels);
/* bounds: ascending upper bounds in seconds (or units); NULL for the
 * default latency buckets 0.0001 s to 10 s. */
struct metric *metric_histogram(const char *name, const char *help,
    const char *labels, const double *bounds, size_t nbounds);

/* A gauge whose value is read at render time. */
void metric_gauge_fn(const char *name, const char *help,
    double (*fn)(void *arg), void *arg);

/* The series for these label values (as many as the family has labels,
 * in order; values are copied and escaped on output).  Returns NULL only
 * when out of memory; the update functions accept NULL and do nothing. */
struct metric_series *metric_series(struct metric *m, ...);

void metric_inc(struct metric_series *s);
void metric_add(struct metric_series *s, double v);
void metric_set(struct metric_series *s, double v);
void metric_observe(struct metric_series *s, double v);

/* The current value (counters, gauges) or count (histograms); for tests. */
double metric_value(const struct metric_series *s);

/* Appends every family, sorted by name, to out. */
void metrics_render(struct evbuffer *out);

/* Frees every family and series (at exit, so leak checkers stay quiet). */
void metrics_free_all(void);

#endif

/*
 * diag.c - the list of configuration problems behind `--check`.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void
diag_push(struct diag *d, char *msg)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		char **m = realloc(d->msgs, cap * sizeof(*m));
		if (m == NULL) {
			free(msg);
			d->dropped++;   /* still counts as a problem */
			return;
		}
		d->msgs = m;
		d->cap = cap;
	}
	d->msgs[d->n++] = msg;
}

static void diag_vadd(struct diag *d, const char *file, int line, int col,
    const char *fmt, va_list ap) BATON_PRINTF(5, 0);

static void
diag_vadd(struct diag *d, const char *file, int line, int col,
    const char *fmt, va_list ap)
{
	char body[1024], *msg = NULL;
	int rc;

	vsnprintf(body, sizeof(body), fmt, ap);
	if (file == NULL)
		rc = asprintf(&msg, "%s", body);
	else if (line <= 0)
		rc = asprintf(&msg, "%s: %s", file, body);
	else if (col <= 0)
		rc = asprintf(&msg, "%s:%d: %s", file, line, body);
	else
		rc = asprintf(&msg, "%s:%d:%d: %s", file, line, col, body);
	if (rc < 0) {
		d->dropped++;
		return;
	}
	diag_push(d, msg);
}

void
diag_add(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, file, line, 0, fmt, ap);
	va_end(ap);
}

void
diag_add_col(struct diag *d, const char *file, int line, int col,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, file, line, col, fmt, ap);
	va_end(ap);
}

size_t
diag_count(const struct diag *d)
{
	return d->n + d->dropped;
}

void
diag_print(const struct diag *d, FILE *fp)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(fp, "%s\n", d->msgs[i]);
}

void
diag_log(const struct diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		log_warnx("%s", d->msgs[i]);
}

void
diag_clear(struct diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = d->cap = d->dropped = 0;
}

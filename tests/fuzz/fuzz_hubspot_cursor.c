/*
 * fuzz_hubspot_cursor.c - libFuzzer target for the HubSpot poll cursor
 * (hs_cursor_decode), its round trip through hs_cursor_encode, and the
 * window operations a poll round applies to it.
 *
 * A decoded cursor has ordered, non-overlapping windows; it encodes and
 * decodes to the same windows; splitting keeps them ordered and covering
 * the same span.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/hubspot/hs_proto.h"

static void
check(const struct hs_cursor *c)
{
	for (size_t i = 0; i < c->nwin; i++) {
		if (c->win[i].lo > c->win[i].hi)
			abort();
		if (i > 0 && c->win[i].lo <= c->win[i - 1].hi)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs_cursor c, d;
	char err[256], *s;
	int64_t lo, hi;

	if (hs_cursor_decode((const char *)data, size, &c, err,
	    sizeof(err)) == -1)
		return 0;
	check(&c);
	if ((s = hs_cursor_encode(&c)) == NULL)
		abort();
	if (hs_cursor_decode(s, strlen(s), &d, err, sizeof(err)) == -1 ||
	    d.nwin != c.nwin || d.wm != c.wm)
		abort();
	free(s);
	if (c.nwin == 0)
		return 0;
	lo = c.win[0].lo;
	hi = c.win[0].hi;
	if (hs_cursor_split(&c) == 0) {
		check(&c);
		if (c.win[0].lo != lo || (!c.win[0].by_id && c.win[1].hi != hi))
			abort();
	}
	hs_cursor_pop(&c);
	check(&c);
	return 0;
}

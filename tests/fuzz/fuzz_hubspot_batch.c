/*
 * fuzz_hubspot_batch.c - libFuzzer target for HubSpot batch answers
 * (hs_result_parse without search: batch read, create, upsert and update,
 * with their 207 per-item errors), the per-item error lookup, and the v4
 * batch association read (hs_assoc_parse), whose answers share the
 * batch envelope.
 *
 * Every parsed object, and both ends of every association pair, has an
 * id of 1..20 digits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/hubspot/hs_proto.h"

static void
check_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > HS_ID_MAX || strspn(id, "0123456789") != n)
		abort();
}

static void
check_assoc(const uint8_t *data, size_t size)
{
	struct hs_assoc a;
	char err[256];

	if (hs_assoc_parse((const char *)data, size, &a, err,
	    sizeof(err)) == -1) {
		if (a.v != NULL || a.n != 0 || err[0] == '\0')
			abort();
		return;
	}
	for (size_t i = 0; i < a.n; i++) {
		check_id(a.v[i].from);
		check_id(a.v[i].to);
	}
	hs_assoc_clear(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs_result r;
	char err[256];

	check_assoc(data, size);
	if (hs_result_parse((const char *)data, size, false, &r, err,
	    sizeof(err)) == -1) {
		if (r.root != NULL || r.v != NULL || r.errors != NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < r.n; i++) {
		check_id(r.v[i].id);
		(void)json_string_value(json_object_get(r.v[i].props,
		    "email"));
	}
	for (size_t i = 0; i < r.nerrors; i++)
		(void)hs_item_error_has(&r.errors[i], "a@example.com");
	hs_result_clear(&r);
	return 0;
}

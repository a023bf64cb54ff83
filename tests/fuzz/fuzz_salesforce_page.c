/*
 * fuzz_salesforce_page.c - libFuzzer target for the SOQL query page
 * parser (sf_page_parse) and the dateTime parser the poll applies to each
 * record's SystemModstamp (sf_datetime_parse).
 *
 * A parsed page has a records array, and a nextRecordsUrl exactly when it
 * is not done, always a /services/data/ path (it is appended to the
 * instance URL, so it must never name another host).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/salesforce/sf_proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sf_page pg;
	const json_t *rec;
	char err[256];
	size_t i;
	int64_t ms;

	if (sf_page_parse((const char *)data, size, &pg, err,
	    sizeof(err)) == -1) {
		if (pg.records != NULL || pg.next_url != NULL)
			abort();
		return 0;
	}
	if (!json_is_array(pg.records) || pg.done != (pg.next_url == NULL))
		abort();
	if (pg.next_url != NULL && (strncmp(pg.next_url, "/services/data/",
	    15) != 0 || strstr(pg.next_url, "..") != NULL))
		abort();
	json_array_foreach(pg.records, i, rec)
		(void)sf_datetime_parse(json_string_value(json_object_get(rec,
		    "SystemModstamp")), &ms);
	sf_page_clear(&pg);
	return 0;
}

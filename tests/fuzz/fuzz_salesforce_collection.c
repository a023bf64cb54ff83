/*
 * fuzz_salesforce_collection.c - libFuzzer target for the sObject
 * Collections result parser (sf_collection_parse).
 *
 * The first input byte says how many records the call carried (0..200);
 * the rest is the answer.  A parsed answer gives every record an outcome:
 * OK with a valid record id, or RETRY/DROP with a non-empty message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/salesforce/sf_proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sf_item_result *out;
	char err[256];
	size_t n;

	if (size < 1)
		return 0;
	n = data[0] % (SF_COLLECTION_MAX + 1);
	if ((out = calloc(n + 1, sizeof(*out))) == NULL)
		return 0;
	if (sf_collection_parse((const char *)data + 1, size - 1, n, out, err,
	    sizeof(err)) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (out[i].rc == SF_ITEM_OK && !sf_id_valid(out[i].id))
				abort();
			if (out[i].rc != SF_ITEM_OK &&
			    out[i].message[0] == '\0')
				abort();
			if (memchr(out[i].message, '\0',
			    sizeof(out[i].message)) == NULL)
				abort();
		}
	} else if (err[0] == '\0') {
		abort();
	}
	free(out);
	return 0;
}

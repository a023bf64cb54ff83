/*
 * fuzz_salesforce_token.c - libFuzzer target for the Salesforce token
 * response parser (sf_token_parse in connectors/salesforce/sf_proto.c).
 *
 * The input is a token endpoint's body.  A parse that succeeds must give
 * a non-empty access token, an http(s) instance URL without a trailing
 * '/', and a 15- or 18-character user id; a failure must leave nothing
 * allocated and an error message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/salesforce/sf_proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sf_token t;
	char err[256];
	size_t n;

	err[0] = '\0';
	if (sf_token_parse((const char *)data, size, &t, err,
	    sizeof(err)) == 0) {
		n = strlen(t.instance_url);
		if (t.access_token[0] == '\0' || n == 0 ||
		    t.instance_url[n - 1] == '/' ||
		    (strncmp(t.instance_url, "https://", 8) != 0 &&
		    strncmp(t.instance_url, "http://", 7) != 0) ||
		    !sf_id_valid(t.user_id))
			abort();
		sf_token_clear(&t);
	} else if (err[0] == '\0' || t.access_token != NULL ||
	    t.instance_url != NULL || t.user_id != NULL) {
		abort();
	}
	return 0;
}

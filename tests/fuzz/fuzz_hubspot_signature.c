/*
 * fuzz_hubspot_signature.c - libFuzzer target for the HubSpot webhook
 * signature checks (hs_signature_check, hs_signature_v3,
 * hs_signature_v12), which see attacker-controlled headers, URIs and
 * bodies before anything else does.
 *
 * Input: a version byte, then "signature\ntimestamp\nuri\n" and the body.
 * Promises checked: no crash or leak on any input; an error always says
 * why; a signature computed by the connector's own functions over the
 * same request verifies (and a one-character change of it does not), so
 * the check and the signer agree on every URI, body and timestamp.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/hubspot/hs_proto.h"

#define NOW_MS INT64_C(1693657560000)

/* The next '\n'-terminated field of [*p, end) as a fresh string. */
static char *
field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p += n + (nl != NULL ? 1 : 0);
	return s;
}

static void
expect(const struct hs_sig_input *in, int want_ok)
{
	char err[256] = "";
	int rc = hs_signature_check(in, err, sizeof(err));

	if (rc != 0 && err[0] == '\0')
		abort();                /* a refusal says why */
	if (want_ok >= 0 && (rc == 0) != want_ok) {
		fprintf(stderr, "v%d: expected %s, got rc %d (%s)\n",
		    in->version, want_ok ? "a match" : "a refusal", rc, err);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct hs_sig_input in;
	char *sig, *ts, *uri, *good = NULL, hex[65];
	char now[32];

	if (size < 1)
		return 0;
	memset(&in, 0, sizeof(in));
	in.version = 1 + p[0] % 3;
	p++;
	sig = field(&p, end);
	ts = field(&p, end);
	uri = field(&p, end);
	in.secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
	in.method = "POST";
	in.uri = uri;
	in.body = p;
	in.len = (size_t)(end - p);
	in.now_ms = NOW_MS;

	/* Whatever the client sent. */
	in.signature = sig;
	in.timestamp = ts;
	expect(&in, -1);
	in.signature = NULL;
	expect(&in, 0);

	/* The connector's own signature over the same request verifies. */
	snprintf(now, sizeof(now), "%lld", (long long)NOW_MS);
	if (in.version == 3) {
		in.timestamp = now;
		good = hs_signature_v3(in.secret, in.method, uri, in.body,
		    in.len, now);
		if (good == NULL)
			abort();
	} else {
		if (hs_signature_v12(in.version, in.secret, in.method, uri,
		    in.body, in.len, hex) != 0)
			abort();
		good = strdup(hex);
	}
	in.signature = good;
	expect(&in, 1);
	/* Another digit (hex is compared without regard to case). */
	good[0] = good[0] == '0' ? '1' : '0';
	expect(&in, 0);
	free(good);
	free(sig);
	free(ts);
	free(uri);
	return 0;
}

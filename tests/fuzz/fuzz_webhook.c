/*
 * fuzz_webhook.c - libFuzzer target for the generic webhook's payload side
 * (connectors/webhook/webhook_proto.c).
 *
 * An input is "HEADER\nBODY" (without a newline in its first 128 bytes it
 * is all body and the header is absent).  The header goes through the
 * signature check against the body; the body, signed or not, through a
 * fixed mapping with items, dotted and indexed paths, map.type, map.id,
 * map.at and custom attributes.  Every event the mapping emits must pass
 * baton_event_validate() and serialize, or the target aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <baton/digest.h>
#include <baton/event.h>

#include "../../connectors/webhook/webhook_proto.h"

#define FUZZ_MAX_EVENTS 64

static struct webhook_map *batch_map, *single_map;
static struct digest_hmac *fuzz_key;

struct sink {
	size_t n;
};

static int
check_emit(void *arg, struct baton_event *ev)
{
	struct sink *s = arg;
	char err[256], *json;

	if (baton_event_validate(ev, err, sizeof(err)) != 0)
		abort();        /* the mapping let an invalid event through */
	if ((json = baton_event_data_json(ev)) == NULL)
		abort();
	free(json);
	baton_event_free(ev);
	return ++s->n < FUZZ_MAX_EVENTS ? 0 : -1;
}

static struct webhook_map *
build(const char *items, const char *event, const char *const *kv)
{
	struct webhook_map *m = webhook_map_new();
	const char *key;
	char err[512];

	if (m == NULL)
		abort();
	if (items != NULL && webhook_map_set_items(m, items, err,
	    sizeof(err)) != 0)
		abort();
	if (event != NULL && webhook_map_set_event(m, event, err,
	    sizeof(err)) != 0)
		abort();
	for (; kv[0] != NULL; kv += 2)
		if (webhook_map_add(m, kv[0], kv[1], err, sizeof(err)) != 0)
			abort();
	if (webhook_map_check(m, &key, err, sizeof(err)) != 0)
		abort();
	return m;
}

static void
init(void)
{
	static const char *const batch[] = {
		"type", "t",
		"email", "contact.emails[0].value",
		"id", "id",
		"at", "ts",
		"first_name", "contact.name.first",
		"activity", "kind",
		"status", "state",
		"stage", "deal.stage",
		"amount", "deal.amount",
		"outcome", "deal.outcome",
		"url", "page.2",
		"custom.plan", "plan",
		"custom.meta", "meta",
		NULL,
	};
	static const char *const single[] = {
		"email", "email",
		"activity", "kind",
		"form", "form.name",
		"at", "at",
		NULL,
	};

	batch_map = build("events", NULL, batch);
	single_map = build(NULL, "lead.activity", single);
	fuzz_key = digest_hmac_new("fuzz-secret", 11);
	if (fuzz_key == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *body = data, *nl;
	char header[129], err[512];
	const char *hdr = NULL;
	struct sink s;
	size_t len = size;

	if (batch_map == NULL)
		init();
	nl = memchr(data, '\n', size < 128 ? size : 128);
	if (nl != NULL) {
		memcpy(header, data, (size_t)(nl - data));
		header[nl - data] = '\0';
		hdr = header;
		body = nl + 1;
		len = size - (size_t)(nl - data) - 1;
	}
	(void)webhook_signature_check(fuzz_key, body, len, hdr, err,
	    sizeof(err));

	s.n = 0;
	(void)webhook_map_body(batch_map, body, len, 1700000000000, check_emit,
	    &s, err, sizeof(err));
	s.n = 0;
	(void)webhook_map_body(single_map, body, len, 1700000000000,
	    check_emit, &s, err, sizeof(err));
	return 0;
}

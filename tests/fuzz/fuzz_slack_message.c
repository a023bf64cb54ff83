/*
 * fuzz_slack_message.c - libFuzzer target for the Slack connector's
 * message building (connectors/slack/slack_message.c), which turns event
 * data from PREFIX:handoffs into mrkdwn.
 *
 * An input is "LEAD\nDATA": the lead key (at most 128 bytes before the
 * first newline; without one the lead is absent) and the data as JSON.
 * The data goes through both message types, with and without a record
 * link.  Every body built must be a JSON object of exactly text and
 * unfurl_links, its text without control characters but '\n', under
 * Slack's 40,000-character limit, and without any '<' or '>' but the one
 * record link the connector makes itself; otherwise the target aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../connectors/slack/slack_message.h"

#define LINK_START "*CRM record:* <https://crm.example/r?a=1&amp;id="

static void
check_text(const char *text, size_t len, bool link)
{
	const char *lt, *gt, *last = text;

	if (len >= 40000)
		abort();
	for (size_t i = 0; i < len; i++) {
		if (((unsigned char)text[i] < 0x20 && text[i] != '\n') ||
		    text[i] == 0x7f)
			abort();
		if (text[i] == '\n')
			last = text + i + 1;
	}
	lt = memchr(text, '<', len);
	gt = memchr(text, '>', len);
	if (lt == NULL && gt == NULL)
		return;
	/* Only the record link: the last line, closed at its very end. */
	if (!link || (size_t)(text + len - last) < strlen(LINK_START) ||
	    strncmp(last, LINK_START, strlen(LINK_START)) != 0 ||
	    lt != last + strlen("*CRM record:* ") || gt != text + len - 1 ||
	    memchr(lt + 1, '<', (size_t)(text + len - lt - 1)) != NULL)
		abort();
}

static void
one(const struct slack_message_opts *o, const char *type, const char *lead,
    const json_t *data)
{
	char *body = NULL, err[256];
	enum slack_message_rc rc;
	json_t *v, *text;

	rc = slack_message_build(o, type, lead, data, &body, err,
	    sizeof(err));
	if (rc != SLACK_MESSAGE_OK) {
		if (body != NULL || rc == SLACK_MESSAGE_SKIP)
			abort();
		return;
	}
	if ((v = json_loads(body, 0, NULL)) == NULL || !json_is_object(v) ||
	    json_object_size(v) != 2 ||
	    !json_is_false(json_object_get(v, "unfurl_links")) ||
	    !json_is_string(text = json_object_get(v, "text")))
		abort();
	check_text(json_string_value(text), json_string_length(text),
	    o != NULL && o->record_url != NULL);
	json_decref(v);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct slack_message_opts link = {
		.record_url = "https://crm.example/r?a=1&id={id}",
	};
	static const struct slack_message_opts named = {
		.record_url = "https://crm.example/r?a=1&id={id}",
		.record_source = "salesforce",
	};
	const uint8_t *body = data, *nl;
	char lead[129];
	const char *lp = NULL;
	size_t len = size;
	json_t *d;

	nl = memchr(data, '\n', size < 128 ? size : 128);
	if (nl != NULL) {
		memcpy(lead, data, (size_t)(nl - data));
		lead[nl - data] = '\0';
		lp = lead;
		body = nl + 1;
		len = size - (size_t)(nl - data) - 1;
	}
	d = json_loadb((const char *)body, len, JSON_DECODE_ANY |
	    JSON_ALLOW_NUL, NULL);
	if (d == NULL)
		return 0;
	one(NULL, "handoff.mql", lp, d);
	one(&link, "handoff.mql", lp, d);
	one(&named, "handoff.mql", lp, d);
	one(NULL, "sla.breached", lp, d);
	one(&link, "sla.breached", lp, d);
	json_decref(d);
	return 0;
}

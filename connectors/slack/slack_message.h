/*
 * slack_message.h - the pure side of the Slack connector: the incoming
 * webhook body for one PREFIX:handoffs entry, the checks of the URLs in
 * the section, and the verdict on Slack's answer.  Nothing here does I/O,
 * so unit tests and the fuzzer call it directly.
 *
 * A body is Slack's documented incoming-webhook JSON,
 * {"text": "...", "unfurl_links": false}, the text in mrkdwn with &, <
 * and > escaped as &amp; &lt; &gt; (Slack's only required escapes).
 * Every value taken from the event is escaped, stripped of control
 * characters and capped in length, so no event can break the markup,
 * forge a link or a mention, or reach Slack's 40,000-character limit.
 */
#ifndef BATON_SLACK_MESSAGE_H
#define BATON_SLACK_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <baton/connector.h>
#include <baton/http_client.h>

#define SLACK_TYPE_HANDOFF      "handoff.mql"
#define SLACK_TYPE_BREACH       "sla.breached"

#define SLACK_VALUE_MAX         300     /* bytes of one value shown */
#define SLACK_REASONS_MAX       20      /* reasons listed; then "N more" */
#define SLACK_ERROR_BODY_MAX    200     /* bytes of Slack's answer kept */

/* How a handoff links to the CRM record. */
struct slack_message_opts {
	const char *record_url;         /* template with {id}, or NULL: the
	                                 * id is shown without a link */
	const char *record_source;      /* the ids entry to use; NULL: the
	                                 * first present, in name order */
};

/* What slack_message_build() made. */
enum slack_message_rc {
	SLACK_MESSAGE_OK = 0,           /* *body is set */
	SLACK_MESSAGE_SKIP,             /* no message for this type */
	SLACK_MESSAGE_BAD,              /* data unusable: err says why */
	SLACK_MESSAGE_NOMEM,            /* out of memory */
};

/*
 * Builds the webhook body for one entry of type `type` (handoff.mql or
 * sla.breached; any other type is SLACK_MESSAGE_SKIP) about lead `lead`
 * (the entry's lead key, shown when the data has no email; may be NULL)
 * from its data object.  Missing or mistyped fields are left out of the
 * message; data that is not an object is SLACK_MESSAGE_BAD.  On
 * SLACK_MESSAGE_OK *body is a NUL-terminated JSON text the caller frees;
 * otherwise *body is NULL.  o may be NULL (no record link).
 */
enum slack_message_rc slack_message_build(const struct slack_message_opts *o,
    const char *type, const char *lead, const json_t *data, char **body,
    char *err, size_t errlen);

/*
 * Checks an absolute http:// or https:// URL with a host and without
 * white space or control characters.  Returns 0, or -1 with the reason in
 * err; the URL itself is never quoted (it may be a secret).
 */
int slack_url_check(const char *url, char *err, size_t errlen);

/*
 * Checks a record_url template: an http(s) URL (as above) holding {id}
 * at least once, no other {...} placeholder, and none of < > | (which
 * would break Slack's <url|label> link).  Returns 0 or -1 with err.
 */
int slack_record_url_check(const char *tmpl, char *err, size_t errlen);

/*
 * The URL to post to: webhook_url as is, or, with base_url set, base_url
 * (its trailing '/' dropped) followed by webhook_url's path and query,
 * so a test or the demo points a real hook URL at the simulator.  Both
 * must pass slack_url_check().  Returns a malloc'd string, or NULL with
 * err (out of memory).
 */
char *slack_post_url(const char *webhook_url, const char *base_url,
    char *err, size_t errlen);

/*
 * Sorts Slack's answer: any 2xx is CONNECTOR_OK (Slack answers 200
 * "ok"); a 429 is CONNECTOR_RETRY with *retry_after_ms from retry_after
 * (the Retry-After header's value, or NULL) relative to now_ms; anything
 * else as http_classify() says, a RETRY also honouring Retry-After when
 * given.  *retry_after_ms is 0 when there is none.  msg gets what goes
 * to the log or the DLQ: "HTTP 404: no_service" (Slack's body, control
 * characters dropped, at most SLACK_ERROR_BODY_MAX bytes) or the
 * transport error.
 */
enum connector_result slack_result(const struct http_result *res,
    const char *retry_after, int64_t now_ms, int64_t *retry_after_ms,
    char *msg, size_t msglen);

#endif

/*
 * dlq.h - the dead-letter stream PREFIX:dlq and the per-connector replay
 * streams, as written by the delivery (delivery.c) and read by operators
 * (`batonctl dlq`).
 *
 * A DLQ entry is the failed entry's flat fields (v type lead source id at
 * data, as in PREFIX:handoffs or PREFIX:feedback) followed by:
 *   connector  the [connector NAME] whose push failed
 *   stream     the stream the entry came from, without PREFIX ("handoffs")
 *   entry      its id in that stream
 *   error      the vendor's error, or why retries ended
 *   attempts   how many pushes were tried
 *   failed_at  ms since the epoch
 *
 * Replaying a DLQ entry copies its v type lead source id at data fields,
 * plus `dlq` (the DLQ entry id) and `entry`, to PREFIX:replay:<connector>
 * and deletes it from PREFIX:dlq, in one script so it is never in both or
 * in neither.  The connector's delivery reads its replay stream with the
 * same consumer group name as its main stream, so only the connector that
 * failed sees the entry again (a Slack notification is not repeated
 * because the CRM refused a record).
 */
#ifndef BATON_DLQ_H
#define BATON_DLQ_H

#define DLQ_STREAM          "dlq"
#define DLQ_REPLAY_PREFIX   "replay:"   /* PREFIX:replay:<connector> */

#define DLQ_F_CONNECTOR     "connector"
#define DLQ_F_STREAM        "stream"
#define DLQ_F_ENTRY         "entry"
#define DLQ_F_ERROR         "error"
#define DLQ_F_ATTEMPTS      "attempts"
#define DLQ_F_FAILED_AT     "failed_at"
#define DLQ_F_FROM_DLQ      "dlq"       /* in a replay entry */

/*
 * The replay script: KEYS[1] PREFIX:dlq, KEYS[2] the key prefix with its
 * ':' ("baton:"); ARGV the DLQ entry ids.  For each id still present:
 * copies it to PREFIX:replay:<its connector> and XDELs it.  Returns
 * {replayed, missing}.  Shared by batonctl and the tests.
 */
#define DLQ_REPLAY_SCRIPT \
    "local replayed, missing = 0, 0\n" \
    "local keep = {v=1, type=1, lead=1, source=1, id=1, at=1, data=1, " \
    "entry=1}\n" \
    "for _, id in ipairs(ARGV) do\n" \
    "  local r = redis.call('XRANGE', KEYS[1], id, id)\n" \
    "  if #r == 0 then missing = missing + 1 else\n" \
    "    local f, conn, out = r[1][2], nil, {}\n" \
    "    for i = 1, #f, 2 do\n" \
    "      if f[i] == 'connector' then conn = f[i + 1] end\n" \
    "      if keep[f[i]] then out[#out + 1] = f[i]; " \
    "out[#out + 1] = f[i + 1] end\n" \
    "    end\n" \
    "    if conn then\n" \
    "      out[#out + 1] = 'dlq'; out[#out + 1] = id\n" \
    "      redis.call('XADD', KEYS[2] .. 'replay:' .. conn, '*', " \
    "unpack(out))\n" \
    "      redis.call('XDEL', KEYS[1], id)\n" \
    "      replayed = replayed + 1\n" \
    "    else missing = missing + 1 end\n" \
    "  end\n" \
    "end\n" \
    "return {replayed, missing}\n"

#endif

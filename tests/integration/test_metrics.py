"""test_metrics.py - the operator's gauges and counters in /metrics: events
received by connector and type, consumer-group lag and pending per stream
and group, the DLQ depth, and build info."""

import time

from harness import BatonCase, wait_until
from rules_helpers import (CRM, SPEC_RULES, activity, metric, post, upsert,
                           wait_settled, write_rules)


class Metrics(BatonCase):

    def test_stream_and_event_metrics(self):
        self.start_redis()
        rules = write_rules(self.tmp, SPEC_RULES)
        b = self.start_batond({"crm": CRM}, daemon={"rules": rules})
        now = int(time.time() * 1000)
        post(b, upsert("m1@acme.example", at=now, title="VP"),
             upsert("m2@acme.example", at=now),
             activity("m1@acme.example", "page_view", at=now,
                      url="/pricing"))
        wait_settled(self.redis)
        self.assertEqual(metric(b, 'baton_events_received_total{'
                                'connector="crm",type="lead.upserted"}'), 2)
        self.assertEqual(metric(b, 'baton_events_received_total{'
                                'connector="crm",type="lead.activity"}'), 1)
        # Three DLQ entries (written by hand) and a group with a backlog.
        for i in range(3):
            self.redis.command("XADD", "baton:dlq", "*", "v", "1",
                               "connector", "x", "error", f"e{i}")
        self.redis.command("XGROUP", "CREATE", "baton:handoffs", "probe",
                           "0", "MKSTREAM")
        self.redis.command("XADD", "baton:handoffs", "*", "v", "1")
        self.redis.command("XADD", "baton:handoffs", "*", "v", "1")
        wait_until(lambda: metric(b, "baton_dlq_entries") == 3, 10,
                   what="the DLQ depth sampled")
        wait_until(lambda: metric(b, 'baton_stream_group_lag{'
                                  'stream="handoffs",group="probe"}') == 2,
                   10, what="the probe group's lag sampled")
        self.assertEqual(metric(b, 'baton_stream_group_lag{'
                                'stream="events",group="rules"}'), 0)
        self.assertEqual(metric(b, 'baton_stream_group_pending{'
                                'stream="events",group="rules"}'), 0)
        body = b.get("/metrics").body.decode()
        self.assertRegex(body, r'baton_build_info\{version="[0-9.]+"\} 1')


if __name__ == "__main__":
    import unittest
    unittest.main()

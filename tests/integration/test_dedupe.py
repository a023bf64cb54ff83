"""test_dedupe.py - a redelivered event is acknowledged and not written
twice; a request with an items array is written all or nothing."""

import harness
from harness import BATCH, BatonCase, WEBSITE, event


class Dedupe(BatonCase):

    def setUp(self):
        super().setUp()
        self.start_redis()
        self.b = self.start_batond({"website": WEBSITE, "batch": BATCH,
                                    "other": WEBSITE})

    def test_redelivery_written_once(self):
        ev = event("dup-1", kind="email_click")
        r1 = self.b.post("website", ev)
        self.assertEqual(r1.status, 200, repr(r1))
        self.assertEqual(r1.json(), {"events": 1, "duplicates": 0})
        r2 = self.b.post("website", ev)
        self.assertEqual(r2.status, 200, repr(r2))
        self.assertEqual(r2.json(), {"events": 1, "duplicates": 1})
        # A later redelivery with a different body but the same id is
        # still the same event.
        r3 = self.b.post("website", event("dup-1", kind="page_view"))
        self.assert2xx(r3)
        self.assertEqual(self.stream_ids(), ["dup-1"])
        _, f = self.redis.entries()[0]
        self.assertIn('"email_click"', f["data"])

    def test_same_id_other_source_is_another_event(self):
        self.assertEqual(self.b.post("website", event("shared")).status, 200)
        self.assertEqual(self.b.post("other", event("shared")).status, 200)
        got = sorted((f["source"], f["id"]) for _, f in self.redis.entries())
        self.assertEqual(got, [("other", "shared"), ("website", "shared")])

    def test_items_array_three_events(self):
        body = {"events": [event("i-1", email="a@example.com"),
                           event("i-2", email="b@example.com",
                                 kind="form_submit"),
                           event("i-3", email="c@example.com")]}
        r = self.b.post("batch", body)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json(), {"events": 3, "duplicates": 0})
        got = [(f["id"], f["lead"], f["source"])
               for _, f in self.redis.entries()]
        self.assertEqual(got, [("i-1", "a@example.com", "batch"),
                               ("i-2", "b@example.com", "batch"),
                               ("i-3", "c@example.com", "batch")])
        # The whole batch again: all three are duplicates.
        r = self.b.post("batch", body)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json(), {"events": 3, "duplicates": 3})
        # Two old and one new: only the new one is written.
        body["events"].append(event("i-4", email="d@example.com"))
        r = self.b.post("batch", body)
        self.assertEqual(r.json(), {"events": 4, "duplicates": 3})
        self.assertEqual(self.stream_ids(), ["i-1", "i-2", "i-3", "i-4"])

    def test_items_all_or_nothing(self):
        bad = event("n-2")
        del bad["contact"]
        body = {"events": [event("n-1"), bad, event("n-3")]}
        r = self.b.post("batch", body)
        self.assert_error(r, 400, r"event 1\b.*email.*missing")
        self.assertEqual(self.redis.xlen(), 0)
        # Nothing was marked as seen either: the good events, redelivered
        # alone, are written.
        r = self.b.post("batch", {"events": [event("n-1"), event("n-3")]})
        self.assertEqual(r.json(), {"events": 2, "duplicates": 0})
        self.assertEqual(self.stream_ids(), ["n-1", "n-3"])

    def test_items_missing_array_400(self):
        r = self.b.post("batch", {"nothing": []})
        self.assert_error(r, 400, r"items.*events.*missing")
        r = self.b.post("batch", {"events": {"not": "an array"}})
        self.assert_error(r, 400, r"events.*array")
        self.assertEqual(self.redis.xlen(), 0)

    def test_items_empty_array_204(self):
        r = self.b.post("batch", {"events": []})
        self.assertEqual(r.status, 204, repr(r))
        self.assertEqual(r.body, b"")
        self.assertEqual(self.redis.xlen(), 0)


if __name__ == "__main__":
    harness.main()

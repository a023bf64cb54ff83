"""test_redis_outage.py - Redis killed (SIGKILL) and restarted under load:
every event answered 2xx is in the stream, nothing is written twice, and
batond answers 2xx again once Redis is back.  Redis runs with appendonly
yes / appendfsync always, so whatever it acknowledged survives the kill."""

import signal
import time

import harness
from harness import BatonCase, Load, WEBSITE


class RedisOutage(BatonCase):

    def test_kill_and_restart_under_load(self):
        self.start_redis(appendonly=True)
        b = self.start_batond({"website": WEBSITE})
        load = Load(b, "out").start()
        try:
            time.sleep(1.0)
            before_kill = load.count(lambda r: r[1] in (200, 204))
            self.redis.kill(signal.SIGKILL)
            killed_at = time.monotonic()
            time.sleep(0.7)
            self.redis.start()
            restarted_at = time.monotonic()
            # Keep posting until 3 s have passed and batond has written
            # something since the restart (bounded).
            deadline = time.monotonic() + 25 * harness.SLOW
            while time.monotonic() < deadline:
                if (time.monotonic() - killed_at > 2.0 and
                        load.count(lambda r: r[1] in (200, 204) and
                                   r[2] > restarted_at) >= 10):
                    break
                time.sleep(0.1)
        finally:
            load.stop()

        res = load.results
        statuses = {}
        for _, st, _ in res:
            statuses[st] = statuses.get(st, 0) + 1
        print(f"statuses: {statuses}, 2xx before kill: {before_kill}")
        self.assertGreater(before_kill, 0, "nothing written before the kill")
        self.assertEqual(load.errors, [], "connection errors")
        self.assertLessEqual(set(statuses), {200, 204, 503}, statuses)
        self.assertGreater(statuses.get(503, 0), 0,
                           "no 503 while Redis was down")
        after = [r for r in res if r[1] in (200, 204) and
                 r[2] > restarted_at]
        self.assertGreaterEqual(len(after), 10, "no recovery after restart")

        acked = {eid for eid, st, _ in res if st in (200, 204)}
        ids = self.stream_ids()
        self.assertEqual(len(ids), len(set(ids)), "an event written twice")
        missing = acked - set(ids)
        self.assertEqual(missing, set(),
                         f"{len(missing)} acknowledged events lost")
        # Everything in the stream was posted by the load.
        posted = {eid for eid, _, _ in res}
        self.assertLessEqual(set(ids), posted)


if __name__ == "__main__":
    harness.main()

"""test_disconnect.py - a client that goes away before its answer changes
nothing: the events of a request it sent whole are written (or not) as a
whole, batond keeps serving, and the sender's retry is deduplicated."""

import json
import socket
import time

from harness import BatonCase, WEBSITE, event, main, sign, wait_until


class EarlyDisconnect(BatonCase):

    def setUp(self):
        super().setUp()
        self.start_redis()
        self.b = self.start_batond({"website": WEBSITE})

    def send_and_vanish(self, body):
        """Sends one whole signed request and closes without reading."""
        raw = json.dumps(body).encode()
        head = (f"POST /hooks/website HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.b.port}\r\n"
                f"Content-Type: application/json\r\n"
                f"X-Baton-Signature: {sign(raw)}\r\n"
                f"Content-Length: {len(raw)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", self.b.port),
                                      timeout=5) as s:
            s.sendall(head + raw)
            # RST rather than FIN: the harshest way to leave.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")

    def test_gone_while_redis_is_slow(self):
        # Redis holds every command for a while, so the append is in
        # flight when the client leaves.
        self.redis.command("CLIENT", "PAUSE", "1500", "WRITE")
        self.send_and_vanish(event("gone-1", kind="form_submit"))
        self.send_and_vanish(event("gone-2", kind="page_view"))
        time.sleep(0.2)
        self.assertTrue(self.b.alive(), "batond died")
        # Once Redis resumes, both requests' events are in, once each.
        wait_until(lambda: set(self.stream_ids()) >= {"gone-1", "gone-2"},
                   10, what="events of the vanished clients")
        self.assertEqual(sorted(self.stream_ids()), ["gone-1", "gone-2"])
        # The sender's retry is acknowledged, not written again.
        r = self.b.post("website", event("gone-1", kind="form_submit"))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json(), {"events": 1, "duplicates": 1})
        self.assertEqual(sorted(self.stream_ids()), ["gone-1", "gone-2"])

    def test_gone_many_times_keeps_serving(self):
        for i in range(200):
            self.send_and_vanish(event(f"burst-{i}"))
        r = self.b.post("website", event("after-burst"))
        self.assertEqual(r.status, 200, repr(r))
        wait_until(lambda: len(self.stream_ids()) == 201, 10,
                   what="all 201 events")
        self.assertEqual(len(set(self.stream_ids())), 201)
        self.assertEqual(self.b.get("/healthz").status, 200)


if __name__ == "__main__":
    main()

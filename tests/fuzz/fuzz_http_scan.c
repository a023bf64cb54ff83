/*
 * fuzz_http_scan.c - libFuzzer target for the HTTP listener's request
 * framing scanner (daemon/http.c, included for its statics): the bytes a
 * client sends, fed whole to one scanner and in pieces of fuzzer-chosen
 * sizes to another, must leave both in the same state with the same
 * verdict, since the daemon sees a connection's bytes in whatever pieces
 * the network delivers them.  Also checks what the scanner promises: a
 * request it lets through stays within max_header_size, max_headers and
 * max_body, and a refusal carries a status and a message.
 *
 * The first two input bytes pick the piece sizes; the rest is the stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.c"

/* Unlike CHECK(), never compiled out. */
#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct http_limits fuzz_limits = {
	.max_body = 4096,
	.max_header_size = 1024,
	.max_headers = 8,
	.max_connections = 16,
	.header_timeout_ms = 1000,
	.body_timeout_ms = 1000,
};

static void
same(const struct http_scan *a, const struct http_scan *b)
{
	CHECK(a->state == b->state);
	CHECK(a->status == b->status);
	CHECK(strcmp(a->why, b->why) == 0);
	if (a->state == SCAN_REFUSED)
		return;
	CHECK(a->bytes == b->bytes);
	CHECK(a->head_bytes == b->head_bytes);
	CHECK(a->nfields == b->nfields);
	CHECK(a->total == b->total);
	CHECK(a->left == b->left);
}

static void
promises(const struct http_scan *sc)
{
	if (sc->state == SCAN_REFUSED) {
		CHECK(sc->status >= 400 && sc->status <= 599);
		CHECK(sc->why[0] != '\0');
		return;
	}
	CHECK(sc->status == 0);
	CHECK(sc->head_bytes <= sc->max_header_size);
	CHECK(sc->nfields <= sc->max_headers);
	CHECK(sc->content_length <= sc->max_body || scan_in_head(sc));
	CHECK(sc->total <= sc->max_body);
	CHECK(sc->len <= sc->max_header_size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_scan whole, pieces;
	size_t step_a, step_b, off, n, i;
	int rc_whole, rc = 0;

	if (size < 2)
		return 0;
	step_a = (size_t)data[0] % 17 + 1;
	step_b = (size_t)data[1] % 5 + 1;
	data += 2;
	size -= 2;

	scan_reset(&whole, &fuzz_limits);
	rc_whole = scan_feed(&whole, data, size);
	promises(&whole);

	/* Pieces alternate between the two sizes, as reads might. */
	scan_reset(&pieces, &fuzz_limits);
	for (off = 0, i = 0; off < size; off += n, i++) {
		n = i % 2 == 0 ? step_a : step_b;
		if (n > size - off)
			n = size - off;
		rc = scan_feed(&pieces, data + off, n);
		promises(&pieces);
		if (rc != 0)
			break;
	}
	CHECK(rc == rc_whole);
	same(&whole, &pieces);
	return 0;
}

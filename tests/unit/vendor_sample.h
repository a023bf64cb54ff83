/*
 * vendor_sample.h - for connector unit tests: reads one of the
 * vendor-authored samples in ../shared/vendor-samples/<vendor>/
 * (BATON_VENDOR_SAMPLES), which parsers must agree with.  Include after
 * cmocka.h.
 */
#ifndef BATON_TEST_VENDOR_SAMPLE_H
#define BATON_TEST_VENDOR_SAMPLE_H

#include <stdio.h>
#include <stdlib.h>

/* The whole file, NUL-terminated, malloc'd; its length in *len.  Fails
 * the test when it cannot be read. */
static inline char *
vendor_sample(const char *vendor, const char *name, size_t *len)
{
	char path[512], *buf;
	long n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s/%s", BATON_VENDOR_SAMPLES, vendor,
	    name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

#endif

/*
 * timestamp.c - event times as sources write them (timestamp.h), turned
 * into milliseconds since the epoch.
 *
 * Nothing here consults the local time zone or the C library's calendar
 * (mktime, timegm, strptime): days are computed from the civil date with
 * the proleptic Gregorian rules directly, so a host's TZ or locale can
 * never shift an event.
 */
#include <baton/timestamp.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_PER_DAY   INT64_C(86400000)
#define SECONDS_MAX  INT64_C(100000000000)      /* below: epoch seconds */
#define MS_YEAR_10000 INT64_C(253402300800000)  /* 10000-01-01T00:00:00Z */

/* ---- Civil calendar ---------------------------------------------------- */

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Floor division for the negative years and days below. */
static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * Days from 1970-01-01 to y-m-d.  Years are counted from March, so that
 * the leap day is the last day of the (shifted) year: an era of 400 years
 * has 146097 days, a shifted year 365 plus its leap day, and the months
 * March..February have 153 days per 5 months.
 */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;                            /* [0, 399] */
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  /* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;    /* [0, 146096] */
	return era * 146097 + doe - 719468;             /* 719468: 0000-03-01 */
}

/* The inverse of days_from_civil(). */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ---- RFC 3339 ---------------------------------------------------------- */

/* Reads exactly n digits at *s into *out and advances. */
static int
digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*s)[i];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

/*
 * Parses "YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)"; 't', 'z' and a
 * space for 'T' are accepted.  Every field is range checked (February 29
 * only in leap years; second 60, a leap second, is accepted and counts as
 * the next minute's first).  The fraction may have any number of digits;
 * it is truncated to milliseconds.  Returns 0 with *ms set, or -1.
 */
int
timestamp_parse_rfc3339(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;
	int64_t t;

	if (s == NULL)
		return -1;
	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d))
		return -1;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return -1;
	s++;
	if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) ||
	    *s++ != ':' || digits(&s, 2, &sec))
		return -1;
	if (*s == '.') {
		int n = 0;

		s++;
		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++, n++)
			if (n < 3)
				frac = frac * 10 + (*s - '0');
		for (; n < 3; n++)
			frac *= 10;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '-' ? -1 : 1;
		if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om))
			return -1;
	} else {
		return -1;
	}
	if (*s != '\0')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -1;

	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= sign * (oh * 3600 + om * 60);
	*ms = t * 1000 + frac;
	return 0;
}

/* ---- JSON values ------------------------------------------------------- */

static int
check_range(int64_t ms, const char *what, char *err, size_t errlen)
{
	if (ms < 0) {
		snprintf(err, errlen, "%s is before 1970", what);
		return -1;
	}
	if (ms >= MS_YEAR_10000) {
		snprintf(err, errlen, "%s is after 9999", what);
		return -1;
	}
	return 0;
}

/*
 * A string of digits with an optional ".digits": epoch seconds below 1e11,
 * else epoch milliseconds (a fraction of a millisecond is dropped).
 * Returns 1 when s has that form (*ms set; a huge value saturates and
 * is refused by the range check), 0 when it is not such a string.
 */
static int
numeric_string(const char *s, int64_t *ms)
{
	int64_t whole = 0, frac = 0;
	int nfrac = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (INT64_MAX - 9) / 10)
			whole = INT64_MAX;      /* saturate: refused later */
		else
			whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return 0;
		for (; *p >= '0' && *p <= '9'; p++, nfrac++)
			if (nfrac < 3)
				frac = frac * 10 + (*p - '0');
		for (int n = nfrac; n < 3; n++)
			frac *= 10;
	}
	if (*p != '\0')
		return 0;
	if (whole < SECONDS_MAX)
		*ms = whole * 1000 + frac;
	else
		*ms = whole;
	return 1;
}

/*
 * Interprets v as a time (see timestamp.h).  Returns 0 with *ms set, or
 * -1 with a message in err: "... is before 1970", "... is after 9999",
 * "\"...\" is not a time (epoch seconds, epoch milliseconds or RFC 3339)",
 * "expected a number or a string, got ...".
 */
int
timestamp_from_json(const json_t *v, int64_t *ms, char *err, size_t errlen)
{
	char what[64];
	int64_t t;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		snprintf(what, sizeof(what), "%lld", (long long)i);
		if (i < 0)
			return check_range(-1, what, err, errlen);
		t = i < SECONDS_MAX ? i * 1000 : i;
	} else if (json_is_real(v)) {
		double x = json_real_value(v);

		snprintf(what, sizeof(what), "%.17g", x);
		if (!(x >= 0))          /* also NaN */
			return check_range(-1, what, err, errlen);
		if (x < (double)SECONDS_MAX)
			x *= 1000;
		if (x >= (double)MS_YEAR_10000)
			return check_range(MS_YEAR_10000, what, err, errlen);
		t = (int64_t)(x + 0.5);  /* nearest: 0.123 is not exact */
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);

		snprintf(what, sizeof(what), "\"%.40s\"", s);
		if (!numeric_string(s, &t) &&
		    timestamp_parse_rfc3339(s, &t) == -1) {
			snprintf(err, errlen, "%s is not a time (epoch "
			    "seconds, epoch milliseconds or RFC 3339)", what);
			return -1;
		}
	} else {
		snprintf(err, errlen, "expected a number or a string, got %s",
		    v == NULL ? "nothing" : json_is_object(v) ? "an object" :
		    json_is_array(v) ? "an array" : json_is_null(v) ? "null" :
		    "a boolean");
		return -1;
	}
	if (check_range(t, what, err, errlen) == -1)
		return -1;
	*ms = t;
	return 0;
}

/* ---- Clock and formatting ---------------------------------------------- */

/* The wall clock in ms since the epoch. */
int64_t
timestamp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes ms as "YYYY-MM-DDThh:mm:ss.mmmZ" (UTC) into out, truncated to
 * outlen; 25 bytes hold any time from year 0 to 9999. */
void
timestamp_format(int64_t ms, char *out, size_t outlen)
{
	int64_t days = floor_div(ms, MS_PER_DAY), rem, y;
	int m, d;

	rem = ms - days * MS_PER_DAY;
	civil_from_days(days, &y, &m, &d);
	snprintf(out, outlen, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    (long long)y, m, d, (int)(rem / 3600000),
	    (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
	    (int)(rem % 1000));
}

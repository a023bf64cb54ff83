/*
 * spec_rules.h - SPEC's "Shared MQL/SQL definitions" example, verbatim (a
 * contract: it must keep meaning what it says).  One copy for every unit
 * test that loads it; line numbers in expected messages refer to it
 * (title rule on line 2, company_size 3, email 4, form_submit 5,
 * email_click 6, page_view 7, mql's when 12).
 */
#ifndef BATON_TEST_SPEC_RULES_H
#define BATON_TEST_SPEC_RULES_H

#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "rules.h"

static const char spec_example[] =
    "[score]\n"
    "rule = +20 if title ~ \"vp|vice president|director|head of\"\n"
    "rule = +15 if company_size >= 200\n"
    "rule = -30 if email ~ \"@(gmail|yahoo|hotmail)\\.\"\n"
    "rule = +40 on form_submit where form == \"demo-request\"\n"
    "rule = +5 on email_click cap 25 per 30d\n"
    "rule = +10 on page_view where url ~ \"/pricing\"\n"
    "# engagement fades, fit does not\n"
    "decay = 25% per 30d\n"
    "\n"
    "[stage mql]\n"
    "when = score >= 60 and fit >= 15\n"
    "\n"
    "[stage sql]\n"
    "when = sales.status == \"qualified\" or deal.stage != \"\"\n"
    "\n"
    "[sla accept]\n"
    "after = mql\n"
    "# sales must accept or reject an MQL\n"
    "within = 24h\n"
    "on_breach = notify, recycle\n";

/* The example compiled as "rules.conf", or NULL having printed why. */
static inline struct rules *
spec_rules_compile(void)
{
	struct diag d = { 0 };
	struct rules *r = rules_parse_buffer("rules.conf", spec_example,
	    strlen(spec_example), &d);

	if (r == NULL)
		diag_print(&d, stderr);
	diag_clear(&d);
	return r;
}

#endif

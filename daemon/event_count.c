/*
 * event_count.c - the received-events counter of event_count.h.  The
 * type label takes only canonical type names (validation ran before), so
 * the series stay few.
 */
#include "event_count.h"

#include "metrics.h"

void
event_count_received(const char *connector, struct baton_event *const *evs,
    size_t n)
{
	static struct metric *m;

	if (m == NULL)
		m = metric_counter("baton_events_received_total",
		    "Events stored or recognised as redeliveries, by "
		    "connector and type.", "connector,type");
	for (size_t i = 0; i < n; i++)
		if (evs[i] != NULL && evs[i]->type != NULL)
			metric_inc(metric_series(m, connector, evs[i]->type));
}

/*
 * event_count.h - baton_events_received_total{connector,type}: the events
 * Redis acknowledged from a webhook request or a poll round, by connector
 * and canonical type (duplicates included: what the sources sent).
 */
#ifndef BATON_EVENT_COUNT_H
#define BATON_EVENT_COUNT_H

#include <stddef.h>

#include <baton/event.h>

/* Counts evs[0..n) for connector. */
void event_count_received(const char *connector,
    struct baton_event *const *evs, size_t n);

#endif

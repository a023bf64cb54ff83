/*
 * connector_types.c - the connector descriptors batond knows, found by
 * name.  Adding a connector type is one line here and one add_subdirectory
 * in connectors/CMakeLists.txt.
 */
#include <stddef.h>

#include <baton/connector.h>

extern const struct connector connector_webhook;
extern const struct connector connector_salesforce;
extern const struct connector connector_slack;
extern const struct connector connector_hubspot;

const struct connector *const connector_types[] = {
	&connector_webhook,
	&connector_salesforce,
	&connector_slack,
	&connector_hubspot,
	NULL,
};

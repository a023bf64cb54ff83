/* placeholder, being written */
#include <baton/connector.h>
const struct connector connector_webhook = { .name = "webhook" };

/* salesforce.c - placeholder until the salesforce connector lands. */
#include <baton/connector.h>

static int
salesforce_init(struct connector_instance *ci)
{
	(void)ci;
	return 0;
}

const struct connector connector_salesforce = {
	.name = "salesforce",
	.roles = CONNECTOR_ROLE_SALES,
	.init = salesforce_init,
};

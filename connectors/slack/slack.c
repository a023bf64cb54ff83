/* slack.c - placeholder until the slack connector lands. */
#include <baton/connector.h>

static int
slack_init(struct connector_instance *ci)
{
	(void)ci;
	return 0;
}

const struct connector connector_slack = {
	.name = "slack",
	.roles = CONNECTOR_ROLE_SALES,
	.init = slack_init,
};

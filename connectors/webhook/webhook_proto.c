/* webhook_proto.c - placeholder, being written. */

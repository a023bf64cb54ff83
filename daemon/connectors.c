/* connectors.c - placeholder, being written. */

/* jsonpath.c - placeholder, being written. */

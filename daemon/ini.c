/* ini.c - placeholder, being written. */

/* redis.c - placeholder, being written. */

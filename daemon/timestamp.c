/* timestamp.c - placeholder, being written. */

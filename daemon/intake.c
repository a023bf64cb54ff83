/* intake.c - placeholder, being written. */

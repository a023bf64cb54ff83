/* ctl_tail.c - placeholder, being written. */

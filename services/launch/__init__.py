"""The launchers' plumbing: flags with environment defaults, logging, exit codes, and the
run loop that hosts one service until SIGTERM or Ctrl-C."""

"""The single-machine platform: embedded broker and Redis, the supervisor behind `govmail up`."""

"""govmail services: ingress, scanner, delivery, lifecycle, analytics and their shared parts."""

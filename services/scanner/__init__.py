"""The scanner service: runs named checks over each received message and publishes a verdict."""

"""SMTP ingress: the front door that accepts mail durably and publishes it to the bus."""

"""Event models, the topic registry, exported JSON Schema and example payloads."""

"""Sender authentication for mail from outside: SPF, DKIM and DMARC over the configured DNS resolver."""

"""The webmail: the civil servant's web UI and API for reading, sending and following their mail."""

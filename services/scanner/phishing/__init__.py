"""Phishing helpers: Safe-Browsing URL hashing, the province's list, links in mail and lookalike domains."""

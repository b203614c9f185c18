"""Delivery: turns scanner verdicts into mailbox copies, quarantine entries and per-recipient outcomes."""

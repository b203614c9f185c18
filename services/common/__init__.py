"""Parts every service shares: settings, logging, bus, blob store, spool, directory."""

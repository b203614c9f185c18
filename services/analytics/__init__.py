"""Analytics: every topic of the bus, batched into ClickHouse tables, and the statistics read from them."""

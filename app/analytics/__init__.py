"""Analytics: per project, a daily time series of its tasks and spend (read side only)."""

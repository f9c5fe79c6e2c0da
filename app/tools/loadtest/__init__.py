"""`collabspace loadtest`: REST mutations in, WebSocket deliveries out, counted and timed."""

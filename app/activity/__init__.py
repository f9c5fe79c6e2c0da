"""Activity: the human-readable feed of what happened, per project and per tenant (read side)."""

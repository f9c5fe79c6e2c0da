"""The relay: tails the event store (the outbox) and publishes to the broker in order."""

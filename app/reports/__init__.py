"""The reports context: CSV exports of the read models, streamed in constant memory."""

"""Notifications: each user's inbox of what others did to their work (read side), and the
user's own "mark read" commands (write side, so a rebuild reproduces read state)."""

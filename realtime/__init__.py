"""CollabSpace realtime gateway. Deployed apart from the API; imports nothing from `app`."""

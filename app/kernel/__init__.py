"""Building blocks shared by every bounded context. No business words live here."""

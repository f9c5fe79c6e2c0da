"""The browser side: the live board page and the JavaScript client, served as static files."""

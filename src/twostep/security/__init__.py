"""Security building blocks: password hashing and policy (the web layer adds sessions, CSRF)."""

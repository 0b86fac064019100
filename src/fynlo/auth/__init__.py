"""Authentication: password and PIN hashing, tokens, two-factor."""

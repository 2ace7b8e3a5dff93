"""Security: accounts, sessions and tokens, roles, the ownership lookup, the credential vault."""

"""Business rules with no request objects: push, pull, tags, search, tokens.

Views parse input, call one of these functions with the caller's user, and serialise what
comes back; the functions raise the domain errors of ``exceptions.py``.
"""

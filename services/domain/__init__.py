"""The domain: models, errors, rules config, the inputs document and the decisions.

Nothing here does I/O, starts a thread or imports Pyro5; every rule is a plain function
that takes values and returns values, so it is tested without a network or a disk.
"""

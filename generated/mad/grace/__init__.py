"""Grace, the user gateway (see :mod:`mad.grace.server`)."""
from mad.grace.server import Grace, token_hash

__all__ = ["Grace", "token_hash"]

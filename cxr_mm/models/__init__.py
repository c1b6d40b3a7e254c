from . import heads, losses, selfsup, utils  # noqa: F401

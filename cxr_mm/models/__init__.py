from . import heads, losses, selfsup  # noqa: F401

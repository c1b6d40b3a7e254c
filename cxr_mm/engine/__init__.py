from . import hooks  # noqa: F401
from . import strict_pretrained  # noqa: F401,E402  (helper stage2)

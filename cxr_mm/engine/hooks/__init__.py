# Components are imported here so that 'import cxr_mm' registers them.
from .cam_hook import CAMHook  # noqa: F401,E402

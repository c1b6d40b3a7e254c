# Importing registers the components (see cxr_mm.register).
from .cam_hook import CAMHook  # noqa: F401,E402
from .knn_monitor_hook import KNNMonitorHook  # noqa: F401,E402

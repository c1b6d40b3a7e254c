# Importing registers the components (see cxr_mm.register).
from .cam_hook import CAMHook  # noqa: F401
from .knn_monitor_hook import KNNMonitorHook  # noqa: F401
from .rng_state_hook import RNGStateHook  # noqa: F401

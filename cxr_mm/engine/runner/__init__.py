# Importing registers the components (see cxr_mm.register).
from .epoch_based_train_loop import ResumableEpochBasedTrainLoop  # noqa: F401
from .iter_based_train_loop import ResumableIterBasedTrainLoop  # noqa: F401

"""mmengine's iteration loop, with the random state put back on resume."""

from mmengine.registry import LOOPS
from mmengine.runner import IterBasedTrainLoop


class _AfterSkip:
    """The loop's batch iterator; calls the restore hook before batch ``skip + 1``."""

    def __init__(self, batches, skip: int, runner) -> None:
        self.batches, self.left, self.runner = batches, skip, runner

    def __iter__(self):
        return self

    def __next__(self):
        if self.left == 0:
            self.runner.call_hook('after_skip_trained_batches')
        self.left -= 1
        return next(self.batches)


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` whose resume also continues the random streams.

    mmengine 0.10.7 already skips the batches trained before a resume; this loop then
    asks :class:`~cxr_mm.engine.hooks.RNGStateHook` to put back the random state the
    checkpoint saved, right before the first new batch is drawn, so the resumed run
    draws the views the uninterrupted one would have.
    """

    def run(self):
        if self._iter > 0:
            self.dataloader_iterator = _AfterSkip(self.dataloader_iterator, self._iter, self.runner)
        return super().run()

"""mmengine's epoch loop, resumable from a checkpoint written inside an epoch."""

from mmengine.registry import LOOPS
from mmengine.runner import EpochBasedTrainLoop


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes inside an epoch where it stopped.

    mmengine 0.10.7 resumes an iteration checkpoint (``CheckpointHook(by_epoch=False)``,
    what a long epoch on the real data needs) at the start of its epoch: the batches
    already trained are trained again and the epoch runs past ``len(dataloader)``,
    pushing every iteration-based schedule past its end. Here the resumed epoch draws
    those batches (same sampler order, same worker seeds) without training on them,
    then asks :class:`~cxr_mm.engine.hooks.RNGStateHook` to put back the random state
    the checkpoint saved, so training continues as the uninterrupted run would.
    Nothing changes for a run that starts from scratch.
    """

    def run_epoch(self) -> None:
        """Iterate one epoch, skipping the batches trained before a resume."""
        done = self._iter - self._epoch * len(self.dataloader)  # > 0 only after a resume
        if not 0 <= done <= len(self.dataloader):
            raise RuntimeError(
                f'Resumed at iteration {self._iter} in epoch {self._epoch + 1}, which does not '
                f'fit {len(self.dataloader)} batches per epoch: were the training data or the '
                'batch size changed since the checkpoint was written?'
            )
        if self._resuming and done == 0:  # checkpoint written at the end of an epoch
            self.runner.call_hook('after_skip_trained_batches')
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        batches = iter(self.dataloader)
        for _ in range(done):
            next(batches)
        if self._resuming and done > 0:
            self.runner.call_hook('after_skip_trained_batches')
        self._resuming = False
        for idx, data_batch in enumerate(batches, start=done):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def run(self):
        self._resuming = self._iter > 0  # set by Runner.resume before run()
        return super().run()

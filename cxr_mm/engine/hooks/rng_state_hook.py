"""Random streams saved with every checkpoint and restored on resume."""

import random
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

__all__ = ['RNGStateHook', 'get_rng_state', 'set_rng_state']


def get_rng_state() -> Dict:
    """This process's python, numpy, torch (and CUDA) random states.

    Plain containers and tensors only, so the checkpoint stays loadable by the
    allow-listing loader (cxr_mm.checkpoint.safe_load).
    """
    np_state = np.random.get_state(legacy=False)
    state = dict(
        python=random.getstate(),
        numpy=dict(
            key=torch.from_numpy(np_state['state']['key'].astype(np.int64)),
            pos=int(np_state['state']['pos']),
            has_gauss=int(np_state['has_gauss']),
            gauss=float(np_state['gauss']),
        ),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict) -> None:
    """Inverse of :func:`get_rng_state`."""
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    np_state = state['numpy']
    np.random.set_state(
        dict(
            bit_generator='MT19937',
            state=dict(key=np_state['key'].numpy().astype(np.uint32), pos=np_state['pos']),
            has_gauss=np_state['has_gauss'],
            gauss=np_state['gauss'],
        )
    )
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the training random streams with each checkpoint; restore them on resume.

    mmengine 0.10.7 seeds once at start (``randomness.seed``) and writes no random
    state into a checkpoint, so a run resumed at iteration k draws its augmentations
    and RoI/anchor samples from the seed's stream rather than from where the
    interrupted run was: the schedule continues, the weights diverge. This hook adds
    ``checkpoint['rng_state']`` (python, numpy, torch, CUDA) and hands it back to the
    resumable loops (``ResumableEpochBasedTrainLoop``, ``ResumableIterBasedTrainLoop``),
    which call :meth:`after_skip_trained_batches` once the batches trained before
    the checkpoint have been skipped, the point the saved state belongs to.

    Validation draws from the torch stream too (every DataLoader iterator takes a
    base seed from it), and a resumed run does not repeat the validation that followed
    the checkpoint. So validation runs on a side copy: the training state is kept at
    ``before_val`` and put back at ``after_val``, and a checkpoint written during
    validation (``save_best``) stores the kept training state.

    Exact in a single process with ``num_workers=0`` (augmentation in the main
    process). Loader workers are re-seeded by mmengine from the seed when they start,
    so with persistent workers the augmentation draws after a resume differ from the
    uninterrupted run. mmengine writes checkpoints on rank 0 only, so in a distributed
    run the other ranks' streams are not saved and the streams restart from the seed.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._resumed: Optional[Dict] = None
        self._train_state: Optional[Dict] = None  # kept while validating

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = self._train_state or get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Also called for `load_from` (weights only); the loops ask for the state
        # only when they resume (iteration > 0).
        self._resumed = checkpoint.get('rng_state')

    def after_skip_trained_batches(self, runner) -> None:
        """Continue the streams where the resumed checkpoint left them."""
        if self._resumed is None:
            print_log(
                'RNGStateHook: the resumed checkpoint holds no random state (written '
                'before the hook existed); random streams restart from the seed.',
                logger='current',
                level='WARNING',
            )
        elif get_world_size() > 1:
            print_log(
                'RNGStateHook: distributed run, only rank 0 random state was saved; '
                'random streams restart from the seed.',
                logger='current',
                level='WARNING',
            )
        else:
            set_rng_state(self._resumed)
        self._resumed = None

    def before_val(self, runner) -> None:
        self._train_state = get_rng_state()

    def after_val(self, runner) -> None:
        if self._train_state is not None:
            set_rng_state(self._train_state)
            self._train_state = None

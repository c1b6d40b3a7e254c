# Copyright (c) cxr-mm contributors. All rights reserved.
"""Record the forward below a target layer once, replay it for ablated batches.

Ablating channels of a target layer cannot change any module that finishes
before the layer starts. :func:`record_forward` runs the model once with hooks
and returns, besides its outputs and the target activations, the outputs of
the modules that (a) finish before the target starts, (b) are not called
again after it, and (c) are children of the target's ancestors (so their
outputs are what the ancestors consume). :class:`ForwardPatch` then makes
those modules return the recorded outputs in later forwards, so the layers
below the target are not recomputed per ablated batch.

Used by :class:`cxr_mm.cam.BatchedAblationCAM` (the exact fast path).
"""

from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor, nn


def repeat_output(output, n: int):
    """Batch of ``n`` copies of a cached (batch-1) module output."""
    if isinstance(output, Tensor):
        return output.repeat(n, *([1] * (output.dim() - 1)))
    if isinstance(output, (tuple, list)):
        return type(output)(repeat_output(o, n) for o in output)
    raise TypeError(f'cannot cache a module output of type {type(output)}')


def clone_output(output):
    """Detached copy (later in-place ops such as ReLU(inplace) must not alter
    the cache)."""
    if isinstance(output, Tensor):
        return output.detach().clone()
    return type(output)(clone_output(o) for o in output)


def is_cacheable(output) -> bool:
    """A batch-1 tensor, or a non-empty tuple/list of them."""
    if isinstance(output, Tensor):
        return output.dim() > 0 and output.shape[0] == 1
    if isinstance(output, (tuple, list)):
        return len(output) > 0 and all(is_cacheable(o) for o in output)
    return False


class ForwardPatch:
    """Temporarily replace ``module.forward`` (restored on exit)."""

    def __init__(self, patches: Dict[nn.Module, Callable]) -> None:
        self.patches = patches
        self.saved = {}

    def __enter__(self):
        for module, fn in self.patches.items():
            self.saved[module] = module.__dict__.get('forward', None)
            module.forward = fn
        return self

    def __exit__(self, *exc) -> None:
        for module, old in self.saved.items():
            if old is None:
                del module.forward
            else:
                module.forward = old


def cache_candidates(names: Dict[nn.Module, str], target_layer: nn.Module) -> List[nn.Module]:
    """Children of the target's ancestors (cache candidates).

    Containers that are never called (``ModuleList``/``ModuleDict``, e.g.
    FPN's ``lateral_convs``) are looked through.

    Args:
        names: ``{module: qualified name}`` of the model's modules.
        target_layer: the layer whose channels are ablated.
    """
    by_name = {n: m for m, n in names.items()}
    target_name = names[target_layer]
    parts = target_name.split('.')
    ancestors = {'.'.join(parts[:i]) for i in range(len(parts))}

    def caller(name: str) -> str:
        parent = name.rsplit('.', 1)[0] if '.' in name else ''
        while parent and isinstance(by_name.get(parent), (nn.ModuleList, nn.ModuleDict)):
            parent = parent.rsplit('.', 1)[0] if '.' in parent else ''
        return parent

    return [
        m
        for m, name in names.items()
        if name
        and name != target_name
        and name not in ancestors
        and not isinstance(m, (nn.ModuleList, nn.ModuleDict))
        and caller(name) in ancestors
    ]


def record_forward(
    model: nn.Module, target_layer: nn.Module, input_tensor: Tensor
) -> Tuple[object, Tensor, Dict[nn.Module, object]]:
    """Full forward recording the target activations and what to cache.

    A module whose call completes before the target layer starts cannot
    depend on the ablated channels; if neither it nor its sub-modules run
    again later, its output is reused for every ablated batch.

    Returns:
        tuple: the model outputs, the target layer's output and the cache
        ``{module: recorded output}``.
    """
    names = {m: n for n, m in model.named_modules()}
    candidates = set(cache_candidates(names, target_layer))
    state = dict(target_started=False, activations=None)
    finished_before = {}
    called_after = set()
    calls = {}
    handles = []

    def pre_hook(module, args):
        calls[module] = calls.get(module, 0) + 1
        if module is target_layer:
            if state['target_started']:
                raise ValueError(
                    'the target layer is called more than once per forward; '
                    'choose a layer that runs once'
                )
            state['target_started'] = True
        elif state['target_started']:
            called_after.add(module)

    def post_hook(module, args, output):
        if module is target_layer:
            state['activations'] = output
        elif not state['target_started'] and module in candidates and is_cacheable(output):
            finished_before[module] = clone_output(output)

    for module in names:
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook))
    try:
        with torch.no_grad():
            outputs = model(input_tensor)
    finally:
        for h in handles:
            h.remove()
    if state['activations'] is None:
        raise RuntimeError('the target layer was not called in forward')

    cache = {}
    for module, output in finished_before.items():
        if calls.get(module, 0) != 1:
            continue
        if any(m in called_after for m in module.modules()):
            continue
        cache[module] = output
    return outputs, state['activations'], cache


class UpstreamReplay:
    """Patches that make the cached modules skip their computation.

    Args:
        cache: ``{module: batch-1 output}`` from :func:`record_forward`.
        exact (bool): False repeats the batch-1 outputs for every batch
            (the layers below the target run once in all). True runs them
            once per distinct batch size, in the batch shape grad-cam uses,
            and replays that (CPU/GPU kernels round differently per batch
            size; Ablation-CAM weights amplify that, see
            :class:`cxr_mm.cam.BatchedAblationCAM`).
    """

    def __init__(self, cache: Dict[nn.Module, object], exact: bool) -> None:
        self.cache = cache
        self.exact = exact
        self.by_size: Dict[int, dict] = {}
        self.upstream_runs = 1  # the recording forward

    def patches(self, batch: int) -> Tuple[Dict[nn.Module, Callable], List]:
        """``(forward patches, hook handles to remove after the forward)``
        for a forward of ``batch`` ablated copies."""
        if not self.exact:
            return {
                m: (lambda *a, _o=o, _b=batch, **k: repeat_output(_o, _b))
                for m, o in self.cache.items()
            }, []
        if batch in self.by_size:
            return {
                m: (lambda *a, _o=o, **k: clone_output(_o)) for m, o in self.by_size[batch].items()
            }, []
        # First batch of this size: the layers before the target run (as in
        # grad-cam); keep their outputs.
        captured = self.by_size[batch] = {}
        handles = [
            m.register_forward_hook(
                lambda mod, a, out, _c=captured: _c.__setitem__(mod, clone_output(out))
            )
            for m in self.cache
        ]
        self.upstream_runs += 1
        return {}, handles

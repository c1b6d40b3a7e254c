"""Stage-1 (BarlowTwins-CXR) checkpoint -> ResNet-50 file that mmdet's ResNet loads.

    python tools/model_converters/extract_backbone.py \
        work_dirs/barlowtwins-cxr_.../epoch_800.pth checkpoints/bt-cxr_r50_800e.pth

The output is ``{'state_dict': <ResNet-50 tensors, 'backbone.' stripped>, 'meta': {...}}``,
usable as ``init_cfg=dict(type='StrictPretrained', checkpoint=OUT)`` in a detector or
linear-eval backbone (the ``pretrained_backbone`` variable of those configs).
The written file is re-read and checked: all 318 ResNet-50 parameters and buffers, no
other key, every tensor equal to the source.
"""

import argparse
import os
import os.path as osp
import sys
from typing import Optional

import torch

import cxr_mm.register  # noqa: F401  (safe checkpoint loader)
from cxr_mm.checkpoint import (
    extract_resnet50_state_dict,
    file_sha256,
    safe_torch_load,
    verify_resnet50_state_dict,
    verify_saved_backbone,
)


def extract_backbone(src: str, dst: str, prefix: str = 'backbone.') -> dict:
    """Write the backbone of ``src`` to ``dst``; returns a summary dict."""
    checkpoint = safe_torch_load(src, map_location='cpu')
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get('state_dict'), dict):
        raise ValueError(f"{src}: not an mmengine checkpoint (no 'state_dict' entry)")
    state_dict, dropped = extract_resnet50_state_dict(
        checkpoint['state_dict'], source=src, prefixes=(prefix, 'module.' + prefix)
    )
    verify_resnet50_state_dict(state_dict, source=src)
    src_meta = checkpoint.get('meta') or {}
    meta = dict(
        source=osp.abspath(src),
        source_sha256=file_sha256(src),
        converter='cxr_mm tools/model_converters/extract_backbone.py',
        arch='ResNet-50',
        prefix_stripped=prefix,
        num_tensors=len(state_dict),
        num_dropped=len(dropped),
        **{k: src_meta[k] for k in ('epoch', 'iter', 'cfg') if k in src_meta},
    )
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict={k: v.clone() for k, v in state_dict.items()}, meta=meta), dst)
    verify_saved_backbone(dst, state_dict)
    return dict(
        out=dst, num_tensors=len(state_dict), num_dropped=len(dropped), dropped_example=dropped[:5]
    )


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='stage-1 checkpoint (epoch_*.pth / iter_*.pth)')
    parser.add_argument('dst', help='output backbone file')
    parser.add_argument('--prefix', default='backbone.', help='key prefix to strip')
    args = parser.parse_args(argv)
    summary = extract_backbone(args.src, args.dst, args.prefix)
    print(
        f'wrote {summary["out"]}: {summary["num_tensors"]} ResNet-50 tensors verified; '
        f'{summary["num_dropped"]} non-backbone tensors left out '
        f'(e.g. {summary["dropped_example"]})'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""torchvision-format ResNet-50 (e.g. the BarlowTwins-CXR authors' release) -> cxr-mm file.

    python tools/model_converters/torchvision2cxrmm.py \
        resnet50.pth checkpoints/bt-cxr_authors_r50.pth

Accepts what the authors' script writes: ``resnet50.pth`` / ``best_model.pth`` (a plain
torchvision state dict, ``fc`` replaced by Identity) or ``checkpoint.pth`` (``{'model': DDP
state dict}`` with ``module.backbone.``/``module.projector.`` keys), and torchvision's own
ImageNet files (``resnet50-11ad3fa6.pth``; ``fc`` is dropped). The output has the layout of
``extract_backbone.py``'s: ``{'state_dict': ResNet-50 tensors, 'meta': {...}}``, loadable by
mmdet/mmpretrain ResNet (``init_cfg=dict(type='StrictPretrained', checkpoint=OUT)``) and by
``BarlowTwinsCXR(backbone_checkpoint=OUT)``. With ``--stage1-prefix`` the keys get
``backbone.`` so the file can be a stage-1 ``load_from``. The written file is re-read and
checked: all 318 ResNet-50 parameters and buffers, no other key, tensors equal to the source.
"""

import argparse
import os
import os.path as osp
import sys
from typing import Optional

import torch

import cxr_mm.register  # noqa: F401  (safe checkpoint loader)
from cxr_mm.checkpoint import file_sha256, load_resnet50_state_dict, verify_saved_backbone


def convert(src: str, dst: str, stage1_prefix: bool = False) -> dict:
    """Convert ``src`` to ``dst``; returns a summary dict."""
    state_dict, dropped = load_resnet50_state_dict(src)
    meta = dict(
        source=osp.abspath(src),
        source_sha256=file_sha256(src),
        converter='cxr_mm tools/model_converters/torchvision2cxrmm.py',
        arch='ResNet-50',
        num_tensors=len(state_dict),
        num_dropped=len(dropped),
        dropped=dropped,
    )
    prefix = 'backbone.' if stage1_prefix else ''
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(
        dict(state_dict={prefix + k: v.clone() for k, v in state_dict.items()}, meta=meta), dst
    )
    verify_saved_backbone(dst, state_dict, prefix=prefix)
    return dict(out=dst, num_tensors=len(state_dict), dropped=dropped)


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='torchvision-format ResNet-50 file')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--stage1-prefix',
        action='store_true',
        help="prefix keys with 'backbone.' (stage-1 load_from)",
    )
    args = parser.parse_args(argv)
    summary = convert(args.src, args.dst, args.stage1_prefix)
    print(
        f'wrote {summary["out"]}: {summary["num_tensors"]} ResNet-50 tensors verified; '
        f'left out {len(summary["dropped"])} tensors {summary["dropped"][:6]}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())

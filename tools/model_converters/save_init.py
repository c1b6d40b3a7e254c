"""Config -> the model's checkpoint as training starts it (initialised, untrained).

    python tools/model_converters/save_init.py \
        configs/faster_rcnn_cxr/faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py \
        work_dirs/demo/stage2_init/init_detector.pth \
        --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/demo/stage1/backbone.pth

The model is built from the config and initialised exactly as the runner does before
the first training step (``init_weights`` with the config's seed), so a stage-2 config
gives the detector with the stage-1 backbone loaded by ``StrictPretrained`` and untrained
heads: evaluating it with ``tools/test.py`` is the "before training" row of a comparison.
The output is an mmengine checkpoint (``{'state_dict', 'meta'}``) that ``tools/test.py``
loads strictly; it is re-read and checked tensor by tensor after writing.
"""

import argparse
import os
import os.path as osp
import sys
from typing import Optional

import torch
from mmengine.config import Config, DictAction

import cxr_mm.register  # noqa: F401  (StrictPretrained, safe checkpoint loader)
from cxr_mm.checkpoint import safe_torch_load


def save_init(config: str, out: str, cfg_options: Optional[dict] = None) -> dict:
    """Build, initialise and save the model of ``config``; returns a summary dict."""
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import set_random_seed

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.setdefault('default_scope', 'mmengine')
    init_default_scope(cfg.default_scope)
    seed = cfg.get('randomness', {}).get('seed', 0)
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    state_dict = {k: v.detach().clone() for k, v in model.state_dict().items()}
    meta = dict(
        note='untrained model: the initialisation training starts from',
        config=osp.abspath(config),
        cfg_options=dict(cfg_options or {}),
        seed=seed,
        converter='cxr_mm tools/model_converters/save_init.py',
    )
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(dict(state_dict=state_dict, meta=meta), out)
    saved = safe_torch_load(out, map_location='cpu')['state_dict']
    differing = [
        k for k in state_dict if k not in saved or not torch.equal(saved[k], state_dict[k])
    ]
    if differing or len(saved) != len(state_dict):
        raise ValueError(f'{out}: written file differs from the model, e.g. {differing[:5]}')
    return dict(out=out, num_tensors=len(state_dict), model=type(model).__name__, seed=seed)


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog='Writes {"state_dict", "meta"}; tools/test.py CONFIG OUT evaluates it.',
    )
    parser.add_argument('config', help='model config (stage-2 detector, linear-eval classifier)')
    parser.add_argument('out', help='output checkpoint file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (e.g. model.backbone.init_cfg.checkpoint=PATH)',
    )
    args = parser.parse_args(argv)
    summary = save_init(args.config, args.out, args.cfg_options)
    print(
        f'wrote {summary["out"]}: the untrained {summary["model"]} as training starts it '
        f'({summary["num_tensors"]} tensors, seed {summary["seed"]})'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())

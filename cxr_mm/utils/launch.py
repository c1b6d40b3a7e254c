"""Small config adjustments that let the same config run on GPU nodes and on CPU."""
import torch
from mmengine.config import Config
from mmengine.logging import print_log


def prepare_cfg_for_device(cfg: Config) -> Config:
    """Use gloo instead of nccl when no GPU is visible.

    Lets ``tools/dist_train.sh CONFIG N`` run a multi-process CPU job (tests, laptops)
    with the same config a GPU node uses; nothing changes when CUDA is available.
    """
    if torch.cuda.is_available():
        return cfg
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl' and cfg.get('launcher', 'none') != 'none':
        print_log('No GPU visible: using the gloo backend instead of nccl.',
                  logger='current')
        dist_cfg['backend'] = 'gloo'
    return cfg

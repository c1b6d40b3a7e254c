"""Let the same config run on GPU nodes and, distributed, on CPU-only machines."""
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log


def prepare_cfg_for_device(cfg: Config) -> Config:
    """Use gloo instead of nccl when no GPU is visible.

    mmengine 0.10.7's ``init_dist('pytorch')`` always calls ``torch.cuda.set_device``,
    which fails without a driver, and gives DDP ``device_ids`` that CPU modules
    reject. With no GPU we start the gloo process group from torchrun's environment
    ourselves (the runner then skips its own ``init_dist``) and build DDP without
    ``device_ids``. Nothing changes when CUDA is available.
    """
    if torch.cuda.is_available():
        return cfg
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none':
        return cfg
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        print_log('No GPU visible: using the gloo backend instead of nccl.',
                  logger='current')
        dist_cfg['backend'] = 'gloo'
    if launcher == 'pytorch' and not torch_dist.is_initialized():
        torch_dist.init_process_group(backend=dist_cfg['backend'])
    # The runner passes device_ids=[LOCAL_RANK] to DDP, which CPU modules reject.
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
    return cfg

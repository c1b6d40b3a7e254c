from .launch import add_launch_args, load_tool_cfg, prepare_cfg_for_device
from .safe_checkpoint import (UnsafeCheckpointError, install_safe_checkpoint_loader,
                              mmengine_safe_globals, safe_torch_load)

__all__ = ['add_launch_args', 'load_tool_cfg', 'prepare_cfg_for_device', 'UnsafeCheckpointError', 'install_safe_checkpoint_loader',
           'mmengine_safe_globals', 'safe_torch_load']

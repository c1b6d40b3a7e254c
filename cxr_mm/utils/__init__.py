from .launch import add_launch_args, load_tool_cfg, prepare_cfg_for_device

__all__ = ['add_launch_args', 'load_tool_cfg', 'prepare_cfg_for_device']

# Components are imported here so that 'import cxr_mm' registers them.
from .resnet_checkpoint import (extract_resnet50_state_dict, load_resnet50_state_dict,  # noqa: F401
                                resnet50_reference_state, verify_resnet50_state_dict,
                                verify_saved_backbone)

"""BarlowTwins-CXR: Barlow Twins on chest X-rays, started from ImageNet weights."""

from typing import Dict, List, Optional

import torch
from mmengine.logging import MMLogger
from mmpretrain.models import BarlowTwins
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ...checkpoint.resnet50 import load_resnet50_state_dict


@MODELS.register_module()
class BarlowTwinsCXR(BarlowTwins):
    """BarlowTwins-CXR.

    `BarlowTwins-CXR: Enhancing Chest X-Ray abnormality localization in
    heterogeneous data with cross-domain self-supervised learning
    <https://arxiv.org/abs/2402.06499>`_ (Sheng et al., 2024): Barlow Twins
    (Zbontar et al., 2021) pretraining on NIH ChestX-ray14 that starts from an
    ImageNet ResNet-50 instead of random weights.

    Differences to mmpretrain's ``BarlowTwins``: the ImageNet start is read
    from a local torchvision/mmpretrain/mmdet file and checked to be a complete
    ResNet-50 (mmengine's ``Pretrained`` init loads with ``strict=False`` and
    would only warn), and the default head is ``GlobalCrossCorrelationHead``,
    whose loss does not depend on how the batch is split over GPUs.

    Args:
        backbone (dict): Backbone config (a ResNet-50 for the checkpoint).
        neck (dict): Projector config (``NonLinearNeck`` 2048-8192-8192-8192).
        head (dict): Head config (``GlobalCrossCorrelationHead``).
        backbone_checkpoint (str, optional): Local ImageNet ResNet-50 file
            (torchvision ``resnet50-*.pth``, an mmpretrain/mmdet checkpoint or
            the output of ``tools/model_converters``). ``None`` keeps the
            backbone's own (random) initialisation. A missing file is an error.
        **kwargs: Other arguments of ``BaseSelfSupervisor``.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        head: dict,
        backbone_checkpoint: Optional[str] = None,
        **kwargs,
    ) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.backbone_checkpoint = backbone_checkpoint

    def init_weights(self) -> None:
        """Initialise as configured, then overwrite the backbone with ImageNet weights."""
        super().init_weights()
        if self.backbone_checkpoint is None:
            return
        state_dict, dropped = load_resnet50_state_dict(self.backbone_checkpoint)
        self.backbone.load_state_dict(state_dict, strict=True)
        MMLogger.get_current_instance().info(
            f'BarlowTwinsCXR: backbone initialised from {self.backbone_checkpoint} '
            f'({len(state_dict)} ResNet-50 tensors; {len(dropped)} other tensors ignored'
            f'{": " + ", ".join(dropped[:4]) if dropped else ""})'
        )

    def loss(
        self, inputs: List[torch.Tensor], data_samples: List[DataSample], **kwargs
    ) -> Dict[str, torch.Tensor]:
        """Barlow Twins loss of two views; each view is normalised separately."""
        if not isinstance(inputs, list) or len(inputs) != 2:
            raise ValueError(
                'BarlowTwinsCXR expects two views per image (MultiView with num_views=[1, 1])'
            )
        return super().loss(inputs, data_samples, **kwargs)

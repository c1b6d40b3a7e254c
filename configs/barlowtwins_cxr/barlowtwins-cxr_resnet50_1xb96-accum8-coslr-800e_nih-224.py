# The paper recipe on ONE GPU: 96 images per step, gradients accumulated over 8 steps
# (768 images per update). mmengine's auto_scale_lr counts GPUs x per-GPU batch only,
# so base_batch_size is divided by the accumulation: lr = 0.2 x 96 / 32 = 0.6, as at 8x96.
# Caveat: Barlow Twins' loss is a function of the batch cross-correlation, which is then
# estimated from 96 images per step instead of 768; this is not bit-equivalent to 8 GPUs.
_base_ = './barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'

accumulative_counts = 8
optim_wrapper = dict(accumulative_counts=accumulative_counts)
auto_scale_lr = dict(base_batch_size=256 // accumulative_counts)

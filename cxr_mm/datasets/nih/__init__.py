from .annotations import index_images, read_image_list, read_nih_csv  # noqa: F401
from .dataset import NIHChestXrayDataset  # noqa: F401

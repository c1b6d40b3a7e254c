# VinDr-CXR from the prepared 1024 px PNGs instead of the DICOMs: the data part of the
# *_vindr-png-1024 detector configs (merged into their dataloaders' `dataset`). Made once by
#   python tools/dataset_converters/dicom_to_png.py data/vindr/train \
#       data/vindr/train_png_1024 --long-side 1024 --bits 16 --workers 8
# (16-bit PNG, the file's VOI window applied, MONOCHROME1 inverted). Boxes stay in the
# original DICOM pixels of train.csv: the size table dicom_to_png writes next to the PNGs
# (image_meta.csv, original width/height) lets the dataset scale them to the PNGs.
# Same pipelines as the DICOM configs (LoadCXRImage reads both); measured rates in
# configs/faster_rcnn_cxr/README.md ("DICOM or PNG").
vindr_png_dir = 'train_png_1024/'
vindr_png_data = dict(
    data_prefix=dict(img=vindr_png_dir),
    img_suffix='.png',
    meta_file=vindr_png_dir + 'image_meta.csv',
)

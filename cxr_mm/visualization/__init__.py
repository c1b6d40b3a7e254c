"""Plots of evaluation results and CAM overlays (matplotlib / OpenCV)."""

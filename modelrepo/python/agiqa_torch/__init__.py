"""PyTorch side of agiqa: model definitions (IP-IQA and baselines), checkpoint loading, ONNX export.

build_model() is the one constructor; see models.py for the forward contract shared by all models.
"""

from .models import MODEL_NAMES, build_model

__all__ = ["MODEL_NAMES", "build_model"]

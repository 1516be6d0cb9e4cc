"""Triton Python-backend model: RMS contrast of BT.601 luma.

Same definition as baselines/contrast.go (population standard deviation of
Y = 0.299 R + 0.587 G + 0.114 B over the whole image, 0..255 scale), so Triton
and the embedded server give the same QUALITY for the same IMAGE.
"""
import numpy as np


def rms_contrast(images: np.ndarray) -> np.ndarray:
    """images: uint8 [B, 3, H, W] -> float32 [B, 1]."""
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"IMAGE must be UINT8 [B,3,H,W] with H, W >= 1, got {images.shape}")
    x = images.astype(np.float64)
    y = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    return y.reshape(y.shape[0], -1).std(axis=1).astype(np.float32).reshape(-1, 1)


class TritonPythonModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils  # only inside Triton

        self.pb = pb_utils

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                images = self.pb.get_input_tensor_by_name(request, "IMAGE").as_numpy()
                out = self.pb.Tensor("QUALITY", rms_contrast(images))
                responses.append(self.pb.InferenceResponse(output_tensors=[out]))
            except Exception as exc:  # one bad request must not fail the others
                responses.append(self.pb.InferenceResponse(output_tensors=[], error=self.pb.TritonError(str(exc))))
        return responses

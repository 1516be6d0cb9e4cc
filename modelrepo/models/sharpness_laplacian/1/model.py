"""Triton Python-backend model: variance of the Laplacian of BT.601 luma.

Same definition as baselines/sharpness.go (valid 3x3 convolution with
0 1 0 / 1 -4 1 / 0 1 0 on Y = 0.299 R + 0.587 G + 0.114 B, population variance),
so Triton and the embedded server give the same QUALITY for the same IMAGE.
"""
import numpy as np


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """images: uint8 [B, 3, H, W] -> float32 [B, 1]."""
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] < 3 or images.shape[3] < 3:
        raise ValueError(f"IMAGE must be UINT8 [B,3,H,W] with H, W >= 3, got {images.shape}")
    x = images.astype(np.float64)
    y = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    lap = y[:, :-2, 1:-1] + y[:, 2:, 1:-1] + y[:, 1:-1, :-2] + y[:, 1:-1, 2:] - 4 * y[:, 1:-1, 1:-1]
    flat = lap.reshape(lap.shape[0], -1)
    return flat.var(axis=1).astype(np.float32).reshape(-1, 1)


class TritonPythonModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils  # only inside Triton

        self.pb = pb_utils

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                images = self.pb.get_input_tensor_by_name(request, "IMAGE").as_numpy()
                out = self.pb.Tensor("QUALITY", laplacian_variance(images))
                responses.append(self.pb.InferenceResponse(output_tensors=[out]))
            except Exception as exc:  # one bad request must not fail the others
                responses.append(self.pb.InferenceResponse(output_tensors=[], error=self.pb.TritonError(str(exc))))
        return responses

"""Triton Python-backend model: variance of the Laplacian of BT.601 luma.

Same definition as baselines/sharpness.go (valid 3x3 convolution with
0 1 0 / 1 -4 1 / 0 1 0 on Y = 0.299 R + 0.587 G + 0.114 B, population variance),
and the same arithmetic: every operation rounded on its own, sums taken in
index order. So Triton and the embedded server give the same QUALITY, bit for
bit, for the same IMAGE (baselines/testdata/served_ref.json checks both).
"""
import numpy as np


def _variance(x: np.ndarray) -> np.ndarray:
    """Population variance of each row of float64 [B, N], two passes (mean, then squared deviations),
    each summed in index order like the Go loop; numpy's own sum is pairwise and differs in the last bits."""
    n = x.shape[1]
    mean = np.cumsum(x, axis=1)[:, -1] / n
    d = x - mean[:, None]
    return np.cumsum(d * d, axis=1)[:, -1] / n


def laplacian_variance_f64(images: np.ndarray) -> np.ndarray:
    """images: uint8 [B, 3, H, W] with H, W >= 3 -> float64 [B]."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3 or min(images.shape[2:], default=0) < 3:
        raise ValueError(f"IMAGE must be UINT8 [B,3,H,W] with H, W >= 3, got {images.dtype} {list(images.shape)}")
    x = images.astype(np.float64)
    y = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    lap = y[:, :-2, 1:-1] + y[:, 2:, 1:-1] + y[:, 1:-1, :-2] + y[:, 1:-1, 2:] - 4 * y[:, 1:-1, 1:-1]
    return _variance(lap.reshape(lap.shape[0], -1))


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """images: uint8 [B, 3, H, W] -> QUALITY float32 [B, 1]."""
    return laplacian_variance_f64(images).astype(np.float32).reshape(-1, 1)


class TritonPythonModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils  # only inside Triton

        self.pb = pb_utils
        self.name = args.get("model_name", "sharpness_laplacian")  # errors name the model as served

    def execute(self, requests):
        # One response per request, in order; Triton does not merge requests into one array.
        responses = []
        for request in requests:
            try:
                image = self.pb.get_input_tensor_by_name(request, "IMAGE")  # None when not sent
                if image is None:
                    raise ValueError("request has no IMAGE input")
                out = self.pb.Tensor("QUALITY", laplacian_variance(image.as_numpy()))
                responses.append(self.pb.InferenceResponse(output_tensors=[out]))
            except ValueError as exc:  # the request's fault: INVALID_ARG, as the embedded server says
                responses.append(self._error(exc, self.pb.TritonError.INVALID_ARG))
            except Exception as exc:  # one failing request must not fail the others
                responses.append(self._error(exc, self.pb.TritonError.INTERNAL))
        return responses

    def _error(self, exc, code):
        # TritonError's code argument needs Triton 23.09+ (docker-compose.yml pins 24.12).
        return self.pb.InferenceResponse(output_tensors=[], error=self.pb.TritonError(f"{self.name}: {exc}", code))

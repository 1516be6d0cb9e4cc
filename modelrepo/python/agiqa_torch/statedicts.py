"""Reading the tensors out of a published checkpoint, whatever wraps them: what the baselines'
loaders (cnniqa, dbcnn, hyperiqa) share."""

from __future__ import annotations

from typing import Dict, List, Sequence

import torch

# Keys a checkpoint nests its state dict under: pyiqa's {"params": ...} / {"params_ema": ...}, train.py's
# {"model": ...}, and the common {"state_dict": ...}.
WRAPPERS = ("params", "params_ema", "model", "state_dict")
# Name prefixes left by nn.DataParallel ("module."), train.py's wrapper ("net.") and others ("model.").
PREFIXES = ("module.", "net.", "model.")


def checkpoint_tensors(obj, what: str, prefixes: Sequence[str] = PREFIXES) -> Dict[str, torch.Tensor]:
    """The tensors of checkpoint ``obj``, unwrapped (up to three levels) and with one prefix removed
    per name; ``what`` names the checkpoint in the error when there is no state dict."""
    for _ in range(3):
        if isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
            inner = next((obj[k] for k in WRAPPERS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict):
        raise ValueError(f"{what}: expected a state dict, got {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if not torch.is_tensor(v):
            continue
        for pre in prefixes:
            if k.startswith(pre):
                k = k[len(pre):]
                break
        out[k] = v
    return out


def key_problems(own: Dict[str, torch.Tensor], state: Dict[str, torch.Tensor],
                 optional_suffixes: Sequence[str] = (), shape_note: str = "") -> List[str]:
    """What keeps ``state`` from loading into a module whose state dict is ``own``: the missing keys
    (bar those ending in ``optional_suffixes``), the unexpected ones and the mis-shaped ones (followed
    by ``shape_note``), each listed whole so one error says everything."""
    missing = sorted(k for k in own if k not in state and not k.endswith(tuple(optional_suffixes)))
    unexpected = sorted(k for k in state if k not in own)
    shapes = sorted(f"{k}: got {tuple(state[k].shape)}, want {tuple(own[k].shape)}"
                    for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape))
    problems: List[str] = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): " + ", ".join(missing))
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): " + ", ".join(unexpected))
    if shapes:
        problems.append("shape mismatches: " + "; ".join(shapes) + shape_note)
    return problems

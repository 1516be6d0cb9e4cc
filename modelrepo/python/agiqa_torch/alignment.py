"""The base of Table 2's text-image alignment models (CLIPScore, ImageReward, HPS v1/v2, PickScore).

An alignment model maps ``(image, tokens[, mask])`` to ``[B, 1]`` ALIGNMENT scores. It differs from
the quality models of ``models.py`` in what the harness must send:
- ``tokenizer``: "clip_bpe" (CLIP's BPE, [77], zero padded) or "bert_wordpiece" (BERT's WordPiece
  ids, [CLS] ... [SEP] then zero padding, with an attention mask); served as the config parameter
  ``agiqa.tokenizer``;
- ``token_length``: the TOKENS width (77 for CLIP, 35 for ImageReward);
- ``uses_mask``: the model also takes TOKENS_MASK, INT64 [token_length], 1 over real tokens;
- ``prompt_prefix``: text the harness puts before each prompt (``agiqa.prompt_prefix``);
- ``zero_shot``: one version for every split (nothing is trained on AGIQA).
"""

from __future__ import annotations

from typing import List, Optional

import torch

from .models import AGIQAModel, _exporting

TOKENIZERS = ("clip_bpe", "bert_wordpiece")


class AlignmentModel(AGIQAModel):
    """Subclasses set the class attributes below and implement ``_align(image, tokens, mask)``."""

    uses_prompt = True
    preprocess = "resize_center_crop"
    tokenizer = "clip_bpe"
    token_length = 77
    uses_mask = False
    prompt_prefix = ""
    zero_shot = True

    def __init__(self, name: str, image_size: int):
        super().__init__(name, 1, image_size)
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"model {name}: tokenizer {self.tokenizer!r} is not one of {TOKENIZERS}")
        self.output_names: List[str] = ["ALIGNMENT"]
        self.head = torch.nn.Identity()  # zero-shot or loaded whole: no freshly initialised head

    def input_names(self) -> List[str]:
        return ["IMAGE", "TOKENS"] + (["TOKENS_MASK"] if self.uses_mask else [])

    def _check_tokens(self, name: str, t: Optional[torch.Tensor], batch: int) -> None:
        if t is None:
            raise ValueError(f"model {self.name}: input {name} is required")
        if t.dim() != 2 or tuple(t.shape) != (batch, self.token_length):
            raise ValueError(f"model {self.name}: input {name} must be [{batch}, {self.token_length}], "
                             f"got {tuple(t.shape)}")
        if t.is_floating_point():
            raise ValueError(f"model {self.name}: input {name} must hold integers, got {t.dtype}")

    def forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not _exporting():
            if image.dim() != 4 or image.shape[1] != 3 or tuple(image.shape[2:]) != (self.image_size,) * 2:
                raise ValueError(f"model {self.name}: input IMAGE must be [B, 3, {self.image_size}, "
                                 f"{self.image_size}], got {tuple(image.shape)}")
            self._check_tokens("TOKENS", tokens, image.shape[0])
            if self.uses_mask:
                self._check_tokens("TOKENS_MASK", mask, image.shape[0])
            elif mask is not None:
                raise ValueError(f"model {self.name}: takes no TOKENS_MASK (tokenizer {self.tokenizer})")
        tokens = tokens.to(torch.int64)
        if mask is not None:
            mask = mask.to(torch.int64)
        return self._align(image, tokens, mask)

    def _align(self, image: torch.Tensor, tokens: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

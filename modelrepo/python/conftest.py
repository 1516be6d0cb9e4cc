"""pytest setup for modelrepo/python: import agiqa_torch from this directory, keep torch to 2 threads
(the test machines are small and shared)."""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
torch.set_num_threads(2)

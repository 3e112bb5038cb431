"""Head-only fine-tuning: the backbone stays frozen, a new classifier head learns the user's classes.

  trainable.py   `--trainable-head`: beside an export, the backbone program, a head training
                 program in the same format (exporters/train_*.py lower edgekit/head.py) and the
                 head weights
  run.py         `edgekit tune`: embeddings in the artifact's runtime, training in its training
                 program, evaluation, a new artifact written all or nothing
  data.py        the class folders (one subfolder per class) and the held-out split
  embeddings.py  backbone embeddings of image files, cached on disk
  trainers.py    the training programs run in ExecuTorch / LiteRT
  head_numpy.py  the same SGD step in numpy: the oracle, and the trainer where no program runs"""
from __future__ import annotations

from ..runtimes.headed import load_head, save_head
from .run import TuneResult, trainable_files, tune

__all__ = ["tune", "TuneResult", "trainable_files", "load_head", "save_head"]

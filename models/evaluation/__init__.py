"""``dfscan evaluate``: score a labelled manifest with a model bundle and report how it did.

Writes, into one folder:

- ``scores.csv``: one row per video (streamed chunk by chunk, so manifests of thousands of
  rows never sit in memory as results): target, label, method, group, score, predicted, error;
- ``metrics.json``: video-level and frame-level metrics at the bundle's threshold (AUC, EER,
  FAR = fakes accepted as real / APCER, FRR = reals flagged / BPCER, HTER, FAR at FRR 1% and
  5%), the same per manipulation method (that method's fakes against all reals), the
  shortcut control and the nuisance control;
- ``nuisance.csv``: per scored video, the nuisance measures (face size and position, frame
  size, bitrate, duration, fps, frames decoded, faces per frame);
- ``roc.png`` and ``det.png`` (DET on normal-deviate axes, Martin et al. 1997);
- ``report.md``: the same, readable, with the errors and the families that drove the scores.

Modules: ``blocks`` (metric blocks), ``control`` (the shortcut control), ``nuisance`` and
``nuisance_text`` (the nuisance control and its words), ``plots``, ``report`` (report.md from
a Jinja2 template) and ``run`` (the driver).
"""

from models.evaluation.nuisance import nuisance_control, nuisance_table
from models.evaluation.run import EvalOptions, evaluate

__all__ = ["EvalOptions", "evaluate", "nuisance_control", "nuisance_table"]

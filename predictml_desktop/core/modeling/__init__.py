"""The adapter to PyCaret: the one package that knows PyCaret's API and its internals.

Only this package (and, until its set-up moves here, the training engine) may import PyCaret; the
import contract in ``pyproject.toml`` checks it. A PyCaret upgrade is a change to this package.

- `pipeline`: load a saved pipeline (the one ``joblib.load``), recognise it, predict with one shared
  preprocessing pass, the labels of its probability columns;
- `fast_path`, `fast_steps`: a fitted pipeline compiled to numpy operations, used only once it has
  matched the pipeline on generated rows;
- `azure_score`: the scoring program of the Azure ML bundle (copied into the bundle as ``score.py``).

Import the modules themselves (``from predictml_desktop.core.modeling import pipeline``): importing
the package imports nothing heavy.
"""

from __future__ import annotations

"""Developer tools run from the project root with ``python -m tools.<name>``.

They share the pipeline's names and defaults (:mod:`github_etl.settings`), so ``plugins/`` goes on the
import path, as Airflow puts its plugins folder there.
"""

import sys
from pathlib import Path

_PLUGINS = str(Path(__file__).resolve().parents[1] / "plugins")
if _PLUGINS not in sys.path:
    sys.path.append(_PLUGINS)

"""The benchmarks' CLI, `python -m benchmarks` (benchmarks/__main__.py: every comparison and its
flags), kept under this name for the commands BENCHMARKS.md records:

  python scripts/benchmark.py --what=xla      # the same as: python -m benchmarks --what=xla

The benchmarks are a package of the repository (benchmarks/ at its root), not part of the
installed kbert: this script puts the root first on its path, where Python would have put
scripts/, and runs that package's main.
"""

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    # scripts/ would come first otherwise, and scripts/benchmarks/ is another folder.
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    runpy.run_module("benchmarks", run_name="__main__", alter_sys=True)

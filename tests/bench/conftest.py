"""Make the repository root importable: ``bench`` is a folder of scripts, not an installed
package, and pytest's importlib mode does not put the root on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

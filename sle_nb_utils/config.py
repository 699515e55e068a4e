"""Every path the project uses, in one place (cookiecutter-data-science style).

Nothing else in the package builds paths by hand. Paths are relative to the project root, which is
the parent of this package's folder; user-facing outputs go to ``reports/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = PROJ_ROOT / "sle_nb_utils"
RESOURCES_DIR = PACKAGE_DIR / "resources"

DATA_DIR = PROJ_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"  # synthetic hospital exports (messy on purpose); never edited by hand
TRUTH_DIR = DATA_DIR / "truth"  # the clean truth the generator wrote, with the defect manifest
PUBLISHED_DIR = DATA_DIR / "published"  # published figures with their citations (real data)

NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
REPORTS_DIR = PROJ_ROOT / "reports"  # git-ignored: rendered reports and outputs on real data
CACHE_DIR = PROJ_ROOT / ".cache"  # git-ignored: analysis tables keyed on the raw files' hashes

#: Seed of the bundled synthetic data (``make data`` regenerates it byte-identically).
DEFAULT_SEED = 20130401

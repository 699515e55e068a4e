"""Every path the project uses, in one place (cookiecutter-data-science style).

Nothing else in the package builds paths by hand.

* Resource tables shipped inside the package (``sle_nb_utils/resources/*.csv``: column aliases,
  units, site settings, the data dictionary) are read through :mod:`importlib.resources`
  (:func:`open_resource`), so they work from an installed wheel as well as from a checkout.
* The bundled synthetic data (``data/``), the notebooks and ``reports/`` live in the git checkout,
  next to the package folder (``PROJ_ROOT``). They are not part of an installed package:
  :func:`bundled_dir` says so with a :class:`~sle_nb_utils.errors.BadInputError` instead of
  failing later on a missing file.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .errors import BadInputError

PACKAGE_DIR = Path(__file__).resolve().parent
#: The package's resource tables (an importlib.resources Traversable; a Path for a normal install).
RESOURCES = resources.files(__package__).joinpath("resources")

#: The git checkout the package sits in (``pip install -e .``); see :func:`bundled_dir`.
PROJ_ROOT = PACKAGE_DIR.parent

DATA_DIR = PROJ_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"  # synthetic hospital exports (messy on purpose); never edited by hand
TRUTH_DIR = DATA_DIR / "truth"  # the clean truth the generator wrote, with the defect manifest
PUBLISHED_DIR = DATA_DIR / "published"  # published figures with their citations (real data)

NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
REPORTS_DIR = PROJ_ROOT / "reports"  # git-ignored: rendered reports and outputs on real data


def _cache_dir() -> Path:
    """``.cache/`` in the checkout (git-ignored); the user's cache folder for an installed package."""
    if (PROJ_ROOT / "pyproject.toml").is_file():
        return PROJ_ROOT / ".cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sle_nb_utils"


CACHE_DIR = _cache_dir()  # analysis tables keyed on the raw files' hashes

#: Seed of the bundled synthetic data (``make data`` regenerates it byte-identically).
DEFAULT_SEED = 20130401


def open_resource(name: str):
    """Open ``sle_nb_utils/resources/<name>`` for binary reading (through importlib.resources)."""
    return RESOURCES.joinpath(name).open("rb")


def resource_names() -> list[str]:
    """File names of the CSV resource tables, sorted."""
    return sorted(f.name for f in RESOURCES.iterdir() if f.name.endswith(".csv"))


def bundled_dir(part: str = "raw") -> Path:
    """A folder of the bundled synthetic data: ``data/<part>`` of the checkout.

    Parameters
    ----------
    part : {"raw", "truth", "published"}

    Raises
    ------
    BadInputError
        The folder does not exist: the package was installed without its checkout (the bundled
        data are not part of the wheel), or ``data/`` was removed.
    """
    d = PROJ_ROOT / "data" / part
    if not d.is_dir():
        raise BadInputError(
            f"the bundled synthetic data (data/{part}) are not here: they ship with the git checkout, "
            "not with an installed package. Clone the repository and `pip install -e .` there, or "
            "pass the folder of your own exports (data_dir= / --data-dir)", file=str(d))
    return d

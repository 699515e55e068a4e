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


#: Environment variables through which ``python -m sle_nb_utils run`` hands its options to the
#: notebook kernels it starts (kernels inherit the environment): the analysis-table cache folder and
#: the user's extra settings / aliases / synonyms CSVs (the ``--settings``, ``--aliases``,
#: ``--synonyms`` options of ``clean`` and ``run``).
ENV_CACHE_DIR = "SLE_NB_UTILS_CACHE_DIR"
ENV_EXTRA_RESOURCES = {"settings": "SLE_NB_UTILS_SETTINGS", "aliases": "SLE_NB_UTILS_ALIASES",
                       "synonyms": "SLE_NB_UTILS_SYNONYMS"}


def cache_dir() -> Path:
    """Folder of the analysis-table cache (tables keyed on the raw files' hashes).

    Never inside the repository (cached tables hold patient-level rows): ``$SLE_NB_UTILS_CACHE_DIR``
    when set (``run`` sets it to ``OUT/cache``), else the user's cache folder,
    ``$XDG_CACHE_HOME/sle_nb_utils`` (default ``~/.cache/sle_nb_utils``).
    """
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sle_nb_utils"


ENV_ALLOW_PARTIAL = "SLE_NB_UTILS_ALLOW_PARTIAL"  # "1": ``run --allow-partial``


def allow_partial() -> bool:
    """``run --allow-partial`` passed to the kernels (see :data:`ENV_ALLOW_PARTIAL`)."""
    return os.environ.get(ENV_ALLOW_PARTIAL) == "1"


def extra_resources() -> dict:
    """The user's extra settings / aliases / synonyms CSV paths that ``run`` passed to the kernels
    through the environment (``None`` for each one not set); see :data:`ENV_EXTRA_RESOURCES`."""
    return {k: (os.environ.get(v) or None) for k, v in ENV_EXTRA_RESOURCES.items()}


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

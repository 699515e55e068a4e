"""Run the notebook collection and render it (``make report``, ``make notebooks``, ``run`` CLI).

* :func:`refresh` executes notebooks in place: the golden outputs in ``notebooks/`` (bundled
  synthetic data only; ``make notebooks``).
* :func:`run_collection` runs every notebook with papermill on a data folder into ``OUT/notebooks``
  and renders an offline HTML site in ``OUT/site`` (no CDN). Outputs on a user's data go there,
  never into ``notebooks/``.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import sys
from pathlib import Path

from . import config

KERNEL = "python3"
TIMEOUT_S = 900


def notebook_paths() -> list[Path]:
    """The collection, in order (``NN_name.ipynb``)."""
    return sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def _coalesce_streams(outputs: list) -> list:
    """Merge consecutive stream outputs of the same name (how the kernel chunks stdout depends on
    timing; the stored golden outputs should not)."""
    merged: list = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1]["text"] = "".join(merged[-1]["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def refresh(paths=None) -> None:
    """Execute notebooks in place (cwd = notebooks/), without timing metadata."""
    import nbformat
    from nbclient import NotebookClient

    for path in [Path(p) for p in (paths or notebook_paths())]:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=TIMEOUT_S, kernel_name=KERNEL, record_timing=False,
                                resources={"metadata": {"path": str(path.parent.resolve())}})
        client.execute()
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
            if cell.cell_type == "code":
                cell.outputs = _coalesce_streams(cell.outputs)
        nb.metadata.pop("papermill", None)
        nbformat.write(nb, path)
        print(f"refreshed {path.name}")


_REMOTE = re.compile(r"<script[^>]*\bsrc=\"(?:https?://[^\"]*)?\"[^>]*>\s*</script>|"
                     r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.I)


def render_html(notebook_path: Path, html_path: Path) -> None:
    """Render one executed notebook to standalone HTML with no remote scripts (offline)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(embed_images=True)
    for trait in ("mathjax_url", "require_js_url", "jquery_url", "mermaid_js_url",
                  "mermaid_layout_elk_js_url", "jupyter_widgets_base_url"):
        if exporter.has_trait(trait):
            setattr(exporter, trait, "")
    body, _ = exporter.from_filename(str(notebook_path))
    html_path.write_text(_REMOTE.sub("", body), encoding="utf-8")


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Point file descriptor 2 (inherited by kernel processes) at ``path`` for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def run_collection(data_dir: Path, out_dir: Path, notebooks=None) -> list[Path]:
    """Run every notebook on ``data_dir`` (raw exports) into ``out_dir`` and render the HTML site.

    ``data_dir`` equal to the bundled ``data/raw`` runs with ``DATA_DIR = None``. ``out_dir`` must
    not be inside ``notebooks/`` (outputs on real data never go where git tracks golden outputs).
    """
    import papermill as pm
    from tqdm.auto import tqdm

    from .errors import BadInputError

    data_dir, out_dir = Path(data_dir).resolve(), Path(out_dir).resolve()
    if not data_dir.is_dir():
        raise BadInputError("data folder not found", file=str(data_dir))
    if out_dir == config.NOTEBOOKS_DIR or config.NOTEBOOKS_DIR in out_dir.parents:
        raise BadInputError("choose an output folder outside notebooks/ (golden outputs live there)",
                            file=str(out_dir))
    bundled = data_dir == config.RAW_DIR.resolve()
    nb_out, site = out_dir / "notebooks", out_dir / "site"
    nb_out.mkdir(parents=True, exist_ok=True)
    site.mkdir(parents=True, exist_ok=True)
    done = []
    paths = [Path(p) for p in (notebooks or notebook_paths())]
    # kernels inherit this process's stderr; their start-up/shutdown chatter goes to kernels.log
    # (cell errors still raise here, with the failing cell)
    with _stderr_to(out_dir / "kernels.log"):
        for path in tqdm(paths, desc="notebooks", unit="nb", file=sys.stdout):
            target = nb_out / path.name
            pm.execute_notebook(str(path), str(target), kernel_name=KERNEL, cwd=str(config.NOTEBOOKS_DIR),
                                parameters={"DATA_DIR": None if bundled else str(data_dir)},
                                progress_bar=False, request_save_on_cell_execute=False)
            render_html(target, site / f"{path.stem}.html")
            done.append(target)
    items = "\n".join(f'<li><a href="{html.escape(p.stem)}.html">{html.escape(p.stem)}</a></li>'
                      for p in done)
    source = "the bundled synthetic data" if bundled else "a user-supplied data folder"
    (site / "index.html").write_text(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>SLE stem-cell transplantation "
        "notebooks</title></head><body><h1>SLE stem-cell transplantation notebooks</h1>"
        f"<p>Rendered from {source}.</p><ol>{items}</ol></body></html>\n", encoding="utf-8")
    print(f"{len(done)} notebooks -> {out_dir / 'notebooks'}; site -> {site / 'index.html'}")
    return done


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "refresh":
        print("usage: python -m sle_nb_utils.report refresh [NOTEBOOK ...]", file=sys.stderr)
        return 2
    refresh([Path(p) for p in argv[1:] if not p.endswith("*.ipynb")] or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

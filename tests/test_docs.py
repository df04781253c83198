"""The guide in docs/ runs as written.

Each page's ```python blocks run in order in one namespace, in a scratch folder. A figure a
page shows (``![...](img/NAME.png)``) must be written, under the same NAME, by that page's own
examples, so the pictures in the guide are what the code draws; `python tests/test_docs.py`
runs the pages and copies those files into docs/img. `make docs` builds the site with
`mkdocs build --strict`.
"""

import os
import pathlib
import re
import shutil
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def blocks(page: pathlib.Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def figures(page: pathlib.Path) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(img/([^)]+)\)", page.read_text(encoding="utf-8"))


def run_page(page: pathlib.Path, cwd: pathlib.Path) -> dict:
    namespace: dict = {"__name__": f"docs.{page.stem}"}
    here = os.getcwd()
    os.chdir(cwd)
    try:
        for i, code in enumerate(blocks(page)):
            exec(compile(code, f"{page.name} block {i + 1}", "exec"), namespace)
    finally:
        os.chdir(here)
        plt.close("all")
    return namespace


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_examples_run(page, tmp_path):
    run_page(page, tmp_path)
    for name in figures(page):
        assert (tmp_path / name).exists(), f"{page.name} shows img/{name} but does not draw it"
        assert (DOCS / "img" / name).exists(), f"run `python tests/test_docs.py` to add {name}"


def test_every_page_is_in_the_navigation():
    nav = re.findall(r":\s*([\w-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert sorted(nav) == sorted(p.name for p in PAGES)
    assert all(blocks(p) for p in PAGES if p.name != "index.md") and blocks(DOCS / "index.md")


if __name__ == "__main__":  # refresh docs/img from the pages' own examples
    import tempfile

    (DOCS / "img").mkdir(exist_ok=True)
    for page in PAGES:
        if figures(page):
            with tempfile.TemporaryDirectory() as tmp:
                run_page(page, pathlib.Path(tmp))
                for name in figures(page):
                    shutil.copy(pathlib.Path(tmp) / name, DOCS / "img" / name)
                    print("wrote", DOCS / "img" / name, file=sys.stderr)

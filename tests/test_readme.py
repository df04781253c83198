"""The README's examples run as written."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    fit = namespace["fit"]
    assert fit.converged and abs(fit.params["shape"] - 2.0) < 0.5
    assert abs(namespace["lk"].Binomial(n=10).likelihood({"p": 0.7}, [7]) - 0.2668) < 1e-4
    lasso = namespace["lasso"].coef
    assert lasso["GPA"] == 0.0 and lasso["PSI"] == 0.0 and lasso["TUCE"] != 0.0

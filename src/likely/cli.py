"""The `likely` command line: fit and compare models on CSV or Parquet files, and the tour.

    likely fit data.csv --family poisson --formula "claims ~ age + region" --offset log_exposure
    likely fit data.parquet --model coxph --duration t --event died --formula "age + treatment"
    likely fit data.parquet --model aft --dist weibull --duration t --event died --formula "age"
    likely fit lifetimes.csv --dist weibull --column hours --censored-by censored
    likely compare data.csv --dist gamma weibull lognormal --column x
    likely tour --out DIR

Exit status: 0 on success; 2 on a user error (bad file, unknown column, bad formula, bad
family or distribution name, non-numeric data, a fit that fails or does not converge), with
one line on stderr and no traceback; 1 on an internal error (a bug: LIKELY_DEBUG=1 shows the
traceback).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2

# --dist names (lower case, also with "_" or "-" removed) -> likely distribution class name
DISTS = {
    "normal": "Normal",
    "gaussian": "Normal",
    "lognormal": "LogNormal",
    "exponential": "Exponential",
    "gamma": "Gamma",
    "weibull": "Weibull",
    "beta": "Beta",
    "laplace": "Laplace",
    "studentt": "StudentT",
    "t": "StudentT",
    "bernoulli": "Bernoulli",
    "binomial": "Binomial",
    "poisson": "Poisson",
    "geometric": "Geometric",
    "negativebinomial": "NegativeBinomial",
    "negbin": "NegativeBinomial",
    "categorical": "Categorical",
}
FAMILIES = (
    "gaussian",
    "binomial",
    "poisson",
    "negative_binomial",
    "gamma",
    "laplace",
    "student_t",
    "multinomial",
)
MODELS = ("glm", "coxph", "aft")
# (restricted, full): how the restricted family sits inside the full one, and whether that
# point is on the boundary of the full family's parameter space (then the LR statistic is a
# 50:50 mixture of chi2_0 and chi2_1: Self & Liang 1987, and the chi2_1 p-value is halved).
NESTED = {
    ("Exponential", "Gamma"): ("shape = 1", False),
    ("Exponential", "Weibull"): ("shape = 1", False),
    ("Poisson", "NegativeBinomial"): ("alpha -> 0, on the boundary: p-value halved", True),
    ("Normal", "StudentT"): ("df -> inf, on the boundary: p-value halved", True),
}


class UserError(Exception):
    """A mistake in the command or the data: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        raise UserError(f"{message} (see '{self.prog} --help')")


# -------------------------------------------------------------------------------- the parser
def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="likely",
        description="Maximum likelihood estimation with full likelihood inference.",
        epilog="Exit status: 0 success, 2 user error (one line on stderr), 1 internal error.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    fit = sub.add_parser(
        "fit",
        help="fit a regression or a distribution to a CSV or Parquet file",
        description="Fit a GLM (--family/--formula), a Cox model (--model coxph), a parametric "
        "survival regression (--model aft --dist D) or a distribution (--dist, --column) to a "
        ".csv, .tsv or .parquet file and print the summary table.",
    )
    fit.add_argument("file", help="a .csv, .tsv or .parquet file with a header row")
    what = fit.add_argument_group("what to fit")
    what.add_argument("--family", help=f"GLM family: {', '.join(FAMILIES)}")
    what.add_argument("--link", help="GLM link (default: the family's canonical link)")
    what.add_argument("--model", help=f"model: {', '.join(MODELS)} (default glm)")
    what.add_argument("--formula", help="'y ~ x1 + x2' for a GLM; 'x1 + x2' for coxph and aft")
    what.add_argument(
        "--dist",
        help=f"a distribution: {', '.join(sorted(set(DISTS)))}; with --model aft: weibull "
        "(default), exponential, lognormal, loglogistic, gamma",
    )
    what.add_argument("--column", help="the data column for --dist")
    cols = fit.add_argument_group("columns")
    cols.add_argument("--offset", metavar="COL", help="GLM offset column (e.g. log exposure)")
    cols.add_argument("--exposure", metavar="COL", help="GLM exposure column (offset = log)")
    cols.add_argument("--weights", metavar="COL", help="frequency weights column")
    cols.add_argument(
        "--trials", metavar="COL_OR_N", help="binomial trials: a column (GLM) or a number (dist)"
    )
    cols.add_argument("--duration", metavar="COL", help="survival time column (coxph, aft)")
    _censoring_args(cols)
    opts = fit.add_argument_group("options")
    opts.add_argument("--cov-type", help="covariance: observed, expected, robust, HC0-HC3")
    opts.add_argument(
        "--missing",
        choices=("raise", "drop"),
        default="raise",
        help="rows with missing values: an error (default) or dropped and counted",
    )
    _output_args(opts, save=True)

    comp = sub.add_parser(
        "compare",
        help="compare distributions fitted to one column: AIC, BIC and LR tests where nested",
        description="Fit several distributions to one column and rank them by AIC; nested "
        "pairs (exponential in gamma or weibull, poisson in negative_binomial, normal in "
        "student_t) also get a likelihood-ratio test.",
    )
    comp.add_argument("file", help="a .csv, .tsv or .parquet file with a header row")
    comp.add_argument("--dist", nargs="+", required=True, help="two or more distributions")
    comp.add_argument("--column", help="the data column (default: the only column)")
    comp.add_argument("--weights", metavar="COL", help="frequency weights column")
    comp.add_argument("--trials", metavar="N", help="trials for the binomial distribution")
    _censoring_args(comp)
    comp.add_argument("--missing", choices=("raise", "drop"), default="raise")
    _output_args(comp, save=False)

    tour = sub.add_parser("tour", help="walk through the lesson of maximum likelihood on real data")
    tour.add_argument(
        "--out", default="tour-output", help="folder for the plots (default tour-output)"
    )
    tour.add_argument("--no-plot", action="store_true", help="skip writing plots")
    return parser


def _censoring_args(group: Any) -> None:
    group.add_argument(
        "--event", metavar="COL", help="event indicator column: 1 = observed, 0 = censored"
    )
    group.add_argument(
        "--censored-by",
        metavar="COL",
        help="censoring indicator column: 1 = right-censored, 0 = observed",
    )


def _output_args(group: Any, save: bool) -> None:
    group.add_argument("--level", type=float, default=0.95, help="interval level (0.95)")
    group.add_argument("--json", action="store_true", help="print JSON instead of tables")
    group.add_argument("--plot", metavar="PNG", help="write a figure to this file")
    if save:
        group.add_argument("--save", metavar="JSON", help="save the result (lk.load reads it)")


# ---------------------------------------------------------------------------------- reading
def read_table(path: str) -> pd.DataFrame:
    """A data frame from a .csv, .tsv or .parquet file; UserError says what is wrong."""
    import pandas as pd

    if not os.path.exists(path):
        raise UserError(f"cannot read {path!r}: no such file")
    if os.path.isdir(path):
        raise UserError(f"cannot read {path!r}: it is a folder, not a file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in (".csv", ".txt"):
            df = pd.read_csv(path)
        elif ext == ".tsv":
            df = pd.read_csv(path, sep="\t")
        elif ext in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            raise UserError(
                f"cannot read {path!r}: unknown file type {ext or '(none)'!r}; "
                "use .csv, .tsv or .parquet"
            )
    except ImportError as e:
        raise UserError(
            f"reading Parquet needs pyarrow ({e}); install it: pip install 'likely[parquet]'"
        ) from e
    except pd.errors.EmptyDataError as e:
        raise UserError(f"cannot read {path!r}: the file is empty") from e
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        raise UserError(f"cannot read {path!r}: {_one_line(e)}") from e
    except UserError:
        raise
    except Exception as e:  # pyarrow's errors for files that are not Parquet
        if type(e).__module__.startswith("pyarrow"):
            raise UserError(f"cannot read {path!r} as Parquet: {_one_line(e)}") from e
        raise
    if len(df) == 0:
        raise UserError(f"{path!r} has a header but no data rows")
    df.columns = [str(c) for c in df.columns]
    return df


def _unknown_column(name: str, df: pd.DataFrame, flag: str, path: str) -> UserError:
    cols = list(df.columns)
    close = difflib.get_close_matches(name, cols, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(cols[:15]) + (", ..." if len(cols) > 15 else "")
    return UserError(f"{flag}: no column {name!r} in {path}{hint} (columns: {listed})")


def _require(df: pd.DataFrame, name: str | None, flag: str, path: str) -> str | None:
    if name is not None and name not in df.columns:
        raise _unknown_column(name, df, flag, path)
    return name


def _numeric(df: pd.DataFrame, name: str, flag: str) -> Any:
    """The column as float64, or UserError naming the first non-numeric value."""
    import numpy as np
    import pandas as pd

    s = df[name]
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    coerced = pd.to_numeric(s, errors="coerce")
    bad = coerced.isna() & s.notna()
    i = int(np.flatnonzero(bad.to_numpy())[0])
    raise UserError(
        f"{flag} {name!r} is not numeric: row {i} is {s.iloc[i]!r} "
        f"({int(bad.sum())} non-numeric value(s))"
    )


def _indicator(df: pd.DataFrame, name: str, flag: str) -> Any:
    import numpy as np

    v = _numeric(df, name, flag).to_numpy()
    bad = ~np.isin(v, (0.0, 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise UserError(f"{flag} {name!r} must be 0 or 1; row {i} is {v[i]:g}")
    return v


def _choose(value: str, options: Sequence[str], what: str) -> str:
    key = value.lower()
    if key in options:
        return key
    close = difflib.get_close_matches(key, list(options), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UserError(f"unknown {what} {value!r}{hint} (choose from {', '.join(options)})")


def _distribution(name: str, trials: str | None) -> Any:
    import likely as lk

    key = name.lower().replace("_", "").replace("-", "")
    if key not in DISTS:
        _choose(name, sorted(DISTS), "distribution")
    cls = getattr(lk, DISTS[key])
    if cls is lk.Binomial:
        try:
            n = int(trials) if trials is not None else None
        except ValueError:
            n = None
        if n is None or n < 1:
            raise UserError("--dist binomial needs --trials N (the number of trials, >= 1)")
        return cls(n=n)
    return cls()


def _check_formula(formula: str, df: pd.DataFrame, path: str) -> None:
    """Parse the formula and name unknown columns, with close matches."""
    import formulaic

    try:
        needed = formulaic.Formula(formula).required_variables
    except Exception as e:  # formulaic's message: first line, without its highlighting
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"bad formula {formula!r}: {first}") from e
    functions = {"np", "numpy", "C", "log", "exp", "center", "scale", "standardize", "poly", "bs"}
    for v in sorted(str(v) for v in needed):
        if v not in df.columns and v.split(".")[0] not in functions:
            raise _unknown_column(v, df, "--formula", path)


# ---------------------------------------------------------------------------------- fitting
def _dist_data(args: argparse.Namespace, df: pd.DataFrame) -> tuple[Any, Any, Any, str]:
    """(x, event, weights, column) for a distribution fit, rows with missing values handled."""
    import numpy as np

    path = args.file
    column = args.column
    if column is None:
        if df.shape[1] != 1:
            raise UserError(
                f"--column is needed: {path} has {df.shape[1]} columns ({', '.join(df.columns[:15])})"
            )
        column = df.columns[0]
    _require(df, column, "--column", path)
    if args.event and args.censored_by:
        raise UserError("give --event (1 = observed) or --censored-by (1 = censored), not both")
    for flag, name in (("--event", args.event), ("--censored-by", args.censored_by)):
        _require(df, name, flag, path)
    _require(df, args.weights, "--weights", path)
    used = [c for c in (column, args.event, args.censored_by, args.weights) if c]
    df = _handle_missing(df, used, args.missing)
    x = _numeric(df, column, "--column").to_numpy()
    event = None
    if args.event:
        event = _indicator(df, args.event, "--event")
    elif args.censored_by:
        event = 1.0 - _indicator(df, args.censored_by, "--censored-by")
    w = _numeric(df, args.weights, "--weights").to_numpy() if args.weights else None
    if w is not None and (w < 0).any():
        raise UserError(f"--weights {args.weights!r} has negative values")
    if event is not None and not np.any(event == 1.0):
        raise UserError("every observation is censored: there is nothing to fit")
    return x, event, w, column


def _handle_missing(df: pd.DataFrame, used: list[str], missing: str) -> pd.DataFrame:
    import numpy as np

    na = df[used].isna()
    bad = na.any(axis=1).to_numpy()
    if not bad.any():
        return df
    cols = [c for c in used if na[c].any()]
    rows = np.flatnonzero(bad)
    if missing == "raise":
        raise UserError(
            f"{len(rows)} row(s) have missing values (in {', '.join(cols)}; first rows "
            f"{rows[:5].tolist()}); pass --missing drop to drop them"
        )
    warnings.warn(f"dropped {len(rows)} row(s) with missing values in {cols}", stacklevel=2)
    return df.loc[~bad]


def _fit_dist(args: argparse.Namespace, df: pd.DataFrame, name: str) -> Any:
    import likely as lk

    model = _distribution(name, args.trials)
    x, event, w, _ = _dist_data(args, df)
    return lk.fit(model, x, event=event, weights=w)


def _fit_glm(args: argparse.Namespace, df: pd.DataFrame) -> Any:
    import likely as lk

    if not args.formula:
        raise UserError("a GLM needs --formula 'y ~ x1 + x2'")
    if "~" not in args.formula:
        raise UserError(f"bad formula {args.formula!r}: a GLM formula has a response, 'y ~ x'")
    _check_formula(args.formula, df, args.file)
    for flag in ("offset", "exposure", "weights"):
        _require(df, getattr(args, flag), f"--{flag}", args.file)
    trials = args.trials
    if trials is not None and trials not in df.columns:
        try:
            trials = float(trials)
        except ValueError:
            raise _unknown_column(trials, df, "--trials", args.file) from None
    if args.event or args.censored_by or args.duration:
        raise UserError("--event, --censored-by and --duration are for --model coxph/aft or --dist")
    family = _choose(args.family or "gaussian", FAMILIES, "family")
    return lk.glm(
        args.formula,
        data=df,
        family=family,
        link=args.link,
        offset=args.offset,
        exposure=args.exposure,
        weights=args.weights,
        trials=trials,
        cov_type=args.cov_type,
        missing=args.missing,
    )


def _fit_survival(args: argparse.Namespace, df: pd.DataFrame, model: str) -> Any:
    """`lk.coxph` or `lk.aft` (with --dist) on --duration, --event / --censored-by, --formula."""
    import likely as lk

    path = args.file
    if not args.duration:
        raise UserError(f"--model {model} needs --duration COL (the survival times)")
    if model == "coxph" and not args.formula:
        raise UserError("--model coxph needs --formula 'x1 + x2' (the covariates)")
    if args.event and args.censored_by:
        raise UserError("give --event (1 = observed) or --censored-by (1 = censored), not both")
    _require(df, args.duration, "--duration", path)
    _numeric(df, args.duration, "--duration")
    _require(df, args.weights, "--weights", path)
    rhs = None
    if args.formula:
        rhs = (args.formula.split("~", 1)[1] if "~" in args.formula else args.formula).strip()
        _check_formula(rhs, df, path)
    event = args.event
    if event is not None:
        _require(df, event, "--event", path)
        _indicator(df, event, "--event")
    elif args.censored_by is not None:
        _require(df, args.censored_by, "--censored-by", path)
        flags = _indicator(df, args.censored_by, "--censored-by")
        event = "event" if "event" not in df.columns else f"event_{args.censored_by}"
        df = df.assign(**{event: 1.0 - flags})
    else:
        raise UserError(f"--model {model} needs --event COL (1 = event) or --censored-by COL")
    options: dict[str, Any] = {"weights": args.weights}
    if args.cov_type:
        options["cov_type"] = args.cov_type
    if model == "aft":
        return lk.aft(
            df, duration=args.duration, event=event, formula=rhs, dist=args.dist or "weibull",
            **options,
        )  # fmt: skip
    return lk.coxph(df, duration=args.duration, event=event, formula=rhs, **options)


def _check_output(path: str | None, flag: str) -> None:
    """Fail before the fit, not after it, when an output file cannot be written."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {flag} {path!r}: no folder {folder!r}")


def cmd_fit(args: argparse.Namespace) -> int:
    _check_output(args.plot, "--plot")
    _check_output(args.save, "--save")
    df = read_table(args.file)
    model = _choose(args.model, MODELS, "model") if args.model else None
    if model in ("coxph", "aft"):
        if args.family or args.link:
            raise UserError(f"--family and --link are for GLMs, not --model {model}")
        if args.dist and model == "coxph":
            raise UserError("--dist is for distributions and --model aft, not --model coxph")
        result = _fit_survival(args, df, model)
    elif args.dist:
        if args.family or args.formula or model:
            raise UserError(
                "give --dist (a distribution) or --family with --formula (a GLM), not both; "
                "a parametric survival regression is --model aft --dist D"
            )
        result = _fit_dist(args, df, args.dist)
    else:
        result = _fit_glm(args, df)
    if args.save:
        try:
            result.save(args.save)
        except OSError as e:
            raise UserError(f"cannot write {args.save!r}: {_one_line(e)}") from e
    if args.plot:
        column = (args.column or str(df.columns[0])) if args.dist and not model else None
        _plot_fit(result, args.plot, column)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1, allow_nan=False))
    else:
        _print_summary(result.summary(args.level))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    import likely as lk

    _check_output(args.plot, "--plot")
    df = read_table(args.file)
    names = list(dict.fromkeys(args.dist))
    if len(names) < 2:
        raise UserError("compare needs two or more distributions after --dist")
    models = {name: _distribution(name, args.trials) for name in names}
    x, event, w, _ = _dist_data(args, df)
    fits = {}
    for name, model in models.items():
        try:
            fits[name] = lk.fit(model, x, event=event, weights=w)
        except (lk.DataError, lk.ModelError) as e:
            raise UserError(f"{name}: {_one_line(e)}") from e
    order = sorted(fits, key=lambda n: fits[n].aic)
    best = fits[order[0]].aic
    rows = []
    for name in order:
        f = fits[name]
        rows.append(
            {
                "dist": name,
                "model": f.model.name,
                "k": f.k,
                "loglik": f.loglik,
                "aic": f.aic,
                "delta_aic": f.aic - best,
                "bic": f.bic,
                "converged": bool(f.converged),
                "params": {k: float(v) for k, v in f.params.items()},
                "se": {k: float(v) for k, v in f.se.items()},
            }
        )
    tests = []
    for small in names:
        for big in names:
            base_s, base_b = _base_name(fits[small]), _base_name(fits[big])
            if (base_s, base_b) not in NESTED:
                continue
            how, boundary = NESTED[(base_s, base_b)]
            lr = fits[big].lr_test(fits[small])
            p = 0.5 * lr.pvalue if boundary else lr.pvalue
            tests.append(
                {
                    "restricted": small,
                    "full": big,
                    "statistic": lr.statistic,
                    "df": lr.df,
                    "pvalue": p,
                    "how": how,
                }
            )
    if args.plot:
        _plot_compare(fits, args.plot)
    if args.json:
        from ._serialize import jsonable

        print(json.dumps(jsonable({"models": rows, "lr_tests": tests}), indent=1))
        return EXIT_OK
    from rich.table import Table

    table = Table(title=f"{args.file}: distributions ranked by AIC", title_justify="left")
    for col in ("distribution", "k", "log-likelihood", "AIC", "ΔAIC", "BIC", "estimates"):
        table.add_column(col, justify="left" if col in ("distribution", "estimates") else "right")
    for r in rows:
        est = ", ".join(f"{k}={v:.4g}" for k, v in r["params"].items())
        table.add_row(
            r["dist"] + ("" if r["converged"] else " (not converged)"),
            str(r["k"]),
            f"{r['loglik']:.4f}",
            f"{r['aic']:.4f}",
            f"{r['delta_aic']:.2f}",
            f"{r['bic']:.4f}",
            est,
        )
    console = _console()
    console.print(table)
    if tests:
        lr_table = Table(title="Likelihood-ratio tests of nested pairs", title_justify="left")
        for col in ("restricted", "in", "statistic", "df", "p-value", "restriction"):
            lr_table.add_column(col, justify="right" if col in ("statistic", "df") else "left")
        for t in tests:
            lr_table.add_row(
                t["restricted"],
                t["full"],
                f"{t['statistic']:.4f}",
                str(t["df"]),
                f"{t['pvalue']:.4g}",
                t["how"],
            )
        console.print(lr_table)
    return EXIT_OK


def _base_name(fit: Any) -> str:
    model = fit.model
    return type(getattr(model, "base", model)).__name__


def cmd_tour(args: argparse.Namespace) -> int:
    from .tour import run

    run(None if args.no_plot else args.out)
    return EXIT_OK


# ---------------------------------------------------------------------------------- output
def _console() -> Any:
    from rich.console import Console

    # a pipe or file gets plain text at a width that keeps the table on one line per row
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def _cell(v: Any, col: str) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if col == "P>|z|":
        return f"{v:.4g}"
    return f"{v:.6g}"


def _print_summary(summary: Any) -> None:
    from rich.table import Table

    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold")
    head.add_column()
    for k, v in summary.header():
        head.add_row(k, v)
    t = summary.table()
    body = Table()
    body.add_column("")
    for c in t.columns:
        body.add_column(str(c), justify="right")
    for label, row in t.iterrows():
        body.add_row(str(label), *(_cell(v, str(c)) for c, v in row.items()))
    console = _console()
    console.print(head)
    console.print(body)
    if summary.fit.note:
        console.print(f"Note: {summary.fit.note}")


def _plot_fit(result: Any, path: str, column: str | None) -> None:
    """Density, QQ and PP plots for a distribution (`column` its data), else coefficients
    (and survival curves for Cox and AFT models)."""
    import matplotlib

    import likely as lk

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if column is not None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
        result.plot_density(ax=axes[0]).set_xlabel(column)
        result.plot_qq(ax=axes[1])
        result.plot_pp(ax=axes[2])
    elif isinstance(result, lk.CoxFit | lk.AFTFit):  # coefficients and survival curves
        fig, axes = plt.subplots(1, 2, figsize=(12, 1.5 + 0.35 * max(len(result.labels), 8)),
                                 layout="constrained")  # fmt: skip
        result.plot_coef(ax=axes[0])
        result.plot_survival(ax=axes[1])
    else:
        fig, ax = plt.subplots(figsize=(6.5, 1.5 + 0.35 * len(result.labels)), layout="constrained")
        result.plot_coef(ax=ax)
    _save_figure(fig, path)


def _plot_compare(fits: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._plots import plot_cdf

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    for i, (name, f) in enumerate(fits.items()):
        f.plot_density(ax=axes[0], hist=i == 0, label=name)
        plot_cdf(f, ax=axes[1], empirical=i == 0, label=name)
    axes[0].set_title("fitted densities")
    axes[1].set_title("distribution functions")
    _save_figure(fig, path)


def _save_figure(fig: Any, path: str) -> None:
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot write the plot {path!r}: {_one_line(e)}") from e
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------- main
def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _say(kind: str, text: str) -> None:
    print(f"likely: {kind}: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default sys.argv[1:]); returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except UserError as e:
        _say("error", _one_line(e))
        return EXIT_USER
    except SystemExit as e:  # --help
        return int(e.code or 0)
    commands = {"fit": cmd_fit, "compare": cmd_compare, "tour": cmd_tour}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            from ._engine.errors import ConvergenceWarning, LikelyError

            warnings.simplefilter("error", ConvergenceWarning)
            code = commands[args.command](args)
        except ConvergenceWarning as e:
            _say("error", f"the fit did not converge: {_one_line(e)}")
            return EXIT_USER
        except (UserError, LikelyError) as e:
            _say("error", _one_line(e))
            return EXIT_USER
        except NotImplementedError as e:
            _say("error", f"not available in this version: {_one_line(e)}")
            return EXIT_INTERNAL
        except KeyboardInterrupt:
            return 130
        except Exception as e:
            if os.environ.get("LIKELY_DEBUG"):
                traceback.print_exc()
            _say(
                "internal error",
                f"{type(e).__name__}: {_one_line(e)} (please report this; "
                "LIKELY_DEBUG=1 shows the traceback)",
            )
            return EXIT_INTERNAL
    for w in caught:  # after a success only: an error is reported in one line
        _say("warning", _one_line(w.message))  # type: ignore[arg-type]
    return code


if __name__ == "__main__":
    sys.exit(main())

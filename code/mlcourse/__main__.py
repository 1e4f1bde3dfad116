"""Command line of the course: ``python -m mlcourse {list,run,data,book,bench,scaling,publish}``.

- ``list [--modules]``: the chapters, their profiles and expected run times; with ``--modules``, the library
  modules each chapter teaches (where to find a chapter's code).
- ``run <chapter> --profile quick|full [-p name value ...] [--nproc N]``: execute a chapter into
  ``runs/<stem>/<profile>/`` (``--nproc``: train its long run under torchrun first).
- ``data``: fetch, verify and parse the Shakespeare corpus (idempotent; nothing is downloaded twice).
- ``book [--execute cache|off]``: build the site into ``_build/html`` with warnings as errors.
- ``bench [name ...] [--smoke]``: time the course's code side by side with outside references (nanoGPT's model,
  ``MistralForCausalLM``, ``torch.compile``, gensim, HF tokenizers, SentencePiece), interleaved, with ratios and spread.
- ``scaling [--profile quick|full] [--publish]``: chapter 14's scaling study (IsoFLOP grid, repeated data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlcourse.course.catalog import PROJECTS
from mlcourse.course.profiles import PROFILES


def _minutes(value: float | None) -> str:
    return "-" if value is None else (f"{value:.0f} min" if value >= 1 else f"{value * 60:.0f} s")


def cmd_list(args: argparse.Namespace) -> int:
    if args.modules:
        return list_modules()
    print(f"{'project':<8} {'chapter':<32} {'status':<10} {'quick':>8} {'full':>8}  title")
    for p in PROJECTS:
        print(f"{p.number:<8} {p.stem:<32} {p.status:<10} {_minutes(p.quick_minutes):>8} "
              f"{_minutes(p.full_minutes):>8}  {p.title}")
        if p.times_note:
            print(f"{'':<52}({p.times_note})")
    print(f"\nprofiles: {', '.join(PROFILES)}  (quick: at most 3 min on 2 CPU cores; full: the real run)")
    print("run one:  python -m mlcourse run <chapter> --profile full [-p name value ...]")
    return 0


def list_modules() -> int:
    """Each chapter with the library modules it teaches, their files and sizes."""
    import mlcourse

    code = Path(mlcourse.__file__).parent
    for p in PROJECTS:
        if not p.modules:
            continue
        print(f"{p.number:<6} {p.stem}  ({p.title})")
        for module in p.modules:
            path = code / (module.replace(".", "/") + ".py")
            lines = len(path.read_text(encoding="utf-8").splitlines())
            print(f"       mlcourse.{module:<34} code/mlcourse/{path.relative_to(code)}  ({lines} lines)")
    print("\nEvery chapter also uses mlcourse.course (ChapterRun, plots, device); its exercises are checked by "
          "mlcourse.checks.<chapter stem>.")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from mlcourse.course.runner import RunnerError, run_chapter, validate

    try:
        request = validate(args.chapter, args.profile, args.param or [])
    except RunnerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.nproc is not None:  # train the long run under torchrun first; the notebook then loads it
        import subprocess

        from mlcourse.course.runner import distributed_command
        try:
            command = distributed_command(request, args.nproc)
        except RunnerError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print("running:", " ".join(command), flush=True)
        if subprocess.run(command).returncode != 0:
            print("error: the torchrun launch failed (see above); the chapter was not executed", file=sys.stderr)
            return 1
    run_chapter(request, Path(args.output) if args.output else None, progress=not args.quiet)
    return 0


def cmd_data(_: argparse.Namespace) -> int:
    from mlcourse.data.fetch import CorpusUnavailableError
    from mlcourse.data.shakespeare import prepare

    try:
        prepare(verbose=True)
    except CorpusUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from mlcourse.course.catalog import find
    from mlcourse.course.published import publish

    try:
        stem = find(args.chapter).stem
        target = publish(stem, args.profile)
    except (KeyError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"published {stem} ({args.profile}) -> {target}: commit it; the chapter's page shows it from now on")
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    from mlcourse.course.book_build import build_book

    return build_book(execute=args.execute)


def cmd_bench(args: argparse.Namespace) -> int:
    from mlcourse.labs.bench import run_benches

    try:
        run_benches(args.names, smoke=args.smoke)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_scaling(args: argparse.Namespace) -> int:
    from mlcourse.labs.scaling_study import run_study

    results = run_study(args.profile, publish=args.publish)
    ci = results["alpha_ci95"]
    print(f"L(C) = {results['a']:.3g} C^-{results['alpha']:.4f} (standard error {results['alpha_se']:.4f}, "
          f"bootstrap 95% interval {ci[0]:.4f}-{ci[1]:.4f}); N_opt ~ C^{results.get('n_opt_exponent', float('nan')):.2f}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlcourse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="list the chapters, their profiles and run times")
    listing.add_argument("--modules", action="store_true", help="the library modules each chapter teaches")
    listing.set_defaults(func=cmd_list)
    run = sub.add_parser("run", help="execute a chapter with papermill into runs/<chapter>/<profile>/")
    run.add_argument("chapter", help="chapter stem (p12_1_attention) or project number (12.1)")
    # No argparse `choices` here: runner.validate gives one message format for every bad input.
    run.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default quick)")
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="set a notebook parameter, e.g. -p seed 3 (repeatable)")
    run.add_argument("--output", help="folder for the executed notebook and artifacts (default runs/<chapter>/<profile>)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--nproc", type=int, help="train the chapter's long run on N processes with torchrun first "
                                               "(p14_pretraining: the base model)")
    run.set_defaults(func=cmd_run)
    publishing = sub.add_parser("publish", help="copy a full run's results, figures and run record (never "
                                "weights) into chapters/published/ for the site")
    publishing.add_argument("chapter", help="chapter stem or project number")
    publishing.add_argument("--profile", default="full", help="the profile whose run to publish (default full)")
    publishing.set_defaults(func=cmd_publish)
    sub.add_parser("data", help="fetch and prepare the Shakespeare corpus").set_defaults(func=cmd_data)
    book = sub.add_parser("book", help="build the site into _build/html (warnings are errors)")
    book.add_argument("--execute", choices=("cache", "off"), default="cache",
                      help="cache: execute changed notebooks (default); off: render the stored outputs (CI)")
    book.set_defaults(func=cmd_book)
    scaling = sub.add_parser("scaling", help="chapter 14's scaling study (IsoFLOP grid, repeated data) into "
                             "runs/p14_scaling_law/<profile>/")
    scaling.add_argument("--profile", choices=("quick", "full"), default="full")
    scaling.add_argument("--publish", action="store_true", help="then copy its results and figures into "
                         "chapters/published/p14_scaling_law/")
    scaling.set_defaults(func=cmd_scaling)
    bench = sub.add_parser("bench", help="benchmarks against outside references (gpt, hf, compile, skipgram, bpe)")
    bench.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    bench.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks that it runs, times nothing")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

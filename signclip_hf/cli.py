"""`signclip-hf` command line: one grammar for every subcommand, written once here.

The contract (`tests/test_cli_contract.py` walks every subcommand's parser and checks it):

- One module per subcommand in `signclip_hf/commands/` (`build_dataset.py` is `signclip-hf build-dataset`):
  its docstring's first line is the one-line help, `add_arguments(parser)` declares the options with the
  helpers below, `run(args) -> int` does the work. Adding a subcommand is adding that one file.
- Command modules import only the standard library and this module at their top; the library is imported
  inside `run`, so `signclip-hf --help` and every `signclip-hf CMD --help` answer in well under 2 s.
- Libraries return reports and raise errors that name the input, never a flag; commands print the reports.
- The model is the positional `MODEL` (a local directory or a Hub repo id; see `signclip_hf.loading`), the
  dataset the positional `DATASET`; the main artifact goes to `--output` (a folder in, a folder out: the
  input positional, the output `--output`); text queries are the repeatable `--query`; several values of one
  option repeat it (`--task a --task b`), a list of numbers is comma-separated (`--windows 16,32,48`);
  `--top-k` defaults to `DEFAULT_TOP_K`; one option name has one meaning in every command.
- `main` checks `MODEL` and `DATASET` (`loading.resolve_model` / `resolve_dataset`) before the command runs:
  a wrong local path fails in a fraction of a second, before torch is imported.
- Every option has a help line; the formatter shows its default once (help texts never spell it out).
- Bad input (a missing file, an invalid pose, a bad option value, a missing optional extra) ends with one
  line `signclip-hf CMD: error: ...` and exit status 2; `SIGNCLIP_HF_TRACEBACK=1` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

DEFAULT_TOP_K = 10
COMMANDS_PACKAGE = "signclip_hf.commands"


def _command_names() -> dict[str, str]:
    """subcommand name -> module name, from the modules of `signclip_hf/commands/` (found without importing them)."""
    from . import commands

    return {
        info.name.replace("_", "-"): f"{COMMANDS_PACKAGE}.{info.name}"
        for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda info: info.name)
        if not info.name.startswith("_")
    }


COMMANDS = _command_names()


def _shows_default(default) -> bool:
    """Whether help shows this default: not for "nothing" (None, a flag's False, empty); 0 is shown."""
    return not (default is None or default is False or default is argparse.SUPPRESS or default in ("", [], ()))


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default once, at the end of its help line (help texts never repeat it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and _shows_default(default)
            and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        ):
            shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
            help_text += f" (default: {shown})"
        return help_text


def command_help(module) -> str:
    """A command module's one-line help: the first line of its docstring."""
    return (module.__doc__ or "").strip().splitlines()[0].rstrip(".") if module.__doc__ else ""


def command_parser(command: str) -> tuple[argparse.ArgumentParser, object]:
    """The parser of one subcommand (its module imported here, only when used), and the module."""
    module = importlib.import_module(COMMANDS[command])
    parser = argparse.ArgumentParser(
        prog=f"signclip-hf {command}",
        description=(module.__doc__ or "").strip(),
        formatter_class=HelpFormatter,
    )
    module.add_arguments(parser)
    return parser, module


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: the subcommands and their one-line help."""
    parser = argparse.ArgumentParser(prog="signclip-hf", description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        subparsers.add_parser(name, help=command_help(importlib.import_module(module_name)), add_help=False)
    return parser


# --- the shared arguments: every command that takes one of these declares it through these helpers -------------


def add_model(
    parser: argparse.ArgumentParser,
    help: str = "SignCLIP model: a local directory or a Hub repo id",
    optional: bool = False,
) -> None:
    """The positional `MODEL` (`optional`: it may be left out, e.g. when an index records its model)."""
    parser.add_argument("model", metavar="MODEL", help=help, **({"nargs": "?", "default": None} if optional else {}))


def add_dataset(
    parser: argparse.ArgumentParser, help: str = "pose dataset: a `build-dataset` folder or a Hub dataset id"
) -> None:
    parser.add_argument("dataset", metavar="DATASET", help=help)


def add_output(parser: argparse.ArgumentParser, help: str, required: bool = True, metavar: str = "PATH") -> None:
    parser.add_argument("--output", required=required, metavar=metavar, help=help)


def add_query(parser: argparse.ArgumentParser, required: bool = True, help: str = "text to look for; repeat for several") -> None:
    parser.add_argument("--query", action="append", required=required, default=None, metavar="TEXT", help=help)


def add_top_k(parser: argparse.ArgumentParser, help: str = "results per query") -> None:
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, metavar="K", help=help)


def add_batch_size(parser: argparse.ArgumentParser, default: int = 32, help: str = "clips per forward pass") -> None:
    parser.add_argument("--batch-size", type=int, default=default, metavar="N", help=help)


def add_languages(parser: argparse.ArgumentParser) -> None:
    """`--spoken-language` / `--sign-language`: the prompt tags of text queries."""
    parser.add_argument("--spoken-language", default="en", metavar="CODE", help="ISO 639-1 tag of the text")
    parser.add_argument("--sign-language", default="ase", metavar="CODE", help="ISO 639-3 sign language tag")


def add_config(parser: argparse.ArgumentParser, required: bool = False, example: str = "optim.lr=1e-4") -> None:
    """`--config FILE.yaml` and repeatable `--set KEY=VALUE` overrides (values parsed as YAML)."""
    parser.add_argument("--config", required=required, metavar="FILE", help="YAML config file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help=f"override one config entry (value parsed as YAML), e.g. --set {example}; repeatable",
    )  # fmt: skip


def add_num_proc(parser: argparse.ArgumentParser, default: int = 1) -> None:
    parser.add_argument("--num-proc", type=int, default=default, metavar="N", help="worker processes")


def add_ray(parser: argparse.ArgumentParser) -> None:
    """`--ray [ADDRESS]` (+ `--ray-workers`, `--ray-gpus`): run the job on a Ray cluster (the `ray` extra).

    `--ray` alone joins the cluster in `RAY_ADDRESS`, else starts Ray on this machine; off by default.
    """
    parser.add_argument(
        "--ray", nargs="?", const="", default=None, metavar="ADDRESS",
        help="run on a Ray cluster: this address, else RAY_ADDRESS, else a local Ray instance",
    )  # fmt: skip
    parser.add_argument(
        "--ray-workers", type=positive_int, default=None, metavar="N",
        help="Ray actors (with --ray); as many as the cluster's CPUs (or GPUs) when not given",
    )  # fmt: skip
    parser.add_argument(
        "--ray-gpus", type=float, default=0.0, metavar="G", help="GPUs per Ray actor (with --ray; 0: CPU actors)"
    )


def add_repeatable(parser: argparse.ArgumentParser, flag: str, metavar: str, help: str, **kwargs) -> None:
    """An option given once per value (`--task a --task b`), like `--query`: the one style for several values."""
    parser.add_argument(flag, action="append", default=None, metavar=metavar, help=help, **kwargs)


def ints(text: str) -> tuple[int, ...]:
    """Comma-separated whole numbers (`0,1,2`): the one style for a list of numbers."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected one or more whole numbers, got {text!r}")
    return values


def positive_ints(text: str) -> tuple[int, ...]:
    """Comma-separated whole numbers >= 1 (`16,32,48`)."""
    values = ints(text)
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers >= 1, got {text!r}")
    return values


def positive_float(text: str) -> float:
    """A positive, finite number (seconds, megabytes...): not inf or nan, which would disable a limit, nor <= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; bad input ends with a one-line error (set SIGNCLIP_HF_TRACEBACK=1 for the traceback)."""
    from .extras import MissingExtraError

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv)  # prints the help, or the usage error, and exits
    command, options = argv[0], argv[1:]
    parser, module = command_parser(command)
    args = parser.parse_args(options)
    try:
        from . import register_auto_classes
        from .loading import resolve_dataset, resolve_model

        # MODEL and DATASET mean the same in every command: a wrong local path fails here, before torch loads
        if isinstance(getattr(args, "model", None), str):
            resolve_model(args.model)
        if isinstance(getattr(args, "dataset", None), str):
            resolve_dataset(args.dataset)
        register_auto_classes()
        return int(module.run(args) or 0)
    except (OSError, ValueError, MissingExtraError) as error:  # InvalidPoseError, UnknownLanguageError: ValueError
        if os.environ.get("SIGNCLIP_HF_TRACEBACK"):
            raise
        parser.exit(2, f"signclip-hf {command}: error: {error}\n")


if __name__ == "__main__":
    raise SystemExit(main())

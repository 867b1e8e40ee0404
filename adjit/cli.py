"""The `adjit` command line: the IR, generated source or computation graph of a
function in a Python file, and its ahead-of-time export.

    adjit ir FILE.py:FUNC --arg f64[3,4] --arg f64[] [--grad [ARGNUMS] | --jvp | --hessian]
    adjit source ...   adjit graph ... -o graph.svg   adjit compile ... -o build/NAME

The arguments are made from their types (only shapes and dtypes matter for
tracing). Bad input exits with status 2 and one line on stderr; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from .ir.types import TensorType, parse_type

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad input from the command line: reported as one line, status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (with a pointer to --help), status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------------ arguments


def type_spec(text: str) -> TensorType:
    """An argument's type as the IR writes it: f64[3,4], f32[], i64[5], bool[2]."""
    try:
        return parse_type(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"malformed type {text!r}: write a dtype (f64, f32, i64, i32, bool) and a shape, "
            "as in f64[3,4] or f32[]"
        ) from None


def example(t: TensorType) -> np.ndarray:
    """An argument of type t. Floats are 0.5 ... 1.375 (positive, away from log's
    and division's poles), integers 0 (a valid index), booleans False."""
    if t.is_float:
        values = 0.5 + (np.arange(t.size) % 8) / 8
    else:
        values = np.zeros(t.size)
    return values.astype(t.np_dtype).reshape(t.shape)


def load_function(target: str) -> tuple[Callable, str]:
    """The function named by FILE.py:FUNC (FUNC may be dotted: Class.method)."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"expected FILE.py:FUNCTION, got {target!r}")
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    module_name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    # the file's own imports of its neighbours resolve as when it runs as a script
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise UsageError(f"importing {path} failed: {type(e).__name__}: {e}") from e
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{path} has no function {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"{path}:{name} is not a function (it is a {type(obj).__name__})")
    return obj, name.rpartition(".")[2]


def _argnums(text: str) -> int | tuple[int, ...]:
    """`0` -> 0, `0,2` -> (0, 2)."""
    try:
        nums = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"ARGNUMS must be ints like 0 or 0,1, got {text!r}"
        ) from None
    if not nums:
        raise argparse.ArgumentTypeError("ARGNUMS is empty")
    return nums[0] if len(nums) == 1 and "," not in text else nums


# ------------------------------------------------------------------ transforms


@dataclass
class Program:
    """What a verb works on: the user's function, the transform asked for and
    the arguments it is called with."""

    fun: Callable
    name: str  # the function's name in its file
    args: tuple  # the user function's example arguments
    mode: str  # primal, grad, value_and_grad, jvp, hessian
    compiled: Any  # the adjit object (jit, grad, ...)
    call_args: tuple  # what `compiled` is called with

    def ir(self) -> Any:
        import adjit

        if self.mode == "primal":
            return adjit.trace(self.fun)(*self.args)
        return self.compiled.ir(*self.call_args)


def _jvp_of(fun: Callable) -> Callable:
    import adjit

    def jvp(primals: tuple, tangents: tuple) -> Any:
        return adjit.jvp(fun, primals, tangents)

    jvp.__name__ = jvp.__qualname__ = f"jvp_{getattr(fun, '__name__', 'f')}"
    return jvp


def program(
    fun: Callable, name: str, types: Sequence[TensorType], options: argparse.Namespace
) -> Program:
    import adjit

    args = tuple(example(t) for t in types)
    try:
        inspect.signature(fun).bind(*args)
    except TypeError as e:
        raise UsageError(f"{e}: give one --arg per positional argument") from None
    except ValueError:  # no signature (a builtin): tracing will tell
        pass
    if options.grad is not None:
        return Program(fun, name, args, "grad", adjit.grad(fun, argnums=options.grad), args)
    if options.value_and_grad is not None:
        compiled = adjit.value_and_grad(fun, argnums=options.value_and_grad)
        return Program(fun, name, args, "value_and_grad", compiled, args)
    if options.hessian is not None:
        return Program(
            fun, name, args, "hessian", adjit.hessian(fun, argnums=options.hessian), args
        )
    if options.jvp:
        # unit tangents for float arguments (integers have none)
        tangents = tuple(np.ones_like(a) if a.dtype.kind == "f" else a for a in args)
        return Program(fun, name, args, "jvp", adjit.jit(_jvp_of(fun)), (args, tangents))
    return Program(fun, name, args, "primal", adjit.jit(fun), args)


# ---------------------------------------------------------------------- verbs


def _cmd_ir(prog: Program, options: argparse.Namespace) -> None:
    print(prog.ir())


def _cmd_source(prog: Program, options: argparse.Namespace) -> None:
    print(prog.compiled.source(*prog.call_args), end="")


def _cmd_graph(prog: Program, options: argparse.Namespace) -> None:
    import adjit

    from .compiler.passes import simplify
    from .graph import Graph, derivative_name, to_dot

    fn = prog.ir()
    if prog.mode == "primal":
        dot = to_dot(fn)
    else:
        traced = adjit.trace(prog.fun)(*prog.args)
        kinds = {"jvp": ["jacfwd"], "hessian": ["jacfwd", "jacrev"]}.get(prog.mode, ["grad"])
        dot = to_dot(fn, [traced, simplify(traced)], derivative_name(kinds))
    picture = Graph(fn, dot)
    if options.output is None:
        print(dot, end="")
    else:
        picture.save(options.output)


def _cmd_compile(prog: Program, options: argparse.Namespace) -> None:
    import adjit

    path, name = options.output, options.name or prog.name
    adjit.export(prog.compiled, *prog.call_args, path=path, name=name)
    package = os.path.basename(os.path.normpath(path))
    print(f"wrote {path}: from {package} import {name}")


_VERBS: dict[str, tuple[Callable, str, str]] = {
    "ir": (
        _cmd_ir,
        "print the IR: as traced, or the optimized derivative IR with --grad/--jvp/--hessian",
        "adjit ir model.py:loss --arg f64[3,4] --arg f64[4] --grad 0",
    ),
    "source": (
        _cmd_source,
        "print the generated Numba source",
        "adjit source model.py:loss --arg f64[3,4] --arg f64[4] --value-and-grad",
    ),
    "graph": (
        _cmd_graph,
        "draw the computation graph (Graphviz): .svg/.png/.pdf need `dot`, .dot does not",
        "adjit graph model.py:loss --arg f64[3,4] --arg f64[4] --grad -o graph.svg",
    ),
    "compile": (
        _cmd_compile,
        "export an importable package that runs without adjit (adjit.export)",
        "adjit compile model.py:loss --arg f64[3,4] --arg f64[4] --value-and-grad -o build/loss",
    ),
}


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="adjit",
        description="adjit: trace NumPy code to IR, differentiate it, compile it.",
        epilog="run `adjit VERB --help` for a verb's options and an example",
    )
    verbs = top.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    verbs.required = True
    for verb, (_, summary, example_line) in _VERBS.items():
        p = verbs.add_parser(
            verb,
            help=summary,
            description=summary,
            epilog=f"example:\n  {example_line}\n",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("target", metavar="FILE.py:FUNC", help="the function to work on")
        p.add_argument(
            "--arg",
            dest="types",
            metavar="TYPE",
            type=type_spec,
            action="append",
            default=[],
            help="type of the next positional argument, as the IR writes it: f64[3,4], f32[], "
            "i64[5], bool[2] (repeat per argument)",
        )
        mode = p.add_mutually_exclusive_group()
        mode.add_argument(
            "--grad",
            metavar="ARGNUMS",
            nargs="?",
            const=0,
            type=_argnums,
            help="the gradient (reverse mode) with respect to ARGNUMS (default 0; 0,1 for two)",
        )
        mode.add_argument(
            "--value-and-grad",
            metavar="ARGNUMS",
            nargs="?",
            const=0,
            type=_argnums,
            help="the value and the gradient, in one function",
        )
        mode.add_argument(
            "--jvp",
            action="store_true",
            help="value and tangent (forward mode) along unit tangents of the float arguments",
        )
        mode.add_argument(
            "--hessian",
            metavar="ARGNUMS",
            nargs="?",
            const=0,
            type=_argnums,
            help="the Hessian (forward over reverse) with respect to ARGNUMS (default 0)",
        )
        if verb in ("graph", "compile"):
            p.add_argument(
                "-o",
                "--output",
                required=verb == "compile",
                help="graph: a .svg, .png, .pdf or .dot file (default: DOT on stdout); "
                "compile: the package's directory (its name is the last component)",
            )
        if verb == "compile":
            p.add_argument("--name", help="the exported function's name (default: FUNC)")
        p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return top


def _one_line(error: BaseException) -> str:
    """An error's message on one line (adjit's messages put the user's line on a second)."""
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    return text or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    command = _VERBS[options.verb][0]
    try:
        fun, name = load_function(options.target)
        command(program(fun, name, options.types, options), options)
    except UsageError as e:
        if options.debug:
            raise
        print(f"adjit {options.verb}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # the user's function failed to trace, or an export failed
        if options.debug:
            raise
        from .errors import AdjitError

        kind = "" if isinstance(e, AdjitError) else f"{type(e).__name__}: "
        print(f"adjit {options.verb}: error: {kind}{_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0

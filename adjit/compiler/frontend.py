"""What the user's code sees while it is traced.

Tracing never modifies the numpy module: other threads, NumPy's own C code and
every library keep the real functions. Instead the traced function is rebuilt
with a view of its globals in which NumPy is replaced by `NUMPY`, a module-like
view that delegates to NumPy except for

- the creation functions (`np.zeros`, `np.array`, ...), which return Tracers so
  that item assignment into the new array can take traced values;
- `np.random`, whose draws would be frozen into the compiled function as
  constants: every call raises UnsupportedError;
- every other NumPy function adjit does not implement, which refuses traced
  arguments with UnsupportedError before NumPy's own code sees them;
- `np.r_` and `np.c_`, which refuse traced values.

Globals bound to numpy or one of its submodules (whatever the name), to one of
its functions (`from numpy import zeros`), to a random generator, and user
functions reached through globals, closure cells, defaults, bound methods and
partials are replaced by their views, recursively and lazily (a global is
viewed when the code first reads it), each object once per trace (`Session`).

A rebuilt function whose `if`, `while` or `for ... in range()` may depend on
traced values runs rewritten code (`autograph`) that captures them as IR ops.

`import numpy` inside such a function gives the view too (through the
function's builtins). Writes to globals (`global counter; counter += 1`) land in the view of the
module's globals, which all rebuilt functions of that module share; they are
written back to the real module when the outermost trace ends.
"""

from __future__ import annotations

import contextlib
import dis
import functools
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import UnsupportedError
from . import autograph, capture_runtime, numpy_api, numpy_shapes
from .builder import is_tracing, is_user_code, located

# ------------------------------------------------------------ the NumPy view


def _random_types() -> tuple[type, ...]:
    """numpy.random's generator types, or none while nothing has imported it (NumPy
    loads it on first use, a tenth of `import adjit`), when no value can be one."""
    random = sys.modules.get("numpy.random")
    try:
        return (random.Generator, random.RandomState, random.BitGenerator, random.SeedSequence)
    except AttributeError:  # None, or being imported by another thread
        return ()


# NumPy functions that only look at shapes and dtypes: they get stand-ins of the
# traced arguments, which carry those, in place of the values
_METADATA = {"isscalar", "iterable", "result_type", "can_cast"}


def _random_error(name: str) -> UnsupportedError:
    return located(
        UnsupportedError(
            f"{name} inside a traced function: random numbers drawn while tracing would be "
            "frozen into the compiled function as constants. Draw them outside the traced "
            "function and pass them in as arguments"
        )
    )


def _refuse_random(func: Any, name: str) -> Callable[..., Any]:
    @functools.wraps(func)
    def refuse(*args: Any, **kwargs: Any) -> Any:
        if is_tracing():
            raise _random_error(name)
        return func(*args, **kwargs)

    return refuse


class RefusedRandom:
    """A random generator (Generator, RandomState, ...) as traced code sees it."""

    def __init__(self, rng: Any) -> None:
        self._rng = rng

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._rng, attr)
        if callable(value):
            return _refuse_random(value, f"{type(self._rng).__name__}.{attr}")
        return value


def _has_unknown_tracer(x: Any) -> bool:
    if numpy_api.is_tracer(x):
        return x.const is None
    if isinstance(x, (list, tuple)):
        return any(_has_unknown_tracer(e) for e in x)
    if isinstance(x, dict):
        return any(_has_unknown_tracer(e) for e in x.values())
    return False


def _stand_in(x: Any) -> Any:
    """x with every tracer replaced by an array of its shape and dtype (values unknown)."""
    if numpy_api.is_tracer(x):
        return np.broadcast_to(np.zeros((), x.dtype), x.shape)
    if isinstance(x, (list, tuple)):
        return type(x)(_stand_in(e) for e in x)
    return x


def _guarded(func: Callable, name: str) -> Callable[..., Any]:
    """`func`, refusing traced arguments whose values are unknown (NumPy would see
    an object it cannot use); known ones are replaced by their values."""
    short = name.rpartition(".")[2]

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not is_tracing():
            return func(*args, **kwargs)
        if _has_unknown_tracer(args) or _has_unknown_tracer(kwargs):
            if short in _METADATA and name == f"np.{short}":
                return func(*_stand_in(args), **_stand_in(kwargs))
            raise located(UnsupportedError(f"{name} is not supported by adjit on traced arrays"))
        return func(*numpy_api._known_values(args), **numpy_api._known_values(kwargs))

    return call


class _GuardedIndexer:
    """np.r_ / np.c_: refuse traced values instead of handing them to NumPy."""

    def __init__(self, indexer: Any, name: str) -> None:
        self._indexer, self._name = indexer, name

    def __getitem__(self, key: Any) -> Any:
        if is_tracing() and _has_unknown_tracer(key if isinstance(key, tuple) else (key,)):
            raise located(
                UnsupportedError(
                    f"{self._name}[...] on traced arrays is not supported: use np.concatenate, "
                    "np.stack or np.column_stack"
                )
            )
        return self._indexer[key]

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._indexer, attr)


class ModuleView(types.ModuleType):
    """A module as traced code sees it: its attributes through `view`, cached."""

    def __init__(self, module: types.ModuleType, public: str) -> None:
        super().__init__(module.__name__, module.__doc__)
        self.__dict__["_module"] = module
        self.__dict__["_public"] = public

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._module, attr)
        viewed = _numpy_attribute(self._public, attr, value)
        self.__dict__[attr] = viewed
        return viewed

    def __dir__(self) -> list[str]:
        return dir(self._module)

    def __repr__(self) -> str:
        return f"<adjit's traced view of module {self._module.__name__!r}>"


def _numpy_attribute(public: str, attr: str, value: Any) -> Any:
    """What `<public>.<attr>` (e.g. np.zeros, np.linalg.inv) is in traced code."""
    name = f"{public}.{attr}"
    if public == "np" and attr in numpy_api.CREATION:
        return numpy_api.CREATION[attr]
    if isinstance(value, types.ModuleType):
        return _numpy_module_view(value)
    if public == "np.random" or _is_random(value):
        return _refuse_random(value, name) if callable(value) else value
    if isinstance(value, (type(np.r_), type(np.c_))):
        return _GuardedIndexer(value, name)
    if not callable(value) or isinstance(value, (np.ufunc, type)):
        return value
    if value in numpy_shapes.LISTABLE:  # np.mean([a, b]): dispatch misses tracers in lists
        return numpy_shapes.LISTABLE[value]
    if value in numpy_api.FUNCTIONS:
        return value
    return _guarded(value, name)


@functools.cache
def _numpy_module_view(module: types.ModuleType) -> Any:
    if not module.__name__.startswith("numpy"):
        return module
    parts = module.__name__.split(".")
    return ModuleView(module, ".".join(["np", *parts[1:]]))


def _is_random(value: Any) -> bool:
    kinds = _random_types()
    if isinstance(value, kinds) or isinstance(getattr(value, "__self__", None), kinds):
        return True
    return (getattr(value, "__module__", None) or "").startswith("numpy.random")


NUMPY = _numpy_module_view(np)

# numpy's public objects by identity, for globals like `from numpy import zeros`
_NUMPY_NAMES = {
    id(value): name
    for name, value in vars(np).items()
    if not name.startswith("_") and callable(value) and not isinstance(value, type)
}


def _numpy_object(value: Any) -> Any:
    """The view of a NumPy object found in user globals; `value` itself if none."""
    special = _scipy_special_object(value)
    if special is not value:
        return special
    if isinstance(value, types.ModuleType):
        return _numpy_module_view(value)
    if _is_random(value):
        if isinstance(value, _random_types()):
            return RefusedRandom(value)
        return _refuse_random(value, f"np.random.{getattr(value, '__name__', '?')}")
    name = _NUMPY_NAMES.get(id(value))
    if name is not None and getattr(np, name) is value:
        return getattr(NUMPY, name)
    return value


# ------------------------------------------------------ the scipy.special view


class _ScipyView(types.ModuleType):
    """scipy, scipy.special or scipy.linalg as traced code sees it: adjit's logsumexp,
    softmax and log_softmax (scipy_special.py), solve_triangular, cho_solve, ...
    (scipy_linalg.py) in place of SciPy's; all else SciPy's."""

    def __init__(self, module: types.ModuleType) -> None:
        super().__init__(module.__name__, module.__doc__)
        self.__dict__["_module"] = module

    def __getattr__(self, attr: str) -> Any:
        value = _scipy_special_object(getattr(self._module, attr))
        self.__dict__[attr] = value
        return value

    def __dir__(self) -> list[str]:
        return dir(self._module)


@functools.cache
def _scipy_view(module: types.ModuleType) -> _ScipyView:
    return _ScipyView(module)


def _scipy_special_object(value: Any) -> Any:
    """The view of scipy, scipy.special, scipy.linalg or of a Python function of
    theirs that adjit serves (scipy_special.py, scipy_linalg.py); else `value`.

    Only once the program has imported that module (adjit does not import SciPy).
    """
    import sys

    served = [m for m in ("scipy.special", "scipy.linalg") if m in sys.modules]
    if not served:
        return value
    if isinstance(value, types.ModuleType):
        viewed = value.__name__ == "scipy" or value.__name__ in served
        return _scipy_view(value) if viewed else value
    if not isinstance(value, types.FunctionType):
        return value
    for module in served:
        if module == "scipy.special":
            from . import scipy_special as adjit_module
        else:
            from . import scipy_linalg as adjit_module
        if value in adjit_module.FUNCTIONS:
            return adjit_module.FUNCTIONS[value]
    return value


# ------------------------------------------------------- the user code's view


class GlobalsView(dict):
    """A module's globals as rebuilt functions see them: read through `Session.view`.

    Holds what was read (viewed) and what the code wrote; the writes go back to
    the real module at the end of the trace (`write_back`).
    """

    def __init__(self, real: dict, session: Session) -> None:
        super().__init__((k, v) for k, v in real.items() if k.startswith("__"))
        if "__builtins__" in self:
            self["__builtins__"] = session.builtins(self["__builtins__"])
        self.real = real
        self.session = session
        self.viewed: dict[str, Any] = dict(self)
        self.deletable: set[str] = set()

    def __missing__(self, name: str) -> Any:
        value = self.session.view(self.real[name])  # KeyError: Python then tries builtins
        self.viewed[name] = value
        dict.__setitem__(self, name, value)
        return value

    def preload(self, name: str) -> None:
        """Make `del name` work here (DELETE_GLOBAL does not fall back to __missing__)."""
        if name in self.real and not dict.__contains__(self, name):
            self[name]  # noqa: B018
        self.deletable.add(name)

    def write_back(self) -> None:
        for name, value in self.items():
            if name not in self.viewed or self.viewed[name] is not value:
                self.real[name] = value
        for name in self.deletable:
            if not dict.__contains__(self, name) and name in self.viewed:
                self.real.pop(name, None)


def _deleted_globals(code: types.CodeType) -> set[str]:
    names = {i.argval for i in dis.get_instructions(code) if i.opname == "DELETE_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _deleted_globals(const)
    return names


class Session:
    """The views made for one (outermost) trace, each object viewed once."""

    def __init__(self) -> None:
        self.globals: dict[int, GlobalsView] = {}
        # id(original) -> (original, view): the original is kept alive with its id
        self.memo: dict[int, tuple[Any, Any]] = {}

    def view(self, value: Any) -> Any:
        """`value` as the user's traced code should see it."""
        key = id(value)
        if key in self.memo:
            return self.memo[key][1]
        if isinstance(value, types.FunctionType) and is_user_code(value.__code__.co_filename):
            return self._function(value)
        viewed = value
        if isinstance(value, types.MethodType):
            func = self.view(value.__func__)
            if func is not value.__func__:
                viewed = types.MethodType(func, value.__self__)
        elif isinstance(value, functools.partial):
            func, args = self.view(value.func), [self.view(a) for a in value.args]
            keywords = {k: self.view(v) for k, v in value.keywords.items()}
            parts = [value.func, *value.args, *value.keywords.values()]
            if any(a is not b for a, b in zip(parts, [func, *args, *keywords.values()])):
                viewed = functools.partial(func, *args, **keywords)
        elif isinstance(value, types.ModuleType) and _is_user_module(value):
            viewed = _UserModuleView(value, self)
        else:
            viewed = _numpy_object(value)
        self.memo[key] = (value, viewed)
        return viewed

    def builtins(self, real: Any) -> dict:
        """The builtins of rebuilt functions: `import numpy` inside them gives the view."""
        real = vars(real) if isinstance(real, types.ModuleType) else real
        view = self.memo.get(id(real), (None, None))[1]
        if view is None:
            real_import = real["__import__"]

            def import_(name: str, *args: Any, **kwargs: Any) -> Any:
                return self.view(real_import(name, *args, **kwargs))

            view = {**real, "__import__": import_}
            self.memo[id(real)] = (real, view)
        return view

    def module_globals(self, real: dict) -> GlobalsView:
        view = self.globals.get(id(real))
        if view is None:
            view = self.globals[id(real)] = GlobalsView(real, self)
        return view

    def _function(self, f: types.FunctionType) -> types.FunctionType:
        g = self.module_globals(f.__globals__)
        for name in _deleted_globals(f.__code__):
            g.preload(name)
        # A cell whose contents have a view gets a new cell, filled below (after the
        # memo entry, for recursion); the others are shared, so that `nonlocal`
        # writes still reach the enclosing function.
        cells = tuple(
            types.CellType() if _needs_view(_contents(c)) else c for c in f.__closure__ or ()
        )
        code, closure = autograph.rewrite(f), cells
        if code is not None:  # its if/while/for on traced values become IR ops
            closure = autograph.closure(code, f.__code__, cells, capture_runtime)
        new = types.FunctionType(code or f.__code__, g, f.__name__, None, closure or None)
        self.memo[id(f)] = (f, new)
        self.memo[id(new)] = (new, new)  # a view is its own view
        for old, cell in zip(f.__closure__ or (), cells):
            if cell is not old:
                cell.cell_contents = self.view(old.cell_contents)
        new.__defaults__ = tuple(self.view(d) for d in f.__defaults__ or ()) or None
        kwdefaults = {k: self.view(v) for k, v in (f.__kwdefaults__ or {}).items()}
        new.__kwdefaults__ = kwdefaults or None
        new.__dict__.update(f.__dict__)
        new.__qualname__, new.__module__, new.__doc__ = f.__qualname__, f.__module__, f.__doc__
        return new

    def write_back(self) -> None:
        for g in self.globals.values():
            g.write_back()


_EMPTY = object()


def _contents(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # not assigned yet
        return _EMPTY


def _needs_view(value: Any) -> bool:
    """Whether traced code must see something else than `value` (no views made)."""
    if isinstance(value, types.FunctionType):
        return is_user_code(value.__code__.co_filename) or _numpy_object(value) is not value
    if isinstance(value, types.MethodType):
        return _needs_view(value.__func__)
    if isinstance(value, functools.partial):
        parts = [value.func, *value.args, *value.keywords.values()]
        return any(_needs_view(p) for p in parts)
    if isinstance(value, types.ModuleType):
        return _is_user_module(value) or _numpy_object(value) is not value
    return _numpy_object(value) is not value


def _is_user_module(module: types.ModuleType) -> bool:
    path = getattr(module, "__file__", None)
    return path is not None and is_user_code(path)


class _UserModuleView(types.ModuleType):
    """A user module reached from traced code (`import helpers; helpers.f(x)`)."""

    def __init__(self, module: types.ModuleType, session: Session) -> None:
        super().__init__(module.__name__, module.__doc__)
        self.__dict__["_module"], self.__dict__["_session"] = module, session

    def __getattr__(self, attr: str) -> Any:
        return self._session.view(getattr(self._module, attr))


_LOCAL = threading.local()


@contextlib.contextmanager
def session() -> Iterator[Session]:
    """The views of the current thread's outermost trace (nested traces share it)."""
    outer = getattr(_LOCAL, "session", None)
    if outer is not None:
        yield outer
        return
    current = _LOCAL.session = Session()
    try:
        yield current
    finally:
        _LOCAL.session = None
        current.write_back()


def user_view(f: Callable) -> Callable:
    """`f` as it runs in the current trace: a rebuilt function that sees NumPy's view.

    A callable object with a user-defined `__call__` is viewed through that method.
    Outside a trace, `f` itself.
    """
    current = getattr(_LOCAL, "session", None)
    if current is None:
        return f
    viewed = current.view(f)
    if viewed is f and not isinstance(f, (types.FunctionType, types.MethodType)):
        call = type(f).__call__
        if isinstance(call, types.FunctionType) and is_user_code(call.__code__.co_filename):
            return types.MethodType(current.view(call), f)
    return viewed

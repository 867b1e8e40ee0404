"""Capture of Python control flow: rewrite a user function's AST so that `if`,
`while`, `for ... in range(...)`, `a if c else b`, `and`/`or`/`not` call the
helpers of `capture_runtime`, which run plain Python on concrete values and
emit `cond` / `while` / `for` IR ops on traced ones.

Each captured statement becomes nested functions of the variables it assigns
(passed in and returned; everything else is read through the closure):

    if c:                        def then(y): y = f(x); return (y,)
        y = f(x)          ->     def other(y): return (y,)
                                 (y,) = rt.if_stmt(c, then, other, rt.load(locals(), ('y',)))

`break` and `continue` become flag variables that guard the rest of the loop
body; a `return` inside an `if` moves the statements after the `if` into both
branches (so each branch returns). Where a statement cannot be captured (a
`return` inside a loop, a loop with `else`, control flow inside `try` or a
generator, assignment to a `global`), its condition is wrapped in
`rt.concrete`, which raises an error naming the construct and the line when the
condition is traced. The rewritten code keeps the user's file name and line
numbers; it is compiled once per code object.
"""

from __future__ import annotations

import ast
import copy
import inspect
import linecache
import textwrap
import types
from typing import Any

RT = "__adjit_rt__"  # the runtime module's name in rewritten code; helpers start with it
_FLAG = "__adjit_flag_"  # break and continue flags: variables of the user's function

_CACHE: dict[types.CodeType, types.CodeType | None] = {}
GENERATED: set[types.CodeType] = set()


# ------------------------------------------------------------------ analysis


def _walk_scope(node: ast.AST):
    """Nodes of `node` in its own scope (not inside nested functions, lambdas, classes)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield child  # its name is bound here; its body is another scope
            continue
        if isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp)):
            continue
        if isinstance(child, ast.GeneratorExp):
            continue
        yield child
        yield from _walk_scope(child)


def _stmts_nodes(stmts: list[ast.stmt]):
    for s in stmts:
        yield s
        yield from _walk_scope(s)


def assigned(stmts: list[ast.stmt]) -> list[str]:
    """Names the statements bind (or mutate through `name[...] = `), in first-seen order."""
    names: dict[str, None] = {}
    for node in _stmts_nodes(stmts):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names[node.id] = None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = None
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = None
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names[node.name] = None
    names.update(dict.fromkeys(mutated(stmts)))
    return [n for n in names if not n.startswith(RT)]


def mutated(stmts: list[ast.stmt]) -> list[str]:
    """Names whose object is modified in place (`a[i] = v`, `a[i][j] += v`)."""
    out: dict[str, None] = {}
    for node in _stmts_nodes(stmts):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            base = node.value
            while isinstance(base, ast.Subscript):
                base = base.value
            if isinstance(base, ast.Name):
                out[base.id] = None
    return list(out)


def _contains(stmts: list[ast.stmt], kinds: tuple, loops: bool) -> bool:
    """Whether a node of `kinds` occurs, looking into nested loops only if `loops`."""
    for s in stmts:
        if isinstance(s, kinds):
            return True
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(s, (ast.For, ast.While, ast.AsyncFor)) and not loops:
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(s, field, None)
            if inner and _contains(inner, kinds, loops):
                return True
    return False


def _always_returns(stmts: list[ast.stmt]) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, (ast.Return, ast.Raise)):
        return True
    if isinstance(last, ast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False


def _side_effect_free(stmts: list[ast.stmt], scope_names: set[str]) -> bool:
    """Whether a loop body may be traced once for all iterations (rolled)."""
    for node in _stmts_nodes(stmts):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            return False  # print(...), lst.append(...)
        if isinstance(node, (ast.Attribute, ast.Starred)) and isinstance(node.ctx, ast.Store):
            return False
        if isinstance(node, (ast.Global, ast.Nonlocal, ast.Delete, ast.Yield, ast.YieldFrom)):
            return False
        if isinstance(node, (ast.Try, ast.With, ast.Raise, ast.Assert)):
            return False
    return not (set(assigned(stmts)) & scope_names)


# --------------------------------------------------------------- transform


class _Rewriter:
    def __init__(self, declared: set[str], generator: bool, params: set[str]) -> None:
        self.count = 0
        self.params = params  # the function's parameters: calls of them are viewed
        self.declared = declared  # names declared global or nonlocal
        self.generator = generator

    def fresh(self, what: str) -> str:
        self.count += 1
        return f"{RT}{what}{self.count}"

    # ------------------------------------------------------------ helpers
    @staticmethod
    def rt(attr: str) -> ast.expr:
        return ast.Attribute(ast.Name(RT, ast.Load()), attr, ast.Load())

    def call(self, attr: str, *args: ast.expr) -> ast.Call:
        return ast.Call(self.rt(attr), list(args), [])

    @staticmethod
    def names_tuple(names: list[str], ctx: ast.expr_context) -> ast.Tuple:
        return ast.Tuple([ast.Name(n, ctx) for n in names], ctx)

    @staticmethod
    def strings(names: list[str]) -> ast.Tuple:
        return ast.Tuple([ast.Constant(n) for n in names], ast.Load())

    def load(self, names: list[str]) -> ast.Call:
        locals_call = ast.Call(ast.Name("locals", ast.Load()), [], [])
        return self.call("load", locals_call, self.strings(names))

    def funcdef(self, name: str, params: list[str], body: list[ast.stmt]) -> ast.FunctionDef:
        args = ast.arguments([], [ast.arg(p) for p in params], None, [], [], None, [])
        return ast.FunctionDef(name, args, body or [ast.Pass()], [], None)

    def guard(self, test: ast.expr, what: str) -> ast.expr:
        return _at(self.call("concrete", self.expr(test), ast.Constant(what)), test)

    # -------------------------------------------------------- expressions
    def expr(self, node: ast.expr) -> ast.expr:
        return _ExprRewriter(self).visit(node)

    # --------------------------------------------------------- statements
    def block(self, stmts: list[ast.stmt], why_not: str | None = None) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for s in stmts:
            out.extend(self.stmt(s, why_not))
        return out

    def stmt(self, s: ast.stmt, why_not: str | None) -> list[ast.stmt]:
        if isinstance(s, ast.FunctionDef):
            return [_rewrite_def(s, self)]  # made at run time: never viewed, rewritten here
        if isinstance(s, (ast.AsyncFunctionDef, ast.ClassDef)):
            return [s]
        if isinstance(s, ast.If):
            return self.if_(s, why_not)
        if isinstance(s, ast.While):
            return self.while_(s, why_not)
        if isinstance(s, ast.For):
            return self.for_(s, why_not)
        if isinstance(s, ast.Try):
            s.body = self.block(s.body, why_not or "inside a try block")
            for h in s.handlers:
                h.body = self.block(h.body, why_not or "inside a try block")
            s.orelse = self.block(s.orelse, why_not or "inside a try block")
            s.finalbody = self.block(s.finalbody, why_not or "inside a try block")
            return [s]
        if isinstance(s, (ast.With, ast.AsyncFor, ast.AsyncWith)):
            s.body = self.block(s.body, why_not)
            return [s]
        if isinstance(s, ast.Return) and s.value is not None:
            s.value = self._defined(s.value)
        return [_ExprRewriter(self).visit(s)]

    def _defined(self, value: ast.expr) -> ast.expr:
        """`return y` of a variable left undefined by a captured statement: an error naming it."""
        if isinstance(value, ast.Name):
            return _at(self.call("defined", value), value)
        if isinstance(value, ast.Tuple):
            value.elts = [self._defined(e) for e in value.elts]
        return value

    def _refusal(self, body: list[ast.stmt], kind: str, why_not: str | None) -> str | None:
        """Why this statement cannot be captured, as a phrase (None: it can)."""
        if why_not:
            return why_not
        if self.generator:
            return "inside a generator (a function with yield)"
        clash = [n for n in assigned(body) if n in self.declared]
        if clash:
            return f"that assigns to the global or nonlocal variable '{clash[0]}'"
        if _contains(body, (ast.Raise,), loops=True):
            return "that raises an exception"  # it would raise while tracing either path
        if kind != "if" and _contains(body, (ast.Return,), loops=True):
            return "that contains a return statement"
        if kind == "if" and _contains(body, (ast.Return,), loops=True):
            if not _contains(body, (ast.Return,), loops=False):
                return "that contains a return statement inside a loop"
        return None

    def if_(self, s: ast.If, why_not: str | None) -> list[ast.stmt]:
        branches = s.body + s.orelse
        refusal = self._refusal(branches, "if", why_not)
        returns = _always_returns(s.body) and _always_returns(s.orelse)
        if refusal is None and _contains(branches, (ast.Break, ast.Continue), loops=False):
            refusal = "that contains break or continue of a loop that is not captured"
        if refusal is None and not returns and _contains(branches, (ast.Return,), loops=True):
            refusal = "that contains a return statement inside a loop"
        if refusal is not None:
            s.test = self.guard(s.test, f"an if statement {refusal}")
            s.body = self.block(s.body, why_not)
            s.orelse = self.block(s.orelse, why_not)
            return [s]
        names = assigned(branches)
        then_name, else_name = self.fresh("then"), self.fresh("else")
        tail = [] if returns else [ast.Return(self.names_tuple(names, ast.Load()))]
        then = self.funcdef(then_name, names, self.block(s.body) + tail)
        other = self.funcdef(else_name, names, self.block(s.orelse) + tail)
        call = self.call(
            "if_stmt",
            self.expr(s.test),
            ast.Name(then_name, ast.Load()),
            ast.Name(else_name, ast.Load()),
            self.load(names),
            self.strings(names),
            ast.Constant(returns),
        )
        if returns:
            result: ast.stmt = ast.Return(call)
        elif names:
            result = ast.Assign([self.names_tuple(names, ast.Store())], call)
        else:
            result = ast.Expr(call)
        return [_at(n, s) for n in (then, other, result)]

    def _jumps(self, body: list[ast.stmt], brk: str | None, cont: str | None) -> list[ast.stmt]:
        """Lower break/continue of this loop to flags; guard what follows them."""
        out: list[ast.stmt] = []
        for i, s in enumerate(body):
            if isinstance(s, ast.Break):
                out.append(_at(_assign(brk, True), s))
                return out
            if isinstance(s, ast.Continue):
                out.append(_at(_assign(cont, True), s))
                return out
            if isinstance(s, ast.If) and _contains([s], (ast.Break, ast.Continue), loops=False):
                s.body = self._jumps(s.body, brk, cont)
                s.orelse = self._jumps(s.orelse, brk, cont)
                out.append(s)
                rest = self._jumps(body[i + 1 :], brk, cont)
                if rest:
                    flags = [f for f in (brk, cont) if f]
                    test = ast.UnaryOp(
                        ast.Not(),
                        ast.BoolOp(ast.Or(), [ast.Name(f, ast.Load()) for f in flags])
                        if len(flags) > 1
                        else ast.Name(flags[0], ast.Load()),
                    )
                    out.append(_at(ast.If(test, rest, []), s))
                return out
            if isinstance(s, (ast.With, ast.Try)) and _contains(
                [s], (ast.Break, ast.Continue), loops=False
            ):
                return out + body[i:]  # left as is: the loop is refused below
            out.append(s)
        return out

    def _loop_refusal(self, s: ast.While | ast.For, kind: str, why_not: str | None) -> str | None:
        refusal = self._refusal(s.body, kind, why_not)
        if refusal is None and s.orelse:
            refusal = "that has an else clause"
        if refusal is None:
            for node in _stmts_nodes(s.body):
                if isinstance(node, (ast.Try, ast.With)) and _contains(
                    [node], (ast.Break, ast.Continue), loops=False
                ):
                    return "that has break or continue inside a try or with block"
        return refusal

    def _flags(self, body: list[ast.stmt]) -> tuple[str | None, str | None]:
        has_break = _contains(body, (ast.Break,), loops=False)
        has_cont = _contains(body, (ast.Continue,), loops=False)
        brk = f"{_FLAG}break{self.fresh('')[len(RT) :]}" if has_break else None
        cont = f"{_FLAG}continue{self.fresh('')[len(RT) :]}" if has_cont else None
        return brk, cont

    def while_(self, s: ast.While, why_not: str | None) -> list[ast.stmt]:
        refusal = self._loop_refusal(s, "while", why_not)
        if refusal is not None:
            s.test = self.guard(s.test, f"a while loop {refusal}")
            s.body = self.block(s.body, why_not)
            s.orelse = self.block(s.orelse, why_not)
            return [s]
        brk, cont = self._flags(s.body)
        body = self._jumps(s.body, brk, cont)
        pre = [_assign(f, False) for f in (brk, cont) if f]
        if cont:
            body = [_assign(cont, False), *body]
        test: ast.expr = s.test
        if brk:
            test = ast.BoolOp(ast.And(), [ast.UnaryOp(ast.Not(), ast.Name(brk, ast.Load())), test])
        names = assigned(body)
        test_name, body_name = self.fresh("test"), self.fresh("body")
        tail = [ast.Return(self.names_tuple(names, ast.Load()))]
        test_def = self.funcdef(test_name, names, [ast.Return(self.expr(test))])
        body_def = self.funcdef(body_name, names, self.block(body) + tail)
        call = self.call(
            "while_stmt",
            ast.Name(test_name, ast.Load()),
            ast.Name(body_name, ast.Load()),
            self.load(names),
            self.strings(names),
        )
        result = ast.Assign([self.names_tuple(names, ast.Store())], call)
        return [_at(n, s) for n in (*pre, test_def, body_def, result)]

    def for_(self, s: ast.For, why_not: str | None) -> list[ast.stmt]:
        is_range = (
            isinstance(s.iter, ast.Call)
            and isinstance(s.iter.func, ast.Name)
            and s.iter.func.id == "range"
            and not s.iter.keywords
            and 1 <= len(s.iter.args) <= 3
            and isinstance(s.target, ast.Name)
        )
        refusal = self._loop_refusal(s, "for", why_not)
        if not is_range or refusal is not None:
            if is_range:
                s.iter.args = [self.guard(a, f"a for loop {refusal}") for a in s.iter.args]
            else:
                s.iter = self.expr(s.iter)
            s.body = self.block(s.body, why_not)
            s.orelse = self.block(s.orelse, why_not)
            return [s]
        brk, cont = self._flags(s.body)
        body = self._jumps(s.body, brk, cont)
        if cont:
            body = [_assign(cont, False), *body]
        if brk:
            body = [ast.If(ast.UnaryOp(ast.Not(), ast.Name(brk, ast.Load())), body, [])]
        index = self.fresh("i")
        body = [
            ast.Assign([ast.Name(s.target.id, ast.Store())], ast.Name(index, ast.Load())),
            *body,
        ]
        pre = [_assign(f, False) for f in (brk, cont) if f]
        names = assigned(body)
        rollable = _side_effect_free(s.body, self.declared)
        body_name = self.fresh("body")
        tail = [ast.Return(self.names_tuple(names, ast.Load()))]
        body_def = self.funcdef(body_name, [index, *names], self.block(body) + tail)
        bounds = ast.Tuple([self.expr(a) for a in s.iter.args], ast.Load())
        call = self.call(
            "for_stmt",
            bounds,
            ast.Name(body_name, ast.Load()),
            self.load(names),
            self.strings(names),
            ast.Constant(s.target.id),
            ast.Constant(brk),
            self.strings(mutated(s.body)),
            ast.Constant(rollable),
        )
        result = ast.Assign([self.names_tuple(names, ast.Store())], call)
        return [_at(n, s) for n in (*pre, body_def, result)]


def _at(node: ast.AST, where: ast.AST) -> Any:
    """Give the generated parts of `node` the first line of `where` (the user's
    statement), so that errors raised in the runtime point at that line."""
    line, col = getattr(where, "lineno", None), getattr(where, "col_offset", 0)
    if line is None:  # `where` is generated too: located with its statement
        return node
    for n in ast.walk(node):
        if "lineno" in n._attributes and getattr(n, "lineno", None) is None:
            n.lineno, n.end_lineno, n.col_offset, n.end_col_offset = line, line, col, col
    return node


def _assign(name: str | None, value: bool) -> ast.Assign:
    assert name is not None
    return ast.Assign([ast.Name(name, ast.Store())], ast.Constant(value))


class _ExprRewriter(ast.NodeTransformer):
    """a if c else b, and/or, not: through the runtime (lazy operands as lambdas)."""

    def __init__(self, rw: _Rewriter) -> None:
        self.rw = rw

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node

    visit_ClassDef = visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    @staticmethod
    def _plain(node: ast.AST) -> bool:
        """Expressions that would change meaning inside a lambda."""
        kinds = (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await)
        return any(isinstance(n, kinds) for n in ast.walk(node))

    @staticmethod
    def _thunk(e: ast.expr) -> ast.Lambda:
        args = ast.arguments([], [], None, [], [], None, [])
        return _at(ast.Lambda(args, e), e)

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if self._plain(node):
            return node
        call = self.rw.call("ifexp", node.test, self._thunk(node.body), self._thunk(node.orelse))
        return _at(call, node)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        if self._plain(node):
            return node
        what = "and_" if isinstance(node.op, ast.And) else "or_"
        call = self.rw.call(what, node.values[0], *(self._thunk(v) for v in node.values[1:]))
        return _at(call, node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        # obj.method(...): the method is viewed (and so rewritten) like functions
        # reached through globals and closures
        self.generic_visit(node)
        if _is_method_call(node):
            attr = node.func
            node.func = _at(self.rw.call("method", attr.value, ast.Constant(attr.attr)), attr)
        elif isinstance(node.func, ast.Name) and node.func.id in self.rw.params:
            node.func = _at(self.rw.call("view", node.func), node.func)
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.op, ast.Not):
            return node
        return _at(self.rw.call("not_", node.operand), node)


def _lower_returns(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """Move what follows an `if` that may return into its branches, so that each
    branch of such an `if` ends in a return (then it is captured as a whole)."""
    for i, s in enumerate(stmts):
        if isinstance(s, ast.If) and _contains([s], (ast.Return,), loops=False):
            rest = stmts[i + 1 :]
            body = s.body if _always_returns(s.body) else s.body + _copy(rest)
            orelse = s.orelse if _always_returns(s.orelse) else s.orelse + _copy(rest)
            s.body, s.orelse = _lower_returns(body), _lower_returns(orelse)
            return stmts[:i] + [s]
    return stmts


def _copy(stmts: list[ast.stmt]) -> list[ast.stmt]:
    return copy.deepcopy(stmts)


_CONTROL = (ast.If, ast.While, ast.For, ast.IfExp, ast.BoolOp)
_MODULES = frozenset(("np", "numpy", "math", "scipy", "special", "adjit", "functools"))


def _is_method_call(node: ast.Call) -> bool:
    func = node.func
    if not isinstance(func, ast.Attribute):
        return False
    return not (isinstance(func.value, ast.Name) and func.value.id in _MODULES)


def _params(fdef: ast.FunctionDef) -> set[str]:
    a = fdef.args
    return {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if p}


def _has_control_flow(fdef: ast.FunctionDef) -> bool:
    """Whether there is anything to rewrite: control flow, calls of methods or of
    the function's parameters (functions that may have control flow)."""
    params = _params(fdef)
    for node in ast.walk(fdef):
        if isinstance(node, _CONTROL):
            return True
        if isinstance(node, ast.Call) and _is_method_call(node):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in params:
                return True
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return True
    return False


def _source(f: types.FunctionType) -> str:
    """inspect.getsource(f.__code__) without inspect.getmodule: given a code object,
    it looks for the module by the real path of every loaded module's file (a
    tenth of a second on the first call of a process), where f's globals are that
    module's (linecache reads a file without one through their loader)."""
    code = f.__code__
    linecache.checkcache(code.co_filename)  # the file may have been edited since
    lines = linecache.getlines(code.co_filename, f.__globals__)
    if not lines:
        raise OSError(f"no source for {code.co_filename}")
    # co_firstlineno is the line of the def, or of its first decorator
    return "".join(inspect.getblock(lines[code.co_firstlineno - 1 :]))


def _function_def(f: types.FunctionType) -> ast.FunctionDef | None:
    code = f.__code__
    try:
        source = _source(f)
    except (OSError, TypeError, IndentationError):
        return None
    try:
        module = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None
    if not module.body or not isinstance(module.body[0], ast.FunctionDef):
        return None  # a lambda, or source that does not start with this def
    fdef = module.body[0]
    if fdef.name != code.co_name:
        return None
    # getsource starts at the first decorator, as co_firstlineno does
    ast.increment_lineno(module, code.co_firstlineno - 1)
    return fdef


def rewrite(f: types.FunctionType) -> types.CodeType | None:
    """The code of `f` with its control flow captured; None if there is none or
    its source cannot be read (then `f` runs as is). Cached per code object."""
    code = f.__code__
    if code in _CACHE:
        return _CACHE[code]
    new = None if code in GENERATED else _rewrite(code, f)
    _CACHE[code] = new
    return new


def _rewrite(code: types.CodeType, f: types.FunctionType) -> types.CodeType | None:
    fdef = _function_def(f)
    if fdef is None or not _has_control_flow(fdef):
        return None
    fdef.decorator_list = []
    fdef = _rewrite_def(fdef, None)
    # Defined in the factory under its own name, the function would bind that name
    # there, and a recursive call of a module-level function would become a free
    # variable instead of the global it is.
    name, fdef.name = fdef.name, f"{RT}function"
    factory_args = [RT, *code.co_freevars]
    factory = ast.FunctionDef(
        f"{RT}factory",
        ast.arguments([], [ast.arg(a) for a in factory_args], None, [], [], None, []),
        [fdef, ast.Return(ast.Name(fdef.name, ast.Load()))],
        [],
        None,
    )
    _at(factory, fdef)
    module = ast.Module([factory], [])
    ast.fix_missing_locations(module)
    compiled = compile(module, code.co_filename, "exec", dont_inherit=True)
    factory_code = next(c for c in compiled.co_consts if isinstance(c, types.CodeType))
    new = next(
        c
        for c in factory_code.co_consts
        if isinstance(c, types.CodeType) and c.co_name == fdef.name
    )
    names = {"co_name": name}
    if hasattr(code, "co_qualname"):  # Python 3.11+
        names["co_qualname"] = code.co_qualname
    new = new.replace(**names)
    _register(new)
    return new


def _rewrite_def(fdef: ast.FunctionDef, outer: _Rewriter | None) -> ast.FunctionDef:
    declared = {
        name
        for node in _stmts_nodes(fdef.body)
        if isinstance(node, (ast.Global, ast.Nonlocal))
        for name in node.names
    }
    generator = _contains_yield(fdef)
    body = fdef.body
    if not generator:
        body = body if _always_returns(body) else [*body, ast.Return(ast.Constant(None))]
        body = _lower_returns(body)
    fdef.body = _Rewriter(declared, generator, _params(fdef)).block(body)
    return fdef


def _contains_yield(fdef: ast.FunctionDef) -> bool:
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _stmts_nodes(fdef.body))


def _register(code: types.CodeType) -> None:
    GENERATED.add(code)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _register(c)


def closure(new: types.CodeType, old: types.CodeType, cells: tuple, runtime: Any) -> tuple:
    """The closure of the rewritten code: the original cells by name, and the runtime."""
    by_name = dict(zip(old.co_freevars, cells))
    return tuple(
        types.CellType(runtime) if name == RT else by_name[name] for name in new.co_freevars
    )

"""The IR verifier: SSA (each value defined once, before use), types, region scoping.

Regions are isolated: a region sees only its block arguments and the values it
defines, so every value flowing into control flow is an explicit operand. This
keeps the adjoint and tangent passes free of implicit captures.
"""

from __future__ import annotations

from ..errors import AdjitError, VerificationError
from .core import Block, Function, Op, Value
from .primitives import get, infer_type
from .types import TensorType

I64_SCALAR = TensorType("i64", ())
BOOL_SCALAR = TensorType("bool", ())


def verify(fn: Function) -> Function:
    """Check `fn`; raise VerificationError naming the first broken invariant."""
    _Verifier().block(fn.body, f"@{fn.name}")
    return fn


def _types(values: tuple[Value, ...] | list[Value]) -> list[TensorType]:
    return [v.type for v in values]


def _show(types: list[TensorType]) -> str:
    return "(" + ", ".join(str(t) for t in types) + ")"


class _Verifier:
    def __init__(self) -> None:
        self.defined: set[Value] = set()

    def fail(self, op: Op | None, msg: str) -> VerificationError:
        where = f" ({op.loc})" if op is not None and op.loc else ""
        what = f"{op.name}: " if op is not None else ""
        return VerificationError(f"{what}{msg}{where}")

    def define(self, value: Value, visible: set[Value], op: Op | None) -> None:
        if value in self.defined:
            raise self.fail(op, f"value {value!r} is defined more than once")
        self.defined.add(value)
        visible.add(value)

    def block(self, block: Block, where: str) -> None:
        visible: set[Value] = set()
        for arg in block.args:
            self.define(arg, visible, None)
        for op in block.ops:
            for v in op.operands:
                if v not in visible:
                    raise self.fail(
                        op, f"operand {v!r} is used before its definition or outside its region"
                    )
            self.op_types(op)
            for region in op.regions:
                self.block(region, f"{where}/{op.name}")
            for r in op.results:
                self.define(r, visible, op)
        for v in block.results:
            if v not in visible:
                raise VerificationError(f"{where}: yields {v!r}, which is not defined in scope")

    def op_types(self, op: Op) -> None:
        prim = get(op.name)
        if prim.kind == "control":
            self.control(op)
            return
        if op.regions:
            raise self.fail(op, "only control-flow ops have regions")
        if len(op.results) != 1:
            raise self.fail(op, f"has {len(op.results)} results, expected 1")
        try:
            expected = infer_type(op.name, _types(op.operands), op.attrs)
        except AdjitError as e:
            raise self.fail(op, str(e)) from None
        except (KeyError, TypeError, ValueError) as e:
            raise self.fail(op, f"bad attributes {dict(op.attrs)}: {e}") from None
        if op.result.type != expected:
            raise self.fail(op, f"result type is {op.result.type}, expected {expected}")

    def control(self, op: Op) -> None:
        results = _types(op.results)
        operands = _types(op.operands)
        if op.name == "cond":
            if not operands or operands[0] != BOOL_SCALAR:
                raise self.fail(op, "first operand must be the predicate, a bool[]")
            carried, regions = operands[1:], [("then", results), ("else", results)]
        elif op.name == "while":
            carried, regions = operands, [("cond", [BOOL_SCALAR]), ("body", operands)]
            if results != operands:
                raise self.fail(op, f"results {_show(results)} differ from {_show(operands)}")
        elif op.name in ("custom_vjp", "custom_jvp"):
            self.custom(op, operands, results)
            return
        else:  # for: lower bound, upper bound, loop-carried values
            if operands[:2] != [I64_SCALAR, I64_SCALAR]:
                raise self.fail(op, "first two operands must be i64[] loop bounds")
            carried, regions = [I64_SCALAR] + operands[2:], [("body", operands[2:])]
            if results != operands[2:]:
                raise self.fail(op, f"results {_show(results)} differ from carried values")
        self.regions(op, [(label, carried, yields) for label, yields in regions])

    def custom(self, op: Op, operands: list[TensorType], results: list[TensorType]) -> None:
        """custom_vjp/custom_jvp: inputs then captures; every region ends with the captures."""
        n = op.attrs.get("inputs")
        if not isinstance(n, int) or not 0 <= n <= len(operands):
            raise self.fail(op, f"needs an `inputs` attribute, at most {len(operands)}")
        inputs, captured = operands[:n], operands[n:]
        primal = ("primal", operands, results)
        if op.name == "custom_jvp":
            self.regions(op, [primal, ("jvp", inputs + inputs + captured, results + results)])
            return
        if len(op.regions) != 3:
            raise self.fail(op, f"needs 3 regions, has {len(op.regions)}")
        fwd_yields = _types(op.regions[1].results)
        residuals = fwd_yields[len(results) :]
        self.regions(
            op,
            [
                primal,
                ("fwd", operands, results + residuals),
                ("bwd", residuals + results + captured, inputs),
            ],
        )

    def regions(
        self, op: Op, regions: list[tuple[str, list[TensorType], list[TensorType]]]
    ) -> None:
        if len(op.regions) != len(regions):
            raise self.fail(op, f"needs {len(regions)} regions, has {len(op.regions)}")
        for region, (label, carried, yields) in zip(op.regions, regions):
            if _types(region.args) != carried:
                raise self.fail(
                    op,
                    f"{label} region takes {_show(_types(region.args))}, expected {_show(carried)}",
                )
            if _types(region.results) != yields:
                raise self.fail(
                    op,
                    f"{label} region yields {_show(_types(region.results))}, "
                    f"expected {_show(yields)}",
                )

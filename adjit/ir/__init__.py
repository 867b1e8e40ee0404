"""adjit's intermediate representation: typed static SSA with structured control flow."""

from .core import Block, Function, Op, Value
from .indexing import Slice
from .interpreter import interpret
from .parser import parse
from .primitives import PRIMITIVES, Primitive
from .printer import print_function
from .types import TensorType, parse_type
from .verifier import verify

__all__ = [
    "Block",
    "Function",
    "Op",
    "PRIMITIVES",
    "Primitive",
    "Slice",
    "TensorType",
    "Value",
    "interpret",
    "parse",
    "parse_type",
    "print_function",
    "verify",
]

"""Partial derivatives of the element-wise primitives, generated ahead by
``python -m adjit.compiler.derivatives`` from their SymPy derivations (a test
checks each entry against a fresh one). Do not edit."""

PARTIALS = {
    "neg": (-1,),
    "abs": (("sign", ("sym", "x")),),
    "sign": (None,),
    "exp": (("sym", "r"),),
    "log": (("div", ("const", 1.0), ("sym", "x")),),
    "log1p": (("div", ("const", 1.0), ("add", ("const", 1.0), ("sym", "x"))),),
    "expm1": (("add", ("const", 1.0), ("sym", "r")),),
    "sqrt": (("div", ("const", 1.0), ("mul", ("const", 2.0), ("sym", "r"))),),
    "sin": (("cos", ("sym", "x")),),
    "cos": (("neg", ("sin", ("sym", "x"))),),
    "tan": (("add", ("const", 1.0), ("mul", ("sym", "r"), ("sym", "r"))),),
    "sinh": (("cosh", ("sym", "x")),),
    "cosh": (("sinh", ("sym", "x")),),
    "tanh": (("sub", ("const", 1.0), ("mul", ("sym", "r"), ("sym", "r"))),),
    "asin": (
        (
            "div",
            ("const", 1.0),
            ("sqrt", ("sub", ("const", 1.0), ("mul", ("sym", "x"), ("sym", "x")))),
        ),
    ),
    "acos": (
        (
            "neg",
            (
                "div",
                ("const", 1.0),
                ("sqrt", ("sub", ("const", 1.0), ("mul", ("sym", "x"), ("sym", "x")))),
            ),
        ),
    ),
    "atan": (
        ("div", ("const", 1.0), ("add", ("const", 1.0), ("mul", ("sym", "x"), ("sym", "x")))),
    ),
    "logistic": (("neg", ("mul", ("sym", "r"), ("sub", ("sym", "r"), ("const", 1.0)))),),
    "floor": (None,),
    "ceil": (None,),
    "add": (1, 1),
    "sub": (1, -1),
    "mul": (("sym", "y"), ("sym", "x")),
    "div": (("div", ("const", 1.0), ("sym", "y")), ("neg", ("div", ("sym", "r"), ("sym", "y")))),
    "pow": (
        (
            "select",
            ("eq", ("sym", "y"), ("const", 0.0)),
            ("const", 0.0),
            ("mul", ("sym", "y"), ("pow", ("sym", "x"), ("sub", ("sym", "y"), ("const", 1.0)))),
        ),
        (
            "select",
            ("eq", ("sym", "r"), ("const", 0.0)),
            ("const", 0.0),
            ("mul", ("sym", "r"), ("log", ("sym", "x"))),
        ),
    ),
    "atan2": (
        (
            "div",
            ("div", ("sym", "y"), ("hypot", ("sym", "x"), ("sym", "y"))),
            ("hypot", ("sym", "x"), ("sym", "y")),
        ),
        (
            "neg",
            (
                "div",
                ("div", ("sym", "x"), ("hypot", ("sym", "x"), ("sym", "y"))),
                ("hypot", ("sym", "x"), ("sym", "y")),
            ),
        ),
    ),
    "logaddexp": (
        ("logistic", ("sub", ("sym", "x"), ("sym", "y"))),
        ("logistic", ("sub", ("sym", "y"), ("sym", "x"))),
    ),
    "hypot": (
        (
            "select",
            ("eq", ("sym", "r"), ("const", 0.0)),
            ("const", 0.0),
            ("div", ("sym", "x"), ("sym", "r")),
        ),
        (
            "select",
            ("eq", ("sym", "r"), ("const", 0.0)),
            ("const", 0.0),
            ("div", ("sym", "y"), ("sym", "r")),
        ),
    ),
    "floordiv": (None, None),
    "mod": (1, ("neg", ("floor", ("div", ("sym", "x"), ("sym", "y"))))),
    "asinh": (
        (
            "div",
            ("const", 1.0),
            ("sqrt", ("add", ("const", 1.0), ("mul", ("sym", "x"), ("sym", "x")))),
        ),
    ),
    "acosh": (
        (
            "div",
            ("const", 1.0),
            (
                "mul",
                ("sqrt", ("add", ("const", 1.0), ("sym", "x"))),
                ("sqrt", ("sub", ("sym", "x"), ("const", 1.0))),
            ),
        ),
    ),
    "atanh": (
        (
            "neg",
            ("div", ("const", 1.0), ("sub", ("mul", ("sym", "x"), ("sym", "x")), ("const", 1.0))),
        ),
    ),
    "erf": (
        (
            "div",
            ("mul", ("const", 2.0), ("exp", ("neg", ("mul", ("sym", "x"), ("sym", "x"))))),
            ("const", 1.772453850905516),
        ),
    ),
    "erfc": (
        (
            "neg",
            (
                "div",
                ("mul", ("const", 2.0), ("exp", ("neg", ("mul", ("sym", "x"), ("sym", "x"))))),
                ("const", 1.772453850905516),
            ),
        ),
    ),
    "gammaln": (("digamma", ("sym", "x")),),
    "digamma": (("trigamma", ("sym", "x")),),
}

"""adjit's compiler: tracer, primitive rules, transformations and IR passes."""

"""Generators: from checked policies (IR) to the evaluator package and the published documents."""

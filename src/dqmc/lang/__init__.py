"""The language: source files, diagnostics, grammars, front ends, the IR, its checks, printers."""

"""Tools for policy authors: the language server, the formatter, `dqmc new`, `dqmc test`, watch."""

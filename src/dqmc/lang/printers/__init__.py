"""Printers every layer shares: IR to DSL text, IR to YAML text, IR to English phrases."""

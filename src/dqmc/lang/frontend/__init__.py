"""Front ends: YAML and DSL specs lowered into the one IR."""

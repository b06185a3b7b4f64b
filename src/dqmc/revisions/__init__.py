"""Versions of a policy: the semantic diff, impact replays (embedded, Spark), synthetic claims."""

"""Versions of a policy: the semantic diff, the impact replay (embedded and Spark), synthetic claims."""

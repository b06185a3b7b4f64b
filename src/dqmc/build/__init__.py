"""The build: every artifact of every policy, written atomically or compared with disk, and its
cache."""

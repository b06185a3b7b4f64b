"""Verification: the claim-space analysis of a policy and the boundary claims on its edges."""

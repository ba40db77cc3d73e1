"""Measurements beside the benchmark: sampling throughput and CERTIFY time (throughput, with the reference
implementation loaded from a user's copy: reference_core), soundness audits by attack (audit) and the
samples sequential certification saves on real images (sequential_savings)."""

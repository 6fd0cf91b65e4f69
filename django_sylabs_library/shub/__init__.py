"""The read-only ``shub://`` API (Singularity Hub / sregistry manifests), spec section 6."""

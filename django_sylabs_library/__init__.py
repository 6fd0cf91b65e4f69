"""django-sylabs-library: a container library for Apptainer/Singularity inside any Django site."""

__version__ = "0.1.0"

#: The Library API version we advertise. ``2.0.0-alpha.2`` makes the client use the v2 upload
#: and the architecture-aware ``v2/tags`` endpoints (spec section 3.3).
API_VERSION = "2.0.0-alpha.2"

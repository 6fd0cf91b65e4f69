"""An HKP keyserver (``/pks/lookup``, ``/pks/add``) for ``apptainer key`` and ``verify``."""

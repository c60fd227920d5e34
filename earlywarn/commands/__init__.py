"""Sub-commands of the ``earlywarn`` command, grouped by stage, each registered by its ``register(app)``."""

"""The ``dfscan`` commands, one module per group: ``scan`` (scan, sample), ``explain``,
``models`` (train, evaluate, dataset), ``distributed`` (submit, status, report, flagged,
worker), ``recovery`` (recover, beat) and ``bench``.

Each module has ``register(group)``; ``scheduler.cli`` adds them all to ``dfscan``. Each
command is an entry point: it takes the settings the group built (``settings_for``) and
passes them down.
"""

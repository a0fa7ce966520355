"""A fuzzer for the registry loaders: mutated bundles driven through scan, registry, predict and
validate in a restartable child process. Run ``python -m atb_prediction._fuzz --help``.

:mod:`.cases` builds a small registry and applies recorded mutations to it (deterministically, so
a saved case replays exactly); :mod:`.driver` is what the child runs on one registry;
:mod:`.runner` generates cases, watches the child for crashes and hangs, and saves findings.
"""

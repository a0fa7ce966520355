"""A fuzzer for the registry loaders: mutated bundles driven through scan, registry, predict, run
and validate in a restartable child process under a memory limit. Run
``python -m atb_prediction._fuzz --help``; it needs nothing beyond the package.

:mod:`.cases` builds a small registry from the shipped demo models and applies recorded mutations
to it (deterministically, so a saved case replays exactly); :mod:`.onnx_edits` mutates a model's
protobuf structure (dims, element types, initializers) through :mod:`.wire`, a minimal protobuf
wire codec; :mod:`.driver` is what the child runs on one registry; :mod:`.runner` generates
cases, watches the child for crashes and hangs, and saves findings.
"""

"""Registry, runner and exception modules, named as upstream's ``src/prediction/models``."""

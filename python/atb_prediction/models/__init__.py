"""Registry, runner and exception modules, named as in the upstream bot's ``src/prediction/models``."""

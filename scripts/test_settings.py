"""The test servers' addresses and credentials for the Python tools: the environment's value, else the one in
scripts/test-servers.env (where they are written once)."""
import os

_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test-servers.env")


def _defaults():
    values = {}
    with open(_FILE, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                values[name] = value
    return values


_DEFAULTS = _defaults()


def setting(name):
    if name in os.environ:
        return os.environ[name]
    return _DEFAULTS[name]

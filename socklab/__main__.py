"""``python -m socklab``: the same as the ``socklab`` command."""

from .cli import entry

if __name__ == "__main__":
    entry()

"""socklab: learn network sockets by making real calls and watching each one land."""

__version__ = "0.1.0"

"""The lab's screen: the only package that imports textual or rich.

``app`` is wiring only; each visible part is a module of its own.  Nothing is
imported here on purpose: importing one widget module (say the code view)
must not pull in every other one.
"""

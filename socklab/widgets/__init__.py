"""The lab's visible parts, one module each.

Nothing is imported here on purpose: importing one widget module (say the code
view) must not pull in every other one.
"""

"""Prints what a terminal or Rich would act on: escapes, markup, bytes not UTF-8."""
import sys

sys.stdout.buffer.write(b"\x1b[2J\x1b]0;pwned\x07[bold red]markup[/] \xff\xfe end\n")
sys.stdout.flush()
sys.stderr.write("\u202eright-to-left\n")

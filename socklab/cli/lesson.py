"""``socklab lesson [NAME] [--auto] | --list``: the lab, opened on a guided lesson.

``--list`` prints one lesson a line (name, then title) without opening the lab;
``--auto`` plays the lesson by itself, a step at a time with ``--pause`` seconds
to read each step and each explanation, until the panel says it is complete.
NAME may also be the path of a lesson file of one's own (``my-lesson.md``).
"""

from __future__ import annotations

import argparse

from ..guided import LessonFormatError, all_lessons, load_lesson
from .usage import EXIT_OK, UsageError


def run(args: argparse.Namespace) -> int:
    if args.list:
        lessons = all_lessons()
        width = max(len(lesson.name) for lesson in lessons)
        for lesson in lessons:
            print(f"{lesson.name:<{width}}  {lesson.title}")
        return EXIT_OK
    try:
        lesson = load_lesson(args.name)
    except (LookupError, LessonFormatError, OSError) as exc:
        raise UsageError(str(exc)) from None
    from ..ui.app import run_app
    return run_app(theme=args.theme, lesson=lesson,
                   auto_pause=args.pause if args.auto else None)

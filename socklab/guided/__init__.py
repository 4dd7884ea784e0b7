"""Guided lessons: the lecture as Markdown files, checked against the real events.

`lesson` reads the files (socklab/guided/lessons/*.md), `expect` matches a
step's expectations to events, `progress` follows a learner through a lesson,
`http` splits a response and applies the regex box.  UI-free: the panel
(socklab/ui/lesson_panel.py), ``socklab lesson`` and the tests share them.
"""

from .expect import Expectation, LessonFormatError, parse_expectation
from .lesson import Action, Lesson, Question, Setting, Step, all_lessons, load_lesson, parse_lesson
from .progress import LessonRun

__all__ = ["Action", "Expectation", "Lesson", "LessonFormatError", "LessonRun", "Question",
           "Setting",
           "Step", "all_lessons", "load_lesson", "parse_expectation", "parse_lesson"]

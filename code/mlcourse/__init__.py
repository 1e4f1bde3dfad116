"""mlcourse: the one library that every chapter of the course imports and runs.

Each module holds one idea (attention, data, the runner, ...); the chapters show its code with
``literalinclude`` and execute it, so the book and the library never drift apart.
"""

__version__ = "0.1.0"

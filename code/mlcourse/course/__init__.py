"""The course's machinery: what every chapter needs around its experiment, and the command line.

- ``chapter_run``: ``ChapterRun``, the one helper a chapter's set-up, timing, figures and results go through.
- ``profiles``: ``quick`` and ``full`` and the one validation of a chapter's knobs.
- ``device``: the one device policy (``"auto"``: cuda > mps > cpu, resolved once), seeding, dtype.
- ``atomic``: the one atomic file write (temp file + ``os.replace``).
- ``paths``, ``results``: where runs live; results.json written and read.
- ``plots``: matplotlib defaults and altair charts that render offline.
- ``catalog``: the table of projects, their run times and the library modules each chapter shows.
- ``runner``: ``python -m mlcourse run``: a chapter executed with papermill.
- ``book_build``, ``vega_offline``: the Jupyter Book build and its Sphinx extension.

Nothing here imports the model, the data or training: every other package may use this one.
"""

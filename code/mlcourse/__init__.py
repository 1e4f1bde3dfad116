"""mlcourse: the one library that every chapter of the course imports and runs.

Grouped by role, so that a chapter's code is found from the folder names (``python -m mlcourse list --modules``
lists the modules each chapter teaches):

- ``classical``: Part 1's models in NumPy (chapters 1-11).
- ``model``, ``training``, ``tokenizers``, ``data``, ``embeddings``: the language model, how it is trained, its
  tokenizer and corpus, and word vectors (chapters 12.1-14).
- ``labs``: small experiment instruments of single chapters; ``analysis``: reads trained models (13.5, 17);
  ``finetune``: adapts a trained model to a task (15, 16).
- ``course``: the machinery around every chapter (``ChapterRun``, profiles, device, results, runner, book);
  ``checks``: the exercises' automatic checks, one module per notebook stem.

Lower packages never import higher ones (``course`` is at the bottom, ``checks`` at the top); the chapters show
the code with ``literalinclude`` and execute it, so the book and the library never drift apart.
"""

__version__ = "0.1.0"

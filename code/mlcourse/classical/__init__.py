"""Part 1, classical machine learning (chapters 1-11): NumPy implementations with ``fit``/``predict``,
each tested equal to scikit-learn on the same data. Empty until Part 1's chapters land.
"""

"""Analyses of trained models: what the pretrained base model's attention heads do (``attention.py``, chapter
13.5) and what pretraining buys on downstream tasks (``transfer.py``, chapter 15).

The modules read models; they never train the base model themselves (that is :mod:`mlcourse.pretrained`).
"""

"""Chapter-specific experiment instruments: small, measured experiments that exist to teach one point.

- ``toy_tasks``: REVERSE and COPY, tasks whose correct attention pattern is known, and a tiny model (12.1).
- ``gradient_flow``: how much gradient reaches the first position, attention vs an RNN (12.1).
- ``lm_ablation``: short runs of the transformer with one component changed at a time (12).
- ``step_profile``: where a training step's time goes (forward, backward, optimiser) (14).

They use the model and the training loop; nothing else in the library depends on them.
"""

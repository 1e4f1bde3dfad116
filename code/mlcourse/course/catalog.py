"""The course's table of projects: number, file stem, title, part, status and expected run times.

One list, used by the runner (``python -m mlcourse list`` / ``run``) and by the tests that check that every
available chapter has its exercises, solutions and table-of-contents entries. The README and the intro page
show the same table in prose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlcourse.course.paths import repo_root


@dataclass(frozen=True)
class Project:
    """One project of the syllabus.

    ``number`` is the syllabus number as a string ("12.1"); ``stem`` names the chapter, exercise and solution
    notebooks (``chapters/<part>/<stem>.ipynb``, ``exercises/<stem>.ipynb``, ``solutions/<stem>.ipynb``).
    ``quick_minutes`` / ``full_minutes`` are measured or estimated run times, with ``times_note`` saying which.
    ``modules`` answers "where is this chapter's code?": the modules it teaches, relative to ``mlcourse``.
    """

    number: str
    stem: str
    title: str
    part: int
    status: str  # "available" or "planned"
    quick_minutes: float | None = None
    full_minutes: float | None = None
    times_note: str = ""
    modules: tuple[str, ...] = ()  # the library modules this chapter teaches (shows and runs), under mlcourse.

    @property
    def chapter_path(self) -> Path:
        return repo_root() / "chapters" / f"part{self.part}" / f"{self.stem}.ipynb"

    @property
    def exercises_path(self) -> Path:
        return repo_root() / "exercises" / f"{self.stem}.ipynb"

    @property
    def solutions_path(self) -> Path:
        return repo_root() / "solutions" / f"{self.stem}.ipynb"


PROJECTS: tuple[Project, ...] = (
    # Part 1: classical ML foundations
    Project("1", "p01_linear_regression", "Linear regression and gradient descent from scratch", 1, "available", 0.25,
            1.5, "both measured on 2 CPU cores, no GPU",
            modules=("classical.linear", "classical.conditioning", "classical.gradient_descent",
                     "classical.validation")),
    Project("2", "p02_logistic_regression", "Logistic regression and the cross-entropy loss", 1, "available", 0.25,
            1.4, "both measured on 2 CPU cores, no GPU", modules=("classical.logistic", "classical.newton")),
    Project("3", "p03_softmax_regression", "Multi-class classification with softmax regression", 1, "available",
            0.5, 3.5, "both measured on 2 CPU cores, no GPU", modules=("classical.softmax",)),
    Project("4", "p04_regularization", "Regularisation: L2, L1 and early stopping", 1, "available", 0.3, 1.3,
            "both measured on 2 CPU cores, no GPU", modules=("classical.regularized", "classical.bias_variance")),
    Project("5", "p05_decision_trees", "Decision trees", 1, "available", 0.15, 0.4,
            "both measured on 2 CPU cores, no GPU", modules=("classical.tree_split", "classical.tree")),
    Project("6", "p06_random_forests", "Random forests and bagging", 1, "available", 0.3, 1.3,
            "both measured on 2 CPU cores, no GPU", modules=("classical.forest", "classical.boosting")),
    Project("7", "p07_svm_and_metrics", "Support vector machines and classification metrics", 1, "available", 0.25,
            0.6, "both measured on 2 CPU cores, no GPU", modules=("classical.svm", "classical.metrics")),
    Project("8", "p08_cross_validation", "Validation strategies and cross-validation", 1, "available", 0.15, 0.2,
            "both measured on 2 CPU cores, no GPU", modules=("classical.splitters", "classical.cross_validation")),
    Project("9", "p09_model_selection", "Model selection and hyperparameter search", 1, "available", 0.4, 1.0,
            "both measured on 2 CPU cores, no GPU", modules=("classical.search",)),
    Project("10", "p10_feature_pipelines", "Features and preprocessing pipelines", 1, "available", 0.3, 0.5,
            "both measured on 2 CPU cores, no GPU", modules=("classical.preprocessing", "classical.text_features")),
    Project("11", "p11_end_to_end", "An end-to-end ML project", 1, "available", 0.5, 1.0,
            "both measured on 2 CPU cores, no GPU", modules=("classical.genre_task",)),
    # Part 2: transformers and pretraining
    Project("12.1", "p12_1_attention", "Attention mechanisms", 2, "available", 0.35, 4.0,
            "both measured on 2 CPU cores, no GPU",
            modules=("model.attention", "labs.toy_tasks", "labs.gradient_flow")),
    Project("12.25", "p12_25_embeddings", "Embeddings and representation learning (with 12.5)", 2, "available", 0.6,
            10.0, "quick measured on 2 CPU cores, no GPU; full estimated",
            modules=("embeddings.skipgram_data", "embeddings.skipgram", "embeddings.word_vectors")),
    Project("12", "p12_transformer", "The decoder-only transformer from scratch", 2, "available", 1.35, 60.0,
            "quick measured on 2 CPU cores, no GPU; full estimated",
            modules=("model.parts", "model.gqa_attention", "model.transformer", "model.size", "model.hf_mistral", "labs.lm_ablation",
                     "labs.model_checks")),
    Project("13", "p13_tokenization", "Tokenization and the data loader", 2, "available", 0.7, 60.0,
            "quick measured on 2 CPU cores, no GPU; full estimated",
            modules=("data.fetch", "data.parsing", "data.shakespeare", "tokenizers.simple", "tokenizers.bpe_train", "tokenizers.bpe", "tokenizers.sentencepiece_tok", "tokenizers.hf_tokenizer", "tokenizers.recipe", "training.batching")),
    Project("14", "p14_pretraining", "Pretraining a tiny transformer on Shakespeare", 2, "available", 3.5, 61.0,
            "both measured on 2 CPU cores, no GPU; full = base model 21 min + chapter 15 min + scaling study 25 min "
            "(published)",
            modules=("training.loop", "training.lr_schedule", "training.checkpoint", "training.base_model", "model.generation", "labs.step_profile",
                     "labs.bench", "labs.scaling_law", "labs.scaling_fit", "labs.scaling_study")),
    Project("13.5", "p13_5_attention_visualization", "Attention visualisation and analysis", 2, "available", 0.35,
            5.0, "quick measured on 2 CPU cores, no GPU; full estimated",
            modules=("analysis.attention", "analysis.head_detectors")),
    Project("15", "p15_pretrained_vs_random", "Pretrained vs random initialisation", 2, "available", 1.25, 240.0,
            "quick measured on 2 CPU cores, no GPU; full estimated (hours on a laptop CPU)",
            modules=("finetune.classifier", "finetune.downstream_tasks", "finetune.transfer")),
    # Part 3: instruction tuning and analysis
    Project("16", "p16_instruction_tuning", "Instruction tuning with LoRA (Mistral architecture)", 3, "available", 2.5,
            120.0, "quick estimated for 2 CPU cores (measured under load, see the chapter); full estimated",
            modules=("data.instructions", "data.alpaca", "finetune.instruction_format", "finetune.lora",
                     "finetune.causal_lm", "finetune.instruction_tuning", "finetune.instruction_eval")),
    Project("17", "p17_base_vs_tuned", "Base vs instruction-tuned: a comparative analysis", 3, "available", 2.0,
            180.0, "quick measured on 2 CPU cores shared with other jobs (about 1 min with the models cached; the "
            "first run also fine-tunes the full model once, 1 to 10 min depending on the load), no GPU; full estimated",
            modules=("analysis.calibration", "analysis.compare", "data.probes", "finetune.full_finetune")),
    Project("18", "p18_scaling_out", "Appendix: scaling out", 3, "available", 2.0, 5.0,
            "quick measured on 2 CPU cores (3 min while other jobs shared them), no GPU; full estimated",
            modules=("training.distributed", "training.ddp_train", "training.parallel_memory", "finetune.fsdp_lora")),
)


def available() -> list[Project]:
    """The projects whose chapter exists in this checkout."""
    return [p for p in PROJECTS if p.status == "available"]


def modules_taught_by() -> dict[str, list[str]]:
    """``{module: [project numbers]}``: which chapters teach each library module (``mlcourse.`` omitted)."""
    taught: dict[str, list[str]] = {}
    for project in PROJECTS:
        for module in project.modules:
            taught.setdefault(module, []).append(project.number)
    return taught


def find(name: str) -> Project:
    """Look a project up by stem (``p12_1_attention``) or number (``12.1``).

    Raises ``KeyError`` listing the available chapters when ``name`` is unknown or only planned.
    """
    for project in PROJECTS:
        if name in (project.stem, project.number):
            if project.status != "available":
                raise KeyError(
                    f"Chapter {name!r} ({project.title}) is planned but not written yet. "
                    f"Available chapters: {', '.join(p.stem for p in available())}."
                )
            return project
    raise KeyError(
        f"Unknown chapter {name!r}. Available chapters: {', '.join(p.stem for p in available())} "
        f"(by stem or number, e.g. {available()[0].number})."
    )

"""What each model trained by this project saw and reached, read from the files beside its checkpoint: the
training log (`smoothing.training.LOG_NAME`: epochs and seconds per epoch) and the accuracy CSVs written by
`smoothbench evaluate ... --out <model folder>/accuracy_<what>.csv` (clean and under Gaussian noise).
Data first (`trained_models_frame`, one row per model and evaluation); `markdown_view` is a view of it."""
from __future__ import annotations

import pandas as pd
from tabulate import tabulate

from bench.models import MODELS, ModelSpec, create_model_spec
from smoothing.training import LOG_NAME

EVALUATION_FILES = "accuracy_*.csv"
TRAINING_COLUMNS = ["model", "architecture", "training_device", "epochs", "training_hours", "train_acc"]
EVALUATION_COLUMNS = ["dataset", "split", "images", "noise_sd", "accuracy"]  # of `smoothbench evaluate`'s rows
COLUMNS = TRAINING_COLUMNS + EVALUATION_COLUMNS


def _rows_of(spec: ModelSpec) -> list[dict]:
    folder = spec.checkpoint.parent
    log = pd.read_csv(folder / LOG_NAME, sep="\t")
    trained = dict(model=spec.name, architecture=spec.architecture, training_device=spec.training_device,
                   epochs=int(log["epoch"].max()), training_hours=log["seconds"].sum() / 3600,
                   train_acc=float(log["train_acc"].iloc[-1]))
    evaluations = [pd.read_csv(f) for f in sorted(folder.glob(EVALUATION_FILES))]
    if not evaluations:
        return [trained]
    frame = pd.concat(evaluations, ignore_index=True)
    return [dict(trained, **row) for row in frame[EVALUATION_COLUMNS].to_dict("records")]


def trained_models_frame(specs: list[ModelSpec] | None = None) -> pd.DataFrame:
    """One row per (model trained by this project, evaluation): its training (epochs, hours, last epoch's
    training accuracy under its own noise) and each accuracy it was evaluated at. Default: every registered
    model. Models from elsewhere, or whose training log is absent, are left out."""
    specs = specs if specs is not None else [create_model_spec(name) for name in MODELS.names()]
    rows = [row for spec in specs if spec.source == "smoothbench" and (spec.checkpoint.parent / LOG_NAME).is_file()
            for row in _rows_of(spec)]
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["model", "dataset", "noise_sd"], ignore_index=True)


def _evaluation_label(row: pd.Series) -> str:
    if pd.isna(row["dataset"]):
        return ""
    noise = "clean" if row["noise_sd"] == 0 else "noisy"
    return f"{row['dataset']} {row['split']} ({row['images']:,.0f} images), {noise}"


def _duration(hours: float) -> str:
    """Hours to one decimal, or minutes under an hour (a GPU's 2-minute training is not "0.0 h")."""
    return f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.1f} min"


def markdown_view(frame: pd.DataFrame) -> str:
    """One line per model: its training, then accuracy per evaluation set, clean and under its training noise."""
    labelled = frame.assign(evaluation=frame.apply(_evaluation_label, axis=1))
    training = labelled.groupby("model", sort=True).first()[["architecture", "epochs", "training_hours",
                                                             "training_device", "train_acc"]]
    table = pd.DataFrame({
        "model": training.index.to_numpy(), "architecture": training["architecture"], "epochs": training["epochs"],
        "training time": [f"{_duration(h)} on {d}" if d else _duration(h) for h, d in
                          zip(training["training_hours"], training["training_device"])],
        "train accuracy (last epoch)": training["train_acc"].map("{:.3f}".format),
    }).reset_index(drop=True)
    evaluated = labelled[labelled["evaluation"] != ""]
    if len(evaluated):
        accuracy = evaluated.pivot(index="model", columns="evaluation", values="accuracy")
        table = table.join(accuracy.map(lambda a: "-" if pd.isna(a) else f"{a:.3f}"), on="model").fillna("-")
    return tabulate(table, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)

"""Training the stance model (``pipeline.stance.StanceReader``) and measuring it where it was not
trained.

Examples are the dev sets' labelled claims (the wide set's 324, the five-document set's 25), each
tagged by the tagger and described by ``stance_features``. ``cross_validate`` is leave-topic-out:
for each of the wide set's 20 topics a model trained on the other 19 and the five-document set reads
the held-out topic's claims; the five-document set is read by a model trained on the wide set only.
Only held-out claims are scored. ``train_shipped`` fits the shipped model on every claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.evaluation.sets import EvalSet, load_set
from pipeline.linear_model import LinearModel
from pipeline.settings import Settings
from pipeline.stance import STANCE_PATH, STANCES, classify_stance, stance_features
from pipeline.tag import Tagger

REGULARISATION = 1.0  # scikit-learn's C; 0.3 gave 0.633 against 0.636 held-out
VERSION = "1"


def examples(tagger: Tagger, evalset: EvalSet) -> list[tuple[dict[str, Any], dict[str, float]]]:
    """(claim, its features) for every labelled claim of the set."""
    return [(c, stance_features(c["quote"], tagger.tag(c["quote"]).mentions)) for c in evalset.claims]


def fit(rows: Sequence[tuple[dict[str, Any], dict[str, float]]]) -> LinearModel:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = DictVectorizer(sparse=True)
    x = vec.fit_transform([f for _, f in rows])
    model = LogisticRegression(C=REGULARISATION, max_iter=3000).fit(x, [c["stance"] for c, _ in rows])
    return LinearModel.from_sklearn(model, list(vec.get_feature_names_out()), STANCES,
                                    {"version": VERSION, "claims": len(rows)})


def _accuracy(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    confusion = {gold: dict.fromkeys(STANCES, 0) for gold in STANCES}
    for gold, predicted in pairs:
        confusion[gold][predicted] += 1
    correct = sum(gold == predicted for gold, predicted in pairs)
    return {"claims": len(pairs), "accuracy": round(correct / len(pairs), 4) if pairs else 0.0,
            "confusion_gold_by_predicted": confusion}


def cross_validate(settings: Settings) -> dict[str, Any]:
    tagger = Tagger(settings)
    wide, five = load_set("devset-wide"), load_set("devset")
    wide_rows, five_rows = examples(tagger, wide), examples(tagger, five)
    held: list[tuple[str, str]] = []
    per_topic: dict[str, list[tuple[str, str]]] = {}
    for topic in wide.topic_names:
        train = [r for r in wide_rows if wide.topics[r[0]["doc"]] != topic] + five_rows
        model = fit(train)
        for claim, features in wide_rows:
            if wide.topics[claim["doc"]] == topic:
                pair = (claim["stance"], model.predict(features))
                held.append(pair)
                per_topic.setdefault(topic, []).append(pair)
    model = fit(wide_rows)
    rules = [(c["stance"], classify_stance(c["quote"], tagger.tag(c["quote"]).mentions)) for c in wide.claims]
    return {
        "devset-wide": {"leave_topic_out": {**_accuracy(held), "per_topic": {
            t: _accuracy(p)["accuracy"] for t, p in per_topic.items()}}, "rules": _accuracy(rules)},
        "devset": {"trained_on_wide_only": _accuracy([(c["stance"], model.predict(f)) for c, f in five_rows])},
    }


def train_shipped(settings: Settings) -> LinearModel:
    tagger = Tagger(settings)
    model = fit(examples(tagger, load_set("devset-wide")) + examples(tagger, load_set("devset")))
    model.meta["trained_on"] = ["devset-wide", "devset"]
    model.save(STANCE_PATH)
    return model

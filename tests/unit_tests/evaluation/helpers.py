"""Small hand-made outcome tables for the evaluation tests."""

from __future__ import annotations

from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable

# The hand-made table of test_figures: 4 prompts x 3 models, cost per call A=1, B=2, C=4.
#   p1: A1 B1 C1   p2: A0 B1 C1   p3: A0 B0 C1   p4: A0 B0 C0
HAND_SCORES = {
    "p1": {"A": 1.0, "B": 1.0, "C": 1.0},
    "p2": {"A": 0.0, "B": 1.0, "C": 1.0},
    "p3": {"A": 0.0, "B": 0.0, "C": 1.0},
    "p4": {"A": 0.0, "B": 0.0, "C": 0.0},
}
HAND_COSTS = {"A": 1.0, "B": 2.0, "C": 4.0}


def hand_table() -> OutcomeTable:
    rows = [
        OutcomeRow(
            prompt_id=prompt_id,
            prompt=f"question {prompt_id}",
            model=model,
            score=score,
            task="hand",
            cost_usd=HAND_COSTS[model],
        )
        for prompt_id, scores in HAND_SCORES.items()
        for model, score in scores.items()
    ]
    return OutcomeTable(rows)


MATH_TEMPLATES = ("What is {a} plus {b}?", "Compute {a} times {b}.", "Subtract {b} from {a}; what remains?")
HISTORY_TOPICS = (
    "the fall of the Roman Empire",
    "the French Revolution",
    "the reign of Queen Victoria",
    "the Ming dynasty",
    "the Byzantine Empire",
    "the Ottoman conquest of Constantinople",
    "the Meiji Restoration in Japan",
    "the American Civil War",
    "the Hundred Years' War",
    "the Renaissance in Florence",
)
HISTORY_TEMPLATES = (
    "Describe the causes of {t}.",
    "Which historians wrote about {t}?",
    "When did {t} happen?",
)


def specialist_table(n_per_kind: int, *, offset: int = 0, with_answers: bool = False) -> OutcomeTable:
    """Math and history prompts; two cheap specialists (cost 1) and one expensive generalist (cost 10).

    ``math-small`` is right on math only, ``history-small`` on history only, ``large`` on both.
    """
    rows: list[OutcomeRow] = []
    for index in range(n_per_kind):
        number = index + offset
        math_prompt = MATH_TEMPLATES[number % 3].format(a=17 + 3 * number, b=5 + number)
        history_prompt = HISTORY_TEMPLATES[number % 3].format(t=HISTORY_TOPICS[number % 10]) + f" (#{number})"
        for kind, prompt in (("math", math_prompt), ("history", history_prompt)):
            prompt_id = f"{kind}-{number}"
            for model, cost in (("math-small", 1.0), ("history-small", 1.0), ("large", 10.0)):
                right = model == "large" or model.startswith(kind)
                rows.append(
                    OutcomeRow(
                        prompt_id=prompt_id,
                        prompt=prompt,
                        model=model,
                        score=1.0 if right else 0.0,
                        task=kind,
                        cost_usd=cost,
                        latency_s=0.5 if model != "large" else 2.0,
                        response=f"answer of {model}",
                        answer=("right" if right else f"wrong-{model}") if with_answers else None,
                        reference="right" if with_answers else None,
                    )
                )
    return OutcomeTable(rows)

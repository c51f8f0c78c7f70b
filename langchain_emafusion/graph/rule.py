"""The cheap rule that decides whether a prompt may hold several tasks, without calling any model.

A prompt is a decomposition candidate when at least two of its clauses start with a task verb or a question
word: clauses are cut at sentence ends, semicolons, line breaks, list markers and joining words ("and",
"then", "also", "while", "plus"). "What is the capital of France?" is one task; "Summarize the memo, then
draft a reply and list three risks" is three. A list's header ("Do three things:") is not a task, and a clause
that only qualifies the task before it ("... and give an example", "Show your working", "make it shorter") is part
of that task. The rule errs towards "several": a false "several" costs one
decomposer call (which may answer with one subtask), a false "one" loses the split.
"""

from __future__ import annotations

import re

__all__ = ["TASK_VERBS", "looks_multi_task", "task_clauses"]

TASK_VERBS = frozenset(
    """
    write draft compose create generate produce make build design prepare summarize summarise translate rewrite
    paraphrase explain describe define list name give provide suggest propose recommend outline plan compute
    calculate count convert estimate solve sort rank classify categorize extract identify find compare contrast
    evaluate review check verify analyze analyse assess critique fix correct debug implement refactor update
    answer tell state spell reverse format tabulate tag label detect predict score reply respond email notify
    schedule book add subtract multiply divide round say show report send share choose pick select note mention
    what who whom whose when where which why how is are does do did can could should would
    """.split()
)
"""Words that start a task clause (imperatives, and question words for questions)."""

# Clause boundaries: sentence ends, semicolons, line breaks, and joining words between clauses.
_BOUNDARY = re.compile(
    # Each alternative starts only where its run starts (the lookbehinds), so a long run of dots or spaces is
    # scanned once, not once from each of its characters.
    r"(?:(?<![.?!;:])[.?!;:]+(?:\s+|$))|\n+"
    r"|(?:,|(?<![\s,]))\s+(?:and then|and also|and|then|also|while|plus|as well as|after that|finally)\s+",
    re.IGNORECASE,
)
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\(?\d{1,2}[.)]|\(?[a-hA-H][.)])\s+")
_WORD = re.compile(r"[A-Za-z']+")
_MIN_WORDS = 6  # shorter prompts are one task whatever they say


# Short clauses that only say how to answer ("Answer in one short sentence.", "Be concise.", "Respond in
# JSON.") constrain the task before them; they are not tasks of their own.
_FORMAT_VERBS = frozenset("answer respond reply format output return keep be use limit".split())
_MAX_FORMAT_WORDS = 8


# A clause that announces a list of tasks ("Do three things", "Please do the following", "Answer these
# questions") is the list's header, not a task of its own.
_LIST_HEADER = re.compile(
    r"^(?:please\s+)?(?:do|complete|answer|handle|perform|here\s+are)\s+(?:the\s+|these\s+|those\s+)?"
    r"(?:following|(?:two|three|four|five|six|seven|eight|nine|ten|\d+|a\s+few|several|some)\b)"
    r"(?:\s+\w+){0,3}\s*$",
    re.IGNORECASE,
)
# A clause that only qualifies the task before it — an example, the working, a shorter form — belongs to that
# task: "Explain what a mutex is and give an example", "What is 17 times 23? Show your working",
# "Summarize this sentence and make it shorter".
_QUALIFIER = re.compile(
    r"^(?:(?:please|also|then|and)\s+)*(?:"
    r"(?:give|provide|include|add|show|use)\s+(?:me\s+)?(?:an?|one|two|some|a\s+few|\d+)?\s*"
    r"(?:(?:short|brief|simple|concrete|small|code|worked|real-world|practical)\s+){0,2}examples?\b"
    r"|show\s+(?:your\s+|the\s+|all\s+)?(?:work|working|workings|steps|reasoning|calculation|calculations)\b"
    r"|explain\s+(?:your\s+)?(?:reasoning|answer|working|steps)\b"
    r"|make\s+it\s+(?:shorter|short|brief|briefer|concise|simpler|simple|clearer|more\s+\w+)\b"
    r"|keep\s+it\s+(?:short|brief|concise|simple)\b"
    r")",
    re.IGNORECASE,
)


def _is_task_start(clause: str) -> bool:
    words = _WORD.findall(clause.lower())
    if not words:
        return False
    if _LIST_HEADER.match(clause.strip()) or _QUALIFIER.match(clause.strip()):
        return False
    first = words[0]
    if first in ("please", "also", "then", "now", "next", "finally", "and") and len(words) > 1:
        first = words[1]
    if first in _FORMAT_VERBS and len(words) <= _MAX_FORMAT_WORDS:
        return False
    if first in TASK_VERBS:
        return True
    # Gerunds: "while updating records and proposing next steps".
    if first.endswith("ing") and len(first) > 5:
        stem = first[:-3]
        return stem in TASK_VERBS or f"{stem}e" in TASK_VERBS
    return False


_FILLER = re.compile(r"^(?:(?:please|also|then|now|next|finally|and|so)\b[\s,]*)+", re.IGNORECASE)


def task_clauses(text: str) -> list[str]:
    """The clauses of ``text`` that start with a task verb or question word, in order, without filler words."""
    clauses: list[str] = []
    for line in text.splitlines() or [text]:
        line = _LIST_MARKER.sub("", line)
        for part in _BOUNDARY.split(line):
            # An inline list ("Do three things: 1) compute 12*7; 2) name ...") splits at ":" and ";"; each
            # part then starts with its marker.
            part = _LIST_MARKER.sub("", part) if part else part
            if part and part.strip():
                clauses.append(part.strip())
    tasks = []
    for clause in clauses:
        if _is_task_start(clause):
            clause = _FILLER.sub("", clause).strip()
            tasks.append(clause[:1].upper() + clause[1:])
    return tasks


def looks_multi_task(text: str) -> bool:
    """Whether ``text`` may hold two or more tasks (then the decomposer is asked; else no call is made)."""
    if len(_WORD.findall(text)) < _MIN_WORDS:
        return False
    return len(task_clauses(text)) >= 2

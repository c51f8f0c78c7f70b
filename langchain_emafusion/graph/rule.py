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

__all__ = ["TASK_VERBS", "listed_tasks", "looks_multi_task", "task_clauses"]

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
_OPTION_LINE = re.compile(r"^\s*\(?[A-J][.)]\s+")
_STARTS_WITH_WORD = re.compile(r"^[\"'(\[]?[A-Za-z]")
_CODE_SPEC = re.compile(r"^\s*(?:def|class)\s+\w+\s*[(:]|^\s*>>>\s", re.MULTILINE)
_SPLIT_KEEPING_BOUNDARIES = re.compile(f"({_BOUNDARY.pattern})", re.IGNORECASE)
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
    r"|show\s+(?:your\s+|the\s+|all\s+|each\s+|every\s+)?"
    r"(?:work|working|workings|step|steps|reasoning|calculation|calculations|multiplication|maths|math)\b"
    r"|explain\s+(?:your\s+)?(?:reasoning|answer|working|steps)\b"
    r"|explain\s+(?:briefly|it\s+briefly|in\s+(?:one|a)\s+(?:line|sentence)|how\s+you\s+got\s+(?:it|there))\b"
    r"|make\s+it\s+(?:shorter|short|brief|briefer|concise|simpler|simple|clearer|more\s+\w+)\b"
    r"|keep\s+it\s+(?:short|brief|concise|simple)\b"
    r"|(?:choose|pick|select)\s+(?:one|an?|the|your)\s+(?:\w+\s+)?(?:answer|option|choice|letter)s?\b"
    r")",
    re.IGNORECASE,
)


# Question words start a task only in a question ("What is 12 times 7?"); elsewhere they open a clause of the
# same task ("When the seagull landed, ...", "... the house where the golfer lives").
_QUESTION_WORDS = frozenset(
    "what who whom whose when where which why how is are does did can could should would".split()
)


def _is_task_start(clause: str, question: bool) -> bool:
    words = _WORD.findall(clause.lower())
    if not words:
        return False
    if (
        not _STARTS_WITH_WORD.match(clause)
        or _LIST_HEADER.match(clause.strip())
        or _QUALIFIER.match(clause.strip())
    ):
        return False  # ">>> count_nums([]) == 0", "-> sort arr": code and examples, not tasks
    first = words[0]
    if first in ("please", "also", "then", "now", "next", "finally", "and") and len(words) > 1:
        first = words[1]
    if first in _QUESTION_WORDS and not question:
        return False
    if first == "do" and len(words) > 1 and words[1] in ("not", "n't", "nothing"):
        return False  # "Do not use recursion": a constraint on the task
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
    clauses: list[tuple[str, bool]] = []  # (clause, whether it ends with a question mark)
    for line in text.splitlines() or [text]:
        if _OPTION_LINE.match(line):
            continue  # "B. The president consulting Congress": an answer option, not a task
        line = _LIST_MARKER.sub("", line)
        pieces = _SPLIT_KEEPING_BOUNDARIES.split(line)
        for index in range(0, len(pieces), 2):
            # An inline list ("Do three things: 1) compute 12*7; 2) name ...") splits at ":" and ";"; each
            # part then starts with its marker.
            part = _LIST_MARKER.sub("", pieces[index]) if pieces[index] else pieces[index]
            boundary = pieces[index + 1] if index + 1 < len(pieces) else ""
            if part and part.strip():
                question = boundary.lstrip().startswith("?") or part.rstrip().endswith("?")
                clauses.append((part.strip(), question))
    tasks = []
    for clause, question in clauses:
        if _is_task_start(clause, question):
            clause = _FILLER.sub("", clause).strip()
            tasks.append(clause[:1].upper() + clause[1:])
    return tasks


# A header that says each item of the list below is a task to do: "Answer each of the following:", "Please do
# the following.", "Answer these questions:". Not "Follow these steps:" or "The function should:", whose items
# describe one task.
_ITEMS_HEADER = re.compile(
    r"^(?:please\s+)?(?:answer|do|complete|handle|solve|address|reply\s+to|respond\s+to)\s+"
    r"(?:(?:each|all|every\s+one|both)\s+of\s+)?(?:the\s+following|these|those|them)"
    r"(?:\s+(?:\w+\s+)?(?:questions|tasks|requests|items|problems|parts))?"
    r"(?:\s*\(\w+\))?\s*[.:]?\s*$",
    re.IGNORECASE,
)
_NUMBERED_ITEM = re.compile(r"^\s*\(?(\d{1,2})([.)])\s+(\S.*)$")


def listed_tasks(text: str) -> list[str] | None:
    """The items of a numbered task list announced by its first line, each item whole; None for any other text.

    "Answer each of the following." over lines "1) <question, its options>", "2) <task>" states its parts: each item
    (with its continuation lines, such as answer options) is one subtask, so no decomposer is needed and no
    part is paraphrased. Items must be numbered 1, 2, 3, ... at the start of a line, and there must be two or
    more, written alike ("1)" or "1."; a line numbered the other way belongs to the item above). Text before
    the first item other than the header, or numbering that skips, means None (the clause rule then decides).
    """
    lines = text.strip().splitlines()
    if not lines or not _ITEMS_HEADER.match(lines[0].strip()):
        return None
    items: list[list[str]] = []
    marker = ""  # the list's own delimiter: "1)" items may hold "1." lists of their own, and vice versa
    for line in lines[1:]:
        numbered = _NUMBERED_ITEM.match(line)
        if numbered and int(numbered.group(1)) == len(items) + 1 and numbered.group(2) in (marker or ".)"):
            marker = numbered.group(2)
            items.append([numbered.group(3)])
        elif items:
            items[-1].append(line)
        elif line.strip():
            return None  # something between the header and item 1
    tasks = ["\n".join(item).strip() for item in items]
    if len(tasks) < 2 or not all(tasks):
        return None
    return tasks


def looks_multi_task(text: str) -> bool:
    """Whether ``text`` may hold two or more tasks (then the decomposer is asked; else no call is made).

    A numbered task list under a header (:func:`listed_tasks`) is several tasks. Otherwise a prompt that holds
    code to complete (a ``def`` or ``class`` line, doctest ``>>>`` examples) is one task: its docstring's
    sentences specify one function.
    """
    if listed_tasks(text) is not None:
        return True
    if len(_WORD.findall(text)) < _MIN_WORDS or _CODE_SPEC.search(text):
        return False
    return len(task_clauses(text)) >= 2

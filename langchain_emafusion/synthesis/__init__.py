"""Synthesis of training data: seed prompt templates -> expanded prompts -> every pool model -> outcome table.

.. code-block:: python

    from langchain_emafusion.synthesis import SynthesisRunner, expand_templates, load_seed_templates

    prompts = expand_templates(load_seed_templates(), n=200, seed=0)   # the shipped starter seed set
    SynthesisRunner(pool=pool, prompts=prompts, out="outcomes.jsonl").run()

The same from the shell: ``emafusion synth --n 200 --out outcomes.jsonl``.
"""

from langchain_emafusion.synthesis.errors import SeedTemplateError, SynthesisError, SynthesisResumeError
from langchain_emafusion.synthesis.expansion import expand_templates
from langchain_emafusion.synthesis.prompt import SynthPrompt
from langchain_emafusion.synthesis.runner import SynthesisRunner
from langchain_emafusion.synthesis.seed_file import load_seed_templates, starter_seeds_dir
from langchain_emafusion.synthesis.template import SeedTemplate

__all__ = [
    "SeedTemplate",
    "SynthPrompt",
    "SynthesisRunner",
    "SeedTemplateError",
    "SynthesisError",
    "SynthesisResumeError",
    "expand_templates",
    "load_seed_templates",
    "starter_seeds_dir",
]

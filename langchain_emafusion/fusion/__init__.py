"""Tier 2: combine the members tier 1 selected — cascade with judges, weighted vote, selection, synthesis.

- :mod:`~langchain_emafusion.fusion.base`: the strategy interface, its registry and the shared final choice;
- :mod:`~langchain_emafusion.fusion.judge`: the learned answer judge; :mod:`~.signals`: its text signals;
- :mod:`~langchain_emafusion.fusion.model`: what tier 2 learned (judge + strategy table), saved as ``tier2.json``;
- :mod:`~langchain_emafusion.fusion.policy`: tier 1 + tier 2 as a replay policy; :mod:`~.training`: its training.
"""

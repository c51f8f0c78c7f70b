"""The request pipeline: every request's steps and the one place where a pool member is called.

- :mod:`~langchain_emafusion.pipeline.pipeline`: prepare → route → run the strategy → respond (async-native);
- :mod:`~langchain_emafusion.pipeline.member`: :class:`MemberCaller`, the one place a member is called
  (retries with backoff, timeout, privacy, audit, child runs);
- :mod:`~langchain_emafusion.pipeline.tier2`: a tier-2 strategy run live over :class:`MemberCaller`;
- :mod:`~langchain_emafusion.pipeline.request`: one request's state and its account (metadata, failures);
- :mod:`~langchain_emafusion.pipeline.privacy`: what each member of one request may see;
- :mod:`~langchain_emafusion.pipeline.sync`: the sync facade (``invoke``/``stream`` over the async pipeline);
- :mod:`~langchain_emafusion.pipeline.chat_model`: :class:`PipelineChatModel`, the chat model over it.
"""

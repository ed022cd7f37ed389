"""The agent: the tool loop, plans, language models, offline rules and exchange log."""

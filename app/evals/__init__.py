"""The labelled evaluation set (`emails.jsonl`) and its runner (`run.py`).

`python -m app eval` runs every email through the agent with the configured model (the offline
rules when no OpenAI key is set) against the demo store, and prints intent accuracy, tool-call
correctness, needs-human precision and recall, tokens and latency per intent and language.
"""

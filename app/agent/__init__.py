"""The agent: one email in, a typed `ReplyPlan` out, through a function-calling loop.

Owns: `loop` (the tool loop, prompt, caps, handover), `calls` (which tool calls of a turn run:
the per-turn and per-email caps, repeated calls, output that cannot be sent back), `plan`
(ReplyPlan, intents), `llm` (the LLM protocol and the OpenAI adapters — the only module that
talks to the `openai` SDK for completions), `offline` (the keyless rule-based model), `budget`
(per-minute model budgets shared by workers), `exchange_log` (agent runs, model turns and tool
calls in SQL), `evals` (the labelled set and its runner).
May import: `tools`, `store` (through tools), `mail` models, `db` (exchange log and budget only),
`metrics` (model turns).
"""

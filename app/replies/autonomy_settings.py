"""The autonomy rules' settings, a part of `Settings` (`app.config` adds them to its own)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class AutonomySettings(BaseSettings):
    """How an intent earns `auto` and loses it (`app.replies.autonomy`)."""

    # The last N drafts staff reviewed, per intent and language, that the rules measure.
    AUTONOMY_WINDOW: int = Field(default=20, ge=1, le=1000)
    # The share of them approved without a word changed that proposes `auto` (and keeps it).
    AUTONOMY_MIN_APPROVED_RATE: float = Field(default=0.8, gt=0.0, le=1.0)
    # The level of an intent no owner has set yet. `auto` keeps today's behaviour (the intents
    # in AUTO_SEND_INTENTS send until their measurements demote them); `draft` or `shadow` make
    # every intent earn `auto` with an owner's click.
    AUTONOMY_START_LEVEL: Literal["off", "draft", "shadow", "auto"] = "auto"

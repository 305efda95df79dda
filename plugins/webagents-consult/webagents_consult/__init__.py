"""webagents-consult: a ``consult_expert`` tool that asks expert agents by topic.

Installed, it registers the skill ``consult``; for an expert map, pass an instance:
``ConsultSkill({"experts": {"finance": "finance-expert"}, "timeout": 30, "fallbacks": {}})``,
validated by ``ConsultConfig`` (``ConsultSkill.config_model``) when the skill is built.
"""

from __future__ import annotations

from typing import Any

from webagents import hookimpl
from webagents_consult.skill import Consultation, ConsultConfig, ConsultSkill, Status

__all__ = ["ConsultConfig", "ConsultSkill", "Consultation", "Status", "register_skills"]

__version__ = "0.1.0"


@hookimpl
def register_skills(register: Any) -> None:
    """Register ``ConsultSkill`` under the name ``consult``."""
    register(ConsultSkill, name="consult")

"""Skills and the stock skills: NLI, discovery and payment."""

from webagents.agents.skills.base import Skill
from webagents.agents.skills.discovery import DiscoverySkill
from webagents.agents.skills.nli import NLISkill
from webagents.agents.skills.payment import PaymentSkill
from webagents.errors import HandoffError

__all__ = ["DiscoverySkill", "HandoffError", "NLISkill", "PaymentSkill", "Skill"]

"""What changed inside between two networks read on the same probe images: their
communities matched one to one, or two circuits of one class matched group to group
(docs/methods.md, section 10). Built on InnerSightNet and NeurFlow."""

from .circuits import CircuitComparison, EdgeChange, LevelComparison
from .communities import CommunityComparison, CommunitySummary, ComparedSide, Match
from .diff import CONSTRAINTS, compare
from .matching import MIN_SIMILARITY, assign, check_same_images, linear_cka, similarity

__all__ = [
    "CONSTRAINTS",
    "MIN_SIMILARITY",
    "CircuitComparison",
    "CommunityComparison",
    "CommunitySummary",
    "ComparedSide",
    "EdgeChange",
    "LevelComparison",
    "Match",
    "assign",
    "check_same_images",
    "compare",
    "linear_cka",
    "similarity",
]

"""Jupyter widgets: views over the analysis core."""

from .community_explorer import CommunityExplorer

__all__ = ["CommunityExplorer"]

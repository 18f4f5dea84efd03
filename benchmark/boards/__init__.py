"""Boards layer: leaderboard, ablation, cost, slice and reproduction tables, significance marks
and ranks, plots and HTML, all rendered from stored records. Never imports ``engine``: a board is
a function of the records, not of how they were produced."""

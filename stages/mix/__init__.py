"""Stage mix: human and synthetic rows at controlled ratios, split by seed lineage, with the data card."""

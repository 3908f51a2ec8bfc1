"""Identity matching: normalise, block, compare, score, decide, explain (issue: matching)."""

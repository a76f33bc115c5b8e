"""Entry-point logic behind search.py (train.py and eval.py follow the same pattern)."""

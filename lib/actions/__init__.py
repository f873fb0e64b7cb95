"""Actions a person starts that must outlive the page run that started them (see board.py)."""

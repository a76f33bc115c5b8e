"""Reports over runs: `python -m hwnas.report <multirun folder or run folders ...>`."""

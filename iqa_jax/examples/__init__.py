"""Small bundled example files (synthetic; see README.md in this folder)."""

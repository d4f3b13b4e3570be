"""casework: self-hosted support case management."""

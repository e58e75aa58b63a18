"""Crime harm indices: the Cambridge Crime Harm Index tables and loaders, and user-supplied alternatives."""

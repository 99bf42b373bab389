"""One module per CLI command: parse options, call the stage function, render its typed result."""

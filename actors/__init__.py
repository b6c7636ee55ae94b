"""One pykka actor per seller account: its live Goofish connection and auto-replies."""

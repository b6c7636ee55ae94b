"""goofish package."""

"""Example generators written the way a user writes one (see ``docs/own_generator.md``)."""

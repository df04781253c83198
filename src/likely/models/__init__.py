"""Model families built on the engine: regression (GLMs), and more as they land."""

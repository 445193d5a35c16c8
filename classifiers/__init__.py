"""Understanding a letter: extraction, references, open-case matching, routing, fitting."""

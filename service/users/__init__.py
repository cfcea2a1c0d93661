"""Users: the field table, masks, validation, the update pipeline, listing, and the servicer."""

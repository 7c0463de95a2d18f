"""`bus demo`: the reference agencies keeping their own records in step through the bus."""

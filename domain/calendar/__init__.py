"""Trading calendars: the model, the calendar that answers queries, and lists of trading days."""

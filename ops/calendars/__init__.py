"""Calendar data from outside: seeding from exchange_calendars, and holiday files."""

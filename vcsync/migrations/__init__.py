"""What a migration is: versions, layouts, directives and checksums. No I/O of its own."""

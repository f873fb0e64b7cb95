"""Knowledge-base documents: intake (format, damage, metadata, addresses), records, upload."""

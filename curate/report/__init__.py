"""What curate reports about data: statistics of a source, of an export, and their pictures."""

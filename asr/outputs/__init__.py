"""What a job gives back: the transcript records, its marks, the review model and every export."""
